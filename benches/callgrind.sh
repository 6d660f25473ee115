#!/usr/bin/env bash
# Instruction counts per forward pass (valgrind callgrind, x86-64-v3 build: valgrind 3.19 has no
# AVX-512) of the tiny fixture model in each dtype, against the committed baseline
# benches/callgrind_baseline.txt, so a regression shows even on a noisy shared machine.
#   benches/callgrind.sh           compare; fail if any count grew by more than 2%
#   benches/callgrind.sh --update  rewrite the baseline
# Counted: everything inside Model::forward_threads (not loading), averaged over the calls
# `picobert bench --iters 1` makes (one warm-up + one timed).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/callgrind}"
baseline=benches/callgrind_baseline.txt
command -v valgrind >/dev/null || { echo "valgrind not installed" >&2; exit 2; }
RUSTFLAGS="-C target-cpu=x86-64-v3" cargo build -q --release -p picobert-trainer --bin picobert
exe="$CARGO_TARGET_DIR/release/picobert"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

measure() { # model-dir dtype len -> instructions per forward
    local blob="$tmp/$(basename "$1")-$2.pbrt"
    [ -f "$blob" ] || "$exe" import --hf "$1" --out "$blob" --dtype "$2" 2>/dev/null
    env -i "$(command -v valgrind)" --tool=callgrind --callgrind-out-file="$tmp/cg.out" \
        --toggle-collect='*forward_threads*' "$exe" bench --model "$blob" --len "$3" \
        --iters 1 >/dev/null 2>&1
    local total
    total=$(callgrind_annotate "$tmp/cg.out" | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
    echo $((total / 2))
}

out="$tmp/now.txt"
echo "# model dtype seq_len instructions_per_forward (benches/callgrind.sh)" >"$out"
for dtype in f32 f16 int8; do
    for len in 16 64; do
        echo "tiny-seqcls $dtype $len $(measure tests/fixtures/tiny/seqcls "$dtype" "$len")" >>"$out"
    done
done
cat "$out"
if [ "${1:-}" = "--update" ]; then
    cp "$out" "$baseline"
    echo "baseline updated"
    exit 0
fi
[ -f "$baseline" ] || { echo "no baseline: run with --update" >&2; exit 1; }
fail=0
while read -r model dtype len count; do
    case "$model" in \#*) continue ;; esac
    old=$(awk -v m="$model" -v d="$dtype" -v l="$len" '$1==m && $2==d && $3==l {print $4}' "$baseline")
    [ -n "$old" ] || { echo "not in baseline: $model $dtype $len"; continue; }
    if [ "$count" -gt $((old + old / 50)) ]; then
        echo "REGRESSION $model $dtype len $len: $old -> $count"
        fail=1
    fi
done <"$out"
exit $fail
