//! Model inputs: `[CLS] A [SEP]` and `[CLS] A [SEP] B [SEP]`, with segment ids, truncation,
//! spans and word ids, written into caller buffers.

use super::{Piece, TokenizeError, Tokenizer};
use crate::{Input, TokenizerMode};

/// Word id of `[CLS]`/`[SEP]` (transformers' `None`).
pub const NO_WORD: u32 = u32::MAX;

/// Caller-owned output buffers for one encoded sequence. `ids` and `type_ids` are required;
/// spans (byte offsets into the text each token came from, `(0, 0)` for `[CLS]`/`[SEP]`) and
/// word ids are written only when given.
#[derive(Debug)]
pub struct Encoding<'b> {
    ids: &'b mut [u32],
    type_ids: &'b mut [u32],
    spans: Option<&'b mut [(u32, u32)]>,
    words: Option<&'b mut [u32]>,
    len: usize,
}

impl<'b> Encoding<'b> {
    /// Buffers for ids and segment ids, of equal length (the capacity).
    pub fn new(ids: &'b mut [u32], type_ids: &'b mut [u32]) -> Result<Self, TokenizeError> {
        if ids.len() != type_ids.len() {
            return Err(TokenizeError::LengthMismatch);
        }
        Ok(Encoding {
            ids,
            type_ids,
            spans: None,
            words: None,
            len: 0,
        })
    }

    /// Also record spans and word ids (buffers of the same capacity).
    pub fn with_offsets(
        mut self,
        spans: &'b mut [(u32, u32)],
        words: &'b mut [u32],
    ) -> Result<Self, TokenizeError> {
        if spans.len() != self.ids.len() || words.len() != self.ids.len() {
            return Err(TokenizeError::LengthMismatch);
        }
        self.spans = Some(spans);
        self.words = Some(words);
        Ok(self)
    }

    /// Entries the buffers hold.
    pub fn capacity(&self) -> usize {
        self.ids.len()
    }

    /// Tokens written by the last encode.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is encoded.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Token ids.
    pub fn ids(&self) -> &[u32] {
        &self.ids[..self.len]
    }

    /// Segment ids: 0 for `[CLS]`, A and its `[SEP]`; 1 for B and the last `[SEP]`.
    pub fn type_ids(&self) -> &[u32] {
        &self.type_ids[..self.len]
    }

    /// Byte spans in the text each token came from (in its own text for a pair).
    pub fn spans(&self) -> Option<&[(u32, u32)]> {
        self.spans.as_deref().map(|s| &s[..self.len])
    }

    /// Word index of each token within its text; [`NO_WORD`] for `[CLS]`/`[SEP]`.
    pub fn word_ids(&self) -> Option<&[u32]> {
        self.words.as_deref().map(|w| &w[..self.len])
    }

    /// The model input (ids and segment ids).
    pub fn input(&self) -> Input<'_> {
        Input::new(self.ids()).with_token_types(self.type_ids())
    }

    pub(super) fn clear(&mut self) {
        self.len = 0;
    }

    /// Appends one token; callers check the capacity first.
    pub(super) fn push(&mut self, id: u32, type_id: u32, span: (u32, u32), word: u32) {
        let i = self.len;
        let (Some(slot), Some(t)) = (self.ids.get_mut(i), self.type_ids.get_mut(i)) else {
            return;
        };
        *slot = id;
        *t = type_id;
        if let Some(s) = self.spans.as_deref_mut().and_then(|s| s.get_mut(i)) {
            *s = span;
        }
        if let Some(w) = self.words.as_deref_mut().and_then(|w| w.get_mut(i)) {
            *w = word;
        }
        self.len += 1;
    }

    pub(super) fn push_piece(&mut self, p: &Piece, type_id: u32) {
        self.push(p.id, type_id, (p.start, p.end), p.word);
    }

    pub(super) fn push_special(&mut self, id: u32, type_id: u32) {
        self.push(id, type_id, (0, 0), NO_WORD);
    }
}

/// Lengths `(k1, k2)` two sequences of `n1` and `n2` pieces are cut to so that they fit in
/// `budget`, longest first.
pub(super) fn pair_lengths(
    n1: usize,
    n2: usize,
    budget: usize,
    mode: TokenizerMode,
) -> (usize, usize) {
    if n1 + n2 <= budget {
        return (n1, n2);
    }
    match mode {
        // Google's `_truncate_seq_pair` (and transformers' slow tokenizer): pop one piece at a
        // time from the longer sequence, from B on a tie.
        TokenizerMode::Google => {
            let (mut a, mut b) = (n1, n2);
            let mut excess = a + b - budget;
            let d = a.abs_diff(b).min(excess);
            if a > b {
                a -= d;
            } else {
                b -= d;
            }
            excess -= d;
            (a - excess / 2, b - excess.div_ceil(2))
        }
        // transformers' fast tokenizer (`tokenizers`' TruncationStrategy::LongestFirst): the
        // shorter keeps everything if it can; otherwise half each, the odd one to the second.
        TokenizerMode::HuggingFace => {
            let swap = n1 > n2;
            let mut a = n1.min(n2);
            let mut b = if a > budget { a } else { a.max(budget - a) };
            if a + b > budget {
                a = budget / 2;
                b = a + budget % 2;
            }
            if swap {
                (b, a)
            } else {
                (a, b)
            }
        }
    }
}

impl<'a> Tokenizer<'a> {
    /// Encodes `[CLS] text [SEP]` into `out`, cut to `max_len` tokens if given. Without
    /// `max_len`, a too-small buffer is `BufferTooSmall` with the length needed. Returns the
    /// length.
    pub fn encode(
        &self,
        text: &str,
        max_len: Option<usize>,
        out: &mut Encoding<'_>,
    ) -> Result<usize, TokenizeError> {
        let cls = self.special(self.config.cls_id, "[CLS]")?;
        let sep = self.special(self.config.sep_id, "[SEP]")?;
        let limit = match max_len {
            Some(m) if m < 2 => return Err(TokenizeError::MaxLenTooSmall { max_len: m, min: 2 }),
            Some(m) => m - 2,
            None => usize::MAX,
        };
        let room = out.capacity().saturating_sub(2);
        out.clear();
        out.push_special(cls, 0);
        let mut n = 0;
        for p in self.pieces(text)? {
            if n >= limit {
                break;
            }
            if n < room {
                out.push_piece(&p, 0);
            }
            n += 1;
        }
        if n + 2 > out.capacity() {
            out.clear();
            return Err(TokenizeError::BufferTooSmall {
                needed: n + 2,
                given: out.capacity(),
            });
        }
        out.push_special(sep, 0);
        Ok(out.len())
    }

    /// Encodes `[CLS] a [SEP] b [SEP]` into `out`; with `max_len`, the longer text is cut first
    /// (see `docs/TOKENIZER.md` for how the two modes break ties). Returns the length.
    pub fn encode_pair(
        &self,
        a: &str,
        b: &str,
        max_len: Option<usize>,
        out: &mut Encoding<'_>,
    ) -> Result<usize, TokenizeError> {
        let cls = self.special(self.config.cls_id, "[CLS]")?;
        let sep = self.special(self.config.sep_id, "[SEP]")?;
        if let Some(m) = max_len.filter(|&m| m < 3) {
            return Err(TokenizeError::MaxLenTooSmall { max_len: m, min: 3 });
        }
        let n1 = self.count(a)?;
        let n2 = self.count(b)?;
        let (k1, k2) = match max_len {
            Some(m) => pair_lengths(n1, n2, m - 3, self.config.mode),
            None => (n1, n2),
        };
        let needed = k1 + k2 + 3;
        out.clear();
        if needed > out.capacity() {
            return Err(TokenizeError::BufferTooSmall {
                needed,
                given: out.capacity(),
            });
        }
        out.push_special(cls, 0);
        for p in self.pieces(a)?.take(k1) {
            out.push_piece(&p, 0);
        }
        out.push_special(sep, 0);
        for p in self.pieces(b)?.take(k2) {
            out.push_piece(&p, 1);
        }
        out.push_special(sep, 1);
        Ok(out.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The loop of Google's `_truncate_seq_pair`, literally.
    fn google_loop(mut a: usize, mut b: usize, budget: usize) -> (usize, usize) {
        while a + b > budget {
            if a > b {
                a -= 1;
            } else {
                b -= 1;
            }
        }
        (a, b)
    }

    #[test]
    fn google_closed_form_equals_the_loop() {
        for a in 0..25 {
            for b in 0..25 {
                for budget in 0..50 {
                    assert_eq!(
                        pair_lengths(a, b, budget, TokenizerMode::Google),
                        google_loop(a, b, budget),
                        "{a} {b} {budget}"
                    );
                }
            }
        }
    }

    #[test]
    fn hugging_face_rule_on_the_cases_checked_against_transformers() {
        // (n1, n2, max_length - 3) -> lengths BertTokenizerFast keeps (tools/ output, by hand).
        let hf = |a, b, m| pair_lengths(a, b, m, TokenizerMode::HuggingFace);
        assert_eq!(hf(10, 10, 15), (7, 8));
        assert_eq!(hf(10, 10, 14), (7, 7));
        assert_eq!(hf(10, 10, 13), (6, 7));
        assert_eq!(hf(3, 10, 5), (2, 3));
        assert_eq!(hf(3, 10, 7), (3, 4));
        assert_eq!(hf(3, 10, 1), (0, 1));
        assert_eq!(hf(3, 10, 0), (0, 0));
        assert_eq!(hf(10, 3, 5), (3, 2));
    }
}
