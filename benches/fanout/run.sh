#!/usr/bin/env bash
# Fan-out and start-up benchmark for qctl. Reproduce with:
#
#     bash benches/fanout/run.sh
#
# 1. builds target/release/qctl (unless QCTL_BIN is set);
# 2. starts one throwaway redis-server on a free 127.0.0.1 port (no
#    persistence, temp dir) and seeds a little go-redis-work-queue data;
# 3. starts delay_proxy.py: 200 loopback ports forwarding to that server,
#    +DELAY_MS per client->server chunk (so ~DELAY_MS per round trip);
# 4. writes contexts files with 1, 50 and 200 contexts, one proxy port each;
# 5. times `qctl get clusters -A -o json` over them in one hyperfine run,
#    and a redis-cli shell loop over 50 endpoints for reference;
# 6. times `qctl config get-contexts` on a 1,000- vs a 1-context file;
# 7. prints a summary and rewrites its two sections of BENCHMARKS.md.
#
# Needs: cargo, redis-server, redis-cli, hyperfine, python3 (stdlib only).
# Environment: DELAY_MS (20), RUNS (10), LOOP_RUNS (3), STARTUP_RUNS (30),
# PROXY_PROCS (2: processes the delay proxy splits its ports over),
# QCTL_BIN, NO_MARKDOWN=1 (print only), KEEP_WORK=1 (keep the temp dir),
# SKIP_LOOP=1 (skip the slow redis-cli reference loop).
# Exit status: 0 when every target is met, 3 when a figure missed its target,
# anything else when the benchmark itself failed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=SCRIPTDIR/../lib.sh
source "$HERE/../lib.sh"
DELAY_MS=${DELAY_MS:-20}
RUNS=${RUNS:-10}
LOOP_RUNS=${LOOP_RUNS:-3}
STARTUP_RUNS=${STARTUP_RUNS:-30}
PROXY_PROCS=${PROXY_PROCS:-2}
PYTHON=${PYTHON:-python3}
MAX_N=200
LOOP_N=50


for tool in redis-server redis-cli hyperfine "$PYTHON"; do
    command -v "$tool" >/dev/null || die "$tool not found (Debian: apt-get install redis-server hyperfine python3)"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/qctl-fanout.XXXXXX")
REDIS_PID=
PROXY_PID=

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$PROXY_PID" delay_proxy
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

# 200 contexts: qctl holds one or more sockets per context, the proxy two per
# connection. qctl and the proxy raise their own soft limits too; this covers
# redis-server (maxclients follows the limit) and anything else.
hard=$(ulimit -Hn)
if [[ $hard == unlimited ]]; then want=65536; else want=$(( hard < 65536 ? hard : 65536 )); fi
if (( $(ulimit -Sn) < want )); then ulimit -Sn "$want" || true; fi
(( $(ulimit -Sn) >= 4 * MAX_N + 256 )) || die "open-files limit $(ulimit -Sn) is too low for $MAX_N contexts (need $(( 4 * MAX_N + 256 )))"

# ---- 1. qctl ----
QCTL_BIN_GIVEN=${QCTL_BIN:+1}
if [[ -z ${QCTL_BIN:-} ]]; then
    log "cargo build --release"
    (cd "$ROOT" && cargo build --release)
    QCTL_BIN=$ROOT/target/release/qctl
fi
[[ -x $QCTL_BIN ]] || die "QCTL_BIN=$QCTL_BIN is not an executable"
"$QCTL_BIN" get clusters --help >/dev/null 2>&1 || die "$QCTL_BIN has no 'get clusters' command"

# ---- 2. redis-server ----
for attempt in 1 2 3 4 5; do
    REDIS_PORT=$("$PYTHON" "$HERE/bench.py" free-port)
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
        --dir "$WORK" --logfile "$WORK/redis.log" --daemonize no --protected-mode yes \
        --maxclients 10000 >/dev/null 2>&1 &
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
log "redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') on 127.0.0.1:$REDIS_PORT (pid $REDIS_PID)"

job() { # id file size priority
    printf '{"id":"%s","filepath":"%s","filesize":%s,"priority":"%s","retries":0,"creation_time":"2025-01-14T10:30:00.123Z","trace_id":"","span_id":""}' "$@"
}
rc() { redis-cli -p "$REDIS_PORT" "$@" >/dev/null; }
rc LPUSH jobqueue:high_priority "$(job j1 /data/a 1024 high)" "$(job j2 /data/b 2048 high)" \
    "$(job j3 /data/c 4096 high)" "$(job j4 /data/d 512 high)" "$(job j5 /data/e 128 high)"
rc LPUSH jobqueue:low_priority "$(job j6 /data/f 10 low)" "$(job j7 /data/g 20 low)" "$(job j8 /data/h 30 low)"
rc LPUSH jobqueue:completed "$(job j0 /data/z 99 low)"
rc LPUSH jobqueue:dead_letter "$(job j9 /data/bad 1 high)"
rc LPUSH jobqueue:worker:w1:processing "$(job j10 /data/w1a 100 high)" "$(job j11 /data/w1b 200 high)"
rc SET jobqueue:processing:worker:w1 "$(job j10 /data/w1a 100 high)" PX 600000
rc LPUSH jobqueue:worker:w2:processing "$(job j12 /data/w2a 300 low)"
rc SET jobqueue:processing:worker:w2 "$(job j12 /data/w2a 300 low)" PX 600000

# ---- 3. delay proxy ----
"$PYTHON" "$HERE/delay_proxy.py" --upstream "127.0.0.1:$REDIS_PORT" --count "$MAX_N" \
    --delay-ms "$DELAY_MS" --procs "$PROXY_PROCS" --ports-file "$WORK/ports.txt" 2>"$WORK/proxy.log" &
PROXY_PID=$!
for _ in $(seq 100); do
    [[ -s $WORK/ports.txt ]] && break
    kill -0 "$PROXY_PID" 2>/dev/null || { cat "$WORK/proxy.log" >&2; die "delay_proxy.py exited"; }
    sleep 0.1
done
[[ -s $WORK/ports.txt ]] || die "delay_proxy.py did not become ready in 10 s"
(( $(wc -l <"$WORK/ports.txt") == MAX_N )) || die "delay_proxy.py listens on $(wc -l <"$WORK/ports.txt") ports, expected $MAX_N"
FIRST_PORT=$(head -1 "$WORK/ports.txt")
t0=$(date +%s%N)
[[ $(redis-cli -p "$FIRST_PORT" PING) == PONG ]] || die "no PONG through the proxy"
t1=$(date +%s%N)
log "delay_proxy: $MAX_N ports, $PROXY_PROCS process(es) (pid $PROXY_PID); redis-cli PING through it took $(( (t1 - t0) / 1000000 )) ms (+$DELAY_MS ms expected)"

# ---- 4. contexts files ----
for n in 1 50 200; do
    "$PYTHON" "$HERE/bench.py" contexts "$WORK/contexts-$n.yaml" "$n" "$WORK/ports.txt"
done
"$PYTHON" "$HERE/bench.py" contexts "$WORK/startup-1.yaml" 1
"$PYTHON" "$HERE/bench.py" contexts "$WORK/startup-1000.yaml" 1000

# ---- 5. fan-out ----
Q=$(printf '%q' "$QCTL_BIN")
log "sanity check: each contexts file answers in full"
for n in 1 50 200; do
    set +e
    "$QCTL_BIN" --config "$WORK/contexts-$n.yaml" get clusters -A -o json >"$WORK/check-$n.json" 2>"$WORK/check-$n.err"
    code=$?
    set -e
    (( code == 0 )) || { cat "$WORK/check-$n.err" >&2; die "qctl get clusters over $n contexts exited $code"; }
    "$PYTHON" "$HERE/bench.py" check "$WORK/check-$n.json" "$n"
done

# What qctl sends per context, for the report (-v logs each command).
"$QCTL_BIN" --config "$WORK/contexts-1.yaml" get clusters -A -o json -v 2>"$WORK/verbose.txt" >/dev/null || true

log "hyperfine: qctl get clusters -A -o json over 1, 50, 200 contexts (+$DELAY_MS ms per round trip)"
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$WORK/fanout.json" \
    -n "1 context" "$Q --config $WORK/contexts-1.yaml get clusters -A -o json" \
    -n "50 contexts" "$Q --config $WORK/contexts-50.yaml get clusters -A -o json" \
    -n "200 contexts" "$Q --config $WORK/contexts-200.yaml get clusters -A -o json"

LOOP_DESC="LLEN of the four queues, SCAN 0 MATCH jobqueue:* COUNT 10000, INFO server memory, per endpoint"
LOOP_CALLS=$(( LOOP_N * 6 ))
LOOP_ARGS=()
if [[ ${SKIP_LOOP:-0} != 1 ]]; then
    log "hyperfine: reference shell loop of redis-cli over $LOOP_N proxied endpoints ($LOOP_CALLS calls)"
    hyperfine -N --runs "$LOOP_RUNS" --export-json "$WORK/loop.json" \
        -n "redis-cli loop over $LOOP_N" "bash $(printf '%q' "$HERE/redis_cli_loop.sh") $WORK/ports.txt $LOOP_N"
    LOOP_ARGS=(--loop "$WORK/loop.json")
fi

# The proxy and redis are not needed for the start-up figures.
stop_pid "$PROXY_PID" delay_proxy; PROXY_PID=
stop_pid "$REDIS_PID" redis-server; REDIS_PID=

# ---- 6. start-up ----
log "hyperfine: qctl config get-contexts, 1 vs 1,000 contexts"
"$QCTL_BIN" --config "$WORK/startup-1000.yaml" config get-contexts >/dev/null
hyperfine -N --warmup 3 --runs "$STARTUP_RUNS" --export-json "$WORK/startup.json" \
    -n "1 context" "$Q --config $WORK/startup-1.yaml config get-contexts" \
    -n "1000 contexts" "$Q --config $WORK/startup-1000.yaml config get-contexts"

# ---- 7. report ----
rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null) ]]; then
    rev="$rev + uncommitted changes"
fi
[[ -n $QCTL_BIN_GIVEN ]] && rev="$rev (QCTL_BIN=$QCTL_BIN)"
cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -1)
"$PYTHON" - "$WORK/meta.json" "$WORK/verbose.txt" <<EOF
import json, re, sys
cmds = []
for line in open(sys.argv[2], errors="replace"):
    m = re.match(r"\[ctx-000\] (.*)", line.strip())
    if m and not m.group(1).startswith("connect "):
        cmds.append(m.group(1))
json.dump({
    "qctl_commands": cmds,
    "date": "$(date -u '+%Y-%m-%d %H:%M UTC')",
    "nproc": "$(nproc)",
    "cpu": """${cpu:-unknown CPU}""",
    "kernel": "Linux $(uname -r)",
    "qctl_rev": "$rev",
    "hyperfine": "$(hyperfine --version)",
    "redis": "Redis $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')",
    "python": "$("$PYTHON" -c 'import platform; print(platform.python_version())')",
    "delay_ms": float("$DELAY_MS"),
    "runs": int("$RUNS"),
    "loop_runs": int("$LOOP_RUNS"),
    "loop_calls": int("$LOOP_CALLS"),
    "loop_desc": "$LOOP_DESC",
    "startup_runs": int("$STARTUP_RUNS"),
    "proxy_procs": int("$PROXY_PROCS"),
}, open(sys.argv[1], "w"), indent=1)
EOF
MD_ARGS=(--markdown "$ROOT/BENCHMARKS.md")
[[ ${NO_MARKDOWN:-0} == 1 ]] && MD_ARGS=()
"$PYTHON" "$HERE/bench.py" report --fanout "$WORK/fanout.json" "${LOOP_ARGS[@]}" \
    --startup "$WORK/startup.json" --meta "$WORK/meta.json" "${MD_ARGS[@]}"
