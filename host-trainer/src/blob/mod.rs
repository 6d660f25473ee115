//! Writing and reading blobs (`docs/FORMAT.md`).

mod aligned;
pub mod quantize;
pub mod trim;
mod vocab;
mod writer;

pub use aligned::{load_blob, AlignedBytes};
pub use vocab::vocab_section;
pub use writer::{BlobModel, HeadSpec, Tensor, TensorData};
