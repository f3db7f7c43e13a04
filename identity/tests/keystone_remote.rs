// SPDX-License-Identifier: Apache-2.0
//! `http::Client` against a real Keystone (venv-keystone, pinned by
//! `scripts/test-env/keystone.sh`), started by `keystone_server.py` on loopback with SQLite:
//! authentication, remote validation into a `RequestContext`, revocation, bad tokens and CRUD.
#![cfg(feature = "client")]

use ferrostack_core::error::{Classify, ErrorKind};
use ferrostack_core::id::{DomainId, ProjectId};
use ferrostack_core::testing::{cache_dir, prerequisite};
use ferrostack_identity::IdentityApi;
use ferrostack_identity::api::*;
use ferrostack_identity::http::{Client, ClientConfig};
use ferrostack_identity::types::Project;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

fn admin() -> AuthRequest {
    let default = || DomainRef::Id("default".into());
    AuthRequest {
        method: AuthMethod::Password {
            user: UserRef::Name { name: "admin".into(), domain: default() },
            password: "admin-secret".into(),
        },
        scope: ScopeRequest::Project(ProjectRef::Name { name: "admin".into(), domain: default() }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_validates_against_a_real_keystone() {
    let python = cache_dir().join("venv-keystone").join("bin").join("python");
    if !prerequisite(
        python.exists(),
        "client_validates_against_a_real_keystone",
        "Keystone (venv-keystone)",
        "bash scripts/test-env/keystone.sh",
    ) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keystone_server.py");
    let mut child = tokio::process::Command::new(&python)
        .arg(script)
        .arg(work.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Generous: db_sync on a loaded 2-core machine can take a minute or more.
    let line = tokio::time::timeout(Duration::from_secs(600), lines.next_line())
        .await
        .expect("keystone did not start")
        .unwrap()
        .expect("keystone exited before it was ready");
    let port: u16 = line.strip_prefix("ready ").expect("unexpected output").parse().unwrap();
    let url = format!("http://127.0.0.1:{port}/v3");

    let service =
        Client::new(ClientConfig { service_auth: Some(admin()), ..ClientConfig::new(url.clone()) })
            .unwrap();
    let uncached = Client::new(ClientConfig {
        service_auth: Some(admin()),
        token_cache_time: Duration::ZERO,
        ..ClientConfig::new(url.clone())
    })
    .unwrap();

    // Authenticate, then validate remotely with the service token.
    let info = service.authenticate(admin()).await.unwrap();
    assert!(info.roles.iter().any(|r| r.name == "admin"));
    assert!(info.catalog.iter().any(|c| c.service_type == "identity"));
    let ctx = service.context_for_token(&info.token, "req-1").await.unwrap();
    assert_eq!(ctx.user_name, "admin");
    assert_eq!(ctx.user_id, info.user.id);
    assert_eq!(ctx.user_domain_id.as_str(), "default");
    assert!(ctx.has_role("admin") && ctx.has_role("member") && ctx.has_role("reader"));
    assert_eq!(ctx.project_id(), info.payload_project_id().as_ref());
    assert_eq!(ctx.expires_at, Some(info.payload.expires_at));
    assert_eq!(ctx.audit_ids, info.payload.audit_ids);
    let v = service.validate_token(&ctx, &info.token, false).await.unwrap();
    assert_eq!(v.payload.audit_ids, info.payload.audit_ids);

    // Bad and revoked tokens.
    assert_eq!(
        uncached.context_for_token("not-a-token", "r").await.unwrap_err().kind(),
        ErrorKind::Unauthenticated
    );
    let other = service.authenticate(admin()).await.unwrap();
    uncached.context_for_token(&other.token, "r").await.unwrap();
    service.revoke_token(&ctx, &other.token).await.unwrap();
    assert_eq!(
        uncached.context_for_token(&other.token, "r").await.unwrap_err().kind(),
        ErrorKind::Unauthenticated
    );

    // CRUD through Keystone's REST API.
    let p = service
        .create_project(
            &ctx,
            Project {
                id: ProjectId::new(),
                name: "ferrostack-remote".into(),
                domain_id: DomainId::default_domain(),
                parent_id: None,
                description: "made by the Rust client".into(),
                enabled: true,
                tags: Vec::new(),
            },
        )
        .await
        .unwrap();
    assert_eq!(p.parent_id, None);
    let filter = ListFilter { name: Some("ferrostack-remote".into()), ..ListFilter::default() };
    assert_eq!(service.list_projects(&ctx, &filter).await.unwrap(), vec![p.clone()]);
    let dup = Project { id: ProjectId::new(), ..p.clone() };
    assert_eq!(service.create_project(&ctx, dup).await.unwrap_err().kind(), ErrorKind::Conflict);
    service.delete_project(&ctx, p.id.as_str()).await.unwrap();
    assert_eq!(
        service.get_project(&ctx, p.id.as_str()).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let roles = service.list_roles(&ctx, &ListFilter::default()).await.unwrap();
    assert!(roles.iter().any(|r| r.name == "reader"));
    child.kill().await.ok();
}
