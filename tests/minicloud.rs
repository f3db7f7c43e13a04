// SPDX-License-Identifier: Apache-2.0
//! End-to-end: the `minicloud` example as a newcomer runs it.
//!
//! Starts the example binary on a free loopback port, reads what it serves with plain HTTP,
//! checks the client files, stops it with SIGTERM, and restarts it on the same data directory.

#[allow(dead_code)]
mod common;

use common::example_binary;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Minicloud {
    child: Child,
    port: u16,
    output: Vec<String>,
}

impl Minicloud {
    fn start(data_dir: &std::path::Path, port: u16) -> Minicloud {
        let mut child = Command::new(example_binary())
            .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(data_dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("minicloud starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut output = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            match lines.next() {
                Some(Ok(line)) => {
                    let ready = line.starts_with("try:");
                    output.push(line);
                    if ready {
                        // Keep draining stdout so the child never blocks on a full pipe.
                        std::thread::spawn(move || for _ in lines.by_ref() {});
                        return Minicloud { child, port, output };
                    }
                }
                _ => break,
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("minicloud did not report readiness; output so far: {output:?}");
    }

    fn get(&self, path: &str) -> (u16, String) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let status = resp.split(' ').nth(1).unwrap().parse().unwrap();
        let body = resp.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
        (status, body)
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        // `self` is dropped at the end; Drop only kills a child that is still running.
        let pid = self.child.id().to_string();
        let ok = Command::new("kill").args(["-TERM", &pid]).status().unwrap().success();
        assert!(ok, "could not signal minicloud");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                panic!("minicloud did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Minicloud {
    /// A failing test must not leave the server running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn minicloud_serves_writes_client_files_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mc = Minicloud::start(dir.path(), port);
    assert!(mc.output[0].contains(&format!("http://127.0.0.1:{port}")), "{:?}", mc.output);
    // It says which drivers it really runs: the embedded defaults here.
    let says = |role: &str, what: &str| {
        mc.output.iter().any(|l| l.trim_start().starts_with(role) && l.contains(what))
    };
    assert!(says("hypervisor", "fake on host1"), "{:?}", mc.output);
    assert!(says("data plane", "fake"), "{:?}", mc.output);
    assert!(says("volume backend", "file"), "{:?}", mc.output);
    assert!(says("image store", "files in"), "{:?}", mc.output);

    let (status, body) = mc.get("/");
    assert_eq!(status, 200);
    let index: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(index["auth_url"], format!("http://127.0.0.1:{port}/identity/v3"));
    let (status, body) = mc.get("/no/such/thing");
    assert_eq!(status, 404);
    assert!(body.contains("itemNotFound"));

    let yaml = std::fs::read_to_string(dir.path().join("clouds.yaml")).unwrap();
    assert!(yaml.contains("  minicloud:"));
    let password_line =
        yaml.lines().find(|l| l.trim_start().starts_with("password:")).unwrap().to_owned();
    assert!(dir.path().join("openrc").exists());
    assert!(mc.terminate().success(), "SIGTERM must be a clean stop");

    // Same data directory: same admin password, state kept.
    let mc = Minicloud::start(dir.path(), free_port());
    let yaml = std::fs::read_to_string(dir.path().join("clouds.yaml")).unwrap();
    assert!(yaml.contains(&password_line), "the admin password changed across a restart");
    assert!(mc.terminate().success());
}
