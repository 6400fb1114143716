#!/usr/bin/env bash
# Regenerates the checked-in shell completion scripts (completions/) and man
# pages (man/) from the qctl binary built from this tree. Run it after
# changing the command-line surface (src/cli.rs); tests/it/generated.rs fails
# until the files match again.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet --bin qctl
target_dir="${CARGO_TARGET_DIR:-target}"
qctl="$target_dir/debug/qctl"

mkdir -p completions
"$qctl" completion bash > completions/qctl.bash
"$qctl" completion zsh > completions/_qctl
"$qctl" completion fish > completions/qctl.fish
"$qctl" completion powershell > completions/qctl.ps1
"$qctl" completion elvish > completions/qctl.elv

# Pages for subcommands that no longer exist must go too.
mkdir -p man
find man -maxdepth 1 -name '*.1' -delete
"$qctl" -q __generate-man man

echo "regenerated completions/ and man/; review with: git status completions man"
