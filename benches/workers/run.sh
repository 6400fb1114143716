#!/usr/bin/env bash
# Workers benchmark for qctl: `get workers` over 100,000 processing lists.
# Reproduce with:
#
#     bash benches/workers/run.sh
#
# 1. builds target/release/qctl (unless QCTL_BIN is set);
# 2. starts one throwaway redis-server on a free 127.0.0.1 port (no
#    persistence, temp dir, stopped on exit);
# 3. seeds it with `redis-cli --pipe` (protocol written by seed.py): WORKERS
#    go-redis-work-queue processing lists, a heartbeat for two thirds of them
#    (the other third orphaned), the four queues, and UNRELATED other keys;
#    checks DBSIZE;
# 4. writes a one-context contexts file;
# 5. runs `qctl get workers -o json` once under /usr/bin/time -v (peak RSS)
#    and checks its document worker by worker against the seed; once with -v
#    to count the commands it sends;
# 6. times `qctl get workers -o json` against a bare
#    `redis-cli --scan --pattern 'jobqueue:worker:*:processing'` in one
#    hyperfine run; target: qctl's mean below redis-cli's (ratio < 1.0);
# 7. checks DBSIZE again, prints a summary and rewrites its section of
#    BENCHMARKS.md.
#
# Needs: cargo, redis-server, redis-cli, hyperfine, python3 (stdlib only);
# /usr/bin/time (Debian package `time`) for the RSS figure, skipped without it.
# Environment: RUNS (10), WARMUP (1), WORKERS (100000), UNRELATED (300000),
# HEARTBEAT_TTL_MS (600000: must outlast the whole run), QCTL_BIN,
# NO_MARKDOWN=1 (print only), KEEP_WORK=1 (keep the temp dir).
# Exit status: 0 when the target is met, 3 when qctl missed it (too slow, or
# a wrong answer), anything else when the benchmark itself failed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=SCRIPTDIR/../lib.sh
source "$HERE/../lib.sh"
RUNS=${RUNS:-10}
WARMUP=${WARMUP:-1}
WORKERS=${WORKERS:-100000}
UNRELATED=${UNRELATED:-300000}
HEARTBEAT_TTL_MS=${HEARTBEAT_TTL_MS:-600000}
PYTHON=${PYTHON:-python3}
CONTEXT=bench
PATTERN='jobqueue:worker:*:processing'


for tool in redis-server redis-cli hyperfine "$PYTHON"; do
    command -v "$tool" >/dev/null || die "$tool not found (Debian: apt-get install redis-server hyperfine python3)"
done
TIME_BIN=/usr/bin/time
if [[ ! -x $TIME_BIN ]] || ! "$TIME_BIN" -v true >/dev/null 2>&1; then
    log "/usr/bin/time (GNU time, Debian package 'time') is missing: peak RSS will not be measured"
    TIME_BIN=
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/qctl-workers.XXXXXX")
REDIS_PID=

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

# ---- 1. qctl ----
QCTL_BIN_GIVEN=${QCTL_BIN:+1}
if [[ -z ${QCTL_BIN:-} ]]; then
    log "cargo build --release"
    (cd "$ROOT" && cargo build --release)
    QCTL_BIN=$ROOT/target/release/qctl
fi
[[ -x $QCTL_BIN ]] || die "QCTL_BIN=$QCTL_BIN is not an executable"
"$QCTL_BIN" get workers --help >/dev/null 2>&1 || die "$QCTL_BIN has no 'get workers' command"

# ---- 2. redis-server ----
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

# ---- 3. seed ----
log "seeding $WORKERS workers' processing lists and $UNRELATED unrelated keys"
t0=$(now)
"$PYTHON" "$HERE/seed.py" resp "$WORK/seed.resp" "$WORK/expect.json" \
    --workers "$WORKERS" --unrelated "$UNRELATED" --ttl-ms "$HEARTBEAT_TTL_MS"
t1=$(now)
redis-cli -p "$REDIS_PORT" --pipe <"$WORK/seed.resp" >"$WORK/pipe.log" 2>&1 \
    || { cat "$WORK/pipe.log" >&2; die "redis-cli --pipe failed"; }
t2=$(now)
grep -q '^errors: 0,' "$WORK/pipe.log" || { cat "$WORK/pipe.log" >&2; die "redis-cli --pipe reported errors"; }
rm -f "$WORK/seed.resp"
read -r EXPECT_KEYS < <("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["keys"])' "$WORK/expect.json")
DBSIZE=$(redis-cli -p "$REDIS_PORT" DBSIZE)
SEED_S=$(awk -v a="$t0" -v b="$t2" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
log "DBSIZE $DBSIZE (expected $EXPECT_KEYS); seeding took ${SEED_S} s (protocol $(( (t1 - t0) / 1000000 )) ms, redis-cli --pipe $(( (t2 - t1) / 1000000 )) ms)"
[[ $DBSIZE == "$EXPECT_KEYS" ]] || die "DBSIZE is $DBSIZE after seeding, expected $EXPECT_KEYS"

# ---- 4. contexts file ----
CONFIG=$WORK/contexts.yaml
cat >"$CONFIG" <<EOF
apiVersion: qctl/v1
current-context: $CONTEXT
clusters:
  - name: $CONTEXT
    server: redis://127.0.0.1:$REDIS_PORT/0
contexts:
  - name: $CONTEXT
    cluster: $CONTEXT
EOF

# ---- 5. one checked run (peak RSS), one verbose run ----
QCTL_ARGS=(--config "$CONFIG" get workers -o json --timeout 120s)
log "sanity check: qctl ${QCTL_ARGS[*]}"
TIME_ARGS=()
[[ -n $TIME_BIN ]] && TIME_ARGS=("$TIME_BIN" -v -o "$WORK/time-qctl.txt")
set +e
"${TIME_ARGS[@]}" "$QCTL_BIN" "${QCTL_ARGS[@]}" >"$WORK/workers.json" 2>"$WORK/workers.err"
code=$?
set -e
(( code == 0 )) || { cat "$WORK/workers.err" >&2; die "qctl get workers exited $code"; }
OUTPUT_BYTES=$(stat -c %s "$WORK/workers.json")
set +e
"$PYTHON" "$HERE/bench.py" check "$WORK/workers.json" "$WORK/expect.json" "$CONTEXT"
code=$?
set -e
if (( code == 3 )); then
    log "KEEP_WORK=1 keeps qctl's document ($WORK/workers.json) for a look"
    exit 3
fi
(( code == 0 )) || die "bench.py check failed ($code)"

RSS_QCTL=
RSS_SCAN=
if [[ -n $TIME_BIN ]]; then
    RSS_QCTL=$("$PYTHON" "$HERE/bench.py" rss "$WORK/time-qctl.txt")
    "$TIME_BIN" -v -o "$WORK/time-scan.txt" redis-cli -p "$REDIS_PORT" --scan --pattern "$PATTERN" >"$WORK/scan.txt"
    RSS_SCAN=$("$PYTHON" "$HERE/bench.py" rss "$WORK/time-scan.txt")
    log "peak RSS: qctl $(( RSS_QCTL / 1024 )) MiB, redis-cli --scan $(( RSS_SCAN / 1024 )) MiB"
else
    redis-cli -p "$REDIS_PORT" --scan --pattern "$PATTERN" >"$WORK/scan.txt"
fi
(( $(sort -u "$WORK/scan.txt" | wc -l) == WORKERS )) || die "redis-cli --scan found $(sort -u "$WORK/scan.txt" | wc -l) keys, expected $WORKERS"

"$QCTL_BIN" "${QCTL_ARGS[@]}" -v >/dev/null 2>"$WORK/verbose.txt" || die "qctl -v get workers failed"
"$PYTHON" "$HERE/bench.py" commands "$WORK/verbose.txt" "$WORK/commands.json"
rm -f "$WORK/verbose.txt"

# ---- 6. timing ----
log "hyperfine: qctl get workers -o json vs redis-cli --scan --pattern '$PATTERN'"
hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$WORK/hyperfine.json" \
    -n "qctl get workers -o json" "$(printf '%q ' "$QCTL_BIN" "${QCTL_ARGS[@]}")" \
    -n "redis-cli --scan" "redis-cli -p $REDIS_PORT --scan --pattern $PATTERN"

DBSIZE_AFTER=$(redis-cli -p "$REDIS_PORT" DBSIZE)
[[ $DBSIZE_AFTER == "$EXPECT_KEYS" ]] \
    || die "DBSIZE is $DBSIZE_AFTER after timing, expected $EXPECT_KEYS (heartbeats expired? raise HEARTBEAT_TTL_MS)"
stop_pid "$REDIS_PID" redis-server; REDIS_PID=

# ---- 7. report ----
rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null) ]]; then
    rev="$rev + uncommitted changes"
fi
[[ -n $QCTL_BIN_GIVEN ]] && rev="$rev (QCTL_BIN=$QCTL_BIN)"
cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -1)
read -r ACTIVE ORPHANED PROCESSING_JOBS < <("$PYTHON" -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(d["active"], d["orphaned"], d["processing_jobs"])' "$WORK/expect.json")
"$PYTHON" "$HERE/bench.py" meta "$WORK/meta.json" \
    "date=$(date -u '+%Y-%m-%d %H:%M UTC')" \
    "nproc=$(nproc)" \
    "cpu=${cpu:-unknown CPU}" \
    "kernel=Linux $(uname -r)" \
    "qctl_rev=$rev" \
    "hyperfine=$(hyperfine --version)" \
    "redis=Redis $REDIS_VERSION" \
    "python=$("$PYTHON" -c 'import platform; print(platform.python_version())')" \
    "runs=$RUNS" "warmup=$WARMUP" \
    "workers=$WORKERS" "active=$ACTIVE" "orphaned=$ORPHANED" "processing_jobs=$PROCESSING_JOBS" \
    "unrelated=$UNRELATED" "keys=$EXPECT_KEYS" "ttl_ms=$HEARTBEAT_TTL_MS" \
    "seed_s=$SEED_S" "output_bytes=$OUTPUT_BYTES" \
    "rss_qctl_kib=$RSS_QCTL" "rss_scan_kib=$RSS_SCAN"
MD_ARGS=(--markdown "$ROOT/BENCHMARKS.md")
[[ ${NO_MARKDOWN:-0} == 1 ]] && MD_ARGS=()
"$PYTHON" "$HERE/bench.py" report --hyperfine "$WORK/hyperfine.json" --meta "$WORK/meta.json" \
    --commands "$WORK/commands.json" "${MD_ARGS[@]}"
