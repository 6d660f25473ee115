//! Vocabulary trimming (the firmware's export step): on the task corpus, a trimmed model
//! tokenizes to the same tokens and computes the same outputs, bit for bit, as the full one;
//! words outside the corpus fall back to `[UNK]`.

use picobert::tokenizer::Encoding;
use picobert::Model;
use picobert_e2e::fixture;
use picobert_trainer::blob::quantize::{convert, WeightDtype};
use picobert_trainer::blob::trim::trim_vocab;
use picobert_trainer::blob::{AlignedBytes, BlobModel};
use picobert_trainer::import::{import_hf_dir, ClassifierTask};

const CORPUS: [&str; 4] = [
    "The ships were new, and the sea was not.",
    "She said that he had been back after the first time.",
    "What about two more? We could have one!",
    "Strawberries and cream.",
];

fn bytes(m: &BlobModel) -> AlignedBytes {
    let b = AlignedBytes::from_slice(&m.to_bytes().unwrap());
    Model::load(&b).unwrap();
    b
}

/// Token texts, sequence output bits, and the logits of every head present.
fn run(model: &Model, text: &str) -> (Vec<String>, Vec<u32>, Vec<u32>) {
    let tok = model.tokenizer().unwrap();
    let (mut ids, mut types) = ([0u32; 64], [0u32; 64]);
    let mut enc = Encoding::new(&mut ids, &mut types).unwrap();
    tok.encode(text, Some(64), &mut enc).unwrap();
    let texts = enc
        .ids()
        .iter()
        .map(|&id| model.vocab().token(id).unwrap().to_string())
        .collect();
    let mut scratch = vec![0f32; model.scratch_len(enc.len())];
    let mut out = model.forward(&enc.input(), &mut scratch).unwrap();
    let hidden = out.sequence_output().iter().map(|x| x.to_bits()).collect();
    let mut logits = vec![];
    if model
        .head(picobert::HeadKind::SequenceClassification)
        .is_some()
    {
        let mut l = vec![0f32; 3];
        out.classifier_logits(&mut l).unwrap();
        logits.extend(l);
    }
    if model.head(picobert::HeadKind::MaskedLm).is_some() {
        // Only rows of kept tokens exist after trimming: compare through the token texts.
        let mut l = vec![0f32; model.config().vocab_size];
        out.mlm_logits(1, &mut l).unwrap();
        let unk = model.tokenizer_config().unk_id as usize;
        logits.push(l[unk]);
    }
    (texts, hidden, logits.iter().map(|x| x.to_bits()).collect())
}

fn check_same_on_corpus(full: &BlobModel) {
    let trimmed = trim_vocab(full, CORPUS).unwrap();
    assert!(
        trimmed.vocab.len() < full.vocab.len() / 3,
        "{} of {} tokens kept",
        trimmed.vocab.len(),
        full.vocab.len()
    );
    for special in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] {
        assert!(trimmed.vocab.iter().any(|t| t == special), "{special} kept");
    }
    let (fb, tb) = (bytes(full), bytes(&trimmed));
    let (fm, tm) = (Model::load(&fb).unwrap(), Model::load(&tb).unwrap());
    assert_eq!(tm.config().vocab_size, trimmed.vocab.len());
    for text in CORPUS {
        assert_eq!(run(&fm, text), run(&tm, text), "{text}");
    }
    // Outside the corpus: "zebra" needs "z", which no corpus word uses, so it is [UNK]; "ships"
    // is spelled as in the full vocabulary, from pieces the corpus kept.
    let (texts, _, _) = run(&tm, "zebra ships");
    let (ships, _, _) = run(&fm, "ships");
    assert_eq!(texts[..2], ["[CLS]", "[UNK]"]);
    assert_eq!(texts[2..], ships[1..]);
    let (texts, _, _) = run(&fm, "zebra ships");
    assert_ne!(texts[1], "[UNK]", "the full vocabulary spells it");
}

#[test]
fn trimmed_classifier_predicts_the_same_on_its_corpus() {
    let full = import_hf_dir(&fixture("tiny/seqcls"), Some(ClassifierTask::Sequence)).unwrap();
    check_same_on_corpus(&full);
}

#[test]
fn trimmed_int8_classifier_predicts_the_same_on_its_corpus() {
    let mut full = import_hf_dir(&fixture("tiny/seqcls"), Some(ClassifierTask::Sequence)).unwrap();
    convert(&mut full, WeightDtype::Int8);
    check_same_on_corpus(&full);
}

#[test]
fn trimming_cuts_the_masked_lm_output_rows_too() {
    let full = import_hf_dir(&fixture("tiny/pretraining"), None).unwrap();
    check_same_on_corpus(&full);
}

#[test]
fn a_vocabulary_without_unk_is_refused() {
    let mut full = import_hf_dir(&fixture("tiny/seqcls"), Some(ClassifierTask::Sequence)).unwrap();
    full.tokenizer.unk_id = picobert::NO_TOKEN;
    let err = trim_vocab(&full, CORPUS).unwrap_err();
    assert!(err.contains("[UNK]"), "{err}");
}

/// `picobert export` flags, parsed as the command line parses them.
fn export_args(argv: &[&str]) -> picobert_trainer::cmd_export::Args {
    use clap::{FromArgMatches, Parser};
    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        inner: picobert_trainer::cmd_export::Args,
    }
    let m = <Wrap as clap::CommandFactory>::command()
        .no_binary_name(true)
        .try_get_matches_from(argv)
        .unwrap();
    Wrap::from_arg_matches(&m).unwrap().inner
}

/// `picobert export --trim-vocab` on a task file (TSV: its `text` and `text_b` columns) and a
/// plain-text file (its lines): on every text of both, the trimmed blob gives the same tokens,
/// hidden states and logits, bit for bit, as the untrimmed export, for f32 and int8.
#[test]
fn export_trim_vocab_keeps_predictions_on_the_task_data() {
    let dir = std::env::temp_dir().join(format!("picobert-trim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let task = dir.join("task.tsv");
    let mut tsv = String::from("text\ttext_b\tlabel\n");
    tsv += &format!("{}\t{}\tyes\n", CORPUS[0], CORPUS[1]);
    tsv += &format!("{}\t\tno\n", CORPUS[2]);
    std::fs::write(&task, tsv).unwrap();
    let lines = dir.join("more.txt");
    std::fs::write(&lines, format!("{}\n\n", CORPUS[3])).unwrap();
    let checkpoint = fixture("tiny/seqcls");
    for dtype in ["f32", "int8"] {
        let (full, trimmed) = (dir.join("full.pbrt"), dir.join("trimmed.pbrt"));
        let ck = checkpoint.to_str().unwrap();
        let common = ["--checkpoint", ck, "--dtype", dtype, "--out"];
        let full_args = [&common[..], &[full.to_str().unwrap()]].concat();
        picobert_trainer::cmd_export::run(export_args(&full_args)).unwrap();
        let trim_args = [
            &common[..],
            &[trimmed.to_str().unwrap(), "--trim-vocab"],
            &[task.to_str().unwrap(), lines.to_str().unwrap()],
        ]
        .concat();
        picobert_trainer::cmd_export::run(export_args(&trim_args)).unwrap();
        let fb = AlignedBytes::from_slice(&std::fs::read(&full).unwrap());
        let tb = AlignedBytes::from_slice(&std::fs::read(&trimmed).unwrap());
        let (fm, tm) = (Model::load(&fb).unwrap(), Model::load(&tb).unwrap());
        assert!(tm.config().vocab_size * 3 < fm.config().vocab_size);
        for text in CORPUS {
            let (want, got) = (run(&fm, text), run(&tm, text));
            assert!(!got.2.is_empty(), "the classifier ran");
            assert_eq!(want, got, "{dtype}: {text}");
        }
        assert_eq!(run(&tm, "zebra").0[1], "[UNK]");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
