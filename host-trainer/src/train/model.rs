//! BertForPreTraining: forward with cached activations and a hand-written backward, layer by
//! layer, over the flat parameter buffer (see `params`).

use super::gemm::{linear, linear_backward};
use super::layers::*;
use super::params::{views_mut, Dims, Init, ParamIndex};
use super::rng::{DropoutMask, Rng};

/// One batch of pretraining instances, padded to `seq`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    pub batch: usize,
    pub seq: usize,
    /// [batch * seq]
    pub input_ids: Vec<u32>,
    pub token_type_ids: Vec<u32>,
    /// 1 for real tokens, 0 for padding.
    pub attention_mask: Vec<u8>,
    /// Flat positions `b * seq + t` of the masked tokens, and their original ids.
    pub mlm_positions: Vec<u32>,
    pub mlm_labels: Vec<u32>,
    /// [batch]: 0 = B follows A, 1 = B is random (transformers' convention).
    pub nsp_labels: Vec<u32>,
}

/// Loss and accuracy of one forward pass.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    pub mlm_loss_sum: f64,
    pub nsp_loss_sum: f64,
    pub mlm_correct: usize,
    pub mlm_count: usize,
    pub nsp_correct: usize,
    pub nsp_count: usize,
}

impl Stats {
    pub fn mlm_loss(&self) -> f64 {
        self.mlm_loss_sum / self.mlm_count.max(1) as f64
    }
    pub fn nsp_loss(&self) -> f64 {
        self.nsp_loss_sum / self.nsp_count.max(1) as f64
    }
    /// transformers' `total_loss`: mean MLM loss plus mean NSP loss.
    pub fn loss(&self) -> f64 {
        self.mlm_loss() + self.nsp_loss()
    }
    pub fn add(&mut self, o: &Stats) {
        self.mlm_loss_sum += o.mlm_loss_sum;
        self.nsp_loss_sum += o.nsp_loss_sum;
        self.mlm_correct += o.mlm_correct;
        self.mlm_count += o.mlm_count;
        self.nsp_correct += o.nsp_correct;
        self.nsp_count += o.nsp_count;
    }
}

#[derive(Default)]
struct LayerActs {
    qh: Vec<f32>,
    kh: Vec<f32>,
    vh: Vec<f32>,
    probs: Vec<f32>,
    ctx: Vec<f32>,
    res1: Vec<f32>,
    ln1: Vec<f32>,
    mean1: Vec<f32>,
    rstd1: Vec<f32>,
    pre: Vec<f32>,
    act: Vec<f32>,
    res2: Vec<f32>,
    out: Vec<f32>,
    mean2: Vec<f32>,
    rstd2: Vec<f32>,
}

/// Activations saved by the forward pass plus backward scratch; reused across steps.
#[derive(Default)]
pub struct Acts {
    emb_sum: Vec<f32>,
    emb_mean: Vec<f32>,
    emb_rstd: Vec<f32>,
    emb_out: Vec<f32>,
    layers: Vec<LayerActs>,
    scratch: Vec<f32>,
    mlm_in: Vec<f32>,
    tr_pre: Vec<f32>,
    tr_act: Vec<f32>,
    tr_mean: Vec<f32>,
    tr_rstd: Vec<f32>,
    tr_out: Vec<f32>,
    /// [masked, vocab]: logits after forward, their gradient after backward.
    pub logits: Vec<f32>,
    lse: Vec<f32>,
    cls: Vec<f32>,
    pooled: Vec<f32>,
    /// [batch, 2]
    pub nsp_logits: Vec<f32>,
    nsp_lse: Vec<f32>,
    d_h: Vec<f32>,
    d_tmp: Vec<f32>,
    d_a: Vec<f32>,
    d_q: Vec<f32>,
    d_k: Vec<f32>,
    d_v: Vec<f32>,
    d_ctx: Vec<f32>,
    d_inter: Vec<f32>,
    d_m1: Vec<f32>,
    d_m2: Vec<f32>,
    d_b1: Vec<f32>,
    d_b2: Vec<f32>,
}

fn size(v: &mut Vec<f32>, n: usize) {
    v.resize(n, 0.0);
}

impl Acts {
    fn ensure(&mut self, d: &Dims, b: usize, t: usize, m: usize) {
        let (n, h) = (b * t, d.hidden);
        for v in [&mut self.emb_sum, &mut self.emb_out, &mut self.scratch] {
            size(v, n * h);
        }
        size(&mut self.emb_mean, n);
        size(&mut self.emb_rstd, n);
        self.layers.resize_with(d.layers, LayerActs::default);
        for la in &mut self.layers {
            for v in [
                &mut la.qh,
                &mut la.kh,
                &mut la.vh,
                &mut la.ctx,
                &mut la.res1,
                &mut la.ln1,
                &mut la.res2,
                &mut la.out,
            ] {
                size(v, n * h);
            }
            size(&mut la.probs, b * d.heads * t * t);
            for v in [&mut la.mean1, &mut la.rstd1, &mut la.mean2, &mut la.rstd2] {
                size(v, n);
            }
            size(&mut la.pre, n * d.inter);
            size(&mut la.act, n * d.inter);
        }
        for v in [
            &mut self.mlm_in,
            &mut self.tr_pre,
            &mut self.tr_act,
            &mut self.tr_out,
            &mut self.d_m1,
            &mut self.d_m2,
        ] {
            size(v, m * h);
        }
        size(&mut self.tr_mean, m);
        size(&mut self.tr_rstd, m);
        size(&mut self.logits, m * d.vocab);
        size(&mut self.lse, m);
        for v in [
            &mut self.cls,
            &mut self.pooled,
            &mut self.d_b1,
            &mut self.d_b2,
        ] {
            size(v, b * h);
        }
        size(&mut self.nsp_logits, b * 2);
        size(&mut self.nsp_lse, b);
        for v in [
            &mut self.d_h,
            &mut self.d_tmp,
            &mut self.d_a,
            &mut self.d_q,
            &mut self.d_k,
            &mut self.d_v,
            &mut self.d_ctx,
        ] {
            size(v, n * h);
        }
        size(&mut self.d_inter, n * d.inter);
    }

    /// `d(loss)/d(final hidden states)` [batch * seq, hidden], which task heads outside this
    /// module fill before [`Model::encode_backward`].
    pub fn d_sequence_output(&mut self) -> &mut [f32] {
        let n = self.emb_out.len();
        &mut self.d_h[..n]
    }

    /// The final hidden states [batch * seq, hidden] of the last forward pass.
    pub fn sequence_output(&self) -> &[f32] {
        match self.layers.last() {
            Some(l) => &l.out,
            None => &self.emb_out,
        }
    }
}

/// The model: parameters and their gradients, one flat buffer each.
pub struct Model {
    pub dims: Dims,
    pub index: ParamIndex,
    pub params: Vec<f32>,
    pub grads: Vec<f32>,
}

/// Dropout site numbers: each dropout call gets its own mask stream.
fn site_emb() -> u64 {
    0
}
fn site(layer: usize, k: u64) -> u64 {
    1 + 3 * layer as u64 + k
}

impl Model {
    /// transformers' `_init_weights`: N(0, initializer_range) weights and embeddings, zero
    /// biases, unit LayerNorm gains, and a zero padding row in the word embeddings.
    pub fn init(dims: Dims, seed: u64) -> Self {
        let index = ParamIndex::new(&dims);
        let mut params = vec![0.0; index.total];
        let mut rng = Rng::new(seed);
        for t in &index.tensors {
            let p = &mut params[t.range.clone()];
            match t.init {
                Init::Normal => p
                    .iter_mut()
                    .for_each(|x| *x = rng.normal() * dims.init_range),
                Init::Zeros => p.fill(0.0),
                Init::Ones => p.fill(1.0),
            }
        }
        if let Some(pad) = dims.pad_id {
            if (pad as usize) < dims.vocab {
                let h = dims.hidden;
                let start = index.word.start + pad as usize * h;
                params[start..start + h].fill(0.0);
            }
        }
        Self::from_params(dims, params)
    }

    pub fn from_params(dims: Dims, params: Vec<f32>) -> Self {
        let index = ParamIndex::new(&dims);
        assert_eq!(params.len(), index.total, "parameter buffer size");
        let grads = vec![0.0; index.total];
        Model {
            dims,
            index,
            params,
            grads,
        }
    }

    pub fn zero_grads(&mut self) {
        self.grads.fill(0.0);
    }

    /// Checks ids, shapes and masks so a bad batch is an error, never an index panic.
    pub fn check_batch(&self, b: &Batch) -> Result<(), String> {
        self.check_inputs(b)?;
        let (d, n) = (&self.dims, b.batch * b.seq);
        if b.nsp_labels.len() != b.batch || b.nsp_labels.iter().any(|&l| l > 1) {
            return Err("NSP labels must be one 0/1 per sequence".into());
        }
        if b.mlm_positions.is_empty() || b.mlm_positions.len() != b.mlm_labels.len() {
            return Err("a batch needs at least one masked position, each with a label".into());
        }
        if b.mlm_positions.iter().any(|&p| p as usize >= n)
            || b.mlm_labels.iter().any(|&l| l as usize >= d.vocab)
        {
            return Err("masked position or label out of range".into());
        }
        Ok(())
    }

    /// The encoder's part of [`check_batch`](Self::check_batch): ids, segments, mask, shapes.
    pub fn check_inputs(&self, b: &Batch) -> Result<(), String> {
        let d = &self.dims;
        let n = b.batch * b.seq;
        if b.batch == 0 || b.seq == 0 {
            return Err("empty batch".into());
        }
        if b.seq > d.max_pos {
            return Err(format!(
                "sequence length {} exceeds max_position_embeddings {}",
                b.seq, d.max_pos
            ));
        }
        if b.input_ids.len() != n || b.token_type_ids.len() != n || b.attention_mask.len() != n {
            return Err("batch arrays do not match batch * seq".into());
        }
        if let Some(&id) = b.input_ids.iter().find(|&&i| i as usize >= d.vocab) {
            return Err(format!(
                "token id {id} is outside the vocabulary of {}",
                d.vocab
            ));
        }
        if let Some(&t) = b
            .token_type_ids
            .iter()
            .find(|&&i| i as usize >= d.type_vocab)
        {
            return Err(format!(
                "token type {t} exceeds type_vocab_size {}",
                d.type_vocab
            ));
        }
        if b.attention_mask
            .chunks(b.seq)
            .any(|m| m.iter().all(|&x| x == 0))
        {
            return Err("a sequence has no unmasked token".into());
        }
        Ok(())
    }

    fn mask(&self, key: Option<u64>, site: u64, p: f32) -> Option<DropoutMask> {
        key.and_then(|k| DropoutMask::new(k, site, p))
    }

    /// Runs the model; `dropout_key` None turns dropout off (evaluation, parity).
    pub fn forward(
        &self,
        b: &Batch,
        acts: &mut Acts,
        dropout_key: Option<u64>,
    ) -> Result<Stats, String> {
        self.check_batch(b)?;
        self.encode(b, acts, dropout_key)?;
        let d = &self.dims;
        let (bs, t, h) = (b.batch, b.seq, d.hidden);
        let m = b.mlm_positions.len();
        let p = &self.params;
        let ix = &self.index;

        let seq_out: &[f32] = match acts.layers.last() {
            Some(l) => &l.out,
            None => &acts.emb_out,
        };
        // MLM head, at the masked positions only.
        for (row, &pos) in acts.mlm_in.chunks_exact_mut(h).zip(&b.mlm_positions) {
            row.copy_from_slice(&seq_out[pos as usize * h..][..h]);
        }
        linear(
            &mut acts.tr_pre,
            &acts.mlm_in,
            &p[ix.tr_w.clone()],
            &p[ix.tr_b.clone()],
            m,
            h,
            h,
        );
        gelu_forward(&mut acts.tr_act, &acts.tr_pre);
        layernorm_forward(
            &mut acts.tr_out,
            &mut acts.tr_mean,
            &mut acts.tr_rstd,
            &acts.tr_act,
            &p[ix.tr_ln_g.clone()],
            &p[ix.tr_ln_b.clone()],
            h,
            d.eps,
        );
        linear(
            &mut acts.logits,
            &acts.tr_out,
            &p[ix.word.clone()],
            &p[ix.mlm_bias.clone()],
            m,
            d.vocab,
            h,
        );
        let (mlm_sum, mlm_ok) = xent_forward(&acts.logits, &b.mlm_labels, &mut acts.lse, d.vocab);

        // NSP head on the pooled [CLS] state.
        for (bi, row) in acts.cls.chunks_exact_mut(h).enumerate() {
            row.copy_from_slice(&seq_out[bi * t * h..][..h]);
        }
        linear(
            &mut acts.pooled,
            &acts.cls,
            &p[ix.pool_w.clone()],
            &p[ix.pool_b.clone()],
            bs,
            h,
            h,
        );
        acts.pooled.iter_mut().for_each(|x| *x = x.tanh());
        linear(
            &mut acts.nsp_logits,
            &acts.pooled,
            &p[ix.nsp_w.clone()],
            &p[ix.nsp_b.clone()],
            bs,
            2,
            h,
        );
        let (nsp_sum, nsp_ok) = xent_forward(&acts.nsp_logits, &b.nsp_labels, &mut acts.nsp_lse, 2);
        Ok(Stats {
            mlm_loss_sum: mlm_sum,
            nsp_loss_sum: nsp_sum,
            mlm_correct: mlm_ok,
            mlm_count: m,
            nsp_correct: nsp_ok,
            nsp_count: bs,
        })
    }

    /// Embeddings and encoder layers only (the MLM/NSP fields of `b` are ignored), for task
    /// heads built on [`Acts::sequence_output`]; their backward is
    /// [`encode_backward`](Self::encode_backward).
    pub fn encode(
        &self,
        b: &Batch,
        acts: &mut Acts,
        dropout_key: Option<u64>,
    ) -> Result<(), String> {
        self.check_inputs(b)?;
        let d = &self.dims;
        let (bs, t, h) = (b.batch, b.seq, d.hidden);
        let n = bs * t;
        acts.ensure(d, bs, t, b.mlm_positions.len());
        let p = &self.params;
        let ix = &self.index;
        let shape = AttnShape {
            batch: bs,
            seq: t,
            heads: d.heads,
            head_dim: d.head_dim(),
        };

        for (i, row) in acts.emb_sum[..n * h].chunks_exact_mut(h).enumerate() {
            let w = &p[ix.word.start + b.input_ids[i] as usize * h..][..h];
            let ps = &p[ix.pos.start + (i % t) * h..][..h];
            let ty = &p[ix.typ.start + b.token_type_ids[i] as usize * h..][..h];
            for j in 0..h {
                row[j] = w[j] + ps[j] + ty[j];
            }
        }
        layernorm_forward(
            &mut acts.emb_out,
            &mut acts.emb_mean,
            &mut acts.emb_rstd,
            &acts.emb_sum[..n * h],
            &p[ix.emb_ln_g.clone()],
            &p[ix.emb_ln_b.clone()],
            h,
            d.eps,
        );
        dropout(
            &mut acts.emb_out[..n * h],
            self.mask(dropout_key, site_emb(), d.hidden_dropout),
        );

        for l in 0..d.layers {
            let (prev, rest) = acts.layers.split_at_mut(l);
            let x: &[f32] = match prev.last() {
                Some(pl) => &pl.out,
                None => &acts.emb_out,
            };
            let la = &mut rest[0];
            let w = &ix.layers[l];
            let tmp = &mut acts.scratch;
            for (wr, br, dst) in [
                (&w.q_w, &w.q_b, &mut la.qh),
                (&w.k_w, &w.k_b, &mut la.kh),
                (&w.v_w, &w.v_b, &mut la.vh),
            ] {
                linear(tmp, x, &p[wr.clone()], &p[br.clone()], n, h, h);
                split_heads(dst, tmp, shape);
            }
            attention_forward(
                tmp,
                &mut la.probs,
                &la.qh,
                &la.kh,
                &la.vh,
                &b.attention_mask,
                self.mask(dropout_key, site(l, 0), d.attn_dropout),
                shape,
            );
            merge_heads(&mut la.ctx, tmp, shape, false);
            linear(
                &mut la.res1,
                &la.ctx,
                &p[w.ao_w.clone()],
                &p[w.ao_b.clone()],
                n,
                h,
                h,
            );
            dropout(
                &mut la.res1,
                self.mask(dropout_key, site(l, 1), d.hidden_dropout),
            );
            la.res1.iter_mut().zip(x).for_each(|(r, x)| *r += x);
            layernorm_forward(
                &mut la.ln1,
                &mut la.mean1,
                &mut la.rstd1,
                &la.res1,
                &p[w.ln1_g.clone()],
                &p[w.ln1_b.clone()],
                h,
                d.eps,
            );
            linear(
                &mut la.pre,
                &la.ln1,
                &p[w.i_w.clone()],
                &p[w.i_b.clone()],
                n,
                d.inter,
                h,
            );
            gelu_forward(&mut la.act, &la.pre);
            linear(
                &mut la.res2,
                &la.act,
                &p[w.o_w.clone()],
                &p[w.o_b.clone()],
                n,
                h,
                d.inter,
            );
            dropout(
                &mut la.res2,
                self.mask(dropout_key, site(l, 2), d.hidden_dropout),
            );
            la.res2.iter_mut().zip(&la.ln1).for_each(|(r, x)| *r += x);
            layernorm_forward(
                &mut la.out,
                &mut la.mean2,
                &mut la.rstd2,
                &la.res2,
                &p[w.ln2_g.clone()],
                &p[w.ln2_b.clone()],
                h,
                d.eps,
            );
        }

        Ok(())
    }

    /// Accumulates `scale * d(loss)/d(params)` into `grads`, where loss = mean MLM + mean NSP
    /// loss of the batch just passed to [`forward`](Self::forward) with the same dropout key.
    /// Consumes the logits in `acts`.
    pub fn backward(&mut self, b: &Batch, acts: &mut Acts, dropout_key: Option<u64>, scale: f32) {
        let d = self.dims.clone();
        let (bs, t, h) = (b.batch, b.seq, d.hidden);
        let n = bs * t;
        let m = b.mlm_positions.len();
        let ix = &self.index;
        let p = &self.params;
        let g = &mut self.grads;

        // MLM head.
        xent_backward(
            &mut acts.logits,
            &b.mlm_labels,
            &acts.lse,
            d.vocab,
            scale / m as f32,
        );
        {
            let [dw, db] = views_mut(g, [&ix.word, &ix.mlm_bias]);
            linear_backward(
                &mut acts.d_m1,
                false,
                dw,
                db,
                &acts.logits,
                &acts.tr_out,
                &p[ix.word.clone()],
                m,
                d.vocab,
                h,
            );
            let [dg, dbt] = views_mut(g, [&ix.tr_ln_g, &ix.tr_ln_b]);
            layernorm_backward(
                &mut acts.d_m2,
                dg,
                dbt,
                &acts.d_m1,
                &acts.tr_act,
                &acts.tr_mean,
                &acts.tr_rstd,
                &p[ix.tr_ln_g.clone()],
                h,
            );
            gelu_backward(&mut acts.d_m2, &acts.tr_pre);
            let [dw, db] = views_mut(g, [&ix.tr_w, &ix.tr_b]);
            linear_backward(
                &mut acts.d_m1,
                false,
                dw,
                db,
                &acts.d_m2,
                &acts.mlm_in,
                &p[ix.tr_w.clone()],
                m,
                h,
                h,
            );
        }
        acts.d_h[..n * h].fill(0.0);
        for (row, &pos) in acts.d_m1.chunks_exact(h).zip(&b.mlm_positions) {
            let dst = &mut acts.d_h[pos as usize * h..][..h];
            dst.iter_mut().zip(row).for_each(|(a, b)| *a += b);
        }

        // NSP head and pooler.
        xent_backward(
            &mut acts.nsp_logits,
            &b.nsp_labels,
            &acts.nsp_lse,
            2,
            scale / bs as f32,
        );
        {
            let [dw, db] = views_mut(g, [&ix.nsp_w, &ix.nsp_b]);
            linear_backward(
                &mut acts.d_b1,
                false,
                dw,
                db,
                &acts.nsp_logits,
                &acts.pooled,
                &p[ix.nsp_w.clone()],
                bs,
                2,
                h,
            );
            acts.d_b1
                .iter_mut()
                .zip(&acts.pooled)
                .for_each(|(dx, y)| *dx *= 1.0 - y * y);
            let [dw, db] = views_mut(g, [&ix.pool_w, &ix.pool_b]);
            linear_backward(
                &mut acts.d_b2,
                false,
                dw,
                db,
                &acts.d_b1,
                &acts.cls,
                &p[ix.pool_w.clone()],
                bs,
                h,
                h,
            );
        }
        for (bi, row) in acts.d_b2.chunks_exact(h).enumerate() {
            let dst = &mut acts.d_h[bi * t * h..][..h];
            dst.iter_mut().zip(row).for_each(|(a, b)| *a += b);
        }

        self.encode_backward(b, acts, dropout_key);
    }

    /// Accumulates the encoder's gradients from `d(loss)/d(sequence output)` held in
    /// [`Acts::d_sequence_output`], after [`encode`](Self::encode) or [`forward`](Self::forward)
    /// with the same batch and dropout key. Consumes that gradient.
    pub fn encode_backward(&mut self, b: &Batch, acts: &mut Acts, dropout_key: Option<u64>) {
        let d = self.dims.clone();
        let (bs, t, h) = (b.batch, b.seq, d.hidden);
        let n = bs * t;
        let ix = &self.index;
        let p = &self.params;
        let g = &mut self.grads;
        let shape = AttnShape {
            batch: bs,
            seq: t,
            heads: d.heads,
            head_dim: d.head_dim(),
        };
        let mask = |site: u64, prob: f32| dropout_key.and_then(|k| DropoutMask::new(k, site, prob));
        // Encoder layers, last to first; d_h holds d(loss)/d(layer output).
        for l in (0..d.layers).rev() {
            let la = &acts.layers[l];
            let x: &[f32] = if l == 0 {
                &acts.emb_out
            } else {
                &acts.layers[l - 1].out
            };
            let w = &ix.layers[l];
            let [dg, db] = views_mut(g, [&w.ln2_g, &w.ln2_b]);
            layernorm_backward(
                &mut acts.d_tmp,
                dg,
                db,
                &acts.d_h,
                &la.res2,
                &la.mean2,
                &la.rstd2,
                &p[w.ln2_g.clone()],
                h,
            );
            acts.d_a.copy_from_slice(&acts.d_tmp);
            dropout(&mut acts.d_a, mask(site(l, 2), d.hidden_dropout));
            let [dw, db] = views_mut(g, [&w.o_w, &w.o_b]);
            linear_backward(
                &mut acts.d_inter,
                false,
                dw,
                db,
                &acts.d_a,
                &la.act,
                &p[w.o_w.clone()],
                n,
                h,
                d.inter,
            );
            gelu_backward(&mut acts.d_inter, &la.pre);
            let [dw, db] = views_mut(g, [&w.i_w, &w.i_b]);
            linear_backward(
                &mut acts.d_tmp,
                true,
                dw,
                db,
                &acts.d_inter,
                &la.ln1,
                &p[w.i_w.clone()],
                n,
                d.inter,
                h,
            );
            let [dg, db] = views_mut(g, [&w.ln1_g, &w.ln1_b]);
            layernorm_backward(
                &mut acts.d_h,
                dg,
                db,
                &acts.d_tmp,
                &la.res1,
                &la.mean1,
                &la.rstd1,
                &p[w.ln1_g.clone()],
                h,
            );
            acts.d_a.copy_from_slice(&acts.d_h);
            dropout(&mut acts.d_a, mask(site(l, 1), d.hidden_dropout));
            let [dw, db] = views_mut(g, [&w.ao_w, &w.ao_b]);
            linear_backward(
                &mut acts.d_tmp,
                false,
                dw,
                db,
                &acts.d_a,
                &la.ctx,
                &p[w.ao_w.clone()],
                n,
                h,
                h,
            );
            split_heads(&mut acts.d_ctx, &acts.d_tmp, shape);
            attention_backward(
                &mut acts.d_q,
                &mut acts.d_k,
                &mut acts.d_v,
                &acts.d_ctx,
                &la.probs,
                &la.qh,
                &la.kh,
                &la.vh,
                mask(site(l, 0), d.attn_dropout),
                shape,
            );
            for (dh, wr, br) in [
                (&acts.d_q, &w.q_w, &w.q_b),
                (&acts.d_k, &w.k_w, &w.k_b),
                (&acts.d_v, &w.v_w, &w.v_b),
            ] {
                merge_heads(&mut acts.d_tmp, dh, shape, false);
                let [dw, db] = views_mut(g, [wr, br]);
                linear_backward(
                    &mut acts.d_h,
                    true,
                    dw,
                    db,
                    &acts.d_tmp,
                    x,
                    &p[wr.clone()],
                    n,
                    h,
                    h,
                );
            }
        }

        // Embeddings.
        dropout(&mut acts.d_h[..n * h], mask(site_emb(), d.hidden_dropout));
        let [dg, db] = views_mut(g, [&ix.emb_ln_g, &ix.emb_ln_b]);
        layernorm_backward(
            &mut acts.d_tmp,
            dg,
            db,
            &acts.d_h[..n * h],
            &acts.emb_sum[..n * h],
            &acts.emb_mean,
            &acts.emb_rstd,
            &p[ix.emb_ln_g.clone()],
            h,
        );
        for (i, row) in acts.d_tmp[..n * h].chunks_exact(h).enumerate() {
            for (r, id) in [
                (&ix.word, b.input_ids[i] as usize),
                (&ix.pos, i % t),
                (&ix.typ, b.token_type_ids[i] as usize),
            ] {
                let dst = &mut g[r.start + id * h..][..h];
                dst.iter_mut().zip(row).for_each(|(a, b)| *a += b);
            }
        }
    }

    /// The first parameter tensor with a non-finite gradient, by name.
    pub fn first_nonfinite_grad(&self) -> Option<&str> {
        self.index
            .tensors
            .iter()
            .find(|t| self.grads[t.range.clone()].iter().any(|x| !x.is_finite()))
            .map(|t| t.name.as_str())
    }

    /// The parameter tensor with the largest gradient norm, by name: where a diverging run is
    /// blowing up.
    pub fn largest_grad(&self) -> Option<&str> {
        let norm = |t: &super::params::TensorInfo| {
            self.grads[t.range.clone()]
                .iter()
                .map(|&g| f64::from(g) * f64::from(g))
                .sum::<f64>()
        };
        self.index
            .tensors
            .iter()
            .max_by(|a, b| norm(a).total_cmp(&norm(b)))
            .map(|t| t.name.as_str())
    }

    /// Where the forward pass first produced a non-finite value.
    pub fn first_nonfinite_activation(&self, acts: &Acts) -> Option<String> {
        if acts.emb_out.iter().any(|x| !x.is_finite()) {
            return Some("bert.embeddings".into());
        }
        for (l, la) in acts.layers.iter().enumerate() {
            if la.ln1.iter().any(|x| !x.is_finite()) {
                return Some(format!("bert.encoder.layer.{l}.attention"));
            }
            if la.out.iter().any(|x| !x.is_finite()) {
                return Some(format!("bert.encoder.layer.{l}.output"));
            }
        }
        if acts.logits.iter().any(|x| !x.is_finite()) {
            return Some("cls.predictions".into());
        }
        if acts.nsp_logits.iter().any(|x| !x.is_finite()) {
            return Some("cls.seq_relationship".into());
        }
        None
    }
}
