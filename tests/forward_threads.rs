//! `Model::forward_threads` splits every layer step by rows; each row is computed by the same
//! code whatever the split, so the sequence output must be bit-identical for any thread count
//! (f32 and int8 weights, with and without padding, lengths around the 16-row chunk unit),
//! and whether the workers are the kept helper threads or, when another caller holds those,
//! fresh scoped threads.

use picobert::{Input, Model};
use picobert_e2e::{random_model, random_model_sized, XorShift};
use picobert_trainer::blob::quantize::{convert, WeightDtype};

/// The sequence output of the `len`-token `input` with each of `threads` is bit-identical to the one-thread output
/// (finite, so NaN-filled scratch left unwritten cannot pass).
fn same_for_threads(model: &Model, input: &Input, len: usize, threads: &[usize], what: &str) {
    let mut scratch = vec![0f32; model.scratch_len(len)];
    let one = model
        .forward_threads(input, &mut scratch, 1)
        .unwrap()
        .sequence_output()
        .to_vec();
    assert!(one.iter().all(|x| x.is_finite()), "{what}: not finite");
    for &n in threads {
        let mut scratch = vec![f32::NAN; model.scratch_len(len)];
        let out = model.forward_threads(input, &mut scratch, n).unwrap();
        assert!(
            out.sequence_output() == one.as_slice(),
            "{what}: {n} threads differ from 1"
        );
    }
}

fn check(dtype: WeightDtype) {
    let mut m = random_model(11, false);
    convert(&mut m, dtype);
    let blob = m.to_bytes().unwrap();
    let model = Model::load(&blob).unwrap();
    let mut rng = XorShift(5);
    for len in [1usize, 15, 16, 17, 31, 32] {
        let ids: Vec<u32> = (0..len).map(|_| rng.below(40) as u32).collect();
        let mask: Vec<u32> = (0..len).map(|i| u32::from(i < len - len / 4)).collect();
        for masked in [false, true] {
            let input = Input::new(&ids);
            let input = if masked {
                input.with_attention_mask(&mask)
            } else {
                input
            };
            same_for_threads(
                &model,
                &input,
                len,
                &[2, 3, 8],
                &format!("{dtype:?} len {len} masked {masked}"),
            );
        }
    }
}

#[test]
fn f32_output_does_not_depend_on_threads() {
    check(WeightDtype::F32);
}

#[test]
fn int8_output_does_not_depend_on_threads() {
    check(WeightDtype::Int8);
}

#[test]
fn concurrent_callers_get_the_same_output() {
    let mut m = random_model(12, false);
    convert(&mut m, WeightDtype::Int8);
    let blob = m.to_bytes().unwrap();
    let model = Model::load(&blob).unwrap();
    let ids: Vec<u32> = (0..32).map(|i| (i * 7 % 40) as u32).collect();
    let input = Input::new(&ids);
    let mut scratch = vec![0f32; model.scratch_len(ids.len())];
    let one = model
        .forward_threads(&input, &mut scratch, 1)
        .unwrap()
        .sequence_output()
        .to_vec();
    // Four callers at once: one at a time holds the helper threads, the others fall back.
    std::thread::scope(|s| {
        for caller in 0..4 {
            let (model, input, one) = (&model, &input, &one);
            s.spawn(move || {
                let mut scratch = vec![f32::NAN; model.scratch_len(32)];
                for round in 0..25 {
                    let threads = 2 + (caller + round) % 3;
                    let out = model.forward_threads(input, &mut scratch, threads).unwrap();
                    assert!(
                        out.sequence_output() == one.as_slice(),
                        "caller {caller} round {round}"
                    );
                }
            });
        }
    });
}

/// Wider than the FFN tile, so the workers split the FFN's tiles (in rounds) and its output
/// columns: 600 inner columns are tiles of 256, 128 or 64 by length (the last one partial),
/// 96 outputs are 2 or 3 shares.
#[test]
fn ffn_split_between_workers_is_bit_identical() {
    for dtype in [WeightDtype::F32, WeightDtype::Int8] {
        let mut m = random_model_sized(13, false, (40, 96, 2, 3, 600, 300));
        convert(&mut m, dtype);
        let blob = m.to_bytes().unwrap();
        let model = Model::load(&blob).unwrap();
        let mut rng = XorShift(9);
        for len in [40usize, 130, 270] {
            let ids: Vec<u32> = (0..len).map(|_| rng.below(40) as u32).collect();
            let mask: Vec<u32> = (0..len).map(|i| u32::from(i < len - len / 5)).collect();
            let input = Input::new(&ids).with_attention_mask(&mask);
            same_for_threads(
                &model,
                &input,
                len,
                &[2, 3],
                &format!("{dtype:?} len {len}"),
            );
        }
    }
}
