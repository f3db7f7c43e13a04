// SPDX-License-Identifier: Apache-2.0
//! End to end: the unmodified `openstack` CLI (venv-osc, `scripts/test-env/openstackclient.sh`)
//! against the `minicloud` example, with the `clouds.yaml` it writes: token issue, catalog
//! list, project create/list/delete, user create, role add, role assignment list.

use ferrostack_core::testing::{cache_dir, prerequisite};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let bin = profile_dir.join("examples").join("minicloud");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--example", "minicloud"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the minicloud example failed");
    }
    bin
}

/// The minicloud process; killed (by its own handle) when dropped.
struct Minicloud(Child);

impl Drop for Minicloud {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(data_dir: &Path) -> Minicloud {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(example_binary())
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data_dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("minicloud starts");
    let stdout = child.stdout.take().unwrap();
    let cloud = Minicloud(child);
    let deadline = Instant::now() + Duration::from_secs(300);
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if line.starts_with("try:") {
            return cloud;
        }
        assert!(Instant::now() < deadline, "minicloud did not start");
    }
    panic!("minicloud exited before serving");
}

fn openstack(bin: &Path, clouds: &Path, args: &[&str]) -> Value {
    let out = Command::new(bin)
        .args(args)
        .args(["-f", "json"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("OS_CLIENT_CONFIG_FILE", clouds)
        .env("OS_CLOUD", "minicloud")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "openstack {args:?} failed:\n{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    if stdout.trim().is_empty() {
        return Value::Null;
    }
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("openstack {args:?}: {e}: {stdout}"))
}

#[test]
fn openstack_cli_against_minicloud() {
    let bin = cache_dir().join("venv-osc").join("bin").join("openstack");
    if !prerequisite(
        bin.exists(),
        "openstack_cli_against_minicloud",
        "the openstack CLI (venv-osc)",
        "run scripts/test-env/openstackclient.sh",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let _cloud = start(dir.path());
    let clouds = dir.path().join("clouds.yaml");
    let os = |args: &[&str]| openstack(&bin, &clouds, args);

    let token = os(&["token", "issue"]);
    assert!(token["id"].as_str().is_some_and(|t| t.len() > 100), "{token}");
    let catalog = os(&["catalog", "list"]);
    assert!(catalog.as_array().unwrap().iter().any(|s| s["Type"] == "identity"), "{catalog}");
    let project = os(&["project", "create", "demo"]);
    assert_eq!(project["name"], "demo");
    let names: Vec<String> = os(&["project", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["Name"].as_str().unwrap().to_owned())
        .collect();
    assert!(names.contains(&"demo".to_owned()) && names.contains(&"admin".to_owned()));
    assert_eq!(os(&["user", "create", "--password", "alicepw", "alice"])["name"], "alice");
    // `role add` prints nothing; -f json is accepted and ignored.
    let out = Command::new(&bin)
        .args(["role", "add", "--project", "demo", "--user", "alice", "member"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("OS_CLIENT_CONFIG_FILE", &clouds)
        .env("OS_CLOUD", "minicloud")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = os(&["role", "assignment", "list", "--project", "demo", "--names"]);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["Role"], "member");
    assert_eq!(rows[0]["User"], "alice@Default");
    let out = Command::new(&bin)
        .args(["project", "delete", "demo"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("OS_CLIENT_CONFIG_FILE", &clouds)
        .env("OS_CLOUD", "minicloud")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!os(&["project", "list"]).as_array().unwrap().iter().any(|p| p["Name"] == "demo"));
}
