#!/usr/bin/env python3
"""Pretraining throughput: `picobert pretrain` against PyTorch eager, same config, one run.

    python3 benches/pretrain_throughput.py [--threads 2] [--steps 8] [--preset mini]

Both sides train BertForPreTraining at max_seq_len 128, batch 32, with dropout 0.1, AdamW, and
the MLM head computed only at the masked positions (as Google BERT does; transformers' stock
head scores all 128 positions and is ~3x slower, so it would flatter us). Training tokens/s =
batch * seq_len / step time, median over the timed steps (the first two are warmup).

Needs torch and transformers for the baseline; builds picobert in release mode unless
PICOBERT_BIN points at a binary. The corpus and vocabulary are synthetic (random words) so the
bench needs no download: throughput does not depend on the text.
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRESETS = {"tiny": (2, 128, 2), "mini": (4, 256, 4), "small": (4, 512, 8),
           "medium": (8, 512, 8), "base": (12, 768, 12)}
VOCAB = 30522
SEQ, BATCH = 128, 32


def write_inputs(d):
    words = [f"w{i}" for i in range(5, VOCAB)]
    with open(os.path.join(d, "vocab.txt"), "w") as f:
        f.write("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words) + "\n")
    rng = random.Random(0)
    with open(os.path.join(d, "corpus.txt"), "w") as f:
        for _ in range(300):
            for _ in range(30):
                f.write(" ".join(rng.choice(words) for _ in range(rng.randint(8, 25))) + "\n")
            f.write("\n")


def picobert_bin():
    if os.environ.get("PICOBERT_BIN"):
        return os.environ["PICOBERT_BIN"]
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "picobert-trainer"], cwd=ROOT,
                   check=True)
    return os.path.join(target, "release", "picobert")


def ours(d, preset, threads, steps):
    out = os.path.join(d, "run")
    subprocess.run([picobert_bin(), "pretrain", "--corpus", os.path.join(d, "corpus.txt"),
                    "--vocab", os.path.join(d, "vocab.txt"), "--preset", preset,
                    "--max-seq-len", str(SEQ), "--batch-size", str(BATCH), "--steps", str(steps),
                    "--out", out, "--threads", str(threads), "--log-every", "1",
                    "--eval-every", "0", "--save-every", "0", "--no-progress"],
                   check=True, stderr=subprocess.DEVNULL)
    rows = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl"))]
    tps = [r["tokens_per_s"] for r in rows if "split" not in r][2:]
    return statistics.median(tps)


def pytorch(preset, threads, steps):
    import torch
    from transformers import BertConfig, BertForPreTraining
    torch.set_num_threads(threads)
    l, h, a = PRESETS[preset]
    cfg = BertConfig(vocab_size=VOCAB, hidden_size=h, num_hidden_layers=l, num_attention_heads=a,
                     intermediate_size=4 * h, max_position_embeddings=512,
                     attn_implementation="eager")
    model = BertForPreTraining(cfg)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, eps=1e-6, weight_decay=0.01)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, VOCAB, (BATCH, SEQ), generator=g)
    types = torch.zeros(BATCH, SEQ, dtype=torch.long)
    types[:, SEQ // 2:] = 1
    mask = torch.ones(BATCH, SEQ, dtype=torch.long)
    # 20 masked positions per sequence (max_predictions_per_seq for length 128)
    pos = torch.stack([torch.randperm(SEQ - 2, generator=g)[:20] + 1 for _ in range(BATCH)])
    flat = (pos + torch.arange(BATCH)[:, None] * SEQ).reshape(-1)
    labels = ids.reshape(-1)[flat]
    nsp = torch.randint(0, 2, (BATCH,), generator=g)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        seq, pooled = model.bert(input_ids=ids, token_type_ids=types, attention_mask=mask,
                                 return_dict=False)[:2]
        masked = seq.reshape(-1, h)[flat]
        mlm = torch.nn.functional.cross_entropy(model.cls.predictions(masked), labels)
        nspl = torch.nn.functional.cross_entropy(model.cls.seq_relationship(pooled), nsp)
        (mlm + nspl).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        times.append(time.perf_counter() - t0)
    return BATCH * SEQ / statistics.median(times[2:])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--preset", default="mini", choices=sorted(PRESETS))
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as d:
        write_inputs(d)
        o = ours(d, a.preset, a.threads, a.steps)
    t = pytorch(a.preset, a.threads, a.steps)
    print(f"preset {a.preset}, seq {SEQ}, batch {BATCH}, threads {a.threads}")
    print(f"picobert pretrain          {o:10.0f} tokens/s")
    print(f"PyTorch eager, masked MLM  {t:10.0f} tokens/s")
    print(f"ratio                      {o / t:10.2f}x")


if __name__ == "__main__":
    sys.exit(main())
