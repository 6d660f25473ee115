//! Compute kernels over flat slices. Each function here is the scalar reference: it defines the
//! result (including the order of floating-point accumulation) that any SIMD version must
//! reproduce within the tolerance `docs/DESIGN.md` states.

use crate::tensor::{Matrix, Weights};
use half::f16;

/// Lanes of the reference dot product: partial sums `acc[i % LANES]`, then a fixed pairwise
/// reduction. Eight lanes let the compiler keep the loop in vector registers without reordering.
pub const LANES: usize = 8;

fn reduce(acc: [f32; LANES]) -> f32 {
    ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]))
}

/// `sum(a[i] * b[i])` over the shorter of the two.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    for (l, (x, y)) in ca.remainder().iter().zip(cb.remainder()).enumerate() {
        acc[l] += x * y;
    }
    reduce(acc)
}

/// `sum(a[i] * b[i])` with `b` in f16, widened exactly to f32.
pub fn dot_f16(a: &[f32], b: &[f16]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l].to_f32();
        }
    }
    for (l, (x, y)) in ca.remainder().iter().zip(cb.remainder()).enumerate() {
        acc[l] += x * y.to_f32();
    }
    reduce(acc)
}

/// `sum(a[i] * q[i])` with int8 weights; the caller applies the row scale.
pub fn dot_i8(a: &[f32], q: &[i8]) -> f32 {
    let n = a.len().min(q.len());
    let (a, q) = (&a[..n], &q[..n]);
    let mut acc = [0f32; LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cq = q.chunks_exact(LANES);
    for (x, y) in (&mut ca).zip(&mut cq) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l] as f32;
        }
    }
    for (l, (x, y)) in ca.remainder().iter().zip(cq.remainder()).enumerate() {
        acc[l] += x * *y as f32;
    }
    reduce(acc)
}

/// Dot product of `x` with row `r` of `w`.
fn row_dot(x: &[f32], w: &Matrix, r: usize) -> f32 {
    let span = r * w.stride..r * w.stride + w.cols;
    match w.w {
        Weights::F32(m) => dot(x, &m[span]),
        Weights::F16(m) => dot_f16(x, &m[span]),
        Weights::I8 { q, scales } => dot_i8(x, &q[span]) * scales[r],
    }
}

/// `out[n][o] (+)= bias[o] + x[n] . w[o]` for `rows` input rows of `w.cols` features: a PyTorch
/// `Linear` on a batch of rows. With `accumulate`, adds to `out` instead of overwriting it.
pub fn linear(
    x: &[f32],
    rows: usize,
    w: &Matrix,
    bias: Option<&[f32]>,
    out: &mut [f32],
    accumulate: bool,
) {
    let (k, n) = (w.cols, w.rows);
    for r in 0..rows {
        let xr = &x[r * k..(r + 1) * k];
        let or = &mut out[r * n..(r + 1) * n];
        for (o, y) in or.iter_mut().enumerate() {
            let mut v = row_dot(xr, w, o);
            if let Some(b) = bias {
                v += b[o];
            }
            *y = if accumulate { *y + v } else { v };
        }
    }
}

/// LayerNorm over one row in place: biased variance, as `torch.nn.LayerNorm`.
pub fn layer_norm(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let n = x.len() as f32;
    let mean = x.iter().sum::<f32>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    let inv = 1.0 / libm::sqrtf(var + eps);
    for ((v, g), b) in x.iter_mut().zip(gamma).zip(beta) {
        *v = (*v - mean) * inv * g + b;
    }
}

/// GELU, erf form: `0.5 x (1 + erf(x / sqrt 2))`.
pub fn gelu(x: &mut [f32]) {
    for v in x {
        *v = 0.5 * *v * (1.0 + libm::erff(*v * core::f32::consts::FRAC_1_SQRT_2));
    }
}

/// `tanh` in place.
pub fn tanh(x: &mut [f32]) {
    for v in x {
        *v = libm::tanhf(*v);
    }
}
