#!/usr/bin/env bash
# Runs qctl against throwaway local Redis servers it starts itself:
# a busy "prod", a small "staging", and a context whose server is down.
# Everything (servers, files) is removed on exit, Ctrl-C included.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
    echo "redis-server not found on PATH: install it with \`sudo apt-get install -y redis-server\`" >&2
    exit 1
fi
if ! command -v python3 >/dev/null 2>&1; then
    echo "python3 not found on PATH (it picks free ports): sudo apt-get install -y python3" >&2
    exit 1
fi
cargo build --release --quiet
# cargo puts the binary under CARGO_TARGET_DIR when it is set.
QCTL="${QCTL_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/qctl}"

dir=$(mktemp -d -t qctl-try-XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_server() { # port, extra args...
    local port=$1; shift
    mkdir -p "$dir/$port"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$dir/$port" --daemonize no "$@" >"$dir/$port/log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && return 0; sleep 0.05; done
    echo "redis-server on port $port did not start:" >&2; cat "$dir/$port/log" >&2; exit 1
}

job() { # id priority retries
    printf '{"id":"%s","filepath":"/data/uploads/%s.csv","filesize":%d,"priority":"%s","retries":%d,"creation_time":"%s","trace_id":"","span_id":""}' \
        "$1" "$1" $((RANDOM * 10)) "$2" "$3" "$(date -u -d "-$((RANDOM % 3600)) seconds" +%Y-%m-%dT%H:%M:%S.000Z)"
}

seed() { # port high low dlq completed live_workers dead_workers
    local p=$1 i w
    { for i in $(seq "$2"); do echo "LPUSH jobqueue:high_priority '$(job "h$p-$i" high 0)'"; done
      for i in $(seq "$3"); do echo "LPUSH jobqueue:low_priority '$(job "l$p-$i" low 0)'"; done
      for i in $(seq "$4"); do echo "LPUSH jobqueue:dead_letter '$(job "d$p-$i" high 3)'"; done
      for i in $(seq "$5"); do echo "LPUSH jobqueue:completed '$(job "c$p-$i" low 0)'"; done
      for w in $(seq "$6"); do
          echo "LPUSH jobqueue:worker:worker-$w:processing '$(job "p$p-$w" high 0)'"
          echo "SET jobqueue:processing:worker:worker-$w '$(job "p$p-$w" high 0)' PX 600000"
      done
      for w in $(seq "$7"); do
          echo "LPUSH jobqueue:worker:crashed-$w:processing '$(job "o$p-$w-1" high 0)' '$(job "o$p-$w-2" low 1)'"
      done
    } | redis-cli -p "$p" >/dev/null
}

prod=$(free_port); start_server "$prod" --maxmemory 256mb --maxmemory-policy noeviction
staging=$(free_port); start_server "$staging" --maxmemory 64mb --maxmemory-policy allkeys-lru
down=$(free_port)   # nothing listens here
seed "$prod" 120 40 12 500 8 1
seed "$staging" 5 0 0 20 2 0

cat >"$dir/config.yaml" <<YAML
apiVersion: qctl/v1
current-context: staging
audit-log: $dir/audit.log
clusters:
  - { name: prod-us-east, server: "redis://127.0.0.1:$prod/0" }
  - { name: prod-eu, server: "redis://127.0.0.1:$down/0" }
  - { name: staging, server: "redis://127.0.0.1:$staging/0" }
contexts:
  - { name: prod-us-east, cluster: prod-us-east, labels: { env: prod, region: us-east-1 }, color: red, protected: true }
  - { name: prod-eu, cluster: prod-eu, labels: { env: prod, region: eu-west-1 }, color: yellow, protected: true }
  - { name: staging, cluster: staging, labels: { env: staging } }
YAML
export QCTL_CONFIG="$dir/config.yaml"

run() { echo; echo "\$ qctl $*"; "$QCTL" "$@" || echo "(exit code $?)"; }

# A little traffic on prod, like a worker fleet: ~20 jobs/s completed out of
# the high queue, ~2/s dead-lettered, ~10/s produced (redis-cli -r/-i
# repeats a command at an interval from one process).
fleet() { # interval command...
    local i=$1; shift
    redis-cli -p "$prod" -r -1 -i "$i" "$@" >/dev/null 2>&1 &
    pids+=($!)
}
fleet 0.05 RPOPLPUSH jobqueue:high_priority jobqueue:completed
fleet 0.5 LPUSH jobqueue:dead_letter "$(job fleet-dead high 3)"
fleet 0.1 LPUSH jobqueue:high_priority "$(job fleet-new high 0)"
run config get-contexts
run get clusters -A --connect-timeout 500ms
run get clusters -l env=prod -o wide --connect-timeout 500ms
run health -A --connect-timeout 500ms
run get queues --context prod-us-east,staging
run get workers --context prod-us-east --state orphaned
run get jobs high -n 3 --context prod-us-east
run compare staging prod-us-east --sample 2s --exit-code
# The write gate: a dry run, a refusal off a terminal, then a confirmed
# purge (a backup is kept 24h) and its restore. prod-* are protected: -A
# skips them, naming one literally makes it a target.
run purge-dlq -A --dry-run --connect-timeout 500ms
run purge-dlq --context prod-us-east
run purge-dlq --context prod-us-east --yes-i-typed=prod-us-east
run get backups --context prod-us-east
run restore-dlq --context prod-us-east --yes-i-typed=prod-us-east
run requeue --context prod-us-east --to high --limit 5 --dry-run
