#!/usr/bin/env bash
# Runs the core's tests on other architectures, so every SIMD backend is checked against the
# scalar reference on the instruction set it targets:
#   aarch64 (NEON + sdot)        under qemu-aarch64 -cpu max
#   armv7 Thumb-2 (DSP: SMLAD/SXTB16) under qemu-arm (the same instructions as Cortex-M4/M7)
#   wasm32-wasip1 (simd128)      under Node's built-in WASI (tools/wasi-runner.mjs)
#   thumbv7em-none-eabihf        build only (the firmware issue runs it under qemu-system-arm)
# and, on x86-64, the AVX2 backend natively. Installs what it needs (idempotent; needs root
# for apt). Usage: tools/cross-test.sh [aarch64|armv7|wasm|thumb|x86]...
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/cross}"
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(x86 aarch64 armv7 wasm thumb)

apt_install() {
    local missing=()
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq "${missing[@]}"
}

# QEMU 10 from bookworm-backports (the stock 7.2 lacks newer CPU features and its install has
# replaced qemu-utils badly); the backports source is written once, from the main stanza.
qemu_user() {
    command -v qemu-aarch64 >/dev/null && command -v qemu-arm >/dev/null && return 0
    local src=/etc/apt/sources.list.d/backports.sources
    if [ ! -f "$src" ]; then
        local sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
        awk 'BEGIN{RS=""} NR==1' /etc/apt/sources.list.d/debian.sources \
            | sed 's/^Suites:.*/Suites: bookworm-backports/' | $sudo tee "$src" >/dev/null
        $sudo apt-get update -qq
    fi
    local sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get install -y -qq -t bookworm-backports qemu-user
}

features_all="std,simd-avx2,simd-avx512,simd-neon,simd-wasm,simd-dsp"

for t in "${targets[@]}"; do
    case "$t" in
    x86)
        echo "== x86-64 (AVX2 natively)"
        cargo test -q -p picobert --lib --features std,simd-avx2 kernels
        ;;
    aarch64)
        echo "== aarch64 under qemu-aarch64 (NEON, sdot)"
        apt_install gcc-aarch64-linux-gnu libc6-dev-arm64-cross
        qemu_user
        rustup target add aarch64-unknown-linux-gnu >/dev/null
        CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
        CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu max" \
            cargo test -q -p picobert --lib --target aarch64-unknown-linux-gnu --features std,simd-neon kernels
        ;;
    armv7)
        echo "== armv7 under qemu-arm (DSP SMLAD/SXTB16)"
        apt_install gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
        qemu_user
        # The Thumb-2 Linux target: the DSP kernels are written for Cortex-M, which only runs
        # Thumb (A32 would reject their `ldrd` register pairs).
        rustup target add thumbv7neon-unknown-linux-gnueabihf >/dev/null
        CARGO_TARGET_THUMBV7NEON_UNKNOWN_LINUX_GNUEABIHF_LINKER=arm-linux-gnueabihf-gcc \
        CARGO_TARGET_THUMBV7NEON_UNKNOWN_LINUX_GNUEABIHF_RUNNER="qemu-arm -L /usr/arm-linux-gnueabihf" \
            cargo test -q -p picobert --lib --target thumbv7neon-unknown-linux-gnueabihf \
            --features std,simd-dsp kernels
        ;;
    wasm)
        echo "== wasm32-wasip1 under Node WASI (simd128)"
        command -v node >/dev/null || apt_install nodejs
        rustup target add wasm32-wasip1 >/dev/null
        CARGO_TARGET_WASM32_WASIP1_RUNNER="node --no-warnings $PWD/tools/wasi-runner.mjs" \
        RUSTFLAGS="-C target-feature=+simd128" \
            cargo test -q -p picobert --lib --target wasm32-wasip1 --features std,simd-wasm kernels
        ;;
    thumb)
        echo "== thumbv7em-none-eabihf (build: Cortex-M4F with DSP)"
        rustup target add thumbv7em-none-eabihf >/dev/null
        cargo build -q -p picobert --target thumbv7em-none-eabihf --features simd-dsp
        cargo build -q -p picobert --target thumbv7em-none-eabihf
        ;;
    *)
        echo "unknown target '$t' (x86, aarch64, armv7, wasm, thumb)" >&2
        exit 2
        ;;
    esac
done
# Every feature at once must still build on the host (the others compile to nothing there).
cargo build -q -p picobert --features "$features_all"
echo "cross-test: all passed"
