//! Arm DSP-extension int8 kernel (Cortex-M4/M7/M33/M55 and any Armv7E-M/v8-M core with the DSP
//! instructions), through `SXTB16` (bytes 0 and 2 of a word to two halfwords) and `SMLAD` (two
//! 16x16 multiply-accumulates), which `core::arch::arm` does not offer on stable, hence `asm!`.
//!
//! Blocking: [`R`] activation rows against one weight row at a time, by the driver shared with
//! the Helium kernel ([`super::mcu_blocked`]); this kernel supplies the row buffer and one scale
//! group's `asm!`. The rows are sign-extended once per block into halfword pairs on the stack,
//! laid out as `SXTB16` unpacks a weight word: `SXTB16(w) = (w0, w2)` and
//! `SXTB16(w ROR 8) = (w1, w3)`, so each quad of a row is stored as the two words
//! `(x0, x2), (x1, x3)`. Per weight quad that leaves 1 `LDR` and 2 `SXTB16`, shared by the
//! [`R`] rows, and per row 1 `LDRD` (both pairs) and 2 `SMLAD`: 15 instructions for 16 MACs.
//! One scale group of [`GROUP`] columns is one straight-line `asm!` block.
//!
//! Stack: [`KC`] columns of [`R`] rows as halfwords (2 KiB), besides the driver's.
#![allow(unsafe_code)]

use super::mcu_blocked::{Kernel, KC, R};
use super::quant::{QuantizedRows, GROUP, PANEL_ROWS};
use super::row_at;
use core::arch::asm;

/// Quads per scale group.
const GQ: usize = GROUP / 4;
/// Words of the extended buffer per group: two per row and quad.
const GROUP_WORDS: usize = GQ * R * 2;

/// The DSP-extension kernel, for [`super::mcu_blocked::linear_i8`].
pub(super) struct Dsp;

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

/// One quad: load weight word `$w` (byte offset from the already advanced weight pointer),
/// unpack it, and accumulate each row's two pairs at byte offsets `$x0..$x3` from the already
/// advanced activation pointer. `$first` zeroes the accumulators (`SMUAD`) instead.
macro_rules! quad {
    (first) => {
        concat!(
            "ldr {w}, [{wp}], #32\n",
            "sxtb16 {we}, {w}\n",
            "sxtb16 {w}, {w}, ror #8\n",
            "ldrd {xa}, {xb}, [{xp}], #256\n",
            "smuad {a0}, {xa}, {we}\n",
            "smlad {a0}, {xb}, {w}, {a0}\n",
            "ldrd {xa}, {xb}, [{xp}, #-248]\n",
            "smuad {a1}, {xa}, {we}\n",
            "smlad {a1}, {xb}, {w}, {a1}\n",
            "ldrd {xa}, {xb}, [{xp}, #-240]\n",
            "smuad {a2}, {xa}, {we}\n",
            "smlad {a2}, {xb}, {w}, {a2}\n",
            "ldrd {xa}, {xb}, [{xp}, #-232]\n",
            "smuad {a3}, {xa}, {we}\n",
            "smlad {a3}, {xb}, {w}, {a3}\n",
        )
    };
    ($w:literal, $x0:literal, $x1:literal, $x2:literal, $x3:literal) => {
        concat!(
            "ldr {w}, [{wp}, #",
            $w,
            "]\n",
            "sxtb16 {we}, {w}\n",
            "sxtb16 {w}, {w}, ror #8\n",
            "ldrd {xa}, {xb}, [{xp}, #",
            $x0,
            "]\n",
            "smlad {a0}, {xa}, {we}, {a0}\n",
            "smlad {a0}, {xb}, {w}, {a0}\n",
            "ldrd {xa}, {xb}, [{xp}, #",
            $x1,
            "]\n",
            "smlad {a1}, {xa}, {we}, {a1}\n",
            "smlad {a1}, {xb}, {w}, {a1}\n",
            "ldrd {xa}, {xb}, [{xp}, #",
            $x2,
            "]\n",
            "smlad {a2}, {xa}, {we}, {a2}\n",
            "smlad {a2}, {xb}, {w}, {a2}\n",
            "ldrd {xa}, {xb}, [{xp}, #",
            $x3,
            "]\n",
            "smlad {a3}, {xa}, {we}, {a3}\n",
            "smlad {a3}, {xb}, {w}, {a3}\n",
        )
    };
}

// SAFETY: `simd-dsp`, which compiles this module, promises the DSP extension.
unsafe impl Kernel for Dsp {
    /// Halfword pairs.
    type Elem = u32;
    /// Quad-major, then row, then pair: a group is [`GROUP_WORDS`] consecutive words.
    type Rows = [u32; KC / 4 * R * 2];
    const ZEROED: Self::Rows = [0; KC / 4 * R * 2];

    /// Sign-extends the rows' quads into halfword pairs.
    fn extend(x: &QuantizedRows, r0: usize, k0: usize, kc: usize, xb: &mut Self::Rows) {
        let panel = x.panel(r0 / PANEL_ROWS);
        let (q0, nq, ng) = (k0 / 4, kc.div_ceil(4), kc.div_ceil(GROUP));
        let base = r0 % PANEL_ROWS;
        for (kq, pairs) in xb.chunks_exact_mut(R * 2).take(nq).enumerate() {
            // Always inside the panel (the caller checked the shapes); `row_at` says so without
            // a panic path.
            let Some(words) = row_at(panel, ((q0 + kq) * PANEL_ROWS + base) * 4, R * 4) else {
                break;
            };
            for (pair, b) in pairs.chunks_exact_mut(2).zip(words.chunks_exact(4)) {
                let w = u32::from_le_bytes([b[0] as u8, b[1] as u8, b[2] as u8, b[3] as u8]);
                pair[0] = sxtb16(w);
                pair[1] = sxtb16_ror8(w);
            }
        }
        if let Some(pad) = xb.get_mut(nq * R * 2..ng * GROUP_WORDS) {
            pad.fill(0);
        }
    }

    /// [`GQ`] weight quads at `*wp` against the [`R`] extended rows at `*xp` ([`GROUP_WORDS`]
    /// words); `*xp` is word-aligned, being inside a `[u32]`, and any alignment of `*wp` does:
    /// Armv7-M `LDR` allows unaligned words.
    #[inline(always)]
    unsafe fn group(xp: &mut *const u32, wp: &mut *const i8) -> [i32; R] {
        let (a0, a1, a2, a3): (i32, i32, i32, i32);
        // The first quad post-increments both pointers (`#32`: GROUP bytes, `#256`:
        // GROUP_WORDS words), so the others use negative offsets: no separate pointer updates.
        const _: () = assert!(GROUP == 32 && GROUP_WORDS * 4 == 256);
        // R = 4 accumulators, the two unpacked weight halves, an `LDRD` pair and the two
        // pointers fit the 12 registers `asm!` can allocate on Thumb.
        // SAFETY: reads inside the ranges the caller vouches for; SMLAD/SMUAD only set the Q
        // flag.
        unsafe {
            asm!(
                quad!(first),
                quad!("-28", "-224", "-216", "-208", "-200"),
                quad!("-24", "-192", "-184", "-176", "-168"),
                quad!("-20", "-160", "-152", "-144", "-136"),
                quad!("-16", "-128", "-120", "-112", "-104"),
                quad!("-12", "-96", "-88", "-80", "-72"),
                quad!("-8", "-64", "-56", "-48", "-40"),
                quad!("-4", "-32", "-24", "-16", "-8"),
                wp = inout(reg) *wp,
                xp = inout(reg) *xp,
                w = out(reg) _,
                we = out(reg) _,
                xa = out(reg) _,
                xb = out(reg) _,
                a0 = out(reg) a0,
                a1 = out(reg) a1,
                a2 = out(reg) a2,
                a3 = out(reg) a3,
                options(pure, readonly, nostack),
            )
        };
        [a0, a1, a2, a3]
    }
}
