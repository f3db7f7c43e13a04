// SPDX-License-Identifier: Apache-2.0
//! The Neutron v2.0 API through `tower::ServiceExt::oneshot`: the CLI's flows, two-project
//! isolation, bad input, fields/filters/pagination, quotas and segment pools.

mod common;

use axum::http::StatusCode;
use common::*;
use ferrostack_core::id::ProjectId;
use ferrostack_network::NetworkConfig;
use ferrostack_network::service::VlanRange;
use serde_json::{Value, json};
use std::collections::HashSet;

async fn public_network(e: &Env) -> (String, String) {
    let a = admin();
    let nid = create(&e.app, &a, "/v2.0/networks", "network", json!({
        "name": "public", "router:external": true, "provider:network_type": "flat", "provider:physical_network": "public"})).await;
    let sid = create(
        &e.app,
        &a,
        "/v2.0/subnets",
        "subnet",
        json!({"network_id": nid, "cidr": "203.0.113.0/24", "ip_version": 4, "name": "public-subnet"}),
    )
    .await;
    (nid, sid)
}

/// A network named `name` with an IPv4 subnet on `cidr`, created as `ctx`: their ids.
async fn network_with_subnet(
    app: &axum::Router,
    ctx: &ferrostack_core::RequestContext,
    name: &str,
    cidr: &str,
) -> (String, String) {
    let nid = create(app, ctx, "/v2.0/networks", "network", json!({ "name": name })).await;
    let body = json!({"network_id": nid, "cidr": cidr, "ip_version": 4});
    let sid = create(app, ctx, "/v2.0/subnets", "subnet", body).await;
    (nid, sid)
}

/// `PUT /v2.0/routers/{router}/{op}_router_interface` with `body` as `ctx` (`op`: add, remove).
async fn router_interface(
    app: &axum::Router,
    ctx: &ferrostack_core::RequestContext,
    router: &str,
    op: &str,
    body: Value,
) -> (StatusCode, Value) {
    put(app, ctx, &format!("/v2.0/routers/{router}/{op}_router_interface"), body).await
}

#[tokio::test]
async fn cli_flow_create_associate_list_show_delete() {
    let e = env();
    let (public, _) = public_network(&e).await;
    let p = ProjectId::new();
    let c = member(&p);
    let app = &e.app;

    // network create / subnet create --subnet-range (the bodies OSC sends)
    let (s, net) = post(
        app,
        &c,
        "/v2.0/networks",
        json!({"network": {"name": "private", "admin_state_up": true}}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let net = &net["network"];
    assert_eq!(net["provider:network_type"], "vxlan");
    assert_eq!(net["mtu"], 1450);
    let nid = net["id"].as_str().unwrap();
    // OSC looks names up: GET /networks/<name> must be 404, then ?name=
    let (s, _) = get(app, &c, "/v2.0/networks/private").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, found) = get(app, &c, "/v2.0/networks?name=private").await;
    assert_eq!(found["networks"].as_array().unwrap().len(), 1);
    let (s, sub) = post(app, &c, "/v2.0/subnets", json!({"subnet": {"network_id": nid, "cidr": "192.168.0.0/24", "ip_version": 4, "name": "private-subnet"}})).await;
    assert_eq!(s, StatusCode::CREATED, "{sub}");
    let sub = &sub["subnet"];
    assert_eq!(sub["gateway_ip"], "192.168.0.1");
    assert_eq!(sub["allocation_pools"], json!([{"start": "192.168.0.2", "end": "192.168.0.254"}]));
    assert_eq!(sub["dns_nameservers"], json!([]));
    assert_eq!(sub["host_routes"], json!([]));
    let sid = sub["id"].as_str().unwrap();

    // port create
    let (s, port) = post(
        app,
        &c,
        "/v2.0/ports",
        json!({"port": {"network_id": nid, "name": "p1", "admin_state_up": true}}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{port}");
    let port = &port["port"];
    let pid = port["id"].as_str().unwrap();
    assert!(port["mac_address"].as_str().unwrap().starts_with("fa:16:3e:"));
    let ip: std::net::Ipv4Addr =
        port["fixed_ips"][0]["ip_address"].as_str().unwrap().parse().unwrap();
    assert!(ip.octets()[..3] == [192, 168, 0] && (2..=254).contains(&ip.octets()[3]));
    assert_eq!(port["security_groups"].as_array().unwrap().len(), 1, "the default group");
    assert_eq!(port["binding:vif_type"], "unbound");

    // router create / set --external-gateway / add subnet
    let (s, router) =
        post(app, &c, "/v2.0/routers", json!({"router": {"name": "r1", "admin_state_up": true}}))
            .await;
    assert_eq!(s, StatusCode::CREATED);
    let rid = router["router"]["id"].as_str().unwrap().to_owned();
    let (s, r) = put(
        app,
        &c,
        &format!("/v2.0/routers/{rid}"),
        json!({"router": {"external_gateway_info": {"network_id": public}}}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["router"]["external_gateway_info"]["enable_snat"], true);
    let gw_ip = r["router"]["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(gw_ip.starts_with("203.0.113."));
    let (s, iface) = router_interface(app, &c, &rid, "add", json!({"subnet_id": sid})).await;
    assert_eq!(s, StatusCode::OK, "{iface}");
    assert_eq!(iface["subnet_id"], sid);
    // The same subnet twice is refused.
    let (s, again) = router_interface(app, &c, &rid, "add", json!({"subnet_id": sid})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{again}");

    // floating ip create / set --port
    let (s, fip) =
        post(app, &c, "/v2.0/floatingips", json!({"floatingip": {"floating_network_id": public}}))
            .await;
    assert_eq!(s, StatusCode::CREATED, "{fip}");
    let fid = fip["floatingip"]["id"].as_str().unwrap().to_owned();
    let fip_ip = fip["floatingip"]["floating_ip_address"].as_str().unwrap().to_owned();
    assert_ne!(fip_ip, gw_ip);
    let (s, f) =
        put(app, &c, &format!("/v2.0/floatingips/{fid}"), json!({"floatingip": {"port_id": pid}}))
            .await;
    assert_eq!(s, StatusCode::OK, "{f}");
    assert_eq!(f["floatingip"]["router_id"], rid.as_str());
    assert_eq!(f["floatingip"]["fixed_ip_address"], ip.to_string());
    // A second floating IP for the same fixed IP is refused (one-to-one NAT).
    let fid2 =
        create(app, &c, "/v2.0/floatingips", "floatingip", json!({"floating_network_id": public}))
            .await;
    let (s, dup) =
        put(app, &c, &format!("/v2.0/floatingips/{fid2}"), json!({"floatingip": {"port_id": pid}}))
            .await;
    assert_eq!(s, StatusCode::CONFLICT, "{dup}");
    assert_eq!(dup["NeutronError"]["type"], "FloatingIPPortAlreadyAssociated");

    // The data plane was told: gateway with SNAT, the interface, the NAT entry.
    let state = e.fake.state();
    let spec = state.routers.values().next().expect("router synced");
    assert!(spec.gateway.as_ref().is_some_and(|g| g.enable_snat && g.address.to_string() == gw_ip));
    assert_eq!(spec.interfaces.len(), 1);
    assert_eq!(spec.floating_ips.len(), 1);
    assert_eq!(spec.floating_ips[0].floating_ip.to_string(), fip_ip);
    assert!(state.firewalls.contains_key(&pid.parse().unwrap()), "port firewall applied");
    assert!(
        state
            .dhcp
            .values()
            .any(|d| d.hosts.iter().any(|h| h.ip_address.to_string() == ip.to_string()))
    );

    // security group create / rule create (the OSC body)
    let (s, sg) = post(
        app,
        &c,
        "/v2.0/security-groups",
        json!({"security_group": {"name": "web", "description": "web"}}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let sgid = sg["security_group"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        sg["security_group"]["security_group_rules"].as_array().unwrap().len(),
        2,
        "egress v4 + v6"
    );
    let rule_id = create(
        app,
        &c,
        "/v2.0/security-group-rules",
        "security_group_rule",
        json!({
        "security_group_id": sgid, "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
        "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"}),
    )
    .await;
    let (_, list) = get(app, &c, "/v2.0/security-groups").await;
    let names: HashSet<&str> = list["security_groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, HashSet::from(["default", "web"]));
    let (s, shown) = get(app, &c, &format!("/v2.0/security-group-rules/{rule_id}")).await;
    assert_eq!(
        (s, shown["security_group_rule"]["port_range_max"].clone()),
        (StatusCode::OK, json!(22))
    );

    // Tear down in reverse; in-use objects refuse first.
    let (s, busy) = delete(app, &c, &format!("/v2.0/subnets/{sid}")).await;
    assert_eq!(s, StatusCode::CONFLICT, "{busy}");
    assert_eq!(busy["NeutronError"]["type"], "SubnetInUse");
    let (s, _) = delete(app, &c, &format!("/v2.0/security-group-rules/{rule_id}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = delete(app, &c, &format!("/v2.0/security-groups/{sgid}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    for f in [&fid, &fid2] {
        let (s, _) = delete(app, &c, &format!("/v2.0/floatingips/{f}")).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
    }
    let (s, _) = delete(app, &c, &format!("/v2.0/routers/{rid}")).await;
    assert_eq!(s, StatusCode::CONFLICT, "router still has an interface");
    let (s, _) = router_interface(app, &c, &rid, "remove", json!({"subnet_id": sid})).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = delete(app, &c, &format!("/v2.0/routers/{rid}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = delete(app, &c, &format!("/v2.0/ports/{pid}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = delete(app, &c, &format!("/v2.0/subnets/{sid}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = delete(app, &c, &format!("/v2.0/networks/{nid}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let state = e.fake.state();
    assert!(state.routers.is_empty() && state.plugged.is_empty() && state.firewalls.is_empty());
    // Every address went back: only the public network's allocations remain (none).
    use ferrostack_core::store::StoreExt;
    assert!(e.store.list_all("network/ipam/").await.unwrap().is_empty());
    assert!(e.store.list_all("network/fip-assoc/").await.unwrap().is_empty());
}

#[tokio::test]
async fn two_projects_with_the_same_cidr_never_see_each_other() {
    let e = env();
    let (public, _) = public_network(&e).await;
    let app = &e.app;
    let mut seen = Vec::new();
    for _ in 0..2 {
        let p = ProjectId::new();
        let c = member(&p);
        // The same CIDR in both projects: overlap across projects is allowed.
        let (nid, sid) = network_with_subnet(app, &c, "private", "192.168.0.0/24").await;
        let (_, port) = post(app, &c, "/v2.0/ports", json!({"port": {"network_id": nid}})).await;
        assert!(
            port["port"]["fixed_ips"][0]["ip_address"].as_str().unwrap().starts_with("192.168.0.")
        );
        let pid = port["port"]["id"].as_str().unwrap().to_owned();
        let (_, r) = post(
            app,
            &c,
            "/v2.0/routers",
            json!({"router": {"name": "r", "external_gateway_info": {"network_id": public}}}),
        )
        .await;
        let rid = r["router"]["id"].as_str().unwrap().to_owned();
        let (s, _) = router_interface(app, &c, &rid, "add", json!({"subnet_id": sid})).await;
        assert_eq!(s, StatusCode::OK);
        seen.push((c, nid, sid, pid, rid));
    }
    let (a, b) = (&seen[0], &seen[1]);
    for (me, other) in [(a, b), (b, a)] {
        let c = &me.0;
        for coll in [
            "networks",
            "subnets",
            "ports",
            "routers",
            "security-groups",
            "floatingips",
            "security-group-rules",
        ] {
            let (s, list) = get(app, c, &format!("/v2.0/{coll}")).await;
            assert_eq!(s, StatusCode::OK);
            let text = list.to_string();
            for id in [&other.1, &other.2, &other.3, &other.4] {
                assert!(
                    !text.contains(id.as_str()),
                    "{coll} of one project shows {id} of the other"
                );
            }
            assert!(
                !text.contains(other.0.project_id().unwrap().as_str()),
                "{coll} leaks the other project id"
            );
        }
        for (path, kind) in [
            ("networks", &other.1),
            ("subnets", &other.2),
            ("ports", &other.3),
            ("routers", &other.4),
        ] {
            let (s, _) = get(app, c, &format!("/v2.0/{path}/{kind}")).await;
            assert_eq!(s, StatusCode::NOT_FOUND);
            let (s, _) = delete(app, c, &format!("/v2.0/{path}/{kind}")).await;
            assert_eq!(s, StatusCode::NOT_FOUND);
        }
        let (s, _) = put(
            app,
            c,
            &format!("/v2.0/networks/{}", other.1),
            json!({"network": {"name": "mine"}}),
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = post(app, c, "/v2.0/ports", json!({"port": {"network_id": other.1}})).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = router_interface(app, c, &me.4, "add", json!({"subnet_id": other.2})).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (_, fip) = post(
            app,
            c,
            "/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": public}}),
        )
        .await;
        let fid = fip["floatingip"]["id"].as_str().unwrap();
        let (s, _) = put(
            app,
            c,
            &format!("/v2.0/floatingips/{fid}"),
            json!({"floatingip": {"port_id": other.3}}),
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        // The other project's name is still intact.
        let (_, n) = get(app, &other.0, &format!("/v2.0/networks/{}", other.1)).await;
        assert_eq!(n["network"]["name"], "private");
    }
    // Both routers have their own 192.168.0.1 interface.
    let state = e.fake.state();
    let gws: Vec<String> = state
        .routers
        .values()
        .flat_map(|r| r.interfaces.iter().map(|i| i.address.to_string()))
        .collect();
    assert_eq!(gws, vec!["192.168.0.1", "192.168.0.1"]);
}

#[tokio::test]
async fn bad_input_gets_neutron_errors_and_changes_nothing() {
    let e = env();
    let app = &e.app;
    let p = ProjectId::new();
    let c = member(&p);
    let (nid, sid) = network_with_subnet(app, &c, "n", "10.0.0.0/24").await;
    let sgid =
        create(app, &c, "/v2.0/security-groups", "security_group", json!({"name": "g"})).await;
    let (_, before) = get(app, &c, "/v2.0/subnets").await;
    let (_, rules_before) = get(app, &c, "/v2.0/security-group-rules").await;

    let subnet = |cidr: &str, extra: Value| {
        let mut s = json!({"network_id": nid, "cidr": cidr, "ip_version": 4});
        if let (Value::Object(m), Value::Object(x)) = (&mut s, extra) {
            m.extend(x);
        }
        json!({ "subnet": s })
    };
    // A create the API must refuse with 400 and a message containing `msg`.
    let bad = |uri, body, msg| ("POST", uri, body, StatusCode::BAD_REQUEST, msg);
    let missing_port = format!("/v2.0/ports/{}", ferrostack_core::id::PortId::new());
    let cases: Vec<(&str, &str, Value, StatusCode, &str)> = vec![
        bad("/v2.0/subnets", subnet("300.1.1.0/24", json!({})), "is not a valid IP subnet"),
        bad("/v2.0/subnets", subnet("10.1.0.1/24", json!({})), "isn't a recommended CIDR"),
        bad("/v2.0/subnets", subnet("10.0.0.128/25", json!({})), "overlaps with another subnet"),
        bad("/v2.0/subnets", subnet("10.0.0.0/8", json!({})), "overlaps with another subnet"),
        bad("/v2.0/subnets", subnet("0.0.0.0/0", json!({})), "0 is not allowed"),
        bad(
            "/v2.0/subnets",
            subnet(
                "10.2.0.0/24",
                json!({"allocation_pools": [{"start": "10.3.0.5", "end": "10.3.0.9"}]}),
            ),
            "spans beyond the subnet cidr",
        ),
        bad(
            "/v2.0/subnets",
            subnet(
                "10.2.0.0/24",
                json!({"allocation_pools": [{"start": "10.2.0.9", "end": "10.2.0.5"}]}),
            ),
            "start is after end",
        ),
        bad(
            "/v2.0/subnets",
            subnet("10.2.0.0/24", json!({"gateway_ip": "10.9.0.1"})),
            "not in the subnet cidr",
        ),
        bad(
            "/v2.0/subnets",
            subnet("10.2.0.0/24", json!({"ip_version": 6})),
            "does not match ip_version",
        ),
        bad(
            "/v2.0/subnets",
            subnet("10.2.0.0/24", json!({"dns_nameservers": ["not-an-ip"]})),
            "not a valid IP address",
        ),
        bad(
            "/v2.0/subnets",
            subnet("10.2.0.0/24", json!({"bogus": 1})),
            "Unrecognized attribute(s) 'bogus'",
        ),
        bad(
            "/v2.0/ports",
            json!({"port": {"network_id": nid, "mac_address": "zz:16:3e:00:00:01"}}),
            "is not a valid MAC address",
        ),
        bad(
            "/v2.0/ports",
            json!({"port": {"network_id": nid, "mac_address": "01:16:3e:00:00:01"}}),
            "is not a valid MAC address",
        ),
        bad(
            "/v2.0/ports",
            json!({"port": {"network_id": nid, "fixed_ips": [{"ip_address": "10.9.9.9"}]}}),
            "not a valid IP for any of the subnets",
        ),
        bad(
            "/v2.0/ports",
            json!({"port": {"network_id": nid, "fixed_ips": [{"subnet_id": sid, "ip_address": "10.0.0.255"}]}}),
            "not a valid IP for the specified subnet",
        ),
        bad(
            "/v2.0/security-group-rules",
            json!({"security_group_rule": {"security_group_id": sgid, "direction": "ingress", "remote_ip_prefix": "10.0.0.0/8", "remote_group_id": sgid}}),
            "Only remote_ip_prefix or remote_group_id may be provided.",
        ),
        bad(
            "/v2.0/security-group-rules",
            json!({"security_group_rule": {"security_group_id": sgid, "direction": "ingress", "protocol": "tcp", "port_range_min": 80, "port_range_max": 22}}),
            "port_range_min must be <= port_range_max",
        ),
        bad(
            "/v2.0/security-group-rules",
            json!({"security_group_rule": {"security_group_id": sgid, "direction": "ingress", "protocol": "gre", "port_range_min": 80, "port_range_max": 80}}),
            "Invalid protocol gre for port range",
        ),
        bad(
            "/v2.0/security-group-rules",
            json!({"security_group_rule": {"security_group_id": sgid, "direction": "ingress", "protocol": "bogus"}}),
            "not supported",
        ),
        bad(
            "/v2.0/security-group-rules",
            json!({"security_group_rule": {"security_group_id": sgid, "direction": "ingress", "ethertype": "IPv6", "remote_ip_prefix": "10.0.0.0/8"}}),
            "Conflicting value ethertype IPv6",
        ),
        bad(
            "/v2.0/security-group-rules",
            json!({"security_group_rule": {"security_group_id": sgid, "direction": "sideways"}}),
            "",
        ),
        (
            "POST",
            "/v2.0/security-group-rules",
            json!({"security_group_rule": {"security_group_id": sgid, "direction": "egress"}}),
            StatusCode::CONFLICT,
            "Security group rule already exists",
        ),
        (
            "POST",
            "/v2.0/networks",
            json!({"network": {"name": "x", "shared": true}}),
            StatusCode::FORBIDDEN,
            "disallowed by policy",
        ),
        (
            "POST",
            "/v2.0/networks",
            json!({"network": {"name": "x", "provider:network_type": "vlan"}}),
            StatusCode::FORBIDDEN,
            "disallowed by policy",
        ),
        bad(
            "/v2.0/networks",
            json!({"network": {"name": "x".repeat(300)}}),
            "exceeds maximum length",
        ),
        bad("/v2.0/networks", json!({"networks": [{"name": "x"}]}), "Unable to find 'network'"),
        (
            "POST",
            "/v2.0/subnets",
            json!({"subnet": {"network_id": ferrostack_core::id::NetworkId::new(), "cidr": "10.5.0.0/24", "ip_version": 4}}),
            StatusCode::NOT_FOUND,
            "could not be found",
        ),
        (
            "PUT",
            &missing_port,
            json!({"port": {"name": "x"}}),
            StatusCode::NOT_FOUND,
            "could not be found",
        ),
        (
            "GET",
            "/v2.0/networks?limit=-3",
            Value::Null,
            StatusCode::BAD_REQUEST,
            "Limit must be an integer",
        ),
        (
            "GET",
            "/v2.0/networks?limit=1&marker=nope",
            Value::Null,
            StatusCode::NOT_FOUND,
            "Marker nope could not be found",
        ),
    ];
    for (method, uri, body, status, needle) in cases {
        let body = if body.is_null() { None } else { Some(body) };
        let (s, v) = call(app, Some(&c), method, uri, body.clone()).await;
        assert_eq!(s, status, "{method} {uri} {body:?} -> {v}");
        let msg = v["NeutronError"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "{uri}: {msg:?} should contain {needle:?}");
        assert!(v["NeutronError"]["type"].is_string(), "{v}");
    }
    // Malformed JSON, wrong types and no credentials.
    let (s, _) =
        call_raw(app, Some(&c), "POST", "/v2.0/networks", Some("{\"network\": ".into())).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = call_raw(
        app,
        Some(&c),
        "POST",
        "/v2.0/networks",
        Some("{\"network\": {\"admin_state_up\": \"yes\"}}".into()),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = call_raw(
        app,
        Some(&c),
        "POST",
        "/v2.0/networks",
        Some(format!("{{\"network\": {{\"name\": \"{}\"}}}}", "x".repeat(2 << 20))),
    )
    .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    let (s, v) = call(app, None, "GET", "/v2.0/networks", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");

    // Nothing changed.
    let (_, after) = get(app, &c, "/v2.0/subnets").await;
    assert_eq!(before, after);
    let (_, rules_after) = get(app, &c, "/v2.0/security-group-rules").await;
    assert_eq!(rules_before, rules_after);
    let (_, ports) = get(app, &c, "/v2.0/ports").await;
    assert_eq!(ports["ports"], json!([]));
    let (_, nets) = get(app, &c, "/v2.0/networks").await;
    assert_eq!(nets["networks"].as_array().unwrap().len(), 1);
    use ferrostack_core::store::StoreExt;
    assert!(e.store.list_all("network/ipam/").await.unwrap().is_empty());
    assert!(e.store.list_all("network/macs/").await.unwrap().is_empty());
}

#[tokio::test]
async fn filters_fields_sorting_and_pagination() {
    let e = env();
    let app = &e.app;
    let c = member(&ProjectId::new());
    for i in 0..5 {
        let (s, _) = post(
            app,
            &c,
            "/v2.0/networks",
            json!({"network": {"name": format!("net{i}"), "admin_state_up": i % 2 == 0}}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let (_, v) = get(app, &c, "/v2.0/networks?admin_state_up=false&fields=id&fields=name").await;
    let items = v["networks"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|n| n.as_object().unwrap().len() == 2 && n["name"].is_string()));
    let (_, v) =
        get(app, &c, "/v2.0/networks?name=net1&name=net3&sort_key=name&sort_dir=desc").await;
    let names: Vec<&str> =
        v["networks"].as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["net3", "net1"]);
    // Follow next links two at a time.
    let mut uri = "/v2.0/networks?limit=2&sort_key=name".to_string();
    let mut all = Vec::new();
    loop {
        let (s, v) = get(app, &c, &uri).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        all.extend(
            v["networks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["name"].as_str().unwrap().to_owned()),
        );
        match v["networks_links"].as_array().and_then(|l| l.iter().find(|x| x["rel"] == "next")) {
            Some(next) => {
                uri = next["href"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("http://127.0.0.1:9696/network")
                    .to_owned()
            }
            None => break,
        }
    }
    assert_eq!(all, vec!["net0", "net1", "net2", "net3", "net4"]);
    let (s, _) = get(app, &c, "/v2.0/networks?sort_key=secret").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, ext) = get(app, &c, "/v2.0/extensions").await;
    assert_eq!(s, StatusCode::OK);
    assert!(ext["extensions"].as_array().unwrap().iter().any(|x| x["alias"] == "router"));
}

#[tokio::test]
async fn quotas_limit_creation_and_report_usage() {
    let e = env();
    let app = &e.app;
    let p = ProjectId::new();
    let c = member(&p);
    let a = admin();
    let (s, _) = put(app, &c, &format!("/v2.0/quotas/{p}"), json!({"quota": {"network": 1}})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "members cannot raise their own quota");
    let (s, q) =
        put(app, &a, &format!("/v2.0/quotas/{p}"), json!({"quota": {"network": 1, "port": 2}}))
            .await;
    assert_eq!(s, StatusCode::OK, "{q}");
    let nid = create(app, &c, "/v2.0/networks", "network", json!({"name": "a"})).await;
    let (s, over) = post(app, &c, "/v2.0/networks", json!({"network": {"name": "b"}})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(over["NeutronError"]["type"], "OverQuota");
    assert_eq!(over["NeutronError"]["message"], "Quota exceeded for resources: ['network'].");
    for _ in 0..2 {
        let (s, _) = post(app, &c, "/v2.0/ports", json!({"port": {"network_id": nid}})).await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let (s, _) = post(app, &c, "/v2.0/ports", json!({"port": {"network_id": nid}})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, d) = get(app, &c, &format!("/v2.0/quotas/{p}/details.json")).await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d["quota"]["network"], json!({"limit": 1, "used": 1, "reserved": 0}));
    assert_eq!(d["quota"]["port"]["used"], 2);
    assert_eq!(d["quota"]["security_group"]["used"], 1, "the default group");
    let (s, _) = get(app, &member(&ProjectId::new()), &format!("/v2.0/quotas/{p}")).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = delete(app, &a, &format!("/v2.0/quotas/{p}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, q) = get(app, &c, &format!("/v2.0/quotas/{p}")).await;
    assert_eq!(q["quota"]["network"], 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn vlan_pool_never_hands_out_an_id_twice() {
    let config = NetworkConfig {
        vlan_ranges: vec![VlanRange { physical_network: "physnet1".into(), min: 100, max: 107 }],
        ..NetworkConfig::default()
    };
    let e = env_with(config);
    let a = admin();
    let mut tasks = Vec::new();
    for i in 0..12 {
        let app = e.app.clone();
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            post(&app, &a, "/v2.0/networks", json!({"network": {"name": format!("v{i}"), "provider:network_type": "vlan", "provider:physical_network": "physnet1"}})).await
        }));
    }
    let mut ids = HashSet::new();
    let mut exhausted = 0;
    for t in tasks {
        let (s, v) = t.await.unwrap();
        match s {
            StatusCode::CREATED => {
                let id = v["network"]["provider:segmentation_id"].as_u64().unwrap();
                assert!((100..=107).contains(&id));
                assert!(ids.insert(id), "VLAN {id} handed out twice");
            }
            StatusCode::SERVICE_UNAVAILABLE => exhausted += 1,
            other => panic!("unexpected {other}: {v}"),
        }
    }
    assert_eq!((ids.len(), exhausted), (8, 4));
    // An explicit id already in use is a 409; a flat physnet is used at most once.
    let (s, v) = post(&e.app, &a, "/v2.0/networks", json!({"network": {"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 100}})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let flat = json!({"network": {"provider:network_type": "flat", "provider:physical_network": "public"}});
    assert_eq!(post(&e.app, &a, "/v2.0/networks", flat.clone()).await.0, StatusCode::CREATED);
    assert_eq!(post(&e.app, &a, "/v2.0/networks", flat).await.0, StatusCode::CONFLICT);
}

/// Every alias `GET /v2.0/extensions` lists stands for something served: a route answering
/// 200 or an attribute of a rendered resource; the extensions not served are not listed.
#[tokio::test]
async fn the_extension_list_names_only_what_is_served() {
    let e = env();
    let app = &e.app;
    let a = admin();
    let (public, _) = public_network(&e).await;
    let (s, net) = post(app, &a, "/v2.0/networks", json!({"network": {"name": "n"}})).await;
    assert_eq!(s, StatusCode::CREATED, "{net}");
    let net = net["network"].clone();
    let (s, _) = post(
        app,
        &a,
        "/v2.0/subnets",
        json!({"subnet": {
        "network_id": net["id"], "cidr": "10.5.0.0/24", "ip_version": 4}}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, port) = post(app, &a, "/v2.0/ports", json!({"port": {"network_id": net["id"]}})).await;
    let port = port["port"].clone();
    let (_, router) = post(
        app,
        &a,
        "/v2.0/routers",
        json!({"router": {
        "name": "r", "external_gateway_info": {"network_id": public}}}),
    )
    .await;
    let router = router["router"].clone();
    let (_, sg) = post(
        app,
        &a,
        "/v2.0/security-groups",
        json!({
        "security_group": {"name": "g"}}),
    )
    .await;
    let sg = sg["security_group"].clone();
    let project = a.project_id().unwrap().to_string();

    let (s, list) = get(app, &a, "/v2.0/extensions").await;
    assert_eq!(s, StatusCode::OK);
    let aliases: Vec<&str> = list["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["alias"].as_str().unwrap())
        .collect();
    for alias in ["agent", "network-ip-availability", "subnet_allocation"] {
        assert!(!aliases.contains(&alias), "{alias} is listed but not served");
    }
    for alias in aliases {
        let (s, one) = get(app, &a, &format!("/v2.0/extensions/{alias}")).await;
        assert_eq!((s, one["extension"]["alias"].as_str()), (StatusCode::OK, Some(alias)));
        let served = match alias {
            "allowed-address-pairs" => port.get("allowed_address_pairs").is_some(),
            "binding" => {
                port.get("binding:host_id").is_some() && port.get("binding:vif_type").is_some()
            }
            "external-net" => net.get("router:external").is_some(),
            "ext-gw-mode" => router["external_gateway_info"].get("enable_snat").is_some(),
            "extraroute" => router.get("routes").is_some(),
            "net-mtu" => net.get("mtu").is_some(),
            "port-security" => port.get("port_security_enabled").is_some(),
            "provider" => net.get("provider:network_type").is_some(),
            "quotas" => get(app, &a, "/v2.0/quotas").await.0 == StatusCode::OK,
            "quota_details" => {
                let uri = format!("/v2.0/quotas/{project}/details.json");
                get(app, &a, &uri).await.0 == StatusCode::OK
            }
            "router" => get(app, &a, "/v2.0/routers").await.0 == StatusCode::OK,
            "security-group" => get(app, &a, "/v2.0/security-groups").await.0 == StatusCode::OK,
            "stateful-security-group" => sg.get("stateful").is_some(),
            "standard-attr-description" => net.get("description").is_some(),
            "standard-attr-revisions" => net.get("revision_number").is_some(),
            "standard-attr-timestamp" => net.get("created_at").is_some(),
            other => panic!("extension {other} is listed, but this test knows no evidence of it"),
        };
        assert!(served, "extension {alias} is listed but not served");
    }
    let (s, _) = get(app, &a, "/v2.0/extensions/agent").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
