//! Task files: sentence classification as TSV/CSV (header naming `text`, optional `text_b`,
//! `label`) or JSONL (objects with the same fields), and tagging as CoNLL columns (token first,
//! tag last, blank line between sentences).

use std::path::Path;

/// The target of one sentence-level example.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// One class name.
    Class(String),
    /// Any number of class names (multi-label); in TSV/CSV separated by `|`.
    Classes(Vec<String>),
    /// One real value (regression).
    Value(f32),
}

/// One sentence or sentence pair with its target.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub text: String,
    pub text_b: Option<String>,
    pub target: Target,
}

/// What a sentence-level task predicts.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Problem {
    /// One label per example (softmax cross-entropy).
    #[default]
    Single,
    /// A set of labels per example (sigmoid binary cross-entropy).
    Multi,
    /// A real value per example (mean squared error).
    Regression,
}

/// One tagged sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct Tagged {
    pub words: Vec<String>,
    pub tags: Vec<String>,
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Splits CSV text into records (RFC 4180: quoted fields may hold commas, quotes as `""`, and
/// newlines).
fn csv_records(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut at_start = true;
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if at_start => {
                quoted = true;
                at_start = false;
            }
            ',' => {
                record.push(std::mem::take(&mut field));
                at_start = true;
            }
            '\r' => {}
            '\n' => {
                line += 1;
                record.push(std::mem::take(&mut field));
                if record.iter().any(|f| !f.is_empty()) {
                    records.push(std::mem::take(&mut record));
                }
                record.clear();
                at_start = true;
            }
            _ => {
                field.push(c);
                at_start = false;
            }
        }
    }
    if quoted {
        return Err(format!("unterminated quoted field at line {line}"));
    }
    record.push(field);
    if record.iter().any(|f| !f.is_empty()) {
        records.push(record);
    }
    Ok(records)
}

fn target_from_text(s: &str, problem: Problem, at: &str) -> Result<Target, String> {
    let s = s.trim();
    match problem {
        Problem::Single if s.is_empty() => Err(format!("{at}: empty label")),
        Problem::Single => Ok(Target::Class(s.to_string())),
        Problem::Multi => Ok(Target::Classes(
            s.split('|')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect(),
        )),
        Problem::Regression => s
            .parse::<f32>()
            .ok()
            .filter(|v| v.is_finite())
            .map(Target::Value)
            .ok_or_else(|| format!("{at}: label {s:?} is not a finite number")),
    }
}

fn from_table(
    rows: Vec<Vec<String>>,
    problem: Problem,
    name: &str,
) -> Result<Vec<Example>, String> {
    let mut rows = rows.into_iter();
    let header = rows
        .next()
        .ok_or_else(|| format!("{name}: empty file (expected a header naming text and label)"))?;
    let col = |n: &str| header.iter().position(|h| h.trim() == n);
    let text = col("text").ok_or_else(|| format!("{name}: the header has no `text` column"))?;
    let label = col("label").ok_or_else(|| format!("{name}: the header has no `label` column"))?;
    let text_b = col("text_b");
    rows.enumerate()
        .map(|(i, r)| {
            let at = format!("{name}: record {}", i + 2);
            let get = |c: usize| {
                r.get(c)
                    .cloned()
                    .ok_or_else(|| format!("{at}: has {} fields, needs column {}", r.len(), c + 1))
            };
            Ok(Example {
                text: get(text)?,
                text_b: text_b.map(get).transpose()?,
                target: target_from_text(&get(label)?, problem, &at)?,
            })
        })
        .collect()
}

fn from_jsonl(text: &str, problem: Problem, name: &str) -> Result<Vec<Example>, String> {
    use serde_json::Value;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("{name}: line {}", i + 1);
        let v: Value = serde_json::from_str(line).map_err(|e| format!("{at}: {e}"))?;
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(String::from);
        let text = s("text").ok_or_else(|| format!("{at}: no string field `text`"))?;
        let label = v
            .get("label")
            .ok_or_else(|| format!("{at}: no field `label`"))?;
        let target = match (problem, label) {
            (Problem::Multi, Value::Array(a)) => Target::Classes(
                a.iter()
                    .map(|x| match x {
                        Value::String(s) => Ok(s.clone()),
                        other => Ok(other.to_string()),
                    })
                    .collect::<Result<_, String>>()?,
            ),
            (Problem::Regression, Value::Number(n)) => Target::Value(
                n.as_f64()
                    .map(|f| f as f32)
                    .ok_or_else(|| format!("{at}: bad number"))?,
            ),
            (_, Value::String(s)) => target_from_text(s, problem, &at)?,
            (_, Value::Number(n)) => target_from_text(&n.to_string(), problem, &at)?,
            (_, Value::Bool(b)) => target_from_text(&b.to_string(), problem, &at)?,
            (_, other) => return Err(format!("{at}: unsupported label {other}")),
        };
        out.push(Example {
            text,
            text_b: s("text_b"),
            target,
        });
    }
    Ok(out)
}

/// Reads a classification file; the format follows the extension (`.jsonl`/`.json`, `.csv`,
/// anything else tab-separated).
pub fn read_examples(path: &Path, problem: Problem) -> Result<Vec<Example>, String> {
    let text = read(path)?;
    let name = path.display().to_string();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let examples = match ext.as_str() {
        "jsonl" | "json" => from_jsonl(&text, problem, &name)?,
        "csv" => from_table(
            csv_records(&text).map_err(|e| format!("{name}: {e}"))?,
            problem,
            &name,
        )?,
        _ => from_table(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    l.trim_end_matches('\r')
                        .split('\t')
                        .map(String::from)
                        .collect()
                })
                .collect(),
            problem,
            &name,
        )?,
    };
    if examples.is_empty() {
        return Err(format!("{name}: no examples"));
    }
    Ok(examples)
}

/// Reads CoNLL columns: the first column is the word, the last the tag; `-DOCSTART-` lines are
/// skipped.
pub fn read_conll(path: &Path) -> Result<Vec<Tagged>, String> {
    let text = read(path)?;
    let mut out = Vec::new();
    let mut cur = Tagged {
        words: vec![],
        tags: vec![],
    };
    for (i, line) in text.lines().enumerate() {
        let cols: Vec<&str> = line.split(['\t', ' ']).filter(|c| !c.is_empty()).collect();
        if cols.is_empty() {
            if !cur.words.is_empty() {
                out.push(std::mem::replace(
                    &mut cur,
                    Tagged {
                        words: vec![],
                        tags: vec![],
                    },
                ));
            }
            continue;
        }
        if cols[0] == "-DOCSTART-" {
            continue;
        }
        if cols.len() < 2 {
            return Err(format!(
                "{}: line {}: expected `word ... tag`, got {line:?}",
                path.display(),
                i + 1
            ));
        }
        cur.words.push(cols[0].to_string());
        cur.tags.push(cols[cols.len() - 1].to_string());
    }
    if !cur.words.is_empty() {
        out.push(cur);
    }
    if out.is_empty() {
        return Err(format!("{}: no sentences", path.display()));
    }
    Ok(out)
}

/// The label names of a training set, sorted (so ids do not depend on example order).
pub fn class_names(examples: &[Example]) -> Vec<String> {
    let mut set = std::collections::BTreeSet::new();
    for e in examples {
        match &e.target {
            Target::Class(c) => {
                set.insert(c.clone());
            }
            Target::Classes(cs) => set.extend(cs.iter().cloned()),
            Target::Value(_) => {}
        }
    }
    set.into_iter().collect()
}

/// The tag names of a tagging training set, sorted.
pub fn tag_names(sentences: &[Tagged]) -> Vec<String> {
    let set: std::collections::BTreeSet<&String> = sentences.iter().flat_map(|s| &s.tags).collect();
    set.into_iter().cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_commas_and_newlines() {
        let r = csv_records("text,label\n\"a, \"\"b\"\"\nc\",pos\r\nplain,neg\n").unwrap();
        assert_eq!(
            r,
            vec![
                vec!["text".to_string(), "label".into()],
                vec!["a, \"b\"\nc".into(), "pos".into()],
                vec!["plain".into(), "neg".into()],
            ]
        );
        assert!(csv_records("\"open,1\n").is_err());
    }

    #[test]
    fn tables_and_jsonl() {
        let rows = vec![
            vec!["label".to_string(), "text".into(), "text_b".into()],
            vec!["a|b".into(), "x".into(), "y".into()],
        ];
        let e = from_table(rows.clone(), Problem::Multi, "t").unwrap();
        assert_eq!(e[0].target, Target::Classes(vec!["a".into(), "b".into()]));
        assert_eq!(e[0].text_b.as_deref(), Some("y"));
        assert!(from_table(rows, Problem::Regression, "t").is_err());
        let j = from_jsonl(
            "{\"text\":\"x\",\"label\":2.5}\n\n",
            Problem::Regression,
            "j",
        )
        .unwrap();
        assert_eq!(j[0].target, Target::Value(2.5));
        assert!(from_jsonl("{\"label\":1}", Problem::Single, "j").is_err());
    }
}
