//! Everything firmware does with the core, on inputs the optimiser cannot see: whatever panic
//! path the linked program keeps is one a hostile blob, text or id sequence might reach.
#![no_std]
#![no_main]

use core::hint::black_box;
use picobert::tokenizer::Encoding;
use picobert::{HeadKind, Input, Model};

const MAX_TOKENS: usize = 128;

/// Stand-ins for flash and RAM: `black_box` makes their contents and lengths unknown.
static BLOB: [u8; 64] = [0; 64];
static TEXT: [u8; 64] = [0; 64];

fn run(out: &mut [f32]) -> Option<()> {
    let blob: &[u8] = black_box(&BLOB[..]);
    let model = Model::load(blob).ok()?;
    let tok = model.tokenizer().ok()?;
    let text = core::str::from_utf8(black_box(&TEXT[..])).ok()?;
    let (a, b) = text.split_at_checked(black_box(0))?;
    let (mut ids, mut types) = ([0u32; MAX_TOKENS], [0u32; MAX_TOKENS]);
    let mut enc = Encoding::new(&mut ids, &mut types).ok()?;
    let n = tok
        .encode_pair(a, b, black_box(Some(MAX_TOKENS)), &mut enc)
        .ok()?;
    let ids = black_box(ids.get(..n)?);
    let types = black_box(types.get(..n)?);
    let mask = black_box(types);
    let input = Input::new(ids)
        .with_token_types(types)
        .with_attention_mask(mask);
    let mut scratch = [0f32; 1 << 14];
    let scratch = black_box(&mut scratch[..]);
    // Both memory plans: firmware runs the compact one, hosts the full one.
    let mut enc = if black_box(true) {
        model.forward_compact(&input, scratch)
    } else {
        model.forward(&input, scratch)
    }
    .ok()?;
    let h = model.config().hidden_size;
    let out = black_box(out);
    let _ = enc.pooled_output(out.get_mut(..h)?);
    let _ = enc.sentence_embedding(black_box(true), out.get_mut(..h)?);
    let _ = enc.nsp_logits(out.get_mut(..2)?);
    for head in model.heads() {
        let _ = match head.kind {
            HeadKind::TokenClassification => enc.token_logits(out),
            HeadKind::MaskedLm => enc.mlm_logits(black_box(0), out),
            _ => enc.classifier_logits(out),
        };
    }
    black_box(out);
    Some(())
}

/// The entry point the linker starts from (the program is linked, never run).
#[no_mangle]
pub extern "C" fn _start() -> ! {
    let mut out = [0f32; 1 << 12];
    loop {
        black_box(run(black_box(&mut out[..])));
    }
}

#[cfg(feature = "gate")]
extern "C" {
    /// Defined nowhere: linking fails while the panic handler is reachable.
    fn picobert_core_can_panic() -> !;
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    #[cfg(feature = "gate")]
    // SAFETY: never called in a program that links (that is the check).
    unsafe {
        picobert_core_can_panic()
    }
    #[cfg(not(feature = "gate"))]
    loop {
        black_box(());
    }
}
