//! Reading a blob's architecture at compile time, so firmware that embeds its model with
//! `include_bytes!` can size its scratch buffer as a `static` of the exact length: when RAM is
//! short, the link fails instead of the device.

use crate::config::{Config, HiddenAct};
use crate::format::{FORMAT_VERSION, HEADER_LEN, MAGIC};
use crate::scratch::scratch_len;

/// Byte offset of `ModelConfig` in the header (`docs/FORMAT.md`).
const CONFIG_OFFSET: usize = 32;

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

/// [`scratch_len`] for the model in `blob` and `seq_len` tokens, or `None` if the header is
/// invalid or `seq_len` is 0 or longer than the model's positions. Usable in a `const`:
///
/// ```
/// # const BLOB: &[u8] = &[];
/// const SCRATCH: usize = match picobert::scratch_len_for_blob(BLOB, 64) {
///     Some(n) => n,
///     None => 0, // firmware would `panic!` here, which stops the build
/// };
/// ```
pub const fn scratch_len_for_blob(blob: &[u8], seq_len: usize) -> Option<usize> {
    match config_from_blob(blob) {
        Some(cfg) if seq_len > 0 && seq_len <= cfg.max_position_embeddings => {
            Some(scratch_len(&cfg, seq_len))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(cfg: [u32; 9]) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..8].copy_from_slice(&MAGIC);
        h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        for (i, v) in cfg.iter().enumerate() {
            let at = CONFIG_OFFSET + 4 * i;
            h[at..at + 4].copy_from_slice(&v.to_le_bytes());
        }
        h
    }

    const TINY: [u32; 9] = [1000, 128, 2, 2, 512, 512, 2, 0x2B8C_BCCC, 1];

    #[test]
    fn reads_the_header_like_load() {
        let cfg = config_from_blob(&header(TINY)).unwrap();
        assert_eq!(
            (
                cfg.vocab_size,
                cfg.hidden_size,
                cfg.num_layers,
                cfg.num_heads
            ),
            (1000, 128, 2, 2)
        );
        assert_eq!(cfg.intermediate_size, 512);
        assert_eq!(cfg.layer_norm_eps, f32::from_bits(0x2B8C_BCCC));
        assert_eq!(
            scratch_len_for_blob(&header(TINY), 64),
            Some(scratch_len(&cfg, 64))
        );
    }

    #[test]
    fn refuses_what_load_refuses() {
        let good = header(TINY);
        assert!(config_from_blob(&good[..HEADER_LEN - 1]).is_none());
        let mut bad = good;
        bad[0] = b'X';
        assert!(config_from_blob(&bad).is_none());
        let mut bad = good;
        bad[8] = 9;
        assert!(config_from_blob(&bad).is_none());
        for (field, value) in [(1, 0), (3, 3), (8, 2), (7, f32::NAN.to_bits())] {
            let mut cfg = TINY;
            cfg[field] = value;
            assert!(config_from_blob(&header(cfg)).is_none(), "field {field}");
        }
        assert!(scratch_len_for_blob(&good, 0).is_none());
        assert!(scratch_len_for_blob(&good, 513).is_none());
        assert!(scratch_len_for_blob(&good, 512).is_some());
    }
}
