//! Bad ids, types, lengths and buffers are `RunError`s, never panics; exact scratch suffices.

use picobert::{Input, Model, RunError};
use picobert_e2e::random_model;
use picobert_trainer::blob::AlignedBytes;

fn model_bytes() -> AlignedBytes {
    AlignedBytes::from_slice(&random_model(11, false).to_bytes().unwrap())
}

#[test]
fn input_errors() {
    let bytes = model_bytes();
    let m = Model::load(&bytes).unwrap();
    let c = *m.config();
    let mut scratch = vec![0f32; m.scratch_len(c.max_position_embeddings + 1)];
    let err = |input: &Input, scratch: &mut [f32]| m.forward(input, scratch).err().unwrap();
    assert_eq!(err(&Input::new(&[]), &mut scratch), RunError::EmptyInput);
    let long = vec![2u32; c.max_position_embeddings + 1];
    assert_eq!(
        err(&Input::new(&long), &mut scratch),
        RunError::TooLong {
            len: c.max_position_embeddings + 1,
            max: c.max_position_embeddings
        }
    );
    let bad_id = [2, c.vocab_size as u32, 3];
    assert_eq!(
        err(&Input::new(&bad_id), &mut scratch),
        RunError::IdOutOfRange {
            position: 1,
            id: c.vocab_size as u32
        }
    );
    let ids = [2u32, 5, 3];
    assert_eq!(
        err(&Input::new(&ids).with_token_types(&[0, 0, 2]), &mut scratch),
        RunError::TypeOutOfRange {
            position: 2,
            token_type: 2
        }
    );
    assert_eq!(
        err(&Input::new(&ids).with_attention_mask(&[1, 1]), &mut scratch),
        RunError::LengthMismatch
    );
    let need = m.scratch_len(3);
    assert_eq!(
        err(&Input::new(&ids), &mut scratch[..need - 1]),
        RunError::ScratchTooSmall {
            needed: need,
            given: need - 1
        }
    );
}

#[test]
fn exact_scratch_is_enough_and_untouched_beyond() {
    let bytes = model_bytes();
    let m = Model::load(&bytes).unwrap();
    for len in [1usize, 2, 7, 32] {
        let ids: Vec<u32> = (0..len as u32).map(|i| 5 + i % 30).collect();
        let need = m.scratch_len(len);
        assert_eq!(picobert::scratch_bytes(m.config(), len), 4 * need);
        let mut scratch = vec![f32::NAN; need + 16];
        let mut out = m.forward(&Input::new(&ids), &mut scratch[..need]).unwrap();
        let mut logits = [0f32; 3];
        out.classifier_logits(&mut logits).unwrap();
        let mut mlm = vec![0f32; m.config().vocab_size];
        out.mlm_logits(len - 1, &mut mlm).unwrap();
        assert!(logits.iter().chain(&mlm).all(|x| x.is_finite()));
        assert!(
            scratch[need..].iter().all(|x| x.is_nan()),
            "wrote past the scratch"
        );
    }
}

#[test]
fn head_errors() {
    let bytes = model_bytes();
    let m = Model::load(&bytes).unwrap();
    let ids = [2u32, 5, 3];
    let mut scratch = vec![0f32; m.scratch_len(3)];
    let mut out = m.forward(&Input::new(&ids), &mut scratch).unwrap();
    let mut wrong = [0f32; 4];
    assert_eq!(
        out.classifier_logits(&mut wrong),
        Err(RunError::OutputLength {
            needed: 3,
            given: 4
        })
    );
    let mut tok = [0f32; 9];
    assert_eq!(out.token_logits(&mut tok), Err(RunError::NoSuchHead));
    let mut mlm = vec![0f32; m.config().vocab_size];
    assert_eq!(
        out.mlm_logits(3, &mut mlm),
        Err(RunError::PositionOutOfRange)
    );
}

#[test]
fn outputs_are_deterministic() {
    let bytes = model_bytes();
    let m = Model::load(&bytes).unwrap();
    let ids = [2u32, 9, 17, 33, 3];
    let run = || {
        let mut scratch = vec![0f32; m.scratch_len(ids.len())];
        let out = m.forward(&Input::new(&ids), &mut scratch).unwrap();
        out.sequence_output()
            .iter()
            .map(|x| x.to_bits())
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}
