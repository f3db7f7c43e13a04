// SPDX-License-Identifier: Apache-2.0
//! [`ScheduledPlacement`]: the filter scheduler chooses, the store's claims never over-commit.

use ferrostack::compute::error::ComputeError;
use ferrostack::compute::placement::{ClaimRequest, Placement, PlacementConfig, Resources};
use ferrostack::core::id::ServerId;
use ferrostack::core::store::MemoryStore;
use ferrostack::placement::ScheduledPlacement;
use std::sync::Arc;

fn placement() -> Arc<ScheduledPlacement> {
    let config = PlacementConfig { cpu_ratio: 1.0, ram_ratio: 1.0, disk_ratio: 1.0 };
    Arc::new(ScheduledPlacement::new(Arc::new(MemoryStore::new()), config))
}

fn request(vcpus: u64, ram_mb: u64) -> ClaimRequest {
    ClaimRequest {
        server: ServerId::new(),
        resources: Resources { vcpus, ram_mb, disk_gb: 1 },
        availability_zone: None,
        group: None,
        ignore_hosts: vec![],
    }
}

async fn report(p: &ScheduledPlacement, host: &str, az: &str, ram_mb: u64) {
    p.report(host, az, Resources { vcpus: 4, ram_mb, disk_gb: 100 }, true).await.unwrap();
}

#[tokio::test]
async fn the_ram_weigher_spreads_and_zones_and_ignored_hosts_hold() {
    let p = placement();
    report(&p, "small", "nova", 2048).await;
    report(&p, "big", "nova", 8192).await;
    report(&p, "elsewhere", "az2", 16384).await;
    // Nova's default RAM weigher spreads: the most free RAM wins, whatever the name order.
    let first = p.claim(&request(1, 1024)).await.unwrap();
    assert_eq!(first.host, "elsewhere");
    let mut in_nova = request(1, 1024);
    in_nova.availability_zone = Some("nova".into());
    assert_eq!(p.claim(&in_nova).await.unwrap().host, "big");
    let mut not_big = request(1, 1024);
    not_big.availability_zone = Some("nova".into());
    not_big.ignore_hosts = vec!["big".into()];
    assert_eq!(p.claim(&not_big).await.unwrap().host, "small");
    // The same server claims once.
    let again = p.claim(&in_nova).await.unwrap();
    assert_eq!(again.host, "big");
    let big = p.hosts().await.unwrap().into_iter().find(|h| h.name == "big").unwrap();
    assert_eq!(big.used.ram_mb, 1024, "{big:?}");
    // Too big for every host: Nova's NoValidHost.
    let err = p.claim(&request(1, 1 << 20)).await.unwrap_err();
    assert!(matches!(err, ComputeError::NoValidHost(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_never_overcommit() {
    let p = placement();
    for host in ["h0", "h1", "h2"] {
        report(&p, host, "nova", 4096).await;
    }
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let p = p.clone();
            tokio::spawn(async move { p.claim(&request(1, 512)).await })
        })
        .collect();
    let mut granted = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => granted += 1,
            Err(ComputeError::NoValidHost(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(granted, 12, "3 hosts x 4 vcpus");
    for h in p.hosts().await.unwrap() {
        assert_eq!(h.used.vcpus, 4, "{h:?}");
    }
}

#[tokio::test]
async fn the_configured_scheduler_decides_stacking_instead_of_spreading() {
    use ferrostack::scheduler::scheduler::{DEFAULT_FILTERS, filters_by_name};
    use ferrostack::scheduler::weighers::RamWeigher;
    use ferrostack::scheduler::{FilterScheduler, SchedulerConfig};
    // A negative RAM multiplier stacks: the host with the least free RAM that fits wins,
    // the opposite of the store's own spreading order, so this passes only if the
    // scheduler's weighers chose.
    let scheduler = FilterScheduler::new(
        filters_by_name(DEFAULT_FILTERS).unwrap(),
        vec![Box::new(RamWeigher { multiplier: -1.0 })],
        SchedulerConfig::default(),
    );
    let config = PlacementConfig { cpu_ratio: 1.0, ram_ratio: 1.0, disk_ratio: 1.0 };
    let p = ScheduledPlacement::with_scheduler(Arc::new(MemoryStore::new()), config, scheduler);
    report(&p, "big", "nova", 8192).await;
    report(&p, "small", "nova", 2048).await;
    assert_eq!(p.claim(&request(1, 1024)).await.unwrap().host, "small");
    assert_eq!(p.claim(&request(1, 1024)).await.unwrap().host, "small");
    // Full: the next one stacks onto the other host.
    assert_eq!(p.claim(&request(1, 1024)).await.unwrap().host, "big");
}
