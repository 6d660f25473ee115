use core::fmt;

/// Why the tokenizer refused a request. It never panics: every failure is one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenizeError {
    /// An output buffer is shorter than the result.
    BufferTooSmall {
        /// Entries the result needs.
        needed: usize,
        /// Entries the buffer holds.
        given: usize,
    },
    /// The operation needs a special token the configuration does not name (or names outside
    /// the vocabulary); names the token.
    MissingToken(&'static str),
    /// The configured `max_input_chars_per_word` is above [`super::MAX_WORD_CHARS`].
    WordLimit(usize),
    /// The text is 4 GiB or longer; spans are `u32`.
    TextTooLong,
    /// A maximum length that cannot even hold the special tokens.
    MaxLenTooSmall {
        /// The maximum length asked for.
        max_len: usize,
        /// The smallest usable maximum length.
        min: usize,
    },
    /// Output buffers of different lengths.
    LengthMismatch,
    /// A sliding-window stride of zero.
    ZeroStride,
    /// A window index or a piece range outside the document.
    OutOfRange,
}

impl fmt::Display for TokenizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenizeError::BufferTooSmall { needed, given } => {
                write!(f, "output buffer holds {given} entries; {needed} needed")
            }
            TokenizeError::MissingToken(t) => write!(f, "the vocabulary has no {t} token"),
            TokenizeError::WordLimit(n) => write!(
                f,
                "max_input_chars_per_word is {n}; at most {} is supported",
                super::MAX_WORD_CHARS
            ),
            TokenizeError::TextTooLong => f.write_str("text is 4 GiB or longer"),
            TokenizeError::MaxLenTooSmall { max_len, min } => {
                write!(f, "max length {max_len} is below the minimum {min}")
            }
            TokenizeError::LengthMismatch => f.write_str("output buffers differ in length"),
            TokenizeError::ZeroStride => f.write_str("window stride must be at least 1"),
            TokenizeError::OutOfRange => f.write_str("window or piece range outside the document"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TokenizeError {}
