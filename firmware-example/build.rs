//! For a bare-metal target: puts the board's memory map where cortex-m-rt's `link.x` looks for
//! `memory.x`, links with `link.x`, and copies the model blob (`PICOBERT_FIRMWARE_BLOB`, by
//! default the committed `model.pbrt` from `make-model.sh`) to where `src/device.rs` includes it
//! from. Host builds need neither.

use std::path::PathBuf;

/// The committed classifier (`make-model.sh`).
const MODEL: &str = "model.pbrt";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    if !target.starts_with("thumb") {
        return;
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    // Cortex-M4F boards get the MPS2 AN386 map, Armv8-M Mainline ones the MPS3 AN547 map.
    let memory = if target.starts_with("thumbv8m") {
        "memory-an547.x"
    } else {
        "memory-an386.x"
    };
    println!("cargo:rerun-if-changed={memory}");
    std::fs::copy(memory, out.join("memory.x")).expect("copy the memory map");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg=-Tlink.x");

    println!("cargo:rerun-if-env-changed=PICOBERT_FIRMWARE_BLOB");
    let blob = std::env::var_os("PICOBERT_FIRMWARE_BLOB")
        .map_or_else(|| PathBuf::from(MODEL), PathBuf::from);
    println!("cargo:rerun-if-changed={}", blob.display());
    std::fs::copy(&blob, out.join("model.blob")).expect("copy the model blob");
}
