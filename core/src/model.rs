//! Loading and validating a blob; borrowed access to its parts.

use crate::config::{Config, TokenizerConfig};
use crate::format::{
    HeadEntry, HeadKind, Header, Role, SectionEntry, SectionKind, TensorEntry, BLOB_ALIGN,
    FORMAT_VERSION, HEADER_LEN, MAGIC, MAX_SECTIONS,
};
use crate::heads::{Head, Labels};
use crate::tensor::{DType, Matrix, Weights};
use crate::vocab::Vocab;
use crate::LoadError;

/// A model borrowed from a blob. Cheap to copy; holds no buffers of its own.
#[derive(Clone, Copy, Debug)]
pub struct Model<'a> {
    blob: &'a [u8],
    config: Config,
    tokenizer: TokenizerConfig,
    vocab: Vocab<'a>,
    tensors: &'a [TensorEntry],
    heads: &'a [HeadEntry],
    strings: &'a [u8],
}

fn range(blob_len: usize, offset: u32, len: u32) -> Option<core::ops::Range<usize>> {
    let start = offset as usize;
    let end = start.checked_add(len as usize)?;
    (end <= blob_len).then_some(start..end)
}

impl<'a> Model<'a> {
    /// Validates `bytes` as a blob (see `docs/FORMAT.md`) and borrows it. Never panics; every
    /// malformed input is an error. Cost: one pass over the bytes for the checksum.
    pub fn load(bytes: &'a [u8]) -> Result<Self, LoadError> {
        if cfg!(target_endian = "big") {
            return Err(LoadError::BigEndianTarget);
        }
        if bytes.len() < HEADER_LEN {
            return Err(LoadError::Truncated);
        }
        if bytes.as_ptr() as usize % 4 != 0 {
            return Err(LoadError::Misaligned);
        }
        let header: Header = bytemuck::pod_read_unaligned(&bytes[..HEADER_LEN]);
        if header.magic != MAGIC {
            return Err(LoadError::BadMagic);
        }
        if header.version != FORMAT_VERSION {
            return Err(LoadError::UnsupportedVersion(header.version));
        }
        let file_len = header.file_len as usize;
        if file_len > bytes.len() {
            return Err(LoadError::Truncated);
        }
        if file_len < HEADER_LEN {
            return Err(LoadError::BadHeader("file_len"));
        }
        let blob = &bytes[..file_len];
        let computed = crate::crc32(&blob[16..]);
        if computed != header.crc32 {
            return Err(LoadError::ChecksumMismatch {
                stored: header.crc32,
                computed,
            });
        }
        if header.header_len as usize != HEADER_LEN {
            return Err(LoadError::BadHeader("header_len"));
        }
        if header.reserved != [0; 6] {
            return Err(LoadError::BadHeader("reserved"));
        }
        let config = Config::from_raw(&header.config)?;
        let tokenizer = TokenizerConfig::from_raw(&header.tokenizer, config.vocab_size)?;

        let sections = Self::sections(blob, &header)?;
        let find = |kind: SectionKind| sections.iter().find(|s| s.kind == kind as u32);
        let section_bytes = |s: &SectionEntry| {
            range(file_len, s.offset, s.len)
                .filter(|r| r.start >= HEADER_LEN)
                .and_then(|r| blob.get(r))
        };

        let vs = find(SectionKind::Vocab).ok_or(LoadError::BadSection("no VOCAB section"))?;
        let vocab_bytes = section_bytes(vs).ok_or(LoadError::BadSection("VOCAB out of bounds"))?;
        let vocab = Vocab::from_bytes(vocab_bytes)?;
        if vocab.len() != config.vocab_size {
            return Err(LoadError::BadVocab("count differs from vocab_size"));
        }

        let strings = match find(SectionKind::Strings) {
            Some(s) => section_bytes(s).ok_or(LoadError::BadSection("STRINGS out of bounds"))?,
            None => &[],
        };
        let heads: &[HeadEntry] = match find(SectionKind::Heads) {
            Some(s) => Self::table(section_bytes(s), s.count, "HEADS")?,
            None => &[],
        };
        let ts = find(SectionKind::Tensors).ok_or(LoadError::BadSection("no TENSORS section"))?;
        let tensors: &[TensorEntry] = Self::table(section_bytes(ts), ts.count, "TENSORS")?;

        let model = Model {
            blob,
            config,
            tokenizer,
            vocab,
            tensors,
            heads,
            strings,
        };
        model.validate_heads()?;
        model.validate_tensors()?;
        Ok(model)
    }

    fn sections(blob: &'a [u8], h: &Header) -> Result<&'a [SectionEntry], LoadError> {
        if h.section_count > MAX_SECTIONS {
            return Err(LoadError::BadHeader("section_count"));
        }
        let len = h.section_count * 16;
        let bytes = range(blob.len(), h.section_table_offset, len)
            .filter(|r| r.start >= HEADER_LEN)
            .and_then(|r| blob.get(r))
            .ok_or(LoadError::BadHeader("section_table_offset"))?;
        let table: &[SectionEntry] = bytemuck::try_cast_slice(bytes)
            .map_err(|_| LoadError::BadHeader("section_table_offset"))?;
        for (i, s) in table.iter().enumerate() {
            if table.iter().take(i).any(|p| p.kind == s.kind) {
                return Err(LoadError::BadSection("duplicate section kind"));
            }
        }
        Ok(table)
    }

    fn table<T: bytemuck::Pod>(
        bytes: Option<&'a [u8]>,
        count: u32,
        what: &'static str,
    ) -> Result<&'a [T], LoadError> {
        let bytes = bytes.ok_or(LoadError::BadSection(what))?;
        let want = (count as usize).checked_mul(core::mem::size_of::<T>());
        if want != Some(bytes.len()) {
            return Err(LoadError::BadSection(what));
        }
        bytemuck::try_cast_slice(bytes).map_err(|_| LoadError::BadSection(what))
    }

    fn validate_heads(&self) -> Result<(), LoadError> {
        for (i, h) in self.heads.iter().enumerate() {
            let kind = HeadKind::from_code(h.kind).ok_or(LoadError::BadHead("unknown kind"))?;
            if self.heads.iter().take(i).any(|p| p.kind == h.kind) {
                return Err(LoadError::BadHead("duplicate kind"));
            }
            let n = h.num_labels as usize;
            match kind {
                HeadKind::MaskedLm if n != self.config.vocab_size => {
                    return Err(LoadError::BadHead("masked LM num_labels != vocab_size"))
                }
                HeadKind::NextSentence if n != 2 => {
                    return Err(LoadError::BadHead("next-sentence num_labels != 2"))
                }
                _ if n == 0 => return Err(LoadError::BadHead("num_labels is 0")),
                _ => {}
            }
            if kind.uses_pooler() && self.find(Role::PoolerWeight, 0).is_none() {
                return Err(LoadError::BadHead(
                    "head reads the pooled output; no pooler",
                ));
            }
            if h.labels_len > 0 {
                let r = range(self.strings.len(), h.labels_offset, h.labels_len)
                    .ok_or(LoadError::BadHead("labels outside STRINGS"))?;
                Labels::new(&self.strings[r], n).validate()?;
            }
        }
        Ok(())
    }

    /// Expected shape of a tensor, or `None` if the role is not allowed in this model.
    fn expected_shape(&self, role: Role) -> Option<[usize; 2]> {
        let c = &self.config;
        let (v, h, i) = (c.vocab_size, c.hidden_size, c.intermediate_size);
        let labels = |kinds: &[HeadKind]| {
            self.heads
                .iter()
                .find(|e| kinds.iter().any(|k| *k as u32 == e.kind))
                .map(|e| e.num_labels as usize)
        };
        use Role::*;
        Some(match role {
            WordEmb => [v, h],
            PosEmb => [c.max_position_embeddings, h],
            TypeEmb => [c.type_vocab_size, h],
            EmbLnWeight | EmbLnBias => [h, 0],
            QueryWeight | KeyWeight | ValueWeight | AttnOutWeight => [h, h],
            QueryBias | KeyBias | ValueBias | AttnOutBias => [h, 0],
            AttnLnWeight | AttnLnBias | OutBias | OutLnWeight | OutLnBias => [h, 0],
            InterWeight => [i, h],
            InterBias => [i, 0],
            OutWeight => [h, i],
            PoolerWeight => [h, h],
            PoolerBias => [h, 0],
            MlmTransformWeight | MlmTransformBias | MlmLnWeight | MlmLnBias | MlmBias
            | MlmDecoderWeight => {
                labels(&[HeadKind::MaskedLm])?;
                match role {
                    MlmTransformWeight => [h, h],
                    MlmBias => [v, 0],
                    MlmDecoderWeight => [v, h],
                    _ => [h, 0],
                }
            }
            NspWeight => [labels(&[HeadKind::NextSentence])?, h],
            NspBias => [labels(&[HeadKind::NextSentence])?, 0],
            SeqClsWeight | SeqClsBias => {
                let n = labels(&[
                    HeadKind::SequenceClassification,
                    HeadKind::MultiLabelClassification,
                    HeadKind::Regression,
                ])?;
                if role == SeqClsWeight {
                    [n, h]
                } else {
                    [n, 0]
                }
            }
            TokClsWeight => [labels(&[HeadKind::TokenClassification])?, h],
            TokClsBias => [labels(&[HeadKind::TokenClassification])?, 0],
        })
    }

    fn validate_tensors(&self) -> Result<(), LoadError> {
        let max_tensors = 64 + 16 * self.config.num_layers;
        if self.tensors.len() > max_tensors {
            return Err(LoadError::BadSection("too many tensors"));
        }
        for (i, t) in self.tensors.iter().enumerate() {
            let bad = |what| LoadError::BadTensor {
                role: t.role,
                layer: t.layer,
                what,
            };
            let Some(role) = Role::from_code(t.role) else {
                continue;
            };
            if self
                .tensors
                .iter()
                .take(i)
                .any(|p| p.role == t.role && p.layer == t.layer)
            {
                return Err(bad("duplicate"));
            }
            let layer_ok = if role.is_per_layer() {
                (t.layer as usize) < self.config.num_layers
            } else {
                t.layer == 0
            };
            if !layer_ok {
                return Err(bad("layer index out of range"));
            }
            let shape = self
                .expected_shape(role)
                .ok_or(bad("head tensor without its head"))?;
            let rank = if shape[1] == 0 { 1 } else { 2 };
            if t.rank != rank
                || t.shape[0] as usize != shape[0]
                || t.shape[1] as usize != shape[1]
                || t.shape[2] != 0
                || t.shape[3] != 0
            {
                return Err(bad("shape differs from the config"));
            }
            let dtype = DType::from_code(t.dtype).ok_or(bad("unknown dtype"))?;
            if t.layout != 0 || t.reserved0 != 0 || t.reserved1 != [0, 0] {
                return Err(bad("unknown layout or non-zero reserved field"));
            }
            if rank == 1 && dtype != DType::F32 {
                return Err(bad("vectors must be f32"));
            }
            let elems = shape[0]
                .checked_mul(shape[1].max(1))
                .and_then(|n| n.checked_mul(dtype.size()))
                .ok_or(bad("size overflow"))?;
            if t.len as usize != elems {
                return Err(bad("byte length differs from the shape"));
            }
            let r = range(self.blob.len(), t.offset, t.len).ok_or(bad("data out of bounds"))?;
            if r.start < HEADER_LEN || r.start % BLOB_ALIGN != 0 {
                return Err(bad("data offset not 64-byte aligned"));
            }
            if dtype == DType::I8 {
                let want = shape[0].checked_mul(4).ok_or(bad("size overflow"))?;
                if t.scale_len as usize != want || t.scale_offset % 4 != 0 {
                    return Err(bad("scales length or alignment"));
                }
                let r = range(self.blob.len(), t.scale_offset, t.scale_len)
                    .filter(|r| r.start >= HEADER_LEN)
                    .ok_or(bad("scales out of bounds"))?;
                let scales: &[f32] =
                    bytemuck::try_cast_slice(&self.blob[r]).map_err(|_| bad("scales alignment"))?;
                if scales.iter().any(|s| !s.is_finite() || *s < 0.0) {
                    return Err(bad("scale not finite and non-negative"));
                }
            } else if t.scale_len != 0 || t.scale_offset != 0 {
                return Err(bad("scales on a non-i8 tensor"));
            }
        }
        let required = |role: Role, layer: usize| {
            if self.find(role, layer).is_some() {
                Ok(())
            } else {
                Err(LoadError::MissingTensor {
                    role: role as u16,
                    layer: layer as u16,
                })
            }
        };
        for role in [
            Role::WordEmb,
            Role::PosEmb,
            Role::TypeEmb,
            Role::EmbLnWeight,
            Role::EmbLnBias,
        ] {
            required(role, 0)?;
        }
        for layer in 0..self.config.num_layers {
            for role in Role::ALL.iter().filter(|r| r.is_per_layer()) {
                required(*role, layer)?;
            }
        }
        if self.find(Role::PoolerWeight, 0).is_some() != self.find(Role::PoolerBias, 0).is_some() {
            return Err(LoadError::MissingTensor {
                role: Role::PoolerBias as u16,
                layer: 0,
            });
        }
        for h in self.heads {
            if let Some(kind) = HeadKind::from_code(h.kind) {
                for role in kind.roles() {
                    required(*role, 0)?;
                }
            }
        }
        Ok(())
    }

    pub(crate) fn find(&self, role: Role, layer: usize) -> Option<&'a TensorEntry> {
        self.tensors
            .iter()
            .find(|t| t.role == role as u16 && t.layer as usize == layer)
    }

    /// A weight matrix; `None` only if the tensor is absent (validated at load).
    pub(crate) fn matrix(&self, role: Role, layer: usize) -> Option<Matrix<'a>> {
        let t = self.find(role, layer)?;
        let data = self
            .blob
            .get(t.offset as usize..(t.offset + t.len) as usize)?;
        let rows = t.shape[0] as usize;
        let cols = (t.shape[1] as usize).max(1);
        let w = match DType::from_code(t.dtype)? {
            DType::F32 => Weights::F32(bytemuck::try_cast_slice(data).ok()?),
            DType::F16 => Weights::F16(bytemuck::try_cast_slice(data).ok()?),
            DType::I8 => {
                let s = self
                    .blob
                    .get(t.scale_offset as usize..(t.scale_offset + t.scale_len) as usize)?;
                Weights::I8 {
                    q: bytemuck::try_cast_slice(data).ok()?,
                    scales: bytemuck::try_cast_slice(s).ok()?,
                }
            }
        };
        Some(Matrix {
            w,
            rows,
            cols,
            stride: cols,
        })
    }

    /// An f32 vector (bias, LayerNorm parameter).
    pub(crate) fn vector(&self, role: Role, layer: usize) -> Option<&'a [f32]> {
        match self.matrix(role, layer)?.w {
            Weights::F32(v) => Some(v),
            _ => None,
        }
    }

    /// The architecture.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The tokenizer settings.
    pub fn tokenizer_config(&self) -> &TokenizerConfig {
        &self.tokenizer
    }

    /// The vocabulary.
    pub fn vocab(&self) -> &Vocab<'a> {
        &self.vocab
    }

    /// Every tensor entry, in blob order (entries with unknown roles included).
    pub fn tensors(&self) -> &'a [TensorEntry] {
        self.tensors
    }

    /// Whether the blob has the pooler (`[CLS]` -> dense -> tanh).
    pub fn has_pooler(&self) -> bool {
        self.find(Role::PoolerWeight, 0).is_some()
    }

    /// The head of this kind, if the blob has it.
    pub fn head(&self, kind: HeadKind) -> Option<Head<'a>> {
        let e = self.heads.iter().find(|h| h.kind == kind as u32)?;
        let labels = if e.labels_len == 0 {
            Labels::new(&[], 0)
        } else {
            let r = range(self.strings.len(), e.labels_offset, e.labels_len)?;
            Labels::new(&self.strings[r], e.num_labels as usize)
        };
        Some(Head {
            kind,
            num_labels: e.num_labels as usize,
            labels,
        })
    }

    /// Every head the blob has.
    pub fn heads(&self) -> impl Iterator<Item = Head<'a>> + '_ {
        HeadKind::ALL.into_iter().filter_map(|k| self.head(k))
    }

    /// The blob bytes this model borrows.
    pub fn bytes(&self) -> &'a [u8] {
        self.blob
    }
}
