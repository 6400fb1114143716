#!/usr/bin/env bash
# Write-verbs benchmark for qctl: `purge-dlq` of a 5,000,000-job dead-letter
# queue and `requeue` of 1,000,000 jobs, with and without --match.
# Reproduce with:
#
#     bash benches/writes/run.sh
#
# 1. checks MemAvailable (the big DLQ needs ~1 GiB in redis) and builds qctl
#    in release mode in its own target dir, /tmp/qctl-bench-target, so as
#    not to contend for the work tree's cargo lock (unless QCTL_BIN is set);
# 2. starts one throwaway redis-server on a free 127.0.0.1 port (no
#    persistence, temp dir, stopped on exit) and writes a one-context
#    contexts file (with an audit log in the temp dir);
# 3. purge-dlq: FLUSHALL, seeds JOBS_SMALL jobs (`redis-cli --pipe`, protocol
#    written by seed.py) and runs `qctl purge-dlq -o json` PURGE_RUNS times,
#    then the same with JOBS_PURGE jobs. Each run goes under /usr/bin/time -v
#    (wall clock, peak RSS) with SLOWLOG at 0 µs and INFO commandstats reset
#    around it (what the server itself spent), and is checked: DLQ gone,
#    backup key a list of the right LLEN with a TTL, its two ends the newest
#    and oldest job. Between runs the backup is renamed back (O(1));
# 4. purge-dlq --no-backup (UNLINK) the same way, on a fresh seed every run:
#    PURGE_RUNS with JOBS_SMALL jobs, UNLINK_RUNS with JOBS_PURGE jobs
#    (NO_BACKUP_RUN=0 skips it);
# 5. requeue, REQUEUE_RUNS rounds of three, each on a freshly seeded
#    JOBS_REQUEUE-job DLQ: the baseline (JOBS_REQUEUE pipelined
#    `LMOVE jobqueue:dead_letter jobqueue:high_priority RIGHT LEFT` through
#    `redis-cli --pipe`), `qctl requeue --to high`, and
#    `qctl requeue --to high --match '*"filepath":"/data/invoices/*'` on a DLQ
#    where every other job is an invoice. After each: every payload compared
#    with the seed in order, LLENs, no `*qctl-requeue*` keys left;
# 6. checks the audit log (one line per qctl run), prints a summary and
#    rewrites its section of BENCHMARKS.md.
#
# Needs: cargo, redis-server, redis-cli, python3 (stdlib only); /usr/bin/time
# (Debian package `time`) for the RSS figures, skipped without it.
# Environment: JOBS_PURGE (5000000), JOBS_REQUEUE (1000000), JOBS_SMALL (100),
# PURGE_RUNS (5), REQUEUE_RUNS (3), UNLINK_RUNS (3), NO_BACKUP_RUN (1; 0 skips
# --no-backup), QCTL_BIN, NO_MARKDOWN=1 (print only), KEEP_WORK=1 (keep the
# temp dir).
# Exit status: 0 when every verification passed, 3 when one failed (qctl
# exited non-zero, gave a wrong count, or left Redis in the wrong state),
# anything else when the benchmark itself failed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=SCRIPTDIR/../lib.sh
source "$HERE/../lib.sh"
JOBS_PURGE=${JOBS_PURGE:-5000000}
JOBS_REQUEUE=${JOBS_REQUEUE:-1000000}
JOBS_SMALL=${JOBS_SMALL:-100}
PURGE_RUNS=${PURGE_RUNS:-5}
REQUEUE_RUNS=${REQUEUE_RUNS:-3}
UNLINK_RUNS=${UNLINK_RUNS:-3}
NO_BACKUP_RUN=${NO_BACKUP_RUN:-1}
PYTHON=${PYTHON:-python3}
BENCH_TARGET_DIR=/tmp/qctl-bench-target
CONTEXT=bench
MATCH='*"filepath":"/data/invoices/*'
DLQ=jobqueue:dead_letter
HIGH=jobqueue:high_priority


for n in JOBS_PURGE JOBS_REQUEUE JOBS_SMALL PURGE_RUNS REQUEUE_RUNS UNLINK_RUNS; do
    [[ ${!n} =~ ^[1-9][0-9]*$ ]] || die "$n must be a positive integer (got '${!n}')"
done
for tool in redis-server redis-cli "$PYTHON"; do
    command -v "$tool" >/dev/null || die "$tool not found (Debian: apt-get install redis-server python3)"
done
TIME_BIN=/usr/bin/time
if [[ ! -x $TIME_BIN ]] || ! "$TIME_BIN" -v true >/dev/null 2>&1; then
    log "/usr/bin/time (GNU time, Debian package 'time') is missing: peak RSS will not be measured"
    export NO_TIME=1
fi

# ---- 1. memory, qctl ----
# ~200 bytes of redis memory per job (measured: 1,000,000 jobs -> ~193 MiB
# RSS), plus room for the seeding pipe and qctl.
MEM_AVAIL_MIB=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
MEM_TOTAL_MIB=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
NEED_MIB=$(( JOBS_PURGE * 230 / 1048576 + 512 ))
log "memory: $MEM_AVAIL_MIB MiB available ($(free -m | awk '/^Mem:/ { print $2 " MiB total, " $4 " MiB free" }')); the $JOBS_PURGE-job DLQ needs ~$NEED_MIB MiB"
if (( MEM_AVAIL_MIB < NEED_MIB )); then
    die "this machine cannot hold a $JOBS_PURGE-job DLQ (~$NEED_MIB MiB needed, $MEM_AVAIL_MIB MiB available); rerun with a smaller JOBS_PURGE, e.g. JOBS_PURGE=$(( (MEM_AVAIL_MIB - 512) * 1048576 / 230 / 1000000 * 1000000 ))"
fi

QCTL_BIN_GIVEN=${QCTL_BIN:+1}
if [[ -z ${QCTL_BIN:-} ]]; then
    log "CARGO_TARGET_DIR=$BENCH_TARGET_DIR cargo build --release"
    (cd "$ROOT" && CARGO_TARGET_DIR=$BENCH_TARGET_DIR cargo build --release)
    QCTL_BIN=$BENCH_TARGET_DIR/release/qctl
fi
[[ -x $QCTL_BIN ]] || die "QCTL_BIN=$QCTL_BIN is not an executable"
for verb in purge-dlq requeue; do
    "$QCTL_BIN" "$verb" --help >/dev/null 2>&1 || die "$QCTL_BIN has no '$verb' command"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/qctl-writes.XXXXXX")
REDIS_PID=
T_START=$(now)

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$REDIS_PID" redis-server
    wait 2>/dev/null || true
    if [[ ${KEEP_WORK:-0} == 1 ]]; then
        log "kept $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT
trap 'exit 143' TERM

# ---- 2. redis-server, contexts file ----
for attempt in 1 2 3 4 5; do
    REDIS_PORT=$("$PYTHON" "$HERE/bench.py" free-port)
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
        --dir "$WORK" --logfile "$WORK/redis.log" --daemonize no --protected-mode yes >/dev/null 2>&1 &
    REDIS_PID=$!
    for _ in $(seq 50); do
        redis-cli -p "$REDIS_PORT" PING >/dev/null 2>&1 && break
        kill -0 "$REDIS_PID" 2>/dev/null || break
        sleep 0.1
    done
    redis-cli -p "$REDIS_PORT" PING >/dev/null 2>&1 && break
    stop_pid "$REDIS_PID" redis-server
    REDIS_PID=
    (( attempt < 5 )) || die "redis-server did not start; see $WORK/redis.log (KEEP_WORK=1 keeps it)"
done
REDIS_VERSION=$(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')
log "redis-server $REDIS_VERSION on 127.0.0.1:$REDIS_PORT (pid $REDIS_PID)"

CONFIG=$WORK/contexts.yaml
AUDIT=$WORK/audit.log
cat >"$CONFIG" <<EOF
apiVersion: qctl/v1
current-context: $CONTEXT
audit-log: $AUDIT
clusters:
  - { name: $CONTEXT, server: "redis://127.0.0.1:$REDIS_PORT" }
contexts:
  - { name: $CONTEXT, cluster: $CONTEXT }
EOF

RESULTS=$WORK/results.json
FAILED=0
QCTL_RUNS=0
rcli() { redis-cli -p "$REDIS_PORT" "$@"; }
bench() { "$PYTHON" "$HERE/bench.py" "$@"; }

# seed COUNT [--alternate]: FLUSHALL, then COUNT jobs LPUSHed into the DLQ.
seed() {
    local count=$1; shift
    local t0 t1
    rcli FLUSHALL >/dev/null
    bench wait-lazyfree "$REDIS_PORT"
    t0=$(now)
    "$PYTHON" "$HERE/seed.py" jobs --count "$count" "$@" | rcli --pipe >"$WORK/pipe.log" 2>&1 \
        || { cat "$WORK/pipe.log" >&2; die "redis-cli --pipe failed while seeding"; }
    t1=$(now)
    grep -q '^errors: 0,' "$WORK/pipe.log" || { cat "$WORK/pipe.log" >&2; die "redis-cli --pipe reported errors"; }
    local llen
    llen=$(rcli LLEN "$DLQ")
    [[ $llen == "$count" && $(rcli DBSIZE) == 1 ]] || die "after seeding, LLEN $DLQ is $llen (expected $count), DBSIZE $(rcli DBSIZE)"
    log "seeded $count jobs${1:+ ($*)} in $(( (t1 - t0) / 1000000 )) ms"
}

# measure TAG QCTL-ARGS...: one qctl run, timed, with the server's own cost.
# Sets QCTL_RC; a non-zero exit counts as a failed verification.
measure() {
    local tag=$1; shift
    bench stats-begin "$REDIS_PORT" "$WORK/$tag.state"
    bench run "$WORK/$tag.run.json" "$WORK/$tag.out.json" "$WORK/$tag.err" -- "$QCTL_BIN" --config "$CONFIG" "$@"
    bench stats-end "$REDIS_PORT" "$WORK/$tag.state" "$WORK/$tag.stats.json"
    QCTL_RUNS=$(( QCTL_RUNS + 1 ))
    QCTL_RC=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["rc"])' "$WORK/$tag.run.json")
    if (( QCTL_RC != 0 )); then
        printf 'MISSED: qctl %s exited %s\n  command: %s\n  stdout:\n' "$*" "$QCTL_RC" "$QCTL_BIN --config $CONFIG $*" >&2
        sed 's/^/    /' "$WORK/$tag.out.json" | head -40 >&2
        printf '  stderr:\n' >&2
        sed 's/^/    /' "$WORK/$tag.err" | head -40 >&2
        FAILED=1
    fi
}

# verify CHECK-ARGS...: runs a bench.py check; 3 marks the run failed.
verify() {
    local code=0
    bench "$@" || code=$?
    case $code in
        0) return 0 ;;
        3) FAILED=1; return 3 ;;
        *) die "bench.py $1 failed ($code)" ;;
    esac
}

bench record "$RESULTS" meta "jobs_purge=$JOBS_PURGE" "jobs_requeue=$JOBS_REQUEUE" "jobs_small=$JOBS_SMALL" \
    "runs_purge=$PURGE_RUNS" "runs_requeue=$REQUEUE_RUNS" "runs_unlink=$UNLINK_RUNS"

# ---- 3. purge-dlq (RENAME to a backup) ----
PURGE_ARGS=(purge-dlq --context "$CONTEXT" --yes-i-typed "$CONTEXT" -o json)
purge_series() { # NAME JOBS
    local name=$1 jobs=$2 i code backup
    seed "$jobs"
    [[ $name == purge_big ]] && bench record "$RESULTS" meta \
        "rss_purge_mib=$(( $(rcli INFO memory | sed -n 's/^used_memory_rss:\([0-9]*\).*/\1/p') / 1048576 ))"
    for i in $(seq "$PURGE_RUNS"); do
        log "$name run $i/$PURGE_RUNS: qctl ${PURGE_ARGS[*]} ($jobs jobs)"
        measure "$name-$i" "${PURGE_ARGS[@]}"
        code=0
        verify check-purge "$REDIS_PORT" "$jobs" "$WORK/$name-$i.out.json" "$WORK/$name-$i.check.json" || code=$?
        bench record "$RESULTS" "$name" "RUN=$WORK/$name-$i.run.json" "STATS=$WORK/$name-$i.stats.json" \
            "CHECK=$WORK/$name-$i.check.json"
        (( code == 0 && QCTL_RC == 0 )) || { log "$name: stopping this series after a failed run"; return 0; }
        if (( i < PURGE_RUNS )); then
            backup=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["backup_key"])' \
                "$WORK/$name-$i.check.json")
            bench restore "$REDIS_PORT" "$backup" "$jobs"
        fi
    done
}
purge_series purge_small "$JOBS_SMALL"
purge_series purge_big "$JOBS_PURGE"

# ---- 4. purge-dlq --no-backup (UNLINK) ----
unlink_run() { # NAME JOBS I
    local name=$1 jobs=$2 i=$3
    seed "$jobs"
    log "$name run $i: qctl ${PURGE_ARGS[*]} --no-backup ($jobs jobs)"
    measure "$name-$i" "${PURGE_ARGS[@]}" --no-backup
    verify check-purge "$REDIS_PORT" "$jobs" "$WORK/$name-$i.out.json" "$WORK/$name-$i.check.json" --no-backup || true
    bench record "$RESULTS" "$name" "RUN=$WORK/$name-$i.run.json" "STATS=$WORK/$name-$i.stats.json" \
        "CHECK=$WORK/$name-$i.check.json"
    bench wait-lazyfree "$REDIS_PORT"
}
if [[ $NO_BACKUP_RUN == 1 ]]; then
    for i in $(seq "$PURGE_RUNS"); do unlink_run unlink_small "$JOBS_SMALL" "$i"; done
    for i in $(seq "$UNLINK_RUNS"); do unlink_run unlink_big "$JOBS_PURGE" "$i"; done
else
    log "NO_BACKUP_RUN=0: skipping purge-dlq --no-backup"
fi

# ---- 5. requeue, and the LMOVE baseline ----
"$PYTHON" "$HERE/seed.py" lmove --count "$JOBS_REQUEUE" --src "$DLQ" --dst "$HIGH" --out "$WORK/lmove.resp"
REQUEUE_ARGS=(requeue --context "$CONTEXT" --to high --yes-i-typed "$CONTEXT" -o json)
no_side_keys() { # TAG: the brief's own check, with redis-cli
    local left
    left=$(rcli --scan --pattern '*qctl-requeue*')
    if [[ -n $left ]]; then
        printf 'MISSED: side keys left after %s:\n%s\n' "$1" "$(head -10 <<<"$left")" >&2
        FAILED=1
    fi
}
for i in $(seq "$REQUEUE_RUNS"); do
    seed "$JOBS_REQUEUE"
    log "round $i/$REQUEUE_RUNS, baseline: redis-cli --pipe < $JOBS_REQUEUE x LMOVE $DLQ $HIGH RIGHT LEFT"
    bench stats-begin "$REDIS_PORT" "$WORK/lmove-$i.state" --no-slowlog
    bench run "$WORK/lmove-$i.run.json" "$WORK/lmove-$i.out" "$WORK/lmove-$i.err" --stdin="$WORK/lmove.resp" -- \
        redis-cli -p "$REDIS_PORT" --pipe
    bench stats-end "$REDIS_PORT" "$WORK/lmove-$i.state" "$WORK/lmove-$i.stats.json"
    grep -q "^errors: 0, replies: $JOBS_REQUEUE\$" "$WORK/lmove-$i.out" \
        || { cat "$WORK/lmove-$i.out" "$WORK/lmove-$i.err" >&2; die "the LMOVE baseline failed"; }
    verify check-requeue "$REDIS_PORT" "$JOBS_REQUEUE" all - "$WORK/lmove-$i.check.json" \
        || die "the LMOVE baseline did not move the jobs as expected (a harness problem, not qctl's)"
    bench record "$RESULTS" lmove_baseline "RUN=$WORK/lmove-$i.run.json" "STATS=$WORK/lmove-$i.stats.json" \
        "CHECK=$WORK/lmove-$i.check.json"

    seed "$JOBS_REQUEUE"
    log "round $i/$REQUEUE_RUNS: qctl ${REQUEUE_ARGS[*]}"
    measure "requeue-all-$i" "${REQUEUE_ARGS[@]}"
    verify check-requeue "$REDIS_PORT" "$JOBS_REQUEUE" all "$WORK/requeue-all-$i.out.json" \
        "$WORK/requeue-all-$i.check.json" || true
    no_side_keys "requeue"
    bench record "$RESULTS" requeue_all "RUN=$WORK/requeue-all-$i.run.json" \
        "STATS=$WORK/requeue-all-$i.stats.json" "CHECK=$WORK/requeue-all-$i.check.json"

    seed "$JOBS_REQUEUE" --alternate
    log "round $i/$REQUEUE_RUNS: qctl ${REQUEUE_ARGS[*]} --match '$MATCH'"
    measure "requeue-match-$i" "${REQUEUE_ARGS[@]}" --match "$MATCH"
    verify check-requeue "$REDIS_PORT" "$JOBS_REQUEUE" match "$WORK/requeue-match-$i.out.json" \
        "$WORK/requeue-match-$i.check.json" || true
    no_side_keys "requeue --match"
    bench record "$RESULTS" requeue_match "RUN=$WORK/requeue-match-$i.run.json" \
        "STATS=$WORK/requeue-match-$i.stats.json" "CHECK=$WORK/requeue-match-$i.check.json"
done
rcli FLUSHALL >/dev/null
stop_pid "$REDIS_PID" redis-server; REDIS_PID=
T_END=$(now)

# ---- 6. audit log, report ----
AUDIT_LINES=$( [[ -f $AUDIT ]] && grep -c '"result":"ok"' "$AUDIT" || true)
if (( ${AUDIT_LINES:-0} != QCTL_RUNS )); then
    printf 'MISSED: the audit log %s has %s "result":"ok" lines for %s qctl runs\n' "$AUDIT" "$AUDIT_LINES" "$QCTL_RUNS" >&2
    FAILED=1
else
    log "audit log: $AUDIT_LINES ok lines for $QCTL_RUNS qctl runs"
fi

rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null) ]]; then
    rev="$rev + uncommitted changes"
fi
[[ -n $QCTL_BIN_GIVEN ]] && rev="$rev (QCTL_BIN=$QCTL_BIN)"
cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -1)
bench record "$RESULTS" meta \
    "date=$(date -u '+%Y-%m-%d %H:%M UTC')" \
    "nproc=$(nproc)" \
    "cpu=${cpu:-unknown CPU}" \
    "kernel=Linux $(uname -r)" \
    "mem_total_mib=$MEM_TOTAL_MIB" \
    "qctl_rev=$rev" \
    "redis=$REDIS_VERSION" \
    "python=$("$PYTHON" -c 'import platform; print(platform.python_version())')" \
    "payload_bytes=$("$PYTHON" "$HERE/seed.py" job 123456 | tr -d '\n' | wc -c)" \
    "total_s=$(( (T_END - T_START) / 1000000000 ))"

MD_ARGS=(--markdown "$ROOT/BENCHMARKS.md")
[[ ${NO_MARKDOWN:-0} == 1 ]] && MD_ARGS=()
code=0
bench report "$RESULTS" "${MD_ARGS[@]}" || code=$?
(( code == 0 || code == 3 )) || die "bench.py report failed ($code)"
if (( FAILED || code == 3 )); then
    log "a verification FAILED (see the MISSED lines above; KEEP_WORK=1 keeps qctl's output)"
    exit 3
fi
log "every verification passed"
