//! `picobert finetune --task classify|tag --train FILE --dev FILE --init DIR --out DIR`:
//! fine-tunes a BERT directory on a sentence- or token-level task and keeps the best dev
//! checkpoint in `--out` as a transformers directory (see `finetune::checkpoint`).

use crate::blob::vocab_section;
use crate::finetune::checkpoint::{load_init, save};
use crate::finetune::data::{class_names, read_conll, read_examples, tag_names, Problem, Target};
use crate::finetune::evaluate::{sentence_report, tag_report, word_predictions};
use crate::finetune::features::{
    default_stride, encode_examples, encode_tagged, label_id, target_row,
};
use crate::finetune::model::TaskModel;
use crate::finetune::trainer::{predict, train, EpochLog, Evaluator, FtConfig, Item, ItemTarget};
use picobert::tokenizer::Tokenizer;
use picobert::{HeadKind, Vocab};
use std::path::PathBuf;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// Sentence (pair) classification or regression on the pooled [CLS] output.
    Classify,
    /// One tag per word (CoNLL), on the sequence output.
    Tag,
}

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    #[arg(long, value_enum)]
    pub task: Task,
    /// Training file: TSV/CSV/JSONL with `text`, optional `text_b`, `label` (classify), or
    /// CoNLL columns (tag).
    #[arg(long)]
    pub train: PathBuf,
    /// Dev file, same format; evaluated after every epoch to pick the best checkpoint.
    #[arg(long)]
    pub dev: PathBuf,
    /// Hugging Face BERT directory to start from (ours from `picobert pretrain`, or e.g.
    /// all-MiniLM-L6-v2).
    #[arg(long)]
    pub init: PathBuf,
    /// Output directory: the best checkpoint (transformers format) and finetune.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Ignore --init's weights (keep its config and vocabulary): the random-init baseline.
    #[arg(long)]
    pub from_scratch: bool,
    /// Sentence tasks: one label, a `|`-separated label set, or a real value per example.
    #[arg(long, value_enum, default_value_t)]
    pub problem: Problem,
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// Peak learning rate (BERT: 5e-5, 3e-5 or 2e-5).
    #[arg(long, default_value_t = 3e-5)]
    pub lr: f64,
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 128)]
    pub max_seq_len: usize,
    /// Tagging: pieces between the starts of consecutive windows [default: half a window].
    #[arg(long)]
    pub stride: Option<usize>,
    /// Fraction of the updates spent warming the learning rate up.
    #[arg(long, default_value_t = 0.1)]
    pub warmup: f64,
    #[arg(long, default_value_t = 0.01)]
    pub weight_decay: f64,
    /// Stop after this many epochs without a better dev score.
    #[arg(long, default_value_t = 2)]
    pub patience: usize,
    /// Train on the first N training examples only (time budgets).
    #[arg(long)]
    pub max_train: Option<usize>,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Worker threads [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long)]
    pub no_progress: bool,
}

/// What a finished run reports.
pub struct Outcome {
    pub epochs: Vec<EpochLog>,
    pub best_dev: f64,
    pub labels: Vec<String>,
}

fn check(a: &Args) -> Result<(), String> {
    if a.epochs == 0 || a.batch_size == 0 {
        return Err("--epochs and --batch-size must be positive".into());
    }
    if !(a.lr > 0.0 && a.lr.is_finite() && (0.0..1.0).contains(&a.warmup)) {
        return Err("--lr must be positive and --warmup in [0, 1)".into());
    }
    if a.max_seq_len < 4 {
        return Err("--max-seq-len must be at least 4".into());
    }
    Ok(())
}

pub fn finetune(a: &Args) -> Result<Outcome, String> {
    check(a)?;
    let init = load_init(&a.init, a.from_scratch, a.seed)?;
    if a.max_seq_len > init.hf.max_position_embeddings {
        return Err(format!(
            "--max-seq-len {} exceeds the model's max_position_embeddings {}",
            a.max_seq_len, init.hf.max_position_embeddings
        ));
    }
    let section = vocab_section(&init.vocab);
    let vocab = Vocab::from_bytes(&section).map_err(|e| format!("vocab.txt: {e}"))?;
    let tok = Tokenizer::new(vocab, init.tokenizer).map_err(|e| format!("tokenizer: {e}"))?;
    let pad = if init.tokenizer.pad_id == picobert::NO_TOKEN {
        0
    } else {
        init.tokenizer.pad_id
    };
    let take = |n: usize| a.max_train.unwrap_or(n).min(n);

    // Items for training, and a dev evaluator producing (score, one-line summary).
    let (kind, labels, train_items, mut evaluate): (
        HeadKind,
        Vec<String>,
        Vec<Item>,
        Box<Evaluator>,
    ) = match a.task {
        Task::Classify => {
            let mut train_ex = read_examples(&a.train, a.problem)?;
            train_ex.truncate(take(train_ex.len()));
            let dev_ex = read_examples(&a.dev, a.problem)?;
            let (kind, labels) = match a.problem {
                Problem::Single => (HeadKind::SequenceClassification, class_names(&train_ex)),
                Problem::Multi => (HeadKind::MultiLabelClassification, class_names(&train_ex)),
                Problem::Regression => (HeadKind::Regression, vec![]),
            };
            if kind != HeadKind::Regression
                && labels.len() < 2
                && kind == HeadKind::SequenceClassification
            {
                return Err("the training file has fewer than two distinct labels".into());
            }
            // A dev label the training file lacks can never be predicted: almost always a data
            // bug (a typo, a different label set), so refuse rather than score around it.
            for (i, e) in dev_ex.iter().enumerate() {
                let names: &[String] = match &e.target {
                    Target::Class(c) => std::slice::from_ref(c),
                    Target::Classes(cs) => cs,
                    Target::Value(_) => &[],
                };
                if let Some(n) = names.iter().find(|n| !labels.contains(n)) {
                    return Err(format!(
                        "{}: example {}: label {n:?} does not occur in the training file {}",
                        a.dev.display(),
                        i + 1,
                        a.train.display()
                    ));
                }
            }
            let nl = labels.len().max(1);
            let feats = encode_examples(&tok, &train_ex, a.max_seq_len)?;
            let items = feats
                .into_iter()
                .zip(&train_ex)
                .map(|(f, e)| {
                    let target = match &e.target {
                        Target::Class(c) => ItemTarget::Class(label_id(&labels, c)?),
                        t => ItemTarget::Row(target_row(t, &labels, nl)?),
                    };
                    Ok(Item {
                        ids: f.ids,
                        types: f.types,
                        target,
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            let dev_items: Vec<Item> = encode_examples(&tok, &dev_ex, a.max_seq_len)?
                .into_iter()
                .map(|f| Item {
                    ids: f.ids,
                    types: f.types,
                    target: ItemTarget::Class(0),
                })
                .collect();
            let labels_c = labels.clone();
            let bs = a.batch_size;
            let eval = Box::new(move |m: &TaskModel| {
                let logits = predict(m, &dev_items, pad, bs)?;
                let r = sentence_report(kind, &labels_c, &dev_ex, &logits)?;
                Ok((r.score(), r.summary()))
            });
            (kind, labels, items, eval)
        }
        Task::Tag => {
            let mut train_s = read_conll(&a.train)?;
            train_s.truncate(take(train_s.len()));
            let dev_s = read_conll(&a.dev)?;
            let labels = tag_names(&train_s);
            let stride = a.stride.unwrap_or(default_stride(a.max_seq_len));
            let windows = encode_tagged(&tok, &train_s, a.max_seq_len, stride)?;
            let items = windows
                .into_iter()
                .map(|w| {
                    let tags = w
                        .first_of
                        .iter()
                        .map(|f| {
                            f.map(|word| label_id(&labels, &train_s[w.sentence].tags[word]))
                                .transpose()
                        })
                        .collect::<Result<Vec<_>, String>>()?;
                    Ok(Item {
                        ids: w.ids,
                        types: w.types,
                        target: ItemTarget::Tags(tags),
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            let dev_w = encode_tagged(&tok, &dev_s, a.max_seq_len, stride)?;
            let dev_items: Vec<Item> = dev_w
                .iter()
                .map(|w| Item {
                    ids: w.ids.clone(),
                    types: w.types.clone(),
                    target: ItemTarget::Tags(vec![None; w.ids.len()]),
                })
                .collect();
            let counts: Vec<usize> = dev_s.iter().map(|s| s.words.len()).collect();
            let labels_c = labels.clone();
            let bs = a.batch_size;
            let eval = Box::new(move |m: &TaskModel| {
                let logits = predict(m, &dev_items, pad, bs)?;
                let pred = word_predictions(&dev_w, &logits, &counts, m.num_labels)?;
                let r = tag_report(&labels_c, &dev_s, &pred)?;
                Ok((r.score(), r.summary()))
            });
            (HeadKind::TokenClassification, labels, items, eval)
        }
    };
    let nl = labels.len().max(1);
    let mut model = TaskModel::new(init.encoder, kind, nl, a.seed);
    eprintln!(
        "{} training items, {} labels{}; init {}{}",
        train_items.len(),
        nl,
        if labels.len() <= 20 {
            format!(" ({})", labels.join(", "))
        } else {
            String::new()
        },
        a.init.display(),
        if init.fresh.is_empty() {
            String::new()
        } else {
            format!(" (fresh: {})", init.fresh.join(", "))
        }
    );
    let cfg = FtConfig {
        epochs: a.epochs,
        lr: a.lr,
        batch_size: a.batch_size,
        warmup_frac: a.warmup,
        weight_decay: a.weight_decay,
        clip: 1.0,
        seed: a.seed,
        patience: a.patience.max(1),
        progress: !a.no_progress,
    };
    let (hf, vocab_list, tc) = (init.hf, init.vocab, init.tokenizer);
    let mut save_best = |m: &TaskModel| save(&a.out, m, &hf, &vocab_list, &tc, &labels);
    let logs = train(
        &mut model,
        &train_items,
        pad,
        &cfg,
        &mut evaluate,
        &mut save_best,
    )?;
    let best_dev = logs
        .iter()
        .map(|l| l.dev_score)
        .fold(f64::NEG_INFINITY, f64::max);
    let summary = serde_json::json!({
        "task": format!("{:?}", a.task),
        "train": a.train, "dev": a.dev, "init": a.init, "from_scratch": a.from_scratch,
        "epochs": a.epochs, "lr": a.lr, "batch_size": a.batch_size, "max_seq_len": a.max_seq_len,
        "seed": a.seed, "train_items": train_items.len(), "best_dev_score": best_dev,
        "log": logs,
    });
    crate::fsutil::write_atomic(
        &a.out.join("finetune.json"),
        serde_json::to_string_pretty(&summary)
            .map_err(|e| e.to_string())?
            .as_bytes(),
    )?;
    Ok(Outcome {
        epochs: logs,
        best_dev,
        labels,
    })
}

pub fn run(a: Args) -> Result<(), String> {
    let threads = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| e.to_string())?;
    let out = pool.install(|| finetune(&a))?;
    eprintln!(
        "best dev score {:.4}; checkpoint in {} (export: picobert export --checkpoint {} --out model.pbrt)",
        out.best_dev,
        a.out.display(),
        a.out.display()
    );
    Ok(())
}
