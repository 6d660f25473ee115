//! The encoder: embeddings, L Transformer layers, and the outputs read from them.

use crate::format::{HeadKind, Role};
use crate::kernels::attention::{attention_quantized, QuantizedKv};
use crate::kernels::row;
use crate::kernels::{
    attention, gelu, groups, layer_norm, linear, linear_i8, quant_bytes, quantize_flat,
    quantize_rows, tanh, AttentionHead, QuantizedRows,
};
use crate::scratch::{
    compact_scratch_len, ffn_tile, quant_area_len, scratch_len_for, COMPACT_FFN_TILE, COMPACT_ROWS,
};
use crate::tensor::{DType, Matrix, Weights};
use crate::Config;
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
        scratch_len_for(self.config(), seq_len, self.layer_dtype())
    }

    /// The precision the encoder layers run in: int8 if any layer matrix is int8 (those layers
    /// take the quantised path), else that of the first query matrix.
    pub fn layer_dtype(&self) -> DType {
        if self.has_int8_layers() {
            return DType::I8;
        }
        match self.matrix(Role::QueryWeight, 0).map(|m| m.w) {
            Some(Weights::F16(_)) => DType::F16,
            _ => DType::F32,
        }
    }

    /// Whether any encoder-layer matrix is int8, which puts the layers on the quantised path.
    fn has_int8_layers(&self) -> bool {
        (0..self.config().num_layers).any(|l| {
            crate::const_config::LAYER_MATRICES
                .iter()
                .filter_map(|&r| self.matrix(r, l))
                .any(|m| matches!(m.w, Weights::I8 { .. }))
        })
    }

    /// Checks `input` against the model; returns its token count.
    fn check_input(&self, input: &Input) -> Result<usize, RunError> {
        let cfg = self.config();
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
        Ok(s)
    }

    /// `f32` elements of scratch [`Model::forward_compact`] needs for `seq_len` tokens (exact;
    /// see [`crate::compact_scratch_len`]).
    pub fn compact_scratch_len(&self, seq_len: usize) -> usize {
        compact_scratch_len(self.config(), seq_len, self.layer_dtype())
    }

    /// [`Model::forward`] in less memory, for microcontrollers: the compact plan
    /// ([`crate::compact_scratch_len`]) takes each layer through 16 tokens at a time and keeps
    /// only the keys and values of the whole sequence, in int8 (one scale per token and 32
    /// columns). That quantisation is its only difference in results from `forward`.
    /// Single-threaded; `scratch` must hold [`Model::compact_scratch_len`] elements.
    pub fn forward_compact<'r>(
        &'r self,
        input: &Input<'r>,
        scratch: &'r mut [f32],
    ) -> Result<Encoded<'r, 'a>, RunError> {
        let cfg = *self.config();
        let s = self.check_input(input)?;
        let needed = self.compact_scratch_len(s);
        let given = scratch.len();
        let too_small = RunError::ScratchTooSmall { needed, given };
        let scratch = scratch.get_mut(..needed).ok_or(too_small)?;
        let (hidden, work) = scratch
            .split_at_mut_checked(s * cfg.hidden_size)
            .ok_or(too_small)?;
        self.embed(input, hidden)?;
        {
            let mut plan = CompactBuffers::split(&mut *work, &cfg, s, self.has_int8_layers())
                .ok_or(too_small)?;
            for layer in 0..cfg.num_layers {
                self.compact_layer(layer, input, hidden, &mut plan)?;
            }
        }
        Ok(Encoded {
            model: self,
            hidden,
            work,
            mask: input.attention_mask,
            seq_len: s,
        })
    }

    /// One encoder layer on the compact plan: keys and values of every token, a block of
    /// [`COMPACT_ROWS`] tokens at a time, quantised to int8; then per block its queries,
    /// attention over all tokens, and [`LayerWeights::rest_of_layer`] on its rows. A block's
    /// hidden rows change only after every key and value is computed and never feed another
    /// block's queries, so the result does not depend on the block size.
    fn compact_layer(
        &self,
        l: usize,
        input: &Input,
        hidden: &mut [f32],
        plan: &mut CompactBuffers,
    ) -> Result<(), RunError> {
        let cfg = *self.config();
        let (s, h) = (input.input_ids.len(), nonzero(cfg.hidden_size));
        let lw = LayerWeights::new(self, l)?;
        let rh = nonzero(COMPACT_ROWS.min(s) * h);
        let ng = groups(h);
        let CompactBuffers {
            k,
            k_scales,
            v,
            v_scales,
            queries,
            ctx,
            tile,
            xq,
            tq,
        } = plan;
        let kv_rows = k
            .chunks_mut(rh)
            .zip(k_scales.chunks_mut(nonzero(rh / h * ng)))
            .zip(
                v.chunks_mut(rh)
                    .zip(v_scales.chunks_mut(nonzero(rh / h * ng))),
            );
        for (x, ((kb, ksb), (vb, vsb))) in hidden.chunks(rh).zip(kv_rows) {
            let rows = x.len() / h;
            let out = prefix(ctx, x.len())?;
            let xa = quantize(x, rows, h, xq);
            project(x, xa.as_ref(), rows, &lw.k, Some(lw.bk), out, false);
            quantize_flat(out, h, kb, ksb);
            project(x, xa.as_ref(), rows, &lw.v, Some(lw.bv), out, false);
            quantize_flat(out, h, vb, vsb);
        }
        let kv = QuantizedKv {
            k,
            k_scales,
            v,
            v_scales,
        };
        let d = cfg.head_dim();
        for x in hidden.chunks_mut(rh) {
            let rows = x.len() / h;
            let q = prefix(queries, x.len())?;
            let c = prefix(ctx, x.len())?;
            let xa = quantize(x, rows, h, xq);
            project(x, xa.as_ref(), rows, &lw.q, Some(lw.bq), q, false);
            for head in 0..cfg.num_heads {
                let view = AttentionHead {
                    q,
                    k: &[],
                    v: &[],
                    stride: h,
                    col: head * d,
                    d,
                    seq: s,
                    rows,
                    mask: input.attention_mask,
                };
                attention_quantized(&view, &kv, c);
            }
            let xa = xq.as_mut().map(QuantArea::reborrow);
            let ta = tq.as_mut().map(QuantArea::reborrow);
            lw.rest_of_layer(&cfg, rows, x, c, tile, COMPACT_FFN_TILE, xa, ta);
        }
        Ok(())
    }

    /// Runs the encoder on one sequence. The sequence output is written into `scratch`, which
    /// must hold at least [`Model::scratch_len`] elements.
    pub fn forward<'r>(
        &'r self,
        input: &Input<'r>,
        scratch: &'r mut [f32],
    ) -> Result<Encoded<'r, 'a>, RunError> {
        self.forward_threads(input, scratch, 1)
    }

    /// [`Model::forward`] on up to `threads` threads (with the `parallel` feature; without it,
    /// the same work in the same order on this thread). Each step of a layer is split by rows,
    /// so results do not depend on the thread count.
    pub fn forward_threads<'r>(
        &'r self,
        input: &Input<'r>,
        scratch: &'r mut [f32],
        threads: usize,
    ) -> Result<Encoded<'r, 'a>, RunError> {
        let cfg = *self.config();
        let s = self.check_input(input)?;
        let needed = self.scratch_len(s);
        let too_small = RunError::ScratchTooSmall {
            needed,
            given: scratch.len(),
        };
        let (hidden, work) = scratch
            .get_mut(..needed)
            .and_then(|sc| sc.split_at_mut_checked(s * cfg.hidden_size))
            .ok_or(too_small)?;
        self.embed(input, hidden)?;
        self.layers(input, hidden, work, threads)?;
        Ok(Encoded {
            model: self,
            hidden,
            work,
            mask: input.attention_mask,
            seq_len: s,
        })
    }

    fn embed(&self, input: &Input, hidden: &mut [f32]) -> Result<(), RunError> {
        let h = nonzero(self.config().hidden_size);
        let word = self.matrix(Role::WordEmb, 0).ok_or(MISSING)?;
        let pos = self.matrix(Role::PosEmb, 0).ok_or(MISSING)?;
        let typ = self.matrix(Role::TypeEmb, 0).ok_or(MISSING)?;
        let g = self.vector(Role::EmbLnWeight, 0).ok_or(MISSING)?;
        let b = self.vector(Role::EmbLnBias, 0).ok_or(MISSING)?;
        let mut tmp = [0f32; 64];
        for (i, (row, &id)) in hidden.chunks_exact_mut(h).zip(input.input_ids).enumerate() {
            let t = input
                .token_type_ids
                .and_then(|t| t.get(i))
                .map_or(0, |&t| t);
            // Ids, types and positions were checked against the tables (`check_input`).
            word.row_into(id as usize, row)
                .ok_or(RunError::IdOutOfRange { position: i, id })?;
            // Add the two other embeddings chunk by chunk through a small stack buffer: no
            // extra scratch, and the sum order is transformers' (word + type) + position.
            for (c, dst) in row.chunks_mut(tmp.len()).enumerate() {
                let part = &mut tmp[..dst.len()];
                let cols = c * 64;
                typ.columns(cols, dst.len())
                    .row_into(t as usize, part)
                    .ok_or(RunError::TypeOutOfRange {
                        position: i,
                        token_type: t,
                    })?;
                dst.iter_mut().zip(part.iter()).for_each(|(d, v)| *d += v);
                pos.columns(cols, dst.len())
                    .row_into(i, part)
                    .ok_or(RunError::TooLong {
                        len: input.input_ids.len(),
                        max: pos.rows,
                    })?;
                dst.iter_mut().zip(part.iter()).for_each(|(d, v)| *d += v);
            }
            layer_norm(row, g, b, self.config().layer_norm_eps);
        }
        Ok(())
    }

    /// The encoder layers, on up to `threads` workers (with the `parallel` feature), each
    /// owning a block of rows (a multiple of the 16-row quantisation panel) for the whole pass.
    /// A layer is two steps per block: the Q/K/V projections of its rows; then attention for
    /// its query rows and the rest of the layer on them (output projection, LayerNorms, the
    /// feed-forward tiles). Only attention reads other blocks' rows (all keys and values), so
    /// workers meet twice per layer: once every key and value is written, and once the layer
    /// is done, so that no worker overwrites keys another still reads.
    fn layers(
        &self,
        input: &Input,
        hidden: &mut [f32],
        work: &mut [f32],
        threads: usize,
    ) -> Result<(), RunError> {
        let cfg = *self.config();
        let (s, h) = (input.input_ids.len(), cfg.hidden_size);
        let sh = s * h;
        // Every layer's tensors are looked up before any work, so no worker can fail alone.
        for l in 0..cfg.num_layers {
            LayerWeights::new(self, l)?;
        }
        let (q, rest) = split_mut(work, sh);
        let (k, rest) = split_mut(rest, sh);
        let (val, rest) = split_mut(rest, sh);
        let (ctx, rest) = split_mut(rest, sh);
        let tile_w = ffn_tile(s, cfg.intermediate_size);
        let (tile, rest) = split_mut(rest, s * tile_w);
        // With int8 weights, the layer input and one FFN tile are also kept quantised (the
        // areas `scratch_len_for(.., DType::I8)` adds after the float buffers).
        let (xq, tq) = if self.has_int8_layers() {
            let (a, rest) = QuantArea::split(rest, s, h);
            let (b, _) = QuantArea::split(rest, s, tile_w);
            (Some(a), Some(b))
        } else {
            (None, None)
        };
        let mut all = Part {
            rows: s,
            hidden,
            q,
            ctx,
            tile,
            xq,
            tq,
        };
        #[cfg(feature = "parallel")]
        {
            use crate::kernels::PANEL_ROWS;
            let chunk = s
                .div_ceil(threads.max(1))
                .next_multiple_of(PANEL_ROWS)
                .max(PANEL_ROWS);
            if chunk < s {
                return self.layers_parallel(input, all, k, val, chunk, tile_w);
            }
        }
        #[cfg(not(feature = "parallel"))]
        let _ = threads;
        for l in 0..cfg.num_layers {
            let lw = LayerWeights::new(self, l)?;
            all.project_qkv(&lw, h, k, val);
            all.attend_and_rest(self, &lw, input, tile_w, k, val);
        }
        Ok(())
    }

    /// [`Model::layers`] on one worker per block of `chunk` rows (see
    /// [`crate::parallel::run_phases`]), four phases per layer with a barrier after each:
    /// A, per block of rows: the previous layer's FFN residual and LayerNorm, then the Q/K/V
    /// projections; B, per block: attention over all keys, the output projection, LayerNorm,
    /// the rows quantised for the FFN; C, per worker a share of the FFN tiles over all rows;
    /// D, per worker a share of the FFN's output columns over all rows, summing every tile in
    /// order. C and D split the FFN's weights between the workers instead of each worker
    /// streaming all of them for its rows. Every output element is computed by the same
    /// arithmetic as in one thread, so the result is bit-identical for any thread count.
    #[cfg(feature = "parallel")]
    #[allow(unsafe_code)]
    fn layers_parallel(
        &self,
        input: &Input,
        all: Part,
        k: &mut [f32],
        v: &mut [f32],
        chunk: usize,
        tile_w: usize,
    ) -> Result<(), RunError> {
        extern crate alloc;
        use crate::parallel::{run_phases, with_buffers, Phase, Shared};
        use alloc::vec::Vec;
        let cfg = *self.config();
        let s = input.input_ids.len();
        let (h, inner) = (nonzero(cfg.hidden_size), cfg.intermediate_size);
        let tile_w = nonzero(tile_w.min(inner));
        let tiles = inner.div_ceil(tile_w);
        let workers = s.div_ceil(nonzero(chunk));
        let int8 = all.xq.is_some();
        let (tq_bytes, tq_scales) = if int8 {
            (quant_bytes(s, tile_w), s * groups(tile_w))
        } else {
            (0, 0)
        };
        // Output columns per worker in FFN phase D: whole 32-wide panels where possible.
        let cols = h.div_ceil(workers).next_multiple_of(32);
        let cols_of = |w: usize| {
            let o0 = (w * cols).min(h);
            (o0, cols.min(h - o0))
        };
        let rows_of = |w: usize| {
            let r0 = (w * chunk).min(s);
            (r0, chunk.min(s - r0))
        };
        // The `rows` rows from `r0` of a quantised `s x cols` area (whole panels: `r0` is a
        // multiple of the panel height).
        let q_span = |r0: usize, rows: usize, cols: usize| {
            (
                (quant_bytes(r0, cols), quant_bytes(rows, cols)),
                (r0 * groups(cols), rows * groups(cols)),
            )
        };
        let weights = |l| LayerWeights::new(self, l).ok();
        let Part {
            hidden, q, ctx, xq, ..
        } = all;
        // The FFN runs in rounds of tiles, so its intermediate activations for all rows take
        // a few `S x H` buffers, not `S x I`: about `2 H` inner columns per round, as many
        // tiles for each worker (an uneven share made one wait for the other).
        let per_round = (2 * h / tile_w)
            .max(1)
            .next_multiple_of(workers)
            .min(tiles)
            .max(1);
        let rounds = tiles.div_ceil(per_round);
        let floats = s * per_round * tile_w + s * h + per_round * tq_scales;
        with_buffers(floats, per_round * tq_bytes, |fl, by| {
            let (inter, rest) = split_mut(fl, s * per_round * tile_w);
            let (out, tq_sc) = split_mut(rest, s * h);
            let (hid, qs, cs) = (Shared::new(hidden), Shared::new(q), Shared::new(ctx));
            let (ks, vs) = (Shared::new(k), Shared::new(v));
            let xq = xq.map(|a| (Shared::new(a.data), Shared::new(a.scales)));
            let (inter, out) = (Shared::new(inter), Shared::new(out));
            let (tqd, tqs) = (Shared::new(by), Shared::new(tq_sc));
            // SAFETY (every accessor below): a phase writes only its worker's span of a
            // buffer (its rows, its tiles, its output columns: disjoint between workers) and
            // reads whole only buffers no worker writes in that phase; phases are separated
            // by barriers. Per phase: A writes hidden/xq/q/K/V rows, reads its own out rows
            // of every block; B reads all K/V, writes its ctx/hidden/xq rows; C reads all
            // hidden/xq, writes its tiles; D reads all tiles, writes its out block.
            let part = |w: usize| -> Part {
                let (r0, rows) = rows_of(w);
                let ((d0, dn), (s0, sn)) = q_span(r0, rows, h);
                unsafe {
                    Part {
                        rows,
                        hidden: hid.part_mut(r0 * h, rows * h),
                        q: qs.part_mut(r0 * h, rows * h),
                        ctx: cs.part_mut(r0 * h, rows * h),
                        tile: &mut [],
                        xq: xq.as_ref().map(|(d, sc)| QuantArea {
                            data: d.part_mut(d0, dn),
                            scales: sc.part_mut(s0, sn),
                        }),
                        tq: None,
                    }
                }
            };
            // The previous layer's FFN output (every worker's columns) added to this worker's
            // rows, then LayerNorm.
            let finish = |w: usize, l: usize| {
                let Some(lw) = weights(l) else { return };
                let (r0, _) = rows_of(w);
                let p = part(w);
                let out = unsafe { out.all() };
                for (r, x) in p.hidden.chunks_exact_mut(h).enumerate() {
                    for v in 0..workers {
                        let (o0, n) = cols_of(v);
                        let at = s * o0 + (r0 + r) * n;
                        let y = out.get(at..at + n).unwrap_or_default();
                        x[o0..o0 + n].iter_mut().zip(y).for_each(|(a, b)| *a += b);
                    }
                    lw.norm_out(&cfg, x);
                }
            };
            let a = |w: usize, l: usize| {
                if l > 0 {
                    finish(w, l - 1);
                }
                let Some(lw) = weights(l) else { return };
                let (r0, rows) = rows_of(w);
                let mut p = part(w);
                let (kk, vv) =
                    unsafe { (ks.part_mut(r0 * h, rows * h), vs.part_mut(r0 * h, rows * h)) };
                p.project_qkv(&lw, h, kk, vv);
            };
            let b = |w: usize, l: usize| {
                let Some(lw) = weights(l) else { return };
                let mut p = part(w);
                let (kk, vv) = unsafe { (ks.all(), vs.all()) };
                self.attention(input, p.q, kk, vv, p.ctx);
                let xa = p.xq.as_mut().map(QuantArea::reborrow);
                lw.attention_output(&cfg, p.rows, p.hidden, p.ctx, xa);
                let _ = quantize(p.hidden, p.rows, h, &mut p.xq);
            };
            // Round `r` of the FFN: tiles `r * per_round..` (at most `per_round`), whose
            // intermediate activations occupy slots `0..` of `inter` and `tq`.
            let round = |r: usize| (r * per_round)..((r + 1) * per_round).min(tiles);
            let c = |w: usize, l: usize, r: usize| {
                let Some(lw) = weights(l) else { return };
                let x = unsafe { hid.all() };
                let xa = xq.as_ref().and_then(|(d, sc)| {
                    QuantizedRows::from_parts(unsafe { d.all() }, unsafe { sc.all() }, s, h)
                });
                let ts = round(r);
                let n = ts.len();
                for t in ts.start + w * n / workers..ts.start + (w + 1) * n / workers {
                    let slot = t - ts.start;
                    let (t0, tw) = (t * tile_w, tile_w.min(inner - t * tile_w));
                    let it = unsafe { inter.part_mut(slot * s * tile_w, s * tw) };
                    let mut tq = int8.then(|| unsafe {
                        QuantArea {
                            data: tqd.part_mut(slot * tq_bytes, tq_bytes),
                            scales: tqs.part_mut(slot * tq_scales, tq_scales),
                        }
                    });
                    lw.ffn_in(x, xa.as_ref(), s, t0, tw, it, &mut tq);
                }
            };
            let d = |w: usize, l: usize, r: usize| {
                let Some(lw) = weights(l) else { return };
                let (o0, n) = cols_of(w);
                if n == 0 {
                    return;
                }
                let o = unsafe { out.part_mut(s * o0, s * n) };
                if r == 0 {
                    let b2 = lw.b2.get(o0..o0 + n).unwrap_or_default();
                    for row in o.chunks_exact_mut(n) {
                        row.iter_mut().zip(b2).for_each(|(y, b)| *y = *b);
                    }
                }
                let (all_inter, all_d, all_s) = unsafe { (inter.all(), tqd.all(), tqs.all()) };
                let ts = round(r);
                for t in ts.clone() {
                    let slot = t - ts.start;
                    let (t0, tw) = (t * tile_w, tile_w.min(inner - t * tile_w));
                    let it = all_inter.get(slot * s * tile_w..).unwrap_or_default();
                    let itq = int8
                        .then(|| {
                            let dd = all_d.get(slot * tq_bytes..)?;
                            let ss = all_s.get(slot * tq_scales..)?;
                            QuantizedRows::from_parts(dd, ss, s, tw)
                        })
                        .flatten();
                    let w2 = lw.w2.columns(t0, tw).rows(o0, n);
                    project(it, itq.as_ref(), s, &w2, None, o, true);
                }
            };
            let cs: Vec<_> = (0..rounds).map(|r| move |w, l| c(w, l, r)).collect();
            let ds: Vec<_> = (0..rounds).map(|r| move |w, l| d(w, l, r)).collect();
            let mut phases: Vec<Phase> = alloc::vec![&a, &b];
            for (c, d) in cs.iter().zip(&ds) {
                phases.push(c);
                phases.push(d);
            }
            let last = cfg.num_layers.saturating_sub(1);
            run_phases(workers, cfg.num_layers, &phases, &|w| finish(w, last));
        });
        Ok(())
    }

    /// Multi-head attention for the query rows in `q` (`ctx.len() / hidden` of them), one head
    /// at a time (see [`crate::kernels::attention`]: streamed over key blocks,
    /// no `seq x seq` matrix).
    fn attention(&self, input: &Input, q: &[f32], k: &[f32], v: &[f32], ctx: &mut [f32]) {
        let cfg = &self.config();
        let (h, d) = (nonzero(cfg.hidden_size), cfg.head_dim());
        for head in 0..cfg.num_heads {
            let view = AttentionHead {
                q,
                k,
                v,
                stride: h,
                col: head * d,
                d,
                seq: input.input_ids.len(),
                rows: ctx.len() / h,
                mask: input.attention_mask,
            };
            attention(&view, ctx);
        }
    }
}

/// A layer's tensors, looked up once.
struct LayerWeights<'a> {
    q: Matrix<'a>,
    k: Matrix<'a>,
    v: Matrix<'a>,
    o: Matrix<'a>,
    w1: Matrix<'a>,
    w2: Matrix<'a>,
    bq: &'a [f32],
    bk: &'a [f32],
    bv: &'a [f32],
    bo: &'a [f32],
    b1: &'a [f32],
    b2: &'a [f32],
    ln1: (&'a [f32], &'a [f32]),
    ln2: (&'a [f32], &'a [f32]),
}

impl<'a> LayerWeights<'a> {
    fn new(model: &Model<'a>, l: usize) -> Result<Self, RunError> {
        let m = |r| model.matrix(r, l).ok_or(MISSING);
        let v = |r| model.vector(r, l).ok_or(MISSING);
        Ok(LayerWeights {
            q: m(Role::QueryWeight)?,
            k: m(Role::KeyWeight)?,
            v: m(Role::ValueWeight)?,
            o: m(Role::AttnOutWeight)?,
            w1: m(Role::InterWeight)?,
            w2: m(Role::OutWeight)?,
            bq: v(Role::QueryBias)?,
            bk: v(Role::KeyBias)?,
            bv: v(Role::ValueBias)?,
            bo: v(Role::AttnOutBias)?,
            b1: v(Role::InterBias)?,
            b2: v(Role::OutBias)?,
            ln1: (v(Role::AttnLnWeight)?, v(Role::AttnLnBias)?),
            ln2: (v(Role::OutLnWeight)?, v(Role::OutLnBias)?),
        })
    }

    /// For `rows` tokens: [`LayerWeights::attention_output`], then
    /// [`LayerWeights::feed_forward`] (into the consumed `ctx` rows).
    #[allow(clippy::too_many_arguments)]
    fn rest_of_layer(
        &self,
        cfg: &Config,
        rows: usize,
        hidden: &mut [f32],
        ctx: &mut [f32],
        tile: &mut [f32],
        ffn_tile: usize,
        mut xq: Option<QuantArea>,
        tq: Option<QuantArea>,
    ) {
        let xa = xq.as_mut().map(QuantArea::reborrow);
        self.attention_output(cfg, rows, hidden, ctx, xa);
        self.feed_forward(cfg, rows, hidden, ctx, tile, ffn_tile, xq, tq);
    }

    /// The attention output projection of `ctx` added to `hidden` (the residual, added by the
    /// kernel's store rule), then LayerNorm.
    fn attention_output(
        &self,
        cfg: &Config,
        rows: usize,
        hidden: &mut [f32],
        ctx: &[f32],
        mut xq: Option<QuantArea>,
    ) {
        let h = nonzero(cfg.hidden_size);
        let x = quantize(ctx, rows, h, &mut xq);
        project(ctx, x.as_ref(), rows, &self.o, Some(self.bo), hidden, true);
        for x in hidden.chunks_exact_mut(h) {
            layer_norm(x, self.ln1.0, self.ln1.1, cfg.layer_norm_eps);
        }
    }

    /// The feed-forward layer tiled over its inner dimension in tiles of `ffn_tile` columns
    /// (`tile` holds one), `out = b2 + sum over tiles of gelu(x W1[tile]^T + b1[tile])
    /// W2[:, tile]^T` into `out`, then [`LayerWeights::residual_out`]. On the int8 path each
    /// tile is quantised on its own.
    #[allow(clippy::too_many_arguments)]
    fn feed_forward(
        &self,
        cfg: &Config,
        rows: usize,
        hidden: &mut [f32],
        out: &mut [f32],
        tile: &mut [f32],
        ffn_tile: usize,
        mut xq: Option<QuantArea>,
        mut tq: Option<QuantArea>,
    ) {
        let h = nonzero(cfg.hidden_size);
        for row in out.chunks_exact_mut(h) {
            row.iter_mut().zip(self.b2).for_each(|(o, b)| *o = *b);
        }
        let x = quantize(hidden, rows, h, &mut xq);
        let tile_w = ffn_tile.min(cfg.intermediate_size);
        let mut t0 = 0;
        while t0 < cfg.intermediate_size {
            let tw = tile_w.min(cfg.intermediate_size - t0);
            let inter = split_mut(tile, rows * tw).0;
            let it = self.ffn_in(hidden, x.as_ref(), rows, t0, tw, inter, &mut tq);
            project(
                inter,
                it.as_ref(),
                rows,
                &self.w2.columns(t0, tw),
                None,
                out,
                true,
            );
            t0 += tw;
        }
        for (x, y) in hidden.chunks_exact_mut(h).zip(out.chunks_exact(h)) {
            self.residual_out(cfg, x, y);
        }
    }

    /// One FFN tile, inner columns `t0..t0 + tw`: `gelu(x W1[tile]^T + b1[tile])` into
    /// `inter`, quantised into `tq` on the int8 path.
    #[allow(clippy::too_many_arguments)]
    fn ffn_in<'q>(
        &self,
        x: &[f32],
        xq: Option<&QuantizedRows>,
        rows: usize,
        t0: usize,
        tw: usize,
        inter: &mut [f32],
        tq: &'q mut Option<QuantArea>,
    ) -> Option<QuantizedRows<'q>> {
        // Past the end (impossible: the loader checked the length), the kernel refuses it.
        let b1 = Some(self.b1.get(t0..).unwrap_or_default());
        project(x, xq, rows, &self.w1.rows(t0, tw), b1, inter, false);
        gelu(inter);
        quantize(inter, rows, tw, tq)
    }

    /// One row's FFN output `y` added to its hidden state `x`, then LayerNorm.
    fn residual_out(&self, cfg: &Config, x: &mut [f32], y: &[f32]) {
        x.iter_mut().zip(y).for_each(|(a, b)| *a += b);
        self.norm_out(cfg, x);
    }

    /// The layer's last LayerNorm, on one row.
    fn norm_out(&self, cfg: &Config, x: &mut [f32]) {
        layer_norm(x, self.ln2.0, self.ln2.1, cfg.layer_norm_eps);
    }
}

/// `n`, or 1 if it is 0: for sizes a loaded model never has at 0 (the loader refuses a zero
/// `hidden_size`), so that `chunks(n)` and `/ n` keep no panic path the optimiser cannot rule
/// out.
fn nonzero(n: usize) -> usize {
    n.max(1)
}

/// `buf` split after `n` elements, or after all of them if it is shorter. The plans size every
/// buffer from the same formulas, so the clamp never applies; it keeps the split panic-free.
fn split_mut<T>(buf: &mut [T], n: usize) -> (&mut [T], &mut [T]) {
    let n = n.min(buf.len());
    buf.split_at_mut(n)
}

/// One block of rows of the per-row buffers of [`Model::layers`]: hidden states, queries,
/// context (then the FFN output), an FFN tile, and on the int8
/// path the quantised layer input and tile.
struct Part<'s> {
    rows: usize,
    hidden: &'s mut [f32],
    q: &'s mut [f32],
    ctx: &'s mut [f32],
    tile: &'s mut [f32],
    xq: Option<QuantArea<'s>>,
    tq: Option<QuantArea<'s>>,
}

impl<'s> Part<'s> {
    /// Step one: queries into `self.q`, this block's keys and values into `k` and `v`.
    fn project_qkv(&mut self, lw: &LayerWeights, h: usize, k: &mut [f32], v: &mut [f32]) {
        let x = &*self.hidden;
        let xq = quantize(x, self.rows, h, &mut self.xq);
        for (w, b, out) in [
            (&lw.q, lw.bq, &mut *self.q),
            (&lw.k, lw.bk, k),
            (&lw.v, lw.bv, v),
        ] {
            project(x, xq.as_ref(), self.rows, w, Some(b), out, false);
        }
    }

    /// Step two: attention of this block's queries over all keys and values, then the rest of
    /// the layer on its rows.
    fn attend_and_rest(
        &mut self,
        model: &Model,
        lw: &LayerWeights,
        input: &Input,
        tile_w: usize,
        k: &[f32],
        v: &[f32],
    ) {
        let cfg = model.config();
        model.attention(input, self.q, k, v, self.ctx);
        let xq = self.xq.as_mut().map(QuantArea::reborrow);
        let tq = self.tq.as_mut().map(QuantArea::reborrow);
        lw.rest_of_layer(
            cfg,
            self.rows,
            self.hidden,
            self.ctx,
            self.tile,
            tile_w,
            xq,
            tq,
        );
    }
}

/// The compact plan's buffers after the hidden states, in the order of
/// [`crate::compact_scratch_len`].
struct CompactBuffers<'s> {
    k: &'s mut [i8],
    k_scales: &'s mut [f32],
    v: &'s mut [i8],
    v_scales: &'s mut [f32],
    queries: &'s mut [f32],
    ctx: &'s mut [f32],
    tile: &'s mut [f32],
    xq: Option<QuantArea<'s>>,
    tq: Option<QuantArea<'s>>,
}

impl<'s> CompactBuffers<'s> {
    /// Carves the buffers for `s` tokens out of `work`; `None` if it is too short.
    fn split(work: &'s mut [f32], cfg: &Config, s: usize, int8: bool) -> Option<Self> {
        let h = cfg.hidden_size;
        let r = COMPACT_ROWS.min(s);
        let tile_w = COMPACT_FFN_TILE.min(cfg.intermediate_size);
        let mut rest = work;
        let mut take = |n: usize| -> Option<&'s mut [f32]> {
            let (a, b) = core::mem::take(&mut rest).split_at_mut_checked(n)?;
            rest = b;
            Some(a)
        };
        let int8_rows = |take: &mut dyn FnMut(usize) -> Option<&'s mut [f32]>| {
            let bytes: &mut [i8] = bytemuck::cast_slice_mut(take((s * h).div_ceil(4))?);
            bytes.get_mut(..s * h)
        };
        let k = int8_rows(&mut take)?;
        let k_scales = take(s * groups(h))?;
        let v = int8_rows(&mut take)?;
        let v_scales = take(s * groups(h))?;
        let queries = take(r * h)?;
        let ctx = take(r * h)?;
        let tile = take(r * tile_w)?;
        let (xq, tq) = if int8 {
            let xq = QuantArea::split(take(quant_area_len(r, h))?, r, h).0;
            let tq = QuantArea::split(take(quant_area_len(r, tile_w))?, r, tile_w).0;
            (Some(xq), Some(tq))
        } else {
            (None, None)
        };
        Some(CompactBuffers {
            k,
            k_scales,
            v,
            v_scales,
            queries,
            ctx,
            tile,
            xq,
            tq,
        })
    }
}

/// The first `n` elements of a block buffer (sized for a whole block, so never short).
fn prefix(buf: &mut [f32], n: usize) -> Result<&mut [f32], RunError> {
    let given = buf.len();
    buf.get_mut(..n)
        .ok_or(RunError::ScratchTooSmall { needed: n, given })
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
        let (data, rest) = split_mut(buf, quant_bytes(rows, cols).div_ceil(4));
        let (scales, rest) = split_mut(rest, rows * groups(cols));
        let data: &mut [i8] = bytemuck::cast_slice_mut(data);
        (QuantArea { data, scales }, rest)
    }

    fn reborrow(&mut self) -> QuantArea<'_> {
        QuantArea {
            data: &mut *self.data,
            scales: &mut *self.scales,
        }
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
        let cls = self.hidden.get(..h).ok_or(RunError::ScratchTooSmall {
            needed: h,
            given: self.hidden.len(),
        })?;
        linear(cls, 1, &w, Some(b), out, false);
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
        for (i, row) in self.hidden.chunks_exact(nonzero(h)).enumerate() {
            let masked = self.mask.and_then(|m| m.get(i)) == Some(&0);
            let w = if masked { 0.0 } else { 1.0 };
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
        let work = core::mem::take(&mut self.work);
        let result = prefix(work, h).and_then(|pooled| {
            self.pooled_output(pooled)?;
            linear(pooled, 1, &w, Some(b), out, false);
            Ok(())
        });
        self.work = work;
        result
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
        let t = prefix(self.work, h)?;
        let x = row(self.hidden, position, h).ok_or(RunError::PositionOutOfRange)?;
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
