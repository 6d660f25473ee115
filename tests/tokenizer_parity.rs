//! Token ids equal to the reference tokenizers on 123k lines of real text (Brown, State of the
//! Union, Moby Dick; fetched by tools/fetch_corpora.py) and on the committed Unicode edge cases.
//! Fixtures: tools/tokenizer_reference.py (transformers 5.24, bert-tensorflow 1.0.4).

mod tokenizer_common;

use picobert::tokenizer::{Encoding, Tokenizer, NO_WORD};
use picobert::TokenizerMode;
use tokenizer_common::*;

/// Caller-owned output buffers of an encoding: ids, segment ids, byte spans, word ids.
type EncodeBuffers = (Vec<u32>, Vec<u32>, Vec<(u32, u32)>, Vec<u32>);

const CHUNK: usize = 100;
const CORPORA: [&str; 3] = ["brown", "sotu", "moby"];

/// Compares every corpus chunk and every Unicode line with the fixtures of `case`.
fn check_case(case: &str, tok: &Tokenizer) {
    let chunks = json_fixture(&format!("{case}.chunks.json"));
    let mut failures = Vec::new();
    for name in CORPORA {
        let lines = corpus(name);
        let records: Vec<String> = lines
            .iter()
            .map(|l| ids_json(&encode_ids(tok, l)))
            .collect();
        let ours = chunk_crcs(&records, CHUNK);
        let want: Vec<u32> = chunks[name]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(ours.len(), want.len(), "{case} {name}: chunk count");
        for (k, (a, b)) in ours.iter().zip(&want).enumerate() {
            if a != b {
                let first = k * CHUNK;
                failures.push(format!(
                    "{case} {name}: lines {first}..{} differ; first line: {:?}\n  ours: {}\n  \
                     reference: python3 tools/tokenizer_reference.py --dump {case} {name} {first} {}",
                    first + CHUNK,
                    lines[first],
                    records[first],
                    first + CHUNK
                ));
            }
        }
    }
    let lines = corpus("unicode");
    let want = fixture_lines(&format!("{case}.unicode.jsonl"));
    assert_eq!(lines.len(), want.len());
    for (i, (line, w)) in lines.iter().zip(&want).enumerate() {
        let ours = ids_json(&encode_ids(tok, line));
        if &ours != w {
            failures.push(format!(
                "{case} unicode line {i} {line:?}\n  ours:      {ours}\n  reference: {w}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn hugging_face_lowercase_minilm_vocab() {
    let v = VocabBytes::minilm();
    check_case("hf", &v.tokenizer(true, TokenizerMode::HuggingFace));
}

#[test]
fn hugging_face_cased_minilm_vocab() {
    let v = VocabBytes::minilm();
    check_case("hf_cased", &v.tokenizer(false, TokenizerMode::HuggingFace));
}

#[test]
fn hugging_face_cased_vocab_from_our_trainer() {
    let v = VocabBytes::ours_cased();
    check_case("hf_ours", &v.tokenizer(false, TokenizerMode::HuggingFace));
}

#[test]
fn google_lowercase_minilm_vocab() {
    let v = VocabBytes::minilm();
    check_case("google", &v.tokenizer(true, TokenizerMode::Google));
}

/// The record format of tools/tokenizer_reference.py's `fast_record`.
fn record(enc: &Encoding) -> String {
    let join = |v: Vec<String>| v.join(",");
    let spans = enc.spans().unwrap().iter().map(|(s, e)| format!("{s}-{e}"));
    let words = enc.word_ids().unwrap().iter().map(|&w| {
        if w == NO_WORD {
            "-".to_string()
        } else {
            w.to_string()
        }
    });
    [
        join(enc.ids().iter().map(u32::to_string).collect()),
        join(enc.type_ids().iter().map(u32::to_string).collect()),
        join(spans.collect()),
        join(words.collect()),
    ]
    .join(";")
}

fn encoded(
    tok: &Tokenizer,
    a: &str,
    b: Option<&str>,
    max_len: usize,
    bufs: &mut EncodeBuffers,
) -> String {
    let (ids, types, spans, words) = bufs;
    let mut enc = Encoding::new(ids, types)
        .unwrap()
        .with_offsets(spans, words)
        .unwrap();
    match b {
        Some(b) => tok.encode_pair(a, b, Some(max_len), &mut enc).unwrap(),
        None => tok.encode(a, Some(max_len), &mut enc).unwrap(),
    };
    record(&enc)
}

/// Offsets, word ids, truncation (max 128) and pairs (max 64, longest first) equal
/// transformers' BertTokenizerFast on every line where its ids equal the slow tokenizer's (the
/// others are differences between the two references, see tokenizer_differences.rs).
#[test]
fn offsets_word_ids_pairs_and_truncation_match_bert_tokenizer_fast() {
    let v = VocabBytes::minilm();
    let tok = v.tokenizer(true, TokenizerMode::HuggingFace);
    let fx = json_fixture("fast.chunks.json");
    let mut bufs = (vec![0; 128], vec![0; 128], vec![(0, 0); 128], vec![0; 128]);
    let mut failures = Vec::new();
    for name in ["brown", "sotu", "moby", "unicode"] {
        let lines = corpus(name);
        let skip: Vec<usize> = fx[name]["differs_from_slow"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let ok = |i: usize| !skip.contains(&i);
        let singles: Vec<String> = (0..lines.len())
            .filter(|&i| ok(i))
            .map(|i| encoded(&tok, &lines[i], None, 128, &mut bufs))
            .collect();
        let pairs: Vec<String> = (0..lines.len().saturating_sub(1))
            .step_by(2)
            .filter(|&i| ok(i) && ok(i + 1))
            .map(|i| encoded(&tok, &lines[i], Some(&lines[i + 1]), 64, &mut bufs))
            .collect();
        for (kind, records) in [("singles", &singles), ("pairs", &pairs)] {
            let want: Vec<u32> = fx[name][kind]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
                .collect();
            let ours = chunk_crcs(records, CHUNK);
            assert_eq!(ours.len(), want.len(), "{name} {kind}: chunk count");
            for (k, (a, b)) in ours.iter().zip(&want).enumerate() {
                if a != b {
                    failures.push(format!(
                        "{name} {kind} chunk {k}: first record ours {}",
                        records[k * CHUNK]
                    ));
                }
            }
        }
        if name == "unicode" {
            for (kind, records) in [("singles", &singles), ("pairs", &pairs)] {
                let want = fixture_lines(&format!("fast.unicode.{kind}.txt"));
                for (a, b) in records.iter().zip(&want) {
                    if a != b {
                        failures.push(format!("unicode {kind}:\n  ours: {a}\n  fast: {b}"));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `decode` equals transformers' slow `decode` (with and without `skip_special_tokens`).
#[test]
fn decode_matches_transformers() {
    let v = VocabBytes::minilm();
    let tok = v.tokenizer(true, TokenizerMode::HuggingFace);
    let mut buf = vec![0u8; 1 << 16];
    for line in fixture_lines("decode.jsonl") {
        let rec: serde_json::Value = serde_json::from_str(&line).unwrap();
        let ids: Vec<u32> = rec["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        for (skip, key) in [(false, "text"), (true, "skip_special")] {
            let got = tok.decode(&ids, skip, true, &mut buf).unwrap();
            assert_eq!(got, rec[key].as_str().unwrap(), "ids {ids:?}");
        }
    }
}

/// Sliding windows and max-context flags equal run_squad.py's on long Moby Dick paragraphs.
#[test]
fn windows_match_run_squad() {
    let v = VocabBytes::minilm();
    let tok = v.tokenizer(true, TokenizerMode::HuggingFace);
    let fx = json_fixture("windows.json");
    let lines = corpus("moby");
    let query_text = fx["query"].as_str().unwrap();
    let mut query = vec![Default::default(); 64];
    let q = tok.tokenize(query_text, &mut query).unwrap();
    let query = &query[..q];
    let mut doc = vec![Default::default(); 4096];
    for case in fx["windows"].as_array().unwrap() {
        let line = &lines[case["line"].as_u64().unwrap() as usize];
        let n = tok.tokenize(line, &mut doc).unwrap();
        let max_len = case["max_len"].as_u64().unwrap() as usize;
        let stride = case["stride"].as_u64().unwrap() as usize;
        let windows = tok.windows(n, Some(q), max_len, stride).unwrap();
        let spans: Vec<serde_json::Value> = windows
            .map(|w| serde_json::json!([w.start, w.len]))
            .collect();
        assert_eq!(spans, *case["spans"].as_array().unwrap(), "{case}");
        let (mut ids, mut types) = (vec![0; max_len], vec![0; max_len]);
        let mut flags = vec![false; max_len];
        for (k, w) in windows.enumerate() {
            let mut enc = Encoding::new(&mut ids, &mut types).unwrap();
            let len = tok
                .encode_window(
                    Some(query),
                    &doc[..n],
                    &windows,
                    w,
                    &mut enc,
                    Some(&mut flags),
                )
                .unwrap();
            assert_eq!(
                enc.ids()[1..=q],
                query.iter().map(|p| p.id).collect::<Vec<_>>()[..]
            );
            let doc_flags: String = flags[q + 2..len - 1]
                .iter()
                .map(|&f| if f { '1' } else { '0' })
                .collect();
            let want = case["max_context"][k].as_str().unwrap();
            assert_eq!(doc_flags, want, "window {k} of {case}");
        }
    }
}
