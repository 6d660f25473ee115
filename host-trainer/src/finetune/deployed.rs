//! Running a task blob through the core, exactly as a device would: the core tokenizer, one
//! `Model::forward` per sequence with caller-owned scratch, then the blob's head.

use super::data::{read_conll, read_examples, Example, Problem, Tagged};
use super::evaluate::{sentence_report, tag_report, word_predictions, Report};
use super::features::{
    default_stride, encode_examples, encode_tagged, encode_words, SeqFeature, TagWindow,
};
use picobert::{HeadKind, Input, Model};
use std::path::Path;
use std::time::Instant;

/// The task head of a blob (the first sentence or token head), its label names.
pub fn task_head(model: &Model) -> Result<(HeadKind, usize, Vec<String>), String> {
    let head = model
        .heads()
        .find(|h| {
            matches!(
                h.kind,
                HeadKind::SequenceClassification
                    | HeadKind::MultiLabelClassification
                    | HeadKind::Regression
                    | HeadKind::TokenClassification
            )
        })
        .ok_or("the blob has no task head (export a fine-tuned checkpoint)")?;
    let labels = (0..head.num_labels)
        .map(|i| {
            head.labels
                .get(i)
                .map(String::from)
                .unwrap_or_else(|| format!("LABEL_{i}"))
        })
        .collect();
    Ok((head.kind, head.num_labels, labels))
}

/// Reusable scratch plus timing of the forward passes.
#[derive(Default)]
pub struct Runner {
    scratch: Vec<f32>,
    pub forward_seconds: f64,
    pub sequences: usize,
    pub tokens: usize,
}

impl Runner {
    /// Head logits of one sequence: `[labels]`, or `[tokens * labels]` for a token head.
    pub fn logits(
        &mut self,
        model: &Model,
        ids: &[u32],
        types: &[u32],
    ) -> Result<Vec<f32>, String> {
        let (kind, nl, _) = task_head(model)?;
        self.scratch.resize(model.scratch_len(ids.len()), 0.0);
        let started = Instant::now();
        let input = Input::new(ids).with_token_types(types);
        let mut enc = model
            .forward(&input, &mut self.scratch)
            .map_err(|e| e.to_string())?;
        let out = if kind == HeadKind::TokenClassification {
            let mut l = vec![0f32; ids.len() * nl];
            enc.token_logits(&mut l).map_err(|e| e.to_string())?;
            l
        } else {
            let mut l = vec![0f32; nl];
            enc.classifier_logits(&mut l).map_err(|e| e.to_string())?;
            l
        };
        self.forward_seconds += started.elapsed().as_secs_f64();
        self.sequences += 1;
        self.tokens += ids.len();
        Ok(out)
    }

    pub fn sentence_logits(
        &mut self,
        model: &Model,
        feats: &[SeqFeature],
    ) -> Result<Vec<Vec<f32>>, String> {
        feats
            .iter()
            .map(|f| self.logits(model, &f.ids, &f.types))
            .collect()
    }

    pub fn window_logits(
        &mut self,
        model: &Model,
        windows: &[TagWindow],
    ) -> Result<Vec<Vec<f32>>, String> {
        windows
            .iter()
            .map(|w| self.logits(model, &w.ids, &w.types))
            .collect()
    }

    /// Mean forward latency per sequence, milliseconds.
    pub fn ms_per_sequence(&self) -> f64 {
        1e3 * self.forward_seconds / self.sequences.max(1) as f64
    }
}

/// An evaluation through the core.
pub struct Evaluation {
    pub report: Report,
    pub runner: Runner,
    /// Longest sequence run (for the scratch size).
    pub max_len: usize,
}

/// Evaluates a task blob on a data file: CoNLL for a token head, TSV/CSV/JSONL otherwise.
pub fn evaluate_file(model: &Model, data: &Path, max_len: usize) -> Result<Evaluation, String> {
    let (kind, nl, labels) = task_head(model)?;
    let tok = model.tokenizer().map_err(|e| format!("tokenizer: {e}"))?;
    let max_len = max_len.min(model.config().max_position_embeddings);
    let mut runner = Runner::default();
    if kind == HeadKind::TokenClassification {
        let sentences: Vec<Tagged> = read_conll(data)?;
        let windows = encode_tagged(&tok, &sentences, max_len, default_stride(max_len))?;
        let logits = runner.window_logits(model, &windows)?;
        let counts: Vec<usize> = sentences.iter().map(|s| s.words.len()).collect();
        let pred = word_predictions(&windows, &logits, &counts, nl)?;
        let longest = windows.iter().map(|w| w.ids.len()).max().unwrap_or(0);
        Ok(Evaluation {
            report: tag_report(&labels, &sentences, &pred)?,
            runner,
            max_len: longest,
        })
    } else {
        let problem = match kind {
            HeadKind::MultiLabelClassification => Problem::Multi,
            HeadKind::Regression => Problem::Regression,
            _ => Problem::Single,
        };
        let examples: Vec<Example> = read_examples(data, problem)?;
        let feats = encode_examples(&tok, &examples, max_len)?;
        let logits = runner.sentence_logits(model, &feats)?;
        let longest = feats.iter().map(|f| f.ids.len()).max().unwrap_or(0);
        Ok(Evaluation {
            report: sentence_report(kind, &labels, &examples, &logits)?,
            runner,
            max_len: longest,
        })
    }
}

/// Tags of whitespace-separated words, through the core (sliding windows as in training).
pub fn tag_words(model: &Model, words: &[String], max_len: usize) -> Result<Vec<String>, String> {
    let (_, nl, labels) = task_head(model)?;
    let tok = model.tokenizer().map_err(|e| format!("tokenizer: {e}"))?;
    let max_len = max_len.min(model.config().max_position_embeddings);
    let windows = encode_words(&tok, 0, words, max_len, default_stride(max_len))?;
    let mut runner = Runner::default();
    let logits = runner.window_logits(model, &windows)?;
    let pred = word_predictions(&windows, &logits, &[words.len()], nl)?;
    Ok(pred[0].iter().map(|&i| labels[i].clone()).collect())
}
