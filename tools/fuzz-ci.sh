#!/usr/bin/env bash
# Runs every cargo-fuzz target for a short while (CI): 60 s each by default, one job, starting
# from the committed corpus (new inputs go to a scratch copy, so the tree stays clean). A crash
# fails the script and leaves the input under fuzz/artifacts/<target>/; turn it into a test in
# tests/regressions.rs. See docs/RELIABILITY.md.
#
# Usage: tools/fuzz-ci.sh [seconds per target] [target...]
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-60}"
shift || true

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
rustup component list --toolchain nightly --installed | grep -q '^rust-src' \
  || rustup component add rust-src --toolchain nightly
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

cd fuzz
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)

# One build for every target first, so a compile error is reported as one, not as a crash.
cargo +nightly fuzz build || { echo "fuzz targets FAILED TO BUILD"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in "${targets[@]}"; do
  echo "== fuzz $t: ${secs}s"
  mkdir -p "$work/$t"
  # One in-process worker; new inputs go to the scratch directory, the committed corpus is only
  # read.
  if ! cargo +nightly fuzz run "$t" "$work/$t" "corpus/$t" -- \
    -max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    >"$work/$t.log" 2>&1; then
    tail -n 60 "$work/$t.log"
    echo "fuzz $t FAILED (input saved under fuzz/artifacts/$t/)"
    exit 1
  fi
  grep -E '^(stat::|#[0-9]+ +DONE)' "$work/$t.log"
done
