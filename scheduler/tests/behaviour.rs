// SPDX-License-Identifier: Apache-2.0
//! Behaviour of individual filters, weighers and schedulers through the public API.

use ferrostack_scheduler::filters::{
    AggregateImagePropertiesIsolation, AggregateMultiTenancyIsolation, AggregateTypeAffinityFilter,
    AvailabilityZoneFilter, ComputeCapabilitiesFilter, ComputeFilter, CoreFilter,
    DifferentHostFilter, DiskFilter, JsonFilter, NumInstancesFilter, RamFilter, SameHostFilter,
    ServerGroupAffinityFilter, ServerGroupAntiAffinityFilter,
};
use ferrostack_scheduler::host::Aggregate;
use ferrostack_scheduler::types::{Flavor, GroupPolicy, ServerGroup};
use ferrostack_scheduler::weighers::{RamWeigher, default_weighers};
use ferrostack_scheduler::{
    ChanceScheduler, FilterScheduler, HostFilter, HostReport, HostTable, LocalClaims, RequestSpec,
    Resources, Scheduler, SchedulerConfig, SchedulerError, SimpleScheduler, release_selection,
};
use rand::SeedableRng;
use std::collections::{BTreeMap, HashSet};

fn host(name: &str, vcpus: u32, ram: u64, disk: u64) -> HostReport {
    HostReport {
        host: name.into(),
        nodename: name.into(),
        uuid: format!("uuid-{name}"),
        cell_uuid: "cell1".into(),
        vcpus,
        memory_mb: ram,
        local_gb: disk,
        supported_instances: vec![vec!["x86_64".into(), "kvm".into(), "hvm".into()]],
        ..HostReport::default()
    }
}

fn table(hosts: &[HostReport]) -> HostTable {
    let mut t = HostTable::new();
    for h in hosts {
        t.upsert_host(h.clone()).expect("host");
    }
    t
}

fn spec(vcpus: u32, ram: u64, disk: u64, n: usize) -> RequestSpec {
    RequestSpec {
        flavor: Flavor {
            name: "m1.test".into(),
            vcpus,
            memory_mb: ram,
            root_gb: disk,
            ..Flavor::default()
        },
        project_id: "p1".into(),
        instance_uuids: (0..n).map(|i| format!("vm-{i}")).collect(),
        ..RequestSpec::default()
    }
}

fn only(filters: Vec<Box<dyn HostFilter>>) -> FilterScheduler {
    FilterScheduler::new(filters, default_weighers(), SchedulerConfig::default())
}

fn place(
    s: &mut dyn Scheduler,
    t: &mut HostTable,
    r: &RequestSpec,
) -> Result<Vec<String>, SchedulerError> {
    s.select_destinations(t, r, &mut LocalClaims::default())
        .map(|sels| sels.into_iter().map(|s| s.host).collect())
}

#[test]
fn spread_by_ram_and_consumption_between_instances() {
    let mut t = table(&[host("a", 16, 16384, 500), host("b", 16, 12288, 500)]);
    // a (16 GiB) wins, drops to 8 GiB after consumption, so b (12 GiB) takes the second.
    let got = place(&mut FilterScheduler::nova_default(), &mut t, &spec(1, 8192, 10, 2)).unwrap();
    assert_eq!(got, vec!["a", "b"]);
    assert_eq!(t.usage(0), Resources { vcpus: 1, ram_mb: 8192, disk_gb: 10 });
    assert_eq!(t.num_instances[0], 1);
}

#[test]
fn placement_capacity_honours_ratios_reserved_and_max_unit() {
    let mut h = host("a", 4, 4608, 100);
    h.reserved_host_memory_mb = 512;
    h.ram_allocation_ratio = 1.5; // capacity (4608 - 512) * 1.5 = 6144
    let mut t = table(&[h]);
    let mut s = FilterScheduler::nova_default();
    assert!(place(&mut s, &mut t, &spec(1, 6144, 1, 1)).is_err(), "max_unit is 4608 MB");
    assert!(place(&mut s, &mut t, &spec(1, 4096, 1, 1)).is_ok());
    assert!(place(&mut s, &mut t, &spec(1, 2048, 1, 1)).is_ok(), "4096 + 2048 <= 6144");
    let err = place(&mut s, &mut t, &spec(1, 1, 1, 1)).unwrap_err();
    assert!(matches!(err, SchedulerError::NoValidHost { .. }));
    // vCPU: 4 × 4.0 = 16
    let mut t = table(&[host("c", 4, 65536, 1000)]);
    for _ in 0..4 {
        place(&mut s, &mut t, &spec(4, 1, 1, 1)).unwrap();
    }
    assert!(place(&mut s, &mut t, &spec(1, 1, 1, 1)).is_err());
}

#[test]
fn failed_multi_create_rolls_back_every_claim() {
    let mut t = table(&[host("a", 16, 16384, 500), host("b", 16, 16384, 500)]);
    let mut r = spec(1, 1024, 10, 3);
    r.group = Some(ServerGroup {
        uuid: "g".into(),
        policy: GroupPolicy::AntiAffinity,
        max_server_per_host: 1,
        members: r.instance_uuids.iter().cloned().collect(),
        hosts: vec![],
    });
    let mut s = FilterScheduler::nova_default();
    assert!(place(&mut s, &mut t, &r).is_err(), "three members, two hosts, one per host");
    assert_eq!(t.usage(0), Resources::default());
    assert_eq!(t.usage(1), Resources::default());
    assert_eq!(t.free_ram_mb[0], 16384);
    r.instance_uuids.truncate(2);
    assert_eq!(place(&mut s, &mut t, &r).unwrap().len(), 2);
}

#[test]
fn affinity_keeps_a_group_together_and_anti_affinity_respects_the_rule() {
    let mut t = table(&[host("a", 16, 16384, 500), host("b", 16, 32768, 500)]);
    let mut r = spec(1, 1024, 10, 3);
    r.group = Some(ServerGroup {
        uuid: "g".into(),
        policy: GroupPolicy::Affinity,
        members: r.instance_uuids.iter().cloned().collect(),
        max_server_per_host: 1,
        hosts: vec![],
    });
    let mut s = only(vec![Box::new(ServerGroupAffinityFilter)]);
    assert_eq!(place(&mut s, &mut t, &r).unwrap(), vec!["b", "b", "b"]);

    let mut t = table(&[host("a", 16, 16384, 500), host("b", 16, 32768, 500)]);
    let mut r = spec(1, 1024, 10, 4);
    r.group = Some(ServerGroup {
        uuid: "g2".into(),
        policy: GroupPolicy::AntiAffinity,
        members: r.instance_uuids.iter().cloned().collect(),
        max_server_per_host: 2,
        hosts: vec![],
    });
    let mut s = only(vec![Box::new(ServerGroupAntiAffinityFilter)]);
    let mut got = place(&mut s, &mut t, &r).unwrap();
    got.sort();
    assert_eq!(got, vec!["a", "a", "b", "b"]);
}

#[test]
fn same_and_different_host_hints() {
    let mut t =
        table(&[host("a", 16, 16384, 500), host("b", 16, 32768, 500), host("c", 16, 8192, 500)]);
    t.add_instance("existing", 2);
    let mut r = spec(1, 1024, 10, 1);
    r.hints.same_host = vec!["existing".into()];
    let mut s = only(vec![Box::new(SameHostFilter), Box::new(DifferentHostFilter)]);
    assert_eq!(place(&mut s, &mut t, &r).unwrap(), vec!["c"]);
    let mut r = spec(1, 1024, 10, 1);
    r.hints.different_host = vec!["existing".into(), "vm-0".into()];
    // vm-0 now lives on c too.
    assert_eq!(place(&mut s, &mut t, &r).unwrap(), vec!["b"]);
}

#[test]
fn legacy_resource_filters_keep_their_old_semantics() {
    // RamFilter: total 8192, ratio 1.5, 8000 used: 12288 − 8000 = 4288 usable.
    let mut h = host("a", 4, 8192, 100);
    h.ram_allocation_ratio = 1.5;
    let mut t = table(&[h]);
    t.set_usage(0, Resources { vcpus: 15, ram_mb: 8000, disk_gb: 90 });
    let mut s = only(vec![Box::new(RamFilter::default())]);
    assert!(place(&mut s, &mut t.clone(), &spec(1, 4096, 1, 1)).is_ok());
    assert!(place(&mut s, &mut t.clone(), &spec(1, 4289, 1, 1)).is_err());
    // CoreFilter: 4 × 4.0 − 15 = 1 free; no more than 4 vCPUs for one instance.
    let mut s = only(vec![Box::new(CoreFilter::default())]);
    assert!(place(&mut s, &mut t.clone(), &spec(1, 1, 1, 1)).is_ok());
    assert!(place(&mut s, &mut t.clone(), &spec(2, 1, 1, 1)).is_err());
    // DiskFilter counts swap: 10 GiB free = 10240 MB; 9 GiB root + 1025 MB swap does not fit.
    let mut s = only(vec![Box::new(DiskFilter::default())]);
    assert!(place(&mut s, &mut t.clone(), &spec(1, 1, 9, 1)).is_ok());
    let mut r = spec(1, 1, 9, 1);
    r.flavor.swap_mb = 1025;
    assert!(!DiskFilter::default().host_passes(t.host(0), &ctx(&r)), "1024×9 + 1025 > 10240");
}

fn ctx(spec: &RequestSpec) -> ferrostack_scheduler::FilterContext<'_> {
    ferrostack_scheduler::FilterContext {
        spec,
        index: 0,
        instance_uuid: spec.instance_uuids.first().map(String::as_str).unwrap_or(""),
        members_on_host: &[],
        placed: &[],
        group_hosts: &[],
        group_hosts_nonempty: false,
    }
}

#[test]
fn aggregate_filters() {
    let mut t =
        table(&[host("a", 16, 16384, 500), host("b", 16, 16384, 500), host("c", 16, 16384, 500)]);
    let md = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    };
    t.set_aggregate(
        Aggregate { id: 1, name: "az".into(), metadata: md(&[("availability_zone", "az1")]) },
        &["a".into()],
    )
    .unwrap();
    t.set_aggregate(
        Aggregate { id: 2, name: "ten".into(), metadata: md(&[("filter_tenant_id", "p1, p2")]) },
        &["b".into()],
    )
    .unwrap();
    t.set_aggregate(
        Aggregate {
            id: 3,
            name: "type".into(),
            metadata: md(&[("instance_type", "m1.big,m1.huge"), ("os", "linux")]),
        },
        &["c".into()],
    )
    .unwrap();
    let names = |t: &HostTable, f: &dyn HostFilter, r: &RequestSpec| -> Vec<String> {
        (0..t.len())
            .filter(|&i| f.host_passes(t.host(i), &ctx(r)))
            .map(|i| t.info[i].report.host.clone())
            .collect()
    };
    let mut r = spec(1, 1, 1, 1);
    r.availability_zone = Some("az1".into());
    assert_eq!(names(&t, &AvailabilityZoneFilter::default(), &r), vec!["a"]);
    r.availability_zone = Some("nova".into());
    assert_eq!(names(&t, &AvailabilityZoneFilter::default(), &r), vec!["b", "c"]);
    r.project_id = "p3".into();
    assert_eq!(names(&t, &AggregateMultiTenancyIsolation, &r), vec!["a", "c"]);
    r.project_id = "p2".into();
    assert_eq!(names(&t, &AggregateMultiTenancyIsolation, &r), vec!["a", "b", "c"]);
    assert_eq!(names(&t, &AggregateTypeAffinityFilter, &r), vec!["a", "b"]);
    r.flavor.name = "m1.huge".into();
    assert_eq!(names(&t, &AggregateTypeAffinityFilter, &r), vec!["a", "b", "c"]);
    r.image_props.insert("os".into(), "windows".into());
    assert_eq!(names(&t, &AggregateImagePropertiesIsolation::default(), &r), vec!["a", "b"]);
    // Through the scheduler, the per-aggregate-set fast path gives the same answer.
    let mut s = only(vec![Box::new(AggregateImagePropertiesIsolation::default())]);
    let mut r2 = r.clone();
    r2.instance_uuids = vec!["x".into(), "y".into()];
    let got: HashSet<String> = place(&mut s, &mut t, &r2).unwrap().into_iter().collect();
    assert!(!got.contains("c"));
}

#[test]
fn num_instances_from_aggregates_takes_the_minimum() {
    let mut t = table(&[host("a", 16, 16384, 500)]);
    for i in 0..3 {
        t.add_instance(&format!("i{i}"), 0);
    }
    t.resync(0);
    let md: BTreeMap<String, String> =
        [("max_instances_per_host".to_string(), "3".to_string())].into();
    t.set_aggregate(Aggregate { id: 1, name: "x".into(), metadata: md }, &["a".into()]).unwrap();
    let f = NumInstancesFilter { max_instances_per_host: 50, from_aggregates: true };
    let r = spec(1, 1, 1, 1);
    assert!(!f.host_passes(t.host(0), &ctx(&r)));
    assert!(NumInstancesFilter::default().host_passes(t.host(0), &ctx(&r)));
}

#[test]
fn capabilities_scoped_unscoped_and_stats() {
    let mut h = host("a", 16, 16384, 500);
    h.hypervisor_version = 7002000;
    h.cpu_info = serde_json::json!({"vendor": "Intel", "topology": {"sockets": 2}});
    h.stats.insert("gpu".into(), "yes".into());
    let t = table(&[h]);
    let check = |k: &str, v: &str| {
        let mut r = spec(1, 1, 1, 1);
        r.flavor.extra_specs.insert(k.into(), v.into());
        ComputeCapabilitiesFilter.host_passes(t.host(0), &ctx(&r))
    };
    assert!(check("capabilities:cpu_info:vendor", "Intel"));
    assert!(!check("capabilities:cpu_info:vendor", "AMD"));
    assert!(check("capabilities:cpu_info:topology:sockets", ">= 2"));
    assert!(check("capabilities:hypervisor_version", ">= 7000000"));
    assert!(check("capabilities:gpu", "yes"), "stats fallback");
    assert!(!check("capabilities:nothing", "x"), "missing capability fails");
    assert!(check("vcpus_total", "16"), "unscoped attribute");
    assert!(check("unknown_key", "whatever"), "unscoped unknown keys are ignored");
    assert!(check("hw:cpu_policy", "dedicated"), "other namespaces are ignored");
}

#[test]
fn json_filter_queries_host_state() {
    let t = table(&[host("a", 16, 16384, 500), host("b", 8, 4096, 500)]);
    let mut r = spec(1, 1, 1, 1);
    r.hints.query =
        Some(r#"["and", [">=", "$free_ram_mb", 8192], ["<", "$vcpus_total", 32]]"#.into());
    assert!(JsonFilter.host_passes(t.host(0), &ctx(&r)));
    assert!(!JsonFilter.host_passes(t.host(1), &ctx(&r)));
    r.hints.query = Some(r#"["nosuchop", 1]"#.into());
    assert!(!JsonFilter.host_passes(t.host(0), &ctx(&r)), "bad query fails, never panics");
    r.hints.query = Some("not json".into());
    assert!(!JsonFilter.host_passes(t.host(0), &ctx(&r)));
}

#[test]
fn weight_multiplier_from_aggregate_metadata() {
    let mut t = table(&[host("a", 16, 16384, 500), host("b", 16, 8192, 500)]);
    let md: BTreeMap<String, String> =
        [("ram_weight_multiplier".to_string(), "-1.0".to_string())].into();
    t.set_aggregate(Aggregate { id: 1, name: "stack".into(), metadata: md }, &["a".into()])
        .unwrap();
    let mut s = FilterScheduler::new(
        vec![Box::new(ComputeFilter)],
        vec![Box::new(RamWeigher::default())],
        SchedulerConfig::default(),
    );
    assert_eq!(
        place(&mut s, &mut t, &spec(1, 1024, 1, 1)).unwrap(),
        vec!["b"],
        "a is stacked against"
    );
}

#[test]
fn host_subset_size_picks_among_the_best_with_the_injected_rng() {
    let hosts: Vec<HostReport> =
        (0..6).map(|i| host(&format!("h{i}"), 16, 8192 * (i + 1), 500)).collect();
    let mut seen = HashSet::new();
    for seed in 0..40 {
        let mut t = table(&hosts);
        let cfg = SchedulerConfig { host_subset_size: 2, ..SchedulerConfig::default() };
        let mut s = FilterScheduler::new(
            vec![Box::new(ComputeFilter)],
            vec![Box::new(RamWeigher::default())],
            cfg,
        )
        .with_rng(Box::new(rand::rngs::StdRng::seed_from_u64(seed)));
        seen.insert(place(&mut s, &mut t, &spec(1, 1024, 1, 1)).unwrap().remove(0));
    }
    let expect: HashSet<String> = ["h5".to_string(), "h4".to_string()].into();
    assert_eq!(seen, expect);
}

#[test]
fn release_returns_the_capacity() {
    let mut t = table(&[host("a", 16, 16384, 500)]);
    let mut claims = LocalClaims::default();
    let mut s = FilterScheduler::nova_default();
    let sels = s.select_destinations(&mut t, &spec(2, 4096, 20, 1), &mut claims).unwrap();
    assert_eq!(t.usage(0).ram_mb, 4096);
    assert_eq!(t.instance_host("vm-0"), Some(0));
    release_selection(&mut t, &sels[0], &mut claims).unwrap();
    assert_eq!(t.usage(0), Resources::default());
    assert_eq!(t.instance_host("vm-0"), None);
    assert_eq!(t.free_ram_mb[0], 16384);
}

#[test]
fn chance_scheduler_skips_down_disabled_and_ignored_hosts() {
    let mut down = host("down", 16, 16384, 500);
    down.up = false;
    let mut off = host("off", 16, 16384, 500);
    off.disabled = true;
    let mut t = table(&[down, off, host("x", 16, 16384, 500), host("y", 16, 16384, 500)]);
    let mut s = ChanceScheduler::new(Box::new(rand::rngs::StdRng::seed_from_u64(1)));
    let mut r = spec(1, 1024, 1, 8);
    r.ignore_hosts = vec!["y".into()];
    let got = place(&mut s, &mut t, &r).unwrap();
    assert!(got.iter().all(|h| h == "x"), "{got:?}");
}

#[test]
fn simple_scheduler_picks_the_least_loaded_and_enforces_max_cores() {
    let mut t = table(&[host("a", 32, 65536, 500), host("b", 32, 65536, 500)]);
    t.set_usage(0, Resources { vcpus: 6, ram_mb: 0, disk_gb: 0 });
    t.set_usage(1, Resources { vcpus: 4, ram_mb: 0, disk_gb: 0 });
    let mut s = SimpleScheduler::default();
    assert_eq!(place(&mut s, &mut t, &spec(4, 1, 1, 1)).unwrap(), vec!["b"]);
    // b now has 8, a has 6: a is least loaded; 6 + 12 > 16 cores.
    let err = place(&mut s, &mut t, &spec(12, 1, 1, 1)).unwrap_err();
    assert!(matches!(err, SchedulerError::NoValidHost { .. }));
    assert_eq!(place(&mut s, &mut t, &spec(10, 1, 1, 1)).unwrap(), vec!["a"]);
}

/// Parallel filtering and weighing (threads > 1) makes exactly the serial decisions: same
/// chosen hosts, same alternates, same failures, over a stream with multi-create, groups and
/// hints, with chunks small enough that some have no survivors, and host lists that split
/// into fewer chunks than threads (9 hosts over 4 threads is 3 chunks of 3).
#[test]
fn parallel_filtering_makes_the_serial_decisions() {
    use ferrostack_scheduler::io::scenario_filters;
    use ferrostack_scheduler::testing::{synthetic_cluster, synthetic_requests};
    for (scenario, hosts, seed) in
        [("default", 150, 5), ("extended", 150, 5), ("default", 13, 3), ("extended", 30, 9)]
    {
        let mut outcomes = Vec::new();
        for threads in [1usize, 3, 4, 7] {
            let mut cluster = synthetic_cluster(hosts, seed);
            let reqs = synthetic_requests(&cluster, 200, seed);
            let config = SchedulerConfig { threads, parallel_threshold: 1, ..Default::default() };
            let mut sched = FilterScheduler::new(
                scenario_filters(scenario).expect("filters"),
                default_weighers(),
                config,
            );
            let mut claims = LocalClaims::default();
            let mut out = Vec::new();
            for r in &reqs {
                let spec = cluster.spec_for(r).expect("spec");
                match sched.select_destinations(&mut cluster.table, &spec, &mut claims) {
                    Ok(sels) => {
                        let hosts: Vec<String> = sels.iter().map(|s| s.host.clone()).collect();
                        cluster.record_group(r, &hosts);
                        out.push(Some(
                            sels.iter()
                                .map(|s| (s.host.clone(), s.alternates.clone()))
                                .collect::<Vec<_>>(),
                        ));
                    }
                    Err(SchedulerError::NoValidHost { .. }) => out.push(None),
                    Err(e) => panic!("{e}"),
                }
            }
            outcomes.push((threads, out));
        }
        let (_, serial) = &outcomes[0];
        assert!(serial.iter().filter(|o| o.is_some()).count() > 20, "{scenario}: few placed");
        assert!(
            serial.iter().flatten().flatten().any(|(_, alts)| alts.len() == 2),
            "{scenario}: no alternates"
        );
        for (threads, out) in &outcomes[1..] {
            for (i, (a, b)) in serial.iter().zip(out).enumerate() {
                assert_eq!(a, b, "{scenario}: request {i} differs with {threads} threads");
            }
        }
    }
}
