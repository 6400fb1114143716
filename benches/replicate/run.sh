#!/usr/bin/env bash
# Replicate benchmark for qctl: `qctl replicate` copying a 1,000,000-job
# queue (and a 5,000,000-job one) from one local redis-server to another,
# against `redis-benchmark -t lpush -P 100 -d 200` on the same target server.
# Onto an empty target qctl takes a shortcut (no fingerprint work at all), so
# the 1,000,000-job copy is also measured onto a target already holding
# TARGET_EXTRA other jobs: the general path, where qctl fingerprints the
# target and checks every source job against it.
# Reproduce with:
#
#     bash benches/replicate/run.sh
#
# 1. checks MemAvailable (two servers each holding JOBS_BIG jobs need ~230
#    bytes a job each) and builds qctl in release mode in its own target dir,
#    /tmp/qctl-bench-target, so as not to contend for the work tree's cargo
#    lock (unless QCTL_BIN is set; with QCTL_REV=<rev> that git revision is
#    exported to /tmp/qctl-bench-src/<sha> and built there, in
#    /tmp/qctl-bench-target-rev, instead of the work tree, e.g. while src/
#    is mid-edit and does not compile);
# 2. starts two throwaway redis-servers on free 127.0.0.1 ports (no
#    persistence, temp dir, stopped on exit) and writes a contexts file with
#    contexts `src` and `dst` (the built-in `default` schema, kind
#    go-redis-work-queue; an audit log in the temp dir), named by QCTL_CONFIG;
# 3. seeds the source with JOBS ~200-byte go-redis-work-queue jobs in
#    `jobqueue:high_priority` (`redis-cli --pipe`, protocol written by
#    replicate.py), times the same qctl command with --dry-run once (the
#    plan alone; checked: it plans JOBS copies and writes nothing), then
#    RUNS times: the baseline on the target,
#    `redis-benchmark -h 127.0.0.1 -p PORT -t lpush -P 100 -d 200 -n JOBS -q`
#    (its own key `mylist`), FLUSHALL, then
#    `qctl replicate --from src --to dst --what queues --queue high
#    --yes-i-typed=dst -o json` under /usr/bin/time -v (wall clock, peak RSS,
#    CPU), with SLOWLOG at 0 µs and INFO commandstats reset on both servers
#    around it (what each server spent), checked (the result's copied and
#    skipped_duplicates, LLEN on both sides, the target's two ends equal to
#    the source's, 1,001 sampled positions equal, once every payload against
#    the seed), and the target flushed for the next run;
# 4. after the last of those, the same qctl command again over the full copy
#    (copies 0, reports JOBS duplicates): the re-run-after-a-failure cost;
# 5. the general path (NONEMPTY_RUN=0 skips it): the target flushed, then
#    given TARGET_EXTRA jobs of the same shape whose ids occur nowhere in the
#    source (`other-0000001` .., LPUSHed oldest first the same way, so
#    other-0000001 is the target's right end); the command with --dry-run
#    once on that target (the plan alone: JOBS to copy, 0 already there, the
#    target unchanged); then RUNS times: a baseline as in 3 (on the flushed
#    target), the TARGET_EXTRA other jobs pushed again, the qctl run as in 3,
#    checked (copied JOBS, skipped_duplicates 0; target LLEN JOBS +
#    TARGET_EXTRA; the jobs already there still at the consumer end,
#    LINDEX -1 other-0000001, and the copies after them in the source's
#    order: the target's LINDEX 0 the source's LINDEX 0, its
#    LINDEX -(TARGET_EXTRA+1) the source's LINDEX -1; sampled positions of
#    both parts, once every payload), and the target flushed;
# 6. the same with JOBS_BIG jobs, one baseline and one qctl run (BIG_RUN=0
#    skips it);
# 7. checks the audit log (one ok line per qctl run), prints a summary and
#    rewrites its section of BENCHMARKS.md, between the markers
#    <!-- replicate:start --> and <!-- replicate:end --> (appended at the end
#    when they are absent).
#
# Needs: cargo, redis-server, redis-cli, redis-benchmark (Debian: redis-tools),
# python3 (stdlib only); /usr/bin/time (Debian package `time`) for the RSS
# figures, skipped without it.
# Environment: JOBS (1000000), JOBS_BIG (5000000), RUNS (3: runs of the JOBS
# copy onto the empty target, and again of the one onto the non-empty
# target), TARGET_EXTRA (1000: the other jobs the non-empty target holds
# before each of its runs), NONEMPTY_RUN (1; 0 skips the non-empty-target
# case), BIG_RUN (1; 0 skips the JOBS_BIG case), QCTL_BIN, QCTL_REV,
# NO_MARKDOWN=1 (print only), KEEP_WORK=1 (keep the temp dir).
# Exit status: 0 when every verification passed, 3 when one failed (qctl
# exited non-zero, gave a wrong count, or left Redis in the wrong state),
# anything else when the benchmark itself failed. Missing the issue's targets
# (ratio >= 0.5, RSS < 100 MiB, judged on the empty target and on the
# non-empty one) is reported, not an exit status.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=SCRIPTDIR/../lib.sh
source "$HERE/../lib.sh"
JOBS=${JOBS:-1000000}
JOBS_BIG=${JOBS_BIG:-5000000}
RUNS=${RUNS:-3}
TARGET_EXTRA=${TARGET_EXTRA:-1000}
NONEMPTY_RUN=${NONEMPTY_RUN:-1}
BIG_RUN=${BIG_RUN:-1}
PYTHON=${PYTHON:-python3}
BENCH_TARGET_DIR=/tmp/qctl-bench-target
BENCH_SRC_DIR=/tmp/qctl-bench-src
KEY=jobqueue:high_priority
REPL_ARGS=(replicate --from src --to dst --what queues --queue high --yes-i-typed=dst -o json)


for n in JOBS JOBS_BIG RUNS TARGET_EXTRA; do
    [[ ${!n} =~ ^[1-9][0-9]*$ ]] || die "$n must be a positive integer (got '${!n}')"
done
(( TARGET_EXTRA <= 9999999 )) || die "TARGET_EXTRA must be at most 9999999 (ids other-0000001 .. other-9999999)"
for n in BIG_RUN NONEMPTY_RUN; do
    [[ ${!n} == 0 || ${!n} == 1 ]] || die "$n must be 0 or 1 (got '${!n}')"
done
for tool in redis-server redis-cli redis-benchmark "$PYTHON"; do
    command -v "$tool" >/dev/null || die "$tool not found (Debian: apt-get install redis-server redis-tools python3)"
done
TIME_BIN=/usr/bin/time
if [[ ! -x $TIME_BIN ]] || ! "$TIME_BIN" -v true >/dev/null 2>&1; then
    log "/usr/bin/time (GNU time, Debian package 'time') is missing: peak RSS will not be measured"
    export NO_TIME=1
fi

# ---- 1. memory, qctl ----
# ~230 bytes of redis memory per ~200-byte job, on each of the two servers
# (the source's list, then the target's copy, or redis-benchmark's mylist),
# plus room for the seeding pipe, qctl and redis-benchmark.
BIGGEST=$JOBS
(( NONEMPTY_RUN == 1 )) && BIGGEST=$(( JOBS + TARGET_EXTRA ))
(( BIG_RUN == 1 && JOBS_BIG > BIGGEST )) && BIGGEST=$JOBS_BIG
MEM_AVAIL_MIB=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
MEM_TOTAL_MIB=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
NEED_MIB=$(( BIGGEST * 230 * 2 / 1048576 + 512 ))
log "memory: $MEM_AVAIL_MIB MiB available ($(free -m | awk '/^Mem:/ { print $2 " MiB total, " $4 " MiB free" }')); two servers holding $BIGGEST jobs each need ~$NEED_MIB MiB"
if (( MEM_AVAIL_MIB < NEED_MIB )); then
    fit=$(( (MEM_AVAIL_MIB - 512) * 1048576 / 460 / 100000 * 100000 ))
    if (( fit <= 0 )); then
        hint="less than ~1 GiB is available; free some memory first"
    elif (( BIGGEST == JOBS_BIG && BIG_RUN == 1 )); then
        hint="rerun with a smaller JOBS_BIG, e.g. JOBS_BIG=$fit, or BIG_RUN=0 to skip that case"
    else
        hint="rerun with a smaller JOBS, e.g. JOBS=$fit"
    fi
    die "this machine cannot hold $BIGGEST jobs on each of two servers (~$NEED_MIB MiB needed, $MEM_AVAIL_MIB MiB available); $hint"
fi

QCTL_BIN_GIVEN=${QCTL_BIN:+1}
QCTL_SRC=$ROOT
# What is measured, named now (HEAD may move while this runs).
BUILT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null) ]]; then
    BUILT_REV="$BUILT_REV + uncommitted changes"
fi
if [[ -z ${QCTL_BIN:-} ]]; then
    TARGET_DIR=$BENCH_TARGET_DIR
    if [[ -n ${QCTL_REV:-} ]]; then
        sha=$(git -C "$ROOT" rev-parse --verify "$QCTL_REV^{commit}") || die "QCTL_REV=$QCTL_REV is not a commit"
        BUILT_REV="$(git -C "$ROOT" rev-parse --short "$sha") (QCTL_REV=$QCTL_REV)"
        QCTL_SRC=$BENCH_SRC_DIR/$sha
        if [[ ! -f $QCTL_SRC/Cargo.toml ]]; then
            log "exporting $QCTL_REV ($sha) to $QCTL_SRC"
            rm -rf "$QCTL_SRC.tmp" && mkdir -p "$QCTL_SRC.tmp"
            git -C "$ROOT" archive "$sha" | tar -x -C "$QCTL_SRC.tmp"
            mv "$QCTL_SRC.tmp" "$QCTL_SRC"
        fi
        # Exports get a target dir of their own: cargo keys qctl's artifacts by
        # package, not by path, and judges freshness by mtimes, so a build of
        # another tree in the same dir can pass for this one. Hence the stamp.
        TARGET_DIR=$BENCH_TARGET_DIR-rev
        if [[ $(cat "$TARGET_DIR/.qctl-rev" 2>/dev/null) != "$sha" ]]; then
            (cd "$QCTL_SRC" && CARGO_TARGET_DIR=$TARGET_DIR cargo clean --release -p qctl >/dev/null 2>&1) || true
        fi
    fi
    log "CARGO_TARGET_DIR=$TARGET_DIR cargo build --release (in $QCTL_SRC)"
    (cd "$QCTL_SRC" && CARGO_TARGET_DIR=$TARGET_DIR cargo build --release) \
        || die "cargo build failed in $QCTL_SRC; if the work tree is mid-edit, QCTL_REV=HEAD builds the last commit instead (or set QCTL_BIN)"
    [[ -n ${QCTL_REV:-} ]] && echo "$sha" >"$TARGET_DIR/.qctl-rev"
    QCTL_BIN=$TARGET_DIR/release/qctl
fi
[[ -x $QCTL_BIN ]] || die "QCTL_BIN=$QCTL_BIN is not an executable"
"$QCTL_BIN" replicate --help >/dev/null 2>&1 || die "$QCTL_BIN has no 'replicate' command"
# qctl's window (jobs per LRANGE / LPUSH), to tell how often a list is read.
WINDOW=$(sed -n 's/^pub const WINDOW: i64 = \([0-9_]*\);.*/\1/p' "$QCTL_SRC/src/systems/copy.rs" 2>/dev/null | tr -d _)
[[ -n $WINDOW && -z $QCTL_BIN_GIVEN ]] || WINDOW=5000

WORK=$(mktemp -d "${TMPDIR:-/tmp}/qctl-replicate.XXXXXX")
SRC_PID=
DST_PID=
T_START=$(now)

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$SRC_PID" "redis-server (src)"
    stop_pid "$DST_PID" "redis-server (dst)"
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

helper() { "$PYTHON" "$HERE/replicate.py" "$@"; }

# ---- 2. redis-servers, contexts file ----
# start_redis NAME: sets NAME_PORT and NAME_PID (NAME upper-cased).
start_redis() {
    local name=$1 up port pid
    up=${name^^}
    mkdir -p "$WORK/$name"
    for attempt in 1 2 3 4 5; do
        port=$(helper free-port)
        redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
            --dir "$WORK/$name" --logfile "$WORK/$name/redis.log" --daemonize no --protected-mode yes >/dev/null 2>&1 &
        pid=$!
        printf -v "${up}_PID" '%s' "$pid"
        for _ in $(seq 50); do
            redis-cli -p "$port" PING >/dev/null 2>&1 && break
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if redis-cli -p "$port" PING >/dev/null 2>&1; then
            printf -v "${up}_PORT" '%s' "$port"
            log "redis-server ($name) on 127.0.0.1:$port (pid $pid)"
            return 0
        fi
        stop_pid "$pid" "redis-server ($name)"
        printf -v "${up}_PID" '%s' ""
        (( attempt < 5 )) || die "redis-server ($name) did not start; see $WORK/$name/redis.log (KEEP_WORK=1 keeps it)"
    done
}
start_redis src
start_redis dst
REDIS_VERSION=$(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')

CONFIG=$WORK/contexts.yaml
AUDIT=$WORK/audit.log
cat >"$CONFIG" <<EOF
apiVersion: qctl/v1
audit-log: $AUDIT
clusters:
  - { name: src, server: "redis://127.0.0.1:$SRC_PORT" }
  - { name: dst, server: "redis://127.0.0.1:$DST_PORT" }
contexts:
  - { name: src, cluster: src }
  - { name: dst, cluster: dst }
EOF
export QCTL_CONFIG=$CONFIG
"$QCTL_BIN" config get-contexts >/dev/null || die "qctl does not accept $CONFIG"

RESULTS=$WORK/results.json
FAILED=0
QCTL_RUNS=0
src_cli() { redis-cli -p "$SRC_PORT" "$@"; }
dst_cli() { redis-cli -p "$DST_PORT" "$@"; }

flush() { # PORT
    redis-cli -p "$1" FLUSHALL >/dev/null
    helper wait-lazyfree "$1"
}

# pipe_jobs PORT COUNT PREFIX: COUNT jobs (ids PREFIX-0000001 ..) LPUSHed into KEY.
pipe_jobs() {
    local port=$1 count=$2 prefix=$3
    helper jobs --count "$count" --key "$KEY" --prefix "$prefix" | redis-cli -p "$port" --pipe >"$WORK/pipe.log" 2>&1 \
        || { cat "$WORK/pipe.log" >&2; die "redis-cli --pipe failed while pushing $count $prefix jobs"; }
    grep -q '^errors: 0,' "$WORK/pipe.log" || { cat "$WORK/pipe.log" >&2; die "redis-cli --pipe reported errors"; }
}

# seed COUNT: FLUSHALL both, then COUNT jobs LPUSHed into the source's queue.
seed() {
    local count=$1 t0 t1 llen
    flush "$SRC_PORT"
    flush "$DST_PORT"
    t0=$(now)
    pipe_jobs "$SRC_PORT" "$count" job
    t1=$(now)
    llen=$(src_cli LLEN "$KEY")
    [[ $llen == "$count" && $(src_cli DBSIZE) == 1 ]] || die "after seeding, LLEN $KEY is $llen (expected $count), DBSIZE $(src_cli DBSIZE)"
    log "seeded $count jobs in $(( (t1 - t0) / 1000000 )) ms (source used_memory_rss $(( $(src_cli INFO memory | sed -n 's/^used_memory_rss:\([0-9]*\).*/\1/p') / 1048576 )) MiB)"
}

# prefill: the flushed target's queue given TARGET_EXTRA other jobs (other-0000001 ..).
prefill() {
    local llen
    [[ $(dst_cli DBSIZE) == 0 ]] || die "the target is not empty before it is given its $TARGET_EXTRA other jobs"
    pipe_jobs "$DST_PORT" "$TARGET_EXTRA" other
    llen=$(dst_cli LLEN "$KEY")
    [[ $llen == "$TARGET_EXTRA" ]] || die "after prefilling the target, LLEN $KEY is $llen (expected $TARGET_EXTRA)"
}

# baseline TAG COUNT: redis-benchmark LPUSH on the (empty) target, then FLUSHALL.
baseline() {
    local tag=$1 count=$2 llen
    [[ $(dst_cli DBSIZE) == 0 ]] || die "the target is not empty before the baseline"
    log "$tag: redis-benchmark -h 127.0.0.1 -p $DST_PORT -t lpush -P 100 -d 200 -n $count -q"
    helper baseline "$WORK/$tag.json" "$WORK/$tag.out" -- \
        redis-benchmark -h 127.0.0.1 -p "$DST_PORT" -t lpush -P 100 -d 200 -n "$count" -q \
        || die "redis-benchmark failed (see above)"
    llen=$(dst_cli LLEN mylist)
    [[ $llen == "$count" ]] || log "note: after redis-benchmark, LLEN mylist is $llen (expected $count)"
    flush "$DST_PORT"
}

# measure TAG: one qctl replicate run, timed, with both servers' own cost.
# Sets QCTL_RC; a non-zero exit counts as a failed verification.
measure() {
    local tag=$1
    helper stats-begin "$SRC_PORT" "$WORK/$tag.src.state"
    helper stats-begin "$DST_PORT" "$WORK/$tag.dst.state"
    helper run "$WORK/$tag.run.json" "$WORK/$tag.out.json" "$WORK/$tag.err" -- "$QCTL_BIN" "${REPL_ARGS[@]}"
    printf '  source: ' >&2
    helper stats-end "$SRC_PORT" "$WORK/$tag.src.state" "$WORK/$tag.stats_src.json"
    printf '  target: ' >&2
    helper stats-end "$DST_PORT" "$WORK/$tag.dst.state" "$WORK/$tag.stats_dst.json"
    QCTL_RUNS=$(( QCTL_RUNS + 1 ))
    QCTL_RC=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["rc"])' "$WORK/$tag.run.json")
    if (( QCTL_RC != 0 )); then
        printf 'MISSED: qctl %s exited %s\n  command: QCTL_CONFIG=%s %s\n  stdout:\n' \
            "${REPL_ARGS[*]}" "$QCTL_RC" "$CONFIG" "$QCTL_BIN ${REPL_ARGS[*]}" >&2
        sed 's/^/    /' "$WORK/$tag.out.json" | head -40 >&2
        printf '  stderr:\n' >&2
        sed 's/^/    /' "$WORK/$tag.err" | head -40 >&2
        FAILED=1
    fi
}

# verify TAG JOBS COPIED DUPS [--extra=E] [--full]: checks the run; 3 marks it failed.
verify() {
    local tag=$1 count=$2 code=0
    helper check-copy "$SRC_PORT" "$DST_PORT" "$KEY" "$count" "$WORK/$tag.out.json" "$WORK/$tag.check.json" \
        "$3" "$4" "${@:5}" || code=$?
    case $code in
        0) ;;
        3) FAILED=1 ;;
        *) die "replicate.py check-copy failed ($code)" ;;
    esac
}

# copy_run NAME TAG JOBS [--full]: one qctl run onto the flushed target, checked, recorded.
copy_run() {
    local name=$1 tag=$2 count=$3
    [[ $(dst_cli DBSIZE) == 0 ]] || die "the target is not empty before $tag"
    log "$tag: QCTL_CONFIG=contexts.yaml qctl ${REPL_ARGS[*]} ($count jobs)"
    measure "$tag"
    verify "$tag" "$count" "$count" 0 "${@:4}"
    helper record "$RESULTS" "$name" "run=@$WORK/$tag.run.json" "stats_src=@$WORK/$tag.stats_src.json" \
        "stats_dst=@$WORK/$tag.stats_dst.json" "check=@$WORK/$tag.check.json"
}

# dry_run NAME TAG EXTRA: the same command with --dry-run, the plan alone (no
# write, no audit line), onto the target as it is (EXTRA other jobs), checked.
dry_run() {
    local name=$1 tag=$2 extra=$3 code=0 what="empty target"
    (( extra == 0 )) || what="target holding $extra other jobs"
    log "$tag: QCTL_CONFIG=contexts.yaml qctl ${REPL_ARGS[*]} --dry-run ($JOBS jobs, $what)"
    helper stats-begin "$SRC_PORT" "$WORK/$tag.src.state"
    helper stats-begin "$DST_PORT" "$WORK/$tag.dst.state"
    helper run "$WORK/$tag.run.json" "$WORK/$tag.out.json" "$WORK/$tag.err" -- "$QCTL_BIN" "${REPL_ARGS[@]}" --dry-run
    printf '  source: ' >&2
    helper stats-end "$SRC_PORT" "$WORK/$tag.src.state" "$WORK/$tag.stats_src.json"
    printf '  target: ' >&2
    helper stats-end "$DST_PORT" "$WORK/$tag.dst.state" "$WORK/$tag.stats_dst.json"
    helper check-dry "$DST_PORT" "$KEY" "$JOBS" "$WORK/$tag.out.json" "$WORK/$tag.check.json" --extra "$extra" || code=$?
    case $code in
        0) ;;
        3) FAILED=1 ;;
        *) die "replicate.py check-dry failed ($code)" ;;
    esac
    helper record "$RESULTS" "$name" "run=@$WORK/$tag.run.json" "stats_src=@$WORK/$tag.stats_src.json" \
        "stats_dst=@$WORK/$tag.stats_dst.json" "check=@$WORK/$tag.check.json"
}

# nonempty_run NAME TAG [--full]: one qctl run onto the target holding its
# TARGET_EXTRA other jobs, checked, recorded.
nonempty_run() {
    local name=$1 tag=$2
    [[ $(dst_cli DBSIZE) == 1 && $(dst_cli LLEN "$KEY") == "$TARGET_EXTRA" ]] \
        || die "the target does not hold exactly its $TARGET_EXTRA other jobs before $tag"
    log "$tag: QCTL_CONFIG=contexts.yaml qctl ${REPL_ARGS[*]} ($JOBS jobs onto $TARGET_EXTRA other jobs)"
    measure "$tag"
    verify "$tag" "$JOBS" "$JOBS" 0 --extra="$TARGET_EXTRA" "${@:3}"
    helper record "$RESULTS" "$name" "run=@$WORK/$tag.run.json" "stats_src=@$WORK/$tag.stats_src.json" \
        "stats_dst=@$WORK/$tag.stats_dst.json" "check=@$WORK/$tag.check.json"
}

helper record "$RESULTS" meta "jobs=$JOBS" "runs=$RUNS" "key=$KEY" "window=$WINDOW"

# ---- 3. JOBS: the plan alone, then baseline and copy, RUNS times ----
seed "$JOBS"
dry_run dry dry 0
for i in $(seq "$RUNS"); do
    baseline "baseline-$i" "$JOBS"
    helper record "$RESULTS" baseline "baseline=@$WORK/baseline-$i.json"
    full=()
    (( i == RUNS )) && full=(--full)
    copy_run copy "copy-$i" "$JOBS" "${full[@]}"
    (( i == RUNS )) || flush "$DST_PORT"
done

# ---- 4. the re-run over the full copy ----
log "rerun: the same command again over the $JOBS jobs already copied"
measure rerun
verify rerun "$JOBS" 0 "$JOBS"
helper record "$RESULTS" rerun "run=@$WORK/rerun.run.json" "stats_src=@$WORK/rerun.stats_src.json" \
    "stats_dst=@$WORK/rerun.stats_dst.json" "check=@$WORK/rerun.check.json"

# ---- 5. JOBS onto a target already holding TARGET_EXTRA other jobs ----
if [[ $NONEMPTY_RUN == 1 ]]; then
    helper record "$RESULTS" meta "target_extra=$TARGET_EXTRA"
    flush "$DST_PORT"
    prefill
    dry_run dry_nonempty dry-nonempty "$TARGET_EXTRA"
    flush "$DST_PORT"
    for i in $(seq "$RUNS"); do
        baseline "baseline-nonempty-$i" "$JOBS"
        helper record "$RESULTS" baseline_nonempty "baseline=@$WORK/baseline-nonempty-$i.json"
        prefill
        full=()
        (( i == RUNS )) && full=(--full)
        nonempty_run nonempty "nonempty-$i" "${full[@]}"
        flush "$DST_PORT"
    done
else
    log "NONEMPTY_RUN=0: skipping the copy onto a target already holding $TARGET_EXTRA other jobs"
fi

# ---- 6. JOBS_BIG ----
if [[ $BIG_RUN == 1 ]]; then
    helper record "$RESULTS" meta "jobs_big=$JOBS_BIG"
    seed "$JOBS_BIG"
    baseline baseline-big "$JOBS_BIG"
    helper record "$RESULTS" baseline_big "baseline=@$WORK/baseline-big.json"
    copy_run copy_big copy-big "$JOBS_BIG"
else
    log "BIG_RUN=0: skipping the $JOBS_BIG-job case"
fi
flush "$SRC_PORT"
flush "$DST_PORT"
stop_pid "$SRC_PID" "redis-server (src)"; SRC_PID=
stop_pid "$DST_PID" "redis-server (dst)"; DST_PID=
T_END=$(now)

# ---- 7. audit log, report ----
AUDIT_LINES=0
[[ -f $AUDIT ]] && AUDIT_LINES=$(grep -c '"result":"ok"' "$AUDIT" || true)
if (( AUDIT_LINES != QCTL_RUNS )); then
    printf 'MISSED: the audit log %s has %s "result":"ok" lines for %s qctl runs\n' "$AUDIT" "$AUDIT_LINES" "$QCTL_RUNS" >&2
    FAILED=1
else
    log "audit log: $AUDIT_LINES ok lines for $QCTL_RUNS qctl runs"
fi

rev=$BUILT_REV
[[ -n $QCTL_BIN_GIVEN ]] && rev="QCTL_BIN=$QCTL_BIN (the work tree was at $rev)"
cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -1)
knobs=()  # the knobs this run was given, for the Reproduce line
(( JOBS == 1000000 )) || knobs+=("JOBS=$JOBS")
(( JOBS_BIG == 5000000 )) || knobs+=("JOBS_BIG=$JOBS_BIG")
(( RUNS == 3 )) || knobs+=("RUNS=$RUNS")
(( TARGET_EXTRA == 1000 )) || knobs+=("TARGET_EXTRA=$TARGET_EXTRA")
(( NONEMPTY_RUN == 1 )) || knobs+=("NONEMPTY_RUN=$NONEMPTY_RUN")
(( BIG_RUN == 1 )) || knobs+=("BIG_RUN=$BIG_RUN")
[[ -n ${QCTL_REV:-} && -z $QCTL_BIN_GIVEN ]] && knobs+=("QCTL_REV=$QCTL_REV")
helper record "$RESULTS" meta \
    "knobs=${knobs[*]}" \
    "date=$(date -u '+%Y-%m-%d %H:%M UTC')" \
    "nproc=$(nproc)" \
    "cpu=${cpu:-unknown CPU}" \
    "kernel=Linux $(uname -r)" \
    "mem_total_mib=$MEM_TOTAL_MIB" \
    "qctl_rev=$rev" \
    "redis=$REDIS_VERSION" \
    "python=$("$PYTHON" -c 'import platform; print(platform.python_version())')" \
    "payload_bytes=$(helper payload-bytes)" \
    "total_s=$(( (T_END - T_START) / 1000000000 ))"

MD_ARGS=(--markdown "$ROOT/BENCHMARKS.md")
[[ ${NO_MARKDOWN:-0} == 1 ]] && MD_ARGS=()
code=0
helper report "$RESULTS" "${MD_ARGS[@]}" || code=$?
(( code == 0 || code == 3 )) || die "replicate.py report failed ($code)"
if (( FAILED || code == 3 )); then
    log "a verification FAILED (see the MISSED lines above; KEEP_WORK=1 keeps qctl's output)"
    exit 3
fi
log "every verification passed"
