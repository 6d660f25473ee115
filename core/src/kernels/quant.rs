//! Run-time quantisation of activations for the int8 path.
//!
//! Each group of [`GROUP`] consecutive columns of a row (token) gets its own symmetric scale,
//! `sx = max|x| / 127` over the group, and `q = clamp(round_ties_even(x * (127 / max|x|)),
//! -127, 127)`; an all-zero group gets `sx = 0`, `q = 0`. Groups rather than whole rows because
//! BERT's hidden states have a few outlier features: with one scale per row they would leave
//! the other features a handful of levels.
//! The rows are stored in the panel layout every int8 kernel reads directly, so no backend
//! repacks activations: panels of [`PANEL_ROWS`] rows; inside a panel, for each group of four
//! columns ("quad"), the 4 bytes of row 0, then of row 1, ... A quad of one row is one 32-bit
//! word, which is what `vpdpbusd`, `sdot`, `pmaddubsw` and `SMLAD` consume. Missing rows of the
//! last panel and missing columns of the last quad are zero, so they add nothing to a dot product.

/// Rows per panel of the quantised layout.
pub const PANEL_ROWS: usize = 16;

/// Columns sharing one activation scale (8 quads). 32 rather than 64: on 256 real sentences
/// MiniLM's int8 embeddings reach mean cosine 0.99921 (64: 0.99898) against transformers.
pub const GROUP: usize = 32;

/// Scale groups of a row of `cols` columns.
pub const fn groups(cols: usize) -> usize {
    cols.div_ceil(GROUP)
}

/// Bytes of the quantised layout for `rows x cols` activations; `usize::MAX` where that does
/// not fit, so no buffer is ever long enough for an absurd shape (the SIMD kernels index
/// panels by raw pointer and rely on the slices they were given covering every row).
pub const fn quant_bytes(rows: usize, cols: usize) -> usize {
    match rows.div_ceil(PANEL_ROWS).checked_mul(PANEL_ROWS * 4) {
        Some(r) => r.saturating_mul(cols.div_ceil(4)),
        None => usize::MAX,
    }
}

/// `1.5 * 2^23`: adding it to an `|x| < 2^22` rounds to the nearest integer, ties to even, in
/// any IEEE single-precision unit, and leaves that integer in the low mantissa bits (no `roundf`
/// in `core`, and unlike a float-to-int cast it vectorises).
pub(super) const ROUND_MAGIC: f32 = 12_582_912.0;

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
    /// Rows already in the layout [`quantize_rows`] writes (say, quantised a panel at a time
    /// into consecutive panels and scales), or `None` if `data` is shorter than
    /// [`quant_bytes`] or `scales` than `rows * groups(cols)`.
    pub fn from_parts(data: &'a [i8], scales: &'a [f32], rows: usize, cols: usize) -> Option<Self> {
        Some(QuantizedRows {
            data: data.get(..quant_bytes(rows, cols))?,
            scales: scales.get(..rows.checked_mul(groups(cols))?)?,
            rows,
            cols,
        })
    }

    /// Rows (tokens).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns (features).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Scales, `groups(cols)` per row: `x[s][k] = q[s][k] * scales[s * groups + k / GROUP]`.
    pub fn scales(&self) -> &'a [f32] {
        self.scales
    }

    /// Scale of row `s`, group `g`.
    pub fn scale(&self, s: usize, g: usize) -> f32 {
        let at = s * groups(self.cols) + g;
        self.scales.get(at).copied().unwrap_or(0.0)
    }

    /// Quads per row (columns rounded up to a multiple of 4, divided by 4).
    pub(super) fn quads(&self) -> usize {
        self.cols.div_ceil(4)
    }

    /// Panel `p`: `quads() * PANEL_ROWS * 4` bytes. Every row's panel is in `data` (the
    /// constructors take [`quant_bytes`] bytes); past them, empty.
    #[cfg(any(
        all(
            any(feature = "simd-avx2", feature = "simd-avx512"),
            target_arch = "x86_64"
        ),
        all(feature = "simd-neon", target_arch = "aarch64"),
        all(
            feature = "simd-wasm",
            target_arch = "wasm32",
            target_feature = "simd128"
        ),
        all(feature = "simd-dsp", target_arch = "arm"),
        all(feature = "simd-helium", target_arch = "arm")
    ))]
    pub(super) fn panel(&self, p: usize) -> &'a [i8] {
        let len = self.quads() * PANEL_ROWS * 4;
        super::row(self.data, p, len).unwrap_or_default()
    }

    /// Quantised element `(s, k)` (0 past the rows).
    pub fn get(&self, s: usize, k: usize) -> i8 {
        let at = index(self.quads(), s, k);
        self.data.get(at).copied().unwrap_or(0)
    }
}

fn index(quads: usize, s: usize, k: usize) -> usize {
    ((s / PANEL_ROWS * quads + k / 4) * PANEL_ROWS + s % PANEL_ROWS) * 4 + k % 4
}

/// Quantises `rows x cols` row-major `x` into `data` (at least [`quant_bytes`] long) and
/// `scales` (`rows * groups(cols)` long). A shorter buffer is a caller bug: debug builds
/// panic, release builds return no rows (so the kernels write nothing).
pub fn quantize_rows<'a>(
    x: &[f32],
    rows: usize,
    cols: usize,
    data: &'a mut [i8],
    scales: &'a mut [f32],
) -> QuantizedRows<'a> {
    let ng = groups(cols);
    let (Some(x), Some(data), Some(scales)) = (
        rows.checked_mul(cols).and_then(|n| x.get(..n)),
        data.get_mut(..quant_bytes(rows, cols)),
        rows.checked_mul(ng).and_then(|n| scales.get_mut(..n)),
    ) else {
        debug_assert!(false, "quantize_rows: buffers shorter than the shapes");
        return QuantizedRows {
            data: &[],
            scales: &[],
            rows: 0,
            cols,
        };
    };
    data.fill(0);
    #[cfg(all(feature = "simd-avx512", target_arch = "x86_64"))]
    if cols > 0 && super::avx512::available() {
        super::avx512::quantize(x, cols, data, scales);
        return QuantizedRows {
            data,
            scales,
            rows,
            cols,
        };
    }
    #[cfg(all(feature = "simd-avx2", target_arch = "x86_64"))]
    if cols > 0 && super::avx2::available() {
        super::avx2::quantize(x, cols, data, scales);
        return QuantizedRows {
            data,
            scales,
            rows,
            cols,
        };
    }
    if cols > 0 {
        quantize_scalar(x, cols, data, scales);
    }
    QuantizedRows {
        data,
        scales,
        rows,
        cols,
    }
}

/// The quantisation loop of [`quantize_rows`] over whole rows of `x` into zeroed `data`: the
/// definition the SIMD versions reproduce bit for bit.
pub(super) fn quantize_scalar(x: &[f32], cols: usize, data: &mut [i8], scales: &mut [f32]) {
    let (ng, quads) = (groups(cols), cols.div_ceil(4));
    // Per group: quantise into a contiguous buffer (vectorisable), then scatter the quads.
    let mut buf = [0i8; GROUP];
    for (s, row) in x.chunks_exact(cols).enumerate() {
        for (g, chunk) in row.chunks(GROUP).enumerate() {
            let scale = quantize_group(chunk, &mut buf);
            if let Some(sc) = scales.get_mut(s * ng + g) {
                *sc = scale;
            }
            for (kq, quad) in buf[..chunk.len()].chunks(4).enumerate() {
                let at = index(quads, s, g * GROUP + kq * 4);
                // In bounds: `data` holds the rows' panels (checked by the caller).
                if let Some(d) = super::row_at_mut(data, at, quad.len()) {
                    d.iter_mut().zip(quad).for_each(|(d, q)| *d = *q);
                }
            }
        }
    }
}

/// Quantises one group (at most [`GROUP`] values) into the front of `out`; returns its scale.
/// The scale's maximum runs on eight lanes so it vectorises (max is exact: lane order does not
/// matter).
fn quantize_group(chunk: &[f32], out: &mut [i8]) -> f32 {
    let mut lanes = [0f32; 8];
    for part in chunk.chunks(8) {
        for (m, v) in lanes.iter_mut().zip(part) {
            *m = m.max(v.abs());
        }
    }
    let amax = lanes.iter().fold(0f32, |m, v| m.max(*v));
    let inv = if amax > 0.0 { 127.0 / amax } else { 0.0 };
    for (d, v) in out.iter_mut().zip(chunk) {
        *d = quantize_one(v * inv);
    }
    amax / 127.0
}

/// Quantises `x` (rows of `cols` values) row-major, by the rule of [`quantize_rows`], into
/// `data` (`x.len()` bytes, `x[s][k]` at `s * cols + k`) and `scales` (`groups(cols)` per
/// row): the layout the compact plan keeps keys and values in, which attention reads a row at
/// a time. Stops at the shortest of the three.
pub fn quantize_flat(x: &[f32], cols: usize, data: &mut [i8], scales: &mut [f32]) {
    if cols == 0 {
        return;
    }
    let rows = x
        .chunks_exact(cols)
        .zip(data.chunks_exact_mut(cols))
        .zip(scales.chunks_exact_mut(groups(cols)));
    for ((row, out), sc) in rows {
        for ((chunk, o), s) in row.chunks(GROUP).zip(out.chunks_mut(GROUP)).zip(sc) {
            *s = quantize_group(chunk, o);
        }
    }
}
