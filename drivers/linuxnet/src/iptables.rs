// SPDX-License-Identifier: Apache-2.0
//! The same security groups rendered the way Neutron's iptables firewall driver (hybrid
//! Linux-bridge flavour) renders them: per port an ingress, an egress and a spoofing chain,
//! `physdev` dispatch from a shared `sg-chain`, and the whole IPv4 `filter` table loaded with
//! one `iptables-restore`. Used by the benchmark (`examples/sg_bench.rs`) as the baseline; not
//! a firewall driver.
//!
//! Two renderings, the two values of Neutron's `[securitygroup] enable_ipset`:
//!
//! * [`IpsetFirewall`] (`enable_ipset = True`, Neutron's default): the members of a remote
//!   group live in one ipset per (group, ethertype), named as Neutron's `IpsetManager` names
//!   them ([`ipset_name`]: `NIPv4` + the group id, cut to 29 characters). Each port carries one
//!   `-m set --match-set <name> src|dst` rule per remote-group rule, whatever the number of
//!   members, and a membership change is an ipset update ([`IpsetFirewall::changes_to`]): up to
//!   four added or removed members are `ipset add -exist` / `ipset del` commands, more are a
//!   new `<name>-n` set filled by `ipset restore` and swapped in with `ipset swap`. The
//!   `filter` table is only reloaded when the rules themselves change (a group gaining its
//!   first or losing its last member).
//! * [`restore`] (`enable_ipset = False`): every remote-group member is a rule of its own in
//!   every port's chain, so a membership change rewrites the table.
//!
//! Only IPv4 is rendered (the benchmark's rules are IPv4; `ip6tables-restore` would take the
//! IPv6 half).

use ferrostack_network::backend::FirewallPort;
use ferrostack_network::cidr::{Cidr, IpVersion};
use ferrostack_network::secgroup::{CompiledRule, L4Match};
use ferrostack_network::types::{Direction, SecurityGroupId};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;

/// Neutron's `IPSET_ADD_BULK_THRESHOLD`: a change of at least this many members refreshes the
/// set by restore-and-swap instead of single adds and deletes.
pub const IPSET_BULK_THRESHOLD: usize = 5;
/// The suffix of the temporary set a refresh fills before swapping it in.
pub const IPSET_SWAP_SUFFIX: &str = "-n";
/// Longest set name: the kernel allows 31 characters, minus room for [`IPSET_SWAP_SUFFIX`].
pub const IPSET_NAME_MAX: usize = 31 - IPSET_SWAP_SUFFIX.len();

/// The name of the ipset holding `group`'s `version` members: `N` + ethertype + the
/// hyphenated group id, cut to [`IPSET_NAME_MAX`] characters (Neutron's
/// `IpsetManager.get_name`), e.g. `NIPv4a1b2c3d4-e5f6-4789-abcd-`.
pub fn ipset_name(group: SecurityGroupId, version: IpVersion) -> String {
    let mut name = format!("N{}{group}", version.ethertype());
    name.truncate(IPSET_NAME_MAX);
    name
}

/// `-p tcp -m tcp --dport 22 `: the protocol and port match, in `iptables-save` order.
fn l4_args(s: &mut String, r: &CompiledRule) {
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
}

/// The match of a plain rule (remote prefix, then protocol and ports).
fn rule_args(r: &CompiledRule) -> String {
    let mut s = String::new();
    if let Some(remote) = &r.remote {
        let flag = if r.direction == Direction::Ingress { "-s" } else { "-d" };
        let _ = write!(s, "{flag} {remote} ");
    }
    l4_args(&mut s, r);
    s
}

/// The match of a remote-group rule against its set, as Neutron's
/// `_generate_ipset_rule_args` writes it: protocol and ports, then
/// `-m set --match-set <set> src` (ingress) or `dst` (egress).
fn set_rule_args(r: &CompiledRule, set: &str) -> String {
    let mut s = String::new();
    l4_args(&mut s, r);
    let dir = if r.direction == Direction::Ingress { "src" } else { "dst" };
    let _ = write!(s, "-m set --match-set {set} {dir} ");
    s
}

/// How rules compiled from a remote group are written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// One rule per member (`enable_ipset = False`).
    Expanded,
    /// One rule per group rule, matching the group's set (`enable_ipset = True`).
    Ipset,
}

/// The `filter` table text for `ports` and, in ipset mode, the sets its rules reference.
fn render(ports: &[(FirewallPort, String)], mode: Mode) -> (String, BTreeMap<String, IpSet>) {
    let mut sets: BTreeMap<String, IpSet> = BTreeMap::new();
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
        // In ipset mode the compiled rules of one group rule (one per member) collapse into
        // one set rule, written where the first of them stood.
        let mut set_rules_written = HashSet::new();
        for r in fw.rules.rules.iter().filter(|r| r.version == IpVersion::V4) {
            let chain = if r.direction == Direction::Ingress { &i } else { &o };
            match (mode, r.remote_group) {
                (Mode::Ipset, Some(group)) => {
                    let name = ipset_name(group, r.version);
                    let set = sets
                        .entry(name.clone())
                        .or_insert_with(|| IpSet { family: r.version, members: BTreeSet::new() });
                    set.members.extend(r.remote);
                    let key = (r.direction, r.protocol, r.l4, group);
                    if set_rules_written.insert(key) {
                        let _ = writeln!(rules, "-A {chain} {}-j RETURN", set_rule_args(r, &name));
                    }
                }
                _ => {
                    let _ = writeln!(rules, "-A {chain} {}-j RETURN", rule_args(r));
                }
            }
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
    (chains, sets)
}

/// The complete IPv4 `filter` table for `ports` (`(port, tap)` pairs), for `iptables-restore`,
/// without ipset (`enable_ipset = False`): one rule per remote-group member per port.
pub fn restore(ports: &[(FirewallPort, String)]) -> String {
    render(ports, Mode::Expanded).0
}

/// One ipset of remote-group members (`hash:net`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpSet {
    /// `inet` or `inet6`.
    pub family: IpVersion,
    /// The member prefixes (host routes for port addresses).
    pub members: BTreeSet<Cidr>,
}

impl IpSet {
    fn family_name(&self) -> &'static str {
        match self.family {
            IpVersion::V4 => "inet",
            IpVersion::V6 => "inet6",
        }
    }

    /// The members as ipset takes them: ipset has no `/0`, so a `/0` becomes its two
    /// halves (Neutron's `_sanitize_addresses`).
    fn entries(&self) -> impl Iterator<Item = Cidr> + '_ {
        self.members.iter().flat_map(|c| {
            if c.prefix_len() == 0 {
                let high =
                    ferrostack_network::cidr::from_u128(self.family, 1 << (self.family.bits() - 1));
                vec![Cidr::new(c.network(), 1), Cidr::new(high, 1)].into_iter().flatten().collect()
            } else {
                vec![*c]
            }
        })
    }

    /// `ipset restore` lines creating the set `name` and adding every member.
    fn restore_lines(&self, name: &str, out: &mut String) {
        let _ = writeln!(out, "create {name} hash:net family {}", self.family_name());
        for m in self.entries() {
            let _ = writeln!(out, "add {name} {m}");
        }
    }
}

/// One step of applying an [`IpsetFirewall`] change, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `ipset <args>` (`add -exist`, `del`, `create -exist`, `swap`, `destroy`).
    Ipset(Vec<String>),
    /// `ipset restore -exist` reading this text on stdin.
    IpsetRestore(String),
    /// `iptables-restore` of this `filter` table.
    IptablesRestore(String),
}

fn ipset(args: &[&str]) -> Step {
    Step::Ipset(args.iter().map(|a| (*a).to_owned()).collect())
}

/// The IPv4 firewall for a set of ports as Neutron's iptables driver renders it with
/// `enable_ipset = True` (its default): the `filter` table and the remote-group sets its
/// rules reference. A group without members has no set and no rule (Neutron does not
/// reference sets it has not created).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpsetFirewall {
    /// The `filter` table, for `iptables-restore`.
    pub iptables: String,
    /// The sets by name ([`ipset_name`]).
    pub sets: BTreeMap<String, IpSet>,
}

impl IpsetFirewall {
    /// Renders `ports` (`(port, tap)` pairs).
    pub fn render(ports: &[(FirewallPort, String)]) -> Self {
        let (iptables, sets) = render(ports, Mode::Ipset);
        Self { iptables, sets }
    }

    /// The `ipset restore -exist` input that creates and fills every set; load it before
    /// [`IpsetFirewall::iptables`], whose rules reference the sets. (Neutron's agent creates
    /// each set with `ipset create -exist` and fills it by restore-and-swap, three more
    /// commands per set; one restore is the cheaper way to the same state.)
    pub fn ipset_restore(&self) -> String {
        let mut out = String::new();
        for (name, set) in &self.sets {
            set.restore_lines(name, &mut out);
        }
        out
    }

    /// The steps taking the kernel from `self` to `next`, as Neutron's agent takes them:
    /// sets that appear are created (`ipset create -exist`) and filled by restore-and-swap;
    /// a set whose members change gets `ipset add -exist` / `ipset del` per member when
    /// fewer than [`IPSET_BULK_THRESHOLD`] change, otherwise a new `<name>-n` filled by
    /// `ipset restore`, `ipset swap`ped in and destroyed; the `filter` table is reloaded only
    /// if its text changed; sets no longer referenced are destroyed last.
    pub fn changes_to(&self, next: &IpsetFirewall) -> Vec<Step> {
        let mut steps = Vec::new();
        for (name, set) in &next.sets {
            match self.sets.get(name) {
                None => {
                    steps.push(ipset(&[
                        "create",
                        "-exist",
                        name,
                        "hash:net",
                        "family",
                        set.family_name(),
                    ]));
                    refresh(name, set, &mut steps);
                }
                Some(old) if old == set => {}
                Some(old) => {
                    let old_entries: BTreeSet<Cidr> = old.entries().collect();
                    let new_entries: BTreeSet<Cidr> = set.entries().collect();
                    let add: Vec<&Cidr> = new_entries.difference(&old_entries).collect();
                    let del: Vec<&Cidr> = old_entries.difference(&new_entries).collect();
                    if add.len() + del.len() < IPSET_BULK_THRESHOLD {
                        for m in add {
                            steps.push(ipset(&["add", "-exist", name, &m.to_string()]));
                        }
                        for m in del {
                            steps.push(ipset(&["del", name, &m.to_string()]));
                        }
                    } else {
                        refresh(name, set, &mut steps);
                    }
                }
            }
        }
        if self.iptables != next.iptables {
            steps.push(Step::IptablesRestore(next.iptables.clone()));
        }
        for name in self.sets.keys().filter(|n| !next.sets.contains_key(*n)) {
            steps.push(ipset(&["destroy", name]));
        }
        steps
    }
}

/// Neutron's `_refresh_set`: fill `<name>-n`, swap it with `name`, destroy the old contents.
fn refresh(name: &str, set: &IpSet, steps: &mut Vec<Step>) {
    let tmp = format!("{name}{IPSET_SWAP_SUFFIX}");
    let mut text = String::new();
    set.restore_lines(&tmp, &mut text);
    steps.push(Step::IpsetRestore(text));
    steps.push(ipset(&["swap", &tmp, name]));
    steps.push(ipset(&["destroy", &tmp]));
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrostack_core::id::PortId;
    use ferrostack_network::secgroup::CompiledRuleSet;
    use std::net::{IpAddr, Ipv4Addr};

    const SET: &str = "NIPv4a1b2c3d4-e5f6-4789-abcd-";

    fn group() -> SecurityGroupId {
        "a1b2c3d4-e5f6-4789-abcd-ef0123456789".parse().unwrap()
    }

    fn host(last: u8) -> Cidr {
        Cidr::host(IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)))
    }

    fn rule(direction: Direction, port: u16, remote: Option<Cidr>) -> CompiledRule {
        CompiledRule {
            direction,
            version: IpVersion::V4,
            protocol: Some(6),
            l4: L4Match::Ports { min: port, max: port },
            remote,
            remote_group: None,
        }
    }

    fn ids(n: usize) -> Vec<PortId> {
        (0..n).map(|_| PortId::new()).collect()
    }

    /// One port per id, each with an ssh rule from 192.0.2.0/24, tcp/5432 from the group's
    /// `members` (ingress) and tcp/443 to them (egress), compiled as the network service
    /// compiles remote groups: one rule per member.
    fn ports(ids: &[PortId], members: &[u8]) -> Vec<(FirewallPort, String)> {
        let mut rules = vec![rule(Direction::Ingress, 22, Some("192.0.2.0/24".parse().unwrap()))];
        for m in members {
            for (direction, port) in [(Direction::Ingress, 5432), (Direction::Egress, 443)] {
                rules.push(CompiledRule {
                    remote_group: Some(group()),
                    ..rule(direction, port, Some(host(*m)))
                });
            }
        }
        ids.iter()
            .enumerate()
            .map(|(i, id)| {
                let fw = FirewallPort {
                    port_id: *id,
                    mac_address: format!("fa:16:3e:00:00:{i:02x}"),
                    allowed_sources: vec![host(100 + i as u8)],
                    rules: CompiledRuleSet {
                        allow_all: false,
                        stateful: true,
                        rules: rules.clone(),
                    },
                };
                (fw, format!("tap{i}"))
            })
            .collect()
    }

    fn rule_lines(table: &str) -> Vec<&str> {
        table.lines().filter(|l| l.starts_with("-A")).collect()
    }

    fn ipset_args(args: &[&str]) -> Step {
        Step::Ipset(args.iter().map(|a| (*a).to_owned()).collect())
    }

    #[test]
    fn set_names_are_neutrons() {
        let v4 = ipset_name(group(), IpVersion::V4);
        assert_eq!(v4, SET);
        assert_eq!(v4.len(), IPSET_NAME_MAX);
        assert_eq!(ipset_name(group(), IpVersion::V6), "NIPv6a1b2c3d4-e5f6-4789-abcd-");
        // The swap set still fits the kernel's 31 characters.
        assert_eq!(format!("{v4}{IPSET_SWAP_SUFFIX}").len(), 31);
    }

    #[test]
    fn one_match_set_rule_per_group_rule_whatever_the_members() {
        let ids = ids(2);
        let fw = IpsetFirewall::render(&ports(&ids, &[1, 2, 3]));
        let lines = rule_lines(&fw.iptables);
        let ingress: Vec<&&str> = lines.iter().filter(|l| l.contains("--dport 5432")).collect();
        assert_eq!(ingress.len(), 2, "one per port: {ingress:?}");
        for (line, id) in ingress.iter().zip(&ids) {
            assert_eq!(
                **line,
                format!(
                    "-A nl-i{} -p tcp -m tcp --dport 5432 -m set --match-set {SET} src -j RETURN",
                    &id.simple()[..10]
                )
            );
        }
        let egress: Vec<&&str> = lines.iter().filter(|l| l.contains("--dport 443")).collect();
        assert_eq!(egress.len(), 2);
        assert!(egress[0].starts_with("-A nl-o"), "{}", egress[0]);
        assert!(egress[0].ends_with(&format!("--match-set {SET} dst -j RETURN")), "{}", egress[0]);
        // No member appears in the table; plain remote prefixes still do.
        assert!(!fw.iptables.contains("10.0.0.1/32"));
        assert!(fw.iptables.contains("-s 192.0.2.0/24 -p tcp -m tcp --dport 22 -j RETURN"));
        // One shared set for both rules and both ports.
        assert_eq!(fw.sets.keys().collect::<Vec<_>>(), [SET]);
        assert_eq!(fw.sets[SET].members, [host(1), host(2), host(3)].into_iter().collect());
        assert_eq!(fw.sets[SET].family, IpVersion::V4);
        // The table does not grow with the members; without ipset it does, by a rule per
        // member per rule per port.
        let more = IpsetFirewall::render(&ports(&ids, &[1, 2, 3, 4, 5, 6]));
        assert_eq!(more.iptables, fw.iptables);
        let expanded = restore(&ports(&ids, &[1, 2, 3]));
        assert_eq!(rule_lines(&expanded).len(), lines.len() + 2 * 2 * 2);
        assert!(expanded.contains("-s 10.0.0.3/32 -p tcp -m tcp --dport 5432 -j RETURN"));
        assert!(expanded.contains("-d 10.0.0.3/32 -p tcp -m tcp --dport 443 -j RETURN"));
        assert!(!expanded.contains("--match-set"));
    }

    #[test]
    fn restore_text_creates_and_fills_the_set() {
        let fw = IpsetFirewall::render(&ports(&ids(3), &[1, 2]));
        assert_eq!(
            fw.ipset_restore(),
            format!(
                "create {SET} hash:net family inet\nadd {SET} 10.0.0.1/32\nadd {SET} 10.0.0.2/32\n"
            )
        );
    }

    #[test]
    fn an_empty_group_has_no_set_and_no_rule() {
        let fw = IpsetFirewall::render(&ports(&ids(2), &[]));
        assert!(fw.sets.is_empty());
        assert_eq!(fw.ipset_restore(), "");
        assert!(!fw.iptables.contains("--match-set"));
    }

    #[test]
    fn a_whole_network_member_is_two_halves() {
        let set = IpSet {
            family: IpVersion::V4,
            members: ["0.0.0.0/0".parse().unwrap()].into_iter().collect(),
        };
        let mut out = String::new();
        set.restore_lines("s", &mut out);
        assert_eq!(out, "create s hash:net family inet\nadd s 0.0.0.0/1\nadd s 128.0.0.0/1\n");
    }

    #[test]
    fn a_member_joining_is_one_ipset_add_and_no_reload() {
        let ids = ids(3);
        let before = IpsetFirewall::render(&ports(&ids, &[1]));
        let after = IpsetFirewall::render(&ports(&ids, &[1, 2]));
        assert_eq!(before.changes_to(&after), [ipset_args(&["add", "-exist", SET, "10.0.0.2/32"])]);
        assert_eq!(after.changes_to(&before), [ipset_args(&["del", SET, "10.0.0.2/32"])]);
        assert!(after.changes_to(&after).is_empty());
    }

    #[test]
    fn a_bulk_change_refreshes_by_restore_and_swap() {
        let ids = ids(1);
        let before = IpsetFirewall::render(&ports(&ids, &[1]));
        let after = IpsetFirewall::render(&ports(&ids, &[1, 2, 3, 4, 5, 6]));
        let tmp = format!("{SET}-n");
        let mut fill = format!("create {tmp} hash:net family inet\n");
        for m in 1..=6 {
            fill.push_str(&format!("add {tmp} 10.0.0.{m}/32\n"));
        }
        assert_eq!(
            before.changes_to(&after),
            [
                Step::IpsetRestore(fill),
                ipset_args(&["swap", &tmp, SET]),
                ipset_args(&["destroy", &tmp]),
            ]
        );
    }

    #[test]
    fn a_first_member_creates_the_set_before_the_rules_that_use_it() {
        let ids = ids(2);
        let empty = IpsetFirewall::render(&ports(&ids, &[]));
        let one = IpsetFirewall::render(&ports(&ids, &[7]));
        let tmp = format!("{SET}-n");
        assert_eq!(
            empty.changes_to(&one),
            [
                ipset_args(&["create", "-exist", SET, "hash:net", "family", "inet"]),
                Step::IpsetRestore(format!(
                    "create {tmp} hash:net family inet\nadd {tmp} 10.0.0.7/32\n"
                )),
                ipset_args(&["swap", &tmp, SET]),
                ipset_args(&["destroy", &tmp]),
                Step::IptablesRestore(one.iptables.clone()),
            ]
        );
        // And the last member leaving drops the rules before the set.
        assert_eq!(
            one.changes_to(&empty),
            [Step::IptablesRestore(empty.iptables.clone()), ipset_args(&["destroy", SET])]
        );
    }
}
