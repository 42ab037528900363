# lib.sh: helpers of bench/run.sh (sourced, bash): temp dir and process bookkeeping,
# starting and stopping jobsd and nginx, wrk and SQLite timing, medians, the result table.
# Every process started here is recorded by pid and ended by pid in bench_cleanup.

BENCH_PIDS=""
TSP_SOCKETS=""

say() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# Monotonic-enough wall clock in seconds with nanoseconds.
now_s() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
calc() { awk "BEGIN { printf \"%.${2:-3}f\", $1 }"; }

median() {
	printf '%s\n' "$@" | grep -E '^-?[0-9.]+$' | sort -g | awk '
		{ a[NR] = $1 }
		END {
			if (NR == 0) { print "NA"; exit }
			if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2
		}'
}

track_pid() { BENCH_PIDS="$BENCH_PIDS $1"; }
untrack_pid() { BENCH_PIDS=$(printf '%s\n' $BENCH_PIDS | grep -vx "$1" | tr '\n' ' '); }

# End one process we started: TERM, up to $2 seconds (default 20), then KILL.
# Its direct children (jobsd's listeners and workers) are collected first and ended the
# same way if they outlive it.
end_pid() {
	local pid=$1 grace=${2:-20} kids i
	kill -0 "$pid" 2>/dev/null || { untrack_pid "$pid"; return 0; }
	kids=$(pgrep -P "$pid" 2>/dev/null | tr '\n' ' ')
	kill -TERM "$pid" 2>/dev/null
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt $((grace * 10)) ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		say "pid $pid did not stop in ${grace}s: SIGKILL"
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	for k in $kids; do
		if kill -0 "$k" 2>/dev/null; then
			kill -TERM "$k" 2>/dev/null
			sleep 0.5
			kill -KILL "$k" 2>/dev/null
		fi
	done
	untrack_pid "$pid"
}

bench_cleanup() {
	local p s
	for p in $BENCH_PIDS; do
		end_pid "$p" 10
	done
	for s in $TSP_SOCKETS; do
		[ -S "$s" ] && TS_SOCKET=$s tsp -K >/dev/null 2>&1
	done
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		say "kept $WORK (BENCH_KEEP=1)"
	elif [ -n "${WORK:-}" ] && [ -d "$WORK" ]; then
		rm -rf "$WORK"
	fi
}

# A free TCP port on 127.0.0.1, below the kernel's ephemeral range: wrk's thousands of
# connections (and their TIME_WAIT) take local ports from that range, and a port chosen in
# it could be taken between the check and jobsd's bind ("Address already in use" once
# skipped all of figure 2). No socket in any state may use it.
free_port() {
	local p lo hi
	read -r lo hi < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=32768
	[ "$lo" -gt 21024 ] || lo=32768
	while :; do
		p=$((20000 + RANDOM % (lo - 20000)))
		if ! ss -Htan "sport = :$p" 2>/dev/null | grep -q .; then
			echo "$p"
			return
		fi
	done
}

# --- jobsd ------------------------------------------------------------------------------

# write_conf DIR PORT|- MAX_WORKERS WORKER_PATH|- then "name=path" sources.
write_conf() {
	local dir=$1 port=$2 maxw=$3 wpath=$4 s
	shift 4
	{
		echo "[jobsd]"
		echo "data_dir = $dir/data"
		echo "socket = $dir/jobsd.sock"
		echo "pid_file = $dir/jobsd.pid"
		echo "max_workers = $maxw"
		echo "retention_days = 0"
		echo "retention_count = 0"
		echo "log_level = warning"
		[ "$wpath" != - ] && echo "worker_path = $wpath"
		for s in "$@"; do
			echo
			echo "[source ${s%%=*}]"
			echo "type = csv"
			echo "path = ${s#*=}"
		done
		if [ "$port" != - ]; then
			echo
			echo "[http]"
			echo "listen = 127.0.0.1:$port"
		fi
	} > "$dir/jobsd.conf"
}

# start_jobsd DIR: runs jobsd -f on DIR/jobsd.conf; sets JOBSD_PID, JOBSD_SOCKET, TOKEN.
start_jobsd() {
	local dir=$1 i=0
	mkdir -p "$dir/data"
	"$B/jobsd" -f -c "$dir/jobsd.conf" 2>>"$dir/jobsd.log" &
	JOBSD_PID=$!
	JOBSD_LOG=$dir/jobsd.log
	track_pid "$JOBSD_PID"
	export JOBSD_SOCKET=$dir/jobsd.sock
	while ! "$B/jobctl" ping >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -gt 600 ] || ! kill -0 "$JOBSD_PID" 2>/dev/null; then
			say "jobsd did not come up; its log:"
			tail -20 "$dir/jobsd.log" >&2
			return 1
		fi
		sleep 0.1
	done
	TOKEN=$("$B/jobctl" token create "bench$RANDOM" --role Administrator | tail -n 1)
	[ -n "$TOKEN" ] || { say "no token"; return 1; }
}

# wait_http PORT: until the listener answers (any status).
wait_http() {
	local i=0
	while [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/api/v1/jobs")" = 000 ]; do
		i=$((i + 1))
		[ $i -gt 300 ] && { say "no HTTP listener on $1"; return 1; }
		sleep 0.1
	done
}

stop_jobsd() {
	local rc
	# A daemon that ended before it was told to is a finding: say how, with its log.
	if ! kill -0 "$JOBSD_PID" 2>/dev/null; then
		wait "$JOBSD_PID" 2>/dev/null
		rc=$?
		say "jobsd (pid $JOBSD_PID) ended before its stop, status $rc; its log ends:"
		tail -n 20 "$JOBSD_LOG" >&2
	fi
	end_pid "$JOBSD_PID" 30
}

# job_field ID FIELD: one field of `jobctl --json show`.
job_field() {
	"$B/jobctl" --json show "$1" | jq -r ".$2"
}

# run_job TYPE [--param k=v]...: submit, wait, print the id.
run_job() {
	local id
	id=$("$B/jobctl" submit "$@" | head -n 1)
	"$B/jobctl" watch "$id" >/dev/null 2>&1
	echo "$id"
}

# --- nginx ------------------------------------------------------------------------------

# start_nginx ROOT PORT: one worker, serving ROOT's files as application/json.
start_nginx() {
	local root=$1 port=$2 d=$WORK/nginx i=0
	mkdir -p "$d/tmp"
	cat > "$d/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	types { }
	default_type "application/json; charset=utf-8";
	keepalive_requests 100000000;
	client_body_temp_path $d/tmp/body;
	sendfile on;
	server {
		listen 127.0.0.1:$port;
		root $root;
	}
}
EOF
	nginx -p "$d" -c "$d/nginx.conf" 2>>"$d/error.log" &
	NGINX_PID=$!
	track_pid "$NGINX_PID"
	while [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/")" = 000 ]; do
		i=$((i + 1))
		[ $i -gt 100 ] && { say "nginx did not start"; cat "$d/error.log" >&2; return 1; }
		sleep 0.1
	done
}

# --- wrk --------------------------------------------------------------------------------

# wrk_once THREADS CONNS SECONDS URL [HEADER]...: prints "rps p99_ms errors requests".
wrk_once() {
	local t=$1 c=$2 d=$3 url=$4 out
	shift 4
	local hdr=()
	for h in "$@"; do hdr+=(-H "$h"); done
	out=$(timeout $((d + 30)) wrk -t"$t" -c"$c" -d"${d}s" --latency "${hdr[@]}" "$url" 2>&1)
	printf '%s\n' "$out" >> "$WORK/wrk.log"
	printf '%s\n' "$out" | awk '
		/Requests\/sec:/ { rps = $2 }
		/ requests in / { nreq = $1 }
		/^ +99%/ {
			v = $2
			if (v ~ /us$/) { sub(/us$/, "", v); v = v / 1000 }
			else if (v ~ /ms$/) { sub(/ms$/, "", v) }
			else if (v ~ /s$/) { sub(/s$/, "", v); v = v * 1000 }
			p99 = v
		}
		/Non-2xx or 3xx responses:/ { err += $NF }
		/Socket errors:/ {
			gsub(/,/, "")
			err += $4 + $6 + $8 + $10
		}
		END { printf "%s %s %d %d\n", rps == "" ? "NA" : rps, p99 == "" ? "NA" : p99, err, nreq }'
}

# cpu_ticks PID: user + system CPU time of a process so far, in clock ticks.
cpu_ticks() {
	awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# --- results ----------------------------------------------------------------------------

# row FIGURE JOBSD REFERENCE RATIO BAR VERDICT (tab-separated into $RESULTS).
row() {
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6" >> "$RESULTS"
	printf '  %-58s %14s %14s %8s  %s %s\n' "$1" "$2" "$3" "$4" "$5" "$6" >&2
}

# verdict VALUE OP LIMIT: "ok" or "MISSED" (or "n/a" when VALUE is not a number).
verdict() {
	case $1 in
	'' | NA | *[!0-9.]*) echo "n/a"; return ;;
	esac
	if awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
		if (op == ">=") exit !(v >= l); else exit !(v <= l) }'; then
		echo ok
	else
		echo MISSED
	fi
}

# verdict_of A B OP BAR: the verdict on A / B itself, not on the two decimals the table
# shows (0.4986 is shown as 0.50 and misses a bar of 0.5).
verdict_of() {
	case "$1$2" in
	*NA* | *n/a* | '') echo "n/a"; return ;;
	esac
	verdict "$(awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "NA"; else printf "%.9f", a / b }')" "$3" "$4"
}

ratio() {
	case "$1$2" in
	*NA* | *n/a* | '') echo NA; return ;;
	esac
	awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "NA"; else printf "%.2f", a / b }'
}
