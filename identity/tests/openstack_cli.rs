// SPDX-License-Identifier: Apache-2.0
//! End to end: the unmodified `openstack` CLI (python-openstackclient, pinned by
//! `scripts/test-env/openstackclient.sh` in venv-osc) against the identity API served on a
//! loopback port under `/identity`, as minicloud mounts it.

mod common;

use axum::Router;
use ferrostack_core::testing::{cache_dir, prerequisite};
use serde_json::Value;
use std::path::PathBuf;

struct Cli {
    bin: PathBuf,
    auth_url: String,
}

impl Cli {
    async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = tokio::process::Command::new(&self.bin)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", std::env::temp_dir())
            .env("OS_AUTH_URL", &self.auth_url)
            .env("OS_IDENTITY_API_VERSION", "3")
            .env("OS_USERNAME", "admin")
            .env("OS_PASSWORD", common::ADMIN_PASSWORD)
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

    async fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-f", "json"]);
        let (ok, out, err) = self.run(&all).await;
        assert!(ok, "openstack {args:?} failed:\n{err}\n{out}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("openstack {args:?}: {e}: {out}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openstack_cli_drives_identity() {
    let bin = cache_dir().join("venv-osc").join("bin").join("openstack");
    if !prerequisite(
        bin.exists(),
        "openstack_cli_drives_identity",
        "the openstack CLI (venv-osc)",
        "run scripts/test-env/openstackclient.sh",
    ) {
        return;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}/identity");
    let (svc, _keys) = common::service(&base).await;
    let app = Router::new().nest("/identity", ferrostack_identity::http::router(svc, &base));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let cli = Cli { bin, auth_url: format!("{base}/v3") };

    let token = cli.json(&["token", "issue"]).await;
    assert_eq!(token["project_id"].as_str().unwrap().len(), 32, "{token}");
    assert!(token["id"].as_str().is_some_and(|t| t.len() > 100));

    let catalog = cli.json(&["catalog", "list"]).await;
    let identity = catalog.as_array().unwrap().iter().find(|s| s["Type"] == "identity").unwrap();
    assert_eq!(identity["Name"], "keystone");

    let project = cli.json(&["project", "create", "--domain", "default", "demo"]).await;
    assert_eq!(project["name"], "demo");
    let projects = cli.json(&["project", "list"]).await;
    let names: Vec<&str> =
        projects.as_array().unwrap().iter().map(|p| p["Name"].as_str().unwrap()).collect();
    assert!(names.contains(&"demo") && names.contains(&"admin"), "{names:?}");

    let user = cli.json(&["user", "create", "--password", "alicepw", "alice"]).await;
    assert_eq!(user["name"], "alice");
    let (ok, _, err) =
        cli.run(&["role", "add", "--project", "demo", "--user", "alice", "member"]).await;
    assert!(ok, "role add: {err}");
    let rows = cli.json(&["role", "assignment", "list", "--project", "demo", "--names"]).await;
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["Role"], "member");
    assert_eq!(rows[0]["User"], "alice@Default");
    assert_eq!(rows[0]["Project"], "demo@Default");

    let (ok, _, err) = cli.run(&["project", "delete", "demo"]).await;
    assert!(ok, "project delete: {err}");
    let projects = cli.json(&["project", "list"]).await;
    assert!(!projects.as_array().unwrap().iter().any(|p| p["Name"] == "demo"));
    server.abort();
}
