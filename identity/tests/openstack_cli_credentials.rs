// SPDX-License-Identifier: Apache-2.0
//! End to end with the unmodified `openstack` CLI (venv-osc): application credentials
//! (create, list, show, delete, and `token issue` with `--os-auth-type
//! v3applicationcredential`) and EC2 credentials (create, list, delete).

mod common;

use axum::Router;
use ferrostack_core::testing::{cache_dir, prerequisite};
use serde_json::Value;
use std::path::PathBuf;

struct Cli {
    bin: PathBuf,
    auth_url: String,
}

impl Cli {
    /// Runs as alice on project demo with a password, or with an application credential.
    async fn run(&self, app_cred: Option<(&str, &str)>, args: &[&str]) -> (bool, String, String) {
        let mut cmd = tokio::process::Command::new(&self.bin);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", std::env::temp_dir())
            .env("OS_AUTH_URL", &self.auth_url)
            .env("OS_IDENTITY_API_VERSION", "3")
            .env("OS_REGION_NAME", "RegionOne")
            .env("OS_INTERFACE", "public")
            .kill_on_drop(true);
        match app_cred {
            Some((id, secret)) => {
                cmd.env("OS_AUTH_TYPE", "v3applicationcredential")
                    .env("OS_APPLICATION_CREDENTIAL_ID", id)
                    .env("OS_APPLICATION_CREDENTIAL_SECRET", secret);
            }
            None => {
                cmd.env("OS_USERNAME", "alice")
                    .env("OS_PASSWORD", "alicepw")
                    .env("OS_PROJECT_NAME", "demo")
                    .env("OS_USER_DOMAIN_NAME", "Default")
                    .env("OS_PROJECT_DOMAIN_NAME", "Default");
            }
        }
        let out = cmd.output().await.unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    async fn json(&self, app_cred: Option<(&str, &str)>, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-f", "json"]);
        let (ok, out, err) = self.run(app_cred, &all).await;
        assert!(ok, "openstack {args:?} failed:\n{err}\n{out}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("openstack {args:?}: {e}: {out}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openstack_cli_drives_application_and_ec2_credentials() {
    let bin = cache_dir().join("venv-osc").join("bin").join("openstack");
    if !prerequisite(
        bin.exists(),
        "openstack_cli_drives_application_and_ec2_credentials",
        "the openstack CLI (venv-osc)",
        "run scripts/test-env/openstackclient.sh",
    ) {
        return;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}/identity");
    let (svc, _keys) = common::service(&base).await;
    // alice, member of demo, set up through the API.
    {
        use ferrostack_core::RequestContext;
        use ferrostack_core::id::{DomainId, ProjectId};
        use ferrostack_identity::IdentityApi;
        use ferrostack_identity::api::ListFilter;
        use ferrostack_identity::types::{Actor, Assignment, Project, Target, User};
        let ctx = RequestContext::internal("test");
        let demo = svc
            .create_project(
                &ctx,
                Project {
                    id: ProjectId::new(),
                    name: "demo".into(),
                    domain_id: DomainId::default_domain(),
                    parent_id: None,
                    description: String::new(),
                    enabled: true,
                    tags: vec![],
                },
            )
            .await
            .unwrap();
        let alice = svc
            .create_user(
                &ctx,
                User::new("alice", DomainId::default_domain()),
                Some("alicepw".into()),
            )
            .await
            .unwrap();
        let filter = ListFilter { name: Some("member".into()), ..ListFilter::default() };
        let member = svc.list_roles(&ctx, &filter).await.unwrap().remove(0);
        svc.create_grant(
            &ctx,
            Assignment {
                actor: Actor::User(alice.id),
                target: Target::Project(demo.id),
                role_id: member.id,
                inherited: false,
            },
        )
        .await
        .unwrap();
    }
    let app = Router::new().nest("/identity", ferrostack_identity::http::router(svc, &base));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let cli = Cli { bin, auth_url: format!("{base}/v3") };

    // Application credentials.
    let created =
        cli.json(None, &["application", "credential", "create", "--description", "ci", "ci"]).await;
    let id = created["ID"].as_str().unwrap_or_else(|| panic!("{created}")).to_owned();
    let secret = created["Secret"].as_str().unwrap().to_owned();
    assert_eq!(created["Name"], "ci");
    assert_eq!(created["Unrestricted"], false);
    let listed = cli.json(None, &["application", "credential", "list"]).await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["ID"], id.as_str());
    let shown = cli.json(None, &["application", "credential", "show", "ci"]).await;
    assert_eq!(shown["ID"], id.as_str());
    assert!(shown.get("Secret").is_none_or(Value::is_null), "{shown}");

    let token = cli.json(Some((&id, &secret)), &["token", "issue"]).await;
    assert!(token["id"].as_str().is_some_and(|t| t.len() > 100), "{token}");
    assert_eq!(token["project_id"], created["Project ID"], "{token}");
    let (ok, _, err) = cli.run(Some((&id, "wrong-secret")), &["token", "issue"]).await;
    assert!(!ok);
    assert!(err.contains("401"), "{err}");

    // An expired one: created to expire soon (the CLI takes seconds to start), used after.
    let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(20);
    let soon_s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        soon.year(),
        u8::from(soon.month()),
        soon.day(),
        soon.hour(),
        soon.minute(),
        soon.second()
    );
    let short = cli
        .json(None, &["application", "credential", "create", "--expiration", &soon_s, "short"])
        .await;
    let (sid, ssecret) = (short["ID"].as_str().unwrap(), short["Secret"].as_str().unwrap());
    while time::OffsetDateTime::now_utc() <= soon + time::Duration::seconds(1) {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let (ok, _, err) = cli.run(Some((sid, ssecret)), &["token", "issue"]).await;
    assert!(!ok);
    assert!(err.contains("401"), "{err}");

    // A restricted application credential cannot create another.
    let (ok, _, err) =
        cli.run(Some((&id, &secret)), &["application", "credential", "create", "x"]).await;
    assert!(!ok);
    assert!(err.contains("403"), "{err}");

    for name in ["ci", "short"] {
        let (ok, _, err) = cli.run(None, &["application", "credential", "delete", name]).await;
        assert!(ok, "delete {name}: {err}");
    }
    let listed = cli.json(None, &["application", "credential", "list"]).await;
    assert!(listed.as_array().unwrap().is_empty(), "{listed}");
    let (ok, _, _) = cli.run(Some((&id, &secret)), &["token", "issue"]).await;
    assert!(!ok, "a deleted application credential still authenticates");

    // EC2 credentials.
    let ec2 = cli.json(None, &["ec2", "credentials", "create"]).await;
    let access = ec2["access"].as_str().unwrap_or_else(|| panic!("{ec2}")).to_owned();
    assert_eq!(access.len(), 32, "{ec2}");
    assert_eq!(ec2["project_id"], created["Project ID"], "{ec2}");
    let listed = cli.json(None, &["ec2", "credentials", "list"]).await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["Access"], access.as_str());
    let shown = cli.json(None, &["ec2", "credentials", "show", &access]).await;
    assert_eq!(shown["secret"], ec2["secret"]);
    let (ok, _, err) = cli.run(None, &["ec2", "credentials", "delete", &access]).await;
    assert!(ok, "ec2 credentials delete: {err}");
    let listed = cli.json(None, &["ec2", "credentials", "list"]).await;
    assert!(listed.as_array().unwrap().is_empty(), "{listed}");
    server.abort();
}
