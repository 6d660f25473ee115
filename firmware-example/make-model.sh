#!/usr/bin/env bash
# Makes the firmware's classifier, firmware-example/model.pbrt (committed; run-qemu.sh embeds it):
# a BERT-Tiny-shaped model (L=2, H=128, A=2, I=512, 128 positions) with bert-base-uncased's
# vocabulary and tokenizer (all-MiniLM-L6-v2's, fetched by tools/fetch_minilm.py), fine-tuned
# from random initialisation by our trainer on the Pang & Lee sentence polarity task
# (tools/fetch_task_data.py), exported int8 with its vocabulary trimmed to the sentences the
# device classifies. One thread and a fixed seed, so the same build gives the same blob.
# Prints the dev accuracy of the exported (untrimmed) int8 model through the core.
# Usage: firmware-example/make-model.sh   (a few CPU-minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
work="$CARGO_TARGET_DIR/firmware-model"
rm -rf "$work"
mkdir -p "$work/init"

hf="$(python3 tools/fetch_minilm.py | tail -n 1)"
python3 tools/fetch_task_data.py --only polarity >/dev/null
tasks="${PICOBERT_CACHE:-$HOME/.cache/picobert}/tasks/polarity"
cp "$hf/vocab.txt" "$hf/tokenizer_config.json" "$work/init/"
cat >"$work/init/config.json" <<'JSON'
{
  "model_type": "bert",
  "architectures": ["BertForSequenceClassification"],
  "vocab_size": 30522,
  "hidden_size": 128,
  "num_hidden_layers": 2,
  "num_attention_heads": 2,
  "intermediate_size": 512,
  "hidden_act": "gelu",
  "hidden_dropout_prob": 0.1,
  "attention_probs_dropout_prob": 0.1,
  "max_position_embeddings": 128,
  "type_vocab_size": 2,
  "initializer_range": 0.02,
  "layer_norm_eps": 1e-12,
  "pad_token_id": 0
}
JSON

cargo build -q --release -p picobert-trainer --bin picobert
picobert="$CARGO_TARGET_DIR/release/picobert"
"$picobert" finetune --task classify --train "$tasks/train.tsv" --dev "$tasks/dev.tsv" \
    --init "$work/init" --from-scratch --out "$work/finetuned" \
    --epochs 10 --patience 2 --lr 1e-3 --max-seq-len 64 --threads 1 --seed 7 --no-progress
# The corpus to trim to: the device's sentences, as the host build of the firmware prints them.
cargo run -q --release -p firmware-example >"$work/sentences.txt"
"$picobert" export --checkpoint "$work/finetuned" --dtype int8 \
    --trim-vocab "$work/sentences.txt" --out firmware-example/model.pbrt
"$picobert" export --checkpoint "$work/finetuned" --dtype int8 --out "$work/full-int8.pbrt"
"$picobert" eval --model "$work/full-int8.pbrt" --data "$tasks/dev.tsv" --max-seq-len 64
