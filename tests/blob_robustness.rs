//! A truncated, corrupted or hostile blob is an error or a valid model, never a panic or an
//! out-of-bounds read; and whatever loads also runs without panicking.

use picobert::{Input, LoadError, Model};
use picobert_e2e::{random_model, XorShift};
use picobert_trainer::blob::AlignedBytes;
use picobert_trainer::cmd_forward::run_row;

/// Loads `bytes`; if it loads, runs a forward pass and every head on a few inputs.
fn exercise(bytes: &[u8]) -> Result<(), LoadError> {
    let aligned = AlignedBytes::from_slice(bytes);
    let model = Model::load(&aligned)?;
    let mut scratch = Vec::new();
    for ids in [&[2u32, 7, 8, 3][..], &[2, 3], &[0; 32], &[39; 33]] {
        let _ = run_row(&model, &Input::new(ids), &mut scratch);
    }
    Ok(())
}

fn fix_crc(bytes: &mut [u8]) {
    let crc = picobert::crc32(&bytes[16..]);
    bytes[12..16].copy_from_slice(&crc.to_le_bytes());
}

fn blob(token_head: bool) -> Vec<u8> {
    random_model(7, token_head).to_bytes().unwrap()
}

#[test]
fn valid_blob_loads_and_runs() {
    for token_head in [false, true] {
        exercise(&blob(token_head)).unwrap();
    }
}

#[test]
fn every_truncation_is_refused() {
    let b = blob(false);
    for len in 0..b.len() {
        let r = exercise(&b[..len]);
        assert!(r.is_err(), "a blob truncated to {len} bytes loaded");
    }
}

#[test]
fn every_byte_flip_is_caught_by_the_checksum() {
    let b = blob(false);
    for pos in 16..b.len() {
        let mut m = b.clone();
        m[pos] ^= 0x5A;
        let r = exercise(&m);
        // A changed `file_len` (bytes 16..20) is caught before the checksum is computed.
        let caught = match r {
            Err(LoadError::ChecksumMismatch { .. }) => true,
            Err(LoadError::Truncated | LoadError::BadHeader("file_len")) => pos < 20,
            _ => false,
        };
        assert!(caught, "flip at {pos} gave {r:?}");
    }
}

/// With the checksum recomputed, structural validation is what stands between a hostile blob and
/// an out-of-bounds read: mutate every byte of the metadata to several values, then random
/// bytes anywhere.
#[test]
fn hostile_blobs_with_valid_checksums_never_panic() {
    for token_head in [false, true] {
        let b = blob(token_head);
        let aligned = AlignedBytes::from_slice(&b);
        let model = Model::load(&aligned).unwrap();
        // Everything before the first tensor's data: header, section table, tables, vocab.
        let meta_end = model
            .tensors()
            .iter()
            .map(|t| t.offset as usize)
            .min()
            .unwrap();
        let (mut ok, mut err) = (0, 0);
        for pos in 0..meta_end {
            for v in [
                0x00,
                0x01,
                0x7F,
                0x80,
                0xFF,
                b[pos].wrapping_add(1),
                b[pos] ^ 0x40,
            ] {
                let mut m = b.clone();
                m[pos] = v;
                fix_crc(&mut m);
                match exercise(&m) {
                    Ok(()) => ok += 1,
                    Err(_) => err += 1,
                }
            }
        }
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for _ in 0..5000 {
            let mut m = b.clone();
            for _ in 0..1 + rng.below(8) {
                let pos = if rng.below(2) == 0 {
                    rng.below(meta_end)
                } else {
                    rng.below(m.len())
                };
                m[pos] = rng.next_u64() as u8;
            }
            if rng.below(4) == 0 {
                let cut = rng.below(m.len());
                m.truncate(cut.max(picobert::HEADER_LEN));
                let n = m.len() as u32;
                m[16..20].copy_from_slice(&n.to_le_bytes());
            }
            fix_crc(&mut m);
            match exercise(&m) {
                Ok(()) => ok += 1,
                Err(_) => err += 1,
            }
        }
        // Both outcomes must occur, or the mutations are not reaching the validation.
        assert!(ok > 100 && err > 1000, "ok {ok}, err {err}");
    }
}

#[test]
fn misaligned_blob_is_refused() {
    let b = blob(false);
    let mut shifted = vec![0u8; b.len() + 1];
    shifted[1..].copy_from_slice(&b);
    let aligned = AlignedBytes::from_slice(&shifted);
    assert_eq!(
        Model::load(&aligned[1..]).err(),
        Some(LoadError::Misaligned)
    );
}
