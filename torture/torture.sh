#!/bin/bash
# torture/torture.sh: a bounded crash loop. Each iteration starts jobsd on the same data
# directory, submits slow jobs, then kill -9's the daemon (or a worker, or a REST listener,
# then stops the daemon with kill -9 or SIGTERM) at a random moment, restarts it and checks
# the invariants through jobctl --json:
#   - after a restart no job is `running` unless it started after the restart, and the
#     jobs that were running at the kill ended `failed` (or `cancelled`);
#   - a killed worker fails its job with the signal; a killed listener comes back;
#   - job ids are unique, and numbers never go back: every new job gets a number above
#     every number seen before (no reuse after a crash), creation order = number order;
#   - finished jobs keep their status and counters across every restart;
#   - the store stays consistent: after an initial full_sync, every sync of the unchanged
#     source (and a final full_sync) reports 0 created / 0 updated / 0 deleted.
#
#   JOBSD_BUILD=build/h-audit bash torture/torture.sh [--no-build] [-n ITERATIONS] [-t SECONDS]
#
# Defaults: 20 iterations, at most 300 s (TORTURE_ITERATIONS, TORTURE_TIME_LIMIT, TORTURE_SEED
# for the random choices). Loopback only; kills only what it started or what that spawned
# (by pid); removes its temp dir (KEEP=1 keeps it).
set -u
. "$(dirname "$0")/lib.sh"

ITER=${TORTURE_ITERATIONS:-20}
LIMIT=${TORTURE_TIME_LIMIT:-300}
BUILD_FIRST=1
while [ $# -gt 0 ]; do
	case $1 in
	--no-build) BUILD_FIRST=0 ;;
	-n) ITER=$2; shift ;;
	-t) LIMIT=$2; shift ;;
	*) t_die "usage: torture.sh [--no-build] [-n ITERATIONS] [-t SECONDS]" ;;
	esac
	shift
done
RANDOM=${TORTURE_SEED:-$$}
if [ $BUILD_FIRST = 1 ]; then
	make -C "$T_ROOT" --no-print-directory BUILD="${T_BUILD#$T_ROOT/}" -j2 all >&2 ||
		t_die "build failed"
fi

t_mkdir torture
trap 't_cleanup' EXIT
( end=$((SECONDS + LIMIT + 120)); while [ $SECONDS -lt $end ]; do sleep 1; done
  kill -TERM $$ 2>/dev/null ) &
T_PIDS+=("$!")
trap 't_log "hard time limit reached"; exit 3' TERM

mkdir -p "$T_DIR/data"
chmod 0700 "$T_DIR/data"
T_SOCK=$T_DIR/jobsd.sock
T_PORT=$(t_free_port)
"$T_BUILD/jobsd-datagen" --owners 1000 --out "$T_DIR/src" -q || t_die "datagen failed"
CONF=$T_DIR/jobsd.conf
t_config "$CONF" "$T_DIR/data" "$T_SOCK" "$T_DIR/src" "$T_PORT" \
	"max_workers = 2" "cancel_grace = 2" "log_level = info" "progress_interval_ms = 50"
JPID=

start_daemon() {
	"$T_BUILD/jobsd" -f -c "$CONF" >> "$T_DIR/jobsd.log" 2>&1 &
	JPID=$!
	T_PIDS+=("$JPID")
	t_wait_ping 30 "$JPID" || { tail -20 "$T_DIR/jobsd.log" >&2; t_die "jobsd did not start"; }
}
children() { ps -o pid=,comm= --ppid "$JPID" 2>/dev/null; }
# kill -9 the daemon; wait for its workers and listeners to go (PR_SET_PDEATHSIG)
crash_daemon() {
	local kids end
	kids=$(children | awk '{print $1}')
	kill -KILL "$JPID"
	wait "$JPID" 2>/dev/null
	end=$((SECONDS + 20))
	for p in $kids; do
		while kill -0 "$p" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.05; done
		kill -0 "$p" 2>/dev/null && t_fail "child $p outlived the daemon"
	done
}
stop_daemon() {
	kill -TERM "$JPID"
	t_wait_exit "$JPID" 40 || { t_fail "jobsd did not stop on SIGTERM"; kill -KILL "$JPID"; }
}
alljobs() { # every job as "no status created updated deleted processed created_time"
	local after="" page out
	while :; do
		if [ -n "$after" ]; then
			page=$(t_jobctl --json list --limit 1000 --after "$after")
		else
			page=$(t_jobctl --json list --limit 1000)
		fi || { t_fail "jobctl list failed"; return; }
		printf '%s' "$page" | jq -r '.jobs[] | "\(.id|ltrimstr("job-")) \(.status) \(.records_created) \(.records_updated) \(.records_deleted) \(.job_type) \(.created_time) \(.start_time)"'
		[ "$(t_jq "$page" .pageInfo.hasNextPage)" = true ] || break
		after=$(t_jq "$page" .pageInfo.endCursor)
	done
}
submit() { t_jobctl --json submit "$@" | jq -r '.id | ltrimstr("job-")'; }

declare -A FINISHED=() # no -> "status c u d" of every finished job seen
MAXNO=0
SYNC_TYPES="full_sync incremental_sync owner_sync account_sync group_sync application_sync"

# check_store RESTART_EPOCH: the invariants over the whole job list
check_store() {
	local since=$1 no st c u d type ct stt prev_no=999999999 prev_ct="" line
	declare -A seen=()
	while read -r no st c u d type ct stt; do
		[ -n "$no" ] || continue
		[ -z "${seen[$no]+x}" ] || t_fail "job-$no listed twice"
		seen[$no]=1
		[ "$no" -lt "$prev_no" ] || t_fail "list order: job-$no after job-$prev_no"
		[ -z "$prev_ct" ] || [[ ! "$ct" > "$prev_ct" ]] ||
			t_fail "job-$no created $ct after the newer job's $prev_ct"
		prev_no=$no
		prev_ct=$ct
		if [ "$st" = running ] && [ -n "$since" ]; then
			# only a job started by this daemon may be running
			local s
			s=$(date -u -d "$stt" +%s 2>/dev/null || echo 0)
			[ "$s" -ge $((since - 1)) ] ||
				t_fail "job-$no still running (started $stt) after the restart"
		fi
		case $st in
		completed | failed | cancelled)
			line="$st $c $u $d"
			if [ -n "${FINISHED[$no]+x}" ] && [ "${FINISHED[$no]}" != "$line" ]; then
				t_fail "job-$no changed after it ended: ${FINISHED[$no]} -> $line"
			fi
			FINISHED[$no]=$line
			if [ "$st" = completed ] && [ "$no" -gt "$BASE_NO" ] &&
			    [[ " $SYNC_TYPES " == *" $type "* ]] && [ "$c/$u/$d" != 0/0/0 ]; then
				t_fail "job-$no $type of the unchanged source changed records: $c/$u/$d"
			fi
			;;
		esac
	done < <(alljobs)
	for no in "${!FINISHED[@]}"; do
		[ -n "${seen[$no]+x}" ] || t_fail "finished job-$no disappeared"
	done
}

t_log "torture: $ITER iterations, at most $LIMIT s, in $T_DIR"
start_daemon
t_wait_http 20 || t_fail "listener did not start"
BASE_NO=$(submit full_sync --wait) || t_die "initial full_sync failed"
BASE_NO=$(t_jobctl --json list --limit 1 | jq -r '.jobs[0].id | ltrimstr("job-")')
MAXNO=$BASE_NO
t_log "initial full_sync job-$BASE_NO done"
start_s=$SECONDS
it=0
kills_daemon=0 kills_worker=0 kills_http=0
while [ $it -lt "$ITER" ] && [ $((SECONDS - start_s)) -lt "$LIMIT" ]; do
	it=$((it + 1))
	# slow jobs: syncs of the unchanged source (two conflicting, so one waits pending)
	new=()
	for k in 1 2 3; do
		set -- $SYNC_TYPES
		shift $((RANDOM % 6))
		n=$(submit "$1" --param delay_ms=$((20 + RANDOM % 40)) --param batch_size=$((10 + RANDOM % 30))) ||
			{ t_fail "submit failed"; continue; }
		[ "$n" -gt "$MAXNO" ] || t_fail "new job-$n not above every earlier number ($MAXNO)"
		MAXNO=$n
		new+=("$n")
	done
	# sometimes ask to cancel one while it may be running (the request must survive a crash)
	if [ $((RANDOM % 3)) = 0 ]; then
		t_jobctl cancel "job-${new[0]}" >/dev/null 2>&1 &
		T_PIDS+=("$!")
	fi
	sleep "$((RANDOM % 3)).$((RANDOM % 10))"
	victim=$((RANDOM % 4))
	if [ $victim = 1 ] && wk=$(children | awk '$2 == "jobsd-worker" {print $1; exit}') &&
	    [ -n "$wk" ]; then
		wjob=$(tr '\0' '\n' < "/proc/$wk/environ" 2>/dev/null | sed -n 's/^JOBSD_JOB=job-//p')
		kill -KILL "$wk"
		kills_worker=$((kills_worker + 1))
		if [ -n "$wjob" ]; then
			end=$((SECONDS + 20))
			while [ $SECONDS -lt $end ]; do
				st=$(t_jobctl --json show "job-$wjob" 2>/dev/null | jq -r '.status + " " + (.error // "")')
				[[ "$st" == running* ]] || break
				sleep 0.1
			done
			case $st in
			"failed killed by signal 9"* | "failed "*"signal 9"* | cancelled*) ;;
			*) t_fail "job-$wjob after its worker was killed: '$st'" ;;
			esac
		fi
	elif [ $victim = 2 ] && hl=$(children | awk '$2 == "jobsd-http" {print $1; exit}') &&
	    [ -n "$hl" ]; then
		kill -KILL "$hl"
		kills_http=$((kills_http + 1))
		t_wait_http 20 || t_fail "listener not restarted after kill -9"
		sleep 0.$((RANDOM % 10))
	fi
	if [ $((RANDOM % 4)) = 0 ]; then
		stop_daemon
	else
		crash_daemon
		kills_daemon=$((kills_daemon + 1))
	fi
	restart=$(date -u +%s)
	start_daemon
	check_store "$restart"
done
t_log "iterations: $it (daemon kill -9: $kills_daemon, worker: $kills_worker, listener: $kills_http)"

# cancel what is left (pending at once, running after its batch), then the store must be
# consistent
for id in $(t_jobctl --json list --limit 1000 | jq -r '.jobs[] | select(.status=="pending" or .status=="running") | .id'); do
	t_jobctl cancel "$id" >/dev/null 2>&1 ||
		[ "$(t_jobctl --json show "$id" | jq -r .status)" != pending ] ||
		t_fail "cancel of pending $id refused"
done
end=$((SECONDS + 60))
while [ $SECONDS -lt $end ]; do
	n=$(t_jobctl --json list --limit 1000 | jq '[.jobs[] | select(.status=="pending" or .status=="running")] | length')
	[ "$n" = 0 ] && break
	sleep 0.5
done
[ "$n" = 0 ] || t_fail "jobs still pending or running at the end"
final=$(t_jobctl --json submit full_sync --wait) || t_fail "final full_sync did not complete"
counts=$(t_jq "$final" '"\(.records_created)/\(.records_updated)/\(.records_deleted)"')
[ "$counts" = 0/0/0 ] || t_fail "final full_sync of the unchanged source: $counts (store inconsistent)"
check_store ""

# A killed listener must not leave its Berkeley DB lockers behind (the supervisor has to
# run failchk for it as for a worker): with the daemon idle, the number of lockers after
# three kill -9's of the listener equals the number before. Needs db5.3_stat (db5.3-util).
if command -v db5.3_stat >/dev/null; then
	lockers() { db5.3_stat -c -h "$T_DIR/data" | awk '/Number of current lockers/ {print $1}'; }
	l0=$(lockers)
	for k in 1 2 3; do
		hl=$(children | awk '$2 == "jobsd-http" {print $1; exit}')
		[ -n "$hl" ] && kill -KILL "$hl"
		sleep 0.5
		t_wait_http 20 || t_fail "listener not restarted after kill -9"
	done
	t_req GET /healthz "" 200
	l1=$(lockers)
	[ "$l0" = "$l1" ] ||
		t_fail "Berkeley DB lockers $l0 -> $l1 after 3 listeners were killed (not released: no failchk for a dead listener)"
else
	t_log "note: db5.3_stat not installed, locker check skipped"
fi
summary=$(t_jobctl --json list --limit 1000 | jq -r '[.jobs[].status] | group_by(.) | map("\(.[0]) \(length)") | join(", ")')
t_log "jobs by end state: $summary"
stop_daemon
[ "${T_STATUS:-1}" = 0 ] || t_fail "jobsd exit status $T_STATUS at the end"
if [ $T_FAILS -ne 0 ]; then
	cp "$T_DIR/jobsd.log" "$T_BUILD/torture-jobsd.log" 2>/dev/null
	t_log "torture.sh: $T_FAILS failure(s); daemon log in $T_BUILD/torture-jobsd.log"
	exit 1
fi
t_log "torture.sh: clean ($it iterations, ${#FINISHED[@]} finished jobs checked, final full_sync 0/0/0)"
exit 0
