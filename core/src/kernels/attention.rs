//! Scaled dot-product attention of one head, streamed: the scalar reference.
//!
//! For each query row, keys are visited in blocks of [`ATTN_BLOCK`] with an online softmax
//! (running max and sum, earlier partial results rescaled when the max grows), so no
//! `seq x seq` matrix exists. Masked keys get `f32::MIN` added to their score, as transformers
//! does, so even an all-masked row gives transformers' (uniform) result. SIMD backends run the
//! same algorithm on blocks of queries (`avx2_attention.rs`).

use super::quant::{groups, GROUP};
use super::reference::dot;
use super::vmath::exp;
use super::{row_at, row_at_mut};
use crate::scratch::ATTN_BLOCK;

/// One head's view of the Q, K and V activations (row-major, `stride` floats per token; the
/// head owns columns `col..col + d`) and of the attention mask.
#[derive(Clone, Copy)]
pub struct AttentionHead<'a> {
    /// Query rows, the first at offset 0.
    pub q: &'a [f32],
    /// All `seq` key rows.
    pub k: &'a [f32],
    /// All `seq` value rows.
    pub v: &'a [f32],
    /// Floats per token row in `q`, `k`, `v` and the output.
    pub stride: usize,
    /// First column of the head.
    pub col: usize,
    /// Head dimension.
    pub d: usize,
    /// Keys (and values).
    pub seq: usize,
    /// Query rows.
    pub rows: usize,
    /// Keys `j` with `mask[j] == 0` are masked; `None` attends to every key.
    pub mask: Option<&'a [u32]>,
}

impl AttentionHead<'_> {
    /// `1 / sqrt(d)`, the factor transformers applies to `q . k`.
    pub(super) fn scale(&self) -> f32 {
        1.0 / libm::sqrtf(self.d as f32)
    }

    /// What transformers adds to the score of key `j`.
    pub(super) fn bias(&self, j: usize) -> f32 {
        match self.mask {
            Some(m) if m.get(j) == Some(&0) => f32::MIN,
            _ => 0.0,
        }
    }

    /// Whether every slice holds what the shapes say, `out` being the query rows' output.
    pub(super) fn fits(&self, out_len: usize) -> bool {
        let span = |rows: usize| match rows {
            0 => 0,
            r => (r - 1) * self.stride + self.col + self.d,
        };
        self.col + self.d <= self.stride
            && self.q.len() >= span(self.rows)
            && out_len >= span(self.rows)
            && self.k.len() >= span(self.seq)
            && self.v.len() >= span(self.seq)
            && self.mask.is_none_or(|m| m.len() >= self.seq)
    }
}

/// Writes `softmax(q k^T / sqrt(d) + mask) v` for the head's query rows into columns
/// `col..col + d` of `out` (row `r` at `r * stride`), see [`super::attention`].
pub fn attention(hd: &AttentionHead, out: &mut [f32]) {
    let (d, stride, col) = (hd.d, hd.stride, hd.col);
    // The slices were checked against the shapes (`fits`); a missing row reads as empty.
    let key = |j: usize| row_at(hd.k, j * stride + col, d).unwrap_or_default();
    let value = |j: usize| row_at(hd.v, j * stride + col, d).unwrap_or_default();
    stream(
        hd,
        out,
        |qi, j| dot(qi, key(j)),
        |acc, p, j| acc.iter_mut().zip(value(j)).for_each(|(a, x)| *a += p * x),
    );
}

/// Keys and values kept in int8 by [`super::quantize_flat`]: row-major, `stride` bytes per
/// token, and `groups(stride)` scales per token (one per [`GROUP`] columns of the whole row).
#[derive(Clone, Copy)]
pub struct QuantizedKv<'a> {
    /// All `seq` key rows.
    pub k: &'a [i8],
    /// Their scales.
    pub k_scales: &'a [f32],
    /// All `seq` value rows.
    pub v: &'a [i8],
    /// Their scales.
    pub v_scales: &'a [f32],
}

impl QuantizedKv<'_> {
    /// Whether the slices hold `seq` rows of `stride` columns.
    fn fits(&self, seq: usize, stride: usize) -> bool {
        let (bytes, scales) = (seq * stride, seq * groups(stride));
        self.k.len() >= bytes
            && self.v.len() >= bytes
            && self.k_scales.len() >= scales
            && self.v_scales.len() >= scales
    }
}

/// The head's columns `col..col + d` cut where the scale groups change: `(first column,
/// columns, group)`, the first column relative to the head.
fn segments(col: usize, d: usize) -> impl Iterator<Item = (usize, usize, usize)> {
    let mut c = col;
    core::iter::from_fn(move || {
        (c < col + d).then(|| {
            let g = c / GROUP;
            let n = ((g + 1) * GROUP).min(col + d) - c;
            c += n;
            (c - n - col, n, g)
        })
    })
}

/// Query rows and keys [`attention_quantized`] takes at a time: each key and value segment is
/// converted to f32 once per block of query rows, not once per row (1.1 KiB of stack).
const QR: usize = 16;
const QK: usize = 16;

/// [`attention`] with the keys and values in int8 (`hd.k` and `hd.v` are not read): the
/// compact plan's attention. The same streamed softmax, on blocks of [`QR`] query rows and
/// [`QK`] keys; a key or value row is used as `int8 * scale` in f32, one scale group at a time.
/// Does nothing if a slice is shorter than the shapes say.
pub fn attention_quantized(hd: &AttentionHead, kv: &QuantizedKv, out: &mut [f32]) {
    let (d, stride, col) = (hd.d, hd.stride, hd.col);
    let ng = groups(stride);
    let span = |rows: usize| match rows {
        0 => 0,
        r => (r - 1) * stride + col + d,
    };
    if col + d > stride
        || hd.q.len() < span(hd.rows)
        || out.len() < span(hd.rows)
        || hd.mask.is_some_and(|m| m.len() < hd.seq)
        || !kv.fits(hd.seq, stride)
    {
        return;
    }
    let scale = hd.scale();
    let mut seg = [0f32; GROUP];
    let mut scores = [[0f32; QK]; QR];
    // Segment `(c, n, g)` of row `j` of `data`, times its scale, into `seg`; returns its `n`
    // values (the slices were checked above: a missing row reads as empty).
    let mut widen = |data: &[i8], scales: &[f32], j: usize, (c, n, g): (usize, usize, usize)| {
        let s = scales.get(j * ng + g).copied().unwrap_or(0.0);
        let x = row_at(data, j * stride + col + c, n).unwrap_or_default();
        seg.iter_mut()
            .zip(x)
            .for_each(|(o, v)| *o = f32::from(*v) * s);
        seg
    };
    let mut r0 = 0;
    while r0 < hd.rows {
        let nr = QR.min(hd.rows - r0);
        let at = |r: usize, c: usize| (r0 + r) * stride + col + c;
        let mut max = [f32::NEG_INFINITY; QR];
        let mut sum = [0f32; QR];
        for r in 0..nr {
            row_at_mut(out, at(r, 0), d).unwrap_or_default().fill(0.0);
        }
        let mut j0 = 0;
        while j0 < hd.seq {
            let nk = QK.min(hd.seq - j0);
            for row in scores.iter_mut().take(nr) {
                row.fill(0.0);
            }
            for jj in 0..nk {
                for part in segments(col, d) {
                    let k = widen(kv.k, kv.k_scales, j0 + jj, part);
                    let (c, n, _) = part;
                    for (r, row) in scores.iter_mut().take(nr).enumerate() {
                        let q = row_at(hd.q, at(r, c), n).unwrap_or_default();
                        if let Some(s) = row.get_mut(jj) {
                            *s += dot(q, &k);
                        }
                    }
                }
            }
            // The online-softmax update of `attention`, per row; scores become probabilities.
            let rows = scores.iter_mut().zip(max.iter_mut().zip(sum.iter_mut()));
            for (r, (row, (max, sum))) in rows.take(nr).enumerate() {
                let row = row.get_mut(..nk).unwrap_or_default();
                let mut block_max = f32::NEG_INFINITY;
                for (jj, sc) in row.iter_mut().enumerate() {
                    *sc = *sc * scale + hd.bias(j0 + jj);
                    block_max = block_max.max(*sc);
                }
                let new_max = max.max(block_max);
                let correction = exp(*max - new_max);
                *sum *= correction;
                let acc = row_at_mut(out, at(r, 0), d).unwrap_or_default();
                acc.iter_mut().for_each(|a| *a *= correction);
                for sc in row.iter_mut() {
                    *sc = exp(*sc - new_max);
                    *sum += *sc;
                }
                *max = new_max;
            }
            for jj in 0..nk {
                for part in segments(col, d) {
                    let v = widen(kv.v, kv.v_scales, j0 + jj, part);
                    let (c, n, _) = part;
                    for (r, row) in scores.iter().take(nr).enumerate() {
                        let p = row.get(jj).copied().unwrap_or(0.0);
                        let acc = row_at_mut(out, at(r, c), n).unwrap_or_default();
                        acc.iter_mut().zip(&v).for_each(|(a, x)| *a += p * x);
                    }
                }
            }
            j0 += nk;
        }
        for (r, s) in sum.iter().take(nr).enumerate() {
            let inv = 1.0 / s;
            let acc = row_at_mut(out, at(r, 0), d).unwrap_or_default();
            acc.iter_mut().for_each(|a| *a *= inv);
        }
        r0 += nr;
    }
}

/// The streamed softmax shared by both attentions: per query row, `score(q_row, j)` is the
/// unscaled `q . k_j`, and `add_value(acc, p, j)` adds `p * v_j` to the head's output row.
fn stream(
    hd: &AttentionHead,
    out: &mut [f32],
    score: impl Fn(&[f32], usize) -> f32,
    add_value: impl Fn(&mut [f32], f32, usize),
) {
    let (d, stride) = (hd.d, hd.stride);
    let scale = hd.scale();
    let mut scores = [0f32; ATTN_BLOCK];
    for r in 0..hd.rows {
        let at = r * stride + hd.col;
        // The output row itself accumulates the weighted values.
        let (Some(qi), Some(acc)) = (row_at(hd.q, at, d), row_at_mut(out, at, d)) else {
            return;
        };
        let mut max = f32::NEG_INFINITY;
        let mut sum = 0f32;
        acc.fill(0.0);
        let mut j0 = 0;
        while j0 < hd.seq {
            let n = ATTN_BLOCK.min(hd.seq - j0);
            let mut block_max = f32::NEG_INFINITY;
            for (jj, sc) in scores[..n].iter_mut().enumerate() {
                let j = j0 + jj;
                *sc = score(qi, j) * scale + hd.bias(j);
                block_max = block_max.max(*sc);
            }
            let new_max = max.max(block_max);
            let correction = exp(max - new_max);
            sum *= correction;
            acc.iter_mut().for_each(|a| *a *= correction);
            for (jj, sc) in scores[..n].iter().enumerate() {
                let p = exp(sc - new_max);
                sum += p;
                add_value(acc, p, j0 + jj);
            }
            max = new_max;
            j0 += n;
        }
        let inv = 1.0 / sum;
        acc.iter_mut().for_each(|a| *a *= inv);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec;
    use std::vec::Vec;

    /// xorshift64*, values in [-2, 2).
    struct Rng(u64);
    impl Rng {
        fn f(&mut self) -> f32 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let u = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40;
            u as f32 / (1u64 << 24) as f32 * 4.0 - 2.0
        }
    }

    /// Plain softmax in f64 over the whole row, transformers' formula.
    fn naive(hd: &AttentionHead) -> Vec<f64> {
        let (d, st) = (hd.d, hd.stride);
        let mut out = vec![0f64; hd.rows * d];
        for r in 0..hd.rows {
            let s: Vec<f64> = (0..hd.seq)
                .map(|j| {
                    let qk: f64 = (0..d)
                        .map(|c| {
                            hd.q[r * st + hd.col + c] as f64 * hd.k[j * st + hd.col + c] as f64
                        })
                        .sum();
                    // f32::MIN added in f32, as transformers does, decides the all-masked case.
                    ((qk as f32 * hd.scale()) + hd.bias(j)) as f64
                })
                .collect();
            let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = s.iter().map(|x| libm::exp(x - m)).collect();
            let z: f64 = e.iter().sum();
            for c in 0..d {
                out[r * d + c] = (0..hd.seq)
                    .map(|j| e[j] * hd.v[j * st + hd.col + c] as f64)
                    .sum::<f64>()
                    / z;
            }
        }
        out
    }

    /// Runs reference and dispatched kernels on one random shape; checks both against the f64
    /// softmax and each other (`1e-5 * max |v|`, the output being a convex combination of `v`).
    fn check(rng: &mut Rng, d: usize, heads: usize, seq: usize, rows: usize, mask: Option<&[u32]>) {
        let col = (heads - 1) * d;
        let stride = heads * d + 3;
        let q: Vec<f32> = (0..rows * stride).map(|_| rng.f() * 2.0).collect();
        let k: Vec<f32> = (0..seq * stride).map(|_| rng.f() * 2.0).collect();
        let v: Vec<f32> = (0..seq * stride).map(|_| rng.f()).collect();
        let hd = AttentionHead {
            q: &q,
            k: &k,
            v: &v,
            stride,
            col,
            d,
            seq,
            rows,
            mask,
        };
        let vmax = v.iter().fold(0f32, |a, x| a.max(x.abs()));
        let mut want = vec![7f32; rows * stride];
        attention(&hd, &mut want);
        let exact = naive(&hd);
        for (name, kernel) in simd_kernels() {
            let mut got = want.clone();
            got.iter_mut().for_each(|x| *x = 9.0);
            kernel(&hd, &mut got);
            compare(name, &hd, &want, &got, &exact, vmax);
        }
    }

    type Kernel = fn(&AttentionHead, &mut [f32]);

    /// The dispatched kernel, and the AVX2 one too where dispatch picks AVX-512 (which would
    /// leave it unchecked on such a CPU).
    fn simd_kernels() -> Vec<(&'static str, Kernel)> {
        #[allow(unused_mut)]
        let mut all: Vec<(&'static str, Kernel)> = vec![("dispatched", super::super::attention)];
        #[cfg(all(feature = "simd-avx512", target_arch = "x86_64"))]
        if super::super::avx512_attention::available() && super::super::avx2_vmath::available() {
            all.push(("avx2", super::super::avx2_attention::attention));
        }
        all
    }

    fn compare(
        name: &str,
        hd: &AttentionHead,
        want: &[f32],
        got: &[f32],
        exact: &[f64],
        vmax: f32,
    ) {
        let (rows, stride, col, d, seq) = (hd.rows, hd.stride, hd.col, hd.d, hd.seq);
        for r in 0..rows {
            for c in 0..stride {
                let (w, g) = (want[r * stride + c], got[r * stride + c]);
                if (col..col + d).contains(&c) {
                    let e = exact[r * d + c - col];
                    let ctx = (d, seq, rows, r, c);
                    assert!(
                        (w as f64 - e).abs() <= 2e-6 * vmax as f64,
                        "ref {w} vs {e} {ctx:?}"
                    );
                    assert!(
                        (g - w).abs() <= 1e-5 * vmax,
                        "{name} {g} vs ref {w} {ctx:?}"
                    );
                } else {
                    assert_eq!((w, g), (7.0, 9.0), "wrote outside the head");
                }
            }
        }
    }

    #[test]
    fn matches_softmax_on_random_shapes() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        // Miri interprets every instruction: there, a few shapes that still cross the blocks.
        let shapes: &[(usize, usize, usize, usize)] = if cfg!(miri) {
            &[(1, 1, 1, 1), (5, 2, 7, 3), (17, 1, 18, 17)]
        } else {
            &[
                (32, 3, 128, 40),
                (64, 2, 65, 16),
                (1, 1, 1, 1),
                (5, 2, 7, 3),
                (8, 1, 200, 17),
                (33, 2, 64, 33),
                (130, 1, 70, 5),
                (257, 2, 9, 18),
            ]
        };
        for &(d, heads, seq, rows) in shapes {
            check(&mut rng, d, heads, seq, rows, None);
        }
    }

    #[test]
    fn masks_like_transformers() {
        let mut rng = Rng(42);
        let seq = if cfg!(miri) { 18 } else { 150 };
        let some: Vec<u32> = (0..seq)
            .map(|j| u32::from(j % 3 != 1 && j < seq - 10))
            .collect();
        check(&mut rng, 32, 2, seq, 21, Some(&some));
        // All masked: transformers' scores are all f32::MIN, so its softmax is uniform.
        let none = vec![0u32; seq];
        check(&mut rng, 16, 1, seq, 4, Some(&none));
        let only_last: Vec<u32> = (0..seq).map(|j| u32::from(j == seq - 1)).collect();
        check(&mut rng, 24, 1, seq, 19, Some(&only_last));
    }

    /// The int8 keys and values, dequantised, through the f32 scalar attention: the same
    /// softmax up to summation order, on head widths that cross and do not fill the 32-column
    /// scale groups, with and without a mask, over more than one block of rows and of keys.
    #[test]
    fn quantized_kv_matches_dequantized() {
        let mut rng = Rng(7);
        let shapes: &[(usize, usize, usize, usize, bool)] = &[
            (8, 2, 20, 5, false),
            (32, 3, 70, 4, true),
            (24, 3, 9, 9, false),
            (64, 2, 64, 16, true),
            (16, 2, 33, 21, true),
        ];
        // Scalar code only: under Miri one shape shows the memory accesses are in bounds.
        let shapes = if cfg!(miri) { &shapes[..1] } else { shapes };
        for &(d, heads, seq, rows, masked) in shapes {
            let stride = heads * d;
            let q: Vec<f32> = (0..rows * stride).map(|_| rng.f() * 2.0).collect();
            let k: Vec<f32> = (0..seq * stride).map(|_| rng.f() * 2.0).collect();
            let v: Vec<f32> = (0..seq * stride).map(|_| rng.f()).collect();
            let ng = groups(stride);
            let (mut kq, mut vq) = (vec![0i8; seq * stride], vec![0i8; seq * stride]);
            let (mut ks, mut vs) = (vec![0f32; seq * ng], vec![0f32; seq * ng]);
            super::super::quantize_flat(&k, stride, &mut kq, &mut ks);
            super::super::quantize_flat(&v, stride, &mut vq, &mut vs);
            let deq = |q: &[i8], s: &[f32]| -> Vec<f32> {
                (0..seq * stride)
                    .map(|i| q[i] as f32 * s[i / stride * ng + i % stride / GROUP])
                    .collect()
            };
            let (kd, vd) = (deq(&kq, &ks), deq(&vq, &vs));
            let mask: Vec<u32> = (0..seq).map(|j| u32::from(j % 4 != 3)).collect();
            let kv = QuantizedKv {
                k: &kq,
                k_scales: &ks,
                v: &vq,
                v_scales: &vs,
            };
            for col in (0..heads).map(|h| h * d) {
                let hd = AttentionHead {
                    q: &q,
                    k: &kd,
                    v: &vd,
                    stride,
                    col,
                    d,
                    seq,
                    rows,
                    mask: masked.then_some(&mask[..]),
                };
                let mut want = vec![5f32; rows * stride];
                attention(&hd, &mut want);
                let mut got = vec![5f32; rows * stride];
                attention_quantized(&hd, &kv, &mut got);
                for (i, (w, g)) in want.iter().zip(&got).enumerate() {
                    assert!((w - g).abs() <= 1e-5, "d {d} col {col} at {i}: {g} vs {w}");
                }
            }
        }
    }
}
