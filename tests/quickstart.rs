//! The README's main command, shortened: `picobert quickstart` with a few pretraining updates
//! and one fine-tuning epoch must still run every stage on the bundled data and leave two task
//! blobs that the core loads with the task's labels.

use picobert::{HeadKind, Model};
use picobert_e2e::picobert;
use std::process::Command;

/// The accuracy the result table prints for one blob (`f32       44.00%  ...`).
fn accuracy(stdout: &str, blob: &str) -> Option<f64> {
    let row = stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(blob))?;
    row.split_whitespace()
        .nth(1)?
        .strip_suffix('%')?
        .parse()
        .ok()
}

#[test]
fn quickstart_runs_every_stage_on_the_bundled_data() {
    let out = std::env::temp_dir().join(format!("picobert-quickstart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let o = Command::new(picobert())
        .args([
            "quickstart",
            "--pretrain-steps",
            "12",
            "--epochs",
            "1",
            "--threads",
            "2",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "quickstart failed:\n{stdout}\n{stderr}");
    // Progress (the stage banners) goes to stderr, the results to stdout.
    for stage in ["1/4", "2/4", "3/4", "4/4"] {
        assert!(
            stderr.contains(&format!("== {stage}")),
            "no stage {stage}:\n{stderr}"
        );
    }
    for (blob, file) in [("f32", "task-f32.pbrt"), ("int8", "task-int8.pbrt")] {
        let acc = accuracy(&stdout, blob).unwrap_or_else(|| panic!("no {blob} row:\n{stdout}"));
        assert!((0.0..=100.0).contains(&acc), "{blob} accuracy {acc}");
        let bytes = std::fs::read(out.join(file)).unwrap();
        let model = Model::load(&bytes).unwrap();
        let head = model.head(HeadKind::SequenceClassification).unwrap();
        let labels: Vec<&str> = head.labels.iter().collect();
        assert_eq!(labels, ["moby", "sotu"], "{file}");
    }
    std::fs::remove_dir_all(&out).unwrap();
}
