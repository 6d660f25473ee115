//! Property tests: every dispatched kernel against the scalar reference on random shapes,
//! including sizes that are not multiples of any vector width.

extern crate std;
use super::*;
use crate::Weights;
use std::vec;
use std::vec::Vec;

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
    fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.unit() * scale).collect()
    }
    fn i8s(&mut self, n: usize) -> Vec<i8> {
        (0..n)
            .map(|_| (self.below(255) as i32 - 127) as i8)
            .collect()
    }
}

/// Property-test cases: few under Miri, which interprets every instruction (CI runs it on the
/// scalar and the AVX2/AVX-512 kernels; the point there is memory safety, not coverage).
fn cases(n: usize) -> usize {
    if cfg!(miri) {
        (n / 100).max(2)
    } else {
        n
    }
}

/// Random shape: mostly small and odd, sometimes past the float kernel's K block (256).
fn shape(rng: &mut Rng) -> (usize, usize, usize, usize) {
    let (max_rows, max_k_past_block) = if cfg!(miri) { (6, 20) } else { (40, 300) };
    let rows = 1 + rng.below(max_rows);
    let k = if rng.below(4) == 0 {
        250 + rng.below(max_k_past_block)
    } else {
        1 + rng.below(70)
    };
    // Sometimes several of the AVX-512 kernels' 32-output panels.
    let n_max = if rng.below(4) == 0 { 80 } else { 20 };
    let n = 1 + rng.below(n_max);
    let stride = k + rng.below(3);
    (rows, k, n, stride)
}

/// The backends this CPU runs, the dispatched one first: the linear layers are checked on each
/// (an AVX-512 machine would otherwise never run the AVX2 kernels).
fn backends() -> Vec<Backend> {
    #[allow(unused_mut)]
    let mut all = vec![backend()];
    #[cfg(all(feature = "simd-avx2", target_arch = "x86_64"))]
    if avx2::available() && !all.contains(&Backend::Avx2) {
        all.push(Backend::Avx2);
    }
    all
}

#[test]
fn quantize_rounds_ties_to_even_and_clamps() {
    // max|x| = 2 so the multiplier is 63.5: 63.5 -> 64 and 15.875 -> 16; -0.5 * 63.5 = -31.75.
    let x = [1.0f32, -0.5, 0.25, 2.0, 0.0, f32::NAN, 0.0, 0.0];
    let mut data = vec![0i8; quant_bytes(2, 4)];
    let mut scales = [0f32; 2];
    let q = quantize_rows(&x, 2, 4, &mut data, &mut scales);
    let row0: Vec<i8> = (0..4).map(|k| q.get(0, k)).collect();
    assert_eq!(row0, [64, -32, 16, 127]);
    assert_eq!(q.scale(0, 0), 2.0 / 127.0);
    // A row whose only non-zero is NaN has max 0: scale 0, and NaN * 0 clamps to -127.
    let row1: Vec<i8> = (0..4).map(|k| q.get(1, k)).collect();
    assert_eq!(row1, [0, -127, 0, 0]);
    assert_eq!(q.scale(1, 0), 0.0);
}

#[test]
fn each_group_of_columns_has_its_own_scale() {
    // An outlier in group 0 must not coarsen group 1.
    let mut x = vec![0.01f32; 2 * GROUP];
    x[3] = 100.0;
    let mut data = vec![0i8; quant_bytes(1, x.len())];
    let mut scales = [0f32; 2];
    let q = quantize_rows(&x, 1, x.len(), &mut data, &mut scales);
    assert_eq!(
        (q.scale(0, 0), q.scale(0, 1)),
        (100.0 / 127.0, 0.01 / 127.0)
    );
    assert_eq!((q.get(0, 0), q.get(0, 3), q.get(0, GROUP)), (0, 127, 127));
}

#[test]
fn absurd_shapes_get_no_quantised_rows() {
    // Sizes that overflow `usize` must not wrap to a small length the buffers happen to cover:
    // the SIMD kernels would then walk panels past the end of `data`.
    let data = [0i8; 64];
    let scales = [0f32; 8];
    assert_eq!(quant_bytes(usize::MAX / 8, 64), usize::MAX);
    assert!(QuantizedRows::from_parts(&data, &scales, usize::MAX / 8, 64).is_none());
    assert!(QuantizedRows::from_parts(&data, &scales, 1, usize::MAX - 3).is_none());
    assert!(QuantizedRows::from_parts(&data, &scales, 1, 4).is_some());
}

#[test]
fn quantize_layout_is_panels_of_quads() {
    let (rows, cols) = (17, 6);
    let x: Vec<f32> = (0..rows * cols).map(|i| (i % 7) as f32 - 3.0).collect();
    let mut data = vec![1i8; quant_bytes(rows, cols)];
    let mut scales = vec![0f32; rows * groups(cols)];
    let q = quantize_rows(&x, rows, cols, &mut data, &mut scales);
    assert_eq!(q.quads(), 2);
    for s in 0..rows {
        for k in 0..cols {
            let want = quant::quantize_one(x[s * cols + k] * (127.0 / 3.0));
            let at = ((s / 16 * 2 + k / 4) * 16 + s % 16) * 4 + k % 4;
            assert_eq!(data[at], want, "({s}, {k})");
        }
    }
    // Padding (columns 6..8 of every row, rows 17..32) is zero.
    let nonzero_pad = (0..32)
        .flat_map(|s| (0..8).map(move |k| (s, k)))
        .filter(|&(s, k)| s >= rows || k >= cols)
        .filter(|&(s, k)| data[((s / 16 * 2 + k / 4) * 16 + s % 16) * 4 + k % 4] != 0)
        .count();
    assert_eq!(nonzero_pad, 0);
}

/// Quantisation on the compiled SIMD path against the scalar definition, bit for bit, on rows
/// with zeros, NaN, infinities and widths that leave partial groups, octets and quads.
#[test]
#[cfg(all(
    feature = "std",
    any(feature = "simd-avx2", feature = "simd-avx512"),
    target_arch = "x86_64"
))]
fn simd_quantize_is_bit_exact_with_scalar() {
    type Quantize = fn(&[f32], usize, &mut [i8], &mut [f32]);
    #[allow(unused_mut)]
    let mut simd: Vec<(&str, Quantize)> = Vec::new();
    #[cfg(feature = "simd-avx2")]
    if avx2::available() {
        simd.push(("avx2", avx2::quantize));
    }
    #[cfg(feature = "simd-avx512")]
    if avx512::available() {
        simd.push(("avx512", avx512::quantize));
    }
    let mut rng = Rng(0x5EED);
    for case in 0..cases(200) {
        let (rows, cols) = (1 + rng.below(20), 1 + rng.below(300));
        let mut x = rng.vec(rows * cols, 4.0);
        for v in x.iter_mut() {
            *v = match rng.below(50) {
                0 => f32::NAN,
                1 => f32::INFINITY,
                2 => -0.0,
                3 => 0.0,
                _ => *v,
            };
        }
        if case % 5 == 0 {
            x[..cols.min(GROUP)].fill(0.0);
        }
        let n = quant_bytes(rows, cols);
        let (mut d1, mut d2) = (vec![0i8; n], vec![0i8; n]);
        let (mut s1, mut s2) = (
            vec![0f32; rows * groups(cols)],
            vec![0f32; rows * groups(cols)],
        );
        quant::quantize_scalar(&x, cols, &mut d2, &mut s2);
        for &(name, quantize) in &simd {
            d1.fill(0);
            quantize(&x, cols, &mut d1, &mut s1);
            assert_eq!(d1, d2, "{name} case {case}: {rows} x {cols}");
            let same = s1.iter().zip(&s2).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{name} case {case}: scales of {rows} x {cols}");
        }
    }
}

/// Shapes past the SIMD kernels' blocks: more rows than one row block (240), several K blocks
/// and 16/32-output panels with a narrow last one, a strided weight view, accumulation.
#[test]
fn linear_kernels_handle_large_blocks() {
    let mut rng = Rng(0xB10C);
    // Under Miri, the same block boundaries with the other dimensions small.
    let shapes: &[(usize, usize, usize)] = if cfg!(miri) {
        &[(251, 3, 17), (3, 520, 33)]
    } else {
        &[(251, 70, 37), (19, 700, 33), (245, 384, 16)]
    };
    for &(rows, k, n) in shapes {
        let stride = k + 3;
        let x = rng.vec(rows * k, 2.0);
        let bias = rng.vec(n, 1.0);
        let init = rng.vec(rows * n, 1.0);
        let q = rng.i8s(n * stride);
        let sw = rng.vec(n, 0.05);
        let mut data = vec![0i8; quant_bytes(rows, k)];
        let mut scales = vec![0f32; rows * groups(k)];
        let xq = quantize_rows(&x, rows, k, &mut data, &mut scales);
        let mut want = init.clone();
        reference::linear_i8(&xq, &q, &sw, stride, n, Some(&bias), &mut want, true);
        for b in backends() {
            let mut got = init.clone();
            linear_i8_on(b, &xq, &q, &sw, stride, n, Some(&bias), &mut got, true);
            let same = got
                .iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{b:?} {rows}x{k}x{n}");
        }
        let wv = rng.vec(n * stride, 1.0);
        let w = Matrix {
            w: Weights::F32(&wv),
            rows: n,
            cols: k,
            stride,
        };
        let mut want = init.clone();
        reference::linear(&x, rows, &w, Some(&bias), &mut want, true);
        for b in backends() {
            let mut got = init.clone();
            linear_on(b, &x, rows, &w, Some(&bias), &mut got, true);
            for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                let (s, o) = (i / n, i % n);
                let mag: f32 = (0..k)
                    .map(|c| (x[s * k + c] * wv[o * stride + c]).abs())
                    .sum::<f32>()
                    + bias[o].abs()
                    + init[i].abs();
                assert!(
                    (g - e).abs() <= 1e-5 * mag,
                    "{b:?} {rows}x{k}x{n} at ({s}, {o})"
                );
            }
        }
    }
}

#[test]
fn linear_i8_is_bit_exact_with_reference() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for case in 0..cases(300) {
        let (rows, k, n, stride) = shape(&mut rng);
        let x = rng.vec(rows * k, 3.0);
        let q = rng.i8s(n * stride);
        let sw = rng.vec(n, 0.05);
        let bias = (case % 2 == 0).then(|| rng.vec(n, 1.0));
        let accumulate = case % 3 == 0;
        let init = rng.vec(rows * n, 1.0);
        let mut data = vec![0i8; quant_bytes(rows, k)];
        let mut scales = vec![0f32; rows * groups(k)];
        let xq = quantize_rows(&x, rows, k, &mut data, &mut scales);
        let mut want = init.clone();
        reference::linear_i8(
            &xq,
            &q,
            &sw,
            stride,
            n,
            bias.as_deref(),
            &mut want,
            accumulate,
        );
        for b in backends() {
            let mut got = init.clone();
            let bias = bias.as_deref();
            linear_i8_on(b, &xq, &q, &sw, stride, n, bias, &mut got, accumulate);
            let same = got
                .iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(
                same,
                "{b:?} case {case}: rows {rows} k {k} n {n} stride {stride}"
            );
        }
    }
}

#[test]
fn reference_int8_matches_dequantised_product() {
    // The integer path computes (sum xq * wq) * sx * sw: compare with the same sum in f64.
    let mut rng = Rng(7);
    let (rows, k, n) = (5, 137, 9);
    let x = rng.vec(rows * k, 2.0);
    let q = rng.i8s(n * k);
    let sw = rng.vec(n, 0.1);
    let mut data = vec![0i8; quant_bytes(rows, k)];
    let mut scales = vec![0f32; rows * groups(k)];
    let xq = quantize_rows(&x, rows, k, &mut data, &mut scales);
    let mut out = vec![0f32; rows * n];
    reference::linear_i8(&xq, &q, &sw, k, n, None, &mut out, false);
    for s in 0..rows {
        for o in 0..n {
            let exact: f64 = (0..k)
                .map(|i| xq.get(s, i) as f64 * xq.scale(s, i / GROUP) as f64 * q[o * k + i] as f64)
                .sum::<f64>()
                * sw[o] as f64;
            assert!((out[s * n + o] as f64 - exact).abs() <= 1e-6 * exact.abs().max(1e-3));
        }
    }
}

/// `|got - want| <= 1e-5 * sum_k |x_k w_k|` (plus the bias and accumulator magnitudes): the
/// float tolerance of `docs/DESIGN.md`, relative to the magnitude the sum was built from.
fn check_float(wf: impl Fn(usize, usize) -> f32, dtype: fn(&[f32]) -> Matrix<'static>) {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    for case in 0..cases(200) {
        let (rows, k, n, stride) = shape(&mut rng);
        let x = rng.vec(rows * k, 2.0);
        let wv: Vec<f32> = (0..n * stride).map(|i| wf(i, case)).collect();
        let w = dtype(&wv);
        let w = Matrix {
            rows: n,
            cols: k,
            stride,
            ..w
        };
        let bias = (case % 2 == 0).then(|| rng.vec(n, 1.0));
        let accumulate = case % 3 == 0;
        let init = rng.vec(rows * n, 1.0);
        let mut want = init.clone();
        reference::linear(&x, rows, &w, bias.as_deref(), &mut want, accumulate);
        let mut wide = vec![0f32; k];
        for b in backends() {
            let mut got = init.clone();
            linear_on(b, &x, rows, &w, bias.as_deref(), &mut got, accumulate);
            for s in 0..rows {
                for o in 0..n {
                    w.row_into(o, &mut wide);
                    let mag: f32 = (0..k).map(|i| (x[s * k + i] * wide[i]).abs()).sum::<f32>()
                        + bias.as_ref().map_or(0.0, |b| b[o].abs())
                        + if accumulate {
                            init[s * n + o].abs()
                        } else {
                            0.0
                        };
                    let (g, e) = (got[s * n + o], want[s * n + o]);
                    assert!(
                        (g - e).abs() <= 1e-5 * mag + f32::MIN_POSITIVE,
                        "{b:?} case {case} ({rows}x{k} * {n}, stride {stride}) at ({s}, {o}): \
                         {g} vs {e}"
                    );
                }
            }
        }
    }
}

fn leak<T>(v: Vec<T>) -> &'static [T] {
    v.leak()
}

#[test]
fn linear_f32_matches_reference() {
    let mut rng = Rng(99);
    let pool: Vec<f32> = rng.vec(1 << 16, 1.0);
    check_float(
        |i, c| pool[(i * 31 + c * 977) % pool.len()],
        |v| Matrix {
            w: Weights::F32(leak(v.to_vec())),
            rows: 0,
            cols: 0,
            stride: 0,
        },
    );
}

#[test]
fn linear_f16_matches_reference() {
    let mut rng = Rng(1234);
    let pool: Vec<f32> = rng.vec(1 << 16, 1.0);
    check_float(
        |i, c| pool[(i * 17 + c * 131) % pool.len()],
        |v| Matrix {
            w: Weights::F16(leak(v.iter().map(|&f| half::f16::from_f32(f)).collect())),
            rows: 0,
            cols: 0,
            stride: 0,
        },
    );
}

/// The property tests above only mean something if the SIMD path actually ran.
#[test]
#[cfg(all(feature = "std", target_arch = "x86_64", feature = "simd-avx2"))]
fn avx2_backend_is_selected_when_the_cpu_has_it() {
    if std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("fma")
        && std::is_x86_feature_detected!("f16c")
    {
        assert_ne!(backend(), Backend::Scalar);
    }
}

#[test]
#[cfg(any(
    all(feature = "simd-dsp", target_arch = "arm"),
    all(feature = "simd-helium", target_arch = "arm"),
    all(feature = "simd-neon", target_arch = "aarch64"),
    all(
        feature = "simd-wasm",
        target_arch = "wasm32",
        target_feature = "simd128"
    )
))]
fn simd_backend_is_selected() {
    assert_ne!(backend(), Backend::Scalar);
}
