#!/usr/bin/env python3
"""The fine-tuning runs of tools/pretrain_vs_random.sh, in PyTorch + transformers: is a gap (or
its absence) between a pretrained checkpoint and random initialisation a property of the
checkpoint, or of our trainer?

Same recipe as `picobert finetune --task classify --max-seq-len 64 --epochs E --lr LR`:
BertForSequenceClassification (pooled [CLS] -> dropout -> linear), AdamW (betas 0.9/0.999,
eps 1e-6, weight decay 0.01 except biases and LayerNorm weights), linear warmup over 10% of the
updates then linear decay to zero, gradient norm clipped at 1.0, batch 32, one pass over a
seeded shuffle per epoch. Random initialisation is transformers' own (`BertConfig` of the
checkpoint, `_init_weights`), not ours. Per run it prints the dev accuracy after each epoch and
the test accuracy at the best dev epoch. `--pooling mean` classifies the mean of the last hidden
states over the real tokens instead of the pooled [CLS] (an experiment: picobert's heads read
the pooled output).

    python3 tools/fetch_task_data.py --only polarity
    python3 tools/finetune_torch.py CHECKPOINT_DIR --lr 1e-3 --seeds 1 2 3 [--from-scratch]
        [--pooling mean]

Needs torch and transformers (tools/requirements.txt). One thread per run, as the Rust runs.
"""

import argparse
import csv
import math
import os
import random
from pathlib import Path

import numpy as np
import torch
from transformers import BertConfig, BertForSequenceClassification, BertTokenizer


def split(task_dir: Path, name: str):
    with open(task_dir / f"{name}.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def run(args, seed, data, labels):
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
    tok = BertTokenizer.from_pretrained(args.checkpoint)
    if args.from_scratch:
        cfg = BertConfig.from_pretrained(args.checkpoint, num_labels=len(labels))
        model = BertForSequenceClassification(cfg)
    else:
        model = BertForSequenceClassification.from_pretrained(args.checkpoint,
                                                              num_labels=len(labels))
    lid = {label: i for i, label in enumerate(labels)}
    (tx, ty), (dx, dy), (sx, sy) = data
    if args.max_train:
        tx, ty = tx[:args.max_train], ty[:args.max_train]

    def enc(texts):
        return tok(texts, padding=True, truncation=True, max_length=args.max_seq_len,
                   return_tensors="pt")

    no_decay = ("bias", "LayerNorm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)],
         "weight_decay": 0.01},
        {"params": [p for n, p in model.named_parameters() if n.endswith(no_decay)],
         "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=args.lr, eps=1e-6)
    steps = args.epochs * math.ceil(len(tx) / args.batch_size)
    warm = int(0.1 * steps)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: s / max(1, warm) if s < warm else max(0.0, (steps - s) / max(1, steps - warm)))

    def logits(batch):
        if args.pooling == "cls":
            return model(**batch).logits
        hidden = model.bert(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        return model.classifier(model.dropout((hidden * mask).sum(1) / mask.sum(1)))

    def accuracy(texts, gold):
        model.eval()
        right = 0
        with torch.no_grad():
            for i in range(0, len(texts), 200):
                pred = logits(enc(texts[i:i + 200])).argmax(-1).tolist()
                right += sum(p == lid[g] for p, g in zip(pred, gold[i:i + 200]))
        model.train()
        return right / len(texts)

    best_dev, test = -1.0, None
    model.train()
    for epoch in range(args.epochs):
        order = list(range(len(tx)))
        random.shuffle(order)
        total = 0.0
        for i in range(0, len(order), args.batch_size):
            batch = order[i:i + args.batch_size]
            loss = torch.nn.functional.cross_entropy(
                logits(enc([tx[j] for j in batch])),
                torch.tensor([lid[ty[j]] for j in batch]))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            total += loss.item() * len(batch)
        dev = accuracy(dx, dy)
        if dev > best_dev:
            best_dev, test = dev, accuracy(sx, sy)
        print(f"  seed {seed} epoch {epoch + 1}: train loss {total / len(tx):.4f}, dev {dev:.4f}",
              flush=True)
    return best_dev, test


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-seq-len", type=int, default=64)
    ap.add_argument("--max-train", type=int)
    ap.add_argument("--from-scratch", action="store_true")
    ap.add_argument("--task", default="polarity")
    ap.add_argument("--pooling", choices=("cls", "mean"), default="cls")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cache = Path(os.environ.get("PICOBERT_CACHE", Path.home() / ".cache" / "picobert"))
    task_dir = cache / "tasks" / args.task
    data = [split(task_dir, name) for name in ("train", "dev", "test")]
    labels = sorted(set(data[0][1]))
    results = [run(args, seed, data, labels) for seed in args.seeds]
    init = "random init" if args.from_scratch else "pretrained"
    devs = " ".join(f"{d:.4f}" for d, _ in results)
    tests = " ".join(f"{t:.4f}" for _, t in results)
    print(f"{args.checkpoint} ({init}, lr {args.lr:g}): dev {devs} (mean "
          f"{np.mean([d for d, _ in results]):.4f}), test {tests} (mean "
          f"{np.mean([t for _, t in results]):.4f})")


if __name__ == "__main__":
    main()
