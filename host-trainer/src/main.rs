//! `picobert`: the host tool. Each subcommand lives in its own module.

use clap::{Parser, Subcommand};

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
enum Command {}

fn main() {
    let cli = Cli::parse();
    let result: Result<(), String> = match cli.command {};
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
