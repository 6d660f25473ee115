//! `model.safetensors` with a checksum of its own. The trainer's checkpoints must refuse a
//! damaged weights file rather than train on (or export) silently wrong weights, and the file
//! must stay a plain safetensors file that transformers loads. So the CRC-32 of the data section
//! goes into the header's `__metadata__` (string values only; transformers reads just
//! `format`). Files without the key (other tools' checkpoints) are read unchecked.

use safetensors::tensor::TensorView;
use safetensors::SafeTensors;
use std::collections::HashMap;

/// The `__metadata__` key holding the CRC-32 (8 lowercase hex digits) of the data section.
pub const CRC_KEY: &str = "picobert_crc32";

/// Serialises `views` as PyTorch-flavoured safetensors (`format: pt`) with the checksum.
pub fn serialize(views: Vec<(String, TensorView)>) -> Result<Vec<u8>, String> {
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    let plain =
        safetensors::serialize(views, Some(meta)).map_err(|e| format!("safetensors: {e}"))?;
    let start = data_start(&plain)?;
    let crc = picobert::crc32(&plain[start..]);
    // The key is spliced into the header text rather than passed to `serialize`, which writes a
    // multi-key `__metadata__` in hash order: the same weights must give the same bytes (resumed
    // runs are compared byte for byte with uninterrupted ones).
    let header = std::str::from_utf8(&plain[8..start])
        .map_err(|_| "safetensors: header is not UTF-8".to_string())?
        .trim_end_matches(' ');
    const PLAIN: &str = r#"{"__metadata__":{"format":"pt"}"#;
    let rest = header
        .strip_prefix(PLAIN)
        .ok_or("safetensors: unexpected header layout")?;
    let mut header = format!(r#"{{"__metadata__":{{"format":"pt","{CRC_KEY}":"{crc:08x}"}}{rest}"#);
    // safetensors aligns the data section to 8 bytes by padding the header with spaces.
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = Vec::with_capacity(8 + header.len() + plain.len() - start);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&plain[start..]);
    Ok(out)
}

/// Checks the checksum of a parsed file, when it has one.
pub fn verify(bytes: &[u8], what: &str) -> Result<(), String> {
    let (_, meta) = SafeTensors::read_metadata(bytes)
        .map_err(|e| format!("{what}: not a safetensors file: {e}"))?;
    let Some(stored) = meta.metadata().as_ref().and_then(|m| m.get(CRC_KEY)) else {
        return Ok(());
    };
    let computed = picobert::crc32(&bytes[data_start(bytes)?..]);
    if u32::from_str_radix(stored, 16).ok() != Some(computed) {
        return Err(format!(
            "{what}: damaged file: the weights' checksum is {computed:08x}, the header says \
             {stored} (restore the file or resume from an older checkpoint)"
        ));
    }
    Ok(())
}

/// Offset of the data section: 8 bytes of header length, then the JSON header.
fn data_start(bytes: &[u8]) -> Result<usize, String> {
    let len: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or("safetensors: shorter than its header length")?;
    usize::try_from(u64::from_le_bytes(len))
        .ok()
        .and_then(|n| n.checked_add(8))
        .filter(|&n| n <= bytes.len())
        .ok_or_else(|| "safetensors: header length past the end of the file".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::Dtype;

    fn file() -> Vec<u8> {
        let a: Vec<f32> = (0..300).map(|i| i as f32 * 0.25).collect();
        let b = [1.5f32, -2.0];
        let views = vec![
            (
                "a".to_string(),
                TensorView::new(Dtype::F32, vec![3, 100], bytemuck::cast_slice(&a)).unwrap(),
            ),
            (
                "b".to_string(),
                TensorView::new(Dtype::F32, vec![2], bytemuck::cast_slice(&b)).unwrap(),
            ),
        ];
        serialize(views).unwrap()
    }

    #[test]
    fn every_flipped_data_byte_is_detected() {
        let good = file();
        verify(&good, "f").unwrap();
        let start = data_start(&good).unwrap();
        for at in start..good.len() {
            let mut bad = good.clone();
            bad[at] ^= 0x01;
            let err = verify(&bad, "f").unwrap_err();
            assert!(err.contains("damaged"), "{err}");
        }
    }

    #[test]
    fn same_weights_same_bytes_and_safetensors_reads_them() {
        let a = file();
        assert_eq!(a, file());
        let st = SafeTensors::deserialize(&a).unwrap();
        assert_eq!(
            st.tensor("b").unwrap().data(),
            bytemuck::cast_slice::<f32, u8>(&[1.5, -2.0])
        );
        let (_, meta) = SafeTensors::read_metadata(&a).unwrap();
        let m = meta.metadata().as_ref().unwrap();
        assert_eq!(m.get("format").map(String::as_str), Some("pt"));
        assert_eq!(m.get(CRC_KEY).map(String::len), Some(8));
    }

    #[test]
    fn files_without_a_checksum_are_accepted() {
        let a = [1f32, 2.0];
        let views = vec![(
            "a".to_string(),
            TensorView::new(Dtype::F32, vec![2], bytemuck::cast_slice(&a)).unwrap(),
        )];
        let plain = safetensors::serialize(views, None).unwrap();
        verify(&plain, "f").unwrap();
    }
}
