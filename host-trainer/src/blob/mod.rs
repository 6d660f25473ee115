//! Writing blobs (`docs/FORMAT.md`).

mod vocab;

pub use vocab::vocab_section;
