//! `picobert vocab`: train a WordPiece vocabulary (see `vocab_trainer`) and write `vocab.txt`.

use crate::fsutil::write_atomic;
use crate::vocab_trainer::{train, Score, TrainerOptions, WordCounts};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Training text files (UTF-8).
    #[arg(long, num_args = 1.., required = true)]
    pub corpus: Vec<PathBuf>,
    /// Vocabulary size, special tokens and alphabet included.
    #[arg(long)]
    pub size: usize,
    /// Output `vocab.txt`.
    #[arg(long)]
    pub out: PathBuf,
    /// Keep case and accents (a cased vocabulary).
    #[arg(long)]
    pub no_lowercase: bool,
    /// Strip accents even without lowercasing.
    #[arg(long, conflicts_with = "keep_accents")]
    pub strip_accents: bool,
    /// Keep accents even when lowercasing.
    #[arg(long)]
    pub keep_accents: bool,
    /// Smallest number of occurrences of a merged pair.
    #[arg(long, default_value_t = 2)]
    pub min_frequency: u64,
    /// Most distinct characters kept in the alphabet.
    #[arg(long, default_value_t = 1000)]
    pub limit_alphabet: usize,
    /// Merge ranking: exact likelihood increase, or the count(ab)/(count(a)count(b)) shortcut.
    #[arg(long, value_enum, default_value_t = Score::Likelihood)]
    pub score: Score,
    /// Rounds of dropping pieces the greedy tokenizer barely uses and merging again (0: off).
    #[arg(long, default_value_t = 8)]
    pub refine_rounds: usize,
}

pub fn run(args: Args) -> Result<(), String> {
    let lowercase = !args.no_lowercase;
    let options = TrainerOptions {
        score: args.score,
        vocab_size: args.size,
        min_frequency: args.min_frequency,
        limit_alphabet: args.limit_alphabet,
        refine_rounds: args.refine_rounds,
        lowercase,
        strip_accents: (lowercase || args.strip_accents) && !args.keep_accents,
        ..TrainerOptions::default()
    };
    let mut counts = WordCounts::new(&options);
    for path in &args.corpus {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {} as UTF-8 text: {e}", path.display()))?;
        counts.add_text(&text)?;
    }
    eprintln!("{} distinct words", counts.len());
    let bar = ProgressBar::new(args.size as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} pieces, {elapsed} (eta {eta})")
            .map_err(|e| e.to_string())?,
    );
    let vocab = train(&counts, &options, |n, _| bar.set_position(n as u64))?;
    bar.finish_and_clear();
    if vocab.len() < args.size {
        eprintln!(
            "note: the corpus supports only {} pieces (no pair occurs {} times)",
            vocab.len(),
            args.min_frequency
        );
    }
    let text: String = vocab.iter().map(|t| format!("{t}\n")).collect();
    write_atomic(&args.out, text.as_bytes())?;
    eprintln!("wrote {} tokens to {}", vocab.len(), args.out.display());
    Ok(())
}
