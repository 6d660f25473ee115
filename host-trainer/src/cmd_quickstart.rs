//! `picobert quickstart`: the whole pipeline on the bundled public-domain data, offline, in a
//! few minutes: pretrain a tiny BERT (MLM + NSP), fine-tune it on a sentence task (which work a
//! sentence comes from: Moby Dick or a State of the Union address), export f32 and int8 blobs,
//! and evaluate both through the core.

use crate::blob::quantize::WeightDtype;
use crate::finetune::deployed::evaluate_file;
use crate::train::trainer::latest_checkpoint;
use clap::{FromArgMatches, Parser};
use picobert::Model;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The data bundled in the repository (tests/fixtures/quickstart/README.md).
const BUNDLED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/quickstart");

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Work directory for checkpoints and blobs.
    #[arg(long, default_value = "target/quickstart")]
    pub out: PathBuf,
    /// Data directory (corpus.txt, vocab.txt, train/dev/test.tsv).
    #[arg(long, default_value = BUNDLED)]
    pub data: PathBuf,
    /// Pretraining updates (batch 32, 64 tokens).
    #[arg(long, default_value_t = 300)]
    pub pretrain_steps: u64,
    /// Fine-tuning epochs.
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Worker threads [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Parses a subcommand's flags, so the quickstart runs exactly what the documented commands run.
fn parse<T: clap::Args>(argv: &[String]) -> Result<T, String> {
    #[derive(Parser)]
    struct Wrap<U: clap::Args> {
        #[command(flatten)]
        inner: U,
    }
    let cmd = <Wrap<T> as clap::CommandFactory>::command().no_binary_name(true);
    let m = cmd.try_get_matches_from(argv).map_err(|e| e.to_string())?;
    Wrap::<T>::from_arg_matches(&m)
        .map(|w| w.inner)
        .map_err(|e| e.to_string())
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

fn argv(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

pub fn run(a: Args) -> Result<(), String> {
    let started = Instant::now();
    for f in [
        "corpus.txt",
        "vocab.txt",
        "train.tsv",
        "dev.tsv",
        "test.tsv",
    ] {
        if !a.data.join(f).exists() {
            return Err(format!(
                "{}: missing {f} (the bundled data is tests/fixtures/quickstart)",
                a.data.display()
            ));
        }
    }
    std::fs::create_dir_all(&a.out).map_err(|e| format!("{}: {e}", a.out.display()))?;
    let threads = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .to_string();
    let seed = a.seed.to_string();
    let pre_dir = a.out.join("pretrain");
    let ft_dir = a.out.join("finetune");

    eprintln!("== 1/4 pretraining a tiny BERT (L=2, H=128) on the bundled Moby Dick + State of the Union sample");
    let pre: crate::cmd_pretrain::Args = parse(&argv(&[
        "--corpus",
        &path(&a.data.join("corpus.txt")),
        "--vocab",
        &path(&a.data.join("vocab.txt")),
        "--preset",
        "tiny",
        "--max-seq-len",
        "64",
        "--batch-size",
        "32",
        "--steps",
        &a.pretrain_steps.to_string(),
        "--lr",
        "1e-3",
        "--max-predictions",
        "10",
        "--save-every",
        &a.pretrain_steps.to_string(),
        "--eval-every",
        "0",
        "--log-every",
        "50",
        "--seed",
        &seed,
        "--threads",
        &threads,
        "--out",
        &path(&pre_dir),
    ]))?;
    crate::cmd_pretrain::run(pre)?;
    let ckpt = latest_checkpoint(&pre_dir)?.ok_or("pretraining wrote no checkpoint")?;

    eprintln!("== 2/4 fine-tuning it: which work does a sentence come from (moby / sotu)?");
    let ft: crate::cmd_finetune::Args = parse(&argv(&[
        "--task",
        "classify",
        "--train",
        &path(&a.data.join("train.tsv")),
        "--dev",
        &path(&a.data.join("dev.tsv")),
        "--init",
        &path(&ckpt),
        "--out",
        &path(&ft_dir),
        "--epochs",
        &a.epochs.to_string(),
        "--lr",
        "1e-4",
        "--max-seq-len",
        "64",
        "--seed",
        &seed,
        "--threads",
        &threads,
    ]))?;
    crate::cmd_finetune::run(ft)?;

    eprintln!("== 3/4 exporting f32 and int8 blobs");
    let mut rows = Vec::new();
    for (name, dtype) in [("f32", WeightDtype::F32), ("int8", WeightDtype::Int8)] {
        let blob = a.out.join(format!("task-{name}.pbrt"));
        crate::cmd_export::export(&ft_dir, &blob, dtype)?;
        rows.push((name, blob));
    }

    eprintln!("== 4/4 evaluating both blobs through the core on the held-out test set");
    let test = a.data.join("test.tsv");
    let mut results = Vec::new();
    for (name, blob) in &rows {
        let bytes = crate::blob::load_blob(blob)?;
        let model = Model::load(&bytes).map_err(|e| format!("{}: {e}", blob.display()))?;
        let ev = evaluate_file(&model, &test, 64)?;
        results.push((
            *name,
            ev.report.score(),
            bytes.len(),
            4 * model.scratch_len(ev.max_len),
            ev.max_len,
            ev.runner.ms_per_sequence(),
        ));
    }
    println!();
    println!("test set: {} (moby vs sotu sentences)", test.display());
    println!(
        "{:<6} {:>9} {:>12} {:>14} {:>12}",
        "blob", "accuracy", "blob bytes", "scratch bytes", "ms/sentence"
    );
    for (name, acc, size, scratch, len, ms) in &results {
        println!(
            "{name:<6} {:>8.2}% {size:>12} {scratch:>14} {ms:>12.3}   (scratch at {len} tokens)",
            100.0 * acc
        );
    }
    if let [f, i] = &results[..] {
        println!(
            "int8 - f32 accuracy: {:+.2} points; int8 blob is {:.1}x smaller",
            100.0 * (i.1 - f.1),
            f.2 as f64 / i.2 as f64
        );
    }
    println!(
        "done in {:.1} min; blobs in {}; try: picobert predict --model {} --text \"Call me Ishmael.\"",
        started.elapsed().as_secs_f64() / 60.0,
        a.out.display(),
        rows[1].1.display()
    );
    Ok(())
}
