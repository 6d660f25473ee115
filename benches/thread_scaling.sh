#!/usr/bin/env bash
# Two threads against one on all-MiniLM-L6-v2 (f32 and int8 blobs, batch 1): `picobert bench
# --threads 1` and `--threads 2` take turns for ROUNDS rounds, so a change in the machine's
# load falls on both; prints per dtype the median over rounds of each median ms per forward
# and of the speed-up (1-thread ms / 2-thread ms), and the speed-up of the fastest forwards
# (least disturbed by other load: lowest min over all rounds). Needs two idle cores.
# Usage: benches/thread_scaling.sh [LEN]   (default 128; ROUNDS=5 ITERS=30)
set -euo pipefail
len="${1:-128}"
rounds="${ROUNDS:-5}"
iters="${ITERS:-30}"
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build -q --release -p picobert-trainer --bin picobert
picobert="$CARGO_TARGET_DIR/release/picobert"
hf="$(python3 tools/fetch_minilm.py | tail -n 1)"
blobs="$CARGO_TARGET_DIR/bench-blobs"
mkdir -p "$blobs"

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# Median and min ms of one `picobert bench` run.
ms() { "$picobert" bench --model "$1" --len "$len" --threads "$2" --iters "$iters" | awk -v n="$len" '$1 == n { print $2, $3 }'; }

printf '%-6s %12s %12s %10s %12s   (length %s, %s rounds of %s forwards)\n' dtype \
    "1 thread ms" "2 threads ms" speed-up "min speed-up" "$len" "$rounds" "$iters"
for dtype in f32 int8; do
    blob="$blobs/minilm-$dtype.pbrt"
    [ -f "$blob" ] || "$picobert" import --hf "$hf" --dtype "$dtype" --out "$blob" >/dev/null 2>&1
    one="" two="" ratio="" min1=1e9 min2=1e9
    for _ in $(seq "$rounds"); do
        read -r a amin <<<"$(ms "$blob" 1)"
        read -r b bmin <<<"$(ms "$blob" 2)"
        one="$one $a"
        two="$two $b"
        ratio="$ratio $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }')"
        min1="$(awk -v a="$amin" -v m="$min1" 'BEGIN { print (a < m) ? a : m }')"
        min2="$(awk -v a="$bmin" -v m="$min2" 'BEGIN { print (a < m) ? a : m }')"
    done
    printf '%-6s %12.2f %12.2f %9.2fx %11.2fx   (per round:%s)\n' "$dtype" \
        "$(tr ' ' '\n' <<<"${one# }" | median)" "$(tr ' ' '\n' <<<"${two# }" | median)" \
        "$(tr ' ' '\n' <<<"${ratio# }" | median)" "$(awk -v a="$min1" -v b="$min2" 'BEGIN { print a / b }')" \
        "$ratio"
done
