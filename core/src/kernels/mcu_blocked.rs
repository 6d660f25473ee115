//! The int8 linear-layer driver the Cortex-M kernels share (DSP extension, `dsp.rs`; Helium,
//! `helium.rs`; either may be compiled alone): [`R`] activation rows against one weight row at
//! a time, one scale group of [`GROUP`] columns per straight-line `asm!` block. A kernel
//! supplies only what its instructions need, as an implementation of [`Kernel`]: the layout of
//! the block of rows on the stack, the copy that fills it, and the `asm!` for one group.
//!
//! The requantisation is the reference's (`requant`, `finish`, `store`), element by element,
//! so the results are bit-identical to it.
//!
//! Stack: the kernel's rows ([`KC`] columns of [`R`] rows), their scales (128 B) and the sums
//! of a block of [`NB`] outputs (1 KiB).
#![allow(unsafe_code)]
// The register tile is indexed by row; index loops read clearer than zipped iterators.
#![allow(clippy::needless_range_loop)]

use super::quant::{QuantizedRows, GROUP};
use super::reference::{finish, requant, store};
use super::row_at_mut;

/// Activation rows per block: one group's accumulators live in registers, and 4 fit both
/// kernels' `asm!` beside their pointers and operands, the Helium one with none to spare (see
/// their `group`s).
pub(super) const R: usize = 4;
/// Columns copied per pass (a multiple of [`GROUP`]). Longer rows take several passes, each
/// over a block of [`NB`] outputs whose partial sums wait in memory.
pub(super) const KC: usize = 256;
/// Outputs per block when a row takes several passes.
pub(super) const NB: usize = 64;

/// What a kernel supplies to [`linear_i8`].
///
/// # Safety
/// An implementation promises that the CPU running the build has the instructions its
/// [`Kernel::group`] uses (the cargo feature that compiles it says so: stable Rust cannot
/// test Arm target features).
pub(super) unsafe trait Kernel {
    /// What [`Kernel::group`] reads the rows as.
    type Elem;
    /// [`KC`] columns of [`R`] rows, laid out as [`Kernel::group`] reads them, group by group.
    type Rows: AsRef<[Self::Elem]>;
    /// The buffer, zeroed.
    const ZEROED: Self::Rows;

    /// Copies columns `k0..k0 + kc` of rows `r0..r0 + R` into `xb`, zero past the last
    /// quad up to the group boundary (so a partial last group adds nothing there). `r0` is a
    /// multiple of [`R`], so the block lies inside one panel, which always holds
    /// `PANEL_ROWS` rows (the missing ones zero).
    fn extend(x: &QuantizedRows, r0: usize, k0: usize, kc: usize, xb: &mut Self::Rows);

    /// The exact int32 dot products of one scale group: [`GROUP`] weight bytes at `*wp`
    /// against the [`R`] rows' group at `*xp`. Advances `*wp` by [`GROUP`] bytes and `*xp` by
    /// one group of [`Kernel::Rows`]. Must inline into the driver's loop (`#[inline(always)]`).
    ///
    /// # Safety
    /// `*wp` is valid for [`GROUP`] reads (any alignment); `*xp` points at the start of a group
    /// inside a [`Kernel::Rows`].
    unsafe fn group(xp: &mut *const Self::Elem, wp: &mut *const i8) -> [i32; R];
}

/// Scales of columns `k0..k0 + kc` of rows `r0..r0 + R` into `sxb` (zero for rows past the
/// end, whose results are discarded).
fn scales(x: &QuantizedRows, r0: usize, k0: usize, kc: usize, sxb: &mut [[f32; R]; KC / GROUP]) {
    let g0 = k0 / GROUP;
    for (g, s) in sxb.iter_mut().take(kc.div_ceil(GROUP)).enumerate() {
        for (r, v) in s.iter_mut().enumerate() {
            *v = if r0 + r < x.rows() {
                x.scale(r0 + r, g0 + g)
            } else {
                0.0
            };
        }
    }
}

/// Int8 linear layer on kernel `K`; see [`super::linear_i8`], which checked the slices'
/// lengths (the weights' again here: the `asm!` reads them through pointers).
#[allow(clippy::too_many_arguments)]
pub(super) fn linear_i8<K: Kernel>(
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
    let mut xb = K::ZEROED;
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
                    K::extend(x, r0, k0, kc, &mut xb);
                    scales(x, r0, k0, kc, &mut sxb);
                }
                let (full, rem) = (kc / GROUP, kc % GROUP);
                for (o, v) in (o0..).zip(partial[..nb].iter_mut()) {
                    // SAFETY: row `o < n` holds `k >= k0 + kc` columns (checked above).
                    let mut wp = unsafe { q.as_ptr().add(o * stride + k0) };
                    let mut xp = xb.as_ref().as_ptr();
                    let mut acc_v = if c == 0 { [0f32; R] } else { *v };
                    for sx in sxb.iter().take(full) {
                        // SAFETY: `K` promises its instructions; group `g < full` reads
                        // columns `k0 + g * GROUP..][..GROUP]` of row `o` and group `g` of
                        // `xb` (`full <= KC / GROUP`).
                        let acc = unsafe { K::group(&mut xp, &mut wp) };
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
                        // SAFETY: as above, group `full < KC / GROUP` of `xb`, which `extend`
                        // zeroed up to the group boundary.
                        let acc = unsafe { K::group(&mut xp, &mut wt) };
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
