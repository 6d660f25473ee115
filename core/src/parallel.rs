//! The encoder layers on several threads (feature `parallel`, host only): one worker per block
//! of rows for the whole pass, meeting at a spinning barrier twice per layer, and the key and
//! value rows that every worker writes in part and reads in full.
#![allow(unsafe_code)]

extern crate alloc;
use alloc::vec::Vec;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicUsize, Ordering};

/// Runs `layers` layers over blocks of rows, one worker per block (the first on this thread,
/// the others on scoped threads). Each part is `(len, state)`: `len` is the block's number of
/// elements in `k` and `v`, blocks in order. Per layer, every worker runs `project` on its state
/// with its own span of `k` and `v`; once all have, `attend` with all of `k` and `v`; once all
/// have, the next layer starts, so keys are never overwritten while another worker reads them.
pub(crate) fn run_layers<P: Send>(
    parts: Vec<(usize, P)>,
    k: &mut [f32],
    v: &mut [f32],
    layers: usize,
    project: impl Fn(&mut P, usize, &mut [f32], &mut [f32]) + Sync,
    attend: impl Fn(&mut P, usize, &[f32], &[f32]) + Sync,
) {
    let barrier = SpinBarrier::new(parts.len());
    let (k, v) = (SharedRows::new(k), SharedRows::new(v));
    let worker = |start: usize, len: usize, mut state: P| {
        for l in 0..layers {
            {
                // SAFETY: until the barrier below, each worker touches only its own span of K
                // and V (the spans are disjoint), and no worker reads them: the previous
                // layer's readers finished at the barrier ending it.
                let (kk, vv) = unsafe { (k.part_mut(start, len), v.part_mut(start, len)) };
                project(&mut state, l, kk, vv);
            }
            barrier.wait();
            {
                // SAFETY: every worker is past its writes to K and V (the barrier above) and
                // writes them again only after the barrier below.
                let (ks, vs) = unsafe { (k.all(), v.all()) };
                attend(&mut state, l, ks, vs);
            }
            barrier.wait();
        }
    };
    std::thread::scope(|scope| {
        let mut start = 0;
        let mut first = None;
        for (len, state) in parts {
            let at = start;
            start += len;
            match first {
                None => first = Some((len, state)),
                Some(_) => {
                    let worker = &worker;
                    scope.spawn(move || worker(at, len, state));
                }
            }
        }
        if let Some((len, state)) = first {
            worker(0, len, state);
        }
    });
}

/// A reusable barrier for a fixed number of threads that spins, then yields. The workers of
/// one forward pass arrive within microseconds of each other, where a sleeping barrier's wake-up
/// would cost more than the wait.
struct SpinBarrier {
    threads: usize,
    arrived: AtomicUsize,
    generation: AtomicUsize,
}

impl SpinBarrier {
    fn new(threads: usize) -> Self {
        SpinBarrier {
            threads,
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
        }
    }

    /// Returns once all `threads` have called it; every write made before the call by any of
    /// them is visible after it to all (the last arrival acquires the others' releases through
    /// `arrived` and releases them all through `generation`).
    fn wait(&self) {
        let generation = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.threads {
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::Release);
            return;
        }
        let mut spins = 0u32;
        while self.generation.load(Ordering::Acquire) == generation {
            if spins < 1 << 14 {
                spins += 1;
                core::hint::spin_loop();
            } else {
                // Another process holds this core: let it run rather than burn its slice.
                std::thread::yield_now();
            }
        }
    }
}

/// A buffer of rows that each worker writes in part (its own rows) and, after a barrier, all
/// workers read in full. The caller upholds the aliasing rules the borrow checker cannot see
/// across threads, through the two `unsafe` accessors.
struct SharedRows<'a> {
    ptr: *mut f32,
    len: usize,
    _buf: PhantomData<&'a mut [f32]>,
}

// SAFETY: access goes through the `unsafe` accessors, whose callers guarantee that no element
// is written while another reference to it exists; f32 is Send and Sync.
unsafe impl Send for SharedRows<'_> {}
unsafe impl Sync for SharedRows<'_> {}

impl<'a> SharedRows<'a> {
    fn new(buf: &'a mut [f32]) -> Self {
        SharedRows {
            ptr: buf.as_mut_ptr(),
            len: buf.len(),
            _buf: PhantomData,
        }
    }

    /// Elements `start..start + len` (empty where that is past the buffer).
    ///
    /// # Safety
    /// No other reference to these elements exists while the returned one lives.
    // A mutable view from a shared one is the point: workers on other threads hold `&self`.
    #[allow(clippy::mut_from_ref)]
    unsafe fn part_mut(&self, start: usize, len: usize) -> &mut [f32] {
        let start = start.min(self.len);
        let len = len.min(self.len - start);
        // SAFETY: in bounds of the borrowed buffer; exclusive by the caller's guarantee.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.add(start), len) }
    }

    /// The whole buffer.
    ///
    /// # Safety
    /// No reference from [`SharedRows::part_mut`] lives while the returned one does.
    unsafe fn all(&self) -> &[f32] {
        // SAFETY: the borrowed buffer; no writer by the caller's guarantee.
        unsafe { core::slice::from_raw_parts(self.ptr, self.len) }
    }
}
