//! aarch64 NEON kernels: f32 FMA micro-tiles of 16 rows x 6 outputs, and int8 through `sdot`
//! (the dotprod extension, not yet a stable intrinsic, hence `asm!`), 16 rows x 4 outputs.
#![allow(unsafe_code)]
// Register tiles are indexed by lane and row; index loops read clearer than zipped iterators.
#![allow(clippy::needless_range_loop)]

use super::drive::{float_linear, int_linear, FloatTile, IntTile, KC, MR, NR_MAX};
use super::quant::QuantizedRows;
use super::FloatWeights;
use core::arch::aarch64::*;

struct Neon;

impl FloatTile for Neon {
    const NR: usize = 6;

    unsafe fn tile(a: &[f32; KC * MR], w: &[*const f32; NR_MAX], kc: usize) -> [[f32; MR]; NR_MAX] {
        let mut acc = [[vdupq_n_f32(0.0); 4]; 6];
        for kk in 0..kc {
            let ap = a.as_ptr().add(kk * MR);
            let av = [
                vld1q_f32(ap),
                vld1q_f32(ap.add(4)),
                vld1q_f32(ap.add(8)),
                vld1q_f32(ap.add(12)),
            ];
            for j in 0..6 {
                let b = vdupq_n_f32(*w[j].add(kk));
                for h in 0..4 {
                    acc[j][h] = vfmaq_f32(acc[j][h], av[h], b);
                }
            }
        }
        let mut t = [[0f32; MR]; NR_MAX];
        for j in 0..6 {
            for h in 0..4 {
                vst1q_f32(t[j].as_mut_ptr().add(4 * h), acc[j][h]);
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
    // SAFETY: NEON is part of the aarch64 base ISA; `super::linear` checked the slices.
    unsafe { float_linear::<Neon>(x, rows, w, bias, out, accumulate) }
}

/// `acc += 4-byte dot products of a and b, lane by lane`.
#[inline(always)]
unsafe fn sdot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    core::arch::asm!(
        ".arch_extension dotprod",
        "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
        acc = inout(vreg) acc,
        a = in(vreg) a,
        b = in(vreg) b,
        options(pure, nomem, nostack),
    );
    acc
}

struct NeonDot;

impl IntTile for NeonDot {
    const NR: usize = 4;

    unsafe fn tile(
        panel: &[i8],
        _rows: usize,
        w: &[*const i8; NR_MAX],
        quads: usize,
        tail: Option<&[[i8; 4]; NR_MAX]>,
    ) -> [[i32; MR]; NR_MAX] {
        let mut acc = [[vdupq_n_s32(0); 4]; 4];
        let step = |acc: &mut [[int32x4_t; 4]; 4], kq: usize, words: [i32; 4]| {
            let p = panel.as_ptr().add(kq * 64);
            let xv = [
                vld1q_s8(p),
                vld1q_s8(p.add(16)),
                vld1q_s8(p.add(32)),
                vld1q_s8(p.add(48)),
            ];
            for j in 0..4 {
                let wv = vreinterpretq_s8_s32(vdupq_n_s32(words[j]));
                for h in 0..4 {
                    acc[j][h] = sdot(acc[j][h], xv[h], wv);
                }
            }
        };
        for kq in 0..quads {
            let words = core::array::from_fn(|j| (w[j].add(kq * 4) as *const i32).read_unaligned());
            step(&mut acc, kq, words);
        }
        if let Some(t) = tail {
            step(
                &mut acc,
                quads,
                core::array::from_fn(|j| i32::from_le_bytes(t[j].map(|b| b as u8))),
            );
        }
        let mut t = [[0i32; MR]; NR_MAX];
        for j in 0..4 {
            for h in 0..4 {
                vst1q_s32(t[j].as_mut_ptr().add(4 * h), acc[j][h]);
            }
        }
        t
    }
}

fn has_dotprod() -> bool {
    #[cfg(feature = "std")]
    {
        std::arch::is_aarch64_feature_detected!("dotprod")
    }
    #[cfg(not(feature = "std"))]
    {
        cfg!(target_feature = "dotprod")
    }
}

/// Int8 linear layer; see [`super::linear_i8`]. Without dotprod, the reference.
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
    if has_dotprod() {
        // SAFETY: dotprod is present; `super::linear_i8` checked `q` against the shapes.
        unsafe { int_linear::<NeonDot>(x, q, sw, stride, n, bias, out, accumulate) }
    } else {
        super::reference::linear_i8(x, q, sw, stride, n, bias, out, accumulate)
    }
}
