//! Import of Hugging Face directories: architectures without some heads, and clear refusals of
//! what picobert does not implement.

use picobert::{HeadKind, Model};
use picobert_e2e::fixture;
use picobert_trainer::blob::AlignedBytes;
use picobert_trainer::cmd_forward::{run_batch, Batch};
use picobert_trainer::import::import_hf_dir;
use safetensors::tensor::TensorView;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn scratch_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("picobert-import-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn edit_config(dir: &Path, f: impl FnOnce(&mut serde_json::Map<String, Value>)) {
    let p = dir.join("config.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    f(v.as_object_mut().unwrap());
    std::fs::write(p, serde_json::to_string(&v).unwrap()).unwrap();
}

/// BertForMaskedLM: the BertForPreTraining fixture without the pooler and the NSP head, under
/// `bert.`-less names. Its MLM logits must still equal transformers'.
#[test]
fn masked_lm_layout_imports_and_matches() {
    let src = fixture("tiny/pretraining");
    let dir = scratch_dir("mlm");
    copy_dir(&src, &dir);
    let bytes = std::fs::read(src.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let kept: Vec<(String, TensorView)> = st
        .tensors()
        .into_iter()
        .filter(|(n, _)| !n.contains("pooler") && !n.contains("seq_relationship"))
        .map(|(n, t)| (n.strip_prefix("bert.").unwrap_or(&n).to_string(), t))
        .collect();
    safetensors::serialize_to_file(kept, None, &dir.join("model.safetensors")).unwrap();
    edit_config(&dir, |c| {
        c.insert(
            "architectures".into(),
            serde_json::json!(["BertForMaskedLM"]),
        );
    });
    let blob = import_hf_dir(&dir, None).unwrap().to_bytes().unwrap();
    let blob = AlignedBytes::from_slice(&blob);
    let model = Model::load(&blob).unwrap();
    assert!(!model.has_pooler());
    assert!(model.head(HeadKind::MaskedLm).is_some());
    assert!(model.head(HeadKind::NextSentence).is_none());
    let batch: Batch =
        serde_json::from_str(&std::fs::read_to_string(src.join("inputs.json")).unwrap()).unwrap();
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("expected.json")).unwrap()).unwrap();
    let rows = run_batch(&model, &batch).unwrap();
    let mut worst = 0f64;
    for (b, row) in rows.iter().enumerate() {
        let ours = row.prediction_logits.as_ref().unwrap();
        let theirs: Vec<f64> = expected["prediction_logits"][b]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
            .collect();
        assert_eq!(ours.len(), theirs.len());
        for (x, y) in ours.iter().zip(&theirs) {
            worst = worst.max((*x as f64 - y).abs());
        }
    }
    assert!(worst < 1e-5, "prediction_logits off by {worst}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn refusal(edit: impl FnOnce(&mut serde_json::Map<String, Value>), field: &str) {
    let dir = scratch_dir(field);
    copy_dir(&fixture("tiny/seqcls"), &dir);
    edit_config(&dir, edit);
    let err = import_hf_dir(&dir, None).expect_err("import must refuse");
    assert!(err.contains(field), "error does not name {field}: {err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unsupported_configs_are_refused_by_name() {
    refusal(
        |c| drop(c.insert("hidden_act".into(), "gelu_new".into())),
        "hidden_act",
    );
    refusal(
        |c| drop(c.insert("position_embedding_type".into(), "relative_key".into())),
        "position_embedding_type",
    );
    refusal(
        |c| drop(c.insert("model_type".into(), "roberta".into())),
        "model_type",
    );
    refusal(
        |c| drop(c.insert("is_decoder".into(), true.into())),
        "is_decoder",
    );
    refusal(
        |c| drop(c.insert("num_attention_heads".into(), 5.into())),
        "num_attention_heads",
    );
    refusal(|c| drop(c.remove("hidden_size")), "hidden_size");
}

#[test]
fn classifier_without_architecture_needs_a_task() {
    let dir = scratch_dir("noarch");
    copy_dir(&fixture("tiny/tokcls"), &dir);
    edit_config(&dir, |c| drop(c.remove("architectures")));
    let err = import_hf_dir(&dir, None).err().unwrap();
    assert!(err.contains("--task"), "{err}");
    let m = import_hf_dir(&dir, Some(picobert_trainer::import::ClassifierTask::Token)).unwrap();
    assert!(m
        .heads
        .iter()
        .any(|h| h.kind == HeadKind::TokenClassification));
    assert_eq!(m.heads[0].labels, ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]);
    std::fs::remove_dir_all(&dir).unwrap();
}
