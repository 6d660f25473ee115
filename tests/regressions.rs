//! Inputs the fuzzers (`fuzz/`) found or depend on, kept as ordinary tests so CI replays them
//! without a nightly toolchain.
//!
//! The fuzz targets load the seed blobs in `fuzz/corpus/blob_load/` at compile time; the first
//! test keeps those seeds equal to what the writer produces today (regenerate them with
//! `PICOBERT_BLESS=1 cargo test --test regressions`), so a format change cannot leave the fuzzers
//! exercising nothing but the loader's refusals.

use picobert::{HeadKind, Input, Model, Role};
use picobert_e2e::{random_model, repo_root, XorShift};
use picobert_trainer::blob::{AlignedBytes, BlobModel, TensorData};
use std::path::PathBuf;

/// Per-row symmetric int8 for every weight matrix but the position and token-type tables (which
/// `docs/FORMAT.md` keeps in float).
fn to_i8(model: &mut BlobModel) {
    let converted = |role| !matches!(role, Role::PosEmb | Role::TypeEmb);
    for t in model
        .tensors
        .iter_mut()
        .filter(|t| t.shape.len() == 2 && converted(t.role))
    {
        let cols = t.shape[1];
        let values = t.data.to_f32(cols);
        let mut q = Vec::with_capacity(values.len());
        let mut scales = Vec::new();
        for row in values.chunks(cols) {
            let amax = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            scales.push(amax / 127.0);
            q.extend(row.iter().map(|v| (v * 127.0 / amax).round() as i8));
        }
        t.data = TensorData::I8 { q, scales };
    }
}

/// The random model with the 256-token vocabulary of the tiny Hugging Face fixtures, so the
/// tokenizer fuzzer splits real word pieces.
fn with_fixture_vocab(mut model: BlobModel) -> BlobModel {
    let text = std::fs::read_to_string(picobert_e2e::fixture("tiny/seqcls/vocab.txt")).unwrap();
    let vocab: Vec<String> = text.lines().map(str::to_string).collect();
    let v = vocab.len();
    let h = model.config.hidden_size;
    let mut rng = XorShift(99);
    for t in model.tensors.iter_mut() {
        match t.role {
            Role::WordEmb => {
                t.shape = vec![v, h];
                t.data = TensorData::F32((0..v * h).map(|_| rng.f32() * 0.5).collect());
            }
            Role::MlmBias => {
                t.shape = vec![v];
                t.data = TensorData::F32((0..v).map(|_| rng.f32() * 0.5).collect());
            }
            _ => {}
        }
    }
    for head in model.heads.iter_mut() {
        if head.kind == HeadKind::MaskedLm {
            head.num_labels = v;
        }
    }
    model.config.vocab_size = v;
    model.tokenizer.cls_id = 2;
    model.vocab = vocab;
    model
}

/// The seed blobs, by file name: float and int8 weights, both task heads.
fn seed_blobs() -> Vec<(&'static str, Vec<u8>)> {
    let mut i8_tok = random_model(11, true);
    to_i8(&mut i8_tok);
    [
        ("f32-seqcls.blob", random_model(7, false)),
        ("i8-tokcls.blob", i8_tok),
        (
            "f32-vocab256.blob",
            with_fixture_vocab(random_model(13, false)),
        ),
    ]
    .into_iter()
    .map(|(name, m)| (name, m.to_bytes().unwrap()))
    .collect()
}

fn seed_dir() -> PathBuf {
    repo_root().join("fuzz/corpus/blob_load")
}

#[test]
fn fuzz_seed_blobs_are_current_and_load() {
    let bless = std::env::var_os("PICOBERT_BLESS").is_some();
    for (name, bytes) in seed_blobs() {
        let path = seed_dir().join(name);
        if bless {
            std::fs::create_dir_all(seed_dir()).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        }
        let committed = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (PICOBERT_BLESS=1 writes it)", path.display()));
        assert!(
            committed == bytes,
            "{} is stale: rerun with PICOBERT_BLESS=1",
            path.display()
        );
        let aligned = AlignedBytes::from_slice(&committed);
        let model = Model::load(&aligned).unwrap();
        let mut scratch = vec![0f32; model.scratch_len(4)];
        model
            .forward(&Input::new(&[2, 7, 8, 3]), &mut scratch)
            .unwrap();
    }
}
