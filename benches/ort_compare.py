#!/usr/bin/env python3
"""picobert vs ONNX Runtime on all-MiniLM-L6-v2, batch 1, one thread, in the same run and on
the same token ids (`picobert bench`'s: [CLS], ids spread over the vocabulary, [SEP]).

ONNX Runtime gets its own fp32 export and its `quantize_dynamic` int8 (per-channel), with one
intra-op thread; picobert runs `picobert bench` on f32, f16 and int8 blobs. The engines take
turns for `--rounds` rounds, so a change in the machine's load falls on all of them; printed:
per engine the median over rounds of its median ms per forward, and per pair the median over
rounds of the ratio ORT / picobert (> 1: picobert is faster).

Usage: benches/ort_compare.py [--picobert target/release/picobert] [--len 16,128,512]
       [--iters 20] [--rounds 3]
Needs torch + transformers (for the one-time ONNX export, cached), onnx, onnxruntime.
"""

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from quant_accuracy import cache_dir, model_dir, ort_models, ort_session  # noqa: E402


def bench_ids(length: int, vocab: int, cls: int, sep: int) -> list[int]:
    """Same formula as host-trainer/src/cmd_bench.rs `bench_ids`."""
    base = min(1000, vocab - 1)
    span = max(vocab - base, 1)
    return [cls if i == 0 else sep if i == length - 1 else base + (i * 7919) % span
            for i in range(length)]


def ort_median_ms(sess, ids: list[int], iters: int) -> float:
    a = np.array([ids], dtype=np.int64)
    feed = {"input_ids": a, "attention_mask": np.ones_like(a), "token_type_ids": np.zeros_like(a)}
    sess.run(None, feed)
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        sess.run(None, feed)
        times.append((time.perf_counter() - t) * 1e3)
    return float(np.median(times))


def picobert_median_ms(exe: str, blob: Path, lens: list[int], iters: int) -> dict[int, float]:
    out = subprocess.run([exe, "bench", "--model", str(blob), "--len", ",".join(map(str, lens)),
                          "--iters", str(iters), "--threads", "1"],
                         check=True, capture_output=True, text=True).stdout
    print(out, end="")
    rows = {}
    for line in out.splitlines():
        m = re.match(r"\s*(\d+)\s+([\d.]+)\s", line)
        if m:
            rows[int(m.group(1))] = float(m.group(2))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--picobert", default=str(ROOT / "target" / "release" / "picobert"))
    ap.add_argument("--len", default="16,128,512")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    lens = [int(x) for x in args.len.split(",")]
    mdir = model_dir()
    onnx_dir = cache_dir() / "onnx"
    onnx_dir.mkdir(parents=True, exist_ok=True)
    fp32, int8 = ort_models(mdir, onnx_dir)
    vocab = sum(1 for _ in open(mdir / "vocab.txt", encoding="utf-8"))

    rounds: list[dict[str, dict[int, float]]] = []
    sessions = {name: ort_session(path, threads=1)
                for name, path in (("ort fp32", fp32), ("ort int8", int8))}
    with tempfile.TemporaryDirectory() as tmp:
        blobs = {}
        for dtype in ("f32", "f16", "int8"):
            blobs[dtype] = Path(tmp) / f"minilm-{dtype}.pbrt"
            subprocess.run([args.picobert, "import", "--hf", str(mdir), "--out",
                            str(blobs[dtype]), "--dtype", dtype], check=True, capture_output=True)
        for _ in range(args.rounds):
            ms: dict[str, dict[int, float]] = {}
            for name, sess in sessions.items():
                ms[name] = {n: ort_median_ms(sess, bench_ids(n, vocab, 101, 102), args.iters)
                            for n in lens}
            for dtype, blob in blobs.items():
                ms[f"picobert {dtype}"] = picobert_median_ms(args.picobert, blob, lens, args.iters)
            rounds.append(ms)

    def median(v: list[float]) -> float:
        return float(np.median(v))

    print(f"\n{'engine (median ms, 1 thread)':30}" + "".join(f"{n:>10}" for n in lens))
    for name in rounds[0]:
        print(f"{name:30}" + "".join(f"{median([r[name][n] for r in rounds]):10.2f}"
                                     for n in lens))
    print()
    for ours, theirs in (("picobert f32", "ort fp32"), ("picobert int8", "ort int8"),
                         ("picobert f16", "ort fp32")):
        ratios = [median([r[theirs][n] / r[ours][n] for r in rounds]) for n in lens]
        print(f"{theirs + ' / ' + ours:30}" + "".join(f"{x:9.2f}x" for x in ratios))

if __name__ == "__main__":
    main()
