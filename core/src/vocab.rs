//! Allocation-free vocabulary: id -> text through an offsets array, text -> id through the
//! open-addressing index the exporter built (see `docs/FORMAT.md`, "Vocabulary").

use crate::LoadError;

const EMPTY: u32 = u32::MAX;
const FNV_OFFSET: u32 = 0x811C_9DC5;
const FNV_PRIME: u32 = 0x0100_0193;
const CONTINUATION_SEED: u32 = 0x9E37_79B9;

/// The lookup hash of the format: FNV-1a over the key bytes, seeded differently for `##`
/// continuation pieces so that `"##ing"` is found from `"ing"` without building a string.
pub fn vocab_hash(key: &[u8], continuation: bool) -> u32 {
    key.iter()
        .fold(hash_seed(continuation), |h, &b| hash_step(h, b))
}

/// The hash of the empty key; [`hash_step`] extends it one byte at a time, so the tokenizer
/// hashes every prefix of a word in one pass.
pub(crate) fn hash_seed(continuation: bool) -> u32 {
    if continuation {
        FNV_OFFSET ^ CONTINUATION_SEED
    } else {
        FNV_OFFSET
    }
}

pub(crate) fn hash_step(h: u32, b: u8) -> u32 {
    (h ^ b as u32).wrapping_mul(FNV_PRIME)
}

/// A validated view of the VOCAB section.
#[derive(Clone, Copy, Debug)]
pub struct Vocab<'a> {
    offsets: &'a [u8],
    index: &'a [u8],
    pool: &'a [u8],
    count: usize,
    mask: usize,
}

fn read_u32(bytes: &[u8], i: usize) -> u32 {
    // Callers index within validated bounds; a miss reads as EMPTY rather than panicking.
    match bytes.get(i * 4..i * 4 + 4) {
        Some(b) => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        None => EMPTY,
    }
}

impl<'a> Vocab<'a> {
    /// Validates a VOCAB section (as the exporter writes it) and borrows it. Hosts use this to
    /// tokenize with a `vocab.txt` without a whole blob.
    pub fn from_bytes(section: &'a [u8]) -> Result<Self, LoadError> {
        let bad = LoadError::BadVocab;
        if section.len() < 8 {
            return Err(bad("section shorter than its header"));
        }
        let count = read_u32(section, 0) as usize;
        let capacity = read_u32(section, 1) as usize;
        if !capacity.is_power_of_two() || capacity <= count {
            return Err(bad("index capacity must be a power of two above count"));
        }
        let off_end = count
            .checked_add(1)
            .and_then(|n| n.checked_mul(4))
            .and_then(|n| n.checked_add(8))
            .ok_or(bad("offsets overflow"))?;
        let idx_end = capacity
            .checked_mul(4)
            .and_then(|n| n.checked_add(off_end))
            .ok_or(bad("index overflow"))?;
        let past_end = bad("offsets or index past the section end");
        let (tables, pool) = section.split_at_checked(idx_end).ok_or(past_end)?;
        let (offsets, index) = tables.split_at_checked(off_end).ok_or(past_end)?;
        let offsets = offsets.get(8..).ok_or(past_end)?;
        let mut prev = 0u32;
        for i in 0..=count {
            let o = read_u32(offsets, i);
            let token = (o >= prev)
                .then(|| pool.get(prev as usize..o as usize))
                .flatten()
                .ok_or(bad("token offsets not non-decreasing within the pool"))?;
            if i > 0 && core::str::from_utf8(token).is_err() {
                return Err(bad("token is not UTF-8"));
            }
            prev = o;
        }
        for slot in 0..capacity {
            let id = read_u32(index, slot);
            if id != EMPTY && id as usize >= count {
                return Err(bad("index slot names an id past the vocabulary"));
            }
        }
        Ok(Vocab {
            offsets,
            index,
            pool,
            count,
            mask: capacity - 1,
        })
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the vocabulary is empty (never true for a loaded model).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Text of token `id` (`"##ing"` for a continuation piece), or `None` past the end.
    pub fn token(&self, id: u32) -> Option<&'a str> {
        self.token_bytes(id)
            .and_then(|b| core::str::from_utf8(b).ok())
    }

    /// Id of `piece`; with `continuation`, of `"##" + piece`.
    pub fn lookup(&self, piece: &str, continuation: bool) -> Option<u32> {
        let key = piece.as_bytes();
        self.lookup_hashed(key, continuation, vocab_hash(key, continuation))
    }

    /// [`Vocab::lookup`] of raw key bytes whose hash (`vocab_hash(key, continuation)`) the caller
    /// already has. Compares bytes only: the pool was checked to be UTF-8 at load.
    pub(crate) fn lookup_hashed(&self, key: &[u8], continuation: bool, hash: u32) -> Option<u32> {
        let mut slot = hash as usize & self.mask;
        for _ in 0..=self.mask {
            let id = read_u32(self.index, slot);
            if id == EMPTY {
                return None;
            }
            if self.token_bytes(id).is_some_and(|t| {
                if continuation {
                    t.len() > 2 && t.starts_with(b"##") && &t[2..] == key
                } else {
                    t == key
                }
            }) {
                return Some(id);
            }
            slot = (slot + 1) & self.mask;
        }
        None
    }

    fn token_bytes(&self, id: u32) -> Option<&'a [u8]> {
        let i = id as usize;
        if i >= self.count {
            return None;
        }
        let start = read_u32(self.offsets, i) as usize;
        let end = read_u32(self.offsets, i + 1) as usize;
        self.pool.get(start..end)
    }

    /// Id of a whole token text as written in `vocab.txt` (`"##ing"` finds the continuation).
    pub fn id(&self, token: &str) -> Option<u32> {
        match token.strip_prefix("##") {
            Some(rest) if !rest.is_empty() => self.lookup(rest, true),
            _ => self.lookup(token, false),
        }
    }
}
