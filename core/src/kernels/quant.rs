//! Run-time quantisation of activations for the int8 path.
//!
//! Each row (token) gets its own symmetric scale, `sx = max|x| / 127`, and
//! `q = clamp(round_ties_even(x * (127 / max|x|)), -127, 127)`; a zero row gets `sx = 0`, `q = 0`.
//! The rows are stored in the panel layout every int8 kernel reads directly, so no backend
//! repacks activations: panels of [`PANEL_ROWS`] rows; inside a panel, for each group of four
//! columns ("quad"), the 4 bytes of row 0, then of row 1, ... A quad of one row is one 32-bit
//! word, which is what `vpdpbusd`, `sdot`, `pmaddubsw` and `SMLAD` consume. Missing rows of the
//! last panel and missing columns of the last quad are zero, so they add nothing to a dot product.

/// Rows per panel of the quantised layout.
pub const PANEL_ROWS: usize = 16;

/// Bytes of the quantised layout for `rows x cols` activations.
pub const fn quant_bytes(rows: usize, cols: usize) -> usize {
    rows.div_ceil(PANEL_ROWS) * PANEL_ROWS * cols.div_ceil(4) * 4
}

/// `1.5 * 2^23`: adding it to an `|x| < 2^22` rounds to the nearest integer, ties to even, in
/// any IEEE single-precision unit, and leaves that integer in the low mantissa bits (no `roundf`
/// in `core`, and unlike a float-to-int cast it vectorises).
const ROUND_MAGIC: f32 = 12_582_912.0;

/// Quantises one value already multiplied by `127 / max|x|`. `max` before `min`, both ignoring
/// a NaN operand, so a NaN becomes -127 here and in every SIMD version (x86 `maxps` returns its
/// second operand when either is NaN).
#[inline(always)]
#[allow(clippy::manual_clamp)] // `clamp` keeps NaN; the SIMD backends' max/min do not.
pub(super) fn quantize_one(m: f32) -> i8 {
    let c = m.max(-127.0).min(127.0);
    ((c + ROUND_MAGIC).to_bits() as i32 - ROUND_MAGIC.to_bits() as i32) as i8
}

/// Activations quantised by [`quantize_rows`]: borrowed panel bytes and per-row scales.
#[derive(Debug, Clone, Copy)]
pub struct QuantizedRows<'a> {
    data: &'a [i8],
    scales: &'a [f32],
    rows: usize,
    cols: usize,
}

impl<'a> QuantizedRows<'a> {
    /// Rows (tokens).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns (features).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Per-row scales: row `s` is `q[s] * scales[s]`.
    pub fn scales(&self) -> &'a [f32] {
        self.scales
    }

    /// Quads per row (columns rounded up to a multiple of 4, divided by 4).
    pub(super) fn quads(&self) -> usize {
        self.cols.div_ceil(4)
    }

    /// Panel `p`: `quads() * PANEL_ROWS * 4` bytes.
    pub(super) fn panel(&self, p: usize) -> &'a [i8] {
        let len = self.quads() * PANEL_ROWS * 4;
        &self.data[p * len..(p + 1) * len]
    }

    /// Quantised element `(s, k)`.
    pub fn get(&self, s: usize, k: usize) -> i8 {
        self.data[index(self.quads(), s, k)]
    }
}

fn index(quads: usize, s: usize, k: usize) -> usize {
    ((s / PANEL_ROWS * quads + k / 4) * PANEL_ROWS + s % PANEL_ROWS) * 4 + k % 4
}

/// Quantises `rows x cols` row-major `x` into `data` (at least [`quant_bytes`] long) and
/// `scales` (`rows` long).
///
/// # Panics
/// If a buffer is shorter than stated.
pub fn quantize_rows<'a>(
    x: &[f32],
    rows: usize,
    cols: usize,
    data: &'a mut [i8],
    scales: &'a mut [f32],
) -> QuantizedRows<'a> {
    let data = &mut data[..quant_bytes(rows, cols)];
    let scales = &mut scales[..rows];
    let quads = cols.div_ceil(4);
    data.fill(0);
    // Chunks of 64 columns: quantise into a contiguous buffer (vectorisable), then scatter the
    // quads; eight max lanes for the same reason (max is exact, so lane order does not matter).
    let mut buf = [0i8; 64];
    for (s, row) in x[..rows * cols].chunks_exact(cols).enumerate() {
        let mut lanes = [0f32; 8];
        for chunk in row.chunks(8) {
            for (m, v) in lanes.iter_mut().zip(chunk) {
                *m = m.max(v.abs());
            }
        }
        let amax = lanes.iter().fold(0f32, |m, v| m.max(*v));
        let inv = if amax > 0.0 { 127.0 / amax } else { 0.0 };
        scales[s] = amax / 127.0;
        for (c, chunk) in row.chunks(64).enumerate() {
            for (d, v) in buf.iter_mut().zip(chunk) {
                *d = quantize_one(v * inv);
            }
            for (kq, quad) in buf[..chunk.len()].chunks(4).enumerate() {
                let at = index(quads, s, c * 64 + kq * 4);
                data[at..at + quad.len()].copy_from_slice(quad);
            }
        }
    }
    QuantizedRows {
        data,
        scales,
        rows,
        cols,
    }
}
