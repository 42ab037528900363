#!/bin/bash
# torture/modes.sh: file modes and error bodies. Starts jobsd daemonized (pid file, syslog)
# under umask 000 - the daemon must not depend on its caller's umask - runs a job of every
# kind that writes the store and creates and revokes a token, then checks: data_dir 0700,
# every file inside it 0600 (Berkeley DB regions, logs, databases, cursor.key), the control
# socket 0660, the pid file holding the daemon's pid and not writable by others. Then it
# copies the data directory, corrupts the copy's databases and points a standalone jobsd-http
# at it: every error body must be the API's JSON error without internals (no Berkeley DB
# message, no path, no errno text).
#
#   JOBSD_BUILD=build/h-audit bash torture/modes.sh [--no-build]
set -u
. "$(dirname "$0")/lib.sh"

if [ "${1-}" != --no-build ]; then
	make -C "$T_ROOT" --no-print-directory BUILD="${T_BUILD#$T_ROOT/}" -j2 all >&2 ||
		t_die "build failed"
fi
t_mkdir modes
trap 't_cleanup' EXIT
T_SOCK=$T_DIR/run/jobsd.sock
T_PORT=$(t_free_port)
mkdir -p "$T_DIR/run"
"$T_BUILD/jobsd-datagen" --owners 200 --out "$T_DIR/src" -q || t_die "datagen failed"
CONF=$T_DIR/jobsd.conf
# data_dir does not exist yet: jobsd creates it
t_config "$CONF" "$T_DIR/data" "$T_SOCK" "$T_DIR/src" "$T_PORT" "log_level = info"
sed -i "s|^pid_file = .*|pid_file = $T_DIR/run/jobsd.pid|" "$CONF"

(umask 000; exec "$T_BUILD/jobsd" -c "$CONF") || t_die "jobsd did not start"
end=$((SECONDS + 20))
while [ ! -s "$T_DIR/run/jobsd.pid" ] && [ $SECONDS -lt $end ]; do sleep 0.1; done
JPID=$(cat "$T_DIR/run/jobsd.pid" 2>/dev/null)
[ -n "$JPID" ] && kill -0 "$JPID" 2>/dev/null || t_die "no pid file or no daemon"
T_PIDS+=("$JPID")
t_wait_ping 20 "$JPID" || t_die "jobsd does not answer"
[ "$(readlink "/proc/$JPID/exe")" = "$(readlink -f "$T_BUILD/jobsd")" ] ||
	t_fail "pid file $JPID is not jobsd"
t_wait_http 20 || t_fail "listener did not start"

ADMIN=$(t_jobctl --json token create m-admin --role Administrator | jq -r .token)
t_jobctl token create m-tmp --role Auditor >/dev/null
t_jobctl token revoke m-tmp >/dev/null
for t in full_sync manager_resolution enrichment role_generation incremental_sync; do
	t_jobctl submit "$t" --wait >/dev/null 2>&1 || t_log "note: $t did not complete"
done
t_jobctl submit policy_analysis --wait >/dev/null 2>&1

mode() { stat -c %a "$1"; }
[ "$(mode "$T_DIR/data")" = 700 ] || t_fail "data_dir mode $(mode "$T_DIR/data"), want 700"
while read -r m f; do
	t_fail "$f: mode $m, want 600"
done < <(find "$T_DIR/data" -mindepth 1 -type f ! -perm 600 -printf '%m %p\n')
while read -r m f; do
	t_fail "$f: directory mode $m, want 700"
done < <(find "$T_DIR/data" -mindepth 1 -type d ! -perm 700 -printf '%m %p\n')
[ -f "$T_DIR/data/cursor.key" ] || t_fail "no cursor.key"
[ -S "$T_SOCK" ] || t_fail "no control socket"
[ "$(mode "$T_SOCK")" = 660 ] || t_fail "control socket mode $(mode "$T_SOCK"), want 660"
pm=$(mode "$T_DIR/run/jobsd.pid")
[ $((8#$pm & 8#022)) = 0 ] || t_fail "pid file mode $pm is writable by group or others"
t_log "modes: data_dir $(mode "$T_DIR/data"), $(find "$T_DIR/data" -type f | wc -l) files, socket $(mode "$T_SOCK"), pid file $pm"

# a pre-existing data_dir with a loose mode: tightened or refused
kill -TERM "$JPID"
t_wait_exit "$JPID" 30 || { kill -0 "$JPID" 2>/dev/null && t_fail "jobsd did not stop"; }
end=$((SECONDS + 20))
while kill -0 "$JPID" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.1; done
[ -e "$T_DIR/run/jobsd.pid" ] && t_fail "pid file left behind after SIGTERM"
chmod 0755 "$T_DIR/data"
"$T_BUILD/jobsd" -c "$CONF" 2>"$T_DIR/start2.err"
end=$((SECONDS + 20))
while [ ! -s "$T_DIR/run/jobsd.pid" ] && [ $SECONDS -lt $end ]; do sleep 0.1; done
JPID=$(cat "$T_DIR/run/jobsd.pid" 2>/dev/null)
if [ -n "$JPID" ]; then
	T_PIDS+=("$JPID")
	t_wait_ping 20 "$JPID"
	m=$(mode "$T_DIR/data")
	[ "$m" = 700 ] || t_log "note: jobsd runs on a data_dir of mode $m (neither tightened nor refused)"
	kill -TERM "$JPID"
	end=$((SECONDS + 20))
	while kill -0 "$JPID" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.1; done
else
	t_log "jobsd refused a data_dir of mode 755: $(cat "$T_DIR/start2.err")"
fi
chmod 0700 "$T_DIR/data"

# --- error bodies from a damaged store -------------------------------------------------
# errors_of URLS...: GET each with the token, print "code body"
probe() {
	local path code
	for path in "$@"; do
		T_CODE=$(curl -s -m 10 -o "$T_DIR/body" -w '%{http_code}' \
			-H "Authorization: Bearer $ADMIN" "http://127.0.0.1:$HPORT$path")
		T_BODY=$(cat "$T_DIR/body" 2>/dev/null)
		printf '  %s %s %s\n' "$T_CODE" "$path" "${T_BODY:0:160}" >&2
		t_check_body "GET $path"
		if [[ "$T_CODE" =~ ^5 ]] &&
		    ! printf '%s' "$T_BODY" | jq -e '.error.status and .error.code and .error.message' >/dev/null 2>&1; then
			t_fail "GET $path: $T_CODE body is not the API's JSON error"
		fi
	done
}
PATHS=(/api/v1/jobs "/api/v1/jobs?status=completed" "/api/v1/jobs?job_type=full_sync"
	"/api/v1/jobs?start_date=2020-01-01" /api/v1/jobs/running /api/v1/jobs/job-1
	/api/v1/jobs/job-2/progress /api/v1/roles /api/v1/violations /api/v1/orphans
	/api/v1/managers/issues /api/v1/owners/own-0000001/manager
	/api/v1/accounts/acc-00000001/link /metrics /healthz)
corrupt_run() { # NAME FILE-PATTERN...: a damaged copy served by a standalone listener
	local name=$1 f pid
	shift
	rm -rf "$T_DIR/copy"
	cp -a "$T_DIR/data" "$T_DIR/copy"
	rm -f "$T_DIR/copy"/__db.* # regions are per environment instance
	if [ "${1-}" = --truncate ]; then # cut the files to half, on a page boundary
		shift
		for pat in "$@"; do
			for f in "$T_DIR"/copy/$pat; do
				[ -f "$f" ] && truncate -s $(( $(stat -c %s "$f") / 8192 * 4096 )) "$f"
			done
		done
		set --
	fi
	for pat in "$@"; do
		for f in "$T_DIR"/copy/$pat; do
			[ -f "$f" ] || continue
			# keep the meta page, scribble over the rest
			sz=$(stat -c %s "$f")
			[ "$sz" -gt 8192 ] &&
				head -c $((sz - 4096)) /dev/urandom | dd of="$f" bs=4096 seek=1 conv=notrunc 2>/dev/null
		done
	done
	HPORT=$(t_free_port)
	sed -e "s|^data_dir = .*|data_dir = $T_DIR/copy|" -e "s|^socket = .*|socket = $T_DIR/copy.sock|" \
	    -e "s|^pid_file = .*|pid_file =|" -e "s|^listen = .*|listen = 127.0.0.1:$HPORT|" \
	    "$CONF" > "$T_DIR/copy.conf"
	"$T_BUILD/jobsd" -f -c "$T_DIR/copy.conf" > "$T_DIR/jobsd-$name.log" 2>&1 &
	pid=$!
	T_PIDS+=("$pid")
	end=$((SECONDS + 20))
	while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $end ] &&
	    [ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HPORT/healthz")" = 000 ]; do
		sleep 0.1
	done
	if ! kill -0 "$pid" 2>/dev/null; then
		t_log "$name: jobsd refused the damaged store: $(grep -v '^$' "$T_DIR/jobsd-$name.log" | tail -1)"
		t_check_log "$name"
		return
	fi
	if [ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HPORT/healthz")" = 000 ]; then
		t_log "NOTE $name: jobsd neither serves nor exits 20 s after start on the damaged store ($(ps -o stat=,wchan= -p "$pid"))"
		kill -KILL "$pid"
		t_wait_exit "$pid" 10
		t_check_log "$name"
		return
	fi
	t_log "$name: error bodies"
	probe "${PATHS[@]}"
	kill -TERM "$pid"
	t_wait_exit "$pid" 20 || kill -KILL "$pid"
	t_check_log "$name"
}
# what a damaged store made the daemon say (for the report; logs may name paths)
t_check_log() {
	grep -iE 'error|warn|fatal' "$T_DIR/jobsd-$1.log" | sort | uniq -c | sort -rn | head -5 >&2
}
corrupt_run intact
corrupt_run jobs-truncated --truncate 'jobs.db' 'jobs_idx.db'
corrupt_run jobs 'jobs*' '*job*'
corrupt_run joblog 'joblog.db'
corrupt_run tokens-truncated --truncate 'token*'
corrupt_run results 'role*' 'violation*' 'orphan*' 'manager*' 'link*' 'result*'
corrupt_run identity 'owner*' 'account*' 'group*' 'membership*' 'application*'
ls "$T_DIR/data" >&2

if [ $T_FAILS -ne 0 ]; then
	t_log "modes.sh: $T_FAILS failure(s)"
	exit 1
fi
t_log "modes.sh: clean"
exit 0
