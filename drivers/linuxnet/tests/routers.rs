// SPDX-License-Identifier: Apache-2.0
//! Routers with real packets: a floating IP makes a VM reachable from an "external"
//! namespace, VMs reach the outside through SNAT, and two tenants with identical
//! 192.168.0.0/24 networks and routers stay isolated from each other.

mod common;

use common::{Lab, local_net, ping, probe, seen_source, vm_on};
use ferrostack_core::id::{PortId, RouterId, SubnetId};
use ferrostack_network::backend::{
    FloatingIpNat, GatewaySpec, InterfaceSpec, L3Backend, NetworkBackend, NetworkSpec, RouterSpec,
};

fn router(
    ext: &NetworkSpec,
    gw: &str,
    tenant: &NetworkSpec,
    inside: &str,
    cidr: &str,
) -> RouterSpec {
    RouterSpec {
        id: RouterId::new(),
        admin_state_up: true,
        gateway: Some(GatewaySpec {
            network_id: ext.id,
            address: gw.parse().unwrap(),
            cidr: "198.18.0.0/24".parse().unwrap(),
            next_hop: None,
            enable_snat: true,
        }),
        interfaces: vec![InterfaceSpec {
            port_id: PortId::new(),
            network_id: tenant.id,
            subnet_id: SubnetId::new(),
            address: inside.parse().unwrap(),
            cidr: cidr.parse().unwrap(),
        }],
        routes: Vec::new(),
        floating_ips: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floating_ip_and_snat_with_real_packets() {
    if !common::can_run("floating_ip_and_snat_with_real_packets", &["nc", "ping"]) {
        return;
    }
    let lab = Lab::new();
    let (d, hv) = lab.driver("ft");
    let ext = local_net();
    let tenant = local_net();
    d.ensure_network(&ext).await.unwrap();
    d.ensure_network(&tenant).await.unwrap();
    let (_, outside) =
        vm_on(&lab, &d, &hv, &ext, "ext", "fa:16:3e:00:01:00", "198.18.0.100/24", None).await;
    let (_, a) =
        vm_on(&lab, &d, &hv, &tenant, "a", "fa:16:3e:00:00:0a", "10.0.0.11/24", Some("10.0.0.1"))
            .await;
    let (_, b) =
        vm_on(&lab, &d, &hv, &tenant, "b", "fa:16:3e:00:00:0b", "10.0.0.12/24", Some("10.0.0.1"))
            .await;
    let mut spec = router(&ext, "198.18.0.1", &tenant, "10.0.0.1", "10.0.0.0/24");
    lab.adopt(format!("ft-router-{}", spec.id.0));
    spec.floating_ips.push(FloatingIpNat {
        floating_ip: "198.18.0.50".parse().unwrap(),
        fixed_ip: "10.0.0.11".parse().unwrap(),
    });
    d.sync_router(&spec).await.unwrap();
    d.sync_router(&spec).await.unwrap();

    assert!(ping(&outside, "198.18.0.50"), "external -> floating IP (icmp)");
    assert!(
        probe(&outside, &a, "198.18.0.50", 80, false),
        "external -> floating IP tcp/80 reaches VM a"
    );
    assert!(!ping(&outside, "10.0.0.12"), "the private address is not reachable from outside");
    assert_eq!(
        seen_source(&a, &outside, "198.18.0.100", 9001).as_deref(),
        Some("198.18.0.50"),
        "a leaves as its floating IP"
    );
    assert_eq!(
        seen_source(&b, &outside, "198.18.0.100", 9002).as_deref(),
        Some("198.18.0.1"),
        "b leaves SNATed to the gateway"
    );

    // Without the floating IP, a is no longer reachable but still gets out through SNAT.
    spec.floating_ips.clear();
    d.sync_router(&spec).await.unwrap();
    assert!(!ping(&outside, "198.18.0.50"), "floating IP gone");
    assert_eq!(seen_source(&a, &outside, "198.18.0.100", 9003).as_deref(), Some("198.18.0.1"));
    // Without SNAT, outside traffic keeps its private source (the external host has no route back).
    spec.gateway.as_mut().unwrap().enable_snat = false;
    d.sync_router(&spec).await.unwrap();
    assert_eq!(seen_source(&b, &outside, "198.18.0.100", 9004), None, "no SNAT: no reply path");

    d.remove_router(spec.id).await.unwrap();
    assert!(!std::path::Path::new(&format!("/run/netns/ft-router-{}", spec.id.0)).exists());
    assert!(!ping(&a, "198.18.0.100"), "router gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tenants_with_identical_networks_are_isolated() {
    if !common::can_run(
        "two_tenants_with_identical_networks_are_isolated",
        &["nc", "ping", "conntrack"],
    ) {
        return;
    }
    let lab = Lab::new();
    let (d, hv) = lab.driver("ft");
    let ext = local_net();
    d.ensure_network(&ext).await.unwrap();
    let (_, outside) =
        vm_on(&lab, &d, &hv, &ext, "ext", "fa:16:3e:00:01:00", "198.18.0.100/24", None).await;
    let mut tenants = Vec::new();
    for (t, gw) in [("t1", "198.18.0.1"), ("t2", "198.18.0.2")] {
        let net = local_net();
        d.ensure_network(&net).await.unwrap();
        // Same addresses in both tenants; t2 has a second VM at .12 that t1 does not have.
        let (_, vm) = vm_on(
            &lab,
            &d,
            &hv,
            &net,
            &format!("{t}-vm"),
            "fa:16:3e:00:00:10",
            "192.168.0.10/24",
            Some("192.168.0.1"),
        )
        .await;
        let spec = router(&ext, gw, &net, "192.168.0.1", "192.168.0.0/24");
        lab.adopt(format!("ft-router-{}", spec.id.0));
        d.sync_router(&spec).await.unwrap();
        tenants.push((net, vm, spec));
    }
    let (_, t2_other) = vm_on(
        &lab,
        &d,
        &hv,
        &tenants[1].0,
        "t2-vm2",
        "fa:16:3e:00:00:12",
        "192.168.0.12/24",
        Some("192.168.0.1"),
    )
    .await;
    let (t1, t2) = (&tenants[0].1, &tenants[1].1);
    assert!(
        ping(t1, "192.168.0.1") && ping(t2, "192.168.0.1"),
        "each tenant reaches its own router"
    );
    assert!(ping(&t2_other, "192.168.0.10"), "inside tenant 2");
    // The same 192.168.0.10 -> 192.168.0.1 flows of both tenants sit in different
    // conntrack zones on the host (one zone per bridge).
    let ct = common::ok(&[
        "ip",
        "netns",
        "exec",
        &hv,
        "conntrack",
        "-L",
        "-p",
        "icmp",
        "-s",
        "192.168.0.10",
    ]);
    let zones: std::collections::BTreeSet<&str> =
        ct.split_whitespace().filter(|w| w.starts_with("zone=")).collect();
    assert!(zones.len() >= 2, "one conntrack zone per tenant: {ct}");
    assert!(!ping(t1, "192.168.0.12"), "tenant 1 cannot reach tenant 2's VM at the same addresses");
    assert!(!probe(t1, &t2_other, "192.168.0.12", 22, false), "nor by TCP");
    assert_eq!(seen_source(t1, &outside, "198.18.0.100", 9011).as_deref(), Some("198.18.0.1"));
    assert_eq!(seen_source(t2, &outside, "198.18.0.100", 9012).as_deref(), Some("198.18.0.2"));
    for (net, _, spec) in &tenants {
        d.remove_router(spec.id).await.unwrap();
        d.remove_network(net.id).await.unwrap();
    }
}
