#!/usr/bin/env bash
# Runs the core's unit tests under Miri (undefined behaviour, out-of-bounds and alignment checks
# on every unsafe kernel): once on the scalar build, then once per x86 SIMD backend (AVX2,
# AVX-512) compiled in and enabled, which Miri can interpret. The asm-based backends (NEON sdot, Arm DSP)
# are for other targets and are not built here. See docs/RELIABILITY.md.
#
# Usage: tools/miri.sh [extra cargo test args, e.g. a test-name filter]
set -euo pipefail
cd "$(dirname "$0")/.."

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
installed=$(rustup component list --toolchain nightly --installed)
for c in miri rust-src; do
  grep -q "^$c" <<<"$installed" || rustup component add "$c" --toolchain nightly
done

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/miri}"
# Stacked Borrows and isolation (the core does no I/O) as Miri's defaults; leaks ignored, as
# the kernel tests leak their weights on purpose to build `'static` matrices.
export MIRIFLAGS="${MIRIFLAGS:--Zmiri-ignore-leaks}"

# The kernels' tests run once, in the SIMD build below, where each compares the SIMD kernel with
# the scalar reference: both execute under Miri there. The scalar build runs everything else.
echo "== miri: scalar build (kernels' tests: see the SIMD build)"
cargo +nightly miri test -p picobert --lib "$@" -- --skip kernels::

# The backend is picked from the CPU features Miri reports, which are the enabled target
# features: one run per x86 backend. Miri has no F16C conversions (`vcvtph2ps`, `vcvtps2ph`),
# so the f16 weight test is left to the native run; the f32 and int8 paths are complete.
echo "== miri: AVX2 kernels"
RUSTFLAGS="-C target-feature=+avx2,+fma,+f16c" \
  cargo +nightly miri test -p picobert --lib --features std,simd-avx2 "${@:-kernels::}" \
  -- --skip linear_f16

echo "== miri: AVX-512 kernels"
RUSTFLAGS="-C target-feature=+avx2,+fma,+f16c,+avx512f,+avx512bw,+avx512vnni" \
  cargo +nightly miri test -p picobert --lib --features std,simd-avx2,simd-avx512 \
  "${@:-kernels::}" -- --skip linear_f16
