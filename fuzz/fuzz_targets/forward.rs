//! A forward pass on the seed blobs (float and int8 layers) with arbitrary ids, token types,
//! attention masks, lengths and scratch sizes: `forward` and every head return `Ok` or `Err`,
//! never panic.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use picobert::{Input, Model};

mod exercise;

const BLOBS: [&[u8]; 3] = [
    include_bytes!("../corpus/blob_load/f32-seqcls.blob"),
    include_bytes!("../corpus/blob_load/i8-tokcls.blob"),
    include_bytes!("../corpus/blob_load/f32-vocab256.blob"),
];

#[derive(Arbitrary, Debug)]
struct Case {
    blob: u8,
    /// Reduce ids and types modulo a little more than their ranges, so most inputs are valid
    /// and a few are just out of range; otherwise take them raw.
    wrap: bool,
    ids: Vec<u32>,
    types: Option<Vec<u32>>,
    mask: Option<Vec<u32>>,
    scratch_delta: i8,
}

fuzz_target!(|case: Case| {
    let bytes = BLOBS[case.blob as usize % BLOBS.len()];
    let words = exercise::aligned(bytes);
    let blob = &bytemuck::cast_slice::<u32, u8>(&words)[..bytes.len()];
    let model = Model::load(blob).expect("seed blobs load (tests/regressions.rs checks them)");
    let cfg = *model.config();
    let wrap = |xs: Vec<u32>, n: usize| -> Vec<u32> {
        if case.wrap {
            xs.into_iter().map(|x| x % (n as u32 + 1)).collect()
        } else {
            xs
        }
    };
    let ids = wrap(case.ids, cfg.vocab_size);
    let types = case.types.map(|t| wrap(t, cfg.type_vocab_size));
    let mut input = Input::new(&ids);
    if let Some(t) = &types {
        input = input.with_token_types(t);
    }
    if let Some(m) = &case.mask {
        input = input.with_attention_mask(m);
    }
    exercise::run(&model, &input, case.scratch_delta);
});
