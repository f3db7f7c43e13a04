// SPDX-License-Identifier: Apache-2.0
//! End to end: the unmodified `openstack` CLI (venv-osc, `scripts/test-env/openstackclient.sh`)
//! against the `minicloud` example, with the `clouds.yaml` it writes:
//!
//! * identity: token issue, catalog list, project create/list/delete, user create, role add,
//!   role assignment list;
//! * the other embedded services, through the catalog: image create/show/list, volume create
//!   from that image (block storage reading Glance through the facade's adapter), network and
//!   subnet create.

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

/// Runs `openstack ARGS` with only the minicloud cloud configured; panics with its stderr on
/// failure and returns its stdout.
fn openstack_raw(bin: &Path, clouds: &Path, args: &[&str]) -> String {
    let out = Command::new(bin)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("OS_CLIENT_CONFIG_FILE", clouds)
        .env("OS_CLOUD", "minicloud")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "openstack {args:?} failed:\n{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs `openstack ARGS -f json` and parses the output (`Null` when it printed nothing).
fn openstack(bin: &Path, clouds: &Path, args: &[&str]) -> Value {
    let args: Vec<&str> = args.iter().copied().chain(["-f", "json"]).collect();
    let stdout = openstack_raw(bin, clouds, &args);
    if stdout.trim().is_empty() {
        return Value::Null;
    }
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("openstack {args:?}: {e}: {stdout}"))
}

/// The venv's `openstack`, or `None` after reporting the missing prerequisite.
fn openstack_bin(test: &str) -> Option<PathBuf> {
    let bin = cache_dir().join("venv-osc").join("bin").join("openstack");
    prerequisite(
        bin.exists(),
        test,
        "the openstack CLI (venv-osc)",
        "run scripts/test-env/openstackclient.sh",
    )
    .then_some(bin)
}

#[test]
fn openstack_cli_against_minicloud() {
    let Some(bin) = openstack_bin("openstack_cli_against_minicloud") else { return };
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
    // `role add` prints nothing.
    openstack_raw(
        &bin,
        &clouds,
        &["role", "add", "--project", "demo", "--user", "alice", "member"],
    );
    let rows = os(&["role", "assignment", "list", "--project", "demo", "--names"]);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["Role"], "member");
    assert_eq!(rows[0]["User"], "alice@Default");
    openstack_raw(&bin, &clouds, &["project", "delete", "demo"]);
    assert!(!os(&["project", "list"]).as_array().unwrap().iter().any(|p| p["Name"] == "demo"));
}

#[test]
fn openstack_cli_uses_the_embedded_image_volume_and_network_services() {
    let test = "openstack_cli_uses_the_embedded_image_volume_and_network_services";
    let Some(bin) = openstack_bin(test) else { return };
    let dir = tempfile::tempdir().unwrap();
    let _cloud = start(dir.path());
    let clouds = dir.path().join("clouds.yaml");
    let os = |args: &[&str]| openstack(&bin, &clouds, args);

    let types: Vec<String> = os(&["catalog", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Type"].as_str().unwrap().to_owned())
        .collect();
    for t in ["identity", "image", "block-storage", "network"] {
        assert!(types.iter().any(|x| x == t), "{t} missing from the catalog: {types:?}");
    }

    // A raw image of 3 MiB and a bit, so the volume made from it needs its whole first GiB.
    let file = dir.path().join("disk.raw");
    let data: Vec<u8> = (0..(3 << 20) + 123u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    let file = file.to_str().unwrap();
    let image = os(&[
        "image",
        "create",
        "--file",
        file,
        "--disk-format",
        "raw",
        "--container-format",
        "bare",
        "disk",
    ]);
    assert_eq!(image["status"], "active", "{image}");
    assert_eq!(image["size"], data.len() as u64);
    let listed = os(&["image", "list"]);
    assert!(listed.as_array().unwrap().iter().any(|i| i["Name"] == "disk"), "{listed}");

    let volume = os(&["volume", "create", "--size", "1", "--image", "disk", "fromimage"]);
    assert_eq!(volume["status"], "available", "{volume}");
    let shown = os(&["volume", "show", "fromimage"]);
    assert_eq!(shown["size"], 1);
    // The image's bytes landed at the start of the volume's file in the data directory.
    let id = volume["id"].as_str().unwrap();
    let path = dir.path().join("volumes").join(format!("volume-{id}.raw"));
    let mut head = vec![0; data.len()];
    use std::io::Read;
    std::fs::File::open(&path).unwrap().read_exact(&mut head).unwrap();
    assert!(head == data, "the volume does not start with the image's bytes");

    let network = os(&["network", "create", "private"]);
    assert_eq!(network["status"], "ACTIVE", "{network}");
    let subnet = os(&[
        "subnet",
        "create",
        "--network",
        "private",
        "--subnet-range",
        "10.0.0.0/24",
        "private-v4",
    ]);
    assert_eq!(subnet["cidr"], "10.0.0.0/24", "{subnet}");
}
