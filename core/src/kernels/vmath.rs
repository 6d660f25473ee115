//! Scalar definitions of the element-wise functions: `exp` (softmax), `erf` (GELU) and
//! LayerNorm. They are polynomials rather than `libm` calls so that a SIMD backend can evaluate
//! the very same approximation lane-wise (`avx2_vmath.rs`): every backend then agrees to a few
//! ulp, and the scalar targets (Cortex-M, riscv, wasm without simd128) get the cheaper
//! evaluation too.

/// `exp` is clamped to this range: below, `2^n` would be subnormal; above, it overflows.
pub(super) const EXP_LO: f32 = -87.336_55;
pub(super) const EXP_HI: f32 = 88.376_26;
pub(super) const LOG2E: f32 = core::f32::consts::LOG2_E;
/// `ln 2` split so that `n * LN2_HI` is exact for every `|n| <= 128` (Cody-Waite reduction).
pub(super) const LN2_HI: f32 = 0.693_359_4;
pub(super) const LN2_LO: f32 = -2.121_944_4e-4;
/// Cephes `expf` polynomial on `[-ln2/2, ln2/2]`, highest degree first (about 1 ulp).
pub(super) const EXP_P: [f32; 6] = [
    1.987_569_1e-4,
    1.398_2e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    0.166_666_65,
    0.5,
];
/// Adding then subtracting `1.5 * 2^23` rounds to the nearest integer (ties to even), as the
/// SIMD round instruction does, for `|x| < 2^22`.
pub(super) const ROUND: f32 = 12_582_912.0;

/// `erf` is evaluated on `[-4, 4]`, where it reaches +-1 to f32 precision.
pub(super) const ERF_CLAMP: f32 = 4.0;
/// `erf(x) = x P(x^2) / Q(x^2)`: the rational minimax approximation XLA and Eigen use for f32,
/// highest degree first. The approximation itself is within 6.5e-8 of the exact `erf`
/// (evaluated in f64, as the AVX2 path does); evaluated in f32, as the scalar path does, within
/// 4.5e-7 (near |x| = 3.6, the rounding of the two polynomials).
pub(super) const ERF_P: [f64; 7] = [
    -2.726_142_258_013_06e-10,
    2.770_681_424_959_02e-8,
    -2.101_024_020_825_08e-6,
    -5.692_506_394_623_46e-5,
    -7.349_906_303_268_55e-4,
    -2.954_599_808_540_25e-3,
    -1.609_603_332_624_15e-2,
];
pub(super) const ERF_Q: [f64; 5] = [
    -1.456_607_184_649_96e-5,
    -2.133_740_552_789_05e-4,
    -1.682_826_974_382_03e-3,
    -7.373_329_167_204_68e-3,
    -1.426_473_905_141_89e-2,
];

/// `e^x` within 2 ulp for `x` in `[EXP_LO, EXP_HI]`; clamped outside (so `-inf` gives
/// `1.2e-38`, which softmax treats as the 0 it stands for).
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(EXP_LO, EXP_HI);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = EXP_P[1..].iter().fold(EXP_P[0], |p, &c| p * r + c);
    let y = p * r * r + r + 1.0;
    y * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// `erf(x)`, absolute error below 5e-7.
pub fn erf(x: f32) -> f32 {
    let x = x.clamp(-ERF_CLAMP, ERF_CLAMP);
    let x2 = x * x;
    let p = ERF_P[1..]
        .iter()
        .fold(ERF_P[0] as f32, |p, &c| p * x2 + c as f32);
    let q = ERF_Q[1..]
        .iter()
        .fold(ERF_Q[0] as f32, |q, &c| q * x2 + c as f32);
    x * p / q
}

/// GELU, erf form, in place: `0.5 x (1 + erf(x / sqrt 2))`.
pub fn gelu(x: &mut [f32]) {
    for v in x {
        *v = 0.5 * *v * (1.0 + erf(*v * core::f32::consts::FRAC_1_SQRT_2));
    }
}

/// Eight partial sums `acc[i % 8]` of `f(x[i])`, reduced pairwise in a fixed order (as the
/// reference dot product), so an 8-lane SIMD sum reproduces it bit for bit.
fn lane_sum(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0f32; 8];
    let mut chunks = x.chunks_exact(8);
    for c in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += f(v);
        }
    }
    for (a, &v) in acc.iter_mut().zip(chunks.remainder()) {
        *a += f(v);
    }
    reduce8(acc)
}

/// The pairwise reduction of eight partial sums every lane-wise sum here uses.
pub(super) fn reduce8(a: [f32; 8]) -> f32 {
    ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]))
}

/// LayerNorm over one row in place, biased variance (as `torch.nn.LayerNorm`), two passes:
/// mean, then the mean squared deviation, each summed in eight lanes.
pub fn layer_norm(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let n = x.len() as f32;
    let mean = lane_sum(x, |v| v) / n;
    let var = lane_sum(x, |v| (v - mean) * (v - mean)) / n;
    let inv = 1.0 / libm::sqrtf(var + eps);
    for ((v, g), b) in x.iter_mut().zip(gamma).zip(beta) {
        *v = (*v - mean) * inv * g + b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Points per accuracy sweep; Miri interprets every one.
    const GRID: usize = if cfg!(miri) { 2_000 } else { 200_000 };

    /// `n` points spread over `[lo, hi]`, ends included.
    fn grid(lo: f32, hi: f32, n: usize) -> impl Iterator<Item = f32> {
        (0..=n).map(move |i| lo + (hi - lo) * i as f32 / n as f32)
    }

    #[test]
    fn exp_matches_libm() {
        for x in grid(-87.0, 88.0, GRID) {
            let (got, want) = (exp(x), libm::exp(x as f64));
            assert!(
                ((got as f64 - want) / want).abs() < 3e-7,
                "exp({x}) = {got}, want {want}"
            );
        }
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(f32::NEG_INFINITY) < 1.2e-38);
        assert!(exp(f32::MIN) < 1.2e-38);
    }

    #[test]
    fn erf_matches_libm() {
        let mut worst = 0f64;
        for x in grid(-6.0, 6.0, GRID) {
            worst = worst.max((erf(x) as f64 - libm::erf(x as f64)).abs());
        }
        assert!(worst < 5e-7, "max abs error {worst}");
        assert_eq!(erf(0.0), 0.0);
        assert_eq!(erf(-1e30), -erf(1e30));
    }

    #[test]
    fn layer_norm_matches_f64() {
        let mut x: [f32; 37] = core::array::from_fn(|i| (i as f32 * 0.37).sin() * 3.0 + 1.0);
        let g: [f32; 37] = core::array::from_fn(|i| 1.0 + i as f32 * 0.01);
        let b: [f32; 37] = core::array::from_fn(|i| i as f32 * -0.02);
        let want: [f64; 37] = {
            let n = x.len() as f64;
            let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
            let var = x
                .iter()
                .map(|&v| (v as f64 - mean) * (v as f64 - mean))
                .sum::<f64>()
                / n;
            core::array::from_fn(|i| {
                (x[i] as f64 - mean) / libm::sqrt(var + 1e-12) * g[i] as f64 + b[i] as f64
            })
        };
        layer_norm(&mut x, &g, &b, 1e-12);
        for (a, w) in x.iter().zip(want) {
            assert!((*a as f64 - w).abs() < 2e-6, "{a} vs {w}");
        }
    }
}

#[cfg(test)]
mod dispatch_tests {
    extern crate std;
    use std::vec::Vec;

    type Gelu = fn(&mut [f32]);

    /// The x86 GELUs this CPU runs, each with the bound on its `erf`'s absolute error: AVX2
    /// evaluates the rational in f64 (2e-7 after rounding to f32), AVX-512 in f32 with fused
    /// multiply-adds (3.8e-7).
    fn x86_gelus() -> Vec<(&'static str, Gelu, f64)> {
        #[allow(unused_mut)]
        let mut all: Vec<(&'static str, Gelu, f64)> = Vec::new();
        #[cfg(all(
            any(feature = "simd-avx2", feature = "simd-avx512"),
            target_arch = "x86_64"
        ))]
        if crate::kernels::avx2_vmath::available() {
            all.push(("avx2", crate::kernels::avx2_vmath::gelu, 2e-7));
        }
        #[cfg(all(feature = "simd-avx512", target_arch = "x86_64"))]
        if crate::kernels::avx512_vmath::available() {
            all.push(("avx512", crate::kernels::avx512_vmath::gelu, 3.8e-7));
        }
        all
    }

    /// GELU within `|x| / 2` times the `erf` bound, plus one f32 rounding of the exact value.
    #[test]
    fn dispatched_gelu_is_accurate() {
        for (name, gelu, erf_bound) in x86_gelus() {
            // Miri interprets every f64 erf of the check: there, every 100th point.
            let step = if cfg!(miri) { 100 } else { 1 };
            let x: Vec<f32> = (0..=240_000)
                .step_by(step)
                .map(|i| -12.0 + i as f32 * 1e-4)
                .collect();
            let mut g = x.clone();
            gelu(&mut g);
            for (x, g) in x.iter().zip(&g) {
                let x64 = *x as f64;
                let want = 0.5 * x64 * (1.0 + libm::erf(x64 * core::f64::consts::FRAC_1_SQRT_2));
                let tol = 0.5 * erf_bound * x64.abs() + 6e-8 * want.abs() + 1e-30;
                assert!(
                    (*g as f64 - want).abs() <= tol,
                    "{name}: gelu({x}) = {g}, want {want}"
                );
            }
        }
    }

    #[test]
    fn dispatched_gelu_and_layer_norm_match_scalar() {
        for n in [1usize, 7, 8, 37, 384, 1000] {
            let x: Vec<f32> = (0..n).map(|i| (i as f32 * 0.731).sin() * 6.0).collect();
            let (mut a, mut b) = (x.clone(), x.clone());
            super::gelu(&mut a);
            crate::kernels::gelu(&mut b);
            for ((a, b), x) in a.iter().zip(&b).zip(&x) {
                assert!(
                    (a - b).abs() <= 1e-6 * (1.0 + x.abs()),
                    "gelu({x}): {a} vs {b}"
                );
            }
            let g: Vec<f32> = (0..n).map(|i| 1.0 + i as f32 * 1e-3).collect();
            let bias: Vec<f32> = (0..n).map(|i| i as f32 * -1e-3).collect();
            let (mut a, mut b) = (x.clone(), x.clone());
            super::layer_norm(&mut a, &g, &bias, 1e-12);
            crate::kernels::layer_norm(&mut b, &g, &bias, 1e-12);
            assert_eq!(a, b, "layer_norm n={n}");
        }
    }
}
