//! How much scratch a forward pass needs. The caller owns the memory; these functions are exact
//! and `const`, so firmware can size a static buffer at compile time.

use crate::kernels::{groups, quant_bytes, PANEL_ROWS};
use crate::tensor::DType;
use crate::Config;

/// Widest feed-forward tile of [`crate::Model::forward`] ([`ffn_tile`]).
pub const FFN_TILE: usize = 256;

/// Columns of the feed-forward inner layer [`crate::Model::forward`] computes at a time for
/// `seq_len` tokens: the FFN never holds a full `seq x intermediate` activation. Up to 128
/// tokens [`FFN_TILE`] (256) rather than 64: each tile is two GEMM calls whose first weight
/// panel is not prefetched and whose second re-reads the output, and on MiniLM the wider tile
/// measured 4-5% faster in f32 and 14% in int8 at 16 tokens (5% at 128). Longer inputs narrow
/// it so the tile (`seq x tile` f32) stays within 128 KiB, in L2: at 512 tokens a 256-wide one
/// made int8 3-7% slower.
pub const fn ffn_tile(seq_len: usize, intermediate: usize) -> usize {
    let t = if seq_len <= 128 {
        FFN_TILE
    } else if seq_len <= 256 {
        128
    } else {
        64
    };
    min(t, intermediate)
}
/// The same for the compact plan, whose block is small and whose scratch is what a
/// microcontroller has.
pub const COMPACT_FFN_TILE: usize = 64;
/// Keys scored at a time by the streaming (online-softmax) attention.
pub const ATTN_BLOCK: usize = 64;

const fn min(a: usize, b: usize) -> usize {
    if a < b {
        a
    } else {
        b
    }
}

/// `f32` elements of scratch for a forward pass of `seq_len` tokens with f32 or f16 weights,
/// heads included: the hidden states, query, key, value and context (`5 x seq_len x hidden`),
/// one FFN tile (`seq_len x ffn_tile(seq_len, intermediate)`), and two hidden-sized vectors for
/// the heads.
/// (Attention accumulates straight into the context rows; its block of [`ATTN_BLOCK`] scores
/// is on the stack.) The same with any thread count.
pub const fn scratch_len(cfg: &Config, seq_len: usize) -> usize {
    let h = cfg.hidden_size;
    5usize
        .saturating_mul(seq_len)
        .saturating_mul(h)
        .saturating_add(seq_len.saturating_mul(ffn_tile(seq_len, cfg.intermediate_size)))
        .saturating_add(h.saturating_mul(2))
}

/// `f32` elements holding one quantised `rows x cols` activation matrix: the int8 panel layout
/// (`crate::kernels::quant_bytes`, rounded up to whole f32s) and one f32 scale per row and
/// group of `GROUP` (32) columns.
pub const fn quant_area_len(rows: usize, cols: usize) -> usize {
    let bytes = quant_bytes(rows, cols);
    if bytes == usize::MAX {
        // `quant_bytes` saturated: dividing it would make an absurd shape look allocatable.
        return usize::MAX;
    }
    bytes
        .div_ceil(4)
        .saturating_add(rows.saturating_mul(groups(cols)))
}

/// `f32` elements of scratch for `seq_len` tokens when the encoder's weights are `dtype`.
/// f32 and f16 need [`scratch_len`]; int8 adds the quantised layer input
/// (`seq_len x hidden`) and the quantised FFN tile (`seq_len x ffn_tile(..)`), see
/// [`quant_area_len`].
pub const fn scratch_len_for(cfg: &Config, seq_len: usize, dtype: DType) -> usize {
    let base = scratch_len(cfg, seq_len);
    match dtype {
        DType::F32 | DType::F16 => base,
        DType::I8 => base
            .saturating_add(quant_area_len(seq_len, cfg.hidden_size))
            .saturating_add(quant_area_len(
                seq_len,
                ffn_tile(seq_len, cfg.intermediate_size),
            )),
    }
}

/// Tokens the compact plan ([`crate::Model::forward_compact`]) takes through a layer at a time:
/// one quantisation panel.
pub const COMPACT_ROWS: usize = PANEL_ROWS;

/// `f32` elements of scratch for [`crate::Model::forward_compact`] on `seq_len` tokens when the
/// encoder's weights are `dtype` (exact). The compact plan keeps, besides the hidden states
/// (`seq_len x hidden` f32), only the keys and values of every token, in int8 with one scale
/// per token and 32 columns (`2 x (seq_len x hidden / 4 + seq_len x groups)`), and the working
/// set of one block of `r = min(16, seq_len)` tokens: its queries and context (reused for
/// the FFN output; the attention output projection adds into the hidden states), `2 x r x hidden`, and one FFN
/// tile, `r x min(64, intermediate)`. int8 adds the block's quantised input
/// (`quant_area_len(r, hidden)`) and FFN tile (`quant_area_len(r, min(64, intermediate))`).
/// The heads' two hidden-sized vectors fit in the block. Single-threaded.
pub const fn compact_scratch_len(cfg: &Config, seq_len: usize, dtype: DType) -> usize {
    let (h, s) = (cfg.hidden_size, seq_len);
    let r = min(COMPACT_ROWS, s);
    let tile = min(COMPACT_FFN_TILE, cfg.intermediate_size);
    let kv = s
        .saturating_mul(h)
        .div_ceil(4)
        .saturating_add(s.saturating_mul(groups(h)))
        .saturating_mul(2);
    let quant = match dtype {
        DType::F32 | DType::F16 => 0,
        DType::I8 => quant_area_len(r, h).saturating_add(quant_area_len(r, tile)),
    };
    s.saturating_mul(h)
        .saturating_add(kv)
        .saturating_add(r.saturating_mul(h).saturating_mul(2))
        .saturating_add(r.saturating_mul(tile))
        .saturating_add(quant)
}

/// Bytes of scratch for a forward pass of `seq_len` tokens with f32 or f16 weights:
/// `4 * scratch_len`.
pub const fn scratch_bytes(cfg: &Config, seq_len: usize) -> usize {
    scratch_len(cfg, seq_len).saturating_mul(4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HiddenAct;

    #[test]
    fn absurd_sizes_saturate_instead_of_wrapping() {
        // A wrapped (small) size would let a caller allocate too little and then be refused
        // by `forward` only by luck; a saturated one can never be allocated.
        let cfg = Config {
            vocab_size: 30522,
            hidden_size: usize::MAX / 3,
            num_layers: 1,
            num_heads: 1,
            intermediate_size: usize::MAX / 2,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            hidden_act: HiddenAct::GeluErf,
        };
        for dtype in [DType::F32, DType::F16, DType::I8] {
            assert_eq!(scratch_len_for(&cfg, 128, dtype), usize::MAX);
            assert_eq!(compact_scratch_len(&cfg, 128, dtype), usize::MAX);
        }
        assert_eq!(scratch_bytes(&cfg, 128), usize::MAX);
        assert_eq!(quant_area_len(usize::MAX / 8, 64), usize::MAX);
        let small = Config {
            hidden_size: 64,
            intermediate_size: 256,
            ..cfg
        };
        assert_eq!(scratch_len(&small, 10), 5 * 10 * 64 + 10 * 256 + 2 * 64);
    }
}
