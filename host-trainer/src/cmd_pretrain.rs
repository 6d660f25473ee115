//! `picobert pretrain`: MLM + NSP pretraining of a BERT on document-level text, from scratch or
//! continued from a Hugging Face checkpoint (`--init`).

use crate::blob::vocab_section;
use crate::hf::{read_vocab, HfConfig, HfTokenizerConfig};
use crate::train::checkpoint::overlay_weights;
use crate::train::corpus::load_corpus;
use crate::train::dataset::{split_held_out, DataConfig, Dataset};
use crate::train::instances::{InstanceConfig, MaskConfig};
use crate::train::model::Model;
use crate::train::params::Dims;
use crate::train::trainer::{TrainConfig, Trainer};
use clap::{Args as ClapArgs, ValueEnum};
use picobert::tokenizer::Tokenizer;
use picobert::Vocab;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Preset {
    /// L=2, H=128, A=2
    Tiny,
    /// L=4, H=256, A=4
    Mini,
    /// L=4, H=512, A=8
    Small,
    /// L=8, H=512, A=8
    Medium,
    /// L=12, H=768, A=12 (BERT-base)
    Base,
}

impl Preset {
    /// Google's compact BERT sizes: FFN 4H, 512 positions.
    pub fn config(self, vocab_size: usize) -> HfConfig {
        let (l, h, a) = match self {
            Preset::Tiny => (2, 128, 2),
            Preset::Mini => (4, 256, 4),
            Preset::Small => (4, 512, 8),
            Preset::Medium => (8, 512, 8),
            Preset::Base => (12, 768, 12),
        };
        HfConfig::new(vocab_size, h, l, a, 4 * h, 512)
    }
}

#[derive(ClapArgs, Debug)]
#[command(group(clap::ArgGroup::new("model").required(true).args(["preset", "config", "init"])))]
pub struct Args {
    /// Corpus files in Google's format (one sentence per line, blank line between documents;
    /// `picobert prepare` makes them).
    #[arg(long, required = true, num_args = 1..)]
    pub corpus: Vec<PathBuf>,
    /// WordPiece vocabulary (vocab.txt); normalisation from the tokenizer_config.json beside it,
    /// else BERT-uncased (lowercase, strip accents).
    #[arg(long)]
    pub vocab: PathBuf,
    /// Keep case and accents (a cased vocabulary).
    #[arg(long)]
    pub cased: bool,
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    /// A transformers config.json instead of a preset.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Continue pretraining a Hugging Face directory (config.json, model.safetensors): its
    /// config and weights; heads it lacks (a `BertModel` has no MLM/NSP heads) start fresh.
    /// The optimizer, schedule and data order start anew (e.g. BERT's longer-sequence phase
    /// after a short-sequence run). `--vocab` must be the checkpoint's vocabulary.
    #[arg(long)]
    pub init: Option<PathBuf>,
    #[arg(long, default_value_t = 128)]
    pub max_seq_len: usize,
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Optimizer updates.
    #[arg(long)]
    pub steps: u64,
    /// Run directory: checkpoints, metrics.jsonl.
    #[arg(long)]
    pub out: PathBuf,
    /// Checkpoint every N updates (and always at the end).
    #[arg(long, default_value_t = 1000)]
    pub save_every: u64,
    /// Continue from the latest checkpoint in --out (same seed and threads: bitwise the same
    /// result as an uninterrupted run).
    #[arg(long)]
    pub resume: bool,
    #[arg(long, default_value_t = 12345)]
    pub seed: u64,
    /// Worker threads [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Peak learning rate (BERT: 1e-4).
    #[arg(long, default_value_t = 1e-4)]
    pub lr: f64,
    /// Warmup updates [default: 10% of --steps, at most 10,000 as BERT].
    #[arg(long)]
    pub warmup: Option<u64>,
    #[arg(long, default_value_t = 0.01)]
    pub weight_decay: f64,
    /// Global gradient-norm clip.
    #[arg(long, default_value_t = 1.0)]
    pub clip: f64,
    /// Micro-batches of --batch-size per update.
    #[arg(long, default_value_t = 1)]
    pub accum: usize,
    #[arg(long, default_value_t = 0.15)]
    pub masked_lm_prob: f64,
    #[arg(long, default_value_t = 20)]
    pub max_predictions: usize,
    #[arg(long, default_value_t = 0.1)]
    pub short_seq_prob: f64,
    /// Mask whole words (all pieces of a word together).
    #[arg(long)]
    pub whole_word_masking: bool,
    /// Held-out evaluation every N updates (0: never, and no documents are held out).
    #[arg(long, default_value_t = 500)]
    pub eval_every: u64,
    #[arg(long, default_value_t = 20)]
    pub eval_batches: usize,
    /// Fraction of documents held out for evaluation (0: none).
    #[arg(long, default_value_t = 0.02)]
    pub held_out: f64,
    #[arg(long, default_value_t = 10)]
    pub log_every: u64,
    #[arg(long)]
    pub no_progress: bool,
}

pub fn run(a: Args) -> Result<(), String> {
    let threads = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| format!("thread pool: {e}"))?;
    pool.install(|| train(a))
}

fn check_args(a: &Args) -> Result<(), String> {
    if a.steps == 0 || a.batch_size == 0 || a.accum == 0 {
        return Err("--steps, --batch-size and --accum must be positive".into());
    }
    if !(0.0..1.0).contains(&a.masked_lm_prob) || a.masked_lm_prob == 0.0 {
        return Err("--masked-lm-prob must be in (0, 1)".into());
    }
    if !(0.0..=1.0).contains(&a.short_seq_prob) || !(0.0..1.0).contains(&a.held_out) {
        return Err("--short-seq-prob must be in [0, 1] and --held-out in [0, 1)".into());
    }
    if a.max_predictions == 0 || a.max_seq_len < 5 {
        return Err("--max-predictions must be positive and --max-seq-len at least 5".into());
    }
    Ok(())
}

/// `--vocab` must give every token the id it had in `dir`'s run (when `dir` has a vocab.txt).
fn check_init_vocab(dir: &Path, vocab: &[String]) -> Result<(), String> {
    let theirs = dir.join("vocab.txt");
    if theirs.exists() && read_vocab(&theirs)? != vocab {
        return Err(format!(
            "--vocab differs from {}: the checkpoint's embeddings belong to its own vocabulary",
            theirs.display()
        ));
    }
    Ok(())
}

/// The checkpoint's weights over `model`; returns the head tensors it lacked. A missing encoder
/// tensor is an error: the directory is not a BERT of this config.
fn load_init(dir: &Path, model: &mut Model) -> Result<Vec<String>, String> {
    let path = dir.join("model.safetensors");
    let fresh = overlay_weights(&path, model)?;
    if let Some(name) = fresh
        .iter()
        .find(|n| !n.starts_with("cls.") && !n.starts_with("bert.pooler."))
    {
        return Err(format!("{}: missing tensor {name}", path.display()));
    }
    Ok(fresh)
}

fn train(a: Args) -> Result<(), String> {
    check_args(&a)?;
    let vocab = read_vocab(&a.vocab)?;
    let hf = match (&a.init, &a.config, a.preset) {
        (Some(dir), _, _) => {
            check_init_vocab(dir, &vocab)?;
            HfConfig::load(&dir.join("config.json"))?
        }
        (None, Some(path), _) => HfConfig::load(path)?,
        (None, None, Some(p)) => p.config(vocab.len()),
        (None, None, None) => return Err("pass --preset, --config or --init".into()),
    };
    if hf.vocab_size < vocab.len() {
        return Err(format!(
            "config vocab_size {} is smaller than the {} tokens of {}",
            hf.vocab_size,
            vocab.len(),
            a.vocab.display()
        ));
    }
    if a.max_seq_len > hf.max_position_embeddings {
        return Err(format!(
            "--max-seq-len {} exceeds max_position_embeddings {}",
            a.max_seq_len, hf.max_position_embeddings
        ));
    }
    let dims = Dims::from_config(&hf)?;

    let section = vocab_section(&vocab);
    let v = Vocab::from_bytes(&section).map_err(|e| format!("{}: {e:?}", a.vocab.display()))?;
    // tokenizer_config.json beside vocab.txt, if any, says how to normalise (as transformers).
    let mut tc =
        HfTokenizerConfig::load_or_default(&a.vocab.with_file_name("tokenizer_config.json"))?;
    if a.cased {
        tc.do_lower_case = Some(false);
    }
    let tok = Tokenizer::new(v, crate::import::tokenizer_config(&tc, &vocab))
        .map_err(|e| format!("{}: {e:?}", a.vocab.display()))?;
    let tokenize = |s: &str| -> Result<Vec<u32>, String> {
        Ok(tok
            .pieces(s)
            .map_err(|e| format!("{e:?}"))?
            .map(|p| p.id)
            .collect())
    };
    let (docs, stats) = load_corpus(&a.corpus, &tokenize)?;
    eprintln!("corpus: {stats}");
    let evaluate = a.eval_every > 0 && a.held_out > 0.0;
    let (train_docs, eval_docs) = if evaluate {
        split_held_out(docs, a.held_out, a.seed)?
    } else {
        (docs, Vec::new())
    };
    let data_cfg = DataConfig {
        instances: InstanceConfig {
            max_seq_len: a.max_seq_len,
            short_seq_prob: a.short_seq_prob,
        },
        masking: MaskConfig {
            prob: a.masked_lm_prob,
            max_predictions: a.max_predictions,
            whole_word: a.whole_word_masking,
            vocab_size: vocab.len(),
        },
        seed: a.seed,
    };
    let data = Dataset::new(train_docs, &vocab, data_cfg)?;
    let eval_batches = if evaluate {
        let mut eval_set = Dataset::new(eval_docs, &vocab, data_cfg)?;
        let n = a
            .eval_batches
            .min(eval_set.instances_per_epoch().div_ceil(a.batch_size))
            .max(1);
        (0..n).map(|_| eval_set.next_batch(a.batch_size)).collect()
    } else {
        Vec::new()
    };
    eprintln!(
        "{} training instances per epoch; {} held-out batches; model {} parameters",
        data.instances_per_epoch(),
        eval_batches.len(),
        crate::train::params::ParamIndex::new(&dims).total
    );
    let mut model = Model::init(dims, a.seed);
    if let Some(dir) = &a.init {
        let fresh = load_init(dir, &mut model)?;
        eprintln!(
            "init: {}{}",
            dir.display(),
            if fresh.is_empty() {
                String::new()
            } else {
                format!(" (fresh: {})", fresh.join(", "))
            }
        );
    }
    let cfg = TrainConfig {
        steps: a.steps,
        batch_size: a.batch_size,
        accum: a.accum,
        peak_lr: a.lr,
        warmup: a.warmup.unwrap_or((a.steps / 10).min(10_000)),
        weight_decay: a.weight_decay,
        clip: a.clip,
        seed: a.seed,
        save_every: a.save_every,
        eval_every: a.eval_every,
        log_every: a.log_every,
        progress: !a.no_progress,
    };
    let mut trainer = Trainer::new(model, hf, vocab, data, eval_batches, cfg, &a.out, a.resume)?;
    let s = trainer.run()?;
    eprintln!(
        "done: step {}, last loss {:.4}, {:.0} tokens/s",
        s.step, s.last_loss, s.tokens_per_s
    );
    if let Some(e) = s.eval {
        eprintln!(
            "held-out: loss {:.4}, MLM accuracy {:.4}, NSP accuracy {:.4}",
            e.loss(),
            e.mlm_correct as f64 / e.mlm_count.max(1) as f64,
            e.nsp_correct as f64 / e.nsp_count.max(1) as f64
        );
    }
    Ok(())
}
