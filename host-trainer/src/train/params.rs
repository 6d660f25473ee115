//! The parameter layout: one contiguous f32 buffer, with named views in transformers'
//! `BertForPreTraining` order and names, so checkpoints map one to one onto `model.safetensors`.

use crate::hf::HfConfig;
use std::ops::Range;

/// Model sizes and regularisation, the part of `config.json` the trainer uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Dims {
    pub vocab: usize,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub inter: usize,
    pub max_pos: usize,
    pub type_vocab: usize,
    pub eps: f32,
    pub hidden_dropout: f32,
    pub attn_dropout: f32,
    pub init_range: f32,
    pub pad_id: Option<u32>,
}

impl Dims {
    pub fn from_config(c: &HfConfig) -> Result<Self, String> {
        c.check()?;
        for (name, p) in [
            ("hidden_dropout_prob", c.hidden_dropout_prob),
            (
                "attention_probs_dropout_prob",
                c.attention_probs_dropout_prob,
            ),
        ] {
            if !(0.0..1.0).contains(&p) {
                return Err(format!("{name} is {p}; it must be in [0, 1)"));
            }
        }
        Ok(Dims {
            vocab: c.vocab_size,
            hidden: c.hidden_size,
            layers: c.num_hidden_layers,
            heads: c.num_attention_heads,
            inter: c.intermediate_size,
            max_pos: c.max_position_embeddings,
            type_vocab: c.type_vocab_size,
            eps: c.layer_norm_eps,
            hidden_dropout: c.hidden_dropout_prob,
            attn_dropout: c.attention_probs_dropout_prob,
            init_range: c.initializer_range,
            pad_id: c.pad_token_id,
        })
    }

    pub fn head_dim(&self) -> usize {
        self.hidden / self.heads
    }
}

/// One named tensor in the flat buffer.
#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub name: String,
    pub shape: Vec<usize>,
    pub range: Range<usize>,
    /// AdamW weight decay applies (not to biases and LayerNorm, as Google's BERT).
    pub decay: bool,
    /// Initialised from N(0, initializer_range) rather than zeros/ones.
    pub init: Init,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    Normal,
    Zeros,
    Ones,
}

/// The views of one encoder layer.
#[derive(Debug, Clone)]
pub struct LayerIdx {
    pub q_w: Range<usize>,
    pub q_b: Range<usize>,
    pub k_w: Range<usize>,
    pub k_b: Range<usize>,
    pub v_w: Range<usize>,
    pub v_b: Range<usize>,
    pub ao_w: Range<usize>,
    pub ao_b: Range<usize>,
    pub ln1_g: Range<usize>,
    pub ln1_b: Range<usize>,
    pub i_w: Range<usize>,
    pub i_b: Range<usize>,
    pub o_w: Range<usize>,
    pub o_b: Range<usize>,
    pub ln2_g: Range<usize>,
    pub ln2_b: Range<usize>,
}

/// All views, in `BertForPreTraining.named_parameters()` order.
#[derive(Debug, Clone)]
pub struct ParamIndex {
    pub word: Range<usize>,
    pub pos: Range<usize>,
    pub typ: Range<usize>,
    pub emb_ln_g: Range<usize>,
    pub emb_ln_b: Range<usize>,
    pub layers: Vec<LayerIdx>,
    pub pool_w: Range<usize>,
    pub pool_b: Range<usize>,
    pub mlm_bias: Range<usize>,
    pub tr_w: Range<usize>,
    pub tr_b: Range<usize>,
    pub tr_ln_g: Range<usize>,
    pub tr_ln_b: Range<usize>,
    pub nsp_w: Range<usize>,
    pub nsp_b: Range<usize>,
    pub tensors: Vec<TensorInfo>,
    pub total: usize,
}

struct Builder {
    tensors: Vec<TensorInfo>,
    total: usize,
}

impl Builder {
    fn add(&mut self, name: String, shape: &[usize]) -> Range<usize> {
        let len: usize = shape.iter().product();
        let range = self.total..self.total + len;
        self.total += len;
        let is_ln = name.contains("LayerNorm");
        let is_bias = name.ends_with("bias");
        let init = if is_ln && name.ends_with("weight") {
            Init::Ones
        } else if is_ln || is_bias {
            Init::Zeros
        } else {
            Init::Normal
        };
        self.tensors.push(TensorInfo {
            name,
            shape: shape.to_vec(),
            range: range.clone(),
            decay: !(is_ln || is_bias),
            init,
        });
        range
    }
}

impl ParamIndex {
    pub fn new(d: &Dims) -> Self {
        let (h, i) = (d.hidden, d.inter);
        let mut b = Builder {
            tensors: Vec::new(),
            total: 0,
        };
        let e = "bert.embeddings";
        let word = b.add(format!("{e}.word_embeddings.weight"), &[d.vocab, h]);
        let pos = b.add(format!("{e}.position_embeddings.weight"), &[d.max_pos, h]);
        let typ = b.add(
            format!("{e}.token_type_embeddings.weight"),
            &[d.type_vocab, h],
        );
        let emb_ln_g = b.add(format!("{e}.LayerNorm.weight"), &[h]);
        let emb_ln_b = b.add(format!("{e}.LayerNorm.bias"), &[h]);
        let layers = (0..d.layers)
            .map(|l| {
                let p = format!("bert.encoder.layer.{l}");
                LayerIdx {
                    q_w: b.add(format!("{p}.attention.self.query.weight"), &[h, h]),
                    q_b: b.add(format!("{p}.attention.self.query.bias"), &[h]),
                    k_w: b.add(format!("{p}.attention.self.key.weight"), &[h, h]),
                    k_b: b.add(format!("{p}.attention.self.key.bias"), &[h]),
                    v_w: b.add(format!("{p}.attention.self.value.weight"), &[h, h]),
                    v_b: b.add(format!("{p}.attention.self.value.bias"), &[h]),
                    ao_w: b.add(format!("{p}.attention.output.dense.weight"), &[h, h]),
                    ao_b: b.add(format!("{p}.attention.output.dense.bias"), &[h]),
                    ln1_g: b.add(format!("{p}.attention.output.LayerNorm.weight"), &[h]),
                    ln1_b: b.add(format!("{p}.attention.output.LayerNorm.bias"), &[h]),
                    i_w: b.add(format!("{p}.intermediate.dense.weight"), &[i, h]),
                    i_b: b.add(format!("{p}.intermediate.dense.bias"), &[i]),
                    o_w: b.add(format!("{p}.output.dense.weight"), &[h, i]),
                    o_b: b.add(format!("{p}.output.dense.bias"), &[h]),
                    ln2_g: b.add(format!("{p}.output.LayerNorm.weight"), &[h]),
                    ln2_b: b.add(format!("{p}.output.LayerNorm.bias"), &[h]),
                }
            })
            .collect();
        let pool_w = b.add("bert.pooler.dense.weight".into(), &[h, h]);
        let pool_b = b.add("bert.pooler.dense.bias".into(), &[h]);
        let mlm_bias = b.add("cls.predictions.bias".into(), &[d.vocab]);
        let tr_w = b.add("cls.predictions.transform.dense.weight".into(), &[h, h]);
        let tr_b = b.add("cls.predictions.transform.dense.bias".into(), &[h]);
        let tr_ln_g = b.add("cls.predictions.transform.LayerNorm.weight".into(), &[h]);
        let tr_ln_b = b.add("cls.predictions.transform.LayerNorm.bias".into(), &[h]);
        let nsp_w = b.add("cls.seq_relationship.weight".into(), &[2, h]);
        let nsp_b = b.add("cls.seq_relationship.bias".into(), &[2]);
        ParamIndex {
            word,
            pos,
            typ,
            emb_ln_g,
            emb_ln_b,
            layers,
            pool_w,
            pool_b,
            mlm_bias,
            tr_w,
            tr_b,
            tr_ln_g,
            tr_ln_b,
            nsp_w,
            nsp_b,
            tensors: b.tensors,
            total: b.total,
        }
    }

    pub fn find(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The tensor holding flat element `i`.
    pub fn owner(&self, i: usize) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.range.contains(&i))
    }
}

/// Disjoint mutable views of one buffer; panics only on overlapping ranges, a programming error.
pub fn views_mut<'a, const N: usize>(
    buf: &'a mut [f32],
    ranges: [&Range<usize>; N],
) -> [&'a mut [f32]; N] {
    let mut order: [usize; N] = std::array::from_fn(|i| i);
    order.sort_by_key(|&i| ranges[i].start);
    let mut out: [Option<&'a mut [f32]>; N] = std::array::from_fn(|_| None);
    let mut rest = buf;
    let mut consumed = 0;
    for &i in &order {
        let r = ranges[i];
        assert!(r.start >= consumed, "overlapping parameter views");
        let tail = std::mem::take(&mut rest);
        let (_, tail) = tail.split_at_mut(r.start - consumed);
        let (mid, tail) = tail.split_at_mut(r.end - r.start);
        out[i] = Some(mid);
        rest = tail;
        consumed = r.end;
    }
    out.map(|o| o.expect("every view assigned"))
}
