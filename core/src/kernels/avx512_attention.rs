//! AVX-512 attention: the algorithm of `avx2_attention.rs` (blocks of queries packed
//! transposed, scores key-major so the online softmax is lane-wise, then `P V` over the head
//! dimension) on 16-lane registers: blocks of [`MQ`] = 32 queries (two registers; one for a
//! block of at most 16), 12-key score tiles and 12-row `P V` tiles of 24 accumulators, and
//! masked loads and stores for head dimensions that are not a multiple of 16.
#![allow(unsafe_code)]
// Register tiles are indexed by lane and row; index loops read clearer than zipped iterators.
#![allow(clippy::needless_range_loop)]
// AVX-512 intrinsics are stable since Rust 1.89: `simd-avx512` needs that, the crate does not.
#![allow(clippy::incompatible_msrv)]

use super::attention::AttentionHead;
use super::avx512_vmath::{exp16, lanes, max16};
use crate::scratch::ATTN_BLOCK;
use core::arch::x86_64::*;

/// Queries per block: two 16-lane registers.
const MQ: usize = 32;
/// Keys per score micro-tile: 24 accumulators + 2 query registers + the broadcast.
const NK: usize = 12;
/// Head-dimension columns packed at a time (larger heads are scored in chunks).
const DC: usize = 128;
/// Query rows per `P V` micro-tile (with two column vectors: 24 accumulators).
const PR: usize = 12;

/// AVX-512F is present.
pub(super) fn available() -> bool {
    super::avx512_vmath::available()
}

/// See [`super::attention`].
pub(super) fn attention(hd: &AttentionHead, out: &mut [f32]) {
    debug_assert!(available() && hd.fits(out.len()));
    // SAFETY: the dispatcher checked the CPU features and every slice against the shapes
    // (`AttentionHead::fits`); all accesses below stay within those spans (masked at the
    // head's last columns).
    unsafe { attention_avx512(hd, out) }
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

#[target_feature(enable = "avx512f")]
unsafe fn attention_avx512(hd: &AttentionHead, out: &mut [f32]) {
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
        if b.nq > MQ / 2 {
            query_block::<2>(hd, &mut b, &mut qt, &mut bias, out);
        } else {
            query_block::<1>(hd, &mut b, &mut qt, &mut bias, out);
        }
        b.r0 += b.nq;
    }
}

/// One block of queries, `H` registers of them, over every key block.
#[target_feature(enable = "avx512f")]
unsafe fn query_block<const H: usize>(
    hd: &AttentionHead,
    b: &mut Block,
    qt: &mut [f32; DC * MQ],
    bias: &mut [f32; ATTN_BLOCK],
    out: &mut [f32],
) {
    let (d, stride, col) = (hd.d, hd.stride, hd.col);
    let scale = _mm512_set1_ps(hd.scale());
    let mut max = [_mm512_set1_ps(f32::NEG_INFINITY); H];
    let mut sum = [_mm512_setzero_ps(); H];
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
                pack_queries(hd, b.r0, b.nq, c0, dc, qt);
            }
            let mut jt = 0;
            while jt < nb {
                let n = NK.min(nb - jt);
                let k = hd.k.as_ptr().add((j0 + jt) * stride + col + c0);
                let s = b.pt.as_mut_ptr().add(jt * MQ);
                score_tile::<H>(n, qt.as_ptr(), dc, k, stride, s, c0 > 0);
                jt += n;
            }
            c0 += dc;
        }
        // Scale and mask as the reference does, then the online-softmax update.
        let mut bmax = [_mm512_set1_ps(f32::NEG_INFINITY); H];
        for jj in 0..nb {
            let bj = _mm512_set1_ps(bias[jj]);
            for h in 0..H {
                let p = b.pt.as_mut_ptr().add(jj * MQ + 16 * h);
                let s = _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(p), scale), bj);
                _mm512_storeu_ps(p, s);
                bmax[h] = max16(bmax[h], s);
            }
        }
        for h in 0..H {
            let new_max = max16(max[h], bmax[h]);
            let corr = exp16(_mm512_sub_ps(max[h], new_max));
            sum[h] = _mm512_mul_ps(sum[h], corr);
            _mm512_storeu_ps(b.corr.as_mut_ptr().add(16 * h), corr);
            for jj in 0..nb {
                let p = b.pt.as_mut_ptr().add(jj * MQ + 16 * h);
                let e = exp16(_mm512_sub_ps(_mm512_loadu_ps(p), new_max));
                _mm512_storeu_ps(p, e);
                sum[h] = _mm512_add_ps(sum[h], e);
            }
            max[h] = new_max;
        }
        let last = j0 + nb == hd.seq;
        if last {
            for h in 0..H {
                let inv = _mm512_div_ps(_mm512_set1_ps(1.0), sum[h]);
                _mm512_storeu_ps(b.inv.as_mut_ptr().add(16 * h), inv);
            }
        }
        weighted_values(hd, b, j0, nb, j0 == 0, last, out);
        j0 += nb;
    }
}

/// `qt[c * MQ + r] = q[r0 + r][col + c0 + c]` for `c < dc`, rows past `nq` zero.
#[target_feature(enable = "avx512f")]
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
/// queries, written (or with `add`, added) to `s[j * MQ + r]` for the `H` registers of rows.
#[target_feature(enable = "avx512f")]
unsafe fn score_tile<const H: usize>(
    n: usize,
    qt: *const f32,
    dc: usize,
    k: *const f32,
    stride: usize,
    s: *mut f32,
    add: bool,
) {
    match n {
        12 => score_tile_n::<H, 12>(qt, dc, k, stride, s, add),
        11 => score_tile_n::<H, 11>(qt, dc, k, stride, s, add),
        10 => score_tile_n::<H, 10>(qt, dc, k, stride, s, add),
        9 => score_tile_n::<H, 9>(qt, dc, k, stride, s, add),
        8 => score_tile_n::<H, 8>(qt, dc, k, stride, s, add),
        7 => score_tile_n::<H, 7>(qt, dc, k, stride, s, add),
        6 => score_tile_n::<H, 6>(qt, dc, k, stride, s, add),
        5 => score_tile_n::<H, 5>(qt, dc, k, stride, s, add),
        4 => score_tile_n::<H, 4>(qt, dc, k, stride, s, add),
        3 => score_tile_n::<H, 3>(qt, dc, k, stride, s, add),
        2 => score_tile_n::<H, 2>(qt, dc, k, stride, s, add),
        _ => score_tile_n::<H, 1>(qt, dc, k, stride, s, add),
    }
}

#[target_feature(enable = "avx512f")]
unsafe fn score_tile_n<const H: usize, const N: usize>(
    qt: *const f32,
    dc: usize,
    k: *const f32,
    stride: usize,
    s: *mut f32,
    add: bool,
) {
    let mut acc = [[_mm512_setzero_ps(); H]; N];
    if add {
        for t in 0..N {
            for h in 0..H {
                acc[t][h] = _mm512_loadu_ps(s.add(t * MQ + 16 * h));
            }
        }
    }
    for c in 0..dc {
        let q: [__m512; H] = core::array::from_fn(|h| _mm512_loadu_ps(qt.add(c * MQ + 16 * h)));
        for t in 0..N {
            let kv = _mm512_set1_ps(*k.add(t * stride + c));
            for h in 0..H {
                acc[t][h] = _mm512_fmadd_ps(q[h], kv, acc[t][h]);
            }
        }
    }
    for t in 0..N {
        for h in 0..H {
            _mm512_storeu_ps(s.add(t * MQ + 16 * h), acc[t][h]);
        }
    }
}

/// Adds `P V` of one key block to the block's output rows: each row's earlier context is first
/// scaled by `corr` (or starts from zero on the `first` block) and, on the `last`, by `1 / sum`.
#[target_feature(enable = "avx512f")]
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
    let mut r = 0;
    while r < b.nq {
        let nr = PR.min(b.nq - r);
        let t = Tile {
            pt: b.pt.as_ptr().add(r),
            nb,
            v,
            stride,
            out: out.as_mut_ptr().add((b.r0 + r) * stride + hd.col),
            corr: b.corr.as_ptr().add(r),
            inv: b.inv.as_ptr().add(r),
            first,
            last,
        };
        let mut c = 0;
        while c < d {
            let left = d - c;
            let mask = [lanes(left), lanes(left.saturating_sub(16))];
            if left > 16 {
                t.rows::<2>(nr, c, mask);
                c += 32;
            } else {
                t.rows::<1>(nr, c, mask);
                c += 16;
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
    /// `nr <= PR` rows x `CV` vectors of 16 columns from column `c`, the columns past the
    /// head's end masked off.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn rows<const CV: usize>(&self, nr: usize, c: usize, mask: [__mmask16; 2]) {
        match nr {
            12 => self.run::<12, CV>(c, mask),
            11 => self.run::<11, CV>(c, mask),
            10 => self.run::<10, CV>(c, mask),
            9 => self.run::<9, CV>(c, mask),
            8 => self.run::<8, CV>(c, mask),
            7 => self.run::<7, CV>(c, mask),
            6 => self.run::<6, CV>(c, mask),
            5 => self.run::<5, CV>(c, mask),
            4 => self.run::<4, CV>(c, mask),
            3 => self.run::<3, CV>(c, mask),
            2 => self.run::<2, CV>(c, mask),
            _ => self.run::<1, CV>(c, mask),
        }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn run<const R: usize, const CV: usize>(&self, c: usize, mask: [__mmask16; 2]) {
        let mut acc = [[_mm512_setzero_ps(); CV]; R];
        if !self.first {
            for r in 0..R {
                let k = _mm512_set1_ps(*self.corr.add(r));
                for v in 0..CV {
                    let o = self.out.add(r * self.stride + c + 16 * v);
                    acc[r][v] = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask[v], o), k);
                }
            }
        }
        for j in 0..self.nb {
            let vv: [__m512; CV] = core::array::from_fn(|v| {
                _mm512_maskz_loadu_ps(mask[v], self.v.add(j * self.stride + c + 16 * v))
            });
            for r in 0..R {
                let p = _mm512_set1_ps(*self.pt.add(j * MQ + r));
                for v in 0..CV {
                    acc[r][v] = _mm512_fmadd_ps(p, vv[v], acc[r][v]);
                }
            }
        }
        for r in 0..R {
            let k = _mm512_set1_ps(*self.inv.add(r));
            for v in 0..CV {
                let a = if self.last {
                    _mm512_mul_ps(acc[r][v], k)
                } else {
                    acc[r][v]
                };
                _mm512_mask_storeu_ps(self.out.add(r * self.stride + c + 16 * v), mask[v], a);
            }
        }
    }
}
