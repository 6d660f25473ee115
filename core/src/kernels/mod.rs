//! Compute kernels over flat slices.
//!
//! [`reference`] holds the scalar definition of every kernel. The public functions here dispatch
//! to the best SIMD backend compiled in (cargo features `simd-avx2`, `simd-avx512`, `simd-neon`,
//! `simd-wasm`, `simd-dsp`) that the CPU supports, and fall back to the reference otherwise. The
//! int8 kernels are bit-exact with the reference on every backend; float kernels agree within the
//! tolerance `docs/DESIGN.md` ("Quantization") states.

pub mod attention;
mod quant;
pub mod reference;
pub mod vmath;

#[cfg(all(
    any(feature = "simd-avx2", feature = "simd-avx512"),
    target_arch = "x86_64"
))]
mod avx2_attention;
#[cfg(all(
    any(feature = "simd-avx2", feature = "simd-avx512"),
    target_arch = "x86_64"
))]
mod avx2_vmath;

#[cfg(all(feature = "simd-avx2", target_arch = "x86_64"))]
mod avx2;
#[cfg(all(feature = "simd-avx512", target_arch = "x86_64"))]
mod avx512;
#[cfg(any(
    all(feature = "simd-avx512", target_arch = "x86_64"),
    all(feature = "simd-neon", target_arch = "aarch64"),
    all(
        feature = "simd-wasm",
        target_arch = "wasm32",
        target_feature = "simd128"
    )
))]
mod drive;
#[cfg(all(feature = "simd-dsp", target_arch = "arm"))]
mod dsp;
#[cfg(all(feature = "simd-neon", target_arch = "aarch64"))]
mod neon;
#[cfg(all(
    feature = "simd-wasm",
    target_arch = "wasm32",
    target_feature = "simd128"
))]
mod wasm;

#[cfg(test)]
mod tests;

pub use attention::AttentionHead;
pub use quant::{
    groups, quant_bytes, quantize_flat, quantize_rows, QuantizedRows, GROUP, PANEL_ROWS,
};
pub use reference::{dot, dot_f16, dot_i8, LANES};

use crate::tensor::Matrix;
#[cfg(any(
    all(
        any(feature = "simd-avx2", feature = "simd-avx512"),
        target_arch = "x86_64"
    ),
    all(feature = "simd-neon", target_arch = "aarch64"),
    all(
        feature = "simd-wasm",
        target_arch = "wasm32",
        target_feature = "simd128"
    )
))]
use half::f16;

/// Float weight elements as the SIMD backends see them.
#[cfg(any(
    all(
        any(feature = "simd-avx2", feature = "simd-avx512"),
        target_arch = "x86_64"
    ),
    all(feature = "simd-neon", target_arch = "aarch64"),
    all(
        feature = "simd-wasm",
        target_arch = "wasm32",
        target_feature = "simd128"
    )
))]
#[derive(Clone, Copy)]
enum FloatData<'a> {
    F32(&'a [f32]),
    F16(&'a [f16]),
}

/// A float weight matrix: `rows x cols`, row `r` at `r * stride`, every row in bounds.
#[cfg(any(
    all(
        any(feature = "simd-avx2", feature = "simd-avx512"),
        target_arch = "x86_64"
    ),
    all(feature = "simd-neon", target_arch = "aarch64"),
    all(
        feature = "simd-wasm",
        target_arch = "wasm32",
        target_feature = "simd128"
    )
))]
#[derive(Clone, Copy)]
struct FloatWeights<'a> {
    data: FloatData<'a>,
    rows: usize,
    cols: usize,
    stride: usize,
}

/// The instruction set the kernels run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Portable scalar code ([`reference`]).
    Scalar,
    /// x86-64 AVX2 + FMA + F16C.
    Avx2,
    /// x86-64 AVX-512F/BW + VNNI.
    Avx512,
    /// aarch64 NEON (int8 through `sdot`, which needs the dotprod extension).
    Neon,
    /// WebAssembly simd128.
    Wasm,
    /// Cortex-M DSP extension (int8 through `SMLAD`).
    Dsp,
}

impl Backend {
    /// Lowercase name, as benchmarks print it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Scalar => "scalar",
            Backend::Avx2 => "avx2",
            Backend::Avx512 => "avx512",
            Backend::Neon => "neon",
            Backend::Wasm => "wasm-simd128",
            Backend::Dsp => "dsp",
        }
    }
}

/// The backend the kernels use on this CPU: the best compiled-in one it supports. With the
/// `std` feature the CPU is asked at run time; without it, only instructions the compile target
/// guarantees (`-C target-feature`) are used.
#[allow(unreachable_code)]
pub fn backend() -> Backend {
    #[cfg(all(feature = "simd-avx512", target_arch = "x86_64"))]
    if avx512::available() {
        return Backend::Avx512;
    }
    #[cfg(all(feature = "simd-avx2", target_arch = "x86_64"))]
    if avx2::available() {
        return Backend::Avx2;
    }
    #[cfg(all(feature = "simd-neon", target_arch = "aarch64"))]
    return Backend::Neon;
    #[cfg(all(
        feature = "simd-wasm",
        target_arch = "wasm32",
        target_feature = "simd128"
    ))]
    return Backend::Wasm;
    #[cfg(all(feature = "simd-dsp", target_arch = "arm"))]
    return Backend::Dsp;
    Backend::Scalar
}

/// `out[r][o] (+)= bias[o] + x[r] . w[o]` for `rows` input rows of `w.cols` features: a PyTorch
/// `Linear` on a batch of rows, `out` being `[rows, w.rows]` row-major. With `accumulate`, adds
/// to `out` instead of overwriting it. f32 and f16 weights take the SIMD path; int8 weights here
/// are dequantised on the fly (weight-only, f32 activations) by the reference: the quantised
/// path is [`linear_i8`].
///
/// # Panics
/// If `x` or `out` is shorter than the shapes say.
pub fn linear(
    x: &[f32],
    rows: usize,
    w: &Matrix,
    bias: Option<&[f32]>,
    out: &mut [f32],
    accumulate: bool,
) {
    let k = w.cols;
    let (x, out) = (&x[..rows * k], &mut out[..rows * w.rows]);
    let bias = bias.map(|b| &b[..w.rows]);
    #[cfg(any(
        all(
            any(feature = "simd-avx2", feature = "simd-avx512"),
            target_arch = "x86_64"
        ),
        all(feature = "simd-neon", target_arch = "aarch64"),
        all(
            feature = "simd-wasm",
            target_arch = "wasm32",
            target_feature = "simd128"
        )
    ))]
    if k > 0 && w.rows > 0 {
        let used = (w.rows - 1) * w.stride + k;
        let data = match w.w {
            crate::Weights::F32(d) => Some(FloatData::F32(&d[..used])),
            crate::Weights::F16(d) => Some(FloatData::F16(&d[..used])),
            crate::Weights::I8 { .. } => None,
        };
        if let Some(data) = data {
            let fw = FloatWeights {
                data,
                rows: w.rows,
                cols: k,
                stride: w.stride,
            };
            match backend() {
                #[cfg(all(feature = "simd-avx512", target_arch = "x86_64"))]
                Backend::Avx512 => return avx512::linear(x, rows, &fw, bias, out, accumulate),
                #[cfg(all(feature = "simd-avx2", target_arch = "x86_64"))]
                Backend::Avx2 => return avx2::linear(x, rows, &fw, bias, out, accumulate),
                #[cfg(all(feature = "simd-neon", target_arch = "aarch64"))]
                Backend::Neon => return neon::linear(x, rows, &fw, bias, out, accumulate),
                #[cfg(all(
                    feature = "simd-wasm",
                    target_arch = "wasm32",
                    target_feature = "simd128"
                ))]
                Backend::Wasm => return wasm::linear(x, rows, &fw, bias, out, accumulate),
                _ => {}
            }
        }
    }
    reference::linear(x, rows, w, bias, out, accumulate)
}

/// The int8 linear layer: `out[s][o] (+)= (sum over groups g of acc_g * (sx[s][g] * sw[o])) +
/// bias[o]`, where `acc_g = sum_{k in g} xq[s][k] * q[o][k]` in exact int32 arithmetic, the
/// groups being [`GROUP`] columns wide and summed in order from 0.0. `q` holds `n` rows of
/// `x.cols()` int8 weights, row `o` starting at `o * stride`, with per-row scales `sw`; `out`
/// is `[x.rows(), n]` row-major. Bit-exact on every backend.
///
/// # Panics
/// If a slice is shorter than the shapes say.
#[allow(clippy::too_many_arguments)]
pub fn linear_i8(
    x: &QuantizedRows,
    q: &[i8],
    sw: &[f32],
    stride: usize,
    n: usize,
    bias: Option<&[f32]>,
    out: &mut [f32],
    accumulate: bool,
) {
    let k = x.cols();
    if n == 0 || x.rows() == 0 {
        return;
    }
    let (q, sw) = (&q[..(n - 1) * stride + k], &sw[..n]);
    let out = &mut out[..x.rows() * n];
    let bias = bias.map(|b| &b[..n]);
    match backend() {
        #[cfg(all(feature = "simd-avx512", target_arch = "x86_64"))]
        Backend::Avx512 => avx512::linear_i8(x, q, sw, stride, n, bias, out, accumulate),
        #[cfg(all(feature = "simd-avx2", target_arch = "x86_64"))]
        Backend::Avx2 => avx2::linear_i8(x, q, sw, stride, n, bias, out, accumulate),
        #[cfg(all(feature = "simd-neon", target_arch = "aarch64"))]
        Backend::Neon => neon::linear_i8(x, q, sw, stride, n, bias, out, accumulate),
        #[cfg(all(
            feature = "simd-wasm",
            target_arch = "wasm32",
            target_feature = "simd128"
        ))]
        Backend::Wasm => wasm::linear_i8(x, q, sw, stride, n, bias, out, accumulate),
        #[cfg(all(feature = "simd-dsp", target_arch = "arm"))]
        Backend::Dsp => dsp::linear_i8(x, q, sw, stride, n, bias, out, accumulate),
        _ => reference::linear_i8(x, q, sw, stride, n, bias, out, accumulate),
    }
}

/// LayerNorm over one row in place: biased variance, as `torch.nn.LayerNorm`
/// ([`vmath::layer_norm`]; the AVX2 version is bit-identical).
pub fn layer_norm(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    #[cfg(all(
        any(feature = "simd-avx2", feature = "simd-avx512"),
        target_arch = "x86_64"
    ))]
    if avx2_vmath::available() {
        return avx2_vmath::layer_norm(x, gamma, beta, eps);
    }
    vmath::layer_norm(x, gamma, beta, eps)
}

/// GELU, erf form: `0.5 x (1 + erf(x / sqrt 2))` ([`vmath::gelu`]: a rational `erf` within
/// 5e-7 of the exact one).
pub fn gelu(x: &mut [f32]) {
    #[cfg(all(
        any(feature = "simd-avx2", feature = "simd-avx512"),
        target_arch = "x86_64"
    ))]
    if avx2_vmath::available() {
        return avx2_vmath::gelu(x);
    }
    vmath::gelu(x)
}

/// One head of scaled dot-product attention for a block of query rows, streamed with an
/// online softmax ([`attention::attention`] is the scalar definition): writes
/// `softmax(q k^T / sqrt(d) + mask) v` into columns `col..col + d` of `out`'s rows. SIMD
/// results are within `1e-5 * max |v|` of the reference.
///
/// # Panics
/// If a slice is shorter than the shapes say or the head's columns exceed `stride`.
pub fn attention(head: &AttentionHead, out: &mut [f32]) {
    assert!(
        head.fits(out.len()),
        "attention: slices shorter than the shapes"
    );
    #[cfg(all(
        any(feature = "simd-avx2", feature = "simd-avx512"),
        target_arch = "x86_64"
    ))]
    if avx2_vmath::available() {
        return avx2_attention::attention(head, out);
    }
    attention::attention(head, out)
}

/// `tanh` in place.
pub fn tanh(x: &mut [f32]) {
    for v in x {
        *v = libm::tanhf(*v);
    }
}
