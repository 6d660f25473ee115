//! Blob bytes in memory at a 64-byte aligned address, as the core wants them.

use bytemuck::{Pod, Zeroable};
use std::path::Path;

#[repr(C, align(64))]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Line([u8; 64]);

/// An owned, 64-byte aligned byte buffer.
pub struct AlignedBytes {
    lines: Vec<Line>,
    len: usize,
}

impl AlignedBytes {
    pub fn from_slice(bytes: &[u8]) -> Self {
        let mut lines = vec![Line([0; 64]); bytes.len().div_ceil(64)];
        bytemuck::cast_slice_mut::<Line, u8>(&mut lines)[..bytes.len()].copy_from_slice(bytes);
        AlignedBytes {
            lines,
            len: bytes.len(),
        }
    }

    /// Reads a whole file.
    pub fn read(path: &Path) -> Result<Self, String> {
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Ok(Self::from_slice(&bytes))
    }
}

impl std::ops::Deref for AlignedBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &bytemuck::cast_slice::<Line, u8>(&self.lines)[..self.len]
    }
}

/// Reads a blob file and validates it with the core, with the path in any error.
pub fn load_blob(path: &Path) -> Result<AlignedBytes, String> {
    let bytes = AlignedBytes::read(path)?;
    picobert::Model::load(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(bytes)
}
