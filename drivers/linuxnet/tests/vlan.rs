// SPDX-License-Identifier: Apache-2.0
//! VLAN segments: networks with the same VLAN id on a physical network share the L2 segment
//! (through the VLAN-filtering trunk bridge, or a per-VLAN bridge on kernels without VLAN
//! filtering, as here), different VLAN ids are isolated, with real packets.

mod common;

use common::{Lab, ping, vm_on};
use ferrostack_core::id::NetworkId;
use ferrostack_network::backend::{NetworkBackend, NetworkSpec};
use ferrostack_network::types::{NetworkType, Segment};

fn vlan(vid: u32) -> NetworkSpec {
    NetworkSpec {
        id: NetworkId::new(),
        segment: Segment {
            network_type: NetworkType::Vlan,
            physical_network: Some("physnet1".into()),
            segmentation_id: Some(vid),
        },
        mtu: 1500,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vlan_segments_are_joined_by_id_and_isolated_across_ids() {
    if !common::can_run("vlan_segments_are_joined_by_id_and_isolated_across_ids", &["ping"]) {
        return;
    }
    let lab = Lab::new();
    let (d, hv) = lab.driver("ft");
    // Two networks on VLAN 100 (as two hosts' views of one segment would be) and one on 200.
    let (a100, b100, c200) = (vlan(100), vlan(100), vlan(200));
    for n in [&a100, &b100, &c200] {
        d.ensure_network(n).await.unwrap();
        d.ensure_network(n).await.unwrap();
    }
    let (_, a) = vm_on(&lab, &d, &hv, &a100, "a", "fa:16:3e:00:00:0a", "10.0.0.11/24", None).await;
    let (_, b) = vm_on(&lab, &d, &hv, &b100, "b", "fa:16:3e:00:00:0b", "10.0.0.12/24", None).await;
    let (_, c) = vm_on(&lab, &d, &hv, &c200, "c", "fa:16:3e:00:00:0c", "10.0.0.13/24", None).await;
    assert!(ping(&a, "10.0.0.12"), "same VLAN id: one segment through the trunk bridge");
    assert!(!ping(&a, "10.0.0.13"), "VLAN 200 is isolated from VLAN 100");
    assert!(!ping(&c, "10.0.0.12"), "and the other way round");
    for n in [&a100, &b100, &c200] {
        d.remove_network(n.id).await.unwrap();
    }
    assert!(!ping(&a, "10.0.0.12"), "removed");
    let _ = b;
}
