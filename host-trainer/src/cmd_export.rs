//! `picobert export --checkpoint DIR --out m.pbrt [--dtype f32|f16|int8]`: a fine-tuned (or
//! any) transformers BERT directory to a blob, task head and label names included.

use crate::blob::quantize::{convert, WeightDtype};
use crate::cmd_import::write_blob;
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
}

/// Writes the blob and returns its size in bytes.
pub fn export(checkpoint: &Path, out: &Path, dtype: WeightDtype) -> Result<usize, String> {
    let mut model = import_hf_dir(checkpoint, None)?;
    convert(&mut model, dtype);
    write_blob(&model, out)
}

pub fn run(a: Args) -> Result<(), String> {
    let n = export(&a.checkpoint, &a.out, a.dtype)?;
    eprintln!(
        "wrote {} ({:.2} MB, {:?} weights)",
        a.out.display(),
        n as f64 / 1e6,
        a.dtype
    );
    Ok(())
}
