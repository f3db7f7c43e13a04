// SPDX-License-Identifier: Apache-2.0
//! The same security groups rendered the way Neutron's iptables firewall driver (hybrid
//! Linux-bridge flavour, without ipset) renders them: per port an ingress, an egress and a
//! spoofing chain, `physdev` dispatch from a shared `sg-chain`, every remote-group member a
//! rule of its own, and the whole `filter` table loaded with one `iptables-restore`. Used by
//! the benchmark (`examples/sg_bench.rs`) as the baseline; not a firewall driver.

use ferrostack_network::backend::FirewallPort;
use ferrostack_network::cidr::IpVersion;
use ferrostack_network::secgroup::{CompiledRule, L4Match};
use ferrostack_network::types::Direction;
use std::fmt::Write as _;

fn rule_args(r: &CompiledRule) -> String {
    let mut s = String::new();
    if let Some(remote) = &r.remote {
        let flag = if r.direction == Direction::Ingress { "-s" } else { "-d" };
        let _ = write!(s, "{flag} {remote} ");
    }
    match (r.protocol, r.l4) {
        (None, _) => {}
        (Some(p), L4Match::Ports { min, max }) => {
            let name = match p {
                6 => "tcp",
                17 => "udp",
                _ => "",
            };
            if name.is_empty() {
                let _ = write!(s, "-p {p} ");
            } else if min == max {
                let _ = write!(s, "-p {name} -m {name} --dport {min} ");
            } else {
                let _ = write!(s, "-p {name} -m {name} --dport {min}:{max} ");
            }
        }
        (Some(1), L4Match::Icmp { icmp_type, code }) => {
            let _ = match code {
                Some(c) => write!(s, "-p icmp -m icmp --icmp-type {icmp_type}/{c} "),
                None => write!(s, "-p icmp -m icmp --icmp-type {icmp_type} "),
            };
        }
        (Some(p), _) => {
            let _ = write!(s, "-p {p} ");
        }
    }
    s
}

/// The complete IPv4 `filter` table for `ports` (`(port, tap)` pairs), for `iptables-restore`.
pub fn restore(ports: &[(FirewallPort, String)]) -> String {
    let mut chains =
        String::from("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    chains.push_str(":nl-FORWARD - [0:0]\n:nl-sg-chain - [0:0]\n:nl-sg-fallback - [0:0]\n");
    let mut rules = String::from("-A FORWARD -j nl-FORWARD\n-A nl-sg-fallback -j DROP\n");
    for (fw, tap) in ports {
        let id = &fw.port_id.simple()[..10];
        let (i, o, sp) = (format!("nl-i{id}"), format!("nl-o{id}"), format!("nl-s{id}"));
        let _ = writeln!(chains, ":{i} - [0:0]\n:{o} - [0:0]\n:{sp} - [0:0]");
        let _ = writeln!(
            rules,
            "-A nl-FORWARD -m physdev --physdev-out {tap} --physdev-is-bridged -j nl-sg-chain"
        );
        let _ = writeln!(
            rules,
            "-A nl-FORWARD -m physdev --physdev-in {tap} --physdev-is-bridged -j nl-sg-chain"
        );
        let _ = writeln!(
            rules,
            "-A nl-sg-chain -m physdev --physdev-out {tap} --physdev-is-bridged -j {i}"
        );
        let _ = writeln!(
            rules,
            "-A nl-sg-chain -m physdev --physdev-in {tap} --physdev-is-bridged -j {o}"
        );
        let _ = writeln!(rules, "-A {i} -m state --state RELATED,ESTABLISHED -j RETURN");
        let _ = writeln!(rules, "-A {i} -p udp -m udp --sport 67 --dport 68 -j RETURN");
        let _ = writeln!(
            rules,
            "-A {o} -s 0.0.0.0/32 -d 255.255.255.255/32 -p udp -m udp --sport 68 --dport 67 -j RETURN"
        );
        let _ = writeln!(rules, "-A {o} -j {sp}");
        for a in fw.allowed_sources.iter().filter(|c| c.version() == IpVersion::V4) {
            let _ =
                writeln!(rules, "-A {sp} -s {a} -m mac --mac-source {} -j RETURN", fw.mac_address);
        }
        let _ = writeln!(rules, "-A {sp} -j DROP");
        let _ = writeln!(rules, "-A {o} -m state --state RELATED,ESTABLISHED -j RETURN");
        for r in fw.rules.rules.iter().filter(|r| r.version == IpVersion::V4) {
            let chain = if r.direction == Direction::Ingress { &i } else { &o };
            let _ = writeln!(rules, "-A {chain} {}-j RETURN", rule_args(r));
        }
        for c in [&i, &o] {
            let _ = writeln!(
                rules,
                "-A {c} -m state --state INVALID -j DROP\n-A {c} -j nl-sg-fallback"
            );
        }
    }
    chains.push_str(&rules);
    chains.push_str("COMMIT\n");
    chains
}
