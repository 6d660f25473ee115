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
    /// Columns `start..start + cols` of every row: a narrower view of the same rows.
    pub(crate) fn columns(&self, start: usize, cols: usize) -> Matrix<'a> {
        let w = match self.w {
            Weights::F32(w) => Weights::F32(&w[start..]),
            Weights::F16(w) => Weights::F16(&w[start..]),
            Weights::I8 { q, scales } => Weights::I8 {
                q: &q[start..],
                scales,
            },
        };
        Matrix { w, cols, ..*self }
    }

    /// Rows `start..start + rows`: a shorter view.
    pub(crate) fn rows(&self, start: usize, rows: usize) -> Matrix<'a> {
        let from = start * self.stride;
        let w = match self.w {
            Weights::F32(w) => Weights::F32(&w[from..]),
            Weights::F16(w) => Weights::F16(&w[from..]),
            Weights::I8 { q, scales } => Weights::I8 {
                q: &q[from..],
                scales: &scales[start..],
            },
        };
        Matrix { w, rows, ..*self }
    }

    /// Row `r` widened into `out` (`cols` long). Used for embedding gathers.
    pub(crate) fn row_into(&self, r: usize, out: &mut [f32]) {
        let span = r * self.stride..r * self.stride + self.cols;
        match self.w {
            Weights::F32(w) => out.copy_from_slice(&w[span]),
            Weights::F16(w) => {
                for (o, v) in out.iter_mut().zip(&w[span]) {
                    *o = v.to_f32();
                }
            }
            Weights::I8 { q, scales } => {
                let s = scales[r];
                for (o, v) in out.iter_mut().zip(&q[span]) {
                    *o = *v as f32 * s;
                }
            }
        }
    }
}
