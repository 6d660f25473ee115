//! Arm Helium (M-profile Vector Extension, MVE) int8 kernel for the Cortex-M55 and any
//! Armv8.1-M core with integer MVE, through `VLDRB.U8` (16 bytes into a vector register) and
//! `VMLADAVA.S8` (the sum of 16 int8 products added to a general-purpose register), which
//! `core::arch::arm` does not offer on stable, hence `asm!`. The `simd-helium` feature promises
//! the instructions; it needs `-C target-cpu=cortex-m55` (or another MVE CPU) at build time,
//! without which the assembler rejects them (stable Rust never sets `target_feature = "mve"`,
//! so there is nothing to test with `cfg`).
//!
//! Blocking: [`R`] activation rows against one weight row at a time, as in the DSP kernel. The
//! rows are copied once per block out of the panel layout into a stack buffer, group-major,
//! then row, each row's [`GROUP`] columns contiguous (32 bytes: two vector registers). Per
//! group and output: 2 weight loads shared by the [`R`] rows, and per row 2 activation loads and
//! 2 `VMLADAV(A)`: 18 instructions for 128 MACs, one straight-line `asm!` block with no
//! branch. The requantisation is the reference's (`requant`, `finish`, `store`), element by
//! element, so the results are bit-identical to it.
//!
//! Stack: [`KC`] columns of [`R`] rows (1 KiB), their scales (128 B) and the sums of a block of
//! [`NB`] outputs (1 KiB).
#![allow(unsafe_code)]
// The register tile is indexed by row; index loops read clearer than zipped iterators.
#![allow(clippy::needless_range_loop)]

use super::quant::{QuantizedRows, GROUP, PANEL_ROWS};
use super::reference::{finish, requant, store};
use super::{row_at, row_at_mut};
use core::arch::asm;

/// Activation rows per block: `VMLADAVA` accumulates into an even register, and `asm!` can
/// hand out r0, r2, r4, r8, r10 and r12 (r6 and r7 are reserved), so 4 leave two for pointers.
const R: usize = 4;
/// Columns copied per pass (a multiple of [`GROUP`]). Longer rows take several passes, each
/// over a block of [`NB`] outputs whose partial sums wait in memory.
const KC: usize = 256;
/// Outputs per block when a row takes several passes.
const NB: usize = 64;
/// Quads per scale group.
const GQ: usize = GROUP / 4;
/// Bytes of the copied rows per group: [`GROUP`] per row.
const GROUP_BYTES: usize = GROUP * R;

/// The exact int32 dot products of one scale group: [`GROUP`] weight bytes at `*wp` against the
/// [`R`] rows at `*xp` ([`GROUP_BYTES`] bytes, row-major). Advances `*wp` by [`GROUP`] bytes
/// and `*xp` by [`GROUP_BYTES`].
///
/// # Safety
/// The CPU has integer MVE; `*wp` is valid for [`GROUP`] reads and `*xp` for [`GROUP_BYTES`]
/// reads (any alignment: byte loads).
#[inline(always)]
unsafe fn group(xp: &mut *const i8, wp: &mut *const i8) -> [i32; R] {
    let (a0, a1, a2, a3): (i32, i32, i32, i32);
    // Post-increments (`#32` on the weights, `#64` twice on the rows: the immediate is 7 bits)
    // with negative offsets between them, so no separate pointer updates.
    const _: () = assert!(GROUP == 32 && GROUP_BYTES == 128);
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

/// Copies columns `k0..k0 + kc` of rows `r0..r0 + R` into `xb` (group-major, then row; zero
/// past the last quad up to the group boundary) and their scales into `sxb` (zero for rows
/// past the end, whose results are discarded). `r0` is a multiple of [`R`], so the block lies
/// inside one panel, which always holds [`PANEL_ROWS`] rows (the missing ones zero).
fn extend(
    x: &QuantizedRows,
    r0: usize,
    k0: usize,
    kc: usize,
    xb: &mut [i8; KC * R],
    sxb: &mut [[f32; R]; KC / GROUP],
) {
    let panel = x.panel(r0 / PANEL_ROWS);
    let (q0, nq, ng) = (k0 / 4, kc.div_ceil(4), kc.div_ceil(GROUP));
    let base = r0 % PANEL_ROWS;
    for kq in 0..nq {
        // Always inside the panel (the caller checked the shapes); `row_at` says so without a
        // panic path.
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
    let g0 = k0 / GROUP;
    for (g, s) in sxb.iter_mut().take(ng).enumerate() {
        for (r, v) in s.iter_mut().enumerate() {
            *v = if r0 + r < x.rows() {
                x.scale(r0 + r, g0 + g)
            } else {
                0.0
            };
        }
    }
}

/// Int8 linear layer; see [`super::linear_i8`], which checked the slices' lengths (the
/// weights' again here: the `asm!` reads them through pointers).
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
    let (rows, k) = (x.rows(), x.cols());
    match n
        .checked_sub(1)
        .map(|m| m.checked_mul(stride)?.checked_add(k))
    {
        Some(Some(used)) if used <= q.len() => {}
        _ => return,
    }
    // At least one pass, so that with no columns every output is still stored (as the bias).
    let passes = k.div_ceil(KC).max(1);
    let mut xb = [0i8; KC * R];
    let mut sxb = [[0f32; R]; KC / GROUP];
    // Sums of the current output block: the output loop only computes, the stores come after.
    let mut partial = [[0f32; R]; NB];
    for r0 in (0..rows).step_by(R) {
        let mr = R.min(rows - r0);
        for o0 in (0..n).step_by(NB) {
            let nb = NB.min(n - o0);
            for c in 0..passes {
                let (k0, kc) = (c * KC, KC.min(k - c * KC));
                // One pass keeps its copied rows for every output block.
                if passes > 1 || o0 == 0 {
                    extend(x, r0, k0, kc, &mut xb, &mut sxb);
                }
                let (full, rem) = (kc / GROUP, kc % GROUP);
                for (o, v) in (o0..).zip(partial[..nb].iter_mut()) {
                    // SAFETY: row `o < n` holds `k >= k0 + kc` columns (checked above).
                    let mut wp = unsafe { q.as_ptr().add(o * stride + k0) };
                    let mut xp = xb.as_ptr();
                    let mut acc_v = if c == 0 { [0f32; R] } else { *v };
                    for sx in sxb.iter().take(full) {
                        // SAFETY: `simd-helium` promises MVE; group `g < full` reads columns
                        // `k0 + g * GROUP..][..GROUP]` of row `o` and bytes
                        // `g * GROUP_BYTES..][..GROUP_BYTES]` of `xb` (`full <= KC / GROUP`).
                        let acc = unsafe { group(&mut xp, &mut wp) };
                        for r in 0..R {
                            acc_v[r] = requant(acc_v[r], acc[r], sx[r]);
                        }
                    }
                    if let Some(sx) = sxb.get(full).filter(|_| rem != 0) {
                        // The partial last group, from a zero-padded copy of the weights.
                        let mut tail = [0i8; GROUP];
                        // SAFETY: `wp` now points at column `k0 + full * GROUP` of row `o`,
                        // which has `rem` more columns.
                        let rest = unsafe { core::slice::from_raw_parts(wp, rem) };
                        tail.iter_mut().zip(rest).for_each(|(t, w)| *t = *w);
                        let mut wt = tail.as_ptr();
                        // SAFETY: as above; `extend` zeroed `xb` up to the group boundary.
                        let acc = unsafe { group(&mut xp, &mut wt) };
                        for r in 0..R {
                            acc_v[r] = requant(acc_v[r], acc[r], sx[r]);
                        }
                    }
                    *v = acc_v;
                }
            }
            for r in 0..mr {
                let Some(orow) = row_at_mut(out, (r0 + r) * n + o0, nb) else {
                    return;
                };
                for (o, (y, v)) in (o0..).zip(orow.iter_mut().zip(&partial[..nb])) {
                    let s = sw.get(o).copied().unwrap_or(0.0);
                    let b = bias.and_then(|b| b.get(o)).copied();
                    store(y, finish(v[r], s, b), accumulate);
                }
            }
        }
    }
}
