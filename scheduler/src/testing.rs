// SPDX-License-Identifier: Apache-2.0
//! Synthetic clusters and request streams for benches and tests, shaped like the equivalence
//! harness's `synth.py` (host shapes, pre-load, aggregates, groups, flavors, image properties,
//! multi-create and hints), generated in Rust from a seed.

use crate::io::{Cluster, Request};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SHAPES: &[(u32, u64, u64, u32)] = &[
    (32, 131072, 1000, 20),
    (48, 196608, 1500, 20),
    (64, 262144, 2000, 30),
    (96, 393216, 3000, 20),
    (128, 524288, 4000, 10),
];

fn weighted<'a, T>(rng: &mut StdRng, items: &'a [T], w: impl Fn(&T) -> u32) -> &'a T {
    let total: u32 = items.iter().map(&w).sum();
    let mut x = rng.random_range(0..total);
    for it in items {
        let wi = w(it);
        if x < wi {
            return it;
        }
        x -= wi;
    }
    &items[items.len() - 1]
}

/// A `synth.py`-like cluster of `n` hosts.
pub fn synthetic_cluster(n: usize, seed: u64) -> Cluster {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut hosts = Vec::with_capacity(n);
    let mut agg_hosts: [Vec<String>; 4] = Default::default();
    let mut inst = 0u64;
    for i in 0..n {
        let name = format!("node{i:05}");
        let &(vcpus, mem, disk, _) = weighted(&mut rng, SHAPES, |s| s.3);
        let ram_ratio = if rng.random::<f64>() < 0.2 { 1.5 } else { 1.0 };
        let load = rng.random::<f64>() * 0.7;
        let n_inst = (load * (mem / 8192) as f64) as u64;
        let instances: Vec<String> = (0..n_inst)
            .map(|_| {
                inst += 1;
                format!("inst-{inst}")
            })
            .collect();
        let arch = if rng.random::<f64>() < 0.05 { "aarch64" } else { "x86_64" };
        let vendor = if arch == "aarch64" {
            "ARM"
        } else if rng.random::<f64>() < 0.4 {
            "AMD"
        } else {
            "Intel"
        };
        let io = [0, 0, 0, 1, 1, 2, 3, 5, 8][rng.random_range(0..9)];
        let hv = [6002000u64, 7002000, 8002000, 9000000][rng.random_range(0..4)];
        hosts.push(serde_json::json!({
            "host": name, "uuid": format!("cn-{name}"), "cell_uuid": "cell1",
            "host_ip": format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256),
            "vcpus": vcpus, "vcpus_used": ((vcpus as u64) * 4).min(n_inst * 4),
            "memory_mb": mem, "reserved_host_memory_mb": 512,
            "used_ram_mb": (((mem - 512) as f64 * ram_ratio) as u64).min(n_inst * 8192),
            "local_gb": disk, "used_disk_gb": disk.min(n_inst * 60),
            "cpu_allocation_ratio": 4.0, "ram_allocation_ratio": ram_ratio,
            "disk_allocation_ratio": 1.0, "io_workload": io,
            "failed_builds": u32::from(rng.random::<f64>() < 0.01),
            "hypervisor_type": "QEMU", "hypervisor_version": hv,
            "supported_instances": [[arch, "kvm", "hvm"]],
            "cpu_info": {"arch": arch, "vendor": vendor, "model": "m1",
                         "topology": {"sockets": 2, "cores": vcpus / 4, "threads": 2}},
            "disabled": rng.random::<f64>() < 0.01, "up": rng.random::<f64>() >= 0.01,
            "instances": instances,
        }));
        for (k, p) in [0.30, 0.10, 0.05, 0.10].iter().enumerate() {
            if rng.random::<f64>() < *p {
                agg_hosts[k].push(name.clone());
            }
        }
    }
    let groups: Vec<serde_json::Value> = (0..20)
        .map(|g| {
            let pol = ["anti-affinity", "affinity", "soft-anti-affinity", "soft-affinity"][g % 4];
            let rules = if pol == "anti-affinity" && g % 8 == 0 {
                serde_json::json!({"max_server_per_host": "2"})
            } else {
                serde_json::json!({})
            };
            serde_json::json!({"uuid": format!("group-{g}"), "policy": pol, "rules": rules})
        })
        .collect();
    let doc = serde_json::json!({
        "hosts": hosts,
        "aggregates": [
            {"id": 1, "name": "agg-ssd", "metadata": {"ssd": "true"}, "hosts": agg_hosts[0]},
            {"id": 2, "name": "agg-gold", "metadata": {"tier": "gold,silver"}, "hosts": agg_hosts[1]},
            {"id": 3, "name": "agg-tenant", "metadata": {"filter_tenant_id": "tenant-1,tenant-2"}, "hosts": agg_hosts[2]},
            {"id": 4, "name": "agg-cpuw", "metadata": {"cpu_weight_multiplier": "2.0"}, "hosts": agg_hosts[3]},
        ],
        "groups": groups,
    });
    match Cluster::from_json(&doc.to_string()) {
        Ok(c) => c,
        Err(e) => unreachable!("the synthetic cluster is well formed: {e}"),
    }
}

/// A `synth.py`-like request stream of `m` requests against `cluster`.
pub fn synthetic_requests(cluster: &Cluster, m: usize, seed: u64) -> Vec<Request> {
    let mut rng = StdRng::seed_from_u64(seed + 1);
    type Fl = (&'static str, u32, u64, u64, &'static [(&'static str, &'static str)], u32);
    const FLAVORS: &[Fl] = &[
        ("m1.small", 1, 2048, 20, &[], 30),
        ("m1.medium", 2, 4096, 40, &[], 25),
        ("m1.large", 4, 8192, 80, &[], 15),
        ("m1.xlarge", 8, 16384, 160, &[], 8),
        ("m1.2xlarge", 16, 65536, 320, &[], 2),
        ("ssd.large", 4, 8192, 80, &[("aggregate_instance_extra_specs:ssd", "true")], 8),
        (
            "hv.new",
            2,
            4096,
            40,
            &[
                ("capabilities:hypervisor_type", "s== QEMU"),
                ("capabilities:hypervisor_version", ">= 7002000"),
            ],
            6,
        ),
        ("intel.medium", 2, 4096, 40, &[("capabilities:cpu_info:vendor", "Intel")], 4),
        ("gold.large", 4, 16384, 80, &[("aggregate_instance_extra_specs:tier", "<in> gold")], 2),
    ];
    let some_instances: Vec<String> = (1..=200).map(|i| format!("inst-{}", i * 7)).collect();
    let mut groups: Vec<&String> = cluster.groups.keys().collect();
    groups.sort();
    (0..m)
        .map(|r| {
            let f = weighted(&mut rng, FLAVORS, |f| f.5);
            let x: f64 = rng.random();
            let image_props = if x < 0.05 {
                serde_json::json!({"hw_architecture": "aarch64"})
            } else if x < 0.20 {
                serde_json::json!({"hw_architecture": "x86_64", "img_hv_type": "kvm"})
            } else if x < 0.23 {
                serde_json::json!({"hw_architecture": "x86_64", "img_hv_requested_version": ">= 7.0"})
            } else {
                serde_json::json!({})
            };
            let num = if rng.random::<f64>() < 0.9 { 1 } else { rng.random_range(2..=5) };
            let uuids: Vec<String> = (0..num).map(|k| format!("req-{r}-{k}")).collect();
            let y: f64 = rng.random();
            let (group, hints) = if y < 0.15 && !groups.is_empty() {
                (Some(groups[rng.random_range(0..groups.len())].clone()), serde_json::json!({}))
            } else if y < 0.20 {
                (None, serde_json::json!({"different_host": [some_instances[rng.random_range(0..200)]]}))
            } else if y < 0.21 {
                (None, serde_json::json!({"same_host": [some_instances[rng.random_range(0..200)]]}))
            } else {
                (None, serde_json::json!({}))
            };
            let extra: serde_json::Map<String, serde_json::Value> =
                f.4.iter().map(|(k, v)| (k.to_string(), serde_json::Value::from(*v))).collect();
            let doc = serde_json::json!({
                "id": r,
                "flavor": {"name": f.0, "vcpus": f.1, "memory_mb": f.2, "root_gb": f.3,
                           "ephemeral_gb": 0, "swap": 0, "extra_specs": extra},
                "image_props": image_props,
                "project_id": format!("tenant-{}", rng.random_range(0..50)),
                "num_instances": num, "instance_uuids": uuids, "group": group, "hints": hints,
            });
            match Request::from_json(&doc.to_string()) {
                Ok(r) => r,
                Err(e) => unreachable!("the synthetic request is well formed: {e}"),
            }
        })
        .collect()
}
