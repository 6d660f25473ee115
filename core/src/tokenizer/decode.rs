//! Ids back to text, as transformers' `BertTokenizer.decode`: tokens joined by spaces, `" ##"`
//! removed, trimmed, then (optionally) its `clean_up_tokenization` of spaces before punctuation
//! and English contractions.

use super::{TokenizeError, Tokenizer};

/// `clean_up_tokenization`'s replacements, applied one after the other as `str.replace`.
const CLEAN_UP: [(&str, &str); 10] = [
    (" .", "."),
    (" ?", "?"),
    (" !", "!"),
    (" ,", ","),
    (" ' ", "'"),
    (" n't", "n't"),
    (" 'm", "'m"),
    (" 's", "'s"),
    (" 've", "'ve"),
    (" 're", "'re"),
];

/// `s.replace(from, to)` in place on `buf[..len]` for `to` no longer than `from`; new length.
fn replace_in_place(buf: &mut [u8], len: usize, from: &[u8], to: &[u8]) -> usize {
    let mut r = 0;
    let mut w = 0;
    while r < len {
        if buf[r..len].starts_with(from) {
            buf[w..w + to.len()].copy_from_slice(to);
            w += to.len();
            r += from.len();
        } else {
            buf[w] = buf[r];
            w += 1;
            r += 1;
        }
    }
    w
}

impl<'a> Tokenizer<'a> {
    /// Writes the text of `ids` into `out` and returns it. `skip_special` leaves out the
    /// configured special tokens; `clean_up` applies transformers' `clean_up_tokenization`
    /// (its default for BERT). Ids outside the vocabulary are `OutOfRange`.
    pub fn decode<'o>(
        &self,
        ids: &[u32],
        skip_special: bool,
        clean_up: bool,
        out: &'o mut [u8],
    ) -> Result<&'o str, TokenizeError> {
        let c = &self.config;
        let specials = [c.cls_id, c.sep_id, c.pad_id, c.unk_id, c.mask_id];
        let mut len = 0;
        let mut first = true;
        for &id in ids {
            let token = self.vocab.token(id).ok_or(TokenizeError::OutOfRange)?;
            if skip_special && specials.contains(&id) {
                continue;
            }
            let sep = if first { 0 } else { 1 };
            let needed = len + sep + token.len();
            let given = out.len();
            let dst = out
                .get_mut(len..needed)
                .ok_or(TokenizeError::BufferTooSmall { needed, given })?;
            if sep == 1 {
                dst[0] = b' ';
            }
            dst[sep..].copy_from_slice(token.as_bytes());
            len = needed;
            first = false;
        }
        len = replace_in_place(out, len, b" ##", b"");
        // Python's `str.strip()` trims Unicode whitespace; tokens come from the vocabulary.
        let text = core::str::from_utf8(&out[..len]).map_err(|_| TokenizeError::OutOfRange)?;
        let trimmed = text.trim();
        let (start, tlen) = (
            trimmed.as_ptr() as usize - text.as_ptr() as usize,
            trimmed.len(),
        );
        out.copy_within(start..start + tlen, 0);
        len = tlen;
        if clean_up {
            for (from, to) in CLEAN_UP {
                len = replace_in_place(out, len, from.as_bytes(), to.as_bytes());
            }
        }
        core::str::from_utf8(&out[..len]).map_err(|_| TokenizeError::OutOfRange)
    }
}
