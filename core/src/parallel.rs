//! The encoder layers on several threads (feature `parallel`, host only): a pass is a sequence
//! of phases per layer, every worker running each phase on its share (a block of rows, some
//! feed-forward tiles, some output columns) and meeting the others at a spinning barrier after
//! it. Buffers that each worker writes in part and all read in full in a later phase are
//! [`Shared`]. The workers other than the caller are helper threads kept between passes
//! ([`pool`]): starting a thread took 0.1-0.2 ms here, 2-3% of a two-thread MiniLM pass at 128
//! tokens, and the caller waited for it at the first barrier.
#![allow(unsafe_code)]

extern crate alloc;
use alloc::vec::Vec;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// One step of a layer for one worker: `(worker, layer)`.
pub(crate) type Phase<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// Runs `layers` layers of `phases` on `workers` workers (worker 0 on this thread), all
/// workers finishing a phase before any starts the next; then `finish(worker)`.
pub(crate) fn run_phases(
    workers: usize,
    layers: usize,
    phases: &[Phase],
    finish: &(dyn Fn(usize) + Sync),
) {
    let barrier = SpinBarrier::new(workers);
    let worker = |w: usize| {
        for l in 0..layers {
            for phase in phases {
                phase(w, l);
                barrier.wait();
            }
        }
        finish(w);
    };
    pool::run(workers, &worker);
}

/// Two buffers for one pass's shared intermediate results, kept between passes so a pass does
/// not fault in fresh pages (1.3 us each on this VM); a caller that finds them in use (another
/// thread's pass) gets new ones.
pub(crate) fn with_buffers<R>(
    floats: usize,
    bytes: usize,
    f: impl FnOnce(&mut [f32], &mut [i8]) -> R,
) -> R {
    static SPARE: Mutex<(Vec<f32>, Vec<i8>)> = Mutex::new((Vec::new(), Vec::new()));
    let mut fresh = (Vec::new(), Vec::new());
    let mut kept = SPARE.try_lock().ok();
    let (fl, by) = match kept.as_deref_mut() {
        Some(b) => b,
        None => &mut fresh,
    };
    if fl.len() < floats {
        fl.resize(floats, 0.0);
    }
    if by.len() < bytes {
        by.resize(bytes, 0);
    }
    f(&mut fl[..floats], &mut by[..bytes])
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

/// A buffer that workers write in disjoint parts in one phase and read in full in a later one.
/// The caller upholds the aliasing rules the borrow checker cannot see across threads, through
/// the two `unsafe` accessors; the barriers between phases order the accesses.
pub(crate) struct Shared<'a, T> {
    ptr: *mut T,
    len: usize,
    _buf: PhantomData<&'a mut [T]>,
}

// SAFETY: access goes through the `unsafe` accessors, whose callers guarantee that no element
// is written while another reference to it exists; `T` is sent or shared only as the plain
// numbers the encoder keeps here.
unsafe impl<T: Send> Send for Shared<'_, T> {}
unsafe impl<T: Send + Sync> Sync for Shared<'_, T> {}

impl<'a, T> Shared<'a, T> {
    pub(crate) fn new(buf: &'a mut [T]) -> Self {
        Shared {
            ptr: buf.as_mut_ptr(),
            len: buf.len(),
            _buf: PhantomData,
        }
    }

    /// Elements `start..start + len` (clamped to the buffer).
    ///
    /// # Safety
    /// No other reference to these elements exists while the returned one lives.
    // A mutable view from a shared one is the point: workers on other threads hold `&self`.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn part_mut(&self, start: usize, len: usize) -> &mut [T] {
        let start = start.min(self.len);
        let len = len.min(self.len - start);
        // SAFETY: in bounds of the borrowed buffer; exclusive by the caller's guarantee.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.add(start), len) }
    }

    /// The whole buffer.
    ///
    /// # Safety
    /// No reference from [`Shared::part_mut`] lives while the returned one does.
    pub(crate) unsafe fn all(&self) -> &[T] {
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
