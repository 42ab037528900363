#!/bin/bash
# run.sh: jobsd's benchmarks (issue 5), each figure beside a reference measured in the same
# run on the same machine: REST reads vs nginx, index scaling vs SQLite, job turnaround vs
# task-spooler and a fork+exec loop, sync throughput vs a SQLite import, analysis jobs,
# progress/RSS overheads. Prints a table and writes docs/benchmarks.md.
#
#   sh bench/run.sh [--quick] [--build DIR] [--only 1,2,...] [--no-docs] [--docs]
#   make bench [QUICK=1]
# A run of some figures (--only) leaves docs/benchmarks.md alone unless --docs is given.
#
# Loopback only; every process it starts is ended by pid; its temp dir is removed.
[ -z "${BASH_VERSION:-}" ] && exec bash "$0" "$@"
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${JOBSD_BUILD:-build}
QUICK=0
ONLY=1,2,3,4,5,6
DOCS=1
ARGS="$*"
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--build) BUILD=$2; shift ;;
	--only) ONLY=$2; shift; [ "$DOCS" = forced ] || DOCS=0 ;;
	--no-docs) DOCS=0 ;;
	--docs) DOCS=forced ;;
	-h | --help) sed -n 2,11p "$0"; exit 0 ;;
	*) echo "run.sh: unknown argument $1" >&2; exit 64 ;;
	esac
	shift
done
case $BUILD in /*) B=$BUILD ;; *) B=$ROOT/$BUILD ;; esac
. "$ROOT/bench/lib.sh"
want() { case ",$ONLY," in *",$1,"*) return 0 ;; esac; return 1; }

if [ $QUICK = 1 ]; then
	REST_JOBS=10000 WRK_S=1 RUNS=3 CLOSE_CFGS="1:50"
	IDX_SIZES="1000 10000 50000" IDX_S=1 IDX_RUNS=3 SQL_REPS=3000
	TURN_JOBS=300 TURN_RUNS=1 OWNERS=10000 SYNC_RUNS=1 PROG_OWNERS=5000 PROG_RUNS=3
else
	REST_JOBS=100000 WRK_S=4 RUNS=3 CLOSE_CFGS="1:50 2:100"
	IDX_SIZES="1000 100000 1000000" IDX_S=1 IDX_RUNS=5 SQL_REPS=6000
	TURN_JOBS=5000 TURN_RUNS=5 OWNERS=1000000 SYNC_RUNS=3 PROG_OWNERS=50000 PROG_RUNS=9
fi

# --- tools ------------------------------------------------------------------------------
need=""
for t in wrk:wrk nginx:nginx-light tsp:task-spooler sqlite3:sqlite3 curl:curl jq:jq \
    objcopy:binutils cc:gcc /usr/bin/time:time ss:iproute2; do
	command -v "${t%%:*}" >/dev/null 2>&1 || need="$need ${t#*:}"
done
if [ -n "$need" ]; then
	say "installing:$need"
	if [ "$(id -u)" = 0 ]; then
		apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive \
		    apt-get install -y -qq --no-install-recommends $need >/dev/null ||
		    { say "apt-get install$need failed"; exit 1; }
	else
		say "missing$need and not root: install them with apt-get"; exit 1
	fi
fi
for p in jobsd jobsd-worker jobctl jobsd-datagen jobsd-http; do
	[ -x "$B/$p" ] || { say "$B/$p missing: run make first"; exit 1; }
done

WORK=$(mktemp -d /tmp/jobsd-bench.XXXXXX)
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
RESULTS=$WORK/results.tsv
: > "$RESULTS"
T_START=$(now_s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
say "work dir $WORK, build $B, quick=$QUICK"

CFLAGS_B="-O2 -D_GNU_SOURCE -I$ROOT -I$ROOT/common -I$ROOT/ipc -I$ROOT/daemon -I$ROOT/daemon/worker"
PKGS="msgpack inih libcrypto yajl"
cc -O2 -o "$WORK/forkexec" "$ROOT/bench/forkexec.c" || exit 1
cc -O2 -D_GNU_SOURCE -o "$WORK/submit" "$ROOT/bench/submit.c" || exit 1
cc $CFLAGS_B $(pkg-config --cflags $PKGS) -o "$WORK/jobs2csv" "$ROOT/bench/jobs2csv.c" \
    "$B/libcommon.a" $(pkg-config --libs $PKGS) -ldb -lev -lm || exit 1

# --- 1. REST reads under load -----------------------------------------------------------

# rest_pair LABEL THREADS CONNS JOBSD_URL NGINX_URL [HEADER]: alternate runs, medians, rows.
rest_pair() {
	local label=$1 t=$2 c=$3 ju=$4 nu=$5 h=${6:-} bar=$7 r jr=() jp=() nr=() np=() je=0 ne=0
	local hdrs=("Authorization: Bearer $TOKEN")
	[ -n "$h" ] && hdrs+=("$h")
	for r in $(seq "$RUNS"); do
		set -- $(wrk_once "$t" "$c" "$WRK_S" "$ju" "${hdrs[@]}")
		jr+=("$1") jp+=("$2") je=$((je + $3))
		set -- $(wrk_once "$t" "$c" "$WRK_S" "$nu" "${hdrs[@]}")
		nr+=("$1") np+=("$2") ne=$((ne + $3))
	done
	local jrm nrm jpm npm rr pr
	jrm=$(median "${jr[@]}") nrm=$(median "${nr[@]}")
	jpm=$(median "${jp[@]}") npm=$(median "${np[@]}")
	rr=$(ratio "$jrm" "$nrm") pr=$(ratio "$jpm" "$npm")
	local note=""
	[ $je -gt 0 ] && note=" (jobsd: $je errors/non-2xx)"
	[ $ne -gt 0 ] && note="$note (nginx: $ne errors)"
	row "1 $label req/s$note" "$jrm" "$nrm" "$rr" ">= $bar" "$(verdict_of "$jrm" "$nrm" '>=' "$bar")"
	row "1 $label p99 ms" "$jpm" "$npm" "$pr" "<= 2" "$(verdict_of "$jpm" "$npm" '<=' 2)"
}

bench_rest() {
	local d=$WORK/rest port nport id q code cfg
	say "1: REST reads, $REST_JOBS stored jobs"
	mkdir -p "$d/data" "$WORK/www"
	# nginx's worker drops root privileges: let it traverse to the files it serves.
	chmod 0711 "$WORK"
	chmod 0755 "$WORK/www"
	"$B/jobsd-datagen" --jobs "$REST_JOBS" --data-dir "$d/data" -q || return 1
	port=$(free_port)
	write_conf "$d" "$port" 2 -
	start_jobsd "$d" || return 1
	wait_http "$port" || return 1
	id=job-$((REST_JOBS / 2))
	q="status=completed&first=25"
	code=$(curl -s -o "$WORK/www/job.json" -w '%{http_code}' \
	    -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$port/api/v1/jobs/$id")
	[ "$code" = 200 ] || { say "GET $id answered $code"; return 1; }
	code=$(curl -s -o "$WORK/www/page.json" -w '%{http_code}' \
	    -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$port/api/v1/jobs?$q")
	[ "$code" = 200 ] || { say "GET page answered $code"; return 1; }
	nport=$(free_port)
	start_nginx "$WORK/www" "$nport" || return 1
	curl -s -D "$WORK/nginx.head" -o "$WORK/nginx.body" "http://127.0.0.1:$nport/page.json"
	cmp -s "$WORK/nginx.body" "$WORK/www/page.json" ||
	    { say "nginx does not serve the same bytes:"; head -c 300 "$WORK/nginx.body" >&2; return 1; }
	say "1: single job $(wc -c < "$WORK/www/job.json") B, page $(wc -c < "$WORK/www/page.json") B"
	local J=http://127.0.0.1:$port/api/v1/jobs N=http://127.0.0.1:$nport
	for cfg in 1:50 2:100; do
		rest_pair "GET job -t${cfg%:*} -c${cfg#*:} keep-alive" "${cfg%:*}" "${cfg#*:}" \
		    "$J/$id" "$N/job.json" "" 0.7
		rest_pair "GET page -t${cfg%:*} -c${cfg#*:} keep-alive" "${cfg%:*}" "${cfg#*:}" \
		    "$J?$q" "$N/page.json" "" 0.5
	done
	for cfg in $CLOSE_CFGS; do
		rest_pair "GET job -t${cfg%:*} -c${cfg#*:} Connection: close" "${cfg%:*}" \
		    "${cfg#*:}" "$J/$id" "$N/job.json" "Connection: close" 0.7
		rest_pair "GET page -t${cfg%:*} -c${cfg#*:} Connection: close" "${cfg%:*}" \
		    "${cfg#*:}" "$J?$q" "$N/page.json" "Connection: close" 0.5
	done
	end_pid "$NGINX_PID" 10
	# The same daemon serves figure 2 when its size is one of the index sizes: keep it.
	if want 2 && [[ " $IDX_SIZES " == *" $REST_JOBS "* ]]; then
		IDX_PID[$REST_JOBS]=$JOBSD_PID IDX_PORT[$REST_JOBS]=$port
		IDX_TOKEN[$REST_JOBS]=$TOKEN IDX_DIR[$REST_JOBS]=$d
		return 0
	fi
	stop_jobsd
	rm -rf "$d"
}

# --- 2. index scaling -------------------------------------------------------------------

declare -A IDX_J IDX_C IDX_HTTP IDX_S_ IDX_CNT SUP_RSS SUP_ANON IDX_PID IDX_PORT IDX_TOKEN IDX_DIR
# sup_rss N PID: record a supervisor's peak RSS and its private (anonymous) part now.
sup_rss() {
	SUP_RSS[$1]=$(awk '/^VmHWM/ { print $2 }' "/proc/$2/status")
	SUP_ANON[$1]=$(awk '/^RssAnon/ { print $2 }' "/proc/$2/status")
}
# A wide range (270 days of the generated year), so that even 1,000 jobs fill a page of
# the combined filter and every size does the same work per page.
D_FROM=$(date -u -d '300 days ago' +%F)
D_TO=$(date -u -d '31 days ago' +%F)
MS_FROM=$(($(date -u -d "$D_FROM 00:00:00" +%s) * 1000))
MS_TO=$(($(date -u -d "$D_TO 23:59:59" +%s) * 1000 + 999))
IDX_NAMES="status job_type dates combined"
idx_query() {
	case $1 in
	status) echo "status=completed&first=25" ;;
	job_type) echo "job_type=full_sync&first=25" ;;
	dates) echo "start_date=$D_FROM&end_date=$D_TO&first=25" ;;
	combined) echo "status=completed&job_type=full_sync&start_date=$D_FROM&end_date=$D_TO&first=25" ;;
	esac
}
idx_sql() {
	local cols="json FROM jobs"
	case $1 in
	status) echo "SELECT $cols WHERE status='completed' ORDER BY no DESC LIMIT 25;" ;;
	job_type) echo "SELECT $cols WHERE job_type='full_sync' ORDER BY no DESC LIMIT 25;" ;;
	dates) echo "SELECT $cols WHERE start_ms BETWEEN $MS_FROM AND $MS_TO ORDER BY start_ms DESC LIMIT 25;" ;;
	combined) echo "SELECT $cols WHERE status='completed' AND job_type='full_sync' AND start_ms BETWEEN $MS_FROM AND $MS_TO ORDER BY start_ms DESC LIMIT 25;" ;;
	esac
}

# sqlite_per_query DB SQL: CPU microseconds (user + system) per execution: K executions in
# one sqlite3 process minus an empty sqlite3 run, like the listener's CPU time per request.
sqlite_per_query() {
	local db=$1 sql=$2 f=$WORK/q.sql r a b vals=()
	{ echo ".output /dev/null"; for _ in $(seq "$SQL_REPS"); do echo "$sql"; done; } > "$f"
	for r in $(seq "$RUNS"); do
		/usr/bin/time -f '%U %S' -o "$WORK/t0" sqlite3 "$db" < /dev/null
		/usr/bin/time -f '%U %S' -o "$WORK/t1" sqlite3 "$db" < "$f"
		a=$(tail -n 1 "$WORK/t0") b=$(tail -n 1 "$WORK/t1")
		vals+=("$(awk -v a="$a" -v b="$b" -v k="$SQL_REPS" 'BEGIN {
			split(a, x, " "); split(b, y, " ")
			printf "%.1f", ((y[1] + y[2]) - (x[1] + x[2])) * 1e6 / k }')")
	done
	median "${vals[@]}"
}

# index_sqlite SIZE: the SQLite reference over the same rows as the daemon of that size.
index_sqlite() {
	local n=$1 name db=$WORK/jobs-$1.sqlite
	"$WORK/jobs2csv" "${IDX_DIR[$n]}/data" > "$WORK/jobs.csv" 2>/dev/null ||
	    { say "jobs2csv failed"; return 1; }
	sqlite3 "$db" <<EOF
CREATE TABLE jobs (no INTEGER PRIMARY KEY, job_type TEXT NOT NULL, status TEXT NOT NULL,
    created_ms INTEGER, start_ms INTEGER, end_ms INTEGER, json TEXT NOT NULL);
.import --csv --skip 1 $WORK/jobs.csv jobs
UPDATE jobs SET start_ms = NULL WHERE start_ms = '';
UPDATE jobs SET end_ms = NULL WHERE end_ms = '';
CREATE INDEX jobs_status ON jobs (status, no);
CREATE INDEX jobs_type ON jobs (job_type, no);
CREATE INDEX jobs_start ON jobs (start_ms);
CREATE INDEX jobs_status_type_start ON jobs (status, job_type, start_ms);
ANALYZE;
EOF
	rm -f "$WORK/jobs.csv"
	for name in $IDX_NAMES; do
		IDX_S_[$name:$n]=$(sqlite_per_query "$db" "$(idx_sql "$name")")
		IDX_CNT[$name:$n]="${IDX_CNT[$name:$n]}/$(sqlite3 "$db" \
		    "SELECT count(*) FROM ($(idx_sql "$name" | tr -d ';'));")"
	done
	rm -f "$db"
}

bench_index() {
	local n d port name first last jr sr jc r url code cnt c0 c1 hz
	local -A vals ticks nreq
	# One daemon per size, all running at once, so that the queries interleave across
	# sizes and the machine's varying load falls on every size alike.
	for n in $IDX_SIZES; do
		[ -n "${IDX_PID[$n]:-}" ] && continue
		d=$WORK/idx-$n
		mkdir -p "$d/data"
		say "2: generating $n jobs"
		"$B/jobsd-datagen" --jobs "$n" --data-dir "$d/data" -q || return 1
		port=$(free_port)
		write_conf "$d" "$port" 2 -
		start_jobsd "$d" || return 1
		wait_http "$port" || return 1
		IDX_PID[$n]=$JOBSD_PID IDX_PORT[$n]=$port IDX_TOKEN[$n]=$TOKEN IDX_DIR[$n]=$d
	done
	for n in $IDX_SIZES; do
		for name in $IDX_NAMES; do
			url="http://127.0.0.1:${IDX_PORT[$n]}/api/v1/jobs?$(idx_query "$name")"
			code=$(curl -s -o "$WORK/idx.json" -w '%{http_code}' \
			    -H "Authorization: Bearer ${IDX_TOKEN[$n]}" "$url")
			cnt=$(jq '.jobs | length' "$WORK/idx.json" 2>/dev/null)
			IDX_CNT[$name:$n]="$code/$cnt"
			vals[$name:$n]=""
		done
		# The listener's CPU time per request: what the filter costs jobsd, free of the
		# run-queue waits that the machine's other users add to wall-clock times.
		IDX_HTTP[$n]=$(pgrep -P "${IDX_PID[$n]}" -x jobsd-http | head -n 1)
	done
	hz=$(getconf CLK_TCK)
	say "2: index queries, sizes $IDX_SIZES interleaved, $IDX_RUNS runs"
	for r in $(seq "$IDX_RUNS"); do
		for name in $IDX_NAMES; do
			for n in $IDX_SIZES; do
				url="http://127.0.0.1:${IDX_PORT[$n]}/api/v1/jobs?$(idx_query "$name")"
				c0=$(cpu_ticks "${IDX_HTTP[$n]}")
				set -- $(wrk_once 1 1 "$IDX_S" "$url" "Authorization: Bearer ${IDX_TOKEN[$n]}")
				c1=$(cpu_ticks "${IDX_HTTP[$n]}")
				vals[$name:$n]="${vals[$name:$n]} $(awk -v r="$1" \
				    'BEGIN { if (r + 0 > 0) printf "%.1f", 1e6 / r; else print "NA" }')"
				ticks[$name:$n]=$(( ${ticks[$name:$n]:-0} + c1 - c0 ))
				nreq[$name:$n]=$(( ${nreq[$name:$n]:-0} + ${4:-0} ))
			done
		done
	done
	for n in $IDX_SIZES; do
		for name in $IDX_NAMES; do
			IDX_J[$name:$n]=$(median ${vals[$name:$n]})
			IDX_C[$name:$n]=$(awk -v t="${ticks[$name:$n]}" -v q="${nreq[$name:$n]}" -v hz="$hz" \
			    'BEGIN { if (q > 0) printf "%.1f", t * 1e6 / hz / q; else print "NA" }')
		done
		# Supervisor RSS with this many stored jobs (figure 6).
		sup_rss "$n" "${IDX_PID[$n]}"
		say "2: SQLite reference, $n jobs"
		index_sqlite "$n"
		end_pid "${IDX_PID[$n]}" 30
		rm -rf "${IDX_DIR[$n]}"
	done
	set -- $IDX_SIZES
	first=$1
	last=${!#}
	for name in $IDX_NAMES; do
		for n in $IDX_SIZES; do
			row "2 list $name, $n jobs: wall us/request (status/page/sqlite rows ${IDX_CNT[$name:$n]})" \
			    "${IDX_J[$name:$n]}" "" "" "" ""
			row "2 list $name, $n jobs: jobsd-http CPU us/request" \
			    "${IDX_C[$name:$n]}" "${IDX_S_[$name:$n]}" \
			    "$(ratio "${IDX_C[$name:$n]}" "${IDX_S_[$name:$n]}")" "" ""
		done
		jr=$(ratio "${IDX_J[$name:$last]}" "${IDX_J[$name:$first]}")
		jc=$(ratio "${IDX_C[$name:$last]}" "${IDX_C[$name:$first]}")
		sr=$(ratio "${IDX_S_[$name:$last]}" "${IDX_S_[$name:$first]}")
		row "2 list $name: CPU time at $last / at $first (wall: $jr)" "$jc" "$sr" "" "<= 1.2" \
		    "$(verdict_of "${IDX_C[$name:$last]}" "${IDX_C[$name:$first]}" '<=' 1.2)"
	done
}

# --- 3. job turnaround ------------------------------------------------------------------

# turn_jobsd DIR: one jobsd run of $TURN_JOBS empty syncs; sets TJ_JPS (jobs/s) and TJ_CPU
# (CPU ms per job: the supervisor with its reaped workers, plus the listener).
turn_jobsd() {
	local d=$1 port out ok jps hp n i cpu
	rm -rf "$d/data"
	port=$(free_port)
	write_conf "$d" "$port" 2 - "empty=$d/empty"
	start_jobsd "$d" || return 1
	wait_http "$port" || return 1
	hp=$(pgrep -P "$JOBSD_PID" jobsd-http | head -n 1)
	# bench/submit.c: 4 keep-alive connections with up to 8 POSTs pipelined on each (each
	# 201 means the pending job is durable), then a poll every 5 ms until nothing is
	# pending or running. The four one-type syncs touch disjoint data, so two of them may
	# run at once.
	if ! out=$("$WORK/submit" "$port" "$TOKEN" "$TURN_JOBS" 4 8 600 owner_sync account_sync \
	    group_sync application_sync); then
		say "3: submit: ${out:-no output}"
	fi
	say "3: $out"
	ok=$(printf '%s\n' "$out" | sed -n 's/.*(201: \([0-9]*\)).*/\1/p')
	jps=$(printf '%s\n' "$out" | awk '{ print $(NF - 1) }')
	[ "$ok" = "$TURN_JOBS" ] || say "3: only ${ok:-0} of $TURN_JOBS submissions answered 201"
	# utime + stime + cutime + cstime of jobsd (its workers are reaped), the listener's own
	cpu=$(( $(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$JOBSD_PID/stat") +
	    $(awk '{ print $14 + $15 }' "/proc/$hp/stat" 2>/dev/null || echo 0) ))
	n=$(curl -s -H "Authorization: Bearer $TOKEN" \
	    "http://127.0.0.1:$port/api/v1/jobs?status=failed&first=1000" | jq '.jobs | length')
	if [ "$n" != 0 ]; then
		i=$(curl -s -H "Authorization: Bearer $TOKEN" \
		    "http://127.0.0.1:$port/api/v1/jobs?status=failed&first=1" | jq -r '.jobs[0].id')
		TURN_ERROR=$(job_field "$i" error)
		say "3: $n jobs failed, e.g. $i: $TURN_ERROR"
	fi
	TURN_FAILED=$((TURN_FAILED + n))
	stop_jobsd
	TJ_JPS=${jps:-0}
	TJ_CPU=$(calc "$cpu * 1000 / $(getconf CLK_TCK) / $TURN_JOBS" 2)
}

# turn_tsp DIR: task-spooler, 2 slots, one `tsp -n true` per job; sets TT_TPS (jobs/s).
turn_tsp() {
	local d=$1 i t0 t1
	export TS_SOCKET=$d/tsp.sock TS_MAXFINISHED=$((TURN_JOBS + 10)) TMPDIR=$d
	TSP_SOCKETS="$TSP_SOCKETS $TS_SOCKET"
	tsp -S 2 >/dev/null 2>&1
	t0=$(now_s)
	for i in $(seq "$TURN_JOBS"); do
		tsp -n true >/dev/null
	done
	i=0
	while tsp -l | grep -qE ' (running|queued) '; do
		i=$((i + 1))
		[ $i -gt 6000 ] && break
		sleep 0.05
	done
	t1=$(now_s)
	tsp -K >/dev/null 2>&1
	unset TS_SOCKET TS_MAXFINISHED TMPDIR
	TT_TPS=$(calc "$TURN_JOBS / $(elapsed "$t0" "$t1")" 1)
}

# The three are run in turn, $TURN_RUNS times, so that a change of the machine's load (it is
# shared, and its hypervisor takes CPU time away at times) weighs on all of them; the
# figures are the medians.
bench_turnaround() {
	local d=$WORK/turn r js=() cpus=() ts=() fs=() jps cpu tps fps r1 r2
	say "3: turnaround of $TURN_JOBS empty syncs, max_workers = 2, $TURN_RUNS rounds"
	mkdir -p "$d/empty"
	printf 'id,name,type,modified_at\r\n' > "$d/empty/applications.csv"
	printf 'id,employee_id,display_name,email,department,title,location,manager,status,modified_at\r\n' > "$d/empty/owners.csv"
	printf 'id,application_id,login,email,owner_id,display_name,department,title,status,modified_at\r\n' > "$d/empty/accounts.csv"
	printf 'id,application_id,name,modified_at\r\n' > "$d/empty/groups.csv"
	printf 'account_id,group_id,modified_at\r\n' > "$d/empty/memberships.csv"
	for r in $(seq "$TURN_RUNS"); do
		turn_jobsd "$d" || return 1
		js+=("$TJ_JPS")
		cpus+=("$TJ_CPU")
		turn_tsp "$d"
		ts+=("$TT_TPS")
		fs+=("$("$WORK/forkexec" "$TURN_JOBS" | awk '{ print $(NF - 1) }')")
		say "3: round $r: jobsd $TJ_JPS jobs/s ($TJ_CPU ms CPU per job), tsp ${ts[-1]}, fork+exec ${fs[-1]}"
	done
	jps=$(median "${js[@]}") cpu=$(median "${cpus[@]}")
	tps=$(median "${ts[@]}") fps=$(median "${fs[@]}")
	r1=$(ratio "$jps" "$tps") r2=$(ratio "$jps" "$fps")
	row "3 turnaround: jobs/s, jobsd vs tsp -S 2 ($TURN_FAILED failed)" "$jps" "$tps" "$r1" ">= 1.5" \
	    "$(verdict_of "$jps" "$tps" '>=' 1.5)"
	row "3 turnaround: jobs/s, jobsd vs fork+exec+socketpair+wait loop" "$jps" "$fps" "$r2" \
	    ">= 0.6" "$(verdict_of "$jps" "$fps" '>=' 0.6)"
	row "3 turnaround: jobsd CPU ms per job (supervisor, workers, listener)" "$cpu" "" "" "" ""
	rm -rf "$d"
}

# --- 4/5. sync throughput and analysis jobs ---------------------------------------------

# sqlite_import SRC: writes $WORK/import.sql, the careful user's schema and import.
sqlite_import() {
	local src=$1
	cat > "$WORK/import.sql" <<EOF
CREATE TABLE applications (id TEXT PRIMARY KEY, name TEXT, type TEXT, modified_at TEXT NOT NULL);
CREATE TABLE owners (id TEXT PRIMARY KEY, employee_id TEXT, display_name TEXT, email TEXT,
    department TEXT, title TEXT, location TEXT, manager TEXT, status TEXT, modified_at TEXT NOT NULL);
CREATE TABLE accounts (id TEXT PRIMARY KEY, application_id TEXT NOT NULL, login TEXT, email TEXT,
    owner_id TEXT, display_name TEXT, department TEXT, title TEXT, status TEXT, modified_at TEXT NOT NULL);
CREATE TABLE groups (id TEXT PRIMARY KEY, application_id TEXT NOT NULL, name TEXT, modified_at TEXT NOT NULL);
CREATE TABLE memberships (account_id TEXT NOT NULL, group_id TEXT NOT NULL, modified_at TEXT NOT NULL,
    PRIMARY KEY (account_id, group_id)) WITHOUT ROWID;
CREATE INDEX owners_employee_id ON owners (employee_id);
CREATE INDEX owners_email ON owners (email);
CREATE INDEX accounts_owner ON accounts (owner_id);
CREATE INDEX accounts_app ON accounts (application_id);
CREATE INDEX groups_app ON groups (application_id);
CREATE INDEX memberships_group ON memberships (group_id);
BEGIN;
.import --csv --skip 1 $src/applications.csv applications
.import --csv --skip 1 $src/owners.csv owners
.import --csv --skip 1 $src/accounts.csv accounts
.import --csv --skip 1 $src/groups.csv groups
.import --csv --skip 1 $src/memberships.csv memberships
COMMIT;
EOF
}

# sync_round DIR: one round of figure 4. SQLite's import of DIR/src, then a fresh data dir
# and daemon: full_sync, an identical full_sync, incremental_sync of DIR/mut. Appends the
# round's figures to the R_* arrays; leaves the daemon running (figure 5 uses its store).
sync_round() {
	local d=$1 t0 t1 v
	t0=$(now_s)
	/usr/bin/time -f '%M %U %S' -o "$WORK/sqlite.rss" sqlite3 "$WORK/import.sqlite" < "$WORK/import.sql"
	t1=$(now_s)
	R_S+=("$(elapsed "$t0" "$t1")")
	R_SCPU+=("$(tail -n 1 "$WORK/sqlite.rss" | awk '{ printf "%.3f", $2 + $3 }')")
	v=$(tail -n 1 "$WORK/sqlite.rss" | awk '{ print $1 }')
	if [ "$SQLITE_RSS" = NA ] || [ "$v" -gt "$SQLITE_RSS" ]; then SQLITE_RSS=$v; fi
	rm -f "$WORK/import.sqlite" "$WORK/import.sqlite-wal" "$WORK/import.sqlite-shm"

	rm -rf "$d/data"
	start_jobsd "$d" || return 1
	"$B/jobctl" --json show "$(run_job full_sync)" > "$d/j1.json"
	"$B/jobctl" --json show "$(run_job full_sync)" > "$d/j2.json"
	"$B/jobctl" --json show "$(run_job incremental_sync --param source=mut)" > "$d/j3.json"
	for v in 1 2 3; do
		[ "$(jq -r .status "$d/j$v.json")" = completed ] ||
		    say "4: sync job $v: $(jq -r '.status + ": " + (.error // "")' "$d/j$v.json")"
	done
	R_D1+=("$(jq -r '.duration_ms / 1000' "$d/j1.json")")
	R_D2+=("$(jq -r '.duration_ms / 1000' "$d/j2.json")")
	R_D3+=("$(jq -r '.duration_ms / 1000' "$d/j3.json")")
	R_C1+=("$(jq -r '.cpu_ms / 1000' "$d/j1.json")")
	R_C2+=("$(jq -r '.cpu_ms / 1000' "$d/j2.json")")
	R_C3+=("$(jq -r '.cpu_ms / 1000' "$d/j3.json")")
	R_RECS+=("$(jq -r .records_processed "$d/j1.json")")
	v=$(jq -r .max_rss_kb "$d/j1.json")
	if [ "$WORKER_RSS" = NA ] || [ "$v" -gt "$WORKER_RSS" ]; then WORKER_RSS=$v; fi
	say "4: round: sqlite ${R_S[-1]} s (${R_SCPU[-1]} CPU s); jobsd first ${R_D1[-1]} s" \
	    "(${R_C1[-1]}), re-sync ${R_D2[-1]} s (${R_C2[-1]}), incremental ${R_D3[-1]} s (${R_C3[-1]})"
}

# The rounds run in turn, $SYNC_RUNS of them; the table has the medians, and each ratio is
# that of the medians.
bench_sync() {
	local d=$WORK/sync rows i r rate1 srate d1 d2 d3 s scpu c1 c2 c3
	local -a R_S=() R_SCPU=() R_D1=() R_D2=() R_D3=() R_C1=() R_C2=() R_C3=() R_RECS=()
	say "4: sync of $OWNERS owners, $SYNC_RUNS rounds"
	mkdir -p "$d"
	"$B/jobsd-datagen" --owners "$OWNERS" --out "$d/src" -q || return 1
	"$B/jobsd-datagen" --mutate 1 --from "$d/src" --out "$d/mut" -q || return 1
	rows=$(cat "$d/src/applications.csv" "$d/src/owners.csv" "$d/src/accounts.csv" \
	    "$d/src/groups.csv" "$d/src/memberships.csv" | wc -l)
	rows=$((rows - 5))
	# SQLite first in each round (its page cache warms the same files for both equally).
	sqlite_import "$d/src"
	write_conf "$d" - 2 - "src=$d/src" "mut=$d/mut"
	# There are no built-in policies: policy_analysis checks the packaged example's.
	if [ -f "$ROOT/packaging/policies.example" ]; then
		printf '\n[analysis]\npolicy_file = %s\n' "$ROOT/packaging/policies.example" \
		    >> "$d/jobsd.conf"
	fi
	for i in $(seq "$SYNC_RUNS"); do
		# The last round's daemon stays up for figure 5.
		[ "$i" -gt 1 ] && stop_jobsd
		sync_round "$d" || return 1
	done
	s=$(median "${R_S[@]}") scpu=$(median "${R_SCPU[@]}")
	d1=$(median "${R_D1[@]}") d2=$(median "${R_D2[@]}") d3=$(median "${R_D3[@]}")
	c1=$(median "${R_C1[@]}") c2=$(median "${R_C2[@]}") c3=$(median "${R_C3[@]}")
	rate1=$(calc "$(median "${R_RECS[@]}") / $d1" 0)
	srate=$(calc "$rows / $s" 0)
	r=$(ratio "$rate1" "$srate")
	row "4 first full_sync, $rows rows: records/s vs sqlite3 .import" "$rate1" "$srate" "$r" \
	    ">= 1.0" "$(verdict_of "$rate1" "$srate" '>=' 1.0)"
	row "4 first full_sync: seconds (sqlite3 .import: seconds)" "$d1" "$s" "$(ratio "$d1" "$s")" "" ""
	r=$(ratio "$d1" "$d2")
	row "4 unchanged re-sync: seconds (ref: first full_sync)" "$d2" "$d1" "$r" ">= 3" \
	    "$(verdict_of "$d1" "$d2" '>=' 3)"
	r=$(ratio "$d1" "$d3")
	row "4 incremental_sync after 1% changed: s (ref: first full)" "$d3" "$d1" "$r" ">= 20" \
	    "$(verdict_of "$d1" "$d3" '>=' 20)"
	r=$(ratio "$d2" "$d3")
	row "4 incremental_sync after 1% changed: s (ref: re-sync)" "$d3" "$d2" "$r" "" ""
	# The same in CPU seconds (the worker's cpu_ms from wait4; sqlite3's user + system),
	# which the machine's other users disturb far less than wall-clock times.
	r=$(ratio "$scpu" "$c1")
	row "4 first full_sync: CPU s (ref: sqlite3 .import CPU s), ref/jobsd" "$c1" "$scpu" "$r" \
	    ">= 1.0" "$(verdict_of "$scpu" "$c1" '>=' 1.0)"
	r=$(ratio "$c1" "$c2")
	row "4 unchanged re-sync: CPU s (ref: first full_sync)" "$c2" "$c1" "$r" ">= 3" \
	    "$(verdict_of "$c1" "$c2" '>=' 3)"
	r=$(ratio "$c1" "$c3")
	row "4 incremental_sync after 1% changed: CPU s (ref: first full)" "$c3" "$c1" "$r" ">= 20" \
	    "$(verdict_of "$c1" "$c3" '>=' 20)"

	if want 5; then
		local t j st
		say "5: analysis jobs over $OWNERS owners"
		for t in manager_resolution enrichment role_generation policy_analysis; do
			j=$(run_job "$t")
			"$B/jobctl" --json show "$j" > "$d/a.json"
			st=$(jq -r .status "$d/a.json")
			if [ "$st" = completed ]; then
				row "5 $t: seconds / worker max RSS MiB" \
				    "$(jq -r '.duration_ms / 1000' "$d/a.json")" \
				    "$(jq -r '(.max_rss_kb / 1024 | floor)' "$d/a.json") MiB" "" "" ""
			else
				row "5 $t: $st: $(jq -r '.error // ""' "$d/a.json" | cut -c1-60)" \
				    "$(jq -r '.duration_ms / 1000' "$d/a.json")" "" "" "" "n/a"
			fi
		done
	fi
	stop_jobsd
	rm -rf "$d"
}

# --- 6. overheads -----------------------------------------------------------------------

# The same jobsd-worker with progress reporting compiled out (the worker's own switch,
# -DJOBSD_NO_PROGRESS in daemon/worker/jobctx.c): that one file recompiled, linked before
# libworker.a so the archive's copy of it is never pulled in.
# build_progress_workers: two jobsd-workers built by the same commands, one with
# daemon/worker/jobctx.c compiled -DJOBSD_NO_PROGRESS, so that only the progress reporting
# differs. Comparing against the build's own worker instead also compared two code layouts:
# linked differently, hot loops moved, and that alone showed as 3 to 5% either way.
# Linked as GNUmakefile links the worker, --wrap for libdb's checksum routine included
# (daemon/worker/chksum.c).
build_progress_workers() {
	local link="-static-pie -ldb -lmsgpackc -linih -lm" v def
	if readelf -d "$B/jobsd-worker" | grep -q NEEDED; then
		link="-Wl,-Bstatic -ldb -lmsgpackc -linih -Wl,-Bdynamic -lm"
	fi
	link="-Wl,--wrap=__ham_func4 $link"
	for v in progress noprogress; do
		def=
		[ $v = noprogress ] && def=-DJOBSD_NO_PROGRESS
		cc $CFLAGS_B $(pkg-config --cflags $PKGS) $def -c -o "$WORK/jobctx-$v.o" \
		    "$ROOT/daemon/worker/jobctx.c" &&
		    cc -o "$WORK/jobsd-worker-$v" "$B/obj/daemon/worker/main.o" \
		    "$WORK/jobctx-$v.o" "$B/libworker.a" "$B/libcommon.a" $link 2>/dev/null ||
		    return 1
	done
}

bench_overheads() {
	local d=$WORK/prog r v j order with=() without=() cwith=() cwithout=() mw mo ratio_p
	say "6: progress reporting on vs compiled out, $PROG_OWNERS owners x $PROG_RUNS"
	mkdir -p "$d"
	if ! build_progress_workers; then
		row "6 progress overhead: could not build the -DJOBSD_NO_PROGRESS worker" "" "" "" "" "n/a"
	else
		"$B/jobsd-datagen" --owners "$PROG_OWNERS" --out "$d/src" -q || return 1
		# Alternating which variant goes first, so that a drift of the machine's load
		# does not favour either.
		for r in $(seq "$PROG_RUNS"); do
			if [ $((r % 2)) = 1 ]; then order="with without"; else order="without with"; fi
			for v in $order; do
				rm -rf "$d/run"
				mkdir -p "$d/run"
				if [ $v = with ]; then
					write_conf "$d/run" - 2 "$WORK/jobsd-worker-progress" "src=$d/src"
				else
					write_conf "$d/run" - 2 "$WORK/jobsd-worker-noprogress" "src=$d/src"
				fi
				start_jobsd "$d/run" || return 1
				j=$(run_job full_sync)
				if [ $v = with ]; then
					with+=("$(job_field "$j" 'duration_ms')")
					cwith+=("$(job_field "$j" 'cpu_ms')")
				else
					without+=("$(job_field "$j" 'duration_ms')")
					cwithout+=("$(job_field "$j" 'cpu_ms')")
				fi
				stop_jobsd
			done
		done
		mw=$(median "${with[@]}") mo=$(median "${without[@]}")
		ratio_p=$(ratio "$mw" "$mo")
		row "6 full_sync $PROG_OWNERS owners: ms, progress on vs compiled out" "$mw" "$mo" \
		    "$ratio_p" "<= 1.02" "$(verdict_of "$mw" "$mo" '<=' 1.02)"
		# The same in the worker's CPU time, which the machine's other users disturb less.
		mw=$(median "${cwith[@]}") mo=$(median "${cwithout[@]}")
		ratio_p=$(ratio "$mw" "$mo")
		row "6 full_sync $PROG_OWNERS owners: CPU ms, progress on vs compiled out" "$mw" \
		    "$mo" "$ratio_p" "<= 1.02" "$(verdict_of "$mw" "$mo" '<=' 1.02)"
	fi
	rm -rf "$d"
}

# --- main -------------------------------------------------------------------------------

# A figure that could not be taken (jobsd did not start, a generator failed) says so in the
# table, with the reason in the log above it, rather than leaving its rows out.
not_taken() {
	say "$1: could not be taken (see above)"
	row "$1: not taken, see the log of this run" "" "" "" "" "FAILED"
}

WORKER_RSS=NA SQLITE_RSS=NA TURN_FAILED=0
if want 1; then bench_rest || not_taken "1 REST reads"; fi
if want 2; then bench_index || not_taken "2 index scaling"; fi
if want 3; then bench_turnaround || not_taken "3 turnaround"; fi
if want 4 || want 5; then bench_sync || not_taken "4/5 sync and analysis"; fi
if want 6; then
	bench_overheads || not_taken "6 overheads"
	set -- $IDX_SIZES
	last=${!#}
	if [ -n "${SUP_RSS[$last]:-}" ]; then
		v=$(calc "${SUP_RSS[$last]} / 1024" 1)
		row "6 supervisor peak RSS MiB, $last stored jobs (ref: $1 jobs)" "$v" \
		    "$(calc "${SUP_RSS[$1]:-0} / 1024" 1)" "$(ratio "${SUP_RSS[$last]}" "${SUP_RSS[$1]:-0}")" \
		    "<= 16 MiB" "$(verdict_of "${SUP_RSS[$last]}" 1024 '<=' 16)"
		v=$(calc "${SUP_ANON[$last]} / 1024" 1)
		row "6 supervisor private (RssAnon) MiB, $last jobs (ref: $1 jobs)" "$v" \
		    "$(calc "${SUP_ANON[$1]:-0} / 1024" 1)" "$(ratio "${SUP_ANON[$last]}" "${SUP_ANON[$1]:-0}")" \
		    "" ""
	fi
	if [ "$WORKER_RSS" != NA ] && want 4; then
		v=$(calc "$WORKER_RSS / 1024" 1)
		row "6 worker peak RSS MiB, full_sync of $OWNERS owners (ref: sqlite3)" "$v" \
		    "$(calc "${SQLITE_RSS:-0} / 1024" 1)" "$(ratio "$WORKER_RSS" "${SQLITE_RSS:-0}")" \
		    "<= 256 MiB" "$(verdict_of "$WORKER_RSS" 1024 '<=' 256)"
	fi
fi

T_END=$(now_s)
TOTAL=$(elapsed "$T_START" "$T_END")
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
CMD="make bench$([ $QUICK = 1 ] && echo ' QUICK=1')"
[ -n "$ARGS" ] && [ "$ARGS" != --quick ] && CMD="sh bench/run.sh $ARGS"

table() {
	printf '| figure | jobsd | reference | ratio | bar | verdict |\n|---|---:|---:|---:|---|---|\n'
	awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }' "$RESULTS"
}

echo
echo "jobsd benchmarks ($CMD), $(date -u +%FT%TZ), ${TOTAL}s, load $LOAD_START -> $LOAD_END"
echo
awk -F'\t' 'BEGIN { printf "%-66s %14s %14s %7s  %-10s %s\n", "figure", "jobsd", "reference", "ratio", "bar", "" }
	{ printf "%-66s %14s %14s %7s  %-10s %s\n", $1, $2, $3, $4, $5, $6 }' "$RESULTS"

if [ $DOCS != 0 ]; then
	{
		echo "# jobsd benchmarks"
		echo
		echo "Produced by \`$CMD\` on $(date -u +%F) at $(date -u +%TZ), commit ${BENCH_COMMIT:-$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)} ($(nproc) CPUs,"
		echo "$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), load average"
		echo "$LOAD_START at the start and $LOAD_END at the end; ${TOTAL} s in all). The machine is"
		echo "shared with other engineers running builds and tests, so absolute figures are noisy;"
		echo "every reference was measured in the same run, interleaved where possible, and the"
		echo "ratios are what matter. wrk figures are medians of $RUNS runs; figure 2's wall times are"
		echo "medians of $IDX_RUNS interleaved runs and its CPU times the listener's total CPU time over"
		echo "them divided by the requests served; sync and analysis times are the jobs' duration_ms,"
		echo "figure 4's the medians of $SYNC_RUNS rounds."
		echo "See \"How each figure is taken\" below."
		echo
		table
		echo
		cat "$ROOT/bench/NOTES.md"
	} > "$ROOT/docs/benchmarks.md"
	say "wrote docs/benchmarks.md"
fi
