// SPDX-License-Identifier: Apache-2.0
//! Several scheduler workers, each with its own (soon stale) view of the same hosts, claim
//! through one shared store. Afterwards every host's usage is within its capacity and equals
//! the initial usage plus the allocations recorded on it.

use ferrostack_core::store::{MemoryStore, Store, StoreExt};
use ferrostack_scheduler::claims::{Allocation, ClaimStats, StoreClaims, block_on, usage_key};
use ferrostack_scheduler::io::scenario_filters;
use ferrostack_scheduler::testing::{synthetic_cluster, synthetic_requests};
use ferrostack_scheduler::weighers::default_weighers;
use ferrostack_scheduler::{
    FilterScheduler, Resources, Scheduler, SchedulerConfig, SchedulerError,
};
use std::collections::HashMap;
use std::sync::Arc;

const HOSTS: usize = 40;
const WORKERS: usize = 6;
const REQUESTS: usize = 250;

#[test]
fn concurrent_workers_never_over_commit() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let initial = synthetic_cluster(HOSTS, 11);
    StoreClaims::new(store.clone()).seed(&initial.table).expect("seed");

    let results: Vec<(ClaimStats, usize, usize)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..WORKERS)
            .map(|w| {
                let store = store.clone();
                s.spawn(move || {
                    let mut cluster = synthetic_cluster(HOSTS, 11);
                    let mut reqs = synthetic_requests(&cluster, REQUESTS, 100 + w as u64);
                    for r in &mut reqs {
                        for u in &mut r.spec.instance_uuids {
                            *u = format!("w{w}-{u}");
                        }
                    }
                    let filters = scenario_filters("extended").expect("filters");
                    let mut sched = FilterScheduler::new(
                        filters,
                        default_weighers(),
                        SchedulerConfig::default(),
                    );
                    let mut claims = StoreClaims::new(store);
                    let (mut placed, mut failed) = (0, 0);
                    for (n, req) in reqs.iter().enumerate() {
                        if n % 50 == 0 {
                            claims.refresh(&mut cluster.table).expect("refresh");
                        }
                        let spec = cluster.spec_for(req).expect("spec");
                        match sched.select_destinations(&mut cluster.table, &spec, &mut claims) {
                            Ok(sels) => {
                                placed += sels.len();
                                let hosts: Vec<String> =
                                    sels.iter().map(|s| s.host.clone()).collect();
                                cluster.record_group(req, &hosts);
                            }
                            Err(SchedulerError::NoValidHost { .. }) => failed += 1,
                            Err(e) => panic!("worker {w}: {e}"),
                        }
                    }
                    (claims.stats, placed, failed)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("worker panicked")).collect()
    });

    // Every host within capacity, and usage == initial + allocations.
    let allocs = block_on(store.list_all("scheduler/allocations/")).expect("list");
    let mut by_node: HashMap<String, Resources> = HashMap::new();
    for kv in &allocs {
        let a: Allocation = serde_json::from_slice(&kv.value).expect("allocation");
        let e = by_node.entry(a.node_uuid).or_default();
        e.vcpu += a.resources.vcpu;
        e.memory_mb += a.resources.memory_mb;
        e.disk_gb += a.resources.disk_gb;
    }
    let t = &initial.table;
    let mut full_hosts = 0;
    for i in 0..t.len() {
        let node = &t.info[i].report.uuid;
        let kv = block_on(store.get(&usage_key(node))).expect("get").expect("usage record");
        let used: Resources = serde_json::from_slice(&kv.value).expect("usage");
        let cap = t.cap[i];
        assert!(used.vcpu as f64 <= cap[0], "{node}: vcpu {} > {}", used.vcpu, cap[0]);
        assert!(used.memory_mb as f64 <= cap[1], "{node}: ram {} > {}", used.memory_mb, cap[1]);
        assert!(used.disk_gb as f64 <= cap[2], "{node}: disk {} > {}", used.disk_gb, cap[2]);
        let a = by_node.get(node).copied().unwrap_or_default();
        let init = t.usage(i);
        assert_eq!(used.vcpu, init.vcpu + a.vcpu, "{node}");
        assert_eq!(used.memory_mb, init.memory_mb + a.memory_mb, "{node}");
        assert_eq!(used.disk_gb, init.disk_gb + a.disk_gb, "{node}");
        if used.memory_mb as f64 + 2048.0 > cap[1] || used.disk_gb as f64 + 20.0 > cap[2] {
            full_hosts += 1;
        }
    }
    let mut total = ClaimStats::default();
    let (mut placed, mut failed) = (0, 0);
    for (s, p, f) in &results {
        total.committed += s.committed;
        total.refused += s.refused;
        total.conflicts += s.conflicts;
        total.gave_up += s.gave_up;
        total.released += s.released;
        placed += p;
        failed += f;
    }
    // Committed claims minus released ones are exactly the allocations left.
    assert_eq!(total.committed - total.released, allocs.len() as u64);
    assert_eq!(placed, allocs.len());
    assert!(placed > 0);
    let attempts = total.committed + total.refused + total.conflicts;
    eprintln!(
        "{WORKERS} workers x {REQUESTS} requests on {HOSTS} hosts: placed {placed} instances, \
         {failed} requests failed, {full_hosts} hosts full; claims committed {}, refused (stale \
         view, moved to next host) {}, CAS conflicts retried {}, gave up {}, released {}; \
         retry rate {:.1}% of claim attempts",
        total.committed,
        total.refused,
        total.conflicts,
        total.gave_up,
        total.released,
        100.0 * (total.refused + total.conflicts) as f64 / attempts.max(1) as f64
    );
}
