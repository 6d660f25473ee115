//! AVX2 + FMA attention: the algorithm of `attention.rs` on blocks of [`MQ`] queries.
//!
//! Per query block, the queries are packed transposed (`qt[c][r]`), so the scores of a block of
//! keys are a small GEMM that vectorises over the 16 queries and broadcasts key elements from
//! their row-major rows (`s^T[j][r]`, 2 x [`NK`] accumulators, like the linear kernels). In
//! that layout the running max, the exponentials and the running sum are plain lane-wise
//! operations. `P V` then vectorises over the head dimension: [`PR`] query rows x up to 32
//! columns of accumulators, probabilities broadcast from `s^T`, value rows loaded as they are.
//! The output rows themselves hold the running context, rescaled when the max grows.
#![allow(unsafe_code)]
// Register tiles are indexed by lane and row; index loops read clearer than zipped iterators.
#![allow(clippy::needless_range_loop)]

use super::attention::AttentionHead;
use super::avx2_vmath::{available, exp8};
use crate::scratch::ATTN_BLOCK;
use core::arch::x86_64::*;

/// Queries per block: two 8-lane registers.
const MQ: usize = 16;
/// Keys per score micro-tile: 12 accumulators + 2 query registers + 1 broadcast.
const NK: usize = 6;
/// Head-dimension columns packed at a time (larger heads are scored in chunks).
const DC: usize = 128;
/// Query rows per `P V` micro-tile (with up to 4 column vectors: 12 accumulators).
const PR: usize = 3;

/// See [`super::attention`].
pub(super) fn attention(hd: &AttentionHead, out: &mut [f32]) {
    debug_assert!(available() && hd.fits(out.len()));
    // SAFETY: the dispatcher checked the CPU features and every slice against the shapes
    // (`AttentionHead::fits`); all accesses below stay within those spans.
    unsafe { attention_avx2(hd, out) }
}

/// Per query block state that the key-block steps share.
struct Block {
    /// First query row and rows in use (`<= MQ`).
    r0: usize,
    nq: usize,
    /// Probabilities of the current key block, key-major: `pt[j * MQ + r]`.
    pt: [f32; ATTN_BLOCK * MQ],
    /// Per row: the factor earlier partial contexts are scaled by (growth of the max), and
    /// `1 / sum` once the last block is in.
    corr: [f32; MQ],
    inv: [f32; MQ],
}

#[target_feature(enable = "avx2,fma")]
unsafe fn attention_avx2(hd: &AttentionHead, out: &mut [f32]) {
    let (d, stride, col) = (hd.d, hd.stride, hd.col);
    let scale = _mm256_set1_ps(hd.scale());
    let mut qt = [0f32; DC * MQ];
    let mut bias = [0f32; ATTN_BLOCK];
    let mut b = Block {
        r0: 0,
        nq: 0,
        pt: [0.0; ATTN_BLOCK * MQ],
        corr: [0.0; MQ],
        inv: [0.0; MQ],
    };
    while b.r0 < hd.rows {
        b.nq = MQ.min(hd.rows - b.r0);
        let mut max = [_mm256_set1_ps(f32::NEG_INFINITY); 2];
        let mut sum = [_mm256_setzero_ps(); 2];
        let mut j0 = 0;
        while j0 < hd.seq {
            let nb = ATTN_BLOCK.min(hd.seq - j0);
            for (jj, bj) in bias[..nb].iter_mut().enumerate() {
                *bj = hd.bias(j0 + jj);
            }
            let mut c0 = 0;
            while c0 < d {
                let dc = DC.min(d - c0);
                if d > DC || j0 == 0 {
                    pack_queries(hd, b.r0, b.nq, c0, dc, &mut qt);
                }
                let mut jt = 0;
                while jt < nb {
                    let n = NK.min(nb - jt);
                    let k = hd.k.as_ptr().add((j0 + jt) * stride + col + c0);
                    let s = b.pt.as_mut_ptr().add(jt * MQ);
                    score_tile(n, qt.as_ptr(), dc, k, stride, s, c0 > 0);
                    jt += n;
                }
                c0 += dc;
            }
            // Scale and mask as the reference does, then the online-softmax update.
            let mut bmax = [_mm256_set1_ps(f32::NEG_INFINITY); 2];
            for jj in 0..nb {
                let bj = _mm256_set1_ps(bias[jj]);
                for h in 0..2 {
                    let p = b.pt.as_mut_ptr().add(jj * MQ + 8 * h);
                    let s = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(p), scale), bj);
                    _mm256_storeu_ps(p, s);
                    bmax[h] = _mm256_max_ps(bmax[h], s);
                }
            }
            for h in 0..2 {
                let new_max = _mm256_max_ps(max[h], bmax[h]);
                let corr = exp8(_mm256_sub_ps(max[h], new_max));
                sum[h] = _mm256_mul_ps(sum[h], corr);
                _mm256_storeu_ps(b.corr.as_mut_ptr().add(8 * h), corr);
                for jj in 0..nb {
                    let p = b.pt.as_mut_ptr().add(jj * MQ + 8 * h);
                    let e = exp8(_mm256_sub_ps(_mm256_loadu_ps(p), new_max));
                    _mm256_storeu_ps(p, e);
                    sum[h] = _mm256_add_ps(sum[h], e);
                }
                max[h] = new_max;
            }
            let last = j0 + nb == hd.seq;
            if last {
                for h in 0..2 {
                    let inv = _mm256_div_ps(_mm256_set1_ps(1.0), sum[h]);
                    _mm256_storeu_ps(b.inv.as_mut_ptr().add(8 * h), inv);
                }
            }
            weighted_values(hd, &b, j0, nb, j0 == 0, last, out);
            j0 += nb;
        }
        b.r0 += b.nq;
    }
}

/// `qt[c * MQ + r] = q[r0 + r][col + c0 + c]` for `c < dc`, rows past `nq` zero.
#[target_feature(enable = "avx2,fma")]
unsafe fn pack_queries(
    hd: &AttentionHead,
    r0: usize,
    nq: usize,
    c0: usize,
    dc: usize,
    qt: &mut [f32; DC * MQ],
) {
    if nq < MQ {
        qt[..dc * MQ].fill(0.0);
    }
    for r in 0..nq {
        let row = hd.q.as_ptr().add((r0 + r) * hd.stride + hd.col + c0);
        for c in 0..dc {
            *qt.get_unchecked_mut(c * MQ + r) = *row.add(c);
        }
    }
}

/// Scores of `n <= NK` keys (rows at `k`, `k + stride`, ...; `dc` columns) against the packed
/// queries, written (or with `add`, added) to `s[j * MQ + r]`.
#[target_feature(enable = "avx2,fma")]
unsafe fn score_tile(
    n: usize,
    qt: *const f32,
    dc: usize,
    k: *const f32,
    stride: usize,
    s: *mut f32,
    add: bool,
) {
    match n {
        6 => score_tile_n::<6>(qt, dc, k, stride, s, add),
        5 => score_tile_n::<5>(qt, dc, k, stride, s, add),
        4 => score_tile_n::<4>(qt, dc, k, stride, s, add),
        3 => score_tile_n::<3>(qt, dc, k, stride, s, add),
        2 => score_tile_n::<2>(qt, dc, k, stride, s, add),
        _ => score_tile_n::<1>(qt, dc, k, stride, s, add),
    }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn score_tile_n<const N: usize>(
    qt: *const f32,
    dc: usize,
    k: *const f32,
    stride: usize,
    s: *mut f32,
    add: bool,
) {
    let mut acc = [[_mm256_setzero_ps(); 2]; N];
    if add {
        for t in 0..N {
            acc[t] = [
                _mm256_loadu_ps(s.add(t * MQ)),
                _mm256_loadu_ps(s.add(t * MQ + 8)),
            ];
        }
    }
    for c in 0..dc {
        let q0 = _mm256_loadu_ps(qt.add(c * MQ));
        let q1 = _mm256_loadu_ps(qt.add(c * MQ + 8));
        for t in 0..N {
            let kv = _mm256_broadcast_ss(&*k.add(t * stride + c));
            acc[t][0] = _mm256_fmadd_ps(q0, kv, acc[t][0]);
            acc[t][1] = _mm256_fmadd_ps(q1, kv, acc[t][1]);
        }
    }
    for t in 0..N {
        _mm256_storeu_ps(s.add(t * MQ), acc[t][0]);
        _mm256_storeu_ps(s.add(t * MQ + 8), acc[t][1]);
    }
}

/// Adds `P V` of one key block to the block's output rows: each row's earlier context is first
/// scaled by `corr` (or starts from zero on the `first` block) and, on the `last`, by `1 / sum`.
#[target_feature(enable = "avx2,fma")]
unsafe fn weighted_values(
    hd: &AttentionHead,
    b: &Block,
    j0: usize,
    nb: usize,
    first: bool,
    last: bool,
    out: &mut [f32],
) {
    let (d, stride) = (hd.d, hd.stride);
    let v = hd.v.as_ptr().add(j0 * stride + hd.col);
    let d8 = d / 8 * 8;
    let mut r = 0;
    while r < b.nq {
        let nr = PR.min(b.nq - r);
        let o = out.as_mut_ptr().add((b.r0 + r) * stride + hd.col);
        let t = Tile {
            pt: b.pt.as_ptr().add(r),
            nb,
            v,
            stride,
            out: o,
            corr: b.corr.as_ptr().add(r),
            inv: b.inv.as_ptr().add(r),
            first,
            last,
        };
        let mut c = 0;
        while c < d8 {
            let cv = if d8 - c >= 32 { 4 } else { 1 };
            match (nr, cv) {
                (3, 4) => t.run::<3, 4>(c),
                (3, _) => t.run::<3, 1>(c),
                (2, 4) => t.run::<2, 4>(c),
                (2, _) => t.run::<2, 1>(c),
                (_, 4) => t.run::<1, 4>(c),
                _ => t.run::<1, 1>(c),
            }
            c += 8 * cv;
        }
        for rr in 0..nr {
            for c in d8..d {
                t.scalar(rr, c);
            }
        }
        r += nr;
    }
}

/// One `P V` micro-tile's operands: rows from `out` (stride `stride`), their probabilities at
/// `pt[j * MQ + row]`, value rows from `v`.
struct Tile {
    pt: *const f32,
    nb: usize,
    v: *const f32,
    stride: usize,
    out: *mut f32,
    corr: *const f32,
    inv: *const f32,
    first: bool,
    last: bool,
}

impl Tile {
    /// `R` rows x `CV` vectors of eight columns from column `c`.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run<const R: usize, const CV: usize>(&self, c: usize) {
        let mut acc = [[_mm256_setzero_ps(); CV]; R];
        if !self.first {
            for r in 0..R {
                let k = _mm256_broadcast_ss(&*self.corr.add(r));
                for v in 0..CV {
                    let o = self.out.add(r * self.stride + c + 8 * v);
                    acc[r][v] = _mm256_mul_ps(_mm256_loadu_ps(o), k);
                }
            }
        }
        for j in 0..self.nb {
            let mut vv = [_mm256_setzero_ps(); CV];
            for v in 0..CV {
                vv[v] = _mm256_loadu_ps(self.v.add(j * self.stride + c + 8 * v));
            }
            for r in 0..R {
                let p = _mm256_broadcast_ss(&*self.pt.add(j * MQ + r));
                for v in 0..CV {
                    acc[r][v] = _mm256_fmadd_ps(p, vv[v], acc[r][v]);
                }
            }
        }
        for r in 0..R {
            let k = _mm256_broadcast_ss(&*self.inv.add(r));
            for v in 0..CV {
                let a = if self.last {
                    _mm256_mul_ps(acc[r][v], k)
                } else {
                    acc[r][v]
                };
                _mm256_storeu_ps(self.out.add(r * self.stride + c + 8 * v), a);
            }
        }
    }

    /// Column `c` of row `r`, for head dimensions that are not a multiple of eight.
    unsafe fn scalar(&self, r: usize, c: usize) {
        let o = self.out.add(r * self.stride + c);
        let mut a = if self.first {
            0.0
        } else {
            *o * *self.corr.add(r)
        };
        for j in 0..self.nb {
            a += *self.pt.add(j * MQ + r) * *self.v.add(j * self.stride + c);
        }
        *o = if self.last { a * *self.inv.add(r) } else { a };
    }
}
