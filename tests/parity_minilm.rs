//! The real all-MiniLM-L6-v2 through import and the core, against transformers' outputs
//! (`tools/hf_reference.py`, fixtures in `tests/fixtures/minilm/`).

use picobert::Model;
use picobert_e2e::{fixture, minilm_dir};
use picobert_trainer::blob::AlignedBytes;
use picobert_trainer::cmd_forward::{run_batch, Batch};
use picobert_trainer::import::import_hf_dir;
use safetensors::SafeTensors;

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    #[serde(flatten)]
    batch: Batch,
}

fn tensor(st: &SafeTensors, name: &str) -> Vec<f32> {
    let t = st
        .tensor(name)
        .unwrap_or_else(|_| panic!("fixture has no {name}"));
    t.data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn minilm_matches_transformers() {
    let blob = import_hf_dir(&minilm_dir(), None)
        .unwrap()
        .to_bytes()
        .unwrap();
    let blob = AlignedBytes::from_slice(&blob);
    let model = Model::load(&blob).unwrap();
    let h = model.config().hidden_size;
    let cases: Vec<Case> =
        serde_json::from_str(&std::fs::read_to_string(fixture("minilm/inputs.json")).unwrap())
            .unwrap();
    assert!(cases.len() >= 20);
    let bytes = std::fs::read(fixture("minilm/expected.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let (mut worst_hidden, mut worst_pool, mut worst_emb, mut longest) = (0f32, 0f32, 0f32, 0);
    for case in &cases {
        let rows = run_batch(&model, &case.batch).unwrap();
        let hidden = tensor(&st, &format!("{}.last_hidden_state", case.name));
        let pooled = tensor(&st, &format!("{}.pooler_output", case.name));
        let emb = tensor(&st, &format!("{}.embedding", case.name));
        let s = case.batch.input_ids[0].len();
        longest = longest.max(s);
        for (i, row) in rows.iter().enumerate() {
            let dh = max_abs(&row.last_hidden_state, &hidden[i * s * h..(i + 1) * s * h]);
            let dp = max_abs(
                row.pooler_output.as_ref().unwrap(),
                &pooled[i * h..(i + 1) * h],
            );
            // The embedding goes through the core's own pooling, not the test's.
            let mut scratch = vec![0f32; model.scratch_len(s)];
            let mut input = picobert::Input::new(&case.batch.input_ids[i]);
            if let Some(t) = &case.batch.token_type_ids {
                input = input.with_token_types(&t[i]);
            }
            if let Some(m) = &case.batch.attention_mask {
                input = input.with_attention_mask(&m[i]);
            }
            let enc = model.forward(&input, &mut scratch).unwrap();
            let mut e = vec![0f32; h];
            enc.sentence_embedding(true, &mut e).unwrap();
            let de = max_abs(&e, &emb[i * h..(i + 1) * h]);
            assert!(
                dh < 1e-4,
                "{} row {i}: last_hidden_state off by {dh}",
                case.name
            );
            assert!(
                dp < 1e-4,
                "{} row {i}: pooler_output off by {dp}",
                case.name
            );
            assert!(de < 1e-5, "{} row {i}: embedding off by {de}", case.name);
            if dh > 2e-5 {
                println!("{} row {i}: hidden {dh:e}", case.name);
            }
            worst_hidden = worst_hidden.max(dh);
            worst_pool = worst_pool.max(dp);
            worst_emb = worst_emb.max(de);
        }
    }
    assert_eq!(longest, 512, "the fixtures must cover the maximum length");
    println!(
        "max abs error: last_hidden_state {worst_hidden:e}, pooler_output {worst_pool:e}, embedding {worst_emb:e}"
    );
}
