#!/usr/bin/env python3
"""Compare our WordPiece trainer (`picobert vocab`) with Hugging Face tokenizers'
WordPieceTrainer at the same vocabulary size on the bundled corpus.

Training text: every document of Brown, State of the Union and Moby Dick except a held-out
tenth (every 10th document of each corpus, from tools/fetch_corpora.py's documents/). Both
vocabularies are then used with the same tokenizer (transformers' BertTokenizer semantics,
lowercase, via `picobert tokenize`, so only the vocabulary differs) on the held-out text.

Reports, per trainer: [UNK] rate (share of word pieces that are [UNK]) and word pieces per
word (words as the basic tokenizer splits them), plus training time.

    python3 tools/compare_vocab_trainers.py --picobert target/release/picobert [--size 8000]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

CORPORA = ("brown", "sotu", "moby")


def cache_dir():
    return os.environ.get("PICOBERT_CACHE", os.path.expanduser("~/.cache/picobert"))


def split_documents():
    root = os.path.join(cache_dir(), "corpora", "documents")
    train, held = [], []
    for c in CORPORA:
        d = os.path.join(root, c)
        if not os.path.isdir(d):
            sys.exit(f"{d} missing: run tools/fetch_corpora.py first")
        for i, name in enumerate(sorted(os.listdir(d))):
            with open(os.path.join(d, name), encoding="utf-8", newline="") as f:
                text = f.read()
            (held if i % 10 == 9 else train).append(text)
    return train, held


def hf_vocab(train_file, size, out):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=size, min_frequency=2,
        special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tok.train([train_file], trainer)
    vocab = sorted(tok.get_vocab().items(), key=lambda kv: kv[1])
    with open(out, "w", encoding="utf-8") as f:
        for t, _ in vocab:
            f.write(t + "\n")
    return len(vocab)


def evaluate(picobert, vocab, held_file, work):
    out = os.path.join(work, "ids.jsonl")
    subprocess.run([picobert, "tokenize", "--vocab", vocab, "--input", held_file,
                    "--output", out, "--offsets"], check=True)
    with open(vocab, encoding="utf-8") as f:
        unk = [l.rstrip("\n") for l in f].index("[UNK]")
    pieces = unks = words = 0
    with open(out, encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            body = rec["ids"][1:-1]
            pieces += len(body)
            unks += sum(1 for i in body if i == unk)
            ws = [w for w in rec["word_ids"] if w is not None]
            words += (max(ws) + 1) if ws else 0
    return {"unk_rate": unks / pieces, "pieces_per_word": pieces / words,
            "pieces": pieces, "words": words}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--picobert", required=True, help="path to the picobert binary")
    ap.add_argument("--size", type=int, default=8000)
    ap.add_argument("--json", help="write the results here too")
    args = ap.parse_args()
    train, held = split_documents()
    with tempfile.TemporaryDirectory() as work:
        train_file = os.path.join(work, "train.txt")
        held_file = os.path.join(work, "held.txt")
        with open(train_file, "w", encoding="utf-8") as f:
            f.write("\n".join(train) + "\n")
        with open(held_file, "w", encoding="utf-8") as f:
            f.write("\n".join(held) + "\n")
        results = {}
        ours = os.path.join(work, "ours.txt")
        t = time.time()
        subprocess.run([args.picobert, "vocab", "--corpus", train_file, "--size", str(args.size),
                        "--out", ours], check=True)
        results["picobert"] = dict(evaluate(args.picobert, ours, held_file, work),
                                   train_seconds=time.time() - t)
        hf = os.path.join(work, "hf.txt")
        t = time.time()
        hf_vocab(train_file, args.size, hf)
        results["hf_wordpiece_trainer"] = dict(evaluate(args.picobert, hf, held_file, work),
                                               train_seconds=time.time() - t)
    mb = sum(len(x.encode("utf-8")) for x in train) / 1e6
    print(f"train {mb:.1f} MB ({len(train)} documents), held out {len(held)} documents, "
          f"vocab size {args.size}")
    for name, r in results.items():
        print(f"{name:22} [UNK] rate {100 * r['unk_rate']:.4f}%  pieces/word "
              f"{r['pieces_per_word']:.4f}  ({r['pieces']} pieces, {r['words']} words, "
              f"trained in {r['train_seconds']:.1f} s)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
