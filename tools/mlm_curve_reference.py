#!/usr/bin/env python3
"""Held-out masked-LM curve of transformers' BertForMaskedLM trained on our corpus: the outside
check that `picobert pretrain`'s slow MLM progress is the model and data, not our trainer.

    picobert tokenize --vocab vocab8k.txt --input corpus.txt --output corpus.jsonl
    python3 tools/mlm_curve_reference.py --tokens corpus.jsonl --vocab vocab8k.txt \
        --steps 3000 --lr 1e-3

Same tiny config (L=2, H=128, A=2, FFN 512) and masking (15%; 80/10/10) as `picobert pretrain
--preset tiny`, batch 32 x 128, AdamW with linear warmup/decay and clipping at 1.0; MLM only
(contiguous chunks of a document, no NSP), 2% of documents held out. Needs torch and
transformers; CPU is fine (about 1 update/s on 2 cores).
"""
import argparse
import json
import random
import time

import torch
from transformers import BertConfig, BertForMaskedLM


def documents(path):
    docs = [[]]
    for line in open(path):
        ids = json.loads(line)[1:-1]  # drop [CLS] / [SEP]
        if ids:
            docs[-1].extend(ids)
        elif docs[-1]:
            docs.append([])  # a blank corpus line ends a document
    return [d for d in docs if d]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", required=True, help="picobert tokenize output of the corpus")
    ap.add_argument("--vocab", required=True)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, help="default: min(500, steps / 10)")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    if a.warmup is None:
        a.warmup = min(500, a.steps // 10)
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    vocab = [line.rstrip("\n") for line in open(a.vocab)]
    cls, sep, mask, pad = (vocab.index(t) for t in ("[CLS]", "[SEP]", "[MASK]", "[PAD]"))
    docs = documents(a.tokens)
    random.Random(0).shuffle(docs)
    n_held = max(2, len(docs) // 50)
    body = a.seq - 2

    def chunks(ds):
        return [[cls] + d[i:i + body] + [sep] for d in ds for i in range(0, len(d) - 20, body)]

    train, held = chunks(docs[n_held:]), chunks(docs[:n_held])[:320]

    def batch(seqs, rng):
        ids = torch.full((len(seqs), a.seq), pad)
        labels = torch.full((len(seqs), a.seq), -100)
        att = torch.zeros((len(seqs), a.seq), dtype=torch.long)
        for b, s in enumerate(seqs):
            s = list(s)
            att[b, :len(s)] = 1
            cand = list(range(1, len(s) - 1))
            rng.shuffle(cand)
            for p in sorted(cand[:max(1, round(len(s) * 0.15))]):
                labels[b, p] = s[p]
                r = rng.random()
                if r < 0.8:
                    s[p] = mask
                elif r >= 0.9:
                    s[p] = rng.randrange(len(vocab))
            ids[b, :len(s)] = torch.tensor(s)
        return ids, att, labels

    cfg = BertConfig(vocab_size=len(vocab), hidden_size=128, num_hidden_layers=2,
                     num_attention_heads=2, intermediate_size=512)
    model = BertForMaskedLM(cfg)
    no_decay = lambda n: "bias" in n or "LayerNorm" in n  # noqa: E731
    opt = torch.optim.AdamW([
        {"params": [p for n, p in model.named_parameters() if not no_decay(n)], "weight_decay": 0.01},
        {"params": [p for n, p in model.named_parameters() if no_decay(n)], "weight_decay": 0.0},
    ], lr=a.lr, eps=1e-6)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: s / a.warmup if s < a.warmup else max(0.0, (a.steps - s) / (a.steps - a.warmup)))
    erng = random.Random(1)
    eval_batches = [batch(held[i:i + 32], erng) for i in range(0, len(held), 32)]

    def evaluate():
        model.eval()
        loss = correct = count = 0
        with torch.no_grad():
            for ids, att, labels in eval_batches:
                out = model(input_ids=ids, attention_mask=att, labels=labels)
                k = (labels != -100).sum().item()
                loss += out.loss.item() * k
                count += k
                correct += ((out.logits.argmax(-1) == labels) & (labels != -100)).sum().item()
        model.train()
        return loss / count, correct / count

    print(f"{len(train)} training chunks, {len(held)} held out", flush=True)
    rng, t0 = random.Random(2), time.time()
    for step in range(1, a.steps + 1):
        ids, att, labels = batch(rng.sample(train, 32), rng)
        model(input_ids=ids, attention_mask=att, labels=labels).loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        if step % a.eval_every == 0:
            loss, acc = evaluate()
            print(f"step {step}: held-out MLM loss {loss:.3f}, accuracy {acc:.3f} ({time.time() - t0:.0f} s)",
                  flush=True)


if __name__ == "__main__":
    main()
