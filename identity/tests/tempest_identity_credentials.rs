// SPDX-License-Identifier: Apache-2.0
//! tempest's application credential, EC2 credential and (admin) credential tests
//! (venv-tempest, pinned by `scripts/test-env/tempest.sh`) against the identity API on a
//! loopback port, with pre-provisioned member accounts (no admin credentials, as in the
//! reference's "tempest against an arbitrary endpoint").

mod common;

use axum::Router;
use ferrostack_core::testing::{cache_dir, prerequisite};

const TESTS: &str = r"^tempest\.api\.identity\.(admin\.)?v3\.(test_application_credentials|test_ec2_credentials|test_credentials)\.";
/// Access rules are not supported (tempest skips that test with `access_rules = False`); the
/// admin application credential test needs tempest's dynamic credentials (it asks for a
/// fresh project-scoped primary next to the admin), which this pre-provisioned setup lacks.
const KNOWN_GAPS: &str =
    r"test_create_application_credential_access_rules|admin\.v3\.test_application_credentials";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tempest_identity_v3_credentials() {
    let venv = cache_dir().join("venv-tempest").join("bin");
    if !prerequisite(
        venv.join("tempest").exists(),
        "tempest_identity_v3_credentials",
        "tempest (venv-tempest)",
        "run scripts/test-env/tempest.sh",
    ) {
        return;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}/identity");
    let (svc, _keys) = common::service(&base).await;

    // Accounts: member of their own project each.
    let mut accounts = common::member_accounts(&svc).await;
    // The bootstrap administrator, for the admin tests.
    accounts.push_str(&format!(
        "- username: admin\n  project_name: admin\n  password: {}\n  domain_name: Default\n  roles: [admin]\n",
        common::ADMIN_PASSWORD
    ));
    let app = Router::new().nest("/identity", ferrostack_identity::http::router(svc, &base));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let ws = tempfile::tempdir().unwrap();
    let dir = ws.path().join("ws");
    let status = tokio::process::Command::new(venv.join("tempest"))
        .args(["init"])
        .arg(&dir)
        .env("HOME", ws.path())
        .status()
        .await
        .unwrap();
    assert!(status.success());
    std::fs::write(dir.join("etc/accounts.yaml"), accounts).unwrap();
    let conf = format!(
        "[DEFAULT]\nlog_dir = {dir}\n[auth]\nuse_dynamic_credentials = False\n\
         test_accounts_file = {dir}/etc/accounts.yaml\ncreate_isolated_networks = False\n\
         [identity]\nuri_v3 = {base}/v3\nauth_version = v3\nregion = RegionOne\n\
         [identity-feature-enabled]\nsecurity_compliance = False\naccess_rules = False\n\
         [service_available]\nswift = False\nnova = False\nglance = False\ncinder = False\n\
         neutron = False\nhorizon = False\n",
        dir = dir.display()
    );
    std::fs::write(dir.join("etc/tempest.conf"), conf).unwrap();
    let out = tokio::process::Command::new(venv.join("tempest"))
        .args(["run", "--concurrency", "1", "--regex", TESTS, "--exclude-regex", KNOWN_GAPS])
        .current_dir(&dir)
        .env("HOME", ws.path())
        .env("PATH", format!("{}:{}", venv.display(), std::env::var("PATH").unwrap_or_default()))
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    server.abort();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let count = |label: &str| -> usize {
        stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix(label).map(|n| n.trim().parse().unwrap_or(0)))
            .unwrap_or(0)
    };
    let (passed, failed) = (count("- Passed:"), count("- Failed:"));
    println!("tempest identity v3 credentials: {passed} passed, {failed} failed");
    assert_eq!(failed, 0, "tempest failures:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(passed >= 10, "too few tempest tests passed:\n{stdout}");
}
