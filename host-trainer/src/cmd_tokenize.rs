//! `picobert tokenize`: one JSON line of token ids per input line, with the core tokenizer.
//! External checks compare its output with other tokenizers, so the format is stable:
//! without `--offsets` each line is an array of ids; with it, an object
//! `{"ids":[..],"type_ids":[..],"offsets":[[start,end],..],"word_ids":[..]}` (byte offsets into
//! the line, `[0,0]` and `null` for `[CLS]`/`[SEP]`).

use crate::blob::{load_blob, vocab_section};
use crate::fsutil::write_atomic;
use crate::hf::read_vocab;
use picobert::tokenizer::{Encoding, TokenizeError, Tokenizer, NO_WORD};
use picobert::{Model, TokenizerConfig, TokenizerMode, Vocab, NO_TOKEN};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["model", "vocab"])))]
pub struct Args {
    /// A picobert blob: its vocabulary and tokenizer settings.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// A BERT `vocab.txt` (Hugging Face `BertTokenizer` settings, lowercasing on).
    #[arg(long)]
    pub vocab: Option<PathBuf>,
    /// With `--vocab`: keep case and accents (a cased vocabulary).
    #[arg(long, requires = "vocab")]
    pub no_lowercase: bool,
    /// Text, one input per line (split on `\n` only).
    #[arg(long)]
    pub input: PathBuf,
    /// JSON lines to write.
    #[arg(long)]
    pub output: PathBuf,
    /// Truncate to this many tokens, `[CLS]`/`[SEP]` included (longest first for pairs).
    #[arg(long)]
    pub max_len: Option<usize>,
    /// Second segments, line by line (same number of lines as `--input`).
    #[arg(long)]
    pub pair_with: Option<PathBuf>,
    /// Write spans and word ids too.
    #[arg(long)]
    pub offsets: bool,
}

/// Settings of transformers' `BertTokenizer` for a bare `vocab.txt`.
pub fn vocab_config(vocab: &Vocab, lowercase: bool) -> TokenizerConfig {
    let id = |t: &str| vocab.id(t).unwrap_or(NO_TOKEN);
    TokenizerConfig {
        do_lower_case: lowercase,
        strip_accents: lowercase,
        tokenize_chinese_chars: true,
        mode: TokenizerMode::HuggingFace,
        max_input_chars_per_word: 100,
        cls_id: id("[CLS]"),
        sep_id: id("[SEP]"),
        pad_id: id("[PAD]"),
        unk_id: id("[UNK]"),
        mask_id: id("[MASK]"),
    }
}

fn read_lines(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {} as UTF-8 text: {e}", path.display()))?;
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    Ok(lines)
}

fn json_array(out: &mut String, items: impl Iterator<Item = String>) {
    out.push('[');
    for (i, s) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&s);
    }
    out.push(']');
}

/// Token ids, type ids, character spans and word ids of one encoding.
type Encoded = (Vec<u32>, Vec<u32>, Vec<(u32, u32)>, Vec<u32>);

/// Encodes `a` (and `b`) into buffers of `n` entries, trimmed to the result.
fn encode_into(
    tok: &Tokenizer,
    a: &str,
    b: Option<&str>,
    max_len: Option<usize>,
    n: usize,
) -> Result<Encoded, TokenizeError> {
    let (mut ids, mut types) = (vec![0u32; n], vec![0u32; n]);
    let (mut spans, mut words) = (vec![(0u32, 0u32); n], vec![0u32; n]);
    let mut enc = Encoding::new(&mut ids, &mut types)?.with_offsets(&mut spans, &mut words)?;
    let len = match b {
        Some(b) => tok.encode_pair(a, b, max_len, &mut enc)?,
        None => tok.encode(a, max_len, &mut enc)?,
    };
    for v in [&mut ids, &mut types, &mut words] {
        v.truncate(len);
    }
    spans.truncate(len);
    Ok((ids, types, spans, words))
}

/// One output line for `a` (and `b`).
pub fn encode_line(
    tok: &Tokenizer,
    a: &str,
    b: Option<&str>,
    max_len: Option<usize>,
    offsets: bool,
) -> Result<String, TokenizeError> {
    // Without a maximum, guess one token per character plus the specials (a token covers at
    // least one character, bar lowercasing that expands one); a rare miss says what it needs.
    let guess = a.chars().count() + b.map_or(0, |b| b.chars().count()) + 3;
    let (ids, types, spans, words) = match encode_into(tok, a, b, max_len, max_len.unwrap_or(guess))
    {
        Err(TokenizeError::BufferTooSmall { needed, .. }) if max_len.is_none() => {
            encode_into(tok, a, b, None, needed)?
        }
        r => r?,
    };
    let mut out = String::new();
    if !offsets {
        json_array(&mut out, ids.iter().map(u32::to_string));
        return Ok(out);
    }
    out.push_str("{\"ids\":");
    json_array(&mut out, ids.iter().map(u32::to_string));
    out.push_str(",\"type_ids\":");
    json_array(&mut out, types.iter().map(u32::to_string));
    out.push_str(",\"offsets\":");
    json_array(&mut out, spans.iter().map(|(s, e)| format!("[{s},{e}]")));
    out.push_str(",\"word_ids\":");
    json_array(
        &mut out,
        words.iter().map(|&w| {
            if w == NO_WORD {
                "null".to_string()
            } else {
                w.to_string()
            }
        }),
    );
    out.push('}');
    Ok(out)
}

pub fn run(args: Args) -> Result<(), String> {
    let blob;
    let section;
    let tok = match (&args.model, &args.vocab) {
        (Some(path), _) => {
            blob = load_blob(path)?;
            let model = Model::load(&blob).map_err(|e| format!("{}: {e}", path.display()))?;
            model.tokenizer()
        }
        (None, Some(path)) => {
            let tokens = read_vocab(path)?;
            section = vocab_section(&tokens);
            let vocab =
                Vocab::from_bytes(&section).map_err(|e| format!("{}: {e}", path.display()))?;
            Tokenizer::new(vocab, vocab_config(&vocab, !args.no_lowercase))
        }
        (None, None) => return Err("give --model or --vocab".into()),
    }
    .map_err(|e| e.to_string())?;

    let inputs = read_lines(&args.input)?;
    let pairs = match &args.pair_with {
        Some(p) => {
            let b = read_lines(p)?;
            if b.len() != inputs.len() {
                return Err(format!(
                    "{} has {} lines but {} has {}",
                    p.display(),
                    b.len(),
                    args.input.display(),
                    inputs.len()
                ));
            }
            Some(b)
        }
        None => None,
    };
    let mut out = String::new();
    for (i, a) in inputs.iter().enumerate() {
        let b = pairs.as_ref().map(|p| p[i].as_str());
        let line = encode_line(&tok, a, b, args.max_len, args.offsets)
            .map_err(|e| format!("{} line {}: {e}", args.input.display(), i + 1))?;
        let _ = writeln!(out, "{line}");
    }
    write_atomic(&args.output, out.as_bytes())
}
