//! Backend-independent GEMM drivers for the backends that share one blocking: a block of
//! [`MR`] rows (activations column-major on the stack for floats, the quantised panel for int8)
//! against micro-tiles of up to [`NR_MAX`] weight rows read in place. A backend supplies only
//! the micro-tile, as an implementation of [`FloatTile`] or [`IntTile`].
#![allow(unsafe_code)]
// Register tiles are indexed by lane and row; index loops read clearer than zipped iterators.
#![allow(clippy::needless_range_loop)]

use super::quant::{groups, QuantizedRows, GROUP, PANEL_ROWS};
use super::reference::{finish, requant, store};
#[cfg(not(target_arch = "arm"))]
use super::{FloatData, FloatWeights};
#[cfg(not(target_arch = "arm"))]
use half::f16;

/// Rows per block.
pub(super) const MR: usize = PANEL_ROWS;
#[cfg(not(target_arch = "arm"))]
/// Inner-dimension block of the float GEMM: the packed block is `KC x MR` f32 = 16 KiB.
pub(super) const KC: usize = 256;
/// Widest micro-tile.
pub(super) const NR_MAX: usize = 8;

#[cfg(not(target_arch = "arm"))]
/// A float micro-tile: `tile[j][r] = sum_kk a[kk * MR + r] * w[j][kk]` for `j < NR`.
pub(super) trait FloatTile {
    /// Weight rows per micro-tile, at most [`NR_MAX`].
    const NR: usize;
    /// # Safety
    /// The CPU supports the backend, and every `w[j]` for `j < NR` is valid for `kc` reads.
    unsafe fn tile(a: &[f32; KC * MR], w: &[*const f32; NR_MAX], kc: usize) -> [[f32; MR]; NR_MAX];
    /// Widens f16 weights.
    fn widen(src: &[f16], dst: &mut [f32]) {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = s.to_f32();
        }
    }
}

#[cfg(not(target_arch = "arm"))]
/// Float linear layer on backend `T`; see [`super::linear`].
///
/// # Safety
/// The CPU supports `T`'s instructions.
pub(super) unsafe fn float_linear<T: FloatTile>(
    x: &[f32],
    rows: usize,
    w: &FloatWeights,
    bias: Option<&[f32]>,
    out: &mut [f32],
    accumulate: bool,
) {
    let (k, n) = (w.cols, w.rows);
    let mut apack = [0f32; KC * MR];
    let mut wbuf = [0f32; NR_MAX * KC];
    for r0 in (0..rows).step_by(MR) {
        let mr = MR.min(rows - r0);
        for k0 in (0..k).step_by(KC) {
            let kc = KC.min(k - k0);
            if mr < MR {
                apack[..kc * MR].fill(0.0);
            }
            for r in 0..mr {
                let src = &x[(r0 + r) * k + k0..(r0 + r) * k + k0 + kc];
                for (kk, v) in src.iter().enumerate() {
                    apack[kk * MR + r] = *v;
                }
            }
            for nb in (0..n).step_by(T::NR) {
                let nr = T::NR.min(n - nb);
                let mut ptrs = [core::ptr::null(); NR_MAX];
                for j in 0..T::NR {
                    // A narrow last tile repeats its first row; those results are discarded.
                    let start = (nb + if j < nr { j } else { 0 }) * w.stride + k0;
                    ptrs[j] = match w.data {
                        FloatData::F32(d) => d[start..start + kc].as_ptr(),
                        FloatData::F16(d) => {
                            let dst = &mut wbuf[j * KC..j * KC + kc];
                            T::widen(&d[start..start + kc], dst);
                            dst.as_ptr()
                        }
                    };
                }
                let tile = T::tile(&apack, &ptrs, kc);
                for r in 0..mr {
                    let orow = &mut out[(r0 + r) * n + nb..(r0 + r) * n + nb + nr];
                    for (j, y) in orow.iter_mut().enumerate() {
                        let v = tile[j][r];
                        if k0 == 0 {
                            store(y, v + bias.map_or(0.0, |b| b[nb + j]), accumulate);
                        } else {
                            *y += v;
                        }
                    }
                }
            }
        }
    }
}

/// An int8 micro-tile: `acc[j][r] = sum over quads kq < quads of the 4-byte dot product of
/// panel row r's quad kq and weight row j's quad kq`, plus one extra quad taken from `tail`
/// (the zero-padded partial last quad of each weight row) when `tail` is given.
pub(super) trait IntTile {
    /// Weight rows per micro-tile, at most [`NR_MAX`].
    const NR: usize;
    /// Rows `rows..MR` of the panel are padding: a backend may skip them (their results are
    /// discarded).
    ///
    /// # Safety
    /// The CPU supports the backend; `panel` holds `quads` (+1 with `tail`) quads of [`MR`]
    /// rows; every `w[j]`, `j < NR`, is valid for `4 * quads` reads.
    unsafe fn tile(
        panel: &[i8],
        rows: usize,
        w: &[*const i8; NR_MAX],
        quads: usize,
        tail: Option<&[[i8; 4]; NR_MAX]>,
    ) -> [[i32; MR]; NR_MAX];
}

/// Int8 linear layer on backend `T`; see [`super::linear_i8`]. One micro-tile call per scale
/// group; the requantisation is the reference's, element by element.
///
/// # Safety
/// The CPU supports `T`'s instructions; `q` holds `n` rows of `x.cols()` at `stride`.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn int_linear<T: IntTile>(
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
    let (full, rem) = (k / 4, k % 4);
    let gq = GROUP / 4;
    for p in 0..rows.div_ceil(MR) {
        let r0 = p * MR;
        let mr = MR.min(rows - r0);
        let panel = x.panel(p);
        for nb in (0..n).step_by(T::NR) {
            let nr = T::NR.min(n - nb);
            let mut wp = [q.as_ptr(); NR_MAX];
            let mut tail = [[0i8; 4]; NR_MAX];
            for j in 0..nr {
                let row = &q[(nb + j) * stride..(nb + j) * stride + k];
                wp[j] = row.as_ptr();
                tail[j][..rem].copy_from_slice(&row[full * 4..]);
            }
            let mut v = [[0f32; MR]; NR_MAX];
            for g in 0..groups(k) {
                let q0 = g * gq;
                let nq = gq.min(full.saturating_sub(q0));
                let has_tail = rem > 0 && full / gq == g;
                let wg = core::array::from_fn(|j| wp[j].add(q0 * 4));
                let acc = T::tile(
                    &panel[q0 * MR * 4..],
                    mr,
                    &wg,
                    nq,
                    has_tail.then_some(&tail),
                );
                for j in 0..nr {
                    for r in 0..mr {
                        v[j][r] = requant(v[j][r], acc[j][r], x.scale(r0 + r, g));
                    }
                }
            }
            for r in 0..mr {
                let s = r0 + r;
                let orow = &mut out[s * n + nb..s * n + nb + nr];
                for (j, y) in orow.iter_mut().enumerate() {
                    let b = bias.map(|b| b[nb + j]);
                    store(y, finish(v[j][r], sw[nb + j], b), accumulate);
                }
            }
        }
    }
}
