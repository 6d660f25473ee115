//! Third pass: words (punctuation split off, special tokens kept whole) and WordPiece.

use super::normalize::{Norm, Normalizer};
use super::scan::Scanner;
use super::unicode::{class, Class};
use super::{TokenizeError, Tokenizer, MAX_WORD_CHARS};
use crate::vocab::{hash_seed, hash_step};

/// One word piece: its id, its byte span in the input, and the index of the word it came from
/// (words are what the basic tokenizer yields: punctuation characters and special tokens are
/// words of their own, as in transformers' fast `word_ids()`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Piece {
    /// Vocabulary id.
    pub id: u32,
    /// Byte offset of the first input character the piece came from.
    pub start: u32,
    /// Byte offset just past the last input character the piece came from.
    pub end: u32,
    /// Index of the word, counted from 0 in this text.
    pub word: u32,
}

/// The normalised characters of one word, as UTF-8 with the input span of every character.
#[derive(Clone)]
struct Word {
    text: [u8; MAX_WORD_CHARS * 4],
    text_len: usize,
    /// Byte offset in `text` just past character `i`.
    byte_end: [u16; MAX_WORD_CHARS],
    starts: [u32; MAX_WORD_CHARS],
    ends: [u32; MAX_WORD_CHARS],
    /// Characters stored (at most `MAX_WORD_CHARS`).
    stored: usize,
    /// Characters seen, stored or not.
    total: usize,
    start: u32,
    end: u32,
    special: Option<u32>,
}

impl Word {
    fn new() -> Self {
        Word {
            text: [0; MAX_WORD_CHARS * 4],
            text_len: 0,
            byte_end: [0; MAX_WORD_CHARS],
            starts: [0; MAX_WORD_CHARS],
            ends: [0; MAX_WORD_CHARS],
            stored: 0,
            total: 0,
            start: 0,
            end: 0,
            special: None,
        }
    }

    fn clear(&mut self) {
        self.text_len = 0;
        self.stored = 0;
        self.total = 0;
        self.special = None;
    }

    fn push(&mut self, c: char, start: u32, end: u32) {
        if self.total == 0 {
            self.start = start;
            self.end = end;
        } else {
            self.start = self.start.min(start);
            self.end = self.end.max(end);
        }
        self.total += 1;
        let i = self.stored;
        if i >= MAX_WORD_CHARS {
            return;
        }
        let Some(buf) = self.text.get_mut(self.text_len..self.text_len + 4) else {
            return;
        };
        self.text_len += c.encode_utf8(buf).len();
        self.byte_end[i] = self.text_len as u16;
        self.starts[i] = start;
        self.ends[i] = end;
        self.stored += 1;
    }

    /// `push` for ASCII bytes starting at input offset `pos`, lowercased if `lower`.
    #[inline]
    fn push_ascii(&mut self, run: &[u8], pos: u32, lower: bool) {
        let end = pos + run.len() as u32;
        if self.total == 0 {
            self.start = pos;
            self.end = end;
        } else {
            self.start = self.start.min(pos);
            self.end = self.end.max(end);
        }
        self.total += run.len();
        let room = MAX_WORD_CHARS.saturating_sub(self.stored);
        for (at, &b) in (pos..).zip(run.iter().take(room)) {
            let i = self.stored;
            if let (Some(t), Some(be), Some(s), Some(e)) = (
                self.text.get_mut(self.text_len),
                self.byte_end.get_mut(i),
                self.starts.get_mut(i),
                self.ends.get_mut(i),
            ) {
                *t = if lower { b.to_ascii_lowercase() } else { b };
                self.text_len += 1;
                *be = self.text_len as u16;
                *s = at;
                *e = at + 1;
                self.stored += 1;
            }
        }
    }

    fn byte_start(&self, i: usize) -> usize {
        match i.checked_sub(1) {
            Some(j) => self.byte_end.get(j).map_or(0, |&e| e as usize),
            None => 0,
        }
    }

    /// Input span of characters `a..b`: min start, max end (marks may have been reordered).
    fn span(&self, a: usize, b: usize) -> (u32, u32) {
        let mut s = u32::MAX;
        let mut e = 0;
        let chars = a..b.min(self.stored);
        let starts = self.starts.get(chars.clone()).unwrap_or_default();
        let ends = self.ends.get(chars).unwrap_or_default();
        for (&cs, &ce) in starts.iter().zip(ends) {
            s = s.min(cs);
            e = e.max(ce);
        }
        if s > e {
            (self.start, self.end)
        } else {
            (s, e)
        }
    }
}

/// Iterator over the word pieces of a text; see [`Tokenizer::pieces`]. About 6 KiB of state
/// (one word of [`MAX_WORD_CHARS`] characters and its pieces), no heap.
#[derive(Clone)]
pub struct Pieces<'t, 'r, 'a> {
    tok: &'r Tokenizer<'a>,
    norm: Normalizer<'t, 'r, 'a>,
    back: Option<Norm>,
    word: Word,
    word_index: u32,
    /// Pieces of the current word: id and end character index.
    ids: [u32; MAX_WORD_CHARS],
    piece_end: [u16; MAX_WORD_CHARS],
    /// Lookup hash of the candidate piece ending at character `i` (scratch of `wordpiece`).
    hashes: [u32; MAX_WORD_CHARS + 1],
    n_pieces: usize,
    next_piece: usize,
    done: bool,
}

impl<'t, 'r, 'a> Pieces<'t, 'r, 'a> {
    pub(super) fn new(tok: &'r Tokenizer<'a>, text: &'t str) -> Self {
        let norm = Normalizer::new(
            Scanner::new(tok, text),
            tok.normalizer_mode(),
            tok.config.do_lower_case,
        );
        Pieces {
            tok,
            norm,
            back: None,
            word: Word::new(),
            word_index: 0,
            ids: [0; MAX_WORD_CHARS],
            piece_end: [0; MAX_WORD_CHARS],
            hashes: [0; MAX_WORD_CHARS + 1],
            n_pieces: 0,
            next_piece: 0,
            done: false,
        }
    }

    /// Collects the next word; false at the end of the text.
    fn fill_word(&mut self) -> bool {
        self.word.clear();
        loop {
            if self.back.is_none() {
                if let Some((run, pos, cls)) = self.norm.next_ascii() {
                    let lower = self.tok.config.do_lower_case;
                    match cls {
                        Class::Control => {}
                        Class::Space => {
                            if self.word.total > 0 {
                                return true;
                            }
                        }
                        Class::Punct => {
                            if self.word.total > 0 {
                                let c = run.first().map_or(' ', |&b| b as char);
                                self.back = Some(Norm::Char(c, pos, pos + 1));
                            } else {
                                self.word.push_ascii(run, pos, lower);
                            }
                            return true;
                        }
                        _ => self.word.push_ascii(run, pos, lower),
                    }
                    continue;
                }
            }
            let ev = match self.back.take() {
                Some(ev) => ev,
                None => self.norm.next_norm(),
            };
            match ev {
                Norm::Char(c, s, e) => {
                    if class(c) == Class::Punct {
                        if self.word.total > 0 {
                            self.back = Some(ev);
                        } else {
                            self.word.push(c, s, e);
                        }
                        return true;
                    }
                    self.word.push(c, s, e);
                }
                Norm::Break => {
                    if self.word.total > 0 {
                        return true;
                    }
                }
                Norm::Special(id, s, e) => {
                    if self.word.total > 0 {
                        self.back = Some(ev);
                    } else {
                        self.word.special = Some(id);
                        self.word.start = s;
                        self.word.end = e;
                        self.word.total = 1;
                    }
                    return true;
                }
                Norm::End => return self.word.total > 0,
            }
        }
    }

    fn one_piece(&mut self, id: u32) {
        self.ids[0] = id;
        self.piece_end[0] = u16::MAX;
        self.n_pieces = 1;
    }

    /// Greedy longest-match-first, as BERT: a word with any unmatched rest is one `[UNK]`.
    fn wordpiece(&mut self) {
        self.next_piece = 0;
        let unk = self.tok.config.unk_id;
        if let Some(id) = self.word.special {
            return self.one_piece(id);
        }
        let w = &self.word;
        // `stored` never exceeds the capacity; saying so lets the optimiser drop the bounds
        // checks on `byte_end` and `hashes` below.
        let n = w.stored.min(MAX_WORD_CHARS);
        if w.total > self.tok.config.max_input_chars_per_word || w.total > n {
            return self.one_piece(unk);
        }
        let bytes = w.text.get(..w.text_len).unwrap_or_default();
        let vocab = &self.tok.vocab;
        let mut start = 0;
        let mut count = 0;
        while start < n {
            let sb = w.byte_start(start);
            let cont = start > 0;
            let max_bytes = bytes.get(sb).map_or(0, |&b| {
                self.tok.max_key_bytes[cont as usize][b as usize] as usize
            });
            // Hashes of every candidate (prefixes of the rest no longer than the longest
            // vocabulary piece) in one pass, then probes from the longest.
            let mut h = hash_seed(cont);
            let mut b = sb;
            let mut longest = start;
            // Character `end - 1` ends at `byte_end[end - 1]`; its prefix's hash goes to
            // `hashes[end]`.
            let ends = w.byte_end.get(start..n).unwrap_or_default();
            let hashes = self.hashes.get_mut(start + 1..).unwrap_or_default();
            for (end, (&eb, hash)) in (start + 1..).zip(ends.iter().zip(hashes)) {
                let eb = eb as usize;
                if eb - sb > max_bytes {
                    break;
                }
                for &x in bytes.get(b..eb).unwrap_or_default() {
                    h = hash_step(h, x);
                }
                b = eb;
                *hash = h;
                longest = end;
            }
            // `longest <= n` (a bound the optimiser loses in the loop above).
            let mut end = longest.min(n);
            let mut found = None;
            while end > start {
                let eb = w.byte_end[end - 1] as usize;
                let key = bytes.get(sb..eb).unwrap_or_default();
                if let Some(id) = vocab.lookup_hashed(key, cont, self.hashes[end]) {
                    found = Some(id);
                    break;
                }
                end -= 1;
            }
            let Some(id) = found else {
                return self.one_piece(unk);
            };
            // One piece per character at most, so there is always a slot.
            if let (Some(i), Some(e)) = (self.ids.get_mut(count), self.piece_end.get_mut(count)) {
                *i = id;
                *e = end as u16;
                count += 1;
            }
            start = end;
        }
        self.n_pieces = count;
    }
}

impl Iterator for Pieces<'_, '_, '_> {
    type Item = Piece;

    fn next(&mut self) -> Option<Piece> {
        loop {
            let k = self.next_piece;
            let piece = (k < self.n_pieces)
                .then(|| self.ids.get(k).zip(self.piece_end.get(k)))
                .flatten();
            if let Some((&id, &piece_end)) = piece {
                self.next_piece += 1;
                let (start, end) = if piece_end == u16::MAX {
                    (self.word.start, self.word.end)
                } else {
                    let a = k
                        .checked_sub(1)
                        .and_then(|j| self.piece_end.get(j))
                        .map_or(0, |&e| e as usize);
                    self.word.span(a, piece_end as usize)
                };
                return Some(Piece {
                    id,
                    start,
                    end,
                    word: self.word_index - 1,
                });
            }
            if self.done || !self.fill_word() {
                self.done = true;
                self.n_pieces = 0;
                return None;
            }
            self.word_index += 1;
            self.wordpiece();
        }
    }
}

impl<'a> Tokenizer<'a> {
    /// Calls `f` with the text and input span of every word of `text` after basic tokenization
    /// (cleaned, normalised, split on whitespace and punctuation), before WordPiece. Special
    /// tokens and words longer than [`MAX_WORD_CHARS`] are skipped. Vocabulary training uses it
    /// so that its words are exactly what this tokenizer will split.
    pub fn for_each_word(
        &self,
        text: &str,
        mut f: impl FnMut(&str, (u32, u32)),
    ) -> Result<(), TokenizeError> {
        let mut it = self.pieces(text)?;
        while it.fill_word() {
            let w = &it.word;
            if w.special.is_some() || w.total > w.stored {
                continue;
            }
            if let Ok(s) = core::str::from_utf8(&w.text[..w.text_len]) {
                f(s, (w.start, w.end));
            }
        }
        Ok(())
    }
}
