//! Hugging Face directory (config.json, model.safetensors, vocab.txt, tokenizer_config.json) ->
//! [`BlobModel`]. Accepts BertModel, BertForPreTraining, BertForMaskedLM,
//! BertForSequenceClassification and BertForTokenClassification, with or without `bert.`.

use crate::blob::{BlobModel, HeadSpec, Tensor, TensorData};
use crate::hf::{read_vocab, HfConfig, HfTokenizerConfig};
use picobert::{HeadKind, Role, TokenizerConfig, TokenizerMode, NO_TOKEN};
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeMap;
use std::path::Path;

/// Which task a `classifier.*` head belongs to, when `architectures` does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassifierTask {
    Sequence,
    Token,
}

/// Buffers transformers saves that are not parameters.
const IGNORED: [&str; 2] = ["embeddings.position_ids", "embeddings.token_type_ids"];

/// Tensors by transformers name (no `bert.` prefix): shape and f32 values.
pub type NamedTensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Reads every tensor of a safetensors file as f32, with `bert.` stripped from the names.
pub fn read_safetensors(path: &Path) -> Result<NamedTensors, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| format!("{}: not a safetensors file: {e}", path.display()))?;
    crate::weights_file::verify(&bytes, &path.display().to_string())?;
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        let data = view.data();
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => data
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::BF16 => data
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::I64 | Dtype::I32 if IGNORED.iter().any(|i| name.ends_with(i)) => continue,
            other => {
                return Err(format!(
                    "{}: tensor {name} has dtype {other:?}; expected F32, F16 or BF16",
                    path.display()
                ))
            }
        };
        let key = name.strip_prefix("bert.").unwrap_or(&name).to_string();
        out.insert(key, (view.shape().to_vec(), values));
    }
    Ok(out)
}

/// Tokenizer settings from `tokenizer_config.json` and the vocabulary, with `BertTokenizer`'s
/// defaults for what the file leaves out.
pub fn tokenizer_config(tc: &HfTokenizerConfig, vocab: &[String]) -> TokenizerConfig {
    let id = |t: &str| {
        vocab
            .iter()
            .rposition(|v| v == t)
            .map_or(NO_TOKEN, |i| i as u32)
    };
    let lower = tc.do_lower_case.unwrap_or(true);
    TokenizerConfig {
        do_lower_case: lower,
        strip_accents: tc.strip_accents.unwrap_or(lower),
        tokenize_chinese_chars: tc.tokenize_chinese_chars.unwrap_or(true),
        mode: TokenizerMode::HuggingFace,
        max_input_chars_per_word: 100,
        cls_id: id("[CLS]"),
        sep_id: id("[SEP]"),
        pad_id: id("[PAD]"),
        unk_id: id("[UNK]"),
        mask_id: id("[MASK]"),
    }
}

/// Builds the blob model from named f32 tensors (transformers names, no `bert.` prefix).
pub fn blob_model_from_tensors(
    cfg: &HfConfig,
    mut named: NamedTensors,
    vocab: Vec<String>,
    tokenizer: TokenizerConfig,
    task: Option<ClassifierTask>,
) -> Result<BlobModel, String> {
    cfg.check()?;
    let mut tensors = Vec::new();
    fn take(
        tensors: &mut Vec<Tensor>,
        role: Role,
        layer: usize,
        named: &mut NamedTensors,
    ) -> Option<()> {
        let name = role.hf_name().replace("{}", &layer.to_string());
        let (shape, data) = named.remove(&name)?;
        tensors.push(Tensor {
            role,
            layer,
            shape,
            data: TensorData::F32(data),
        });
        Some(())
    }
    for role in Role::ALL.iter().filter(|r| (1..=5).contains(&(**r as u16))) {
        take(&mut tensors, *role, 0, &mut named)
            .ok_or(format!("missing tensor {}", role.hf_name()))?;
    }
    for layer in 0..cfg.num_hidden_layers {
        for role in Role::ALL.iter().filter(|r| r.is_per_layer()) {
            take(&mut tensors, *role, layer, &mut named).ok_or_else(|| {
                format!(
                    "missing tensor {}",
                    role.hf_name().replace("{}", &layer.to_string())
                )
            })?;
        }
    }
    let pooler_w = take(&mut tensors, Role::PoolerWeight, 0, &mut named).is_some();
    let pooler_b = take(&mut tensors, Role::PoolerBias, 0, &mut named).is_some();
    if pooler_w != pooler_b {
        return Err("pooler.dense has a weight or a bias but not both".into());
    }

    let mut heads = Vec::new();
    if named.contains_key("cls.predictions.bias") {
        for role in [
            Role::MlmTransformWeight,
            Role::MlmTransformBias,
            Role::MlmLnWeight,
            Role::MlmLnBias,
            Role::MlmBias,
        ] {
            take(&mut tensors, role, 0, &mut named)
                .ok_or(format!("missing tensor {}", role.hf_name()))?;
        }
        // Tied decoders are either omitted or saved as a copy of the word embeddings.
        if let Some((shape, data)) = named.remove("cls.predictions.decoder.weight") {
            let word = tensors.iter().find(|t| t.role == Role::WordEmb);
            if word.is_none_or(|w| w.data != TensorData::F32(data.clone())) {
                tensors.push(Tensor {
                    role: Role::MlmDecoderWeight,
                    layer: 0,
                    shape,
                    data: TensorData::F32(data),
                });
            }
        }
        named.remove("cls.predictions.decoder.bias");
        heads.push(HeadSpec {
            kind: HeadKind::MaskedLm,
            num_labels: cfg.vocab_size,
            labels: vec![],
        });
    }
    if named.contains_key("cls.seq_relationship.weight") {
        take(&mut tensors, Role::NspWeight, 0, &mut named).ok_or("missing NSP weight")?;
        take(&mut tensors, Role::NspBias, 0, &mut named)
            .ok_or("missing cls.seq_relationship.bias")?;
        heads.push(HeadSpec {
            kind: HeadKind::NextSentence,
            num_labels: 2,
            labels: vec![],
        });
    }
    if let Some((shape, _)) = named.get("classifier.weight") {
        let n = shape.first().copied().unwrap_or(0);
        let arch = cfg.architectures.as_deref().unwrap_or(&[]);
        let task = task
            .or_else(|| {
                arch.iter().find_map(|a| match a.as_str() {
                    "BertForSequenceClassification" => Some(ClassifierTask::Sequence),
                    "BertForTokenClassification" => Some(ClassifierTask::Token),
                    _ => None,
                })
            })
            .ok_or("checkpoint has classifier.weight but config.json's architectures names neither BertForSequenceClassification nor BertForTokenClassification; pass --task sequence|token")?;
        let (kind, w, b) = match task {
            ClassifierTask::Token => (
                HeadKind::TokenClassification,
                Role::TokClsWeight,
                Role::TokClsBias,
            ),
            ClassifierTask::Sequence => {
                let kind = match cfg.problem_type.as_deref() {
                    Some("multi_label_classification") => HeadKind::MultiLabelClassification,
                    Some("regression") => HeadKind::Regression,
                    None | Some("single_label_classification") if n == 1 => HeadKind::Regression,
                    None | Some("single_label_classification") => HeadKind::SequenceClassification,
                    Some(p) => return Err(format!("problem_type {p:?} is not supported")),
                };
                (kind, Role::SeqClsWeight, Role::SeqClsBias)
            }
        };
        for (role, name) in [(w, "classifier.weight"), (b, "classifier.bias")] {
            let (shape, data) = named.remove(name).ok_or(format!("missing {name}"))?;
            tensors.push(Tensor {
                role,
                layer: 0,
                shape,
                data: TensorData::F32(data),
            });
        }
        let labels = cfg
            .labels()
            .filter(|l| l.len() == n && kind != HeadKind::Regression)
            .unwrap_or_default();
        heads.push(HeadSpec {
            kind,
            num_labels: n,
            labels,
        });
    }
    if let Some(name) = named
        .keys()
        .find(|k| !IGNORED.iter().any(|i| k.ends_with(i)))
    {
        return Err(format!(
            "tensor {name} is not part of any supported BERT architecture (BertModel, BertForPreTraining, BertForMaskedLM, BertForSequenceClassification, BertForTokenClassification)"
        ));
    }
    for t in &tensors {
        let elems: usize = t.shape.iter().product();
        if elems != t.data.len() {
            return Err(format!(
                "tensor {:?} data length differs from its shape",
                t.role
            ));
        }
    }
    let mut vocab = vocab;
    if vocab.len() > cfg.vocab_size {
        return Err(format!(
            "vocab.txt has {} tokens but config.json's vocab_size is {}",
            vocab.len(),
            cfg.vocab_size
        ));
    }
    // Rows of the embedding without a vocab entry can never be produced by the tokenizer.
    vocab.resize(cfg.vocab_size, String::new());
    Ok(BlobModel {
        config: cfg.to_core(),
        tokenizer,
        vocab,
        tensors,
        heads,
    })
}

/// Reads a Hugging Face BERT directory.
pub fn import_hf_dir(dir: &Path, task: Option<ClassifierTask>) -> Result<BlobModel, String> {
    let cfg = HfConfig::load(&dir.join("config.json"))?;
    let vocab = read_vocab(&dir.join("vocab.txt"))?;
    let tc = HfTokenizerConfig::load_or_default(&dir.join("tokenizer_config.json"))?;
    let tokenizer = tokenizer_config(&tc, &vocab);
    let st = dir.join("model.safetensors");
    if !st.exists() {
        return Err(format!(
            "{}: no model.safetensors (pytorch_model.bin is not read; convert with transformers' save_pretrained(safe_serialization=True))",
            dir.display()
        ));
    }
    let named = read_safetensors(&st)?;
    blob_model_from_tensors(&cfg, named, vocab, tokenizer, task)
}
