#!/usr/bin/env python3
"""Linear probe: how much of a sentence task do a checkpoint's frozen features carry, against
the same architecture at random initialisation?

Features are the last hidden state's mean over real tokens and its [CLS] row, standardised; a
logistic regression (L-BFGS, four L2 weights) is fitted on the training split and scored on
dev. Pretraining that teaches something the task needs shows up here before any fine-tuning
dynamics do (docs/TRAINING.md).

    python3 tools/fetch_task_data.py --only polarity
    python3 tools/probe_features.py CHECKPOINT_DIR [MORE_DIRS...] [--task polarity]

CHECKPOINT_DIR is a Hugging Face directory (`picobert pretrain` checkpoints are); the random
baseline uses the first one's config.json and vocab.txt. Needs torch and transformers.
"""

import argparse
import csv
import os
from pathlib import Path

import numpy as np
import torch
from transformers import BertConfig, BertModel, BertTokenizer

L2 = [1e-4, 1e-3, 1e-2, 1e-1]


def split(task_dir: Path, name: str):
    with open(task_dir / f"{name}.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    labels = sorted({r["label"] for r in rows})
    if len(labels) != 2:
        raise SystemExit(f"{task_dir}: the probe is binary, found labels {labels}")
    return [r["text"] for r in rows], np.array([r["label"] == labels[1] for r in rows], np.float32)


def features(model, tok, texts, max_len):
    out = []
    with torch.no_grad():
        for i in range(0, len(texts), 64):
            b = tok(texts[i:i + 64], padding=True, truncation=True, max_length=max_len,
                    return_tensors="pt")
            h = model(**b).last_hidden_state
            m = b["attention_mask"].unsqueeze(-1).float()
            out.append(torch.cat([(h * m).sum(1) / m.sum(1), h[:, 0]], -1))
    return torch.cat(out)


def probe(xtr, ytr, xdv, ydv):
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xdv = (xtr - mu) / sd, (xdv - mu) / sd
    y = torch.tensor(ytr)
    scores = {}
    for l2 in L2:
        w = torch.zeros(xtr.shape[1], requires_grad=True)
        b = torch.zeros(1, requires_grad=True)
        opt = torch.optim.LBFGS([w, b], max_iter=200)

        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(xtr @ w + b, y)
            loss = loss + l2 * (w * w).sum()
            loss.backward()
            return loss

        opt.step(closure)
        with torch.no_grad():
            scores[l2] = float((((xdv @ w + b) > 0).float().numpy() == ydv).mean())
    return scores


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--task", default="polarity")
    ap.add_argument("--max-len", type=int, default=64)
    args = ap.parse_args()
    cache = Path(os.environ.get("PICOBERT_CACHE", Path.home() / ".cache" / "picobert"))
    task_dir = cache / "tasks" / args.task
    tr, ytr = split(task_dir, "train")
    dv, ydv = split(task_dir, "dev")
    torch.manual_seed(0)
    first = Path(args.checkpoints[0])
    tok = BertTokenizer(str(first / "vocab.txt"), do_lower_case=True)
    models = [(c, BertModel.from_pretrained(c)) for c in args.checkpoints]
    models.append(("random init", BertModel(BertConfig.from_pretrained(str(first)))))
    for name, model in models:
        model.eval()
        s = probe(features(model, tok, tr, args.max_len), ytr,
                  features(model, tok, dv, args.max_len), ydv)
        per = "  ".join(f"l2 {k:g}: {v:.4f}" for k, v in s.items())
        print(f"{name}: dev accuracy {max(s.values()):.4f}  ({per})")


if __name__ == "__main__":
    main()
