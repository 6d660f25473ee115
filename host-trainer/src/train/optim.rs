//! AdamW (decoupled weight decay, off for biases and LayerNorm), the linear warmup/decay
//! schedule and global-norm gradient clipping, written to match `torch.optim.AdamW`,
//! `get_linear_schedule_with_warmup` and `clip_grad_norm_` operation for operation.

use super::params::TensorInfo;
use rayon::prelude::*;

#[derive(Debug, Clone, PartialEq)]
pub struct AdamW {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// First and second moments, one per parameter.
    pub m: Vec<f32>,
    pub v: Vec<f32>,
    /// Updates taken so far.
    pub step: u64,
}

/// Elements per parallel task.
const CHUNK: usize = 1 << 15;

impl AdamW {
    /// BERT's settings: betas 0.9/0.999, eps 1e-6, weight decay 0.01.
    pub fn new(n: usize, weight_decay: f64) -> Self {
        AdamW {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-6,
            weight_decay,
            m: vec![0.0; n],
            v: vec![0.0; n],
            step: 0,
        }
    }

    /// One update with learning rate `lr`; `tensors` says which ranges take weight decay.
    pub fn update(&mut self, params: &mut [f32], grads: &[f32], tensors: &[TensorInfo], lr: f64) {
        self.step += 1;
        let t = self.step as i32;
        let (b1, b2) = (self.beta1 as f32, self.beta2 as f32);
        let bc1 = 1.0 - self.beta1.powi(t);
        let bc2_sqrt = (1.0 - self.beta2.powi(t)).sqrt() as f32;
        let step_size = (lr / bc1) as f32;
        let eps = self.eps as f32;
        let decay = (1.0 - lr * self.weight_decay) as f32;
        for ti in tensors {
            let r = ti.range.clone();
            let decay = if ti.decay { Some(decay) } else { None };
            params[r.clone()]
                .par_chunks_mut(CHUNK)
                .zip(grads[r.clone()].par_chunks(CHUNK))
                .zip(self.m[r.clone()].par_chunks_mut(CHUNK))
                .zip(self.v[r].par_chunks_mut(CHUNK))
                .for_each(|(((p, g), m), v)| {
                    for i in 0..p.len() {
                        if let Some(d) = decay {
                            p[i] *= d;
                        }
                        m[i] += (1.0 - b1) * (g[i] - m[i]);
                        v[i] = v[i] * b2 + (1.0 - b2) * g[i] * g[i];
                        let denom = v[i].sqrt() / bc2_sqrt + eps;
                        p[i] += -step_size * (m[i] / denom);
                    }
                });
        }
    }
}

/// Linear warmup from 0 over `warmup` updates, then linear decay to 0 at `total` (transformers'
/// `get_linear_schedule_with_warmup`; `step` counts updates already taken).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    pub peak_lr: f64,
    pub warmup: u64,
    pub total: u64,
}

impl Schedule {
    pub fn lr(&self, step: u64) -> f64 {
        let f = if step < self.warmup {
            step as f64 / self.warmup.max(1) as f64
        } else {
            let rest = self.total.saturating_sub(step) as f64;
            (rest / self.total.saturating_sub(self.warmup).max(1) as f64).max(0.0)
        };
        self.peak_lr * f
    }
}

/// Scales `grads` so their global L2 norm is at most `max_norm` (coefficient
/// `max_norm / (norm + 1e-6)` clamped to 1, as `clip_grad_norm_`); returns the norm before.
pub fn clip_grad_norm(grads: &mut [f32], tensors: &[TensorInfo], max_norm: f64) -> f64 {
    let norm = tensors
        .iter()
        .map(|t| {
            let s: f64 = grads[t.range.clone()]
                .iter()
                .map(|&g| g as f64 * g as f64)
                .sum();
            s
        })
        .sum::<f64>()
        .sqrt();
    let coef = (max_norm / (norm + 1e-6)).min(1.0) as f32;
    grads.par_chunks_mut(CHUNK).for_each(|g| {
        g.iter_mut().for_each(|x| *x *= coef);
    });
    norm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_shape() {
        let s = Schedule {
            peak_lr: 1.0,
            warmup: 4,
            total: 12,
        };
        let lrs: Vec<f64> = (0..13).map(|i| s.lr(i)).collect();
        assert_eq!(&lrs[..5], &[0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(lrs[8], 0.5);
        assert_eq!(lrs[12], 0.0);
    }

    #[test]
    fn clipping_bounds_the_norm() {
        let t = super::super::params::ParamIndex::new(&super::super::params::Dims {
            vocab: 5,
            hidden: 2,
            layers: 0,
            heads: 1,
            inter: 2,
            max_pos: 2,
            type_vocab: 1,
            eps: 1e-12,
            hidden_dropout: 0.0,
            attn_dropout: 0.0,
            init_range: 0.02,
            pad_id: None,
        });
        let mut g: Vec<f32> = (0..t.total).map(|i| i as f32).collect();
        let before = clip_grad_norm(&mut g, &t.tensors, 1.0);
        assert!(before > 1.0);
        let after: f64 = g.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
        assert!((after - 1.0).abs() < 1e-5, "{after}");
    }
}
