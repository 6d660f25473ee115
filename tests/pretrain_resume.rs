//! `--resume` continues exactly: an interrupted run and an uninterrupted one end bitwise equal.

use picobert_trainer::hf::HfConfig;
use picobert_trainer::train::corpus::Document;
use picobert_trainer::train::dataset::{DataConfig, Dataset};
use picobert_trainer::train::instances::{InstanceConfig, MaskConfig};
use picobert_trainer::train::model::Model;
use picobert_trainer::train::params::Dims;
use picobert_trainer::train::rng::Rng;
use picobert_trainer::train::trainer::{latest_checkpoint, TrainConfig, Trainer};

fn vocab() -> Vec<String> {
    let mut v: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    v.extend((5..120).map(|i| {
        if i % 3 == 0 {
            format!("##p{i}")
        } else {
            format!("w{i}")
        }
    }));
    v
}

fn docs() -> Vec<Document> {
    let mut rng = Rng::new(8);
    (0..12)
        .map(|_| {
            (0..(2 + rng.below(6)))
                .map(|_| {
                    (0..(3 + rng.below(9)))
                        .map(|_| 5 + rng.below(115) as u32)
                        .collect()
                })
                .collect()
        })
        .collect()
}

fn hf() -> HfConfig {
    HfConfig::new(120, 16, 2, 2, 32, 32)
}

fn trainer(out: &std::path::Path, resume: bool) -> Trainer {
    try_trainer(out, resume).unwrap()
}

fn try_trainer(out: &std::path::Path, resume: bool) -> Result<Trainer, String> {
    let cfg = hf();
    let model = Model::init(Dims::from_config(&cfg).unwrap(), 5);
    let data_cfg = DataConfig {
        instances: InstanceConfig {
            max_seq_len: 24,
            short_seq_prob: 0.1,
        },
        masking: MaskConfig {
            prob: 0.15,
            max_predictions: 4,
            whole_word: true,
            vocab_size: 120,
        },
        seed: 3,
    };
    let all = docs();
    let data = Dataset::new(all[..10].to_vec(), &vocab(), data_cfg).unwrap();
    let mut ev = Dataset::new(all[10..].to_vec(), &vocab(), data_cfg).unwrap();
    let eval = vec![ev.next_batch(4)];
    let tc = TrainConfig {
        steps: 8,
        batch_size: 3,
        accum: 2,
        peak_lr: 1e-3,
        warmup: 2,
        weight_decay: 0.01,
        clip: 1.0,
        seed: 3,
        save_every: 4,
        eval_every: 4,
        log_every: 1,
        progress: false,
    };
    Trainer::new(model, cfg, vocab(), data, eval, tc, out, resume)
}

#[test]
fn interrupted_run_resumes_bitwise() {
    let base = std::env::temp_dir().join(format!("picobert-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let (a, b) = (base.join("a"), base.join("b"));

    let mut full = trainer(&a, false);
    full.run().unwrap();

    // The same run killed after step 5: checkpoint 4 is the latest complete one.
    let mut first = trainer(&b, false);
    for _ in 0..4 {
        first.step().unwrap();
    }
    first.save().unwrap();
    first.step().unwrap();
    // A torn checkpoint write (killed mid-save) must not be picked up.
    std::fs::create_dir_all(b.join(".checkpoint-00000005.tmp")).unwrap();
    std::fs::write(
        b.join(".checkpoint-00000005.tmp/model.safetensors"),
        b"junk",
    )
    .unwrap();
    drop(first);
    assert!(latest_checkpoint(&b)
        .unwrap()
        .unwrap()
        .ends_with("checkpoint-00000004"));

    let mut resumed = trainer(&b, true);
    assert_eq!(resumed.opt.step, 4);
    resumed.run().unwrap();

    assert_eq!(full.opt.step, 8);
    assert!(
        full.model.params == resumed.model.params,
        "parameters differ"
    );
    assert!(
        full.opt.m == resumed.opt.m && full.opt.v == resumed.opt.v,
        "moments differ"
    );
    let ck_a = std::fs::read(a.join("checkpoint-00000008/model.safetensors")).unwrap();
    let ck_b = std::fs::read(b.join("checkpoint-00000008/model.safetensors")).unwrap();
    assert_eq!(ck_a, ck_b);
    // Training moved the model.
    let init = Model::init(Dims::from_config(&hf()).unwrap(), 5);
    assert!(init.params != full.model.params);

    // Metrics: one train row per step and eval rows, with the resumed rows replacing nothing.
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(b.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let train_steps: Vec<u64> = rows
        .iter()
        .filter(|r| r.get("split").is_none())
        .map(|r| r["step"].as_u64().unwrap())
        .collect();
    assert_eq!(train_steps, (5..=8).collect::<Vec<_>>());
    assert!(rows.iter().any(|r| r["split"] == "eval" && r["step"] == 8));
    // Without --resume an existing checkpoint is refused rather than overwritten.
    let err = try_trainer(&b, false).err().unwrap();
    assert!(err.contains("--resume"), "{err}");
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn non_finite_values_stop_the_run_naming_step_and_layer() {
    let base = std::env::temp_dir().join(format!("picobert-nan-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let mut t = trainer(&base, false);
    t.step().unwrap();
    // An overflowing weight in layer 1's FFN output: the forward pass turns non-finite there.
    let r = t.model.index.layers[1].o_w.clone();
    t.model.params[r.start] = f32::INFINITY;
    let err = t.step().unwrap_err();
    assert!(err.starts_with("step 2:"), "{err}");
    assert!(err.contains("bert.encoder.layer.1"), "{err}");
    let _ = std::fs::remove_dir_all(&base);
}
