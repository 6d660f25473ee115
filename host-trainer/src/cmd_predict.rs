//! `picobert predict --model m.pbrt --text ... [--pair ...]`: one input through the core; the
//! label and probabilities (sentence heads) or one tag per whitespace-separated word (token
//! heads).

use crate::blob::load_blob;
use crate::finetune::deployed::{tag_words, task_head, Runner};
use crate::finetune::features::encode_sentence;
use picobert::{HeadKind, Model};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Task blob (`picobert export`).
    #[arg(long)]
    pub model: PathBuf,
    #[arg(long)]
    pub text: String,
    /// Second sentence of a pair task.
    #[arg(long)]
    pub pair: Option<String>,
    #[arg(long, default_value_t = 128)]
    pub max_seq_len: usize,
}

fn softmax(l: &[f32]) -> Vec<f32> {
    let m = l.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let e: Vec<f32> = l.iter().map(|&x| (x - m).exp()).collect();
    let s: f32 = e.iter().sum();
    e.iter().map(|x| x / s).collect()
}

pub fn run(a: Args) -> Result<(), String> {
    let bytes = load_blob(&a.model)?;
    let model = Model::load(&bytes).map_err(|e| format!("{}: {e}", a.model.display()))?;
    let (kind, _, labels) = task_head(&model)?;
    if kind == HeadKind::TokenClassification {
        if a.pair.is_some() {
            return Err("--pair is for sentence-pair heads; this blob tags words".into());
        }
        let words: Vec<String> = a.text.split_whitespace().map(String::from).collect();
        if words.is_empty() {
            return Err("--text has no words".into());
        }
        let tags = tag_words(&model, &words, a.max_seq_len)?;
        for (w, t) in words.iter().zip(tags) {
            println!("{w}\t{t}");
        }
        return Ok(());
    }
    let tok = model.tokenizer().map_err(|e| format!("tokenizer: {e}"))?;
    let max_len = a.max_seq_len.min(model.config().max_position_embeddings);
    let f = encode_sentence(&tok, &a.text, a.pair.as_deref(), max_len)?;
    let logits = Runner::default().logits(&model, &f.ids, &f.types)?;
    match kind {
        HeadKind::SequenceClassification => {
            let p = softmax(&logits);
            let best = (0..p.len()).fold(0, |b, i| if p[i] > p[b] { i } else { b });
            println!("{}", labels[best]);
            for (l, p) in labels.iter().zip(&p) {
                println!("  {l}\t{p:.4}");
            }
        }
        HeadKind::MultiLabelClassification => {
            let on: Vec<&str> = labels
                .iter()
                .zip(&logits)
                .filter(|(_, &z)| z > 0.0)
                .map(|(l, _)| l.as_str())
                .collect();
            println!("{}", on.join("|"));
            for (l, z) in labels.iter().zip(&logits) {
                println!("  {l}\t{:.4}", 1.0 / (1.0 + (-z).exp()));
            }
        }
        _ => println!(
            "{}",
            logits
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join("\t")
        ),
    }
    Ok(())
}
