//! Text -> model inputs with the core's WordPiece tokenizer, the same code the deployed blob
//! runs: `[CLS] a [SEP] (b [SEP])` for sentences; for tagging, each word's pieces with the label
//! on its first piece, and sentences longer than the window cut into overlapping windows where
//! each word is predicted from the window giving it the most context.

use super::data::{Example, Tagged, Target};
use picobert::tokenizer::{Encoding, Piece, Tokenizer};

/// One encoded sentence (pair).
#[derive(Debug, Clone, PartialEq)]
pub struct SeqFeature {
    pub ids: Vec<u32>,
    pub types: Vec<u32>,
}

/// One window of a tagged sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct TagWindow {
    /// Index of the sentence it came from.
    pub sentence: usize,
    pub ids: Vec<u32>,
    pub types: Vec<u32>,
    /// Per token: the word whose first piece it is, if any.
    pub first_of: Vec<Option<usize>>,
    /// Per token: this window gives the token its most context (the prediction to keep).
    pub keep: Vec<bool>,
}

fn tok_err(e: picobert::tokenizer::TokenizeError) -> String {
    format!("tokenizer: {e}")
}

/// Encodes one sentence or pair, cut to `max_len` tokens.
pub fn encode_sentence(
    tok: &Tokenizer,
    text: &str,
    text_b: Option<&str>,
    max_len: usize,
) -> Result<SeqFeature, String> {
    let (mut ids, mut types) = (vec![0u32; max_len], vec![0u32; max_len]);
    let mut enc = Encoding::new(&mut ids, &mut types).map_err(tok_err)?;
    let n = match text_b {
        Some(b) => tok.encode_pair(text, b, Some(max_len), &mut enc),
        None => tok.encode(text, Some(max_len), &mut enc),
    }
    .map_err(tok_err)?;
    ids.truncate(n);
    types.truncate(n);
    Ok(SeqFeature { ids, types })
}

pub fn encode_examples(
    tok: &Tokenizer,
    examples: &[Example],
    max_len: usize,
) -> Result<Vec<SeqFeature>, String> {
    examples
        .iter()
        .map(|e| encode_sentence(tok, &e.text, e.text_b.as_deref(), max_len))
        .collect()
}

/// The pieces of each word, every word at least one piece (`[UNK]` for a word the basic
/// tokenizer drops entirely, such as a lone control character), so every word gets a tag.
fn word_pieces(tok: &Tokenizer, words: &[String]) -> Result<(Vec<Piece>, Vec<bool>), String> {
    let unk = tok.config().unk_id;
    let mut pieces = Vec::new();
    let mut first = Vec::new();
    for (wi, w) in words.iter().enumerate() {
        let start = pieces.len();
        for p in tok.pieces(w).map_err(tok_err)? {
            pieces.push(Piece {
                word: wi as u32,
                ..p
            });
        }
        if pieces.len() == start {
            pieces.push(Piece {
                id: unk,
                start: 0,
                end: 0,
                word: wi as u32,
            });
        }
        first.push(true);
        first.resize(pieces.len(), false);
    }
    Ok((pieces, first))
}

/// Windows of at most `max_len` tokens over one sentence of words, `stride` pieces apart.
pub fn encode_words(
    tok: &Tokenizer,
    sentence: usize,
    words: &[String],
    max_len: usize,
    stride: usize,
) -> Result<Vec<TagWindow>, String> {
    let (pieces, first) = word_pieces(tok, words)?;
    let windows = tok
        .windows(pieces.len(), None, max_len, stride)
        .map_err(tok_err)?;
    let (mut ids, mut types) = (vec![0u32; max_len], vec![0u32; max_len]);
    let mut keep = vec![false; max_len];
    let mut out = Vec::new();
    for w in windows {
        let mut enc = Encoding::new(&mut ids, &mut types).map_err(tok_err)?;
        let n = tok
            .encode_window(None, &pieces, &windows, w, &mut enc, Some(&mut keep))
            .map_err(tok_err)?;
        // Token i of the window is piece w.start + i - 1 (after [CLS]).
        let first_of = (0..n)
            .map(|i| {
                let k = (i >= 1 && i <= w.len).then(|| w.start + i - 1)?;
                first[k].then_some(pieces[k].word as usize)
            })
            .collect();
        out.push(TagWindow {
            sentence,
            ids: ids[..n].to_vec(),
            types: types[..n].to_vec(),
            first_of,
            keep: keep[..n].to_vec(),
        });
    }
    Ok(out)
}

pub fn encode_tagged(
    tok: &Tokenizer,
    sentences: &[Tagged],
    max_len: usize,
    stride: usize,
) -> Result<Vec<TagWindow>, String> {
    let mut out = Vec::new();
    for (i, s) in sentences.iter().enumerate() {
        out.extend(encode_words(tok, i, &s.words, max_len, stride)?);
    }
    Ok(out)
}

/// The default stride for tagging windows: half a window, so every word sits in some window
/// with at least a quarter window of context on each side.
pub fn default_stride(max_len: usize) -> usize {
    (max_len.saturating_sub(2) / 2).max(1)
}

/// Index of `name` in `labels`, or an error naming the file's unknown label.
pub fn label_id(labels: &[String], name: &str) -> Result<u32, String> {
    labels
        .iter()
        .position(|l| l == name)
        .map(|i| i as u32)
        .ok_or_else(|| format!("label {name:?} does not occur in the training data"))
}

/// Target of an example as the multi-hot / value row a head trains on.
pub fn target_row(t: &Target, labels: &[String], num_labels: usize) -> Result<Vec<f32>, String> {
    match t {
        Target::Classes(cs) => {
            let mut row = vec![0.0; num_labels];
            for c in cs {
                row[label_id(labels, c)? as usize] = 1.0;
            }
            Ok(row)
        }
        Target::Value(v) => Ok(vec![*v; num_labels]),
        Target::Class(c) => {
            let mut row = vec![0.0; num_labels];
            row[label_id(labels, c)? as usize] = 1.0;
            Ok(row)
        }
    }
}
