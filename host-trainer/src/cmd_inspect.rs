//! `picobert inspect model.pbrt`: what a blob holds.

use crate::blob::load_blob;
use picobert::{DType, Model, Role};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Blob to describe.
    pub model: PathBuf,
}

/// transformers' name of a tensor entry, or a placeholder for roles this build does not know.
pub fn tensor_name(role: u16, layer: u16) -> String {
    match Role::from_code(role) {
        Some(r) => r.hf_name().replace("{}", &layer.to_string()),
        None => format!("<unknown role {role}, layer {layer}>"),
    }
}

pub fn run(args: Args) -> Result<(), String> {
    let bytes = load_blob(&args.model)?;
    let model = Model::load(&bytes).map_err(|e| e.to_string())?;
    let c = model.config();
    let t = model.tokenizer_config();
    let mut o = String::new();
    let crc = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    _ = writeln!(o, "file       {}", args.model.display());
    _ = writeln!(
        o,
        "format     version {}, {} bytes, crc32 {crc:#010x}",
        picobert::FORMAT_VERSION,
        bytes.len()
    );
    _ = writeln!(o,
        "config     vocab_size={} hidden_size={} num_layers={} num_heads={} intermediate_size={} max_position_embeddings={} type_vocab_size={} layer_norm_eps={:e} hidden_act={:?}",
        c.vocab_size, c.hidden_size, c.num_layers, c.num_heads, c.intermediate_size,
        c.max_position_embeddings, c.type_vocab_size, c.layer_norm_eps, c.hidden_act
    );
    _ = writeln!(o,
        "tokenizer  mode={:?} lowercase={} strip_accents={} chinese_chars={} max_chars_per_word={} [CLS]={} [SEP]={} [PAD]={} [UNK]={} [MASK]={}",
        t.mode, t.do_lower_case, t.strip_accents, t.tokenize_chinese_chars,
        t.max_input_chars_per_word, t.cls_id, t.sep_id, t.pad_id, t.unk_id, t.mask_id
    );
    _ = writeln!(
        o,
        "pooler     {}",
        if model.has_pooler() { "yes" } else { "no" }
    );
    for h in model.heads() {
        let labels: Vec<&str> = h.labels.iter().collect();
        _ = writeln!(
            o,
            "head       {:?}: {} outputs{}",
            h.kind,
            h.num_labels,
            if labels.is_empty() {
                String::new()
            } else {
                format!(", labels {labels:?}")
            }
        );
    }
    _ = writeln!(o, "tensors    {}", model.tensors().len());
    let mut total = 0usize;
    for e in model.tensors() {
        let dtype = DType::from_code(e.dtype).map_or("?", |d| d.name());
        let shape: Vec<u32> = e.shape[..e.rank as usize].to_vec();
        let bytes = e.len as usize + e.scale_len as usize;
        total += bytes;
        _ = writeln!(
            o,
            "  {:<55} {:>4} {:>14} {:>12}",
            tensor_name(e.role, e.layer),
            dtype,
            format!("{shape:?}"),
            bytes
        );
    }
    _ = writeln!(o, "weights    {total} bytes");
    for len in [16usize, 64, 128, 256, 512] {
        if len <= c.max_position_embeddings {
            _ = writeln!(
                o,
                "scratch    seq_len {len:>4}: {:>10} bytes",
                model.scratch_len(len) * core::mem::size_of::<f32>()
            );
        }
    }
    // A closed pipe (`picobert inspect m.pbrt | head`) is not an error worth a panic.
    match std::io::stdout().write_all(o.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.to_string()),
        _ => Ok(()),
    }
}
