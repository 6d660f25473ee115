//! `picobert prepare`: raw UTF-8 text -> Google BERT's pretraining format (one sentence per
//! line, a blank line between documents), reporting what it skipped.

use crate::train::corpus::prepare;
use clap::Args as ClapArgs;
use std::path::{Path, PathBuf};

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Input files, or directories (every regular file inside, recursively, in name order).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Output corpus file.
    #[arg(long)]
    pub out: PathBuf,
    /// Blank lines separate documents inside a file (default: each file is one document).
    #[arg(long)]
    pub blank_line_documents: bool,
}

fn collect(p: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    if p.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
            .map_err(|e| format!("cannot list {}: {e}", p.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            collect(&e, out)?;
        }
    } else {
        out.push(p.to_path_buf());
    }
    Ok(())
}

pub fn run(a: Args) -> Result<(), String> {
    let mut files = Vec::new();
    for p in &a.inputs {
        collect(p, &mut files)?;
    }
    let inputs = files
        .iter()
        .map(|f| {
            std::fs::read(f)
                .map(|b| (f.display().to_string(), b))
                .map_err(|e| format!("cannot read {}: {e}", f.display()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (text, stats) = prepare(&inputs, a.blank_line_documents);
    if stats.documents < 2 {
        return Err(format!(
            "{stats}: next-sentence prediction needs at least 2 documents"
        ));
    }
    crate::fsutil::write_atomic(&a.out, text.as_bytes())?;
    eprintln!("{stats}\nwrote {}", a.out.display());
    Ok(())
}
