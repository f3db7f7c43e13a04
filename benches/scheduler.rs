// SPDX-License-Identifier: Apache-2.0
//! Scheduler benches: one `select_destinations` on a warm, incrementally updated host table
//! of 1k, 10k and 100k synthetic hosts, for Nova's `default` and the harness's `extended`
//! filter lists. Each iteration schedules the next request of a synthetic stream and then
//! releases its claims, so the cluster stays at the same fill level.
//!
//! The `threads` group splits each filter round over 1, 2 (and, where the machine has them,
//! 4) threads at 10k and 100k hosts.
//!
//! ```text
//! cargo bench --bench scheduler
//! ```

use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use ferrostack_scheduler::io::{Cluster, Request, scenario_filters};
use ferrostack_scheduler::testing::{synthetic_cluster, synthetic_requests};
use ferrostack_scheduler::weighers::default_weighers;
use ferrostack_scheduler::{
    FilterScheduler, LocalClaims, Scheduler, SchedulerConfig, release_selection,
};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("select_destinations");
    g.sample_size(20);
    for hosts in [1_000usize, 10_000, 100_000] {
        let cluster = synthetic_cluster(hosts, 42);
        let reqs = synthetic_requests(&cluster, 1000, 42);
        for scenario in ["default", "extended"] {
            let id = BenchmarkId::new(scenario, hosts);
            bench_stream(&mut g, id, &cluster, &reqs, scenario, SchedulerConfig::default());
        }
    }
    g.finish();
}

fn bench_threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("threads");
    g.sample_size(20);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let counts: Vec<usize> = [1, 2, 4].into_iter().filter(|&t| t <= cores.max(2)).collect();
    for hosts in [10_000usize, 100_000] {
        let cluster = synthetic_cluster(hosts, 42);
        let reqs = synthetic_requests(&cluster, 1000, 42);
        for &threads in &counts {
            let id = BenchmarkId::new(format!("default/{threads}"), hosts);
            let config = SchedulerConfig { threads, ..SchedulerConfig::default() };
            bench_stream(&mut g, id, &cluster, &reqs, "default", config);
        }
    }
    g.finish();
}

/// One benchmark: each iteration schedules the next request of the stream on a warm copy of
/// the cluster's table and releases its claims.
fn bench_stream(
    g: &mut BenchmarkGroup<'_, WallTime>,
    id: BenchmarkId,
    cluster: &Cluster,
    reqs: &[Request],
    scenario: &str,
    config: SchedulerConfig,
) {
    let mut table = cluster.table.clone();
    let filters = scenario_filters(scenario).expect("known scenario");
    let mut sched = FilterScheduler::new(filters, default_weighers(), config);
    let mut claims = LocalClaims::default();
    let mut n = 0usize;
    g.throughput(Throughput::Elements(1));
    g.bench_function(id, |b| {
        b.iter(|| {
            let spec = cluster.spec_for(&reqs[n % reqs.len()]).expect("group");
            n += 1;
            if let Ok(sels) = sched.select_destinations(&mut table, &spec, &mut claims) {
                for s in &sels {
                    release_selection(&mut table, s, &mut claims).expect("release");
                }
                black_box(sels);
            }
        })
    });
}

criterion_group!(benches, bench, bench_threads);
criterion_main!(benches);
