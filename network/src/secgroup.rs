// SPDX-License-Identifier: Apache-2.0
//! The security-group compiler: a pure function from a port's security-group rules (with
//! remote-group membership resolved to addresses) to an ordered, de-duplicated set of
//! accept rules that any firewall driver (nftables, OVS flows, iptables) can render one to one.
//!
//! Semantics (Neutron's):
//!
//! * Rules are allow-only; anything no rule allows is dropped.
//! * A stateful set also accepts packets of established connections (conntrack), so replies
//!   to allowed traffic need no rule. A stateless set does not.
//! * `protocol: None` is any protocol; `port_range_*` bound the destination port for TCP, UDP,
//!   SCTP and UDP-Lite, and are the ICMP type and code for ICMP and ICMPv6.
//! * `remote_ip_prefix` matches the source (ingress) or destination (egress) address;
//!   `remote_group_id` matches the fixed IPs of the group's member ports; neither means any.
//! * A port with port security disabled accepts everything.

use crate::cidr::{Cidr, IpVersion};
use crate::types::{Direction, SecurityGroupId, SecurityGroupRule};
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

/// IANA protocol numbers the API names.
pub fn protocol_number(name: &str, version: IpVersion) -> Option<u8> {
    let n = match name.to_ascii_lowercase().as_str() {
        "tcp" => 6,
        "udp" => 17,
        "icmp" => match version {
            IpVersion::V4 => 1,
            IpVersion::V6 => 58,
        },
        "ipv6-icmp" | "icmpv6" => 58,
        "sctp" => 132,
        "udplite" => 136,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "igmp" => 2,
        "ipip" => 4,
        "ospf" => 89,
        "vrrp" => 112,
        "pgm" => 113,
        "dccp" => 33,
        "egp" => 8,
        "rsvp" => 46,
        "ipv6-encap" => 41,
        "ipv6-frag" => 44,
        "ipv6-nonxt" => 59,
        "ipv6-opts" => 60,
        "ipv6-route" => 43,
        other => {
            if other.is_empty() || other.len() > 3 || !other.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            return other.parse().ok();
        }
    };
    Some(n)
}

/// Whether protocol `p` carries destination ports.
pub fn has_ports(p: u8) -> bool {
    matches!(p, 6 | 17 | 132 | 136)
}

/// Whether protocol `p` is ICMP or ICMPv6.
pub fn is_icmp(p: u8) -> bool {
    matches!(p, 1 | 58)
}

/// What a compiled rule matches beyond the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum L4Match {
    /// Any packet of the protocol.
    Any,
    /// Destination ports in `min..=max`.
    Ports {
        /// Lowest port.
        min: u16,
        /// Highest port.
        max: u16,
    },
    /// ICMP type, and code when given.
    Icmp {
        /// The type.
        icmp_type: u8,
        /// The code, or any.
        code: Option<u8>,
    },
}

/// One accept rule of a compiled set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CompiledRule {
    /// Direction.
    pub direction: Direction,
    /// Address family.
    pub version: IpVersion,
    /// Protocol number, or any.
    pub protocol: Option<u8>,
    /// Port or ICMP match.
    pub l4: L4Match,
    /// Remote prefix (source on ingress, destination on egress), or any.
    pub remote: Option<Cidr>,
    /// The remote group `remote` is a member address of, for rules compiled from a
    /// `remote_group_id`. Such rules are never dropped as covered by another rule, so every
    /// port sees a group's complete member list, and a firewall can keep each group's members
    /// in one shared set (a membership change is then one set update, not a rewrite of every
    /// port).
    pub remote_group: Option<SecurityGroupId>,
}

impl PartialOrd for Direction {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Direction {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (*self as u8).cmp(&(*other as u8))
    }
}

impl CompiledRule {
    /// Whether this rule accepts `p`.
    pub fn matches(&self, p: &Packet) -> bool {
        if self.direction != p.direction || self.version != IpVersion::of(&p.remote) {
            return false;
        }
        if let Some(proto) = self.protocol
            && proto != p.protocol
        {
            return false;
        }
        let l4 = match self.l4 {
            L4Match::Any => true,
            L4Match::Ports { min, max } => p.dst_port.is_some_and(|d| d >= min && d <= max),
            L4Match::Icmp { icmp_type, code } => {
                p.icmp_type == Some(icmp_type) && code.is_none_or(|c| p.icmp_code == Some(c))
            }
        };
        l4 && self.remote.is_none_or(|c| c.contains(&p.remote))
    }

    /// Whether every packet this rule matches is also matched by `other`.
    pub fn subsumed_by(&self, other: &CompiledRule) -> bool {
        if self.direction != other.direction || self.version != other.version {
            return false;
        }
        // A group member's rule is only ever covered by a rule of the same group: groups
        // stay complete (see [`CompiledRule::remote_group`]).
        if self.remote_group.is_some() && self.remote_group != other.remote_group {
            return false;
        }
        let proto_ok = match (other.protocol, self.protocol) {
            (None, _) => true,
            (Some(a), Some(b)) => a == b,
            (Some(_), None) => false,
        };
        if !proto_ok {
            return false;
        }
        let l4_ok = match (other.l4, self.l4) {
            (L4Match::Any, _) => other.protocol.is_none() || other.protocol == self.protocol,
            (L4Match::Ports { min: a, max: b }, L4Match::Ports { min: c, max: d }) => {
                a <= c && d <= b
            }
            (
                L4Match::Icmp { icmp_type: t1, code: c1 },
                L4Match::Icmp { icmp_type: t2, code: c2 },
            ) => t1 == t2 && (c1.is_none() || c1 == c2),
            _ => false,
        };
        // An "any protocol" rule with L4 constraints cannot exist, so `Any` above is exact.
        l4_ok
            && match (other.remote, self.remote) {
                (None, _) => true,
                (Some(a), Some(b)) => a.covers(&b),
                (Some(_), None) => false,
            }
    }
}

/// A packet as the firewall of one port sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    /// Into or out of the port.
    pub direction: Direction,
    /// Protocol number.
    pub protocol: u8,
    /// Destination port (TCP, UDP, SCTP, UDP-Lite).
    pub dst_port: Option<u16>,
    /// ICMP type.
    pub icmp_type: Option<u8>,
    /// ICMP code.
    pub icmp_code: Option<u8>,
    /// The far end: source on ingress, destination on egress.
    pub remote: IpAddr,
    /// Whether the packet belongs to a connection conntrack already accepted.
    pub established: bool,
}

/// A port's compiled firewall: ordered accept rules per direction, then drop.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CompiledRuleSet {
    /// Port security is off: accept everything.
    pub allow_all: bool,
    /// Accept packets of established connections first.
    pub stateful: bool,
    /// Accept rules, sorted and without redundant entries.
    pub rules: Vec<CompiledRule>,
}

impl CompiledRuleSet {
    /// Whether the set accepts `p`.
    pub fn allows(&self, p: &Packet) -> bool {
        self.allow_all
            || (self.stateful && p.established)
            || self.rules.iter().any(|r| r.matches(p))
    }
}

/// Compiles a port's rules.
///
/// `rules` are the rules of every group on the port; `members` gives the fixed IPs of each
/// remote group's ports (a group absent from the map has no members); `stateful` is the
/// groups' common statefulness; `port_security` off yields an accept-all set. Rules that
/// cannot match anything (malformed protocol, prefix of the wrong family) are dropped rather
/// than widened.
pub fn compile(
    rules: &[SecurityGroupRule],
    members: &HashMap<SecurityGroupId, Vec<IpAddr>>,
    stateful: bool,
    port_security: bool,
) -> CompiledRuleSet {
    if !port_security {
        return CompiledRuleSet { allow_all: true, stateful, rules: Vec::new() };
    }
    let mut out: BTreeSet<CompiledRule> = BTreeSet::new();
    for rule in rules {
        let version = match rule.ethertype.as_str() {
            "IPv4" => IpVersion::V4,
            "IPv6" => IpVersion::V6,
            _ => continue,
        };
        let protocol = match rule.protocol.as_deref() {
            None | Some("any") => None,
            Some(name) => match protocol_number(name, version) {
                Some(n) => Some(n),
                None => continue,
            },
        };
        let l4 = match protocol {
            Some(p) if has_ports(p) => match (rule.port_range_min, rule.port_range_max) {
                (None, None) => L4Match::Any,
                (min, max) => {
                    let min = min.or(max).unwrap_or(1);
                    let max = max.or(Some(min)).unwrap_or(min);
                    match (u16::try_from(min), u16::try_from(max)) {
                        (Ok(a), Ok(b)) if a <= b => L4Match::Ports { min: a, max: b },
                        _ => continue,
                    }
                }
            },
            Some(p) if is_icmp(p) => match (rule.port_range_min, rule.port_range_max) {
                (None, None) => L4Match::Any,
                (Some(t), code) => match (u8::try_from(t), code.map(u8::try_from)) {
                    (Ok(t), None) => L4Match::Icmp { icmp_type: t, code: None },
                    (Ok(t), Some(Ok(c))) => L4Match::Icmp { icmp_type: t, code: Some(c) },
                    _ => continue,
                },
                (None, Some(_)) => continue,
            },
            Some(_) => L4Match::Any,
            None => {
                if rule.port_range_min.is_some() || rule.port_range_max.is_some() {
                    continue;
                }
                L4Match::Any
            }
        };
        let remotes: Vec<(Option<Cidr>, Option<SecurityGroupId>)> =
            match (&rule.remote_ip_prefix, &rule.remote_group_id) {
                (Some(_), Some(_)) => continue,
                (Some(prefix), None) => {
                    if prefix.version() != version {
                        continue;
                    }
                    if prefix.prefix_len() == 0 {
                        vec![(None, None)]
                    } else {
                        vec![(Some(*prefix), None)]
                    }
                }
                (None, Some(group)) => members
                    .get(group)
                    .map(|ips| {
                        ips.iter()
                            .filter(|ip| IpVersion::of(ip) == version)
                            .map(|ip| (Some(Cidr::host(*ip)), Some(*group)))
                            .collect()
                    })
                    .unwrap_or_default(),
                (None, None) => vec![(None, None)],
            };
        for (remote, remote_group) in remotes {
            out.insert(CompiledRule {
                direction: rule.direction,
                version,
                protocol,
                l4,
                remote,
                remote_group,
            });
        }
    }
    // Drop rules another rule already covers. Among identical rules BTreeSet kept one.
    let all: Vec<CompiledRule> = out.into_iter().collect();
    let rules = all
        .iter()
        .enumerate()
        .filter(|(i, r)| {
            !all.iter()
                .enumerate()
                .any(|(j, o)| *i != j && r.subsumed_by(o) && (!o.subsumed_by(r) || j < *i))
        })
        .map(|(_, r)| *r)
        .collect();
    CompiledRuleSet { allow_all: false, stateful, rules }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrostack_core::id::ProjectId;
    use proptest::prelude::*;

    /// The reference: evaluates the API rules packet by packet, without compiling.
    fn naive_allows(
        rules: &[SecurityGroupRule],
        members: &HashMap<SecurityGroupId, Vec<IpAddr>>,
        stateful: bool,
        port_security: bool,
        p: &Packet,
    ) -> bool {
        if !port_security || (stateful && p.established) {
            return true;
        }
        let pv = IpVersion::of(&p.remote);
        rules.iter().any(|r| {
            let version = if r.ethertype == "IPv4" { IpVersion::V4 } else { IpVersion::V6 };
            if r.direction != p.direction || version != pv {
                return false;
            }
            let proto = match r.protocol.as_deref() {
                None => None,
                Some("tcp") => Some(6u8),
                Some("udp") => Some(17),
                Some("icmp") => Some(if version == IpVersion::V4 { 1 } else { 58 }),
                Some(n) => Some(n.parse::<u8>().unwrap()),
            };
            if proto.is_some_and(|x| x != p.protocol) {
                return false;
            }
            let l4 = match proto {
                Some(6 | 17) => match (r.port_range_min, r.port_range_max) {
                    (None, None) => true,
                    (Some(a), Some(b)) => {
                        p.dst_port.is_some_and(|d| a <= d as u32 && d as u32 <= b)
                    }
                    _ => unreachable!(),
                },
                Some(1 | 58) => match (r.port_range_min, r.port_range_max) {
                    (None, _) => true,
                    (Some(t), c) => {
                        p.icmp_type == Some(t as u8)
                            && c.is_none_or(|c| p.icmp_code == Some(c as u8))
                    }
                },
                _ => true,
            };
            let remote = match (&r.remote_ip_prefix, &r.remote_group_id) {
                (Some(c), _) => c.contains(&p.remote),
                (None, Some(g)) => members.get(g).is_some_and(|ips| ips.contains(&p.remote)),
                (None, None) => true,
            };
            l4 && remote
        })
    }

    fn rule(
        direction: Direction,
        v6: bool,
        protocol: Option<&str>,
        ports: Option<(u32, Option<u32>)>,
        prefix: Option<Cidr>,
        group: Option<SecurityGroupId>,
    ) -> SecurityGroupRule {
        let p = ProjectId::new();
        SecurityGroupRule {
            id: crate::types::SecurityGroupRuleId::new(),
            security_group_id: SecurityGroupId::new(),
            project_id: p.clone(),
            tenant_id: p,
            direction,
            ethertype: if v6 { "IPv6" } else { "IPv4" }.into(),
            protocol: protocol.map(str::to_owned),
            port_range_min: ports.map(|x| x.0),
            port_range_max: ports.and_then(|x| x.1),
            remote_ip_prefix: prefix,
            remote_group_id: group,
            remote_address_group_id: None,
            normalized_cidr: prefix,
            description: String::new(),
            created_at: String::new(),
            updated_at: String::new(),
            revision_number: 0,
        }
    }

    // Small address space (10.0.0.0/28 and fd00::/124) so that random packets hit rules often.
    fn addr(v6: bool, low: u8) -> IpAddr {
        if v6 {
            IpAddr::V6(std::net::Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, (low & 15) as u16))
        } else {
            IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, low & 15))
        }
    }

    fn arb_rule(groups: Vec<SecurityGroupId>) -> impl Strategy<Value = SecurityGroupRule> {
        (
            any::<bool>(),
            any::<bool>(),
            prop_oneof![
                Just(None),
                Just(Some("tcp")),
                Just(Some("udp")),
                Just(Some("icmp")),
                Just(Some("47"))
            ],
            (0u32..12, 0u32..12, any::<bool>(), any::<bool>()),
            (0u8..16, 28u8..=32, 0usize..3, 0usize..groups.len()),
        )
            .prop_map(
                move |(
                    ingress,
                    v6,
                    proto,
                    (a, b, has_ports, has_code),
                    (low, len, remote_kind, g),
                )| {
                    let dir = if ingress { Direction::Ingress } else { Direction::Egress };
                    let ports = match proto {
                        Some("tcp") | Some("udp") if has_ports => Some((a.min(b), Some(a.max(b)))),
                        Some("icmp") if has_ports => Some((a, has_code.then_some(b))),
                        _ => None,
                    };
                    let (prefix, group) = match remote_kind {
                        0 => (None, None),
                        1 => {
                            let len = if v6 { len + 96 } else { len };
                            (Some(Cidr::new(addr(v6, low), len).unwrap()), None)
                        }
                        _ => (None, Some(groups[g])),
                    };
                    rule(dir, v6, proto, ports, prefix, group)
                },
            )
    }

    fn arb_packet() -> impl Strategy<Value = Packet> {
        (
            any::<bool>(),
            any::<bool>(),
            prop_oneof![Just(6u8), Just(17), Just(1), Just(58), Just(47)],
            0u16..14,
            0u8..14,
            0u8..4,
            0u8..16,
            any::<bool>(),
        )
            .prop_map(|(ingress, v6, proto, port, t, c, low, est)| {
                let proto = match (proto, v6) {
                    (1, true) => 58,
                    (58, false) => 1,
                    (p, _) => p,
                };
                Packet {
                    direction: if ingress { Direction::Ingress } else { Direction::Egress },
                    protocol: proto,
                    dst_port: has_ports(proto).then_some(port),
                    icmp_type: is_icmp(proto).then_some(t),
                    icmp_code: is_icmp(proto).then_some(c),
                    remote: addr(v6, low),
                    established: est && low % 5 == 0,
                }
            })
    }

    proptest! {
        #![proptest_config(ferrostack_core::testing::proptest_config(400))]
        #[test]
        fn compiled_set_allows_exactly_what_the_rules_allow(
            rules in prop::collection::vec(arb_rule(vec![SecurityGroupId(uuid::Uuid::from_u128(1)), SecurityGroupId(uuid::Uuid::from_u128(2))]), 0..8),
            members_a in prop::collection::vec((any::<bool>(), 0u8..16), 0..4),
            packets in prop::collection::vec(arb_packet(), 1..64),
            stateful in any::<bool>(),
            port_security in prop::sample::select(vec![true, true, true, false]),
        ) {
            let mut members = HashMap::new();
            members.insert(
                SecurityGroupId(uuid::Uuid::from_u128(1)),
                members_a.iter().map(|(v6, low)| addr(*v6, *low)).collect::<Vec<_>>(),
            );
            // Group 2 has no members: its rules must match nothing.
            let set = compile(&rules, &members, stateful, port_security);
            for p in &packets {
                prop_assert_eq!(
                    set.allows(p),
                    naive_allows(&rules, &members, stateful, port_security, p),
                    "packet {:?} rules {:?} compiled {:?}", p, rules, set
                );
            }
            // The output is minimal: no rule is covered by another.
            for (i, a) in set.rules.iter().enumerate() {
                for (j, b) in set.rules.iter().enumerate() {
                    prop_assert!(i == j || !a.subsumed_by(b), "{:?} redundant with {:?}", a, b);
                }
            }
        }
    }

    #[test]
    fn default_group_rules_compile_to_egress_any_and_ingress_from_members() {
        let g = SecurityGroupId::new();
        let rules = vec![
            rule(Direction::Egress, false, None, None, None, None),
            rule(Direction::Egress, true, None, None, None, None),
            rule(Direction::Ingress, false, None, None, None, Some(g)),
            rule(Direction::Ingress, true, None, None, None, Some(g)),
            // Redundant with the egress-any rule above.
            rule(Direction::Egress, false, Some("tcp"), Some((22, Some(22))), None, None),
        ];
        let mut members = HashMap::new();
        members.insert(g, vec!["10.0.0.5".parse().unwrap()]);
        let set = compile(&rules, &members, true, true);
        assert_eq!(set.rules.len(), 3, "{set:?}");
        let from_member = Packet {
            direction: Direction::Ingress,
            protocol: 6,
            dst_port: Some(22),
            icmp_type: None,
            icmp_code: None,
            remote: "10.0.0.5".parse().unwrap(),
            established: false,
        };
        assert!(set.allows(&from_member));
        assert!(!set.allows(&Packet { remote: "10.0.0.6".parse().unwrap(), ..from_member }));
        assert!(set.allows(&Packet {
            remote: "10.0.0.6".parse().unwrap(),
            established: true,
            ..from_member
        }));
    }
}
