# torture/lib.sh: helpers shared by torture/valgrind.sh and torture/torture.sh (sourced,
# bash): a private temp dir, a free loopback port, a config file, waiting for jobsd to
# answer, REST calls with curl, and cleanup that kills only the processes we started (by
# pid) and removes the temp dir.

T_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
T_BUILD=${JOBSD_BUILD:-build}
case $T_BUILD in /*) ;; *) T_BUILD=$T_ROOT/$T_BUILD ;; esac
T_DIR=
T_PIDS=()        # every process we started in the background (killed at exit)
T_FAILS=0

t_log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
t_fail() { t_log "FAIL: $*"; T_FAILS=$((T_FAILS + 1)); }
t_die() { t_log "FATAL: $*"; exit 2; }

t_mkdir() {
	T_DIR=$(mktemp -d "/tmp/jobsd-$1.XXXXXX") || t_die "mktemp"
	chmod 0755 "$T_DIR"
}

# Kill what we started (by pid, never by name), wait for it, remove the temp dir.
t_cleanup() {
	local p
	for p in "${T_PIDS[@]}"; do
		kill -0 "$p" 2>/dev/null && kill -TERM "$p" 2>/dev/null
	done
	for p in "${T_PIDS[@]}"; do
		local n=0
		while kill -0 "$p" 2>/dev/null && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
		kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
	if [ -n "$T_DIR" ] && [ -d "$T_DIR" ] && [ "${KEEP:-0}" != 1 ]; then
		chattr -R -i "$T_DIR" 2>/dev/null
		rm -rf "$T_DIR"
	fi
}

t_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null && return
	local p
	for p in $(shuf -i 20000-60000 -n 50); do
		(exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo "$p"; return; }
	done
	t_die "no free port"
}

# t_config FILE DATA SOCKET SOURCE PORT [extra lines...]
t_config() {
	local f=$1 data=$2 sock=$3 src=$4 port=$5
	shift 5
	{
		echo "[jobsd]"
		echo "data_dir = $data"
		echo "socket = $sock"
		echo "pid_file = $T_DIR/jobsd.pid"
		for l in "$@"; do echo "$l"; done
		echo "[source main]"
		echo "type = csv"
		echo "path = $src"
		echo "[http]"
		echo "listen = 127.0.0.1:$port"
	} > "$f"
}

# t_jobctl ARGS...: jobctl on our socket ($T_SOCK)
t_jobctl() { "$T_BUILD/jobctl" -s "$T_SOCK" "$@"; }

# t_wait_ping DEADLINE_S PID: wait until jobsd answers on the control socket.
t_wait_ping() {
	local end=$((SECONDS + $1)) pid=$2
	while [ $SECONDS -lt $end ]; do
		kill -0 "$pid" 2>/dev/null || return 1
		t_jobctl ping >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}

# t_wait_http DEADLINE_S: wait until the listener answers GET /healthz (any status).
t_wait_http() {
	local end=$((SECONDS + $1)) c
	while [ $SECONDS -lt $end ]; do
		c=$(curl -s -o /dev/null -m 5 -w '%{http_code}' "http://127.0.0.1:$T_PORT/healthz")
		[ "$c" != 000 ] && return 0
		sleep 0.3
	done
	return 1
}

# t_wait_exit PID DEADLINE_S: 0 when PID (our child) has exited; its status in T_STATUS.
t_wait_exit() {
	local end=$((SECONDS + $2))
	while [ $SECONDS -lt $end ]; do
		if ! kill -0 "$1" 2>/dev/null; then
			wait "$1" 2>/dev/null
			T_STATUS=$?
			return 0
		fi
		sleep 0.2
	done
	return 1
}

# t_req METHOD PATH TOKEN EXPECT [BODY]: one REST request; body in $T_BODY, status in $T_CODE.
# A status other than EXPECT (a |-separated list) or any 5xx body leaking internals fails.
T_NREQ=0
t_req() {
	local m=$1 path=$2 tok=$3 want=$4 body=${5-} out args=()
	out=$T_DIR/resp.$$
	args=(-s -m 60 -o "$out" -w '%{http_code}' -X "$m")
	[ -n "$tok" ] && args+=(-H "Authorization: Bearer $tok")
	[ "$m" = HEAD ] && args=(-s -m 60 -o "$out" -w '%{http_code}' -I)
	[ -n "$tok" ] && [ "$m" = HEAD ] && args+=(-H "Authorization: Bearer $tok")
	if [ -n "$body" ]; then
		args+=(-H 'Content-Type: application/json' --data-binary "$body")
	fi
	T_CODE=$(curl "${args[@]}" "http://127.0.0.1:$T_PORT$path")
	T_BODY=$(cat "$out" 2>/dev/null)
	rm -f "$out"
	T_NREQ=$((T_NREQ + 1))
	if ! [[ "|$want|" == *"|$T_CODE|"* ]]; then
		t_fail "$m $path: status $T_CODE, expected $want: ${T_BODY:0:300}"
	fi
	t_check_body "$m $path"
}

# Error bodies never carry internals: Berkeley DB messages, file paths, errno strings.
t_check_body() {
	if [[ "$T_CODE" =~ ^[45] ]] &&
	    printf '%s' "$T_BODY" | grep -Eiq 'DB_|BDB|Berkeley|/tmp/|/var/|\.c:[0-9]|No such file|Permission denied|errno|db_env|__db|\.db\b'; then
		t_fail "$1: error body carries internals: ${T_BODY:0:300}"
	fi
}

# t_json_field JSON FILTER: jq -r shorthand.
t_jq() { printf '%s' "$1" | jq -r "$2" 2>/dev/null; }
