//! The bare-metal side: the blob in flash, the scratch as a static sized from the blob's header
//! at compile time, semihosting output and exit codes, the painted stack, and the instruction
//! count markers `run-qemu.sh` reads with its QEMU plugin.

use crate::app::{AppError, Classifier, MAX_LABELS, SENTENCES, SEQ_LEN};
use core::arch::asm;
use core::cell::UnsafeCell;
use core::fmt::{self, Write};
use core::ptr::addr_of;
use core::sync::atomic::{AtomicBool, Ordering};
use cortex_m_rt::{entry, exception, ExceptionFrame};
use cortex_m_semihosting::hio::{self, HostStream};
use picobert::kernels::{groups, linear_i8, quant_bytes, quantize_rows, reference, QuantizedRows};
use picobert::{DType, Role, RunError};

/// Exit codes `run-qemu.sh` tells apart.
const EXIT_OK: u32 = 0;
const EXIT_PANIC: u32 = 2;
const EXIT_HARDFAULT: u32 = 3;
const EXIT_ERROR: u32 = 4;

/// The model, read by the compiler for its header and linked into the `.blob` section.
const BLOB_BYTES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/model.blob"));

/// 64-byte alignment puts every tensor on a cache line (`docs/FORMAT.md`).
#[repr(C, align(64))]
struct Aligned<T>(T);

#[link_section = ".blob"]
static BLOB: Aligned<[u8; BLOB_BYTES.len()]> =
    Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/model.blob")));

/// Exact scratch for [`SEQ_LEN`] tokens of this model on the core's compact plan
/// (`Model::forward_compact`). A bad header stops the build here, and a scratch larger than the
/// board's RAM stops the link.
const SCRATCH_LEN: usize = match picobert::compact_scratch_len_for_blob(BLOB_BYTES, SEQ_LEN) {
    Some(n) => n,
    None => panic!("the embedded blob's header is invalid or SEQ_LEN exceeds its positions"),
};

/// A buffer handed out once as `&'static mut`: static memory without `static mut`.
struct Once<T> {
    value: UnsafeCell<T>,
    taken: AtomicBool,
}

// SAFETY: `take` gives out the only reference, once.
unsafe impl<T> Sync for Once<T> {}

impl<T> Once<T> {
    // A `&mut` from `&self` is the point: the flag makes it unique.
    #[allow(clippy::mut_from_ref)]
    fn take(&'static self) -> Option<&'static mut T> {
        if self.taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        // SAFETY: the flag makes this the only reference ever created.
        Some(unsafe { &mut *self.value.get() })
    }
}

static SCRATCH: Once<[f32; SCRATCH_LEN]> = Once {
    value: UnsafeCell::new([0.0; SCRATCH_LEN]),
    taken: AtomicBool::new(false),
};

extern "C" {
    static __sblob: u8;
    static __eblob: u8;
    static __flash_origin: u8;
    static __sdata: u8;
    static __edata: u8;
    static __sidata: u8;
    static _stack_end: u8;
    static _stack_start: u8;
}

fn symbol(s: *const u8) -> usize {
    s as usize
}

/// The QEMU plugin records its instruction count each time this function is entered; the
/// output names each region between two consecutive calls.
#[inline(never)]
#[no_mangle]
pub extern "C" fn picobert_mark() {
    // SAFETY: a `nop`; an `asm!` without `pure` keeps every call in place.
    unsafe { asm!("nop") };
}

const PAINT: u32 = 0xC0FF_EE55;

/// Fills the unused stack (from the end of the statics to just below the current frame) with
/// [`PAINT`], so [`stack_high_water`] can find the deepest word ever written.
fn paint_stack() {
    let bottom = symbol(addr_of!(_stack_end));
    let sp = cortex_m::register::msp::read() as usize;
    let mut p = bottom;
    while p + 256 < sp {
        // SAFETY: between the statics and the live frames: memory nothing uses yet.
        unsafe { (p as *mut u32).write_volatile(PAINT) };
        p += 4;
    }
}

fn stack_high_water() -> usize {
    let (bottom, top) = (symbol(addr_of!(_stack_end)), symbol(addr_of!(_stack_start)));
    let mut p = bottom;
    // SAFETY: reads inside the stack region.
    while p < top && unsafe { (p as *const u32).read_volatile() } == PAINT {
        p += 4;
    }
    top - p
}

/// Semihosting output, a line at a time (one host call per line, not per fragment).
struct Console {
    stream: HostStream,
    line: [u8; 256],
    len: usize,
}

impl Console {
    fn flush(&mut self) {
        // Output is best effort: there is nowhere to report a failed host write.
        let _ = self.stream.write_all(&self.line[..self.len]);
        self.len = 0;
    }
}

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len == self.line.len() {
                self.flush();
            }
            self.line[self.len] = b;
            self.len += 1;
            if b == b'\n' {
                self.flush();
            }
        }
        Ok(())
    }
}

fn console() -> Console {
    Console {
        // Without a host console there is no output to give; the exit code still reports.
        stream: hio::hstdout().unwrap_or_else(|_| exit(EXIT_ERROR)),
        line: [0; 256],
        len: 0,
    }
}

/// Semihosting `SYS_EXIT_EXTENDED` (`ADP_Stopped_ApplicationExit` with a code): QEMU exits
/// with `code`, where plain `SYS_EXIT` on Armv7-M only tells success from failure.
fn exit(code: u32) -> ! {
    let block = [0x20026usize, code as usize];
    loop {
        // SAFETY: the semihosting call reads the two-word block.
        unsafe { cortex_m_semihosting::syscall(0x20, &block) };
    }
}

#[entry]
fn main() -> ! {
    paint_stack();
    let mut out = console();
    // `main` runs once, so the scratch is always there to take.
    let scratch = SCRATCH.take().unwrap_or_else(|| exit(EXIT_ERROR));
    match run(&mut out, scratch) {
        Ok(()) => exit(EXIT_OK),
        Err(e) => {
            let _ = writeln!(out, "error: {e}");
            exit(EXIT_ERROR)
        }
    }
}

fn run(out: &mut Console, scratch: &mut [f32]) -> Result<(), AppError> {
    let blob: &'static [u8] = &BLOB.0;
    let c = Classifier::new(blob)?;
    let cfg = c.model.config();
    let _ = writeln!(
        out,
        "model: layers={} hidden={} heads={} intermediate={} vocab={} labels={} backend={}",
        cfg.num_layers,
        cfg.hidden_size,
        cfg.num_heads,
        cfg.intermediate_size,
        cfg.vocab_size,
        c.num_labels,
        picobert::kernels::backend().name()
    );
    for (k, text) in SENTENCES.iter().enumerate() {
        let (mut ids, mut types) = ([0u32; SEQ_LEN], [0u32; SEQ_LEN]);
        picobert_mark();
        let n = c.encode(text, &mut ids, &mut types)?;
        picobert_mark();
        let mut logits = [0f32; MAX_LABELS];
        picobert_mark();
        c.classify(&ids[..n], scratch, &mut logits)?;
        picobert_mark();
        let _ = c.write_result(out, k, n, &logits[..c.num_labels]);
        let _ = writeln!(out, "region: tokenize {k} chars={}", text.len());
        let _ = writeln!(
            out,
            "region: inference {k} tokens={n} macs={}",
            linear_macs(&c, n)
        );
    }
    kernel_check(out, scratch);
    kernel_bench(out, &c, scratch)?;

    let (blob_start, blob_end, flash, sdata, edata, sidata, ram_end) = (
        symbol(addr_of!(__sblob)),
        symbol(addr_of!(__eblob)),
        symbol(addr_of!(__flash_origin)),
        symbol(addr_of!(__sdata)),
        symbol(addr_of!(__edata)),
        symbol(addr_of!(__sidata)),
        symbol(addr_of!(_stack_end)),
    );
    let code = sidata + (edata - sdata) - flash;
    let _ = writeln!(out, "figure: blob_bytes {}", blob_end - blob_start);
    let _ = writeln!(out, "figure: code_bytes {code}");
    let _ = writeln!(out, "figure: static_ram_bytes {}", ram_end - sdata);
    let _ = writeln!(out, "figure: scratch_bytes {}", SCRATCH_LEN * 4);
    let _ = writeln!(out, "figure: seq_len {SEQ_LEN}");
    let _ = writeln!(out, "figure: stack_bytes {}", stack_high_water());
    Ok(())
}

/// Multiply-accumulates of the linear layers in one inference of `seq` tokens: per layer the
/// Q, K, V and output projections and the two feed-forward matrices for every token, then the
/// pooler and the classifier for `[CLS]`.
fn linear_macs(c: &Classifier, seq: usize) -> u64 {
    let cfg = c.model.config();
    let (h, i) = (cfg.hidden_size as u64, cfg.intermediate_size as u64);
    let per_layer = seq as u64 * (4 * h * h + 2 * h * i);
    cfg.num_layers as u64 * per_layer + h * h + c.num_labels as u64 * h
}

/// Shapes the model does not have, for [`kernel_check`]: `(rows, k, n, stride)`. Row counts
/// that are not a multiple of the kernels' row block, columns ending inside a quad and inside a
/// scale group, rows longer than one pass of the DSP kernel (256 columns), more outputs than one
/// output block (64), and weight rows at odd strides (unaligned words).
const CHECK_SHAPES: [(usize, usize, usize, usize); 9] = [
    (1, 1, 1, 1),
    (3, 5, 7, 5),
    (5, 31, 9, 33),
    (7, 33, 5, 33),
    (6, 100, 17, 101),
    (4, 256, 65, 256),
    (9, 300, 70, 303),
    (17, 513, 3, 513),
    (2, 64, 130, 64),
];

/// The int8 kernel this build dispatches to against `reference::linear_i8`, bit for bit, on
/// [`CHECK_SHAPES`] with pseudo-random weights (the whole i8 range), activations, scales and
/// bias, accumulating into pseudo-random outputs on every other shape. Exits with
/// [`EXIT_ERROR`] on the first difference.
fn kernel_check(out: &mut Console, scratch: &mut [f32]) {
    let mut seed = 0x9E37_79B9u32;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    for (i, &(rows, k, n, stride)) in CHECK_SHAPES.iter().enumerate() {
        let wlen = ((n - 1) * stride + k).div_ceil(4);
        let qlen = quant_bytes(rows, k).div_ceil(4);
        let lens = [
            rows * k,
            qlen,
            rows * groups(k),
            wlen,
            n,
            n,
            rows * n,
            rows * n,
        ];
        if lens.iter().sum::<usize>() > scratch.len() {
            let _ = writeln!(out, "kernel_check: shape {i} does not fit the scratch");
            exit(EXIT_ERROR);
        }
        let (xf, rest) = scratch.split_at_mut(lens[0]);
        let (qpart, rest) = rest.split_at_mut(lens[1]);
        let (scales, rest) = rest.split_at_mut(lens[2]);
        let (wpart, rest) = rest.split_at_mut(lens[3]);
        let (sw, rest) = rest.split_at_mut(lens[4]);
        let (bias, rest) = rest.split_at_mut(lens[5]);
        let (got, rest) = rest.split_at_mut(lens[6]);
        let want = &mut rest[..lens[7]];
        let unit = |r: u32| (r >> 8) as f32 / (1 << 23) as f32 - 1.0;
        for v in xf.iter_mut().chain(bias.iter_mut()).chain(got.iter_mut()) {
            *v = unit(next());
        }
        want.copy_from_slice(got);
        for v in sw.iter_mut() {
            *v = (unit(next()) + 1.5) / 127.0;
        }
        let q: &mut [i8] = bytemuck::cast_slice_mut(wpart);
        for v in q.iter_mut() {
            *v = next() as i8;
        }
        let q = &q[..(n - 1) * stride + k];
        let x = quantize_rows(xf, rows, k, bytemuck::cast_slice_mut(qpart), scales);
        let (b, acc) = (Some(&bias[..]).filter(|_| i % 3 != 0), i % 2 == 1);
        linear_i8(&x, q, sw, stride, n, b, got, acc);
        reference::linear_i8(&x, q, sw, stride, n, b, want, acc);
        if let Some(at) = (0..got.len()).find(|&j| got[j].to_bits() != want[j].to_bits()) {
            let _ = writeln!(
                out,
                "kernel_check: rows={rows} k={k} n={n} stride={stride}: output {at} is {:e}, the reference {:e}",
                got[at], want[at]
            );
            exit(EXIT_ERROR);
        }
    }
    let _ = writeln!(
        out,
        "kernel_check: {} shapes, every output bit-identical to the reference",
        CHECK_SHAPES.len()
    );
}

/// Runs the int8 kernel on every linear layer of the encoder at [`SEQ_LEN`] rows, each layer
/// between two marks, and prints its multiply-accumulates: the kernel's instructions per MAC on
/// this core. The activations are arbitrary fixed values (the kernel's work does not depend on
/// them); the weights are the model's own. To fit the compact plan's scratch, the activations
/// are made and quantised a panel (16 rows) at a time, and the outputs are computed
/// [`BENCH_OUTPUTS`] at a time into one buffer (the kernel works in blocks of 64 outputs anyway).
fn kernel_bench(out: &mut Console, c: &Classifier, scratch: &mut [f32]) -> Result<(), AppError> {
    const PANEL: usize = picobert::kernels::PANEL_ROWS;
    const BENCH_OUTPUTS: usize = 128;
    let cfg = c.model.config();
    let widest = cfg.hidden_size.max(cfg.intermediate_size);
    let qlen = quant_bytes(SEQ_LEN, widest).div_ceil(4);
    let buf = (PANEL * widest).max(SEQ_LEN * BENCH_OUTPUTS);
    let needed = qlen + SEQ_LEN * groups(widest) + buf;
    if scratch.len() < needed {
        return Err(AppError::Run(RunError::ScratchTooSmall {
            needed,
            given: scratch.len(),
        }));
    }
    let (qpart, rest) = scratch.split_at_mut(qlen);
    let (scales, xbuf) = rest.split_at_mut(SEQ_LEN * groups(widest));
    let qdata: &mut [i8] = bytemuck::cast_slice_mut(qpart);
    let blob = c.model.bytes();
    const LINEAR: [Role; 6] = [
        Role::QueryWeight,
        Role::KeyWeight,
        Role::ValueWeight,
        Role::AttnOutWeight,
        Role::InterWeight,
        Role::OutWeight,
    ];
    let mut seed = 0x1234_5678u32;
    for t in c.model.tensors() {
        if !LINEAR.iter().any(|r| *r as u16 == t.role) || t.dtype != DType::I8 as u8 {
            continue;
        }
        let (n, k) = (t.shape[0] as usize, t.shape[1] as usize);
        let q: &[i8] = bytemuck::cast_slice(&blob[t.offset as usize..(t.offset + t.len) as usize]);
        let sw: &[f32] = bytemuck::cast_slice(
            &blob[t.scale_offset as usize..(t.scale_offset + t.scale_len) as usize],
        );
        // Panels are contiguous in the quantised layout, scales row-major: quantising panel by
        // panel gives the layout of quantising all rows at once.
        let panel_bytes = quant_bytes(PANEL, k);
        for p in 0..SEQ_LEN / PANEL {
            for x in xbuf[..PANEL * k].iter_mut() {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                *x = (seed >> 8) as f32 / (1 << 23) as f32 - 1.0;
            }
            let g = PANEL * groups(k);
            quantize_rows(
                &xbuf[..PANEL * k],
                PANEL,
                k,
                &mut qdata[p * panel_bytes..(p + 1) * panel_bytes],
                &mut scales[p * g..(p + 1) * g],
            );
        }
        let x = QuantizedRows::from_parts(
            &qdata[..quant_bytes(SEQ_LEN, k)],
            &scales[..SEQ_LEN * groups(k)],
            SEQ_LEN,
            k,
        )
        .ok_or(AppError::Run(RunError::LengthMismatch))?;
        picobert_mark();
        let mut o0 = 0;
        while o0 < n {
            let m = BENCH_OUTPUTS.min(n - o0);
            let w = &q[o0 * k..];
            let ys = &mut xbuf[..SEQ_LEN * m];
            linear_i8(&x, w, &sw[o0..], k, m, None, ys, false);
            o0 += m;
        }
        picobert_mark();
        let _ = writeln!(
            out,
            "region: kernel role={} layer={} rows={SEQ_LEN} n={n} k={k} macs={}",
            t.role,
            t.layer,
            SEQ_LEN * n * k
        );
    }
    Ok(())
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    let mut out = console();
    let _ = writeln!(out, "HardFault at pc={:#010x}", frame.pc());
    exit(EXIT_HARDFAULT)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let mut out = console();
    let _ = writeln!(out, "panic: {info}");
    exit(EXIT_PANIC)
}
