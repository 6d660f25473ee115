//! Tokenizer throughput (MB/s of input text, one thread) against Hugging Face `tokenizers` with
//! the same vocabulary (all-MiniLM-L6-v2, lowercase) and the same text (State of the Union and
//! Moby Dick lines from tools/fetch_corpora.py). Both produce word piece ids per line without
//! [CLS]/[SEP]; a check before timing asserts they produce the same ids.
//!
//!     cargo bench --bench tokenizer

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use picobert::tokenizer::Tokenizer;
use picobert::{TokenizerConfig, TokenizerMode, Vocab, NO_TOKEN};
use std::path::PathBuf;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;

const TEXT_BYTES: usize = 1 << 20;

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

fn bench(c: &mut Criterion) {
    let vocab_path = picobert_e2e::minilm_dir().join("vocab.txt");
    let tokens = picobert_trainer::hf::read_vocab(&vocab_path).unwrap();
    let section = picobert_trainer::blob::vocab_section(&tokens);
    let vocab = Vocab::from_bytes(&section).unwrap();
    let id = |t: &str| vocab.id(t).unwrap_or(NO_TOKEN);
    let config = TokenizerConfig {
        do_lower_case: true,
        strip_accents: true,
        tokenize_chinese_chars: true,
        mode: TokenizerMode::HuggingFace,
        max_input_chars_per_word: 100,
        cls_id: id("[CLS]"),
        sep_id: id("[SEP]"),
        pad_id: id("[PAD]"),
        unk_id: id("[UNK]"),
        mask_id: id("[MASK]"),
    };
    let ours = Tokenizer::new(vocab, config).unwrap();

    let wp = WordPiece::from_file(vocab_path.to_str().unwrap())
        .unk_token("[UNK]".into())
        .build()
        .unwrap();
    let mut theirs = tokenizers::Tokenizer::new(wp);
    theirs.with_normalizer(Some(BertNormalizer::new(true, true, None, true)));
    theirs.with_pre_tokenizer(Some(BertPreTokenizer));

    let lines = corpus_text();
    let total: usize = lines.iter().map(String::len).sum();
    for l in &lines {
        let a: Vec<u32> = ours.pieces(l).unwrap().map(|p| p.id).collect();
        let b = theirs.encode(l.as_str(), false).unwrap();
        assert_eq!(a, b.get_ids(), "{l}");
    }

    let mut g = c.benchmark_group("tokenize");
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

criterion_group!(benches, bench);
criterion_main!(benches);
