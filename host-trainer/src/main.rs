//! `picobert`: the host tool. Each subcommand lives in its own module of the library.

use clap::{Parser, Subcommand};
use picobert_trainer::*;

#[derive(Parser)]
#[command(
    name = "picobert",
    version,
    about = "BERT for the edge: train, import, export, run"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The whole pipeline offline on bundled data: pretrain, fine-tune, export f32/int8, eval.
    Quickstart(cmd_quickstart::Args),
    /// Convert a Hugging Face BERT directory into a picobert blob.
    Import(cmd_import::Args),
    /// Describe a blob: header, config, tensors, heads, scratch sizes.
    Inspect(cmd_inspect::Args),
    /// Run the core on a batch in transformers' JSON layout; write transformers' outputs.
    Forward(cmd_forward::Args),
    /// Tokenize text, one JSON array of ids per line (`--offsets`: spans and word ids too).
    Tokenize(cmd_tokenize::Args),
    /// Train a WordPiece vocabulary (likelihood-scored merges) and write vocab.txt.
    Vocab(cmd_vocab::Args),
    /// Median milliseconds per forward pass at given lengths (compare devices and dtypes).
    Bench(cmd_bench::Args),
    /// Fine-tune a BERT directory on a sentence (classify) or word (tag) task.
    Finetune(cmd_finetune::Args),
    /// A fine-tuned checkpoint to a task blob (f32, f16 or int8 weights).
    Export(cmd_export::Args),
    /// Run a task blob through the core on labelled data; print the metrics.
    Eval(cmd_eval::Args),
    /// Run a task blob through the core on one text (pair); print label(s) or word tags.
    Predict(cmd_predict::Args),
    /// Raw text -> pretraining corpus (one sentence per line, blank line between documents).
    Prepare(cmd_prepare::Args),
    /// MLM + NSP pretraining from scratch; checkpoints are Hugging Face directories.
    Pretrain(cmd_pretrain::Args),
    /// Loss and accuracy curves of a pretraining run to PNG.
    Plot(cmd_plot::Args),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Quickstart(a) => cmd_quickstart::run(a),
        Command::Import(a) => cmd_import::run(a),
        Command::Inspect(a) => cmd_inspect::run(a),
        Command::Forward(a) => cmd_forward::run(a),
        Command::Tokenize(a) => cmd_tokenize::run(a),
        Command::Vocab(a) => cmd_vocab::run(a),
        Command::Bench(a) => cmd_bench::run(a),
        Command::Finetune(a) => cmd_finetune::run(a),
        Command::Export(a) => cmd_export::run(a),
        Command::Eval(a) => cmd_eval::run(a),
        Command::Predict(a) => cmd_predict::run(a),
        Command::Prepare(a) => cmd_prepare::run(a),
        Command::Pretrain(a) => cmd_pretrain::run(a),
        Command::Plot(a) => cmd_plot::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
