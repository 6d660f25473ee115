//! Fault injection against the `picobert` binary: SIGKILL at random points, damaged checkpoints,
//! a full disk, hostile input files and a diverging run. Each must end in a loadable checkpoint
//! or a clear error, never a crash or a silently wrong model.

use picobert_e2e::{fixture, picobert, XorShift};
use picobert_trainer::hf::HfConfig;
use picobert_trainer::train::checkpoint::load_hf_dir;
use picobert_trainer::train::state::TrainerState;
use picobert_trainer::train::trainer::latest_checkpoint;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const STEPS: u64 = 24;

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("picobert-faults-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// vocab.txt (the tiny fixtures' 256 tokens), a small config and a corpus of documents made of
/// whole words from the vocabulary.
fn job_files(dir: &Path) {
    let vocab = std::fs::read_to_string(fixture("tiny/seqcls/vocab.txt")).unwrap();
    let words: Vec<&str> = vocab
        .lines()
        .filter(|w| w.len() > 1 && w.chars().all(|c| c.is_ascii_lowercase()))
        .collect();
    assert!(words.len() > 50);
    std::fs::write(dir.join("vocab.txt"), &vocab).unwrap();
    let cfg = HfConfig::new(vocab.lines().count(), 16, 2, 2, 32, 64);
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string(&cfg).unwrap(),
    )
    .unwrap();
    let mut rng = XorShift(42);
    let mut text = String::new();
    for _ in 0..16 {
        for _ in 0..(2 + rng.below(5)) {
            let n = 3 + rng.below(10);
            let s: Vec<&str> = (0..n).map(|_| words[rng.below(words.len())]).collect();
            text.push_str(&s.join(" "));
            text.push('\n');
        }
        text.push('\n');
    }
    std::fs::write(dir.join("corpus.txt"), text).unwrap();
}

fn pretrain_args(dir: &Path, out: &str) -> Vec<String> {
    let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
    [
        "pretrain",
        "--corpus",
        &p("corpus.txt"),
        "--vocab",
        &p("vocab.txt"),
        "--config",
        &p("config.json"),
        "--out",
        &p(out),
        "--max-seq-len",
        "32",
        "--batch-size",
        "4",
        "--steps",
        &STEPS.to_string(),
        "--save-every",
        "1",
        "--eval-every",
        "0",
        "--log-every",
        "1",
        "--lr",
        "1e-3",
        "--warmup",
        "2",
        "--threads",
        "1",
        "--seed",
        "7",
        "--no-progress",
        "--resume",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn run(args: &[String]) -> Output {
    Command::new(picobert()).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The checkpoint `out/latest` names: weights and trainer state both load, and agree on the step.
fn check_latest(out: &Path) -> Option<u64> {
    let dir = latest_checkpoint(out).unwrap()?;
    let (_, model) = load_hf_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let bytes = std::fs::read(dir.join("trainer_state.bin")).unwrap();
    let st = TrainerState::from_bytes(&bytes).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    assert_eq!(st.opt.m.len(), model.params.len());
    let name = dir.file_name().unwrap().to_str().unwrap();
    assert_eq!(name, format!("checkpoint-{:08}", st.step));
    Some(st.step)
}

fn final_weights(out: &Path) -> Vec<u8> {
    std::fs::read(out.join(format!("checkpoint-{STEPS:08}/model.safetensors"))).unwrap()
}

/// An uninterrupted run, and the time it takes.
fn reference(dir: &Path) -> (Vec<u8>, Duration) {
    let t = Instant::now();
    let o = run(&pretrain_args(dir, "reference"));
    assert!(o.status.success(), "{}", stderr(&o));
    (final_weights(&dir.join("reference")), t.elapsed())
}

#[test]
fn sigkill_at_random_points_keeps_a_loadable_checkpoint_and_resume_is_bitwise() {
    let dir = scratch("kill");
    job_files(&dir);
    let (want, full) = reference(&dir);
    let mut rng = XorShift(0x5eed);
    let (mut kills, mut interrupted, mut mid_write) = (0, 0, 0);
    let mut round = 0;
    while kills < 40 {
        round += 1;
        let out = format!("run{round}");
        let args = pretrain_args(&dir, &out);
        let kills_before = kills;
        loop {
            let mut child = Command::new(picobert())
                .args(&args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            // Anywhere in a whole run's time: start-up, training steps and checkpoint writes.
            let at = full.mul_f64(rng.below(1000) as f64 / 1000.0);
            std::thread::sleep(at);
            let killed = child.try_wait().unwrap().is_none();
            if killed {
                child.kill().unwrap();
                kills += 1;
            }
            let o = child.wait_with_output().unwrap();
            if !killed {
                assert!(o.status.success(), "{}", stderr(&o));
            }
            // A save goes through a hidden temporary (`.checkpoint-N.tmp`, `.latest.tmp`): one
            // left behind means the kill landed inside a checkpoint write.
            if killed && has_hidden_temporary(&dir.join(&out)) {
                mid_write += 1;
            }
            let step = check_latest(&dir.join(&out));
            if !killed {
                assert_eq!(step, Some(STEPS));
                break;
            }
        }
        // Finish whatever the last kill interrupted, then compare.
        let o = run(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            final_weights(&dir.join(&out)) == want,
            "round {round}: the resumed run's final model differs from the uninterrupted one"
        );
        interrupted += usize::from(kills > kills_before);
    }
    eprintln!(
        "{kills} kills over {interrupted} interrupted runs, {mid_write} inside a checkpoint \
         write; all resumed bitwise"
    );
    // Saves dominate the run's time (fsync), so uniform kill times must hit some.
    assert!(mid_write > 0, "no kill landed inside a checkpoint write");
    let _ = std::fs::remove_dir_all(&dir);
}

fn has_hidden_temporary(out: &Path) -> bool {
    std::fs::read_dir(out).is_ok_and(|d| {
        d.filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().starts_with('.'))
    })
}

/// Damages one file of the latest checkpoint (a flipped byte well inside the data, or the file
/// cut to two thirds) and resumes: the run must refuse, naming the checkpoint.
fn assert_damage_refused(name: &str, file: &str, truncate: bool) {
    let dir = scratch(name);
    job_files(&dir);
    let o = run(&pretrain_args(&dir, "out"));
    assert!(o.status.success(), "{}", stderr(&o));
    let ck = format!("checkpoint-{STEPS:08}");
    let path = dir.join("out").join(&ck).join(file);
    let mut bytes = std::fs::read(&path).unwrap();
    if truncate {
        bytes.truncate(bytes.len() * 2 / 3);
    } else {
        let at = bytes.len() * 3 / 4;
        bytes[at] ^= 0x10;
    }
    std::fs::write(&path, &bytes).unwrap();
    let mut args = pretrain_args(&dir, "out");
    let steps = args.iter().position(|a| a == "--steps").unwrap();
    args[steps + 1] = (STEPS + 2).to_string();
    let o = run(&args);
    let err = stderr(&o);
    let what = if truncate { "truncated" } else { "bit flip in" };
    assert!(
        !o.status.success(),
        "a {what} {file} was resumed from:\n{err}"
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "{what} {file}: not a clean exit: {err}"
    );
    assert!(
        err.contains(&ck),
        "{what} {file}: the message names no checkpoint: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn damaged_trainer_state_is_refused() {
    assert_damage_refused("state-flip", "trainer_state.bin", false);
    assert_damage_refused("state-cut", "trainer_state.bin", true);
}

#[test]
fn truncated_weights_are_refused() {
    assert_damage_refused("weights-cut", "model.safetensors", true);
}

/// The weights file carries the CRC-32 of its data in its safetensors header.
#[test]
fn bit_flip_in_weights_is_refused() {
    assert_damage_refused("weights-flip", "model.safetensors", false);
}

/// A file size limit stands in for a full disk: writes past it fail with EFBIG (SIGXFSZ is
/// ignored, as a full disk sends no signal either).
#[test]
fn full_disk_fails_the_save_and_keeps_the_previous_checkpoint() {
    let dir = scratch("disk");
    job_files(&dir);
    let mut args = pretrain_args(&dir, "out");
    let steps = args.iter().position(|a| a == "--steps").unwrap();
    args[steps + 1] = "4".into();
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(check_latest(&dir.join("out")), Some(4));
    let before = std::fs::read(dir.join("out/checkpoint-00000004/model.safetensors")).unwrap();

    args[steps + 1] = "8".into();
    // 16 KiB (`ulimit -f` counts 512-byte blocks in dash, 1 KiB in bash: either is below the
    // weights file), so the first save after resuming runs out of room.
    assert!(before.len() > 32 * 1024);
    let o = Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 16 && exec \"$0\" \"$@\"")
        .arg(picobert())
        .args(&args)
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "not a clean failure: {err}");
    assert!(err.contains("checkpoint-00000005"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(check_latest(&dir.join("out")), Some(4));
    let after = std::fs::read(dir.join("out/checkpoint-00000004/model.safetensors")).unwrap();
    assert!(before == after, "the previous checkpoint changed");
    // With room again, the run resumes from it and completes.
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(check_latest(&dir.join("out")), Some(8));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn hostile_corpus_files_are_reported_not_crashed() {
    let dir = scratch("hostile");
    job_files(&dir);
    let good = std::fs::read(dir.join("corpus.txt")).unwrap();
    let good_lines = good.iter().filter(|&&b| b == b'\n').count();
    let mut long = good.clone();
    long.extend(std::iter::repeat_n(b'a', 100 << 20));
    long.extend_from_slice(b"\n\n");
    long.extend_from_slice(&good);
    let mut binary = good.clone();
    binary.extend_from_slice(b"the \xff\xfe of\nand \0 the\0\0\n\xc3\x28\n\n");
    binary.extend_from_slice(&good);
    let cases: [(&str, Vec<u8>); 4] = [
        ("long.txt", long),
        ("binary.txt", binary),
        ("empty.txt", Vec::new()),
        ("nul.txt", vec![0u8; 4096]),
    ];
    for (name, bytes) in cases {
        std::fs::write(dir.join(name), bytes).unwrap();
        let mut args = pretrain_args(&dir, &format!("out-{name}"));
        let c = args.iter().position(|a| a == "--corpus").unwrap();
        args[c + 1] = dir.join(name).to_string_lossy().into_owned();
        let steps = args.iter().position(|a| a == "--steps").unwrap();
        args[steps + 1] = "2".into();
        let o = run(&args);
        let err = stderr(&o);
        assert!(!err.contains("panicked"), "{name}: {err}");
        assert!(
            o.status.code().is_some(),
            "{name}: killed by a signal: {err}"
        );
        match name {
            // The bad lines are skipped and counted; training goes on with the rest.
            "long.txt" => {
                assert!(o.status.success(), "{name}: {err}");
                assert!(err.contains("1 lines over 65536 bytes"), "{name}: {err}");
                // The 100 MB line is the file's line 26 (after the good corpus's 25 lines).
                let at = format!("{name}:{}: over the line limit", good_lines + 1);
                assert!(err.contains(&at), "{name}: {err}");
            }
            "binary.txt" => {
                assert!(o.status.success(), "{name}: {err}");
                assert!(err.contains("2 invalid UTF-8 lines"), "{name}: {err}");
                let at = format!("{name}:{}: invalid UTF-8", good_lines + 1);
                assert!(err.contains(&at), "{name}: {err}");
            }
            // Nothing to train on: a refusal that says so.
            _ => {
                assert_eq!(o.status.code(), Some(1), "{name}: {err}");
                assert!(err.contains("documents"), "{name}: {err}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// With the default `--clip 1.0` a `--lr 10` run stays finite, so the loss-based guard is what
/// stops it (the non-finite guard is tested in-process in `tests/pretrain_resume.rs`).
#[test]
fn diverging_run_stops_naming_the_step_and_layer() {
    let dir = scratch("diverge");
    job_files(&dir);
    let mut args = pretrain_args(&dir, "out");
    let set = |args: &mut Vec<String>, flag: &str, v: &str| {
        let i = args.iter().position(|a| a == flag).unwrap();
        args[i + 1] = v.into();
    };
    set(&mut args, "--lr", "10");
    set(&mut args, "--warmup", "0");
    set(&mut args, "--steps", "200");
    set(&mut args, "--save-every", "1000");
    let o = run(&args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("step "), "{err}");
    assert!(err.contains("bert."), "no tensor named: {err}");
    assert!(
        std::fs::read_dir(dir.join("out")).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("checkpoint-")),
        "a checkpoint was written from a diverged run"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `picobert finetune` on hostile training and dev files: each is refused with exit status 1 and
/// a message naming the file and, where a line is at fault, the line; nothing panics and no
/// checkpoint is written.
#[test]
fn hostile_finetune_files_are_refused_with_file_and_line() {
    let dir = scratch("finetune");
    let init = fixture("tiny/seqcls");
    let good = "text\tlabel\nthe cat sat\tpos\na dog ran\tneg\nthe dog sat\tpos\na cat ran\tneg\n";
    std::fs::write(dir.join("good.tsv"), good).unwrap();
    let mut long = String::from("text\tlabel\n");
    long.push_str(&"a".repeat(100 << 20));
    long.push_str("\tpos\na dog ran\tneg\n");
    let cases: [(&str, &str, Vec<u8>, &[&str]); 7] = [
        // (train or dev, file name, bytes, what the message must contain)
        (
            "dev",
            "unknown.tsv",
            b"text\tlabel\nthe cat\tpos\nthe dog\tmaybe\n".to_vec(),
            &["unknown.tsv", "maybe"],
        ),
        (
            "train",
            "columns.tsv",
            b"text\tlabel\nthe cat\tpos\nthe dog\n".to_vec(),
            &["columns.tsv", "record 3"],
        ),
        (
            "train",
            "noheader.tsv",
            b"the cat\tpos\n".to_vec(),
            &["noheader.tsv", "`text`"],
        ),
        (
            "train",
            "utf8.tsv",
            b"text\tlabel\nthe \xff cat\tpos\n".to_vec(),
            &["utf8.tsv"],
        ),
        ("train", "empty.tsv", Vec::new(), &["empty.tsv", "empty"]),
        (
            "train",
            "nul.jsonl",
            vec![0u8; 4096],
            &["nul.jsonl", "line 1"],
        ),
        ("train", "long.tsv", long.into_bytes(), &["long.tsv"]),
    ];
    for (role, name, bytes, want) in cases {
        std::fs::write(dir.join(name), bytes).unwrap();
        let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
        let (train, dev) = if role == "train" {
            (p(name), p("good.tsv"))
        } else {
            (p("good.tsv"), p(name))
        };
        let out = p(&format!("out-{name}"));
        let args = [
            "finetune",
            "--task",
            "classify",
            "--train",
            &train,
            "--dev",
            &dev,
            "--init",
            &init.to_string_lossy(),
            "--out",
            &out,
            "--epochs",
            "1",
            "--batch-size",
            "2",
            "--max-seq-len",
            "16",
            "--threads",
            "1",
            "--no-progress",
        ]
        .map(String::from);
        let o = run(&args);
        let err = stderr(&o);
        assert!(!err.contains("panicked"), "{name}: {err}");
        if name == "long.tsv" {
            // One huge example is legal input: it is truncated to --max-seq-len and trained on.
            assert!(o.status.success(), "{name}: {err}");
            continue;
        }
        assert_eq!(o.status.code(), Some(1), "{name}: {err}");
        for w in want {
            assert!(err.contains(w), "{name}: the message lacks {w:?}: {err}");
        }
        assert!(
            !Path::new(&out).join("model.safetensors").exists(),
            "{name}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
