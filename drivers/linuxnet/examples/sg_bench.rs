// SPDX-License-Identifier: Apache-2.0
//! Benchmark: security groups for 1,000 ports x 10 rules (one of them a remote-group rule)
//! applied with nftables (this driver), then one remote-group membership change, against the
//! same rules rendered the way Neutron's iptables firewall driver renders them:
//!
//! * **iptables + ipset, Neutron's default** (`enable_ipset = True`), the headline baseline:
//!   one `ipset restore` creating and filling the group's set, then one `iptables-restore` of
//!   the filter table whose rules `--match-set` it; a member joining is one
//!   `ipset add -exist` (the steps `iptables::IpsetFirewall::changes_to` gives, as Neutron's
//!   `IpsetManager` takes them).
//! * **iptables without ipset** (`enable_ipset = False`): a rule per member per port; a member
//!   joining reloads the whole table.
//!
//! Each baseline runs with the system's `iptables-restore` and, where installed,
//! `iptables-legacy-restore`, each in a fresh network namespace of its own; the rules, the
//! sets and the namespaces are removed at the end. Rendering time counts on every side (the
//! nftables figure includes the driver's diffing). Needs root, `nft`, `iptables-restore` and
//! `ipset` (`bash scripts/test-env/linuxnet.sh`).
//!
//! ```text
//! cargo run --release -p ferrostack-linuxnet --example sg_bench -- [PORTS] [MEMBERS]
//! ```

use ferrostack_core::command::SystemRunner;
use ferrostack_core::id::{NetworkId, PortId};
use ferrostack_linuxnet::iptables::{self, IpsetFirewall, Step};
use ferrostack_linuxnet::{LinuxNet, LinuxNetConfig};
use ferrostack_network::backend::{FirewallPort, NetworkBackend, NetworkSpec};
use ferrostack_network::cidr::{Cidr, IpVersion};
use ferrostack_network::secgroup::{CompiledRule, CompiledRuleSet, L4Match};
use ferrostack_network::types::{Direction, NetworkType, SecurityGroupId, Segment};
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
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

/// Runs `program args` inside `ns` with `stdin`, and returns how long it took; panics with
/// the tool's stderr if it fails.
fn run(ns: &str, program: &str, args: &[&str], stdin: &str) -> Duration {
    let t = Instant::now();
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, program])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    let d = t.elapsed();
    assert!(o.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    d
}

/// A network namespace, deleted on drop.
struct Ns(String);
impl Ns {
    fn add(name: String) -> Self {
        assert!(
            Command::new("ip").args(["netns", "add", &name]).status().unwrap().success(),
            "needs root"
        );
        Ns(name)
    }
}
impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// One baseline's namespace: its `filter` table and ipsets are removed before the
/// namespace (also when the benchmark panics).
struct Baseline {
    ns: Ns,
    restore: &'static str,
    sets: Vec<String>,
}
impl Baseline {
    fn new(tag: &str, restore: &'static str) -> Self {
        Self { ns: Ns::add(format!("fsb-{}-{tag}", std::process::id())), restore, sets: Vec::new() }
    }

    /// Empties the `filter` table (the rules referencing the sets), destroys the sets and
    /// returns the names of the sets still there (none).
    fn clean(&mut self) -> Vec<String> {
        let flush =
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n";
        run(&self.ns.0, self.restore, &[], flush);
        for set in std::mem::take(&mut self.sets) {
            run(&self.ns.0, "ipset", &["destroy", &set], "");
        }
        let o = Command::new("ip")
            .args(["netns", "exec", &self.ns.0, "ipset", "list", "-n"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).lines().map(str::to_owned).collect()
    }

    /// Loads the ipset rendering: the sets, then the table that references them.
    fn apply_ipset(&mut self, fw: &IpsetFirewall) {
        run(&self.ns.0, "ipset", &["restore", "-exist"], &fw.ipset_restore());
        self.sets.extend(fw.sets.keys().cloned());
        run(&self.ns.0, self.restore, &[], &fw.iptables);
    }

    /// Runs the steps of an ipset-mode change.
    fn run_steps(&mut self, steps: &[Step]) {
        for step in steps {
            match step {
                Step::Ipset(args) => {
                    let args: Vec<&str> = args.iter().map(String::as_str).collect();
                    run(&self.ns.0, "ipset", &args, "");
                    match args.as_slice() {
                        ["create", _, name, ..] => self.sets.push((*name).to_owned()),
                        ["destroy", name] => self.sets.retain(|s| s != name),
                        _ => {}
                    }
                }
                Step::IpsetRestore(text) => {
                    run(&self.ns.0, "ipset", &["restore", "-exist"], text);
                }
                Step::IptablesRestore(text) => {
                    run(&self.ns.0, self.restore, &[], text);
                }
            }
        }
    }
}
impl Drop for Baseline {
    fn drop(&mut self) {
        if !self.sets.is_empty() {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.clean()));
        }
    }
}

/// One baseline's result.
struct Row {
    label: String,
    apply: Duration,
    update: Duration,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let n_ports = args.first().copied().unwrap_or(1000);
    let n_members = args.get(1).copied().unwrap_or(1).max(1);
    let ns = Ns::add(format!("fsb-{}-hv", std::process::id()));
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
    let (ports_before, ports_after) = (with(&set_before), with(&set_after));

    // The system's iptables-restore, and the legacy back end where installed.
    let mut programs = vec![("iptables-restore", backend("iptables-restore"))];
    if Command::new("sh")
        .args(["-c", "command -v iptables-legacy-restore"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        programs.push(("iptables-legacy-restore", "legacy".to_owned()));
    }
    let mut rows = Vec::new();
    let mut join_steps = Vec::new();
    let (mut ipset_rules, mut expanded_rules) = (0, 0);
    // iptables + ipset, Neutron's default.
    for (k, (program, be)) in programs.iter().enumerate() {
        let mut b = Baseline::new(&format!("ips{k}"), program);
        let t = Instant::now();
        let fw = IpsetFirewall::render(&ports_before);
        b.apply_ipset(&fw);
        let apply = t.elapsed();
        let t = Instant::now();
        let next = IpsetFirewall::render(&ports_after);
        let steps = fw.changes_to(&next);
        b.run_steps(&steps);
        let update = t.elapsed();
        let left = b.clean();
        assert!(left.is_empty(), "ipsets left behind: {left:?}");
        ipset_rules = next.iptables.lines().filter(|l| l.starts_with("-A")).count();
        join_steps = steps;
        let label = format!("iptables + ipset, Neutron default ({be})");
        rows.push(Row { label, apply, update });
    }
    // iptables without ipset.
    for (k, (program, be)) in programs.iter().enumerate() {
        let mut b = Baseline::new(&format!("ipt{k}"), program);
        let t = Instant::now();
        let text = iptables::restore(&ports_before);
        run(&b.ns.0, program, &[], &text);
        let apply = t.elapsed();
        let t = Instant::now();
        let text = iptables::restore(&ports_after);
        run(&b.ns.0, program, &[], &text);
        let update = t.elapsed();
        b.clean();
        expanded_rules = text.lines().filter(|l| l.starts_with("-A")).count();
        rows.push(Row { label: format!("iptables without ipset ({be})"), apply, update });
    }

    println!(
        "iptables-restore input: {ipset_rules} rules with ipset (+ one set of {} members), \
         {expanded_rules} without; nftables: per-port chains, one shared remote-group set",
        after.len()
    );
    let described: Vec<String> = join_steps.iter().map(describe).collect();
    println!("member joins with ipset: {}", described.join("; "));
    println!("{:<48} {:>12} {:>14}", "", "apply all", "member joins");
    println!(
        "{:<48} {:>10.1}ms {:>12.1}ms",
        "nftables (this driver)",
        ms(nft_apply),
        ms(nft_update)
    );
    for r in &rows {
        println!("{:<48} {:>10.1}ms {:>12.1}ms", r.label, ms(r.apply), ms(r.update));
    }
    println!("ours / baseline (below 1: nftables is faster):");
    for r in &rows {
        println!(
            "  vs {:<48} apply {:.2}, member joins {:.2}",
            r.label,
            ms(nft_apply) / ms(r.apply),
            ms(nft_update) / ms(r.update)
        );
    }
    println!("ipsets and rules removed; namespaces deleted");
}

/// `nf_tables` or `legacy`, from `<program> --version`.
fn backend(program: &str) -> String {
    let out = Command::new(program).arg("--version").output().map(|o| o.stdout).unwrap_or_default();
    let v = String::from_utf8_lossy(&out);
    match (v.find('('), v.find(')')) {
        (Some(a), Some(b)) if a < b => v[a + 1..b].to_owned(),
        _ => program.to_owned(),
    }
}

/// A step as the command line it runs.
fn describe(step: &Step) -> String {
    match step {
        Step::Ipset(args) => format!("ipset {}", args.join(" ")),
        Step::IpsetRestore(text) => {
            format!("ipset restore -exist ({} lines)", text.lines().count())
        }
        Step::IptablesRestore(text) => format!("iptables-restore ({} lines)", text.lines().count()),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
