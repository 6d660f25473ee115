//! Where a fine-tuning run starts (any Hugging Face BERT directory, our pretraining checkpoints
//! included, or random weights of its shape) and what it writes: a Hugging Face
//! `BertForSequenceClassification` / `BertForTokenClassification` directory that transformers
//! loads and `picobert export` turns into a blob.

use super::model::TaskModel;
use crate::fsutil::write_atomic;
use crate::hf::{read_vocab, HfConfig, HfTokenizerConfig};
use crate::import::{import_hf_dir, tokenizer_config};
use crate::train::model::Model;
use crate::train::params::{Dims, ParamIndex};
use picobert::{HeadKind, TokenizerConfig};
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use std::collections::BTreeMap;
use std::path::Path;

/// The starting point of a run.
pub struct Init {
    pub hf: HfConfig,
    pub vocab: Vec<String>,
    pub tokenizer: TokenizerConfig,
    pub encoder: Model,
    /// Tensors that were not in the directory and start from transformers' initialisation.
    pub fresh: Vec<String>,
}

/// Loads the encoder of `dir` (config.json, vocab.txt, model.safetensors; any of the BERT
/// architectures the importer reads). With `scratch`, only the config and vocabulary are read
/// and the weights are random (seeded).
pub fn load_init(dir: &Path, scratch: bool, seed: u64) -> Result<Init, String> {
    let mut hf = HfConfig::load(&dir.join("config.json"))?;
    let vocab = read_vocab(&dir.join("vocab.txt"))?;
    let tc = HfTokenizerConfig::load_or_default(&dir.join("tokenizer_config.json"))?;
    let tokenizer = tokenizer_config(&tc, &vocab);
    // Task fields of an earlier fine-tune do not carry over.
    hf.id2label = None;
    hf.label2id = None;
    hf.problem_type = None;
    let dims = Dims::from_config(&hf)?;
    let mut encoder = Model::init(dims.clone(), seed);
    if scratch {
        return Ok(Init {
            hf,
            vocab,
            tokenizer,
            encoder,
            fresh: vec!["every tensor (--from-scratch)".into()],
        });
    }
    let blob = import_hf_dir(dir, Some(crate::import::ClassifierTask::Sequence))?;
    let mut named: BTreeMap<String, Vec<f32>> = BTreeMap::new();
    for t in blob.tensors {
        let cols = t.shape.get(1).copied().unwrap_or(1);
        let name = format!(
            "bert.{}",
            t.role.hf_name().replace("{}", &t.layer.to_string())
        );
        named.insert(name, t.data.to_f32(cols));
    }
    let mut fresh = Vec::new();
    let index = ParamIndex::new(&dims);
    for t in index.tensors.iter().filter(|t| t.name.starts_with("bert.")) {
        match named.get(&t.name) {
            Some(v) if v.len() == t.range.len() => {
                encoder.params[t.range.clone()].copy_from_slice(v);
            }
            Some(v) => {
                return Err(format!(
                    "{}: {} has {} values; the config needs {}",
                    dir.display(),
                    t.name,
                    v.len(),
                    t.range.len()
                ))
            }
            None => fresh.push(t.name.clone()),
        }
    }
    if fresh.iter().any(|n| !n.starts_with("bert.pooler.")) {
        return Err(format!(
            "{}: missing encoder tensors: {}",
            dir.display(),
            fresh.join(", ")
        ));
    }
    Ok(Init {
        hf,
        vocab,
        tokenizer,
        encoder,
        fresh,
    })
}

/// transformers' `problem_type` of a head.
pub fn problem_type(kind: HeadKind) -> Option<&'static str> {
    match kind {
        HeadKind::SequenceClassification => Some("single_label_classification"),
        HeadKind::MultiLabelClassification => Some("multi_label_classification"),
        HeadKind::Regression => Some("regression"),
        _ => None,
    }
}

/// Writes the task model as a transformers directory into `dir`: every file goes to a sibling
/// temporary directory first, which then replaces `dir`, so a crash never leaves a half-written
/// best checkpoint.
pub fn save(
    dir: &Path,
    model: &TaskModel,
    hf: &HfConfig,
    vocab: &[String],
    tokenizer: &TokenizerConfig,
    labels: &[String],
) -> Result<(), String> {
    let mut cfg = hf.clone();
    cfg.architectures = Some(vec![if model.is_token_task() {
        "BertForTokenClassification".into()
    } else {
        "BertForSequenceClassification".into()
    }]);
    let names: Vec<String> = if labels.is_empty() {
        (0..model.num_labels)
            .map(|i| format!("LABEL_{i}"))
            .collect()
    } else {
        labels.to_vec()
    };
    cfg.set_labels(&names);
    cfg.problem_type = problem_type(model.kind).map(String::from);
    let enc = model.encoder_tensors();
    let mut views: Vec<(String, TensorView)> = Vec::new();
    for t in &enc {
        let bytes: &[u8] = bytemuck::cast_slice(&model.encoder.params[t.range.clone()]);
        views.push((
            t.name.clone(),
            TensorView::new(Dtype::F32, t.shape.clone(), bytes).map_err(|e| e.to_string())?,
        ));
    }
    for t in &model.head_tensors {
        let bytes: &[u8] = bytemuck::cast_slice(&model.head[t.range.clone()]);
        views.push((
            t.name.clone(),
            TensorView::new(Dtype::F32, t.shape.clone(), bytes).map_err(|e| e.to_string())?,
        ));
    }
    let weights = crate::weights_file::serialize(views)?;

    let name = dir
        .file_name()
        .ok_or_else(|| format!("{}: not a directory name", dir.display()))?
        .to_string_lossy()
        .to_string();
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
    let parent = parent.unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let tmp = parent.join(format!(".{name}.tmp"));
    let old = parent.join(format!(".{name}.old"));
    for d in [&tmp, &old] {
        if d.exists() {
            std::fs::remove_dir_all(d).map_err(|e| format!("cannot clear {}: {e}", d.display()))?;
        }
    }
    std::fs::create_dir_all(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    let json = serde_json::to_string_pretty(&cfg).map_err(|e| format!("config.json: {e}"))?;
    write_atomic(&tmp.join("config.json"), json.as_bytes())?;
    write_atomic(&tmp.join("model.safetensors"), &weights)?;
    write_atomic(&tmp.join("vocab.txt"), (vocab.join("\n") + "\n").as_bytes())?;
    let tc = serde_json::json!({
        "do_lower_case": tokenizer.do_lower_case,
        "strip_accents": tokenizer.strip_accents,
        "tokenize_chinese_chars": tokenizer.tokenize_chinese_chars,
        "tokenizer_class": "BertTokenizer",
    });
    write_atomic(
        &tmp.join("tokenizer_config.json"),
        tc.to_string().as_bytes(),
    )?;
    if dir.exists() {
        std::fs::rename(dir, &old).map_err(|e| format!("cannot move {}: {e}", dir.display()))?;
    }
    std::fs::rename(&tmp, dir).map_err(|e| format!("cannot move into {}: {e}", dir.display()))?;
    if old.exists() {
        std::fs::remove_dir_all(&old)
            .map_err(|e| format!("cannot remove {}: {e}", old.display()))?;
    }
    Ok(())
}
