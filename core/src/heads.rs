//! Task heads and their label names.

use crate::format::HeadKind;
use crate::LoadError;

/// A task head the blob carries.
#[derive(Debug, Clone, Copy)]
pub struct Head<'a> {
    /// What the head computes.
    pub kind: HeadKind,
    /// Outputs per prediction.
    pub num_labels: usize,
    /// Label names, if the blob has them.
    pub labels: Labels<'a>,
}

/// Label names: `u16` length-prefixed UTF-8 records, walked in place.
#[derive(Debug, Clone, Copy)]
pub struct Labels<'a> {
    bytes: &'a [u8],
    count: usize,
}

impl<'a> Labels<'a> {
    pub(crate) fn new(bytes: &'a [u8], count: usize) -> Self {
        Labels { bytes, count }
    }

    pub(crate) fn validate(&self) -> Result<(), LoadError> {
        let mut rest = self.bytes;
        for _ in 0..self.count {
            let (name, tail) = split_record(rest).ok_or(LoadError::BadHead("label record"))?;
            core::str::from_utf8(name).map_err(|_| LoadError::BadHead("label not UTF-8"))?;
            rest = tail;
        }
        if rest.is_empty() {
            Ok(())
        } else {
            Err(LoadError::BadHead("bytes after the last label"))
        }
    }

    /// Number of names (0 when the head has none).
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are no names.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Name of label `i`.
    pub fn get(&self, i: usize) -> Option<&'a str> {
        self.iter().nth(i)
    }

    /// Index of the label called `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.iter().position(|l| l == name)
    }

    /// The names in order.
    pub fn iter(&self) -> impl Iterator<Item = &'a str> + 'a {
        let mut rest = self.bytes;
        (0..self.count).map_while(move |_| {
            let (name, tail) = split_record(rest)?;
            rest = tail;
            core::str::from_utf8(name).ok()
        })
    }
}

fn split_record(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u16::from_le_bytes([*b.first()?, *b.get(1)?]) as usize;
    let body = b.get(2..2 + len)?;
    Some((body, &b[2 + len..]))
}
