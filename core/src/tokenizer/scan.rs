//! First pass over the raw text: special tokens, cleaning (dropped characters, whitespace), CJK
//! isolation and the context of `str.lower()`'s final sigma. Yields events with byte spans into
//! the input; holds no buffer.

use super::unicode::{ascii_class, case, class, is_cjk, Case, Class};
use super::Tokenizer;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// A kept character and its byte span in the input.
    Char(char, u32, u32),
    /// Whitespace (or the padding around a CJK ideograph): ends the whitespace token.
    Break,
    /// A special token written in the text (`[MASK]`), never split.
    Special(u32, u32, u32),
    End,
}

#[derive(Clone)]
pub(crate) struct Scanner<'t, 'r, 'a> {
    tok: &'r Tokenizer<'a>,
    text: &'t str,
    pos: usize,
    /// The last character of this whitespace token that is not case-ignorable was cased.
    prev_cased: bool,
    /// A CJK ideograph waiting to be returned after its leading break, and then a break.
    cjk: Option<(char, u32, u32)>,
    break_next: bool,
}

impl<'t, 'r, 'a> Scanner<'t, 'r, 'a> {
    pub(crate) fn new(tok: &'r Tokenizer<'a>, text: &'t str) -> Self {
        Scanner {
            tok,
            text,
            pos: 0,
            prev_cased: false,
            cjk: None,
            break_next: false,
        }
    }

    /// True if the next character cannot compose with anything before it: a printable ASCII
    /// character, ASCII whitespace or the end. Lets NFC skip its buffer on ASCII text.
    pub(crate) fn next_is_plain_ascii(&self) -> bool {
        if self.cjk.is_some() || self.break_next {
            return true;
        }
        match self.text.as_bytes().get(self.pos) {
            None => true,
            Some(&b) => (0x20..0x7F).contains(&b) || b == b'\t' || b == b'\n' || b == b'\r',
        }
    }

    /// The ASCII fast path, for bytes that start no special token: a maximal run of ASCII
    /// letters and digits (class `Other`), or one ASCII space, control or punctuation
    /// character, as raw input bytes with the offset of the first and the class (the caller
    /// lowercases and drops controls). With `nfc`, a kept character is taken only if the byte
    /// after it cannot compose with it. Anything else is left to `next_event`.
    pub(crate) fn next_ascii(&mut self, nfc: bool) -> Option<(&'t [u8], u32, Class)> {
        if self.cjk.is_some() || self.break_next {
            return None;
        }
        let bytes = self.text.as_bytes();
        let pos = self.pos;
        let b = *bytes.get(pos)?;
        if !b.is_ascii() || self.tok.may_start_special(b) {
            return None;
        }
        let cls = ascii_class(b);
        let mut end = pos + 1;
        if cls == Class::Other {
            while let Some(&x) = bytes.get(end) {
                if !x.is_ascii_alphanumeric() || self.tok.may_start_special(x) {
                    break;
                }
                end += 1;
            }
        }
        if nfc && cls != Class::Space && cls != Class::Control {
            let plain = match bytes.get(end) {
                None => true,
                Some(&n) => (0x20..0x7F).contains(&n) || n == b'\t' || n == b'\n' || n == b'\r',
            };
            if !plain {
                // The last character may compose with what follows: leave it to `next_event`.
                end -= 1;
                if end == pos {
                    return None;
                }
            }
        }
        self.pos = end;
        match cls {
            Class::Control => {}
            Class::Space => self.prev_cased = false,
            _ => match bytes.get(end - 1).map(|&x| case(x as char)) {
                Some(Case::Cased) => self.prev_cased = true,
                Some(Case::None) => self.prev_cased = false,
                _ => {}
            },
        }
        Some((bytes.get(pos..end)?, pos as u32, cls))
    }

    fn char_at(&self, pos: usize) -> Option<char> {
        let b = *self.text.as_bytes().get(pos)?;
        if b < 0x80 {
            return Some(b as char);
        }
        self.text.get(pos..)?.chars().next()
    }

    /// Whether the character is removed by the cleaning step of the configured reference.
    fn dropped(&self, c: char, cls: Class) -> bool {
        match cls {
            Class::Control => true,
            Class::OtherC => self.tok.drops_other_c(),
            _ => c == '\u{FFFD}',
        }
    }

    pub(crate) fn next_event(&mut self) -> Event {
        if let Some((c, s, e)) = self.cjk.take() {
            self.break_next = true;
            return Event::Char(c, s, e);
        }
        if self.break_next {
            self.break_next = false;
            return Event::Break;
        }
        loop {
            let pos = self.pos;
            let Some(c) = self.char_at(pos) else {
                return Event::End;
            };
            if let Some((id, len)) = self.tok.special_at(self.text, pos) {
                self.pos = pos + len;
                self.prev_cased = false;
                return Event::Special(id, pos as u32, (pos + len) as u32);
            }
            let end = pos + c.len_utf8();
            self.pos = end;
            let cls = class(c);
            if self.dropped(c, cls) {
                continue;
            }
            if matches!(cls, Class::Space | Class::Separator) {
                self.prev_cased = false;
                return Event::Break;
            }
            if self.tok.config.tokenize_chinese_chars && is_cjk(c) {
                self.prev_cased = false;
                self.cjk = Some((c, pos as u32, end as u32));
                return Event::Break;
            }
            if !self.tok.config.do_lower_case {
                return Event::Char(c, pos as u32, end as u32);
            }
            let k = case(c);
            let out = if c == '\u{3A3}' && self.prev_cased && !self.cased_follows() {
                '\u{3C2}'
            } else {
                c
            };
            match k {
                Case::Cased => self.prev_cased = true,
                Case::None => self.prev_cased = false,
                Case::Ignorable => {}
            }
            return Event::Char(out, pos as u32, end as u32);
        }
    }

    /// Python's Final_Sigma look-ahead: after skipping case-ignorable characters, is the next
    /// character of the same whitespace token cased?
    fn cased_follows(&self) -> bool {
        let mut p = self.pos;
        while let Some(c) = self.char_at(p) {
            if self.tok.special_at(self.text, p).is_some() {
                return false;
            }
            p += c.len_utf8();
            let cls = class(c);
            if self.dropped(c, cls) {
                continue;
            }
            if matches!(cls, Class::Space | Class::Separator)
                || (self.tok.config.tokenize_chinese_chars && is_cjk(c))
            {
                return false;
            }
            match case(c) {
                Case::Cased => return true,
                Case::Ignorable => {}
                Case::None => return false,
            }
        }
        false
    }
}
