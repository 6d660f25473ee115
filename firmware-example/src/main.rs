//! Bare-metal picobert example (Cortex-M); see the firmware issue. Until the board support
//! lands this builds as a host program so `cargo test --workspace` stays green.
fn main() {
    println!("picobert {}", picobert::FORMAT_VERSION);
}
