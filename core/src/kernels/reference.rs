//! Scalar reference kernels. Each defines the result a SIMD version must reproduce: bit for bit
//! for the integer path, within the tolerance of `docs/DESIGN.md` ("Quantization") for floats.

use super::quant::{QuantizedRows, GROUP};
use crate::tensor::{Matrix, Weights};
use half::f16;

/// Lanes of the reference dot product: partial sums `acc[i % LANES]`, then a fixed pairwise
/// reduction. Eight lanes let the compiler keep the loop in vector registers without reordering.
pub const LANES: usize = 8;

fn reduce(acc: [f32; LANES]) -> f32 {
    ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]))
}

fn dot_with<T: Copy>(a: &[f32], b: &[T], widen: impl Fn(T) -> f32) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for l in 0..LANES {
            acc[l] += x[l] * widen(y[l]);
        }
    }
    for (l, (x, y)) in ca.remainder().iter().zip(cb.remainder()).enumerate() {
        acc[l] += x * widen(*y);
    }
    reduce(acc)
}

/// `sum(a[i] * b[i])` over the shorter of the two.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    dot_with(a, b, |v| v)
}

/// `sum(a[i] * b[i])` with `b` in f16, widened exactly to f32.
pub fn dot_f16(a: &[f32], b: &[f16]) -> f32 {
    dot_with(a, b, f16::to_f32)
}

/// `sum(a[i] * q[i])` with int8 weights; the caller applies the row scale.
pub fn dot_i8(a: &[f32], q: &[i8]) -> f32 {
    dot_with(a, q, |v| v as f32)
}

/// Dot product of `x` with row `r` of `w` (0 for a row past the data, which the callers'
/// shape checks exclude).
fn row_dot(x: &[f32], w: &Matrix, r: usize) -> f32 {
    let start = r * w.stride;
    let span = start..start + w.cols;
    match w.w {
        Weights::F32(m) => m.get(span).map_or(0.0, |row| dot(x, row)),
        Weights::F16(m) => m.get(span).map_or(0.0, |row| dot_f16(x, row)),
        Weights::I8 { q, scales } => match (q.get(span), scales.get(r)) {
            (Some(row), Some(s)) => dot_i8(x, row) * s,
            _ => 0.0,
        },
    }
}

/// Writes `v` (already biased) to `y`, or adds it when accumulating: the one combine rule every
/// linear kernel shares.
#[inline(always)]
pub(super) fn store(y: &mut f32, v: f32, accumulate: bool) {
    *y = if accumulate { *y + v } else { v };
}

/// Float linear layer, see [`super::linear`].
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
        let (Some(xr), Some(or)) = (super::row(x, r, k), super::row_mut(out, r, n)) else {
            return;
        };
        for (o, y) in or.iter_mut().enumerate() {
            let mut v = row_dot(xr, w, o);
            if let Some(b) = bias.and_then(|b| b.get(o)) {
                v += b;
            }
            store(y, v, accumulate);
        }
    }
}

/// The requantisation of one group's int32 dot product, added to the running sum `v`:
/// `v + acc * sx`, with no fused multiply-add, so every backend rounds identically. The weight
/// scale is the same for every group of an output, so [`finish`] applies it once: a SIMD tile
/// then spends two float operations per group and accumulator on top of its integer products,
/// not three.
#[inline(always)]
pub(super) fn requant(v: f32, acc: i32, sx: f32) -> f32 {
    v + acc as f32 * sx
}

/// An output from its requantised sum: `v * sw + bias`, no fused multiply-add.
#[inline(always)]
pub(super) fn finish(v: f32, sw: f32, bias: Option<f32>) -> f32 {
    let y = v * sw;
    match bias {
        Some(b) => y + b,
        None => y,
    }
}

/// Integer linear layer, see [`super::linear_i8`]. `q` is `[n, stride]` row-major int8 with
/// `cols` used columns per row.
#[allow(clippy::too_many_arguments)]
pub fn linear_i8(
    x: &QuantizedRows,
    q: &[i8],
    scales: &[f32],
    stride: usize,
    n: usize,
    bias: Option<&[f32]>,
    out: &mut [f32],
    accumulate: bool,
) {
    let k = x.cols();
    for s in 0..x.rows() {
        let Some(orow) = super::row_mut(out, s, n) else {
            return;
        };
        for (o, y) in orow.iter_mut().enumerate() {
            let wr = super::row_at(q, o * stride, k).unwrap_or_default();
            let sw = scales.get(o).copied().unwrap_or(0.0);
            let mut v = 0f32;
            for (g, wg) in wr.chunks(GROUP).enumerate() {
                let acc: i32 = wg
                    .iter()
                    .enumerate()
                    .map(|(i, &w)| x.get(s, g * GROUP + i) as i32 * w as i32)
                    .sum();
                v = requant(v, acc, x.scale(s, g));
            }
            let b = bias.and_then(|b| b.get(o)).copied();
            store(y, finish(v, sw, b), accumulate);
        }
    }
}
