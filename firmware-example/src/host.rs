//! The host side of the firmware example: prints the sentences the device classifies, one per
//! line. `make-model.sh` trims the model's vocabulary to them (`picobert export --trim-vocab`).
//! The lines the firmware must reproduce come from `expect/` (the core without SIMD features).

use crate::app::SENTENCES;

pub fn main() {
    for text in SENTENCES {
        println!("{text}");
    }
}
