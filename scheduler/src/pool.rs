// SPDX-License-Identifier: Apache-2.0
//! A small fork-join pool for the parallel filter rounds, built for sub-millisecond phases.
//!
//! One decision at 10,000 hosts is a handful of phases of 50–300 µs each. A pool whose idle
//! workers sleep in the kernel (rayon's, or `std::thread::scope` spawning per phase) pays a
//! wake-up per phase, and on the KVM guests this was measured on, handing a job to a
//! sleeping rayon worker took 45 µs at the median and 2.2 ms at the 99th percentile, after
//! a 1 ms pause (a micro-benchmark recorded in the crate's `NOTES.md`): more than the
//! phase itself.
//! So idle workers here keep polling a generation counter for [`SPIN_BEFORE_PARK`] after
//! their last job before they park on a condition variable, and the calling thread does the
//! first part of every job itself.
//!
//! Both waiting loops poll with `sched_yield`, not with the CPU's spin-wait hint: a guest
//! vCPU that executes `pause` in a loop is taken off the CPU by the hypervisor's pause-loop
//! exiting, which delayed job starts by about 2 ms; a tight loop without it starves a
//! hyper-thread sibling. Yielding costs a system call per poll (well under a microsecond)
//! and gives the CPU to anything else runnable.
//!
//! [`SpinPool::run`] hands a borrowed closure to the workers. That needs the one `unsafe`
//! of this crate: the closure's lifetime is erased while it is published, which is sound
//! because `run` neither returns nor unwinds before every worker has finished calling it
//! (the [`WaitForWorkers`] guard waits even when the caller's own part panics).

#![allow(unsafe_code)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an idle worker spins before it parks.
pub const SPIN_BEFORE_PARK: Duration = Duration::from_millis(2);

type Job = &'static (dyn Fn(usize) + Sync);

#[derive(Default)]
struct Shared {
    /// Bumped once per published job (and once at shutdown).
    generation: AtomicU64,
    /// The job of the current generation and its number of parts.
    job: Mutex<Option<(Job, usize)>>,
    /// Workers that have not finished the current generation.
    pending: AtomicUsize,
    /// Workers parked (or about to park) on `wake`.
    sleepers: AtomicUsize,
    park: Mutex<()>,
    wake: Condvar,
    panicked: AtomicBool,
    exit: AtomicBool,
}

/// A fixed set of worker threads that run parts of a job alongside the calling thread.
pub struct SpinPool {
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<()>>,
    /// Held for the whole of [`SpinPool::run`]: one job at a time, even if the pool is
    /// shared between threads (the job slot and the counters serve one job).
    running: Mutex<()>,
}

impl std::fmt::Debug for SpinPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpinPool").field("workers", &self.handles.len()).finish_non_exhaustive()
    }
}

impl SpinPool {
    /// A pool with `workers` threads (the caller is one more). `None` if a thread could not
    /// be started.
    pub fn new(workers: usize) -> Option<SpinPool> {
        let shared = Arc::new(Shared::default());
        let mut pool =
            SpinPool { shared, handles: Vec::with_capacity(workers), running: Mutex::new(()) };
        for index in 0..workers {
            let shared = Arc::clone(&pool.shared);
            let handle = std::thread::Builder::new()
                .name(format!("sched-worker-{index}"))
                .spawn(move || worker(&shared, index + 1))
                .ok()?;
            pool.handles.push(handle);
        }
        Some(pool)
    }

    /// Threads taking part in a job: the workers and the caller.
    pub fn threads(&self) -> usize {
        self.handles.len() + 1
    }

    /// Calls `f(i)` once for every `i` in `0..parts` and returns when all calls are done.
    /// Part 0 runs on the calling thread, part `i` on worker `i` (parts beyond the pool's
    /// threads run on the calling thread after its own). Panics if a part panicked. A job
    /// must not call `run` on the same pool (it would wait for itself).
    pub fn run(&self, parts: usize, f: &(dyn Fn(usize) + Sync)) {
        if parts <= 1 || self.handles.is_empty() {
            (0..parts).for_each(f);
            return;
        }
        let _one_job = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        let s = &*self.shared;
        s.panicked.store(false, Ordering::SeqCst);
        // SAFETY: the reference is only used by workers between the generation bump below
        // and their `pending` decrement, for this job only (`running` is held); this function does not return or unwind before
        // `pending` is 0 (`WaitForWorkers` waits in its drop, which runs on unwinding too),
        // and the slot is cleared before it returns, so no use outlives the borrow of `f`.
        let job: Job = unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), Job>(f) };
        *s.job.lock().unwrap_or_else(PoisonError::into_inner) = Some((job, parts));
        s.pending.store(self.handles.len(), Ordering::SeqCst);
        s.generation.fetch_add(1, Ordering::SeqCst);
        if s.sleepers.load(Ordering::SeqCst) > 0 {
            let _lock = s.park.lock().unwrap_or_else(PoisonError::into_inner);
            s.wake.notify_all();
        }
        let guard = WaitForWorkers(s);
        f(0);
        for i in self.threads()..parts {
            f(i);
        }
        drop(guard);
        if s.panicked.load(Ordering::SeqCst) {
            panic!("a scheduler worker thread panicked");
        }
    }
}

/// Waits (in drop) until every worker has finished the current job, then clears it.
struct WaitForWorkers<'a>(&'a Shared);

impl Drop for WaitForWorkers<'_> {
    fn drop(&mut self) {
        let s = self.0;
        while s.pending.load(Ordering::Acquire) != 0 {
            std::thread::yield_now();
        }
        *s.job.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

impl Drop for SpinPool {
    fn drop(&mut self) {
        let s = &*self.shared;
        s.exit.store(true, Ordering::SeqCst);
        s.generation.fetch_add(1, Ordering::SeqCst);
        {
            let _lock = s.park.lock().unwrap_or_else(PoisonError::into_inner);
            s.wake.notify_all();
        }
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

/// Worker `part`'s loop. Generation 0 is the pool's state before its first job: a job may
/// be published before the thread gets to run, so the worker must not read its start value.
fn worker(s: &Shared, part: usize) {
    let mut seen = 0;
    loop {
        seen = wait_for_generation(s, seen);
        if s.exit.load(Ordering::SeqCst) {
            return;
        }
        let job = *s.job.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((f, parts)) = job
            && part < parts
            && catch_unwind(AssertUnwindSafe(|| f(part))).is_err()
        {
            s.panicked.store(true, Ordering::SeqCst);
        }
        s.pending.fetch_sub(1, Ordering::Release);
    }
}

/// Spins, then parks, until the generation differs from `seen`; returns the new one.
fn wait_for_generation(s: &Shared, seen: u64) -> u64 {
    let start = Instant::now();
    let mut spins = 0u32;
    loop {
        let g = s.generation.load(Ordering::Acquire);
        if g != seen {
            return g;
        }
        spins = spins.wrapping_add(1);
        if !spins.is_multiple_of(128) || start.elapsed() < SPIN_BEFORE_PARK {
            std::thread::yield_now();
            continue;
        }
        let mut lock = s.park.lock().unwrap_or_else(PoisonError::into_inner);
        s.sleepers.fetch_add(1, Ordering::SeqCst);
        while s.generation.load(Ordering::SeqCst) == seen {
            lock = s.wake.wait(lock).unwrap_or_else(PoisonError::into_inner);
        }
        s.sleepers.fetch_sub(1, Ordering::SeqCst);
        drop(lock);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn every_part_runs_once_per_job_with_borrowed_state() {
        let pool = SpinPool::new(3).expect("threads");
        assert_eq!(pool.threads(), 4);
        for parts in [0usize, 1, 2, 4, 7] {
            for _ in 0..200 {
                let hits: Vec<AtomicU32> = (0..parts).map(|_| AtomicU32::new(0)).collect();
                pool.run(parts, &|i| {
                    hits[i].fetch_add(1, Ordering::Relaxed);
                });
                assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1), "parts {parts}");
            }
        }
    }

    #[test]
    fn jobs_from_several_threads_take_turns() {
        let pool = SpinPool::new(2).expect("threads");
        std::thread::scope(|scope| {
            for t in 0..4u32 {
                let pool = &pool;
                scope.spawn(move || {
                    for _ in 0..200 {
                        let hits: Vec<AtomicU32> = (0..3).map(|_| AtomicU32::new(0)).collect();
                        pool.run(3, &|i| {
                            hits[i].fetch_add(t + 1, Ordering::Relaxed);
                        });
                        assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == t + 1));
                    }
                });
            }
        });
    }

    #[test]
    fn workers_wake_up_after_parking() {
        let pool = SpinPool::new(1).expect("threads");
        std::thread::sleep(SPIN_BEFORE_PARK * 3);
        let sum = AtomicU32::new(0);
        pool.run(2, &|i| {
            sum.fetch_add(i as u32 + 1, Ordering::Relaxed);
        });
        assert_eq!(sum.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn a_panicking_part_is_reported_and_the_pool_keeps_working() {
        let pool = SpinPool::new(1).expect("threads");
        let r = catch_unwind(AssertUnwindSafe(|| {
            pool.run(2, &|i| {
                if i == 1 {
                    panic!("part 1 fails");
                }
            })
        }));
        assert!(r.is_err());
        let r = catch_unwind(AssertUnwindSafe(|| {
            pool.run(2, &|i| {
                if i == 0 {
                    panic!("part 0 fails");
                }
            })
        }));
        assert!(r.is_err());
        let sum = AtomicU32::new(0);
        pool.run(2, &|i| {
            sum.fetch_add(i as u32 + 1, Ordering::Relaxed);
        });
        assert_eq!(sum.load(Ordering::Relaxed), 3);
    }
}
