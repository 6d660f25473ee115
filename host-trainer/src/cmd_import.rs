//! `picobert import --hf DIR --out model.pbrt`: a Hugging Face BERT directory to a blob.

use crate::blob::BlobModel;
use crate::import::{import_hf_dir, ClassifierTask};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Hugging Face directory: config.json, model.safetensors, vocab.txt[, tokenizer_config.json].
    #[arg(long)]
    pub hf: PathBuf,
    /// Blob to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Task of a `classifier.*` head when config.json's `architectures` does not name it.
    #[arg(long, value_enum)]
    pub task: Option<TaskArg>,
    /// Precision of the weight matrices (docs/DESIGN.md, "Quantization").
    #[arg(long, value_enum, default_value_t)]
    pub dtype: crate::blob::quantize::WeightDtype,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum TaskArg {
    Sequence,
    Token,
}

/// Serialises, checks that the core accepts the result, and writes it atomically.
pub fn write_blob(model: &BlobModel, out: &std::path::Path) -> Result<usize, String> {
    let bytes = model.to_bytes()?;
    let aligned = crate::blob::AlignedBytes::from_slice(&bytes);
    picobert::Model::load(&aligned)
        .map_err(|e| format!("internal error: the written blob does not load: {e}"))?;
    crate::fsutil::write_atomic(out, &bytes)?;
    Ok(bytes.len())
}

pub fn run(args: Args) -> Result<(), String> {
    let task = args.task.map(|t| match t {
        TaskArg::Sequence => ClassifierTask::Sequence,
        TaskArg::Token => ClassifierTask::Token,
    });
    let mut model = import_hf_dir(&args.hf, task)?;
    crate::blob::quantize::convert(&mut model, args.dtype);
    let n = write_blob(&model, &args.out)?;
    let heads: Vec<String> = model
        .heads
        .iter()
        .map(|h| format!("{:?}", h.kind))
        .collect();
    eprintln!(
        "wrote {} ({:.2} MB): L={} H={} A={} V={}, heads: [{}]",
        args.out.display(),
        n as f64 / 1e6,
        model.config.num_layers,
        model.config.hidden_size,
        model.config.num_heads,
        model.config.vocab_size,
        heads.join(", ")
    );
    Ok(())
}
