//! picobert-trainer: host-side tooling for picobert (library half of the `picobert` binary).

pub mod blob;
pub mod hf;
