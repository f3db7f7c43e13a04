// SPDX-License-Identifier: Apache-2.0
//! tempest's compute smoke tests (`tempest.api.compute.servers`, no admin tests) against the
//! `minicloud` example on its embedded defaults: real identity (tempest creates its projects
//! and users through Keystone's admin API), Glance, Neutron, Cinder (boot from volume) and
//! Nova on the fake hypervisor. Prints tempest's per-test results and summary; fails when any
//! selected test fails or none passes.
//!
//! `FERROSTACK_TEMPEST_REGEX` widens the selection, e.g. `^tempest\.api\.compute\.servers\.`.

mod common;

use common::{openstack, openstack_bin, start};
use ferrostack_core::testing::{cache_dir, prerequisite};
use std::process::Command;

/// `key: value` from the clouds.yaml minicloud writes (values may be quoted).
fn yaml_value(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .unwrap_or_else(|| panic!("{key} missing from clouds.yaml"))
}

#[test]
fn tempest_compute_server_smoke_tests_pass_against_minicloud() {
    let test = "tempest_compute_server_smoke_tests_pass_against_minicloud";
    let tempest = cache_dir().join("venv-tempest/bin/tempest");
    if !prerequisite(tempest.exists(), test, "tempest", "bash scripts/test-env/tempest.sh") {
        return;
    }
    let Some(osc) = openstack_bin(test) else { return };
    let dir = tempfile::tempdir().unwrap();
    let _cloud = start(dir.path());
    let clouds = dir.path().join("clouds.yaml");
    let os = |args: &[&str]| openstack(&osc, &clouds, args);

    // What tempest's conf points at: a public image and a shared network every tempest
    // project can boot on.
    let file = dir.path().join("boot.raw");
    std::fs::write(&file, vec![0x5a; 1 << 20]).unwrap();
    let image = os(&[
        "image",
        "create",
        "--public",
        "--file",
        file.to_str().unwrap(),
        "--disk-format",
        "raw",
        "--container-format",
        "bare",
        "tempest-image",
    ]);
    let image = image["id"].as_str().unwrap().to_owned();
    os(&["network", "create", "--share", "shared"]);
    os(&["subnet", "create", "--network", "shared", "--subnet-range", "10.9.0.0/24", "shared4"]);

    let yaml = std::fs::read_to_string(&clouds).unwrap();
    let auth_url = yaml_value(&yaml, "auth_url");
    let password = yaml_value(&yaml, "password");
    let ws = dir.path().join("tempest");
    let name = format!("ferrostack-minicloud-{}", std::process::id());
    let st = Command::new(&tempest).args(["init", "--name", &name]).arg(&ws).status().unwrap();
    assert!(st.success(), "tempest init failed");
    let conf = format!(
        "[DEFAULT]\nlog_dir = {ws}/logs\n\
         [auth]\nuse_dynamic_credentials = True\nadmin_username = admin\n\
         admin_password = {password}\nadmin_project_name = admin\nadmin_domain_name = Default\n\
         create_isolated_networks = False\n\
         [identity]\nuri_v3 = {auth_url}\nauth_version = v3\nregion = RegionOne\n\
         [identity-feature-enabled]\nsecurity_compliance = False\n\
         [service_available]\nnova = True\nglance = True\nneutron = True\ncinder = True\n\
         swift = False\n\
         [compute]\nimage_ref = {image}\nimage_ref_alt = {image}\nflavor_ref = 1\n\
         flavor_ref_alt = 2\nfixed_network_name = shared\nbuild_timeout = 120\n\
         build_interval = 1\n\
         [compute-feature-enabled]\nconsole_output = False\nresize = True\nsnapshot = True\n\
         vnc_console = False\nrescue = False\npause = False\nsuspend = False\nshelve = False\n\
         live_migration = False\ncold_migration = False\nchange_password = False\n\
         interface_attach = True\n\
         [validation]\nrun_validation = False\n",
        ws = ws.display(),
    );
    std::fs::write(ws.join("etc/tempest.conf"), conf).unwrap();
    // The default selection must pass at least MIN_PASSED tests (what it passes today), so
    // that a test that starts skipping cannot hide behind "no failures".
    const MIN_PASSED: usize = 9;
    let (regex, min_passed) = match std::env::var("FERROSTACK_TEMPEST_REGEX") {
        Ok(r) => (r, 1),
        Err(_) => (r"^tempest\.api\.compute\.servers\..*\[.*\bsmoke\b.*\]".to_owned(), MIN_PASSED),
    };
    let out = Command::new(&tempest)
        .current_dir(&ws)
        .args(["run", "--concurrency", "2", "--exclude-regex", r"\.admin\.", "--regex", &regex])
        .output()
        .unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let _ = Command::new(&tempest).args(["workspace", "remove", "--name", &name]).status();
    for line in text.lines().filter(|l| l.starts_with('{') || l.starts_with(" - ")) {
        eprintln!("{line}");
    }
    assert!(text.contains("Totals"), "tempest did not run:\n{text}");
    let count = |label: &str| -> usize {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    };
    let (passed, failed) = (count("- Passed:"), count("- Failed:"));
    println!("tempest compute servers smoke: {passed} passed, {failed} failed");
    assert_eq!(failed, 0, "tempest tests failed:\n{text}");
    assert!(
        passed >= min_passed,
        "only {passed} tempest tests passed (at least {min_passed}):\n{text}"
    );
}
