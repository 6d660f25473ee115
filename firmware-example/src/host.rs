//! The host side of the firmware example: makes the model blob the firmware embeds. The lines
//! the firmware must reproduce come from `expect/` (the core without SIMD features: this
//! binary's core has `picobert-trainer`'s `simd-avx2`).

use crate::app::SENTENCES;
use clap::{Parser, Subcommand};
use picobert::{HeadKind, HiddenAct, Role};
use picobert_trainer::blob::quantize::{convert, WeightDtype};
use picobert_trainer::blob::trim::trim_vocab;
use picobert_trainer::blob::{load_blob, BlobModel, HeadSpec, Tensor, TensorData};
use picobert_trainer::hf::{read_vocab, HfTokenizerConfig};
use picobert_trainer::import::tokenizer_config;
use picobert_trainer::train::rng::Rng;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "Host side of the picobert firmware example")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Writes a BERT-Tiny-shaped sentence classifier (L=2, H=128, A=2, I=512, 512 positions,
    /// labels negative/positive) with fixed-seed random weights, its vocabulary trimmed to the
    /// example's sentences.
    Model {
        /// A Hugging Face model directory whose `vocab.txt` and `tokenizer_config.json` to use
        /// (all-MiniLM-L6-v2's is bert-base-uncased's 30,522 tokens).
        #[arg(long)]
        hf: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "int8")]
        dtype: WeightDtype,
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
}

pub fn main() -> ExitCode {
    let result = match Cli::parse().cmd {
        Cmd::Model {
            hf,
            out,
            dtype,
            seed,
        } => make_model(&hf, &out, dtype, seed),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn make_model(
    hf: &std::path::Path,
    out: &std::path::Path,
    dtype: WeightDtype,
    seed: u64,
) -> Result<(), String> {
    let vocab = read_vocab(&hf.join("vocab.txt"))?;
    let tc = HfTokenizerConfig::load_or_default(&hf.join("tokenizer_config.json"))?;
    let tokenizer = tokenizer_config(&tc, &vocab);
    let full = bert_tiny_classifier(vocab, tokenizer, seed);
    let mut model = trim_vocab(&full, SENTENCES)?;
    convert(&mut model, dtype);
    let bytes = model.to_bytes()?;
    picobert_trainer::fsutil::write_atomic(out, &bytes)?;
    load_blob(out)?;
    eprintln!(
        "{}: {} bytes, vocabulary {} of {} tokens, {:?} weights",
        out.display(),
        bytes.len(),
        model.vocab.len(),
        full.vocab.len(),
        dtype
    );
    Ok(())
}

/// BERT's initialisation (`initializer_range` 0.02 normal weights, zero biases, unit
/// LayerNorm), which is what an untrained BERT-Tiny holds; the classifier gets a larger range so
/// the two labels actually differ between sentences.
fn bert_tiny_classifier(
    vocab: Vec<String>,
    tokenizer: picobert::TokenizerConfig,
    seed: u64,
) -> BlobModel {
    let (v, h, layers, i, p) = (vocab.len(), 128, 2, 512, 512);
    let config = picobert::Config {
        vocab_size: v,
        hidden_size: h,
        num_layers: layers,
        num_heads: 2,
        intermediate_size: i,
        max_position_embeddings: p,
        type_vocab_size: 2,
        layer_norm_eps: 1e-12,
        hidden_act: HiddenAct::GeluErf,
    };
    let mut rng = Rng::new(seed);
    let mut tensors = Vec::new();
    let mut add = |role: Role, layer: usize, shape: Vec<usize>| {
        let n: usize = shape.iter().product();
        let data = match role {
            Role::EmbLnWeight | Role::AttnLnWeight | Role::OutLnWeight => vec![1.0; n],
            _ if shape.len() == 1 => vec![0.0; n],
            Role::SeqClsWeight => (0..n).map(|_| rng.normal()).collect(),
            _ => (0..n).map(|_| rng.normal() * 0.02).collect(),
        };
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
    for layer in 0..layers {
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
    add(Role::SeqClsWeight, 0, vec![2, h]);
    add(Role::SeqClsBias, 0, vec![2]);
    BlobModel {
        config,
        tokenizer,
        vocab,
        tensors,
        heads: vec![HeadSpec {
            kind: HeadKind::SequenceClassification,
            num_labels: 2,
            labels: vec!["negative".into(), "positive".into()],
        }],
    }
}
