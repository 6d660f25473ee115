#!/usr/bin/env python3
"""Which int8 scheme? Fake-quantises transformers' all-MiniLM-L6-v2 (every encoder Linear:
weights symmetric int8, inputs quantised per token and per group of features, round half to
even) and scores sentence embeddings against fp32 on the same sentences as
tools/quant_accuracy.py. This is how the core's group width (`GROUP` in
core/src/kernels/quant.rs) was chosen; the "G64" row reproduces the core's measured int8 numbers
of that scheme to ~1e-5, so the simulation ranks schemes before any kernel is written.

Usage: tools/quant_schemes.py [--n 256]      (needs torch + transformers; ~3 minutes)
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quant_accuracy import mean_pool, model_dir, sentences  # noqa: E402


def quant_weight(w, group=None):
    """Per output channel (or per channel and group of `group` inputs), symmetric, 127 levels."""
    o, k = w.shape
    g = group or k
    ww = w.reshape(o, k // g, g)
    s = ww.abs().amax(dim=2, keepdim=True) / 127
    return (torch.round(ww / s).clamp(-127, 127) * s).reshape(o, k)


def quant_input(x, group, asym=False):
    """Per token and group of `group` features; `asym`: 255 levels between min and max."""
    shape = x.shape
    xx = x.reshape(*shape[:-1], shape[-1] // group, group)
    if asym:
        lo, hi = xx.amin(-1, keepdim=True), xx.amax(-1, keepdim=True)
        s = (hi - lo).clamp_min(1e-12) / 255
        return (torch.round((xx - lo) / s).clamp(0, 255) * s + lo).reshape(shape)
    s = xx.abs().amax(-1, keepdim=True) / 127
    s = torch.where(s > 0, s, torch.ones_like(s))
    return (torch.round(xx / s).clamp(-127, 127) * s).reshape(shape)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=256)
    args = ap.parse_args()
    from transformers import AutoModel, AutoTokenizer

    torch.set_num_threads(1)
    mdir = str(model_dir())
    tok = AutoTokenizer.from_pretrained(mdir)
    ids = [tok(t, truncation=True, max_length=256)["input_ids"] for t in sentences(args.n)]
    model = AutoModel.from_pretrained(mdir, attn_implementation="eager").eval()

    def embeddings():
        with torch.no_grad():
            return np.array([mean_pool(model(input_ids=torch.tensor([r])).last_hidden_state[0]
                                       .numpy()) for r in ids])

    ref = embeddings()
    linears = {n: (m, m.weight.data.clone()) for n, m in model.named_modules()
               if isinstance(m, torch.nn.Linear) and "encoder" in n}

    def score(label, group, weights=True, inputs=True, weight_group=None, asym_down=False):
        for name, (m, w0) in linears.items():
            m.weight.data = quant_weight(w0, weight_group) if weights else w0.clone()
            down = name.endswith("output.dense") and "attention" not in name

            def forward(x, m=m, asym=asym_down and down):
                x = quant_input(x, group, asym) if inputs else x
                return torch.nn.functional.linear(x, m.weight, m.bias)
            m.forward = forward
        c = (embeddings() * ref).sum(1)
        print(f"{label:44} mean cos {c.mean():.6f}  min cos {c.min():.6f}", flush=True)

    print(f"{len(ids)} sentences; int8 vs fp32 transformers, sentence-embedding cosine")
    score("G64 (per-token groups of 64)", 64)
    score("G64, weights only", 64, inputs=False)
    score("G64, inputs only", 64, weights=False)
    score("G64, asymmetric FFN-down input", 64, asym_down=True)
    score("G32", 32)
    score("G16", 16)
    score("G64 + weight scales per 64 inputs", 64, weight_group=64)
    score("G32 + weight scales per 64 inputs", 32, weight_group=64)


if __name__ == "__main__":
    main()
