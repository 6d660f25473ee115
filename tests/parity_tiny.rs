//! Tiny random transformers models (BertForPreTraining, sequence, multi-label and token
//! classification; `tools/hf_reference.py`) through `picobert import` + `picobert forward`,
//! every head within 1e-5 of transformers.

use picobert_e2e::fixture;
use picobert_trainer::{cmd_forward, cmd_import};
use serde_json::Value;

fn flatten(v: &Value, out: &mut Vec<f64>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| flatten(x, out)),
        Value::Number(n) => out.push(n.as_f64().unwrap()),
        other => panic!("unexpected {other}"),
    }
}

fn shape(v: &Value) -> Vec<usize> {
    match v {
        Value::Array(a) => {
            let mut s = vec![a.len()];
            s.extend(a.first().map(shape).unwrap_or_default());
            s
        }
        _ => vec![],
    }
}

fn check(task: &str, expected_keys: &[&str]) {
    let dir = fixture(&format!("tiny/{task}"));
    let tmp = std::env::temp_dir().join(format!("picobert-parity-{task}-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let blob = tmp.join("model.pbrt");
    let out = tmp.join("out.json");
    cmd_import::run(cmd_import::Args {
        hf: dir.clone(),
        out: blob.clone(),
        task: None,
        dtype: Default::default(),
    })
    .unwrap();
    cmd_forward::run(cmd_forward::Args {
        model: blob,
        input: dir.join("inputs.json"),
        output: out.clone(),
    })
    .unwrap();
    let ours: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let theirs: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let ours_keys: Vec<&String> = ours.as_object().unwrap().keys().collect();
    for key in expected_keys {
        let (a, b) = (&ours[key], &theirs[key]);
        assert!(!b.is_null(), "{task}: fixture lacks {key}");
        assert_eq!(
            shape(a),
            shape(b),
            "{task}: shape of {key} (we output {ours_keys:?})"
        );
        let (mut x, mut y) = (vec![], vec![]);
        flatten(a, &mut x);
        flatten(b, &mut y);
        let err = x
            .iter()
            .zip(&y)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f64::max);
        assert!(err < 1e-5, "{task}: {key} off by {err}");
    }
    assert_eq!(
        ours_keys.len(),
        expected_keys.len(),
        "{task}: extra outputs {ours_keys:?}"
    );
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn pretraining_heads() {
    check(
        "pretraining",
        &[
            "last_hidden_state",
            "pooler_output",
            "prediction_logits",
            "seq_relationship_logits",
        ],
    );
}

#[test]
fn sequence_classification() {
    check("seqcls", &["last_hidden_state", "pooler_output", "logits"]);
}

#[test]
fn multi_label_classification() {
    check(
        "multilabel",
        &["last_hidden_state", "pooler_output", "logits"],
    );
}

#[test]
fn token_classification() {
    check("tokcls", &["last_hidden_state", "logits"]);
}
