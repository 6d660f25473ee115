//! `Model::forward_compact` (the microcontroller memory plan) against `Model::forward`: the
//! scratch it asks for is exact, its heads work, and its only numerical difference, keys and
//! values held in int8, stays small (f32 and int8 weights, with and without padding, lengths
//! around the 16-token block).

use picobert::{Input, Model, RunError};
use picobert_e2e::{random_model, XorShift};
use picobert_trainer::blob::quantize::{convert, WeightDtype};

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

fn check(dtype: WeightDtype) {
    let mut m = random_model(11, false);
    convert(&mut m, dtype);
    let blob = m.to_bytes().unwrap();
    let model = Model::load(&blob).unwrap();
    let h = model.config().hidden_size;
    let mut rng = XorShift(9);
    let mut worst = 1f64;
    for len in [1usize, 2, 15, 16, 17, 31, 32] {
        let ids: Vec<u32> = (0..len).map(|_| rng.below(40) as u32).collect();
        let mask: Vec<u32> = (0..len).map(|i| u32::from(i < len - len / 4)).collect();
        for masked in [false, true] {
            let input = Input::new(&ids);
            let input = if masked {
                input.with_attention_mask(&mask)
            } else {
                input
            };
            let mut scratch = vec![0f32; model.scratch_len(len)];
            let mut fast = model.forward(&input, &mut scratch).unwrap();
            let want = fast.sequence_output().to_vec();
            let mut want_logits = [0f32; 3];
            fast.classifier_logits(&mut want_logits).unwrap();

            let needed = model.compact_scratch_len(len);
            assert!(needed < model.scratch_len(len) || len < 4, "len {len}");
            let mut short = vec![0f32; needed - 1];
            assert!(matches!(
                model.forward_compact(&input, &mut short),
                Err(RunError::ScratchTooSmall { needed: n, .. }) if n == needed
            ));
            // NaN everywhere: the plan must write before it reads.
            let mut scratch = vec![f32::NAN; needed];
            let mut compact = model.forward_compact(&input, &mut scratch).unwrap();
            let got = compact.sequence_output().to_vec();
            let mut logits = [0f32; 3];
            compact.classifier_logits(&mut logits).unwrap();
            assert!(got.iter().chain(&logits).all(|x| x.is_finite()));
            for (r, (a, b)) in want.chunks(h).zip(got.chunks(h)).enumerate() {
                let c = cosine(a, b);
                worst = worst.min(c);
                assert!(
                    c > 0.999,
                    "{dtype:?} len {len} masked {masked} row {r}: cosine {c}"
                );
            }
            for (a, b) in want_logits.iter().zip(&logits) {
                assert!(
                    (a - b).abs() < 0.05,
                    "{dtype:?} len {len}: logit {b} vs {a}"
                );
            }
        }
    }
    eprintln!("{dtype:?}: worst row cosine compact vs forward {worst:.6}");
}

#[test]
fn f32_compact_plan_is_close_to_forward() {
    check(WeightDtype::F32);
}

#[test]
fn int8_compact_plan_is_close_to_forward() {
    check(WeightDtype::Int8);
}
