//! Evaluation metrics: accuracy, per-class and macro precision/recall/F1 with a confusion matrix,
//! and entity-level precision/recall/F1 under strict IOB2 rules (seqeval's `mode="strict"`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Precision, recall and F1 of one class (or of entities), with its support (gold count).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Prf {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

impl Prf {
    /// From counts of true positives, predictions and gold items; 0/0 counts as 0 (as
    /// scikit-learn's and seqeval's `zero_division=0`).
    pub fn from_counts(tp: usize, predicted: usize, gold: usize) -> Self {
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let precision = ratio(tp, predicted);
        let recall = ratio(tp, gold);
        let f1 = if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        };
        Prf {
            precision,
            recall,
            f1,
            support: gold,
        }
    }
}

/// Classification report over `n` classes: `confusion[gold][predicted]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassReport {
    pub labels: Vec<String>,
    pub confusion: Vec<Vec<usize>>,
}

impl ClassReport {
    /// Builds the confusion matrix; every id must be below `labels.len()`.
    pub fn new(labels: &[String], gold: &[usize], predicted: &[usize]) -> Result<Self, String> {
        let n = labels.len();
        if gold.len() != predicted.len() {
            return Err(format!(
                "{} gold labels but {} predictions",
                gold.len(),
                predicted.len()
            ));
        }
        let mut confusion = vec![vec![0; n]; n];
        for (&g, &p) in gold.iter().zip(predicted) {
            if g >= n || p >= n {
                return Err(format!("label id {} out of range ({n} labels)", g.max(p)));
            }
            confusion[g][p] += 1;
        }
        Ok(ClassReport {
            labels: labels.to_vec(),
            confusion,
        })
    }

    pub fn total(&self) -> usize {
        self.confusion.iter().flatten().sum()
    }

    pub fn accuracy(&self) -> f64 {
        let correct: usize = (0..self.labels.len()).map(|i| self.confusion[i][i]).sum();
        correct as f64 / self.total().max(1) as f64
    }

    pub fn per_class(&self) -> Vec<Prf> {
        let n = self.labels.len();
        (0..n)
            .map(|c| {
                let predicted = (0..n).map(|g| self.confusion[g][c]).sum();
                let gold = self.confusion[c].iter().sum();
                Prf::from_counts(self.confusion[c][c], predicted, gold)
            })
            .collect()
    }

    /// Unweighted mean F1 over the classes that occur in gold or predictions (scikit-learn's
    /// `f1_score(average="macro")` over the labels present).
    pub fn macro_f1(&self) -> f64 {
        let n = self.labels.len();
        let present: Vec<f64> = self
            .per_class()
            .iter()
            .enumerate()
            .filter(|(c, p)| p.support > 0 || (0..n).any(|g| self.confusion[g][*c] > 0))
            .map(|(_, p)| p.f1)
            .collect();
        present.iter().sum::<f64>() / present.len().max(1) as f64
    }

    /// Human-readable report: accuracy, macro-F1, per-class table, confusion matrix.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let w = self
            .labels
            .iter()
            .map(|l| l.len())
            .max()
            .unwrap_or(5)
            .max(5);
        let _ = writeln!(
            s,
            "accuracy {:.4}  macro-F1 {:.4}  ({} items)",
            self.accuracy(),
            self.macro_f1(),
            self.total()
        );
        let _ = writeln!(s, "{:<w$}  precision  recall     f1  support", "label");
        for (l, p) in self.labels.iter().zip(self.per_class()) {
            let _ = writeln!(
                s,
                "{l:<w$}  {:>9.4}  {:>6.4} {:>6.4}  {:>7}",
                p.precision, p.recall, p.f1, p.support
            );
        }
        let _ = writeln!(s, "confusion (rows gold, columns predicted):");
        let cw = self
            .confusion
            .iter()
            .flatten()
            .map(|c| c.to_string().len())
            .max()
            .unwrap_or(1)
            .max(w.min(8));
        let _ = write!(s, "{:<w$}", "");
        for l in &self.labels {
            let short: String = l.chars().take(cw).collect();
            let _ = write!(s, " {short:>cw$}");
        }
        s.push('\n');
        for (l, row) in self.labels.iter().zip(&self.confusion) {
            let _ = write!(s, "{l:<w$}");
            for c in row {
                let _ = write!(s, " {c:>cw$}");
            }
            s.push('\n');
        }
        s
    }
}

/// One entity: type and token span `[start, end)` within its sentence.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entity {
    pub kind: String,
    pub start: usize,
    pub end: usize,
}

/// Entities of one IOB2 sequence under strict rules: an entity is `B-X` followed by any number
/// of `I-X`; an `I-X` that does not continue a `B-X`/`I-X` of the same type starts nothing (it
/// is an error of the tagger, and in strict mode it earns no credit). Tags other than `B-`/`I-`
/// prefixed ones are outside.
pub fn iob2_entities(tags: &[&str]) -> Vec<Entity> {
    let mut out = Vec::new();
    let mut open: Option<(String, usize)> = None;
    let close = |open: &mut Option<(String, usize)>, end: usize, out: &mut Vec<Entity>| {
        if let Some((kind, start)) = open.take() {
            out.push(Entity { kind, start, end });
        }
    };
    for (i, tag) in tags.iter().enumerate() {
        if let Some(kind) = tag.strip_prefix("B-") {
            close(&mut open, i, &mut out);
            open = Some((kind.to_string(), i));
        } else if let Some(kind) = tag.strip_prefix("I-") {
            if open.as_ref().is_none_or(|(k, _)| k != kind) {
                close(&mut open, i, &mut out);
            }
        } else {
            close(&mut open, i, &mut out);
        }
    }
    close(&mut open, tags.len(), &mut out);
    out
}

/// Entity-level scores over sentences: overall micro P/R/F1 and one per entity type.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityReport {
    pub overall: Prf,
    pub per_type: BTreeMap<String, Prf>,
}

impl EntityReport {
    /// `gold[i]` and `predicted[i]` are the tags of sentence `i`, of equal length.
    pub fn new<S: AsRef<str>>(gold: &[Vec<S>], predicted: &[Vec<S>]) -> Result<Self, String> {
        if gold.len() != predicted.len() {
            return Err("gold and predicted sentence counts differ".into());
        }
        // Counts per type: (true positives, predicted, gold).
        let mut counts: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
        for (i, (g, p)) in gold.iter().zip(predicted).enumerate() {
            if g.len() != p.len() {
                return Err(format!(
                    "sentence {i}: {} gold tags but {} predicted",
                    g.len(),
                    p.len()
                ));
            }
            let gs: Vec<&str> = g.iter().map(|t| t.as_ref()).collect();
            let ps: Vec<&str> = p.iter().map(|t| t.as_ref()).collect();
            let ge = iob2_entities(&gs);
            let pe = iob2_entities(&ps);
            for e in &ge {
                counts.entry(e.kind.clone()).or_default().2 += 1;
            }
            for e in &pe {
                let c = counts.entry(e.kind.clone()).or_default();
                c.1 += 1;
                if ge.contains(e) {
                    c.0 += 1;
                }
            }
        }
        let (tp, pr, go) = counts
            .values()
            .fold((0, 0, 0), |a, c| (a.0 + c.0, a.1 + c.1, a.2 + c.2));
        Ok(EntityReport {
            overall: Prf::from_counts(tp, pr, go),
            per_type: counts
                .into_iter()
                .map(|(k, (tp, pr, go))| (k, Prf::from_counts(tp, pr, go)))
                .collect(),
        })
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        let o = &self.overall;
        let _ = writeln!(
            s,
            "entity (strict IOB2) precision {:.4}  recall {:.4}  F1 {:.4}  ({} gold entities)",
            o.precision, o.recall, o.f1, o.support
        );
        let w = self
            .per_type
            .keys()
            .map(|k| k.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let _ = writeln!(s, "{:<w$}  precision  recall     f1  support", "type");
        for (k, p) in &self.per_type {
            let _ = writeln!(
                s,
                "{k:<w$}  {:>9.4}  {:>6.4} {:>6.4}  {:>7}",
                p.precision, p.recall, p.f1, p.support
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn classification_by_hand() {
        // gold: a a a b b c ; pred: a a b b c c
        let r = ClassReport::new(
            &labels(&["a", "b", "c"]),
            &[0, 0, 0, 1, 1, 2],
            &[0, 0, 1, 1, 2, 2],
        )
        .unwrap();
        assert_eq!(
            r.confusion,
            vec![vec![2, 1, 0], vec![0, 1, 1], vec![0, 0, 1]]
        );
        assert!((r.accuracy() - 4.0 / 6.0).abs() < 1e-12);
        let p = r.per_class();
        // a: P 2/2 R 2/3 F 0.8; b: P 1/2 R 1/2 F 0.5; c: P 1/2 R 1/1 F 2/3.
        assert!((p[0].f1 - 0.8).abs() < 1e-12 && (p[0].recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((p[1].f1 - 0.5).abs() < 1e-12);
        assert!((p[2].precision - 0.5).abs() < 1e-12 && (p[2].f1 - 2.0 / 3.0).abs() < 1e-12);
        assert!((r.macro_f1() - (0.8 + 0.5 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
        assert_eq!(p[1].support, 2);
    }

    #[test]
    fn absent_classes_do_not_dilute_macro_f1_and_bad_ids_are_errors() {
        let r = ClassReport::new(&labels(&["x", "y", "z"]), &[0, 1], &[0, 1]).unwrap();
        assert_eq!(r.macro_f1(), 1.0);
        assert!(ClassReport::new(&labels(&["x"]), &[0], &[1]).is_err());
        assert!(ClassReport::new(&labels(&["x"]), &[0, 0], &[0]).is_err());
    }

    #[test]
    fn strict_iob2_entities() {
        let e = iob2_entities(&[
            "B-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-ORG", "B-X", "B-X",
        ]);
        let spans: Vec<(&str, usize, usize)> = e
            .iter()
            .map(|e| (e.kind.as_str(), e.start, e.end))
            .collect();
        // The stray I-LOC and the I-ORG after B-LOC start nothing (and I-ORG ends the LOC).
        assert_eq!(
            spans,
            vec![("PER", 0, 2), ("LOC", 4, 5), ("X", 6, 7), ("X", 7, 8)]
        );
    }

    #[test]
    fn seqeval_readme_example() {
        // seqeval's README example: f1_score == 0.5 (also in strict IOB2 mode).
        let gold = vec![
            vec!["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"],
            vec!["B-PER", "I-PER", "O"],
        ];
        let pred = vec![
            vec!["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"],
            vec!["B-PER", "I-PER", "O"],
        ];
        let r = EntityReport::new(&gold, &pred).unwrap();
        assert_eq!(r.overall, Prf::from_counts(1, 2, 2));
        assert!((r.overall.f1 - 0.5).abs() < 1e-12);
        assert_eq!(r.per_type["PER"].f1, 1.0);
        assert_eq!(r.per_type["MISC"].f1, 0.0);
    }

    #[test]
    fn strict_mode_gives_no_credit_to_an_entity_opened_with_i() {
        // seqeval default mode would count I-PER I-PER as a PER entity; strict mode does not.
        let gold = vec![vec!["B-PER", "I-PER", "O"]];
        let pred = vec![vec!["I-PER", "I-PER", "O"]];
        let r = EntityReport::new(&gold, &pred).unwrap();
        assert_eq!((r.overall.precision, r.overall.recall), (0.0, 0.0));
        assert_eq!(r.overall.support, 1);
    }
}
