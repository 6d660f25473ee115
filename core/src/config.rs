use crate::format::{ModelConfigRaw, TokenizerConfigRaw};
use crate::LoadError;

/// Activation of the feed-forward layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HiddenAct {
    /// `0.5 x (1 + erf(x / sqrt 2))`, BERT's and transformers' `"gelu"`.
    GeluErf,
}

/// Architecture of a model, as in transformers' `BertConfig`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    /// Vocabulary size V.
    pub vocab_size: usize,
    /// Hidden size H.
    pub hidden_size: usize,
    /// Encoder layers L.
    pub num_layers: usize,
    /// Attention heads A.
    pub num_heads: usize,
    /// Feed-forward inner size.
    pub intermediate_size: usize,
    /// Longest input in tokens.
    pub max_position_embeddings: usize,
    /// Number of segment (token type) ids.
    pub type_vocab_size: usize,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f32,
    /// Feed-forward activation.
    pub hidden_act: HiddenAct,
}

impl Config {
    /// Size of one attention head (0 for a config without heads, which the loader refuses).
    pub const fn head_dim(&self) -> usize {
        // `checked_div`: a `Config` is a plain struct, so the optimiser cannot know that
        // `num_heads` is non-zero and would keep a division-by-zero panic.
        match self.hidden_size.checked_div(self.num_heads) {
            Some(d) => d,
            None => 0,
        }
    }

    pub(crate) fn from_raw(raw: &ModelConfigRaw) -> Result<Config, LoadError> {
        let nz = |v: u32, name: &'static str| {
            if v == 0 {
                Err(LoadError::BadHeader(name))
            } else {
                Ok(v as usize)
            }
        };
        let hidden_act = match raw.hidden_act {
            1 => HiddenAct::GeluErf,
            _ => return Err(LoadError::BadHeader("hidden_act")),
        };
        let cfg = Config {
            vocab_size: nz(raw.vocab_size, "vocab_size")?,
            hidden_size: nz(raw.hidden_size, "hidden_size")?,
            num_layers: nz(raw.num_layers, "num_layers")?,
            num_heads: nz(raw.num_heads, "num_heads")?,
            intermediate_size: nz(raw.intermediate_size, "intermediate_size")?,
            max_position_embeddings: nz(raw.max_position_embeddings, "max_position_embeddings")?,
            type_vocab_size: nz(raw.type_vocab_size, "type_vocab_size")?,
            layer_norm_eps: raw.layer_norm_eps,
            hidden_act,
        };
        if cfg.hidden_size % cfg.num_heads != 0 {
            return Err(LoadError::BadHeader("num_heads"));
        }
        if !(cfg.layer_norm_eps.is_finite() && cfg.layer_norm_eps >= 0.0) {
            return Err(LoadError::BadHeader("layer_norm_eps"));
        }
        if cfg.num_layers > u16::MAX as usize {
            return Err(LoadError::BadHeader("num_layers"));
        }
        Ok(cfg)
    }
}

/// Which reference tokenizer to reproduce where they differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenizerMode {
    /// Hugging Face `BertTokenizer` (the slow, Python one).
    HuggingFace,
    /// Google's `tokenization.py`.
    Google,
}

/// Tokenizer settings stored in the blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenizerConfig {
    /// Lowercase the text.
    pub do_lower_case: bool,
    /// Strip accents (NFD, drop combining marks).
    pub strip_accents: bool,
    /// Put spaces around CJK ideographs.
    pub tokenize_chinese_chars: bool,
    /// Which reference to reproduce.
    pub mode: TokenizerMode,
    /// Longer words become `[UNK]`.
    pub max_input_chars_per_word: usize,
    /// `[CLS]` id.
    pub cls_id: u32,
    /// `[SEP]` id.
    pub sep_id: u32,
    /// `[PAD]` id.
    pub pad_id: u32,
    /// `[UNK]` id.
    pub unk_id: u32,
    /// `[MASK]` id.
    pub mask_id: u32,
}

/// Bits of `TokenizerConfig.flags` in the blob.
pub(crate) mod tok_flags {
    pub const LOWER: u32 = 1;
    pub const STRIP_ACCENTS: u32 = 2;
    pub const STRIP_ACCENTS_SET: u32 = 4;
    pub const CHINESE: u32 = 8;
    pub const MODE_SHIFT: u32 = 8;
}

impl TokenizerConfig {
    pub(crate) fn from_raw(raw: &TokenizerConfigRaw, vocab_size: usize) -> Result<Self, LoadError> {
        use tok_flags::*;
        let f = raw.flags;
        let lower = f & LOWER != 0;
        let strip_accents = if f & STRIP_ACCENTS_SET != 0 {
            f & STRIP_ACCENTS != 0
        } else {
            lower
        };
        let mode = match (f >> MODE_SHIFT) & 0xFF {
            0 => TokenizerMode::HuggingFace,
            1 => TokenizerMode::Google,
            _ => return Err(LoadError::BadHeader("tokenizer mode")),
        };
        if f & !(LOWER | STRIP_ACCENTS | STRIP_ACCENTS_SET | CHINESE | (0xFF << MODE_SHIFT)) != 0 {
            return Err(LoadError::BadHeader("tokenizer flags"));
        }
        let id = |v: u32, name: &'static str| {
            if v == crate::NO_TOKEN || (v as usize) < vocab_size {
                Ok(v)
            } else {
                Err(LoadError::BadHeader(name))
            }
        };
        Ok(TokenizerConfig {
            do_lower_case: lower,
            strip_accents,
            tokenize_chinese_chars: f & CHINESE != 0,
            mode,
            max_input_chars_per_word: raw.max_input_chars_per_word as usize,
            cls_id: id(raw.cls_id, "cls_id")?,
            sep_id: id(raw.sep_id, "sep_id")?,
            pad_id: id(raw.pad_id, "pad_id")?,
            unk_id: id(raw.unk_id, "unk_id")?,
            mask_id: id(raw.mask_id, "mask_id")?,
        })
    }
}
