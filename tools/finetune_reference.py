#!/usr/bin/env python3
"""Checks that `picobert finetune` checkpoints are ordinary transformers checkpoints, and records
transformers' outputs for the Rust test (tests/finetune_reference.rs) to compare the core with.

For tests/fixtures/finetune/{seqcls,tokcls} (written by `picobert finetune` from
tests/fixtures/tiny/pretraining, commands in tests/fixtures/finetune/README.md): loads each with
BertForSequenceClassification / BertForTokenClassification, refuses any missing or unexpected
weight, runs the dev texts through BertTokenizer + the model in eval mode, and writes
tests/fixtures/finetune/reference.json: per model, id2label, the inputs and the logits.

Needs torch + transformers (not in CI: the test reads the committed JSON).
"""

import json
import sys
from pathlib import Path

import torch
from transformers import BertForSequenceClassification, BertForTokenClassification, BertTokenizer

ROOT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "finetune"


def load(cls, d):
    model, info = cls.from_pretrained(d, output_loading_info=True)
    bad = {k: v for k, v in info.items() if v}  # missing, unexpected, mismatched keys, errors
    if bad:
        sys.exit(f"{d}: {bad}")
    return model.eval()


def main():
    out = {}
    tok = BertTokenizer(str(ROOT / "seqcls" / "vocab.txt"), do_lower_case=True)

    texts = [l.split("\t")[0] for l in (ROOT / "cls_dev.tsv").read_text().splitlines()[1:]]
    m = load(BertForSequenceClassification, ROOT / "seqcls")
    enc = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = m(**enc).logits
    out["seqcls"] = {
        "problem_type": m.config.problem_type,
        "id2label": [m.config.id2label[i] for i in range(m.config.num_labels)],
        "texts": texts,
        "input_ids": [[i for i, a in zip(r, mk) if a] for r, mk in zip(enc["input_ids"].tolist(), enc["attention_mask"].tolist())],
        "logits": logits.tolist(),
    }

    sents, cur = [], []
    for line in (ROOT / "tag_dev.conll").read_text().splitlines():
        if line.strip():
            cur.append(line.split("\t")[0])
        elif cur:
            sents.append(cur)
            cur = []
    m = load(BertForTokenClassification, ROOT / "tokcls")
    rows = []
    for words in sents:
        enc = tok(words, is_split_into_words=True, return_tensors="pt")
        with torch.no_grad():
            logits = m(**enc).logits[0]
        rows.append({"words": words, "input_ids": enc["input_ids"][0].tolist(), "logits": logits.tolist()})
    out["tokcls"] = {
        "id2label": [m.config.id2label[i] for i in range(m.config.num_labels)],
        "sentences": rows,
    }
    (ROOT / "reference.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {ROOT / 'reference.json'}: {len(texts)} sentences, {len(rows)} tagged sentences")


if __name__ == "__main__":
    main()
