//! Sliding windows over a long document, as BERT's SQuAD code (`run_squad.py`: `doc_stride`,
//! `_check_is_max_context`): overlapping windows, and for every token whether this window gives
//! it the most context (the window whose prediction to keep for that token).

use super::{Encoding, Piece, TokenizeError, Tokenizer};

/// One window: document pieces `start..start + len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Index of the window.
    pub index: usize,
    /// First document piece.
    pub start: usize,
    /// Number of document pieces.
    pub len: usize,
}

/// The windows of a document of `doc_len` pieces: each holds at most `max_doc` pieces,
/// consecutive windows start `min(max_doc, stride)` pieces apart, and the last one ends at the
/// end of the document. An empty document has no window (as in `run_squad.py`).
#[derive(Clone, Copy, Debug)]
pub struct Windows {
    doc_len: usize,
    max_doc: usize,
    step: usize,
    next: usize,
}

impl Windows {
    /// Windows of at most `max_doc` pieces, `stride` apart.
    pub fn new(doc_len: usize, max_doc: usize, stride: usize) -> Result<Self, TokenizeError> {
        if stride == 0 {
            return Err(TokenizeError::ZeroStride);
        }
        if max_doc == 0 {
            return Err(TokenizeError::MaxLenTooSmall { max_len: 0, min: 1 });
        }
        Ok(Windows {
            doc_len,
            max_doc,
            step: max_doc.min(stride),
            next: 0,
        })
    }

    /// Number of windows.
    pub fn total(&self) -> usize {
        if self.doc_len == 0 {
            0
        } else if self.doc_len <= self.max_doc {
            1
        } else {
            1 + (self.doc_len - self.max_doc).div_ceil(self.step)
        }
    }

    /// Window `k`, if there is one.
    pub fn get(&self, k: usize) -> Option<Window> {
        if k >= self.total() {
            return None;
        }
        let start = k * self.step;
        Some(Window {
            index: k,
            start,
            len: self.max_doc.min(self.doc_len - start),
        })
    }

    /// Whether window `k` gives document piece `position` its maximum context: of the windows
    /// holding it, the first with the highest `min(left, right context) + 0.01 * window length`.
    pub fn is_max_context(&self, k: usize, position: usize) -> bool {
        let mut best: Option<(usize, usize)> = None;
        let first = (position + 1).saturating_sub(self.max_doc) / self.step;
        let last = (position / self.step).min(self.total().saturating_sub(1));
        for j in first..=last {
            let Some(w) = self.get(j) else {
                continue;
            };
            let end = w.start + w.len - 1;
            if position < w.start || position > end {
                continue;
            }
            let score = 100 * (position - w.start).min(end - position) + w.len;
            if best.is_none_or(|(_, s)| score > s) {
                best = Some((j, score));
            }
        }
        best.is_some_and(|(j, _)| j == k)
    }
}

impl Iterator for Windows {
    type Item = Window;

    fn next(&mut self) -> Option<Window> {
        let w = self.get(self.next)?;
        self.next += 1;
        Some(w)
    }
}

impl<'a> Tokenizer<'a> {
    /// The windows for a document of `doc_len` pieces when each encoded window, with `[CLS]`,
    /// `[SEP]`s and a question of `query_len` pieces (if any), holds at most `max_len` tokens.
    pub fn windows(
        &self,
        doc_len: usize,
        query_len: Option<usize>,
        max_len: usize,
        stride: usize,
    ) -> Result<Windows, TokenizeError> {
        let overhead = match query_len {
            Some(q) => q.saturating_add(3),
            None => 2,
        };
        if max_len <= overhead {
            return Err(TokenizeError::MaxLenTooSmall {
                max_len,
                min: overhead.saturating_add(1),
            });
        }
        Windows::new(doc_len, max_len - overhead, stride)
    }

    /// Encodes window `w` of `doc`: `[CLS] doc[w] [SEP]`, or with a question
    /// `[CLS] query [SEP] doc[w] [SEP]` (question segment 0, document segment 1, as SQuAD).
    /// `max_context`, if given, receives for every token whether it is a document token this
    /// window gives the most context (see [`Windows::is_max_context`]).
    pub fn encode_window(
        &self,
        query: Option<&[Piece]>,
        doc: &[Piece],
        windows: &Windows,
        w: Window,
        out: &mut Encoding<'_>,
        max_context: Option<&mut [bool]>,
    ) -> Result<usize, TokenizeError> {
        let cls = self.special(self.config.cls_id, "[CLS]")?;
        let sep = self.special(self.config.sep_id, "[SEP]")?;
        let part = doc
            .get(w.start..w.start + w.len)
            .ok_or(TokenizeError::OutOfRange)?;
        let q = query.unwrap_or(&[]);
        let extra = if query.is_some() { 3 } else { 2 };
        let needed = q.len() + part.len() + extra;
        let given = match &max_context {
            Some(m) => out.capacity().min(m.len()),
            None => out.capacity(),
        };
        if needed > given {
            return Err(TokenizeError::BufferTooSmall { needed, given });
        }
        let doc_type = u32::from(query.is_some());
        out.clear();
        out.push_special(cls, 0);
        for p in q {
            out.push_piece(p, 0);
        }
        if query.is_some() {
            out.push_special(sep, 0);
        }
        let doc_at = out.len();
        for p in part {
            out.push_piece(p, doc_type);
        }
        out.push_special(sep, doc_type);
        if let Some(m) = max_context {
            for (i, flag) in m.iter_mut().take(out.len()).enumerate() {
                *flag = i >= doc_at
                    && i < doc_at + part.len()
                    && windows.is_max_context(w.index, w.start + i - doc_at);
            }
        }
        Ok(out.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `run_squad.py`'s window loop and `_check_is_max_context`, transcribed literally.
    fn squad(n: usize, max_doc: usize, stride: usize) -> (Vec<(usize, usize)>, Vec<Vec<bool>>) {
        let mut spans = vec![];
        let mut start = 0;
        while start < n {
            let len = (n - start).min(max_doc);
            spans.push((start, len));
            if start + len == n {
                break;
            }
            start += len.min(stride);
        }
        let flags = (0..spans.len())
            .map(|k| {
                let (s, l) = spans[k];
                (s..s + l)
                    .map(|p| {
                        let mut best: Option<(f64, usize)> = None;
                        for (j, &(s2, l2)) in spans.iter().enumerate() {
                            let end = s2 + l2 - 1;
                            if p < s2 || p > end {
                                continue;
                            }
                            let score = (p - s2).min(end - p) as f64 + 0.01 * l2 as f64;
                            if best.is_none_or(|(b, _)| score > b) {
                                best = Some((score, j));
                            }
                        }
                        best.map(|(_, j)| j) == Some(k)
                    })
                    .collect()
            })
            .collect();
        (spans, flags)
    }

    extern crate std;
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn windows_and_max_context_match_run_squad() {
        // Miri interprets every step: there, the shorter documents only.
        let docs = if cfg!(miri) { 12 } else { 40 };
        for n in 0..docs {
            for max_doc in 1..12 {
                for stride in 1..14 {
                    let ws = Windows::new(n, max_doc, stride).unwrap();
                    let (spans, flags) = squad(n, max_doc, stride);
                    let got: Vec<(usize, usize)> = ws.map(|w| (w.start, w.len)).collect();
                    assert_eq!(got, spans, "n {n} max_doc {max_doc} stride {stride}");
                    for (k, &(s, l)) in spans.iter().enumerate() {
                        let mine: Vec<bool> = (s..s + l).map(|p| ws.is_max_context(k, p)).collect();
                        assert_eq!(mine, flags[k], "n {n} max {max_doc} stride {stride} k {k}");
                    }
                }
            }
        }
    }
}
