//! The thread split never changes a result: same seed, any thread count, same bits.

use super::model::{Acts, Batch, Model};
use super::params::Dims;
use super::rng::Rng;

/// Large enough that every GEMM, LayerNorm and attention call is split across threads.
fn setup() -> (Model, Batch) {
    let dims = Dims {
        vocab: 300,
        hidden: 64,
        layers: 2,
        heads: 4,
        inter: 128,
        max_pos: 64,
        type_vocab: 2,
        eps: 1e-12,
        hidden_dropout: 0.1,
        attn_dropout: 0.1,
        init_range: 0.05,
        pad_id: Some(0),
    };
    let mut r = Rng::new(4);
    let (b, t) = (4, 48);
    let mut batch = Batch {
        batch: b,
        seq: t,
        ..Batch::default()
    };
    for s in 0..b {
        let len = t - 5 * s;
        for i in 0..t {
            batch
                .input_ids
                .push(if i < len { 5 + r.below(295) as u32 } else { 0 });
            batch.token_type_ids.push((i >= len / 2 && i < len) as u32);
            batch.attention_mask.push((i < len) as u8);
        }
        for k in 0..6 {
            batch.mlm_positions.push((s * t + 1 + 3 * k) as u32);
            batch.mlm_labels.push(5 + r.below(295) as u32);
        }
        batch.nsp_labels.push((s % 2) as u32);
    }
    (Model::init(dims, 9), batch)
}

fn run(threads: usize) -> (u64, Vec<f32>) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    pool.install(|| {
        let (mut model, batch) = setup();
        let mut acts = Acts::default();
        let s = model.forward(&batch, &mut acts, Some(7)).unwrap();
        model.zero_grads();
        model.backward(&batch, &mut acts, Some(7), 1.0);
        (s.loss().to_bits(), model.grads)
    })
}

#[test]
fn gradients_do_not_depend_on_thread_count() {
    let (l1, g1) = run(1);
    let (l3, g3) = run(3);
    assert_eq!(l1, l3);
    assert!(g1 == g3, "gradients differ between 1 and 3 threads");
    assert!(g1.iter().any(|&g| g != 0.0));
}
