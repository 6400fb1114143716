#!/usr/bin/env bash
# The "without qctl" reference for benches/fanout/run.sh: what an operator's
# shell loop does to read roughly the same figures as `qctl get clusters`
# (queue lengths, the worker keys, server info) from N endpoints, one
# redis-cli process per command, one endpoint after another.
#
#   bash redis_cli_loop.sh PORTS_FILE N
set -euo pipefail
ports_file=$1
n=$2
for p in $(head -n "$n" "$ports_file"); do
    redis-cli -p "$p" LLEN jobqueue:high_priority
    redis-cli -p "$p" LLEN jobqueue:low_priority
    redis-cli -p "$p" LLEN jobqueue:completed
    redis-cli -p "$p" LLEN jobqueue:dead_letter
    redis-cli -p "$p" SCAN 0 MATCH 'jobqueue:*' COUNT 10000
    redis-cli -p "$p" INFO server memory
done >/dev/null
