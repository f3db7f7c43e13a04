// SPDX-License-Identifier: Apache-2.0
//! Security groups as nftables: the pure renderer.
//!
//! Layout (in the namespace the bridges live in):
//!
//! * `table inet <prefix>_sg` sees bridged IP traffic through `br_netfilter`
//!   (`net.bridge.bridge-nf-call-iptables=1`), where conntrack works. Two base chains on the
//!   `forward` hook dispatch with verdict maps keyed by `bridge . address` (with
//!   `br_netfilter` the in and out interface of a bridged packet is the bridge, and IPAM makes
//!   addresses unique per network): `egress` (priority 0) on `iifname . ip saddr` to the
//!   sender's `po_<port>` chain and `ingress` (priority 1) on `oifname . ip daddr` to the
//!   receiver's `pi_<port>` chain. An `accept` in the first base chain still runs the second,
//!   so a packet between two ports passes both firewalls. A `raw` prerouting chain puts each
//!   bridge's traffic in its own conntrack zone, so tenants with the same addresses never
//!   share conntrack state.
//! * Per port: `pi_<port>` and `po_<port>` jump to a shared chain with
//!   `ct state established,related accept` (stateful sets), DHCP and neighbour discovery,
//!   then hold one rule per compiled rule and a final `drop`.
//! * **Remote groups are shared sets**: a rule compiled from a remote group matches
//!   `@rg_<group>_<4|6>`, one interval set per group holding its members, shared by every
//!   port whose rules reference the group. A membership change is an `add element` /
//!   `delete element` on that one set: O(1) in the number of ports, no chain is rewritten.
//! * `table bridge <prefix>_as` does anti-spoofing for every port with four shared sets
//!   (`ports`, `macs` = `ifname . ether_addr`, `src4`/`src6` = `ifname . address` intervals):
//!   source MAC, source IPv4/IPv6 (the port's allowed sources, plus `0.0.0.0` for DHCP
//!   discovery and link-local IPv6) and ARP sender addresses. Adding a port is adding
//!   elements.
//!
//! Every change is one `nft -f` transaction, so a packet sees either the old or the new rules.

use ferrostack_core::id::PortId;
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
/// per-port chains, sets and elements are left alone.
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
add chain inet {t} common_in
add chain inet {t} common_out
add chain inet {t} stateless_in
add chain inet {t} stateless_out
flush chain inet {t} common_in
flush chain inet {t} common_out
flush chain inet {t} stateless_in
flush chain inet {t} stateless_out
add rule inet {t} common_in ct state established,related accept
add rule inet {t} common_in ct state invalid drop
add rule inet {t} common_out ct state established,related accept
add rule inet {t} common_out ct state invalid drop
add rule inet {t} common_in jump stateless_in
add rule inet {t} common_out jump stateless_out
add rule inet {t} stateless_in meta l4proto udp udp sport 67 udp dport 68 accept
add rule inet {t} stateless_out meta l4proto udp udp sport 68 udp dport 67 accept
add rule inet {t} stateless_in meta l4proto ipv6-icmp icmpv6 type {{ nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert }} accept
add rule inet {t} stateless_out meta l4proto ipv6-icmp icmpv6 type {{ nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert }} accept
add rule inet {t} zone ct zone set iifname map @zones
add rule inet {t} egress iifname . ip saddr vmap @out4
add rule inet {t} egress iifname . ip6 saddr vmap @out6
add rule inet {t} ingress oifname . ip daddr vmap @in4
add rule inet {t} ingress oifname . ip6 daddr vmap @in6
add table bridge {a}
add set bridge {a} ports {{ type ifname; }}
add set bridge {a} macs {{ type ifname . ether_addr; }}
add set bridge {a} src4 {{ type ifname . ipv4_addr; flags interval; }}
add set bridge {a} src6 {{ type ifname . ipv6_addr; flags interval; }}
add chain bridge {a} prerouting {{ type filter hook prerouting priority filter; policy accept; }}
flush chain bridge {a} prerouting
add rule bridge {a} prerouting iifname != @ports accept
add rule bridge {a} prerouting iifname . ether saddr != @macs drop
add rule bridge {a} prerouting meta protocol ip ip saddr 0.0.0.0 udp sport 68 udp dport 67 accept
add rule bridge {a} prerouting meta protocol ip iifname . ip saddr != @src4 drop
add rule bridge {a} prerouting meta protocol arp iifname . arp saddr ether != @macs drop
add rule bridge {a} prerouting meta protocol arp arp saddr ip != 0.0.0.0 iifname . arp saddr ip != @src4 drop
add rule bridge {a} prerouting meta protocol ip6 ip6 saddr != fe80::/10 ip6 saddr != :: iifname . ip6 saddr != @src6 drop
"
    )
}

/// Everything the driver installs for one port.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PortPlan {
    /// Rules of `pi_<port>`.
    pub ingress: Vec<String>,
    /// Rules of `po_<port>`.
    pub egress: Vec<String>,
    /// Shared remote-group sets the rules use, with the members this port's rules carry.
    pub groups: BTreeMap<String, (IpVersion, BTreeSet<String>)>,
    /// Elements of `in4`/`in6`/`out4`/`out6` as `(map, element)`.
    pub dispatch: Vec<(String, String)>,
    /// Elements of the anti-spoofing sets as `(set, element)`; empty: no anti-spoofing.
    pub antispoof: Vec<(String, String)>,
}

impl PortPlan {
    /// Whether `other` differs from `self` only in group members (the O(1) path).
    pub fn same_shape(&self, other: &PortPlan) -> bool {
        self.ingress == other.ingress
            && self.egress == other.egress
            && self.dispatch == other.dispatch
            && self.antispoof == other.antispoof
            && self.groups.keys().eq(other.groups.keys())
    }
}

/// The shared remote-group sets: their members and which ports use them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Groups {
    sets: BTreeMap<String, (IpVersion, BTreeSet<String>, BTreeSet<PortId>)>,
}

impl Groups {
    /// The members the set `name` holds.
    pub fn members(&self, name: &str) -> Option<&BTreeSet<String>> {
        self.sets.get(name).map(|s| &s.1)
    }

    /// Commands making the sets `new` needs exist with its members (before the port's rules),
    /// and commands deleting the sets nobody uses any more (after the port's chains were
    /// flushed); updates the bookkeeping.
    pub fn update(
        &mut self,
        table: &str,
        port: PortId,
        old: Option<&PortPlan>,
        new: Option<&PortPlan>,
    ) -> (String, String) {
        let (mut pre, mut post) = (String::new(), String::new());
        if let Some(new) = new {
            for (name, (version, members)) in &new.groups {
                let entry = self.sets.entry(name.clone()).or_insert_with(|| {
                    let ty = if *version == IpVersion::V4 { "ipv4_addr" } else { "ipv6_addr" };
                    let _ = writeln!(
                        pre,
                        "add set inet {table} {name} {{ type {ty}; flags interval; }}"
                    );
                    (*version, BTreeSet::new(), BTreeSet::new())
                });
                let gone: Vec<&String> = entry.1.difference(members).collect();
                let added: Vec<&String> = members.difference(&entry.1).collect();
                if !gone.is_empty() {
                    let _ =
                        writeln!(pre, "delete element inet {table} {name} {{ {} }}", join(&gone));
                }
                if !added.is_empty() {
                    let _ = writeln!(pre, "add element inet {table} {name} {{ {} }}", join(&added));
                }
                entry.1 = members.clone();
                entry.2.insert(port);
            }
        }
        if let Some(old) = old {
            for name in old.groups.keys() {
                if new.is_some_and(|n| n.groups.contains_key(name)) {
                    continue;
                }
                if let Some(e) = self.sets.get_mut(name) {
                    e.2.remove(&port);
                    if e.2.is_empty() {
                        self.sets.remove(name);
                        let _ = writeln!(post, "delete set inet {table} {name}");
                    }
                }
            }
        }
        (pre, post)
    }
}

fn chain_in(port: &str) -> String {
    format!("pi_{port}")
}
fn chain_out(port: &str) -> String {
    format!("po_{port}")
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

/// Prefixes without entries covered by others (interval sets refuse overlaps).
fn minimal(cidrs: impl IntoIterator<Item = Cidr>) -> Vec<Cidr> {
    let all: Vec<Cidr> = cidrs.into_iter().collect::<BTreeSet<_>>().into_iter().collect();
    all.iter().filter(|c| !all.iter().any(|o| o != *c && o.covers(c))).copied().collect()
}

fn cidr_text(c: &Cidr) -> String {
    if c.prefix_len() == c.version().bits() { c.network().to_string() } else { c.to_string() }
}

/// The shared set of remote group `g` for family `v`.
pub fn group_set(g: &ferrostack_network::types::SecurityGroupId, v: IpVersion) -> String {
    format!("rg_{}_{}", g.0.simple(), v.number())
}

/// Renders one port. `port` is the port id as text (used in chain names); `bridge` the
/// network's bridge when the port is plugged (dispatch needs it); `tap` its bridge port.
pub fn plan(port: &str, fw: &FirewallPort, bridge: Option<&str>, tap: &str) -> PortPlan {
    let mut p = PortPlan::default();
    let rules = &fw.rules;
    if rules.allow_all {
        p.ingress.push("accept".into());
        p.egress.push("accept".into());
    } else {
        // Conntrack state, DHCP and neighbour discovery (Neutron adds the same implicit
        // rules) live in shared chains: one jump per port chain instead of four rules.
        if rules.stateful {
            p.ingress.push("jump common_in".into());
            p.egress.push("jump common_out".into());
        } else {
            p.ingress.push("jump stateless_in".into());
            p.egress.push("jump stateless_out".into());
        }
        let mut group_rules: BTreeSet<(u8, u8, Option<u8>, L4Match, String)> = BTreeSet::new();
        for r in &rules.rules {
            let (kw, chain) = match r.direction {
                Direction::Ingress => ("saddr", &mut p.ingress),
                Direction::Egress => ("daddr", &mut p.egress),
            };
            match (r.remote, r.remote_group) {
                (None, _) => chain.push(format!("{} accept", l4_text(r))),
                (Some(c), None) => chain.push(format!(
                    "{} {kw} {} {} accept",
                    family(r.version),
                    cidr_text(&c),
                    l4_text(r)
                )),
                (Some(c), Some(g)) => {
                    let name = group_set(&g, r.version);
                    let entry = p
                        .groups
                        .entry(name.clone())
                        .or_insert_with(|| (r.version, BTreeSet::new()));
                    entry.1.insert(cidr_text(&c));
                    // One rule per (shape, group), in the position of its first member.
                    if group_rules.insert((
                        r.direction as u8,
                        r.version.number(),
                        r.protocol,
                        r.l4,
                        name.clone(),
                    )) {
                        chain.push(format!(
                            "{} {kw} @{name} {} accept",
                            family(r.version),
                            l4_text(r)
                        ));
                    }
                }
            }
        }
        p.ingress.push("drop".into());
        p.egress.push("drop".into());
        // Anti-spoofing elements.
        let mac = fw.mac_address.to_ascii_lowercase();
        p.antispoof.push(("ports".into(), format!("\"{tap}\"")));
        p.antispoof.push(("macs".into(), format!("\"{tap}\" . {mac}")));
        for c in minimal(fw.allowed_sources.iter().copied()) {
            let set = if c.version() == IpVersion::V4 { "src4" } else { "src6" };
            p.antispoof.push((set.into(), format!("\"{tap}\" . {}", cidr_text(&c))));
        }
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

/// The transaction taking a port from `old` (what is installed, if anything) to `new`;
/// `groups` is updated to match.
pub fn transition(
    prefix: &str,
    port: PortId,
    old: Option<&PortPlan>,
    new: &PortPlan,
    groups: &mut Groups,
) -> String {
    let t = sg_table(prefix);
    let a = as_table(prefix);
    let id = port.simple();
    let (pre, post) = groups.update(&t, port, old, Some(new));
    let mut s = pre;
    if old.is_some_and(|o| o.same_shape(new)) {
        // Membership only: the shared sets were updated above, nothing else changes.
        s.push_str(&post);
        return s;
    }
    let (ci, co) = (chain_in(&id), chain_out(&id));
    if let Some(old) = old {
        for (map, el) in &old.dispatch {
            if !new.dispatch.contains(&(map.clone(), el.clone())) {
                let _ = writeln!(s, "delete element inet {t} {map} {{ {el} }}");
            }
        }
        for (set, el) in &old.antispoof {
            if !new.antispoof.contains(&(set.clone(), el.clone())) {
                let _ = writeln!(s, "delete element bridge {a} {set} {{ {el} }}");
            }
        }
    }
    let _ = writeln!(s, "add chain inet {t} {ci}\nadd chain inet {t} {co}");
    if old.is_some() {
        let _ = writeln!(s, "flush chain inet {t} {ci}\nflush chain inet {t} {co}");
    }
    for r in &new.ingress {
        let _ = writeln!(s, "add rule inet {t} {ci} {r}");
    }
    for r in &new.egress {
        let _ = writeln!(s, "add rule inet {t} {co} {r}");
    }
    for (map, el) in &new.dispatch {
        if !old.is_some_and(|o| o.dispatch.contains(&(map.clone(), el.clone()))) {
            let _ = writeln!(s, "add element inet {t} {map} {{ {el} }}");
        }
    }
    for (set, el) in &new.antispoof {
        if !old.is_some_and(|o| o.antispoof.contains(&(set.clone(), el.clone()))) {
            let _ = writeln!(s, "add element bridge {a} {set} {{ {el} }}");
        }
    }
    s.push_str(&post);
    s
}

/// The transaction removing a port installed as `old`; `groups` is updated to match.
pub fn removal(prefix: &str, port: PortId, old: &PortPlan, groups: &mut Groups) -> String {
    let t = sg_table(prefix);
    let a = as_table(prefix);
    let id = port.simple();
    let mut s = String::new();
    for (map, el) in &old.dispatch {
        let _ = writeln!(s, "delete element inet {t} {map} {{ {el} }}");
    }
    for (set, el) in &old.antispoof {
        let _ = writeln!(s, "delete element bridge {a} {set} {{ {el} }}");
    }
    let (ci, co) = (chain_in(&id), chain_out(&id));
    let _ = writeln!(s, "flush chain inet {t} {ci}\nflush chain inet {t} {co}");
    let _ = writeln!(s, "delete chain inet {t} {ci}\ndelete chain inet {t} {co}");
    let (_, post) = groups.update(&t, port, Some(old), None);
    s.push_str(&post);
    s
}

/// Merges the `add element` commands of a transaction into one command per set or map,
/// placed after everything else (elements never need to precede a chain or rule; they may
/// jump to chains the transaction creates). nft's per-command cost dominates large batches.
pub fn coalesce(tx: &str) -> String {
    let mut out = String::with_capacity(tx.len());
    let mut merged: Vec<(String, Vec<String>)> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for line in tx.lines() {
        let parsed = line.strip_prefix("add element ").and_then(|rest| {
            let open = rest.find(" { ")?;
            let body = rest[open + 3..].strip_suffix(" }")?;
            Some((rest[..open].to_owned(), body.to_owned()))
        });
        match parsed {
            Some((target, body)) => {
                let i = *index.entry(target.clone()).or_insert_with(|| {
                    merged.push((target, Vec::new()));
                    merged.len() - 1
                });
                merged[i].1.push(body);
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    for (target, bodies) in merged {
        let _ = writeln!(out, "add element {target} {{ {} }}", bodies.join(", "));
    }
    out
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
    use ferrostack_network::secgroup::CompiledRuleSet;
    use ferrostack_network::types::SecurityGroupId;

    fn rule(
        dir: Direction,
        proto: Option<u8>,
        l4: L4Match,
        remote: Option<&str>,
        g: Option<SecurityGroupId>,
    ) -> CompiledRule {
        CompiledRule {
            direction: dir,
            version: IpVersion::V4,
            protocol: proto,
            l4,
            remote: remote.map(|r| r.parse().unwrap()),
            remote_group: g,
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
    fn members_of_a_remote_group_are_one_shared_set() {
        let g = SecurityGroupId::new();
        let ssh = L4Match::Ports { min: 22, max: 22 };
        let fw = port(vec![
            rule(Direction::Ingress, Some(6), ssh, Some("10.0.0.7/32"), Some(g)),
            rule(Direction::Ingress, Some(6), ssh, Some("10.0.0.8/32"), Some(g)),
            rule(Direction::Ingress, Some(6), ssh, Some("192.0.2.0/24"), None),
            rule(Direction::Ingress, Some(1), L4Match::Any, None, None),
        ]);
        let p = plan("p1", &fw, Some("br0"), "tap0");
        let name = group_set(&g, IpVersion::V4);
        assert_eq!(p.groups[&name].1.len(), 2);
        assert!(
            p.ingress.contains(&format!("ip saddr @{name} meta l4proto 6 th dport 22 accept")),
            "{:?}",
            p.ingress
        );
        assert!(
            p.ingress
                .contains(&"ip saddr 192.0.2.0/24 meta l4proto 6 th dport 22 accept".to_string())
        );
        assert!(p.ingress.contains(&"meta l4proto 1 accept".to_string()));
        assert_eq!(p.ingress.last().unwrap(), "drop");
        assert!(p.dispatch.contains(&("in4".into(), "\"br0\" . 10.0.0.5 : jump pi_p1".into())));
        assert!(p.antispoof.contains(&("src4".into(), "\"tap0\" . 10.0.0.5".into())));
    }

    #[test]
    fn a_membership_change_is_one_set_update_for_all_ports() {
        let g = SecurityGroupId::new();
        let r = |m: &str| rule(Direction::Ingress, Some(6), L4Match::Any, Some(m), Some(g));
        let mut groups = Groups::default();
        let ports: Vec<FirewallPort> = (0..3).map(|_| port(vec![r("10.0.0.7/32")])).collect();
        let plans: Vec<PortPlan> =
            ports.iter().map(|f| plan(&f.port_id.simple(), f, Some("br0"), "t")).collect();
        for (f, p) in ports.iter().zip(&plans) {
            transition("fs", f.port_id, None, p, &mut groups);
        }
        // 10.0.0.9 joins: the first port's update changes the shared set...
        let mut txs = Vec::new();
        for (f, old) in ports.iter().zip(&plans) {
            let mut nf = f.clone();
            nf.rules.rules.push(r("10.0.0.9/32"));
            let new = plan(&f.port_id.simple(), &nf, Some("br0"), "t");
            txs.push(transition("fs", f.port_id, Some(old), &new, &mut groups));
        }
        let name = group_set(&g, IpVersion::V4);
        assert_eq!(txs[0].trim(), format!("add element inet fs_sg {name} {{ 10.0.0.9 }}"));
        // ...and the other ports have nothing left to do.
        assert!(txs[1].is_empty() && txs[2].is_empty(), "{txs:?}");
        // The set goes with its last user.
        let mut last = String::new();
        for (f, p) in ports.iter().zip(&plans) {
            last = removal("fs", f.port_id, p, &mut groups);
        }
        assert!(last.contains(&format!("delete set inet fs_sg {name}")), "{last}");
    }

    #[test]
    fn coalescing_merges_element_adds_per_set_after_the_rest() {
        let tx = "add element inet t in4 { a }\nadd chain inet t c\nadd element inet t in4 { b }\nadd element bridge x ports { \"t\" }\n";
        assert_eq!(
            coalesce(tx),
            "add chain inet t c\nadd element inet t in4 { a, b }\nadd element bridge x ports { \"t\" }\n"
        );
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
    fn covered_allowed_sources_are_dropped_from_interval_sets() {
        let mut fw = port(vec![]);
        fw.allowed_sources = vec!["10.1.0.0/16".parse().unwrap(), "10.1.2.3/32".parse().unwrap()];
        let p = plan("p", &fw, None, "t");
        let v4: Vec<_> = p.antispoof.iter().filter(|(s, _)| s == "src4").collect();
        assert_eq!(v4, vec![&("src4".to_string(), "\"t\" . 10.1.0.0/16".to_string())]);
    }
}
