#!/bin/bash
# torture/valgrind.sh: run a real jobsd with the supervisor, the REST listener and every
# worker under valgrind (memcheck, full leak check, descriptor tracking), drive the paths
# that repeat (REST requests of every endpoint including errors, ~50 jobs of every kind with
# cancels of pending and running jobs, jobctl commands, token create/revoke, SIGHUP reloads),
# stop it with SIGTERM and fail if any process reported a memory error, a definite or
# indirect leak, or a descriptor left open at exit that it did not inherit.
#
#   JOBSD_BUILD=build/h-audit bash torture/valgrind.sh [--no-build]
#
# Environment: JOBSD_BUILD (default build), VG_TIME_LIMIT (seconds, default 420), KEEP=1
# keeps the temp dir. Loopback only; kills only what it started; removes its temp dir.
# The valgrind logs of a failed run are copied to $JOBSD_BUILD/valgrind-logs/.
set -u
. "$(dirname "$0")/lib.sh"

LIMIT=${VG_TIME_LIMIT:-420}
if [ "${1-}" != --no-build ]; then
	make -C "$T_ROOT" --no-print-directory BUILD="${T_BUILD#$T_ROOT/}" -j2 all >&2 ||
		t_die "build failed"
fi
command -v valgrind >/dev/null || t_die "valgrind not installed (apt-get install valgrind)"
for p in jobsd jobsd-worker jobsd-http jobctl jobsd-datagen; do
	[ -x "$T_BUILD/$p" ] || t_die "$T_BUILD/$p missing"
done

t_mkdir vg
trap 't_cleanup' EXIT
# Hard time bound: the whole script is killed (and cleans up) after LIMIT seconds.
( end=$((SECONDS + LIMIT)); while [ $SECONDS -lt $end ]; do sleep 1; done; kill -TERM $$ 2>/dev/null ) &
WATCHDOG=$!
T_PIDS+=("$WATCHDOG")
trap 't_log "time limit ($LIMIT s) reached"; exit 3' TERM

VGLOG=$T_DIR/vg
mkdir -p "$VGLOG" "$T_DIR/data"
chmod 0700 "$T_DIR/data"
T_SOCK=$T_DIR/jobsd.sock
T_PORT=$(t_free_port)
VG=(valgrind --leak-check=full --show-leak-kinds=definite,indirect
    --errors-for-leak-kinds=definite,indirect --track-fds=yes --error-exitcode=99
    --num-callers=30 --child-silent-after-fork=yes)
[ -f "$T_ROOT/torture/valgrind.supp" ] && VG+=(--suppressions="$T_ROOT/torture/valgrind.supp")

# Wrappers: the supervisor execs these; `exec` keeps fd 3 (IPC) and the listening sockets.
for prog in worker http; do
	cat > "$T_DIR/vg-$prog.sh" <<EOF
#!/bin/sh
exec ${VG[*]} --log-file=$VGLOG/$prog.%p.log $T_BUILD/jobsd-$prog "\$@"
EOF
	chmod 0755 "$T_DIR/vg-$prog.sh"
done

# the data generator itself under valgrind too
"${VG[@]}" --log-file="$VGLOG/datagen.%p.log" "$T_BUILD/jobsd-datagen" --owners 300 \
	--out "$T_DIR/src" -q || t_die "datagen failed"
"${VG[@]}" --log-file="$VGLOG/datagen.%p.log" "$T_BUILD/jobsd-datagen" --mutate 5 \
	--from "$T_DIR/src" --out "$T_DIR/src2" -q || t_die "datagen --mutate failed"
CONF=$T_DIR/jobsd.conf
conf() {
	t_config "$CONF" "$T_DIR/data" "$T_SOCK" "$T_DIR/src" "$T_PORT" \
		"worker_path = $T_DIR/vg-worker.sh" "http_path = $T_DIR/vg-http.sh" \
		"max_workers = 2" "cancel_grace = 8" "worker_start_timeout = 120" \
		"log_level = $1" "progress_interval_ms = 100"
	[ -n "${2-}" ] && echo "idle_timeout = $2" >> "$CONF"
	return 0
}
conf info

t_log "starting jobsd under valgrind in $T_DIR (port $T_PORT)"
"${VG[@]}" --log-file="$VGLOG/jobsd.%p.log" "$T_BUILD/jobsd" -f -c "$CONF" \
	> "$T_DIR/jobsd.log" 2>&1 &
JPID=$!
T_PIDS+=("$JPID")
t_wait_ping 120 "$JPID" || { tail -20 "$T_DIR/jobsd.log" >&2; t_die "jobsd did not answer"; }
t_wait_http 120 || t_die "jobsd-http did not answer"

# --- tokens -------------------------------------------------------------------------
ADMIN=$(t_jobctl --json token create vg-admin --role Administrator | jq -r .token)
REVIEWER=$(t_jobctl --json token create vg-reviewer --role Reviewer | jq -r .token)
[ -n "$ADMIN" ] && [ "$ADMIN" != null ] || t_die "token create failed"
t_jobctl token create vg-admin --role Administrator >/dev/null 2>&1 &&
	t_fail "duplicate token name accepted"
t_jobctl token create vg-bad --role Nobody >/dev/null 2>&1 && t_fail "bad role accepted"
t_jobctl token list >/dev/null || t_fail "token list"
t_jobctl --json token list >/dev/null || t_fail "token list --json"

# --- jobs ---------------------------------------------------------------------------
submit_rest() { # TYPE PARAMS-JSON: prints the id
	t_req POST /api/v1/jobs "$ADMIN" 201 "{\"job_type\":\"$1\",\"parameters\":${2:-{\}}}"
	t_jq "$T_BODY" .id
}
submit_ctl() { t_jobctl --json submit "$@" | jq -r .id; }
status_of() { t_jobctl --json show "$1" 2>/dev/null | jq -r .status; }
wait_status() { # ID STATUS DEADLINE
	local end=$((SECONDS + $3))
	while [ $SECONDS -lt $end ]; do
		[[ "|$2|" == *"|$(status_of "$1")|"* ]] && return 0
		sleep 0.3
	done
	return 1
}
wait_working() { # ID DEADLINE: running and past its first batch (the worker said hello)
	local end=$((SECONDS + $2)) n
	while [ $SECONDS -lt $end ]; do
		n=$(t_jobctl --json show "$1" 2>/dev/null | jq -r '.records_processed // 0')
		[ "${n:-0}" -gt 0 ] 2>/dev/null && return 0
		sleep 0.3
	done
	return 1
}
wait_idle() { # every job ended
	local end=$((SECONDS + $1)) n
	while [ $SECONDS -lt $end ]; do
		n=$(t_jobctl --json list --limit 1000 | jq '[.jobs[] | select(.status=="pending" or .status=="running")] | length')
		[ "$n" = 0 ] && return 0
		sleep 0.5
	done
	return 1
}

t_log "jobs: first syncs and analyses"
J1=$(submit_rest full_sync '{"batch_size":100}')
wait_status "$J1" completed 120 || t_fail "$J1 did not complete: $(status_of "$J1")"
for t in manager_resolution enrichment role_generation policy_analysis; do
	submit_ctl "$t" >/dev/null || t_fail "submit $t"
done
submit_ctl owner_sync >/dev/null
submit_rest account_sync '{"batch_size":50}' >/dev/null
submit_rest group_sync >/dev/null
submit_rest application_sync >/dev/null
submit_rest incremental_sync >/dev/null
wait_idle 240 || t_fail "jobs did not finish"

# descriptors of the supervisor and the listener before the repeating paths (compared after)
nfds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
HPID=$(ps -o pid=,args= --ppid "$JPID" | awk '$0 ~ /jobsd-http/ {print $1; exit}')
FDS0="$(nfds "$JPID") $(nfds "$HPID")"

t_log "jobs: cancels of running and pending jobs"
for i in 1 2 3 4; do
	R=$(submit_rest full_sync '{"batch_size":20,"delay_ms":300}')
	P1=$(submit_ctl owner_sync --param delay_ms=200 --param batch_size=10)
	P2=$(submit_rest incremental_sync '{"delay_ms":"100"}')
	wait_working "$R" 120 || t_fail "$R never ran"
	# a pending one by REST, a pending one by jobctl (both wait behind R), R by REST
	t_req DELETE "/api/v1/jobs/$P2" "$ADMIN" 204
	t_jobctl cancel "$P1" >/dev/null 2>&1 || t_fail "jobctl cancel pending $P1"
	t_req DELETE "/api/v1/jobs/$R" "$ADMIN" 204
	t_req DELETE "/api/v1/jobs/$R" "$ADMIN" 409
	[ "$(status_of "$R")" = cancelled ] || t_fail "$R not cancelled"
done
# a running job cancelled by jobctl
R=$(submit_ctl full_sync --param batch_size=20 --param delay_ms=300)
wait_working "$R" 120 || t_fail "$R never ran"
t_jobctl cancel "$R" >/dev/null 2>&1 || t_fail "jobctl cancel running $R"
wait_status "$R" cancelled 30 || t_fail "$R not cancelled: $(status_of "$R")"
t_jobctl cancel "$R" >/dev/null 2>&1 && t_fail "cancel of an ended job succeeded"

t_log "jobs: unknown types, bad parameters, a failing source"
t_req POST /api/v1/jobs "$ADMIN" 400 '{"job_type":"no_such_type"}'
t_jobctl submit no_such_type >/dev/null 2>&1 && t_fail "jobctl submit unknown type accepted"
t_jobctl submit full_sync --param source=nosuch >/dev/null 2>&1
t_req POST /api/v1/jobs "$ADMIN" "201|400" '{"job_type":"full_sync","parameters":{"batch_size":"x"}}'
t_req POST /api/v1/jobs "$ADMIN" "201|400" '{"job_type":"full_sync","parameters":{"batch_size":0}}'
t_req POST /api/v1/jobs "$ADMIN" "201|400" '{"job_type":"full_sync","parameters":{"bogus":1}}'
# the mutated copy through incremental and full syncs
sed -i "s|^path = $T_DIR/src\$|path = $T_DIR/src2|" "$CONF"
kill -HUP "$JPID"
sleep 2
submit_ctl incremental_sync >/dev/null
submit_ctl full_sync --param max_delete_percent=100 >/dev/null
wait_idle 240 || t_fail "jobs did not finish"
for i in $(seq 1 24); do
	case $((i % 4)) in
	0) submit_ctl incremental_sync --param batch_size=$((i * 7)) >/dev/null ;;
	1) submit_rest manager_resolution >/dev/null ;;
	2) submit_rest enrichment '{"batch_size":33}' >/dev/null ;;
	3) submit_ctl role_generation >/dev/null ;;
	esac
done
wait_idle 300 || t_fail "jobs did not finish"
NJOBS=$(t_jobctl --json list --limit 1000 | jq '.jobs | length')
t_log "jobs in the store: $NJOBS"

# --- REST: every endpoint, errors included -----------------------------------------
t_log "REST requests"
LAST=$(t_jobctl --json list --limit 1 | jq -r '.jobs[0].id')
CUR=$(curl -s -H "Authorization: Bearer $ADMIN" "http://127.0.0.1:$T_PORT/api/v1/jobs?first=2" | jq -r .pageInfo.endCursor)
ROLE=$(curl -s -H "Authorization: Bearer $ADMIN" "http://127.0.0.1:$T_PORT/api/v1/roles?first=1" | jq -r '.roles[0].id // .roles[0].name // "none"' 2>/dev/null)
OWNER=$(sed -n '2p' "$T_DIR/src/owners.csv" | cut -d, -f1)
ACCOUNT=$(sed -n '2p' "$T_DIR/src/accounts.csv" | cut -d, -f1)
for round in 1 2 3 4 5 6 7 8; do
	t_req GET /api/v1/jobs "$ADMIN" 200
	t_req GET "/api/v1/jobs?first=3&status=completed" "$ADMIN" 200
	t_req GET "/api/v1/jobs?job_type=full_sync&start_date=2020-01-01&end_date=2099-12-31T00:00:00Z" "$ADMIN" 200
	t_req GET "/api/v1/jobs?first=2&after=$CUR" "$ADMIN" 200
	t_req GET "/api/v1/jobs?first=2&after=$CUR&status=failed" "$ADMIN" 400
	t_req GET "/api/v1/jobs?after=garbage" "$ADMIN" 400
	t_req GET "/api/v1/jobs?first=0" "$ADMIN" 400
	t_req GET "/api/v1/jobs?first=1001" "$ADMIN" 400
	t_req GET "/api/v1/jobs?status=bogus" "$ADMIN" 400
	t_req GET "/api/v1/jobs?start_date=2024-13-01" "$ADMIN" 400
	t_req GET "/api/v1/jobs?start_date=2025-01-02&end_date=2025-01-01" "$ADMIN" 400
	t_req GET "/api/v1/jobs?nope=1" "$ADMIN" 400
	t_req GET "/api/v1/jobs?first=1&first=2" "$ADMIN" 400
	t_req GET "/api/v1/jobs?status=%zz" "$ADMIN" 400
	t_req GET /api/v1/jobs/running "$ADMIN" 200
	t_req GET "/api/v1/jobs/$LAST" "$ADMIN" 200
	t_req GET "/api/v1/jobs/$LAST/progress" "$ADMIN" 200
	t_req GET /api/v1/jobs/job-999999 "$ADMIN" 404
	t_req GET /api/v1/jobs/job-x/progress "$ADMIN" 404
	t_req GET /api/v1/jobs/%00 "$ADMIN" "400|404"
	t_req DELETE /api/v1/jobs/job-999999 "$ADMIN" 404
	t_req DELETE "/api/v1/jobs/$LAST" "$ADMIN" 409
	t_req PUT /api/v1/jobs "$ADMIN" 405
	t_req PATCH "/api/v1/jobs/$LAST" "$ADMIN" 405
	t_req HEAD /api/v1/jobs "$ADMIN" 200
	t_req GET /api/v1/jobs "" 401
	t_req GET /api/v1/jobs "not-a-token" 401
	t_req GET /api/v1/jobs "$REVIEWER" 403
	t_req POST /api/v1/jobs "$ADMIN" 400 '{"job_type":'
	t_req POST /api/v1/jobs "$ADMIN" 400 '{"job_type":"full_sync","x":1}'
	t_req POST /api/v1/jobs "$ADMIN" 400 '[1,2,3]'
	t_req POST /api/v1/jobs "$ADMIN" 400 '{"job_type":"full_sync","parameters":{"a":null}}'
	t_req POST /api/v1/jobs "$ADMIN" 400 '{"job_type":"full_sync","parameters":{"a":1,"a":2}}'
	t_req GET /api/v1/openapi.json "" 200
	t_req GET /healthz "" "200|503"
	t_req GET /metrics "$ADMIN" 200
	t_req GET /metrics "" 401
	t_req GET /nope "$ADMIN" 404
	t_req GET /api/v1/roles "$ADMIN" 200
	t_req GET "/api/v1/roles?first=abc" "$ADMIN" 400
	t_req GET "/api/v1/roles/$ROLE" "$ADMIN" "200|404"
	t_req GET "/api/v1/roles/$ROLE/members?first=5" "$ADMIN" "200|404"
	t_req GET /api/v1/roles/no-such-role "$ADMIN" 404
	t_req GET "/api/v1/violations?subject_kind=owner" "$ADMIN" 200
	t_req GET "/api/v1/violations?subject_kind=bogus" "$ADMIN" 400
	t_req GET /api/v1/orphans "$ADMIN" 200
	t_req GET "/api/v1/managers/issues?kind=cycle" "$ADMIN" 200
	t_req GET "/api/v1/managers/issues?kind=x" "$ADMIN" 400
	t_req GET "/api/v1/owners/$OWNER/manager" "$ADMIN" "200|404"
	t_req GET /api/v1/owners/nobody/manager "$ADMIN" 404
	t_req GET "/api/v1/accounts/$ACCOUNT/link" "$ADMIN" "200|404"
	t_req GET "/api/v1/roles?after=garbage" "$ADMIN" 400
done
# keep-alive and pipelining, a big body, big headers, HTTP/1.0, a slow client cut short
big=$(head -c 70000 /dev/zero | tr '\0' a)
t_req POST /api/v1/jobs "$ADMIN" 413 "{\"job_type\":\"$big\"}"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $(head -c 20000 /dev/zero | tr '\0' b)" \
	"http://127.0.0.1:$T_PORT/healthz")
[ "$code" = 431 ] || t_fail "big header: $code"
curl -s -o /dev/null -o /dev/null -o /dev/null -o /dev/null -H "Authorization: Bearer $ADMIN" \
	"http://127.0.0.1:$T_PORT/api/v1/jobs?first=1" "http://127.0.0.1:$T_PORT/api/v1/jobs/running" \
	"http://127.0.0.1:$T_PORT/metrics" "http://127.0.0.1:$T_PORT/api/v1/jobs/$LAST" || t_fail "keep-alive"
curl -s -0 -o /dev/null -H "Authorization: Bearer $ADMIN" "http://127.0.0.1:$T_PORT/api/v1/jobs" ||
	t_fail "HTTP/1.0"
for i in 1 2 3; do # pipelined, then half-sent and abandoned connections
	exec 5<>"/dev/tcp/127.0.0.1/$T_PORT"
	printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /api/v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' "$ADMIN" >&5
	timeout 20 cat <&5 >/dev/null
	exec 5>&-
	exec 5<>"/dev/tcp/127.0.0.1/$T_PORT"
	printf 'POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"jo' >&5
	exec 5>&-
	exec 5<>"/dev/tcp/127.0.0.1/$T_PORT"
	printf 'GARBAGE\r\n\r\n' >&5
	timeout 5 cat <&5 >/dev/null
	exec 5>&-
done
t_log "REST requests sent: $T_NREQ"

# --- jobctl -------------------------------------------------------------------------
t_log "jobctl commands"
for args in "list" "list --limit 3" "list --status completed --type full_sync" \
	"list --since 2020-01-01 --until 2099-01-01" "show $LAST" "progress $LAST" "running" \
	"log $J1" "watch $J1" "ping" "roles" "violations" "orphans" "managers" \
	"managers --kind cycle" "manager $OWNER" "link $ACCOUNT" "role $ROLE --members"; do
	# shellcheck disable=SC2086
	t_jobctl $args >/dev/null 2>&1
	rc=$?
	[ $rc -le 1 ] || t_fail "jobctl $args: exit $rc"
	# shellcheck disable=SC2086
	t_jobctl --json $args >/dev/null 2>&1
done
t_jobctl show job-999999 >/dev/null 2>&1 && t_fail "show unknown job succeeded"
# jobctl itself under valgrind: tables, --json, errors, a submit followed to its end
vgctl() { "${VG[@]}" --log-file="$VGLOG/jobctl.%p.log" "$T_BUILD/jobctl" -s "$T_SOCK" "$@"; }
for args in "list" "--json list --limit 2" "list --status completed --type full_sync" \
	"show $LAST" "--json show $LAST" "progress $LAST" "running" "log $J1" "watch $J1" \
	"ping" "roles" "--json violations" "orphans" "managers --kind missing" \
	"manager $OWNER" "link $ACCOUNT" "role $ROLE --members" "token list" \
	"show job-999999" "list --status bogus" "list --after garbage" "bogus" "cancel $LAST" \
	"submit no_such_type" "submit owner_sync --param batch_size=100 --wait" \
	"--json submit application_sync --wait"; do
	# shellcheck disable=SC2086
	vgctl $args >/dev/null 2>&1
	[ $? = 99 ] && t_fail "jobctl $args: valgrind errors"
done
vgctl token create vg-ctl --role Reviewer >/dev/null 2>&1 || t_fail "jobctl token create"
vgctl token revoke vg-ctl >/dev/null 2>&1 || t_fail "jobctl token revoke"
t_jobctl list --status bogus >/dev/null 2>&1
t_jobctl list --after garbage >/dev/null 2>&1
t_jobctl bogus >/dev/null 2>&1

sleep 11 # abandoned half requests end at request_timeout
FDS1="$(nfds "$JPID") $(nfds "$HPID")"
[ "$FDS0" = "$FDS1" ] ||
	t_fail "open descriptors (supervisor, listener) grew over the repeating paths: $FDS0 -> $FDS1"
t_log "open descriptors (supervisor, listener): $FDS0 before, $FDS1 after"

# --- tokens revoked, reloads ------------------------------------------------------------
t_jobctl token revoke vg-reviewer >/dev/null || t_fail "token revoke"
t_jobctl token revoke vg-reviewer >/dev/null 2>&1 && t_fail "second revoke succeeded"
t_req GET /api/v1/jobs "$REVIEWER" 401
for i in 1 2 3; do
	t_jobctl token create "vg-tmp$i" --role Auditor >/dev/null || t_fail "token create tmp"
	t_jobctl token revoke "vg-tmp$i" >/dev/null || t_fail "token revoke tmp"
done
t_log "SIGHUP reloads (valid, changed listener limits, invalid)"
conf debug
kill -HUP "$JPID"
sleep 2
conf info 30 # a changed [http] limit restarts the listener
kill -HUP "$JPID"
sleep 3
cp "$CONF" "$CONF.good"
echo "bogus_key = 1" >> "$CONF"
kill -HUP "$JPID"
sleep 2
cp "$CONF.good" "$CONF"
kill -HUP "$JPID"
t_wait_http 60 || t_fail "listener did not come back after reload"
t_req GET /api/v1/jobs "$ADMIN" 200
kill -0 "$JPID" || t_fail "jobsd died"

# a pending job left over for the shutdown path, and a running one stopped by SIGTERM
R=$(submit_rest full_sync '{"batch_size":20,"delay_ms":300}')
submit_rest owner_sync '{"delay_ms":100}' >/dev/null
wait_working "$R" 120 || t_fail "$R never ran"

# --- stop ----------------------------------------------------------------------------
t_log "SIGTERM"
kill -TERM "$JPID"
t_wait_exit "$JPID" 120 || t_fail "jobsd did not exit after SIGTERM"
[ "${T_STATUS:-1}" = 0 ] || t_fail "jobsd exit status $T_STATUS"
# every valgrind'ed process writes its summary when it ends; wait for all of them
end=$((SECONDS + 90))
while [ $SECONDS -lt $end ]; do
	n=$(grep -L 'ERROR SUMMARY' "$VGLOG"/*.log 2>/dev/null | wc -l)
	[ "$n" = 0 ] && break
	sleep 0.5
done

# --- verdict ---------------------------------------------------------------------------
bad=0
nlogs=0
for f in "$VGLOG"/*.log; do
	nlogs=$((nlogs + 1))
	name=$(basename "$f")
	if ! grep -q 'ERROR SUMMARY' "$f"; then
		t_fail "$name ended without a summary (killed by SIGKILL?)"
		continue
	fi
	errs=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$f" | tr -d , | tail -1)
	if [ "${errs:-0}" != 0 ]; then
		t_fail "$name: $errs errors"
		bad=1
	fi
	# descriptors open at exit that were not inherited (stdio and fd 3.. are)
	leaked=$(awk '
		/Open (file descriptor|AF_UNIX socket|AF_INET socket|AF_INET6 socket|socket)/ {
			pending = $0; next }
		pending != "" { if ($0 !~ /inherited from parent/) print pending; pending = "" }
	' "$f")
	if [ -n "$leaked" ]; then
		t_fail "$name: descriptors leaked at exit:"
		printf '%s\n' "$leaked" >&2
		bad=1
	fi
done
t_log "valgrind logs: $nlogs ($(ls "$VGLOG" | grep -c '^worker') workers, $(ls "$VGLOG" | grep -c '^http') listeners, $(ls "$VGLOG" | grep -c '^jobctl') jobctl runs)"
[ "$nlogs" -ge 3 ] || t_fail "too few valgrind logs ($nlogs)"
if [ $T_FAILS -ne 0 ] || [ $bad -ne 0 ]; then
	mkdir -p "$T_BUILD/valgrind-logs"
	cp "$VGLOG"/*.log "$T_DIR/jobsd.log" "$T_BUILD/valgrind-logs/" 2>/dev/null
	t_log "valgrind.sh: $T_FAILS failure(s); logs in $T_BUILD/valgrind-logs/"
	exit 1
fi
t_log "valgrind.sh: clean ($T_NREQ REST requests, $NJOBS jobs, $nlogs processes)"
exit 0
