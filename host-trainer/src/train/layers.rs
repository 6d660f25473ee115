//! Forward/backward pairs over flat row-major slices: LayerNorm, GELU, embeddings, attention,
//! softmax cross-entropy. Row-parallel over the rayon pool; reductions over rows (parameter
//! gradients) run in a fixed order so results do not depend on the thread count.

use super::gemm::{gemm, Mat};
use super::rng::DropoutMask;
use rayon::prelude::*;

/// Rows per parallel task for cheap element-wise work.
const ROWS_PER_TASK: usize = 64;

/// `out = (inp - mean) * rstd * g + b` per row of `h`; saves mean and rstd for backward.
#[allow(clippy::too_many_arguments)]
pub fn layernorm_forward(
    out: &mut [f32],
    mean: &mut [f32],
    rstd: &mut [f32],
    inp: &[f32],
    g: &[f32],
    b: &[f32],
    h: usize,
    eps: f32,
) {
    let rows = inp.len() / h;
    out[..rows * h]
        .par_chunks_mut(h * ROWS_PER_TASK)
        .zip(mean[..rows].par_chunks_mut(ROWS_PER_TASK))
        .zip(rstd[..rows].par_chunks_mut(ROWS_PER_TASK))
        .zip(inp.par_chunks(h * ROWS_PER_TASK))
        .for_each(|(((o, m), r), x)| {
            for (((o, m), r), x) in o
                .chunks_exact_mut(h)
                .zip(m.iter_mut())
                .zip(r.iter_mut())
                .zip(x.chunks_exact(h))
            {
                let mu = x.iter().map(|&v| v as f64).sum::<f64>() / h as f64;
                let var = x.iter().map(|&v| (v as f64 - mu).powi(2)).sum::<f64>() / h as f64;
                let rs = 1.0 / (var + eps as f64).sqrt();
                *m = mu as f32;
                *r = rs as f32;
                let (mu, rs) = (mu as f32, rs as f32);
                for j in 0..h {
                    o[j] = (x[j] - mu) * rs * g[j] + b[j];
                }
            }
        });
}

/// Backward of [`layernorm_forward`]: overwrites `dinp`, accumulates `dg`, `db`.
#[allow(clippy::too_many_arguments)]
pub fn layernorm_backward(
    dinp: &mut [f32],
    dg: &mut [f32],
    db: &mut [f32],
    dout: &[f32],
    inp: &[f32],
    mean: &[f32],
    rstd: &[f32],
    g: &[f32],
    h: usize,
) {
    let rows = inp.len() / h;
    dinp[..rows * h]
        .par_chunks_mut(h * ROWS_PER_TASK)
        .zip(dout.par_chunks(h * ROWS_PER_TASK))
        .zip(inp.par_chunks(h * ROWS_PER_TASK))
        .zip(mean.par_chunks(ROWS_PER_TASK))
        .zip(rstd.par_chunks(ROWS_PER_TASK))
        .for_each(|((((di, dy), x), m), r)| {
            for ((((di, dy), x), &mu), &rs) in di
                .chunks_exact_mut(h)
                .zip(dy.chunks_exact(h))
                .zip(x.chunks_exact(h))
                .zip(m)
                .zip(r)
            {
                let mut mean_d = 0.0f32;
                let mut mean_dx = 0.0f32;
                for j in 0..h {
                    let xhat = (x[j] - mu) * rs;
                    let d = dy[j] * g[j];
                    mean_d += d;
                    mean_dx += d * xhat;
                }
                mean_d /= h as f32;
                mean_dx /= h as f32;
                for j in 0..h {
                    let xhat = (x[j] - mu) * rs;
                    di[j] = rs * (dy[j] * g[j] - mean_d - xhat * mean_dx);
                }
            }
        });
    for ((dy, x), (&mu, &rs)) in dout
        .chunks_exact(h)
        .zip(inp.chunks_exact(h))
        .zip(mean.iter().zip(rstd))
    {
        for j in 0..h {
            dg[j] += dy[j] * (x[j] - mu) * rs;
            db[j] += dy[j];
        }
    }
}

/// erf by the rational approximation used by Eigen and XLA (|error| < 5e-7 in f32), written so
/// the compiler vectorises it: no branches, no calls.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10f32;
    p = p * x2 + 2.770_681_4e-8;
    p = p * x2 - 2.101_024e-6;
    p = p * x2 - 5.692_506_4e-5;
    p = p * x2 - 7.349_906_3e-4;
    p = p * x2 - 2.954_600_3e-3;
    p = p * x2 - 1.609_603_3e-2;
    let mut q = -1.456_607_2e-5f32;
    q = q * x2 - 2.133_740_6e-4;
    q = q * x2 - 1.682_827e-3;
    q = q * x2 - 7.373_329e-3;
    q = q * x2 - 1.426_474e-2;
    (x * p / q).clamp(-1.0, 1.0)
}

const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// 1 / sqrt(2 pi)
const INV_SQRT_2PI: f32 = 0.398_942_3;

/// GELU, erf form (transformers' "gelu").
pub fn gelu_forward(out: &mut [f32], inp: &[f32]) {
    out.par_chunks_mut(4096)
        .zip(inp.par_chunks(4096))
        .for_each(|(o, x)| {
            for (o, &x) in o.iter_mut().zip(x) {
                *o = 0.5 * x * (1.0 + erf(x * FRAC_1_SQRT_2));
            }
        });
}

/// `d *= gelu'(inp)` in place.
pub fn gelu_backward(d: &mut [f32], inp: &[f32]) {
    d.par_chunks_mut(4096)
        .zip(inp.par_chunks(4096))
        .for_each(|(d, x)| {
            for (d, &x) in d.iter_mut().zip(x) {
                let cdf = 0.5 * (1.0 + erf(x * FRAC_1_SQRT_2));
                let pdf = INV_SQRT_2PI * (-0.5 * x * x).exp();
                *d *= cdf + x * pdf;
            }
        });
}

/// `x[i] *= mask(base + i)`; no-op without dropout.
pub fn dropout(x: &mut [f32], mask: Option<DropoutMask>) {
    if let Some(m) = mask {
        x.par_chunks_mut(4096)
            .enumerate()
            .for_each(|(c, x)| m.apply(x, c * 4096));
    }
}

/// The shape of one attention call.
#[derive(Debug, Clone, Copy)]
pub struct AttnShape {
    pub batch: usize,
    pub seq: usize,
    pub heads: usize,
    pub head_dim: usize,
}

impl AttnShape {
    fn hidden(&self) -> usize {
        self.heads * self.head_dim
    }
    /// Offset of head `h` of sequence `b`, row 0, in an [N, H] buffer.
    fn at(&self, b: usize, h: usize) -> usize {
        b * self.seq * self.hidden() + h * self.head_dim
    }
}

/// [N, H] -> [B, A, T, D] (`to_heads`) and back, so per-head work gets contiguous blocks.
pub fn split_heads(out: &mut [f32], inp: &[f32], s: AttnShape) {
    let (t, d, hid) = (s.seq, s.head_dim, s.hidden());
    out.par_chunks_mut(t * d).enumerate().for_each(|(bh, o)| {
        let base = s.at(bh / s.heads, bh % s.heads);
        for i in 0..t {
            o[i * d..(i + 1) * d].copy_from_slice(&inp[base + i * hid..base + i * hid + d]);
        }
    });
}

pub fn merge_heads(out: &mut [f32], inp: &[f32], s: AttnShape, accumulate: bool) {
    let (t, d, hid) = (s.seq, s.head_dim, s.hidden());
    out.par_chunks_mut(t * hid).enumerate().for_each(|(b, o)| {
        for h in 0..s.heads {
            let src = &inp[(b * s.heads + h) * t * d..][..t * d];
            for i in 0..t {
                let dst = &mut o[i * hid + h * d..][..d];
                let row = &src[i * d..(i + 1) * d];
                if accumulate {
                    dst.iter_mut().zip(row).for_each(|(a, b)| *a += b);
                } else {
                    dst.copy_from_slice(row);
                }
            }
        }
    });
}

/// Scaled dot-product attention with a key padding mask (`mask[b*T + j] == 0` hides key j, as
/// transformers' additive `finfo.min` mask does after softmax). Inputs q, k, v and output ctx are
/// per-head [B, A, T, D]; `probs` [B, A, T, T] keeps the softmax before dropout.
#[allow(clippy::too_many_arguments)]
pub fn attention_forward(
    ctx: &mut [f32],
    probs: &mut [f32],
    q: &[f32],
    k: &[f32],
    v: &[f32],
    mask: &[u8],
    drop: Option<DropoutMask>,
    s: AttnShape,
) {
    let (t, d) = (s.seq, s.head_dim);
    let scale = 1.0 / (d as f32).sqrt();
    probs
        .par_chunks_mut(t * t)
        .zip(ctx.par_chunks_mut(t * d))
        .enumerate()
        .for_each(|(bh, (p, c))| {
            let b = bh / s.heads;
            let (qh, kh, vh) = (&q[bh * t * d..], &k[bh * t * d..], &v[bh * t * d..]);
            gemm(
                t,
                t,
                d,
                Mat::rows(qh, d),
                Mat::trans(kh, d),
                0.0,
                p,
                t,
                false,
            );
            let keys = &mask[b * t..(b + 1) * t];
            for row in p.chunks_exact_mut(t) {
                let mut max = f32::NEG_INFINITY;
                for (x, &m) in row.iter_mut().zip(keys) {
                    *x *= scale;
                    if m != 0 && *x > max {
                        max = *x;
                    }
                }
                let mut sum = 0.0f32;
                for (x, &m) in row.iter_mut().zip(keys) {
                    *x = if m != 0 { (*x - max).exp() } else { 0.0 };
                    sum += *x;
                }
                let inv = 1.0 / sum;
                row.iter_mut().for_each(|x| *x *= inv);
            }
            match drop {
                None => gemm(t, d, t, Mat::rows(p, t), Mat::rows(vh, d), 0.0, c, d, false),
                Some(m) => {
                    let mut pd = p.to_vec();
                    m.apply(&mut pd, bh * t * t);
                    gemm(
                        t,
                        d,
                        t,
                        Mat::rows(&pd, t),
                        Mat::rows(vh, d),
                        0.0,
                        c,
                        d,
                        false,
                    );
                }
            }
        });
}

/// Backward of [`attention_forward`]: writes dq, dk, dv ([B, A, T, D]) from dctx.
#[allow(clippy::too_many_arguments)]
pub fn attention_backward(
    dq: &mut [f32],
    dk: &mut [f32],
    dv: &mut [f32],
    dctx: &[f32],
    probs: &[f32],
    q: &[f32],
    k: &[f32],
    v: &[f32],
    drop: Option<DropoutMask>,
    s: AttnShape,
) {
    let (t, d) = (s.seq, s.head_dim);
    let scale = 1.0 / (d as f32).sqrt();
    dq.par_chunks_mut(t * d)
        .zip(dk.par_chunks_mut(t * d))
        .zip(dv.par_chunks_mut(t * d))
        .enumerate()
        .for_each(|(bh, ((dqh, dkh), dvh))| {
            let o = bh * t * d;
            let (qh, kh, vh, dc) = (&q[o..], &k[o..], &v[o..], &dctx[o..o + t * d]);
            let p = &probs[bh * t * t..(bh + 1) * t * t];
            let mut pd = p.to_vec();
            if let Some(m) = drop {
                m.apply(&mut pd, bh * t * t);
            }
            // dV = Pd^T dctx
            gemm(
                t,
                d,
                t,
                Mat::trans(&pd, t),
                Mat::rows(dc, d),
                0.0,
                dvh,
                d,
                false,
            );
            // dPd = dctx V^T, reusing pd's storage
            let dp = &mut pd;
            gemm(
                t,
                t,
                d,
                Mat::rows(dc, d),
                Mat::trans(vh, d),
                0.0,
                dp,
                t,
                false,
            );
            if let Some(m) = drop {
                m.apply(dp, bh * t * t);
            }
            for (dr, pr) in dp.chunks_exact_mut(t).zip(p.chunks_exact(t)) {
                let dot: f32 = dr.iter().zip(pr).map(|(a, b)| a * b).sum();
                for (x, &pv) in dr.iter_mut().zip(pr) {
                    *x = pv * (*x - dot) * scale;
                }
            }
            gemm(
                t,
                d,
                t,
                Mat::rows(dp, t),
                Mat::rows(kh, d),
                0.0,
                dqh,
                d,
                false,
            );
            gemm(
                t,
                d,
                t,
                Mat::trans(dp, t),
                Mat::rows(qh, d),
                0.0,
                dkh,
                d,
                false,
            );
        });
}

/// Softmax cross-entropy per row of `logits` [rows, n]: returns (sum of losses, correct argmax
/// count) and the log-sum-exp of each row for [`xent_backward`].
pub fn xent_forward(logits: &[f32], labels: &[u32], lse: &mut [f32], n: usize) -> (f64, usize) {
    let rows = labels.len();
    let per_row: Vec<(f64, bool)> = logits[..rows * n]
        .par_chunks(n)
        .zip(lse[..rows].par_iter_mut())
        .zip(labels.par_iter())
        .map(|((row, l), &label)| {
            let (mut max, mut arg) = (f32::NEG_INFINITY, 0);
            for (j, &x) in row.iter().enumerate() {
                if x > max {
                    max = x;
                    arg = j;
                }
            }
            // f32 exp vectorises; the f64 sum keeps 30k-term rows accurate.
            let sum: f64 = row
                .chunks(64)
                .map(|c| c.iter().map(|&x| (x - max).exp()).sum::<f32>() as f64)
                .sum();
            let lse_row = max as f64 + sum.ln();
            *l = lse_row as f32;
            (lse_row - row[label as usize] as f64, arg == label as usize)
        })
        .collect();
    per_row
        .iter()
        .fold((0.0, 0), |(s, c), &(l, ok)| (s + l, c + ok as usize))
}

/// In place: `logits <- (softmax(logits) - onehot(label)) * scale`.
pub fn xent_backward(logits: &mut [f32], labels: &[u32], lse: &[f32], n: usize, scale: f32) {
    let rows = labels.len();
    logits[..rows * n]
        .par_chunks_mut(n)
        .zip(lse.par_iter())
        .zip(labels.par_iter())
        .for_each(|((row, &l), &label)| {
            for x in row.iter_mut() {
                *x = (*x - l).exp() * scale;
            }
            row[label as usize] -= scale;
        });
}
