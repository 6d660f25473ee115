use core::fmt;

/// Why a blob was refused by [`crate::Model::load`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadError {
    /// The slice is shorter than the header or than the `file_len` the header declares.
    Truncated,
    /// The blob does not start with `b"PICOBERT"`.
    BadMagic,
    /// A format version this build does not read.
    UnsupportedVersion(u32),
    /// The blob does not start at a 4-byte aligned address.
    Misaligned,
    /// The blob is little-endian; this target is not.
    BigEndianTarget,
    /// The CRC-32 in the header does not match the contents.
    ChecksumMismatch {
        /// Value stored in the header.
        stored: u32,
        /// Value computed over the blob.
        computed: u32,
    },
    /// A header field is out of range; names the field.
    BadHeader(&'static str),
    /// A section is out of bounds, duplicated or malformed; names the section.
    BadSection(&'static str),
    /// A tensor entry is out of bounds, misaligned or of the wrong shape.
    BadTensor {
        /// Role code of the offending tensor.
        role: u16,
        /// Layer index of the offending tensor.
        layer: u16,
        /// What is wrong with it.
        what: &'static str,
    },
    /// A tensor the configuration requires is absent.
    MissingTensor {
        /// Role code of the missing tensor.
        role: u16,
        /// Layer index of the missing tensor.
        layer: u16,
    },
    /// The vocabulary section is malformed; says how.
    BadVocab(&'static str),
    /// A head entry is malformed; says how.
    BadHead(&'static str),
}

/// Why a forward pass or a head was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunError {
    /// Zero tokens were given.
    EmptyInput,
    /// More tokens than `max_position_embeddings`.
    TooLong {
        /// Tokens given.
        len: usize,
        /// The model's maximum.
        max: usize,
    },
    /// A token id is not below `vocab_size`.
    IdOutOfRange {
        /// Position in the input.
        position: usize,
        /// The offending id.
        id: u32,
    },
    /// A token type is not below `type_vocab_size`.
    TypeOutOfRange {
        /// Position in the input.
        position: usize,
        /// The offending token type.
        token_type: u32,
    },
    /// `token_type_ids` or `attention_mask` do not have as many entries as `input_ids`.
    LengthMismatch,
    /// The scratch buffer is smaller than [`crate::Model::scratch_len`].
    ScratchTooSmall {
        /// `f32` elements needed.
        needed: usize,
        /// `f32` elements given.
        given: usize,
    },
    /// An output buffer has the wrong length.
    OutputLength {
        /// Elements needed.
        needed: usize,
        /// Elements given.
        given: usize,
    },
    /// The blob has no such head.
    NoSuchHead,
    /// A position passed to a head is not below the sequence length.
    PositionOutOfRange,
}

/// Any picobert error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Loading a blob failed.
    Load(LoadError),
    /// Running the model failed.
    Run(RunError),
}

impl From<LoadError> for Error {
    fn from(e: LoadError) -> Self {
        Error::Load(e)
    }
}

impl From<RunError> for Error {
    fn from(e: RunError) -> Self {
        Error::Run(e)
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Truncated => f.write_str("blob is truncated"),
            LoadError::BadMagic => f.write_str("not a picobert blob (bad magic)"),
            LoadError::UnsupportedVersion(v) => write!(f, "unsupported blob format version {v}"),
            LoadError::Misaligned => f.write_str("blob must start at a 4-byte aligned address"),
            LoadError::BigEndianTarget => f.write_str("blobs are little-endian; target is not"),
            LoadError::ChecksumMismatch { stored, computed } => write!(
                f,
                "checksum mismatch: header says {stored:#010x}, contents give {computed:#010x}"
            ),
            LoadError::BadHeader(w) => write!(f, "bad header field `{w}`"),
            LoadError::BadSection(w) => write!(f, "bad section: {w}"),
            LoadError::BadTensor { role, layer, what } => {
                write!(f, "bad tensor (role {role}, layer {layer}): {what}")
            }
            LoadError::MissingTensor { role, layer } => {
                write!(f, "missing tensor (role {role}, layer {layer})")
            }
            LoadError::BadVocab(w) => write!(f, "bad vocabulary: {w}"),
            LoadError::BadHead(w) => write!(f, "bad head: {w}"),
        }
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::EmptyInput => f.write_str("empty input"),
            RunError::TooLong { len, max } => {
                write!(f, "input has {len} tokens; the model takes at most {max}")
            }
            RunError::IdOutOfRange { position, id } => {
                write!(
                    f,
                    "token id {id} at position {position} is outside the vocabulary"
                )
            }
            RunError::TypeOutOfRange {
                position,
                token_type,
            } => write!(
                f,
                "token type {token_type} at position {position} is outside the type vocabulary"
            ),
            RunError::LengthMismatch => {
                f.write_str("token_type_ids/attention_mask length differs from input_ids")
            }
            RunError::ScratchTooSmall { needed, given } => {
                write!(f, "scratch has {given} f32s; {needed} needed")
            }
            RunError::OutputLength { needed, given } => {
                write!(f, "output buffer has {given} elements; {needed} needed")
            }
            RunError::NoSuchHead => f.write_str("the model has no such head"),
            RunError::PositionOutOfRange => f.write_str("position outside the sequence"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Load(e) => e.fmt(f),
            Error::Run(e) => e.fmt(f),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for LoadError {}
#[cfg(feature = "std")]
impl std::error::Error for RunError {}
#[cfg(feature = "std")]
impl std::error::Error for Error {}
