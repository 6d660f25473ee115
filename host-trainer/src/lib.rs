//! picobert-trainer: host-side tooling for picobert (library half of the `picobert` binary).

pub mod blob;
pub mod cmd_bench;
pub mod cmd_eval;
pub mod cmd_export;
pub mod cmd_finetune;
pub mod cmd_forward;
pub mod cmd_import;
pub mod cmd_inspect;
pub mod cmd_plot;
pub mod cmd_predict;
pub mod cmd_prepare;
pub mod cmd_pretrain;
pub mod cmd_quickstart;
pub mod cmd_tokenize;
pub mod cmd_vocab;
pub mod finetune;
pub mod fsutil;
pub mod hf;
pub mod import;
pub mod metrics;
pub mod train;
pub mod vocab_trainer;
pub mod weights_file;
