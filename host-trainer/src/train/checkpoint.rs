//! Model checkpoints as Hugging Face directories (config.json, model.safetensors with
//! `BertForPreTraining` names, vocab.txt).

use super::model::Model;
use super::params::{Dims, ParamIndex};
use crate::fsutil::write_atomic;
use crate::hf::HfConfig;
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use std::path::Path;

/// Reads a `BertForPreTraining` `model.safetensors` into a model of size `dims`. Every tensor must
/// be present with its exact shape (F32, F16 or BF16); the tied decoder weight may be absent.
pub fn load_weights(path: &Path, dims: Dims) -> Result<Model, String> {
    let index = ParamIndex::new(&dims);
    let mut model = Model::from_params(dims, vec![0.0; index.total]);
    match overlay_weights(path, &mut model)?.first() {
        Some(name) => Err(format!("{}: missing tensor {name}", path.display())),
        None => Ok(model),
    }
}

/// Copies the tensors of `model.safetensors` at `path` over `model`'s parameters and returns the
/// names of those it lacks, which keep their values: how a `BertModel` checkpoint (no MLM/NSP
/// heads, e.g. all-MiniLM-L6-v2) starts a pretraining run. A tensor of another shape is an
/// error, not a skip: it means the config does not describe these weights.
pub fn overlay_weights(path: &Path, model: &mut Model) -> Result<Vec<String>, String> {
    let tensors = crate::import::read_safetensors(path)?;
    let mut missing = Vec::new();
    for t in &model.index.tensors {
        // read_safetensors strips the `bert.` prefix.
        let key = t.name.strip_prefix("bert.").unwrap_or(&t.name);
        let Some((shape, data)) = tensors.get(key) else {
            missing.push(t.name.clone());
            continue;
        };
        if shape != &t.shape {
            return Err(format!(
                "{}: tensor {} has shape {shape:?}; the config needs {:?}",
                path.display(),
                t.name,
                t.shape
            ));
        }
        model.params[t.range.clone()].copy_from_slice(data);
    }
    Ok(missing)
}

/// `model.safetensors` bytes with transformers' names (the tied decoder weight left out, as
/// `save_pretrained` does) and the checksum of [`crate::weights_file`].
pub fn weights_bytes(model: &Model) -> Result<Vec<u8>, String> {
    let views: Vec<(String, TensorView)> = model
        .index
        .tensors
        .iter()
        .map(|t| {
            let bytes: &[u8] = bytemuck::cast_slice(&model.params[t.range.clone()]);
            TensorView::new(Dtype::F32, t.shape.clone(), bytes)
                .map(|v| (t.name.clone(), v))
                .map_err(|e| format!("tensor {}: {e}", t.name))
        })
        .collect::<Result<_, _>>()?;
    crate::weights_file::serialize(views)
}

/// Writes config.json, model.safetensors and vocab.txt into `dir` (created if needed), each
/// file atomically.
pub fn save_hf_dir(
    dir: &Path,
    model: &Model,
    cfg: &HfConfig,
    vocab: &[String],
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut cfg = cfg.clone();
    cfg.architectures = Some(vec!["BertForPreTraining".into()]);
    cfg.extra
        .insert("tie_word_embeddings".into(), serde_json::Value::Bool(true));
    let json = serde_json::to_string_pretty(&cfg).map_err(|e| format!("config.json: {e}"))?;
    write_atomic(&dir.join("config.json"), json.as_bytes())?;
    write_atomic(&dir.join("model.safetensors"), &weights_bytes(model)?)?;
    let mut text = vocab.join("\n");
    text.push('\n');
    write_atomic(&dir.join("vocab.txt"), text.as_bytes())
}

/// Loads config.json + model.safetensors of a Hugging Face directory.
pub fn load_hf_dir(dir: &Path) -> Result<(HfConfig, Model), String> {
    let cfg = HfConfig::load(&dir.join("config.json"))?;
    let dims = Dims::from_config(&cfg)?;
    let model = load_weights(&dir.join("model.safetensors"), dims)?;
    Ok((cfg, model))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dims(hidden: usize) -> Dims {
        Dims::from_config(&HfConfig::new(50, hidden, 1, 2, 2 * hidden, 16)).unwrap()
    }

    #[test]
    fn overlay_copies_what_the_file_has_and_names_the_rest() {
        let dir = std::env::temp_dir().join(format!("picobert-overlay-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let saved = Model::init(dims(8), 1);
        // A `BertModel`-like file: the encoder without the pretraining heads.
        let views: Vec<(String, TensorView)> = saved
            .index
            .tensors
            .iter()
            .filter(|t| !t.name.starts_with("cls."))
            .map(|t| {
                let bytes: &[u8] = bytemuck::cast_slice(&saved.params[t.range.clone()]);
                (
                    t.name.clone(),
                    TensorView::new(Dtype::F32, t.shape.clone(), bytes).unwrap(),
                )
            })
            .collect();
        let path = dir.join("model.safetensors");
        std::fs::write(&path, crate::weights_file::serialize(views).unwrap()).unwrap();

        let mut model = Model::init(dims(8), 2);
        let before = model.params.clone();
        let missing = overlay_weights(&path, &mut model).unwrap();
        assert!(!missing.is_empty());
        for t in &model.index.tensors {
            let (got, want) = if missing.contains(&t.name) {
                assert!(t.name.starts_with("cls."), "{}", t.name);
                (&model.params[t.range.clone()], &before[t.range.clone()])
            } else {
                (
                    &model.params[t.range.clone()],
                    &saved.params[t.range.clone()],
                )
            };
            assert_eq!(got, want, "{}", t.name);
        }
        let err = load_weights(&path, dims(8)).err().unwrap();
        assert!(err.contains("missing tensor cls."), "{err}");
        let err = overlay_weights(&path, &mut Model::init(dims(4), 2)).unwrap_err();
        assert!(err.contains("has shape"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
