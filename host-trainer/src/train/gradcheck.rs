//! Finite-difference checks of every backward pass against its forward.

use super::gemm::{linear, linear_backward};
use super::layers::*;
use super::model::{Acts, Batch, Model};
use super::params::Dims;
use super::rng::{DropoutMask, Rng};

fn randn(r: &mut Rng, n: usize, s: f32) -> Vec<f32> {
    (0..n).map(|_| r.normal() * s).collect()
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
}

/// Central differences of `f` at every element of `x` against `analytic`.
fn check(name: &str, x: &mut [f32], analytic: &[f32], f: &mut dyn FnMut(&[f32]) -> f64) {
    let h = 1e-2f32;
    for i in 0..x.len() {
        let x0 = x[i];
        x[i] = x0 + h;
        let up = f(x);
        x[i] = x0 - h;
        let down = f(x);
        x[i] = x0;
        let fd = (up - down) / (2.0 * h as f64);
        let an = analytic[i] as f64;
        assert!(
            (fd - an).abs() <= 1e-2 * an.abs().max(fd.abs()) + 2e-3,
            "{name}[{i}]: finite difference {fd} vs backward {an}"
        );
    }
}

#[test]
fn layernorm() {
    let mut r = Rng::new(1);
    let (rows, h) = (4, 8);
    let x = randn(&mut r, rows * h, 1.0);
    let mut g = randn(&mut r, h, 1.0);
    let mut b = randn(&mut r, h, 1.0);
    let w = randn(&mut r, rows * h, 1.0);
    let eval = |x: &[f32], g: &[f32], b: &[f32]| {
        let (mut o, mut m, mut s) = (vec![0.0; rows * h], vec![0.0; rows], vec![0.0; rows]);
        layernorm_forward(&mut o, &mut m, &mut s, x, g, b, h, 1e-5);
        (dot(&o, &w), m, s)
    };
    let (_, m, s) = eval(&x, &g, &b);
    let (mut dx, mut dg, mut db) = (vec![0.0; rows * h], vec![0.0; h], vec![0.0; h]);
    layernorm_backward(&mut dx, &mut dg, &mut db, &w, &x, &m, &s, &g, h);
    let (g0, b0) = (g.clone(), b.clone());
    check("x", &mut x.clone(), &dx, &mut |v| eval(v, &g0, &b0).0);
    check("gamma", &mut g, &dg, &mut |v| eval(&x, v, &b0).0);
    check("beta", &mut b, &db, &mut |v| eval(&x, &g0, v).0);
}

#[test]
fn gelu() {
    let mut r = Rng::new(2);
    let mut x = randn(&mut r, 64, 2.0);
    let w = randn(&mut r, 64, 1.0);
    let mut d = w.clone();
    gelu_backward(&mut d, &x);
    check("x", &mut x, &d, &mut |v| {
        let mut o = vec![0.0; v.len()];
        gelu_forward(&mut o, v);
        dot(&o, &w)
    });
}

#[test]
fn linear_layer() {
    let mut r = Rng::new(3);
    let (m, n, k) = (5, 4, 3);
    let mut x = randn(&mut r, m * k, 1.0);
    let mut wt = randn(&mut r, n * k, 1.0);
    let mut b = randn(&mut r, n, 1.0);
    let dy = randn(&mut r, m * n, 1.0);
    let eval = |x: &[f32], w: &[f32], b: &[f32]| {
        let mut o = vec![0.0; m * n];
        linear(&mut o, x, w, b, m, n, k);
        dot(&o, &dy)
    };
    let (mut dx, mut dw, mut db) = (vec![0.0; m * k], vec![0.0; n * k], vec![0.0; n]);
    linear_backward(&mut dx, false, &mut dw, &mut db, &dy, &x, &wt, m, n, k);
    let (w0, b0, x0) = (wt.clone(), b.clone(), x.clone());
    check("x", &mut x, &dx, &mut |v| eval(v, &w0, &b0));
    check("w", &mut wt, &dw, &mut |v| eval(&x0, v, &b0));
    check("b", &mut b, &db, &mut |v| eval(&x0, &w0, v));
}

#[test]
fn attention_with_padding_and_dropout() {
    let mut r = Rng::new(4);
    let s = AttnShape {
        batch: 2,
        seq: 5,
        heads: 2,
        head_dim: 3,
    };
    let len = 2 * 5 * 2 * 3;
    let mut q = randn(&mut r, len, 1.0);
    let mut k = randn(&mut r, len, 1.0);
    let mut v = randn(&mut r, len, 1.0);
    let w = randn(&mut r, len, 1.0);
    let mask = [1, 1, 1, 1, 1, 1, 1, 1, 0, 0];
    let drop = DropoutMask::new(9, 1, 0.2);
    let eval = |q: &[f32], k: &[f32], v: &[f32]| {
        let (mut c, mut p) = (vec![0.0; len], vec![0.0; 2 * 2 * 25]);
        attention_forward(&mut c, &mut p, q, k, v, &mask, drop, s);
        (dot(&c, &w), p)
    };
    let (_, p) = eval(&q, &k, &v);
    // Masked keys get exactly zero probability.
    for bh in 2..4 {
        for i in 0..5 {
            assert_eq!(&p[(bh * 5 + i) * 5 + 3..(bh * 5 + i) * 5 + 5], &[0.0, 0.0]);
        }
    }
    let (mut dq, mut dk, mut dv) = (vec![0.0; len], vec![0.0; len], vec![0.0; len]);
    attention_backward(&mut dq, &mut dk, &mut dv, &w, &p, &q, &k, &v, drop, s);
    let (q0, k0, v0) = (q.clone(), k.clone(), v.clone());
    check("q", &mut q, &dq, &mut |x| eval(x, &k0, &v0).0);
    check("k", &mut k, &dk, &mut |x| eval(&q0, x, &v0).0);
    check("v", &mut v, &dv, &mut |x| eval(&q0, &k0, x).0);
}

#[test]
fn cross_entropy() {
    let mut r = Rng::new(5);
    let (rows, n) = (3, 7);
    let mut x = randn(&mut r, rows * n, 2.0);
    let labels = [0u32, 6, 3];
    let mut lse = vec![0.0; rows];
    xent_forward(&x, &labels, &mut lse, n);
    let mut d = x.clone();
    xent_backward(&mut d, &labels, &lse, n, 0.5);
    check("logits", &mut x, &d, &mut |v| {
        0.5 * xent_forward(v, &labels, &mut vec![0.0; rows], n).0
    });
}

fn tiny_dims() -> Dims {
    Dims {
        vocab: 23,
        hidden: 8,
        layers: 2,
        heads: 2,
        inter: 12,
        max_pos: 8,
        type_vocab: 2,
        eps: 1e-12,
        hidden_dropout: 0.1,
        attn_dropout: 0.1,
        init_range: 0.3,
        pad_id: Some(0),
    }
}

fn tiny_batch() -> Batch {
    Batch {
        batch: 2,
        seq: 6,
        input_ids: vec![1, 5, 7, 2, 9, 2, 1, 11, 2, 4, 0, 0],
        token_type_ids: vec![0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0],
        attention_mask: vec![1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0],
        mlm_positions: vec![1, 4, 7],
        mlm_labels: vec![6, 13, 20],
        nsp_labels: vec![0, 1],
    }
}

/// Every parameter tensor of the whole model, dropout on: checks the wiring between layers
/// (residuals, tied decoder, pooler, gather/scatter of masked rows) on top of the layer checks.
#[test]
fn whole_model_every_tensor() {
    let mut model = Model::init(tiny_dims(), 11);
    // Non-trivial LayerNorm and bias parameters so their gradients are exercised.
    let mut r = Rng::new(12);
    for t in model.index.tensors.clone() {
        if !t.decay {
            for x in &mut model.params[t.range.clone()] {
                *x += r.normal() * 0.2;
            }
        }
    }
    let batch = tiny_batch();
    let key = Some(77);
    let mut acts = Acts::default();
    model.forward(&batch, &mut acts, key).unwrap();
    model.zero_grads();
    model.backward(&batch, &mut acts, key, 1.0);
    let grads = model.grads.clone();
    for t in model.index.tensors.clone() {
        // Up to 6 elements per tensor, spread over it.
        let len = t.range.len();
        let step = (len / 6).max(1);
        let idx: Vec<usize> = (0..len).step_by(step).map(|i| t.range.start + i).collect();
        let mut sub: Vec<f32> = idx.iter().map(|&i| model.params[i]).collect();
        let an: Vec<f32> = idx.iter().map(|&i| grads[i]).collect();
        let mut acts2 = Acts::default();
        check(&t.name, &mut sub, &an, &mut |v| {
            let mut m2 = Model::from_params(model.dims.clone(), model.params.clone());
            for (&i, &x) in idx.iter().zip(v) {
                m2.params[i] = x;
            }
            m2.forward(&batch, &mut acts2, key).unwrap().loss()
        });
    }
}
