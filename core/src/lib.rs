//! picobert: BERT for the edge.
//!
//! `#![no_std]`, no heap. A [`Model`] borrows a blob (see `docs/FORMAT.md`) in place, the caller
//! owns every buffer, and every failure is a `Result`: the engine never panics on a blob, a text
//! or an id sequence.
//!
//! ```no_run
//! # fn demo(blob: &[u8]) -> Result<(), picobert::Error> {
//! use picobert::{Input, Model};
//! let model = Model::load(blob)?;
//! let ids = [101u32, 7592, 2088, 102];
//! let mut scratch = vec![0f32; model.scratch_len(ids.len())];
//! let out = model.forward(&Input::new(&ids), &mut scratch)?;
//! let cls_vector = &out.sequence_output()[..model.config().hidden_size];
//! # let _ = cls_vector; Ok(()) }
//! ```
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

mod config;
mod const_config;
mod crc32;
mod encoder;
mod error;
mod format;
mod heads;
pub mod kernels;
mod model;
#[cfg(feature = "parallel")]
mod parallel;
mod scratch;
mod tensor;
pub mod tokenizer;
mod vocab;

pub use config::{Config, HiddenAct, TokenizerConfig, TokenizerMode};
pub use const_config::{
    compact_scratch_len_for_blob, config_from_blob, layer_dtype_from_blob, scratch_len_for_blob,
};
pub use crc32::crc32;
pub use encoder::{Encoded, Input};
pub use error::{Error, LoadError, RunError};
pub use format::{
    HeadKind, Role, SectionKind, TensorEntry, BLOB_ALIGN, FORMAT_VERSION, HEADER_LEN, MAGIC,
    NO_TOKEN,
};
pub use heads::{Head, Labels};
pub use model::Model;
pub use scratch::{
    compact_scratch_len, quant_area_len, scratch_bytes, scratch_len, scratch_len_for, COMPACT_ROWS,
};
pub use tensor::{DType, Matrix, Weights};
pub use vocab::{vocab_hash, Vocab};
