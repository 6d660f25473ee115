//! The training loop: gradient accumulation, clipping, AdamW with warmup/decay, held-out
//! evaluation, metrics as JSON lines, a progress bar, checkpoints and exact resume.

use super::checkpoint::{load_hf_dir, save_hf_dir};
use super::dataset::Dataset;
use super::model::{Acts, Batch, Model, Stats};
use super::optim::{clip_grad_norm, AdamW, Schedule};
use super::rng::mix64;
use super::state::TrainerState;
use crate::fsutil::write_atomic;
use crate::hf::HfConfig;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Optimisation settings (BERT paper defaults where it gives them).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    pub steps: u64,
    pub batch_size: usize,
    /// Micro-batches per update.
    pub accum: usize,
    pub peak_lr: f64,
    pub warmup: u64,
    pub weight_decay: f64,
    pub clip: f64,
    pub seed: u64,
    /// 0 = only at the end.
    pub save_every: u64,
    /// 0 = never.
    pub eval_every: u64,
    pub log_every: u64,
    pub progress: bool,
}

/// File naming the newest complete checkpoint directory, replaced atomically.
const LATEST: &str = "latest";
const STATE_FILE: &str = "trainer_state.bin";
const KEEP_CHECKPOINTS: usize = 2;
/// Training loss, in multiples of the uniform-guess loss, at which a run counts as diverged.
const DIVERGED: f64 = 3.0;

pub struct Trainer {
    pub model: Model,
    pub hf: HfConfig,
    pub vocab: Vec<String>,
    pub opt: AdamW,
    pub data: Dataset,
    pub eval: Vec<Batch>,
    pub cfg: TrainConfig,
    pub out: PathBuf,
    acts: Acts,
}

/// The outcome of a run.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub step: u64,
    pub last_loss: f64,
    pub eval: Option<Stats>,
    pub tokens_per_s: f64,
}

impl Trainer {
    /// A trainer starting at step 0, or at the checkpoint named by `out/latest` if `resume`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        model: Model,
        hf: HfConfig,
        vocab: Vec<String>,
        mut data: Dataset,
        eval: Vec<Batch>,
        cfg: TrainConfig,
        out: &Path,
        resume: bool,
    ) -> Result<Self, String> {
        std::fs::create_dir_all(out)
            .map_err(|e| format!("cannot create {}: {e}", out.display()))?;
        let latest = latest_checkpoint(out)?;
        let mut model = model;
        let mut opt = AdamW::new(model.params.len(), cfg.weight_decay);
        match (latest, resume) {
            (Some(dir), true) => {
                let (_, ck_model) = load_hf_dir(&dir)?;
                if ck_model.dims != model.dims {
                    return Err(format!(
                        "{} holds a model of another size than this run's config",
                        dir.display()
                    ));
                }
                let bytes = std::fs::read(dir.join(STATE_FILE))
                    .map_err(|e| format!("cannot read {}: {e}", dir.join(STATE_FILE).display()))?;
                let st = TrainerState::from_bytes(&bytes)
                    .map_err(|e| format!("{}: {e}", dir.display()))?;
                if st.seed != cfg.seed {
                    return Err(format!(
                        "the checkpoint was trained with --seed {}; resume with the same seed",
                        st.seed
                    ));
                }
                if st.opt.m.len() != ck_model.params.len() {
                    return Err("trainer state does not match the model size".into());
                }
                data.seek(st.epoch, st.pos as usize)?;
                model = ck_model;
                opt = st.opt;
                truncate_metrics(&out.join("metrics.jsonl"), opt.step)?;
            }
            (Some(dir), false) => {
                return Err(format!(
                    "{} already holds a checkpoint ({}); pass --resume to continue it or choose \
                     another --out",
                    out.display(),
                    dir.display()
                ))
            }
            (None, _) => {
                // A fresh run: no stale metrics from an earlier, checkpoint-less attempt.
                let _ = std::fs::remove_file(out.join("metrics.jsonl"));
            }
        }
        Ok(Trainer {
            model,
            hf,
            vocab,
            opt,
            data,
            eval,
            cfg,
            out: out.to_path_buf(),
            acts: Acts::default(),
        })
    }

    fn schedule(&self) -> Schedule {
        Schedule {
            peak_lr: self.cfg.peak_lr,
            warmup: self.cfg.warmup,
            total: self.cfg.steps,
        }
    }

    /// One optimizer update; returns the pooled stats of its micro-batches.
    pub fn step(&mut self) -> Result<Stats, String> {
        let step = self.opt.step;
        self.model.zero_grads();
        let mut stats = Stats::default();
        let accum = self.cfg.accum.max(1);
        for micro in 0..accum {
            let batch = self.data.next_batch(self.cfg.batch_size);
            let key = Some(mix64(
                self.cfg.seed ^ mix64(step * accum as u64 + micro as u64 + 1),
            ));
            let s = self.model.forward(&batch, &mut self.acts, key)?;
            if !s.loss().is_finite() {
                let at = self
                    .model
                    .first_nonfinite_activation(&self.acts)
                    .unwrap_or_else(|| "the loss".into());
                return Err(format!(
                    "step {}: loss is {}; first non-finite values in {at}",
                    step + 1,
                    s.loss()
                ));
            }
            self.model
                .backward(&batch, &mut self.acts, key, 1.0 / accum as f32);
            stats.add(&s);
        }
        if let Some(name) = self.model.first_nonfinite_grad() {
            return Err(format!("step {}: non-finite gradient in {name}", step + 1));
        }
        // A loss far above that of guessing uniformly (every word and both NSP labels equally
        // likely) can only mean divergence. Stopping on it, rather than waiting for an overflow,
        // keeps a run with clipped gradients from saving garbage; the threshold depends on the
        // config only, so a resumed run stops exactly where an uninterrupted one does.
        let uniform = (self.model.dims.vocab as f64).ln() + std::f64::consts::LN_2;
        if stats.loss() > DIVERGED * uniform {
            return Err(format!(
                "step {}: loss {:.1} is over {DIVERGED}x that of uniform guessing ({uniform:.1}): \
                 the run is diverging (largest gradient in {}); lower --lr",
                step + 1,
                stats.loss(),
                self.model.largest_grad().unwrap_or("no tensor")
            ));
        }
        clip_grad_norm(
            &mut self.model.grads,
            &self.model.index.tensors,
            self.cfg.clip,
        );
        let lr = self.schedule().lr(step);
        self.opt.update(
            &mut self.model.params,
            &self.model.grads,
            &self.model.index.tensors,
            lr,
        );
        Ok(stats)
    }

    /// Loss and accuracy on the held-out batches, dropout off.
    pub fn evaluate(&mut self) -> Result<Option<Stats>, String> {
        if self.eval.is_empty() {
            return Ok(None);
        }
        let mut total = Stats::default();
        for b in &self.eval {
            total.add(&self.model.forward(b, &mut self.acts, None)?);
        }
        Ok(Some(total))
    }

    /// Writes `out/checkpoint-STEP` (HF directory + trainer state) via a temporary directory and
    /// a rename, then points `out/latest` at it; older checkpoints beyond the last two go.
    pub fn save(&self) -> Result<PathBuf, String> {
        let step = self.opt.step;
        let name = format!("checkpoint-{step:08}");
        let tmp = self.out.join(format!(".{name}.tmp"));
        let _ = std::fs::remove_dir_all(&tmp);
        save_hf_dir(&tmp, &self.model, &self.hf, &self.vocab)?;
        let (epoch, pos) = self.data.position();
        let st = TrainerState {
            step,
            epoch,
            pos: pos as u64,
            seed: self.cfg.seed,
            opt: self.opt.clone(),
        };
        write_atomic(&tmp.join(STATE_FILE), &st.to_bytes())?;
        let dir = self.out.join(&name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&tmp, &dir)
            .map_err(|e| format!("cannot rename {} to {}: {e}", tmp.display(), dir.display()))?;
        write_atomic(&self.out.join(LATEST), name.as_bytes())?;
        let mut old: Vec<PathBuf> = std::fs::read_dir(&self.out)
            .map_err(|e| format!("cannot list {}: {e}", self.out.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("checkpoint-"))
            })
            .collect();
        old.sort();
        for p in old.iter().rev().skip(KEEP_CHECKPOINTS) {
            let _ = std::fs::remove_dir_all(p);
        }
        Ok(dir)
    }

    /// Trains to `cfg.steps`, logging, evaluating and checkpointing on the way.
    pub fn run(&mut self) -> Result<Summary, String> {
        let total = self.cfg.steps;
        let bar = if self.cfg.progress {
            let b = ProgressBar::new(total);
            b.set_style(
                ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} {msg} [{elapsed_precise} ETA {eta_precise}]",
                )
                .map_err(|e| e.to_string())?,
            );
            b.set_position(self.opt.step);
            b
        } else {
            ProgressBar::hidden()
        };
        let mut metrics = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.out.join("metrics.jsonl"))
            .map_err(|e| format!("cannot open metrics.jsonl: {e}"))?;
        let tokens_per_step =
            (self.cfg.batch_size * self.cfg.accum.max(1) * self.data_seq_len()) as f64;
        let mut summary = Summary::default();
        let mut window = (Stats::default(), 0u64, Instant::now());
        let started = Instant::now();
        let start_step = self.opt.step;
        while self.opt.step < total {
            let lr = self.schedule().lr(self.opt.step);
            let s = self.step()?;
            let step = self.opt.step;
            window.0.add(&s);
            window.1 += 1;
            summary.last_loss = s.loss();
            if step % self.cfg.log_every.max(1) == 0 || step == total {
                let secs = window.2.elapsed().as_secs_f64();
                let tps = tokens_per_step * window.1 as f64 / secs.max(1e-9);
                let w = &window.0;
                let row = serde_json::json!({
                    "step": step,
                    "loss": w.loss(),
                    "mlm_loss": w.mlm_loss(),
                    "nsp_loss": w.nsp_loss(),
                    "mlm_acc": w.mlm_correct as f64 / w.mlm_count.max(1) as f64,
                    "nsp_acc": w.nsp_correct as f64 / w.nsp_count.max(1) as f64,
                    "lr": lr,
                    "tokens_per_s": tps,
                });
                writeln!(metrics, "{row}").map_err(|e| format!("metrics.jsonl: {e}"))?;
                bar.set_message(format!(
                    "loss {:.3} mlm_acc {:.3} nsp_acc {:.3} {:.0} tok/s",
                    w.loss(),
                    w.mlm_correct as f64 / w.mlm_count.max(1) as f64,
                    w.nsp_correct as f64 / w.nsp_count.max(1) as f64,
                    tps
                ));
                window = (Stats::default(), 0, Instant::now());
            }
            if self.cfg.eval_every > 0 && (step % self.cfg.eval_every == 0 || step == total) {
                if let Some(e) = self.evaluate()? {
                    let row = serde_json::json!({
                        "split": "eval",
                        "step": step,
                        "loss": e.loss(),
                        "mlm_loss": e.mlm_loss(),
                        "nsp_loss": e.nsp_loss(),
                        "mlm_acc": e.mlm_correct as f64 / e.mlm_count.max(1) as f64,
                        "nsp_acc": e.nsp_correct as f64 / e.nsp_count.max(1) as f64,
                    });
                    writeln!(metrics, "{row}").map_err(|e| format!("metrics.jsonl: {e}"))?;
                    summary.eval = Some(e);
                }
            }
            if (self.cfg.save_every > 0 && step % self.cfg.save_every == 0) || step == total {
                metrics.flush().map_err(|e| format!("metrics.jsonl: {e}"))?;
                self.save()?;
            }
            bar.set_position(step);
        }
        bar.finish();
        summary.step = self.opt.step;
        summary.tokens_per_s = tokens_per_step * (self.opt.step - start_step) as f64
            / started.elapsed().as_secs_f64().max(1e-9);
        Ok(summary)
    }

    fn data_seq_len(&self) -> usize {
        self.data.seq_len()
    }
}

/// The checkpoint `out/latest` names, if any.
pub fn latest_checkpoint(out: &Path) -> Result<Option<PathBuf>, String> {
    let p = out.join(LATEST);
    match std::fs::read_to_string(&p) {
        Ok(name) => {
            let name = name.trim();
            if name.is_empty() || name.contains('/') || name.contains("..") {
                return Err(format!("{}: not a checkpoint name", p.display()));
            }
            Ok(Some(out.join(name)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", p.display())),
    }
}

/// Drops metric rows past `step` (logged after the checkpoint a resumed run restarts from).
fn truncate_metrics(path: &Path, step: u64) -> Result<(), String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let kept: String = text
        .lines()
        .filter(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .and_then(|v| v.get("step").and_then(|s| s.as_u64()))
                .is_some_and(|s| s <= step)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    write_atomic(path, kept.as_bytes())
}
