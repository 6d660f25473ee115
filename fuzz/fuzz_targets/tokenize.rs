//! The tokenizer on arbitrary bytes (decoded lossily, so invalid UTF-8 becomes U+FFFD) under
//! every setting a blob can hold: never a panic, every id in the vocabulary, every span on
//! character boundaries inside the input, word ids in order, buffers too small reported as
//! errors, and decode, windows and word iteration all well-behaved.
#![no_main]

use libfuzzer_sys::fuzz_target;
use picobert::tokenizer::{Encoding, Piece, TokenizeError, Tokenizer};
use picobert::{vocab_hash, TokenizerConfig, TokenizerMode, Vocab, NO_TOKEN};

/// Pieces that make WordPiece do real work: specials, ASCII, continuation pieces, accented,
/// Greek, CJK and emoji characters, a few words.
const TOKENS: &[&str] = &[
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "a",
    "b",
    "c",
    "e",
    "i",
    "s",
    "x",
    "##a",
    "##b",
    "##c",
    "##e",
    "##i",
    "##s",
    "##x",
    "ab",
    "##ab",
    "abc",
    "the",
    "##ing",
    "straw",
    "##berries",
    "é",
    "##é",
    "σ",
    "ς",
    "##ς",
    "中",
    "文",
    "😀",
    "##😀",
    ".",
    ",",
    "'",
    "[",
    "]",
    "##",
    "i\u{307}",
    "e\u{301}",
    "가",
    "각",
];

/// The VOCAB section of docs/FORMAT.md for `TOKENS` (what the exporter writes).
fn vocab_section() -> Vec<u8> {
    let n = TOKENS.len();
    let cap = (2 * n + 1).next_power_of_two();
    let mut index = vec![u32::MAX; cap];
    for (id, t) in TOKENS.iter().enumerate() {
        let (key, cont) = match t.strip_prefix("##") {
            Some(r) if !r.is_empty() => (r, true),
            _ => (*t, false),
        };
        let mut slot = vocab_hash(key.as_bytes(), cont) as usize & (cap - 1);
        while index[slot] != u32::MAX {
            slot = (slot + 1) & (cap - 1);
        }
        index[slot] = id as u32;
    }
    let mut out = Vec::new();
    out.extend_from_slice(&(n as u32).to_le_bytes());
    out.extend_from_slice(&(cap as u32).to_le_bytes());
    let mut off = 0u32;
    out.extend_from_slice(&off.to_le_bytes());
    for t in TOKENS {
        off += t.len() as u32;
        out.extend_from_slice(&off.to_le_bytes());
    }
    for i in index {
        out.extend_from_slice(&i.to_le_bytes());
    }
    for t in TOKENS {
        out.extend_from_slice(t.as_bytes());
    }
    out
}

fn check_piece(p: &Piece, text: &str, vocab_len: usize) {
    assert!((p.id as usize) < vocab_len, "{p:?}");
    let (s, e) = (p.start as usize, p.end as usize);
    assert!(s <= e && e <= text.len(), "{p:?} in {} bytes", text.len());
    assert!(
        text.is_char_boundary(s) && text.is_char_boundary(e),
        "{p:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Some((&knob, rest)) = rest.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let text = text.as_ref();
    let section = vocab_section();
    let vocab = Vocab::from_bytes(&section).unwrap();
    let id = |t: &str| vocab.id(t).unwrap_or(NO_TOKEN);
    let config = TokenizerConfig {
        do_lower_case: flags & 1 != 0,
        strip_accents: flags & 2 != 0,
        tokenize_chinese_chars: flags & 4 != 0,
        mode: if flags & 8 != 0 {
            TokenizerMode::Google
        } else {
            TokenizerMode::HuggingFace
        },
        max_input_chars_per_word: (knob as usize) % 210,
        cls_id: id("[CLS]"),
        sep_id: id("[SEP]"),
        pad_id: id("[PAD]"),
        unk_id: id("[UNK]"),
        mask_id: if flags & 16 != 0 {
            NO_TOKEN
        } else {
            id("[MASK]")
        },
    };
    let tok = match Tokenizer::new(vocab, config) {
        Ok(t) => t,
        Err(TokenizeError::WordLimit(n)) => {
            assert!(n > picobert::tokenizer::MAX_WORD_CHARS);
            return;
        }
        Err(e) => panic!("{e}"),
    };

    let mut pieces = Vec::new();
    let mut last_word = 0;
    for p in tok.pieces(text).unwrap() {
        check_piece(&p, text, vocab.len());
        assert!(p.word >= last_word, "word ids go back: {p:?}");
        last_word = p.word;
        pieces.push(p);
    }

    // A buffer of any size: the exact count, or an error naming it.
    let mut buf = vec![Piece::default(); knob as usize % 64];
    match tok.tokenize(text, &mut buf) {
        Ok(n) => assert_eq!(&buf[..n], &pieces[..]),
        Err(TokenizeError::BufferTooSmall { needed, given }) => {
            assert_eq!((needed, given), (pieces.len(), buf.len()))
        }
        Err(e) => panic!("{e}"),
    }

    tok.for_each_word(text, |w, (s, e)| {
        assert!(!w.is_empty());
        assert!(text.is_char_boundary(s as usize) && text.is_char_boundary(e as usize));
    })
    .unwrap();

    // Single encode with truncation, into a buffer of a size derived from the input.
    let cap = 2 + knob as usize % 40;
    let (mut ids, mut types) = (vec![0u32; cap], vec![0u32; cap]);
    let (mut spans, mut words) = (vec![(0u32, 0u32); cap], vec![0u32; cap]);
    let mut enc = Encoding::new(&mut ids, &mut types)
        .unwrap()
        .with_offsets(&mut spans, &mut words)
        .unwrap();
    let max_len = (flags >> 5) as usize * 3;
    match tok.encode(text, Some(max_len), &mut enc) {
        Ok(n) => {
            assert!(n <= max_len && n <= cap && n == (pieces.len() + 2).min(max_len));
            assert_eq!(
                enc.ids()[1..n - 1],
                pieces[..n - 2].iter().map(|p| p.id).collect::<Vec<_>>()[..]
            );
            let mut out = vec![0u8; 8 * n + 16];
            let _ = tok.decode(enc.ids(), flags & 64 != 0, true, &mut out);
        }
        Err(TokenizeError::MaxLenTooSmall { .. }) => assert!(max_len < 2),
        Err(TokenizeError::BufferTooSmall { needed, .. }) => assert!(needed > cap),
        Err(e) => panic!("{e}"),
    }

    // Windows over the pieces with the first piece as the question.
    let (q, doc) = pieces.split_at(pieces.len().min(1));
    if let Ok(windows) = tok.windows(
        doc.len(),
        Some(q.len()),
        4 + knob as usize % 12,
        1 + (flags as usize % 5),
    ) {
        let mut flags_buf = vec![false; cap.max(20)];
        let (mut ids, mut types) = (vec![0u32; 20], vec![0u32; 20]);
        let mut covered = vec![0usize; doc.len()];
        for w in windows {
            let mut enc = Encoding::new(&mut ids, &mut types).unwrap();
            if tok
                .encode_window(Some(q), doc, &windows, w, &mut enc, Some(&mut flags_buf))
                .is_ok()
            {
                for (i, &f) in flags_buf[q.len() + 2..enc.len() - 1].iter().enumerate() {
                    covered[w.start + i] += f as usize;
                }
            }
        }
        // Every document piece has exactly one window where it has the most context.
        if windows.clone().all(|w| w.len + q.len() + 3 <= 20) {
            assert!(covered.iter().all(|&c| c == 1), "{covered:?}");
        }
    }
});
