//! Vocabulary trimming for export: keep only the tokens a task's corpus uses.
//!
//! A 30,522-token word-embedding table is most of a small BERT (3.9 MB of int8 for H=128, against
//! ~0.4 MB for two encoder layers); a device that only ever sees one task's text needs the few
//! hundred tokens that text produces. Trimming keeps every token the core tokenizer emits for
//! the corpus plus the special tokens, in their original order, and renumbers them, so:
//! - every corpus text tokenizes to the same tokens (renumbered) and the model computes the same
//!   outputs bit for bit: WordPiece's greedy longest match only ever picks a kept token, and a
//!   word that was `[UNK]` before has no match in the smaller vocabulary either;
//! - an unseen word becomes `[UNK]` (or the kept pieces that still match), never an error.

use super::{AlignedBytes, BlobModel, TensorData};
use picobert::tokenizer::Tokenizer;
use picobert::{HeadKind, Role, Vocab, NO_TOKEN};
use std::collections::BTreeSet;

/// Tensors with one row (or element) per vocabulary entry.
fn per_token(role: Role) -> bool {
    matches!(role, Role::WordEmb | Role::MlmBias | Role::MlmDecoderWeight)
}

fn select_rows<T: Copy>(data: &[T], cols: usize, keep: &[usize]) -> Vec<T> {
    keep.iter()
        .flat_map(|&r| data[r * cols..(r + 1) * cols].iter().copied())
        .collect()
}

/// The ids the core tokenizer gives the texts of `corpus` with `model`'s vocabulary and
/// settings, plus the special tokens the tokenizer config names.
pub fn used_ids<'t>(
    model: &BlobModel,
    corpus: impl IntoIterator<Item = &'t str>,
) -> Result<BTreeSet<u32>, String> {
    let section = AlignedBytes::from_slice(&super::vocab_section(&model.vocab));
    let vocab = Vocab::from_bytes(&section).map_err(|e| format!("vocabulary: {e}"))?;
    let tok = Tokenizer::new(vocab, model.tokenizer).map_err(|e| format!("tokenizer: {e}"))?;
    let t = &model.tokenizer;
    let mut ids: BTreeSet<u32> = [t.cls_id, t.sep_id, t.pad_id, t.unk_id, t.mask_id]
        .into_iter()
        .filter(|&id| id != NO_TOKEN)
        .collect();
    for text in corpus {
        let pieces = tok
            .pieces(text)
            .map_err(|e| format!("cannot tokenize a corpus text: {e}"))?;
        ids.extend(pieces.map(|p| p.id));
    }
    Ok(ids)
}

/// `model` with its vocabulary cut to the tokens `corpus` uses (see the module docs). The
/// word embeddings and any masked-LM output rows are cut to match; the masked-LM head's label
/// count follows the new vocabulary size. Fails if the vocabulary cannot be tokenized with (no
/// `[UNK]`) or a per-token tensor does not have `vocab_size` rows.
pub fn trim_vocab<'t>(
    model: &BlobModel,
    corpus: impl IntoIterator<Item = &'t str>,
) -> Result<BlobModel, String> {
    let keep: Vec<usize> = used_ids(model, corpus)?
        .into_iter()
        .map(|id| id as usize)
        .collect();
    let v = model.config.vocab_size;
    if model.vocab.len() != v {
        return Err(format!(
            "vocabulary has {} tokens, config says {v}",
            model.vocab.len()
        ));
    }
    let mut new_id = vec![NO_TOKEN; v];
    for (new, &old) in keep.iter().enumerate() {
        new_id[old] = new as u32;
    }
    let remap = |id: u32| {
        if id == NO_TOKEN {
            NO_TOKEN
        } else {
            new_id[id as usize]
        }
    };

    let mut out = model.clone();
    out.vocab = keep.iter().map(|&i| model.vocab[i].clone()).collect();
    out.config.vocab_size = keep.len();
    let t = &mut out.tokenizer;
    (t.cls_id, t.sep_id, t.pad_id, t.unk_id, t.mask_id) = (
        remap(t.cls_id),
        remap(t.sep_id),
        remap(t.pad_id),
        remap(t.unk_id),
        remap(t.mask_id),
    );
    for tensor in out.tensors.iter_mut().filter(|t| per_token(t.role)) {
        if tensor.shape.first() != Some(&v) {
            return Err(format!(
                "{:?} has shape {:?}, not {v} rows",
                tensor.role, tensor.shape
            ));
        }
        let cols = tensor.shape.get(1).copied().unwrap_or(1);
        tensor.data = match &tensor.data {
            TensorData::F32(d) => TensorData::F32(select_rows(d, cols, &keep)),
            TensorData::F16(d) => TensorData::F16(select_rows(d, cols, &keep)),
            TensorData::I8 { q, scales } => TensorData::I8 {
                q: select_rows(q, cols, &keep),
                scales: keep.iter().map(|&r| scales[r]).collect(),
            },
        };
        tensor.shape[0] = keep.len();
    }
    for head in out
        .heads
        .iter_mut()
        .filter(|h| h.kind == HeadKind::MaskedLm)
    {
        head.num_labels = keep.len();
    }
    Ok(out)
}
