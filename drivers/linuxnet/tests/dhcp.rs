// SPDX-License-Identifier: Apache-2.0
//! DHCP through the whole stack: the network service (IPAM) drives the driver; two "VM"
//! namespaces run busybox `udhcpc` and must get exactly the addresses IPAM assigned.

mod common;

use common::{Lab, ok};
use ferrostack_core::RequestContext;
use ferrostack_core::id::{ProjectId, UserId};
use ferrostack_core::store::MemoryStore;
use ferrostack_linuxnet::DhcpServer;
use ferrostack_network::testing::conformance;
use ferrostack_network::{Backends, NetworkApi, NetworkConfig, NetworkService};
use serde_json::json;
use std::sync::Arc;

const UDHCPC_SCRIPT: &str = r#"#!/bin/sh
case "$1" in
  bound|renew) echo "$ip/${mask:-24} router=$router dns=$dns" > "$LEASE_OUT" ;;
esac
exit 0
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linuxnet_passes_the_dhcp_suite() {
    if !common::can_run("linuxnet_passes_the_dhcp_suite", &["dnsmasq"]) {
        return;
    }
    let lab = Lab::new();
    let (d, _hv) = lab.driver("ft");
    conformance::dhcp_backend(&*d).await;
    // The suite ends with remove_network: the server's files (and pid file) are gone.
    let left: Vec<_> =
        std::fs::read_dir(lab.state_dir()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "DHCP state left behind: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_vms_get_the_addresses_ipam_assigned() {
    if !common::can_run("two_vms_get_the_addresses_ipam_assigned", &["dnsmasq", "busybox"]) {
        return;
    }
    leases(DhcpServer::Dnsmasq).await;
}

/// The same through the second backend, ISC Kea.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kea_gives_two_vms_the_addresses_ipam_assigned() {
    if !common::can_run("kea_gives_two_vms_the_addresses_ipam_assigned", &["kea-dhcp4", "busybox"])
    {
        return;
    }
    leases(DhcpServer::Kea).await;
}

async fn leases(server: DhcpServer) {
    let lab = Lab::new();
    let hv = lab.ns("hv");
    let d = lab.driver_with("ft", &hv, |c| c.dhcp_server = server);
    let svc = NetworkService::new(
        Arc::new(MemoryStore::new()),
        NetworkConfig::default(),
        Backends::all(d.clone()),
    );
    let project = ProjectId::new();
    let ctx = RequestContext::for_project(UserId::new(), project.clone(), &["member"]);
    // Binding a port to a host is an admin (Nova) operation.
    let nova = RequestContext::for_project(UserId::new(), project, &["admin"]);
    let net = svc
        .create_network(&ctx, serde_json::from_value(json!({"name": "private"})).unwrap())
        .await
        .unwrap();
    lab.adopt(format!("ft-dhcp-{}", net.id.0));
    // The pool leaves .254 out: the DHCP server's own address.
    let subnet = svc
        .create_subnet(
            &ctx,
            serde_json::from_value(json!({
                "network_id": net.id, "cidr": "10.20.0.0/24", "ip_version": 4,
                "allocation_pools": [{"start": "10.20.0.10", "end": "10.20.0.200"}],
                "dns_nameservers": ["10.20.0.53"]
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let script = lab.state_dir().join("udhcpc.sh");
    std::fs::write(&script, UDHCPC_SCRIPT).unwrap();
    ok(&["chmod", "+x", script.to_str().unwrap()]);
    let mut seen = Vec::new();
    for role in ["vm1", "vm2"] {
        let port = svc
            .create_port(
                &nova,
                serde_json::from_value(json!({"network_id": net.id, "binding:host_id": "hv"}))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(port.binding_vif_type, "bridge", "{port:?}");
        let peer = port.binding_vif_details["peer_name"].as_str().unwrap().to_owned();
        let vm = lab.vm(role, &hv, &peer);
        let out = lab.state_dir().join(format!("{role}.lease"));
        let o = std::process::Command::new("ip")
            .args(["netns", "exec", &vm, "env", &format!("LEASE_OUT={}", out.display())])
            .args(["busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "5", "-T", "1", "-s"])
            .arg(&script)
            .output()
            .unwrap();
        assert!(o.status.success(), "udhcpc: {}", String::from_utf8_lossy(&o.stderr));
        let lease = std::fs::read_to_string(&out).unwrap();
        let ipam = port.fixed_ips[0].ip_address;
        assert!(subnet.cidr.contains(&ipam));
        assert!(lease.starts_with(&format!("{ipam}/24 ")), "lease {lease:?} vs IPAM {ipam}");
        assert!(lease.contains("router=10.20.0.1") && lease.contains("dns=10.20.0.53"), "{lease}");
        seen.push(ipam);
    }
    assert_ne!(seen[0], seen[1]);
    // Deleting the network stops dnsmasq and removes its namespace.
    for p in svc.list_ports(&ctx).await.unwrap() {
        let _ = svc.delete_port(&nova, p.id).await;
    }
    svc.delete_network(&ctx, net.id).await.unwrap();
    assert!(!std::path::Path::new(&format!("/run/netns/ft-dhcp-{}", net.id.0)).exists());
}
