// SPDX-License-Identifier: Apache-2.0
//! Several scheduler workers, each with its own (soon stale) view of the same hosts, claim
//! through one shared claim store: compute's `StorePlacement`, the one claim store of the
//! project (a compare-and-swap on the host's record per claim). Afterwards every host's usage
//! is within its capacity and equals the sum of the allocations recorded on it.

use ferrostack_compute::error::ComputeError;
use ferrostack_compute::placement::{ClaimRequest, Placement, PlacementConfig, StorePlacement};
use ferrostack_core::id::ServerId;
use ferrostack_core::store::{MemoryStore, Store};
use ferrostack_scheduler::io::scenario_filters;
use ferrostack_scheduler::testing::{synthetic_cluster, synthetic_requests};
use ferrostack_scheduler::weighers::default_weighers;
use ferrostack_scheduler::{
    Claimer, FilterScheduler, HostTable, Resources, Scheduler, SchedulerConfig, SchedulerError,
};
use std::collections::HashMap;
use std::sync::Arc;

const HOSTS: usize = 40;
const WORKERS: usize = 6;
const REQUESTS: usize = 250;

/// A claim on exactly one host: every other host is ignored.
fn on_host(names: &[String], host: usize, server: ServerId, resources: Resources) -> ClaimRequest {
    ClaimRequest {
        server,
        resources,
        availability_zone: None,
        group: None,
        ignore_hosts: names
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != host)
            .map(|(_, n)| n.clone())
            .collect(),
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    committed: u64,
    refused: u64,
    released: u64,
}

/// The scheduler's [`Claimer`] seam over the shared claim store.
#[derive(Debug)]
struct PlacementClaims {
    placement: Arc<StorePlacement>,
    rt: Arc<tokio::runtime::Runtime>,
    names: Vec<String>,
    servers: HashMap<String, ServerId>,
    stats: Stats,
}

impl PlacementClaims {
    /// Brings the worker's view of `host` up to date with the store (after a refusal or a
    /// commit, as the scheduler's own claimers do).
    fn refresh(&self, table: &mut HostTable, host: usize) -> Result<(), SchedulerError> {
        let hosts = self.rt.block_on(self.placement.hosts()).map_err(fail)?;
        if let Some(h) = hosts.iter().find(|h| h.name == self.names[host]) {
            // One `Resources` for both: the store's usage goes into the table as it is.
            table.set_usage_deferred(host, h.used);
        }
        Ok(())
    }
}

fn fail(e: ComputeError) -> SchedulerError {
    SchedulerError::InvalidInput(format!("claim store: {e}"))
}

impl Claimer for PlacementClaims {
    fn claim(
        &mut self,
        table: &mut HostTable,
        host: usize,
        instance_uuid: &str,
        res: &Resources,
    ) -> Result<bool, SchedulerError> {
        let server = ServerId::new();
        let req = on_host(&self.names, host, server, *res);
        let placed = match self.rt.block_on(self.placement.claim(&req)) {
            Ok(_) => {
                self.servers.insert(instance_uuid.to_owned(), server);
                self.stats.committed += 1;
                true
            }
            // The host is full as the store sees it (this worker's view was stale).
            Err(ComputeError::NoValidHost(_)) => {
                self.stats.refused += 1;
                false
            }
            Err(e) => return Err(fail(e)),
        };
        self.refresh(table, host)?;
        Ok(placed)
    }

    fn release(
        &mut self,
        table: &mut HostTable,
        host: usize,
        instance_uuid: &str,
        _res: &Resources,
    ) -> Result<(), SchedulerError> {
        if let Some(server) = self.servers.remove(instance_uuid)
            && self.rt.block_on(self.placement.release(server)).map_err(fail)?
        {
            self.stats.released += 1;
        }
        self.refresh(table, host)
    }
}

#[test]
fn concurrent_workers_never_over_commit() {
    let rt = Arc::new(
        tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime"),
    );
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let ratio1 = PlacementConfig { cpu_ratio: 1.0, ram_ratio: 1.0, disk_ratio: 1.0 };
    let placement = Arc::new(StorePlacement::new(store, ratio1));
    let initial = synthetic_cluster(HOSTS, 11);
    let t = &initial.table;
    let names: Vec<String> = (0..t.len()).map(|i| t.info[i].report.host.clone()).collect();
    // Each host's capacity (allocation ratios applied) and its initial usage, as one seed
    // allocation.
    let mut seeds = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let total = Resources {
            vcpus: t.cap[i][0].floor() as u64,
            ram_mb: t.cap[i][1].floor() as u64,
            disk_gb: t.cap[i][2].floor() as u64,
        };
        rt.block_on(placement.report(name, "nova", total, true)).expect("report");
        let seed = ServerId::new();
        rt.block_on(placement.claim(&on_host(&names, i, seed, t.usage(i))))
            .expect("seed the initial usage");
        seeds.push(seed);
    }

    let results: Vec<(Stats, Vec<ServerId>, usize, usize)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..WORKERS)
            .map(|w| {
                let (placement, names) = (placement.clone(), names.clone());
                s.spawn(move || {
                    let rt = Arc::new(
                        tokio::runtime::Builder::new_current_thread()
                            .enable_time()
                            .build()
                            .expect("runtime"),
                    );
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
                    let mut claims = PlacementClaims {
                        placement,
                        rt,
                        names,
                        servers: HashMap::new(),
                        stats: Stats::default(),
                    };
                    let (mut placed, mut failed) = (0, 0);
                    for req in &reqs {
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
                    let servers = claims.servers.values().copied().collect();
                    (claims.stats, servers, placed, failed)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("worker panicked")).collect()
    });

    // Every host within capacity, and its usage == the sum of its allocations (seed included).
    let mut by_host: HashMap<String, (Resources, u64)> = HashMap::new();
    let placed_servers: Vec<ServerId> = results.iter().flat_map(|r| r.1.iter().copied()).collect();
    for server in seeds.iter().chain(&placed_servers) {
        let a = rt.block_on(placement.allocation(*server)).expect("get").expect("an allocation");
        let e = by_host.entry(a.host).or_default();
        e.0 = e.0 + a.resources;
        e.1 += 1;
    }
    let mut full_hosts = 0;
    for h in rt.block_on(placement.hosts()).expect("hosts") {
        let (u, total) = (h.used, h.total);
        assert!(u.vcpus <= total.vcpus, "{}: vcpu {} > {}", h.name, u.vcpus, total.vcpus);
        assert!(u.ram_mb <= total.ram_mb, "{}: ram {} > {}", h.name, u.ram_mb, total.ram_mb);
        assert!(u.disk_gb <= total.disk_gb, "{}: disk {} > {}", h.name, u.disk_gb, total.disk_gb);
        let (sum, count) = by_host.get(&h.name).copied().unwrap_or_default();
        assert_eq!(
            (u, h.instances),
            (sum, count),
            "{}: usage is the sum of its allocations",
            h.name
        );
        if u.ram_mb + 2048 > total.ram_mb || u.disk_gb + 20 > total.disk_gb {
            full_hosts += 1;
        }
    }
    let mut total = Stats::default();
    let (mut placed, mut failed) = (0, 0);
    for (s, _, p, f) in &results {
        total.committed += s.committed;
        total.refused += s.refused;
        total.released += s.released;
        placed += p;
        failed += f;
    }
    // Committed claims minus released ones are exactly the allocations left.
    assert_eq!(total.committed - total.released, placed_servers.len() as u64);
    assert_eq!(placed, placed_servers.len());
    assert!(placed > 0);
    eprintln!(
        "{WORKERS} workers x {REQUESTS} requests on {HOSTS} hosts: placed {placed} instances, \
         {failed} requests failed, {full_hosts} hosts full; claims committed {}, refused (stale \
         view, moved to next host) {}, released {}; store conflicts retried (all tests in this \
         process) {}",
        total.committed,
        total.refused,
        total.released,
        ferrostack_core::store::retry::conflicts_total(),
    );
}
