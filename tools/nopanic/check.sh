#!/usr/bin/env bash
# The no-panic check for the core in firmware builds (docs/RELIABILITY.md, "No panic paths").
# Builds tools/nopanic (everything firmware does with the core, on inputs the optimiser cannot
# see) for a Cortex-M4F (scalar and DSP kernels) and a Cortex-M55 (Helium kernels) with LTO,
# lists the panic sites that survive optimisation, then links the `gate` build whose panic
# handler references an undefined symbol.
#
# Prints `panic sites: N` per kernel set. Exits 0 unless NOPANIC_GATE=1, in which case any panic
# site (a failed gate link) fails the script: that is the switch that makes it a CI gate
# (.ci/run sets it).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$here"

for target in thumbv7em-none-eabihf thumbv8m.main-none-eabihf; do
  rustup target list --installed | grep -qx "$target" || rustup target add "$target"
done
# The Helium kernels' `asm!` needs an MVE CPU (core/Cargo.toml, `simd-helium`).
export CARGO_TARGET_THUMBV8M_MAIN_NONE_EABIHF_RUSTFLAGS="-C target-cpu=cortex-m55"
command -v llvm-objdump >/dev/null && command -v llvm-addr2line >/dev/null \
  || { echo "needs llvm-objdump and llvm-addr2line (apt-get install llvm)"; exit 2; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target/nopanic}"

status=0
for set in thumbv7em-none-eabihf: thumbv7em-none-eabihf:dsp thumbv8m.main-none-eabihf:helium; do
  target=${set%%:*} features=${set#*:}
  label=${features:-scalar}
  cargo build --quiet --release --target "$target" ${features:+--features "$features"}
  elf="$CARGO_TARGET_DIR/$target/release/picobert-nopanic"
  echo "== $label kernels"
  python3 "$here/panic_sites.py" "$elf" "$repo"
  if cargo build --quiet --release --target "$target" --features "gate${features:+,$features}" \
    2>/dev/null; then
    echo "gate: links (no reachable panic)"
  else
    echo "gate: link fails (picobert_core_can_panic is referenced: a panic is reachable)"
    status=1
  fi
done
if [ "${NOPANIC_GATE:-0}" = 1 ]; then exit "$status"; fi
