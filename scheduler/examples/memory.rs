// SPDX-License-Identifier: Apache-2.0
//! Memory per host of the scheduler's state, measured, for 1k, 10k and 100k synthetic hosts
//! (or the host counts given as arguments):
//!
//! ```text
//! cargo run --release -p ferrostack-scheduler --example memory [-- 1000 10000 100000]
//! ```
//!
//! Prints per host count:
//! * **hot bytes/host**: the element sizes of the scanned columns
//!   ([`HostTable::hot_bytes_per_host`]), what a filter-and-weigh pass reads;
//! * **heap bytes/host**: live heap bytes of the loaded table (counted by a global allocator
//!   wrapper), split into the table without instances and the instance index (estimated by
//!   [`HostTable::instance_index_heap_bytes`]; the synthetic cluster carries about 0–45
//!   instances per host, like `synth.py`);
//! * **scheduler scratch bytes/host**: heap a [`FilterScheduler`] holds after 200 requests
//!   (per-round weight columns kept for reuse), measured as what dropping it frees;
//! * **RSS delta/host**: resident-set growth across the load (includes allocator slack and
//!   pages freed but kept by the allocator). Run one size alone for a clean figure.

// The counting allocator below is the only unsafe code: a pass-through `GlobalAlloc`.
#![allow(unsafe_code)]

use ferrostack_scheduler::io::rss_bytes;
use ferrostack_scheduler::testing::{synthetic_cluster, synthetic_requests};
use ferrostack_scheduler::{FilterScheduler, HostTable, LocalClaims, Scheduler};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

/// The system allocator, counting live bytes.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only a counter is kept.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's pointer, layout and size.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

fn main() {
    let sizes: Vec<usize> = {
        let a: Vec<usize> = std::env::args().skip(1).filter_map(|s| s.parse().ok()).collect();
        if a.is_empty() { vec![1_000, 10_000, 100_000] } else { a }
    };
    println!(
        "hot state: {} bytes per host (column element sizes)",
        HostTable::hot_bytes_per_host()
    );
    println!(
        "{:>8} {:>10} {:>14} {:>14} {:>14} {:>12} {:>12}",
        "hosts",
        "instances",
        "heap B/host",
        "no-inst B/host",
        "inst-idx B/host",
        "sched B/host",
        "RSS B/host"
    );
    for n in sizes {
        let rss0 = rss_bytes().unwrap_or(0);
        let l0 = live();
        let mut cluster = synthetic_cluster(n, 42);
        let l1 = live();
        let rss1 = rss_bytes().unwrap_or(0);
        let instances = cluster.table.instance_total();
        let index_bytes = cluster.table.instance_index_heap_bytes() as isize;
        let no_inst = (l1 - l0) - index_bytes;
        let reqs = synthetic_requests(&cluster, 200, 42);
        let mut sched = FilterScheduler::nova_default();
        let mut claims = LocalClaims::default();
        for r in &reqs {
            if let Ok(spec) = cluster.spec_for(r) {
                let _ = sched.select_destinations(&mut cluster.table, &spec, &mut claims);
            }
        }
        let l4 = live();
        drop(sched);
        let scratch = l4 - live();
        let per = |b: isize| b as f64 / n as f64;
        println!(
            "{:>8} {:>10} {:>14.0} {:>14.0} {:>14.0} {:>12.0} {:>12.0}",
            n,
            instances,
            per(l1 - l0),
            per(no_inst),
            per(index_bytes),
            per(scratch),
            per(rss1 as isize - rss0 as isize)
        );
        drop(cluster);
    }
}
