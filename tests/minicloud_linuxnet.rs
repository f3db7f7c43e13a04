// SPDX-License-Identifier: Apache-2.0
//! minicloud with `[network] data_plane = "linux"`: the unmodified `openstack` CLI builds a
//! network, a subnet, a router and a bound port; the Linux data plane realises them (a bridge
//! in the test's host namespace, a DHCP namespace running dnsmasq, a router namespace), a
//! "VM" namespace holding the port's veth end gets exactly the address IPAM assigned by DHCP
//! and reaches the router's leg. After a restart the data plane is reconciled with the Store:
//! the bridge and dnsmasq are adopted untouched, a leftover namespace carrying the prefix is
//! removed. Deleting everything through the API removes every namespace again.
//!
//! Needs root, `ip`, `nft`, `dnsmasq` and `busybox` (`scripts/test-env/linuxnet.sh`); every
//! namespace the test or minicloud creates carries a per-run prefix and is removed on drop.
#![cfg(feature = "linuxnet")]

#[allow(dead_code)]
mod common;

use common::{openstack, openstack_bin, openstack_raw, start_with_config};
use ferrostack_core::testing::prerequisite;
use std::path::Path;
use std::process::Command;

const UDHCPC_SCRIPT: &str = r#"#!/bin/sh
case "$1" in
  bound|renew) echo "$ip/${mask:-24} router=$router" > "$LEASE_OUT" ;;
esac
exit 0
"#;

fn sh(args: &[&str]) -> std::process::Output {
    Command::new(args[0]).args(&args[1..]).output().expect("spawn")
}

fn ok(args: &[&str]) -> String {
    let o = sh(args);
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn have(tool: &str) -> bool {
    sh(&["sh", "-c", &format!("command -v {tool}")]).status.success()
}

fn namespaces() -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

fn ifindex(ns: &str, dev: &str) -> String {
    ok(&["ip", "-n", ns, "-o", "link", "show", dev]).split(':').next().unwrap_or("").to_owned()
}

fn dnsmasq_pids(ns: &str) -> Vec<String> {
    let o = sh(&["ip", "netns", "pids", ns]);
    let mut pids: Vec<String> =
        String::from_utf8_lossy(&o.stdout).split_whitespace().map(str::to_owned).collect();
    pids.sort();
    pids
}

/// Removes every namespace whose name starts with `prefix` (killing what runs inside).
struct Namespaces {
    prefix: String,
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in namespaces().into_iter().filter(|n| n.starts_with(&self.prefix)) {
            for pid in dnsmasq_pids(&ns) {
                let _ = Command::new("kill").args(["-9", &pid]).status();
            }
            let _ = Command::new("ip").args(["netns", "del", &ns]).status();
        }
    }
}

#[test]
fn openstack_cli_drives_the_linux_data_plane_through_minicloud() {
    let test = "openstack_cli_drives_the_linux_data_plane_through_minicloud";
    let root = String::from_utf8_lossy(&sh(&["id", "-u"]).stdout).trim() == "0";
    if !prerequisite(root, test, "root (network namespaces)", "run the tests as root") {
        return;
    }
    for tool in ["ip", "nft", "dnsmasq", "busybox"] {
        if !prerequisite(have(tool), test, tool, "bash scripts/test-env/linuxnet.sh") {
            return;
        }
    }
    let Some(osc) = openstack_bin(test) else { return };

    // Names of this run: the data plane's prefix (at most 4 characters) and the test's own
    // namespaces (host side and a "VM"), all starting with the prefix.
    let prefix = format!("m{:03x}", std::process::id() % 4096);
    let _cleanup = Namespaces { prefix: prefix.clone() };
    let host = format!("{prefix}-host");
    let vm = format!("{prefix}-vm");
    for ns in [&host, &vm] {
        ok(&["ip", "netns", "add", ns]);
        ok(&["ip", "-n", ns, "link", "set", "lo", "up"]);
    }

    let dir = tempfile::Builder::new().prefix("ferrostack-minicloud-linuxnet").tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("minicloud.toml");
    std::fs::write(
        &config,
        format!(
            "[network]\ndata_plane = \"linux\"\nprefix = \"{prefix}\"\nhost_netns = \"{host}\"\n"
        ),
    )
    .unwrap();
    let cloud = start_with_config(&data, Some(&config));
    let clouds = data.join("clouds.yaml");
    let os = |args: &[&str]| openstack(&osc, &clouds, args);

    let net = os(&["network", "create", "n1"]);
    let net_id = net["id"].as_str().unwrap().to_owned();
    os(&["subnet", "create", "--network", "n1", "--subnet-range", "10.9.0.0/24", "s1"]);
    let router = os(&["router", "create", "r1"]);
    let router_id = router["id"].as_str().unwrap().to_owned();
    openstack_raw(&osc, &clouds, &["router", "add", "subnet", "r1", "s1"]);
    let port = os(&["port", "create", "--network", "n1", "--host", "host1", "p1"]);
    assert_eq!(port["binding_vif_type"], "bridge", "{port}");
    let peer = port["binding_vif_details"]["peer_name"].as_str().unwrap().to_owned();
    let bridge = port["binding_vif_details"]["bridge_name"].as_str().unwrap().to_owned();
    let ipam = port["fixed_ips"][0]["ip_address"].as_str().unwrap().to_owned();

    // The kernel has it: the bridge in the host namespace, dnsmasq in the network's DHCP
    // namespace, the router's namespace.
    let dhcp_ns = format!("{prefix}-dhcp-{net_id}");
    let router_ns = format!("{prefix}-router-{router_id}");
    assert!(ok(&["ip", "-n", &host, "-o", "link", "show", "type", "bridge"]).contains(&bridge));
    let all = namespaces();
    assert!(all.contains(&dhcp_ns) && all.contains(&router_ns), "{all:?}");
    assert!(!dnsmasq_pids(&dhcp_ns).is_empty(), "dnsmasq runs in {dhcp_ns}");

    // A "VM" holding the port's other end gets the IPAM address over DHCP and reaches the
    // router's leg on the subnet.
    let lease = |vm: &str| -> String {
        let script = dir.path().join("udhcpc.sh");
        std::fs::write(&script, UDHCPC_SCRIPT).unwrap();
        ok(&["chmod", "+x", script.to_str().unwrap()]);
        let out = dir.path().join("lease");
        let _ = std::fs::remove_file(&out);
        let o = Command::new("ip")
            .args(["netns", "exec", vm, "env", &format!("LEASE_OUT={}", out.display())])
            .args(["busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "5", "-T", "1", "-s"])
            .arg(&script)
            .output()
            .unwrap();
        assert!(o.status.success(), "udhcpc: {}", String::from_utf8_lossy(&o.stderr));
        std::fs::read_to_string(&out).unwrap()
    };
    ok(&["ip", "-n", &host, "link", "set", &peer, "netns", &vm]);
    ok(&["ip", "-n", &vm, "link", "set", &peer, "name", "eth0"]);
    ok(&["ip", "-n", &vm, "link", "set", "eth0", "up"]);
    let got = lease(&vm);
    assert!(got.starts_with(&format!("{ipam}/24 ")), "lease {got:?} vs IPAM {ipam}");
    assert!(got.contains("router=10.9.0.1"), "{got}");
    ok(&["ip", "-n", &vm, "addr", "add", &format!("{ipam}/24"), "dev", "eth0"]);
    let pinged = sh(&["ip", "netns", "exec", &vm, "ping", "-c1", "-W2", "10.9.0.1"]);
    assert!(pinged.status.success(), "the router's leg answers");

    // Restart: the data plane is reconciled, not rebuilt; a leftover is removed.
    let bridge_index = ifindex(&host, &bridge);
    let dnsmasq_before = dnsmasq_pids(&dhcp_ns);
    drop(cloud);
    let stale = format!("{prefix}-router-00000000-0000-4000-8000-000000000000");
    ok(&["ip", "netns", "add", &stale]);
    let cloud = start_with_config(&data, Some(&config));
    assert!(!namespaces().contains(&stale), "reconcile removed the leftover {stale}");
    assert_eq!(ifindex(&host, &bridge), bridge_index, "the bridge was adopted, not recreated");
    assert_eq!(dnsmasq_pids(&dhcp_ns), dnsmasq_before, "dnsmasq was adopted, not restarted");
    assert!(namespaces().contains(&router_ns));
    let got = lease(&vm);
    assert!(got.starts_with(&format!("{ipam}/24 ")), "after the restart: {got:?}");

    // Deleting through the API removes the kernel objects.
    openstack_raw(&osc, &clouds, &["router", "remove", "subnet", "r1", "s1"]);
    openstack_raw(&osc, &clouds, &["router", "delete", "r1"]);
    openstack_raw(&osc, &clouds, &["port", "delete", "p1"]);
    openstack_raw(&osc, &clouds, &["network", "delete", "n1"]);
    let left: Vec<String> = namespaces()
        .into_iter()
        .filter(|n| n.starts_with(&prefix) && *n != host && *n != vm)
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    let links = ok(&["ip", "-n", &host, "-o", "link", "show", "type", "bridge"]);
    assert!(!links.contains(&bridge), "{links}");
    drop(cloud);
    assert!(Path::new(&data).join("clouds.yaml").exists());
}
