//! Shared by the fuzz targets: everything a caller can do with a loaded model and one input.

use picobert::{HeadKind, Input, Model};

/// Scratch beyond this many `f32`s is not allocated: a hostile config can ask for gigabytes,
/// which is the caller's allocation to refuse, not a bug in the engine.
const MAX_SCRATCH: usize = 1 << 22;

/// Runs `input` through `model` with `scratch_delta` elements more (or fewer) scratch than it
/// needs, then every output the model has. Errors are fine; panics are what the fuzzers look for.
pub fn run(model: &Model, input: &Input, scratch_delta: i8) {
    let s = input.input_ids.len();
    let needed = model.scratch_len(s);
    let len = needed.saturating_add_signed(scratch_delta as isize);
    if len > MAX_SCRATCH {
        return;
    }
    let mut scratch = vec![0f32; len];
    let Ok(mut enc) = model.forward(input, &mut scratch) else {
        return;
    };
    assert_eq!(
        enc.sequence_output().len(),
        enc.seq_len() * model.config().hidden_size
    );
    let h = model.config().hidden_size;
    let v = model.config().vocab_size;
    // Right-sized and off-by-one outputs for each head.
    for extra in [0usize, 1] {
        let mut out = vec![0f32; h + extra];
        let _ = enc.pooled_output(&mut out);
        let _ = enc.sentence_embedding(true, &mut out);
        let _ = enc.sentence_embedding(false, &mut out);
        let mut nsp = vec![0f32; 2 + extra];
        let _ = enc.nsp_logits(&mut nsp);
        for head in model.heads() {
            let mut out = vec![0f32; head.num_labels.min(MAX_SCRATCH) + extra];
            match head.kind {
                HeadKind::TokenClassification => {
                    let n = s.saturating_mul(head.num_labels);
                    if n <= MAX_SCRATCH {
                        let _ = enc.token_logits(&mut vec![0f32; n + extra]);
                    }
                }
                _ => {
                    let _ = enc.classifier_logits(&mut out);
                }
            }
        }
        if v <= MAX_SCRATCH {
            let mut logits = vec![0f32; v + extra];
            for position in 0..=s {
                let _ = enc.mlm_logits(position, &mut logits);
            }
        }
    }
}

/// A copy of `bytes` at the 4-byte alignment `Model::load` asks for (as a blob in flash or a
/// `static` would be); the blob is `&bytemuck::cast_slice(&words)[..bytes.len()]`.
pub fn aligned(bytes: &[u8]) -> Vec<u32> {
    let mut words = vec![0u32; bytes.len().div_ceil(4)];
    bytemuck::cast_slice_mut::<u32, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
    words
}
