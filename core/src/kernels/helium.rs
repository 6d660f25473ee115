//! Arm Helium (M-profile Vector Extension, MVE) int8 kernel for the Cortex-M55 and any
//! Armv8.1-M core with integer MVE, through `VLDRB.U8` (16 bytes into a vector register) and
//! `VMLADAVA.S8` (the sum of 16 int8 products added to a general-purpose register), which
//! `core::arch::arm` does not offer on stable, hence `asm!`. The `simd-helium` feature promises
//! the instructions; it needs `-C target-cpu=cortex-m55` (or another MVE CPU) at build time,
//! without which the assembler rejects them (stable Rust never sets `target_feature = "mve"`,
//! so there is nothing to test with `cfg`).
//!
//! Blocking: [`R`] activation rows against one weight row at a time, by the driver shared with
//! the DSP kernel ([`super::mcu_blocked`]); this kernel supplies the row buffer and one scale
//! group's `asm!`. The rows are copied once per block out of the panel layout into a stack
//! buffer, group-major, then row, each row's [`GROUP`] columns contiguous (32 bytes: two vector
//! registers). Per group and output: 2 weight loads shared by the [`R`] rows, and per row 2
//! activation loads and 2 `VMLADAV(A)`: 18 instructions for 128 MACs, one straight-line `asm!`
//! block with no branch.
//!
//! Stack: [`KC`] columns of [`R`] rows (1 KiB), besides the driver's.
#![allow(unsafe_code)]

use super::mcu_blocked::{Kernel, KC, R};
use super::quant::{QuantizedRows, GROUP, PANEL_ROWS};
use super::{row_at, row_at_mut};
use core::arch::asm;

/// Quads per scale group.
const GQ: usize = GROUP / 4;
/// Bytes of the copied rows per group: [`GROUP`] per row.
const GROUP_BYTES: usize = GROUP * R;

/// The Helium kernel, for [`super::mcu_blocked::linear_i8`].
pub(super) struct Helium;

// SAFETY: `simd-helium`, which compiles this module, promises integer MVE.
unsafe impl Kernel for Helium {
    /// Bytes.
    type Elem = i8;
    /// Group-major, then row: a group is [`GROUP_BYTES`] consecutive bytes.
    type Rows = [i8; KC * R];
    const ZEROED: Self::Rows = [0; KC * R];

    /// Copies the rows' quads out of the panel.
    fn extend(x: &QuantizedRows, r0: usize, k0: usize, kc: usize, xb: &mut Self::Rows) {
        let panel = x.panel(r0 / PANEL_ROWS);
        let (q0, nq) = (k0 / 4, kc.div_ceil(4));
        let base = r0 % PANEL_ROWS;
        for kq in 0..nq {
            // Always inside the panel (the caller checked the shapes); `row_at` says so without
            // a panic path.
            let Some(words) = row_at(panel, ((q0 + kq) * PANEL_ROWS + base) * 4, R * 4) else {
                break;
            };
            let at = kq / GQ * GROUP_BYTES + kq % GQ * 4;
            for (r, quad) in words.chunks_exact(4).enumerate() {
                if let Some(d) = row_at_mut(&mut xb[..], at + r * GROUP, 4) {
                    d.iter_mut().zip(quad).for_each(|(d, q)| *d = *q);
                }
            }
        }
        // The rest of the last group: the quads past `nq` of every row.
        if nq % GQ != 0 {
            let g = nq / GQ;
            for r in 0..R {
                let start = g * GROUP_BYTES + r * GROUP + nq % GQ * 4;
                if let Some(pad) = row_at_mut(&mut xb[..], start, GROUP - nq % GQ * 4) {
                    pad.fill(0);
                }
            }
        }
    }

    /// [`GROUP`] weight bytes at `*wp` (two vector loads, shared by the rows) against the
    /// [`R`] rows at `*xp` ([`GROUP_BYTES`] bytes, row-major); byte loads, so any alignment
    /// does.
    #[inline(always)]
    unsafe fn group(xp: &mut *const i8, wp: &mut *const i8) -> [i32; R] {
        let (a0, a1, a2, a3): (i32, i32, i32, i32);
        // Post-increments (`#32` on the weights, `#64` twice on the rows: the immediate is 7
        // bits) with negative offsets between them, so no separate pointer updates.
        const _: () = assert!(GROUP == 32 && GROUP_BYTES == 128);
        // R = 4: `VMLADAVA` accumulates into an even register, and `asm!` can hand out r0,
        // r2, r4, r8, r10 and r12 (r6 and r7 are reserved), so 4 leave two for the pointers.
        // Only q0-q3 (s0-s15): with all eight clobbered, the compiler spilled and reloaded the
        // float values it keeps in q4-q7 around every group.
        // SAFETY: reads inside the ranges the caller vouches for; the vector registers used are
        // declared clobbered; VMLADAV sets no flags.
        unsafe {
            asm!(
                "vldrb.u8 q0, [{wp}], #32",
                "vldrb.u8 q1, [{wp}, #-16]",
                "vldrb.u8 q2, [{xp}], #64",
                "vldrb.u8 q3, [{xp}, #-48]",
                "vmladav.s8 r0, q2, q0",
                "vldrb.u8 q2, [{xp}, #-32]",
                "vmladava.s8 r0, q3, q1",
                "vldrb.u8 q3, [{xp}, #-16]",
                "vmladav.s8 r2, q2, q0",
                "vldrb.u8 q2, [{xp}], #64",
                "vmladava.s8 r2, q3, q1",
                "vldrb.u8 q3, [{xp}, #-48]",
                "vmladav.s8 r4, q2, q0",
                "vldrb.u8 q2, [{xp}, #-32]",
                "vmladava.s8 r4, q3, q1",
                "vldrb.u8 q3, [{xp}, #-16]",
                "vmladav.s8 r8, q2, q0",
                "vmladava.s8 r8, q3, q1",
                wp = inout(reg) *wp,
                xp = inout(reg) *xp,
                out("r0") a0,
                out("r2") a1,
                out("r4") a2,
                out("r8") a3,
                out("s0") _, out("s1") _, out("s2") _, out("s3") _,
                out("s4") _, out("s5") _, out("s6") _, out("s7") _,
                out("s8") _, out("s9") _, out("s10") _, out("s11") _,
                out("s12") _, out("s13") _, out("s14") _, out("s15") _,
                options(pure, readonly, nostack, preserves_flags),
            )
        };
        [a0, a1, a2, a3]
    }
}
