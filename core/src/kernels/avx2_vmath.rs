//! AVX2 + FMA element-wise functions: the polynomials of `vmath.rs`, eight lanes at a time.
//! LayerNorm uses no FMA, so it reproduces the scalar definition bit for bit; `exp` fuses its
//! multiply-adds and differs from it by an ulp or two; `erf` is evaluated in f64 (more accurate
//! than the scalar f32 evaluation by up to 4e-7).
#![allow(unsafe_code)]

use super::vmath::{
    reduce8, ERF_CLAMP, ERF_P, ERF_Q, EXP_HI, EXP_LO, EXP_P, LN2_HI, LN2_LO, LOG2E,
};
use core::arch::x86_64::*;

/// AVX2 and FMA are present.
pub(super) fn available() -> bool {
    #[cfg(feature = "std")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(feature = "std"))]
    {
        cfg!(all(target_feature = "avx2", target_feature = "fma"))
    }
}

/// `exp` of eight lanes ([`super::vmath::exp`]).
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) fn exp8(x: __m256) -> __m256 {
    let x = _mm256_min_ps(
        _mm256_max_ps(x, _mm256_set1_ps(EXP_LO)),
        _mm256_set1_ps(EXP_HI),
    );
    let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(
        x,
        _mm256_set1_ps(LOG2E),
    ));
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HI), x);
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_LO), r);
    let mut p = _mm256_set1_ps(EXP_P[0]);
    for &c in &EXP_P[1..] {
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
    }
    let y = _mm256_fmadd_ps(
        _mm256_mul_ps(p, r),
        r,
        _mm256_add_ps(r, _mm256_set1_ps(1.0)),
    );
    let pow2 = _mm256_slli_epi32::<23>(_mm256_add_epi32(
        _mm256_cvtps_epi32(n),
        _mm256_set1_epi32(127),
    ));
    _mm256_mul_ps(y, _mm256_castsi256_ps(pow2))
}

/// `erf` of eight lanes: the rational of [`super::vmath::erf`] evaluated in f64, which keeps
/// the f32 rounding of its two polynomials (4.5e-7 near |x| = 3.6) out of the result: within
/// 1e-7 of the exact `erf`, at the cost of two 4-lane halves.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn erf8(x: __m256) -> __m256 {
    let lo = erf4d(_mm256_cvtps_pd(_mm256_castps256_ps128(x)));
    let hi = erf4d(_mm256_cvtps_pd(_mm256_extractf128_ps::<1>(x)));
    _mm256_set_m128(_mm256_cvtpd_ps(hi), _mm256_cvtpd_ps(lo))
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn erf4d(x: __m256d) -> __m256d {
    let c = ERF_CLAMP as f64;
    let x = _mm256_min_pd(_mm256_max_pd(x, _mm256_set1_pd(-c)), _mm256_set1_pd(c));
    let x2 = _mm256_mul_pd(x, x);
    let mut p = _mm256_set1_pd(ERF_P[0]);
    for &k in &ERF_P[1..] {
        p = _mm256_fmadd_pd(p, x2, _mm256_set1_pd(k));
    }
    let mut q = _mm256_set1_pd(ERF_Q[0]);
    for &k in &ERF_Q[1..] {
        q = _mm256_fmadd_pd(q, x2, _mm256_set1_pd(k));
    }
    _mm256_div_pd(_mm256_mul_pd(x, p), q)
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn gelu8(x: __m256) -> __m256 {
    let e = erf8(_mm256_mul_ps(
        x,
        _mm256_set1_ps(core::f32::consts::FRAC_1_SQRT_2),
    ));
    let half_x = _mm256_mul_ps(x, _mm256_set1_ps(0.5));
    _mm256_fmadd_ps(half_x, e, half_x)
}

/// Applies `f` to `x` eight lanes at a time; the tail goes through a zero-padded stack vector,
/// so every element sees the same arithmetic.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn map8(x: &mut [f32], f: impl Fn(__m256) -> __m256) {
    let mut chunks = x.chunks_exact_mut(8);
    for c in &mut chunks {
        // SAFETY: `c` holds exactly eight floats.
        unsafe { _mm256_storeu_ps(c.as_mut_ptr(), f(_mm256_loadu_ps(c.as_ptr()))) };
    }
    let tail = chunks.into_remainder();
    if !tail.is_empty() {
        let mut buf = [0f32; 8];
        buf[..tail.len()].copy_from_slice(tail);
        // SAFETY: `buf` holds eight floats.
        unsafe { _mm256_storeu_ps(buf.as_mut_ptr(), f(_mm256_loadu_ps(buf.as_ptr()))) };
        tail.copy_from_slice(&buf[..tail.len()]);
    }
}

/// GELU in place ([`super::vmath::gelu`]).
pub(super) fn gelu(x: &mut [f32]) {
    debug_assert!(available());
    // SAFETY: the dispatcher checked `available()`.
    unsafe { gelu_avx2(x) }
}

#[target_feature(enable = "avx2,fma")]
fn gelu_avx2(x: &mut [f32]) {
    map8(x, |v| gelu8(v))
}

/// Eight-lane sum of `f(x[i])` in the lane order of the scalar `lane_sum`.
#[inline]
#[target_feature(enable = "avx2")]
fn lane_sum(x: &[f32], f: impl Fn(__m256) -> __m256) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut chunks = x.chunks_exact(8);
    for c in &mut chunks {
        // SAFETY: `c` holds exactly eight floats.
        acc = _mm256_add_ps(acc, f(unsafe { _mm256_loadu_ps(c.as_ptr()) }));
    }
    let mut lanes = [0f32; 8];
    // SAFETY: `lanes` holds eight floats.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
    let tail = chunks.remainder();
    let mut buf = [0f32; 8];
    buf[..tail.len()].copy_from_slice(tail);
    // SAFETY: `buf` holds eight floats.
    let t = f(unsafe { _mm256_loadu_ps(buf.as_ptr()) });
    let mut tl = [0f32; 8];
    // SAFETY: `tl` holds eight floats.
    unsafe { _mm256_storeu_ps(tl.as_mut_ptr(), t) };
    for (l, v) in lanes.iter_mut().zip(&tl[..tail.len()]) {
        *l += v;
    }
    reduce8(lanes)
}

/// LayerNorm over one row in place ([`super::vmath::layer_norm`], bit for bit).
pub(super) fn layer_norm(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    debug_assert!(available());
    // SAFETY: the dispatcher checked `available()`.
    unsafe { layer_norm_avx2(x, gamma, beta, eps) }
}

#[target_feature(enable = "avx2,fma")]
fn layer_norm_avx2(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let n = x.len().min(gamma.len()).min(beta.len());
    let (x, gamma, beta) = (&mut x[..n], &gamma[..n], &beta[..n]);
    let len = n as f32;
    let mean = lane_sum(x, |v| v) / len;
    let m = _mm256_set1_ps(mean);
    let var = lane_sum(x, |v| {
        let c = _mm256_sub_ps(v, m);
        _mm256_mul_ps(c, c)
    }) / len;
    let inv = 1.0 / libm::sqrtf(var + eps);
    let iv = _mm256_set1_ps(inv);
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: `i + 8 <= n` and all three slices are `n` long.
        unsafe {
            let v = _mm256_loadu_ps(x.as_ptr().add(i));
            let g = _mm256_loadu_ps(gamma.as_ptr().add(i));
            let b = _mm256_loadu_ps(beta.as_ptr().add(i));
            let y = _mm256_mul_ps(_mm256_mul_ps(_mm256_sub_ps(v, m), iv), g);
            _mm256_storeu_ps(x.as_mut_ptr().add(i), _mm256_add_ps(y, b));
        }
        i += 8;
    }
    for ((v, g), b) in x[i..].iter_mut().zip(&gamma[i..]).zip(&beta[i..]) {
        *v = (*v - mean) * inv * g + b;
    }
}
