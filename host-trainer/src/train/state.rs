//! The trainer state file: step, data position, seed and the AdamW moments, with a CRC-32 so a
//! torn or edited file is refused rather than resumed from.

use super::optim::AdamW;

const MAGIC: &[u8; 8] = b"PBTRAIN1";

#[derive(Debug, Clone, PartialEq)]
pub struct TrainerState {
    /// Optimizer updates taken.
    pub step: u64,
    /// Data position: epoch and index of the next instance.
    pub epoch: u64,
    pub pos: u64,
    /// The run's seed: data order, masks and dropout keys all derive from it and the position.
    pub seed: u64,
    pub opt: AdamW,
}

impl TrainerState {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(64 + 8 * self.opt.m.len());
        b.extend_from_slice(MAGIC);
        for x in [self.step, self.epoch, self.pos, self.seed, self.opt.step] {
            b.extend_from_slice(&x.to_le_bytes());
        }
        for x in [
            self.opt.beta1,
            self.opt.beta2,
            self.opt.eps,
            self.opt.weight_decay,
        ] {
            b.extend_from_slice(&x.to_le_bytes());
        }
        b.extend_from_slice(&(self.opt.m.len() as u64).to_le_bytes());
        for v in [&self.opt.m, &self.opt.v] {
            for x in v {
                b.extend_from_slice(&x.to_le_bytes());
            }
        }
        let crc = picobert::crc32(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }

    pub fn from_bytes(b: &[u8]) -> Result<Self, String> {
        if b.len() < MAGIC.len() + 4 || &b[..8] != MAGIC {
            return Err("not a picobert trainer state file".into());
        }
        let (body, crc) = b.split_at(b.len() - 4);
        if picobert::crc32(body) != u32::from_le_bytes(crc.try_into().expect("4 bytes")) {
            return Err("trainer state checksum mismatch: the file is damaged".into());
        }
        let mut at = 8;
        let mut u64s = |n: usize| -> Result<Vec<u64>, String> {
            let end = at + 8 * n;
            let s = body.get(at..end).ok_or("trainer state is truncated")?;
            at = end;
            Ok(s.chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect())
        };
        let head = u64s(5)?;
        let hyper: Vec<f64> = u64s(4)?.into_iter().map(f64::from_bits).collect();
        let n = u64s(1)?[0] as usize;
        let rest = &body[at..];
        if rest.len() != 8 * n {
            return Err(format!(
                "trainer state holds {} bytes of moments; {n} parameters need {}",
                rest.len(),
                8 * n
            ));
        }
        let f32s = |s: &[u8]| -> Vec<f32> {
            s.chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect()
        };
        Ok(TrainerState {
            step: head[0],
            epoch: head[1],
            pos: head[2],
            seed: head[3],
            opt: AdamW {
                beta1: hyper[0],
                beta2: hyper[1],
                eps: hyper[2],
                weight_decay: hyper[3],
                m: f32s(&rest[..4 * n]),
                v: f32s(&rest[4 * n..]),
                step: head[4],
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage_detection() {
        let mut opt = AdamW::new(5, 0.01);
        opt.m[2] = 1.5;
        opt.v[4] = 2.5;
        opt.step = 7;
        let s = TrainerState {
            step: 7,
            epoch: 1,
            pos: 33,
            seed: 99,
            opt,
        };
        let b = s.to_bytes();
        assert_eq!(TrainerState::from_bytes(&b).unwrap(), s);
        let mut bad = b.clone();
        bad[20] ^= 1;
        assert!(TrainerState::from_bytes(&bad)
            .unwrap_err()
            .contains("checksum"));
        assert!(TrainerState::from_bytes(&b[..b.len() - 9]).is_err());
        assert!(TrainerState::from_bytes(b"").is_err());
    }
}
