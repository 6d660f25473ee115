//! Builds the VOCAB section: offsets, the open-addressing index and the token pool
//! (`docs/FORMAT.md`, "Vocabulary").

const EMPTY: u32 = u32::MAX;

/// The VOCAB section bytes for `tokens` (id = position). Duplicate texts: the later id wins,
/// as in transformers' `load_vocab`.
pub fn vocab_section(tokens: &[String]) -> Vec<u8> {
    let count = tokens.len();
    // Load factor <= 0.5 keeps probe sequences short for the WordPiece inner loop.
    let capacity = (2 * count + 1).next_power_of_two();
    let mut index = vec![EMPTY; capacity];
    let mask = capacity - 1;
    for (id, tok) in tokens.iter().enumerate() {
        let (key, cont) = key_of(tok);
        let mut slot = picobert::vocab_hash(key, cont) as usize & mask;
        loop {
            let cur = index[slot];
            if cur == EMPTY {
                index[slot] = id as u32;
                break;
            }
            if tokens[cur as usize] == *tok {
                index[slot] = id as u32;
                break;
            }
            slot = (slot + 1) & mask;
        }
    }
    let mut out = Vec::new();
    out.extend_from_slice(&(count as u32).to_le_bytes());
    out.extend_from_slice(&(capacity as u32).to_le_bytes());
    let mut off = 0u32;
    out.extend_from_slice(&off.to_le_bytes());
    for t in tokens {
        off += t.len() as u32;
        out.extend_from_slice(&off.to_le_bytes());
    }
    for slot in index {
        out.extend_from_slice(&slot.to_le_bytes());
    }
    for t in tokens {
        out.extend_from_slice(t.as_bytes());
    }
    out
}

fn key_of(tok: &str) -> (&[u8], bool) {
    match tok.strip_prefix("##") {
        Some(rest) if !rest.is_empty() => (rest.as_bytes(), true),
        _ => (tok.as_bytes(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_round_trip() {
        let toks: Vec<String> = ["[PAD]", "straw", "##berries", "##", "a", "##a", "straw"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let bytes = vocab_section(&toks);
        let v = picobert::Vocab::from_bytes(&bytes).unwrap();
        assert_eq!(v.len(), 7);
        assert_eq!(v.lookup("straw", false), Some(6), "later duplicate wins");
        assert_eq!(v.lookup("berries", true), Some(2));
        assert_eq!(v.lookup("berries", false), None);
        assert_eq!(v.lookup("a", true), Some(5));
        assert_eq!(v.id("##"), Some(3));
        assert_eq!(v.id("##a"), Some(5));
        assert_eq!(v.token(2), Some("##berries"));
        assert_eq!(v.token(7), None);
    }
}
