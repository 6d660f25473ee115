//! Pretraining instances as Google's `create_pretraining_data.py`: segments filled up to the
//! target length from one document, NSP pairs, truncation and MLM masking. Differences: the
//! random-next segment always comes from a *different* document; a one-segment chunk that drew
//! "is next" takes the document's following sentence as B instead of being forced to random
//! next (which skews Google's NSP rate); masking is applied per epoch, not baked into files.

use super::corpus::Document;
use super::rng::Rng;

/// Special token ids of the vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Specials {
    pub pad: u32,
    pub cls: u32,
    pub sep: u32,
    pub mask: u32,
}

impl Specials {
    pub fn from_vocab(vocab: &[String]) -> Result<Self, String> {
        let id = |t: &str| {
            vocab
                .iter()
                .position(|v| v == t)
                .map(|i| i as u32)
                .ok_or_else(|| format!("vocabulary has no {t} token"))
        };
        Ok(Specials {
            pad: id("[PAD]")?,
            cls: id("[CLS]")?,
            sep: id("[SEP]")?,
            mask: id("[MASK]")?,
        })
    }
}

/// An unmasked pair of segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub a: Vec<u32>,
    pub b: Vec<u32>,
    pub is_random_next: bool,
}

/// Instance creation settings (Google's defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InstanceConfig {
    pub max_seq_len: usize,
    pub short_seq_prob: f64,
}

/// Google's `random.randint(lo, hi)`: inclusive.
fn randint(rng: &mut Rng, lo: usize, hi: usize) -> usize {
    lo + rng.below(hi - lo + 1)
}

/// Instances from `docs[di]`. Needs at least two documents (for random-next segments).
pub fn from_document(
    docs: &[Document],
    di: usize,
    cfg: &InstanceConfig,
    rng: &mut Rng,
) -> Vec<Instance> {
    let doc = &docs[di];
    let max_tokens = cfg.max_seq_len - 3;
    let target = if rng.next_f64() < cfg.short_seq_prob {
        randint(rng, 2, max_tokens)
    } else {
        max_tokens
    };
    let mut out = Vec::new();
    let mut chunk: Vec<&[u32]> = Vec::new();
    let mut chunk_len = 0;
    let mut i = 0;
    while i < doc.len() {
        chunk.push(&doc[i]);
        chunk_len += doc[i].len();
        if i == doc.len() - 1 || chunk_len >= target {
            let mut random_next = rng.next_f64() < 0.5;
            if chunk.len() == 1 && !random_next {
                if i + 1 < doc.len() {
                    // The true next sentence: B continues A even though A filled the target.
                    i += 1;
                    chunk.push(&doc[i]);
                } else {
                    random_next = true;
                }
            }
            let a_end = if chunk.len() >= 2 {
                randint(rng, 1, chunk.len() - 1)
            } else {
                1
            };
            let mut a: Vec<u32> = chunk[..a_end].concat();
            let mut b = Vec::new();
            if random_next {
                let target_b = target.saturating_sub(a.len()).max(1);
                let other = rng.below(docs.len() - 1);
                let rd = &docs[if other >= di { other + 1 } else { other }];
                let start = rng.below(rd.len());
                for s in &rd[start..] {
                    b.extend_from_slice(s);
                    if b.len() >= target_b {
                        break;
                    }
                }
                // The unused segments go back into the pool for the next chunk.
                i -= chunk.len() - a_end;
            } else {
                b = chunk[a_end..].concat();
            }
            truncate_pair(&mut a, &mut b, max_tokens, rng);
            out.push(Instance {
                a,
                b,
                is_random_next: random_next,
            });
            chunk.clear();
            chunk_len = 0;
        }
        i += 1;
    }
    out
}

/// Google's `truncate_seq_pair`: trims the longer segment, from the front or back at random.
fn truncate_pair(a: &mut Vec<u32>, b: &mut Vec<u32>, max: usize, rng: &mut Rng) {
    while a.len() + b.len() > max {
        let t = if a.len() > b.len() { &mut *a } else { &mut *b };
        if rng.next_f64() < 0.5 {
            t.remove(0);
        } else {
            t.pop();
        }
    }
}

/// Masking settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MaskConfig {
    pub prob: f64,
    pub max_predictions: usize,
    pub whole_word: bool,
    pub vocab_size: usize,
}

/// A masked, packed sequence: `[CLS] A [SEP] B [SEP]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Masked {
    pub ids: Vec<u32>,
    pub types: Vec<u32>,
    /// Positions and original ids of the predicted tokens, ascending by position.
    pub positions: Vec<u32>,
    pub labels: Vec<u32>,
    pub is_random_next: bool,
}

/// Google's `create_masked_lm_predictions`: `round(len * prob)` tokens (at least 1, at most
/// `max_predictions`), chosen as whole words when `whole_word` (pieces starting with `##` join
/// the previous token); 80% become [MASK], 10% a random id, 10% stay.
pub fn mask(
    inst: &Instance,
    sp: Specials,
    is_continuation: &dyn Fn(u32) -> bool,
    cfg: &MaskConfig,
    rng: &mut Rng,
) -> Masked {
    let mut ids = Vec::with_capacity(inst.a.len() + inst.b.len() + 3);
    ids.push(sp.cls);
    ids.extend_from_slice(&inst.a);
    ids.push(sp.sep);
    let mut types = vec![0; ids.len()];
    ids.extend_from_slice(&inst.b);
    ids.push(sp.sep);
    types.resize(ids.len(), 1);

    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, &t) in ids.iter().enumerate() {
        if t == sp.cls || t == sp.sep {
            continue;
        }
        match groups.last_mut() {
            Some(g) if cfg.whole_word && is_continuation(t) && *g.last().unwrap() + 1 == i => {
                g.push(i)
            }
            _ => groups.push(vec![i]),
        }
    }
    rng.shuffle(&mut groups);
    let n_predict = ((ids.len() as f64 * cfg.prob).round_ties_even() as usize)
        .max(1)
        .min(cfg.max_predictions);
    let mut chosen: Vec<usize> = Vec::new();
    for g in groups {
        if chosen.len() >= n_predict {
            break;
        }
        if chosen.len() + g.len() > n_predict {
            continue;
        }
        chosen.extend(g);
    }
    chosen.sort_unstable();
    let labels: Vec<u32> = chosen.iter().map(|&p| ids[p]).collect();
    for &p in &chosen {
        let r = rng.next_f64();
        if r < 0.8 {
            ids[p] = sp.mask;
        } else if r >= 0.9 {
            ids[p] = rng.below(cfg.vocab_size) as u32;
        }
    }
    Masked {
        ids,
        types,
        positions: chosen.iter().map(|&p| p as u32).collect(),
        labels,
        is_random_next: inst.is_random_next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synthetic_docs(rng: &mut Rng, n: usize) -> Vec<Document> {
        // Token id = 1000 * doc + sentence, so provenance is visible in the instances.
        (0..n)
            .map(|d| {
                let sents = 1 + rng.below(30);
                (0..sents)
                    .map(|s| vec![(1000 * d + s) as u32 + 10; 3 + rng.below(25)])
                    .collect()
            })
            .collect()
    }

    #[test]
    fn nsp_pairs_are_labelled_truthfully() {
        let mut rng = Rng::new(5);
        let docs = synthetic_docs(&mut rng, 60);
        let cfg = InstanceConfig {
            max_seq_len: 64,
            short_seq_prob: 0.1,
        };
        let (mut random, mut total) = (0, 0);
        for di in 0..docs.len() {
            for inst in from_document(&docs, di, &cfg, &mut rng) {
                assert!(!inst.a.is_empty() && !inst.b.is_empty());
                assert!(inst.a.len() + inst.b.len() <= 61);
                let doc_of = |t: u32| (t as usize - 10) / 1000;
                assert!(inst.a.iter().all(|&t| doc_of(t) == di));
                let b_same = inst.b.iter().all(|&t| doc_of(t) == di);
                let b_other = inst.b.iter().all(|&t| doc_of(t) != di);
                if inst.is_random_next {
                    assert!(b_other, "random next from the same document");
                    random += 1;
                } else {
                    assert!(b_same);
                    // B comes after A in the document (truncation may cut whole sentences
                    // from A's end or B's front, never split one across both).
                    let last_a = (*inst.a.last().unwrap() as usize - 10) % 1000;
                    let first_b = (inst.b[0] as usize - 10) % 1000;
                    assert!(first_b > last_a, "{last_a} {first_b}");
                }
                total += 1;
            }
        }
        let rate = random as f64 / total as f64;
        // Binomial sd at n ~ 1000 is ~0.016: 4 sd.
        assert!(
            (rate - 0.5).abs() < 0.065,
            "random-next rate {rate} over {total}"
        );
    }

    #[test]
    fn masking_rates() {
        let sp = Specials {
            pad: 0,
            cls: 2,
            sep: 3,
            mask: 4,
        };
        let cfg = MaskConfig {
            prob: 0.15,
            max_predictions: 20,
            whole_word: false,
            vocab_size: 30000,
        };
        let mut rng = Rng::new(9);
        let (mut n_tokens, mut n_pred, mut n_mask, mut n_rand, mut n_keep) = (0, 0, 0, 0, 0);
        for _ in 0..4000 {
            let inst = Instance {
                a: (0..60).map(|_| 100 + rng.below(29000) as u32).collect(),
                b: (0..65).map(|_| 100 + rng.below(29000) as u32).collect(),
                is_random_next: false,
            };
            let m = mask(&inst, sp, &|_| false, &cfg, &mut rng);
            n_tokens += m.ids.len();
            for (&p, &l) in m.positions.iter().zip(&m.labels) {
                n_pred += 1;
                let now = m.ids[p as usize];
                assert_ne!(l, sp.cls);
                if now == sp.mask {
                    n_mask += 1;
                } else if now == l {
                    n_keep += 1;
                } else {
                    n_rand += 1;
                }
            }
        }
        // 128 tokens -> round(19.2) = 19 predictions per sequence.
        let rate = n_pred as f64 / n_tokens as f64;
        assert!((rate - 0.15).abs() < 0.003, "mask rate {rate}");
        let f = |x: usize| x as f64 / n_pred as f64;
        // n_pred = 76,000: sd of the 80% share is 0.0015, of the 10% shares 0.0011.
        assert!((f(n_mask) - 0.8).abs() < 0.006, "[MASK] {}", f(n_mask));
        assert!((f(n_rand) - 0.1).abs() < 0.005, "random {}", f(n_rand));
        assert!((f(n_keep) - 0.1).abs() < 0.005, "kept {}", f(n_keep));
    }

    #[test]
    fn whole_word_masking_takes_every_piece() {
        let sp = Specials {
            pad: 0,
            cls: 2,
            sep: 3,
            mask: 4,
        };
        let cfg = MaskConfig {
            prob: 0.15,
            max_predictions: 20,
            whole_word: true,
            vocab_size: 1000,
        };
        // ids >= 500 are "##" continuation pieces.
        let is_cont = |t: u32| t >= 500;
        let mut rng = Rng::new(3);
        for _ in 0..500 {
            let mut a = Vec::new();
            for _ in 0..20 {
                a.push(10 + rng.below(400) as u32);
                for _ in 0..rng.below(3) {
                    a.push(500 + rng.below(400) as u32);
                }
            }
            let inst = Instance {
                a,
                b: vec![11, 12],
                is_random_next: true,
            };
            let m = mask(&inst, sp, &is_cont, &cfg, &mut rng);
            let full: Vec<u32> =
                [vec![2], inst.a.clone(), vec![3], inst.b.clone(), vec![3]].concat();
            let chosen: std::collections::HashSet<u32> = m.positions.iter().copied().collect();
            for &p in &m.positions {
                let p = p as usize;
                // The word's start and every continuation after it are chosen too.
                if is_cont(full[p]) {
                    assert!(chosen.contains(&(p as u32 - 1)));
                }
                if p + 1 < full.len() && is_cont(full[p + 1]) {
                    assert!(chosen.contains(&(p as u32 + 1)));
                }
            }
        }
    }
}
