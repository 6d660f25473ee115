//! `picobert export --checkpoint DIR --out m.pbrt [--dtype f32|f16|int8] [--trim-vocab FILE...]`:
//! a fine-tuned (or any) transformers BERT directory to a blob, task head and label names
//! included, optionally with its vocabulary cut to what a task's texts use.

use crate::blob::quantize::{convert, WeightDtype};
use crate::blob::trim::trim_vocab;
use crate::cmd_import::write_blob;
use crate::finetune::data::{read_examples, Problem};
use crate::import::import_hf_dir;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Checkpoint directory (`picobert finetune --out`, or any Hugging Face BERT directory).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Blob to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Precision of the weight matrices.
    #[arg(long, value_enum, default_value_t)]
    pub dtype: WeightDtype,
    /// Keep only the vocabulary tokens these files' texts tokenize to, plus the special tokens
    /// (for a device that only sees one task's text). Task files (`.tsv`, `.csv`, `.jsonl`, read
    /// as `finetune --task classify` reads them) give their `text` and `text_b` fields; any
    /// other file gives each non-empty line. On those texts the trimmed blob predicts exactly
    /// what the untrimmed one does; elsewhere, words it cannot spell become `[UNK]`.
    #[arg(long, num_args = 1.., value_name = "FILE")]
    pub trim_vocab: Vec<PathBuf>,
}

/// The texts of the files given to `--trim-vocab`.
pub fn corpus_texts(files: &[PathBuf]) -> Result<Vec<String>, String> {
    let mut texts = Vec::new();
    for path in files {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ["tsv", "csv", "jsonl", "json"].contains(&ext.to_ascii_lowercase().as_str()) {
            for e in read_examples(path, Problem::Single)? {
                texts.push(e.text);
                texts.extend(e.text_b);
            }
        } else {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            texts.extend(
                text.lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(String::from),
            );
        }
    }
    Ok(texts)
}

/// Writes the blob and returns its size in bytes.
pub fn export(checkpoint: &Path, out: &Path, dtype: WeightDtype) -> Result<usize, String> {
    export_trimmed(checkpoint, out, dtype, &[]).map(|(n, _)| n)
}

/// [`export`] with the vocabulary trimmed to the texts of `trim`'s files (untrimmed if empty);
/// returns the size in bytes and the vocabulary size.
pub fn export_trimmed(
    checkpoint: &Path,
    out: &Path,
    dtype: WeightDtype,
    trim: &[PathBuf],
) -> Result<(usize, usize), String> {
    let mut model = import_hf_dir(checkpoint, None)?;
    if !trim.is_empty() {
        let texts = corpus_texts(trim)?;
        model = trim_vocab(&model, texts.iter().map(String::as_str))?;
    }
    convert(&mut model, dtype);
    Ok((write_blob(&model, out)?, model.vocab.len()))
}

pub fn run(a: Args) -> Result<(), String> {
    let (n, vocab) = export_trimmed(&a.checkpoint, &a.out, a.dtype, &a.trim_vocab)?;
    eprintln!(
        "wrote {} ({:.2} MB, {:?} weights, vocabulary {vocab} tokens)",
        a.out.display(),
        n as f64 / 1e6,
        a.dtype
    );
    Ok(())
}
