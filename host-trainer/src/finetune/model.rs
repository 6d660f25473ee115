//! A BERT encoder with one task head, as transformers' `BertForSequenceClassification` (pooled
//! `[CLS]` -> dropout -> linear; softmax cross-entropy, sigmoid binary cross-entropy or mean
//! squared error) and `BertForTokenClassification` (every token -> dropout -> linear; softmax
//! cross-entropy over labelled tokens). The encoder is `train::model::Model`; the head's own
//! forward and backward are here.

use crate::train::gemm::{linear, linear_backward};
use crate::train::layers::{dropout, xent_backward, xent_forward};
use crate::train::model::{Acts, Batch, Model};
use crate::train::params::{views_mut, Init, TensorInfo};
use crate::train::rng::{DropoutMask, Rng};
use picobert::HeadKind;

/// Dropout site of the head, apart from the encoder's sites (which count up from 0).
const HEAD_SITE: u64 = 1 << 40;

/// What one example of a batch is trained towards.
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// One class id per sequence.
    Classes(Vec<u32>),
    /// `[batch, labels]` 0/1 values.
    Multi(Vec<f32>),
    /// `[batch, labels]` real values.
    Values(Vec<f32>),
    /// `[batch * seq]` tag ids, `None` where the token has no label (transformers' -100).
    Tags(Vec<Option<u32>>),
}

/// Encoder plus head. The head is `classifier.weight` `[labels, hidden]` then
/// `classifier.bias` `[labels]` in one buffer.
pub struct TaskModel {
    pub encoder: Model,
    pub kind: HeadKind,
    pub num_labels: usize,
    pub head: Vec<f32>,
    pub head_grads: Vec<f32>,
    pub head_tensors: Vec<TensorInfo>,
    /// Dropout probability in front of the classifier (`hidden_dropout_prob`, as transformers).
    pub dropout: f32,
}

/// Buffers the head keeps between forward and backward.
#[derive(Default)]
pub struct HeadActs {
    /// Sequence tasks: `[batch, hidden]` [CLS] states, pooled, and pooled after dropout.
    cls: Vec<f32>,
    pooled: Vec<f32>,
    /// Token tasks: `[labelled, hidden]` states after dropout, and their flat positions.
    input: Vec<f32>,
    positions: Vec<usize>,
    pub logits: Vec<f32>,
    lse: Vec<f32>,
    d_in: Vec<f32>,
}

/// Mean loss of a batch and the number of terms it averages.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Loss {
    pub sum: f64,
    pub count: usize,
}

impl TaskModel {
    /// A head of `num_labels` outputs initialised as transformers does (N(0, range), zero bias).
    pub fn new(encoder: Model, kind: HeadKind, num_labels: usize, seed: u64) -> Self {
        let h = encoder.dims.hidden;
        let mut rng = Rng::new(seed ^ 0x6865_6164);
        let mut head = vec![0.0; num_labels * h + num_labels];
        for w in &mut head[..num_labels * h] {
            *w = rng.normal() * encoder.dims.init_range;
        }
        let head_tensors = vec![
            TensorInfo {
                name: "classifier.weight".into(),
                shape: vec![num_labels, h],
                range: 0..num_labels * h,
                decay: true,
                init: Init::Normal,
            },
            TensorInfo {
                name: "classifier.bias".into(),
                shape: vec![num_labels],
                range: num_labels * h..num_labels * (h + 1),
                decay: false,
                init: Init::Zeros,
            },
        ];
        let dropout = encoder.dims.hidden_dropout;
        TaskModel {
            head_grads: vec![0.0; head.len()],
            encoder,
            kind,
            num_labels,
            head,
            head_tensors,
            dropout,
        }
    }

    pub fn is_token_task(&self) -> bool {
        self.kind == HeadKind::TokenClassification
    }

    /// The encoder tensors this task trains and saves: everything under `bert.`, without the
    /// pooler for token tasks (transformers' `BertForTokenClassification` has none).
    pub fn encoder_tensors(&self) -> Vec<TensorInfo> {
        self.encoder
            .index
            .tensors
            .iter()
            .filter(|t| t.name.starts_with("bert."))
            .filter(|t| !(self.is_token_task() && t.name.starts_with("bert.pooler.")))
            .cloned()
            .collect()
    }

    pub fn zero_grads(&mut self) {
        self.encoder.zero_grads();
        self.head_grads.fill(0.0);
    }

    fn split_head(&self) -> (&[f32], &[f32]) {
        self.head
            .split_at(self.num_labels * self.encoder.dims.hidden)
    }

    /// Forward pass: returns the loss and leaves the logits in `ha.logits` (`[batch, labels]`
    /// for sequence tasks; `[labelled tokens, labels]` in `ha.positions` order for token
    /// tasks, or every token when `targets` is `None`).
    pub fn forward(
        &self,
        b: &Batch,
        targets: Option<&Targets>,
        acts: &mut Acts,
        ha: &mut HeadActs,
        dropout_key: Option<u64>,
    ) -> Result<Loss, String> {
        self.encoder.encode(b, acts, dropout_key)?;
        let (bs, t, h, nl) = (b.batch, b.seq, self.encoder.dims.hidden, self.num_labels);
        let seq_out = acts.sequence_output();
        let mask = dropout_key.and_then(|k| DropoutMask::new(k, HEAD_SITE, self.dropout));
        let (w, bias) = self.split_head();
        let rows = if self.is_token_task() {
            ha.positions = match targets {
                Some(Targets::Tags(tags)) => {
                    if tags.len() != bs * t {
                        return Err("tag targets must cover batch * seq tokens".into());
                    }
                    (0..bs * t).filter(|&i| tags[i].is_some()).collect()
                }
                Some(_) => return Err("a token head needs tag targets".into()),
                None => (0..bs * t).collect(),
            };
            ha.input.resize(ha.positions.len() * h, 0.0);
            for (row, &pos) in ha.input.chunks_exact_mut(h).zip(&ha.positions) {
                row.copy_from_slice(&seq_out[pos * h..][..h]);
                if let Some(m) = &mask {
                    m.apply(row, pos * h);
                }
            }
            ha.positions.len()
        } else {
            ha.cls.resize(bs * h, 0.0);
            for (bi, row) in ha.cls.chunks_exact_mut(h).enumerate() {
                row.copy_from_slice(&seq_out[bi * t * h..][..h]);
            }
            let p = &self.encoder.params;
            let ix = &self.encoder.index;
            ha.pooled.resize(bs * h, 0.0);
            linear(
                &mut ha.pooled,
                &ha.cls,
                &p[ix.pool_w.clone()],
                &p[ix.pool_b.clone()],
                bs,
                h,
                h,
            );
            ha.pooled.iter_mut().for_each(|x| *x = x.tanh());
            ha.input.clear();
            ha.input.extend_from_slice(&ha.pooled);
            dropout(&mut ha.input, mask);
            bs
        };
        ha.logits.resize(rows * nl, 0.0);
        linear(&mut ha.logits, &ha.input, w, bias, rows, nl, h);
        let Some(targets) = targets else {
            return Ok(Loss::default());
        };
        self.loss(targets, rows, ha)
    }

    fn loss(&self, targets: &Targets, rows: usize, ha: &mut HeadActs) -> Result<Loss, String> {
        let nl = self.num_labels;
        match (self.kind, targets) {
            (HeadKind::SequenceClassification, Targets::Classes(c)) if c.len() == rows => {
                check_ids(c.iter().copied(), nl)?;
                ha.lse.resize(rows, 0.0);
                let (sum, _) = xent_forward(&ha.logits, c, &mut ha.lse, nl);
                Ok(Loss { sum, count: rows })
            }
            (HeadKind::TokenClassification, Targets::Tags(tags)) => {
                let labels: Vec<u32> = tags.iter().flatten().copied().collect();
                check_ids(labels.iter().copied(), nl)?;
                ha.lse.resize(rows, 0.0);
                let (sum, _) = xent_forward(&ha.logits, &labels, &mut ha.lse, nl);
                Ok(Loss { sum, count: rows })
            }
            (HeadKind::MultiLabelClassification, Targets::Multi(y)) if y.len() == rows * nl => {
                // BCEWithLogits, written in the overflow-free form max(z,0) - z*y + log1p(e^-|z|).
                let sum = ha
                    .logits
                    .iter()
                    .zip(y)
                    .map(|(&z, &y)| {
                        let z = z as f64;
                        z.max(0.0) - z * y as f64 + (-z.abs()).exp().ln_1p()
                    })
                    .sum();
                Ok(Loss {
                    sum,
                    count: rows * nl,
                })
            }
            (HeadKind::Regression, Targets::Values(y)) if y.len() == rows * nl => {
                let sum = ha
                    .logits
                    .iter()
                    .zip(y)
                    .map(|(&z, &y)| (z as f64 - y as f64).powi(2))
                    .sum();
                Ok(Loss {
                    sum,
                    count: rows * nl,
                })
            }
            _ => Err(format!(
                "targets do not fit a {:?} head of {nl} labels over {rows} rows",
                self.kind
            )),
        }
    }

    /// Accumulates `d(mean loss)/d(params)` for the batch of the last `forward` (same targets
    /// and dropout key). Consumes `ha.logits`.
    pub fn backward(
        &mut self,
        b: &Batch,
        targets: &Targets,
        acts: &mut Acts,
        ha: &mut HeadActs,
        dropout_key: Option<u64>,
    ) {
        let (bs, t, h, nl) = (b.batch, b.seq, self.encoder.dims.hidden, self.num_labels);
        let rows = ha.logits.len() / nl;
        match targets {
            Targets::Classes(c) => xent_backward(&mut ha.logits, c, &ha.lse, nl, 1.0 / rows as f32),
            Targets::Tags(tags) => {
                let labels: Vec<u32> = tags.iter().flatten().copied().collect();
                xent_backward(&mut ha.logits, &labels, &ha.lse, nl, 1.0 / rows as f32);
            }
            Targets::Multi(y) => {
                let s = 1.0 / (rows * nl) as f32;
                for (z, &y) in ha.logits.iter_mut().zip(y) {
                    *z = (1.0 / (1.0 + (-*z).exp()) - y) * s;
                }
            }
            Targets::Values(y) => {
                let s = 2.0 / (rows * nl) as f32;
                for (z, &y) in ha.logits.iter_mut().zip(y) {
                    *z = (*z - y) * s;
                }
            }
        }
        let mask = dropout_key.and_then(|k| DropoutMask::new(k, HEAD_SITE, self.dropout));
        ha.d_in.resize(rows * h, 0.0);
        {
            let (w_range, b_range) = (
                self.head_tensors[0].range.clone(),
                self.head_tensors[1].range.clone(),
            );
            let [dw, db] = views_mut(&mut self.head_grads, [&w_range, &b_range]);
            linear_backward(
                &mut ha.d_in,
                false,
                dw,
                db,
                &ha.logits,
                &ha.input,
                &self.head[w_range.clone()],
                rows,
                nl,
                h,
            );
        }
        let d_seq = acts.d_sequence_output();
        d_seq.fill(0.0);
        if self.is_token_task() {
            for (row, &pos) in ha.d_in.chunks_exact_mut(h).zip(&ha.positions) {
                if let Some(m) = &mask {
                    m.apply(row, pos * h);
                }
                d_seq[pos * h..][..h].copy_from_slice(row);
            }
        } else {
            dropout(&mut ha.d_in, mask);
            ha.d_in
                .iter_mut()
                .zip(&ha.pooled)
                .for_each(|(d, y)| *d *= 1.0 - y * y);
            let ix = &self.encoder.index;
            let p = &self.encoder.params;
            let [dw, db] = views_mut(&mut self.encoder.grads, [&ix.pool_w, &ix.pool_b]);
            let mut d_cls = vec![0.0; bs * h];
            linear_backward(
                &mut d_cls,
                false,
                dw,
                db,
                &ha.d_in,
                &ha.cls,
                &p[ix.pool_w.clone()],
                bs,
                h,
                h,
            );
            for (bi, row) in d_cls.chunks_exact(h).enumerate() {
                d_seq[bi * t * h..][..h].copy_from_slice(row);
            }
        }
        self.encoder.encode_backward(b, acts, dropout_key);
    }
}

fn check_ids(ids: impl Iterator<Item = u32>, n: usize) -> Result<(), String> {
    for id in ids {
        if id as usize >= n {
            return Err(format!("label id {id} out of range ({n} labels)"));
        }
    }
    Ok(())
}
