// SPDX-License-Identifier: Apache-2.0
//! Property test: with many concurrent port creators, IPAM never hands out an address outside
//! the allocation pools, never hands one out twice, fills the pools exactly, and releases
//! every address on delete.

mod common;

use common::*;
use ferrostack_core::id::ProjectId;
use ferrostack_core::store::StoreExt;
use ferrostack_network::NetworkApi;
use ferrostack_network::cidr::to_u128;
use ferrostack_network::types::*;
use proptest::prelude::*;
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};

fn port_req(net: ferrostack_core::id::NetworkId) -> PortCreate {
    serde_json::from_value(serde_json::json!({ "network_id": net })).unwrap()
}

async fn scenario(
    prefix_len: u8,
    pools: Vec<(u8, u8)>,
    creators: usize,
) -> Result<(), TestCaseError> {
    let e = env();
    let c = member(&ProjectId::new());
    let svc = e.service.clone();
    let net = svc
        .create_network(&c, serde_json::from_value(serde_json::json!({"name": "n"})).unwrap())
        .await
        .unwrap();
    let cidr = format!("10.20.30.0/{prefix_len}");
    let pools: Vec<AllocationPool> = pools
        .iter()
        .map(|(a, b)| AllocationPool {
            start: IpAddr::V4(Ipv4Addr::new(10, 20, 30, *a)),
            end: IpAddr::V4(Ipv4Addr::new(10, 20, 30, *b)),
        })
        .collect();
    let mut req: SubnetCreate = serde_json::from_value(
        serde_json::json!({"network_id": net.id, "cidr": cidr, "ip_version": 4}),
    )
    .unwrap();
    req.allocation_pools = Some(pools.clone());
    let subnet = svc.create_subnet(&c, req).await.unwrap();
    let capacity: usize =
        pools.iter().map(|p| (to_u128(&p.end) - to_u128(&p.start) + 1) as usize).sum();

    let mut tasks = Vec::new();
    for _ in 0..creators {
        let svc = svc.clone();
        let c = c.clone();
        tasks.push(tokio::spawn(async move { svc.create_port(&c, port_req(net.id)).await }));
    }
    let mut ips = HashSet::new();
    let mut ports = Vec::new();
    let mut exhausted = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(p) => {
                prop_assert_eq!(p.fixed_ips.len(), 1);
                let ip = p.fixed_ips[0].ip_address;
                let n = to_u128(&ip);
                prop_assert!(
                    pools.iter().any(|pl| n >= to_u128(&pl.start) && n <= to_u128(&pl.end)),
                    "{} outside the pools {:?}",
                    ip,
                    pools
                );
                prop_assert!(ips.insert(ip), "{} allocated twice", ip);
                ports.push(p.id);
            }
            Err(err) => {
                prop_assert_eq!(err.neutron_type(), "IpAddressGenerationFailure", "{}", err);
                exhausted += 1;
            }
        }
    }
    prop_assert_eq!(ips.len(), creators.min(capacity));
    prop_assert_eq!(exhausted, creators.saturating_sub(capacity));
    // Delete half concurrently, then refill: released addresses are reused, never duplicated.
    let half: Vec<_> = ports.iter().take(ports.len() / 2).copied().collect();
    let mut dels = Vec::new();
    for id in &half {
        let svc = svc.clone();
        let c = c.clone();
        let id = *id;
        dels.push(tokio::spawn(async move { svc.delete_port(&c, id).await }));
    }
    for d in dels {
        d.await.unwrap().unwrap();
    }
    let allocated = e.store.list_all(&format!("network/ipam/{}/", subnet.id)).await.unwrap().len();
    prop_assert_eq!(allocated, ips.len() - half.len());
    let mut refill = HashSet::new();
    for p in svc.list_ports(&c).await.unwrap() {
        prop_assert!(refill.insert(p.fixed_ips[0].ip_address));
    }
    for _ in 0..half.len() {
        let p = svc.create_port(&c, port_req(net.id)).await.unwrap();
        prop_assert!(refill.insert(p.fixed_ips[0].ip_address), "reallocated an address in use");
    }
    for p in svc.list_ports(&c).await.unwrap() {
        svc.delete_port(&c, p.id).await.unwrap();
    }
    prop_assert!(
        e.store.list_all("network/ipam/").await.unwrap().is_empty(),
        "every address released"
    );
    prop_assert!(e.store.list_all("network/macs/").await.unwrap().is_empty(), "every MAC released");
    Ok(())
}

fn arb_pools() -> impl Strategy<Value = (u8, Vec<(u8, u8)>)> {
    // A /27 or /28: host addresses 1..=30 or 1..=14; up to three disjoint pools inside.
    (prop_oneof![Just(27u8), Just(28u8)], prop::collection::btree_set(1u8..=14, 2..=6)).prop_map(
        |(len, cuts)| {
            let cuts: Vec<u8> = cuts.into_iter().collect();
            let mut pools = Vec::new();
            for pair in cuts.chunks(2) {
                if let [a, b] = pair {
                    // Skip the gateway (.1): pools must not contain it.
                    let a = (*a).max(2);
                    if a <= *b {
                        pools.push((a, *b));
                    }
                }
            }
            if pools.is_empty() {
                pools.push((2, 5));
            }
            (len, pools)
        },
    )
}

proptest! {
    #![proptest_config(ferrostack_core::testing::proptest_config(24))]
    #[test]
    fn concurrent_creators_never_share_or_escape_the_pools((len, pools) in arb_pools(), creators in 1usize..24) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
        rt.block_on(scenario(len, pools, creators))?;
    }
}
