//! Finite-difference checks of the task heads' backward (and of the gradient they hand to the
//! encoder), for every head kind, with padding and with dropout on.

use super::model::{HeadActs, Targets, TaskModel};
use crate::train::model::{Acts, Batch, Model};
use crate::train::params::Dims;
use picobert::HeadKind;

fn dims() -> Dims {
    Dims {
        vocab: 23,
        hidden: 8,
        layers: 1,
        heads: 2,
        inter: 12,
        max_pos: 16,
        type_vocab: 2,
        eps: 1e-12,
        hidden_dropout: 0.1,
        attn_dropout: 0.1,
        init_range: 0.3,
        pad_id: Some(0),
    }
}

fn batch() -> Batch {
    Batch {
        batch: 2,
        seq: 5,
        input_ids: vec![2, 5, 7, 9, 3, 2, 11, 3, 0, 0],
        token_type_ids: vec![0, 0, 0, 1, 1, 0, 0, 0, 0, 0],
        attention_mask: vec![1, 1, 1, 1, 1, 1, 1, 1, 0, 0],
        ..Default::default()
    }
}

fn loss(m: &TaskModel, b: &Batch, t: &Targets, key: Option<u64>) -> f64 {
    let mut acts = Acts::default();
    let mut ha = HeadActs::default();
    let l = m.forward(b, Some(t), &mut acts, &mut ha, key).unwrap();
    l.sum / l.count as f64
}

/// Compares analytic and central-difference gradients for a sample of parameters: the head's
/// weight and bias, the pooler, and encoder tensors the head's gradient flows into.
fn check(kind: HeadKind, nl: usize, targets: Targets) {
    let b = batch();
    let key = Some(77);
    let mut m = TaskModel::new(Model::init(dims(), 3), kind, nl, 5);
    // A non-zero bias so the bias gradient is not trivially symmetric.
    let h = m.encoder.dims.hidden;
    for (i, x) in m.head[nl * h..].iter_mut().enumerate() {
        *x = 0.1 * i as f32 - 0.05;
    }
    let mut acts = Acts::default();
    let mut ha = HeadActs::default();
    m.zero_grads();
    m.forward(&b, Some(&targets), &mut acts, &mut ha, key)
        .unwrap();
    m.backward(&b, &targets, &mut acts, &mut ha, key);
    let eps = 1e-2f32;
    let mut worst = 0f64;
    let head_len = m.head.len();
    for i in (0..head_len).step_by(3) {
        let orig = m.head[i];
        m.head[i] = orig + eps;
        let up = loss(&m, &b, &targets, key);
        m.head[i] = orig - eps;
        let down = loss(&m, &b, &targets, key);
        m.head[i] = orig;
        let num = (up - down) / (2.0 * eps as f64);
        let ana = m.head_grads[i] as f64;
        worst = worst.max((num - ana).abs() / (num.abs() + ana.abs()).max(1e-2));
    }
    let ix = m.encoder.index.clone();
    let mut probes = vec![
        ix.layers[0].o_w.start + 3,
        ix.word.start + 5 * h + 1,
        ix.emb_ln_g.start + 2,
    ];
    if kind != HeadKind::TokenClassification {
        probes.extend([ix.pool_w.start + 9, ix.pool_b.start + 1]);
    }
    for &i in &probes {
        let orig = m.encoder.params[i];
        m.encoder.params[i] = orig + eps;
        let up = loss(&m, &b, &targets, key);
        m.encoder.params[i] = orig - eps;
        let down = loss(&m, &b, &targets, key);
        m.encoder.params[i] = orig;
        let num = (up - down) / (2.0 * eps as f64);
        let ana = m.encoder.grads[i] as f64;
        worst = worst.max((num - ana).abs() / (num.abs() + ana.abs()).max(1e-2));
        assert!(
            ana != 0.0 || num.abs() < 1e-6,
            "{kind:?} param {i}: zero analytic gradient, numeric {num}"
        );
    }
    assert!(
        worst < 2e-2,
        "{kind:?}: worst relative gradient error {worst}"
    );
}

#[test]
fn single_label_head() {
    check(
        HeadKind::SequenceClassification,
        3,
        Targets::Classes(vec![2, 0]),
    );
}

#[test]
fn multi_label_head() {
    check(
        HeadKind::MultiLabelClassification,
        3,
        Targets::Multi(vec![1.0, 0.0, 1.0, 0.0, 0.0, 1.0]),
    );
}

#[test]
fn regression_head() {
    check(HeadKind::Regression, 1, Targets::Values(vec![0.7, -1.2]));
}

#[test]
fn token_head_ignores_unlabelled_tokens() {
    let tags = vec![
        None,
        Some(1),
        Some(0),
        None,
        Some(2),
        None,
        Some(2),
        None,
        None,
        None,
    ];
    check(HeadKind::TokenClassification, 3, Targets::Tags(tags));
}
