#!/usr/bin/env bash
# Builds the firmware example and runs it under QEMU on an MPS2 AN386 (Cortex-M4F; DSP int8
# kernels, and the scalar kernels for comparison) and an MPS3 AN547 (Cortex-M55; the same DSP
# kernels, and the Helium/MVE ones: feature `helium`, built with -C target-cpu=cortex-m55), counting
# instructions with the project's own TCG plugin (qemu-plugin/icount.c). Every logit must be
# bit-identical to the host core's; any difference, panic, HardFault, error exit or timeout fails.
# Ends with the figures as `key: value` lines. Installs what it needs (idempotent; apt needs root).
# Usage: firmware-example/run-qemu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
work="$CARGO_TARGET_DIR/firmware-qemu"
mkdir -p "$work"

sudo=""
[ "$(id -u)" -ne 0 ] && sudo=sudo

# QEMU 10 from bookworm-backports (see ../shared/toolchain.md): the stock 7.2 install has broken
# qemu-utils, and the plugin API declared in icount.c is QEMU 10's.
if ! qemu-system-arm --version 2>/dev/null | grep -q 'version 10\.'; then
    src=/etc/apt/sources.list.d/backports.sources
    if [ ! -f "$src" ]; then
        awk 'BEGIN{RS=""} NR==1' /etc/apt/sources.list.d/debian.sources \
            | sed 's/^Suites:.*/Suites: bookworm-backports/' | $sudo tee "$src" >/dev/null
    fi
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq -t bookworm-backports qemu-system-arm
fi
command -v gcc >/dev/null || { $sudo apt-get update -qq && $sudo apt-get install -y -qq gcc; }
rustup target add thumbv7em-none-eabihf thumbv8m.main-none-eabihf >/dev/null

echo "== host reference"
# The committed classifier (make-model.sh).
blob="$PWD/firmware-example/model.pbrt"
# The reference lines, from the core without SIMD features (its own workspace: see its Cargo.toml).
cargo run -q --release --manifest-path firmware-example/expect/Cargo.toml -- "$blob" >"$work/host.txt"

echo "== instruction-count plugin"
plugin="$work/libicount.so"
gcc -shared -fPIC -O2 -Wall -Wextra -Werror -o "$plugin" firmware-example/qemu-plugin/icount.c

# Size matters on a device: one codegen unit, whole-program LTO (for these builds only).
export CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
export CARGO_TARGET_THUMBV8M_MAIN_NONE_EABIHF_RUSTFLAGS="-C target-cpu=cortex-m55"

# run NAME TARGET MACHINE FEATURES: builds, runs, checks; leaves $work/NAME.{out,marks,elf}.
run() {
    local name="$1" target="$2" machine="$3" features="$4"
    echo "== $name: $target on $machine${features:+ (features: $features)}"
    PICOBERT_FIRMWARE_BLOB="$blob" cargo build -q --release -p firmware-example \
        --target "$target" ${features:+--features "$features"}
    local elf="$work/$name.elf"
    cp "$CARGO_TARGET_DIR/$target/release/firmware-example" "$elf"
    local mark
    mark="$(readelf -sW "$elf" | awk '$8 == "picobert_mark" { print $2 }')"
    [ -n "$mark" ] || { echo "FAIL: no picobert_mark symbol in $elf"; exit 1; }
    local status=0
    # QEMU blocks if its output pipe closes early: write to a file, bound the time.
    timeout 600 qemu-system-arm -machine "$machine" -nographic \
        -semihosting-config enable=on,target=native \
        -plugin "$plugin,mark=0x$mark,out=$work/$name.marks" \
        -kernel "$elf" >"$work/$name.out" 2>&1 </dev/null || status=$?
    case "$status" in
    0) ;;
    124) echo "FAIL: $name timed out"; tail -n 5 "$work/$name.out"; exit 1 ;;
    2) echo "FAIL: $name panicked"; grep -a panic "$work/$name.out"; exit 1 ;;
    3) echo "FAIL: $name HardFault"; grep -a HardFault "$work/$name.out"; exit 1 ;;
    *) echo "FAIL: $name exited with $status"; tail -n 5 "$work/$name.out"; exit 1 ;;
    esac
    if ! diff <(grep -a '^sentence ' "$work/$name.out") "$work/host.txt" >"$work/$name.diff"; then
        echo "FAIL: $name logits differ from the host's:"
        cat "$work/$name.diff"
        exit 1
    fi
    grep -a -m1 '^model:' "$work/$name.out"
    echo "$(grep -c '^sentence ' "$work/host.txt") sentences: every logit bit-identical to the host"
}

run m4-dsp thumbv7em-none-eabihf mps2-an386 dsp
run m4-scalar thumbv7em-none-eabihf mps2-an386 ""
run m55-dsp thumbv8m.main-none-eabihf mps3-an547 dsp
run m55-helium thumbv8m.main-none-eabihf mps3-an547 helium

# The figures: region lines (in output order) pair with consecutive marks.
python3 - "$work" <<'EOF'
import re, sys
work = sys.argv[1]

def load(name):
    out = open(f"{work}/{name}.out", encoding="utf-8", errors="replace").read().splitlines()
    marks = [int(l.split()[1]) for l in open(f"{work}/{name}.marks") if l.startswith("mark ")]
    regions = [l[len("region: "):] for l in out if l.startswith("region: ")]
    if len(marks) != 2 * len(regions):
        sys.exit(f"FAIL: {name}: {len(marks)} marks for {len(regions)} regions")
    counted = []
    for k, r in enumerate(regions):
        fields = dict(f.split("=", 1) for f in r.split()[1:] if "=" in f)
        counted.append((r.split()[0], fields, marks[2 * k + 1] - marks[2 * k]))
    figures = {l.split()[1]: int(l.split()[2]) for l in out if l.startswith("figure: ")}
    return counted, figures

def inference_at_full_length(counted):
    full = [(f, n) for kind, f, n in counted if kind == "inference" and int(f["tokens"]) == seq]
    if not full:
        sys.exit(f"FAIL: no {seq}-token inference")
    return full[0][1], int(full[0][0]["macs"])

def per_mac(counted):
    k = [(int(f["macs"]), n) for kind, f, n in counted if kind == "kernel"]
    if not k:
        sys.exit("FAIL: no int8 kernel regions (is the blob int8?)")
    return sum(n for _, n in k) / sum(m for m, _ in k)

seq = load("m4-dsp")[1]["seq_len"]
runs = {name: load(name) for name in ["m4-dsp", "m4-scalar", "m55-dsp", "m55-helium"]}
counted, fig = runs["m4-dsp"]
insns, macs = inference_at_full_length(counted)
tok = [n for kind, f, n in counted if kind == "tokenize"]
flash = fig["blob_bytes"] + fig["code_bytes"]
ram = fig["static_ram_bytes"] + fig["stack_bytes"]

print("\n== per run (instructions counted by qemu-plugin/icount.c)")
for name, (c, f) in runs.items():
    i, m = inference_at_full_length(c)
    print(f"{name}: inference({seq} tokens) {i} insns = {i / m:.2f}/linear MAC; "
          f"int8 kernel {per_mac(c):.3f} insns/MAC; code {f['code_bytes']} B, "
          f"static RAM {f['static_ram_bytes']} B, stack {f['stack_bytes']} B")

budget = lambda ok: "within budget" if ok else "OVER BUDGET"
print("\n== budgets (README): flash <= 1.5 MiB, RAM <= 96 KiB, int8 kernel <= 1.5 insns/MAC on M4 DSP")
print(f"flash {flash} B ({flash / 1048576:.3f} MiB): {budget(flash <= 1.5 * 1048576)}")
print(f"RAM {ram} B ({ram / 1024:.1f} KiB; scratch {fig['scratch_bytes']} B): {budget(ram <= 96 * 1024)}")
print(f"int8 kernel on M4 DSP {per_mac(counted):.3f} insns/MAC: {budget(per_mac(counted) <= 1.5)}")
print()
print(f"flash_bytes: {flash}")
print(f"blob_bytes: {fig['blob_bytes']}")
print(f"code_bytes: {fig['code_bytes']}")
print(f"ram_bytes: {ram}")
print(f"scratch_bytes: {fig['scratch_bytes']}")
print(f"stack_bytes: {fig['stack_bytes']}")
print(f"instructions_per_inference: {insns}")
print(f"instructions_per_mac: {per_mac(counted):.3f}")
print(f"instructions_per_mac_scalar: {per_mac(runs['m4-scalar'][0]):.3f}")
print(f"instructions_per_mac_m55: {per_mac(runs['m55-dsp'][0]):.3f}")
print(f"instructions_per_inference_scalar: {inference_at_full_length(runs['m4-scalar'][0])[0]}")
print(f"instructions_per_inference_m55: {inference_at_full_length(runs['m55-dsp'][0])[0]}")
print(f"instructions_per_mac_m55_helium: {per_mac(runs['m55-helium'][0]):.3f}")
print(f"instructions_per_inference_m55_helium: {inference_at_full_length(runs['m55-helium'][0])[0]}")
print(f"instructions_per_tokenization_max: {max(tok)}")
print(f"seq_len: {seq}")
EOF
