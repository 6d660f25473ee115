//! Compute kernels over flat slices.
//!
//! [`reference`] holds the scalar definition of every kernel. The public functions here dispatch
//! to the best SIMD backend compiled in (cargo features `simd-avx2`, `simd-avx512`, `simd-neon`,
//! `simd-wasm`, `simd-dsp`, `simd-helium`) that the CPU supports, and fall back to the reference
//! otherwise. The int8 kernels are bit-exact with the reference on every backend; float kernels
//! agree within the tolerance `docs/DESIGN.md` ("Quantization") states.

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
#[cfg(all(feature = "simd-avx512", target_arch = "x86_64"))]
mod avx512_attention;
#[cfg(all(feature = "simd-avx512", target_arch = "x86_64"))]
mod avx512_vmath;
#[cfg(any(
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
#[cfg(all(feature = "simd-helium", target_arch = "arm"))]
mod helium;
#[cfg(all(
    any(feature = "simd-dsp", feature = "simd-helium"),
    target_arch = "arm"
))]
mod mcu_blocked;
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
    /// Cortex-M Helium (MVE; int8 through `VMLADAVA.S8`).
    Helium,
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
            Backend::Helium => "helium",
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
    #[cfg(all(feature = "simd-helium", target_arch = "arm"))]
    return Backend::Helium;
    #[cfg(all(feature = "simd-dsp", target_arch = "arm"))]
    return Backend::Dsp;
    Backend::Scalar
}

/// `len` elements of `s` from `start`, or `None` past its end. Kernels slice with these instead
/// of indexing: lengths come from shapes the optimiser cannot relate to the slices, so an
/// index would keep a panic path in every firmware build.
pub(crate) fn row_at<T>(s: &[T], start: usize, len: usize) -> Option<&[T]> {
    s.get(start..)?.get(..len)
}

/// Row `r` of a row-major matrix of `cols` columns, or `None` past the end of `s`.
pub(crate) fn row<T>(s: &[T], r: usize, cols: usize) -> Option<&[T]> {
    row_at(s, r.checked_mul(cols)?, cols)
}

/// [`row_at`], mutable.
pub(crate) fn row_at_mut<T>(s: &mut [T], start: usize, len: usize) -> Option<&mut [T]> {
    s.get_mut(start..)?.get_mut(..len)
}

/// [`row`], mutable.
pub(crate) fn row_mut<T>(s: &mut [T], r: usize, cols: usize) -> Option<&mut [T]> {
    row_at_mut(s, r.checked_mul(cols)?, cols)
}

/// The first `rows * cols` elements of `s`, or `None` if `s` is shorter.
fn prefix<T>(s: &[T], rows: usize, cols: usize) -> Option<&[T]> {
    s.get(..rows.checked_mul(cols)?)
}

/// [`prefix`], mutable.
fn prefix_mut<T>(s: &mut [T], rows: usize, cols: usize) -> Option<&mut [T]> {
    s.get_mut(..rows.checked_mul(cols)?)
}

/// `out[r][o] (+)= bias[o] + x[r] . w[o]` for `rows` input rows of `w.cols` features: a PyTorch
/// `Linear` on a batch of rows, `out` being `[rows, w.rows]` row-major. With `accumulate`, adds
/// to `out` instead of overwriting it. f32 and f16 weights take the SIMD path; int8 weights here
/// are dequantised on the fly (weight-only, f32 activations) by the reference: the quantised
/// path is [`linear_i8`].
///
/// A slice shorter than the shapes say is a caller bug: debug builds panic, release builds
/// write nothing (the firmware build keeps no panic path; docs/RELIABILITY.md).
pub fn linear(
    x: &[f32],
    rows: usize,
    w: &Matrix,
    bias: Option<&[f32]>,
    out: &mut [f32],
    accumulate: bool,
) {
    linear_on(backend(), x, rows, w, bias, out, accumulate)
}

/// [`linear`] on backend `b` (which the CPU must support), so tests can check every backend the
/// CPU has, not only the one dispatch picks.
// Without a float SIMD backend compiled in, every backend takes the reference.
#[allow(unused_variables)]
fn linear_on(
    b: Backend,
    x: &[f32],
    rows: usize,
    w: &Matrix,
    bias: Option<&[f32]>,
    out: &mut [f32],
    accumulate: bool,
) {
    let k = w.cols;
    let (Some(x), Some(out), Some(bias)) = (
        prefix(x, rows, k),
        prefix_mut(out, rows, w.rows),
        bias.map_or(Some(None), |b| b.get(..w.rows).map(Some)),
    ) else {
        debug_assert!(false, "linear: slices shorter than the shapes");
        return;
    };
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
        let used = (w.rows - 1)
            .checked_mul(w.stride)
            .and_then(|e| e.checked_add(k));
        let data = match (w.w, used) {
            (crate::Weights::F32(d), Some(u)) => d.get(..u).map(FloatData::F32),
            (crate::Weights::F16(d), Some(u)) => d.get(..u).map(FloatData::F16),
            _ => None,
        };
        if let Some(data) = data {
            let fw = FloatWeights {
                data,
                rows: w.rows,
                cols: k,
                stride: w.stride,
            };
            match b {
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

/// The int8 linear layer: `out[s][o] (+)= (sum over groups g of acc_g * sx[s][g]) * sw[o] +
/// bias[o]`, where `acc_g = sum_{k in g} xq[s][k] * q[o][k]` in exact int32 arithmetic, the
/// groups being [`GROUP`] columns wide and summed in order from 0.0, each operation rounded
/// to f32 on its own (no fused multiply-add). `q` holds `n` rows of
/// `x.cols()` int8 weights, row `o` starting at `o * stride`, with per-row scales `sw`; `out`
/// is `[x.rows(), n]` row-major. Bit-exact on every backend.
///
/// A slice shorter than the shapes say is a caller bug, as for [`linear`].
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
    linear_i8_on(backend(), x, q, sw, stride, n, bias, out, accumulate)
}

/// [`linear_i8`] on backend `b`, as [`linear_on`].
#[allow(clippy::too_many_arguments)]
fn linear_i8_on(
    b: Backend,
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
    let used = (n - 1).checked_mul(stride).and_then(|e| e.checked_add(k));
    let (Some(q), Some(sw), Some(out), Some(bias)) = (
        used.and_then(|u| q.get(..u)),
        sw.get(..n),
        prefix_mut(out, x.rows(), n),
        bias.map_or(Some(None), |b| b.get(..n).map(Some)),
    ) else {
        debug_assert!(false, "linear_i8: slices shorter than the shapes");
        return;
    };
    match b {
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
        Backend::Dsp => {
            mcu_blocked::linear_i8::<dsp::Dsp>(x, q, sw, stride, n, bias, out, accumulate)
        }
        #[cfg(all(feature = "simd-helium", target_arch = "arm"))]
        Backend::Helium => {
            mcu_blocked::linear_i8::<helium::Helium>(x, q, sw, stride, n, bias, out, accumulate)
        }
        _ => reference::linear_i8(x, q, sw, stride, n, bias, out, accumulate),
    }
}

/// LayerNorm over one row in place: biased variance, as `torch.nn.LayerNorm`
/// ([`vmath::layer_norm`]; the SIMD versions are bit-identical).
pub fn layer_norm(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    #[cfg(all(feature = "simd-avx512", target_arch = "x86_64"))]
    if avx512_vmath::available() {
        return avx512_vmath::layer_norm(x, gamma, beta, eps);
    }
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
    #[cfg(all(feature = "simd-avx512", target_arch = "x86_64"))]
    if avx512_vmath::available() {
        return avx512_vmath::gelu(x);
    }
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
/// Slices shorter than the shapes say, or head columns past `stride`, are a caller bug, as for
/// [`linear`].
pub fn attention(head: &AttentionHead, out: &mut [f32]) {
    if !head.fits(out.len()) {
        debug_assert!(false, "attention: slices shorter than the shapes");
        return;
    }
    #[cfg(all(feature = "simd-avx512", target_arch = "x86_64"))]
    if avx512_attention::available() {
        return avx512_attention::attention(head, out);
    }
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
