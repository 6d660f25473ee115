//! On-disk structures of the blob, byte for byte as `docs/FORMAT.md` describes them.

use bytemuck::{Pod, Zeroable};

/// First eight bytes of every blob.
pub const MAGIC: [u8; 8] = *b"PICOBERT";
/// The format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// Length of the fixed header.
pub const HEADER_LEN: usize = 128;
/// Alignment of every tensor's data relative to the start of the blob.
pub const BLOB_ALIGN: usize = 64;
/// Special-token id meaning "this vocabulary has no such token".
pub const NO_TOKEN: u32 = u32::MAX;
/// Upper bound on sections, so validation is bounded on hostile input.
pub(crate) const MAX_SECTIONS: u32 = 64;

/// Fixed header.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub(crate) struct Header {
    pub magic: [u8; 8],
    pub version: u32,
    pub crc32: u32,
    pub file_len: u32,
    pub header_len: u32,
    pub section_count: u32,
    pub section_table_offset: u32,
    pub config: ModelConfigRaw,
    pub tokenizer: TokenizerConfigRaw,
    pub reserved: [u32; 6],
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub(crate) struct ModelConfigRaw {
    pub vocab_size: u32,
    pub hidden_size: u32,
    pub num_layers: u32,
    pub num_heads: u32,
    pub intermediate_size: u32,
    pub max_position_embeddings: u32,
    pub type_vocab_size: u32,
    pub layer_norm_eps: f32,
    pub hidden_act: u32,
    pub reserved: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub(crate) struct TokenizerConfigRaw {
    pub flags: u32,
    pub max_input_chars_per_word: u32,
    pub cls_id: u32,
    pub sep_id: u32,
    pub pad_id: u32,
    pub unk_id: u32,
    pub mask_id: u32,
    pub reserved: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub(crate) struct SectionEntry {
    pub kind: u32,
    pub offset: u32,
    pub len: u32,
    pub count: u32,
}

/// One row of the TENSORS section.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug, PartialEq, Eq)]
pub struct TensorEntry {
    /// [`Role`] code.
    pub role: u16,
    /// Encoder layer index, 0 for tensors outside the layers.
    pub layer: u16,
    /// [`crate::DType`] code.
    pub dtype: u8,
    /// Layout code; 0 = row-major.
    pub layout: u8,
    /// Number of dimensions (1 or 2).
    pub rank: u8,
    /// Zero.
    pub reserved0: u8,
    /// Dimensions; unused ones are 0.
    pub shape: [u32; 4],
    /// Absolute offset of the data.
    pub offset: u32,
    /// Data length in bytes.
    pub len: u32,
    /// Absolute offset of the per-row f32 scales (i8 only).
    pub scale_offset: u32,
    /// Length of the scales in bytes (i8 only).
    pub scale_len: u32,
    /// Zero.
    pub reserved1: [u32; 2],
}

/// One row of the HEADS section.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub(crate) struct HeadEntry {
    pub kind: u32,
    pub num_labels: u32,
    pub labels_offset: u32,
    pub labels_len: u32,
}

const _: () = assert!(core::mem::size_of::<Header>() == HEADER_LEN);
const _: () = assert!(core::mem::size_of::<ModelConfigRaw>() == 40);
const _: () = assert!(core::mem::size_of::<TokenizerConfigRaw>() == 32);
const _: () = assert!(core::mem::size_of::<SectionEntry>() == 16);
const _: () = assert!(core::mem::size_of::<TensorEntry>() == 48);
const _: () = assert!(core::mem::size_of::<HeadEntry>() == 16);

/// Section kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum SectionKind {
    /// The tensor table.
    Tensors = 1,
    /// The vocabulary.
    Vocab = 2,
    /// The head table.
    Heads = 3,
    /// Byte pool for label names.
    Strings = 4,
}

/// What a tensor is; the numbering is part of the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
#[allow(missing_docs)]
pub enum Role {
    WordEmb = 1,
    PosEmb = 2,
    TypeEmb = 3,
    EmbLnWeight = 4,
    EmbLnBias = 5,
    QueryWeight = 16,
    QueryBias = 17,
    KeyWeight = 18,
    KeyBias = 19,
    ValueWeight = 20,
    ValueBias = 21,
    AttnOutWeight = 22,
    AttnOutBias = 23,
    AttnLnWeight = 24,
    AttnLnBias = 25,
    InterWeight = 26,
    InterBias = 27,
    OutWeight = 28,
    OutBias = 29,
    OutLnWeight = 30,
    OutLnBias = 31,
    PoolerWeight = 40,
    PoolerBias = 41,
    MlmTransformWeight = 48,
    MlmTransformBias = 49,
    MlmLnWeight = 50,
    MlmLnBias = 51,
    MlmBias = 52,
    MlmDecoderWeight = 53,
    NspWeight = 56,
    NspBias = 57,
    SeqClsWeight = 64,
    SeqClsBias = 65,
    TokClsWeight = 72,
    TokClsBias = 73,
}

impl Role {
    /// Every role, in format order.
    pub const ALL: [Role; 35] = [
        Role::WordEmb,
        Role::PosEmb,
        Role::TypeEmb,
        Role::EmbLnWeight,
        Role::EmbLnBias,
        Role::QueryWeight,
        Role::QueryBias,
        Role::KeyWeight,
        Role::KeyBias,
        Role::ValueWeight,
        Role::ValueBias,
        Role::AttnOutWeight,
        Role::AttnOutBias,
        Role::AttnLnWeight,
        Role::AttnLnBias,
        Role::InterWeight,
        Role::InterBias,
        Role::OutWeight,
        Role::OutBias,
        Role::OutLnWeight,
        Role::OutLnBias,
        Role::PoolerWeight,
        Role::PoolerBias,
        Role::MlmTransformWeight,
        Role::MlmTransformBias,
        Role::MlmLnWeight,
        Role::MlmLnBias,
        Role::MlmBias,
        Role::MlmDecoderWeight,
        Role::NspWeight,
        Role::NspBias,
        Role::SeqClsWeight,
        Role::SeqClsBias,
        Role::TokClsWeight,
        Role::TokClsBias,
    ];

    /// The role with this code, if any.
    pub fn from_code(code: u16) -> Option<Role> {
        Role::ALL.iter().copied().find(|r| *r as u16 == code)
    }

    /// Whether the role belongs to an encoder layer (has a meaningful layer index).
    pub fn is_per_layer(self) -> bool {
        (16..=31).contains(&(self as u16))
    }

    /// transformers' parameter name, with `{}` standing for the layer index.
    pub fn hf_name(self) -> &'static str {
        match self {
            Role::WordEmb => "embeddings.word_embeddings.weight",
            Role::PosEmb => "embeddings.position_embeddings.weight",
            Role::TypeEmb => "embeddings.token_type_embeddings.weight",
            Role::EmbLnWeight => "embeddings.LayerNorm.weight",
            Role::EmbLnBias => "embeddings.LayerNorm.bias",
            Role::QueryWeight => "encoder.layer.{}.attention.self.query.weight",
            Role::QueryBias => "encoder.layer.{}.attention.self.query.bias",
            Role::KeyWeight => "encoder.layer.{}.attention.self.key.weight",
            Role::KeyBias => "encoder.layer.{}.attention.self.key.bias",
            Role::ValueWeight => "encoder.layer.{}.attention.self.value.weight",
            Role::ValueBias => "encoder.layer.{}.attention.self.value.bias",
            Role::AttnOutWeight => "encoder.layer.{}.attention.output.dense.weight",
            Role::AttnOutBias => "encoder.layer.{}.attention.output.dense.bias",
            Role::AttnLnWeight => "encoder.layer.{}.attention.output.LayerNorm.weight",
            Role::AttnLnBias => "encoder.layer.{}.attention.output.LayerNorm.bias",
            Role::InterWeight => "encoder.layer.{}.intermediate.dense.weight",
            Role::InterBias => "encoder.layer.{}.intermediate.dense.bias",
            Role::OutWeight => "encoder.layer.{}.output.dense.weight",
            Role::OutBias => "encoder.layer.{}.output.dense.bias",
            Role::OutLnWeight => "encoder.layer.{}.output.LayerNorm.weight",
            Role::OutLnBias => "encoder.layer.{}.output.LayerNorm.bias",
            Role::PoolerWeight => "pooler.dense.weight",
            Role::PoolerBias => "pooler.dense.bias",
            Role::MlmTransformWeight => "cls.predictions.transform.dense.weight",
            Role::MlmTransformBias => "cls.predictions.transform.dense.bias",
            Role::MlmLnWeight => "cls.predictions.transform.LayerNorm.weight",
            Role::MlmLnBias => "cls.predictions.transform.LayerNorm.bias",
            Role::MlmBias => "cls.predictions.bias",
            Role::MlmDecoderWeight => "cls.predictions.decoder.weight",
            Role::NspWeight => "cls.seq_relationship.weight",
            Role::NspBias => "cls.seq_relationship.bias",
            Role::SeqClsWeight => "classifier.weight",
            Role::SeqClsBias => "classifier.bias",
            Role::TokClsWeight => "classifier.weight",
            Role::TokClsBias => "classifier.bias",
        }
    }
}

/// Task heads a blob can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum HeadKind {
    /// Pooled output -> linear -> softmax over labels.
    SequenceClassification = 1,
    /// Pooled output -> linear -> independent sigmoids.
    MultiLabelClassification = 2,
    /// Pooled output -> linear, raw values.
    Regression = 3,
    /// Sequence output -> linear per token.
    TokenClassification = 4,
    /// Masked-LM head (transform, LayerNorm, decoder tied to word embeddings).
    MaskedLm = 5,
    /// Next-sentence prediction on the pooled output.
    NextSentence = 6,
}

impl HeadKind {
    /// Every head kind.
    pub const ALL: [HeadKind; 6] = [
        HeadKind::SequenceClassification,
        HeadKind::MultiLabelClassification,
        HeadKind::Regression,
        HeadKind::TokenClassification,
        HeadKind::MaskedLm,
        HeadKind::NextSentence,
    ];

    /// The kind with this code, if any.
    pub fn from_code(code: u32) -> Option<HeadKind> {
        HeadKind::ALL.iter().copied().find(|k| *k as u32 == code)
    }

    /// The tensors (weight, bias) the head owns.
    pub(crate) fn roles(self) -> &'static [Role] {
        match self {
            HeadKind::SequenceClassification
            | HeadKind::MultiLabelClassification
            | HeadKind::Regression => &[Role::SeqClsWeight, Role::SeqClsBias],
            HeadKind::TokenClassification => &[Role::TokClsWeight, Role::TokClsBias],
            HeadKind::MaskedLm => &[
                Role::MlmTransformWeight,
                Role::MlmTransformBias,
                Role::MlmLnWeight,
                Role::MlmLnBias,
                Role::MlmBias,
            ],
            HeadKind::NextSentence => &[Role::NspWeight, Role::NspBias],
        }
    }

    /// Whether the head reads the pooled output (needs the pooler).
    pub fn uses_pooler(self) -> bool {
        matches!(
            self,
            HeadKind::SequenceClassification
                | HeadKind::MultiLabelClassification
                | HeadKind::Regression
                | HeadKind::NextSentence
        )
    }
}
