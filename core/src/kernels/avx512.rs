//! x86-64 AVX-512 kernels: f32 micro-tiles of 16 rows (one register) x 8 outputs, and int8
//! through VNNI `vpdpbusd`, whose 16 lanes take exactly one quad of the 16-row activation
//! panel. `vpdpbusd` multiplies *unsigned* by signed bytes, so the broadcast weight quad is
//! offset to `w + 128` (an XOR with 0x80) and the excess `128 * sum_k x[s][k]` is subtracted at
//! the end; the row sums come from the same instruction against a vector of ones.
#![allow(unsafe_code)]
// Register tiles are indexed by lane and row; index loops read clearer than zipped iterators.
#![allow(clippy::needless_range_loop)]
// AVX-512 intrinsics are stable since Rust 1.89: `simd-avx512` needs that, the crate does not.
#![allow(clippy::incompatible_msrv)]

use super::drive::{float_linear, int_linear, FloatTile, IntTile, KC, MR, NR_MAX};
use super::quant::QuantizedRows;
use super::FloatWeights;
use core::arch::x86_64::*;
use half::f16;

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

struct Avx512;

#[target_feature(enable = "avx512f")]
unsafe fn float_tile(
    a: &[f32; KC * MR],
    w: &[*const f32; NR_MAX],
    kc: usize,
) -> [[f32; MR]; NR_MAX] {
    let mut acc = [_mm512_setzero_ps(); NR_MAX];
    for kk in 0..kc {
        let av = _mm512_loadu_ps(a.as_ptr().add(kk * MR));
        for j in 0..NR_MAX {
            acc[j] = _mm512_fmadd_ps(av, _mm512_set1_ps(*w[j].add(kk)), acc[j]);
        }
    }
    let mut t = [[0f32; MR]; NR_MAX];
    for j in 0..NR_MAX {
        _mm512_storeu_ps(t[j].as_mut_ptr(), acc[j]);
    }
    t
}

#[target_feature(enable = "avx512f,f16c")]
unsafe fn widen_f16c(src: &[f16], dst: &mut [f32]) {
    let n = src.len().min(dst.len());
    let mut i = 0;
    while i + 16 <= n {
        let h = _mm256_loadu_si256(src.as_ptr().add(i) as *const __m256i);
        _mm512_storeu_ps(dst.as_mut_ptr().add(i), _mm512_cvtph_ps(h));
        i += 16;
    }
    for (d, s) in dst[i..n].iter_mut().zip(&src[i..n]) {
        *d = s.to_f32();
    }
}

impl FloatTile for Avx512 {
    const NR: usize = NR_MAX;

    unsafe fn tile(a: &[f32; KC * MR], w: &[*const f32; NR_MAX], kc: usize) -> [[f32; MR]; NR_MAX] {
        float_tile(a, w, kc)
    }

    fn widen(src: &[f16], dst: &mut [f32]) {
        debug_assert!(available());
        // SAFETY: this backend is selected only when the CPU has AVX-512F and F16C.
        unsafe { widen_f16c(src, dst) }
    }
}

/// Float linear layer; see [`super::linear`].
pub(super) fn linear(
    x: &[f32],
    rows: usize,
    w: &FloatWeights,
    bias: Option<&[f32]>,
    out: &mut [f32],
    accumulate: bool,
) {
    debug_assert!(available());
    // SAFETY: `backend()` checked the CPU features; `super::linear` checked the slices.
    unsafe { float_linear::<Avx512>(x, rows, w, bias, out, accumulate) }
}

struct Vnni;

#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn int_tile(
    panel: &[i8],
    w: &[*const i8; NR_MAX],
    quads: usize,
    tail: Option<&[[i8; 4]; NR_MAX]>,
) -> [[i32; MR]; NR_MAX] {
    let mut acc = [_mm512_setzero_si512(); NR_MAX];
    let mut xsum = _mm512_setzero_si512();
    let ones = _mm512_set1_epi8(1);
    let flip = _mm512_set1_epi8(-128);
    let mut step = |kq: usize, words: [i32; NR_MAX]| {
        let xv = _mm512_loadu_si512(panel.as_ptr().add(kq * 64) as *const _);
        xsum = _mm512_dpbusd_epi32(xsum, ones, xv);
        for j in 0..NR_MAX {
            let wu = _mm512_xor_si512(_mm512_set1_epi32(words[j]), flip);
            acc[j] = _mm512_dpbusd_epi32(acc[j], wu, xv);
        }
    };
    for kq in 0..quads {
        step(
            kq,
            core::array::from_fn(|j| (w[j].add(kq * 4) as *const i32).read_unaligned()),
        );
    }
    if let Some(t) = tail {
        step(
            quads,
            core::array::from_fn(|j| i32::from_le_bytes(t[j].map(|b| b as u8))),
        );
    }
    let excess = _mm512_slli_epi32(xsum, 7);
    let mut t = [[0i32; MR]; NR_MAX];
    for j in 0..NR_MAX {
        _mm512_storeu_si512(
            t[j].as_mut_ptr() as *mut _,
            _mm512_sub_epi32(acc[j], excess),
        );
    }
    t
}

impl IntTile for Vnni {
    const NR: usize = NR_MAX;

    unsafe fn tile(
        panel: &[i8],
        _rows: usize,
        w: &[*const i8; NR_MAX],
        quads: usize,
        tail: Option<&[[i8; 4]; NR_MAX]>,
    ) -> [[i32; MR]; NR_MAX] {
        int_tile(panel, w, quads, tail)
    }
}

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
    // SAFETY: `backend()` checked the CPU features; `super::linear_i8` checked `q`.
    unsafe { int_linear::<Vnni>(x, q, sw, stride, n, bias, out, accumulate) }
}
