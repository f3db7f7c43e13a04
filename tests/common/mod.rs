// SPDX-License-Identifier: Apache-2.0
//! What the facade's end-to-end tests share: the `minicloud` example started on a loopback port
//! with a private data directory, and the unmodified `openstack` CLI (venv-osc, prepared by
//! `scripts/test-env/openstackclient.sh`) pointed at the `clouds.yaml` it writes.

use ferrostack_core::testing::{cache_dir, prerequisite};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `minicloud` example binary next to this test binary, built if missing.
pub fn example_binary() -> PathBuf {
    // target/<profile>/deps/<test>-<hash> -> target/<profile>/examples/minicloud
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let bin = profile_dir.join("examples").join("minicloud");
    // `cargo test --test X` builds no examples, and an example left by an earlier build may be
    // stale; `cargo test`/nextest on the whole workspace build it with the same features, so
    // this is a quick no-op there. Build it as a newcomer would, once per test process.
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        // With the optional drivers this test was built with, so a kvm test gets a kvm cloud.
        let features: Vec<&str> = [
            ("postgres", cfg!(feature = "postgres")),
            ("amqp", cfg!(feature = "amqp")),
            ("kvm", cfg!(feature = "kvm")),
            ("linuxnet", cfg!(feature = "linuxnet")),
        ]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect();
        let status = Command::new(cargo)
            .args(["build", "--example", "minicloud", "--features", &features.join(",")])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the minicloud example failed");
    });
    assert!(bin.exists(), "{} is missing", bin.display());
    bin
}

/// The minicloud process; killed (by its own handle) when dropped.
pub struct Minicloud(Child);

impl Drop for Minicloud {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts minicloud on the embedded defaults with its state in `data_dir`.
pub fn start(data_dir: &Path) -> Minicloud {
    start_with_config(data_dir, None)
}

/// Starts minicloud with its state in `data_dir` and, when given, a configuration file; returns
/// once it serves.
pub fn start_with_config(data_dir: &Path, config: Option<&Path>) -> Minicloud {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut command = Command::new(example_binary());
    command.args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"]).arg(data_dir);
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    let mut child = command
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
pub fn openstack_raw(bin: &Path, clouds: &Path, args: &[&str]) -> String {
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
pub fn openstack(bin: &Path, clouds: &Path, args: &[&str]) -> Value {
    let args: Vec<&str> = args.iter().copied().chain(["-f", "json"]).collect();
    let stdout = openstack_raw(bin, clouds, &args);
    if stdout.trim().is_empty() {
        return Value::Null;
    }
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("openstack {args:?}: {e}: {stdout}"))
}

/// The venv's `openstack`, or `None` after reporting the missing prerequisite.
pub fn openstack_bin(test: &str) -> Option<PathBuf> {
    let bin = cache_dir().join("venv-osc").join("bin").join("openstack");
    prerequisite(
        bin.exists(),
        test,
        "the openstack CLI (venv-osc)",
        "run scripts/test-env/openstackclient.sh",
    )
    .then_some(bin)
}
