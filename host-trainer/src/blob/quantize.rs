//! Weight precision conversion for `picobert import --dtype`: every weight matrix (the linear
//! layers, the heads and the word-embedding table, which is most of a small BERT's bytes) becomes
//! f16 or per-row symmetric int8; biases, LayerNorm parameters and the small position and
//! token-type tables stay f32, as `docs/FORMAT.md` requires for vectors.

use super::{BlobModel, TensorData};
use half::f16;
use picobert::Role;

/// Storage precision of the weight matrices.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum WeightDtype {
    /// IEEE binary32 (as trained).
    #[default]
    F32,
    /// IEEE binary16; computed in f32.
    F16,
    /// Symmetric int8 per output channel (row); activations are quantised per token at run time.
    Int8,
}

/// Matrices that change precision: everything multiplied as `x W^T`, and the word embeddings.
fn converted(role: Role) -> bool {
    matches!(
        role,
        Role::WordEmb
            | Role::QueryWeight
            | Role::KeyWeight
            | Role::ValueWeight
            | Role::AttnOutWeight
            | Role::InterWeight
            | Role::OutWeight
            | Role::PoolerWeight
            | Role::MlmTransformWeight
            | Role::MlmDecoderWeight
            | Role::NspWeight
            | Role::SeqClsWeight
            | Role::TokClsWeight
    )
}

/// Per-row symmetric int8: `scale = max|row| / 127`, `q = round(w / scale)` (half away from
/// zero), so `q` is in `[-127, 127]`; an all-zero row has scale 0.
pub fn quantize_rows_i8(w: &[f32], cols: usize) -> (Vec<i8>, Vec<f32>) {
    let mut q = Vec::with_capacity(w.len());
    let mut scales = Vec::with_capacity(w.len() / cols.max(1));
    for row in w.chunks(cols.max(1)) {
        let amax = row.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = amax / 127.0;
        scales.push(scale);
        let inv = if amax > 0.0 { 127.0 / amax } else { 0.0 };
        q.extend(
            row.iter()
                .map(|v| (v * inv).round().clamp(-127.0, 127.0) as i8),
        );
    }
    (q, scales)
}

/// Converts the weight matrices of `model` to `dtype` in place (from whatever they hold now).
pub fn convert(model: &mut BlobModel, dtype: WeightDtype) {
    for t in model.tensors.iter_mut().filter(|t| converted(t.role)) {
        let cols = t.shape.get(1).copied().unwrap_or(1);
        let values = t.data.to_f32(cols);
        t.data = match dtype {
            WeightDtype::F32 => TensorData::F32(values),
            WeightDtype::F16 => TensorData::F16(values.iter().map(|&v| f16::from_f32(v)).collect()),
            WeightDtype::Int8 => {
                let (q, scales) = quantize_rows_i8(&values, cols);
                TensorData::I8 { q, scales }
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_rows_use_the_full_range_and_round_half_away() {
        let (q, s) = quantize_rows_i8(&[0.5, -1.0, 0.25, 0.0, 0.0, 0.0], 3);
        // Row 0: scale 1/127; 0.5 * 127 = 63.5 rounds away from zero to 64.
        assert_eq!(q[..3], [64, -127, 32]);
        assert_eq!(s[0], 1.0 / 127.0);
        assert_eq!((q[3..].to_vec(), s[1]), (vec![0, 0, 0], 0.0));
    }

    #[test]
    fn dequantised_error_is_within_half_a_step() {
        let w: Vec<f32> = (0..64)
            .map(|i| ((i * 37) % 17) as f32 / 7.0 - 1.1)
            .collect();
        let (q, s) = quantize_rows_i8(&w, 16);
        for (i, v) in w.iter().enumerate() {
            let back = q[i] as f32 * s[i / 16];
            assert!(
                (back - v).abs() <= s[i / 16] * 0.5 + 1e-7,
                "{i}: {back} vs {v}"
            );
        }
    }
}
