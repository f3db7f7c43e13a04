// SPDX-License-Identifier: Apache-2.0
//! API tests of [`crate::http::router`] through `tower::ServiceExt::oneshot`.

use crate::backend::VolumeBackend;
use crate::http::router;
use crate::image::MemoryImages;
use crate::testing::FakeVolumeBackend;
use crate::{VolumeApi, VolumeService};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use ferrostack_core::RequestContext;
use ferrostack_core::id::{ProjectId, UserId};
use ferrostack_core::store::MemoryStore;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

struct Api {
    app: Router,
    project: String,
    fake: Arc<FakeVolumeBackend>,
}

fn with_ctx(app: Router, ctx: Option<RequestContext>) -> Router {
    app.layer(axum::middleware::from_fn(
        move |mut req: axum::extract::Request, next: axum::middleware::Next| {
            let ctx = ctx.clone();
            async move {
                if let Some(c) = ctx {
                    req.extensions_mut().insert(c);
                }
                next.run(req).await
            }
        },
    ))
}

fn api_for(roles: &[&str]) -> (Api, Arc<dyn VolumeApi>) {
    let fake = Arc::new(FakeVolumeBackend::new("fake", 1000));
    let images = Arc::new(MemoryImages::new());
    let svc: Arc<dyn VolumeApi> = Arc::new(
        VolumeService::new(
            Arc::new(MemoryStore::new()),
            vec![fake.clone() as Arc<dyn VolumeBackend>],
        )
        .with_image_source(images.clone())
        .with_image_sink(images),
    );
    let project = ProjectId::new();
    let ctx = RequestContext::for_project(UserId::new(), project.clone(), roles);
    let app = with_ctx(router(svc.clone()), Some(ctx));
    (Api { app, project: project.to_string(), fake }, svc)
}

fn api() -> Api {
    api_for(&["member", "reader"]).0
}

impl Api {
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        mv: Option<&str>,
    ) -> (StatusCode, Value) {
        let path = path.replace("{p}", &self.project);
        let mut req = Request::builder().method(method).uri(path);
        if let Some(mv) = mv {
            req = req.header("OpenStack-API-Version", format!("volume {mv}"));
        }
        let req = match body {
            Some(b) => {
                req.header("content-type", "application/json").body(Body::from(b.to_owned()))
            }
            None => req.body(Body::empty()),
        }
        .unwrap();
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn create(&self, size: u64) -> String {
        let (st, body) = self
            .call("POST", "/v3/{p}/volumes", Some(&json!({"volume": {"size": size, "name": "v1", "description": null, "imageRef": null, "volume_type": null, "snapshot_id": null}}).to_string()), None)
            .await;
        assert_eq!(st, StatusCode::ACCEPTED, "{body}");
        body["volume"]["id"].as_str().unwrap().to_owned()
    }

    async fn volume_count(&self) -> usize {
        let (_, body) = self.call("GET", "/v3/{p}/volumes/detail", None, None).await;
        body["volumes"].as_array().unwrap().len()
    }
}

#[tokio::test]
async fn version_documents() {
    let a = api();
    let (st, body) = a.call("GET", "/", None, None).await;
    assert_eq!(st, StatusCode::MULTIPLE_CHOICES);
    assert_eq!(body["versions"][0]["id"], "v3.0");
    let (st, body) = a.call("GET", "/v3/", None, None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(body["version"]["min_version"], "3.0");
    assert_eq!(body["version"]["version"], "3.60");
}

#[tokio::test]
async fn volume_crud_and_lookup_by_name() {
    let a = api();
    let id = a.create(1).await;
    let (st, body) = a.call("GET", &format!("/v3/{{p}}/volumes/{id}"), None, None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(body["volume"]["status"], "available");
    assert_eq!(body["volume"]["size"], 1);
    assert_eq!(body["volume"]["volume_type"], "__DEFAULT__");
    assert_eq!(body["volume"]["bootable"], "false");
    // OSC looks names up as ids first (404), then filters.
    let (st, body) = a.call("GET", "/v3/{p}/volumes/v1", None, None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(body["itemNotFound"]["message"].as_str().unwrap().contains("could not be found"));
    let (_, body) = a.call("GET", "/v3/{p}/volumes/detail?name=v1", None, None).await;
    assert_eq!(body["volumes"][0]["id"], id.as_str());
    let (_, body) = a.call("GET", "/v3/{p}/volumes/detail?status=error", None, None).await;
    assert_eq!(body["volumes"].as_array().unwrap().len(), 0);
    let (st, body) = a
        .call(
            "PUT",
            &format!("/v3/{{p}}/volumes/{id}"),
            Some(r#"{"volume": {"name": "renamed"}}"#),
            None,
        )
        .await;
    assert_eq!((st, body["volume"]["name"].clone()), (StatusCode::OK, json!("renamed")));
    let (st, _) = a
        .call(
            "POST",
            &format!("/v3/{{p}}/volumes/{id}/action"),
            Some(r#"{"os-extend": {"new_size": 2}}"#),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED);
    let (_, body) = a.call("GET", &format!("/v3/{{p}}/volumes/{id}"), None, None).await;
    assert_eq!(body["volume"]["size"], 2);
    let (st, _) = a.call("DELETE", &format!("/v3/{{p}}/volumes/{id}"), None, None).await;
    assert_eq!(st, StatusCode::ACCEPTED);
    assert_eq!(a.volume_count().await, 0);
}

#[tokio::test]
async fn bad_input_gets_cinders_codes_and_changes_nothing() {
    let a = api();
    let cases: &[(&str, &str, &str, StatusCode, &str)] = &[
        (
            "POST",
            "/v3/{p}/volumes",
            r#"{"volume": {"size": -1}}"#,
            StatusCode::BAD_REQUEST,
            "less than the minimum of 1",
        ),
        (
            "POST",
            "/v3/{p}/volumes",
            r#"{"volume": {"size": 0}}"#,
            StatusCode::BAD_REQUEST,
            "less than the minimum of 1",
        ),
        (
            "POST",
            "/v3/{p}/volumes",
            r#"{"volume": {"size": 99999999999999}}"#,
            StatusCode::BAD_REQUEST,
            "greater than the maximum",
        ),
        (
            "POST",
            "/v3/{p}/volumes",
            r#"{"volume": {"size": 1.5}}"#,
            StatusCode::BAD_REQUEST,
            "not of type",
        ),
        (
            "POST",
            "/v3/{p}/volumes",
            r#"{"volume": {"size": "abc"}}"#,
            StatusCode::BAD_REQUEST,
            "does not match",
        ),
        (
            "POST",
            "/v3/{p}/volumes",
            r#"{"volume": {"size": 100000}}"#,
            StatusCode::PAYLOAD_TOO_LARGE,
            "gigabytes quota",
        ),
        (
            "POST",
            "/v3/{p}/volumes",
            r#"{"volume": {"size": 1, "volume_type": "gold"}}"#,
            StatusCode::NOT_FOUND,
            "Volume type with name gold could not be found.",
        ),
        (
            "POST",
            "/v3/{p}/volumes",
            r#"{"volume": {"size": 1, "snapshot_id": "nope"}}"#,
            StatusCode::BAD_REQUEST,
            "snapshot_id",
        ),
        (
            "POST",
            "/v3/{p}/volumes",
            r#"{"volume": {"size": 1, "name": 7}}"#,
            StatusCode::BAD_REQUEST,
            "not of type 'string'",
        ),
        ("POST", "/v3/{p}/volumes", r#"{"volume": "#, StatusCode::BAD_REQUEST, "Malformed JSON"),
        (
            "POST",
            "/v3/{p}/volumes",
            r#"{"volumes": {}}"#,
            StatusCode::BAD_REQUEST,
            "'volume' is a required property",
        ),
        (
            "POST",
            "/v3/{p}/volumes",
            r#"[1, 2]"#,
            StatusCode::BAD_REQUEST,
            "'volume' is a required property",
        ),
        (
            "POST",
            "/v3/other-project/volumes",
            r#"{"volume": {"size": 1}}"#,
            StatusCode::BAD_REQUEST,
            "Malformed request url",
        ),
        (
            "POST",
            "/v3/{p}/snapshots",
            r#"{"snapshot": {"volume_id": "00000000-0000-0000-0000-000000000000"}}"#,
            StatusCode::NOT_FOUND,
            "could not be found",
        ),
        (
            "GET",
            "/v3/{p}/volumes/detail?limit=-3",
            "",
            StatusCode::BAD_REQUEST,
            "limit param must be positive",
        ),
    ];
    for (method, path, body, want, msg) in cases {
        let body = (!body.is_empty()).then_some(*body);
        let (st, resp) = a.call(method, path, body, None).await;
        assert_eq!(st, *want, "{method} {path} {body:?}: {resp}");
        assert!(resp.to_string().contains(msg), "{path} {body:?}: {resp} should contain {msg}");
        assert!(st.is_client_error(), "never a 5xx");
    }
    assert_eq!(a.volume_count().await, 0);
    assert_eq!(a.fake.volume_count(), 0);
    // Actions on an existing volume.
    let id = a.create(1).await;
    for (body, msg) in [
        (r#"{"os-extend": {"new_size": 1}}"#, "must be greater than current size"),
        (r#"{"os-extend": {"new_size": -5}}"#, "less than the minimum"),
        (r#"{"os-extend": {}}"#, "new_size"),
        (r#"{"os-frobnicate": {}}"#, "There is no such action"),
        (
            r#"{"os-volume_upload_image": {"image_name": "x", "disk_format": "vmdk"}}"#,
            "Invalid disk-format",
        ),
    ] {
        let (st, resp) =
            a.call("POST", &format!("/v3/{{p}}/volumes/{id}/action"), Some(body), None).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {resp}");
        assert!(resp.to_string().contains(msg), "{resp} should contain {msg}");
    }
    let (_, v) = a.call("GET", &format!("/v3/{{p}}/volumes/{id}"), None, None).await;
    assert_eq!(
        (v["volume"]["size"].clone(), v["volume"]["status"].clone()),
        (json!(1), json!("available"))
    );
}

#[tokio::test]
async fn missing_context_is_401_and_foreign_volumes_404() {
    let (a, svc) = api_for(&["member", "reader"]);
    let id = a.create(1).await;
    let anon = Api {
        app: with_ctx(router(svc.clone()), None),
        project: a.project.clone(),
        fake: a.fake.clone(),
    };
    let (st, _) = anon.call("GET", "/v3/{p}/volumes/detail", None, None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let other = ProjectId::new();
    let ctx = RequestContext::for_project(UserId::new(), other.clone(), &["member", "reader"]);
    let stranger = Api {
        app: with_ctx(router(svc), Some(ctx)),
        project: other.to_string(),
        fake: a.fake.clone(),
    };
    for (m, suffix) in [("GET", ""), ("DELETE", ""), ("PUT", "")] {
        let body = (m == "PUT").then_some(r#"{"volume": {"name": "mine"}}"#);
        let (st, resp) =
            stranger.call(m, &format!("/v3/{{p}}/volumes/{id}{suffix}"), body, None).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{m}: {resp}");
    }
    let (_, v) = a.call("GET", &format!("/v3/{{p}}/volumes/{id}"), None, None).await;
    assert_eq!(v["volume"]["name"], "v1");
}

#[tokio::test]
async fn attachment_api_flow_with_microversions() {
    let a = api();
    let id = a.create(1).await;
    let body = json!({"attachment": {"volume_uuid": id, "instance_uuid": ferrostack_core::id::ServerId::new().to_string()}}).to_string();
    // Without 3.27 the attachment API does not exist.
    let (st, _) = a.call("POST", "/v3/{p}/attachments", Some(&body), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = a.call("POST", "/v3/{p}/attachments", Some(&body), Some("3.99")).await;
    assert_eq!(st, StatusCode::NOT_ACCEPTABLE);
    let (st, resp) = a.call("POST", "/v3/{p}/attachments", Some(&body), Some("3.44")).await;
    assert_eq!(st, StatusCode::OK, "{resp}");
    assert_eq!(resp["attachment"]["status"], "reserved");
    let att = resp["attachment"]["id"].as_str().unwrap().to_owned();
    let (_, v) = a.call("GET", &format!("/v3/{{p}}/volumes/{id}"), None, None).await;
    assert_eq!(v["volume"]["status"], "reserved");
    let connector = r#"{"attachment": {"connector": {"host": "cmp1", "ip": "127.0.0.1", "initiator": "iqn.x", "multipath": false, "os_type": "linux", "platform": "x86_64"}}}"#;
    let (st, resp) =
        a.call("PUT", &format!("/v3/{{p}}/attachments/{att}"), Some(connector), Some("3.44")).await;
    assert_eq!(st, StatusCode::OK, "{resp}");
    assert_eq!(resp["attachment"]["status"], "attaching");
    assert_eq!(resp["attachment"]["connection_info"]["driver_volume_type"], "fake");
    assert_eq!(resp["attachment"]["connection_info"]["attachment_id"], att.as_str());
    let (_, v) = a.call("GET", &format!("/v3/{{p}}/volumes/{id}"), None, None).await;
    assert_eq!(v["volume"]["status"], "attaching");
    let (st, _) = a
        .call(
            "POST",
            &format!("/v3/{{p}}/attachments/{att}/action"),
            Some(r#"{"os-complete": null}"#),
            Some("3.43"),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "os-complete needs 3.44");
    let (st, _) = a
        .call(
            "POST",
            &format!("/v3/{{p}}/attachments/{att}/action"),
            Some(r#"{"os-complete": null}"#),
            Some("3.44"),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, v) = a.call("GET", &format!("/v3/{{p}}/volumes/{id}"), None, None).await;
    assert_eq!(v["volume"]["status"], "in-use");
    assert_eq!(v["volume"]["attachments"][0]["attachment_id"], att.as_str());
    let (st, resp) = a.call("DELETE", &format!("/v3/{{p}}/volumes/{id}"), None, None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{resp}");
    assert!(
        resp["badRequest"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid volume: Volume status must be available")
    );
    let (st, resp) =
        a.call("DELETE", &format!("/v3/{{p}}/attachments/{att}"), None, Some("3.44")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(resp["attachments"], json!([]));
    let (_, v) = a.call("GET", &format!("/v3/{{p}}/volumes/{id}"), None, None).await;
    assert_eq!(v["volume"]["status"], "available");
    assert_eq!(a.fake.export_count(), 0);
    // A failed connect is a 500 without details, and leaves nothing behind.
    let (_, resp) = a.call("POST", "/v3/{p}/attachments", Some(&body), Some("3.44")).await;
    let att = resp["attachment"]["id"].as_str().unwrap().to_owned();
    a.fake.fail_on("initialize_connection");
    let (st, resp) =
        a.call("PUT", &format!("/v3/{{p}}/attachments/{att}"), Some(connector), Some("3.44")).await;
    assert_eq!(st, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!resp.to_string().contains("injected"));
    assert_eq!(a.fake.export_count(), 0);
    a.fake.clear_failures();
    let (st, _) =
        a.call("DELETE", &format!("/v3/{{p}}/attachments/{att}"), None, Some("3.44")).await;
    assert_eq!(st, StatusCode::OK);
    let (_, v) = a.call("GET", &format!("/v3/{{p}}/volumes/{id}"), None, None).await;
    assert_eq!(v["volume"]["status"], "available");
}

#[tokio::test]
async fn snapshots_types_and_quotas() {
    let (a, _) = api_for(&["admin", "member", "reader"]);
    let id = a.create(1).await;
    let (st, resp) = a
        .call(
            "POST",
            "/v3/{p}/snapshots",
            Some(&json!({"snapshot": {"volume_id": id, "name": "s1", "force": false}}).to_string()),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{resp}");
    let sid = resp["snapshot"]["id"].as_str().unwrap().to_owned();
    let (_, list) = a.call("GET", "/v3/{p}/snapshots/detail", None, None).await;
    assert_eq!(list["snapshots"][0]["status"], "available");
    let (st, resp) = a
        .call(
            "POST",
            "/v3/{p}/volumes",
            Some(&json!({"volume": {"snapshot_id": sid, "size": null}}).to_string()),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{resp}");
    assert_eq!(resp["volume"]["snapshot_id"], sid.as_str());
    let (st, resp) = a.call("DELETE", &format!("/v3/{{p}}/volumes/{id}"), None, None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{resp}");
    let (st, _) = a.call("DELETE", &format!("/v3/{{p}}/snapshots/{sid}"), None, None).await;
    assert_eq!(st, StatusCode::ACCEPTED);
    // Types.
    let (st, resp) = a
        .call("POST", "/v3/{p}/types", Some(r#"{"volume_type": {"name": "gold", "extra_specs": {"volume_backend_name": "fake"}}}"#), None)
        .await;
    assert_eq!(st, StatusCode::OK, "{resp}");
    let (st, _) =
        a.call("POST", "/v3/{p}/types", Some(r#"{"volume_type": {"name": "gold"}}"#), None).await;
    assert_eq!(st, StatusCode::CONFLICT);
    let (_, types) = a.call("GET", "/v3/{p}/types", None, None).await;
    assert_eq!(types["volume_types"].as_array().unwrap().len(), 2);
    let (st, resp) = a
        .call(
            "POST",
            "/v3/{p}/volumes",
            Some(r#"{"volume": {"size": 1, "volume_type": "gold"}}"#),
            None,
        )
        .await;
    assert_eq!((st, resp["volume"]["volume_type"].clone()), (StatusCode::ACCEPTED, json!("gold")));
    // Quotas with usage.
    let (st, q) = a.call("GET", "/v3/{p}/os-quota-sets/{p}?usage=True", None, None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(q["quota_set"]["volumes"]["in_use"], 3);
    assert_eq!(q["quota_set"]["volumes"]["limit"], 10);
    let (st, q) = a
        .call("PUT", "/v3/{p}/os-quota-sets/{p}", Some(r#"{"quota_set": {"volumes": 20}}"#), None)
        .await;
    assert_eq!((st, q["quota_set"]["volumes"].clone()), (StatusCode::OK, json!(20)));
    let (st, _) = a
        .call("PUT", "/v3/{p}/os-quota-sets/{p}", Some(r#"{"quota_set": {"bogus": 1}}"#), None)
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}
