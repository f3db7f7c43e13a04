// SPDX-License-Identifier: Apache-2.0
//! Security groups as nftables: the pure renderer.
//!
//! Layout (in the namespace the bridges live in):
//!
//! * `table inet <prefix>_sg` sees bridged IP traffic through `br_netfilter`
//!   (`net.bridge.bridge-nf-call-iptables=1`), where conntrack works. Two base chains on the
//!   `forward` hook dispatch with verdict maps keyed by `bridge . address` (with
//!   `br_netfilter` the in and out interface of a bridged packet is the bridge, and IPAM makes
//!   addresses unique per network):
//!   `egress` (priority 0) on `iifname . ip saddr` to the sender's `po_<port>` chain and
//!   `ingress` (priority 1) on `oifname . ip daddr` to the receiver's `pi_<port>` chain. An
//!   `accept` in the first base chain still runs the second, so a packet between two ports
//!   passes both firewalls. A `raw` prerouting chain puts each bridge's traffic in its own
//!   conntrack zone, so tenants with the same addresses never share conntrack state.
//! * Per port: `pi_<port>` and `po_<port>` hold `ct state established,related accept`
//!   (stateful sets), DHCP and neighbour discovery, one rule per compiled rule and a final
//!   `drop`. Rules with remote addresses (remote prefixes and the resolved members of remote
//!   groups) that share direction, family, protocol and ports become **one** rule matching a
//!   named interval set `ps_<port>_<n>`: a change of group membership is then an
//!   `add element` / `delete element` on the set, without touching any chain.
//! * `table bridge <prefix>_as` does anti-spoofing per bridge port (`iifname` is the tap in
//!   the bridge family): source MAC, source IPv4/IPv6 (the port's allowed sources, plus
//!   `0.0.0.0` for DHCP discovery and link-local IPv6) and ARP sender addresses.
//!
//! Every change is one `nft -f` transaction, so a packet sees either the old or the new rules.

use ferrostack_network::backend::FirewallPort;
use ferrostack_network::cidr::{Cidr, IpVersion};
use ferrostack_network::secgroup::{CompiledRule, L4Match};
use ferrostack_network::types::Direction;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// The inet table's name.
pub fn sg_table(prefix: &str) -> String {
    format!("{prefix}_sg")
}
/// The bridge table's name.
pub fn as_table(prefix: &str) -> String {
    format!("{prefix}_as")
}

/// The transaction creating (or resetting the base chains of) both tables. Idempotent: the
/// per-port chains, sets and map elements are left alone.
pub fn base(prefix: &str) -> String {
    let t = sg_table(prefix);
    let a = as_table(prefix);
    format!(
        "add table inet {t}
add map inet {t} in4 {{ type ifname . ipv4_addr : verdict; }}
add map inet {t} in6 {{ type ifname . ipv6_addr : verdict; }}
add map inet {t} out4 {{ type ifname . ipv4_addr : verdict; }}
add map inet {t} out6 {{ type ifname . ipv6_addr : verdict; }}
add map inet {t} zones {{ typeof iifname : ct zone; }}
add chain inet {t} zone {{ type filter hook prerouting priority raw; policy accept; }}
add chain inet {t} egress {{ type filter hook forward priority filter; policy accept; }}
add chain inet {t} ingress {{ type filter hook forward priority filter + 1; policy accept; }}
flush chain inet {t} zone
flush chain inet {t} egress
flush chain inet {t} ingress
add rule inet {t} zone ct zone set iifname map @zones
add rule inet {t} egress iifname . ip saddr vmap @out4
add rule inet {t} egress iifname . ip6 saddr vmap @out6
add rule inet {t} ingress oifname . ip daddr vmap @in4
add rule inet {t} ingress oifname . ip6 daddr vmap @in6
add table bridge {a}
add map bridge {a} ports {{ type ifname : verdict; }}
add chain bridge {a} prerouting {{ type filter hook prerouting priority filter; policy accept; }}
flush chain bridge {a} prerouting
add rule bridge {a} prerouting iifname vmap @ports
"
    )
}

/// One named set of a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetPlan {
    /// Its name.
    pub name: String,
    /// Its family.
    pub version: IpVersion,
    /// Its elements (prefixes, none covering another).
    pub elements: BTreeSet<String>,
}

/// Everything the driver installs for one port.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PortPlan {
    /// Rules of `pi_<port>`.
    pub ingress: Vec<String>,
    /// Rules of `po_<port>`.
    pub egress: Vec<String>,
    /// Named sets the rules use.
    pub sets: Vec<SetPlan>,
    /// Elements of `in4`/`in6`/`out4`/`out6` as `(map, element)`.
    pub dispatch: Vec<(String, String)>,
    /// Rules of the anti-spoofing chain `as_<port>`; empty means no anti-spoofing.
    pub antispoof: Vec<String>,
    /// The bridge port the anti-spoofing applies to.
    pub tap: String,
}

impl PortPlan {
    /// Whether `other` differs from `self` only in set elements (the O(1) membership path).
    pub fn same_shape(&self, other: &PortPlan) -> bool {
        self.ingress == other.ingress
            && self.egress == other.egress
            && self.dispatch == other.dispatch
            && self.antispoof == other.antispoof
            && self.tap == other.tap
            && self.sets.len() == other.sets.len()
            && self
                .sets
                .iter()
                .zip(&other.sets)
                .all(|(a, b)| a.name == b.name && a.version == b.version)
    }
}

fn chain_in(port: &str) -> String {
    format!("pi_{port}")
}
fn chain_out(port: &str) -> String {
    format!("po_{port}")
}
fn chain_as(port: &str) -> String {
    format!("as_{port}")
}

fn family(v: IpVersion) -> &'static str {
    match v {
        IpVersion::V4 => "ip",
        IpVersion::V6 => "ip6",
    }
}

/// The match of a rule's protocol and ports (without addresses).
fn l4_text(r: &CompiledRule) -> String {
    let mut s = String::new();
    match (r.protocol, r.l4) {
        (None, _) => {
            let _ = write!(
                s,
                "meta nfproto {}",
                if r.version == IpVersion::V4 { "ipv4" } else { "ipv6" }
            );
        }
        (Some(p), L4Match::Ports { min, max }) => {
            let _ = write!(s, "meta l4proto {p} th dport ");
            if min == max {
                let _ = write!(s, "{min}");
            } else {
                let _ = write!(s, "{min}-{max}");
            }
        }
        (Some(p), L4Match::Icmp { icmp_type, code }) => {
            let kw = if p == 58 { "icmpv6" } else { "icmp" };
            let _ = write!(s, "meta l4proto {p} {kw} type {icmp_type}");
            if let Some(c) = code {
                let _ = write!(s, " {kw} code {c}");
            }
        }
        (Some(p), L4Match::Any) => {
            let _ = write!(s, "meta l4proto {p}");
        }
    }
    s
}

/// Host and prefix lists without entries covered by others (interval sets refuse overlaps).
fn minimal(cidrs: impl IntoIterator<Item = Cidr>) -> Vec<Cidr> {
    let all: Vec<Cidr> = cidrs.into_iter().collect::<BTreeSet<_>>().into_iter().collect();
    all.iter().filter(|c| !all.iter().any(|o| o != *c && o.covers(c))).copied().collect()
}

fn cidr_text(c: &Cidr) -> String {
    if c.prefix_len() == c.version().bits() { c.network().to_string() } else { c.to_string() }
}

/// Renders one port. `port` is the port id as text (used in chain names); `bridge` the
/// network's bridge when the port is plugged (dispatch needs it); `tap` its bridge port.
pub fn plan(port: &str, fw: &FirewallPort, bridge: Option<&str>, tap: &str) -> PortPlan {
    let mut p = PortPlan { tap: tap.to_owned(), ..Default::default() };
    let rules = &fw.rules;
    if rules.allow_all {
        p.ingress.push("accept".into());
        p.egress.push("accept".into());
    } else {
        for chain in [&mut p.ingress, &mut p.egress] {
            if rules.stateful {
                chain.push("ct state established,related accept".into());
                chain.push("ct state invalid drop".into());
            }
        }
        // DHCP and neighbour discovery always work (Neutron adds the same implicit rules).
        p.ingress.push("meta l4proto udp udp sport 67 udp dport 68 accept".into());
        p.egress.push("meta l4proto udp udp sport 68 udp dport 67 accept".into());
        for chain in [&mut p.ingress, &mut p.egress] {
            chain.push(
                "meta l4proto ipv6-icmp icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } accept"
                    .into(),
            );
        }
        // Group remote-bearing rules by everything but the remote.
        let mut grouped: BTreeMap<(u8, u8, Option<u8>, L4Match), Vec<Cidr>> = BTreeMap::new();
        let mut order: Vec<(Direction, IpVersion, Option<u8>, L4Match)> = Vec::new();
        for r in &rules.rules {
            match r.remote {
                None => {
                    let text = format!("{} accept", l4_text(r));
                    match r.direction {
                        Direction::Ingress => p.ingress.push(text),
                        Direction::Egress => p.egress.push(text),
                    }
                }
                Some(c) => {
                    let key = (r.direction as u8, r.version.number(), r.protocol, r.l4);
                    let e = grouped.entry(key).or_default();
                    if e.is_empty() {
                        order.push((r.direction, r.version, r.protocol, r.l4));
                    }
                    e.push(c);
                }
            }
        }
        for (n, (direction, version, protocol, l4)) in order.into_iter().enumerate() {
            let key = (direction as u8, version.number(), protocol, l4);
            let cidrs = grouped.remove(&key).unwrap_or_default();
            let name = format!("ps_{port}_{n}");
            let r = CompiledRule { direction, version, protocol, l4, remote: None };
            let (dir_kw, chain) = match direction {
                Direction::Ingress => ("saddr", &mut p.ingress),
                Direction::Egress => ("daddr", &mut p.egress),
            };
            chain.push(format!("{} {dir_kw} @{name} {} accept", family(version), l4_text(&r)));
            p.sets.push(SetPlan {
                name,
                version,
                elements: minimal(cidrs).iter().map(cidr_text).collect(),
            });
        }
        p.ingress.push("drop".into());
        p.egress.push("drop".into());
        // Anti-spoofing.
        let allowed = minimal(fw.allowed_sources.iter().copied());
        let v4: Vec<String> =
            allowed.iter().filter(|c| c.version() == IpVersion::V4).map(cidr_text).collect();
        let v6: Vec<String> =
            allowed.iter().filter(|c| c.version() == IpVersion::V6).map(cidr_text).collect();
        let mac = fw.mac_address.to_ascii_lowercase();
        p.antispoof.push(format!("ether saddr != {mac} drop"));
        p.antispoof
            .push("meta protocol ip ip saddr 0.0.0.0 udp sport 68 udp dport 67 return".into());
        if v4.is_empty() {
            p.antispoof.push("meta protocol ip drop".into());
            p.antispoof.push("meta protocol arp arp saddr ip != 0.0.0.0 drop".into());
        } else {
            let set = v4.join(", ");
            p.antispoof.push(format!("meta protocol ip ip saddr != {{ {set} }} drop"));
            p.antispoof
                .push(format!("meta protocol arp arp saddr ip != {{ 0.0.0.0, {set} }} drop"));
        }
        p.antispoof.push(format!("meta protocol arp arp saddr ether != {mac} drop"));
        let mut v6all = vec!["::".to_string(), "fe80::/10".to_string()];
        v6all.extend(v6);
        p.antispoof.push(format!("meta protocol ip6 ip6 saddr != {{ {} }} drop", v6all.join(", ")));
    }
    if let Some(br) = bridge {
        for c in &fw.allowed_sources {
            if c.prefix_len() != c.version().bits() {
                continue; // dispatch on host addresses only; prefixes stay anti-spoofing-only
            }
            let (i, o) = match c.version() {
                IpVersion::V4 => ("in4", "out4"),
                IpVersion::V6 => ("in6", "out6"),
            };
            let a = c.network();
            p.dispatch.push((i.into(), format!("\"{br}\" . {a} : jump {}", chain_in(port))));
            p.dispatch.push((o.into(), format!("\"{br}\" . {a} : jump {}", chain_out(port))));
        }
        p.dispatch.sort();
        p.dispatch.dedup();
    }
    p
}

/// The transaction taking a port from `old` (what is installed, if anything) to `new`.
pub fn transition(prefix: &str, port: &str, old: Option<&PortPlan>, new: &PortPlan) -> String {
    let t = sg_table(prefix);
    let a = as_table(prefix);
    let mut s = String::new();
    if let Some(old) = old {
        if old.same_shape(new) {
            // Membership only: touch set elements, nothing else.
            for (o, n) in old.sets.iter().zip(&new.sets) {
                let gone: Vec<&String> = o.elements.difference(&n.elements).collect();
                let added: Vec<&String> = n.elements.difference(&o.elements).collect();
                if !gone.is_empty() {
                    let _ = writeln!(s, "delete element inet {t} {} {{ {} }}", n.name, join(&gone));
                }
                if !added.is_empty() {
                    let _ = writeln!(s, "add element inet {t} {} {{ {} }}", n.name, join(&added));
                }
            }
            return s;
        }
    }
    let (ci, co, ca) = (chain_in(port), chain_out(port), chain_as(port));
    // Dispatch elements that go away first (they may point at chains we rewrite).
    if let Some(old) = old {
        for (map, el) in &old.dispatch {
            if !new.dispatch.contains(&(map.clone(), el.clone())) {
                let _ = writeln!(s, "delete element inet {t} {map} {{ {el} }}");
            }
        }
        if !old.antispoof.is_empty() && (new.antispoof.is_empty() || old.tap != new.tap) {
            let _ =
                writeln!(s, "delete element bridge {a} ports {{ \"{}\" : jump {ca} }}", old.tap);
        }
    }
    let _ = writeln!(s, "add chain inet {t} {ci}\nadd chain inet {t} {co}");
    let _ = writeln!(s, "flush chain inet {t} {ci}\nflush chain inet {t} {co}");
    if let Some(old) = old {
        for set in &old.sets {
            if !new.sets.iter().any(|n| n.name == set.name && n.version == set.version) {
                let _ = writeln!(s, "delete set inet {t} {}", set.name);
            }
        }
    }
    for set in &new.sets {
        let ty = match set.version {
            IpVersion::V4 => "ipv4_addr",
            IpVersion::V6 => "ipv6_addr",
        };
        let _ = writeln!(s, "add set inet {t} {} {{ type {ty}; flags interval; }}", set.name);
        let _ = writeln!(s, "flush set inet {t} {}", set.name);
        if !set.elements.is_empty() {
            let els: Vec<&String> = set.elements.iter().collect();
            let _ = writeln!(s, "add element inet {t} {} {{ {} }}", set.name, join(&els));
        }
    }
    for r in &new.ingress {
        let _ = writeln!(s, "add rule inet {t} {ci} {r}");
    }
    for r in &new.egress {
        let _ = writeln!(s, "add rule inet {t} {co} {r}");
    }
    for (map, el) in &new.dispatch {
        let _ = writeln!(s, "add element inet {t} {map} {{ {el} }}");
    }
    if !new.antispoof.is_empty() {
        let _ = writeln!(s, "add chain bridge {a} {ca}\nflush chain bridge {a} {ca}");
        for r in &new.antispoof {
            let _ = writeln!(s, "add rule bridge {a} {ca} {r}");
        }
        let _ = writeln!(s, "add element bridge {a} ports {{ \"{}\" : jump {ca} }}", new.tap);
    } else if old.is_some_and(|o| !o.antispoof.is_empty()) {
        let _ = writeln!(s, "flush chain bridge {a} {ca}\ndelete chain bridge {a} {ca}");
    }
    s
}

/// The transaction removing a port installed as `old`.
pub fn removal(prefix: &str, port: &str, old: &PortPlan) -> String {
    let t = sg_table(prefix);
    let a = as_table(prefix);
    let mut s = String::new();
    for (map, el) in &old.dispatch {
        let _ = writeln!(s, "delete element inet {t} {map} {{ {el} }}");
    }
    let (ci, co, ca) = (chain_in(port), chain_out(port), chain_as(port));
    let _ = writeln!(s, "flush chain inet {t} {ci}\nflush chain inet {t} {co}");
    let _ = writeln!(s, "delete chain inet {t} {ci}\ndelete chain inet {t} {co}");
    for set in &old.sets {
        let _ = writeln!(s, "delete set inet {t} {}", set.name);
    }
    if !old.antispoof.is_empty() {
        let _ = writeln!(s, "delete element bridge {a} ports {{ \"{}\" : jump {ca} }}", old.tap);
        let _ = writeln!(s, "flush chain bridge {a} {ca}\ndelete chain bridge {a} {ca}");
    }
    s
}

/// The element of the zone map for a bridge.
pub fn zone_element(bridge: &str, zone: u16) -> String {
    format!("\"{bridge}\" : {zone}")
}

fn join(v: &[&String]) -> String {
    v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrostack_core::id::PortId;
    use ferrostack_network::secgroup::CompiledRuleSet;

    fn rule(dir: Direction, proto: Option<u8>, l4: L4Match, remote: Option<&str>) -> CompiledRule {
        CompiledRule {
            direction: dir,
            version: IpVersion::V4,
            protocol: proto,
            l4,
            remote: remote.map(|r| r.parse().unwrap()),
        }
    }

    fn port(rules: Vec<CompiledRule>) -> FirewallPort {
        FirewallPort {
            port_id: PortId::new(),
            mac_address: "fa:16:3e:00:00:0a".into(),
            allowed_sources: vec!["10.0.0.5/32".parse().unwrap()],
            rules: CompiledRuleSet { allow_all: false, stateful: true, rules },
        }
    }

    #[test]
    fn remote_addresses_of_one_rule_shape_share_one_set() {
        let fw = port(vec![
            rule(
                Direction::Ingress,
                Some(6),
                L4Match::Ports { min: 22, max: 22 },
                Some("10.0.0.7/32"),
            ),
            rule(
                Direction::Ingress,
                Some(6),
                L4Match::Ports { min: 22, max: 22 },
                Some("10.0.0.8/32"),
            ),
            rule(Direction::Ingress, Some(1), L4Match::Any, None),
        ]);
        let p = plan("p1", &fw, Some("br0"), "tap0");
        assert_eq!(p.sets.len(), 1);
        assert_eq!(p.sets[0].elements.len(), 2);
        assert!(
            p.ingress.contains(&"ip saddr @ps_p1_0 meta l4proto 6 th dport 22 accept".to_string()),
            "{:?}",
            p.ingress
        );
        assert!(p.ingress.contains(&"meta l4proto 1 accept".to_string()));
        assert_eq!(p.ingress.last().unwrap(), "drop");
        assert!(p.dispatch.contains(&("in4".into(), "\"br0\" . 10.0.0.5 : jump pi_p1".into())));
    }

    #[test]
    fn a_membership_change_touches_only_set_elements() {
        let a = port(vec![rule(Direction::Ingress, Some(6), L4Match::Any, Some("10.0.0.7/32"))]);
        let mut b = a.clone();
        b.rules.rules.push(rule(Direction::Ingress, Some(6), L4Match::Any, Some("10.0.0.9/32")));
        let pa = plan("p", &a, Some("br0"), "t");
        let pb = plan("p", &b, Some("br0"), "t");
        let tx = transition("fs", "p", Some(&pa), &pb);
        assert_eq!(tx.trim(), "add element inet fs_sg ps_p_0 { 10.0.0.9 }");
        let back = transition("fs", "p", Some(&pb), &pa);
        assert_eq!(back.trim(), "delete element inet fs_sg ps_p_0 { 10.0.0.9 }");
        // A new rule shape rewrites the port's chains.
        let mut c = a.clone();
        c.rules.rules.push(rule(
            Direction::Egress,
            Some(17),
            L4Match::Ports { min: 53, max: 53 },
            None,
        ));
        let tx = transition("fs", "p", Some(&pa), &plan("p", &c, Some("br0"), "t"));
        assert!(tx.contains("flush chain inet fs_sg po_p"), "{tx}");
    }

    #[test]
    fn allow_all_has_no_antispoofing_and_accepts() {
        let mut fw = port(vec![]);
        fw.rules.allow_all = true;
        let p = plan("p", &fw, None, "t");
        assert!(p.antispoof.is_empty());
        assert_eq!(p.ingress, vec!["accept".to_string()]);
        assert!(p.dispatch.is_empty(), "unplugged: no dispatch");
    }

    #[test]
    fn covered_prefixes_are_dropped_from_sets() {
        let fw = port(vec![
            rule(Direction::Egress, None, L4Match::Any, Some("10.1.0.0/16")),
            rule(Direction::Egress, None, L4Match::Any, Some("10.1.2.3/32")),
        ]);
        let p = plan("p", &fw, None, "t");
        assert_eq!(p.sets[0].elements.iter().collect::<Vec<_>>(), vec!["10.1.0.0/16"]);
    }
}
