//! x86-64 AVX-512 kernels: the AVX2 backend's layout (a panel of weight rows packed k-major
//! into a stack buffer, token rows broadcast against it) on 16-lane registers, with int8 dot
//! products through VNNI `vpdpbusd`.
//!
//! `vpdpbusd` multiplies *unsigned* by signed bytes. The packed weights are the unsigned side,
//! stored offset as `w + 128` (an XOR with 0x80), so the activation quad can be broadcast
//! straight from the quantised panel as the signed side. That adds `128 * sum_k x[s][k]` to
//! every sum of a scale group; each row's group sums are computed once per call (one
//! `vpdpbusd` against ones per quad of 16 rows), and a group's accumulators start at
//! `-128 * sum`, so they hold the exact int32 dot product when the group ends.
#![allow(unsafe_code)]
// Register tiles are indexed by row and half; index loops read clearer than zipped iterators.
#![allow(clippy::needless_range_loop)]
// AVX-512 intrinsics are stable since Rust 1.89: `simd-avx512` needs that, the crate does not.
#![allow(clippy::incompatible_msrv)]

use super::avx512_vmath::{lanes, max16, min16};
use super::quant::{groups, QuantizedRows, GROUP, PANEL_ROWS};
use super::{FloatData, FloatWeights};
use core::arch::x86_64::*;

/// AVX-512F/BW, VNNI and F16C are present.
pub(super) fn available() -> bool {
    #[cfg(feature = "std")]
    {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vnni")
            && std::is_x86_feature_detected!("f16c")
    }
    #[cfg(not(feature = "std"))]
    {
        cfg!(all(
            target_feature = "avx512f",
            target_feature = "avx512bw",
            target_feature = "avx512vnni",
            target_feature = "f16c"
        ))
    }
}

/// Outputs per packed weight panel: two 16-lane registers.
const NP: usize = 32;
/// Token rows per float micro-tile: 24 accumulators + 2 weight registers + the broadcast.
const FR: usize = 12;
/// Largest inner-dimension block of the float GEMM: the packed panel is `KC x NP` f32 = 32 KiB,
/// two thirds of L1.
const KC: usize = 256;
/// Token rows per block sharing one packed panel (a multiple of both micro-tile heights): the
/// block's activations stay in L2 while every panel sweeps them.
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

#[target_feature(enable = "avx512f,f16c")]
unsafe fn sgemm(
    x: &[f32],
    rows: usize,
    w: &FloatWeights,
    bias: Option<&[f32]>,
    out: &mut [f32],
    accumulate: bool,
) {
    let (k, n) = (w.cols, w.rows);
    // Equal K blocks (384 -> 2 x 192 rather than 256 + 128), a multiple of 16 for the packing.
    let kc_max = k.div_ceil(k.div_ceil(KC)).next_multiple_of(16).min(KC);
    // Uninitialised: `pack_float` writes every element a tile reads.
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
                    lines: (kc_max.min(k - pk) * elem).div_ceil(64),
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
                };
                for r0 in (m0..m1).step_by(FR) {
                    let xr = x.as_ptr().add(r0 * k + k0);
                    let o = out.as_mut_ptr().add(r0 * n + n0);
                    let pf = if r0 == m0 { prefetch } else { None };
                    match m1 - r0 {
                        1 => tile.run::<1>(xr, k, o, n, pf),
                        2 => tile.run::<2>(xr, k, o, n, pf),
                        3 => tile.run::<3>(xr, k, o, n, pf),
                        4 => tile.run::<4>(xr, k, o, n, pf),
                        5 => tile.run::<5>(xr, k, o, n, pf),
                        6 => tile.run::<6>(xr, k, o, n, pf),
                        7 => tile.run::<7>(xr, k, o, n, pf),
                        8 => tile.run::<8>(xr, k, o, n, pf),
                        9 => tile.run::<9>(xr, k, o, n, pf),
                        10 => tile.run::<10>(xr, k, o, n, pf),
                        11 => tile.run::<11>(xr, k, o, n, pf),
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
/// AVX-512F + F16C; `dst` is valid for `KC * NP` writes and 64-byte aligned; `kc <= KC`.
#[target_feature(enable = "avx512f,f16c")]
unsafe fn pack_float(w: &FloatWeights, n0: usize, nr: usize, k0: usize, kc: usize, dst: *mut f32) {
    let full = kc / 16 * 16;
    for jb in [0, 16] {
        if jb + 16 <= nr {
            // 16 x 16 blocks: 16 row loads, a register transpose, 16 column stores.
            for kk in (0..full).step_by(16) {
                let v: [__m512; 16] = core::array::from_fn(|i| {
                    let at = (n0 + jb + i) * w.stride + k0 + kk;
                    match w.data {
                        FloatData::F32(d) => _mm512_loadu_ps(d[at..at + 16].as_ptr()),
                        FloatData::F16(d) => _mm512_cvtph_ps(_mm256_loadu_si256(
                            d[at..at + 16].as_ptr() as *const __m256i,
                        )),
                    }
                });
                let t = transpose16(v);
                for i in 0..16 {
                    _mm512_store_ps(dst.add((kk + i) * NP + jb), t[i]);
                }
            }
            for j in jb..jb + 16 {
                pack_scalar(w, n0 + j, k0, full..kc, |kk, v| *dst.add(kk * NP + j) = v);
            }
        } else {
            for j in jb..jb + 16 {
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

/// `t[i][j] = v[j][i]` for a 16 x 16 block, in four rounds of shuffles.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn transpose16(v: [__m512; 16]) -> [__m512; 16] {
    // Pairs of rows interleaved: t[2p] / t[2p + 1] hold, per 128-bit quarter, columns 0-1 /
    // 2-3 of the quarter for rows 2p and 2p + 1.
    let t: [__m512; 16] = core::array::from_fn(|i| {
        let (a, b) = (v[i & !1], v[i | 1]);
        if i % 2 == 0 {
            _mm512_unpacklo_ps(a, b)
        } else {
            _mm512_unpackhi_ps(a, b)
        }
    });
    // u[4m + c]: per quarter `l`, column `4l + c` of rows 4m..4m + 4.
    let u: [__m512; 16] = core::array::from_fn(|i| {
        let (m, c) = (i / 4, i % 4);
        let (a, b) = (t[4 * m + c / 2], t[4 * m + 2 + c / 2]);
        if c % 2 == 0 {
            _mm512_shuffle_ps::<0x44>(a, b)
        } else {
            _mm512_shuffle_ps::<0xEE>(a, b)
        }
    });
    // w[8h + 4i + c] (h: rows 0-7 or 8-15): quarters 0, 2 (i = 0) or 1, 3 (i = 1) of
    // u[8h + c] and u[8h + 4 + c].
    let w: [__m512; 16] = core::array::from_fn(|j| {
        let (h, i, c) = (j / 8, j / 4 % 2, j % 4);
        let (a, b) = (u[8 * h + c], u[8 * h + 4 + c]);
        if i == 0 {
            _mm512_shuffle_f32x4::<0x88>(a, b)
        } else {
            _mm512_shuffle_f32x4::<0xDD>(a, b)
        }
    });
    // Column `8e + 4i + c` of all 16 rows: the even (e = 0) or odd (e = 1) quarters of
    // w[4i + c] and w[8 + 4i + c].
    core::array::from_fn(|col| {
        let (e, j) = (col / 8, col % 8);
        let (a, b) = (w[j], w[8 + j]);
        if e == 0 {
            _mm512_shuffle_f32x4::<0x88>(a, b)
        } else {
            _mm512_shuffle_f32x4::<0xDD>(a, b)
        }
    })
}

/// Weight rows to pull into the cache while a panel computes: [`NP`] rows of `stride` bytes
/// from `at`, `lines` cache lines of each, two lines per step of the first micro-tile over the
/// panel (a panel's row has twice as many lines as the micro-tile has steps, for f32 and int8).
#[derive(Clone, Copy)]
struct Prefetch {
    at: *const u8,
    stride: usize,
    lines: usize,
}

impl Prefetch {
    /// Step `i` fetches lines `2i` and `2i + 1`, line `j` being line `j / NP` of row `j % NP`.
    #[inline(always)]
    unsafe fn step(self, i: usize) {
        for j in [2 * i, 2 * i + 1] {
            if j < self.lines * NP {
                let line = self.at.wrapping_add((j % NP) * self.stride + j / NP * 64);
                _mm_prefetch::<_MM_HINT_T0>(line as *const i8);
            }
        }
    }
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
}

impl Tile<'_> {
    /// `R` token rows (`x` at stride `ldx`) against the panel, into `out` at stride `ldo`.
    ///
    /// # Safety
    /// AVX-512F; `x` holds `R` rows of `kc` readable floats, `out` `R` rows of `nr`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn run<const R: usize>(
        &self,
        x: *const f32,
        ldx: usize,
        out: *mut f32,
        ldo: usize,
        pf: Option<Prefetch>,
    ) {
        let mut acc = [[_mm512_setzero_ps(); 2]; R];
        let mut p = self.pack;
        let mut xk = x;
        for kk in 0..self.kc {
            if let Some(pf) = pf {
                pf.step(kk);
            }
            let b0 = _mm512_load_ps(p);
            let b1 = _mm512_load_ps(p.add(16));
            for r in 0..R {
                let a = _mm512_set1_ps(*xk.add(r * ldx));
                acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
                acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
            }
            p = p.add(NP);
            xk = xk.add(1);
        }
        let bias = [
            _mm512_loadu_ps(self.bias.as_ptr()),
            _mm512_loadu_ps(self.bias.as_ptr().add(16)),
        ];
        let mask = [lanes(self.nr), lanes(self.nr.saturating_sub(16))];
        for r in 0..R {
            let o = out.add(r * ldo);
            for h in 0..2 {
                let v = _mm512_add_ps(acc[r][h], bias[h]);
                // Wrapping: with an empty mask the second half may start past the row's end.
                let o = o.wrapping_add(16 * h);
                let y = if self.add_out {
                    _mm512_add_ps(_mm512_maskz_loadu_ps(mask[h], o), v)
                } else {
                    v
                };
                _mm512_mask_storeu_ps(o, mask[h], y);
            }
        }
    }
}

/// Token rows per int8 micro-tile: 12 int32 accumulators, 12 float sums, 2 weight registers,
/// 2 weight scales and the broadcast.
const IR: usize = 6;
/// Widest input the int8 kernel packs (its panel lives on the stack): 64 KiB of weights.
/// Wider inputs go to the reference; the encoder's widest is `hidden`.
const MAX_QUADS: usize = 512;
/// Int32 group sums kept per call: rows are taken in chunks of `SUMS / groups` (so an
/// 8,192-row call with 384 columns is one chunk).
const SUMS: usize = 8192;

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
    // SAFETY: the CPU has AVX-512F/BW and VNNI (checked by `backend()`); `super::linear_i8`
    // checked that `q` holds `n` rows of `x.cols()` bytes at `stride`, `sw` and `bias` `n`
    // values and `out` `x.rows() * n`, which is all `igemm` reads or writes.
    unsafe { igemm(x, q, sw, stride, n, bias, out, accumulate) }
}

#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
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
    let (rows, quads, ng) = (x.rows(), x.quads(), groups(x.cols()));
    // Uninitialised: `pack_i8` writes the `quads * NP` words a tile reads.
    let mut pack = core::mem::MaybeUninit::<Aligned<[i32; MAX_QUADS * NP]>>::uninit();
    let pack = pack.as_mut_ptr() as *mut i32;
    let mut sums = Aligned([0i32; SUMS]);
    let mut sw_p = [0f32; NP];
    let mut bias_p = [0f32; NP];
    // Whole panels of rows per chunk, so a chunk's sums are whole vectors.
    let chunk = (SUMS / ng / PANEL_ROWS * PANEL_ROWS).max(PANEL_ROWS);
    for c0 in (0..rows).step_by(chunk) {
        let c1 = rows.min(c0 + chunk);
        excess(x, c0, c1, &mut sums.0);
        for n0 in (0..n).step_by(NP) {
            let nr = NP.min(n - n0);
            pack_i8(q, stride, x.cols(), n0, nr, quads, pack);
            sw_p.fill(0.0);
            sw_p[..nr].copy_from_slice(&sw[n0..n0 + nr]);
            if let Some(b) = bias {
                bias_p[..nr].copy_from_slice(&b[n0..n0 + nr]);
            }
            let tile = ITile {
                x,
                pack,
                sums: &sums.0,
                c0,
                sw: &sw_p,
                bias: bias.map(|_| &bias_p),
                nr,
                accumulate,
            };
            // The next panel's weight rows, requested while this one computes.
            let next = (n0 + NP < n).then(|| Prefetch {
                at: q.as_ptr().wrapping_add((n0 + NP) * stride) as *const u8,
                stride,
                lines: x.cols().div_ceil(64),
            });
            for r0 in (c0..c1).step_by(IR) {
                let o = out.as_mut_ptr().add(r0 * n + n0);
                let pf = if r0 == c0 { next } else { None };
                match c1 - r0 {
                    1 => tile.run::<1>(r0, o, n, pf),
                    2 => tile.run::<2>(r0, o, n, pf),
                    3 => tile.run::<3>(r0, o, n, pf),
                    4 => tile.run::<4>(r0, o, n, pf),
                    5 => tile.run::<5>(r0, o, n, pf),
                    _ => tile.run::<IR>(r0, o, n, pf),
                }
            }
        }
    }
}

/// `-128 * sum_k x[s][k]` over each scale group of rows `c0..c1` into `sums`, panel by panel:
/// `sums[(p * groups + g) * 16 + s % 16]` for the chunk's `p`-th panel, so a tile row reads its
/// group's value at a fixed offset.
///
/// # Safety
/// AVX-512F/BW + VNNI; `c0` is a multiple of [`PANEL_ROWS`]; the chunk's panels fit `sums`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn excess(x: &QuantizedRows, c0: usize, c1: usize, sums: &mut [i32]) {
    let (quads, ng, gq) = (x.quads(), groups(x.cols()), GROUP / 4);
    let ones = _mm512_set1_epi8(1);
    for p in c0 / PANEL_ROWS..c1.div_ceil(PANEL_ROWS) {
        let panel = x.panel(p).as_ptr();
        for g in 0..ng {
            let mut s = _mm512_setzero_si512();
            for kq in g * gq..quads.min(g * gq + gq) {
                let v = _mm512_loadu_si512(panel.add(kq * PANEL_ROWS * 4) as *const _);
                s = _mm512_dpbusd_epi32(s, ones, v);
            }
            let at = ((p - c0 / PANEL_ROWS) * ng + g) * PANEL_ROWS;
            _mm512_storeu_si512(
                sums[at..at + PANEL_ROWS].as_mut_ptr() as *mut _,
                _mm512_slli_epi32::<7>(_mm512_sub_epi32(_mm512_setzero_si512(), s)),
            );
        }
    }
}

/// Packs weight rows `n0..n0 + nr` as one 32-bit word (a quad of four columns, each byte
/// offset by 128) per output: `dst[kq * NP + j]` = columns `4kq..4kq + 4` of row `n0 + j`;
/// zero weights (bytes 0x80) past `k` and for `j >= nr`, whose activations are zero or whose
/// results are discarded.
///
/// # Safety
/// AVX-512F; `dst` is valid for `quads * NP` writes and 64-byte aligned.
#[target_feature(enable = "avx512f")]
unsafe fn pack_i8(
    q: &[i8],
    stride: usize,
    k: usize,
    n0: usize,
    nr: usize,
    quads: usize,
    dst: *mut i32,
) {
    let full = k / 4;
    let full16 = full / 16 * 16;
    let flip = _mm512_set1_epi32(0x8080_8080u32 as i32);
    for jb in [0, 16] {
        if jb + 16 <= nr {
            // 16 outputs x 16 quads: the float transpose moves 32-bit words of any type.
            for kq in (0..full16).step_by(16) {
                let v: [__m512; 16] = core::array::from_fn(|i| {
                    let at = (n0 + jb + i) * stride + kq * 4;
                    _mm512_castsi512_ps(_mm512_loadu_si512(q[at..at + 64].as_ptr() as *const _))
                });
                let t = transpose16(v);
                for i in 0..16 {
                    let w = _mm512_xor_si512(_mm512_castps_si512(t[i]), flip);
                    _mm512_store_si512(dst.add((kq + i) * NP + jb) as *mut _, w);
                }
            }
        }
        for j in jb..jb + 16 {
            let from = if jb + 16 <= nr { full16 } else { 0 };
            for kq in from..quads {
                let mut word = [0x80u8; 4];
                if j < nr {
                    let row = &q[(n0 + j) * stride..(n0 + j) * stride + k];
                    for (t, b) in word.iter_mut().enumerate() {
                        *b = row.get(kq * 4 + t).map_or(0x80, |&v| v as u8 ^ 0x80);
                    }
                }
                *dst.add(kq * NP + j) = i32::from_le_bytes(word);
            }
        }
    }
}

/// One packed int8 panel, its scales and bias, and how its results are written.
struct ITile<'a> {
    x: &'a QuantizedRows<'a>,
    pack: *const i32,
    /// The chunk's group excesses ([`excess`]) and its first row.
    sums: &'a [i32; SUMS],
    c0: usize,
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
    /// AVX-512F/BW + VNNI; rows `s0..s0 + R` exist and are in the chunk; the panel holds
    /// `x.quads()` quads; `out` has `R` rows of `nr` writable floats.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn run<const R: usize>(
        &self,
        s0: usize,
        out: *mut f32,
        ldo: usize,
        pf: Option<Prefetch>,
    ) {
        let x = self.x;
        let (quads, ng, gq) = (x.quads(), groups(x.cols()), GROUP / 4);
        let rp: [*const i32; R] = core::array::from_fn(|r| {
            let s = s0 + r;
            x.panel(s / PANEL_ROWS).as_ptr().add(s % PANEL_ROWS * 4) as *const i32
        });
        let ex: [*const i32; R] = core::array::from_fn(|r| {
            let s = s0 + r - self.c0;
            self.sums
                .as_ptr()
                .add(s / PANEL_ROWS * ng * PANEL_ROWS + s % PANEL_ROWS)
        });
        let scales = x.scales().as_ptr().add(s0 * ng);
        let sw = [
            _mm512_loadu_ps(self.sw.as_ptr()),
            _mm512_loadu_ps(self.sw.as_ptr().add(16)),
        ];
        let mut v = [[_mm512_setzero_ps(); 2]; R];
        for g in 0..ng {
            let q0 = g * gq;
            let q1 = quads.min(q0 + gq);
            let mut acc: [[__m512i; 2]; R] =
                core::array::from_fn(|r| [_mm512_set1_epi32(*ex[r].add(g * PANEL_ROWS)); 2]);
            for kq in q0..q1 {
                if let Some(pf) = pf {
                    pf.step(kq);
                }
                let w = self.pack.add(kq * NP) as *const __m512i;
                let w = [_mm512_load_si512(w), _mm512_load_si512(w.add(1))];
                for r in 0..R {
                    let xb = _mm512_set1_epi32(rp[r].add(kq * PANEL_ROWS).read_unaligned());
                    for h in 0..2 {
                        acc[r][h] = _mm512_dpbusd_epi32(acc[r][h], w[h], xb);
                    }
                }
            }
            for r in 0..R {
                let sx = _mm512_set1_ps(*scales.add(r * ng + g));
                for h in 0..2 {
                    let t = _mm512_mul_ps(_mm512_cvtepi32_ps(acc[r][h]), sx);
                    v[r][h] = _mm512_add_ps(v[r][h], t);
                }
            }
        }
        let bias = self.bias.map(|b| {
            [
                _mm512_loadu_ps(b.as_ptr()),
                _mm512_loadu_ps(b.as_ptr().add(16)),
            ]
        });
        let mask = [lanes(self.nr), lanes(self.nr.saturating_sub(16))];
        for r in 0..R {
            let o = out.add(r * ldo);
            for h in 0..2 {
                let y = _mm512_mul_ps(v[r][h], sw[h]);
                let y = match bias {
                    Some(b) => _mm512_add_ps(y, b[h]),
                    None => y,
                };
                // Wrapping: with an empty mask the second half may start past the row's end.
                let o = o.wrapping_add(16 * h);
                let y = if self.accumulate {
                    _mm512_add_ps(_mm512_maskz_loadu_ps(mask[h], o), y)
                } else {
                    y
                };
                _mm512_mask_storeu_ps(o, mask[h], y);
            }
        }
    }
}

/// [`super::quant::quantize_rows`]'s loop over rows and groups, a group (two registers) at a
/// time; the caller zeroed `data`. Bit-exact with the scalar loop: the maximum is exact in any
/// order and `maxps` keeps its second operand when the first is NaN, as the scalar `max`
/// ignores a NaN; the products are clamped and rounded as the scalar does (`max` before `min`,
/// the same magic-number addition).
pub(super) fn quantize(x: &[f32], cols: usize, data: &mut [i8], scales: &mut [f32]) {
    debug_assert!(available());
    // SAFETY: the caller selected this after `available()`; every access below is through
    // bounds-checked slices or masked to the group's columns.
    unsafe { quantize_avx512(x, cols, data, scales) }
}

#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn quantize_avx512(x: &[f32], cols: usize, data: &mut [i8], scales: &mut [f32]) {
    let (ng, quads) = (groups(cols), cols.div_ceil(4));
    let (lo, hi) = (_mm512_set1_ps(-127.0), _mm512_set1_ps(127.0));
    let magic = _mm512_set1_ps(super::quant::ROUND_MAGIC);
    for (s, row) in x.chunks_exact(cols).enumerate() {
        let base = (s / PANEL_ROWS * quads * PANEL_ROWS + s % PANEL_ROWS) * 4;
        for (g, chunk) in row.chunks(GROUP).enumerate() {
            let m = [lanes(chunk.len()), lanes(chunk.len().saturating_sub(16))];
            let v = [
                _mm512_maskz_loadu_ps(m[0], chunk.as_ptr()),
                _mm512_maskz_loadu_ps(m[1], chunk.as_ptr().wrapping_add(16)),
            ];
            // `max(|v|, 0)` is 0 for a NaN lane (the second operand), so the reduction sees no
            // NaN and the maximum ignores NaNs, as the scalar loop's does.
            let zero = _mm512_setzero_ps();
            let amax = _mm512_reduce_max_ps(max16(
                max16(_mm512_abs_ps(v[0]), zero),
                max16(_mm512_abs_ps(v[1]), zero),
            ));
            let inv = if amax > 0.0 { 127.0 / amax } else { 0.0 };
            scales[s * ng + g] = amax / 127.0;
            let invv = _mm512_set1_ps(inv);
            let mut bytes = [0i8; GROUP];
            for h in 0..2 {
                let c = min16(max16(_mm512_mul_ps(v[h], invv), lo), hi);
                let q = _mm512_sub_epi32(
                    _mm512_castps_si512(_mm512_add_ps(c, magic)),
                    _mm512_castps_si512(magic),
                );
                _mm_storeu_si128(
                    bytes[16 * h..].as_mut_ptr() as *mut __m128i,
                    _mm512_cvtepi32_epi8(q),
                );
            }
            let at = base + g * GROUP / 4 * PANEL_ROWS * 4;
            let group = &mut data[at..];
            if chunk.len() == GROUP {
                // Fixed-size moves: eight 4-byte stores.
                for (i, quad) in bytes.chunks_exact(4).enumerate() {
                    let d = &mut group[i * PANEL_ROWS * 4..][..4];
                    d.copy_from_slice(quad);
                }
            } else {
                for (i, quad) in bytes[..chunk.len()].chunks(4).enumerate() {
                    group[i * PANEL_ROWS * 4..][..quad.len()].copy_from_slice(quad);
                }
            }
        }
    }
}
