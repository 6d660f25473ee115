//! Arm DSP-extension kernel (Cortex-M4/M7 and any ARMv6+/v7 core with the DSP instructions):
//! int8 through `SXTB16` (two bytes of a word to two halfwords) and `SMLAD` (two 16x16
//! multiply-accumulates), which `core::arch::arm` does not offer on stable, hence `asm!`. A
//! quad of 4 bytes is one word, so one quad costs 4 unpacks and 2 `SMLAD`s per row and output.
#![allow(unsafe_code)]
// Register tiles are indexed by lane and row; index loops read clearer than zipped iterators.
#![allow(clippy::needless_range_loop)]

use super::drive::{int_linear, IntTile, MR, NR_MAX};
use super::quant::QuantizedRows;
use core::arch::asm;

/// Bytes 0 and 2 of `x`, sign-extended to halfwords.
#[inline(always)]
fn sxtb16(x: u32) -> u32 {
    let r;
    // SAFETY: a register-only instruction of the DSP extension, which `simd-dsp` promises.
    unsafe {
        asm!("sxtb16 {r}, {x}", r = lateout(reg) r, x = in(reg) x, options(pure, nomem, nostack))
    };
    r
}

/// Bytes 1 and 3 of `x`, sign-extended to halfwords.
#[inline(always)]
fn sxtb16_ror8(x: u32) -> u32 {
    let r;
    // SAFETY: as `sxtb16`.
    unsafe {
        asm!("sxtb16 {r}, {x}, ror #8", r = lateout(reg) r, x = in(reg) x, options(pure, nomem, nostack))
    };
    r
}

/// `acc + a.lo * b.lo + a.hi * b.hi` on signed halfwords.
#[inline(always)]
fn smlad(a: u32, b: u32, acc: i32) -> i32 {
    let r;
    // SAFETY: as `sxtb16`; SMLAD only sets the Q flag on overflow, which nothing reads.
    unsafe {
        asm!("smlad {r}, {a}, {b}, {acc}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b,
             acc = in(reg) acc, options(pure, nomem, nostack))
    };
    r
}

struct Dsp;

impl IntTile for Dsp {
    const NR: usize = 2;

    unsafe fn tile(
        panel: &[i8],
        rows: usize,
        w: &[*const i8; NR_MAX],
        quads: usize,
        tail: Option<&[[i8; 4]; NR_MAX]>,
    ) -> [[i32; MR]; NR_MAX] {
        let word = |j: usize, kq: usize| -> u32 {
            if kq < quads {
                (w[j].add(kq * 4) as *const u32).read_unaligned()
            } else {
                tail.map_or(0, |t| u32::from_le_bytes(t[j].map(|b| b as u8)))
            }
        };
        let total = quads + usize::from(tail.is_some());
        let mut t = [[0i32; MR]; NR_MAX];
        for r in 0..rows {
            let (mut a0, mut a1) = (0i32, 0i32);
            for kq in 0..total {
                let x = (panel.as_ptr().add((kq * MR + r) * 4) as *const u32).read_unaligned();
                let (xe, xo) = (sxtb16(x), sxtb16_ror8(x));
                let (w0, w1) = (word(0, kq), word(1, kq));
                a0 = smlad(xe, sxtb16(w0), smlad(xo, sxtb16_ror8(w0), a0));
                a1 = smlad(xe, sxtb16(w1), smlad(xo, sxtb16_ror8(w1), a1));
            }
            t[0][r] = a0;
            t[1][r] = a1;
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
    // SAFETY: the `simd-dsp` feature promises the DSP extension; `super::linear_i8` checked `q`.
    unsafe { int_linear::<Dsp>(x, q, sw, stride, n, bias, out, accumulate) }
}
