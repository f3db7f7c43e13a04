// SPDX-License-Identifier: Apache-2.0
//! Namespace lab for the driver's tests: every namespace is named `fst-<pid>-<n>-<role>`
//! and removed (with whatever runs inside) by [`Lab`]'s `Drop`, even when the test panics.
#![allow(dead_code)]

use ferrostack_core::command::SystemRunner;
use ferrostack_linuxnet::{LinuxNet, LinuxNetConfig};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether this host can run namespace tests; prints SKIPPED (or fails under CI) otherwise.
pub fn can_run(test: &str, extra: &[&str]) -> bool {
    let root = rustix::process::geteuid().is_root();
    if !ferrostack_core::testing::prerequisite(
        root,
        test,
        "root (network namespaces)",
        "run the tests as root",
    ) {
        return false;
    }
    for tool in ["ip", "nft"].iter().chain(extra) {
        if !ferrostack_core::testing::prerequisite(
            have(tool),
            test,
            tool,
            "bash scripts/test-env/linuxnet.sh",
        ) {
            return false;
        }
    }
    true
}

/// A set of namespaces owned by one test.
#[derive(Debug)]
pub struct Lab {
    pub base: String,
    namespaces: std::sync::Mutex<Vec<String>>,
    pub dir: tempdir::Dir,
}

pub mod tempdir {
    use std::path::PathBuf;
    /// A directory removed on drop.
    #[derive(Debug)]
    pub struct Dir(pub PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub fn sh(args: &[&str]) -> std::process::Output {
    Command::new(args[0]).args(&args[1..]).output().expect("spawn")
}

pub fn ok(args: &[&str]) -> String {
    let o = sh(args);
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

impl Lab {
    pub fn new() -> Lab {
        let base = format!("fst-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
        let dir = std::env::temp_dir().join(format!("{base}-state"));
        std::fs::create_dir_all(&dir).expect("state dir");
        Lab { base, namespaces: std::sync::Mutex::new(Vec::new()), dir: tempdir::Dir(dir) }
    }

    /// Creates namespace `<base>-<role>` with `lo` up; returns its name.
    pub fn ns(&self, role: &str) -> String {
        let name = format!("{}-{role}", self.base);
        ok(&["ip", "netns", "add", &name]);
        self.namespaces.lock().unwrap().push(name.clone());
        ok(&["ip", "-n", &name, "link", "set", "lo", "up"]);
        name
    }

    /// Registers a namespace the driver creates, so that it is removed too.
    pub fn adopt(&self, name: String) {
        self.namespaces.lock().unwrap().push(name);
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.0.clone()
    }

    /// A driver whose bridges live in a fresh `<base>-hv` namespace.
    pub fn driver(&self, prefix: &str) -> (Arc<LinuxNet>, String) {
        let hv = self.ns("hv");
        (self.driver_in(prefix, &hv), hv)
    }

    pub fn driver_in(&self, prefix: &str, hv: &str) -> Arc<LinuxNet> {
        self.driver_with(prefix, hv, |_| {})
    }

    pub fn driver_with(
        &self,
        prefix: &str,
        hv: &str,
        f: impl FnOnce(&mut LinuxNetConfig),
    ) -> Arc<LinuxNet> {
        let mut cfg = LinuxNetConfig {
            prefix: prefix.into(),
            host_netns: Some(hv.to_owned()),
            state_dir: self.state_dir(),
            dhcp_lease_seconds: 600,
            ..Default::default()
        };
        f(&mut cfg);
        Arc::new(LinuxNet::new(cfg, Arc::new(SystemRunner::new())).expect("driver"))
    }

    /// Moves the VM end `peer` of a plugged port from `hv` into a new namespace
    /// `<base>-<role>`, renamed `eth0` and up; returns the namespace.
    pub fn vm(&self, role: &str, hv: &str, peer: &str) -> String {
        let ns = self.ns(role);
        ok(&["ip", "-n", hv, "link", "set", peer, "netns", &ns]);
        ok(&["ip", "-n", &ns, "link", "set", peer, "name", "eth0"]);
        ok(&["ip", "-n", &ns, "link", "set", "eth0", "up"]);
        ns
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let names = self.namespaces.lock().map(|n| n.clone()).unwrap_or_default();
        for ns in names.iter().rev() {
            if !Path::new("/run/netns").join(ns).exists() {
                continue;
            }
            if let Ok(o) = Command::new("ip").args(["netns", "pids", ns]).output() {
                for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            }
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Runs `cmd` in namespace `ns`, returning whether it succeeded.
pub fn run_in(ns: &str, cmd: &[&str]) -> bool {
    let mut argv = vec!["ip", "netns", "exec", ns];
    argv.extend_from_slice(cmd);
    Command::new(argv[0]).args(&argv[1..]).output().is_ok_and(|o| o.status.success())
}

pub fn ping(from: &str, to: &str) -> bool {
    run_in(from, &["ping", "-c1", "-W1", to])
}

/// Waits (up to 3 s) until something in `ns` listens on `port` (TCP) or is bound to it (UDP),
/// reading the namespace's own `/proc/net/{tcp,udp}`.
pub fn wait_listening(ns: &str, port: u16, udp: bool) {
    let file = if udp { "/proc/net/udp" } else { "/proc/net/tcp" };
    let needle = format!(":{port:04X} ");
    for _ in 0..150 {
        let o = sh(&["ip", "netns", "exec", ns, "cat", file]);
        let text = String::from_utf8_lossy(&o.stdout);
        if text.lines().skip(1).any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && format!("{} ", f[1]).ends_with(&needle) && (udp || f[3] == "0A")
        }) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A TCP (or UDP) probe: a listener in `server` on `port`, a client in `client` sending a
/// line to `addr`; true when the listener received it.
pub fn probe(client: &str, server: &str, addr: &str, port: u16, udp: bool) -> bool {
    let p = port.to_string();
    let mut l = std::process::Command::new("ip");
    l.args(["netns", "exec", server, "timeout", "3", "nc"]);
    if udp {
        l.arg("-u");
    }
    l.args(["-l", "-p", &p])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let listener = l.spawn().expect("nc -l");
    wait_listening(server, port, udp);
    let mut c = std::process::Command::new("ip");
    c.args(["netns", "exec", client, "timeout", "3", "nc"]);
    if udp {
        c.arg("-u");
    }
    c.args(["-w1", addr, &p])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = c.spawn().expect("nc");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        let _ = stdin.write_all(b"probe\n");
        if !udp {
            drop(stdin);
        } else {
            std::thread::sleep(Duration::from_millis(300));
            drop(stdin);
        }
    }
    let _ = child.wait();
    // Delivered data reaches the listener at once; give it a moment, then stop waiting
    // (a UDP listener never ends by itself, a blocked TCP one only at its timeout).
    let mut listener = listener;
    for _ in 0..25 {
        if listener.try_wait().ok().flatten().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // SIGTERM, which `timeout` passes on to nc (SIGKILL would orphan nc with our pipe).
    let _ = Command::new("kill").args(["-TERM", &listener.id().to_string()]).status();
    let out = listener.wait_with_output().expect("listener");
    String::from_utf8_lossy(&out.stdout).contains("probe")
}

/// The source address a TCP listener in `server` (on `port`) sees when `client` connects to
/// `addr`; `None` when nothing arrived.
pub fn seen_source(client: &str, server: &str, addr: &str, port: u16) -> Option<String> {
    let p = port.to_string();
    let listener = std::process::Command::new("ip")
        .args(["netns", "exec", server, "timeout", "3", "nc", "-n", "-v", "-l", "-p", &p])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("nc -l");
    wait_listening(server, port, false);
    let _ = std::process::Command::new("ip")
        .args(["netns", "exec", client, "timeout", "3", "nc", "-N", "-w1", addr, &p])
        .stdin(std::process::Stdio::null())
        .output();
    let out = listener.wait_with_output().expect("listener");
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    text.lines().find_map(|l| {
        l.strip_prefix("Connection received on ")
            .map(|r| r.split_whitespace().next().unwrap_or("").to_owned())
    })
}

/// Plugs a port on `net` through the driver and moves its VM end into a new namespace
/// `<base>-<role>` with `cidr` on eth0 and, when given, a default route.
#[allow(clippy::too_many_arguments)]
pub async fn vm_on(
    lab: &Lab,
    d: &LinuxNet,
    hv: &str,
    net: &ferrostack_network::backend::NetworkSpec,
    role: &str,
    mac: &str,
    cidr: &str,
    gateway: Option<&str>,
) -> (ferrostack_core::id::PortId, String) {
    use ferrostack_network::backend::{NetworkBackend, PortBinding};
    let id = ferrostack_core::id::PortId::new();
    let vif = d
        .plug_port(&PortBinding {
            port_id: id,
            network: net.clone(),
            mac_address: mac.into(),
            host: "hv".into(),
            vnic_type: "normal".into(),
        })
        .await
        .expect("plug");
    let peer = vif.details["peer_name"].as_str().expect("peer").to_owned();
    let ns = lab.vm(role, hv, &peer);
    ok(&["ip", "-n", &ns, "addr", "add", cidr, "dev", "eth0"]);
    if let Some(g) = gateway {
        ok(&["ip", "-n", &ns, "route", "add", "default", "via", g]);
    }
    (id, ns)
}

pub fn local_net() -> ferrostack_network::backend::NetworkSpec {
    use ferrostack_network::types::{NetworkType, Segment};
    ferrostack_network::backend::NetworkSpec {
        id: ferrostack_core::id::NetworkId::new(),
        segment: Segment {
            network_type: NetworkType::Local,
            physical_network: None,
            segmentation_id: None,
        },
        mtu: 1500,
    }
}
