// SPDX-License-Identifier: Apache-2.0
//! Movement against the exact minimum: random topologies lose or gain one device, and one
//! rebalance must move at most 1.02x the fewest part-replicas any assignment could move
//! under the same targets, dispersion limits and one-move-per-partition rule. The minimum is
//! an integer program solved by `scripts/ring/min_moves.py` (scipy's HiGHS, in the venv of
//! `scripts/test-env/swift-ring.sh`).

use std::path::Path;
use std::process::Command;

use ferrostack_core::testing::{prerequisite, venv_python};
use ferrostack_objectstore::ring::{NewDevice, RingBuilder};
use rand::{Rng, SeedableRng};

/// Three regions with the same multiset of server weights (rotated), 1-3 zones, 1-3
/// servers per zone (at least two zones or two servers), 1-2 disks per server.
fn topology(rng: &mut rand::rngs::SmallRng) -> Vec<NewDevice> {
    let (zones, servers) = loop {
        let z = rng.random_range(1..=3u32);
        let s = rng.random_range(1..=3u32);
        if z * s >= 2 {
            break (z, s);
        }
    };
    let disks = rng.random_range(1..=2u32);
    let ws: Vec<f64> =
        (0..zones * servers).map(|_| rng.random_range(1..=4u32) as f64 * 1000.0).collect();
    let mut devs = vec![];
    for r in 1..=3u32 {
        for z in 1..=zones {
            for s in 1..=servers {
                let w = ws[(((z - 1) * servers + s - 1 + r) % (zones * servers)) as usize];
                for d in 0..disks {
                    devs.push(NewDevice::new(
                        r,
                        z,
                        &format!("10.{r}.{z}.{s}"),
                        6200,
                        &format!("d{d}"),
                        w,
                    ));
                }
            }
        }
    }
    devs
}

struct Case {
    name: String,
    moved: usize,
}

/// Builds, changes one device, rebalances once; writes the solver's input to `dir`.
fn run_case(dir: &Path, i: usize, remove: bool, rng: &mut rand::rngs::SmallRng) -> Option<Case> {
    let devs = topology(rng);
    let mut b = RingBuilder::new(10, 3.0, 1).unwrap();
    b.set_seed(rng.random_range(0..1000));
    let mut layout: Vec<(u32, u32, String, f64)> = vec![];
    for d in devs {
        layout.push((d.region, d.zone, d.ip.clone(), d.weight));
        b.add_dev(d).unwrap();
    }
    b.rebalance().unwrap();
    b.pretend_min_part_hours_passed();
    let before = b.table().to_vec();
    let rm = if remove {
        let id = rng.random_range(0..layout.len()) as u32;
        b.remove_dev(id).unwrap();
        let total: f64 = b.devices().iter().flatten().map(|d| d.weight).sum();
        if b.devices().iter().flatten().any(|d| d.weight / total * 3.0 >= 1.0 - 1e-9) {
            return None; // a device would hold every partition: nothing to choose
        }
        id as usize
    } else {
        let w = rng.random_range(1..=4u32) as f64 * 1000.0;
        b.add_dev(NewDevice::new(1, 1, "10.1.1.99", 6200, "new", w)).unwrap();
        layout.push((1, 1, "10.1.1.99".into(), w));
        usize::MAX >> 12
    };
    let r = b.rebalance().unwrap();
    let name = format!("case{i}-{}.json", if remove { "remove" } else { "add" });
    let json = serde_json::json!({"layout": layout, "rm": rm, "before": before,
        "targets": b.targets().unwrap(), "moved": r.moved});
    std::fs::write(dir.join(&name), json.to_string()).unwrap();
    Some(Case { name, moved: r.moved })
}

#[test]
fn one_rebalance_moves_at_most_1_02x_the_exact_minimum() {
    let test = "one_rebalance_moves_at_most_1_02x_the_exact_minimum";
    let py = venv_python("swift");
    let has_scipy = py.as_ref().is_some_and(|py| {
        Command::new(py)
            .args(["-c", "import scipy.optimize"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !prerequisite(
        has_scipy,
        test,
        "scipy in the Swift venv",
        "run scripts/test-env/swift-ring.sh",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(2026);
    let mut cases = vec![];
    let mut i = 0;
    while cases.len() < 12 {
        if let Some(c) = run_case(dir.path(), i, cases.len() % 2 == 0, &mut rng) {
            cases.push(c);
        }
        i += 1;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/ring/min_moves.py");
    let out = Command::new(py.unwrap())
        .arg(script)
        .args(cases.iter().map(|c| dir.path().join(&c.name)))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "min_moves.py failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), cases.len(), "{stdout}");
    let mut total = (0, 0);
    for (c, line) in cases.iter().zip(&lines) {
        let min: usize = line.split_whitespace().nth(2).and_then(|x| x.parse().ok()).expect(line);
        println!("{}: moved {} minimum {min}", c.name, c.moved);
        assert!(
            c.moved as f64 <= (1.02 * min as f64).max(min as f64 + 1.0),
            "{}: moved {} for an exact minimum of {min}",
            c.name,
            c.moved
        );
        total = (total.0 + c.moved, total.1 + min);
    }
    println!("total moved {} for an exact minimum of {}", total.0, total.1);
}
