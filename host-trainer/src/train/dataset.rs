//! Epochs of pretraining batches: instances regenerated and reshuffled every epoch, masks drawn
//! fresh per (epoch, instance), so the data position (epoch, index) alone resumes a run exactly.

use super::corpus::Document;
use super::instances::{from_document, mask, Instance, InstanceConfig, MaskConfig, Specials};
use super::model::Batch;
use super::rng::Rng;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DataConfig {
    pub instances: InstanceConfig,
    pub masking: MaskConfig,
    pub seed: u64,
}

pub struct Dataset {
    docs: Vec<Document>,
    specials: Specials,
    /// Per vocabulary id: a `##` continuation piece (for whole-word masking).
    continuation: Vec<bool>,
    cfg: DataConfig,
    epoch: u64,
    pos: usize,
    instances: Vec<Instance>,
}

impl Dataset {
    pub fn new(docs: Vec<Document>, vocab: &[String], cfg: DataConfig) -> Result<Self, String> {
        if docs.len() < 2 {
            return Err(format!(
                "{} usable document(s): next-sentence prediction needs at least 2",
                docs.len()
            ));
        }
        if cfg.instances.max_seq_len < 5 {
            return Err("max sequence length must be at least 5".into());
        }
        let mut ds = Dataset {
            docs,
            specials: Specials::from_vocab(vocab)?,
            continuation: vocab.iter().map(|t| t.starts_with("##")).collect(),
            cfg,
            epoch: 0,
            pos: 0,
            instances: Vec::new(),
        };
        ds.build_epoch();
        if ds.instances.is_empty() {
            return Err("the corpus yields no training instances".into());
        }
        Ok(ds)
    }

    fn build_epoch(&mut self) {
        let mut rng = Rng::new(self.cfg.seed).fork(self.epoch);
        self.instances.clear();
        for di in 0..self.docs.len() {
            let inst = from_document(&self.docs, di, &self.cfg.instances, &mut rng);
            self.instances.extend(inst);
        }
        rng.shuffle(&mut self.instances);
    }

    /// (epoch, index of the next instance in that epoch).
    pub fn position(&self) -> (u64, usize) {
        (self.epoch, self.pos)
    }

    pub fn seek(&mut self, epoch: u64, pos: usize) -> Result<(), String> {
        self.epoch = epoch;
        self.build_epoch();
        if pos > self.instances.len() {
            return Err(format!(
                "data position {pos} is past the {} instances of epoch {epoch}: different corpus?",
                self.instances.len()
            ));
        }
        self.pos = pos;
        Ok(())
    }

    pub fn seq_len(&self) -> usize {
        self.cfg.instances.max_seq_len
    }

    pub fn instances_per_epoch(&self) -> usize {
        self.instances.len()
    }

    pub fn next_batch(&mut self, batch_size: usize) -> Batch {
        let t = self.cfg.instances.max_seq_len;
        let mut b = Batch {
            batch: batch_size,
            seq: t,
            ..Batch::default()
        };
        for slot in 0..batch_size {
            if self.pos == self.instances.len() {
                self.epoch += 1;
                self.pos = 0;
                self.build_epoch();
            }
            let mut rng = Rng::new(self.cfg.seed ^ 0x6d61_736b)
                .fork(self.epoch)
                .fork(self.pos as u64);
            let cont = &self.continuation;
            let is_cont = |id: u32| cont.get(id as usize).copied().unwrap_or(false);
            let m = mask(
                &self.instances[self.pos],
                self.specials,
                &is_cont,
                &self.cfg.masking,
                &mut rng,
            );
            self.pos += 1;
            let n = m.ids.len();
            b.input_ids.extend(&m.ids);
            b.input_ids.resize((slot + 1) * t, self.specials.pad);
            b.token_type_ids.extend(&m.types);
            b.token_type_ids.resize((slot + 1) * t, 0);
            b.attention_mask.extend(std::iter::repeat_n(1u8, n));
            b.attention_mask.resize((slot + 1) * t, 0);
            b.mlm_positions
                .extend(m.positions.iter().map(|&p| (slot * t) as u32 + p));
            b.mlm_labels.extend(&m.labels);
            b.nsp_labels.push(m.is_random_next as u32);
        }
        b
    }
}

/// Splits documents into (train, held-out): a seeded choice of `fraction` of them (at least 2,
/// so held-out NSP pairs can draw from another held-out document).
pub fn split_held_out(
    mut docs: Vec<Document>,
    fraction: f64,
    seed: u64,
) -> Result<(Vec<Document>, Vec<Document>), String> {
    let n_eval = ((docs.len() as f64 * fraction).round() as usize).max(2);
    if docs.len() < n_eval + 2 {
        return Err(format!(
            "{} documents: too few to hold out {n_eval} for evaluation and train on the rest",
            docs.len()
        ));
    }
    Rng::new(seed ^ 0x6576_616c).shuffle(&mut docs);
    let eval = docs.split_off(docs.len() - n_eval);
    Ok((docs, eval))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> Vec<String> {
        let mut v: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend((5..300).map(|i| format!("w{i}")));
        v
    }

    fn docs() -> Vec<Document> {
        let mut rng = Rng::new(1);
        (0..20)
            .map(|_| {
                (0..(1 + rng.below(8)))
                    .map(|_| {
                        (0..(2 + rng.below(12)))
                            .map(|_| 5 + rng.below(295) as u32)
                            .collect()
                    })
                    .collect()
            })
            .collect()
    }

    fn cfg() -> DataConfig {
        DataConfig {
            instances: InstanceConfig {
                max_seq_len: 32,
                short_seq_prob: 0.1,
            },
            masking: MaskConfig {
                prob: 0.15,
                max_predictions: 5,
                whole_word: false,
                vocab_size: 300,
            },
            seed: 42,
        }
    }

    #[test]
    fn seek_resumes_the_same_stream_and_masks_change_per_epoch() {
        let mut a = Dataset::new(docs(), &vocab(), cfg()).unwrap();
        let per_epoch = a.instances_per_epoch();
        let mut batches = Vec::new();
        for _ in 0..(2 * per_epoch / 4 + 3) {
            batches.push(a.next_batch(4));
        }
        // Resume from a recorded position.
        let mut b = Dataset::new(docs(), &vocab(), cfg()).unwrap();
        for _ in 0..5 {
            b.next_batch(4);
        }
        let (e, p) = b.position();
        let mut c = Dataset::new(docs(), &vocab(), cfg()).unwrap();
        c.seek(e, p).unwrap();
        for want in &batches[5..] {
            assert_eq!(&c.next_batch(4), want);
        }
        // Batches are well formed.
        for bt in &batches {
            assert_eq!(bt.input_ids.len(), 4 * 32);
            assert!(bt
                .mlm_positions
                .iter()
                .all(|&p| bt.attention_mask[p as usize] == 1));
            assert!(bt.input_ids.chunks(32).all(|s| s[0] == 2));
        }
        // Epoch 1 is not epoch 0 again.
        let first: Vec<_> = batches[..per_epoch / 4]
            .iter()
            .map(|b| &b.input_ids)
            .collect();
        let second: Vec<_> = batches[per_epoch / 4 + 1..2 * (per_epoch / 4)]
            .iter()
            .map(|b| &b.input_ids)
            .collect();
        assert!(first.iter().all(|f| !second.contains(f)));
    }

    #[test]
    fn too_few_documents_is_an_error() {
        let d = docs();
        assert!(Dataset::new(d[..1].to_vec(), &vocab(), cfg()).is_err());
        assert!(split_held_out(d[..3].to_vec(), 0.1, 1).is_err());
        let (tr, ev) = split_held_out(d, 0.1, 1).unwrap();
        assert_eq!((tr.len(), ev.len()), (18, 2));
    }
}
