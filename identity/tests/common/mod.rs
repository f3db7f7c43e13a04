// SPDX-License-Identifier: Apache-2.0
//! Shared setup of the identity integration tests.
#![allow(dead_code)]

use ferrostack_core::RequestContext;
use ferrostack_core::id::{DomainId, ProjectId};
use ferrostack_core::store::MemoryStore;
use ferrostack_identity::api::ListFilter;
use ferrostack_identity::password::{HashParams, PasswordHashAlgorithm};
use ferrostack_identity::types::{Actor, Assignment, Project, Target, User};
use ferrostack_identity::{BootstrapOptions, IdentityApi, IdentityConfig, IdentityService};
use std::sync::Arc;

pub const ADMIN_PASSWORD: &str = "s3cret-admin";

/// A bootstrapped service on a MemoryStore with a fresh key repository (removed with the
/// returned TempDir) and cheap password hashing.
pub async fn service(public_url: &str) -> (Arc<IdentityService>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = IdentityConfig {
        key_repository: dir.path().join("fernet-keys"),
        password_hashing: HashParams {
            algorithm: PasswordHashAlgorithm::Bcrypt,
            bcrypt_cost: 4,
            ..HashParams::default()
        },
        public_url: public_url.to_owned(),
        lockout_failure_attempts: Some(5),
        ..IdentityConfig::default()
    };
    let svc = IdentityService::new(Arc::new(MemoryStore::new()), config).await.unwrap();
    svc.bootstrap(&BootstrapOptions {
        admin_username: "admin".into(),
        admin_password: ADMIN_PASSWORD.into(),
        admin_project: "admin".into(),
        region: "RegionOne".into(),
        identity_url: format!("{public_url}/v3"),
    })
    .await
    .unwrap();
    (Arc::new(svc), dir)
}

/// Creates `demo1`..`demo4`, each a `member` of its own project (password `secret`), and
/// returns them as tempest's pre-provisioned `accounts.yaml`.
pub async fn member_accounts(svc: &IdentityService) -> String {
    let ctx = RequestContext::internal("tempest");
    let member = svc
        .list_roles(&ctx, &ListFilter { name: Some("member".into()), ..Default::default() })
        .await
        .unwrap()
        .remove(0);
    let mut accounts = String::new();
    for i in 1..=4 {
        let name = format!("demo{i}");
        let p = svc
            .create_project(
                &ctx,
                Project {
                    id: ProjectId::new(),
                    name: name.clone(),
                    domain_id: DomainId::default_domain(),
                    parent_id: None,
                    description: String::new(),
                    enabled: true,
                    tags: Vec::new(),
                },
            )
            .await
            .unwrap();
        let u = svc
            .create_user(
                &ctx,
                User {
                    default_project_id: Some(p.id.clone()),
                    ..User::new(name.clone(), DomainId::default_domain())
                },
                Some("secret".into()),
            )
            .await
            .unwrap();
        svc.create_grant(
            &ctx,
            Assignment {
                actor: Actor::User(u.id),
                target: Target::Project(p.id),
                role_id: member.id.clone(),
                inherited: false,
            },
        )
        .await
        .unwrap();
        accounts.push_str(&format!(
            "- username: {name}\n  project_name: {name}\n  password: secret\n  domain_name: Default\n  roles: [member]\n"
        ));
    }
    accounts
}

/// A run of tempest's identity tests against the identity API on a loopback port.
pub struct Tempest<'a> {
    /// The calling test's name (for the prerequisite note and the summary line).
    pub test: &'a str,
    /// The regex of the tests to run.
    pub tests: &'a str,
    /// The regex of the tests left out.
    pub known_gaps: &'a str,
    /// Whether the bootstrap administrator is among the accounts (for the admin tests).
    pub admin: bool,
    /// At least this many must pass.
    pub min_passed: usize,
}

impl Tempest<'_> {
    /// Runs tempest (venv-tempest, pinned by `scripts/test-env/tempest.sh`) with the
    /// pre-provisioned [`member_accounts`] (no dynamic credentials) and asserts that nothing
    /// failed; skips with a note when tempest is not installed.
    pub async fn run(&self) {
        use ferrostack_core::testing::{cache_dir, prerequisite};
        let venv = cache_dir().join("venv-tempest").join("bin");
        if !prerequisite(
            venv.join("tempest").exists(),
            self.test,
            "tempest (venv-tempest)",
            "run scripts/test-env/tempest.sh",
        ) {
            return;
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}/identity");
        let (svc, _keys) = service(&base).await;

        // Accounts: member of their own project each.
        let mut accounts = member_accounts(&svc).await;
        if self.admin {
            accounts.push_str(&format!(
                "- username: admin\n  project_name: admin\n  password: {ADMIN_PASSWORD}\n  domain_name: Default\n  roles: [admin]\n",
            ));
        }
        let app =
            axum::Router::new().nest("/identity", ferrostack_identity::http::router(svc, &base));
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
            .args(["run", "--concurrency", "1", "--regex", self.tests])
            .args(["--exclude-regex", self.known_gaps])
            .current_dir(&dir)
            .env("HOME", ws.path())
            .env(
                "PATH",
                format!("{}:{}", venv.display(), std::env::var("PATH").unwrap_or_default()),
            )
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
        println!("{}: {passed} passed, {failed} failed", self.test);
        assert_eq!(
            failed,
            0,
            "tempest failures:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(passed >= self.min_passed, "too few tempest tests passed:\n{stdout}");
    }
}

/// An answer of [`request`].
pub struct Resp {
    pub status: axum::http::StatusCode,
    /// `X-Subject-Token`.
    pub subject: Option<String>,
    /// The JSON body (`Null` when empty, the text as a string when it is not JSON).
    pub body: serde_json::Value,
}

/// Sends one request to `app` in process, with `X-Auth-Token: token` and
/// `X-Subject-Token: subject` when given and `body` as JSON.
pub async fn request(
    app: &axum::Router,
    method: axum::http::Method,
    path: &str,
    token: Option<&str>,
    subject: Option<&str>,
    body: Option<serde_json::Value>,
) -> Resp {
    use axum::body::Body;
    use http_body_util::BodyExt;
    use serde_json::Value;
    use tower::ServiceExt;
    let mut req = axum::http::Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("x-auth-token", t);
    }
    if let Some(s) = subject {
        req = req.header("x-subject-token", s);
    }
    let req = match body {
        Some(b) => req.header("content-type", "application/json").body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let subject = resp.headers().get("x-subject-token").map(|v| v.to_str().unwrap().to_owned());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    Resp { status, subject, body }
}
