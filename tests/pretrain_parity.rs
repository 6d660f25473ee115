//! Our trainer against transformers' BertForPreTraining + torch.optim.AdamW, from the fixtures
//! written by `tools/pretrain_reference.py` (same initial weights, same batch, dropout off).

use picobert_trainer::train::checkpoint::{load_hf_dir, save_hf_dir};
use picobert_trainer::train::model::{Acts, Batch, Model};
use picobert_trainer::train::optim::{clip_grad_norm, AdamW, Schedule};
use safetensors::{Dtype, SafeTensors};
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pretrain")
}

fn f32s(st: &SafeTensors, name: &str) -> Vec<f32> {
    let v = st.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    match v.dtype() {
        Dtype::F32 => bytemuck_f32(v.data()),
        Dtype::F64 => v
            .data()
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()) as f32)
            .collect(),
        d => panic!("{name}: unexpected dtype {d:?}"),
    }
}

fn f64s(st: &SafeTensors, name: &str) -> Vec<f64> {
    let v = st.tensor(name).unwrap();
    assert_eq!(v.dtype(), Dtype::F64, "{name}");
    v.data()
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

fn bytemuck_f32(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

fn i64s(st: &SafeTensors, name: &str) -> (Vec<usize>, Vec<i64>) {
    let v = st.tensor(name).unwrap();
    assert_eq!(v.dtype(), Dtype::I64, "{name}");
    let data = v
        .data()
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
        .collect();
    (v.shape().to_vec(), data)
}

fn fixture_batch(st: &SafeTensors) -> Batch {
    let (shape, ids) = i64s(st, "batch.input_ids");
    let (_, types) = i64s(st, "batch.token_type_ids");
    let (_, mask) = i64s(st, "batch.attention_mask");
    let (_, labels) = i64s(st, "batch.labels");
    let (_, nsp) = i64s(st, "batch.next_sentence_label");
    let (mlm_positions, mlm_labels) = labels
        .iter()
        .enumerate()
        .filter(|(_, &l)| l != -100)
        .map(|(i, &l)| (i as u32, l as u32))
        .unzip();
    Batch {
        batch: shape[0],
        seq: shape[1],
        input_ids: ids.iter().map(|&x| x as u32).collect(),
        token_type_ids: types.iter().map(|&x| x as u32).collect(),
        attention_mask: mask.iter().map(|&x| x as u8).collect(),
        mlm_positions,
        mlm_labels,
        nsp_labels: nsp.iter().map(|&x| x as u32).collect(),
    }
}

/// max|a - b| / max(max|b|, tiny): the error relative to the tensor's scale, so tiny elements
/// of a large tensor are not judged by their own (noisy) relative error. `tiny` keeps tensors
/// whose exact gradient is zero (the attention key bias: softmax ignores a per-row shift, so
/// both sides hold only rounding noise near 1e-12) from dividing noise by noise.
fn rel_err(a: &[f32], b: &[f32], tiny: f64) -> f64 {
    assert_eq!(a.len(), b.len());
    let diff = a
        .iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).abs())
        .fold(0.0, f64::max);
    let scale = b.iter().map(|y| (*y as f64).abs()).fold(0.0, f64::max);
    diff / scale.max(tiny)
}

fn max_abs(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).abs())
        .fold(0.0, f64::max)
}

struct Fixture {
    bytes: Vec<u8>,
}

fn setup() -> (Model, Batch, Fixture) {
    let (_, model) = load_hf_dir(&fixtures().join("init")).expect("init checkpoint");
    assert_eq!(model.dims.hidden_dropout, 0.0);
    let bytes = std::fs::read(fixtures().join("expected.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let batch = fixture_batch(&st);
    (model, batch, Fixture { bytes })
}

#[test]
fn one_step_loss_and_every_gradient() {
    let (mut model, batch, fx) = setup();
    let st = SafeTensors::deserialize(&fx.bytes).unwrap();
    let mut acts = Acts::default();
    let stats = model.forward(&batch, &mut acts, None).unwrap();
    let want = f64s(&st, "loss")[0];
    let err = (stats.loss() - want).abs();
    println!(
        "loss ours {} transformers {want} |diff| {err:.3e}",
        stats.loss()
    );
    assert!(err < 1e-5, "loss {} vs {want}", stats.loss());
    assert!((stats.mlm_loss() - f64s(&st, "mlm_loss")[0]).abs() < 1e-5);
    assert!((stats.nsp_loss() - f64s(&st, "nsp_loss")[0]).abs() < 1e-5);
    model.zero_grads();
    model.backward(&batch, &mut acts, None, 1.0);
    // tiny: 1e-6 of the largest gradient element of the whole model.
    let global = model
        .index
        .tensors
        .iter()
        .flat_map(|t| f32s(&st, &format!("grad.{}", t.name)))
        .fold(0.0f64, |m, g| m.max((g as f64).abs()));
    let mut worst = (0.0, String::new());
    for t in &model.index.tensors {
        let want = f32s(&st, &format!("grad.{}", t.name));
        let e = rel_err(&model.grads[t.range.clone()], &want, 1e-6 * global);
        if e > worst.0 {
            worst = (e, t.name.clone());
        }
        assert!(e < 1e-4, "gradient of {}: relative error {e:.3e}", t.name);
    }
    println!(
        "worst gradient relative error {:.3e} ({})",
        worst.0, worst.1
    );
}

/// The trainer's update loop on the fixture batch: AdamW + schedule + clipping, 10 steps.
fn ten_steps(model: &mut Model, batch: &Batch) -> Vec<f64> {
    let sched = Schedule {
        peak_lr: 1e-3,
        warmup: 3,
        total: 10,
    };
    let mut opt = AdamW::new(model.params.len(), 0.01);
    let mut acts = Acts::default();
    let mut losses = Vec::new();
    for _ in 0..10 {
        model.zero_grads();
        let s = model.forward(batch, &mut acts, None).unwrap();
        losses.push(s.loss());
        model.backward(batch, &mut acts, None, 1.0);
        clip_grad_norm(&mut model.grads, &model.index.tensors, 1.0);
        let lr = sched.lr(opt.step);
        opt.update(&mut model.params, &model.grads, &model.index.tensors, lr);
    }
    losses
}

#[test]
fn ten_adamw_steps_match_torch() {
    let (mut model, batch, fx) = setup();
    let st = SafeTensors::deserialize(&fx.bytes).unwrap();
    let losses = ten_steps(&mut model, &batch);
    let want_losses = f64s(&st, "losses");
    for (i, (a, b)) in losses.iter().zip(&want_losses).enumerate() {
        assert!((a - b).abs() < 1e-5, "loss at step {i}: {a} vs {b}");
    }
    let mut worst = (0.0, String::new());
    for t in &model.index.tensors {
        let want = f32s(&st, &format!("step10.{}", t.name));
        let e = max_abs(&model.params[t.range.clone()], &want);
        if e > worst.0 {
            worst = (e, t.name.clone());
        }
        assert!(e < 1e-5, "{} after 10 steps: max |diff| {e:.3e}", t.name);
    }
    println!(
        "worst parameter |diff| after 10 steps {:.3e} ({})",
        worst.0, worst.1
    );

    // transformers loaded the checkpoint our trainer writes for this model and computed these
    // logits (tools/pretrain_reference.py check-export).
    let mut acts = Acts::default();
    model.forward(&batch, &mut acts, None).unwrap();
    let m = batch.mlm_positions.len() * model.dims.vocab;
    if let Ok(dir) = std::env::var("PICOBERT_PARITY_EXPORT") {
        let dir = Path::new(&dir);
        let (cfg, _) = load_hf_dir(&fixtures().join("init")).unwrap();
        let vocab: Vec<String> = (0..model.dims.vocab).map(|i| format!("tok{i}")).collect();
        save_hf_dir(dir, &model, &cfg, &vocab).unwrap();
        let logits = [
            (
                "mlm_logits",
                &acts.logits[..m],
                vec![batch.mlm_positions.len(), model.dims.vocab],
            ),
            ("nsp_logits", &acts.nsp_logits[..], vec![batch.batch, 2]),
        ];
        let bytes: Vec<Vec<u8>> = logits
            .iter()
            .map(|(_, d, _)| d.iter().flat_map(|x| x.to_le_bytes()).collect())
            .collect();
        let views: Vec<_> = logits
            .iter()
            .zip(&bytes)
            .map(|((n, _, s), b)| {
                let v = safetensors::tensor::TensorView::new(Dtype::F32, s.clone(), b).unwrap();
                (n.to_string(), v)
            })
            .collect();
        std::fs::write(
            dir.join("our_logits.safetensors"),
            safetensors::serialize(views, None).unwrap(),
        )
        .unwrap();
    }
    let rt_bytes = std::fs::read(fixtures().join("roundtrip.safetensors")).unwrap();
    let rt = SafeTensors::deserialize(&rt_bytes).unwrap();
    let e_mlm = max_abs(&acts.logits[..m], &f32s(&rt, "mlm_logits"));
    let e_nsp = max_abs(&acts.nsp_logits, &f32s(&rt, "nsp_logits"));
    println!("from_pretrained logits max |diff|: MLM {e_mlm:.3e}, NSP {e_nsp:.3e}");
    assert!(e_mlm < 1e-4 && e_nsp < 1e-4, "MLM {e_mlm}, NSP {e_nsp}");
}
