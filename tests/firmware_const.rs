//! The compile-time scratch size the firmware uses (`picobert::scratch_len_for_blob`, read from
//! the blob bytes alone) equals what the loaded model asks for, for f32, f16 and int8 layers.

use picobert::{scratch_len_for_blob, DType, Model};
use picobert_e2e::random_model;
use picobert_trainer::blob::quantize::{convert, WeightDtype};
use picobert_trainer::blob::AlignedBytes;

#[test]
fn const_scratch_size_matches_the_loaded_model() {
    for (dtype, layers) in [
        (WeightDtype::F32, DType::F32),
        (WeightDtype::F16, DType::F32),
        (WeightDtype::Int8, DType::I8),
    ] {
        let mut m = random_model(11, false);
        convert(&mut m, dtype);
        let bytes = AlignedBytes::from_slice(&m.to_bytes().unwrap());
        let model = Model::load(&bytes).unwrap();
        assert_eq!(picobert::layer_dtype_from_blob(&bytes), Some(layers));
        assert_eq!(picobert::config_from_blob(&bytes), Some(*model.config()));
        let max = model.config().max_position_embeddings;
        for seq in 1..=max {
            assert_eq!(
                scratch_len_for_blob(&bytes, seq),
                Some(model.scratch_len(seq)),
                "{dtype:?}, {seq} tokens"
            );
        }
        assert_eq!(scratch_len_for_blob(&bytes, max + 1), None);
    }
}
