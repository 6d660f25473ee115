//! The fine-tuning loop: BERT's recipe (AdamW, linear warmup then decay, gradient clipping,
//! dropout), shuffled batches padded to their longest member, a dev evaluation after every
//! epoch, the best checkpoint kept, early stopping.

use super::model::{HeadActs, Targets, TaskModel};
use crate::train::model::{Acts, Batch};
use crate::train::optim::{AdamW, Schedule};
use crate::train::rng::{mix64, Rng};
use indicatif::{ProgressBar, ProgressStyle};
use picobert::HeadKind;

/// What one training instance is trained towards.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemTarget {
    Class(u32),
    /// Multi-hot labels or regression values, one per output.
    Row(Vec<f32>),
    /// One tag per token, `None` where the token carries none.
    Tags(Vec<Option<u32>>),
}

/// One encoded training or evaluation instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub ids: Vec<u32>,
    pub types: Vec<u32>,
    pub target: ItemTarget,
}

#[derive(Debug, Clone)]
pub struct FtConfig {
    pub epochs: usize,
    pub lr: f64,
    pub batch_size: usize,
    pub warmup_frac: f64,
    pub weight_decay: f64,
    pub clip: f64,
    pub seed: u64,
    /// Stop after this many epochs without a better dev score.
    pub patience: usize,
    pub progress: bool,
}

/// Pads `items` into one batch; `pad` is the tokenizer's `[PAD]` id.
pub fn make_batch(items: &[&Item], pad: u32) -> (Batch, Option<Targets>) {
    let seq = items.iter().map(|i| i.ids.len()).max().unwrap_or(1).max(1);
    let mut b = Batch {
        batch: items.len(),
        seq,
        ..Default::default()
    };
    let mut classes = Vec::new();
    let mut rows = Vec::new();
    let mut tags = Vec::new();
    for it in items {
        let n = it.ids.len();
        b.input_ids.extend(&it.ids);
        b.input_ids.resize(b.input_ids.len() + seq - n, pad);
        b.token_type_ids.extend(&it.types);
        b.token_type_ids.resize(b.token_type_ids.len() + seq - n, 0);
        b.attention_mask.extend(std::iter::repeat_n(1u8, n));
        b.attention_mask.extend(std::iter::repeat_n(0u8, seq - n));
        match &it.target {
            ItemTarget::Class(c) => classes.push(*c),
            ItemTarget::Row(r) => rows.extend(r),
            ItemTarget::Tags(t) => {
                tags.extend(t);
                tags.resize(tags.len() + seq - n, None);
            }
        }
    }
    let targets = match items.first().map(|i| &i.target) {
        Some(ItemTarget::Class(_)) => Some(Targets::Classes(classes)),
        Some(ItemTarget::Row(_)) => Some(Targets::Multi(rows)),
        Some(ItemTarget::Tags(_)) => Some(Targets::Tags(tags)),
        None => None,
    };
    (b, targets)
}

/// Regression rows train against values, not multi-hot labels.
fn fix_kind(t: Targets, kind: HeadKind) -> Targets {
    match (t, kind) {
        (Targets::Multi(v), HeadKind::Regression) => Targets::Values(v),
        (t, _) => t,
    }
}

/// Logits of every item without dropout: `[labels]` per sentence item, `[tokens * labels]` per
/// token item.
pub fn predict(
    model: &TaskModel,
    items: &[Item],
    pad: u32,
    batch: usize,
) -> Result<Vec<Vec<f32>>, String> {
    let mut acts = Acts::default();
    let mut ha = HeadActs::default();
    let nl = model.num_labels;
    let mut out = Vec::with_capacity(items.len());
    // Similar lengths together: less padding.
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| items[i].ids.len());
    let mut slots: Vec<Option<Vec<f32>>> = vec![None; items.len()];
    for chunk in order.chunks(batch.max(1)) {
        let refs: Vec<&Item> = chunk.iter().map(|&i| &items[i]).collect();
        let (b, _) = make_batch(&refs, pad);
        model.forward(&b, None, &mut acts, &mut ha, None)?;
        for (k, &i) in chunk.iter().enumerate() {
            slots[i] = Some(if model.is_token_task() {
                let n = items[i].ids.len();
                ha.logits[k * b.seq * nl..][..n * nl].to_vec()
            } else {
                ha.logits[k * nl..][..nl].to_vec()
            });
        }
    }
    for s in slots {
        out.push(s.ok_or("internal error: an item was not predicted")?);
    }
    Ok(out)
}

/// Result of one epoch.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EpochLog {
    pub epoch: usize,
    pub train_loss: f64,
    pub dev_score: f64,
    pub best: bool,
    pub seconds: f64,
}

/// Scores a model on the dev set: (score, higher is better; one-line summary).
pub type Evaluator<'a> = dyn FnMut(&TaskModel) -> Result<(f64, String), String> + 'a;

/// Trains `model` on `train`; after every epoch `evaluate` scores the model on the dev set
/// (higher is better) and `save` is called when the score is the best so far.
pub fn train(
    model: &mut TaskModel,
    train: &[Item],
    pad: u32,
    cfg: &FtConfig,
    evaluate: &mut Evaluator,
    save: &mut dyn FnMut(&TaskModel) -> Result<(), String>,
) -> Result<Vec<EpochLog>, String> {
    if train.is_empty() {
        return Err("no training items".into());
    }
    let steps_per_epoch = train.len().div_ceil(cfg.batch_size);
    let total = (steps_per_epoch * cfg.epochs) as u64;
    let schedule = Schedule {
        peak_lr: cfg.lr,
        warmup: (total as f64 * cfg.warmup_frac).round() as u64,
        total,
    };
    let enc_tensors = model.encoder_tensors();
    let head_tensors = model.head_tensors.clone();
    let mut opt_enc = AdamW::new(model.encoder.params.len(), cfg.weight_decay);
    let mut opt_head = AdamW::new(model.head.len(), cfg.weight_decay);
    let mut acts = Acts::default();
    let mut ha = HeadActs::default();
    let mut rng = Rng::new(cfg.seed);
    let mut best = f64::NEG_INFINITY;
    let mut since_best = 0;
    let mut logs = Vec::new();
    let mut step = 0u64;
    for epoch in 1..=cfg.epochs {
        let started = std::time::Instant::now();
        let mut order: Vec<usize> = (0..train.len()).collect();
        rng.shuffle(&mut order);
        let bar = if cfg.progress {
            let b = ProgressBar::new(steps_per_epoch as u64);
            b.set_style(
                ProgressStyle::with_template(
                    "epoch {prefix} [{bar:30}] {pos}/{len} batches {elapsed_precise}<{eta_precise} {msg}",
                )
                .map_err(|e| e.to_string())?
                .progress_chars("=> "),
            );
            b.set_prefix(format!("{epoch}/{}", cfg.epochs));
            b
        } else {
            ProgressBar::hidden()
        };
        let (mut loss_sum, mut loss_n) = (0.0, 0usize);
        for chunk in order.chunks(cfg.batch_size) {
            let refs: Vec<&Item> = chunk.iter().map(|&i| &train[i]).collect();
            let (b, targets) = make_batch(&refs, pad);
            let targets = fix_kind(targets.ok_or("empty batch")?, model.kind);
            if matches!(&targets, Targets::Tags(t) if t.iter().all(Option::is_none)) {
                bar.inc(1);
                continue;
            }
            let key = Some(mix64(cfg.seed ^ mix64(step + 1)));
            model.zero_grads();
            let loss = model.forward(&b, Some(&targets), &mut acts, &mut ha, key)?;
            model.backward(&b, &targets, &mut acts, &mut ha, key);
            if let Some(bad) = model.encoder.first_nonfinite_grad() {
                return Err(format!(
                    "step {step}: non-finite gradient in {bad}; lower --lr"
                ));
            }
            // One global norm over encoder and head, as clip_grad_norm_ over model.parameters().
            let sq = |g: &[f32]| g.iter().map(|&x| x as f64 * x as f64).sum::<f64>();
            let norm = (enc_tensors
                .iter()
                .map(|t| sq(&model.encoder.grads[t.range.clone()]))
                .sum::<f64>()
                + sq(&model.head_grads))
            .sqrt();
            let coef = (cfg.clip / (norm + 1e-6)).min(1.0) as f32;
            if coef < 1.0 {
                model.encoder.grads.iter_mut().for_each(|g| *g *= coef);
                model.head_grads.iter_mut().for_each(|g| *g *= coef);
            }
            let lr = schedule.lr(step);
            opt_enc.update(
                &mut model.encoder.params,
                &model.encoder.grads,
                &enc_tensors,
                lr,
            );
            opt_head.update(&mut model.head, &model.head_grads, &head_tensors, lr);
            step += 1;
            let mean = loss.sum / loss.count.max(1) as f64;
            loss_sum += mean;
            loss_n += 1;
            bar.set_message(format!("loss {:.4}", loss_sum / loss_n as f64));
            bar.inc(1);
        }
        bar.finish_and_clear();
        let (score, report) = evaluate(model)?;
        let is_best = score > best;
        if is_best {
            best = score;
            since_best = 0;
            save(model)?;
        } else {
            since_best += 1;
        }
        let log = EpochLog {
            epoch,
            train_loss: loss_sum / loss_n.max(1) as f64,
            dev_score: score,
            best: is_best,
            seconds: started.elapsed().as_secs_f64(),
        };
        eprintln!(
            "epoch {epoch}: train loss {:.4}, dev {report}{} ({:.0} s)",
            log.train_loss,
            if is_best { " (best, saved)" } else { "" },
            log.seconds
        );
        logs.push(log);
        if since_best >= cfg.patience {
            eprintln!("early stop: no dev improvement for {since_best} epochs");
            break;
        }
    }
    Ok(logs)
}
