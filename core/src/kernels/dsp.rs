//! Arm DSP-extension int8 kernel (Cortex-M4/M7/M33/M55 and any Armv7E-M/v8-M core with the DSP
//! instructions), through `SXTB16` (bytes 0 and 2 of a word to two halfwords) and `SMLAD` (two
//! 16x16 multiply-accumulates), which `core::arch::arm` does not offer on stable, hence `asm!`.
//!
//! Blocking: [`R`] activation rows against one weight row at a time. The rows are sign-extended
//! once per block into halfword pairs on the stack, laid out as `SXTB16` unpacks a weight word:
//! `SXTB16(w) = (w0, w2)` and `SXTB16(w ROR 8) = (w1, w3)`, so each quad of a row is stored as
//! the two words `(x0, x2), (x1, x3)`. Per weight quad that leaves 1 `LDR` and 2 `SXTB16`,
//! shared by the [`R`] rows, and per row 1 `LDRD` (both pairs) and 2 `SMLAD`: 15 instructions
//! for 16 MACs. One scale group of [`GROUP`] columns is one straight-line `asm!` block.
//!
//! Stack: [`KC`] columns of [`R`] rows as halfwords (2 KiB), their scales (128 B) and, when a
//! row is longer than [`KC`], the partial sums of [`NB`] outputs (1 KiB).
#![allow(unsafe_code)]
// The register tile is indexed by row; index loops read clearer than zipped iterators.
#![allow(clippy::needless_range_loop)]

use super::quant::{QuantizedRows, GROUP, PANEL_ROWS};
use super::reference::{finish, requant, store};
use super::{row_at, row_at_mut};
use core::arch::asm;

/// Activation rows per block: 4 accumulators, the two unpacked weight halves, an `LDRD` pair
/// and two pointers fit the 12 registers `asm!` can allocate on Thumb.
const R: usize = 4;
/// Columns sign-extended per pass (a multiple of [`GROUP`]). Longer rows take several passes,
/// each over a block of [`NB`] outputs whose partial sums wait in memory.
const KC: usize = 256;
/// Outputs per block when a row takes several passes.
const NB: usize = 64;
/// Quads per scale group.
const GQ: usize = GROUP / 4;
/// Words of the extended buffer per group: two per row and quad.
const GROUP_WORDS: usize = GQ * R * 2;

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

/// The exact int32 dot products of one scale group: [`GQ`] weight quads at `*wp` against the
/// [`R`] extended rows at `*xp` ([`GROUP_WORDS`] words, quad-major, then row, then pair).
/// Advances `*wp` by [`GROUP`] bytes and `*xp` by [`GROUP_WORDS`] words.
///
/// # Safety
/// The CPU has the DSP extension; `*wp` is valid for [`GROUP`] reads (any alignment: Armv7-M
/// `LDR` allows unaligned words); `*xp` is word-aligned and valid for [`GROUP_WORDS`] reads.
#[inline(always)]
unsafe fn group(xp: &mut *const u32, wp: &mut *const i8) -> [i32; R] {
    let (a0, a1, a2, a3): (i32, i32, i32, i32);
    // The first quad post-increments both pointers (`#32`: GROUP bytes, `#256`: GROUP_WORDS
    // words), so the others use negative offsets: no separate pointer updates.
    const _: () = assert!(GROUP == 32 && GROUP_WORDS * 4 == 256);
    // SAFETY: reads inside the ranges the caller vouches for; SMLAD/SMUAD only set the Q flag.
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

/// Sign-extends columns `k0..k0 + kc` of rows `r0..r0 + R` into `xb` (zero past the last
/// quad up to the group boundary) and their scales into `sxb` (zero for rows past the end, whose
/// results are discarded). `r0` is a multiple of [`R`], so the block lies inside one panel,
/// which always holds [`PANEL_ROWS`] rows (the missing ones zero).
fn extend(
    x: &QuantizedRows,
    r0: usize,
    k0: usize,
    kc: usize,
    xb: &mut [u32; KC / 4 * R * 2],
    sxb: &mut [[f32; R]; KC / GROUP],
) {
    let panel = x.panel(r0 / PANEL_ROWS);
    let (q0, nq, ng) = (k0 / 4, kc.div_ceil(4), kc.div_ceil(GROUP));
    let base = r0 % PANEL_ROWS;
    for (kq, pairs) in xb.chunks_exact_mut(R * 2).take(nq).enumerate() {
        // Always inside the panel (the caller checked the shapes); `row_at` says so without a
        // panic path.
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
    let mut xb = [0u32; KC / 4 * R * 2];
    let mut sxb = [[0f32; R]; KC / GROUP];
    // Sums of the current output block: the output loop only computes, the stores come after.
    let mut partial = [[0f32; R]; NB];
    for r0 in (0..rows).step_by(R) {
        let mr = R.min(rows - r0);
        for o0 in (0..n).step_by(NB) {
            let nb = NB.min(n - o0);
            for c in 0..passes {
                let (k0, kc) = (c * KC, KC.min(k - c * KC));
                // One pass keeps its extended rows for every output block.
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
                        // SAFETY: `simd-dsp` promises the DSP extension; group `g < full` reads
                        // columns `k0 + g * GROUP..][..GROUP]` of row `o` and words
                        // `g * GROUP_WORDS..][..GROUP_WORDS]` of `xb` (`full <= KC / GROUP`).
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
