//! Forward pass of all-MiniLM-L6-v2 (batch 1, one thread) at 16, 128 and 512 tokens, with f32,
//! f16 and int8 weights, on the best kernels compiled in (the host trainer enables `simd-avx2`
//! and `simd-avx512`). The ids are `picobert bench`'s, which `benches/ort_compare.py` feeds to
//! ONNX Runtime too.
//!
//!     cargo bench --bench forward

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use picobert::{kernels, Input, Model};
use picobert_trainer::blob::quantize::{convert, WeightDtype};
use picobert_trainer::blob::AlignedBytes;
use picobert_trainer::cmd_bench::bench_ids;
use picobert_trainer::import::import_hf_dir;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group(format!("minilm_forward_{}", kernels::backend().name()));
    group.sample_size(10);
    for (name, dtype) in [
        ("f32", WeightDtype::F32),
        ("f16", WeightDtype::F16),
        ("int8", WeightDtype::Int8),
    ] {
        let mut blob = import_hf_dir(&picobert_e2e::minilm_dir(), None).expect("import MiniLM");
        convert(&mut blob, dtype);
        let bytes = AlignedBytes::from_slice(&blob.to_bytes().expect("serialise"));
        let model = Model::load(&bytes).expect("load");
        for len in [16usize, 128, 512] {
            let ids = bench_ids(&model, len);
            let mut scratch = vec![0f32; model.scratch_len(len)];
            group.bench_with_input(BenchmarkId::new(name, len), &ids, |b, ids| {
                b.iter(|| {
                    let out = model
                        .forward(&Input::new(ids), &mut scratch)
                        .expect("forward");
                    std::hint::black_box(out.sequence_output()[0]);
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
