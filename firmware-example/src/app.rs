//! What the firmware computes and prints, shared by the device build and the host build that
//! produces the expected output: the same sentences, the same calls into the core, the same
//! text, so `run-qemu.sh` can compare the two line by line.

use core::fmt::{self, Write};
use picobert::tokenizer::{Encoding, TokenizeError, Tokenizer};
use picobert::{HeadKind, Input, LoadError, Model, RunError};

/// Longest input in tokens; the scratch buffer is sized for it.
pub const SEQ_LEN: usize = 64;

/// The texts classified on the device. The last is longer than [`SEQ_LEN`] tokens, so one
/// inference runs at the full length the budgets are stated for.
pub const SENTENCES: [&str; 6] = [
    "What a wonderful little film, I loved every minute of it.",
    "The plot was dull and the acting was even worse.",
    "An honest, moving story about a family that refuses to give up.",
    "I want my money back; two hours of my life wasted.",
    "Not bad at all!",
    "The director takes a simple premise and turns it into something rich and strange: the \
     first hour is slow, almost tedious, as the characters drift between the harbour and the \
     old hotel, but the second half gathers real force, and by the final scene, when the storm \
     finally breaks over the town, I was surprised by how much I cared about all of them.",
];

/// Why the example stopped.
#[derive(Debug)]
pub enum AppError {
    /// The embedded blob did not load.
    Load(LoadError),
    /// A sentence could not be tokenized.
    Tokenize(TokenizeError),
    /// The forward pass or the head failed.
    Run(RunError),
    /// The blob has no sequence-classification head.
    NoClassifier,
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            AppError::Load(e) => write!(f, "model: {e}"),
            AppError::Tokenize(e) => write!(f, "tokenizer: {e}"),
            AppError::Run(e) => write!(f, "inference: {e}"),
            AppError::NoClassifier => f.write_str("the model has no sequence-classification head"),
        }
    }
}

/// Most labels a classifier may have here (the logits live on the stack).
pub const MAX_LABELS: usize = 8;

/// The model with its tokenizer and classifier size, checked once.
pub struct Classifier<'a> {
    pub model: Model<'a>,
    pub tokenizer: Tokenizer<'a>,
    pub num_labels: usize,
}

impl<'a> Classifier<'a> {
    pub fn new(blob: &'a [u8]) -> Result<Self, AppError> {
        let model = Model::load(blob).map_err(AppError::Load)?;
        let tokenizer = model.tokenizer().map_err(AppError::Tokenize)?;
        let num_labels = model
            .head(HeadKind::SequenceClassification)
            .map(|h| h.num_labels)
            .filter(|&n| n <= MAX_LABELS)
            .ok_or(AppError::NoClassifier)?;
        Ok(Classifier {
            model,
            tokenizer,
            num_labels,
        })
    }

    /// `[CLS] text [SEP]`, cut to [`SEQ_LEN`], into `ids`/`types`; returns the token count.
    pub fn encode(
        &self,
        text: &str,
        ids: &mut [u32; SEQ_LEN],
        types: &mut [u32; SEQ_LEN],
    ) -> Result<usize, AppError> {
        let mut enc = Encoding::new(ids, types).map_err(AppError::Tokenize)?;
        self.tokenizer
            .encode(text, Some(SEQ_LEN), &mut enc)
            .map_err(AppError::Tokenize)
    }

    /// Encoder (the core's compact memory plan) + pooler + classifier on `ids`; the logits go
    /// to `logits[..num_labels]`.
    pub fn classify(
        &self,
        ids: &[u32],
        scratch: &mut [f32],
        logits: &mut [f32; MAX_LABELS],
    ) -> Result<(), AppError> {
        let mut out = self
            .model
            .forward_compact(&Input::new(ids), scratch)
            .map_err(AppError::Run)?;
        out.classifier_logits(&mut logits[..self.num_labels])
            .map_err(AppError::Run)
    }

    /// The line `run-qemu.sh` compares: label, logits in decimal and their exact bits.
    pub fn write_result(
        &self,
        w: &mut impl Write,
        index: usize,
        tokens: usize,
        logits: &[f32],
    ) -> fmt::Result {
        let best = (0..logits.len()).fold(0, |b, i| if logits[i] > logits[b] { i } else { b });
        let head = self.model.head(HeadKind::SequenceClassification);
        write!(w, "sentence {index}: tokens={tokens} label=")?;
        match head.and_then(|h| h.labels.get(best)) {
            Some(name) => w.write_str(name)?,
            None => write!(w, "{best}")?,
        }
        w.write_str(" logits=")?;
        for (i, l) in logits.iter().enumerate() {
            write!(w, "{}{l}", if i == 0 { "" } else { "," })?;
        }
        w.write_str(" bits=")?;
        for (i, l) in logits.iter().enumerate() {
            write!(w, "{}{:08x}", if i == 0 { "" } else { "," }, l.to_bits())?;
        }
        w.write_str("\n")
    }
}
