// SPDX-License-Identifier: Apache-2.0
//! `NetworkService::desired_state` (what a restarted data plane is reconciled to) equals what
//! the backends were told call by call: the fake backend records every converged object, so
//! after a history of creates, updates, bindings and deletes both views must agree exactly.

mod common;

use axum::http::StatusCode;
use common::{Env, admin, call, create, delete, env, member};
use ferrostack_core::id::ProjectId;
use ferrostack_network::backend::DesiredState;
use ferrostack_network::testing::FakeState;
use serde_json::{Value, json};

async fn ok(
    e: &Env,
    ctx: &ferrostack_core::RequestContext,
    method: &str,
    uri: &str,
    body: Value,
) -> Value {
    let (s, v) = call(&e.app, Some(ctx), method, uri, Some(body)).await;
    assert!(s.is_success(), "{method} {uri}: {s} {v}");
    v
}

/// The fake's record in the shape of a [`DesiredState`] (both sorted by id).
fn recorded(state: FakeState) -> DesiredState {
    DesiredState {
        networks: state.networks.into_values().collect(),
        ports: state.plugged.into_values().collect(),
        firewalls: state.firewalls.into_values().collect(),
        routers: state.routers.into_values().collect(),
        dhcp: state.dhcp.into_values().filter(|d| !d.subnets.is_empty()).collect(),
    }
}

fn sorted(mut d: DesiredState) -> DesiredState {
    d.ports.sort_by_key(|p| p.port_id);
    d.firewalls.sort_by_key(|f| f.port_id);
    d
}

#[tokio::test]
async fn desired_state_matches_what_the_backends_converged_to() {
    let e = env();
    let a = admin();
    let project = ProjectId::new();
    let c = member(&project);

    let public = create(
        &e.app,
        &a,
        "/v2.0/networks",
        "network",
        json!({"name": "public", "router:external": true,
        "provider:network_type": "flat", "provider:physical_network": "public"}),
    )
    .await;
    ok(
        &e,
        &a,
        "POST",
        "/v2.0/subnets",
        json!({"subnet": {"network_id": public,
        "cidr": "203.0.113.0/24", "ip_version": 4}}),
    )
    .await;

    let net = create(&e.app, &c, "/v2.0/networks", "network", json!({"name": "n1"})).await;
    let sub = create(
        &e.app,
        &c,
        "/v2.0/subnets",
        "subnet",
        json!({"network_id": net,
            "cidr": "10.0.0.0/24", "ip_version": 4, "dns_nameservers": ["10.0.0.53"]}),
    )
    .await;
    // A second network whose only subnet has DHCP off, and a third that is deleted again.
    let quiet = create(&e.app, &c, "/v2.0/networks", "network", json!({"name": "n2"})).await;
    ok(
        &e,
        &c,
        "POST",
        "/v2.0/subnets",
        json!({"subnet": {"network_id": quiet,
        "cidr": "10.1.0.0/24", "ip_version": 4, "enable_dhcp": false}}),
    )
    .await;
    let gone = create(&e.app, &c, "/v2.0/networks", "network", json!({"name": "n3"})).await;

    let web =
        create(&e.app, &c, "/v2.0/security-groups", "security_group", json!({"name": "web"})).await;
    ok(
        &e,
        &c,
        "POST",
        "/v2.0/security-group-rules",
        json!({"security_group_rule": {
        "security_group_id": web, "direction": "ingress", "ethertype": "IPv4",
        "protocol": "tcp", "port_range_min": 80, "port_range_max": 80,
        "remote_group_id": web}}),
    )
    .await;

    // Ports: bound on two hosts, unbound, in the web group, without port security, deleted.
    let p1 = create(
        &e.app,
        &a,
        "/v2.0/ports",
        "port",
        json!({"network_id": net,
        "binding:host_id": "h1", "security_groups": [web], "project_id": project.to_string()}),
    )
    .await;
    let p2 = create(&e.app, &a, "/v2.0/ports", "port", json!({"network_id": net,
        "binding:host_id": "h2", "project_id": project.to_string(), "allowed_address_pairs": [{"ip_address": "10.0.0.200"}]})).await;
    let _p3 = create(
        &e.app,
        &c,
        "/v2.0/ports",
        "port",
        json!({"network_id": net,
        "port_security_enabled": false, "security_groups": []}),
    )
    .await;
    let p4 = create(
        &e.app,
        &a,
        "/v2.0/ports",
        "port",
        json!({"network_id": net,
        "binding:host_id": "h1"}),
    )
    .await;
    let (s, _) = delete(&e.app, &a, &format!("/v2.0/ports/{p4}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // p2 moves into the web group: p1's remote-group set changes with it.
    ok(&e, &a, "PUT", &format!("/v2.0/ports/{p2}"), json!({"port": {"security_groups": [web]}}))
        .await;

    let r = create(&e.app, &c, "/v2.0/routers", "router", json!({"name": "r1"})).await;
    ok(
        &e,
        &c,
        "PUT",
        &format!("/v2.0/routers/{r}"),
        json!({"router": {"external_gateway_info": {"network_id": public}}}),
    )
    .await;
    ok(
        &e,
        &c,
        "PUT",
        &format!("/v2.0/routers/{r}/add_router_interface"),
        json!({"subnet_id": sub}),
    )
    .await;
    // A second router joins n2 through a port created beforehand (firewalled until then).
    let r2 = create(&e.app, &c, "/v2.0/routers", "router", json!({"name": "r2"})).await;
    let leg = create(&e.app, &c, "/v2.0/ports", "port", json!({"network_id": quiet})).await;
    ok(&e, &c, "PUT", &format!("/v2.0/routers/{r2}/add_router_interface"), json!({"port_id": leg}))
        .await;
    let fip = create(
        &e.app,
        &c,
        "/v2.0/floatingips",
        "floatingip",
        json!({"floating_network_id": public}),
    )
    .await;
    ok(&e, &c, "PUT", &format!("/v2.0/floatingips/{fip}"), json!({"floatingip": {"port_id": p1}}))
        .await;
    ok(
        &e,
        &c,
        "PUT",
        &format!("/v2.0/routers/{r}"),
        json!({"router": {"routes": [{"destination": "172.16.0.0/16", "nexthop": "10.0.0.9"}]}}),
    )
    .await;
    let (s, _) = delete(&e.app, &c, &format!("/v2.0/networks/{gone}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    let desired = sorted(e.service.desired_state(None).await.unwrap());
    let recorded = sorted(recorded(e.fake.state()));
    assert_eq!(desired.networks, recorded.networks, "networks");
    assert_eq!(desired.ports, recorded.ports, "plugged ports");
    assert_eq!(desired.firewalls, recorded.firewalls, "firewalls");
    assert_eq!(desired.routers, recorded.routers, "routers");
    assert_eq!(desired.dhcp, recorded.dhcp, "dhcp");
    // Not vacuous: everything above is in it.
    assert_eq!(desired.networks.len(), 3, "public, n1, n2");
    assert_eq!(desired.ports.len(), 2, "p1 on h1, p2 on h2");
    assert_eq!(desired.firewalls.len(), 3, "p1, p2, p3; router ports are not filtered");
    assert_eq!(desired.routers.len(), 2);
    assert_eq!(desired.routers.iter().map(|r| r.floating_ips.len()).sum::<usize>(), 1);
    assert_eq!(desired.routers.iter().map(|r| r.interfaces.len()).sum::<usize>(), 2);
    assert_eq!(desired.dhcp.len(), 2, "public and n1; n2 has DHCP off");

    // One host's share.
    let h1 = e.service.desired_state(Some("h1")).await.unwrap();
    assert_eq!(h1.ports.len(), 1);
    assert_eq!(h1.ports[0].port_id.to_string(), p1);
    assert!(h1.firewalls.iter().all(|f| f.port_id.to_string() == p1));
}
