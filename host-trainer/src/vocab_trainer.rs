//! WordPiece vocabulary training as published (Schuster & Nakajima 2012; Wu et al. 2016):
//! start from the characters, and repeatedly add the merge of two adjacent symbols that most
//! increases the likelihood of the training words under a unigram model of the symbols.
//! (Hugging Face tokenizers' `WordPieceTrainer` instead merges the most frequent pair: BPE.)
//!
//! [`Score::Likelihood`] (the default) is that increase, computed exactly from the counts:
//! about `count(ab) * ln(count(ab) * N / (count(a) * count(b)))`. [`Score::Ratio`] is the
//! popular shortcut `count(ab) / (count(a) * count(b))` (the pointwise mutual information
//! without the `count(ab)` weight): it spends the vocabulary on rare symbols that only occur
//! together, and on held-out text needs about three times as many pieces per word
//! (docs/TOKENIZER.md has the numbers).
//!
//! Words are what picobert's own basic tokenizer yields (same cleaning, lowercasing, accent
//! stripping, punctuation and CJK splitting), so every trained piece is reachable.
//!
//! The vocabulary file lists the special tokens first, `[PAD]` `[UNK]` `[CLS]` `[SEP]` `[MASK]`
//! (ids 0..4, the order of transformers' default `BertTokenizer` vocabulary; no `[unused]`
//! slots), then the alphabet (word-initial characters, then `##` characters, each by code point),
//! then the merged pieces in the order they were learned.

use picobert::tokenizer::Tokenizer;
use picobert::{TokenizerConfig, TokenizerMode, Vocab, NO_TOKEN};
use std::collections::{HashMap, HashSet};

/// The special tokens, in id order.
pub const SPECIAL_TOKENS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

/// How a candidate merge is ranked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Score {
    /// Exact increase of the unigram log-likelihood of the training words.
    Likelihood,
    /// `count(ab) / (count(a) * count(b))`.
    Ratio,
}

/// `x ln x`, 0 at 0.
fn xlnx(x: i64) -> f64 {
    if x <= 0 {
        0.0
    } else {
        let x = x as f64;
        x * x.ln()
    }
}

/// Log-likelihood change of merging `ab` (`cab` times) given the symbol counts and the total.
fn likelihood_gain(ca: i64, cb: i64, cab: i64, same: bool, total: i64) -> f64 {
    let parts = if same {
        xlnx(ca - 2 * cab) - xlnx(ca)
    } else {
        xlnx(ca - cab) - xlnx(ca) + xlnx(cb - cab) - xlnx(cb)
    };
    parts + xlnx(cab) - (xlnx(total - cab) - xlnx(total))
}

/// Training options.
#[derive(Clone, Debug)]
pub struct TrainerOptions {
    /// How merges are ranked.
    pub score: Score,
    /// Vocabulary size, special tokens and alphabet included.
    pub vocab_size: usize,
    /// A merge must occur at least this often.
    pub min_frequency: u64,
    /// Keep at most this many distinct characters (the most frequent); words with any other
    /// character are left out of training (they become `[UNK]`).
    pub limit_alphabet: usize,
    /// Lowercase the text.
    pub lowercase: bool,
    /// Strip accents (NFD, drop Mn); transformers' default is "iff lowercasing".
    pub strip_accents: bool,
    /// Longest word trained on, in characters (longer words are `[UNK]` at tokenization).
    pub max_word_chars: usize,
    /// Rounds of pruning and refilling after the vocabulary is full (see [`train`]).
    pub refine_rounds: usize,
}

impl Default for TrainerOptions {
    fn default() -> Self {
        TrainerOptions {
            score: Score::Likelihood,
            vocab_size: 8000,
            min_frequency: 2,
            limit_alphabet: 1000,
            lowercase: true,
            strip_accents: true,
            max_word_chars: 100,
            refine_rounds: 8,
        }
    }
}

/// Word frequencies of a corpus, counted with picobert's basic tokenizer.
pub struct WordCounts {
    counts: HashMap<String, u64>,
    /// A vocabulary of `[UNK]` alone: the basic tokenizer needs one to exist.
    unk: Vec<u8>,
    config: TokenizerConfig,
}

impl WordCounts {
    pub fn new(options: &TrainerOptions) -> Self {
        WordCounts {
            counts: HashMap::new(),
            unk: crate::blob::vocab_section(&["[UNK]".to_string()]),
            config: basic_config(options.lowercase, options.strip_accents),
        }
    }

    /// Adds the words of one text.
    pub fn add_text(&mut self, text: &str) -> Result<(), String> {
        let vocab = Vocab::from_bytes(&self.unk).map_err(|e| e.to_string())?;
        let tok = Tokenizer::new(vocab, self.config).map_err(|e| e.to_string())?;
        let counts = &mut self.counts;
        tok.for_each_word(text, |w, _| match counts.get_mut(w) {
            Some(c) => *c += 1,
            None => {
                counts.insert(w.to_string(), 1);
            }
        })
        .map_err(|e| e.to_string())
    }

    /// Distinct words.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

/// The tokenizer settings the words are counted with (transformers' `BertTokenizer`).
fn basic_config(lower: bool, strip: bool) -> TokenizerConfig {
    TokenizerConfig {
        do_lower_case: lower,
        strip_accents: strip,
        tokenize_chinese_chars: true,
        mode: TokenizerMode::HuggingFace,
        max_input_chars_per_word: 100,
        cls_id: NO_TOKEN,
        sep_id: NO_TOKEN,
        pad_id: NO_TOKEN,
        unk_id: 0,
        mask_id: NO_TOKEN,
    }
}

/// Statistics of one adjacent symbol pair.
#[derive(Clone, Copy)]
struct Pair {
    a: u32,
    b: u32,
    count: i64,
}

struct State {
    /// Symbol texts; a continuation symbol starts with `##`.
    symbols: Vec<String>,
    symbol_ids: HashMap<String, u32>,
    symbol_count: Vec<i64>,
    /// Each training word as symbols, with its frequency.
    words: Vec<(Vec<u32>, i64)>,
    /// Symbols in the training words, counted with their frequency.
    total: i64,
    pairs: Vec<Pair>,
    pair_index: HashMap<(u32, u32), usize>,
    /// Words that contained the pair when it was counted (may be stale; rechecked on merge).
    pair_words: HashMap<(u32, u32), Vec<u32>>,
}

impl State {
    fn symbol(&mut self, text: String) -> u32 {
        if let Some(&id) = self.symbol_ids.get(&text) {
            return id;
        }
        let id = self.symbols.len() as u32;
        self.symbol_ids.insert(text.clone(), id);
        self.symbols.push(text);
        self.symbol_count.push(0);
        id
    }

    fn add_pair(&mut self, a: u32, b: u32, count: i64, word: u32) {
        let i = match self.pair_index.get(&(a, b)) {
            Some(&i) => i,
            None => {
                self.pairs.push(Pair { a, b, count: 0 });
                self.pair_index.insert((a, b), self.pairs.len() - 1);
                self.pairs.len() - 1
            }
        };
        self.pairs[i].count += count;
        if count > 0 {
            self.pair_words.entry((a, b)).or_default().push(word);
        }
    }

    /// The best-scoring pair among those seen at least `min_frequency` times; ties go to the
    /// more frequent pair, then the older one.
    fn best(&self, min_frequency: i64, kind: Score) -> Option<usize> {
        let mut best: Option<(f64, i64, usize)> = None;
        for (i, p) in self.pairs.iter().enumerate() {
            if p.count < min_frequency.max(1) {
                continue;
            }
            let (ca, cb) = (
                self.symbol_count[p.a as usize],
                self.symbol_count[p.b as usize],
            );
            let score = match kind {
                Score::Ratio => p.count as f64 / (ca as f64 * cb as f64),
                Score::Likelihood => likelihood_gain(ca, cb, p.count, p.a == p.b, self.total),
            };
            let better = match best {
                None => true,
                Some((s, c, _)) => score > s || (score == s && p.count > c),
            };
            if better {
                best = Some((score, p.count, i));
            }
        }
        best.map(|(_, _, i)| i)
    }

    /// Replaces every `a b` by `new` in the words that hold it, updating all counts.
    fn merge(&mut self, a: u32, b: u32, new: u32) {
        let words = self.pair_words.remove(&(a, b)).unwrap_or_default();
        let mut last = u32::MAX;
        for w in words {
            if w == last {
                continue;
            }
            last = w;
            let (syms, freq) = std::mem::take(&mut self.words[w as usize]);
            if !syms.windows(2).any(|p| p == [a, b]) {
                self.words[w as usize] = (syms, freq);
                continue;
            }
            for p in syms.windows(2) {
                self.add_pair(p[0], p[1], -freq, w);
            }
            let mut out = Vec::with_capacity(syms.len());
            let mut i = 0;
            while i < syms.len() {
                if i + 1 < syms.len() && syms[i] == a && syms[i + 1] == b {
                    out.push(new);
                    self.symbol_count[a as usize] -= freq;
                    self.symbol_count[b as usize] -= freq;
                    self.symbol_count[new as usize] += freq;
                    self.total -= freq;
                    i += 2;
                } else {
                    out.push(syms[i]);
                    i += 1;
                }
            }
            for p in out.windows(2) {
                self.add_pair(p[0], p[1], freq, w);
            }
            self.words[w as usize] = (out, freq);
        }
    }
}

impl State {
    /// Statistics of the training words, each given as its symbols (texts) and frequency.
    fn new(words: Vec<(Vec<String>, i64)>) -> State {
        let mut st = State {
            symbols: Vec::new(),
            symbol_ids: HashMap::new(),
            symbol_count: Vec::new(),
            words: Vec::new(),
            total: 0,
            pairs: Vec::new(),
            pair_index: HashMap::new(),
            pair_words: HashMap::new(),
        };
        for (texts, freq) in words {
            let syms: Vec<u32> = texts.into_iter().map(|t| st.symbol(t)).collect();
            for &s in &syms {
                st.symbol_count[s as usize] += freq;
            }
            st.total += freq * syms.len() as i64;
            st.words.push((syms, freq));
        }
        for w in 0..st.words.len() {
            let (syms, freq) = st.words[w].clone();
            for p in syms.windows(2) {
                st.add_pair(p[0], p[1], freq, w as u32);
            }
        }
        st
    }

    /// Adds merges to `vocab` until it holds `size` pieces or no pair is frequent enough.
    fn merge_until(
        &mut self,
        vocab: &mut Vec<String>,
        in_vocab: &mut HashSet<String>,
        options: &TrainerOptions,
        progress: &mut impl FnMut(usize, usize),
    ) {
        while vocab.len() < options.vocab_size {
            let Some(i) = self.best(options.min_frequency as i64, options.score) else {
                break;
            };
            let Pair { a, b, .. } = self.pairs[i];
            let text = format!(
                "{}{}",
                self.symbols[a as usize],
                &self.symbols[b as usize][2..]
            );
            let new = self.symbol(text.clone());
            self.merge(a, b, new);
            // The merged pair no longer occurs; its slot stays with a zero count.
            if in_vocab.insert(text.clone()) {
                vocab.push(text);
            }
            progress(vocab.len(), options.vocab_size);
        }
    }
}

/// Greedy longest-match-first over a vocabulary, as the tokenizer splits words.
struct Greedy<'v> {
    initial: HashSet<&'v str>,
    continuation: HashSet<&'v str>,
    max_chars: usize,
}

impl<'v> Greedy<'v> {
    fn new(vocab: &'v [String]) -> Self {
        let mut g = Greedy {
            initial: HashSet::new(),
            continuation: HashSet::new(),
            max_chars: 0,
        };
        for t in vocab {
            let key = match t.strip_prefix("##") {
                Some(rest) if !rest.is_empty() => {
                    g.continuation.insert(rest);
                    rest
                }
                _ => {
                    g.initial.insert(t.as_str());
                    t.as_str()
                }
            };
            g.max_chars = g.max_chars.max(key.chars().count());
        }
        g
    }

    /// The pieces of `word` (`##`-prefixed after the first), or `None` if it is `[UNK]`.
    fn split(&self, word: &str) -> Option<Vec<String>> {
        let bounds: Vec<usize> = word
            .char_indices()
            .map(|(i, _)| i)
            .chain([word.len()])
            .collect();
        let n = bounds.len() - 1;
        let mut out = Vec::new();
        let mut start = 0;
        while start < n {
            let set = if start == 0 {
                &self.initial
            } else {
                &self.continuation
            };
            let end = (start + 1..=n.min(start + self.max_chars))
                .rev()
                .find(|&e| set.contains(&word[bounds[start]..bounds[e]]))?;
            let piece = &word[bounds[start]..bounds[end]];
            out.push(if start == 0 {
                piece.to_string()
            } else {
                format!("##{piece}")
            });
            start = end;
        }
        Some(out)
    }
}

/// Trains a vocabulary; `progress` is called with (pieces so far, target) after each merge.
///
/// Merging fills the vocabulary with every intermediate product (`##atio` on the way to
/// `##ation`), but the tokenizer's greedy longest match never uses many of them. So once it is
/// full, each of `refine_rounds` rounds splits the training words greedily with the vocabulary,
/// drops the merged pieces used fewer times than the pairs merged last (a piece saves about one
/// token per use; the last merges saved about their count each: dropping the piece and merging
/// a new pair is then a gain), and merges again, on the greedy splits, to refill. Specials and
/// the alphabet are never dropped, so coverage does not change.
pub fn train(
    counts: &WordCounts,
    options: &TrainerOptions,
    mut progress: impl FnMut(usize, usize),
) -> Result<Vec<String>, String> {
    if options.vocab_size < SPECIAL_TOKENS.len() {
        return Err(format!(
            "vocabulary size {} cannot hold the {} special tokens",
            options.vocab_size,
            SPECIAL_TOKENS.len()
        ));
    }
    // The alphabet: the most frequent characters (ties by code point, for determinism).
    let mut char_counts: HashMap<char, u64> = HashMap::new();
    for (w, &c) in &counts.counts {
        for ch in w.chars() {
            *char_counts.entry(ch).or_default() += c;
        }
    }
    let mut chars: Vec<(char, u64)> = char_counts.into_iter().collect();
    chars.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
    chars.truncate(options.limit_alphabet);
    let alphabet: HashSet<char> = chars.iter().map(|&(c, _)| c).collect();

    // Sorted words make symbol and word numbering, hence ties, deterministic.
    let mut words: Vec<(&str, i64)> = counts
        .counts
        .iter()
        .map(|(w, &c)| (w.as_str(), c as i64))
        .filter(|(w, _)| {
            let n = w.chars().count();
            n > 0 && n <= options.max_word_chars && w.chars().all(|ch| alphabet.contains(&ch))
        })
        .collect();
    words.sort();
    let mut st = State::new(
        words
            .iter()
            .map(|&(w, c)| {
                let syms = w
                    .chars()
                    .enumerate()
                    .map(|(i, ch)| {
                        if i == 0 {
                            ch.to_string()
                        } else {
                            format!("##{ch}")
                        }
                    })
                    .collect();
                (syms, c)
            })
            .collect(),
    );
    let mut alphabet_syms: Vec<String> = st.symbols.clone();
    alphabet_syms.sort_by(|x, y| {
        let key = |s: &String| (s.starts_with("##") && s.len() > 2, s.clone());
        key(x).cmp(&key(y))
    });
    let mut vocab: Vec<String> = SPECIAL_TOKENS.iter().map(|s| s.to_string()).collect();
    let mut in_vocab: HashSet<String> = vocab.iter().cloned().collect();
    for s in alphabet_syms {
        if vocab.len() >= options.vocab_size {
            break;
        }
        if in_vocab.insert(s.clone()) {
            vocab.push(s);
        }
    }
    let fixed = vocab.len();
    let mut merged_counts = Vec::new();
    st.merge_until(&mut vocab, &mut in_vocab, options, &mut |n, size| {
        progress(n, size)
    });
    for _ in 0..options.refine_rounds {
        if vocab.len() < options.vocab_size {
            break; // the corpus ran out of pairs: nothing to gain from swapping
        }
        let greedy = Greedy::new(&vocab);
        let mut splits = Vec::with_capacity(words.len());
        let mut usage: HashMap<&str, i64> = HashMap::new();
        for &(w, c) in &words {
            let Some(pieces) = greedy.split(w) else {
                continue;
            };
            splits.push((pieces, c));
        }
        for (pieces, c) in &splits {
            for p in pieces {
                if let Some(t) = in_vocab.get(p.as_str()) {
                    *usage.entry(t.as_str()).or_default() += c;
                }
            }
        }
        // What the last merges were worth: the median count of the last 5% of merged pairs.
        merged_counts.clear();
        let tail = (vocab.len() - fixed).div_ceil(20).max(1);
        for t in &vocab[vocab.len() - tail..] {
            merged_counts.push(usage.get(t.as_str()).copied().unwrap_or(0));
        }
        merged_counts.sort_unstable();
        let threshold = merged_counts[merged_counts.len() / 2].max(1);
        let keep: Vec<bool> = vocab
            .iter()
            .enumerate()
            .map(|(i, t)| i < fixed || usage.get(t.as_str()).copied().unwrap_or(0) >= threshold)
            .collect();
        let dropped = keep.iter().filter(|k| !**k).count();
        if dropped == 0 {
            break;
        }
        let mut k = keep.iter();
        vocab.retain(|_| k.next().copied().unwrap_or(true));
        in_vocab = vocab.iter().cloned().collect();
        let greedy = Greedy::new(&vocab);
        let resplit = words
            .iter()
            .filter_map(|&(w, c)| greedy.split(w).map(|p| (p, c)))
            .collect();
        st = State::new(resplit);
        st.merge_until(&mut vocab, &mut in_vocab, options, &mut |n, size| {
            progress(n, size)
        });
    }
    Ok(vocab)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn train_on(text: &str, size: usize) -> Vec<String> {
        train_with(text, size, Score::Ratio)
    }

    fn train_with(text: &str, size: usize, score: Score) -> Vec<String> {
        let opts = TrainerOptions {
            score,
            vocab_size: size,
            min_frequency: 1,
            ..TrainerOptions::default()
        };
        let mut counts = WordCounts::new(&opts);
        counts.add_text(text).unwrap();
        train(&counts, &opts, |_, _| {}).unwrap()
    }

    #[test]
    fn specials_then_alphabet_then_merges() {
        // Pairs: a+##b 3 times (score 3 / (3 * 3)), c+##d once (1 / (1 * 1)): cd first.
        let v = train_on("ab ab ab cd", 12);
        let want = ["a", "c", "##b", "##d", "cd", "ab"];
        assert_eq!(&v[..5], &SPECIAL_TOKENS.map(String::from));
        assert_eq!(
            &v[5..],
            &want.map(String::from),
            "stops when no pair is left"
        );
    }

    #[test]
    fn likelihood_gain_weighs_pmi_by_frequency() {
        // "ab" 100 times among common symbols beats "xy" twice (always together): the ratio
        // score would take "xy" first.
        let mut text = String::new();
        for _ in 0..100 {
            text.push_str("ab ac cb ");
        }
        text.push_str("xy xy");
        assert_eq!(
            train_with(&text, 5 + 6 + 1, Score::Ratio).last().unwrap(),
            "xy"
        );
        let v = train_with(&text, 5 + 6 + 1, Score::Likelihood);
        assert!(
            ["ab", "ac", "cb"].contains(&v.last().unwrap().as_str()),
            "{v:?}"
        );
        // The gain is exact: merging a pair that always occurs together, once per word of two
        // symbols, of n words, turns 2n symbols into n.
        let g = likelihood_gain(4, 4, 4, false, 8);
        let before = 2.0 * 4.0 * (4.0f64 / 8.0).ln();
        assert!((g - (0.0 - before)).abs() < 1e-9, "{g}");
    }

    #[test]
    fn refinement_replaces_pieces_greedy_matching_never_uses() {
        // Merging "abcd" passes through "ab" and "##cd", which greedy matching never uses once
        // "abcd" exists: refinement swaps them for "xy".
        let text = "abcd ".repeat(100) + &"xy ".repeat(50);
        let size = 5 + 6 + 3;
        let run = |rounds| {
            let opts = TrainerOptions {
                vocab_size: size,
                min_frequency: 1,
                refine_rounds: rounds,
                ..TrainerOptions::default()
            };
            let mut counts = WordCounts::new(&opts);
            counts.add_text(&text).unwrap();
            train(&counts, &opts, |_, _| {}).unwrap()
        };
        let plain = run(0);
        assert_eq!(&plain[11..], ["ab", "##cd", "abcd"], "{plain:?}");
        let refined = run(8);
        assert_eq!(&refined[11..], ["abcd", "xy"], "{refined:?}");
        assert_eq!(&refined[..11], &plain[..11], "specials and alphabet stay");
    }

    #[test]
    fn ratio_score_prefers_pairs_whose_parts_are_rare_elsewhere() {
        // "xy" appears 3 times; "e" and "##s" are everywhere. BPE would merge "e"+"##s" first
        // (count 6); WordPiece merges x+y first (3 / (3*3) beats 6 / (9*9)).
        let v = train_on("xy xy xy es es es es es es eb eb eb ts ts ts", 5 + 6 + 1);
        assert_eq!(v.last().map(String::as_str), Some("xy"), "{v:?}");
    }
}
