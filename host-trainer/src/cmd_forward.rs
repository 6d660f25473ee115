//! `picobert forward --model M.pbrt --input in.json --output out.json`: runs the core on a batch
//! given as transformers takes it and writes transformers' output names and shapes. This is how
//! picobert is checked against other engines, so its format is stable.

use crate::blob::load_blob;
use picobert::{HeadKind, Input, Model};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Blob to run.
    #[arg(long)]
    pub model: PathBuf,
    /// JSON with `input_ids` and optional `token_type_ids`, `attention_mask` (lists of lists).
    #[arg(long)]
    pub input: PathBuf,
    /// JSON to write: `last_hidden_state`, `pooler_output` and one entry per head.
    #[arg(long)]
    pub output: PathBuf,
}

/// A batch in transformers' layout.
#[derive(Deserialize, Debug, Clone)]
pub struct Batch {
    pub input_ids: Vec<Vec<u32>>,
    #[serde(default)]
    pub token_type_ids: Option<Vec<Vec<u32>>>,
    #[serde(default)]
    pub attention_mask: Option<Vec<Vec<u32>>>,
}

/// Outputs of one sequence, flat row-major.
#[derive(Debug, Clone, Default)]
pub struct RowOutputs {
    pub last_hidden_state: Vec<f32>,
    pub pooler_output: Option<Vec<f32>>,
    pub prediction_logits: Option<Vec<f32>>,
    pub seq_relationship_logits: Option<Vec<f32>>,
    pub logits: Option<Vec<f32>>,
}

/// Runs every head the blob has on one sequence.
pub fn run_row(model: &Model, input: &Input, scratch: &mut Vec<f32>) -> Result<RowOutputs, String> {
    let c = model.config();
    let s = input.input_ids.len();
    scratch.resize(model.scratch_len(s), 0.0);
    let mut enc = model.forward(input, scratch).map_err(|e| e.to_string())?;
    let mut out = RowOutputs {
        last_hidden_state: enc.sequence_output().to_vec(),
        ..Default::default()
    };
    if model.has_pooler() {
        let mut p = vec![0f32; c.hidden_size];
        enc.pooled_output(&mut p).map_err(|e| e.to_string())?;
        out.pooler_output = Some(p);
    }
    for head in model.heads() {
        match head.kind {
            HeadKind::MaskedLm => {
                let mut all = vec![0f32; s * c.vocab_size];
                for (pos, row) in all.chunks_exact_mut(c.vocab_size).enumerate() {
                    enc.mlm_logits(pos, row).map_err(|e| e.to_string())?;
                }
                out.prediction_logits = Some(all);
            }
            HeadKind::NextSentence => {
                let mut l = vec![0f32; 2];
                enc.nsp_logits(&mut l).map_err(|e| e.to_string())?;
                out.seq_relationship_logits = Some(l);
            }
            HeadKind::SequenceClassification
            | HeadKind::MultiLabelClassification
            | HeadKind::Regression => {
                let mut l = vec![0f32; head.num_labels];
                enc.classifier_logits(&mut l).map_err(|e| e.to_string())?;
                out.logits = Some(l);
            }
            HeadKind::TokenClassification => {
                let mut l = vec![0f32; s * head.num_labels];
                enc.token_logits(&mut l).map_err(|e| e.to_string())?;
                out.logits = Some(l);
            }
        }
    }
    Ok(out)
}

/// Runs a whole batch; row `i` of the result belongs to row `i` of the batch.
pub fn run_batch(model: &Model, batch: &Batch) -> Result<Vec<RowOutputs>, String> {
    let rows = batch.input_ids.len();
    for (name, other) in [
        ("token_type_ids", &batch.token_type_ids),
        ("attention_mask", &batch.attention_mask),
    ] {
        if let Some(o) = other {
            if o.len() != rows
                || o.iter()
                    .zip(&batch.input_ids)
                    .any(|(a, b)| a.len() != b.len())
            {
                return Err(format!("{name} must have the shape of input_ids"));
            }
        }
    }
    let mut scratch = Vec::new();
    (0..rows)
        .map(|i| {
            let mut input = Input::new(&batch.input_ids[i]);
            if let Some(t) = &batch.token_type_ids {
                input = input.with_token_types(&t[i]);
            }
            if let Some(m) = &batch.attention_mask {
                input = input.with_attention_mask(&m[i]);
            }
            run_row(model, &input, &mut scratch).map_err(|e| format!("row {i}: {e}"))
        })
        .collect()
}

fn nest(flat: &[f32], inner: usize) -> Value {
    Value::Array(flat.chunks(inner.max(1)).map(|c| json!(c)).collect())
}

pub fn run(args: Args) -> Result<(), String> {
    let bytes = load_blob(&args.model)?;
    let model = Model::load(&bytes).map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(&args.input)
        .map_err(|e| format!("cannot read {}: {e}", args.input.display()))?;
    let batch: Batch = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}: expected {{\"input_ids\": [[...]], ...}}: {e}",
            args.input.display()
        )
    })?;
    let rows = run_batch(&model, &batch)?;
    let h = model.config().hidden_size;
    let v = model.config().vocab_size;
    let mut out = Map::new();
    // Each output is present when every row has it (a head the blob has), nested per row.
    let mut field = |name: &str, get: &dyn Fn(&RowOutputs) -> Option<&Vec<f32>>, inner: usize| {
        let per_row: Option<Vec<Value>> = rows
            .iter()
            .map(|r| get(r).map(|v| if inner == 0 { json!(v) } else { nest(v, inner) }))
            .collect();
        if let Some(v) = per_row {
            out.insert(name.into(), Value::Array(v));
        }
    };
    field("last_hidden_state", &|r| Some(&r.last_hidden_state), h);
    field("pooler_output", &|r| r.pooler_output.as_ref(), 0);
    field("prediction_logits", &|r| r.prediction_logits.as_ref(), v);
    field(
        "seq_relationship_logits",
        &|r| r.seq_relationship_logits.as_ref(),
        0,
    );
    // Sequence-classification logits are [B, N]; token-classification logits [B, S, N].
    let token_labels = model
        .head(HeadKind::TokenClassification)
        .map_or(0, |head| head.num_labels);
    field("logits", &|r| r.logits.as_ref(), token_labels);
    let text = serde_json::to_string(&Value::Object(out)).map_err(|e| e.to_string())?;
    crate::fsutil::write_atomic(&args.output, text.as_bytes())
}
