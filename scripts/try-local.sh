#!/usr/bin/env bash
# Runs every qctl command the README shows, against throwaway local servers
# it starts itself, and prints each command (`$ qctl ...`) before its output,
# so that the output can be pasted into the README.
#
#   bash scripts/try-local.sh [--transcript FILE] [SECTION...]
#   bash scripts/try-local.sh --list
#
# Sections, in the README's order (default: all of them):
#   tour              `qctl demo` on a pseudo-terminal, then the tour's second
#                     shell and the CI recipes against the demo's servers
#   config            the contexts file: a broken one, the editing verbs
#   gowork            go-redis-work-queue: reads, --watch, compare, the write
#                     gate, purge/restore, requeue, replicate (onto a
#                     3-primary Redis Cluster)
#   sidekiq           a real Sidekiq process (Debian's ruby-sidekiq)
#   bullmq-rq         real BullMQ workers and a real `rq worker`
#   replicate-hashed  replicate between BullMQ and between RQ deployments
#
# QCTL_BIN=PATH runs that binary and builds nothing; without it the script
# builds target/release/qctl (under CARGO_TARGET_DIR when set).
# --transcript FILE also writes a markdown transcript: one heading per
# section, each command and its output in console blocks, to copy into the
# README.
#
# Needs redis-server and redis-cli, python3 (free ports, the pseudo-terminal)
# and jq (the README's recipes); the sidekiq, bullmq-rq and replicate-hashed
# sections use the test fixtures under tests/it/fixtures (bash
# scripts/test-deps.sh installs them) and are skipped, saying so, without
# them. Everything listens on 127.0.0.1 only, lives in one temporary
# directory, and is stopped and removed on every way out (Ctrl-C included).
#
# Adding a README example is one line in its section: `run 'qctl ...'`
# (a pipeline or a redirect is fine: the line runs as a shell would run it).
set -euo pipefail
here=$PWD # QCTL_BIN and --transcript may be relative to it
cd "$(dirname "$0")/.."
repo=$PWD

all_sections=(tour config gowork sidekiq bullmq-rq replicate-hashed)
transcript=""
sections=()
while [ $# -gt 0 ]; do
    case $1 in
        --transcript) transcript=${2:?--transcript needs a FILE}; shift 2 ;;
        --transcript=*) transcript=${1#--transcript=}; shift ;;
        --list) printf '%s\n' "${all_sections[@]}"; exit 0 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "unknown option $1 (try --help)" >&2; exit 2 ;;
        *)
            if [[ " ${all_sections[*]} " != *" $1 "* ]]; then
                echo "unknown section $1: one of ${all_sections[*]}" >&2
                exit 2
            fi
            sections+=("$1"); shift ;;
    esac
done
[ ${#sections[@]} -gt 0 ] || sections=("${all_sections[@]}")

for bin in redis-server redis-cli python3 jq; do
    if ! command -v "$bin" >/dev/null 2>&1; then
        case $bin in
            redis-*) pkg=redis-server ;;
            *) pkg=$bin ;;
        esac
        echo "$bin not found on PATH: install it with \`sudo apt-get install -y $pkg\`" >&2
        exit 1
    fi
done
if [ -n "${QCTL_BIN:-}" ]; then
    QCTL=$QCTL_BIN
    case $QCTL in /*) ;; *) QCTL=$here/$QCTL ;; esac
    if [ ! -x "$QCTL" ]; then
        echo "QCTL_BIN=$QCTL is not an executable file" >&2
        exit 1
    fi
else
    cargo build --release --quiet
    # cargo puts the binary under CARGO_TARGET_DIR when it is set.
    QCTL="${CARGO_TARGET_DIR:-$repo/target}/release/qctl"
fi
if [ -n "$transcript" ]; then
    case $transcript in /*) ;; *) transcript=$here/$transcript ;; esac
    : >"$transcript"
fi

dir=$(mktemp -d -t qctl-try-XXXXXX)
pids=()     # every process started, stopped on exit
sec_pids=() # those of the current section, stopped at its end
cleanup() {
    trap - EXIT INT TERM HUP
    stop_pids "${pids[@]}"
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# TERM, then KILL whatever is still there after 10 s.
stop_pids() {
    local p live=() i
    for p in "$@"; do kill -TERM "$p" 2>/dev/null && live+=("$p"); done
    [ ${#live[@]} -gt 0 ] || return 0
    for i in $(seq 100); do
        for p in "${live[@]}"; do kill -0 "$p" 2>/dev/null && break; p=""; done
        [ -z "$p" ] && break
        sleep 0.1
    done
    for p in "${live[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    for p in "${live[@]}"; do wait "$p" 2>/dev/null || true; done
}
# Records a background process ($!) for the section and for the exit.
started() { pids+=("$1"); sec_pids+=("$1"); }

# Qctl's own files stay in the temporary directory: the audit log (set in
# every contexts file), the previous-context state file, no colours.
export XDG_STATE_HOME="$dir/state" XDG_CONFIG_HOME="$dir/config" NO_COLOR=1 TZ=UTC
unset QCTL_CONTEXT QCTL_CONFIG

# ---------------------------------------------------------------- output

in_block=0
md() { [ -z "$transcript" ] || printf '%s\n' "$@" >>"$transcript"; }
open_block() { [ $in_block = 1 ] || { md '```console'; in_block=1; }; }
close_block() { [ $in_block = 0 ] || { md '```'; in_block=0; }; }
# Prints text (stdout and transcript, inside a console block).
say() { open_block; printf '%s\n' "$@"; md "$@"; }
# A comment between commands: `# text` on stdout, a paragraph in the transcript.
note() { close_block; echo; echo "# $*"; md "" "$*" ""; }

# run [--pty ANSWER] [--for DUR] 'qctl ...': prints `$ qctl ...`, runs the
# line as a shell would (in the temporary directory, with `qctl` the binary
# under test), then its stdout and stderr; a non-zero exit status is shown as
# the README shows it, `$ echo $?` and the code. --pty runs it on a
# pseudo-terminal and types ANSWER at the confirmation prompt; --for DUR
# stops qctl with Ctrl-C (SIGINT) after DUR (for --watch; that exit status
# is not shown).
run() {
    local answer="" dur="" rc=0 out="$dir/out"
    while :; do
        case $1 in
            --pty) answer=$2; shift 2 ;;
            --for) dur=$2; shift 2 ;;
            *) break ;;
        esac
    done
    local line=$1
    say "\$ $line"
    if [ -n "$answer" ]; then
        (cd "$dir" && QCTL="$QCTL" python3 "$dir/on_pty.py" "$answer" bash -c \
            'qctl() { "$QCTL" "$@"; }; eval "$1"' bash "$line") >"$out" 2>&1 || rc=$?
    else
        (
            cd "$dir"
            set +e +o pipefail
            if [ -n "$dur" ]; then
                qctl() { timeout -s INT "$dur" "$QCTL" "$@"; }
            else
                qctl() { "$QCTL" "$@"; }
            fi
            eval "$line"
        ) >"$out" 2>&1 </dev/null || rc=$?
    fi
    open_block
    cat "$out"
    [ -z "$transcript" ] || [ ! -s "$out" ] || { cat "$out"; [ -z "$(tail -c1 "$out")" ] || echo; } >>"$transcript"
    # qctl exits 130 when Ctrl-C stops it; having handled the SIGINT, it
    # leaves bash alone, so the script stops here (timeout's own SIGINT
    # ends a --for run with 124).
    if [ $rc = 130 ]; then exit 130; fi
    if [ -n "$dur" ] && [ $rc = 124 ]; then rc=0; fi
    if [ $rc != 0 ]; then say "\$ echo \$?" "$rc"; fi
}

# A pseudo-terminal for the typed confirmation and for `qctl demo`: runs
# argv on one, copies what it writes (as lines, carriage returns and
# terminal escapes resolved), types ANSWER once a line asks to confirm, and
# passes SIGTERM/SIGINT on as SIGINT (Ctrl-C).
cat >"$dir/on_pty.py" <<'PY'
import os, pty, re, select, signal, sys, time
answer, argv = sys.argv[1], sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
def ctrl_c(*_):
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        pass
signal.signal(signal.SIGTERM, ctrl_c)
signal.signal(signal.SIGINT, ctrl_c)
esc = re.compile(rb'\x1b\[[0-9;?]*([A-Za-z])')
line, seen, sent, status, asked = b'', b'', not answer, None, None
out = sys.stdout.buffer
cr = False  # a carriage return not followed by a newline (yet)
def feed(data):
    global line, cr
    i = 0
    while i < len(data):
        m = esc.match(data, i)
        if m:
            if m.group(1) == b'K':
                line = b''
            i = m.end()
            continue
        c = data[i:i + 1]
        i += 1
        if cr and c != b'\n':
            line = b''  # the cursor went back: what follows overwrites
        cr = c == b'\r'
        if c == b'\n':
            out.write(line + b'\n')
            out.flush()
            line = b''
        elif not cr:
            line += c
while True:
    try:
        ready, _, _ = select.select([fd], [], [], 0.1)
    except InterruptedError:
        continue
    if ready:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b''
        if not data:
            break
        feed(data)
        if not sent:
            seen += data
            if b'to confirm' in seen:
                asked = time.monotonic()  # type once the prompt is all there
    elif asked is not None and not sent and time.monotonic() - asked > 0.3:
        os.write(fd, answer.encode() + b'\n')
        sent = True
    elif status is None:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
            break
if line:
    out.write(line + b'\n')
if status is None:
    _, status = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(status)
sys.exit(128 - code if code < 0 else code)
PY

# ---------------------------------------------------------------- servers

rcli() { local p=$1; shift; redis-cli -h 127.0.0.1 -p "$p" "$@"; }

# A free loopback port; with `cluster`, one whose bus port (+10000) is free too.
free_port() {
    python3 - "${1:-}" <<'PY'
import socket, sys
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        return s.getsockname()[1]
    except OSError:
        return None
    finally:
        s.close()
while True:
    p = free(0)
    if sys.argv[1] != "cluster" or (p < 55535 and free(p + 10000)):
        print(p)
        break
PY
}

# start_server PORT [redis-server args...]: on 127.0.0.1, no persistence.
start_server() {
    local port=$1; shift
    mkdir -p "$dir/redis/$port"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$dir/redis/$port" --daemonize no "$@" >"$dir/redis/$port/log" 2>&1 &
    started $!
    local i
    for i in $(seq 100); do
        rcli "$port" ping >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "redis-server on port $port did not start:" >&2
    cat "$dir/redis/$port/log" >&2
    exit 1
}

# A 3-primary Redis Cluster [redis-server args...]; its ports in cluster_ports.
cluster_ports=()
start_cluster() {
    local p i
    cluster_ports=()
    for i in 1 2 3; do
        p=$(free_port cluster)
        start_server "$p" --cluster-enabled yes --cluster-config-file nodes.conf \
            --cluster-node-timeout 5000 "$@"
        cluster_ports+=("$p")
    done
    redis-cli --cluster create "${cluster_ports[@]/#/127.0.0.1:}" --cluster-replicas 0 \
        --cluster-yes >"$dir/cluster-create.log" 2>&1 ||
        { cat "$dir/cluster-create.log" >&2; exit 1; }
    for p in "${cluster_ports[@]}"; do
        wait_for "cluster state ok on $p" 20 sh -c \
            "redis-cli -h 127.0.0.1 -p $p cluster info | grep -q 'cluster_state:ok'"
    done
}

# wait_for WHAT SECONDS command...: polls every 0.1 s.
wait_for() {
    local what=$1 secs=$2 i; shift 2
    for i in $(seq $((secs * 10))); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "timed out after ${secs}s waiting for $what" >&2
    exit 1
}
# True when `rcli PORT CMD...` prints exactly WANT.
equals() { local want=$1 p=$2; shift 2; [ "$(rcli "$p" "$@")" = "$want" ]; }

# ---------------------------------------------------------------- sections

section() { # name, the README section it reproduces
    close_block
    echo
    echo "=== $1: $2"
    md "" "## $2 (\`$1\`)" ""
    sec_pids=()
}
end_section() {
    close_block
    stop_pids "${sec_pids[@]}"
    sec_pids=()
}
skip_section() { # name, why
    close_block
    echo
    echo "=== $1: skipped: $2"
    md "" "## \`$1\`: skipped: $2" ""
}

# go-redis-work-queue jobs, as its producers write them.
now=$(date +%s)
job() { # id priority retries [dir under /data]
    local ts
    printf -v ts '%(%Y-%m-%dT%H:%M:%S)T' $((now - 60 - RANDOM % 3600))
    printf '{"id":"%s","filepath":"/data/%s/%s.csv","filesize":%d,"priority":"%s","retries":%d,"creation_time":"%s.000Z","trace_id":"","span_id":""}' \
        "$1" "${4:-uploads}" "$1" $((RANDOM * 10)) "$2" "$3" "$ts"
}

# seed TAG HIGH LOW DEAD COMPLETED LIVE_WORKERS REDIS-CLI-ARGS...: every
# third dead job is an invoice.
seed() {
    local t=$1 high=$2 low=$3 dead=$4 completed=$5 live=$6 i w d; shift 6
    {
        for i in $(seq "$high"); do echo "LPUSH jobqueue:high_priority '$(job "$t-h$i" high 0)'"; done
        for i in $(seq "$low"); do echo "LPUSH jobqueue:low_priority '$(job "$t-l$i" low 0)'"; done
        for i in $(seq "$dead"); do
            if [ $((i % 3)) = 0 ]; then d=invoices; else d=uploads; fi
            echo "LPUSH jobqueue:dead_letter '$(job "$t-d$i" high 3 "$d")'"
        done
        for i in $(seq "$completed"); do echo "LPUSH jobqueue:completed '$(job "$t-c$i" low 0)'"; done
        for w in $(seq "$live"); do
            echo "LPUSH jobqueue:worker:$t-worker-$w:processing '$(job "$t-p$w" high 0)'"
            echo "SET jobqueue:processing:worker:$t-worker-$w '$(job "$t-p$w" high 0)' PX 3600000"
        done
    } | redis-cli -h 127.0.0.1 "$@" >/dev/null
}
# crashed PORT WORKER JOB...: a dead worker's processing list, no heartbeat.
crashed() {
    local p=$1 w=$2; shift 2
    rcli "$p" LPUSH "jobqueue:worker:$w:processing" "$@" >/dev/null
}

sec_tour() {
    section tour "A five-minute tour"
    local log="$dir/demo.log" demo cfg
    # qctl demo keeps its servers up only on a terminal: give it one.
    python3 "$dir/on_pty.py" "" "$QCTL" demo >"$log" 2>&1 &
    demo=$!
    started $demo
    say "\$ qctl demo"
    local i
    for i in $(seq 1200); do
        grep -q '^Ctrl-C stops' "$log" && break
        if ! kill -0 $demo 2>/dev/null; then
            cat "$log" >&2
            echo "qctl demo exited before its servers were up" >&2
            exit 1
        fi
        sleep 0.1
    done
    grep -q '^Ctrl-C stops' "$log" || { cat "$log" >&2; echo "qctl demo never got to waiting" >&2; exit 1; }
    say "$(cat "$log")"
    cfg=$(sed -n 's/^ *export QCTL_CONFIG=//p' "$log")
    export QCTL_CONFIG=$cfg
    note "The tour's second shell, while the demo runs."
    say "\$ export QCTL_CONFIG=$cfg"
    run 'qctl config get-contexts'
    run 'qctl get queues -l env=prod'
    run 'qctl get workers -A --state orphaned'
    run 'qctl get jobs dead-letter --context prod-eu --limit 3'
    run 'qctl health -A'
    note "The same answers as JSON, for scripts."
    run 'qctl get clusters -A -o json | jq -r '\''.items[] | select(.dead_letter > 100) | "\(.context): \(.dead_letter) dead-letter jobs"'\'''
    run 'qctl health -A -o json | jq -c '\''.items[] | {context, status, failed: [.checks[] | select(.ok == false) | .name]}'\'''
    run 'qctl get workers -A --state orphaned -o name'
    note "A write, confirmed on a terminal, its backup and its restore; a protected context through a selector."
    run --pty staging 'qctl purge-dlq --context staging'
    run 'qctl get backups -A'
    run 'qctl restore-dlq --context staging --yes-i-typed=staging'
    run 'qctl purge-dlq -l env=prod --yes-i-typed=prod-us,prod-eu'
    run 'qctl replicate --from prod-us --to staging --what config --dry-run'
    run 'qctl purge-dlq --context prod-us,prod-eu --strategy canary --pause 30s --dry-run'
    note "The tour's suggestions."
    run --for 3s 'qctl get clusters -A --watch'
    run 'qctl requeue --context prod-eu --to high --dry-run'
    run 'qctl bench --context staging --count 200 --rate 100 --dry-run'
    note "Recipes for CI and cron."
    run 'qctl get clusters -A -o json | jq -r '\''.items[] | select(.dead_letter > 100) | "\(.context): \(.dead_letter) dead-letter jobs"'\'''
    run 'qctl get clusters -A -o json | jq -r '\''.errors[] | "\(.context): \(.kind): \(.message)"'\'''
    run 'qctl health -l env=prod -q'
    run 'qctl health -l env=prod --max-dead-letter 0 --max-latency 50ms -q'
    run 'qctl compare prod-us staging --exit-code -q > /dev/null'
    run 'qctl health -A -o json | jq -c '\''.items[] | {context, failed: [.checks[] | select(.ok | not) | .name]}'\'''
    run 'qctl get workers -A --state orphaned -o name'
    run 'qctl requeue --context staging --to low --match '\''*"/data/invoices/*'\'' --yes-i-typed=staging -q -o json | jq -c '\''.results[] | {context, status, moved}'\'''
    run --for 3s 'qctl get queues -A --watch --interval 10s -o json | jq -c '\''{time, context, depth: ([.items[] | select(.role == "work") | .length] | add)}'\'''
    run 'qctl purge-dlq --context staging --yes-i-typed=staging -q'
    unset QCTL_CONFIG
    end_section # Ctrl-C to the demo: it stops and removes its servers.
}

sec_config() {
    section config "The contexts file"
    cat >"$dir/config.yaml" <<YAML
apiVersion: qctl/v1
current-context: staging
audit-log: $dir/audit.log
clusters:
  - { name: staging, server: "redis://10.0.0.5:6379/0" }
  - { name: prod-us, server: "rediss://redis.prod-us.example.com:6380/0" }
  - { name: prod-eu, mode: cluster, nodes: ["redis://10.1.0.1:6379", "redis://10.1.0.2:6379"] }
users:
  - { name: ops, username: ops, password-env: QCTL_PROD_PASSWORD }
contexts:
  - { name: staging, cluster: staging, labels: { env: staging } }
  - { name: prod-us, cluster: prod-us, user: ops, labels: { env: prod, region: us-east-1 }, color: red, protected: true }
  - { name: prod-eu, cluster: prod-eu, user: ops, labels: { env: prod, region: eu-west-1 }, color: yellow, protected: true }
YAML
    cat >"$dir/broken.yaml" <<YAML
apiVersion: qctl/v1
clusters:
  - { name: staging, server: "redis://127.0.0.1:6379/0" }
contexts:
  - name: staging
    protcted: true
    cluster: staging
YAML
    export QCTL_CONFIG="$dir/config.yaml"
    note "The README's small contexts file (no server is contacted), and a misspelt one."
    run 'qctl version'
    run 'qctl --config broken.yaml config get-contexts'
    run 'qctl config get-contexts'
    run 'qctl config current-context'
    run 'qctl config use-context prod-eu'
    run 'qctl use-context -'
    run 'qctl config set-context canary --cluster staging --label env=canary --label track=canary'
    run 'qctl config view --minify'
    run 'qctl config delete-context canary'
    run 'qctl config validate'
    unset QCTL_CONFIG
    end_section
}

sec_gowork() {
    section gowork "go-redis-work-queue: reading, compare, writing"
    local prod staging eu down i
    prod=$(free_port)
    start_server "$prod" --maxmemory 256mb --maxmemory-policy noeviction
    staging=$(free_port)
    start_server "$staging" --maxmemory 64mb --maxmemory-policy allkeys-lru --hz 20 \
        --notify-keyspace-events xE
    start_cluster --maxmemory 256mb
    eu=("${cluster_ports[@]}")
    down=$(free_port) # nothing listens here
    seed us 120 40 127 500 8 -p "$prod"
    crashed "$prod" crashed-1 "$(job us-o1 high 0)" "$(job us-o2 low 1)"
    seed eu 100 30 48 400 6 -c -p "${eu[0]}"
    seed stg 300 100 37 20 2 -p "$staging"
    crashed "$staging" stg-crashed-1 "$(job stg-o1 high 0)" "$(job stg-o2 low 0)"
    crashed "$staging" stg-crashed-2 "$(job stg-o3 urgent 0)"
    # prod-us-east already holds 100 of staging's high jobs (an earlier copy).
    for i in $(seq 100); do echo "LPUSH jobqueue:high_priority '$(job "stg-h$i" high 0)'"; done |
        rcli "$prod" >/dev/null

    cat >"$dir/gowork.yaml" <<YAML
apiVersion: qctl/v1
current-context: staging
audit-log: $dir/audit.log
clusters:
  - { name: prod-us-east, server: "redis://127.0.0.1:$prod/0" }
  - { name: prod-eu, mode: cluster, nodes: ["redis://127.0.0.1:${eu[0]}", "redis://127.0.0.1:${eu[1]}"] }
  - { name: staging, server: "redis://127.0.0.1:$staging/0" }
  - { name: prod-west, server: "redis://127.0.0.1:$down/0" }
contexts:
  - { name: prod-us-east, cluster: prod-us-east, labels: { env: prod, region: us-east-1 }, color: red }
  - { name: prod-eu, cluster: prod-eu, labels: { env: prod, region: eu-west-1 }, color: yellow, protected: true }
  - { name: staging, cluster: staging, labels: { env: staging }, allowed-actions: [requeue] }
  - { name: prod-west, cluster: prod-west, labels: { env: prod, region: us-west-2 }, enabled: false }
YAML
    export QCTL_CONFIG="$dir/gowork.yaml"
    note "prod-us-east and staging are standalone servers, prod-eu a 3-primary cluster (protected), prod-west a server that is down (enabled: false, so only reached by name); staging allows only requeue."
    run 'qctl config get-contexts'
    run 'qctl get clusters --context prod-us-east,prod-eu,prod-west,staging --connect-timeout 500ms'
    run 'qctl get queues --context prod-us-east,staging'
    run 'qctl get workers --context prod-us-east --state orphaned'
    run 'qctl get jobs high -n 3 --context prod-us-east'
    note "Names as arguments, --sort-by, custom columns and the TOTAL row."
    run 'qctl get clusters --context prod-us-east,prod-eu,staging --sort-by -dlq'
    run 'qctl get queues --context prod-us-east,staging '\''h*'\'' dlq --sort-by -length'
    run 'qctl get queues --context prod-us-east,staging hgih'
    run 'qctl get clusters --context prod-us-east,prod-eu,staging -o custom-columns=CONTEXT:.context,ENV:.labels.env,QUEUED:.queued,DLQ:.dead_letter'
    note "describe and get job: a dead job, one copied to two contexts, one in a dead worker's hands."
    run 'qctl get job us-d3 stg-h1 us-o1 --context prod-us-east,prod-eu,staging -o wide'
    run 'qctl get job nope'
    run 'qctl describe job us-d3 --context prod-us-east'
    run 'qctl describe worker crashed-1 --context prod-us-east'
    run 'qctl describe queue dead-letter --context prod-us-east'
    run 'qctl describe cluster prod-eu'
    run --for 3s 'qctl get queues -A --watch -o json | jq -c '\''{context, time, high: .items[0].length}'\'''

    note "A little traffic on prod-us-east, like a worker fleet: ~20 jobs/s completed out of the high queue, ~2/s dead-lettered, ~10/s produced."
    local fleet=() r=(redis-cli -h 127.0.0.1 -p "$prod" -r -1 -i)
    "${r[@]}" 0.05 RPOPLPUSH jobqueue:high_priority jobqueue:completed >/dev/null 2>&1 &
    fleet+=($!)
    "${r[@]}" 0.5 LPUSH jobqueue:dead_letter "$(job us-fleet-dead high 3)" >/dev/null 2>&1 &
    fleet+=($!)
    "${r[@]}" 0.1 LPUSH jobqueue:high_priority "$(job us-fleet-new high 0)" >/dev/null 2>&1 &
    fleet+=($!)
    for i in "${fleet[@]}"; do started "$i"; done
    run 'qctl compare staging prod-us-east --sample 2s --exit-code'
    stop_pids "${fleet[@]}"

    note "The write gate: -A off a terminal (prod-eu is protected, staging allows only requeue), then on a terminal with prod-eu named literally, and the restore."
    run 'qctl purge-dlq -A'
    run --pty 'prod-eu, prod-us-east' 'qctl purge-dlq --context prod-us-east,prod-eu'
    run 'qctl get backups --context prod-us-east,prod-eu'
    run 'qctl restore-dlq --context prod-us-east,prod-eu --yes-i-typed=prod-us-east,prod-eu'
    note "requeue: the invoices among the dead jobs; a dead worker's jobs."
    run 'qctl requeue --context prod-us-east,prod-eu --to high --match '\''*"filepath":"/data/invoices/*'\'' --reset-retries --dry-run'
    run 'qctl requeue --orphaned --context staging --dry-run'
    note "replicate: staging's queues, dead-letter queue and settings onto both prod contexts, twice; then a move's plan."
    run 'qctl replicate --from staging --to prod-us-east,prod-eu --what queues,dead-letter,config --dry-run'
    run 'qctl replicate --from staging --to prod-us-east,prod-eu --what queues,dead-letter,config --yes-i-typed=prod-us-east,prod-eu -q'
    run 'qctl replicate --from staging --to prod-us-east,prod-eu --what queues,dead-letter --yes-i-typed=prod-us-east,prod-eu -q'
    run 'qctl replicate --from prod-us-east --to prod-eu --move --dry-run'
    run 'qctl bench --context prod-us-east --count 1000 --rate 200 --dry-run'
    unset QCTL_CONFIG
    end_section
}

sidekiq_ok() {
    command -v sidekiq >/dev/null 2>&1 &&
        ruby -e 'require "sidekiq"; require "sidekiq/api"; require "redis-namespace"' >/dev/null 2>&1
}
bullmq_ok() { (cd tests/it/fixtures/bullmq && node -e "require('bullmq'); require('ioredis')") >/dev/null 2>&1; }
rq_venv=${QCTL_RQ_VENV:-$repo/tests/it/fixtures/rq/.venv}
rq_ok() {
    [ -x "$rq_venv/bin/rq" ] &&
        "$rq_venv/bin/python" -c 'import sys, rq; sys.exit(not rq.__version__.startswith("3."))' >/dev/null 2>&1
}
missing() { echo "$1 is not installed (bash scripts/test-deps.sh installs it)"; }

# The test fixtures' own scripts, for one server.
sidekiq_api() { # port args...
    local p=$1; shift
    QCTL_SIDEKIQ_URL="redis://127.0.0.1:$p/0" RACK_ENV=test APP_ENV=test \
        ruby "$repo/tests/it/fixtures/sidekiq/api.rb" "$@" >/dev/null
}
bullmq_env() { # port
    export QCTL_BULLMQ_URL="redis://127.0.0.1:$1" QCTL_BULLMQ_PREFIX=bull QCTL_BULLMQ_CLUSTER=0 NODE_ENV=test
}
bullmq_api() { # port args...
    local p=$1; shift
    (bullmq_env "$p" && node "$repo/tests/it/fixtures/bullmq/api.js" "$@")
}
bullmq_worker() { # port log args...
    local p=$1 log=$2; shift 2
    (bullmq_env "$p" && exec node "$repo/tests/it/fixtures/bullmq/worker.js" "$@") >"$log" 2>&1 &
    started $!
    wait_for "a BullMQ worker" 30 grep -q 'qctl-bullmq-worker ready' "$log"
}
rq_env() { # port
    export QCTL_RQ_URL="redis://127.0.0.1:$1/0" PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
        QCTL_RQ_DIE_WITH_PARENT=1
}
rq_api() { # port args...
    local p=$1; shift
    (rq_env "$p" && "$rq_venv/bin/python" "$repo/tests/it/fixtures/rq/api.py" "$@")
}
rq_worker() { # [--bg] port args...: --bg in the background, else until it exits (--burst)
    local bg=0 p
    if [ "$1" = --bg ]; then bg=1; shift; fi
    p=$1; shift
    if [ $bg = 1 ]; then
        (rq_env "$p" && exec "$rq_venv/bin/rq" worker -u "redis://127.0.0.1:$p/0" \
            -P "$repo/tests/it/fixtures/rq" -c jobs "$@") >>"$dir/rq-$p.log" 2>&1 &
        started $!
    else
        (rq_env "$p" && exec "$rq_venv/bin/rq" worker -u "redis://127.0.0.1:$p/0" \
            -P "$repo/tests/it/fixtures/rq" -c jobs "$@") >>"$dir/rq-$p.log" 2>&1
    fi
}

sec_sidekiq() {
    if ! sidekiq_ok; then skip_section sidekiq "$(missing "Sidekiq (ruby-sidekiq, ruby-redis-namespace)")"; return; fi
    section sidekiq "Queue systems: Sidekiq"
    local shop files
    shop=$(free_port)
    start_server "$shop"
    files=$(free_port)
    start_server "$files"
    mkdir -p "$dir/sidekiq"
    (cd "$dir/sidekiq" && QCTL_SIDEKIQ_URL="redis://127.0.0.1:$shop/0" QCTL_SIDEKIQ_POLL=1 \
        RACK_ENV=test APP_ENV=test exec sidekiq -r "$repo/tests/it/fixtures/sidekiq/jobs.rb" \
        -q default -q mail -c 3 -t 1 -g shop) >"$dir/sidekiq/log" 2>&1 &
    started $!
    wait_for "the Sidekiq process" 30 equals 1 "$shop" SCARD processes
    # Dead and retried jobs, scheduled ones, a slow one in flight and 12
    # waiting in a queue nobody works.
    sidekiq_api "$shop" enqueue FailJob 6 mail
    sidekiq_api "$shop" enqueue RetryFailJob 2 default
    sidekiq_api "$shop" schedule OkJob 4 3600
    sidekiq_api "$shop" enqueue OkJob 12 reports
    sidekiq_api "$shop" enqueue SlowJob 1 default '[120]'
    wait_for "6 dead jobs" 20 equals 6 "$shop" ZCARD dead
    wait_for "2 retries" 20 equals 2 "$shop" ZCARD retry
    local identity
    identity=$(rcli "$shop" SMEMBERS processes)
    wait_for "Sidekiq's heartbeat with the slow job" 20 equals 1 "$shop" HGET "$identity" busy
    rcli "$files" LPUSH jobqueue:high_priority "$(job files-h1 high 0)" >/dev/null

    cat >"$dir/sidekiq.yaml" <<YAML
apiVersion: qctl/v1
current-context: shop-us
audit-log: $dir/audit.log
queue-schemas:
  - { name: shop, kind: sidekiq }
clusters:
  - { name: shop-us, server: "redis://127.0.0.1:$shop" }
  - { name: files-us, server: "redis://127.0.0.1:$files" }
contexts:
  - { name: shop-us, cluster: shop-us, schema: shop, labels: { env: prod } }
  - { name: files-us, cluster: files-us, labels: { env: prod } }
YAML
    export QCTL_CONFIG="$dir/sidekiq.yaml"
    note "A real Sidekiq process working default and mail, beside a go-redis-work-queue deployment with a queued job and no worker."
    run 'qctl get clusters -A -o wide'
    run 'qctl get queues --context shop-us'
    run 'qctl get workers --context shop-us -o wide'
    run 'qctl get jobs dead --context shop-us -n 3'
    local retry_jid
    retry_jid=$(rcli "$shop" ZRANGE retry 0 0 | sed -n 's/.*"jid":"\([0-9a-f]*\)".*/\1/p')
    run "qctl describe job $retry_jid --context shop-us"
    run 'qctl get jobs dead --context shop-us --match '\''*"class":"FailJob"*'\'''
    run 'qctl requeue --context shop-us --from dead --dry-run'
    run 'qctl quiet workers --context shop-us --dry-run'
    unset QCTL_CONFIG
    end_section
}

sec_bullmq_rq() {
    if ! bullmq_ok; then skip_section bullmq-rq "$(missing "the BullMQ fixture (node, npm ci)")"; return; fi
    if ! rq_ok; then skip_section bullmq-rq "$(missing "RQ 3 (the fixture's venv)")"; return; fi
    section bullmq-rq "Queue systems: BullMQ (6.x) and RQ (3.x)"
    local mail reports
    mail=$(free_port)
    start_server "$mail"
    reports=$(free_port)
    start_server "$reports"
    # BullMQ: 40 jobs done, 5 failed, 3 delayed an hour, 2 slow ones
    # running, and a paused queue `reports` with 7 waiting.
    bullmq_worker "$mail" "$dir/bullmq-mail.log" --queue mail --concurrency 2
    bullmq_api "$mail" add mail ok 40 >/dev/null
    bullmq_api "$mail" add mail fail 5 >/dev/null
    bullmq_api "$mail" add mail ok 3 '{"delay":3600000}' >/dev/null
    wait_for "40 completed BullMQ jobs" 30 equals 40 "$mail" ZCARD bull:mail:completed
    wait_for "5 failed BullMQ jobs" 30 equals 5 "$mail" ZCARD bull:mail:failed
    bullmq_api "$mail" add mail slow 2 '{}' '{"ms":120000}' >/dev/null
    wait_for "2 active BullMQ jobs" 30 equals 2 "$mail" LLEN bull:mail:active
    bullmq_api "$mail" add reports ok 7 >/dev/null
    bullmq_api "$mail" pause reports >/dev/null
    # RQ: 6 jobs done, 4 failed, 2 scheduled in an hour, 3 queued in `low`
    # (nobody works it), one slow job running.
    rq_worker --bg "$reports" -n rq-worker-1 default
    wait_for "the RQ worker" 30 equals 1 "$reports" EXISTS rq:worker:rq-worker-1
    rq_api "$reports" enqueue default ok 6 >/dev/null
    rq_api "$reports" enqueue default fail 4 >/dev/null
    rq_api "$reports" enqueue_in default 3600 ok 2 >/dev/null
    rq_api "$reports" enqueue low ok 3 >/dev/null
    wait_for "6 finished RQ jobs" 30 equals 6 "$reports" ZCARD rq:finished:default
    wait_for "4 failed RQ jobs" 30 equals 4 "$reports" ZCARD rq:failed:default
    rq_api "$reports" enqueue default slow 1 '[120]' >/dev/null
    wait_for "the slow RQ job" 30 equals 1 "$reports" ZCARD rq:wip:default

    cat >"$dir/bullmq-rq.yaml" <<YAML
apiVersion: qctl/v1
current-context: mail-eu
audit-log: $dir/audit.log
queue-schemas:
  - { name: bull, kind: bullmq }
  - { name: py, kind: rq }
clusters:
  - { name: mail-eu, server: "redis://127.0.0.1:$mail" }
  - { name: reports-eu, server: "redis://127.0.0.1:$reports" }
contexts:
  - { name: mail-eu, cluster: mail-eu, schema: bull, labels: { env: prod } }
  - { name: reports-eu, cluster: reports-eu, schema: py, labels: { env: prod } }
YAML
    export QCTL_CONFIG="$dir/bullmq-rq.yaml"
    note "Real BullMQ workers on mail-eu, a real rq worker on reports-eu."
    run 'qctl get clusters -A -o wide'
    run 'qctl get queues --context mail-eu'
    run 'qctl get jobs mail --state failed --context mail-eu -n 3'
    run 'qctl describe queue mail --context mail-eu'
    run 'qctl purge-dlq --context mail-eu --yes-i-typed=mail-eu'
    run 'qctl restore-dlq --context mail-eu --yes-i-typed=mail-eu -q'
    run 'qctl requeue --from dead --context mail-eu --dry-run'
    note "The RQ deployment."
    run 'qctl get queues --context reports-eu'
    run 'qctl get workers --context reports-eu'
    run 'qctl get jobs default --state failed --context reports-eu -n 3'
    run 'qctl requeue --from dead --context reports-eu --yes-i-typed=reports-eu'
    run 'qctl pause --all --context reports-eu --yes-i-typed=reports-eu -q'
    run 'qctl pause low --context reports-eu --yes-i-typed=reports-eu'
    run 'qctl stop workers --context reports-eu --yes-i-typed=reports-eu -q'
    unset QCTL_CONFIG
    end_section
}

sec_replicate_hashed() {
    if ! bullmq_ok; then skip_section replicate-hashed "$(missing "the BullMQ fixture (node, npm ci)")"; return; fi
    if ! rq_ok; then skip_section replicate-hashed "$(missing "RQ 3 (the fixture's venv)")"; return; fi
    section replicate-hashed "replicate: BullMQ and RQ"
    local mus meu jus jeu ids
    mus=$(free_port)
    start_server "$mus"
    meu=$(free_port)
    start_server "$meu"
    jus=$(free_port)
    start_server "$jus"
    jeu=$(free_port)
    start_server "$jeu"
    # BullMQ: waiting, prioritized and delayed `emails`, waiting `reports`,
    # failed `invoices`; the target has two other jobs under ids 1 and 2 of
    # `emails`.
    bullmq_api "$mus" add invoices fail 7 >/dev/null
    bullmq_worker "$mus" "$dir/bullmq-invoices.log" --queue invoices
    wait_for "7 failed invoices" 30 equals 7 "$mus" ZCARD bull:invoices:failed
    stop_pids "${sec_pids[@]: -1}"
    bullmq_api "$mus" add emails ok 120 >/dev/null
    bullmq_api "$mus" add emails ok 10 '{"priority":5}' >/dev/null
    bullmq_api "$mus" add emails ok 5 '{"delay":3600000}' >/dev/null
    bullmq_api "$mus" add reports ok 30 >/dev/null
    bullmq_api "$meu" add emails ok 2 '{}' '{"other":true}' >/dev/null
    # RQ: queued, scheduled and failed jobs in `default`, queued `emails`;
    # the target has two other jobs under the first two `emails` ids.
    rq_api "$jus" enqueue default fail 6 >/dev/null
    rq_worker "$jus" --burst default
    rq_api "$jus" enqueue default ok 30 >/dev/null
    rq_api "$jus" enqueue_in default 3600 ok 5 >/dev/null
    ids=$(rq_api "$jus" enqueue emails ok 10 | jq -r '.ids[0:2][]')
    for i in $ids; do
        rcli "$jeu" HSET "rq:job:$i" created_at 2020-01-01T00:00:00.000000Z \
            description 'jobs.other()' origin emails status finished data x >/dev/null
    done

    cat >"$dir/replicate.yaml" <<YAML
apiVersion: qctl/v1
current-context: mail-us
audit-log: $dir/audit.log
queue-schemas:
  - { name: bull, kind: bullmq }
  - { name: py, kind: rq }
clusters:
  - { name: mail-us, server: "redis://127.0.0.1:$mus" }
  - { name: mail-eu, server: "redis://127.0.0.1:$meu" }
  - { name: jobs-us, server: "redis://127.0.0.1:$jus" }
  - { name: jobs-eu, server: "redis://127.0.0.1:$jeu" }
contexts:
  - { name: mail-us, cluster: mail-us, schema: bull }
  - { name: mail-eu, cluster: mail-eu, schema: bull }
  - { name: jobs-us, cluster: jobs-us, schema: py }
  - { name: jobs-eu, cluster: jobs-eu, schema: py }
YAML
    export QCTL_CONFIG="$dir/replicate.yaml"
    note "BullMQ: a copy, then the same copy again (it copies nothing)."
    run 'qctl replicate --from mail-us --to mail-eu --what queues,dead-letter --dry-run'
    run 'qctl replicate --from mail-us --to mail-eu --what queues,dead-letter --yes-i-typed=mail-eu -q'
    run 'qctl replicate --from mail-us --to mail-eu --what queues,dead-letter --yes-i-typed=mail-eu -q'
    note "RQ: the same."
    run 'qctl replicate --from jobs-us --to jobs-eu --what queues,dead-letter --dry-run'
    run 'qctl replicate --from jobs-us --to jobs-eu --what queues,dead-letter --yes-i-typed=jobs-eu -q'
    run 'qctl replicate --from jobs-us --to jobs-eu --what queues,dead-letter --yes-i-typed=jobs-eu -q'
    unset QCTL_CONFIG
    end_section
}

md "# scripts/try-local.sh transcript" "" "$("$QCTL" version 2>&1), $(date -u +%Y-%m-%d)"
for s in "${sections[@]}"; do
    case $s in
        tour) sec_tour ;;
        config) sec_config ;;
        gowork) sec_gowork ;;
        sidekiq) sec_sidekiq ;;
        bullmq-rq) sec_bullmq_rq ;;
        replicate-hashed) sec_replicate_hashed ;;
    esac
done
close_block
echo
echo "(every server and file is removed now)"
