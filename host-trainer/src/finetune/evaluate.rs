//! Logits -> predictions -> metrics, shared by the dev evaluation of `picobert finetune` (host
//! model) and `picobert eval` (the core running a blob), so both report the same numbers.

use super::data::{Example, Tagged, Target};
use super::features::TagWindow;
use crate::metrics::{ClassReport, EntityReport, Prf};
use picobert::HeadKind;

/// Metrics of one evaluation.
#[derive(Debug, Clone)]
pub enum Report {
    Classes(ClassReport),
    /// Multi-label: micro P/R/F1 over (example, label) decisions, and exact-set accuracy.
    Multi {
        micro: Prf,
        exact: f64,
    },
    Regression {
        mse: f64,
        n: usize,
    },
    /// Tagging: word-level tag accuracy (first piece of every word), and entity scores when
    /// the tags are IOB2.
    Tags {
        words: ClassReport,
        entities: Option<EntityReport>,
    },
}

impl Report {
    /// The number model selection maximises: accuracy, micro-F1, -MSE, entity F1 (IOB2 tags)
    /// or word accuracy.
    pub fn score(&self) -> f64 {
        match self {
            Report::Classes(r) => r.accuracy(),
            Report::Multi { micro, .. } => micro.f1,
            Report::Regression { mse, .. } => -mse,
            Report::Tags {
                entities: Some(e), ..
            } => e.overall.f1,
            Report::Tags { words, .. } => words.accuracy(),
        }
    }

    /// One line.
    pub fn summary(&self) -> String {
        match self {
            Report::Classes(r) => {
                format!("accuracy {:.4}, macro-F1 {:.4}", r.accuracy(), r.macro_f1())
            }
            Report::Multi { micro, exact } => format!(
                "micro-F1 {:.4} (P {:.4} R {:.4}), exact match {exact:.4}",
                micro.f1, micro.precision, micro.recall
            ),
            Report::Regression { mse, n } => format!("MSE {mse:.4} over {n}"),
            Report::Tags { words, entities } => {
                let mut s = format!("word accuracy {:.4}", words.accuracy());
                if let Some(e) = entities {
                    s += &format!(", entity F1 {:.4}", e.overall.f1);
                }
                s
            }
        }
    }

    /// Everything: summary, per-class table, confusion matrix, entity table.
    pub fn render(&self) -> String {
        match self {
            Report::Classes(r) => r.render(),
            Report::Tags { words, entities } => {
                let mut s = String::from("word-level tags (first piece of each word):\n");
                s += &words.render();
                if let Some(e) = entities {
                    s += &e.render();
                }
                s
            }
            other => other.summary() + "\n",
        }
    }
}

fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

/// Model labels, then any gold label the model does not know (it can never be predicted).
fn extended(labels: &[String], gold: impl Iterator<Item = String>) -> Vec<String> {
    let mut all = labels.to_vec();
    for g in gold {
        if !all.contains(&g) {
            all.push(g);
        }
    }
    all
}

/// Scores sentence-level logits (one row per example) against the examples' targets.
pub fn sentence_report(
    kind: HeadKind,
    labels: &[String],
    examples: &[Example],
    logits: &[Vec<f32>],
) -> Result<Report, String> {
    match kind {
        HeadKind::SequenceClassification => {
            let gold: Vec<String> = examples
                .iter()
                .map(|e| match &e.target {
                    Target::Class(c) => Ok(c.clone()),
                    _ => Err("a single-label model needs one label per example".to_string()),
                })
                .collect::<Result<_, _>>()?;
            let all = extended(labels, gold.iter().cloned());
            let gold_ids: Vec<usize> = gold
                .iter()
                .map(|g| all.iter().position(|l| l == g).unwrap_or(0))
                .collect();
            let pred: Vec<usize> = logits.iter().map(|r| argmax(r)).collect();
            Ok(Report::Classes(ClassReport::new(&all, &gold_ids, &pred)?))
        }
        HeadKind::MultiLabelClassification => {
            let (mut tp, mut predicted, mut gold_n, mut exact) = (0, 0, 0, 0);
            for (e, row) in examples.iter().zip(logits) {
                let Target::Classes(gold) = &e.target else {
                    return Err("a multi-label model needs label sets".into());
                };
                let mut all_right = true;
                for (i, l) in labels.iter().enumerate() {
                    let p = row[i] > 0.0;
                    let g = gold.contains(l);
                    tp += (p && g) as usize;
                    predicted += p as usize;
                    gold_n += g as usize;
                    all_right &= p == g;
                }
                gold_n += gold.iter().filter(|g| !labels.contains(g)).count();
                exact += all_right as usize;
            }
            Ok(Report::Multi {
                micro: Prf::from_counts(tp, predicted, gold_n),
                exact: exact as f64 / examples.len().max(1) as f64,
            })
        }
        HeadKind::Regression => {
            let mut se = 0.0;
            for (e, row) in examples.iter().zip(logits) {
                let Target::Value(v) = e.target else {
                    return Err("a regression model needs numeric labels".into());
                };
                se += (row[0] as f64 - v as f64).powi(2);
            }
            Ok(Report::Regression {
                mse: se / examples.len().max(1) as f64,
                n: examples.len(),
            })
        }
        other => Err(format!("{other:?} is not a sentence-level head")),
    }
}

/// Word-level tag ids from window logits (`[tokens * labels]` per window): each word takes the
/// prediction of its first piece in the window that gives that piece the most context.
pub fn word_predictions(
    windows: &[TagWindow],
    logits: &[Vec<f32>],
    word_counts: &[usize],
    num_labels: usize,
) -> Result<Vec<Vec<usize>>, String> {
    let mut out: Vec<Vec<Option<usize>>> = word_counts.iter().map(|&n| vec![None; n]).collect();
    for (w, l) in windows.iter().zip(logits) {
        for (tok, first) in w.first_of.iter().enumerate() {
            if let (Some(word), true) = (first, w.keep[tok]) {
                let slot = out
                    .get_mut(w.sentence)
                    .and_then(|s| s.get_mut(*word))
                    .ok_or("internal error: window word out of range")?;
                *slot = Some(argmax(&l[tok * num_labels..][..num_labels]));
            }
        }
    }
    out.into_iter()
        .enumerate()
        .map(|(i, s)| {
            s.into_iter()
                .collect::<Option<Vec<usize>>>()
                .ok_or_else(|| {
                    format!("internal error: sentence {i} has a word without prediction")
                })
        })
        .collect()
}

/// Word-level tag accuracy, and strict IOB2 entity scores when the label set is IOB2.
pub fn tag_report(
    labels: &[String],
    gold: &[Tagged],
    pred: &[Vec<usize>],
) -> Result<Report, String> {
    let all = extended(labels, gold.iter().flat_map(|s| s.tags.iter().cloned()));
    let mut g_ids = Vec::new();
    let mut p_ids = Vec::new();
    let mut pred_tags = Vec::new();
    for (s, p) in gold.iter().zip(pred) {
        for (t, &pi) in s.tags.iter().zip(p) {
            g_ids.push(all.iter().position(|l| l == t).unwrap_or(0));
            p_ids.push(pi);
        }
        pred_tags.push(p.iter().map(|&i| all[i].clone()).collect::<Vec<_>>());
    }
    let iob = labels.iter().any(|l| l.starts_with("B-"))
        && labels
            .iter()
            .all(|l| l == "O" || l.starts_with("B-") || l.starts_with("I-"));
    let entities = if iob {
        let gold_tags: Vec<Vec<String>> = gold.iter().map(|s| s.tags.clone()).collect();
        Some(EntityReport::new(&gold_tags, &pred_tags)?)
    } else {
        None
    };
    Ok(Report::Tags {
        words: ClassReport::new(&all, &g_ids, &p_ids)?,
        entities,
    })
}
