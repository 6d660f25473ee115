//! AVX-512 element-wise functions: the evaluations of `avx2_vmath.rs` on 16 lanes (`exp`
//! with fused multiply-adds, `erf` in f64, eight lanes per register). LayerNorm stays on the
//! AVX2 version, whose bit-exact sums are not the time that matters.
#![allow(unsafe_code)]
// AVX-512 intrinsics are stable since Rust 1.89: `simd-avx512` needs that, the crate does not.
#![allow(clippy::incompatible_msrv)]

use super::vmath::{ERF_CLAMP, ERF_P, ERF_Q, EXP_HI, EXP_LO, EXP_P, LN2_HI, LN2_LO, LOG2E};
use core::arch::x86_64::*;

/// AVX-512F is present.
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

/// `exp` of 16 lanes ([`super::vmath::exp`]; the arithmetic of `avx2_vmath::exp8`).
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn exp16(x: __m512) -> __m512 {
    let x = _mm512_min_ps(
        _mm512_max_ps(x, _mm512_set1_ps(EXP_LO)),
        _mm512_set1_ps(EXP_HI),
    );
    let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
        _mm512_mul_ps(x, _mm512_set1_ps(LOG2E)),
    );
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
        _mm512_cvtps_epi32(n),
        _mm512_set1_epi32(127),
    ));
    _mm512_mul_ps(y, _mm512_castsi512_ps(pow2))
}

/// `erf` of eight f64 lanes: the rational of [`super::vmath::erf`] (as `avx2_vmath::erf4d`).
#[inline]
#[target_feature(enable = "avx512f")]
fn erf8d(x: __m512d) -> __m512d {
    let c = ERF_CLAMP as f64;
    let x = _mm512_min_pd(_mm512_max_pd(x, _mm512_set1_pd(-c)), _mm512_set1_pd(c));
    let x2 = _mm512_mul_pd(x, x);
    let mut p = _mm512_set1_pd(ERF_P[0]);
    for &k in &ERF_P[1..] {
        p = _mm512_fmadd_pd(p, x2, _mm512_set1_pd(k));
    }
    let mut q = _mm512_set1_pd(ERF_Q[0]);
    for &k in &ERF_Q[1..] {
        q = _mm512_fmadd_pd(q, x2, _mm512_set1_pd(k));
    }
    _mm512_div_pd(_mm512_mul_pd(x, p), q)
}

/// GELU of 16 lanes: `x/2 (1 + erf(x / sqrt 2))`, `erf` on two f64 halves.
#[inline]
#[target_feature(enable = "avx512f")]
fn gelu16(x: __m512) -> __m512 {
    let t = _mm512_mul_ps(x, _mm512_set1_ps(core::f32::consts::FRAC_1_SQRT_2));
    let lo = erf8d(_mm512_cvtps_pd(_mm512_castps512_ps256(t)));
    let hi = erf8d(_mm512_cvtps_pd(_mm256_castpd_ps(
        _mm512_extractf64x4_pd::<1>(_mm512_castps_pd(t)),
    )));
    let e = _mm512_castpd_ps(_mm512_insertf64x4::<1>(
        _mm512_castps_pd(_mm512_castps256_ps512(_mm512_cvtpd_ps(lo))),
        _mm256_castps_pd(_mm512_cvtpd_ps(hi)),
    ));
    let half_x = _mm512_mul_ps(x, _mm512_set1_ps(0.5));
    _mm512_fmadd_ps(half_x, e, half_x)
}

/// GELU in place ([`super::vmath::gelu`]); the tail is a masked load and store, so every
/// element sees the same arithmetic.
pub(super) fn gelu(x: &mut [f32]) {
    debug_assert!(available());
    // SAFETY: the dispatcher checked `available()`; the loads and stores below cover `x`
    // (the last masked to its length).
    unsafe { gelu_avx512(x) }
}

#[target_feature(enable = "avx512f")]
fn gelu_avx512(x: &mut [f32]) {
    for c in x.chunks_mut(16) {
        let m = ((1u32 << c.len()) - 1) as __mmask16;
        // SAFETY: lanes past `c.len()` are masked off.
        unsafe {
            let v = _mm512_maskz_loadu_ps(m, c.as_ptr());
            _mm512_mask_storeu_ps(c.as_mut_ptr(), m, gelu16(v));
        }
    }
}
