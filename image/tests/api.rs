// SPDX-License-Identifier: Apache-2.0
//! The Glance v2 API through `tower::ServiceExt::oneshot`: the CLI's flow, hostile uploads,
//! bad input and foreign images, quotas under concurrency.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use ferrostack_core::RequestContext;
use ferrostack_core::id::{ProjectId, UserId};
use ferrostack_core::store::MemoryStore;
use ferrostack_image::{FilesystemStore, ImageConfig, ImageService, http};
use http_body_util::BodyExt;
use md5::Digest as _;
use serde_json::{Value, json};
use tower::ServiceExt;

/// A stand-in for identity's middleware: `x-test-project` and `x-test-roles` become the context.
async fn test_auth(mut req: Request, next: Next) -> axum::response::Response {
    let h = req.headers();
    if let Some(project) = h.get("x-test-project").and_then(|v| v.to_str().ok()) {
        let roles: Vec<String> = h
            .get("x-test-roles")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("member,reader")
            .split(',')
            .map(str::to_owned)
            .collect();
        let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
        let ctx = RequestContext::for_project(UserId::new(), project.parse().unwrap(), &roles);
        req.extensions_mut().insert(ctx);
    }
    next.run(req).await
}

struct Env {
    app: Router,
    _dir: tempfile::TempDir,
}

fn env(config: ImageConfig) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let data = Arc::new(FilesystemStore::new(dir.path()).unwrap());
    let svc = ImageService::new(Arc::new(MemoryStore::new()), data, config);
    let app = http::router(Arc::new(svc)).layer(axum::middleware::from_fn(test_auth));
    Env { app, _dir: dir }
}

async fn call(
    app: &Router,
    project: &str,
    method: Method,
    uri: &str,
    ct: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>) {
    let mut b = Request::builder().method(method).uri(uri).header("x-test-project", project);
    if let Some(ct) = ct {
        b = b.header("content-type", ct);
    }
    if project == "admin" {
        b = b
            .header("x-test-project", "adminproject")
            .header("x-test-roles", "admin,member,reader");
    }
    let resp = app.clone().oneshot(b.body(Body::from(body)).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes().to_vec();
    (status, bytes)
}

/// A request without a body.
async fn no_body(app: &Router, project: &str, method: Method, uri: &str) -> (StatusCode, Vec<u8>) {
    call(app, project, method, uri, None, vec![]).await
}

/// `PUT` of image data (`application/octet-stream`).
async fn put_data(app: &Router, project: &str, uri: &str, data: Vec<u8>) -> (StatusCode, Vec<u8>) {
    call(app, project, Method::PUT, uri, Some("application/octet-stream"), data).await
}

async fn json_call(
    app: &Router,
    project: &str,
    method: Method,
    uri: &str,
    body: Value,
) -> (StatusCode, Value) {
    let (s, b) =
        call(app, project, method, uri, Some("application/json"), body.to_string().into_bytes())
            .await;
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

/// `POST /v2/images/{id}/import` with `body`: the status.
async fn import(app: &Router, project: &str, id: &str, body: Value) -> StatusCode {
    json_call(app, project, Method::POST, &format!("/v2/images/{id}/import"), body).await.0
}

const PATCH: &str = "application/openstack-images-v2.1-json-patch";

async fn create(app: &Router, project: &str, body: Value) -> String {
    let (s, v) = json_call(app, project, Method::POST, "/v2/images", body).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["status"], "queued");
    v["id"].as_str().unwrap().to_owned()
}

fn qcow2_header(backing: u64, incompat: u64) -> Vec<u8> {
    let mut h = vec![0u8; 64 * 1024];
    h[..4].copy_from_slice(b"QFI\xfb");
    h[4..8].copy_from_slice(&3u32.to_be_bytes());
    h[8..16].copy_from_slice(&backing.to_be_bytes());
    h[24..32].copy_from_slice(&(1u64 << 30).to_be_bytes());
    h[0x48..0x50].copy_from_slice(&incompat.to_be_bytes());
    h
}

#[tokio::test]
async fn version_discovery_and_auth() {
    let e = env(ImageConfig::default());
    let resp = e
        .app
        .clone()
        .oneshot(Request::builder().uri("/").header("host", "h:1").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::MULTIPLE_CHOICES);
    let v: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(v["versions"][0]["id"], "v2.16");
    let resp = e
        .app
        .clone()
        .oneshot(Request::builder().uri("/v2/images").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let v: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(v["code"], "401 Unauthorized", "Glance error style: {v}");
}

#[tokio::test]
async fn cli_flow_upload_show_download_set_delete() {
    let e = env(ImageConfig::default());
    let p = ProjectId::new().to_string();
    let id = create(
        &e.app,
        &p,
        json!({"name": "cirros", "disk_format": "raw", "container_format": "bare",
               "visibility": "private", "owner_specified.openstack.md5": "x"}),
    )
    .await;
    let data: Vec<u8> = (0..1_000_003u32).map(|i| (i * 31 % 253) as u8).collect();
    let (s, _) = put_data(&e.app, &p, &format!("/v2/images/{id}/file"), data.clone()).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = json_call(&e.app, &p, Method::GET, &format!("/v2/images/{id}"), Value::Null).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["status"], "active");
    assert_eq!(v["size"], data.len());
    assert_eq!(v["virtual_size"], data.len());
    assert_eq!(v["owner_specified.openstack.md5"], "x");
    assert_eq!(v["checksum"], hex::encode(md5::Md5::digest(&data)));
    assert_eq!(v["os_hash_algo"], "sha512");
    assert_eq!(v["os_hash_value"], hex::encode(sha2::Sha512::digest(&data)));
    let (s, body) = no_body(&e.app, &p, Method::GET, &format!("/v2/images/{id}/file")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(body == data, "downloaded bytes differ");
    // Name lookup as the CLI does it: 404 on the name, then ?name=.
    let (s, _) = json_call(&e.app, &p, Method::GET, "/v2/images/cirros", Value::Null).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = json_call(&e.app, &p, Method::GET, "/v2/images?name=cirros", Value::Null).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["images"][0]["id"], id.as_str());
    // image set --property
    let ops = json!([{"op": "add", "path": "/hw_disk_bus", "value": "scsi"},
                     {"op": "replace", "path": "/name", "value": "cirros2"}]);
    let (s, b) = call(
        &e.app,
        &p,
        Method::PATCH,
        &format!("/v2/images/{id}"),
        Some(PATCH),
        ops.to_string().into_bytes(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["hw_disk_bus"], "scsi");
    assert_eq!(v["name"], "cirros2");
    // Upload to an active image: 409.
    let (s, _) = put_data(&e.app, &p, &format!("/v2/images/{id}/file"), b"more".to_vec()).await;
    assert_eq!(s, StatusCode::CONFLICT);
    // Delete, then it is gone.
    let (s, _) = no_body(&e.app, &p, Method::DELETE, &format!("/v2/images/{id}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = json_call(&e.app, &p, Method::GET, &format!("/v2/images/{id}"), Value::Null).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(std::fs::read_dir(e._dir.path()).unwrap().count(), 0, "data left behind");
}

#[tokio::test]
async fn hostile_uploads_are_refused_and_leave_no_active_image() {
    let e = env(ImageConfig::default());
    let p = ProjectId::new().to_string();
    for (name, disk, data) in [
        ("backing", "qcow2", qcow2_header(0x200, 0)),
        ("data-file", "qcow2", qcow2_header(0, 4)),
        ("unknown-feature", "qcow2", qcow2_header(0, 1 << 20)),
        ("raw-as-qcow2", "qcow2", vec![0u8; 100_000]),
        ("qcow2-as-raw", "raw", qcow2_header(0, 0)),
        ("vmdk-etc", "vmdk", {
            let mut d = vec![0u8; 64 * 1024];
            d[..4].copy_from_slice(b"KDMV");
            d[4..8].copy_from_slice(&1u32.to_le_bytes());
            d[28..36].copy_from_slice(&1u64.to_le_bytes());
            d[36..44].copy_from_slice(&1u64.to_le_bytes());
            let desc = b"createType=\"monolithicSparse\"\nRW 2048 FLAT \"/etc/shadow\" 0\n";
            d[512..512 + desc.len()].copy_from_slice(desc);
            d
        }),
    ] {
        let id = create(
            &e.app,
            &p,
            json!({"name": name, "disk_format": disk, "container_format": "bare"}),
        )
        .await;
        let (s, b) = put_data(&e.app, &p, &format!("/v2/images/{id}/file"), data).await;
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(s, StatusCode::BAD_REQUEST, "{name}: {v}");
        assert!(v["message"].as_str().unwrap().contains("image"), "{name}: {v}");
        let (_, v) =
            json_call(&e.app, &p, Method::GET, &format!("/v2/images/{id}"), Value::Null).await;
        assert_eq!(v["status"], "queued", "{name}");
        assert_eq!(v["size"], Value::Null);
        let (s, _) = no_body(&e.app, &p, Method::GET, &format!("/v2/images/{id}/file")).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{name}: no data must be served");
    }
    let (_, v) = json_call(&e.app, &p, Method::GET, "/v2/images?status=active", Value::Null).await;
    assert_eq!(v["images"].as_array().unwrap().len(), 0);
    // Only the filesystem store's directory: no partial files left.
    assert_eq!(std::fs::read_dir(e._dir.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn bad_input_gets_glance_status_codes() {
    let e = env(ImageConfig::default());
    let p = ProjectId::new().to_string();
    let other = ProjectId::new().to_string();
    let id =
        create(&e.app, &p, json!({"name": "a", "disk_format": "raw", "container_format": "bare"}))
            .await;
    let uri = format!("/v2/images/{id}");
    let patch = |body: &str, ct: &'static str| (body.as_bytes().to_vec(), ct);
    for (body, want) in [
        (patch("not json", PATCH), StatusCode::BAD_REQUEST),
        (patch(r#"{"op":"add"}"#, PATCH), StatusCode::BAD_REQUEST),
        (patch(r#"[{"op":"move","path":"/name","value":1}]"#, PATCH), StatusCode::BAD_REQUEST),
        (patch(r#"[{"op":"add","path":"name","value":"x"}]"#, PATCH), StatusCode::BAD_REQUEST),
        (
            patch(r#"[{"op":"replace","path":"/status","value":"active"}]"#, PATCH),
            StatusCode::FORBIDDEN,
        ),
        (
            patch(r#"[{"op":"replace","path":"/checksum","value":"0"}]"#, PATCH),
            StatusCode::FORBIDDEN,
        ),
        (
            patch(r#"[{"op":"add","path":"/os_glance_x","value":"0"}]"#, PATCH),
            StatusCode::FORBIDDEN,
        ),
        (patch(r#"[{"op":"remove","path":"/name"}]"#, PATCH), StatusCode::FORBIDDEN),
        (patch(r#"[{"op":"remove","path":"/nope"}]"#, PATCH), StatusCode::CONFLICT),
        (patch(r#"[{"op":"replace","path":"/nope","value":"1"}]"#, PATCH), StatusCode::CONFLICT),
        (
            patch(r#"[{"op":"replace","path":"/visibility","value":"public"}]"#, PATCH),
            StatusCode::FORBIDDEN,
        ),
        (
            patch(r#"[{"op":"replace","path":"/visibility","value":"bogus"}]"#, PATCH),
            StatusCode::BAD_REQUEST,
        ),
        (
            patch(r#"[{"op":"replace","path":"/min_ram","value":-1}]"#, PATCH),
            StatusCode::BAD_REQUEST,
        ),
        (
            patch(r#"[{"op":"replace","path":"/disk_format","value":"floppy"}]"#, PATCH),
            StatusCode::BAD_REQUEST,
        ),
        (
            patch(r#"[{"op":"add","path":"/p","value":{"nested":1}}]"#, PATCH),
            StatusCode::BAD_REQUEST,
        ),
        (patch("[]", "application/json"), StatusCode::UNSUPPORTED_MEDIA_TYPE),
    ] {
        let (s, b) = call(&e.app, &p, Method::PATCH, &uri, Some(body.1), body.0.clone()).await;
        assert_eq!(
            s,
            want,
            "{}: {}",
            String::from_utf8_lossy(&body.0),
            String::from_utf8_lossy(&b)
        );
    }
    // Creation with read-only or malformed attributes.
    for (body, want) in [
        (json!({"status": "active"}), StatusCode::FORBIDDEN),
        (json!({"size": 1}), StatusCode::FORBIDDEN),
        (json!({"id": "not-a-uuid"}), StatusCode::BAD_REQUEST),
        (json!({"disk_format": "exe"}), StatusCode::BAD_REQUEST),
        (json!({"name": "x".repeat(300)}), StatusCode::BAD_REQUEST),
        (json!({"protected": "yes"}), StatusCode::BAD_REQUEST),
        (json!([1, 2]), StatusCode::BAD_REQUEST),
        (json!({"id": id}), StatusCode::CONFLICT),
    ] {
        let (s, v) = json_call(&e.app, &p, Method::POST, "/v2/images", body.clone()).await;
        assert_eq!(s, want, "{body}: {v}");
    }
    // Upload with the wrong media type; upload without formats.
    let (s, _) =
        call(&e.app, &p, Method::PUT, &format!("{uri}/file"), Some("text/plain"), b"x".to_vec())
            .await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let bare = create(&e.app, &p, json!({"name": "noformats"})).await;
    let (s, _) = put_data(&e.app, &p, &format!("/v2/images/{bare}/file"), b"x".to_vec()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // A foreign private image is invisible: 404 for every operation.
    let private = create(
        &e.app,
        &p,
        json!({"visibility": "private", "disk_format": "raw", "container_format": "bare"}),
    )
    .await;
    let puri = format!("/v2/images/{private}");
    for (m, u, ct, body) in [
        (Method::GET, puri.clone(), None, vec![]),
        (Method::DELETE, puri.clone(), None, vec![]),
        (Method::PATCH, puri.clone(), Some(PATCH), b"[]".to_vec()),
        (Method::PUT, format!("{puri}/file"), Some("application/octet-stream"), b"x".to_vec()),
        (Method::GET, format!("{puri}/file"), None, vec![]),
        (Method::PUT, format!("{puri}/tags/t"), None, vec![]),
    ] {
        let (s, _) = call(&e.app, &other, m.clone(), &u, ct, body).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{m} {u}");
    }
    let (_, v) = json_call(&e.app, &other, Method::GET, "/v2/images", Value::Null).await;
    assert!(v["images"].as_array().unwrap().is_empty(), "{v}");
    // Protected images cannot be deleted.
    let (s, _) = call(
        &e.app,
        &p,
        Method::PATCH,
        &puri,
        Some(PATCH),
        br#"[{"op":"replace","path":"/protected","value":true}]"#.to_vec(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = no_body(&e.app, &p, Method::DELETE, &puri).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Unknown ids are 404, never 500.
    let (s, _) = no_body(&e.app, &p, Method::GET, "/v2/images/nope%20nope").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = no_body(&e.app, &p, Method::GET, "/v2/images/%00%ff").await;
    assert!(s.is_client_error(), "{s}");
}

#[tokio::test]
async fn sharing_deactivation_and_tags() {
    let e = env(ImageConfig::default());
    let owner = ProjectId::new().to_string();
    let friend = ProjectId::new().to_string();
    let id =
        create(&e.app, &owner, json!({"disk_format": "raw", "container_format": "bare"})).await;
    let (s, _) = put_data(&e.app, &owner, &format!("/v2/images/{id}/file"), b"data".to_vec()).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = no_body(&e.app, &friend, Method::GET, &format!("/v2/images/{id}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let members = format!("/v2/images/{id}/members");
    let share = json!({"member": friend});
    let (s, v) = json_call(&e.app, &owner, Method::POST, &members, share.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "pending");
    let (s, _) = json_call(&e.app, &owner, Method::POST, &members, share).await;
    assert_eq!(s, StatusCode::CONFLICT);
    // Visible (get) but not listed until accepted; only the member may accept.
    let (s, _) = no_body(&e.app, &friend, Method::GET, &format!("/v2/images/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    let (_, v) = json_call(&e.app, &friend, Method::GET, "/v2/images", Value::Null).await;
    assert!(v["images"].as_array().unwrap().is_empty());
    let membership = format!("{members}/{friend}");
    for (who, want) in [(&owner, StatusCode::FORBIDDEN), (&friend, StatusCode::OK)] {
        let accept = json!({"status": "accepted"});
        let (s, _) = json_call(&e.app, who, Method::PUT, &membership, accept).await;
        assert_eq!(s, want, "{who} accepts");
    }
    let (_, v) = json_call(&e.app, &friend, Method::GET, "/v2/images", Value::Null).await;
    assert_eq!(v["images"].as_array().unwrap().len(), 1);
    // The member cannot modify or delete.
    let (s, _) = no_body(&e.app, &friend, Method::DELETE, &format!("/v2/images/{id}")).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Tags.
    let (s, _) = no_body(&e.app, &owner, Method::PUT, &format!("/v2/images/{id}/tags/gold")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, v) =
        json_call(&e.app, &owner, Method::GET, &format!("/v2/images/{id}"), Value::Null).await;
    assert_eq!(v["tags"], json!(["gold"]));
    let (s, _) =
        no_body(&e.app, &owner, Method::DELETE, &format!("/v2/images/{id}/tags/silver")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Deactivation is for admins; a deactivated image's data is forbidden to others.
    let (s, _) =
        no_body(&e.app, &owner, Method::POST, &format!("/v2/images/{id}/actions/deactivate")).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) =
        no_body(&e.app, "admin", Method::POST, &format!("/v2/images/{id}/actions/deactivate"))
            .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = no_body(&e.app, &owner, Method::GET, &format!("/v2/images/{id}/file")).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) =
        no_body(&e.app, "admin", Method::POST, &format!("/v2/images/{id}/actions/reactivate"))
            .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, b) = no_body(&e.app, &owner, Method::GET, &format!("/v2/images/{id}/file")).await;
    assert_eq!((s, b.as_slice()), (StatusCode::OK, b"data".as_slice()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quotas_hold_under_concurrency() {
    let e = env(ImageConfig {
        image_count_total: Some(3),
        image_size_total: Some(10),
        ..ImageConfig::default()
    });
    let p = ProjectId::new().to_string();
    let mut tasks = Vec::new();
    for i in 0..12 {
        let app = e.app.clone();
        let p = p.clone();
        tasks.push(tokio::spawn(async move {
            json_call(
                &app,
                &p,
                Method::POST,
                "/v2/images",
                json!({"name": format!("i{i}"), "disk_format": "raw", "container_format": "bare"}),
            )
            .await
        }));
    }
    let mut created = Vec::new();
    for t in tasks {
        let (s, v) = t.await.unwrap();
        match s {
            StatusCode::CREATED => created.push(v["id"].as_str().unwrap().to_owned()),
            StatusCode::PAYLOAD_TOO_LARGE => {}
            other => panic!("unexpected {other}: {v}"),
        }
    }
    assert_eq!(created.len(), 3);
    // 8 bytes fit the 10-byte quota; 8 more do not.
    let (s, _) = put_data(&e.app, &p, &format!("/v2/images/{}/file", created[0]), vec![1; 8]).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = put_data(&e.app, &p, &format!("/v2/images/{}/file", created[1]), vec![1; 8]).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    // Deleting frees both count and bytes.
    let (s, _) = no_body(&e.app, &p, Method::DELETE, &format!("/v2/images/{}", created[0])).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = put_data(&e.app, &p, &format!("/v2/images/{}/file", created[1]), vec![1; 8]).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    create(&e.app, &p, json!({"name": "again"})).await;
}

#[tokio::test]
async fn glance_direct_import_inspects_staged_data() {
    let e = env(ImageConfig::default());
    let p = ProjectId::new().to_string();
    let (s, v) = json_call(&e.app, &p, Method::GET, "/v2/info/import", Value::Null).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["import-methods"]["value"], json!(["glance-direct"]));
    // A clean qcow2 imports; a hostile one is refused after staging and ends up queued.
    for (name, data, ok) in
        [("clean", qcow2_header(0, 0), true), ("hostile", qcow2_header(0x200, 0), false)]
    {
        let id = create(
            &e.app,
            &p,
            json!({"name": name, "disk_format": "qcow2", "container_format": "bare"}),
        )
        .await;
        let s = import(&e.app, &p, &id, json!({"method":{"name":"glance-direct"}})).await;
        assert_eq!(s, StatusCode::CONFLICT, "{name}: import before staging");
        let (s, _) = put_data(&e.app, &p, &format!("/v2/images/{id}/stage"), data.clone()).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (_, v) =
            json_call(&e.app, &p, Method::GET, &format!("/v2/images/{id}"), Value::Null).await;
        assert_eq!(v["status"], "uploading");
        let s = import(
            &e.app,
            &p,
            &id,
            json!({"method":{"name":"web-download","uri":"http://169.254.169.254/"}}),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "web-download is not enabled");
        let s = import(&e.app, &p, &id, json!({"method":{"name":"glance-direct"}})).await;
        let (_, v) =
            json_call(&e.app, &p, Method::GET, &format!("/v2/images/{id}"), Value::Null).await;
        if ok {
            assert_eq!(s, StatusCode::ACCEPTED);
            assert_eq!(v["status"], "active");
            assert_eq!(v["virtual_size"], 1u64 << 30);
            assert_eq!(v["os_hash_value"], hex::encode(sha2::Sha512::digest(&data)));
        } else {
            assert_eq!(s, StatusCode::BAD_REQUEST);
            assert_eq!(v["status"], "queued");
            let (s, _) = no_body(&e.app, &p, Method::GET, &format!("/v2/images/{id}/file")).await;
            assert_eq!(s, StatusCode::NO_CONTENT);
        }
    }
}
