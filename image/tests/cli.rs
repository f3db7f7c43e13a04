// SPDX-License-Identifier: Apache-2.0
//! The unmodified `openstack` CLI against the Glance router on loopback.
//!
//! Until the facade stacks identity's auth layer over the services, this test serves the image
//! router behind a stub Keystone (a fixed token and a catalog with the image endpoint; a layer
//! turns the token into a `RequestContext`), which is exactly the seam the real middleware
//! fills. Needs the venv of `scripts/test-env/openstackclient.sh`.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use ferrostack_core::RequestContext;
use ferrostack_core::id::{ProjectId, UserId};
use ferrostack_core::store::MemoryStore;
use ferrostack_core::testing::{cache_dir, prerequisite};
use ferrostack_image::{FilesystemStore, ImageConfig, ImageService, http};
use md5::Digest as _;
use serde_json::{Value, json};

const TOKEN: &str = "gAAAAAB-test-token";

async fn serve(project: ProjectId) -> (String, tempfile::TempDir, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let svc = ImageService::new(
        Arc::new(MemoryStore::new()),
        Arc::new(FilesystemStore::new(dir.path().join("images")).unwrap()),
        ImageConfig::default(),
    );
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
        let body = json!({"token": {
            "expires_at": "2099-01-01T00:00:00.000000Z", "issued_at": "2020-01-01T00:00:00.000000Z",
            "methods": ["password"], "user": {"id": "u1", "name": "admin", "domain": {"id": "default", "name": "Default"}},
            "project": {"id": pid, "name": "admin", "domain": {"id": "default", "name": "Default"}},
            "roles": [{"id": "r1", "name": "member"}], "audit_ids": ["a"], "is_domain": false,
            "catalog": [
                {"type": "identity", "name": "keystone", "id": "s1", "endpoints": [{"id": "e1", "interface": "public",
                  "region": "RegionOne", "region_id": "RegionOne", "url": format!("{b}/identity/v3")}]},
                {"type": "image", "name": "glance", "id": "s2", "endpoints": [{"id": "e2", "interface": "public",
                  "region": "RegionOne", "region_id": "RegionOne", "url": format!("{b}/image")}]}]}});
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
    let root = move || {
        let b = b3.clone();
        async move {
            (
                StatusCode::MULTIPLE_CHOICES,
                axum::Json(json!({"versions": {"values": [{"id": "v3.14", "status": "stable",
                "updated": "2020-01-01T00:00:00Z", "links": [{"rel": "self", "href": format!("{b}/identity/v3/")}]}]}})),
            )
        }
    };
    let app = Router::new()
        .route("/identity", get(root))
        .route("/identity/v3", get(v3.clone()))
        .route("/identity/v3/", get(v3))
        .route("/identity/v3/auth/tokens", post(token))
        .nest("/image", http::router(Arc::new(svc)).layer(axum::middleware::from_fn(auth)));
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (base, dir, task)
}

fn osc(bin: &PathBuf, base: &str, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(bin)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .env("OS_AUTH_URL", format!("{base}/identity/v3"))
        .env("OS_IDENTITY_API_VERSION", "3")
        .env("OS_USERNAME", "admin")
        .env("OS_PASSWORD", "secret")
        .env("OS_PROJECT_NAME", "admin")
        .env("OS_USER_DOMAIN_NAME", "Default")
        .env("OS_PROJECT_DOMAIN_NAME", "Default")
        .env("OS_REGION_NAME", "RegionOne")
        .env("OS_INTERFACE", "public")
        .output()
        .expect("run openstack");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmodified_openstack_cli_image_commands() {
    let bin = cache_dir().join("venv-osc").join("bin").join("openstack");
    if !prerequisite(
        bin.exists(),
        "unmodified_openstack_cli_image_commands",
        "venv-osc",
        "scripts/test-env/openstackclient.sh",
    ) {
        return;
    }
    let (base, _dir, task) = serve(ProjectId::new()).await;
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("disk.img");
    let data: Vec<u8> =
        (0..5_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    let f = file.to_str().unwrap().to_owned();
    let b = base.clone();
    let run = move |args: Vec<String>| {
        let b = b.clone();
        let bin = bin.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let a: Vec<&str> = args.iter().map(String::as_str).collect();
                osc(&bin, &b, &a)
            })
            .await
            .unwrap()
        }
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();

    let (ok, out, err) = run(s(&[
        "image",
        "create",
        "--disk-format",
        "raw",
        "--container-format",
        "bare",
        "--file",
        &f,
        "-f",
        "json",
        "cirros",
    ]))
    .await;
    assert!(ok, "image create: {out}\n{err}");
    let created: Value = serde_json::from_str(&out).unwrap();
    let id = created["id"].as_str().unwrap().to_owned();

    let (ok, out, err) = run(s(&["image", "list", "-f", "json"])).await;
    assert!(ok, "image list: {out}\n{err}");
    assert!(out.contains(&id), "{out}");

    let (ok, out, err) = run(s(&["image", "show", "cirros", "-f", "json"])).await;
    assert!(ok, "image show: {out}\n{err}");
    let shown: Value = serde_json::from_str(&out).unwrap();
    println!("openstack image show cirros -f json:\n{out}");
    let tool = |t: &str| {
        let out = std::process::Command::new(t).arg(&f).output().expect("coreutils");
        String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or("").to_owned()
    };
    let (md5sum, sha512sum) = (tool("md5sum"), tool("sha512sum"));
    println!("md5sum    {md5sum}\nsha512sum {sha512sum}");
    assert_eq!((md5sum.len(), sha512sum.len()), (32, 128));
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["size"], data.len());
    assert_eq!(shown["checksum"], md5sum.as_str());
    assert_eq!(md5sum, hex::encode(md5::Md5::digest(&data)));
    assert!(out.contains(&sha512sum), "os_hash_value differs from sha512sum");

    let saved = work.path().join("saved.img");
    let (ok, out, err) =
        run(s(&["image", "save", "--file", saved.to_str().unwrap(), "cirros"])).await;
    assert!(ok, "image save: {out}\n{err}");
    assert!(std::fs::read(&saved).unwrap() == data, "saved bytes differ");
    println!("image save: {} bytes, identical to the upload", data.len());

    let (ok, out, err) =
        run(s(&["image", "set", "--property", "hw_disk_bus=scsi", "cirros"])).await;
    assert!(ok, "image set: {out}\n{err}");
    let (_, out, _) = run(s(&["image", "show", &id, "-f", "json"])).await;
    assert!(out.contains("hw_disk_bus"), "{out}");

    // A qcow2 with a backing file is refused with a clear error and never becomes active.
    let mut hostile = vec![0u8; 1 << 20];
    hostile[..4].copy_from_slice(b"QFI\xfb");
    hostile[4..8].copy_from_slice(&3u32.to_be_bytes());
    hostile[8..16].copy_from_slice(&0x200u64.to_be_bytes());
    hostile[0x200..0x20b].copy_from_slice(b"/etc/shadow");
    let hf = work.path().join("hostile.qcow2");
    std::fs::write(&hf, &hostile).unwrap();
    let (ok, out, err) = run(s(&[
        "image",
        "create",
        "--disk-format",
        "qcow2",
        "--container-format",
        "bare",
        "--file",
        hf.to_str().unwrap(),
        "evil",
    ]))
    .await;
    println!(
        "openstack image create --disk-format qcow2 --file hostile.qcow2 evil: ok={ok}\n{out}{err}"
    );
    assert!(!ok, "hostile image accepted: {out}");
    assert!(err.contains("backing_file") || err.contains("safety"), "{err}");
    let (_, out, _) = run(s(&["image", "list", "--status", "active", "-f", "json"])).await;
    assert!(!out.contains("evil"), "{out}");

    let (ok, out, err) = run(s(&["image", "delete", "cirros"])).await;
    assert!(ok, "image delete: {out}\n{err}");
    let (_, out, _) = run(s(&["image", "list", "-f", "json"])).await;
    assert!(!out.contains(&id), "{out}");
    task.abort();
}
