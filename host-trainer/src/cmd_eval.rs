//! `picobert eval --model m.pbrt --data dev.tsv|dev.conll`: runs the blob through the core (the
//! deployed path: core tokenizer, core encoder, the blob's head) and prints the task metrics.

use crate::blob::load_blob;
use crate::finetune::deployed::evaluate_file;
use picobert::Model;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Task blob (`picobert export`).
    #[arg(long)]
    pub model: PathBuf,
    /// Labelled data: CoNLL for a token head, TSV/CSV/JSONL for a sentence head.
    #[arg(long)]
    pub data: PathBuf,
    /// Longest sequence (tokens) fed to the model; longer tagging inputs use sliding windows.
    #[arg(long, default_value_t = 128)]
    pub max_seq_len: usize,
}

pub fn run(a: Args) -> Result<(), String> {
    let bytes = load_blob(&a.model)?;
    let model = Model::load(&bytes).map_err(|e| format!("{}: {e}", a.model.display()))?;
    let ev = evaluate_file(&model, &a.data, a.max_seq_len)?;
    print!("{}", ev.report.render());
    println!(
        "core: {} sequences, {} tokens, {:.2} ms per sequence, scratch {} bytes at {} tokens, blob {} bytes",
        ev.runner.sequences,
        ev.runner.tokens,
        ev.runner.ms_per_sequence(),
        4 * model.scratch_len(ev.max_len),
        ev.max_len,
        model.bytes().len()
    );
    Ok(())
}
