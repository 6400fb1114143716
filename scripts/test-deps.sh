#!/usr/bin/env bash
# Installs what the tests need when it is missing: redis-server, jq, Sidekiq
# and redis-namespace (Debian packages), RQ in a venv, BullMQ and ioredis (npm ci
# on the committed lock file). Idempotent; `sudo` when not root.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update
    $SUDO apt-get install -y redis-server redis-tools
fi

# jq, for the README's recipes that tests/it/try_local.rs runs through
# scripts/try-local.sh.
if ! command -v jq >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update
    $SUDO apt-get install -y jq
fi

# Sidekiq (6.4.1 on Debian bookworm) and redis-namespace, for the Sidekiq
# integration tests, which run the real `sidekiq` workers.
if ! command -v sidekiq >/dev/null 2>&1 || ! ruby -e 'require "redis-namespace"' >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update
    $SUDO apt-get install -y ruby-sidekiq ruby-redis-namespace
fi

# RQ 3 (pinned in tests/it/fixtures/rq/requirements.txt) in a venv of its
# own, for the RQ integration tests, which run the real `rq worker`.
RQ_VENV=tests/it/fixtures/rq/.venv
if ! "$RQ_VENV/bin/python" -c 'import rq, sys; sys.exit(not rq.__version__.startswith("3."))' >/dev/null 2>&1; then
    if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
        SUDO=""
        if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
        $SUDO apt-get update
        $SUDO apt-get install -y python3-venv
    fi
    python3 -m venv "$RQ_VENV"
    "$RQ_VENV/bin/pip" install --quiet -r tests/it/fixtures/rq/requirements.txt
fi

# BullMQ (6.7, pinned in tests/it/fixtures/bullmq/package-lock.json) and
# ioredis, for the BullMQ integration tests, which run real BullMQ workers.
if ! command -v npm >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update
    $SUDO apt-get install -y nodejs npm
fi
if [ ! -d tests/it/fixtures/bullmq/node_modules ]; then
    npm ci --prefix tests/it/fixtures/bullmq --no-audit --no-fund
fi
