//! x86-64 AVX2 + FMA + F16C kernels.
//!
//! Both GEMMs vectorise over *rows* (tokens) and broadcast weights: the weights stay in their
//! zero-copy `[out, in]` layout and only the activations are rearranged (the float path packs a
//! 16-row block of `x` column-major on the stack; the int8 path reads the panel layout that
//! quantisation already wrote). Each micro-tile is 16 rows x `NR` outputs in registers.
#![allow(unsafe_code)]
// Register tiles are indexed by lane and row; index loops read clearer than zipped iterators.
#![allow(clippy::needless_range_loop)]

use super::quant::{groups, QuantizedRows, GROUP, PANEL_ROWS};
use super::reference::store;
use super::FloatWeights;
use core::arch::x86_64::*;

/// AVX2, FMA and F16C are present.
pub(super) fn available() -> bool {
    #[cfg(feature = "std")]
    {
        std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
            && std::is_x86_feature_detected!("f16c")
    }
    #[cfg(not(feature = "std"))]
    {
        cfg!(all(
            target_feature = "avx2",
            target_feature = "fma",
            target_feature = "f16c"
        ))
    }
}

/// Rows per block: two 8-lane registers.
const MR: usize = 16;
/// Outputs per float micro-tile: 12 accumulators + 2 activation registers + 1 broadcast.
const NR: usize = 6;
/// Inner-dimension block of the float GEMM (the packed block is `KC x MR` f32 = 16 KiB).
const KC: usize = 256;

/// Float linear layer (f32 or f16 weights); see [`super::linear`].
pub(super) fn linear(
    x: &[f32],
    rows: usize,
    w: &FloatWeights,
    bias: Option<&[f32]>,
    out: &mut [f32],
    accumulate: bool,
) {
    debug_assert!(available());
    // SAFETY: `backend()` selected this module only after checking the CPU features, and
    // `super::linear` checked every slice against the shapes.
    unsafe { sgemm(x, rows, w, bias, out, accumulate) }
}

/// Weight rows for one micro-tile: pointers to `kc` f32 each.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn weight_rows(
    w: &FloatWeights,
    nb: usize,
    nr: usize,
    k0: usize,
    kc: usize,
    buf: &mut [f32; NR * KC],
) -> [*const f32; NR] {
    let mut ptrs = [core::ptr::null(); NR];
    for (j, p) in ptrs.iter_mut().enumerate().take(nr) {
        let start = (nb + j) * w.stride + k0;
        *p = match w.data {
            super::FloatData::F32(d) => d[start..start + kc].as_ptr(),
            super::FloatData::F16(d) => {
                let src = &d[start..start + kc];
                let dst = &mut buf[j * KC..j * KC + kc];
                let mut i = 0;
                while i + 8 <= kc {
                    let h = _mm_loadu_si128(src.as_ptr().add(i) as *const __m128i);
                    _mm256_storeu_ps(dst.as_mut_ptr().add(i), _mm256_cvtph_ps(h));
                    i += 8;
                }
                for (o, v) in dst[i..].iter_mut().zip(&src[i..]) {
                    *o = v.to_f32();
                }
                dst.as_ptr()
            }
        };
    }
    // Missing outputs of a narrow last tile reuse row 0; their results are discarded.
    for j in nr..NR {
        ptrs[j] = ptrs[0];
    }
    ptrs
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn sgemm(
    x: &[f32],
    rows: usize,
    w: &FloatWeights,
    bias: Option<&[f32]>,
    out: &mut [f32],
    accumulate: bool,
) {
    let (k, n) = (w.cols, w.rows);
    let mut apack = [0f32; KC * MR];
    let mut wbuf = [0f32; NR * KC];
    let mut tile = [[0f32; MR]; NR];
    for r0 in (0..rows).step_by(MR) {
        let mr = MR.min(rows - r0);
        for k0 in (0..k).step_by(KC) {
            let kc = KC.min(k - k0);
            if mr < MR {
                apack[..kc * MR].fill(0.0);
            }
            for r in 0..mr {
                let src = &x[(r0 + r) * k + k0..(r0 + r) * k + k0 + kc];
                for (kk, v) in src.iter().enumerate() {
                    apack[kk * MR + r] = *v;
                }
            }
            let first = k0 == 0;
            for nb in (0..n).step_by(NR) {
                let nr = NR.min(n - nb);
                let ptrs = weight_rows(w, nb, nr, k0, kc, &mut wbuf);
                let acc = micro(apack.as_ptr(), &ptrs, kc);
                for (t, a) in tile.iter_mut().zip(acc.iter()) {
                    _mm256_storeu_ps(t.as_mut_ptr(), a[0]);
                    _mm256_storeu_ps(t.as_mut_ptr().add(8), a[1]);
                }
                for r in 0..mr {
                    let orow = &mut out[(r0 + r) * n + nb..(r0 + r) * n + nb + nr];
                    for (j, y) in orow.iter_mut().enumerate() {
                        let v = tile[j][r];
                        if first {
                            store(y, v + bias.map_or(0.0, |b| b[nb + j]), accumulate);
                        } else {
                            *y += v;
                        }
                    }
                }
            }
        }
    }
}

#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn micro(a: *const f32, w: &[*const f32; NR], kc: usize) -> [[__m256; 2]; NR] {
    let mut acc = [[_mm256_setzero_ps(); 2]; NR];
    for kk in 0..kc {
        let a0 = _mm256_loadu_ps(a.add(kk * MR));
        let a1 = _mm256_loadu_ps(a.add(kk * MR + 8));
        for j in 0..NR {
            let b = _mm256_broadcast_ss(&*w[j].add(kk));
            acc[j][0] = _mm256_fmadd_ps(a0, b, acc[j][0]);
            acc[j][1] = _mm256_fmadd_ps(a1, b, acc[j][1]);
        }
    }
    acc
}

/// Outputs per int8 micro-tile: 8 accumulators, 2 activation registers and temporaries.
const INR: usize = 4;
/// Scale groups of the widest input this kernel takes (its per-panel scale table lives on the
/// stack); wider inputs, 4096+ columns, go to the reference. The encoder's widest is `hidden`.
const MAX_GROUPS: usize = 64;

/// Int8 linear layer; see [`super::linear_i8`].
#[allow(clippy::too_many_arguments)]
pub(super) fn linear_i8(
    x: &QuantizedRows,
    q: &[i8],
    sw: &[f32],
    stride: usize,
    n: usize,
    bias: Option<&[f32]>,
    out: &mut [f32],
    accumulate: bool,
) {
    debug_assert!(available());
    if groups(x.cols()) > MAX_GROUPS {
        return super::reference::linear_i8(x, q, sw, stride, n, bias, out, accumulate);
    }
    // SAFETY: the CPU has AVX2 (checked by `backend()`); `super::linear_i8` checked that `q`
    // holds `n` rows of `x.cols()` bytes at `stride`, which is all `igemm` reads.
    unsafe { igemm(x, q, sw, stride, n, bias, out, accumulate) }
}

#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2")]
unsafe fn igemm(
    x: &QuantizedRows,
    q: &[i8],
    sw: &[f32],
    stride: usize,
    n: usize,
    bias: Option<&[f32]>,
    out: &mut [f32],
    accumulate: bool,
) {
    let (rows, k) = (x.rows(), x.cols());
    let (full, rem) = (k / 4, k % 4);
    let (ng, gq) = (groups(k), GROUP / 4);
    let mut tile = [[0f32; MR]; INR];
    // Scales of one panel, group-major: 16 rows of group g at [g * 16..].
    let mut sx = [0f32; MR * MAX_GROUPS];
    for p in 0..rows.div_ceil(PANEL_ROWS) {
        let r0 = p * PANEL_ROWS;
        let mr = MR.min(rows - r0);
        let panel = x.panel(p);
        if mr < MR {
            sx[..ng * MR].fill(0.0);
        }
        for g in 0..ng {
            for r in 0..mr {
                sx[g * MR + r] = x.scale(r0 + r, g);
            }
        }
        for nb in (0..n).step_by(INR) {
            let nr = INR.min(n - nb);
            let mut wp = [q.as_ptr(); INR];
            let mut tail = [0i32; INR];
            for j in 0..nr {
                let row = &q[(nb + j) * stride..(nb + j) * stride + k];
                wp[j] = row.as_ptr();
                // The last quad of a row may be partial: copy it, zero-padded, so no read
                // passes the end of the row (the activations' padding is zero too).
                let mut b = [0u8; 4];
                for (t, bt) in b.iter_mut().enumerate().take(rem) {
                    *bt = row[full * 4 + t] as u8;
                }
                tail[j] = i32::from_le_bytes(b);
            }
            let mut v = [[_mm256_setzero_ps(); 2]; INR];
            for g in 0..ng {
                let q0 = g * gq;
                let nq = gq.min(full.saturating_sub(q0));
                let mut acc = [[_mm256_setzero_si256(); 2]; INR];
                let wg = core::array::from_fn(|j| wp[j].add(q0 * 4));
                imicro(panel.as_ptr().add(q0 * 64), &wg, nq, &mut acc);
                if rem > 0 && full / gq == g {
                    let at = panel.as_ptr().add(full * 64);
                    let xa = _mm256_loadu_si256(at as *const __m256i);
                    let xb = _mm256_loadu_si256(at.add(32) as *const __m256i);
                    for j in 0..INR {
                        step(&mut acc[j], xa, xb, _mm256_set1_epi32(tail[j]));
                    }
                }
                // The reference's `requant`, lane-wise: v + acc * (sx * sw), no FMA.
                let sxg = sx.as_ptr().add(g * MR);
                for j in 0..nr {
                    let s = _mm256_set1_ps(sw[nb + j]);
                    for h in 0..2 {
                        let scale = _mm256_mul_ps(_mm256_loadu_ps(sxg.add(8 * h)), s);
                        let t = _mm256_mul_ps(_mm256_cvtepi32_ps(acc[j][h]), scale);
                        v[j][h] = _mm256_add_ps(v[j][h], t);
                    }
                }
            }
            if let Some(b) = bias {
                for j in 0..nr {
                    let bj = _mm256_set1_ps(b[nb + j]);
                    v[j] = [_mm256_add_ps(v[j][0], bj), _mm256_add_ps(v[j][1], bj)];
                }
            }
            if nr == INR && mr == MR {
                // Full tile: transpose 4 outputs x 8 rows into rows of 4 outputs and store
                // them with the same add-or-overwrite rule as `store`.
                for h in 0..2 {
                    let t0 = _mm256_unpacklo_ps(v[0][h], v[1][h]);
                    let t1 = _mm256_unpackhi_ps(v[0][h], v[1][h]);
                    let t2 = _mm256_unpacklo_ps(v[2][h], v[3][h]);
                    let t3 = _mm256_unpackhi_ps(v[2][h], v[3][h]);
                    let rows4 = [
                        _mm256_shuffle_ps::<0x44>(t0, t2),
                        _mm256_shuffle_ps::<0xEE>(t0, t2),
                        _mm256_shuffle_ps::<0x44>(t1, t3),
                        _mm256_shuffle_ps::<0xEE>(t1, t3),
                    ];
                    for (i, rv) in rows4.iter().enumerate() {
                        for (lane, r) in [(0, i), (1, i + 4)] {
                            let y4 = if lane == 0 {
                                _mm256_castps256_ps128(*rv)
                            } else {
                                _mm256_extractf128_ps::<1>(*rv)
                            };
                            let at = &mut out[(r0 + 8 * h + r) * n + nb..][..4];
                            let y4 = if accumulate {
                                _mm_add_ps(_mm_loadu_ps(at.as_ptr()), y4)
                            } else {
                                y4
                            };
                            _mm_storeu_ps(at.as_mut_ptr(), y4);
                        }
                    }
                }
                continue;
            }
            for j in 0..nr {
                _mm256_storeu_ps(tile[j].as_mut_ptr(), v[j][0]);
                _mm256_storeu_ps(tile[j].as_mut_ptr().add(8), v[j][1]);
            }
            for r in 0..mr {
                let orow = &mut out[(r0 + r) * n + nb..(r0 + r) * n + nb + nr];
                for (j, y) in orow.iter_mut().enumerate() {
                    store(y, tile[j][r], accumulate);
                }
            }
        }
    }
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn imicro(
    panel: *const i8,
    wp: &[*const i8; INR],
    quads: usize,
    acc: &mut [[__m256i; 2]; INR],
) {
    for kq in 0..quads {
        let xa = _mm256_loadu_si256(panel.add(kq * 64) as *const __m256i);
        let xb = _mm256_loadu_si256(panel.add(kq * 64 + 32) as *const __m256i);
        for j in 0..INR {
            let wv = _mm256_set1_epi32((wp[j].add(kq * 4) as *const i32).read_unaligned());
            step(&mut acc[j], xa, xb, wv);
        }
    }
}

/// One quad of 16 rows against one broadcast weight quad. `pmaddubsw` multiplies unsigned by
/// signed bytes and saturates pair sums to i16, so feed it `|w|` and `x * sign(w)`: both within
/// 127 in magnitude, a pair sum is at most 2 * 127 * 127 = 32258 and never saturates.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn step(acc: &mut [__m256i; 2], xa: __m256i, xb: __m256i, wv: __m256i) {
    let ones = _mm256_set1_epi16(1);
    let aw = _mm256_abs_epi8(wv);
    let pa = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(xa, wv));
    let pb = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(xb, wv));
    acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(pa, ones));
    acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(pb, ones));
}
