//! Checkpoints written by `picobert finetune` (tests/fixtures/finetune/{seqcls,tokcls}) load in
//! transformers' BertForSequenceClassification / BertForTokenClassification with no missing or
//! unexpected weight (tools/finetune_reference.py), and `picobert export` + the core reproduce
//! transformers' logits, token ids and label names from those same directories.

use picobert::{HeadKind, Input, Model};
use picobert_e2e::fixture;
use picobert_trainer::blob::quantize::WeightDtype;
use picobert_trainer::blob::AlignedBytes;
use picobert_trainer::cmd_export::export;
use picobert_trainer::finetune::deployed::tag_words;
use picobert_trainer::finetune::features::{encode_sentence, encode_words};
use serde_json::Value;

fn reference() -> Value {
    let text = std::fs::read_to_string(fixture("finetune/reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn blob(name: &str) -> AlignedBytes {
    let out = std::env::temp_dir().join(format!("picobert-ft-{name}-{}.pbrt", std::process::id()));
    export(
        &fixture(&format!("finetune/{name}")),
        &out,
        WeightDtype::F32,
    )
    .unwrap();
    let bytes = AlignedBytes::read(&out).unwrap();
    std::fs::remove_file(&out).unwrap();
    bytes
}

fn floats(v: &Value) -> Vec<f32> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<f32>) {
        match v {
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Number(n) => out.push(n.as_f64().unwrap() as f32),
            other => panic!("unexpected {other}"),
        }
    }
    walk(v, &mut out);
    out
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn labels(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

fn close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() < 1e-4,
            "{what}[{i}]: core {x} vs transformers {y}"
        );
    }
}

#[test]
fn sequence_checkpoint_matches_transformers() {
    let r = &reference()["seqcls"];
    assert_eq!(r["problem_type"], "single_label_classification");
    let bytes = blob("seqcls");
    let model = Model::load(&bytes).unwrap();
    let head = model.head(HeadKind::SequenceClassification).unwrap();
    let names: Vec<String> = head.labels.iter().map(String::from).collect();
    assert_eq!(names, labels(&r["id2label"]));
    let tok = model.tokenizer().unwrap();
    let mut scratch = Vec::new();
    let texts = r["texts"].as_array().unwrap();
    let all_logits = floats(&r["logits"]);
    for (i, t) in texts.iter().enumerate() {
        let f = encode_sentence(&tok, t.as_str().unwrap(), None, 64).unwrap();
        assert_eq!(f.ids, ids(&r["input_ids"][i]), "text {i}: token ids");
        scratch.resize(model.scratch_len(f.ids.len()), 0.0);
        let mut enc = model
            .forward(&Input::new(&f.ids).with_token_types(&f.types), &mut scratch)
            .unwrap();
        let mut l = vec![0f32; head.num_labels];
        enc.classifier_logits(&mut l).unwrap();
        close(&l, &all_logits[i * 2..i * 2 + 2], &format!("text {i}"));
    }
}

#[test]
fn token_checkpoint_matches_transformers() {
    let r = &reference()["tokcls"];
    let bytes = blob("tokcls");
    let model = Model::load(&bytes).unwrap();
    let head = model.head(HeadKind::TokenClassification).unwrap();
    let names: Vec<String> = head.labels.iter().map(String::from).collect();
    assert_eq!(names, labels(&r["id2label"]));
    let tok = model.tokenizer().unwrap();
    let mut scratch = Vec::new();
    for (i, s) in r["sentences"].as_array().unwrap().iter().enumerate() {
        let words = labels(&s["words"]);
        let w = encode_words(&tok, 0, &words, 64, 31).unwrap();
        assert_eq!(w.len(), 1, "one window at this length");
        assert_eq!(w[0].ids, ids(&s["input_ids"]), "sentence {i}: token ids");
        scratch.resize(model.scratch_len(w[0].ids.len()), 0.0);
        let enc = model
            .forward(
                &Input::new(&w[0].ids).with_token_types(&w[0].types),
                &mut scratch,
            )
            .unwrap();
        let mut l = vec![0f32; w[0].ids.len() * head.num_labels];
        enc.token_logits(&mut l).unwrap();
        let want = floats(&s["logits"]);
        close(&l, &want, &format!("sentence {i}"));
        // `predict`'s word tags are transformers' argmax on each word's first piece.
        let tags = tag_words(&model, &words, 64).unwrap();
        let nl = head.num_labels;
        let firsts: Vec<usize> = w[0]
            .first_of
            .iter()
            .enumerate()
            .filter_map(|(t, f)| f.map(|_| t))
            .collect();
        for (word, &t) in firsts.iter().enumerate() {
            let row = &want[t * nl..(t + 1) * nl];
            let best = (0..nl).fold(0, |b, k| if row[k] > row[b] { k } else { b });
            assert_eq!(tags[word], names[best], "sentence {i} word {word}");
        }
    }
}
