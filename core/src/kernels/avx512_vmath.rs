//! AVX-512 element-wise functions: the polynomials of `vmath.rs`, sixteen lanes at a time, with
//! masked loads and stores for tails. As in `avx2_vmath.rs`: LayerNorm uses no FMA and keeps the
//! scalar definition's eight partial sums, so it reproduces it bit for bit; `exp` fuses its
//! multiply-adds (an ulp or two from the scalar one), and so does `erf` (within 3.8e-7 of the
//! exact one, the scalar's unfused evaluation 4.5e-7).
#![allow(unsafe_code)]
// AVX-512 intrinsics are stable since Rust 1.89: `simd-avx512` needs that, the crate does not.
#![allow(clippy::incompatible_msrv)]

use super::vmath::{
    reduce8, ERF_CLAMP, ERF_P, ERF_Q, EXP_HI, EXP_LO, EXP_P, LN2_HI, LN2_LO, LOG2E, ROUND,
};
use core::arch::x86_64::*;

/// AVX-512F is present (it implies AVX2, FMA and F16C).
pub(super) fn available() -> bool {
    #[cfg(feature = "std")]
    {
        std::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(feature = "std"))]
    {
        cfg!(target_feature = "avx512f")
    }
}

/// Lane mask of the first `n` (at most 16) lanes.
pub(super) fn lanes(n: usize) -> __mmask16 {
    ((1u32 << n.min(16)) - 1) as __mmask16
}

// Miri does not implement the 512-bit float min/max: under Miri they run as two 256-bit
// halves, which compute the same lanes.

/// `vmaxps`: the second operand where either is NaN.
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn max16(a: __m512, b: __m512) -> __m512 {
    #[cfg(not(miri))]
    return _mm512_max_ps(a, b);
    #[cfg(miri)]
    return halves(a, b, |x, y| _mm256_max_ps(x, y));
}

/// `vminps`.
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn min16(a: __m512, b: __m512) -> __m512 {
    #[cfg(not(miri))]
    return _mm512_min_ps(a, b);
    #[cfg(miri)]
    return halves(a, b, |x, y| _mm256_min_ps(x, y));
}

#[cfg(miri)]
#[inline]
#[target_feature(enable = "avx512f")]
fn halves(a: __m512, b: __m512, f: impl Fn(__m256, __m256) -> __m256) -> __m512 {
    let hi = |v: __m512| _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
    let lo = f(_mm512_castps512_ps256(a), _mm512_castps512_ps256(b));
    join(lo, f(hi(a), hi(b)))
}

#[cfg(miri)]
#[inline]
#[target_feature(enable = "avx512f")]
fn join(lo: __m256, hi: __m256) -> __m512 {
    let lo = _mm512_castpd256_pd512(_mm256_castps_pd(lo));
    _mm512_castpd_ps(_mm512_insertf64x4::<1>(lo, _mm256_castps_pd(hi)))
}

/// `exp` of sixteen lanes ([`super::vmath::exp`]; the rounding to `n` is the scalar one).
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn exp16(x: __m512) -> __m512 {
    let x = min16(max16(x, _mm512_set1_ps(EXP_LO)), _mm512_set1_ps(EXP_HI));
    // `t`'s low mantissa bits hold the integer `n`, so `2^n` is `t`'s bits shifted into the
    // exponent field (the bits above shift out).
    let t = _mm512_add_ps(
        _mm512_mul_ps(x, _mm512_set1_ps(LOG2E)),
        _mm512_set1_ps(ROUND),
    );
    let n = _mm512_sub_ps(t, _mm512_set1_ps(ROUND));
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HI), x);
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LO), r);
    let mut p = _mm512_set1_ps(EXP_P[0]);
    for &c in &EXP_P[1..] {
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
    }
    let y = _mm512_fmadd_ps(
        _mm512_mul_ps(p, r),
        r,
        _mm512_add_ps(r, _mm512_set1_ps(1.0)),
    );
    let pow2 = _mm512_slli_epi32::<23>(_mm512_add_epi32(
        _mm512_castps_si512(t),
        _mm512_set1_epi32(127),
    ));
    _mm512_mul_ps(y, _mm512_castsi512_ps(pow2))
}

/// `erf` of sixteen lanes: the rational of [`super::vmath::erf`] in f32 with fused
/// multiply-adds, within 3.8e-7 of the exact `erf` (the scalar definition, unfused: 4.5e-7).
/// The f64 evaluation of `avx2_vmath` is 4x more accurate and took twice the time here.
#[inline]
#[target_feature(enable = "avx512f")]
fn erf16(x: __m512) -> __m512 {
    let c = _mm512_set1_ps(ERF_CLAMP);
    let x = min16(max16(x, _mm512_sub_ps(_mm512_setzero_ps(), c)), c);
    let x2 = _mm512_mul_ps(x, x);
    let mut p = _mm512_set1_ps(ERF_P[0] as f32);
    for &k in &ERF_P[1..] {
        p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(k as f32));
    }
    let mut q = _mm512_set1_ps(ERF_Q[0] as f32);
    for &k in &ERF_Q[1..] {
        q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(k as f32));
    }
    _mm512_div_ps(_mm512_mul_ps(x, p), q)
}

#[inline]
#[target_feature(enable = "avx512f")]
fn gelu16(x: __m512) -> __m512 {
    let e = erf16(_mm512_mul_ps(
        x,
        _mm512_set1_ps(core::f32::consts::FRAC_1_SQRT_2),
    ));
    let half_x = _mm512_mul_ps(x, _mm512_set1_ps(0.5));
    _mm512_fmadd_ps(half_x, e, half_x)
}

/// GELU in place ([`super::vmath::gelu`]).
pub(super) fn gelu(x: &mut [f32]) {
    debug_assert!(available());
    // SAFETY: the dispatcher checked `available()`.
    unsafe { gelu_avx512(x) }
}

#[target_feature(enable = "avx512f")]
fn gelu_avx512(x: &mut [f32]) {
    for c in x.chunks_mut(16) {
        let m = lanes(c.len());
        // SAFETY: the mask covers exactly the `c.len() <= 16` floats of `c`.
        unsafe {
            let v = _mm512_maskz_loadu_ps(m, c.as_ptr());
            _mm512_mask_storeu_ps(c.as_mut_ptr(), m, gelu16(v));
        }
    }
}

/// The scalar `lane_sum` of `f(x[i])`: eight lanes (the low half of a register), each adding its
/// elements in order; a tail adds only to its own lanes.
#[inline]
#[target_feature(enable = "avx512f")]
fn lane_sum(x: &[f32], f: impl Fn(__m512) -> __m512) -> f32 {
    let mut acc = _mm512_setzero_ps();
    for c in x.chunks(8) {
        let m = lanes(c.len());
        // SAFETY: the mask covers exactly the `c.len() <= 8` floats of `c`.
        let v = unsafe { _mm512_maskz_loadu_ps(m, c.as_ptr()) };
        acc = _mm512_mask_add_ps(acc, m, acc, f(v));
    }
    let mut l = [0f32; 16];
    // SAFETY: `l` holds sixteen floats.
    unsafe { _mm512_storeu_ps(l.as_mut_ptr(), acc) };
    reduce8([l[0], l[1], l[2], l[3], l[4], l[5], l[6], l[7]])
}

/// LayerNorm over one row in place ([`super::vmath::layer_norm`], bit for bit).
pub(super) fn layer_norm(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    debug_assert!(available());
    // SAFETY: the dispatcher checked `available()`.
    unsafe { layer_norm_avx512(x, gamma, beta, eps) }
}

#[target_feature(enable = "avx512f")]
fn layer_norm_avx512(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let len = x.len() as f32;
    let mean = lane_sum(x, |v| v) / len;
    let m = _mm512_set1_ps(mean);
    let var = lane_sum(x, |v| {
        let c = _mm512_sub_ps(v, m);
        _mm512_mul_ps(c, c)
    }) / len;
    let iv = _mm512_set1_ps(1.0 / libm::sqrtf(var + eps));
    // The scalar loop stops at the shortest of the three slices.
    let n = x.len().min(gamma.len()).min(beta.len());
    let rows = x[..n]
        .chunks_mut(16)
        .zip(gamma.chunks(16).zip(beta.chunks(16)));
    for (c, (g, b)) in rows {
        let k = lanes(c.len());
        // SAFETY: the mask covers exactly `c.len()` floats, and `g` and `b` are as long as `c`.
        unsafe {
            let v = _mm512_maskz_loadu_ps(k, c.as_ptr());
            let g = _mm512_maskz_loadu_ps(k, g.as_ptr());
            let b = _mm512_maskz_loadu_ps(k, b.as_ptr());
            let y = _mm512_mul_ps(_mm512_mul_ps(_mm512_sub_ps(v, m), iv), g);
            _mm512_mask_storeu_ps(c.as_mut_ptr(), k, _mm512_add_ps(y, b));
        }
    }
}
