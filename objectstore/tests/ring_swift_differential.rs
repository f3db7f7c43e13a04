// SPDX-License-Identifier: Apache-2.0
//! Differential test against OpenStack Swift itself (venv from `scripts/test-env/swift-ring.sh`):
//!
//! 1. Rings built by Swift's `RingBuilder` (three layouts, v1 and v2 files): our lookups of
//!    100,000 names equal Swift's `get_nodes` and the first 6 handoffs of `get_more_nodes`.
//! 2. Rings built by our `RingBuilder` and written by us (v1 and v2): Swift's `Ring` loads them
//!    and gives the same answers as ours.

use std::path::{Path, PathBuf};
use std::process::Command;

use ferrostack_core::testing::{prerequisite, venv_python};
use ferrostack_objectstore::ring::{NewDevice, PathHasher, Ring, RingBuilder, RingFormat};

const HANDOFFS: usize = 6;

fn tool() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/swift/swift_ring_tool.py")
}

fn swift_python(test: &str) -> Option<PathBuf> {
    let py = venv_python("swift");
    prerequisite(py.is_some(), test, "the Swift venv", "run scripts/test-env/swift-ring.sh")
        .then(|| py.unwrap_or_default())
}

fn run(py: &Path, args: &[&str]) -> String {
    let out = Command::new(py).arg(tool()).args(args).output().expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "swift_ring_tool {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn hasher() -> PathHasher {
    PathHasher::swift("startcap", "endcap")
}

fn ids(v: impl IntoIterator<Item = u32>) -> String {
    v.into_iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",")
}

fn our_line(ring: &Ring, name: &str, handoffs: usize) -> String {
    let part = ring.partition_of_path(name.as_bytes());
    format!(
        "{name}\t{part}\t{}\t{}",
        ids(ring.primaries(part).as_slice().iter().copied()),
        ids(ring.handoffs(part).take(handoffs))
    )
}

/// Compares our answers with the lines Swift exported; returns the number of mismatches.
fn mismatches(ring: &Ring, tsv: &str) -> usize {
    let mut bad = 0;
    let mut n = 0;
    for line in tsv.lines().filter(|l| !l.is_empty()) {
        n += 1;
        let name = line.split('\t').next().unwrap_or_default();
        let ours = our_line(ring, name, HANDOFFS);
        if ours != line {
            if bad < 5 {
                eprintln!("MISMATCH\n  swift: {line}\n  ours:  {ours}");
            }
            bad += 1;
        }
    }
    assert!(n >= 100_000, "expected 100000 names, got {n}");
    bad
}

struct Layout {
    part_power: u32,
    servers: u32,
    disks: u32,
    weights: &'static str,
    replicas: f64,
    overload: f64,
}

const LAYOUTS: [Layout; 3] = [
    Layout {
        part_power: 16,
        servers: 2,
        disks: 5,
        weights: "balanced",
        replicas: 3.0,
        overload: 0.0,
    },
    Layout {
        part_power: 16,
        servers: 2,
        disks: 4,
        weights: "skewed",
        replicas: 3.0,
        overload: 0.1,
    },
    Layout {
        part_power: 17,
        servers: 1,
        disks: 6,
        weights: "balanced",
        replicas: 2.5,
        overload: 0.0,
    },
];

#[test]
fn lookups_on_swift_built_rings_equal_swift() {
    let Some(py) = swift_python("lookups_on_swift_built_rings_equal_swift") else { return };
    let dir = tempfile::tempdir().unwrap();
    for (i, l) in LAYOUTS.iter().enumerate() {
        for format in ["1", "2"] {
            let ring_path = dir.path().join(format!("swift-{i}-v{format}.ring.gz"));
            let rp = ring_path.to_str().unwrap();
            run(
                &py,
                &[
                    "build",
                    "--part-power",
                    &l.part_power.to_string(),
                    "--servers",
                    &l.servers.to_string(),
                    "--disks",
                    &l.disks.to_string(),
                    "--weights",
                    l.weights,
                    "--replicas",
                    &l.replicas.to_string(),
                    "--overload",
                    &l.overload.to_string(),
                    "--format",
                    format,
                    "--out",
                    rp,
                ],
            );
            let tsv_path = dir.path().join(format!("swift-{i}-v{format}.tsv"));
            run(&py, &["export", rp, tsv_path.to_str().unwrap(), "--n", "100000"]);
            let tsv = std::fs::read_to_string(&tsv_path).unwrap();
            let ring = Ring::load(&ring_path, hasher()).unwrap();
            assert_eq!(ring.part_power(), l.part_power);
            let bad = mismatches(&ring, &tsv);
            eprintln!(
                "layout {i} (pp{} {}), format v{format}: 100000 names, {bad} mismatches",
                l.part_power, l.weights
            );
            assert_eq!(bad, 0, "layout {i} format v{format}");
        }
    }
}

fn layout_devices(py: &Path, l: &Layout, dir: &Path) -> Vec<NewDevice> {
    let path = dir.join("devs.json");
    run(
        py,
        &[
            "layout",
            "--servers",
            &l.servers.to_string(),
            "--disks",
            &l.disks.to_string(),
            "--weights",
            l.weights,
            "--out",
            path.to_str().unwrap(),
        ],
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let mut n = NewDevice::new(
                d["region"].as_u64().unwrap() as u32,
                d["zone"].as_u64().unwrap() as u32,
                d["ip"].as_str().unwrap(),
                d["port"].as_u64().unwrap() as u16,
                d["device"].as_str().unwrap(),
                d["weight"].as_f64().unwrap(),
            );
            n.id = Some(d["id"].as_u64().unwrap() as u32);
            n
        })
        .collect()
}

#[test]
fn swift_loads_rings_written_by_our_builder() {
    let Some(py) = swift_python("swift_loads_rings_written_by_our_builder") else { return };
    let dir = tempfile::tempdir().unwrap();
    for (i, l) in LAYOUTS.iter().enumerate() {
        let mut b = RingBuilder::new(l.part_power, l.replicas, 1).unwrap();
        b.set_overload(l.overload).unwrap();
        for d in layout_devices(&py, l, dir.path()) {
            b.add_dev(d).unwrap();
        }
        b.rebalance().unwrap();
        for (format, fmt) in [(RingFormat::V1, "v1"), (RingFormat::V2, "v2")] {
            let ring_path = dir.path().join(format!("ours-{i}-{fmt}.ring.gz"));
            b.ring_data().save(&ring_path, format).unwrap();
            let ring = Ring::load(&ring_path, hasher()).unwrap();
            let mut tsv = String::new();
            let mut x: u64 = 0x9e3779b97f4a7c15 ^ i as u64;
            for k in 0..20_000u64 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let name = format!("AUTH_test{}/cont{}/obj/{x:016x}", k % 100, x % 1000);
                tsv.push_str(&our_line(&ring, &name, HANDOFFS));
                tsv.push('\n');
            }
            let tsv_path = dir.path().join(format!("ours-{i}-{fmt}.tsv"));
            std::fs::write(&tsv_path, tsv).unwrap();
            let out = run(&py, &["check", ring_path.to_str().unwrap(), tsv_path.to_str().unwrap()]);
            eprintln!("layout {i} {fmt}: {}", out.trim());
            assert!(out.contains("20000 names: 0 mismatches"), "{out}");
        }
    }
}
