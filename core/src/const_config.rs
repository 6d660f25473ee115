//! Reading a blob's architecture at compile time, so firmware that embeds its model with
//! `include_bytes!` can size its scratch buffer as a `static` of the exact length: when RAM is
//! short, the link fails instead of the device.

use crate::config::{Config, HiddenAct};
use crate::format::{Role, SectionKind, FORMAT_VERSION, HEADER_LEN, MAGIC};
use crate::scratch::{compact_scratch_len, scratch_len_for};
use crate::tensor::DType;

/// Byte offset of `ModelConfig` in the header (`docs/FORMAT.md`).
const CONFIG_OFFSET: usize = 32;
/// Bytes of a section-table entry and of a `TensorEntry`.
const SECTION_ENTRY: usize = 16;
const TENSOR_ENTRY: usize = 48;
/// The encoder-layer matrices: any of them in int8 puts the layers on the quantised path.
pub(crate) const LAYER_MATRICES: [Role; 6] = [
    Role::QueryWeight,
    Role::KeyWeight,
    Role::ValueWeight,
    Role::AttnOutWeight,
    Role::InterWeight,
    Role::OutWeight,
];

const fn read_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The architecture in a blob's header, checked as [`crate::Model::load`] checks it (magic,
/// version, non-zero sizes, heads dividing the hidden size, known activation, finite epsilon),
/// or `None`. Only the header is read: the checksum, sections and tensors are left to `load`.
pub const fn config_from_blob(blob: &[u8]) -> Option<Config> {
    if blob.len() < HEADER_LEN {
        return None;
    }
    let mut i = 0;
    while i < MAGIC.len() {
        if blob[i] != MAGIC[i] {
            return None;
        }
        i += 1;
    }
    if read_u32(blob, 8) != FORMAT_VERSION {
        return None;
    }
    let mut fields = [0usize; 7];
    let mut f = 0;
    while f < fields.len() {
        let v = read_u32(blob, CONFIG_OFFSET + 4 * f);
        if v == 0 {
            return None;
        }
        fields[f] = v as usize;
        f += 1;
    }
    let layer_norm_eps = f32::from_bits(read_u32(blob, CONFIG_OFFSET + 28));
    if !(layer_norm_eps.is_finite() && layer_norm_eps >= 0.0) {
        return None;
    }
    let hidden_act = match read_u32(blob, CONFIG_OFFSET + 32) {
        1 => HiddenAct::GeluErf,
        _ => return None,
    };
    let [vocab_size, hidden_size, num_layers, num_heads, intermediate_size, max_position_embeddings, type_vocab_size] =
        fields;
    if hidden_size % num_heads != 0 || num_layers > u16::MAX as usize {
        return None;
    }
    Some(Config {
        vocab_size,
        hidden_size,
        num_layers,
        num_heads,
        intermediate_size,
        max_position_embeddings,
        type_vocab_size,
        layer_norm_eps,
        hidden_act,
    })
}

/// The dtype the encoder layers compute in: [`DType::I8`] if any layer matrix in the tensor
/// table is int8 (as `Model::forward` decides), else [`DType::F32`]; `None` if the section or
/// tensor table lies outside `blob`.
pub const fn layer_dtype_from_blob(blob: &[u8]) -> Option<DType> {
    if blob.len() < HEADER_LEN {
        return None;
    }
    let count = read_u32(blob, 24) as usize;
    let table = read_u32(blob, 28) as usize;
    if table > blob.len() || count > (blob.len() - table) / SECTION_ENTRY {
        return None;
    }
    let mut s = 0;
    while s < count {
        let at = table + s * SECTION_ENTRY;
        if read_u32(blob, at) == SectionKind::Tensors as u32 {
            let start = read_u32(blob, at + 4) as usize;
            let n = read_u32(blob, at + 12) as usize;
            if start > blob.len() || n > (blob.len() - start) / TENSOR_ENTRY {
                return None;
            }
            let mut t = 0;
            while t < n {
                let e = start + t * TENSOR_ENTRY;
                let role = u16::from_le_bytes([blob[e], blob[e + 1]]);
                let mut r = 0;
                while r < LAYER_MATRICES.len() {
                    if LAYER_MATRICES[r] as u16 == role && blob[e + 4] == DType::I8 as u8 {
                        return Some(DType::I8);
                    }
                    r += 1;
                }
                t += 1;
            }
            return Some(DType::F32);
        }
        s += 1;
    }
    None
}

/// [`crate::scratch_len_for`] for the model in `blob` (architecture from the header, layer
/// dtype from the tensor table) and `seq_len` tokens: what [`crate::Model::scratch_len`]
/// returns once the blob is loaded. `None` if the header or tables are invalid or `seq_len` is 0
/// or longer than the model's positions. Usable in a `const`:
///
/// ```
/// # const BLOB: &[u8] = &[];
/// const SCRATCH: usize = match picobert::scratch_len_for_blob(BLOB, 64) {
///     Some(n) => n,
///     None => 0, // firmware would `panic!` here, which stops the build
/// };
/// ```
pub const fn scratch_len_for_blob(blob: &[u8], seq_len: usize) -> Option<usize> {
    match (config_from_blob(blob), layer_dtype_from_blob(blob)) {
        (Some(cfg), Some(dtype)) if seq_len > 0 && seq_len <= cfg.max_position_embeddings => {
            Some(scratch_len_for(&cfg, seq_len, dtype))
        }
        _ => None,
    }
}

/// [`crate::compact_scratch_len`] for the model in `blob` and `seq_len` tokens: what
/// [`crate::Model::compact_scratch_len`] returns once the blob is loaded, for firmware that runs
/// [`crate::Model::forward_compact`]. `None` as for [`scratch_len_for_blob`].
pub const fn compact_scratch_len_for_blob(blob: &[u8], seq_len: usize) -> Option<usize> {
    match (config_from_blob(blob), layer_dtype_from_blob(blob)) {
        (Some(cfg), Some(dtype)) if seq_len > 0 && seq_len <= cfg.max_position_embeddings => {
            Some(compact_scratch_len(&cfg, seq_len, dtype))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEN: usize = HEADER_LEN + SECTION_ENTRY + TENSOR_ENTRY;

    /// A header, a section table with one TENSORS section, and one tensor entry: what the
    /// const readers look at (`Model::load` is checked against them on whole blobs in
    /// `tests/firmware_const.rs`).
    fn blob(cfg: [u32; 9], role: Role, dtype: DType) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        let mut put = |at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        put(8, FORMAT_VERSION);
        put(24, 1);
        put(28, HEADER_LEN as u32);
        for (i, v) in cfg.iter().enumerate() {
            put(CONFIG_OFFSET + 4 * i, *v);
        }
        let sec = HEADER_LEN;
        put(sec, SectionKind::Tensors as u32);
        put(sec + 4, (sec + SECTION_ENTRY) as u32);
        put(sec + 8, TENSOR_ENTRY as u32);
        put(sec + 12, 1);
        let e = sec + SECTION_ENTRY;
        b[e..e + 2].copy_from_slice(&(role as u16).to_le_bytes());
        b[e + 4] = dtype as u8;
        b[..8].copy_from_slice(&MAGIC);
        b
    }

    const TINY: [u32; 9] = [1000, 128, 2, 2, 512, 512, 2, 0x2B8C_BCCC, 1];

    #[test]
    fn reads_the_header_and_the_layer_dtype() {
        let b = blob(TINY, Role::InterWeight, DType::I8);
        let cfg = config_from_blob(&b).unwrap();
        assert_eq!(
            [
                cfg.vocab_size,
                cfg.hidden_size,
                cfg.num_layers,
                cfg.num_heads,
                cfg.intermediate_size
            ],
            [1000, 128, 2, 2, 512]
        );
        assert_eq!(cfg.layer_norm_eps, f32::from_bits(0x2B8C_BCCC));
        assert_eq!(layer_dtype_from_blob(&b), Some(DType::I8));
        assert_eq!(
            scratch_len_for_blob(&b, 64),
            Some(scratch_len_for(&cfg, 64, DType::I8))
        );
        assert_eq!(
            compact_scratch_len_for_blob(&b, 64),
            Some(compact_scratch_len(&cfg, 64, DType::I8))
        );
        // An int8 word embedding alone leaves the layers in f32.
        let b = blob(TINY, Role::WordEmb, DType::I8);
        assert_eq!(layer_dtype_from_blob(&b), Some(DType::F32));
        let b = blob(TINY, Role::OutWeight, DType::F16);
        assert_eq!(layer_dtype_from_blob(&b), Some(DType::F32));
    }

    #[test]
    fn refuses_what_load_refuses() {
        let good = blob(TINY, Role::QueryWeight, DType::I8);
        assert!(config_from_blob(&good[..HEADER_LEN - 1]).is_none());
        assert!(scratch_len_for_blob(&good[..LEN - 1], 64).is_none());
        let mut bad = good;
        bad[0] = b'X';
        assert!(config_from_blob(&bad).is_none());
        let mut bad = good;
        bad[8] = 9;
        assert!(config_from_blob(&bad).is_none());
        for (field, value) in [(1, 0), (3, 3), (8, 2), (7, f32::NAN.to_bits())] {
            let mut cfg = TINY;
            cfg[field] = value;
            assert!(
                config_from_blob(&blob(cfg, Role::QueryWeight, DType::I8)).is_none(),
                "field {field}"
            );
        }
        for (at, value) in [(24, 5u32), (28, LEN as u32), (HEADER_LEN + 12, 2)] {
            let mut bad = good;
            bad[at..at + 4].copy_from_slice(&value.to_le_bytes());
            assert!(layer_dtype_from_blob(&bad).is_none(), "offset {at}");
        }
        let mut no_tensors = good;
        no_tensors[HEADER_LEN] = SectionKind::Vocab as u8;
        assert!(layer_dtype_from_blob(&no_tensors).is_none());
        assert!(scratch_len_for_blob(&good, 0).is_none());
        assert!(scratch_len_for_blob(&good, 513).is_none());
        assert!(scratch_len_for_blob(&good, 512).is_some());
        assert!(compact_scratch_len_for_blob(&good, 0).is_none());
        assert!(compact_scratch_len_for_blob(&good, 513).is_none());
    }
}
