#!/usr/bin/env python3
"""WordNet 3.0 glosses as document-level pretraining text: lexical knowledge that a few million
tokens of running text do not hold. Distributional pretraining puts "dull" next to "brilliant"
(both follow "the film is"); a dictionary says what each means, and WordNet's adjective
clusters keep words of one polarity together ("bang-up, bully, corking, cracking: very good").

Source: the Debian package wordnet-base (1:3.0-37, `apt-get download`, no root needed),
/usr/share/wordnet/data.{adj,adv,noun,verb}. WordNet license (BSD-like): fetched, never
committed.

Documents, separated by blank lines (`picobert prepare --blank-line-documents`), one sentence
per line, each synset written as "lemma, lemma: definition." followed by its quoted examples:
- adjectives: a head synset with its similar-to satellites (WordNet's adjective cluster);
- nouns, verbs, adverbs: runs of up to 8 consecutive synsets of one lexicographer file
  (e.g. noun.feeling), so a "next sentence" stays on one topic.

Output: $PICOBERT_CACHE (default ~/.cache/picobert)/corpora/wordnet.txt. Standard library only.
"""

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fetch_task_data import cache_dir  # noqa: E402

PACKAGE = "wordnet-base=1:3.0-37"
RUN = 8


def synsets(path):
    """(offset, lexfile, type, lemmas, pointers, gloss) for each line of a WordNet data file."""
    for line in path.read_text(encoding="latin-1").splitlines():
        if line.startswith("  "):
            continue  # the license header
        head, _, gloss = line.partition(" | ")
        f = head.split()
        n = int(f[3], 16)
        lemmas = [re.sub(r"\(\w+\)$", "", w).replace("_", " ") for w in f[4:4 + 2 * n:2]]
        i = 4 + 2 * n
        p = int(f[i])
        ptrs = [(f[i + 1 + 4 * k], f[i + 2 + 4 * k]) for k in range(p)]
        yield f[0], f[1], f[2], lemmas, ptrs, gloss.strip()


def render(lemmas, gloss):
    """'lemma, lemma: definition.' and one line per quoted example."""
    parts = [s.strip() for s in gloss.split(";") if s.strip()]
    defs = [s for s in parts if not s.startswith('"')]
    examples = [s.strip('"').strip() for s in parts if s.startswith('"')]
    lines = [f"{', '.join(lemmas)}: {'; '.join(defs) or lemmas[0]}."]
    for e in examples:
        if e:
            lines.append(e[0].upper() + e[1:] + ("" if e[-1] in ".!?" else "."))
    return lines


def documents(root):
    adj = {s[0]: s for s in synsets(root / "data.adj")}
    for _, _, kind, lemmas, ptrs, gloss in adj.values():
        if kind != "a":
            continue
        doc = render(lemmas, gloss)
        for sym, target in ptrs:
            if sym == "&" and target in adj and adj[target][2] == "s":
                doc += render(adj[target][3], adj[target][5])
        yield doc
    for pos in ("noun", "verb", "adv"):
        doc, lexfile, count = [], None, 0
        for _, lf, _, lemmas, _, gloss in synsets(root / f"data.{pos}"):
            if doc and (lf != lexfile or count == RUN):
                yield doc
                doc, count = [], 0
            doc += render(lemmas, gloss)
            lexfile, count = lf, count + 1
        if doc:
            yield doc


def main():
    out = Path(cache_dir()) / "corpora" / "wordnet.txt"
    if out.exists():
        print(out)
        return
    with tempfile.TemporaryDirectory() as tmp:
        got = subprocess.run(["apt-get", "download", PACKAGE], cwd=tmp, capture_output=True,
                             text=True)
        if got.returncode != 0:
            sys.exit(f"apt-get download {PACKAGE} failed (on a fresh machine run "
                     f"`apt-get update` first):\n{got.stderr.strip()}")
        deb = next(Path(tmp).glob("wordnet-base_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), tmp + "/x"], check=True)
        docs = list(documents(Path(tmp) / "x/usr/share/wordnet"))
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_suffix(".part")
    with open(part, "w", encoding="utf-8") as f:
        f.write("\n\n".join("\n".join(d) for d in docs) + "\n")
    os.replace(part, out)
    words = sum(len(line.split()) for d in docs for line in d)
    print(f"{len(docs)} documents, {words} words -> {out}", file=sys.stderr)
    print(out)


if __name__ == "__main__":
    main()
