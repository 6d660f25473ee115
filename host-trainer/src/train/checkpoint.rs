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
    let tensors = crate::import::read_safetensors(path)?;
    let index = ParamIndex::new(&dims);
    let mut params = vec![0.0f32; index.total];
    for t in &index.tensors {
        // read_safetensors strips the `bert.` prefix.
        let key = t.name.strip_prefix("bert.").unwrap_or(&t.name);
        let (shape, data) = tensors
            .get(key)
            .ok_or_else(|| format!("{}: missing tensor {}", path.display(), t.name))?;
        if shape != &t.shape {
            return Err(format!(
                "{}: tensor {} has shape {shape:?}; the config needs {:?}",
                path.display(),
                t.name,
                t.shape
            ));
        }
        params[t.range.clone()].copy_from_slice(data);
    }
    Ok(Model::from_params(dims, params))
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
