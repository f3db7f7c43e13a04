// SPDX-License-Identifier: Apache-2.0
//! The unmodified `openstack` CLI against the Cinder router on loopback.
//!
//! Until the facade stacks identity's auth layer over the volume router, this test serves it
//! behind a stub Keystone (a fixed token and a catalog with `block-storage`, `volumev3` and
//! `image` endpoints; a layer turns the token into a `RequestContext`, the seam identity's
//! middleware fills) and a stub Glance listing the images of a `MemoryImages`. Volumes live in
//! a qcow2 `FileBackend` in a temporary directory. Needs the venv of
//! `scripts/test-env/openstackclient.sh` and `qemu-img`.

use axum::Router;
use axum::extract::{Path, Query, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use ferrostack_core::RequestContext;
use ferrostack_core::command::SystemRunner;
use ferrostack_core::id::{ProjectId, UserId};
use ferrostack_core::store::MemoryStore;
use ferrostack_core::testing::{cache_dir, prerequisite};
use ferrostack_volume::file::{FileBackend, FileBackendConfig, FileFormat};
use ferrostack_volume::image::MemoryImages;
use ferrostack_volume::{VolumeBackend, VolumeService};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

const TOKEN: &str = "gAAAAAB-volume-test-token";

fn image_json(m: &ferrostack_volume::image::ImageMeta) -> Value {
    json!({"id": m.id.to_string(), "name": m.name, "status": m.status, "disk_format": m.disk_format,
           "container_format": m.container_format, "size": m.size, "min_disk": m.min_disk,
           "visibility": "public", "tags": [], "min_ram": 0})
}

async fn serve(project: ProjectId, dir: &std::path::Path) -> (String, Arc<MemoryImages>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let backend = FileBackend::new(
        FileBackendConfig::new("file", dir, FileFormat::Qcow2),
        Arc::new(SystemRunner::new()),
    )
    .unwrap();
    let images = Arc::new(MemoryImages::new());
    let svc = VolumeService::new(
        Arc::new(MemoryStore::new()),
        vec![Arc::new(backend) as Arc<dyn VolumeBackend>],
    )
    .with_image_source(images.clone())
    .with_image_sink(images.clone());
    let ctx = RequestContext::for_project(UserId::new(), project.clone(), &["member", "reader"]);
    let auth = move |mut req: Request, next: Next| {
        let ctx = ctx.clone();
        async move {
            if req.headers().get("x-auth-token").and_then(|v| v.to_str().ok()) == Some(TOKEN) {
                req.extensions_mut().insert(ctx);
            }
            next.run(req).await
        }
    };
    let b = base.clone();
    let pid = project.to_string();
    let token = move || {
        let ep = |id: &str, t: &str, url: String| {
            json!({"type": t, "name": t, "id": id, "endpoints": [{"id": format!("e-{id}"), "interface": "public",
                   "region": "RegionOne", "region_id": "RegionOne", "url": url}]})
        };
        let body = json!({"token": {
        "expires_at": "2099-01-01T00:00:00.000000Z", "issued_at": "2020-01-01T00:00:00.000000Z",
        "methods": ["password"], "user": {"id": "u1", "name": "demo", "domain": {"id": "default", "name": "Default"}},
        "project": {"id": pid, "name": "demo", "domain": {"id": "default", "name": "Default"}},
        "roles": [{"id": "r1", "name": "member"}], "audit_ids": ["a"], "is_domain": false,
        "catalog": [
            ep("s1", "identity", format!("{b}/identity/v3")),
            ep("s2", "image", format!("{b}/image")),
            ep("s3", "block-storage", format!("{b}/volume/v3/{pid}")),
            ep("s4", "volumev3", format!("{b}/volume/v3/{pid}")),
        ]}});
        async move {
            (StatusCode::CREATED, [("x-subject-token", TOKEN)], axum::Json(body)).into_response()
        }
    };
    let b2 = base.clone();
    let v3 = move || {
        let b = b2.clone();
        async move {
            axum::Json(
                json!({"version": {"id": "v3.14", "status": "stable", "updated": "2020-01-01T00:00:00Z",
                "links": [{"rel": "self", "href": format!("{b}/identity/v3/")}],
                "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]}}),
            )
        }
    };
    let b3 = base.clone();
    let glance_root = move || {
        let b = b3.clone();
        async move {
            (
                StatusCode::MULTIPLE_CHOICES,
                axum::Json(json!({"versions": [{"id": "v2.16", "status": "CURRENT",
                "links": [{"rel": "self", "href": format!("{b}/image/v2/")}]}]})),
            )
        }
    };
    let (i1, i2) = (images.clone(), images.clone());
    let show_image = move |Path(id): Path<String>| {
        let images = i1.clone();
        async move {
            match id.parse().ok().and_then(|id| images.get(&id)) {
                Some((m, _)) => axum::Json(image_json(&m)).into_response(),
                None => StatusCode::NOT_FOUND.into_response(),
            }
        }
    };
    let list_images = move |Query(q): Query<HashMap<String, String>>| {
        let images = i2.clone();
        async move {
            let list: Vec<Value> = images
                .list()
                .iter()
                .filter(|m| q.get("name").is_none_or(|n| *n == m.name))
                .map(image_json)
                .collect();
            axum::Json(json!({"images": list}))
        }
    };
    let app = Router::new()
        .route("/identity/v3", get(v3.clone()))
        .route("/identity/v3/", get(v3))
        .route("/identity/v3/auth/tokens", post(token))
        .route("/image", get(glance_root))
        .route("/image/v2/images", get(list_images))
        .route("/image/v2/images/{id}", get(show_image))
        .nest(
            "/volume",
            ferrostack_volume::http::router(Arc::new(svc)).layer(axum::middleware::from_fn(auth)),
        );
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (base, images)
}

async fn osc(bin: &PathBuf, base: &str, args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(bin)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", std::env::temp_dir())
        .env("OS_AUTH_URL", format!("{base}/identity/v3"))
        .env("OS_IDENTITY_API_VERSION", "3")
        .env("OS_USERNAME", "demo")
        .env("OS_PASSWORD", "secret")
        .env("OS_PROJECT_NAME", "demo")
        .env("OS_USER_DOMAIN_NAME", "Default")
        .env("OS_PROJECT_DOMAIN_NAME", "Default")
        .env("OS_REGION_NAME", "RegionOne")
        .env("OS_INTERFACE", "public")
        .kill_on_drop(true)
        .output()
        .await
        .expect("run openstack");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn json_of(bin: &PathBuf, base: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-f", "json"]);
    let (ok, out, err) = osc(bin, base, &all).await;
    assert!(ok, "openstack {args:?} failed:\n{err}\n{out}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("openstack {args:?}: {e}: {out}"))
}

async fn ok(bin: &PathBuf, base: &str, args: &[&str]) {
    let (ok, out, err) = osc(bin, base, args).await;
    assert!(ok, "openstack {args:?} failed:\n{err}\n{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmodified_openstack_cli_volume_commands() {
    let bin = cache_dir().join("venv-osc").join("bin").join("openstack");
    if !prerequisite(
        bin.exists(),
        "unmodified_openstack_cli_volume_commands",
        "venv-osc",
        "scripts/test-env/openstackclient.sh",
    ) {
        return;
    }
    let qemu = std::process::Command::new("qemu-img")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !prerequisite(
        qemu,
        "unmodified_openstack_cli_volume_commands",
        "qemu-img",
        "apt-get install qemu-utils",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (base, images) = serve(ProjectId::new(), dir.path()).await;
    let b = &base;

    let v1 = json_of(&bin, b, &["volume", "create", "--size", "1", "v1"]).await;
    assert_eq!(v1["size"], 1, "{v1}");
    let list = json_of(&bin, b, &["volume", "list"]).await;
    assert_eq!(list[0]["Name"], "v1", "{list}");
    assert_eq!(list[0]["Status"], "available", "{list}");
    let shown = json_of(&bin, b, &["volume", "show", "v1"]).await;
    assert_eq!(shown["status"], "available", "{shown}");
    ok(&bin, b, &["volume", "set", "--size", "2", "v1"]).await;
    assert_eq!(json_of(&bin, b, &["volume", "show", "v1"]).await["size"], 2);

    let snap = json_of(&bin, b, &["volume", "snapshot", "create", "--volume", "v1", "s1"]).await;
    assert_eq!(snap["name"], "s1", "{snap}");
    let snaps = json_of(&bin, b, &["volume", "snapshot", "list"]).await;
    assert_eq!(snaps[0]["Status"], "available", "{snaps}");
    let v2 = json_of(&bin, b, &["volume", "create", "--snapshot", "s1", "v2"]).await;
    assert_eq!(v2["size"], 2, "{v2}");
    // Deleting a volume with snapshots is refused with Cinder's message.
    let (deleted, _, err) = osc(&bin, b, &["volume", "delete", "v1"]).await;
    assert!(!deleted && err.contains("snapshots"), "{err}");
    ok(&bin, b, &["volume", "snapshot", "delete", "s1"]).await;

    let data: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 253) as u8 + 1).collect();
    images.add("cirros", "raw", data);
    let v3 =
        json_of(&bin, b, &["volume", "create", "--image", "cirros", "--size", "1", "v3"]).await;
    let v3 = json_of(&bin, b, &["volume", "show", v3["id"].as_str().unwrap()]).await;
    assert_eq!(v3["status"], "available", "{v3}");
    assert_eq!(v3["bootable"], true, "{v3}");

    for v in ["v1", "v2", "v3"] {
        ok(&bin, b, &["volume", "delete", v]).await;
    }
    assert_eq!(json_of(&bin, b, &["volume", "list"]).await, json!([]));
}
