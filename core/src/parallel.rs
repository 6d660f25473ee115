//! The encoder layers on several threads (feature `parallel`, host only): one worker per block
//! of rows for the whole pass, meeting at a spinning barrier twice per layer, and the key and
//! value rows that every worker writes in part and reads in full. The workers other than the
//! caller are helper threads kept between passes ([`pool`]): starting a thread took 0.1-0.2 ms
//! here, 2-3% of a two-thread MiniLM pass at 128 tokens, and the caller waited for it at the
//! first barrier.
#![allow(unsafe_code)]

extern crate alloc;
use alloc::vec::Vec;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Runs `layers` layers over blocks of rows, one worker per block (the first on this thread,
/// the others on helper threads). Each part is `(len, state)`: `len` is the block's number of
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
    let mut start = 0;
    // Each worker takes its own part out of its slot (uncontended locks).
    let slots: Vec<Mutex<Option<(usize, usize, P)>>> = parts
        .into_iter()
        .map(|(len, state)| {
            let at = start;
            start += len;
            Mutex::new(Some((at, len, state)))
        })
        .collect();
    let worker = |i: usize| {
        let part = slots.get(i).and_then(|s| s.lock().ok()?.take());
        let Some((start, len, mut state)) = part else {
            return;
        };
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
    pool::run(slots.len(), &worker);
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

/// Helper threads kept between forward passes. A job is a borrowed `Fn(worker index)`; the
/// caller runs index 0 and helpers 1.., and the caller returns only once every helper is done
/// with the job, so the borrow outlives every use. Helpers spin briefly after a job (passes in a
/// loop find them awake), then sleep. One job at a time: a caller that finds the pool busy
/// (another thread's pass) runs its workers on scoped threads instead.
mod pool {
    extern crate alloc;
    use alloc::boxed::Box;
    use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Condvar, Mutex, TryLockError};
    use std::time::{Duration, Instant};

    /// How long a helper spins for the next job before it sleeps.
    const SPIN: Duration = Duration::from_micros(500);

    type Job<'a> = dyn Fn(usize) + Sync + 'a;

    /// The job being run: its generation, a pointer to it with the borrow's lifetime erased,
    /// and how many workers it has.
    struct Posted {
        generation: usize,
        job: Option<*const Job<'static>>,
        workers: usize,
    }

    // SAFETY: the pointer is dereferenced only while `run` keeps the job alive, and the job
    // is `Sync`.
    unsafe impl Send for Posted {}

    struct Shared {
        posted: Mutex<Posted>,
        wake: Condvar,
        /// The posted generation, read without the lock by spinning helpers.
        generation: AtomicUsize,
        /// Helpers not yet done with the current job.
        pending: AtomicUsize,
        panicked: AtomicBool,
    }

    /// The helpers started so far and what they share.
    struct Pool {
        shared: &'static Shared,
        helpers: usize,
    }

    static POOL: Mutex<Option<Pool>> = Mutex::new(None);

    /// Runs `job(0)` here and `job(1..workers)` on helper threads; returns when all have.
    /// A panic in any of them is raised here, after all have finished.
    pub(super) fn run(workers: usize, job: &Job<'_>) {
        let mut guard = match POOL.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return scoped(workers, job),
        };
        let pool = guard.get_or_insert_with(|| Pool {
            shared: Box::leak(Box::new(Shared {
                posted: Mutex::new(Posted {
                    generation: 0,
                    job: None,
                    workers: 0,
                }),
                wake: Condvar::new(),
                generation: AtomicUsize::new(0),
                pending: AtomicUsize::new(0),
                panicked: AtomicBool::new(false),
            })),
            helpers: 0,
        });
        while pool.helpers + 1 < workers {
            let (shared, index) = (pool.shared, pool.helpers + 1);
            let started = std::thread::Builder::new()
                .name(alloc::format!("picobert-{index}"))
                .spawn(move || helper(shared, index));
            if started.is_err() {
                drop(guard);
                return scoped(workers, job);
            }
            pool.helpers += 1;
        }
        let shared = pool.shared;
        shared.pending.store(workers - 1, Ordering::Relaxed);
        shared.panicked.store(false, Ordering::Relaxed);
        {
            let mut posted = lock(&shared.posted);
            posted.generation += 1;
            // SAFETY (of the erasure): helpers call the job only until they decrement
            // `pending`, and this function returns only once `pending` is 0.
            posted.job =
                Some(unsafe { core::mem::transmute::<&Job<'_>, &'static Job<'static>>(job) });
            posted.workers = workers;
            shared
                .generation
                .store(posted.generation, Ordering::Release);
        }
        shared.wake.notify_all();
        let mine = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| job(0)));
        let mut spins = 0u32;
        while shared.pending.load(Ordering::Acquire) != 0 {
            if spins < 1 << 14 {
                spins += 1;
                core::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        lock(&shared.posted).job = None;
        let theirs = shared.panicked.load(Ordering::Relaxed);
        drop(guard);
        if let Err(e) = mine {
            std::panic::resume_unwind(e);
        }
        if theirs {
            panic!("a picobert worker thread panicked");
        }
    }

    fn helper(shared: &'static Shared, index: usize) {
        let mut seen = 0;
        loop {
            let since = Instant::now();
            while shared.generation.load(Ordering::Acquire) == seen && since.elapsed() < SPIN {
                core::hint::spin_loop();
            }
            let (job, workers) = {
                let mut posted = lock(&shared.posted);
                while posted.generation == seen {
                    posted = shared.wake.wait(posted).unwrap_or_else(|p| p.into_inner());
                }
                seen = posted.generation;
                (posted.job, posted.workers)
            };
            if index >= workers {
                continue;
            }
            if let Some(job) = job {
                // SAFETY: `run` keeps the job alive until this helper decrements `pending`.
                let job = unsafe { &*job };
                let ok = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| job(index)));
                if ok.is_err() {
                    shared.panicked.store(true, Ordering::Relaxed);
                }
            }
            shared.pending.fetch_sub(1, Ordering::Release);
        }
    }

    /// The pool's lock even if a panic poisoned it (the state stays consistent: every field
    /// is written whole).
    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `run` on fresh scoped threads (the pool is busy or could not start a thread).
    fn scoped(workers: usize, job: &Job<'_>) {
        std::thread::scope(|scope| {
            for i in 1..workers {
                scope.spawn(move || job(i));
            }
            job(0);
        });
    }
}
