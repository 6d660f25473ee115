//! Shared helpers of the tokenizer tests: vocabularies, configurations, corpora, fixtures.
#![allow(dead_code)] // each test binary uses a different subset

use picobert::tokenizer::{Piece, Tokenizer};
use picobert::{TokenizerConfig, TokenizerMode, Vocab, NO_TOKEN};
use picobert_e2e::{fixture, minilm_dir};
use std::path::PathBuf;

/// A vocabulary section built the way the exporter builds it, kept alive for `Vocab`.
pub struct VocabBytes {
    pub tokens: Vec<String>,
    pub bytes: Vec<u8>,
}

impl VocabBytes {
    pub fn from_tokens(tokens: Vec<String>) -> Self {
        let bytes = picobert_trainer::blob::vocab_section(&tokens);
        VocabBytes { tokens, bytes }
    }

    pub fn minilm() -> Self {
        let path = minilm_dir().join("vocab.txt");
        Self::from_tokens(picobert_trainer::hf::read_vocab(&path).unwrap())
    }

    /// The cased vocabulary our trainer made (committed fixture).
    pub fn ours_cased() -> Self {
        let path = fixture("tokenizer/cased-vocab.txt");
        Self::from_tokens(picobert_trainer::hf::read_vocab(&path).unwrap())
    }

    pub fn vocab(&self) -> Vocab<'_> {
        Vocab::from_bytes(&self.bytes).unwrap()
    }

    /// A tokenizer in `mode` with transformers' defaults for that mode.
    pub fn tokenizer(&self, lower: bool, mode: TokenizerMode) -> Tokenizer<'_> {
        let v = self.vocab();
        let id = |t: &str| v.id(t).unwrap_or(NO_TOKEN);
        let cfg = TokenizerConfig {
            do_lower_case: lower,
            strip_accents: lower,
            tokenize_chinese_chars: true,
            mode,
            max_input_chars_per_word: match mode {
                TokenizerMode::HuggingFace => 100,
                TokenizerMode::Google => 200,
            },
            cls_id: id("[CLS]"),
            sep_id: id("[SEP]"),
            pad_id: id("[PAD]"),
            unk_id: id("[UNK]"),
            mask_id: id("[MASK]"),
        };
        Tokenizer::new(v, cfg).unwrap()
    }
}

pub fn cache_dir() -> PathBuf {
    match std::env::var_os("PICOBERT_CACHE") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/picobert"),
    }
}

/// Lines of a file split on `\n` only, as tools/tokenizer_reference.py splits them.
pub fn read_lines(path: &std::path::Path) -> Vec<String> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text = String::from_utf8(data).unwrap();
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

/// A parity corpus fetched by tools/fetch_corpora.py, checked against the fixture's line count.
pub fn corpus(name: &str) -> Vec<String> {
    if name == "unicode" {
        return read_lines(&fixture("tokenizer/unicode.txt"));
    }
    let path = cache_dir().join("corpora").join(format!("{name}.txt"));
    assert!(
        path.exists(),
        "{} missing: run `python3 tools/fetch_corpora.py` first",
        path.display()
    );
    let lines = read_lines(&path);
    let meta = json_fixture("corpora.json");
    assert_eq!(
        lines.len() as u64,
        meta[name]["lines"].as_u64().unwrap(),
        "{name}: the corpus split changed since the fixtures were made"
    );
    lines
}

pub fn json_fixture(name: &str) -> serde_json::Value {
    let path = fixture(&format!("tokenizer/{name}"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

pub fn fixture_lines(name: &str) -> Vec<String> {
    read_lines(&fixture(&format!("tokenizer/{name}")))
}

/// `[CLS] pieces [SEP]` ids of a whole text, no truncation.
pub fn encode_ids(tok: &Tokenizer, text: &str) -> Vec<u32> {
    let cfg = tok.config();
    let mut ids = vec![cfg.cls_id];
    ids.extend(tok.pieces(text).unwrap().map(|p: Piece| p.id));
    ids.push(cfg.sep_id);
    ids
}

/// The ids as the reference writes them: `json.dumps(ids, separators=(",", ":"))`.
pub fn ids_json(ids: &[u32]) -> String {
    let body: Vec<String> = ids.iter().map(u32::to_string).collect();
    format!("[{}]", body.join(","))
}

/// CRC-32 of every `chunk`-line group of records, each followed by `\n`.
pub fn chunk_crcs(records: &[String], chunk: usize) -> Vec<u32> {
    records
        .chunks(chunk)
        .map(|c| {
            let mut data = Vec::new();
            for r in c {
                data.extend_from_slice(r.as_bytes());
                data.push(b'\n');
            }
            picobert::crc32(&data)
        })
        .collect()
}
