//! The encoder: embeddings, L Transformer layers, and the outputs read from them.

use crate::format::{HeadKind, Role};
use crate::kernels::{
    dot, gelu, groups, layer_norm, linear, linear_i8, quant_bytes, quantize_rows, tanh,
    QuantizedRows,
};
use crate::scratch::{scratch_len_for, ATTN_BLOCK, FFN_TILE};
use crate::tensor::{DType, Matrix, Weights};
use crate::{Model, RunError};

/// One sequence to encode, as transformers takes it.
#[derive(Debug, Clone, Copy)]
pub struct Input<'i> {
    /// Token ids, `[CLS]` and `[SEP]` included.
    pub input_ids: &'i [u32],
    /// Segment ids (0 for sentence A, 1 for B); all 0 when `None`.
    pub token_type_ids: Option<&'i [u32]>,
    /// 1 for tokens to attend to, 0 for padding; all 1 when `None`. Any non-zero value counts as 1.
    pub attention_mask: Option<&'i [u32]>,
}

impl<'i> Input<'i> {
    /// A single segment, no padding.
    pub fn new(input_ids: &'i [u32]) -> Self {
        Input {
            input_ids,
            token_type_ids: None,
            attention_mask: None,
        }
    }

    /// With segment ids.
    pub fn with_token_types(mut self, token_type_ids: &'i [u32]) -> Self {
        self.token_type_ids = Some(token_type_ids);
        self
    }

    /// With an attention mask.
    pub fn with_attention_mask(mut self, attention_mask: &'i [u32]) -> Self {
        self.attention_mask = Some(attention_mask);
        self
    }

    fn attends(&self, j: usize) -> bool {
        self.attention_mask
            .is_none_or(|m| m.get(j).is_some_and(|v| *v != 0))
    }
}

/// The result of a forward pass: the sequence output lives at the front of the caller's
/// scratch, and the heads use the rest as working memory.
pub struct Encoded<'r, 'a> {
    model: &'r Model<'a>,
    hidden: &'r mut [f32],
    work: &'r mut [f32],
    mask: Option<&'r [u32]>,
    seq_len: usize,
}

const MISSING: RunError = RunError::NoSuchHead;

impl<'a> Model<'a> {
    /// `f32` elements of scratch [`Model::forward`] needs for `seq_len` tokens (exact; see
    /// [`crate::scratch_len_for`]: more when the encoder layers hold int8 weights).
    pub fn scratch_len(&self, seq_len: usize) -> usize {
        let dtype = if self.has_int8_layers() {
            DType::I8
        } else {
            DType::F32
        };
        scratch_len_for(self.config(), seq_len, dtype)
    }

    /// Whether any encoder-layer matrix is int8, which puts the layers on the quantised path.
    fn has_int8_layers(&self) -> bool {
        (0..self.config().num_layers).any(|l| {
            [
                Role::QueryWeight,
                Role::KeyWeight,
                Role::ValueWeight,
                Role::AttnOutWeight,
                Role::InterWeight,
                Role::OutWeight,
            ]
            .iter()
            .filter_map(|&r| self.matrix(r, l))
            .any(|m| matches!(m.w, Weights::I8 { .. }))
        })
    }

    /// Runs the encoder on one sequence. The sequence output is written into `scratch`, which
    /// must hold at least [`Model::scratch_len`] elements.
    pub fn forward<'r>(
        &'r self,
        input: &Input<'r>,
        scratch: &'r mut [f32],
    ) -> Result<Encoded<'r, 'a>, RunError> {
        let cfg = *self.config();
        let s = input.input_ids.len();
        if s == 0 {
            return Err(RunError::EmptyInput);
        }
        if s > cfg.max_position_embeddings {
            return Err(RunError::TooLong {
                len: s,
                max: cfg.max_position_embeddings,
            });
        }
        if input.token_type_ids.is_some_and(|t| t.len() != s)
            || input.attention_mask.is_some_and(|m| m.len() != s)
        {
            return Err(RunError::LengthMismatch);
        }
        for (position, &id) in input.input_ids.iter().enumerate() {
            if id as usize >= cfg.vocab_size {
                return Err(RunError::IdOutOfRange { position, id });
            }
        }
        if let Some(types) = input.token_type_ids {
            for (position, &t) in types.iter().enumerate() {
                if t as usize >= cfg.type_vocab_size {
                    return Err(RunError::TypeOutOfRange {
                        position,
                        token_type: t,
                    });
                }
            }
        }
        let needed = self.scratch_len(s);
        if scratch.len() < needed {
            return Err(RunError::ScratchTooSmall {
                needed,
                given: scratch.len(),
            });
        }
        let h = cfg.hidden_size;
        let (hidden, work) = scratch[..needed].split_at_mut(s * h);
        self.embed(input, hidden)?;
        for layer in 0..cfg.num_layers {
            self.layer(layer, input, hidden, work)?;
        }
        Ok(Encoded {
            model: self,
            hidden,
            work,
            mask: input.attention_mask,
            seq_len: s,
        })
    }

    fn embed(&self, input: &Input, hidden: &mut [f32]) -> Result<(), RunError> {
        let h = self.config().hidden_size;
        let word = self.matrix(Role::WordEmb, 0).ok_or(MISSING)?;
        let pos = self.matrix(Role::PosEmb, 0).ok_or(MISSING)?;
        let typ = self.matrix(Role::TypeEmb, 0).ok_or(MISSING)?;
        let g = self.vector(Role::EmbLnWeight, 0).ok_or(MISSING)?;
        let b = self.vector(Role::EmbLnBias, 0).ok_or(MISSING)?;
        let mut tmp = [0f32; 64];
        for (i, row) in hidden.chunks_exact_mut(h).enumerate() {
            let t = input.token_type_ids.map_or(0, |t| t[i]) as usize;
            word.row_into(input.input_ids[i] as usize, row);
            // Add the two other embeddings chunk by chunk through a small stack buffer: no
            // extra scratch, and the sum order is transformers' (word + type) + position.
            for (c, dst) in row.chunks_mut(tmp.len()).enumerate() {
                let part = &mut tmp[..dst.len()];
                let cols = c * 64;
                typ.columns(cols, dst.len()).row_into(t, part);
                dst.iter_mut().zip(part.iter()).for_each(|(d, v)| *d += v);
                pos.columns(cols, dst.len()).row_into(i, part);
                dst.iter_mut().zip(part.iter()).for_each(|(d, v)| *d += v);
            }
            layer_norm(row, g, b, self.config().layer_norm_eps);
        }
        Ok(())
    }

    fn layer(
        &self,
        l: usize,
        input: &Input,
        hidden: &mut [f32],
        work: &mut [f32],
    ) -> Result<(), RunError> {
        let cfg = &self.config();
        let (s, h) = (input.input_ids.len(), cfg.hidden_size);
        let sh = s * h;
        let m = |r| self.matrix(r, l).ok_or(MISSING);
        let v = |r| self.vector(r, l).ok_or(MISSING);
        let (q, rest) = work.split_at_mut(sh);
        let (k, rest) = rest.split_at_mut(sh);
        let (val, rest) = rest.split_at_mut(sh);
        let (ctx, rest) = rest.split_at_mut(sh);
        let tile_w = FFN_TILE.min(cfg.intermediate_size);
        let (tile, rest) = rest.split_at_mut(s * tile_w);
        // With int8 weights, the layer input and one FFN tile are also kept quantised (the
        // areas `scratch_len_for(.., DType::I8)` adds after the float buffers).
        let (mut xq, mut tq, rest) = if self.has_int8_layers() {
            let (a, rest) = QuantArea::split(rest, s, h);
            let (b, rest) = QuantArea::split(rest, s, tile_w);
            (Some(a), Some(b), rest)
        } else {
            (None, None, rest)
        };

        let x = quantize(hidden, s, h, &mut xq);
        for (wr, br, out) in [
            (Role::QueryWeight, Role::QueryBias, &mut *q),
            (Role::KeyWeight, Role::KeyBias, &mut *k),
            (Role::ValueWeight, Role::ValueBias, &mut *val),
        ] {
            project(hidden, x.as_ref(), s, &m(wr)?, Some(v(br)?), out, false);
        }
        self.attention(input, q, k, val, ctx, rest);

        // Attention output projection into `q` (free now), residual, LayerNorm.
        let attn_out = q;
        let wo = m(Role::AttnOutWeight)?;
        let x = quantize(ctx, s, h, &mut xq);
        project(
            ctx,
            x.as_ref(),
            s,
            &wo,
            Some(v(Role::AttnOutBias)?),
            attn_out,
            false,
        );
        let (g, b) = (v(Role::AttnLnWeight)?, v(Role::AttnLnBias)?);
        for (x, y) in hidden.chunks_exact_mut(h).zip(attn_out.chunks_exact(h)) {
            x.iter_mut().zip(y).for_each(|(a, b)| *a += b);
            layer_norm(x, g, b, cfg.layer_norm_eps);
        }

        // Feed-forward, tiled over the inner dimension: out = b2 + sum over tiles of
        // gelu(x W1[tile]^T + b1[tile]) W2[:, tile]^T. On the int8 path each tile is quantised
        // per row on its own, which also gives each 64-column slice its own scale.
        let out = k;
        let (w1, b1) = (m(Role::InterWeight)?, v(Role::InterBias)?);
        let (w2, b2) = (m(Role::OutWeight)?, v(Role::OutBias)?);
        for row in out.chunks_exact_mut(h) {
            row.copy_from_slice(b2);
        }
        let x = quantize(hidden, s, h, &mut xq);
        let mut t0 = 0;
        while t0 < cfg.intermediate_size {
            let tw = tile_w.min(cfg.intermediate_size - t0);
            let inter = &mut tile[..s * tw];
            let w1t = w1.rows(t0, tw);
            project(
                hidden,
                x.as_ref(),
                s,
                &w1t,
                Some(&b1[t0..t0 + tw]),
                inter,
                false,
            );
            gelu(inter);
            let it = quantize(inter, s, tw, &mut tq);
            project(inter, it.as_ref(), s, &w2.columns(t0, tw), None, out, true);
            t0 += tw;
        }
        let (g, b) = (v(Role::OutLnWeight)?, v(Role::OutLnBias)?);
        for (x, y) in hidden.chunks_exact_mut(h).zip(out.chunks_exact(h)) {
            x.iter_mut().zip(y).for_each(|(a, b)| *a += b);
            layer_norm(x, g, b, cfg.layer_norm_eps);
        }
        Ok(())
    }

    /// Multi-head attention streamed per (head, query) with an online softmax over blocks of
    /// keys, so no `seq x seq` matrix exists. Masked keys get `f32::MIN` added to their score,
    /// as transformers does, so even an all-masked row gives transformers' (uniform) result.
    fn attention(
        &self,
        input: &Input,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        ctx: &mut [f32],
        rest: &mut [f32],
    ) {
        let cfg = &self.config();
        let (s, h, d) = (input.input_ids.len(), cfg.hidden_size, cfg.head_dim());
        let scale = 1.0 / libm::sqrtf(d as f32);
        let (scores, rest) = rest.split_at_mut(ATTN_BLOCK);
        let acc = &mut rest[..d];
        for head in 0..cfg.num_heads {
            let cols = head * d..(head + 1) * d;
            for i in 0..s {
                let qi = &q[i * h..][cols.clone()];
                let mut max = f32::NEG_INFINITY;
                let mut sum = 0f32;
                acc.fill(0.0);
                let mut j0 = 0;
                while j0 < s {
                    let n = ATTN_BLOCK.min(s - j0);
                    let mut block_max = f32::NEG_INFINITY;
                    for (jj, sc) in scores[..n].iter_mut().enumerate() {
                        let j = j0 + jj;
                        let mut x = dot(qi, &k[j * h..][cols.clone()]) * scale;
                        if !input.attends(j) {
                            x += f32::MIN;
                        }
                        *sc = x;
                        block_max = block_max.max(x);
                    }
                    let new_max = max.max(block_max);
                    let correction = libm::expf(max - new_max);
                    sum *= correction;
                    acc.iter_mut().for_each(|a| *a *= correction);
                    for (jj, sc) in scores[..n].iter().enumerate() {
                        let p = libm::expf(sc - new_max);
                        sum += p;
                        let vj = &v[(j0 + jj) * h..][cols.clone()];
                        acc.iter_mut().zip(vj).for_each(|(a, x)| *a += p * x);
                    }
                    max = new_max;
                    j0 += n;
                }
                let inv = 1.0 / sum;
                for (c, a) in ctx[i * h..][cols.clone()].iter_mut().zip(acc.iter()) {
                    *c = a * inv;
                }
            }
        }
    }
}

/// Scratch for one quantised activation matrix, carved out of the f32 scratch.
struct QuantArea<'s> {
    data: &'s mut [i8],
    scales: &'s mut [f32],
}

impl<'s> QuantArea<'s> {
    /// Splits the area for `rows x cols` off the front of `buf` (the layout of
    /// [`crate::scratch::quant_area_len`]).
    fn split(buf: &'s mut [f32], rows: usize, cols: usize) -> (Self, &'s mut [f32]) {
        let (data, rest) = buf.split_at_mut(quant_bytes(rows, cols).div_ceil(4));
        let (scales, rest) = rest.split_at_mut(rows * groups(cols));
        let data: &mut [i8] = bytemuck::cast_slice_mut(data);
        (QuantArea { data, scales }, rest)
    }
}

/// Quantises `x` (`rows x cols`) into `area`, if the layer runs on int8.
fn quantize<'q>(
    x: &[f32],
    rows: usize,
    cols: usize,
    area: &'q mut Option<QuantArea>,
) -> Option<QuantizedRows<'q>> {
    let a = area.as_mut()?;
    Some(quantize_rows(x, rows, cols, a.data, a.scales))
}

/// `out (+)= x W^T + b`: the int8 kernel when the weights are int8 and `x` was quantised, the
/// float kernel otherwise (a blob may mix precisions per tensor).
fn project(
    x: &[f32],
    xq: Option<&QuantizedRows>,
    rows: usize,
    w: &Matrix,
    bias: Option<&[f32]>,
    out: &mut [f32],
    accumulate: bool,
) {
    match (w.w, xq) {
        (Weights::I8 { q, scales }, Some(xq)) => {
            linear_i8(xq, q, scales, w.stride, w.rows, bias, out, accumulate)
        }
        _ => linear(x, rows, w, bias, out, accumulate),
    }
}

fn check_len(needed: usize, given: usize) -> Result<(), RunError> {
    if needed == given {
        Ok(())
    } else {
        Err(RunError::OutputLength { needed, given })
    }
}

impl<'r, 'a> Encoded<'r, 'a> {
    /// Tokens in the sequence.
    pub fn seq_len(&self) -> usize {
        self.seq_len
    }

    /// The last hidden layer, `[seq_len, hidden]` row-major (transformers' `last_hidden_state`).
    pub fn sequence_output(&self) -> &[f32] {
        self.hidden
    }

    /// The pooled output, `tanh(W h[CLS] + b)` (transformers' `pooler_output`), into `out`
    /// (`hidden` long).
    pub fn pooled_output(&mut self, out: &mut [f32]) -> Result<(), RunError> {
        let h = self.model.config().hidden_size;
        check_len(h, out.len())?;
        let w = self.model.matrix(Role::PoolerWeight, 0).ok_or(MISSING)?;
        let b = self.model.vector(Role::PoolerBias, 0).ok_or(MISSING)?;
        linear(&self.hidden[..h], 1, &w, Some(b), out, false);
        tanh(out);
        Ok(())
    }

    /// Mean of the hidden states over attended tokens, L2-normalised if `normalize`, into `out`
    /// (`hidden` long): sentence-transformers' mean pooling (+ `Normalize`).
    pub fn sentence_embedding(&self, normalize: bool, out: &mut [f32]) -> Result<(), RunError> {
        let h = self.model.config().hidden_size;
        check_len(h, out.len())?;
        out.fill(0.0);
        let mut count = 0f32;
        for (i, row) in self.hidden.chunks_exact(h).enumerate() {
            let w = self.mask.map_or(1.0, |m| if m[i] != 0 { 1.0 } else { 0.0 });
            out.iter_mut().zip(row).for_each(|(o, x)| *o += x * w);
            count += w;
        }
        let inv = 1.0 / count.max(1e-9);
        out.iter_mut().for_each(|o| *o *= inv);
        if normalize {
            let norm = libm::sqrtf(out.iter().map(|x| x * x).sum::<f32>()).max(1e-12);
            out.iter_mut().for_each(|o| *o /= norm);
        }
        Ok(())
    }

    fn pooled_then(&mut self, role_w: Role, role_b: Role, out: &mut [f32]) -> Result<(), RunError> {
        let h = self.model.config().hidden_size;
        let w = self.model.matrix(role_w, 0).ok_or(RunError::NoSuchHead)?;
        let b = self.model.vector(role_b, 0).ok_or(RunError::NoSuchHead)?;
        check_len(w.rows, out.len())?;
        let pooled = core::mem::take(&mut self.work);
        self.pooled_output(&mut pooled[..h])?;
        linear(&pooled[..h], 1, &w, Some(b), out, false);
        self.work = pooled;
        Ok(())
    }

    /// Sequence-classification (or multi-label, or regression) logits from the pooled output,
    /// into `out` (`num_labels` long). Softmax/sigmoid are left to the caller.
    pub fn classifier_logits(&mut self, out: &mut [f32]) -> Result<(), RunError> {
        self.pooled_then(Role::SeqClsWeight, Role::SeqClsBias, out)
    }

    /// Next-sentence logits (`[is_next, not_next]`) into `out` (2 long).
    pub fn nsp_logits(&mut self, out: &mut [f32]) -> Result<(), RunError> {
        self.pooled_then(Role::NspWeight, Role::NspBias, out)
    }

    /// Token-classification logits, `[seq_len, num_labels]` row-major, into `out`.
    pub fn token_logits(&self, out: &mut [f32]) -> Result<(), RunError> {
        let w = self
            .model
            .matrix(Role::TokClsWeight, 0)
            .ok_or(RunError::NoSuchHead)?;
        let b = self
            .model
            .vector(Role::TokClsBias, 0)
            .ok_or(RunError::NoSuchHead)?;
        check_len(self.seq_len * w.rows, out.len())?;
        linear(self.hidden, self.seq_len, &w, Some(b), out, false);
        Ok(())
    }

    /// Masked-LM logits over the vocabulary for the token at `position`, into `out`
    /// (`vocab_size` long): transform (dense, GELU, LayerNorm), then the decoder tied to the
    /// word embeddings, plus the output bias.
    pub fn mlm_logits(&mut self, position: usize, out: &mut [f32]) -> Result<(), RunError> {
        let model = self.model;
        if model.head(HeadKind::MaskedLm).is_none() {
            return Err(RunError::NoSuchHead);
        }
        if position >= self.seq_len {
            return Err(RunError::PositionOutOfRange);
        }
        let cfg = model.config();
        let h = cfg.hidden_size;
        check_len(cfg.vocab_size, out.len())?;
        let m = |r| model.matrix(r, 0).ok_or(MISSING);
        let v = |r| model.vector(r, 0).ok_or(MISSING);
        let t = &mut self.work[..h];
        let x = &self.hidden[position * h..(position + 1) * h];
        linear(
            x,
            1,
            &m(Role::MlmTransformWeight)?,
            Some(v(Role::MlmTransformBias)?),
            t,
            false,
        );
        gelu(t);
        layer_norm(
            t,
            v(Role::MlmLnWeight)?,
            v(Role::MlmLnBias)?,
            cfg.layer_norm_eps,
        );
        let decoder: Matrix = model
            .matrix(Role::MlmDecoderWeight, 0)
            .map_or_else(|| m(Role::WordEmb), Ok)?;
        linear(t, 1, &decoder, Some(v(Role::MlmBias)?), out, false);
        Ok(())
    }
}
