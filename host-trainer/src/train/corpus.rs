//! Pretraining text in Google BERT's format (one sentence per line, a blank line between
//! documents), read from untrusted files: invalid UTF-8, overlong lines, empty and one-sentence
//! documents are counted and reported, never a crash. A bad line ends the document there, so the
//! sentences on either side are never paired as "next".

use rayon::prelude::*;
use std::fmt;
use std::path::Path;

/// Lines longer than this are not sentences (a 10 MB line is a broken file, not text to learn).
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// A tokenized document: its sentences as WordPiece ids.
pub type Document = Vec<Vec<u32>>;

/// Text -> WordPiece ids.
pub type TokenizeFn<'a> = dyn Fn(&str) -> Result<Vec<u32>, String> + Sync + 'a;

/// What reading found, for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorpusStats {
    pub files: usize,
    pub documents: usize,
    pub sentences: usize,
    pub tokens: usize,
    pub invalid_utf8_lines: usize,
    pub overlong_lines: usize,
    pub untokenizable_lines: usize,
    pub empty_documents: usize,
    pub one_sentence_documents: usize,
    /// Where the first skipped line is (`file:line: why`), so a user can look at it.
    pub first_skipped: Option<String>,
}

impl fmt::Display for CorpusStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} files, {} documents, {} sentences, {} tokens; skipped: {} invalid UTF-8 lines, \
             {} lines over {} bytes, {} untokenizable lines, {} empty documents; \
             {} one-sentence documents (used as random-next only)",
            self.files,
            self.documents,
            self.sentences,
            self.tokens,
            self.invalid_utf8_lines,
            self.overlong_lines,
            MAX_LINE_BYTES,
            self.untokenizable_lines,
            self.empty_documents,
            self.one_sentence_documents
        )?;
        match &self.first_skipped {
            Some(at) => write!(f, "; first skipped line: {at}"),
            None => Ok(()),
        }
    }
}

/// Splits raw bytes in Google's format into documents of sentence strings. Bad lines are
/// counted and end the current document (the next sentence starts a new one); `name` is the
/// file's name for the report.
pub fn split_documents(name: &str, bytes: &[u8], stats: &mut CorpusStats) -> Vec<Vec<String>> {
    let mut docs = Vec::new();
    let mut cur: Vec<String> = Vec::new();
    let close = |cur: &mut Vec<String>, docs: &mut Vec<Vec<String>>| {
        if !cur.is_empty() {
            docs.push(std::mem::take(cur));
        }
    };
    let mut saw_blank_run = false;
    // The newline ending the last line does not start another (empty) line.
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    for (n, raw) in body.split(|&b| b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let mut skip = |why: &str| {
            if stats.first_skipped.is_none() {
                stats.first_skipped = Some(format!("{name}:{}: {why}", n + 1));
            }
        };
        if raw.len() > MAX_LINE_BYTES {
            skip("over the line limit");
            stats.overlong_lines += 1;
            close(&mut cur, &mut docs);
            continue;
        }
        let Ok(line) = std::str::from_utf8(raw) else {
            skip("invalid UTF-8");
            stats.invalid_utf8_lines += 1;
            close(&mut cur, &mut docs);
            continue;
        };
        let line = line.trim();
        if line.is_empty() {
            // A blank line after a blank line is an empty document.
            if cur.is_empty() && saw_blank_run {
                stats.empty_documents += 1;
            }
            saw_blank_run = true;
            close(&mut cur, &mut docs);
            continue;
        }
        saw_blank_run = false;
        cur.push(line.to_string());
    }
    close(&mut cur, &mut docs);
    docs
}

/// Reads and tokenizes corpus files (Google format). Tokenization runs in parallel; the result
/// does not depend on the thread count.
pub fn load_corpus(
    paths: &[impl AsRef<Path>],
    tokenize: &TokenizeFn,
) -> Result<(Vec<Document>, CorpusStats), String> {
    let mut stats = CorpusStats::default();
    let mut texts = Vec::new();
    for p in paths {
        let p = p.as_ref();
        let bytes = std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
        stats.files += 1;
        texts.extend(split_documents(
            &p.display().to_string(),
            &bytes,
            &mut stats,
        ));
    }
    let tokenized: Vec<(Document, usize)> = texts
        .par_iter()
        .map(|doc| {
            let mut bad = 0;
            let mut out = Vec::new();
            for s in doc {
                match tokenize(s) {
                    Ok(ids) if !ids.is_empty() => out.push(ids),
                    Ok(_) => {}
                    Err(_) => bad += 1,
                }
            }
            (out, bad)
        })
        .collect();
    let mut docs = Vec::new();
    for (doc, bad) in tokenized {
        stats.untokenizable_lines += bad;
        if doc.is_empty() {
            stats.empty_documents += 1;
            continue;
        }
        if doc.len() == 1 {
            stats.one_sentence_documents += 1;
        }
        stats.sentences += doc.len();
        stats.tokens += doc.iter().map(Vec::len).sum::<usize>();
        docs.push(doc);
    }
    stats.documents = docs.len();
    Ok((docs, stats))
}

/// Abbreviations after which a period does not end a sentence.
const ABBREVIATIONS: [&str; 16] = [
    "Mr", "Mrs", "Ms", "Dr", "St", "Jr", "Sr", "Prof", "Gen", "Gov", "Sen", "Rep", "vs", "etc",
    "No", "Co",
];

/// Splits running text into sentences: at `.`, `!` or `?` (plus closing quotes/brackets)
/// followed by whitespace and an upper-case letter, digit or opening quote; not after a known
/// abbreviation or a single capital initial.
pub fn split_sentences(text: &str) -> Vec<String> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < chars.len() {
        let (_, c) = chars[i];
        if matches!(c, '.' | '!' | '?') {
            let mut j = i + 1;
            while j < chars.len()
                && matches!(chars[j].1, '"' | '\'' | '\u{201d}' | '\u{2019}' | ')' | ']')
            {
                j += 1;
            }
            let end = chars.get(j).map_or(text.len(), |x| x.0);
            let mut k = j;
            while k < chars.len() && chars[k].1.is_whitespace() {
                k += 1;
            }
            let next = chars.get(k).map(|x| x.1);
            let starts = next.is_some_and(|n| {
                n.is_uppercase() || n.is_ascii_digit() || matches!(n, '"' | '\u{201c}' | '\'' | '(')
            });
            if k > j && starts && !(c == '.' && is_abbreviation(&text[start..chars[i].0])) {
                let s = text[start..end].trim();
                if !s.is_empty() {
                    out.push(s.to_string());
                }
                start = chars[k].0;
                i = k;
                continue;
            }
        }
        i += 1;
    }
    let s = text[start..].trim();
    if !s.is_empty() {
        out.push(s.to_string());
    }
    out
}

fn is_abbreviation(before: &str) -> bool {
    let word = before
        .rsplit(|c: char| c.is_whitespace() || c == '(' || c == '"')
        .next()
        .unwrap_or("");
    ABBREVIATIONS.contains(&word)
        || (word.chars().count() == 1 && word.chars().all(|c| c.is_uppercase()))
}

/// What `prepare` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrepareStats {
    pub files: usize,
    pub documents: usize,
    pub sentences: usize,
    pub invalid_utf8_files: usize,
    pub overlong_lines: usize,
    pub empty_documents: usize,
    pub one_sentence_documents: usize,
}

impl fmt::Display for PrepareStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} files -> {} documents, {} sentences; skipped {} files with invalid UTF-8, \
             {} lines over {} bytes, {} empty documents; kept {} one-sentence documents",
            self.files,
            self.documents,
            self.sentences,
            self.invalid_utf8_files,
            self.overlong_lines,
            MAX_LINE_BYTES,
            self.empty_documents,
            self.one_sentence_documents
        )
    }
}

/// Raw text -> Google format. Each input is one document unless `blank_line_documents`, in
/// which case blank lines separate documents; each remaining line is a paragraph to split into
/// sentences. Invalid UTF-8 makes the whole file skipped (its sentence boundaries are unknown).
pub fn prepare(inputs: &[(String, Vec<u8>)], blank_line_documents: bool) -> (String, PrepareStats) {
    let mut st = PrepareStats::default();
    let mut out = String::new();
    for (_, bytes) in inputs {
        st.files += 1;
        let Ok(text) = std::str::from_utf8(bytes) else {
            st.invalid_utf8_files += 1;
            continue;
        };
        let mut docs: Vec<Vec<String>> = vec![Vec::new()];
        for line in text.lines() {
            if line.len() > MAX_LINE_BYTES {
                st.overlong_lines += 1;
                // Sentences on either side of the dropped line are not neighbours.
                docs.push(Vec::new());
                continue;
            }
            if line.trim().is_empty() {
                if blank_line_documents {
                    docs.push(Vec::new());
                }
                continue;
            }
            docs.last_mut()
                .expect("docs is never empty")
                .extend(split_sentences(line));
        }
        for doc in docs {
            if doc.is_empty() {
                st.empty_documents += 1;
                continue;
            }
            if doc.len() == 1 {
                st.one_sentence_documents += 1;
            }
            st.documents += 1;
            st.sentences += doc.len();
            for s in doc {
                out.push_str(&s);
                out.push('\n');
            }
            out.push('\n');
        }
    }
    (out, st)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences() {
        let s = split_sentences(
            "Mr. Smith went to Washington. He said \"Hello!\" Then left? Yes. J. Doe agreed.",
        );
        assert_eq!(
            s,
            [
                "Mr. Smith went to Washington.",
                "He said \"Hello!\"",
                "Then left?",
                "Yes.",
                "J. Doe agreed."
            ]
        );
    }

    #[test]
    fn hostile_input_is_counted() {
        let mut bytes = b"One.\nTwo.\n\n\n\nThree.\n".to_vec();
        bytes.extend(b"bad \xff\xfe line\nFour.\n\n");
        bytes.extend(vec![b'a'; MAX_LINE_BYTES + 1]);
        bytes.extend(b"\nFive.\n");
        let mut st = CorpusStats::default();
        let docs = split_documents("c.txt", &bytes, &mut st);
        assert_eq!(
            docs,
            vec![
                vec!["One.".to_string(), "Two.".into()],
                vec!["Three.".into()],
                vec!["Four.".into()],
                vec!["Five.".into()]
            ]
        );
        assert_eq!(st.invalid_utf8_lines, 1);
        assert_eq!(st.overlong_lines, 1);
        assert_eq!(st.first_skipped.as_deref(), Some("c.txt:7: invalid UTF-8"));
        // Three blank lines in a row: Google's reader opens two empty documents.
        assert_eq!(st.empty_documents, 2);
        // A file ending in a blank line holds no empty document.
        let mut st = CorpusStats::default();
        assert_eq!(
            split_documents("d.txt", b"A.\nB.\n\nC.\n\n", &mut st).len(),
            2
        );
        assert_eq!(st.empty_documents, 0);
    }

    #[test]
    fn load_corpus_survives_a_hostile_file() {
        let mut bytes = b"Doc one first.\nDoc one second.\n\nLonely sentence.\n\n".to_vec();
        bytes.extend(vec![b'x'; 10 << 20]); // a 10 MB line
        bytes.extend(b"\nAfter the big line.\nAnd more.\n\n\xc3\x28 broken\nTail one.\nBAD\n\n\n");
        let path =
            std::env::temp_dir().join(format!("picobert-hostile-{}.txt", std::process::id()));
        std::fs::write(&path, &bytes).unwrap();
        // A toy tokenizer: one id per word; the word BAD cannot be tokenized.
        let tok = |s: &str| -> Result<Vec<u32>, String> {
            if s.contains("BAD") {
                return Err("untokenizable".into());
            }
            Ok(s.split_whitespace().map(|w| w.len() as u32).collect())
        };
        let (docs, st) = load_corpus(&[&path], &tok).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(docs.len(), 4);
        assert_eq!(docs.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1, 2, 1]);
        assert_eq!(st.overlong_lines, 1);
        assert_eq!(st.invalid_utf8_lines, 1);
        assert_eq!(st.untokenizable_lines, 1);
        assert_eq!(st.one_sentence_documents, 2);
        assert_eq!(st.empty_documents, 1);
        assert_eq!((st.documents, st.sentences), (4, 6));
        assert!(load_corpus(&[std::path::Path::new("/nonexistent/x")], &tok).is_err());
    }

    #[test]
    fn prepare_reports_what_it_skipped() {
        let inputs = vec![
            (
                "a".to_string(),
                b"First one. Second one.\nThird.\n".to_vec(),
            ),
            ("b".to_string(), b"\xff\xfe".to_vec()),
            ("c".to_string(), b"\n  \n".to_vec()),
            ("d".to_string(), b"Alone here.\n".to_vec()),
        ];
        let (text, st) = prepare(&inputs, false);
        assert_eq!(text, "First one.\nSecond one.\nThird.\n\nAlone here.\n\n");
        assert_eq!((st.documents, st.sentences), (2, 4));
        assert_eq!((st.invalid_utf8_files, st.empty_documents), (1, 1));
        assert_eq!(st.one_sentence_documents, 1);
    }
}
