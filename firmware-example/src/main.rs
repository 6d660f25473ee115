//! picobert on a bare-metal Cortex-M: tokenizes and classifies sentences with a model linked
//! into flash, under QEMU (`run-qemu.sh`). Built for the host, the same program prints those
//! sentences (the corpus the model's vocabulary is trimmed to). See README.md.
#![cfg_attr(target_os = "none", no_std, no_main)]

// The host binary only reads the sentences (to trim the vocabulary); the rest serves the device
// and `expect/`.
#[cfg_attr(not(target_os = "none"), allow(dead_code))]
mod app;
#[cfg(target_os = "none")]
mod device;
#[cfg(not(target_os = "none"))]
mod host;

#[cfg(not(target_os = "none"))]
fn main() {
    host::main()
}
