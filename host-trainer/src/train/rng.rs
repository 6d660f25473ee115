//! Deterministic random numbers: a small serialisable generator for data and init, and a
//! counter-based hash for dropout so masks need no storage and do not depend on thread count.

/// SplitMix64: one u64 of state, so the trainer state file can hold it exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng {
    pub state: u64,
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 finaliser: a bijective avalanche of a 64-bit word.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng {
            state: mix64(seed ^ 0x5151_5151_5151_5151),
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        mix64(self.state)
    }

    /// Uniform in [0, 1) with 24 random bits (exact in f32).
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `0..n` (n > 0), by Lemire's multiply-shift (bias below 2^-32 for our n).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() >> 32).wrapping_mul(n as u64) >> 32) as usize
    }

    /// Standard normal by Box-Muller (one draw per call keeps the state simple to save).
    pub fn normal(&mut self) -> f32 {
        let u1 = 1.0 - self.next_f64();
        let u2 = self.next_f64();
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }

    /// An independent stream for a sub-task, derived without advancing this one.
    pub fn fork(&self, tag: u64) -> Rng {
        Rng {
            state: mix64(self.state ^ mix64(tag.wrapping_add(GOLDEN))),
        }
    }
}

/// Dropout keep decision for element `index` of dropout site `site` under `key`: a pure function,
/// so forward and backward agree and any thread split gives the same mask.
#[derive(Debug, Clone, Copy)]
pub struct DropoutMask {
    key: u64,
    threshold: u64,
    pub scale: f32,
}

impl DropoutMask {
    /// `p` is the drop probability; `None` when dropout is off.
    pub fn new(key: u64, site: u64, p: f32) -> Option<Self> {
        if p <= 0.0 {
            return None;
        }
        Some(DropoutMask {
            key: mix64(key ^ mix64(site.wrapping_mul(GOLDEN).wrapping_add(1))),
            threshold: (p as f64 * 18_446_744_073_709_551_616.0) as u64,
            scale: 1.0 / (1.0 - p),
        })
    }

    /// The multiplier for element `index`: 0 if dropped, 1/(1-p) if kept.
    #[inline]
    pub fn factor(&self, index: usize) -> f32 {
        if mix64(self.key ^ (index as u64).wrapping_mul(GOLDEN)) < self.threshold {
            0.0
        } else {
            self.scale
        }
    }

    /// Multiplies `x[i]` by the factor of element `base + i`.
    pub fn apply(&self, x: &mut [f32], base: usize) {
        for (i, v) in x.iter_mut().enumerate() {
            *v *= self.factor(base + i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropout_rate_and_scale() {
        let m = DropoutMask::new(7, 3, 0.1).unwrap();
        let n = 200_000;
        let dropped = (0..n).filter(|&i| m.factor(i) == 0.0).count();
        let rate = dropped as f64 / n as f64;
        // 5 sigma of a binomial(200k, 0.1) is 0.0034.
        assert!((rate - 0.1).abs() < 0.0034, "rate {rate}");
        assert!((m.scale - 1.0 / 0.9).abs() < 1e-7);
        assert!(DropoutMask::new(7, 3, 0.0).is_none());
    }

    #[test]
    fn below_is_in_range_and_uniform() {
        let mut r = Rng::new(1);
        let mut counts = [0usize; 7];
        for _ in 0..70_000 {
            counts[r.below(7)] += 1;
        }
        for c in counts {
            assert!((c as i64 - 10_000).abs() < 500, "{counts:?}");
        }
    }
}
