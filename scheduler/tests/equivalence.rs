// SPDX-License-Identifier: Apache-2.0
//! Decision equivalence with the Python reference reimplementation of Nova 34's filter
//! scheduler (`tests/reference/reimpl_sched.py`, itself proven identical to real Nova):
//! generated clusters, both filter scenarios, several seeds; the comparator must report
//! every chosen host and every alternate identical.

use ferrostack_core::testing::prerequisite;
use ferrostack_scheduler::SchedulerConfig;
use ferrostack_scheduler::io::{CliArgs, run_cli};
use std::path::{Path, PathBuf};
use std::process::Command;

fn reference() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("reference")
}

fn python_available() -> bool {
    Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success())
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("spawn");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn check(hosts: usize, requests: usize, seed: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let r = reference();
    run(Command::new("python3")
        .arg(r.join("synth.py"))
        .args([
            "--hosts",
            &hosts.to_string(),
            "--requests",
            &requests.to_string(),
            "--seed",
            &seed.to_string(),
            "--out",
        ])
        .arg(&data));
    for scenario in ["default", "extended"] {
        let py_out = dir.path().join(format!("py_{scenario}"));
        run(Command::new("python3")
            .arg(r.join("reimpl_sched.py"))
            .arg("--data")
            .arg(&data)
            .args(["--scenario", scenario, "--out"])
            .arg(&py_out));
        let rs_out = dir.path().join(format!("rs_{scenario}"));
        let args = CliArgs {
            cluster: data.join("cluster.json"),
            requests: data.join("requests.jsonl"),
            scenario: scenario.into(),
            out: rs_out.clone(),
            max_requests: 0,
            config: SchedulerConfig::default(),
            repeat: 1,
        };
        let summary = run_cli(&args).expect("rust replay");
        assert_eq!(summary.requests, requests);
        let report = run(Command::new("python3")
            .arg(r.join("compare_decisions.py"))
            .arg(&py_out)
            .arg(&rs_out));
        let first: serde_json::Value =
            serde_json::from_str(report.lines().next().unwrap_or("{}")).expect("json");
        assert_eq!(first["compared"], requests, "{report}");
        assert_eq!(first["same_chosen_and_alternates"], requests, "{report}");
        eprintln!("hosts={hosts} seed={seed} {scenario}: {}", report.trim());
    }
}

#[test]
fn identical_decisions_to_the_reference_on_generated_clusters() {
    if !prerequisite(
        python_available(),
        "identical_decisions_to_the_reference_on_generated_clusters",
        "python3",
        "install python3 (standard library only)",
    ) {
        return;
    }
    for seed in [1, 7] {
        check(60, 200, seed);
    }
}

#[test]
fn identical_decisions_on_a_crowded_cluster() {
    if !prerequisite(
        python_available(),
        "identical_decisions_on_a_crowded_cluster",
        "python3",
        "install python3 (standard library only)",
    ) {
        return;
    }
    // Few hosts, many requests: hosts fill up, claims are refused, requests fail and roll back.
    check(12, 150, 3);
}
