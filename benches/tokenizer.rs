//! Tokenizer throughput (MB/s of input text, one thread) against Hugging Face `tokenizers` with
//! the same vocabulary (all-MiniLM-L6-v2, lowercase) and the same text: `english` is 1 MiB of
//! Moby Dick and State of the Union lines (tools/fetch_corpora.py), `unicode` is the committed
//! Unicode set (tests/fixtures/tokenizer/unicode.txt) repeated to 256 KiB. Both produce word
//! piece ids per line without [CLS]/[SEP]; a check before timing asserts they produce the same
//! ids (on the Unicode set, except the lines where `tokenizers` differs from the slow
//! `BertTokenizer` we follow: docs/TOKENIZER.md, "Where the references differ").
//!
//!     cargo bench --bench tokenizer

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use picobert::tokenizer::Tokenizer;
use picobert::Vocab;
use std::path::PathBuf;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::AddedToken;

const TEXT_BYTES: usize = 1 << 20;
const UNICODE_BYTES: usize = 1 << 18;

fn corpus_text() -> Vec<String> {
    let cache = std::env::var_os("PICOBERT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/picobert")
        });
    let mut lines = Vec::new();
    let mut bytes = 0;
    for name in ["moby", "sotu"] {
        let path = cache.join("corpora").join(format!("{name}.txt"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run tools/fetch_corpora.py)", path.display()));
        for l in text.lines() {
            if bytes >= TEXT_BYTES {
                return lines;
            }
            bytes += l.len();
            lines.push(l.to_string());
        }
    }
    lines
}

fn unicode_text() -> Vec<String> {
    let text = std::fs::read_to_string(picobert_e2e::fixture("tokenizer/unicode.txt")).unwrap();
    let mut lines = Vec::new();
    let mut bytes = 0;
    while bytes < UNICODE_BYTES {
        for l in text.lines() {
            bytes += l.len();
            lines.push(l.to_string());
        }
    }
    lines
}

fn bench(c: &mut Criterion) {
    let vocab_path = picobert_e2e::minilm_dir().join("vocab.txt");
    let tokens = picobert_trainer::hf::read_vocab(&vocab_path).unwrap();
    let section = picobert_trainer::blob::vocab_section(&tokens);
    let vocab = Vocab::from_bytes(&section).unwrap();
    let config = picobert_trainer::cmd_tokenize::vocab_config(&vocab, true);
    let ours = Tokenizer::new(vocab, config).unwrap();

    let wp = WordPiece::from_file(vocab_path.to_str().unwrap())
        .unk_token("[UNK]".into())
        .build()
        .unwrap();
    let mut theirs = tokenizers::Tokenizer::new(wp);
    theirs.with_normalizer(Some(BertNormalizer::new(true, true, None, true)));
    theirs.with_pre_tokenizer(Some(BertPreTokenizer));
    // As transformers' BertTokenizerFast: special tokens written in the text stay whole.
    let specials: Vec<AddedToken> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        .iter()
        .map(|t| AddedToken::from(*t, true))
        .collect();
    theirs.add_special_tokens(&specials);

    for (name, lines, max_differing) in [
        ("english", corpus_text(), 0),
        // The lines of the set where `tokenizers` (fast) and the slow tokenizer disagree.
        ("unicode", unicode_text(), 4),
    ] {
        let total: usize = lines.iter().map(String::len).sum();
        let mut differing = std::collections::BTreeSet::new();
        for l in &lines {
            let a: Vec<u32> = ours.pieces(l).unwrap().map(|p| p.id).collect();
            let b = theirs.encode(l.as_str(), false).unwrap();
            if a != b.get_ids() {
                differing.insert(l.as_str());
            }
        }
        assert!(
            differing.len() <= max_differing,
            "{name}: ids differ on {differing:#?}"
        );

        let mut g = c.benchmark_group(format!("tokenize_{name}"));
        g.throughput(Throughput::Bytes(total as u64));
        g.sample_size(10);
        g.bench_function("picobert", |bch| {
            bch.iter(|| {
                let mut n = 0u64;
                for l in &lines {
                    for p in ours.pieces(l).unwrap() {
                        n += p.id as u64;
                    }
                }
                n
            })
        });
        g.bench_function("picobert_offsets", |bch| {
            bch.iter(|| {
                let mut n = 0u64;
                for l in &lines {
                    for p in ours.pieces(l).unwrap() {
                        n += (p.id + p.start + p.end + p.word) as u64;
                    }
                }
                n
            })
        });
        g.bench_function("hf_tokenizers", |bch| {
            bch.iter(|| {
                let mut n = 0u64;
                for l in &lines {
                    let e = theirs.encode(l.as_str(), false).unwrap();
                    n += e.get_ids().iter().map(|&i| i as u64).sum::<u64>();
                }
                n
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
