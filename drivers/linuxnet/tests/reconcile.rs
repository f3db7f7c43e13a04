// SPDX-License-Identifier: Apache-2.0
//! Reconcile on start: a new driver instance (a restart) finds the kernel state of the old
//! one, removes what is no longer desired and leaves what is in place (same interface
//! indexes, same dnsmasq process, traffic keeps flowing).

mod common;

use common::{Lab, local_net, ok, ping, vm_on};
use ferrostack_core::id::{NetworkId, PortId, RouterId, SubnetId};
use ferrostack_linuxnet::DesiredState;
use ferrostack_network::backend::{
    DhcpBackend, DhcpHost, DhcpNetwork, DhcpSubnet, Firewall, FirewallPort, InterfaceSpec,
    L3Backend, NetworkBackend, PortBinding, RouterSpec,
};
use ferrostack_network::secgroup::CompiledRuleSet;

fn ifindex(ns: &str, dev: &str) -> Option<String> {
    let o = common::sh(&["ip", "-n", ns, "-o", "link", "show", dev]);
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).split(':').next().unwrap_or("").to_owned())
}

fn dhcp(net: NetworkId, cidr: &str, gw: &str) -> DhcpNetwork {
    DhcpNetwork {
        network_id: net,
        subnets: vec![DhcpSubnet {
            id: SubnetId::new(),
            cidr: cidr.parse().unwrap(),
            gateway: Some(gw.parse().unwrap()),
            dns_nameservers: vec![],
            host_routes: vec![],
        }],
        hosts: vec![DhcpHost {
            mac_address: "fa:16:3e:00:00:0a".into(),
            ip_address: "10.0.0.11".parse().unwrap(),
            hostname: "host-10-0-0-11".into(),
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_driver_keeps_what_is_desired_and_removes_the_rest() {
    if !common::can_run(
        "a_restarted_driver_keeps_what_is_desired_and_removes_the_rest",
        &["dnsmasq", "ping"],
    ) {
        return;
    }
    let lab = Lab::new();
    let (old, hv) = lab.driver("ft");
    let keep = local_net();
    let gone = local_net();
    old.ensure_network(&keep).await.unwrap();
    old.ensure_network(&gone).await.unwrap();
    let (pa, vm) =
        vm_on(&lab, &old, &hv, &keep, "a", "fa:16:3e:00:00:0a", "10.0.0.11/24", Some("10.0.0.1"))
            .await;
    let binding = PortBinding {
        port_id: pa,
        network: keep.clone(),
        mac_address: "fa:16:3e:00:00:0a".into(),
        host: "hv".into(),
        vnic_type: "normal".into(),
    };
    let gone_port = PortId::new();
    old.plug_port(&PortBinding { port_id: gone_port, network: gone.clone(), ..binding.clone() })
        .await
        .unwrap();
    let fw = FirewallPort {
        port_id: pa,
        mac_address: "fa:16:3e:00:00:0a".into(),
        allowed_sources: vec!["10.0.0.11/32".parse().unwrap()],
        rules: CompiledRuleSet { allow_all: true, stateful: true, rules: vec![] },
    };
    old.apply_port(&fw).await.unwrap();
    let router = RouterSpec {
        id: RouterId::new(),
        admin_state_up: true,
        gateway: None,
        interfaces: vec![InterfaceSpec {
            port_id: PortId::new(),
            network_id: keep.id,
            subnet_id: SubnetId::new(),
            address: "10.0.0.1".parse().unwrap(),
            cidr: "10.0.0.0/24".parse().unwrap(),
        }],
        routes: vec![],
        floating_ips: vec![],
    };
    let gone_router = RouterSpec { id: RouterId::new(), interfaces: vec![], ..router.clone() };
    for r in [&router, &gone_router] {
        lab.adopt(format!("ft-router-{}", r.id.0));
        old.sync_router(r).await.unwrap();
    }
    let keep_dhcp = dhcp(keep.id, "10.0.0.0/24", "10.0.0.1");
    let gone_dhcp = dhcp(gone.id, "10.1.0.0/24", "10.1.0.1");
    for d in [&keep_dhcp, &gone_dhcp] {
        lab.adopt(format!("ft-dhcp-{}", d.network_id.0));
        old.sync_network(d).await.unwrap();
    }
    assert!(ping(&vm, "10.0.0.1"), "before the restart");
    let links_before = ok(&["ip", "-n", &hv, "-o", "link"]);
    let dnsmasq_pid =
        std::fs::read_to_string(lab.state_dir().join(format!("dhcp-{}/pid", keep.id.0))).unwrap();

    // "Restart": forget the old driver; a new one reconciles to a smaller desired state.
    drop(old);
    let new = lab.driver_in("ft", &hv);
    let report = new
        .reconcile(&DesiredState {
            networks: vec![keep.clone()],
            ports: vec![binding.clone()],
            firewalls: vec![fw.clone()],
            routers: vec![router.clone()],
            dhcp: vec![keep_dhcp.clone()],
        })
        .await
        .unwrap();
    assert!(
        report.removed.iter().any(|n| n == &format!("ft-router-{}", gone_router.id.0)),
        "{report:?}"
    );
    assert!(report.removed.iter().any(|n| n == &format!("ft-dhcp-{}", gone.id.0)), "{report:?}");
    assert!(!std::path::Path::new(&format!("/run/netns/ft-router-{}", gone_router.id.0)).exists());
    assert!(!std::path::Path::new(&format!("/run/netns/ft-dhcp-{}", gone.id.0)).exists());
    let links_after = ok(&["ip", "-n", &hv, "-o", "link"]);
    // Every link of the kept network is still there with the same index.
    for line in links_before.lines() {
        let mut parts = line.split(':');
        let (idx, name) = (parts.next().unwrap().trim(), parts.next().unwrap().trim());
        let name = name.split('@').next().unwrap();
        if report.kept.iter().any(|k| k == name) {
            assert_eq!(ifindex(&hv, name).as_deref(), Some(idx), "{name} untouched");
        }
    }
    assert!(!links_after.is_empty());
    assert!(
        report.removed.len() >= 4,
        "the gone network's bridge and port, a router, a dhcp: {report:?}"
    );
    let pid_after =
        std::fs::read_to_string(lab.state_dir().join(format!("dhcp-{}/pid", keep.id.0))).unwrap();
    assert_eq!(dnsmasq_pid, pid_after, "dnsmasq adopted, not restarted");
    assert!(ping(&vm, "10.0.0.1"), "traffic still flows after reconcile");
    // The new instance knows the adopted port: plugging it again gives the same details.
    let again = new.plug_port(&binding).await.unwrap();
    assert_eq!(again.details["bridge_name"], report_bridge(&links_after, &again));
    new.remove_router(router.id).await.unwrap();
    DhcpBackend::remove_network(&*new, keep.id).await.unwrap();
}

fn report_bridge(links: &str, vif: &ferrostack_network::backend::VifDetails) -> serde_json::Value {
    let b = vif.details["bridge_name"].as_str().unwrap();
    assert!(links.contains(b), "{b} exists");
    serde_json::Value::String(b.to_owned())
}
