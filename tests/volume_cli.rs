// SPDX-License-Identifier: Apache-2.0
//! End to end: the unmodified `openstack` CLI (venv-osc, `scripts/test-env/openstackclient.sh`)
//! drives Cinder assembled as minicloud assembles it: `Cloud` with identity at `/identity`,
//! block storage at `/volume` behind identity's token validation (the default raw
//! `FileBackend` in the data directory), published in the catalog as `block-storage`.

use ferrostack::{Cloud, CloudConfig};
use ferrostack_core::testing::{cache_dir, prerequisite};
use ferrostack_identity::IdentityApi;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const ADMIN_PASSWORD: &str = "s3cret-admin";

async fn osc(bin: &Path, auth_url: &str, args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(bin)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("OS_AUTH_URL", auth_url)
        .env("OS_IDENTITY_API_VERSION", "3")
        .env("OS_USERNAME", "admin")
        .env("OS_PASSWORD", ADMIN_PASSWORD)
        .env("OS_PROJECT_NAME", "admin")
        .env("OS_USER_DOMAIN_NAME", "Default")
        .env("OS_PROJECT_DOMAIN_NAME", "Default")
        .env("OS_REGION_NAME", "RegionOne")
        .env("OS_INTERFACE", "public")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn json_of(bin: &Path, auth: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-f", "json"]);
    let (ok, out, err) = osc(bin, auth, &all).await;
    assert!(ok, "openstack {args:?} failed:\n{err}\n{out}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("openstack {args:?}: {e}: {out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openstack_cli_drives_block_storage_in_minicloud() {
    let bin: PathBuf = cache_dir().join("venv-osc").join("bin").join("openstack");
    if !prerequisite(
        bin.exists(),
        "openstack_cli_drives_block_storage_in_minicloud",
        "the openstack CLI (venv-osc)",
        "run scripts/test-env/openstackclient.sh",
    ) {
        return;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = CloudConfig {
        listen: addr,
        public_url: format!("http://{addr}"),
        ..CloudConfig::default()
    };
    let mut cloud = Cloud::open(config, dir.path()).await.unwrap();
    let admin = cloud.bootstrap_admin(Some(ADMIN_PASSWORD.into())).await.unwrap();
    let identity = cloud.mount_identity(&admin).await.unwrap();
    let backend = cloud.default_volume_backend().unwrap();
    let service = cloud.volume_service(vec![backend]);
    cloud.mount_volume(identity.clone() as Arc<dyn IdentityApi>, service);
    cloud.register_catalog(&identity).await.unwrap();
    let app = cloud.router();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let auth = cloud.auth_url();
    let b = bin.as_path();

    let v = json_of(b, &auth, &["volume", "create", "--size", "1", "data"]).await;
    assert_eq!(v["size"], 1, "{v}");
    let shown = json_of(b, &auth, &["volume", "show", "data"]).await;
    assert_eq!(shown["status"], "available", "{shown}");
    let (ok, _, err) = osc(b, &auth, &["volume", "set", "--size", "2", "data"]).await;
    assert!(ok, "{err}");
    let snap = json_of(b, &auth, &["volume", "snapshot", "create", "--volume", "data", "s1"]).await;
    assert_eq!(snap["status"], "available", "{snap}");
    let copy = json_of(b, &auth, &["volume", "create", "--snapshot", "s1", "copy"]).await;
    assert_eq!(copy["size"], 2, "{copy}");
    let (ok, _, err) = osc(b, &auth, &["volume", "snapshot", "delete", "s1"]).await;
    assert!(ok, "{err}");
    for name in ["data", "copy"] {
        let (ok, _, err) = osc(b, &auth, &["volume", "delete", name]).await;
        assert!(ok, "{err}");
    }
    assert_eq!(json_of(b, &auth, &["volume", "list"]).await, json!([]));
    // The backend directory holds no file once everything is deleted.
    let left: Vec<_> = std::fs::read_dir(dir.path().join("volumes"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name() != "exports")
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
