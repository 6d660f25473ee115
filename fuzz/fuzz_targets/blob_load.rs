//! Arbitrary bytes as a blob: `Model::load` returns a model or an error, and whatever loads runs
//! a forward pass and every head without panicking.
//!
//! The header checksum is recomputed over the mutated bytes, so the mutations reach the
//! structural validation behind it (as a hostile blob with a correct CRC would); the checksum
//! test itself is `tests/blob_robustness.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use picobert::{Input, Model};

mod exercise;

fuzz_target!(|data: &[u8]| {
    let mut bytes = data.to_vec();
    if bytes.len() >= 20 {
        let file_len = u32::from_le_bytes(bytes[16..20].try_into().unwrap()) as usize;
        let end = file_len.clamp(16, bytes.len());
        let crc = picobert::crc32(&bytes[16..end]);
        bytes[12..16].copy_from_slice(&crc.to_le_bytes());
    }
    let words = exercise::aligned(&bytes);
    let blob = &bytemuck::cast_slice::<u32, u8>(&words)[..bytes.len()];
    let Ok(model) = Model::load(blob) else {
        return;
    };
    let _ = model
        .tokenizer()
        .map(|t| t.count("Hello, wörld! [SEP] 中文"));
    for ids in [&[2u32, 7, 8, 3][..], &[0], &[1; 33]] {
        exercise::run(&model, &Input::new(ids), 0);
    }
    let ids = [2u32, 5, 6, 3, 9, 3];
    let input = Input::new(&ids)
        .with_token_types(&[0, 0, 0, 0, 1, 1])
        .with_attention_mask(&[1, 1, 1, 1, 1, 0]);
    exercise::run(&model, &input, 0);
});
