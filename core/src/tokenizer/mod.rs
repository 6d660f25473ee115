//! WordPiece tokenization, no heap: BERT's basic tokenizer (cleaning, CJK isolation, lowercasing,
//! accent stripping, punctuation splitting) and greedy longest-match-first WordPiece, with a byte
//! span and a word index for every token.
//!
//! Reproduces transformers' slow `BertTokenizer` (`TokenizerMode::HuggingFace`) or Google's
//! `tokenization.py` (`TokenizerMode::Google`) exactly, character properties included (tables
//! generated from Python's `unicodedata`); docs/TOKENIZER.md lists where they and transformers'
//! fast tokenizer differ, and tests/tokenizer_*.rs show each difference.
//!
//! ```no_run
//! # fn demo(model: &picobert::Model) -> Result<(), picobert::tokenizer::TokenizeError> {
//! use picobert::tokenizer::Encoding;
//! let tok = model.tokenizer()?;
//! let (mut ids, mut types) = ([0u32; 128], [0u32; 128]);
//! let mut enc = Encoding::new(&mut ids, &mut types)?;
//! tok.encode("Strawberries are red.", Some(128), &mut enc)?;
//! let input = enc.input(); // feed to Model::forward
//! # let _ = input; Ok(()) }
//! ```

mod decode;
mod encode;
mod error;
mod normalize;
mod pieces;
mod scan;
mod tables;
mod unicode;
mod window;

pub use encode::{Encoding, NO_WORD};
pub use error::TokenizeError;
pub use pieces::{Piece, Pieces};
pub use tables::UNICODE_VERSION;
pub use window::{Window, Windows};

use crate::{Model, TokenizerConfig, TokenizerMode, Vocab, NO_TOKEN};
use normalize::Mode;

/// Longest word (in characters, after normalisation) the tokenizer can split; a configured
/// `max_input_chars_per_word` above it is refused. Google's 200 is the largest in use.
pub const MAX_WORD_CHARS: usize = 200;

/// A tokenizer borrowing a vocabulary. Cheap to copy; every method takes caller buffers.
#[derive(Clone, Copy, Debug)]
pub struct Tokenizer<'a> {
    vocab: Vocab<'a>,
    config: TokenizerConfig,
    /// Special tokens recognised in the text (Hugging Face mode only): text and id.
    specials: [(&'a str, u32); 5],
    n_specials: usize,
    /// Longest vocabulary piece in bytes (without `##`): longer candidates are not looked up.
    max_piece_bytes: usize,
}

impl<'a> Tokenizer<'a> {
    /// A tokenizer for `vocab` with `config`. Fails if `[UNK]` is missing or the word limit is
    /// above [`MAX_WORD_CHARS`]. Scans the vocabulary once (for its longest piece).
    pub fn new(vocab: Vocab<'a>, config: TokenizerConfig) -> Result<Self, TokenizeError> {
        if vocab.token(config.unk_id).is_none() {
            return Err(TokenizeError::MissingToken("[UNK]"));
        }
        if config.max_input_chars_per_word > MAX_WORD_CHARS {
            return Err(TokenizeError::WordLimit(config.max_input_chars_per_word));
        }
        let mut specials = [("", 0); 5];
        let mut n_specials = 0;
        if config.mode == TokenizerMode::HuggingFace {
            // transformers' `all_special_tokens`, matched in the raw text before normalisation.
            for id in [
                config.unk_id,
                config.sep_id,
                config.pad_id,
                config.cls_id,
                config.mask_id,
            ] {
                if let Some(text) = vocab.token(id).filter(|t| !t.is_empty()) {
                    specials[n_specials] = (text, id);
                    n_specials += 1;
                }
            }
        }
        let mut max_piece_bytes = 0;
        for id in 0..vocab.len() as u32 {
            if let Some(t) = vocab.token(id) {
                let key = match t.strip_prefix("##") {
                    Some(rest) if !rest.is_empty() => rest,
                    _ => t,
                };
                max_piece_bytes = max_piece_bytes.max(key.len());
            }
        }
        Ok(Tokenizer {
            vocab,
            config,
            specials,
            n_specials,
            max_piece_bytes,
        })
    }

    /// The vocabulary.
    pub fn vocab(&self) -> &Vocab<'a> {
        &self.vocab
    }

    /// The configuration.
    pub fn config(&self) -> &TokenizerConfig {
        &self.config
    }

    /// The word pieces of `text` (no `[CLS]`/`[SEP]`), one at a time, without any buffer from
    /// the caller. Fails only for a text of 4 GiB or more (spans are `u32`).
    pub fn pieces<'t>(&self, text: &'t str) -> Result<Pieces<'t, '_, 'a>, TokenizeError> {
        if text.len() > u32::MAX as usize {
            return Err(TokenizeError::TextTooLong);
        }
        Ok(Pieces::new(self, text))
    }

    /// Writes the word pieces of `text` (no `[CLS]`/`[SEP]`) into `out` and returns how many.
    /// A too-small `out` is `BufferTooSmall` with the number needed.
    pub fn tokenize(&self, text: &str, out: &mut [Piece]) -> Result<usize, TokenizeError> {
        let mut n = 0;
        for p in self.pieces(text)? {
            if let Some(slot) = out.get_mut(n) {
                *slot = p;
            }
            n += 1;
        }
        if n > out.len() {
            return Err(TokenizeError::BufferTooSmall {
                needed: n,
                given: out.len(),
            });
        }
        Ok(n)
    }

    /// Number of word pieces of `text`.
    pub fn count(&self, text: &str) -> Result<usize, TokenizeError> {
        Ok(self.pieces(text)?.count())
    }

    fn normalizer_mode(&self) -> Mode {
        if self.config.strip_accents {
            Mode::Strip
        } else if self.config.mode == TokenizerMode::HuggingFace {
            Mode::Nfc
        } else {
            Mode::Plain
        }
    }

    /// Hugging Face removes every `C*` character; Google only Cc and Cf.
    fn drops_other_c(&self) -> bool {
        self.config.mode == TokenizerMode::HuggingFace
    }

    /// The special token written at byte `pos` of `text` (longest match), as (id, byte length).
    fn special_at(&self, text: &str, pos: usize) -> Option<(u32, usize)> {
        let rest = text.as_bytes().get(pos..)?;
        let first = *rest.first()?;
        let mut best: Option<(u32, usize)> = None;
        for &(s, id) in &self.specials[..self.n_specials] {
            let s = s.as_bytes();
            if s.first() == Some(&first)
                && rest.starts_with(s)
                && best.is_none_or(|(_, l)| s.len() > l)
            {
                best = Some((id, s.len()));
            }
        }
        best
    }

    fn special(&self, id: u32, name: &'static str) -> Result<u32, TokenizeError> {
        if id == NO_TOKEN || self.vocab.token(id).is_none() {
            return Err(TokenizeError::MissingToken(name));
        }
        Ok(id)
    }
}

impl<'a> Model<'a> {
    /// A tokenizer with this model's vocabulary and tokenizer settings.
    pub fn tokenizer(&self) -> Result<Tokenizer<'a>, TokenizeError> {
        Tokenizer::new(*self.vocab(), *self.tokenizer_config())
    }
}
