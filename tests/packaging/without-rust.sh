#!/usr/bin/env bash
# Runs a command the way a user without a Rust toolchain would: every PATH
# entry that holds cargo, rustc or rustup is dropped (and RUSTUP_*/CARGO_*
# variables unset), then the command runs. Fails loudly if cargo can still
# be found, so a packaging test can never pass by building from source.
#   tests/packaging/without-rust.sh pip install dist/wsrt-*.whl
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
kept=()
IFS=: read -r -a entries <<< "${PATH}"
for dir in "${entries[@]}"; do
  [ -n "$dir" ] || continue
  if [ -e "$dir/cargo" ] || [ -e "$dir/rustc" ] || [ -e "$dir/rustup" ]; then
    continue
  fi
  kept+=("$dir")
done
PATH=$(IFS=:; echo "${kept[*]}")
export PATH
unset CARGO CARGO_HOME CARGO_TARGET_DIR RUSTC RUSTUP_HOME RUSTUP_TOOLCHAIN
for tool in cargo rustc rustup; do
  if command -v "$tool" >/dev/null 2>&1; then
    echo "without-rust.sh: $tool is still reachable at $(command -v "$tool")" >&2
    exit 1
  fi
done
exec "$@"
