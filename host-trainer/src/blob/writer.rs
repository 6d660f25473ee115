//! Serialises a model into a blob (`docs/FORMAT.md`): header, section table, tables, vocabulary,
//! then every tensor 64-byte aligned, then the CRC.

use half::f16;
use picobert::{HeadKind, Role, TensorEntry, TokenizerConfig, TokenizerMode, BLOB_ALIGN};

/// Tensor contents in one of the blob's dtypes.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    F32(Vec<f32>),
    F16(Vec<f16>),
    /// Per-row symmetric int8: `w[r][c] = q[r][c] * scales[r]`.
    I8 {
        q: Vec<i8>,
        scales: Vec<f32>,
    },
}

impl TensorData {
    pub fn dtype(&self) -> picobert::DType {
        match self {
            TensorData::F32(_) => picobert::DType::F32,
            TensorData::F16(_) => picobert::DType::F16,
            TensorData::I8 { .. } => picobert::DType::I8,
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            TensorData::F32(v) => bytemuck::cast_slice(v),
            TensorData::F16(v) => bytemuck::cast_slice(v),
            TensorData::I8 { q, .. } => bytemuck::cast_slice(q),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::F16(v) => v.len(),
            TensorData::I8 { q, .. } => q.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values widened to f32 (dequantised for i8).
    pub fn to_f32(&self, cols: usize) -> Vec<f32> {
        match self {
            TensorData::F32(v) => v.clone(),
            TensorData::F16(v) => v.iter().map(|x| x.to_f32()).collect(),
            TensorData::I8 { q, scales } => q
                .iter()
                .enumerate()
                .map(|(i, x)| *x as f32 * scales[i / cols.max(1)])
                .collect(),
        }
    }
}

/// One tensor to write.
#[derive(Debug, Clone)]
pub struct Tensor {
    pub role: Role,
    pub layer: usize,
    /// `[rows]` or `[rows, cols]`.
    pub shape: Vec<usize>,
    pub data: TensorData,
}

/// One task head to write.
#[derive(Debug, Clone)]
pub struct HeadSpec {
    pub kind: HeadKind,
    pub num_labels: usize,
    /// Empty, or one name per label.
    pub labels: Vec<String>,
}

/// Everything a blob holds.
#[derive(Debug, Clone)]
pub struct BlobModel {
    pub config: picobert::Config,
    pub tokenizer: TokenizerConfig,
    pub vocab: Vec<String>,
    pub tensors: Vec<Tensor>,
    pub heads: Vec<HeadSpec>,
}

fn align(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

fn u32_of(n: usize, what: &str) -> Result<u32, String> {
    u32::try_from(n).map_err(|_| format!("{what} ({n}) does not fit the blob's 32-bit fields"))
}

fn tokenizer_flags(t: &TokenizerConfig) -> u32 {
    // Mirrors picobert's `tok_flags`; strip_accents is always written explicitly.
    let mut f = 4; // STRIP_ACCENTS_SET
    if t.do_lower_case {
        f |= 1;
    }
    if t.strip_accents {
        f |= 2;
    }
    if t.tokenize_chinese_chars {
        f |= 8;
    }
    let mode = match t.mode {
        TokenizerMode::HuggingFace => 0,
        TokenizerMode::Google => 1,
    };
    f | (mode << 8)
}

impl BlobModel {
    /// The tensor with this role and layer.
    pub fn tensor(&self, role: Role, layer: usize) -> Option<&Tensor> {
        self.tensors
            .iter()
            .find(|t| t.role == role && t.layer == layer)
    }

    /// Serialises to blob bytes. The result loads with `picobert::Model::load` if the parts are
    /// consistent; the core's validation is the judge, so callers should load it once.
    pub fn to_bytes(&self) -> Result<Vec<u8>, String> {
        let c = &self.config;
        let mut strings = Vec::new();
        let mut head_rows = Vec::new();
        for h in &self.heads {
            let start = strings.len();
            if !h.labels.is_empty() && h.labels.len() != h.num_labels {
                return Err(format!(
                    "head {:?} has {} labels but {} names",
                    h.kind,
                    h.num_labels,
                    h.labels.len()
                ));
            }
            for l in &h.labels {
                let n = u16::try_from(l.len()).map_err(|_| format!("label too long: {l:?}"))?;
                strings.extend_from_slice(&n.to_le_bytes());
                strings.extend_from_slice(l.as_bytes());
            }
            head_rows.push([
                h.kind as u32,
                u32_of(h.num_labels, "num_labels")?,
                u32_of(start, "labels offset")?,
                u32_of(strings.len() - start, "labels length")?,
            ]);
        }
        let vocab = super::vocab_section(&self.vocab);

        // Sections: TENSORS, VOCAB, HEADS, STRINGS.
        let n_sections = 4;
        let table_off = picobert::HEADER_LEN;
        let tensors_off = table_off + 16 * n_sections;
        let tensors_len = 48 * self.tensors.len();
        let heads_off = tensors_off + tensors_len;
        let heads_len = 16 * head_rows.len();
        let strings_off = heads_off + heads_len;
        let vocab_off = align(strings_off + strings.len(), 4);
        let mut cursor = align(vocab_off + vocab.len(), BLOB_ALIGN);

        let mut entries = Vec::with_capacity(self.tensors.len());
        let mut placements = Vec::with_capacity(self.tensors.len());
        for t in &self.tensors {
            let data_off = cursor;
            let data_len = t.data.bytes().len();
            cursor += data_len;
            let (scale_off, scale_len) = match &t.data {
                TensorData::I8 { scales, .. } => {
                    let off = align(cursor, 4);
                    cursor = off + 4 * scales.len();
                    (off, 4 * scales.len())
                }
                _ => (0, 0),
            };
            cursor = align(cursor, BLOB_ALIGN);
            let mut shape = [0u32; 4];
            for (i, d) in t.shape.iter().enumerate().take(4) {
                shape[i] = u32_of(*d, "tensor dimension")?;
            }
            entries.push(TensorEntry {
                role: t.role as u16,
                layer: u16::try_from(t.layer).map_err(|_| "layer index too large".to_string())?,
                dtype: t.data.dtype().code(),
                layout: 0,
                rank: t.shape.len() as u8,
                reserved0: 0,
                shape,
                offset: u32_of(data_off, "tensor offset")?,
                len: u32_of(data_len, "tensor length")?,
                scale_offset: u32_of(scale_off, "scale offset")?,
                scale_len: u32_of(scale_len, "scale length")?,
                reserved1: [0, 0],
            });
            placements.push((data_off, scale_off));
        }
        let file_len = cursor;
        u32_of(file_len, "blob size")?;

        let mut out = vec![0u8; file_len];
        let put = |out: &mut Vec<u8>, off: usize, bytes: &[u8]| {
            out[off..off + bytes.len()].copy_from_slice(bytes)
        };
        let mut header = Vec::with_capacity(picobert::HEADER_LEN);
        header.extend_from_slice(&picobert::MAGIC);
        for v in [
            picobert::FORMAT_VERSION,
            0, // crc, filled below
            file_len as u32,
            picobert::HEADER_LEN as u32,
            n_sections as u32,
            table_off as u32,
            u32_of(c.vocab_size, "vocab_size")?,
            u32_of(c.hidden_size, "hidden_size")?,
            u32_of(c.num_layers, "num_layers")?,
            u32_of(c.num_heads, "num_heads")?,
            u32_of(c.intermediate_size, "intermediate_size")?,
            u32_of(c.max_position_embeddings, "max_position_embeddings")?,
            u32_of(c.type_vocab_size, "type_vocab_size")?,
            c.layer_norm_eps.to_bits(),
            1, // GELU (erf)
            0,
            tokenizer_flags(&self.tokenizer),
            u32_of(
                self.tokenizer.max_input_chars_per_word,
                "max_input_chars_per_word",
            )?,
            self.tokenizer.cls_id,
            self.tokenizer.sep_id,
            self.tokenizer.pad_id,
            self.tokenizer.unk_id,
            self.tokenizer.mask_id,
            0,
        ] {
            header.extend_from_slice(&v.to_le_bytes());
        }
        header.resize(picobert::HEADER_LEN, 0);
        put(&mut out, 0, &header);
        let sections = [
            [1, tensors_off, tensors_len, self.tensors.len()],
            [2, vocab_off, vocab.len(), self.vocab.len()],
            [3, heads_off, heads_len, head_rows.len()],
            [4, strings_off, strings.len(), 0],
        ];
        for (i, s) in sections.iter().enumerate() {
            for (j, v) in s.iter().enumerate() {
                put(
                    &mut out,
                    table_off + 16 * i + 4 * j,
                    &u32_of(*v, "section")?.to_le_bytes(),
                );
            }
        }
        put(&mut out, tensors_off, bytemuck::cast_slice(&entries));
        for (i, row) in head_rows.iter().enumerate() {
            put(&mut out, heads_off + 16 * i, bytemuck::cast_slice(row));
        }
        put(&mut out, strings_off, &strings);
        put(&mut out, vocab_off, &vocab);
        for (t, (data_off, scale_off)) in self.tensors.iter().zip(placements) {
            put(&mut out, data_off, t.data.bytes());
            if let TensorData::I8 { scales, .. } = &t.data {
                put(&mut out, scale_off, bytemuck::cast_slice(scales));
            }
        }
        let crc = picobert::crc32(&out[16..]);
        out[12..16].copy_from_slice(&crc.to_le_bytes());
        Ok(out)
    }
}
