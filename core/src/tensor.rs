//! Typed, borrowed views of the weights in a blob.

use half::f16;

/// Element type of a stored tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    /// IEEE binary32.
    F32,
    /// IEEE binary16, computed in f32.
    F16,
    /// Symmetric int8 with one f32 scale per row.
    I8,
}

impl DType {
    /// Code in the blob.
    pub fn code(self) -> u8 {
        match self {
            DType::F32 => 0,
            DType::F16 => 1,
            DType::I8 => 2,
        }
    }

    /// The dtype with this code.
    pub fn from_code(code: u8) -> Option<DType> {
        match code {
            0 => Some(DType::F32),
            1 => Some(DType::F16),
            2 => Some(DType::I8),
            _ => None,
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F16 => 2,
            DType::I8 => 1,
        }
    }

    /// Lowercase name, as the trainer prints it.
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::I8 => "i8",
        }
    }
}

/// A 2-D weight matrix `[rows, cols]`, row-major, borrowed from the blob.
#[derive(Debug, Clone, Copy)]
pub enum Weights<'a> {
    /// f32 elements.
    F32(&'a [f32]),
    /// f16 elements.
    F16(&'a [f16]),
    /// int8 elements and one scale per row.
    I8 {
        /// Quantised values.
        q: &'a [i8],
        /// Per-row scales.
        scales: &'a [f32],
    },
}

/// A weight matrix `[rows, cols]` whose row `r` starts at element `r * stride`, so a block of
/// columns of a larger matrix is a `Matrix` too (the tiled feed-forward layer uses that).
#[derive(Debug, Clone, Copy)]
pub struct Matrix<'a> {
    /// Elements, starting at the first element of the view.
    pub w: Weights<'a>,
    /// Rows (output channels).
    pub rows: usize,
    /// Columns (input features).
    pub cols: usize,
    /// Elements between the starts of consecutive rows.
    pub stride: usize,
}

impl<'a> Matrix<'a> {
    /// Columns `start..start + cols` of every row: a narrower view of the same rows (empty if
    /// `start` is past the data).
    pub(crate) fn columns(&self, start: usize, cols: usize) -> Matrix<'a> {
        let w = match self.w {
            Weights::F32(w) => Weights::F32(w.get(start..).unwrap_or_default()),
            Weights::F16(w) => Weights::F16(w.get(start..).unwrap_or_default()),
            Weights::I8 { q, scales } => Weights::I8 {
                q: q.get(start..).unwrap_or_default(),
                scales,
            },
        };
        Matrix { w, cols, ..*self }
    }

    /// Rows `start..start + rows`: a shorter view (empty if `start` is past the data).
    pub(crate) fn rows(&self, start: usize, rows: usize) -> Matrix<'a> {
        let from = start.saturating_mul(self.stride);
        let w = match self.w {
            Weights::F32(w) => Weights::F32(w.get(from..).unwrap_or_default()),
            Weights::F16(w) => Weights::F16(w.get(from..).unwrap_or_default()),
            Weights::I8 { q, scales } => Weights::I8 {
                q: q.get(from..).unwrap_or_default(),
                scales: scales.get(start..).unwrap_or_default(),
            },
        };
        Matrix { w, rows, ..*self }
    }

    /// Elements of row `r`, `cols` long, or `None` past the data.
    fn row_span(&self, r: usize) -> Option<core::ops::Range<usize>> {
        let start = r.checked_mul(self.stride)?;
        Some(start..start.checked_add(self.cols)?)
    }

    /// Row `r` widened into `out` (`cols` long). Used for embedding gathers. `None` (and `out`
    /// untouched) if the row is past the data.
    pub(crate) fn row_into(&self, r: usize, out: &mut [f32]) -> Option<()> {
        let span = self.row_span(r)?;
        match self.w {
            Weights::F32(w) => {
                for (o, v) in out.iter_mut().zip(w.get(span)?) {
                    *o = *v;
                }
            }
            Weights::F16(w) => {
                for (o, v) in out.iter_mut().zip(w.get(span)?) {
                    *o = v.to_f32();
                }
            }
            Weights::I8 { q, scales } => {
                let (row, s) = (q.get(span)?, *scales.get(r)?);
                for (o, v) in out.iter_mut().zip(row) {
                    *o = *v as f32 * s;
                }
            }
        }
        Some(())
    }
}
