#!/usr/bin/env bash
# Round trips per context (issue 24, item 1). Reproduce with:
#
#     bash benches/roundtrips/run.sh [--verbose]
#
# 1. builds target/release/qctl (unless QCTL_BIN is set) and the delay proxy
#    of benches/proxy (unless PROXY_BIN is set);
# 2. starts one throwaway redis-server on a free 127.0.0.1 port and seeds it
#    with a go-redis-work-queue keyspace (written as the Go library writes it)
#    and, for each framework installed, a Sidekiq, BullMQ and RQ keyspace
#    written by the framework's own API (tests/it/fixtures/*), with one idle
#    worker of each framework running, so that `get workers` has one to read;
# 3. starts the delay proxy: two loopback ports per system (contexts SHORT-a
#    and SHORT-b), +DELAY_MS per client->server chunk; it counts round trips
#    (a burst of requests that follows a reply) and, per round trip, the
#    commands in it;
# 4. for each system and each of `get clusters`, `get queues`, `get workers`,
#    `health` and `compare SHORT-a SHORT-b` (all `-o json`): checks the output
#    against the seed (refusing to report a wrong one), runs it COUNT_RUNS
#    times between proxy resets to count its round trips, then times the five
#    commands in one hyperfine run (`-N`, median of RUNS; a plain timing loop
#    when hyperfine is missing);
# 5. prints the table, what each round trip carried (with --verbose: the
#    first words of every command, secrets hidden), and rewrites its section
#    of BENCHMARKS.md.
#
# Needs: cargo, redis-server, redis-cli, python3; hyperfine (apt-get install
# hyperfine) for the timing. Sidekiq (ruby-sidekiq), BullMQ (npm ci in
# tests/it/fixtures/bullmq) and RQ (tests/it/fixtures/rq/.venv) are measured
# when installed, as in the integration tests.
# Environment: DELAY_MS (20), RUNS (5), COUNT_RUNS (3), SYSTEMS (default
# "go-redis-work-queue go-redis-work-queue+auth sidekiq bullmq rq"; +auth:
# the same keyspace in database 1, read as an ACL user, to show what
# connection set-up costs), QCTL_BIN, PROXY_BIN,
# NO_MARKDOWN=1 (print only), KEEP_WORK=1 (keep the temp dir).
# Exit status: 0 when every target is met, 3 when a figure missed its target,
# anything else when the benchmark itself failed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=SCRIPTDIR/../lib.sh
source "$HERE/../lib.sh"
DELAY_MS=${DELAY_MS:-20}
RUNS=${RUNS:-5}
COUNT_RUNS=${COUNT_RUNS:-3}
SYSTEMS=${SYSTEMS:-go-redis-work-queue go-redis-work-queue+auth sidekiq bullmq rq}
PYTHON=${PYTHON:-python3}
FIX=$ROOT/tests/it/fixtures
VERBOSE=
for arg in "$@"; do
    case $arg in
        -v|--verbose) VERBOSE=--verbose ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $arg (try --help)" ;;
    esac
done

for tool in redis-server redis-cli "$PYTHON" cargo; do
    command -v "$tool" >/dev/null || die "$tool not found (Debian: apt-get install redis-server python3 cargo)"
done
HYPERFINE=$(command -v hyperfine || true)
[[ -n $HYPERFINE ]] || log "hyperfine not found (apt-get install -y hyperfine): timing with a plain loop"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/qctl-roundtrips.XXXXXX")
REDIS_PID=
PROXY_PID=
WORKER_PIDS=()

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    # The frameworks' workers first: they hang on to a vanished Redis.
    for pid in "${WORKER_PIDS[@]}"; do stop_pid "$pid" worker; done
    stop_pid "$PROXY_PID" delay-proxy
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

# ---- 1. qctl and the proxy ----
QCTL_BIN_GIVEN=${QCTL_BIN:+1}
if [[ -z ${QCTL_BIN:-} ]]; then
    log "cargo build --release (qctl)"
    (cd "$ROOT" && cargo build --release)
    QCTL_BIN=$ROOT/target/release/qctl
    [[ -n ${CARGO_TARGET_DIR:-} ]] && QCTL_BIN=$CARGO_TARGET_DIR/release/qctl
fi
[[ -x $QCTL_BIN ]] || die "QCTL_BIN=$QCTL_BIN is not an executable"
if [[ -z ${PROXY_BIN:-} ]]; then
    log "cargo build --release --locked (benches/proxy)"
    (cd "$ROOT/benches/proxy" && cargo build --release --locked)
    target_dir=$(cd "$ROOT/benches/proxy" && cargo metadata --format-version 1 --no-deps --locked |
        "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
    PROXY_BIN=$target_dir/release/delay-proxy
fi
[[ -x $PROXY_BIN ]] || die "PROXY_BIN=$PROXY_BIN is not an executable"

# ---- 2. redis-server and the seed ----
for attempt in 1 2 3 4 5; do
    REDIS_PORT=$("$PYTHON" "$HERE/report.py" free-port)
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
URL=redis://127.0.0.1:$REDIS_PORT
log "redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') on 127.0.0.1:$REDIS_PORT (pid $REDIS_PID)"
wait_until() { # seconds description command...
    local secs=$1 what=$2; shift 2
    for _ in $(seq $(( secs * 10 ))); do
        "$@" && return 0
        sleep 0.1
    done
    die "$what did not happen within $secs s"
}

seed_gowork() { # [DB]
    local db=${1:-0}
    rc() { redis-cli -p "$REDIS_PORT" -n "$db" "$@" >/dev/null; }
    job() { # id file size priority
        printf '{"id":"%s","filepath":"%s","filesize":%s,"priority":"%s","retries":0,"creation_time":"2025-01-14T10:30:00.123Z","trace_id":"","span_id":""}' "$@"
    }
    rc LPUSH jobqueue:high_priority "$(job j1 /data/a 1024 high)" "$(job j2 /data/b 2048 high)" \
        "$(job j3 /data/c 4096 high)" "$(job j4 /data/d 512 high)" "$(job j5 /data/e 128 high)"
    rc LPUSH jobqueue:low_priority "$(job j6 /data/f 10 low)" "$(job j7 /data/g 20 low)" "$(job j8 /data/h 30 low)"
    rc LPUSH jobqueue:completed "$(job j0 /data/z 99 low)"
    rc LPUSH jobqueue:dead_letter "$(job j9 /data/bad 1 high)"
    rc LPUSH jobqueue:worker:w1:processing "$(job j10 /data/w1a 100 high)" "$(job j11 /data/w1b 200 high)"
    rc SET jobqueue:processing:worker:w1 "$(job j10 /data/w1a 100 high)" PX 3600000
    rc LPUSH jobqueue:worker:w2:processing "$(job j12 /data/w2a 300 low)"
    rc SET jobqueue:processing:worker:w2 "$(job j12 /data/w2a 300 low)" PX 3600000
}

# The same keyspace in database 1, for contexts that log in as the ACL user
# `bench` (password in BENCH_REDIS_PASSWORD, read by qctl's password-env).
seed_gowork_auth() {
    BENCH_REDIS_PASSWORD=$("$PYTHON" -c 'import secrets; print(secrets.token_hex(16))')
    export BENCH_REDIS_PASSWORD
    redis-cli -p "$REDIS_PORT" ACL SETUSER bench on ">$BENCH_REDIS_PASSWORD" '~*' '+@all' >/dev/null
    seed_gowork 1
}

sidekiq_installed() {
    command -v sidekiq >/dev/null && ruby -e "require 'sidekiq'; require 'sidekiq/api'; require 'redis-namespace'" 2>/dev/null
}
# The *_env helpers run a command in a framework's environment. The workers
# are started as `(exec env ... CMD) &` instead, so that $! is the worker
# itself (a backgrounded function would leave it behind when stopped).
sidekiq_env() { env -u QCTL_SIDEKIQ_NAMESPACE -u REDIS_URL -u REDIS_PROVIDER -u RUBYOPT QCTL_SIDEKIQ_URL="$URL/0" RACK_ENV=test APP_ENV=test "$@"; }
seed_sidekiq() {
    local api=$FIX/sidekiq/api.rb
    sidekiq_env ruby "$api" enqueue OkJob 5 default >/dev/null
    sidekiq_env ruby "$api" enqueue OkJob 3 mail >/dev/null
    sidekiq_env ruby "$api" schedule OkJob 2 3600 >/dev/null
    sidekiq_env ruby "$api" dead RecordJob 2 default >/dev/null
    # One idle process (it works `idle`, which stays empty), for `get workers`.
    (exec env -u QCTL_SIDEKIQ_NAMESPACE -u REDIS_URL -u REDIS_PROVIDER -u RUBYOPT QCTL_SIDEKIQ_URL="$URL/0" \
        RACK_ENV=test APP_ENV=test QCTL_SIDEKIQ_POLL=1 sidekiq -r "$FIX/sidekiq/jobs.rb" -q idle -c 1 -t 1) \
        >"$WORK/sidekiq.log" 2>&1 &
    WORKER_PIDS+=($!)
    wait_until 30 "Sidekiq's first heartbeat" sidekiq_beat
}
sidekiq_beat() {
    local p
    p=$(redis-cli -p "$REDIS_PORT" SRANDMEMBER processes)
    [[ -n $p ]] && [[ -n $(redis-cli -p "$REDIS_PORT" HGET "$p" beat) ]]
}

bullmq_installed() { (cd "$FIX/bullmq" && node -e "require('bullmq'); require('ioredis')" 2>/dev/null); }
bullmq_env() {
    (cd "$FIX/bullmq" && env -u NODE_OPTIONS -u REDIS_URL QCTL_BULLMQ_URL="$URL" QCTL_BULLMQ_PREFIX=bull \
        QCTL_BULLMQ_CLUSTER=0 NODE_ENV=test "$@")
}
seed_bullmq() {
    bullmq_env node api.js add default ok 5 >/dev/null
    bullmq_env node api.js add mail ok 3 >/dev/null
    bullmq_env node api.js add default ok 2 '{"delay":3600000}' >/dev/null
    bullmq_env node api.js add work fail 2 '{"attempts":1}' >/dev/null
    # The worker fails the two `work` jobs (BullMQ moves them to failed), then idles.
    (cd "$FIX/bullmq" && exec env -u NODE_OPTIONS -u REDIS_URL QCTL_BULLMQ_URL="$URL" QCTL_BULLMQ_PREFIX=bull \
        QCTL_BULLMQ_CLUSTER=0 NODE_ENV=test node worker.js --queue work) >"$WORK/bullmq-worker.log" 2>&1 &
    WORKER_PIDS+=($!)
    wait_until 30 "BullMQ failing the two work jobs" \
        bash -c "[[ \$(redis-cli -p $REDIS_PORT ZCARD bull:work:failed) == 2 ]] && grep -q 'qctl-bullmq-worker ready' '$WORK/bullmq-worker.log'"
}

RQ_VENV=${QCTL_RQ_VENV:-$FIX/rq/.venv}
rq_installed() { [[ -x $RQ_VENV/bin/rq ]] && "$RQ_VENV/bin/python" -c 'import rq' 2>/dev/null; }
rq_env() { env QCTL_RQ_URL="$URL/0" PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 "$@"; }
seed_rq() {
    local py=$RQ_VENV/bin/python api=$FIX/rq/api.py
    rq_env "$py" "$api" enqueue default ok 5 >/dev/null
    rq_env "$py" "$api" enqueue mail ok 3 >/dev/null
    rq_env "$py" "$api" enqueue_in default 3600 ok 2 >/dev/null
    rq_env "$py" "$api" enqueue work fail 2 >/dev/null
    # A burst worker fails the two `work` jobs (into rq:failed:work) and exits.
    rq_env "$RQ_VENV/bin/rq" worker -u "$URL/0" -P "$FIX/rq" -c jobs --burst work >"$WORK/rq-burst.log" 2>&1 ||
        die "rq worker --burst failed; see $WORK/rq-burst.log (KEEP_WORK=1 keeps it)"
    # One idle worker, for `get workers`.
    (exec env QCTL_RQ_URL="$URL/0" PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
        "$RQ_VENV/bin/rq" worker -u "$URL/0" -P "$FIX/rq" -c jobs -n idle-1 idle) >"$WORK/rq-worker.log" 2>&1 &
    WORKER_PIDS+=($!)
    wait_until 30 "the RQ worker registering" \
        bash -c "[[ \$(redis-cli -p $REDIS_PORT SISMEMBER rq:workers rq:worker:idle-1) == 1 ]]"
}

MEASURED=()
SKIPPED=()
for system in $SYSTEMS; do
    case $system in
        go-redis-work-queue) seed_gowork ;;
        go-redis-work-queue+auth) seed_gowork_auth ;;
        sidekiq) if sidekiq_installed; then seed_sidekiq; else SKIPPED+=(sidekiq); continue; fi ;;
        bullmq) if bullmq_installed; then seed_bullmq; else SKIPPED+=(bullmq); continue; fi ;;
        rq) if rq_installed; then seed_rq; else SKIPPED+=(rq); continue; fi ;;
        *) die "unknown system $system (go-redis-work-queue, go-redis-work-queue+auth, sidekiq, bullmq, rq)" ;;
    esac
    MEASURED+=("$system")
    log "seeded $system"
done
(( ${#SKIPPED[@]} == 0 )) || log "not installed, skipped: ${SKIPPED[*]}"
(( ${#MEASURED[@]} > 0 )) || die "no system to measure"

# ---- 3. the delay proxy ----
"$PROXY_BIN" --upstream "127.0.0.1:$REDIS_PORT" --count $(( 2 * ${#MEASURED[@]} )) --delay-ms "$DELAY_MS" \
    --verbose --ports-file "$WORK/ports.txt" --control-file "$WORK/control.txt" \
    --stats-file "$WORK/proxy-exit.json" 2>"$WORK/proxy.log" &
PROXY_PID=$!
wait_until 10 "the delay proxy becoming ready" test -s "$WORK/ports.txt"
CTL_PORT=$(cat "$WORK/control.txt")
ctl() { # stats | take | reset | text
    local fd
    exec {fd}<>"/dev/tcp/127.0.0.1/$CTL_PORT"
    printf '%s\n' "$1" >&"$fd"
    cat <&"$fd"
    exec {fd}>&-
}
"$PYTHON" "$HERE/report.py" contexts "$WORK/contexts.yaml" "$WORK/ports.txt" "${MEASURED[@]}"
log "delay proxy (pid $PROXY_PID): $(wc -l <"$WORK/ports.txt") ports, +$DELAY_MS ms per client->server chunk"

# ---- 4. check, count, time ----
short_of() { case $1 in go-redis-work-queue) echo gowork ;; go-redis-work-queue+auth) echo goauth ;; *) echo "$1" ;; esac; }
argv_of() { # short command -> the qctl arguments
    case $2 in
        compare) echo "compare $1-a $1-b" ;;
        *) echo "--context $1-a $2" ;;
    esac
}
Q=$(printf '%q' "$QCTL_BIN")
C=$(printf '%q' "$WORK/contexts.yaml")
mkdir -p "$WORK/counts"
for system in "${MEASURED[@]}"; do
    short=$(short_of "$system")
    HF_ARGS=()
    LOOP_ARGS=()
    for command in "get clusters" "get queues" "get workers" "health" "compare"; do
        # shellcheck disable=SC2207
        args=($(argv_of "$short" "$command"))
        out=$WORK/out-$short-${command// /-}.json
        set +e
        "$QCTL_BIN" --config "$WORK/contexts.yaml" "${args[@]}" -o json >"$out" 2>"$out.err"
        code=$?
        set -e
        (( code == 0 )) || { cat "$out.err" >&2; die "qctl ${args[*]} ($system) exited $code"; }
        "$PYTHON" "$HERE/report.py" check "$system" "$command" "$out"
        for i in $(seq "$COUNT_RUNS"); do
            ctl reset >/dev/null
            "$QCTL_BIN" --config "$WORK/contexts.yaml" "${args[@]}" -o json >/dev/null 2>&1 ||
                die "qctl ${args[*]} ($system) failed on a counted run"
            ctl take >"$WORK/counts/$short-${command// /-}.$i.json"
        done
        HF_ARGS+=(-n "$command" "$Q --config $C ${args[*]} -o json")
        LOOP_ARGS+=("$command" "$Q --config $C ${args[*]} -o json")
    done
    log "$system: outputs match the seed; timing the five commands (median of $RUNS)"
    if [[ -n $HYPERFINE ]]; then
        hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$WORK/time-$short.json" "${HF_ARGS[@]}" \
            >"$WORK/hyperfine-$short.txt" 2>&1 || { cat "$WORK/hyperfine-$short.txt" >&2; die "hyperfine failed"; }
    else
        "$PYTHON" "$HERE/report.py" time "$WORK/time-$short.json" "$RUNS" "${LOOP_ARGS[@]}"
    fi
done

# ---- 5. report ----
rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null) ]]; then
    rev="$rev + uncommitted changes"
fi
[[ -n $QCTL_BIN_GIVEN ]] && rev="$rev (QCTL_BIN=$QCTL_BIN)"
"$PYTHON" - "$WORK/meta.json" "${MEASURED[@]}" -- "${SKIPPED[@]}" <<EOF
import json, sys
args = sys.argv[2:]
cut = args.index("--")
json.dump({
    "systems": args[:cut],
    "skipped": args[cut + 1:],
    "delay_ms": float("$DELAY_MS"),
    "runs": int("$RUNS"),
    "count_runs": int("$COUNT_RUNS"),
    "timer": "hyperfine -N" if "$HYPERFINE" else "a timing loop",
    "date": "$(date -u '+%Y-%m-%d %H:%M UTC')",
    "qctl_rev": "$rev",
}, open(sys.argv[1], "w"), indent=1)
EOF
MD_ARGS=(--markdown "$ROOT/BENCHMARKS.md")
[[ ${NO_MARKDOWN:-0} == 1 ]] && MD_ARGS=()
set +e
"$PYTHON" "$HERE/report.py" report "$WORK" $VERBOSE "${MD_ARGS[@]}"
status=$?
set -e
ctl stats | "$PYTHON" "$HERE/report.py" proxy-cpu >&2
exit "$status"
