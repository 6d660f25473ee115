//! Pair encoding with truncation: two arbitrary texts, an arbitrary `max_len`, arbitrary
//! tokenizer settings and buffer sizes. Encoding returns `Ok` or `Err` and never panics; on `Ok`
//! the output is well formed and within the limits, and it runs through the model.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use picobert::tokenizer::{Encoding, Tokenizer};
use picobert::{Model, TokenizerMode};

mod exercise;

const BLOB: &[u8] = include_bytes!("../corpus/blob_load/f32-vocab256.blob");

#[derive(Arbitrary, Debug)]
struct Case<'a> {
    a: &'a str,
    b: &'a str,
    max_len: Option<u16>,
    capacity: u16,
    offsets: bool,
    google: bool,
    lower: bool,
    strip_accents: bool,
    chinese: bool,
    max_word_chars: u8,
}

fuzz_target!(|case: Case| {
    let words = exercise::aligned(BLOB);
    let blob = &bytemuck::cast_slice::<u32, u8>(&words)[..BLOB.len()];
    let model = Model::load(blob).expect("the seed blob loads (tests/regressions.rs checks it)");
    let mut config = *model.tokenizer_config();
    config.mode = if case.google {
        TokenizerMode::Google
    } else {
        TokenizerMode::HuggingFace
    };
    config.do_lower_case = case.lower;
    config.strip_accents = case.strip_accents;
    config.tokenize_chinese_chars = case.chinese;
    config.max_input_chars_per_word = case.max_word_chars as usize;
    let Ok(tok) = Tokenizer::new(*model.vocab(), config) else {
        return;
    };
    let cap = case.capacity as usize % 600;
    let (mut ids, mut types) = (vec![0u32; cap], vec![0u32; cap]);
    let (mut spans, mut word_ids) = (vec![(0u32, 0u32); cap], vec![0u32; cap]);
    let mut enc = Encoding::new(&mut ids, &mut types).unwrap();
    if case.offsets {
        enc = enc.with_offsets(&mut spans, &mut word_ids).unwrap();
    }
    let max_len = case.max_len.map(usize::from);
    let Ok(n) = tok.encode_pair(case.a, case.b, max_len, &mut enc) else {
        return;
    };
    assert_eq!(n, enc.len());
    assert!(n >= 3 && n <= cap && max_len.is_none_or(|m| n <= m));
    assert!(enc
        .ids()
        .iter()
        .all(|&id| (id as usize) < model.vocab().len()));
    if let Some(spans) = enc.spans() {
        let text_len = case.a.len().max(case.b.len()) as u32;
        assert!(spans.iter().all(|&(s, e)| s <= e && e <= text_len));
    }
    if n <= model.config().max_position_embeddings {
        exercise::run(&model, &enc.input(), 0);
    }
});
