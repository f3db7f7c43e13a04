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
