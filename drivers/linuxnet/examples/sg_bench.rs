// SPDX-License-Identifier: Apache-2.0
//! Benchmark: security groups for 1,000 ports x 10 rules (one of them a remote-group rule)
//! applied with nftables (this driver) versus the same rules rendered as one
//! `iptables-restore` the way Neutron's iptables firewall driver does, then one remote-group
//! membership change on both. Runs in a private network namespace; needs root, `nft` and
//! `iptables-restore` (`bash scripts/test-env/linuxnet.sh`).
//!
//! ```text
//! cargo run --release -p ferrostack-linuxnet --example sg_bench -- [PORTS] [MEMBERS]
//! ```

use ferrostack_core::command::SystemRunner;
use ferrostack_core::id::{NetworkId, PortId};
use ferrostack_linuxnet::{LinuxNet, LinuxNetConfig};
use ferrostack_network::backend::{FirewallPort, NetworkBackend, NetworkSpec};
use ferrostack_network::cidr::{Cidr, IpVersion};
use ferrostack_network::secgroup::{CompiledRule, CompiledRuleSet, L4Match};
use ferrostack_network::types::{Direction, NetworkType, SecurityGroupId, Segment};
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn ip(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
}

/// Nine plain rules plus one remote-group rule (tcp/5432 from the group's members).
fn rules(group: SecurityGroupId, members: &[IpAddr]) -> Vec<CompiledRule> {
    let r = |direction, protocol, l4, remote: Option<Cidr>| CompiledRule {
        direction,
        version: IpVersion::V4,
        protocol,
        l4,
        remote,
        remote_group: None,
    };
    let p = |a, b| L4Match::Ports { min: a, max: b };
    let mut v = vec![
        r(Direction::Ingress, Some(6), p(22, 22), Some("192.0.2.0/24".parse().unwrap())),
        r(Direction::Ingress, Some(6), p(80, 80), None),
        r(Direction::Ingress, Some(6), p(443, 443), None),
        r(Direction::Ingress, Some(17), p(53, 53), None),
        r(Direction::Ingress, Some(1), L4Match::Icmp { icmp_type: 8, code: None }, None),
        r(Direction::Ingress, Some(6), p(1000, 2000), Some("10.1.0.0/16".parse().unwrap())),
        r(Direction::Egress, Some(6), p(1, 65535), None),
        r(Direction::Egress, Some(17), p(53, 53), None),
        r(Direction::Egress, Some(1), L4Match::Any, None),
    ];
    for m in members {
        v.push(CompiledRule {
            remote_group: Some(group),
            ..r(Direction::Ingress, Some(6), p(5432, 5432), Some(Cidr::host(*m)))
        });
    }
    v
}

fn ports(ids: &[PortId], group: SecurityGroupId, members: &[IpAddr]) -> Vec<FirewallPort> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| FirewallPort {
            port_id: *id,
            mac_address: format!(
                "fa:16:3e:{:02x}:{:02x}:{:02x}",
                (i >> 16) & 0xff,
                (i >> 8) & 0xff,
                i & 0xff
            ),
            allowed_sources: vec![Cidr::host(ip(i as u32 + 10))],
            rules: CompiledRuleSet {
                allow_all: false,
                stateful: true,
                rules: rules(group, members),
            },
        })
        .collect()
}

fn restore(ns: &str, text: &str, program: &str) -> Duration {
    let path = std::env::temp_dir().join(format!("sg-bench-{}.rules", std::process::id()));
    std::fs::write(&path, text).unwrap();
    let t = Instant::now();
    let o = Command::new("ip").args(["netns", "exec", ns, program]).arg(&path).output().unwrap();
    let d = t.elapsed();
    let _ = std::fs::remove_file(&path);
    assert!(o.status.success(), "{program}: {}", String::from_utf8_lossy(&o.stderr));
    d
}

struct Ns(String);
impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let n_ports = args.first().copied().unwrap_or(1000);
    let n_members = args.get(1).copied().unwrap_or(1).max(1);
    let ns = Ns(format!("fsb-{}-hv", std::process::id()));
    let ipt_ns = Ns(format!("fsb-{}-ipt", std::process::id()));
    for n in [&ns.0, &ipt_ns.0] {
        assert!(
            Command::new("ip").args(["netns", "add", n]).status().unwrap().success(),
            "needs root"
        );
    }
    let cfg = LinuxNetConfig {
        prefix: "fsb".into(),
        host_netns: Some(ns.0.clone()),
        ..Default::default()
    };
    let d = Arc::new(LinuxNet::new(cfg, Arc::new(SystemRunner::new())).unwrap());
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
    let ids: Vec<PortId> = (0..n_ports).map(|_| PortId::new()).collect();
    for id in &ids {
        d.record_plugged(*id, net.id).await.unwrap();
    }
    // The remote group: the first `n_members` ports; then one more joins.
    let before: Vec<IpAddr> = (0..n_members as u32).map(|i| ip(i + 10)).collect();
    let mut after = before.clone();
    after.push(ip(n_members as u32 + 10));
    let group = SecurityGroupId::new();
    let set_before = ports(&ids, group, &before);
    let set_after = ports(&ids, group, &after);
    let sg_rules = 9 + 1;
    println!(
        "{n_ports} ports x {sg_rules} security-group rules (one remote-group rule with {n_members} member(s)); one member joins"
    );

    let t = Instant::now();
    d.apply_ports(&set_before).await.unwrap();
    let nft_apply = t.elapsed();
    let t = Instant::now();
    d.apply_ports(&set_after).await.unwrap();
    let nft_update = t.elapsed();

    let taps: Vec<String> = ids.iter().map(|id| format!("tap{}", &id.simple()[..11])).collect();
    let with = |set: &[FirewallPort]| -> Vec<(FirewallPort, String)> {
        set.iter().cloned().zip(taps.iter().cloned()).collect()
    };
    let t = Instant::now();
    let text_before = ferrostack_linuxnet::iptables::restore(&with(&set_before));
    let render_before = t.elapsed();
    let ipt_apply = render_before + restore(&ipt_ns.0, &text_before, "iptables-restore");
    let t = Instant::now();
    let text_after = ferrostack_linuxnet::iptables::restore(&with(&set_after));
    let render_after = t.elapsed();
    let ipt_update = render_after + restore(&ipt_ns.0, &text_after, "iptables-restore");
    let legacy = Command::new("sh")
        .args(["-c", "command -v iptables-legacy-restore"])
        .output()
        .is_ok_and(|o| o.status.success());
    let (mut leg_apply, mut leg_update) = (None, None);
    if legacy {
        leg_apply =
            Some(render_before + restore(&ipt_ns.0, &text_before, "iptables-legacy-restore"));
        leg_update =
            Some(render_after + restore(&ipt_ns.0, &text_after, "iptables-legacy-restore"));
    }
    let rules_ipt = text_after.lines().filter(|l| l.starts_with("-A")).count();
    println!(
        "iptables-restore input: {rules_ipt} rules; nftables: per-port chains, one shared remote-group set"
    );
    println!("{:<32} {:>12} {:>14}", "", "apply all", "member joins");
    println!(
        "{:<32} {:>10.1}ms {:>12.1}ms",
        "nftables (this driver)",
        ms(nft_apply),
        ms(nft_update)
    );
    println!(
        "{:<32} {:>10.1}ms {:>12.1}ms",
        "iptables-restore (nft backend)",
        ms(ipt_apply),
        ms(ipt_update)
    );
    if let (Some(a), Some(u)) = (leg_apply, leg_update) {
        println!("{:<32} {:>10.1}ms {:>12.1}ms", "iptables-legacy-restore", ms(a), ms(u));
    }
    println!(
        "ratio iptables-restore / nftables: apply {:.2}x, membership update {:.2}x",
        ms(ipt_apply) / ms(nft_apply),
        ms(ipt_update) / ms(nft_update)
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
