//! WebAssembly simd128 kernels: f32 micro-tiles of 16 rows x 4 outputs (no FMA in simd128, so
//! multiply then add), and int8 through `i32x4.dot_i16x8_s` on sign-extended quads.
#![allow(unsafe_code)]
// Register tiles are indexed by lane and row; index loops read clearer than zipped iterators.
#![allow(clippy::needless_range_loop)]

use super::drive::{float_linear, int_linear, FloatTile, IntTile, KC, MR, NR_MAX};
use super::quant::QuantizedRows;
use super::FloatWeights;
use core::arch::wasm32::*;

struct Simd128;

impl FloatTile for Simd128 {
    const NR: usize = 4;

    unsafe fn tile(a: &[f32; KC * MR], w: &[*const f32; NR_MAX], kc: usize) -> [[f32; MR]; NR_MAX] {
        let mut acc = [[f32x4_splat(0.0); 4]; 4];
        for kk in 0..kc {
            let ap = a.as_ptr().add(kk * MR) as *const v128;
            let av = [
                v128_load(ap),
                v128_load(ap.add(1)),
                v128_load(ap.add(2)),
                v128_load(ap.add(3)),
            ];
            for j in 0..4 {
                let b = f32x4_splat(*w[j].add(kk));
                for h in 0..4 {
                    acc[j][h] = f32x4_add(acc[j][h], f32x4_mul(av[h], b));
                }
            }
        }
        let mut t = [[0f32; MR]; NR_MAX];
        for j in 0..4 {
            for h in 0..4 {
                v128_store(t[j].as_mut_ptr().add(4 * h) as *mut v128, acc[j][h]);
            }
        }
        t
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
    // SAFETY: simd128 is enabled at compile time (this module exists only then); `super::linear`
    // checked the slices.
    unsafe { float_linear::<Simd128>(x, rows, w, bias, out, accumulate) }
}

struct Simd128Int;

impl IntTile for Simd128Int {
    const NR: usize = 4;

    unsafe fn tile(
        panel: &[i8],
        _rows: usize,
        w: &[*const i8; NR_MAX],
        quads: usize,
        tail: Option<&[[i8; 4]; NR_MAX]>,
    ) -> [[i32; MR]; NR_MAX] {
        // A register of the panel is 4 rows x 4 bytes; widened, its low half is rows 0-1 and its
        // high half rows 2-3, and a dot with the widened weight quad (repeated twice) gives each
        // row's sum in two adjacent lanes, folded at the end.
        let mut lo = [[i32x4_splat(0); 4]; 4];
        let mut hi = [[i32x4_splat(0); 4]; 4];
        let mut step = |kq: usize, words: [i32; 4]| {
            let p = panel.as_ptr().add(kq * 64) as *const v128;
            let xv: [v128; 4] = core::array::from_fn(|h| v128_load(p.add(h)));
            for j in 0..4 {
                let wv = i16x8_extend_low_i8x16(i32x4_splat(words[j]));
                for h in 0..4 {
                    lo[j][h] =
                        i32x4_add(lo[j][h], i32x4_dot_i16x8(i16x8_extend_low_i8x16(xv[h]), wv));
                    hi[j][h] = i32x4_add(
                        hi[j][h],
                        i32x4_dot_i16x8(i16x8_extend_high_i8x16(xv[h]), wv),
                    );
                }
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
        let mut t = [[0i32; MR]; NR_MAX];
        for j in 0..4 {
            for h in 0..4 {
                let (l, u) = (lo[j][h], hi[j][h]);
                let even = i32x4_shuffle::<0, 2, 4, 6>(l, u);
                let odd = i32x4_shuffle::<1, 3, 5, 7>(l, u);
                v128_store(
                    t[j].as_mut_ptr().add(4 * h) as *mut v128,
                    i32x4_add(even, odd),
                );
            }
        }
        t
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
    // SAFETY: simd128 is enabled at compile time; `super::linear_i8` checked `q`.
    unsafe { int_linear::<Simd128Int>(x, q, sw, stride, n, bias, out, accumulate) }
}
