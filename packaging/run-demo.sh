#!/bin/sh
# run-demo.sh BUILD_DIR RUN_DIR: what `make run` runs. Generates a demo identity data set
# (once), writes RUN_DIR/jobsd.conf, prints how to talk to the daemon, and runs jobsd in the
# foreground (Ctrl-C stops it). With jobsd-http built, the REST API listens on
# 127.0.0.1:8080 and an Administrator token is created (and printed) once jobsd is up.
set -eu

if [ $# -ne 2 ]; then
	echo "usage: $0 BUILD_DIR RUN_DIR" >&2
	exit 64
fi
BUILD=$(cd "$1" && pwd)
mkdir -p "$2"
RUN=$(cd "$2" && pwd)
HTTP_ADDR=127.0.0.1:8080

for p in jobsd jobsd-worker jobctl jobsd-datagen; do
	if [ ! -x "$BUILD/$p" ]; then
		echo "run-demo: $BUILD/$p is missing: run make first" >&2
		exit 1
	fi
done

if [ ! -f "$RUN/demo/owners.csv" ]; then
	echo "run-demo: generating the demo data set in $RUN/demo"
	"$BUILD/jobsd-datagen" --owners 2000 --seed 42 --out "$RUN/demo"
fi

HTTP=no
[ -x "$BUILD/jobsd-http" ] && HTTP=yes

{
	echo "# written by packaging/run-demo.sh"
	echo "[jobsd]"
	echo "data_dir = $RUN/data"
	echo "socket = $RUN/jobsd.sock"
	echo "pid_file = $RUN/jobsd.pid"
	echo "max_workers = 2"
	echo "log_level = info"
	echo
	echo "[source demo]"
	echo "type = csv"
	echo "path = $RUN/demo"
	if [ "$HTTP" = yes ]; then
		echo
		echo "[http]"
		echo "listen = $HTTP_ADDR"
	fi
} > "$RUN/jobsd.conf"

SOCK="$RUN/jobsd.sock"
cat <<EOF

jobsd demo
  config   $RUN/jobsd.conf
  socket   $SOCK
  try      JOBSD_SOCKET=$SOCK $BUILD/jobctl submit full_sync --wait
           JOBSD_SOCKET=$SOCK $BUILD/jobctl list
EOF

if [ "$HTTP" = yes ]; then
	echo "  REST     http://$HTTP_ADDR/api/v1/jobs (a token is printed once jobsd is up)"
	# Once the daemon answers: (re)create the demo token and show a working curl line.
	(
		i=0
		while ! JOBSD_SOCKET=$SOCK "$BUILD/jobctl" ping >/dev/null 2>&1; do
			i=$((i + 1))
			[ $i -gt 100 ] && exit 0
			sleep 0.1
		done
		JOBSD_SOCKET=$SOCK "$BUILD/jobctl" token revoke demo-admin >/dev/null 2>&1 || true
		if TOKEN=$(JOBSD_SOCKET=$SOCK "$BUILD/jobctl" token create demo-admin \
		    --role Administrator | tail -n 1) && [ -n "$TOKEN" ]; then
			cat <<EOF

  token    $TOKEN   (Administrator, name demo-admin)
  try      curl -s -H 'Authorization: Bearer $TOKEN' http://$HTTP_ADDR/api/v1/jobs
           curl -s -X POST -H 'Authorization: Bearer $TOKEN' -H 'Content-Type: application/json' -d '{"job_type":"full_sync"}' http://$HTTP_ADDR/api/v1/jobs

EOF
		fi
	) &
fi
echo "  stop     Ctrl-C"
echo
exec "$BUILD/jobsd" -f -c "$RUN/jobsd.conf"
