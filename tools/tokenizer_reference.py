#!/usr/bin/env python3
"""Reference fixtures for the picobert tokenizer (tests/tokenizer_parity.rs).

Runs the reference tokenizers over the parity corpora and the committed Unicode edge cases:

  hf        transformers' slow BertTokenizer (`BertTokenizerLegacy` in transformers 5) with the
            all-MiniLM-L6-v2 vocab, lowercase on (the model's setting)
  hf_cased  the same vocab, do_lower_case=False
  hf_ours   our trainer's cased vocab (tests/fixtures/tokenizer/cased-vocab.txt), do_lower_case=False
  google    Google's tokenization.py (PyPI bert-tensorflow 1.0.4), do_lower_case=True
  fast      transformers' BertTokenizerFast with the MiniLM tokenizer: offsets, word ids,
            truncation (max_length 128) and pairs (consecutive lines, max_length 64)

Outputs (tests/fixtures/tokenizer/, small enough to commit):
  corpora.json              line count and sha256 of every corpus file (catches a changed split)
  <case>.chunks.json        per corpus, CRC-32 of every 100-line chunk of the ids JSONL
  <case>.unicode.jsonl      full ids of every line of unicode.txt
  fast.*                    the same for the fast records, plus the lines where fast differs from
                            slow (those are compared in tokenizer_differences.rs, not here)
  decode.jsonl              slow decode of sample lines
  windows.json              run_squad.py windows and max-context flags for long paragraphs

A mismatch in the Rust test names the corpus and chunk; `--dump CASE CORPUS FIRST LAST` prints
the reference records of those lines to compare by eye.

Lines are split on "\\n" only (never str.splitlines: U+2028, U+0085 and \\r are content).

Needs: transformers, tokenizers, pip (for bert-tensorflow), the corpora (tools/fetch_corpora.py)
and the model (tools/fetch_minilm.py).
"""

import argparse
import ast
import hashlib
import json
import os
import subprocess
import sys
import types
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures", "tokenizer")
CORPORA = ("brown", "sotu", "moby")
CHUNK = 100
GOOGLE_WHEEL = "bert_tensorflow-1.0.4-py2.py3-none-any.whl"


def cache_dir():
    return os.environ.get("PICOBERT_CACHE", os.path.expanduser("~/.cache/picobert"))


def read_lines(path):
    with open(path, "rb") as f:
        data = f.read().decode("utf-8")
    lines = data.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def minilm_dir():
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "fetch_minilm.py")],
        check=True, capture_output=True, text=True,
    ).stdout.strip().splitlines()
    return out[-1]


def google_tokenization():
    """Import Google's tokenization.py from the bert-tensorflow wheel. It imports TensorFlow and
    absl only for file reading and one flag; stand-ins keep those two uses working."""
    wheels = os.path.join(cache_dir(), "wheels")
    wheel = os.path.join(wheels, GOOGLE_WHEEL)
    if not os.path.exists(wheel):
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", wheels,
                        "bert-tensorflow==1.0.4"], check=True, stdout=sys.stderr)
    sys.path.insert(0, wheel)
    absl = types.ModuleType("absl")
    flags = types.ModuleType("absl.flags")
    flags.FLAGS = types.SimpleNamespace(preserve_unused_tokens=False)
    flags.DEFINE_bool = lambda *a, **k: None
    absl.flags = flags
    tf = types.ModuleType("tensorflow")
    tf1 = types.ModuleType("tensorflow.compat.v1")
    tf1.gfile = types.SimpleNamespace(GFile=lambda p, m: open(p, m, encoding="utf-8", newline=""))
    tf.compat = types.SimpleNamespace(v1=tf1)
    sys.modules.update({"absl": absl, "absl.flags": flags, "tensorflow": tf,
                        "tensorflow.compat": tf.compat, "tensorflow.compat.v1": tf1})
    from bert import tokenization  # noqa: E402
    return tokenization


def run_squad_max_context():
    """`_check_is_max_context`, taken verbatim from the wheel's run_squad.py."""
    import zipfile
    wheel = os.path.join(cache_dir(), "wheels", GOOGLE_WHEEL)
    src = zipfile.ZipFile(wheel).read("bert/run_squad.py").decode("utf-8")
    tree = ast.parse(src)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "_check_is_max_context")
    env = {}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), "run_squad.py", "exec"), env)
    return env["_check_is_max_context"]


def jsonl_ids(ids):
    return json.dumps(ids, separators=(",", ":"))


def chunk_crcs(records):
    crcs = []
    for i in range(0, len(records), CHUNK):
        data = "".join(r + "\n" for r in records[i:i + CHUNK]).encode("utf-8")
        crcs.append(zlib.crc32(data))
    return crcs


def byte_offsets(text):
    """Python str index -> UTF-8 byte offset."""
    out = [0]
    for ch in text:
        out.append(out[-1] + len(ch.encode("utf-8")))
    return out


def fast_record(enc, texts):
    """ids;types;spans;words, spans in bytes of the text each token came from."""
    offs = [byte_offsets(t) for t in texts]
    spans = []
    for (s, e), seq, w in zip(enc["offset_mapping"], enc.sequence_ids(), enc.word_ids()):
        if seq is None:
            spans.append("0-0")
        else:
            spans.append(f"{offs[seq][s]}-{offs[seq][e]}")
    words = ["-" if w is None else str(w) for w in enc.word_ids()]
    return ";".join([
        ",".join(map(str, enc["input_ids"])),
        ",".join(map(str, enc["token_type_ids"])),
        ",".join(spans),
        ",".join(words),
    ])


def slow(vocab, lower):
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy
    return BertTokenizerLegacy(vocab, do_lower_case=lower)


def make_cases(model_dir):
    vocab = os.path.join(model_dir, "vocab.txt")
    cases = {
        "hf": slow(vocab, True),
        "hf_cased": slow(vocab, False),
    }
    ours = os.path.join(FIX, "cased-vocab.txt")
    if os.path.exists(ours):
        cases["hf_ours"] = slow(ours, False)
    tokenization = google_tokenization()
    g = tokenization.FullTokenizer(vocab, do_lower_case=True)

    class Google:
        def encode(self, text):
            toks = ["[CLS]"] + g.tokenize(text) + ["[SEP]"]
            return g.convert_tokens_to_ids(toks)

    cases["google"] = Google()
    return cases


def corpus_lines():
    root = os.path.join(cache_dir(), "corpora")
    out = {}
    for c in CORPORA:
        path = os.path.join(root, c + ".txt")
        if not os.path.exists(path):
            sys.exit(f"{path} missing: run tools/fetch_corpora.py first")
        out[c] = read_lines(path)
    return out


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_json(name, obj):
    with open(os.path.join(FIX, name), "w", encoding="utf-8") as f:
        json.dump(obj, f, separators=(",", ":"), sort_keys=True)
        f.write("\n")


def write_jsonl(name, records):
    with open(os.path.join(FIX, name), "w", encoding="utf-8", newline="") as f:
        for r in records:
            f.write(r + "\n")


def fast_tokenizer(model_dir):
    from transformers import BertTokenizerFast
    return BertTokenizerFast.from_pretrained(model_dir)


def windows_fixture(hf, lines):
    """run_squad.py's doc spans and max-context flags on the longest Moby Dick paragraphs."""
    check = run_squad_max_context()
    docs = sorted(range(len(lines)), key=lambda i: -len(lines[i]))[40:46]
    query = "Who was Ishmael, and why did he go to sea?"
    q = len(hf.tokenize(query))
    out = []
    for i in sorted(docs):
        n = len(hf.tokenize(lines[i]))
        for max_len, stride in ((64, 16), (96, 40), (128, 128), (48, 7)):
            max_doc = max_len - q - 3
            # The doc-span loop of run_squad.py's convert_examples_to_features, verbatim logic.
            spans = []
            start = 0
            while start < n:
                length = min(n - start, max_doc)
                spans.append(types.SimpleNamespace(start=start, length=length))
                if start + length == n:
                    break
                start += min(length, stride)
            flags = [[check(spans, k, p) for p in range(s.start, s.start + s.length)]
                     for k, s in enumerate(spans)]
            out.append({"line": i, "max_len": max_len, "stride": stride,
                        "spans": [[s.start, s.length] for s in spans],
                        "max_context": ["".join("1" if f else "0" for f in fl) for fl in flags]})
    return {"query": query, "windows": out}


# Inputs on which the references disagree (docs/TOKENIZER.md; tests/tokenizer_differences.rs).
# (name, text or (a, b), lowercase, max_len)
DIFFERENCES = [
    ("private-use-and-unassigned", "a\ue000b z\u0378z x\U000f0000y", True, None),
    ("max-input-chars-per-word", "a" * 150, True, None),
    ("special-token-in-text", "fill [MASK] in", True, None),
    # Cased, with our trained vocabulary (it has "##\u00e1"): only NFC finds it.
    ("nfc-without-lowercase", "Sa\u0301nchez Sa\u0301", False, None),
    ("final-sigma", "\u039f\u0394\u039f\u03a3 \u0391\u03a3. \u0391\u03a3'\u0392", True, None),
    ("cjk-extension-e-range", "\U0002b820\U0002b8ff", True, None),
    # Unicode 10+ punctuation (U+2E43), a Unicode 14 mark (U+0898), U+166D (Po -> So in 12.0).
    ("unicode-version", "a\u2e43b c\u0898d e\u166df", True, None),
    ("pair-truncation-tie", ("one two three four five six seven eight nine ten",
                             "alpha beta gamma delta epsilon zeta eta theta iota kappa"), True, 18),
]


def truncate_seq_pair():
    """`_truncate_seq_pair`, taken verbatim from the wheel's run_classifier.py."""
    import zipfile
    wheel = os.path.join(cache_dir(), "wheels", GOOGLE_WHEEL)
    src = zipfile.ZipFile(wheel).read("bert/run_classifier.py").decode("utf-8")
    tree = ast.parse(src)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "_truncate_seq_pair")
    env = {}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), "run_classifier.py", "exec"), env)
    return env["_truncate_seq_pair"]


def differences(model_dir):
    from transformers import BertTokenizerFast
    from transformers.models.bert.tokenization_bert_legacy import load_vocab
    tokenization = google_tokenization()
    trunc = truncate_seq_pair()
    out = []
    for name, text, lower, max_len in DIFFERENCES:
        vocab_file = (os.path.join(model_dir, "vocab.txt") if lower
                      else os.path.join(FIX, "cased-vocab.txt"))
        hf = slow(vocab_file, lower)
        fast = BertTokenizerFast(vocab=load_vocab(vocab_file), do_lower_case=lower)
        g = tokenization.FullTokenizer(vocab_file, do_lower_case=lower)
        rec = {"name": name, "lowercase": lower, "max_len": max_len,
               "vocab": "minilm" if lower else "ours"}
        if isinstance(text, tuple):
            a, b = text
            rec.update(a=a, b=b)
            kw = dict(truncation="longest_first", max_length=max_len)
            rec["hf"] = hf(a, b, **kw)["input_ids"]
            rec["fast"] = fast(a, b, **kw)["input_ids"]
            ta, tb = g.tokenize(a), g.tokenize(b)
            trunc(ta, tb, max_len - 3)
            rec["google"] = g.convert_tokens_to_ids(["[CLS]"] + ta + ["[SEP]"] + tb + ["[SEP]"])
        else:
            rec["text"] = text
            rec["hf"] = hf.encode(text)
            rec["fast"] = fast.encode(text)
            rec["google"] = g.convert_tokens_to_ids(["[CLS]"] + g.tokenize(text) + ["[SEP]"])
        rec["hf_vs_fast"] = rec["hf"] != rec["fast"]
        rec["hf_vs_google"] = rec["hf"] != rec["google"]
        out.append(json.dumps(rec, ensure_ascii=False, separators=(",", ":")))
    write_jsonl("differences.jsonl", out)


def generate():
    model_dir = minilm_dir()
    corpora = corpus_lines()
    unicode_lines = read_lines(os.path.join(FIX, "unicode.txt"))
    write_json("corpora.json", {
        c: {"lines": len(corpora[c]),
            "sha256": sha256_file(os.path.join(cache_dir(), "corpora", c + ".txt"))}
        for c in CORPORA})

    cases = make_cases(model_dir)
    slow_ids = {}
    for name, tok in cases.items():
        chunks = {}
        for c in CORPORA:
            ids = [tok.encode(l) for l in corpora[c]]
            if name == "hf":
                slow_ids[c] = ids
            chunks[c] = chunk_crcs([jsonl_ids(x) for x in ids])
            print(f"{name} {c}: {len(ids)} lines", file=sys.stderr)
        write_json(f"{name}.chunks.json", chunks)
        uni = [tok.encode(l) for l in unicode_lines]
        if name == "hf":
            slow_ids["unicode"] = uni
        write_jsonl(f"{name}.unicode.jsonl", [jsonl_ids(x) for x in uni])

    fast = fast_tokenizer(model_dir)
    fast_chunks = {}
    for c in CORPORA + ("unicode",):
        lines = corpora[c] if c != "unicode" else unicode_lines
        same = [fast(l)["input_ids"] == s for l, s in zip(lines, slow_ids[c])]
        singles = [fast_record(fast(l, truncation=True, max_length=128,
                                    return_offsets_mapping=True), [l])
                   for l, ok in zip(lines, same) if ok]
        pairs = [fast_record(fast(lines[i], lines[i + 1], truncation="longest_first",
                                  max_length=64, return_offsets_mapping=True),
                             [lines[i], lines[i + 1]])
                 for i in range(0, len(lines) - 1, 2) if same[i] and same[i + 1]]
        differing = [i for i, ok in enumerate(same) if not ok]
        if c == "unicode":
            write_jsonl("fast.unicode.singles.txt", singles)
            write_jsonl("fast.unicode.pairs.txt", pairs)
        fast_chunks[c] = {"differs_from_slow": differing,
                          "singles": chunk_crcs(singles), "pairs": chunk_crcs(pairs)}
        print(f"fast {c}: {len(differing)} lines differ from slow", file=sys.stderr)
    write_json("fast.chunks.json", fast_chunks)

    hf = cases["hf"]
    samples = unicode_lines + corpora["brown"][::2000] + corpora["moby"][::200]
    dec = []
    for l in samples:
        ids = hf.encode(l)
        dec.append(json.dumps({"ids": ids, "text": hf.decode(ids),
                               "skip_special": hf.decode(ids, skip_special_tokens=True)},
                              ensure_ascii=False, separators=(",", ":")))
    write_jsonl("decode.jsonl", dec)
    write_json("windows.json", windows_fixture(hf, corpora["moby"]))
    differences(model_dir)


def dump(case, corpus, first, last):
    model_dir = minilm_dir()
    lines = (read_lines(os.path.join(FIX, "unicode.txt")) if corpus == "unicode"
             else corpus_lines()[corpus])
    tok = make_cases(model_dir)[case]
    for i in range(first, min(last, len(lines))):
        print(i, jsonl_ids(tok.encode(lines[i])))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dump", nargs=4, metavar=("CASE", "CORPUS", "FIRST", "LAST"))
    ap.add_argument("--differences-only", action="store_true")
    args = ap.parse_args()
    if args.differences_only:
        differences(minilm_dir())
    elif args.dump:
        case, corpus, first, last = args.dump
        dump(case, corpus, int(first), int(last))
    else:
        generate()


if __name__ == "__main__":
    main()
