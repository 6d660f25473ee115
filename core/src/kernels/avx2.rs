//! x86-64 AVX2 + FMA + F16C kernels.
//!
//! Both GEMMs vectorise over *outputs*. A panel of [`NP`] weight rows is packed transposed
//! (k-major: for each input column, the 16 outputs' weights in two 8-lane registers) into a
//! stack buffer that stays in L1, and every token row of the block then sweeps it. So a
//! micro-tile's accumulators are contiguous pieces of output rows, written with plain vector
//! stores and a vector bias; activations are broadcast straight from where they already lie
//! (row-major f32 rows, or the int8 panel layout `quant` writes); and each weight is read from
//! memory once per block of rows instead of once per 16 rows.
#![allow(unsafe_code)]
// Register tiles are indexed by row and half; index loops read clearer than zipped iterators.
#![allow(clippy::needless_range_loop)]

use super::quant::{groups, QuantizedRows, GROUP, PANEL_ROWS};
use super::{FloatData, FloatWeights};
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

/// Outputs per packed weight panel: two 8-lane registers.
const NP: usize = 16;
/// Token rows per float micro-tile: 12 accumulators + 2 weight registers + 1 broadcast.
const FR: usize = 6;
/// Largest inner-dimension block of the float GEMM: the packed panel is `KC x NP` f32 = 16 KiB,
/// half of L1.
const KC: usize = 384;
/// Token rows per block sharing one packed panel: the block's activations (`MC x KC` f32 =
/// 240 KiB, or `MC x k` bytes for int8) stay in L2 while every panel sweeps them; a multiple of
/// both micro-tile heights.
const MC: usize = 240;

/// A cache-line aligned buffer, so the aligned panel loads never split a line.
#[repr(C, align(64))]
struct Aligned<T>(T);

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
    // `super::linear` checked every slice against the shapes (`x` is `rows * cols`, `out` is
    // `rows * w.rows`, every weight row is in bounds), which is all `sgemm` reads or writes.
    unsafe { sgemm(x, rows, w, bias, out, accumulate) }
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
    // Equal K blocks (384 -> 2 x 192 rather than 256 + 128), a multiple of 8 for the packing.
    let kc_max = k.div_ceil(k.div_ceil(KC)).next_multiple_of(8).min(KC);
    // Uninitialised: `pack_float` writes every element a tile reads, and zeroing 24 KiB per
    // call showed in the profile of short inputs.
    let mut pack = core::mem::MaybeUninit::<Aligned<[f32; KC * NP]>>::uninit();
    let pack = pack.as_mut_ptr() as *mut f32;
    let mut bias_p = [0f32; NP];
    let (base, elem) = match w.data {
        FloatData::F32(d) => (d.as_ptr() as *const u8, 4),
        FloatData::F16(d) => (d.as_ptr() as *const u8, 2),
    };
    for k0 in (0..k).step_by(kc_max) {
        let kc = kc_max.min(k - k0);
        let first = k0 == 0;
        for m0 in (0..rows).step_by(MC) {
            let m1 = rows.min(m0 + MC);
            for n0 in (0..n).step_by(NP) {
                let nr = NP.min(n - n0);
                pack_float(w, n0, nr, k0, kc, pack);
                // The weights of the next panel, requested while this one computes.
                let next = if n0 + NP < n {
                    Some((n0 + NP, k0))
                } else if m1 == rows && k0 + kc < k {
                    Some((0, k0 + kc))
                } else {
                    None
                };
                let prefetch = next.map(|(pn, pk)| Prefetch {
                    at: base.wrapping_add((pn * w.stride + pk) * elem),
                    stride: w.stride * elem,
                });
                // The bias joins in the first K block only; later blocks add to `out`.
                bias_p.fill(0.0);
                if let (true, Some(b)) = (first, bias) {
                    bias_p[..nr].copy_from_slice(&b[n0..n0 + nr]);
                }
                let tile = Tile {
                    pack,
                    kc,
                    bias: &bias_p,
                    nr,
                    add_out: accumulate || !first,
                    prefetch,
                };
                for r0 in (m0..m1).step_by(FR) {
                    let xr = x.as_ptr().add(r0 * k + k0);
                    let o = out.as_mut_ptr().add(r0 * n + n0);
                    let pf = if r0 == m0 { tile.prefetch } else { None };
                    match m1 - r0 {
                        1 => tile.run::<1>(xr, k, o, n, pf),
                        2 => tile.run::<2>(xr, k, o, n, pf),
                        3 => tile.run::<3>(xr, k, o, n, pf),
                        4 => tile.run::<4>(xr, k, o, n, pf),
                        5 => tile.run::<5>(xr, k, o, n, pf),
                        _ => tile.run::<FR>(xr, k, o, n, pf),
                    }
                }
            }
        }
    }
}

/// Packs weight rows `n0..n0 + nr`, columns `k0..k0 + kc`, as `dst[kk * NP + j]`, widening
/// f16, zero for `j >= nr`: all of `dst[..kc * NP]` is written.
///
/// # Safety
/// AVX2 + F16C; `dst` is valid for `KC * NP` writes and 32-byte aligned; `kc <= KC`.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn pack_float(w: &FloatWeights, n0: usize, nr: usize, k0: usize, kc: usize, dst: *mut f32) {
    let full = kc / 8 * 8;
    for jb in [0, 8] {
        if jb + 8 <= nr {
            // 8 x 8 blocks: 8 row loads, a register transpose, 8 column stores.
            for kk in (0..full).step_by(8) {
                let v: [__m256; 8] = core::array::from_fn(|i| {
                    let at = (n0 + jb + i) * w.stride + k0 + kk;
                    match w.data {
                        FloatData::F32(d) => _mm256_loadu_ps(d[at..at + 8].as_ptr()),
                        FloatData::F16(d) => _mm256_cvtph_ps(_mm_loadu_si128(
                            d[at..at + 8].as_ptr() as *const __m128i,
                        )),
                    }
                });
                let t = transpose8(v);
                for i in 0..8 {
                    _mm256_store_ps(dst.add((kk + i) * NP + jb), t[i]);
                }
            }
            for j in jb..jb + 8 {
                pack_scalar(w, n0 + j, k0, full..kc, |kk, v| *dst.add(kk * NP + j) = v);
            }
        } else {
            for j in jb..jb + 8 {
                if j < nr {
                    pack_scalar(w, n0 + j, k0, 0..kc, |kk, v| *dst.add(kk * NP + j) = v);
                } else {
                    for kk in 0..kc {
                        *dst.add(kk * NP + j) = 0.0;
                    }
                }
            }
        }
    }
}

/// Calls `put(kk, w[row][k0 + kk])` for `kk` in `span`.
#[inline]
fn pack_scalar(
    w: &FloatWeights,
    row: usize,
    k0: usize,
    span: core::ops::Range<usize>,
    mut put: impl FnMut(usize, f32),
) {
    let at = row * w.stride + k0;
    match w.data {
        FloatData::F32(d) => span.for_each(|kk| put(kk, d[at + kk])),
        FloatData::F16(d) => span.for_each(|kk| put(kk, d[at + kk].to_f32())),
    }
}

/// `t[i][j] = v[j][i]`.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn transpose8(v: [__m256; 8]) -> [__m256; 8] {
    let a0 = _mm256_unpacklo_ps(v[0], v[1]);
    let a1 = _mm256_unpackhi_ps(v[0], v[1]);
    let a2 = _mm256_unpacklo_ps(v[2], v[3]);
    let a3 = _mm256_unpackhi_ps(v[2], v[3]);
    let a4 = _mm256_unpacklo_ps(v[4], v[5]);
    let a5 = _mm256_unpackhi_ps(v[4], v[5]);
    let a6 = _mm256_unpacklo_ps(v[6], v[7]);
    let a7 = _mm256_unpackhi_ps(v[6], v[7]);
    let b0 = _mm256_shuffle_ps::<0x44>(a0, a2);
    let b1 = _mm256_shuffle_ps::<0xEE>(a0, a2);
    let b2 = _mm256_shuffle_ps::<0x44>(a1, a3);
    let b3 = _mm256_shuffle_ps::<0xEE>(a1, a3);
    let b4 = _mm256_shuffle_ps::<0x44>(a4, a6);
    let b5 = _mm256_shuffle_ps::<0xEE>(a4, a6);
    let b6 = _mm256_shuffle_ps::<0x44>(a5, a7);
    let b7 = _mm256_shuffle_ps::<0xEE>(a5, a7);
    [
        _mm256_permute2f128_ps::<0x20>(b0, b4),
        _mm256_permute2f128_ps::<0x20>(b1, b5),
        _mm256_permute2f128_ps::<0x20>(b2, b6),
        _mm256_permute2f128_ps::<0x20>(b3, b7),
        _mm256_permute2f128_ps::<0x31>(b0, b4),
        _mm256_permute2f128_ps::<0x31>(b1, b5),
        _mm256_permute2f128_ps::<0x31>(b2, b6),
        _mm256_permute2f128_ps::<0x31>(b3, b7),
    ]
}

/// Weight rows to pull into the cache while a panel computes: [`NP`] rows of `stride` bytes
/// from `at`, one line per step of the first micro-tile over the panel.
#[derive(Clone, Copy)]
struct Prefetch {
    at: *const u8,
    stride: usize,
}

/// One packed float panel and how its results are written.
struct Tile<'a> {
    pack: *const f32,
    kc: usize,
    /// Added to the sums (zero past the first K block).
    bias: &'a [f32; NP],
    /// Outputs of the panel that exist.
    nr: usize,
    /// Add to `out` rather than overwrite it.
    add_out: bool,
    prefetch: Option<Prefetch>,
}

impl Tile<'_> {
    /// `R` token rows (`x` at stride `ldx`) against the panel, into `out` at stride `ldo`.
    ///
    /// # Safety
    /// AVX2 + FMA; `x` holds `R` rows of `kc` readable floats, `out` `R` rows of `nr`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run<const R: usize>(
        &self,
        x: *const f32,
        ldx: usize,
        out: *mut f32,
        ldo: usize,
        pf: Option<Prefetch>,
    ) {
        let mut acc = [[_mm256_setzero_ps(); 2]; R];
        let mut p = self.pack;
        let mut xk = x;
        for kk in 0..self.kc {
            if let Some(pf) = pf {
                // Step `kk` fetches line `kk / NP` of row `kk % NP`: the panel's first `kc`
                // lines per row cover its `kc` f32 (or f16) columns.
                let line = pf.at.wrapping_add((kk % NP) * pf.stride + kk / NP * 64);
                _mm_prefetch::<_MM_HINT_T0>(line as *const i8);
            }
            let b0 = _mm256_load_ps(p);
            let b1 = _mm256_load_ps(p.add(8));
            for r in 0..R {
                let a = _mm256_broadcast_ss(&*xk.add(r * ldx));
                acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
            }
            p = p.add(NP);
            xk = xk.add(1);
        }
        let bias = [
            _mm256_loadu_ps(self.bias.as_ptr()),
            _mm256_loadu_ps(self.bias.as_ptr().add(8)),
        ];
        for r in 0..R {
            let o = out.add(r * ldo);
            let v = [
                _mm256_add_ps(acc[r][0], bias[0]),
                _mm256_add_ps(acc[r][1], bias[1]),
            ];
            if self.nr == NP {
                for h in 0..2 {
                    let y = if self.add_out {
                        _mm256_add_ps(_mm256_loadu_ps(o.add(8 * h)), v[h])
                    } else {
                        v[h]
                    };
                    _mm256_storeu_ps(o.add(8 * h), y);
                }
            } else {
                let mut t = [0f32; NP];
                _mm256_storeu_ps(t.as_mut_ptr(), v[0]);
                _mm256_storeu_ps(t.as_mut_ptr().add(8), v[1]);
                for j in 0..self.nr {
                    let y = &mut *o.add(j);
                    *y = if self.add_out { *y + t[j] } else { t[j] };
                }
            }
        }
    }
}

/// Token rows per int8 micro-tile: 10 accumulators + 2 `|w|` + 2 `w` + the broadcast, a
/// temporary and the ones of `quad_dot` (six rows spill).
const IR: usize = 5;
/// Widest input the int8 kernel packs (its panel lives on the stack): 64 KiB of weights.
/// Wider inputs go to the reference; the encoder's widest is `hidden`.
const MAX_QUADS: usize = 1024;
/// Quads of the smaller panel buffer (8 KiB).
const SMALL_QUADS: usize = 128;

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
    if x.quads() > MAX_QUADS {
        return super::reference::linear_i8(x, q, sw, stride, n, bias, out, accumulate);
    }
    // SAFETY: the CPU has AVX2 (checked by `backend()`); `super::linear_i8` checked that `q`
    // holds `n` rows of `x.cols()` bytes at `stride`, `sw` and `bias` `n` values and `out`
    // `x.rows() * n`, which is all `igemm` reads or writes.
    unsafe {
        // A small panel buffer for inputs up to 512 columns: it is zeroed on every call.
        if x.quads() <= SMALL_QUADS {
            igemm::<{ SMALL_QUADS * NP }>(x, q, sw, stride, n, bias, out, accumulate)
        } else {
            igemm::<{ MAX_QUADS * NP }>(x, q, sw, stride, n, bias, out, accumulate)
        }
    }
}

#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2")]
unsafe fn igemm<const PACK: usize>(
    x: &QuantizedRows,
    q: &[i8],
    sw: &[f32],
    stride: usize,
    n: usize,
    bias: Option<&[f32]>,
    out: &mut [f32],
    accumulate: bool,
) {
    let rows = x.rows();
    let quads = x.quads();
    let mut pack = Aligned([0i32; PACK]);
    let mut sw_p = [0f32; NP];
    let mut bias_p = [0f32; NP];
    for m0 in (0..rows).step_by(MC) {
        let m1 = rows.min(m0 + MC);
        for n0 in (0..n).step_by(NP) {
            let nr = NP.min(n - n0);
            pack_i8(q, stride, x.cols(), n0, nr, &mut pack.0[..quads * NP]);
            sw_p.fill(0.0);
            sw_p[..nr].copy_from_slice(&sw[n0..n0 + nr]);
            if let Some(b) = bias {
                bias_p[..nr].copy_from_slice(&b[n0..n0 + nr]);
            }
            let tile = ITile {
                x,
                pack: pack.0.as_ptr(),
                sw: &sw_p,
                bias: bias.map(|_| &bias_p),
                nr,
                accumulate,
            };
            // The next panel's weight rows, requested while this one computes (as the float
            // GEMM does).
            let next = (n0 + NP < n).then(|| Prefetch {
                at: q.as_ptr().wrapping_add((n0 + NP) * stride) as *const u8,
                stride,
            });
            for r0 in (m0..m1).step_by(IR) {
                let o = out.as_mut_ptr().add(r0 * n + n0);
                let pf = if r0 == m0 { next } else { None };
                match m1 - r0 {
                    1 => tile.run::<1>(r0, o, n, pf),
                    2 => tile.run::<2>(r0, o, n, pf),
                    3 => tile.run::<3>(r0, o, n, pf),
                    4 => tile.run::<4>(r0, o, n, pf),
                    _ => tile.run::<IR>(r0, o, n, pf),
                }
            }
        }
    }
}

/// Packs weight rows `n0..n0 + nr` as one 32-bit word (a quad of four columns) per output:
/// `dst[kq * NP + j]` = columns `4kq..4kq + 4` of row `n0 + j`, zero past `k` and for
/// `j >= nr` (the activations' padding is zero too, so a padded quad adds nothing).
#[target_feature(enable = "avx2")]
unsafe fn pack_i8(q: &[i8], stride: usize, k: usize, n0: usize, nr: usize, dst: &mut [i32]) {
    let quads = dst.len() / NP;
    let full = k / 4;
    let full8 = full / 8 * 8;
    for jb in [0, 8] {
        if jb + 8 <= nr {
            // 8 outputs x 8 quads: the float transpose moves 32-bit words of any type.
            for kq in (0..full8).step_by(8) {
                let v: [__m256; 8] = core::array::from_fn(|i| {
                    let at = (n0 + jb + i) * stride + kq * 4;
                    _mm256_castsi256_ps(_mm256_loadu_si256(
                        q[at..at + 32].as_ptr() as *const __m256i
                    ))
                });
                let t = transpose8(v);
                for i in 0..8 {
                    let d = dst[(kq + i) * NP + jb..][..8].as_mut_ptr();
                    _mm256_store_si256(d as *mut __m256i, _mm256_castps_si256(t[i]));
                }
            }
        }
        for j in jb..jb + 8 {
            let from = if jb + 8 <= nr { full8 } else { 0 };
            for kq in from..quads {
                let mut word = [0u8; 4];
                if j < nr {
                    let row = &q[(n0 + j) * stride..(n0 + j) * stride + k];
                    for (t, b) in word.iter_mut().enumerate() {
                        *b = row.get(kq * 4 + t).map_or(0, |&v| v as u8);
                    }
                }
                dst[kq * NP + j] = i32::from_le_bytes(word);
            }
        }
    }
}

/// One packed int8 panel, its scales and bias, and how its results are written.
struct ITile<'a> {
    x: &'a QuantizedRows<'a>,
    pack: *const i32,
    /// Weight scales of the panel's outputs (zero past `nr`).
    sw: &'a [f32; NP],
    bias: Option<&'a [f32; NP]>,
    nr: usize,
    accumulate: bool,
}

impl ITile<'_> {
    /// Token rows `s0..s0 + R` against the panel, into `out` at stride `ldo`: per scale group,
    /// exact int32 sums, then the reference's requantisation `v + acc * sx` lane-wise (no FMA,
    /// same order), then `v * sw + bias`, then the store rule.
    ///
    /// # Safety
    /// AVX2; rows `s0..s0 + R` exist; the panel holds `x.quads()` quads; `out` has `R` rows
    /// of `nr` writable floats.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn run<const R: usize>(
        &self,
        s0: usize,
        out: *mut f32,
        ldo: usize,
        pf: Option<Prefetch>,
    ) {
        let x = self.x;
        let (quads, ng, gq) = (x.quads(), groups(x.cols()), GROUP / 4);
        let rp: [*const i8; R] = core::array::from_fn(|r| {
            let s = s0 + r;
            x.panel(s / PANEL_ROWS).as_ptr().add(s % PANEL_ROWS * 4)
        });
        let scales = x.scales().as_ptr().add(s0 * ng);
        let sw = [
            _mm256_loadu_ps(self.sw.as_ptr()),
            _mm256_loadu_ps(self.sw.as_ptr().add(8)),
        ];
        let ones = _mm256_set1_epi16(1);
        let mut v = [[_mm256_setzero_ps(); 2]; R];
        for g in 0..ng {
            let q0 = g * gq;
            let q1 = quads.min(q0 + gq);
            let mut acc = [[_mm256_setzero_si256(); 2]; R];
            for kq in q0..q1 {
                if let Some(pf) = pf {
                    // Quad `kq` fetches line `kq / NP` of row `kq % NP`: a row of `4 * quads`
                    // bytes has `quads / NP` lines.
                    let line = pf.at.wrapping_add((kq % NP) * pf.stride + kq / NP * 64);
                    _mm_prefetch::<_MM_HINT_T0>(line as *const i8);
                }
                let w = self.pack.add(kq * NP) as *const __m256i;
                let w = [_mm256_load_si256(w), _mm256_load_si256(w.add(1))];
                let aw = [_mm256_abs_epi8(w[0]), _mm256_abs_epi8(w[1])];
                for r in 0..R {
                    let xw = (rp[r].add(kq * PANEL_ROWS * 4) as *const i32).read_unaligned();
                    let xb = _mm256_set1_epi32(xw);
                    for h in 0..2 {
                        acc[r][h] = _mm256_add_epi32(acc[r][h], quad_dot(aw[h], w[h], xb, ones));
                    }
                }
            }
            for r in 0..R {
                let sx = _mm256_set1_ps(*scales.add(r * ng + g));
                for h in 0..2 {
                    let t = _mm256_mul_ps(_mm256_cvtepi32_ps(acc[r][h]), sx);
                    v[r][h] = _mm256_add_ps(v[r][h], t);
                }
            }
        }
        let bias = self.bias.map(|b| {
            [
                _mm256_loadu_ps(b.as_ptr()),
                _mm256_loadu_ps(b.as_ptr().add(8)),
            ]
        });
        for r in 0..R {
            let mut y = [_mm256_mul_ps(v[r][0], sw[0]), _mm256_mul_ps(v[r][1], sw[1])];
            if let Some(b) = bias {
                y = [_mm256_add_ps(y[0], b[0]), _mm256_add_ps(y[1], b[1])];
            }
            let o = out.add(r * ldo);
            if self.nr == NP {
                for h in 0..2 {
                    let yh = if self.accumulate {
                        _mm256_add_ps(_mm256_loadu_ps(o.add(8 * h)), y[h])
                    } else {
                        y[h]
                    };
                    _mm256_storeu_ps(o.add(8 * h), yh);
                }
            } else {
                let mut t = [0f32; NP];
                _mm256_storeu_ps(t.as_mut_ptr(), y[0]);
                _mm256_storeu_ps(t.as_mut_ptr().add(8), y[1]);
                for j in 0..self.nr {
                    let d = &mut *o.add(j);
                    *d = if self.accumulate { *d + t[j] } else { t[j] };
                }
            }
        }
    }
}

/// Per 32-bit lane: the 4-byte dot product of the broadcast activation quad `xb` and the lane's
/// weight quad `w` (`aw = |w|`). `pmaddubsw` multiplies unsigned by signed bytes and saturates
/// pair sums to i16, so it gets `|w|` and `x * sign(w)`: both within 127 in magnitude, a pair
/// sum is at most 2 * 127 * 127 = 32258 and never saturates.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn quad_dot(aw: __m256i, w: __m256i, xb: __m256i, ones: __m256i) -> __m256i {
    _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(xb, w)), ones)
}

/// [`super::quant::quantize_rows`]'s loop over rows and groups, eight lanes at a time; the
/// caller zeroed `data`. Bit-exact with the scalar loop: `max` is exact in any order, `maxps`
/// and `minps` return their second operand for a NaN, which gives the scalar's NaN rules
/// (`|NaN|` leaves the running max alone, a NaN product clamps to -127), and the rounding is
/// the same magic-number addition.
pub(super) fn quantize(x: &[f32], cols: usize, data: &mut [i8], scales: &mut [f32]) {
    debug_assert!(available());
    // SAFETY: the caller selected this after `available()`; every access below is through
    // bounds-checked slices.
    unsafe { quantize_avx2(x, cols, data, scales) }
}

#[target_feature(enable = "avx2")]
unsafe fn quantize_avx2(x: &[f32], cols: usize, data: &mut [i8], scales: &mut [f32]) {
    let (ng, quads) = (groups(cols), cols.div_ceil(4));
    let abs = _mm256_castsi256_ps(_mm256_set1_epi32(i32::MAX));
    let (lo, hi) = (_mm256_set1_ps(-127.0), _mm256_set1_ps(127.0));
    let magic = _mm256_set1_ps(super::quant::ROUND_MAGIC);
    // The low byte of each 32-bit lane, gathered into the lane's first word.
    let bytes = _mm256_setr_epi8(
        0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8, 12, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1,
    );
    for (s, row) in x.chunks_exact(cols).enumerate() {
        let base = (s / PANEL_ROWS * quads * PANEL_ROWS + s % PANEL_ROWS) * 4;
        for (g, chunk) in row.chunks(GROUP).enumerate() {
            let full = chunk.len() / 8 * 8;
            let mut m = _mm256_setzero_ps();
            for part in chunk[..full].chunks_exact(8) {
                let v = _mm256_and_ps(_mm256_loadu_ps(part.as_ptr()), abs);
                m = _mm256_max_ps(v, m);
            }
            let mut lanes = [0f32; 8];
            _mm256_storeu_ps(lanes.as_mut_ptr(), m);
            let amax = chunk[full..]
                .iter()
                .chain(&lanes)
                .fold(0f32, |m, v| m.max(v.abs()));
            let inv = if amax > 0.0 { 127.0 / amax } else { 0.0 };
            scales[s * ng + g] = amax / 127.0;
            let invv = _mm256_set1_ps(inv);
            let k0 = g * GROUP;
            for (i, part) in chunk[..full].chunks_exact(8).enumerate() {
                let c = _mm256_min_ps(
                    _mm256_max_ps(_mm256_mul_ps(_mm256_loadu_ps(part.as_ptr()), invv), lo),
                    hi,
                );
                let q = _mm256_sub_epi32(
                    _mm256_castps_si256(_mm256_add_ps(c, magic)),
                    _mm256_castps_si256(magic),
                );
                let w = _mm256_shuffle_epi8(q, bytes);
                let at = base + (k0 / 4 + 2 * i) * PANEL_ROWS * 4;
                let words = [_mm256_extract_epi32::<0>(w), _mm256_extract_epi32::<4>(w)];
                data[at..at + 4].copy_from_slice(&words[0].to_le_bytes().map(|b| b as i8));
                let at = at + PANEL_ROWS * 4;
                data[at..at + 4].copy_from_slice(&words[1].to_le_bytes().map(|b| b as i8));
            }
            for (i, v) in chunk.iter().enumerate().skip(full) {
                let k = k0 + i;
                data[base + (k / 4 * PANEL_ROWS) * 4 + k % 4] = super::quant::quantize_one(v * inv);
            }
        }
    }
}
