// SPDX-License-Identifier: Apache-2.0
//! The Nova REST API in process (tower::ServiceExt::oneshot): shapes, status codes, fault
//! bodies for bad input, and 100 concurrent creates on 10 fake hosts.

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use ferrostack_compute::hypervisor::HostResources;
use ferrostack_core::RequestContext;
use ferrostack_core::id::{ProjectId, UserId};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tower::ServiceExt;

fn app(e: &Env) -> Router {
    ferrostack_compute::http::router(e.compute.service.clone())
}

fn with_ctx(router: Router, ctx: RequestContext) -> Router {
    router.layer(axum::middleware::from_fn(
        move |mut req: axum::extract::Request, next: axum::middleware::Next| {
            let ctx = ctx.clone();
            async move {
                req.extensions_mut().insert(ctx);
                next.run(req).await
            }
        },
    ))
}

async fn send(
    r: &Router,
    method: &str,
    path: &str,
    body: Option<Value>,
    mv: Option<&str>,
) -> (StatusCode, Value) {
    let mut b = Request::builder().method(method).uri(path).header("host", "127.0.0.1:8800");
    if let Some(v) = mv {
        b = b.header("OpenStack-API-Version", format!("compute {v}"));
    }
    let req = match body {
        Some(v) => {
            b.header("content-type", "application/json").body(Body::from(v.to_string())).unwrap()
        }
        None => b.body(Body::empty()).unwrap(),
    };
    let resp = r.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn create_body(e: &Env, name: &str) -> Value {
    json!({"server": {"name": name, "imageRef": e.image.to_string(), "flavorRef": "1", "networks": [{"uuid": e.net.to_string()}]}})
}

async fn wait_status(r: &Router, id: &str, want: &str) -> Value {
    for _ in 0..2000 {
        let (st, v) = send(r, "GET", &format!("/v2.1/servers/{id}"), None, None).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        if v["server"]["status"] == want {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("server {id} never reached {want}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_auth_and_server_lifecycle_shapes() {
    let e = env(2).await;
    let raw = app(&e);
    let (st, v) = send(&raw, "GET", "/", None, None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["versions"][0]["id"], "v2.0");
    assert_eq!(v["versions"][1]["id"], "v2.1");
    assert_eq!(v["versions"][1]["version"], "2.79");
    let (st, v) = send(&raw, "GET", "/v2.1/", None, None).await;
    assert_eq!((st, v["version"]["min_version"].clone()), (StatusCode::OK, json!("2.1")));
    let (st, v) = send(&raw, "GET", "/v2.1/servers", None, None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(v["unauthorized"]["code"], 401);

    let r = with_ctx(raw, e.ctx.clone());
    let (st, v) =
        send(&r, "POST", "/v2.1/servers", Some(create_body(&e, "vm1")), Some("2.79")).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    let id = v["server"]["id"].as_str().unwrap().to_owned();
    assert!(v["server"]["adminPass"].is_string());
    let s = wait_status(&r, &id, "ACTIVE").await;
    let s = &s["server"];
    for k in [
        "id",
        "name",
        "status",
        "tenant_id",
        "user_id",
        "metadata",
        "hostId",
        "image",
        "flavor",
        "created",
        "updated",
        "addresses",
        "links",
        "accessIPv4",
        "accessIPv6",
        "OS-EXT-STS:vm_state",
        "OS-EXT-STS:power_state",
        "OS-EXT-AZ:availability_zone",
        "os-extended-volumes:volumes_attached",
    ] {
        assert!(s.get(k).is_some(), "missing {k} in {s}");
    }
    assert_eq!(s["addresses"]["private"][0]["version"], 4);
    assert_eq!(s["OS-EXT-STS:power_state"], 1);
    assert!(s.get("OS-EXT-SRV-ATTR:host").is_none(), "admin-only fields hidden");
    let (st, v) = send(&r, "GET", &format!("/v2.1/servers/{id}"), None, Some("2.79")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["server"]["flavor"]["original_name"], "m1.tiny");
    assert_eq!(v["server"]["locked"], false);

    let (st, v) = send(&r, "GET", "/v2.1/servers", None, None).await;
    assert_eq!((st, v["servers"].as_array().unwrap().len()), (StatusCode::OK, 1));
    let (_, v) = send(&r, "GET", "/v2.1/servers/detail?status=ACTIVE", None, None).await;
    assert_eq!(v["servers"][0]["id"], id.as_str());
    let (_, v) = send(&r, "GET", "/v2.1/servers/detail?status=SHUTOFF", None, None).await;
    assert!(v["servers"].as_array().unwrap().is_empty());

    // Actions.
    let act = |body: Value| {
        let r = r.clone();
        let id = id.clone();
        async move { send(&r, "POST", &format!("/v2.1/servers/{id}/action"), Some(body), None).await }
    };
    assert_eq!(act(json!({"os-stop": null})).await.0, StatusCode::ACCEPTED);
    wait_status(&r, &id, "SHUTOFF").await;
    let (st, v) = act(json!({"os-stop": null})).await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    assert!(
        v["conflictingRequest"]["message"].as_str().unwrap().contains("vm_state stopped"),
        "{v}"
    );
    assert_eq!(act(json!({"os-start": null})).await.0, StatusCode::ACCEPTED);
    wait_status(&r, &id, "ACTIVE").await;
    assert_eq!(act(json!({"reboot": {"type": "HARD"}})).await.0, StatusCode::ACCEPTED);
    wait_status(&r, &id, "ACTIVE").await;
    assert_eq!(act(json!({"reboot": {"type": "sideways"}})).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(act(json!({"frobnicate": {}})).await.0, StatusCode::BAD_REQUEST);
    // Console output: all of it, the last line, and Nova's length validation.
    let (st, v) = act(json!({"os-getConsoleOutput": {}})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let all = v["output"].as_str().unwrap().to_owned();
    assert!(all.contains("fake console of") && all.lines().count() == 2, "{v}");
    let (_, v) = act(json!({"os-getConsoleOutput": {"length": "1"}})).await;
    assert_eq!(v["output"], all.lines().last().unwrap().to_owned() + "\n");
    assert_eq!(act(json!({"os-getConsoleOutput": {"length": -1}})).await.1["output"], all);
    for bad in [json!(-2), json!("x"), json!(1.5), json!([1])] {
        let (st, v) = act(json!({"os-getConsoleOutput": {"length": bad}})).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    }

    // Volumes.
    let vol = e.volumes.add(1);
    let (st, v) = send(
        &r,
        "POST",
        &format!("/v2.1/servers/{id}/os-volume_attachments"),
        Some(json!({"volumeAttachment": {"volumeId": vol.to_string()}})),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["volumeAttachment"]["device"], "/dev/vdb");
    assert_eq!(e.volumes.status(vol).as_deref(), Some("in-use"));
    let (st, _) =
        send(&r, "DELETE", &format!("/v2.1/servers/{id}/os-volume_attachments/{vol}"), None, None)
            .await;
    assert_eq!(st, StatusCode::ACCEPTED);
    assert_eq!(e.volumes.status(vol).as_deref(), Some("available"));

    // Snapshot (2.45+ returns the image id).
    let (st, v) = send(
        &r,
        "POST",
        &format!("/v2.1/servers/{id}/action"),
        Some(json!({"createImage": {"name": "snap"}})),
        Some("2.45"),
    )
    .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    assert!(v["image_id"].is_string());
    wait_status(&r, &id, "ACTIVE").await;

    let (st, _) = send(&r, "DELETE", &format!("/v2.1/servers/{id}"), None, None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    for _ in 0..2000 {
        if send(&r, "GET", &format!("/v2.1/servers/{id}"), None, None).await.0
            == StatusCode::NOT_FOUND
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (st, v) = send(&r, "GET", &format!("/v2.1/servers/{id}"), None, None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(v["itemNotFound"]["code"], 404);
    assert!(e.networks.ports().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_nova_codes_and_changes_nothing() {
    let e = env(1).await;
    let r = with_ctx(app(&e), e.ctx.clone());
    let missing = format!("/v2.1/servers/{}", uuid::Uuid::new_v4());
    let cases: Vec<(&str, &str, Option<Value>, StatusCode, &str)> = vec![
        (
            "POST",
            "/v2.1/servers",
            Some(
                json!({"server": {"name": "x", "imageRef": e.image.to_string(), "flavorRef": "999", "networks": [{"uuid": e.net.to_string()}]}}),
            ),
            StatusCode::BAD_REQUEST,
            "badRequest",
        ),
        (
            "POST",
            "/v2.1/servers",
            Some(
                json!({"server": {"name": "x", "imageRef": uuid::Uuid::new_v4().to_string(), "flavorRef": "1", "networks": [{"uuid": e.net.to_string()}]}}),
            ),
            StatusCode::BAD_REQUEST,
            "badRequest",
        ),
        (
            "POST",
            "/v2.1/servers",
            Some(
                json!({"server": {"name": "x", "imageRef": e.image.to_string(), "flavorRef": "1", "networks": [{"uuid": uuid::Uuid::new_v4().to_string()}]}}),
            ),
            StatusCode::BAD_REQUEST,
            "badRequest",
        ),
        (
            "POST",
            "/v2.1/servers",
            Some(
                json!({"server": {"name": "x", "imageRef": "not-a-uuid", "flavorRef": "1", "networks": []}}),
            ),
            StatusCode::BAD_REQUEST,
            "badRequest",
        ),
        (
            "POST",
            "/v2.1/servers",
            Some(json!({"server": {"name": 42, "flavorRef": "1"}})),
            StatusCode::BAD_REQUEST,
            "badRequest",
        ),
        (
            "POST",
            "/v2.1/servers",
            Some(
                json!({"server": {"name": "x", "imageRef": e.image.to_string(), "flavorRef": "1", "min_count": -3}}),
            ),
            StatusCode::BAD_REQUEST,
            "badRequest",
        ),
        (
            "POST",
            "/v2.1/servers",
            Some(json!({"nothing": true})),
            StatusCode::BAD_REQUEST,
            "badRequest",
        ),
        ("POST", "/v2.1/servers", Some(json!([1, 2, 3])), StatusCode::BAD_REQUEST, "badRequest"),
        ("GET", "/v2.1/servers/not-a-uuid", None, StatusCode::NOT_FOUND, "itemNotFound"),
        ("GET", &missing, None, StatusCode::NOT_FOUND, "itemNotFound"),
        ("GET", "/v2.1/flavors/nope", None, StatusCode::NOT_FOUND, "itemNotFound"),
        (
            "POST",
            "/v2.1/flavors",
            Some(json!({"flavor": {"name": "f", "ram": 1, "vcpus": 1, "disk": 1}})),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            "POST",
            "/v2.1/os-keypairs",
            Some(json!({"keypair": {"name": "k", "public_key": "ssh-rsa garbage"}})),
            StatusCode::BAD_REQUEST,
            "badRequest",
        ),
        (
            "POST",
            "/v2.1/os-keypairs",
            Some(json!({"keypair": {"name": "bad/name", "public_key": "x"}})),
            StatusCode::BAD_REQUEST,
            "badRequest",
        ),
        (
            "POST",
            "/v2.1/os-server-groups",
            Some(json!({"server_group": {"name": "g", "policies": ["chaos"]}})),
            StatusCode::BAD_REQUEST,
            "badRequest",
        ),
        ("GET", "/v2.1/servers?limit=abc", None, StatusCode::BAD_REQUEST, "badRequest"),
    ];
    for (m, p, b, want, fault) in cases {
        let (st, v) = send(&r, m, p, b.clone(), None).await;
        assert_eq!(st, want, "{m} {p} {b:?}: {v}");
        assert_eq!(v[fault]["code"], want.as_u16(), "{m} {p}: {v}");
    }
    // Malformed JSON and oversized bodies.
    let req = Request::builder()
        .method("POST")
        .uri("/v2.1/servers")
        .header("content-type", "application/json")
        .body(Body::from("{\"server\": "))
        .unwrap();
    assert_eq!(r.clone().oneshot(req).await.unwrap().status(), StatusCode::BAD_REQUEST);
    let big = format!("{{\"server\": {{\"name\": \"{}\"}}}}", "x".repeat(400 * 1024));
    let req = Request::builder()
        .method("POST")
        .uri("/v2.1/servers")
        .header("content-type", "application/json")
        .body(Body::from(big))
        .unwrap();
    assert_eq!(r.clone().oneshot(req).await.unwrap().status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Microversions out of range / garbage.
    assert_eq!(
        send(&r, "GET", "/v2.1/servers", None, Some("2.999")).await.0,
        StatusCode::NOT_ACCEPTABLE
    );
    assert_eq!(
        send(&r, "GET", "/v2.1/servers", None, Some("two")).await.0,
        StatusCode::BAD_REQUEST
    );
    // Nothing was created by any of it.
    assert!(
        send(&r, "GET", "/v2.1/servers", None, None).await.1["servers"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(e.networks.ports().is_empty());

    // Over quota: 403 with Nova's message; nothing created.
    let admin = with_ctx(
        app(&e),
        RequestContext::for_project(
            UserId::new(),
            ProjectId::new(),
            &["admin", "member", "reader"],
        ),
    );
    let project = e.ctx.project_id().unwrap().clone();
    let (st, v) = send(
        &admin,
        "PUT",
        &format!("/v2.1/os-quota-sets/{project}"),
        Some(json!({"quota_set": {"instances": 1}})),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let mut body = create_body(&e, "many");
    body["server"]["min_count"] = json!(2);
    let (st, v) = send(&r, "POST", "/v2.1/servers", Some(body), None).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    assert!(v["forbidden"]["message"].as_str().unwrap().contains("Quota exceeded for instances"));
    assert!(
        send(&r, "GET", "/v2.1/servers", None, None).await.1["servers"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Foreign project's server: 404 for show, actions and delete.
    let (st, v) = send(&r, "POST", "/v2.1/servers", Some(create_body(&e, "mine")), None).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    let id = v["server"]["id"].as_str().unwrap().to_owned();
    wait_status(&r, &id, "ACTIVE").await;
    let other = with_ctx(
        app(&e),
        RequestContext::for_project(UserId::new(), ProjectId::new(), &["member", "reader"]),
    );
    assert_eq!(
        send(&other, "GET", &format!("/v2.1/servers/{id}"), None, None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(
            &other,
            "POST",
            &format!("/v2.1/servers/{id}/action"),
            Some(json!({"os-stop": null})),
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&other, "DELETE", &format!("/v2.1/servers/{id}"), None, None).await.0,
        StatusCode::NOT_FOUND
    );
    wait_status(&r, &id, "ACTIVE").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flavors_keypairs_groups_limits_and_zones() {
    let e = env(1).await;
    let r = with_ctx(app(&e), e.ctx.clone());
    let (st, v) = send(&r, "GET", "/v2.1/flavors/detail", None, None).await;
    assert_eq!(st, StatusCode::OK);
    let f = &v["flavors"][0];
    for k in [
        "name",
        "links",
        "ram",
        "vcpus",
        "swap",
        "disk",
        "id",
        "OS-FLV-EXT-DATA:ephemeral",
        "os-flavor-access:is_public",
        "rxtx_factor",
    ] {
        assert!(f.get(k).is_some(), "{k} missing in {f}");
    }
    let (_, v) = send(&r, "GET", "/v2.1/flavors?minRam=4096", None, None).await;
    assert_eq!(v["flavors"].as_array().unwrap().len(), 3);
    let admin = with_ctx(
        app(&e),
        RequestContext::for_project(
            UserId::new(),
            ProjectId::new(),
            &["admin", "member", "reader"],
        ),
    );
    let (st, v) = send(
        &admin,
        "POST",
        "/v2.1/flavors",
        Some(json!({"flavor": {"name": "c1", "ram": 256, "vcpus": 1, "disk": 1, "id": "c1"}})),
        Some("2.61"),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, _) = send(
        &admin,
        "POST",
        "/v2.1/flavors",
        Some(json!({"flavor": {"name": "c1", "ram": 256, "vcpus": 1, "disk": 1}})),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT);
    let (st, v) = send(
        &admin,
        "POST",
        "/v2.1/flavors/c1/os-extra_specs",
        Some(json!({"extra_specs": {"hw:cpu_policy": "dedicated"}})),
        None,
    )
    .await;
    assert_eq!(
        (st, v["extra_specs"]["hw:cpu_policy"].clone()),
        (StatusCode::OK, json!("dedicated"))
    );
    let (_, v) = send(&r, "GET", "/v2.1/flavors/c1", None, Some("2.61")).await;
    assert_eq!(v["flavor"]["extra_specs"]["hw:cpu_policy"], "dedicated");

    // Keypair import with a well-formed ed25519 key.
    let mut blob = vec![0, 0, 0, 11];
    blob.extend_from_slice(b"ssh-ed25519");
    blob.extend_from_slice(&[0, 0, 0, 32]);
    blob.extend_from_slice(&[7u8; 32]);
    use base64::Engine;
    let key =
        format!("ssh-ed25519 {} test", base64::engine::general_purpose::STANDARD.encode(&blob));
    let (st, v) = send(
        &r,
        "POST",
        "/v2.1/os-keypairs",
        Some(json!({"keypair": {"name": "k1", "public_key": key}})),
        Some("2.10"),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["keypair"]["type"], "ssh");
    let (st, _) = send(
        &r,
        "POST",
        "/v2.1/os-keypairs",
        Some(json!({"keypair": {"name": "k1", "public_key": key}})),
        Some("2.10"),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT);
    let (_, v) = send(&r, "GET", "/v2.1/os-keypairs", None, None).await;
    assert_eq!(v["keypairs"][0]["keypair"]["name"], "k1");
    assert_eq!(
        send(&r, "DELETE", "/v2.1/os-keypairs/k1", None, Some("2.2")).await.0,
        StatusCode::NO_CONTENT
    );
    // Without a public key Nova generates one and returns the private key once.
    let (st, v) = send(
        &r,
        "POST",
        "/v2.1/os-keypairs",
        Some(json!({"keypair": {"name": "gen"}})),
        Some("2.10"),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let private = v["keypair"]["private_key"].as_str().unwrap_or_default();
    assert!(private.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"), "{v}");
    let public = v["keypair"]["public_key"].as_str().unwrap();
    assert!(public.starts_with("ssh-rsa AAAA") && public.ends_with(" gen"), "{v}");
    assert_eq!(v["keypair"]["fingerprint"].as_str().unwrap().split(':').count(), 16, "{v}");
    let (_, v) = send(&r, "GET", "/v2.1/os-keypairs/gen", None, Some("2.10")).await;
    assert_eq!(v["keypair"]["public_key"], public);
    assert!(v["keypair"].get("private_key").is_none(), "shown again: {v}");

    let (st, v) = send(&r, "POST", "/v2.1/os-server-groups", Some(json!({"server_group": {"name": "g", "policy": "anti-affinity", "rules": {"max_server_per_host": 2}}})), Some("2.64")).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["server_group"]["rules"]["max_server_per_host"], 2);
    let (_, v) = send(&r, "GET", "/v2.1/os-server-groups", None, None).await;
    assert_eq!(v["server_groups"][0]["policies"][0], "anti-affinity");

    let (st, v) = send(&r, "GET", "/v2.1/limits", None, None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["limits"]["absolute"]["maxTotalInstances"], 10);
    let (_, v) = send(&r, "GET", "/v2.1/os-availability-zone", None, None).await;
    assert_eq!(v["availabilityZoneInfo"][0]["zoneName"], "nova");
    assert_eq!(v["availabilityZoneInfo"][0]["zoneState"]["available"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_creates_on_ten_hosts() {
    // Each host fits exactly 10 m1.tiny (1 vCPU, 512 MiB) at allocation ratio 1.0.
    let e = env_with(10, HostResources { vcpus: 10, memory_mb: 5120, disk_gb: 100 }, |_| {}).await;
    let admin_ctx = RequestContext::for_project(
        UserId::new(),
        ProjectId::new(),
        &["admin", "member", "reader"],
    );
    let admin = with_ctx(app(&e), admin_ctx);
    let project = e.ctx.project_id().unwrap().clone();
    let (st, _) = send(
        &admin,
        "PUT",
        &format!("/v2.1/os-quota-sets/{project}"),
        Some(json!({"quota_set": {"instances": -1, "cores": -1, "ram": -1}})),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let r = with_ctx(app(&e), e.ctx.clone());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..100 {
        let r = r.clone();
        let body = create_body(&e, &format!("c{i}"));
        tasks.push(tokio::spawn(async move {
            send(&r, "POST", "/v2.1/servers", Some(body), None).await
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        let (st, v) = t.await.unwrap();
        assert_eq!(st, StatusCode::ACCEPTED, "{v}");
        ids.push(v["server"]["id"].as_str().unwrap().to_owned());
    }
    let accepted = start.elapsed();
    for id in &ids {
        wait_status(&r, id, "ACTIVE").await;
    }
    let active = start.elapsed();
    for h in e.compute.deps.placement.hosts().await.unwrap() {
        assert!(
            h.used.vcpus <= h.total.vcpus && h.used.ram_mb <= h.total.ram_mb,
            "over capacity: {h:?}"
        );
        assert_eq!(h.instances, 10, "{h:?}");
    }
    assert_eq!(e.domains(), 100);
    for hv in &e.hvs {
        assert_eq!(hv.domain_count(), 10);
    }
    eprintln!(
        "100 creates on 10 fake hosts: all accepted in {:?}, all ACTIVE in {:?} ({:.0} servers/s)",
        accepted,
        active,
        100.0 / active.as_secs_f64()
    );
}
