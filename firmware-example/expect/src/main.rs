//! Prints the result lines the firmware must reproduce bit for bit, for the blob named on the
//! command line: the firmware's own sentences and report code (`../src/app.rs`) on the host,
//! with the core built without SIMD features (see `Cargo.toml`).
//! Usage: `firmware-expect BLOB`
use std::process::ExitCode;

#[path = "../../src/app.rs"]
mod app;

use app::{Classifier, MAX_LABELS, SENTENCES, SEQ_LEN};

fn main() -> ExitCode {
    match run() {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("firmware-expect: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<String, String> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: firmware-expect BLOB")?;
    let raw = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
    // The core wants the blob at a 4-byte aligned address.
    let mut words = vec![0u32; raw.len().div_ceil(4)];
    bytemuck::cast_slice_mut::<u32, u8>(&mut words)[..raw.len()].copy_from_slice(&raw);
    let bytes = &bytemuck::cast_slice::<u32, u8>(&words)[..raw.len()];
    let c = Classifier::new(bytes).map_err(|e| format!("{path}: {e}"))?;
    let mut scratch = vec![0f32; c.model.compact_scratch_len(SEQ_LEN)];
    let mut out = String::new();
    for (k, text) in SENTENCES.iter().enumerate() {
        let (mut ids, mut types) = ([0u32; SEQ_LEN], [0u32; SEQ_LEN]);
        let n = c
            .encode(text, &mut ids, &mut types)
            .map_err(|e| e.to_string())?;
        let mut logits = [0f32; MAX_LABELS];
        c.classify(&ids[..n], &mut scratch, &mut logits)
            .map_err(|e| e.to_string())?;
        c.write_result(&mut out, k, n, &logits[..c.num_labels])
            .map_err(|e| e.to_string())?;
    }
    Ok(out)
}
