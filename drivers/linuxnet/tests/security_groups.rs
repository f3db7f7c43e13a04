// SPDX-License-Identifier: Apache-2.0
//! Security groups with real connections between "VM" namespaces on one bridge: allowed
//! TCP/UDP/ICMP passes, the rest is dropped in both directions, remote-group rules follow
//! membership, a rule change keeps established connections, spoofed sources are dropped.

mod common;

use common::{Lab, ok, ping, probe};
use ferrostack_core::id::{NetworkId, PortId};
use ferrostack_network::backend::{
    Firewall, FirewallPort, NetworkBackend, NetworkSpec, PortBinding,
};
use ferrostack_network::cidr::{Cidr, IpVersion};
use ferrostack_network::secgroup::{CompiledRule, CompiledRuleSet, L4Match};
use ferrostack_network::types::{Direction, NetworkType, SecurityGroupId, Segment};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

fn r(
    direction: Direction,
    protocol: Option<u8>,
    l4: L4Match,
    remote: Option<&str>,
) -> CompiledRule {
    CompiledRule {
        direction,
        version: IpVersion::V4,
        protocol,
        l4,
        remote: remote.map(|c| c.parse().unwrap()),
        remote_group: None,
    }
}
/// A rule compiled from a remote group: one per member address.
fn g(
    group: SecurityGroupId,
    direction: Direction,
    protocol: Option<u8>,
    l4: L4Match,
    member: &str,
) -> CompiledRule {
    CompiledRule {
        remote_group: Some(group),
        ..r(direction, protocol, l4, Some(&format!("{member}/32")))
    }
}
fn tcp(port: u16) -> L4Match {
    L4Match::Ports { min: port, max: port }
}
fn fw(port: PortId, mac: &str, ip: &str, rules: Vec<CompiledRule>) -> FirewallPort {
    FirewallPort {
        port_id: port,
        mac_address: mac.into(),
        allowed_sources: vec![Cidr::host(ip.parse().unwrap())],
        rules: CompiledRuleSet { allow_all: false, stateful: true, rules },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_groups_filter_real_connections() {
    if !common::can_run("security_groups_filter_real_connections", &["nc", "ping"]) {
        return;
    }
    let lab = Lab::new();
    let (d, hv) = lab.driver("ft");
    let net = NetworkSpec {
        id: NetworkId::new(),
        segment: Segment {
            network_type: NetworkType::Local,
            physical_network: None,
            segmentation_id: None,
        },
        mtu: 1500,
    };
    d.ensure_network(&net).await.unwrap();
    let macs = ["fa:16:3e:00:00:0a", "fa:16:3e:00:00:0b", "fa:16:3e:00:00:0c"];
    let ips = ["10.0.0.11", "10.0.0.12", "10.0.0.13"];
    let mut ports = Vec::new();
    let mut vms = Vec::new();
    for (i, role) in ["a", "b", "c"].iter().enumerate() {
        let id = PortId::new();
        let vif = d
            .plug_port(&PortBinding {
                port_id: id,
                network: net.clone(),
                mac_address: macs[i].into(),
                host: "hv".into(),
                vnic_type: "normal".into(),
            })
            .await
            .unwrap();
        let peer = vif.details["peer_name"].as_str().unwrap().to_owned();
        let vm = lab.vm(role, &hv, &peer);
        ok(&["ip", "-n", &vm, "addr", "add", &format!("{}/24", ips[i]), "dev", "eth0"]);
        ports.push(id);
        vms.push(vm);
    }
    let (a, b, c) = (&vms[0], &vms[1], &vms[2]);
    let (group_a, group_b) = (SecurityGroupId::new(), SecurityGroupId::new());
    // A: tcp/80 and icmp from anyone, udp/53 only from group {B}; egress only tcp/8080.
    let a_rules = |members: &[&str]| {
        let mut v = vec![
            r(Direction::Ingress, Some(6), tcp(80), None),
            r(Direction::Ingress, Some(1), L4Match::Any, None),
            r(Direction::Egress, Some(6), tcp(8080), None),
        ];
        for m in members {
            v.push(g(group_b, Direction::Ingress, Some(17), tcp(53), m));
        }
        v
    };
    d.apply_port(&fw(ports[0], macs[0], ips[0], a_rules(&[ips[1]]))).await.unwrap();
    // B: egress anything; ingress tcp/8080 only from group {A}, tcp/9000 from anyone.
    d.apply_port(&fw(
        ports[1],
        macs[1],
        ips[1],
        vec![
            r(Direction::Egress, None, L4Match::Any, None),
            g(group_a, Direction::Ingress, Some(6), tcp(8080), ips[0]),
            r(Direction::Ingress, Some(6), tcp(9000), None),
        ],
    ))
    .await
    .unwrap();
    // C has no firewall (like a port of another driver): only its packets to A/B are judged.

    assert!(probe(b, a, ips[0], 80, false), "B -> A tcp/80 allowed");
    assert!(!probe(b, a, ips[0], 81, false), "B -> A tcp/81 dropped");
    assert!(ping(b, ips[0]), "B -> A icmp allowed");
    assert!(probe(b, a, ips[0], 53, true), "B -> A udp/53 allowed (B is in the remote group)");
    assert!(!probe(c, a, ips[0], 53, true), "C -> A udp/53 dropped (C is not)");
    assert!(
        probe(a, b, ips[1], 8080, false),
        "A -> B tcp/8080: A's egress and B's remote-group ingress allow"
    );
    assert!(
        !probe(c, b, ips[1], 8080, false),
        "C -> B tcp/8080 dropped: C is not in B's remote group"
    );
    assert!(!probe(a, b, ips[1], 9000, false), "A -> B tcp/9000 dropped by A's egress");
    assert!(probe(c, b, ips[1], 9000, false), "C -> B tcp/9000 allowed by B's ingress");
    assert!(!ping(a, ips[1]), "A -> B icmp dropped by A's egress");

    // Membership change: C joins the remote group of A's udp/53 rule.
    d.apply_port(&fw(ports[0], macs[0], ips[0], a_rules(&[ips[1], ips[2]]))).await.unwrap();
    let set_name = ferrostack_linuxnet::nft::group_set(&group_b, IpVersion::V4);
    let set = ok(&["ip", "netns", "exec", &hv, "nft", "list", "set", "inet", "ft_sg", &set_name]);
    assert!(set.contains(ips[2]), "{set}");
    assert!(probe(c, a, ips[0], 53, true), "C -> A udp/53 allowed after joining");

    // An established connection to A:80 survives removing the rule that allowed it.
    let mut listener = Command::new("ip")
        .args(["netns", "exec", a, "timeout", "20", "nc", "-l", "-p", "80"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    common::wait_listening(a, 80, false);
    let mut client = Command::new("ip")
        .args(["netns", "exec", b, "timeout", "20", "nc", ips[0], "80"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut to_a = client.stdin.take().unwrap();
    let mut from_b = BufReader::new(listener.stdout.take().unwrap());
    to_a.write_all(b"one\n").unwrap();
    to_a.flush().unwrap();
    let mut line = String::new();
    from_b.read_line(&mut line).unwrap();
    assert_eq!(line, "one\n");
    let without_80: Vec<CompiledRule> =
        a_rules(&[ips[1], ips[2]]).into_iter().filter(|x| x.l4 != tcp(80)).collect();
    d.apply_port(&fw(ports[0], macs[0], ips[0], without_80)).await.unwrap();
    to_a.write_all(b"two\n").unwrap();
    to_a.flush().unwrap();
    line.clear();
    from_b.read_line(&mut line).unwrap();
    assert_eq!(line, "two\n", "the established connection still carries data");
    drop(to_a);
    let _ = client.wait();
    let _ = listener.wait();
    assert!(!probe(b, a, ips[0], 80, false), "a new connection to tcp/80 is now dropped");

    // Anti-spoofing: B sending from an address that is not its own is dropped.
    ok(&["ip", "-n", b, "addr", "add", "10.0.0.77/24", "dev", "eth0"]);
    assert!(
        !common::run_in(b, &["ping", "-c1", "-W1", "-I", "10.0.0.77", ips[0]]),
        "spoofed source dropped"
    );
    ok(&["ip", "-n", b, "addr", "del", "10.0.0.77/24", "dev", "eth0"]);
    assert!(ping(b, ips[0]), "own source still works");

    for p in &ports {
        d.remove_port(*p).await.unwrap();
        d.unplug_port(*p).await.unwrap();
    }
    d.remove_network(net.id).await.unwrap();
}
