#!/usr/bin/env python3
"""Accuracy of picobert's f16 and int8 all-MiniLM-L6-v2 against transformers fp32, beside
ONNX Runtime's dynamic int8 on the same sentences.

Sentence embeddings are sentence-transformers' (mean over tokens, L2-normalised); the score is
the cosine between an engine's embedding and transformers' fp32 one, per sentence. Sentences:
real text, the first N lines of 5-60 words from the Brown corpus and the State of the Union
addresses (tools/fetch_corpora.py caches them), alternating.

Usage: tools/quant_accuracy.py [--picobert target/release/picobert] [--n 256] [--json out.json]
Needs torch, transformers, onnx, onnxruntime (not CI: run by hand; numbers go in the README).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    return Path(os.environ.get("PICOBERT_CACHE", Path.home() / ".cache" / "picobert"))


def model_dir() -> Path:
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "fetch_minilm.py")],
                         check=True, capture_output=True, text=True).stdout
    return Path(out.strip().splitlines()[-1])


def sentences(n: int) -> list[str]:
    corpora = cache_dir() / "corpora"
    pools = []
    for name in ("brown.txt", "sotu.txt"):
        path = corpora / name
        if not path.exists():
            sys.exit(f"{path} missing: run tools/fetch_corpora.py first")
        keep = []
        for line in path.read_text(encoding="utf-8").splitlines():
            words = line.split()
            if 5 <= len(words) <= 60:
                keep.append(" ".join(words))
            if len(keep) >= n:
                break
        pools.append(keep)
    mixed = [s for pair in zip(*pools) for s in pair]
    return mixed[:n]


def mean_pool(hidden: np.ndarray) -> np.ndarray:
    v = hidden.mean(axis=0)
    return v / max(np.linalg.norm(v), 1e-12)


def transformers_embeddings(mdir: Path, ids: list[list[int]]) -> list[np.ndarray]:
    import torch
    from transformers import AutoModel
    model = AutoModel.from_pretrained(str(mdir), attn_implementation="eager").eval()
    out = []
    with torch.no_grad():
        for row in ids:
            h = model(input_ids=torch.tensor([row])).last_hidden_state[0].numpy()
            out.append(mean_pool(h))
    return out


def export_onnx(mdir: Path, path: Path) -> None:
    """transformers' BertModel to ONNX fp32 (inputs input_ids, attention_mask, token_type_ids)."""
    import torch
    from transformers import AutoModel
    bert = AutoModel.from_pretrained(str(mdir), attn_implementation="eager").eval()

    class ByKeyword(torch.nn.Module):
        """transformers 5 takes `use_cache` third positionally: pass the inputs by name."""

        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    ids = torch.tensor([[101, 7592, 2088, 102]])
    torch.onnx.export(
        ByKeyword(), (ids, torch.ones_like(ids), torch.zeros_like(ids)), str(path),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["last_hidden_state"],
        dynamic_axes={k: {0: "batch", 1: "seq"} for k in
                      ("input_ids", "attention_mask", "token_type_ids", "last_hidden_state")},
        opset_version=17, dynamo=False)


def ort_models(mdir: Path, work: Path) -> tuple[Path, Path]:
    """ORT's own fp32 export and its `quantize_dynamic` int8 (per-channel), cached."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    fp32, int8 = work / "minilm-fp32.onnx", work / "minilm-int8.onnx"
    if not fp32.exists():
        export_onnx(mdir, fp32)
    if not int8.exists():
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
    return fp32, int8


def ort_session(path: Path, threads: int = 1):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def ort_embeddings(sess, ids: list[list[int]]) -> list[np.ndarray]:
    out = []
    for row in ids:
        a = np.array([row], dtype=np.int64)
        h = sess.run(["last_hidden_state"], {"input_ids": a, "attention_mask": np.ones_like(a),
                                             "token_type_ids": np.zeros_like(a)})[0][0]
        out.append(mean_pool(h))
    return out


def picobert_embeddings(exe: str, blob: Path, ids: list[list[int]], work: Path) -> list[np.ndarray]:
    """`picobert forward` once per distinct length (a batch's rows must be equally long)."""
    by_len: dict[int, list[int]] = {}
    for i, row in enumerate(ids):
        by_len.setdefault(len(row), []).append(i)
    out: list = [None] * len(ids)
    for length, idx in by_len.items():
        inp, res = work / f"in-{length}.json", work / f"out-{length}.json"
        inp.write_text(json.dumps({"input_ids": [ids[i] for i in idx]}))
        subprocess.run([exe, "forward", "--model", str(blob), "--input", str(inp),
                        "--output", str(res)], check=True)
        hidden = np.array(json.loads(res.read_text())["last_hidden_state"], dtype=np.float32)
        for row, i in zip(hidden, idx):
            out[i] = mean_pool(row)
    return out


def cosines(a: list[np.ndarray], b: list[np.ndarray]) -> np.ndarray:
    return np.array([float(np.dot(x, y)) for x, y in zip(a, b)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--picobert", default=str(ROOT / "target" / "release" / "picobert"))
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    from transformers import AutoTokenizer

    mdir = model_dir()
    texts = sentences(args.n)
    tok = AutoTokenizer.from_pretrained(str(mdir))
    ids = [tok(t, truncation=True, max_length=256)["input_ids"] for t in texts]
    print(f"{len(ids)} sentences, {min(map(len, ids))}-{max(map(len, ids))} tokens "
          f"(mean {np.mean([len(r) for r in ids]):.1f})")
    ref = transformers_embeddings(mdir, ids)

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        # f32 is checked against transformers by tests/parity_minilm.rs.
        for dtype in ("f16", "int8"):
            blob = work / f"minilm-{dtype}.pbrt"
            subprocess.run([args.picobert, "import", "--hf", str(mdir), "--out", str(blob),
                            "--dtype", dtype], check=True)
            results[f"picobert {dtype}"] = cosines(picobert_embeddings(args.picobert, blob, ids,
                                                                       work), ref)
        onnx_dir = cache_dir() / "onnx"
        onnx_dir.mkdir(parents=True, exist_ok=True)
        fp32, int8 = ort_models(mdir, onnx_dir)
        results["onnxruntime fp32"] = cosines(ort_embeddings(ort_session(fp32), ids), ref)
        results["onnxruntime int8 (quantize_dynamic, per-channel)"] = cosines(
            ort_embeddings(ort_session(int8), ids), ref)

    print(f"{'engine':52} {'mean cos':>10} {'min cos':>10} {'1 - mean':>10}")
    for name, c in results.items():
        print(f"{name:52} {c.mean():10.6f} {c.min():10.6f} {1 - c.mean():10.2e}")
    if args.json:
        args.json.write_text(json.dumps(
            {k: {"mean": float(v.mean()), "min": float(v.min())} for k, v in results.items()},
            indent=1))


if __name__ == "__main__":
    main()
