#!/usr/bin/env bash
# Does our pretraining help? BERT's claim, measured on Pang & Lee sentence polarity (or, with
# TASK=brown_pos, Brown universal POS tagging, scored by word accuracy): the same
# model (config and vocabulary of a pretraining checkpoint) is fine-tuned from the checkpoint's
# weights and from random initialisation (--from-scratch), each over a learning-rate grid and
# several seeds. Each init's learning rate is the one with the best mean dev accuracy (random
# init gets the same search, so the baseline is not handicapped by a rate tuned for the other);
# its best-dev checkpoints are exported f32 and int8 and evaluated on the test split through the
# core. Prints one row per init: mean and per-seed test accuracy. Finished runs are reused, so an
# interrupted comparison resumes, and WHICH=random can run while the checkpoint's pretraining
# goes on (random init only reads its config and vocabulary).
#
# Usage: tools/pretrain_vs_random.sh CHECKPOINT [OUT]
#   WHICH=both|pretrained|random  LRS="1e-4 3e-4 1e-3"  SEEDS="1 2 3"  EPOCHS=10  PATIENCE=4
#   TASK=polarity|brown_pos
#   MAX_TRAIN=N (the first N training sentences only: the low-resource end of a learning curve)
#   THREADS=1  PICOBERT=path/to/picobert (default: build this checkout's release binary)
# Patience 4 rather than finetune's 2: from random init a run can sit at chance for 2-3 epochs
# before it starts to learn, and stopping it there would flatter pretraining.
set -euo pipefail
ckpt="${1:?usage: tools/pretrain_vs_random.sh CHECKPOINT [OUT]}"
out="${2:-target/pretrain-vs-random}"
which="${WHICH:-both}"
lrs="${LRS:-1e-4 3e-4 1e-3}"
seeds="${SEEDS:-1 2 3}"
epochs="${EPOCHS:-10}"
patience="${PATIENCE:-4}"
threads="${THREADS:-1}"
max_train=()
[ -z "${MAX_TRAIN:-}" ] || max_train=(--max-train "$MAX_TRAIN")
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
[ -f "$ckpt/config.json" ] || { echo "$ckpt: not a checkpoint (no config.json)" >&2; exit 2; }

task="${TASK:-polarity}"
case "$task" in
polarity) kind=classify ext=tsv ;;
brown_pos) kind=tag ext=conll ;;
*) echo "TASK must be polarity or brown_pos" >&2; exit 2 ;;
esac
python3 tools/fetch_task_data.py --only "$task" >/dev/null
tasks="${PICOBERT_CACHE:-$HOME/.cache/picobert}/tasks/$task"
picobert="${PICOBERT:-}"
if [ -z "$picobert" ]; then
    cargo build -q --release -p picobert-trainer --bin picobert
    picobert="$CARGO_TARGET_DIR/release/picobert"
fi
mkdir -p "$out"

mean() { awk '{ s += $1 } END { printf "%.4f", s / NR }'; }

run_init() {
    local name="$1" flag="$2" best_lr="" best_dev=-1
    for lr in $lrs; do
        local devs=""
        for seed in $seeds; do
            local dir="$out/$name-lr$lr-s$seed"
            if ! grep -qs "best dev score" "$dir.log"; then
                rm -rf "$dir"
                "$picobert" finetune --task "$kind" --train "$tasks/train.$ext" \
                    --dev "$tasks/dev.$ext" --init "$ckpt" $flag --out "$dir" \
                    --epochs "$epochs" --patience "$patience" --lr "$lr" --max-seq-len 64 \
                    --threads "$threads" --seed "$seed" "${max_train[@]}" --no-progress \
                    >"$dir.log" 2>&1
            fi
            devs="$devs $(sed -n 's/^best dev score \([0-9.]*\).*/\1/p' "$dir.log")"
        done
        local m
        m="$(echo $devs | tr ' ' '\n' | mean)"
        echo "$name lr $lr: dev$devs (mean $m)"
        if awk -v a="$m" -v b="$best_dev" 'BEGIN { exit !(a > b) }'; then
            best_dev="$m"
            best_lr="$lr"
        fi
    done
    local f32s="" int8s=""
    for seed in $seeds; do
        local dir="$out/$name-lr$best_lr-s$seed"
        for dtype in f32 int8; do
            "$picobert" export --checkpoint "$dir" --dtype "$dtype" --out "$dir-$dtype.pbrt" >/dev/null
            "$picobert" eval --model "$dir-$dtype.pbrt" --data "$tasks/test.$ext" \
                --max-seq-len 64 >"$dir-$dtype.eval"
        done
        f32s="$f32s $(awk '/^accuracy/ { print $2 }' "$dir-f32.eval")"
        int8s="$int8s $(awk '/^accuracy/ { print $2 }' "$dir-int8.eval")"
    done
    printf '%-10s lr %-5s dev %s  test f32 %s (%s)  int8 %s (%s)\n' "$name" "$best_lr" \
        "$best_dev" "$(echo $f32s | tr ' ' '\n' | mean)" "${f32s# }" \
        "$(echo $int8s | tr ' ' '\n' | mean)" "${int8s# }" >"$out/$name.summary"
}

case "$which" in
both | pretrained) run_init pretrained "" ;;&
both | random) run_init random --from-scratch ;;
esac
echo "== $ckpt: $task test accuracy (mean over seeds $seeds; per seed in parentheses)"
cat "$out"/*.summary
