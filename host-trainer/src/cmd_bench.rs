//! `picobert bench --model M.pbrt --len 16,128,512 [--threads N]`: median milliseconds per
//! forward pass at each length, like llama-bench, so users can compare devices and dtypes.

use crate::blob::load_blob;
use picobert::{kernels, Input, Model};
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Blob to run.
    #[arg(long)]
    pub model: PathBuf,
    /// Sequence lengths in tokens, comma-separated ([CLS] and [SEP] included).
    #[arg(long, value_delimiter = ',', default_values_t = [16usize, 128, 512])]
    pub len: Vec<usize>,
    /// Threads per forward pass.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Timed forward passes per length (after one warm-up pass).
    #[arg(long, default_value_t = 20)]
    pub iters: usize,
}

/// `[CLS] w w ... [SEP]` with ordinary word-piece ids spread over the vocabulary: any ids do for
/// timing, and these are the same for every engine given the same length.
pub fn bench_ids(model: &Model, len: usize) -> Vec<u32> {
    let v = model.config().vocab_size as u32;
    let tc = model.tokenizer_config();
    let (cls, sep) = (tc.cls_id.min(v - 1), tc.sep_id.min(v - 1));
    (0..len)
        .map(|i| match i {
            0 => cls,
            _ if i + 1 == len => sep,
            _ => 1000.min(v - 1) + (i as u32 * 7919) % (v - 1000.min(v - 1)).max(1),
        })
        .collect()
}

pub fn run(args: Args) -> Result<(), String> {
    let bytes = load_blob(&args.model)?;
    let model = Model::load(&bytes).map_err(|e| e.to_string())?;
    let c = *model.config();
    if args.threads == 0 || args.iters == 0 {
        return Err("--threads and --iters must be at least 1".into());
    }
    println!(
        "model {} (L={} H={} A={} I={}, weights {}), kernels {}, threads {}",
        args.model.display(),
        c.num_layers,
        c.hidden_size,
        c.num_heads,
        c.intermediate_size,
        model.layer_dtype().name(),
        kernels::backend().name(),
        args.threads
    );
    println!(
        "{:>6} {:>12} {:>12} {:>12} {:>14}",
        "len", "median ms", "min ms", "tokens/s", "scratch KiB"
    );
    for &len in &args.len {
        if len == 0 || len > c.max_position_embeddings {
            return Err(format!(
                "length {len} outside 1..={}",
                c.max_position_embeddings
            ));
        }
        let ids = bench_ids(&model, len);
        let input = Input::new(&ids);
        let mut scratch = vec![0f32; model.scratch_len(len)];
        let mut times = Vec::with_capacity(args.iters);
        for i in 0..=args.iters {
            let t = Instant::now();
            model
                .forward_threads(&input, &mut scratch, args.threads)
                .map_err(|e| e.to_string())?;
            if i > 0 {
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        println!(
            "{len:>6} {median:>12.3} {:>12.3} {:>12.0} {:>14.1}",
            times[0],
            len as f64 / median * 1e3,
            scratch.len() as f64 * 4.0 / 1024.0
        );
    }
    Ok(())
}
