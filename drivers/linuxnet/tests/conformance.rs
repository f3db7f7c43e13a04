// SPDX-License-Identifier: Apache-2.0
//! The network crate's backend conformance suites against the real driver, in a private
//! namespace.

mod common;

use ferrostack_network::testing::conformance;

#[tokio::test]
async fn linuxnet_passes_the_network_backend_suite() {
    if !common::can_run("linuxnet_passes_the_network_backend_suite", &[]) {
        return;
    }
    let lab = common::Lab::new();
    let (d, hv) = lab.driver("ft");
    conformance::network_backend(&*d).await;
    // Nothing of ours is left in the namespace.
    let links = common::ok(&["ip", "-n", &hv, "-o", "link"]);
    assert!(!links.contains(": ftt") && !links.contains(": ftv"), "{links}");
}

#[tokio::test]
async fn linuxnet_passes_the_firewall_suite() {
    if !common::can_run("linuxnet_passes_the_firewall_suite", &[]) {
        return;
    }
    let lab = common::Lab::new();
    let (d, hv) = lab.driver("ft");
    conformance::firewall(&*d).await;
    let rules = common::ok(&["ip", "netns", "exec", &hv, "nft", "list", "ruleset"]);
    assert!(!rules.contains("chain pi_"), "port chains removed: {rules}");
}

#[tokio::test]
async fn linuxnet_passes_the_l3_suite() {
    if !common::can_run("linuxnet_passes_the_l3_suite", &[]) {
        return;
    }
    let lab = common::Lab::new();
    let (d, _hv) = lab.driver("ft");
    conformance::l3_backend(&*d).await;
}

/// The firewall's view and the kernel can disagree (an interrupted call, an operator's
/// `nft flush ruleset`): the next call rebuilds the tables instead of failing forever.
#[tokio::test]
async fn firewall_recovers_when_its_tables_were_removed_behind_its_back() {
    use ferrostack_core::id::PortId;
    use ferrostack_network::backend::{Firewall, FirewallPort};
    use ferrostack_network::secgroup::CompiledRuleSet;
    if !common::can_run("firewall_recovers_when_its_tables_were_removed_behind_its_back", &[]) {
        return;
    }
    let lab = common::Lab::new();
    let (d, hv) = lab.driver("ft");
    let mut port = FirewallPort {
        port_id: PortId::new(),
        mac_address: "fa:16:3e:00:00:02".into(),
        allowed_sources: vec!["10.0.0.5/32".parse().unwrap()],
        rules: CompiledRuleSet { allow_all: false, stateful: true, rules: Vec::new() },
    };
    d.apply_port(&port).await.unwrap();
    common::ok(&["ip", "netns", "exec", &hv, "nft", "flush", "ruleset"]);
    port.allowed_sources.push("10.0.0.6/32".parse().unwrap());
    d.apply_port(&port).await.expect("recovers by rebuilding");
    let rules = common::ok(&["ip", "netns", "exec", &hv, "nft", "list", "ruleset"]);
    assert!(rules.contains(&format!("chain pi_{}", port.port_id.simple())), "{rules}");
    assert!(rules.contains("10.0.0.6"), "the new state is in force: {rules}");
    d.remove_port(port.port_id).await.unwrap();
}
