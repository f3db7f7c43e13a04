// SPDX-License-Identifier: Apache-2.0
//! End to end: the unmodified `openstack` CLI (venv-osc, `scripts/test-env/openstackclient.sh`)
//! drives Neutron mounted as minicloud mounts it: identity at `/identity`, networking at
//! `/network` behind identity's token validation, published in the catalog as `network`.
//! Two projects build the same 192.168.0.0/24 topology and never see each other.

use axum::Router;
use ferrostack_core::store::MemoryStore;
use ferrostack_core::testing::{cache_dir, prerequisite};
use ferrostack_identity::password::{HashParams, PasswordHashAlgorithm};
use ferrostack_identity::types::Interface;
use ferrostack_identity::{BootstrapOptions, IdentityApi, IdentityConfig, IdentityService};
use ferrostack_network::testing::FakeBackend;
use ferrostack_network::{Backends, NetworkConfig, NetworkService};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;

const ADMIN_PASSWORD: &str = "s3cret-admin";

struct Cli {
    bin: PathBuf,
    auth_url: String,
    user: String,
    password: String,
    project: String,
}

impl Cli {
    fn as_user(&self, user: &str, password: &str, project: &str) -> Cli {
        Cli {
            bin: self.bin.clone(),
            auth_url: self.auth_url.clone(),
            user: user.into(),
            password: password.into(),
            project: project.into(),
        }
    }

    async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = tokio::process::Command::new(&self.bin)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", std::env::temp_dir())
            .env("OS_AUTH_URL", &self.auth_url)
            .env("OS_IDENTITY_API_VERSION", "3")
            .env("OS_USERNAME", &self.user)
            .env("OS_PASSWORD", &self.password)
            .env("OS_PROJECT_NAME", &self.project)
            .env("OS_USER_DOMAIN_NAME", "Default")
            .env("OS_PROJECT_DOMAIN_NAME", "Default")
            .env("OS_REGION_NAME", "RegionOne")
            .env("OS_INTERFACE", "public")
            .kill_on_drop(true)
            .output()
            .await
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    async fn ok(&self, args: &[&str]) {
        let (ok, out, err) = self.run(args).await;
        assert!(ok, "openstack {args:?} as {} failed:\n{err}\n{out}", self.user);
    }

    async fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-f", "json"]);
        let (ok, out, err) = self.run(&all).await;
        assert!(ok, "openstack {args:?} as {} failed:\n{err}\n{out}", self.user);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("openstack {args:?}: {e}: {out}"))
    }
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|i| i["ID"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openstack_cli_drives_networking() {
    let bin = cache_dir().join("venv-osc").join("bin").join("openstack");
    if !prerequisite(
        bin.exists(),
        "openstack_cli_drives_networking",
        "the openstack CLI (venv-osc)",
        "run scripts/test-env/openstackclient.sh",
    ) {
        return;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let identity_url = format!("http://{addr}/identity");
    let network_url = format!("http://{addr}/network");
    let keys = tempfile::tempdir().unwrap();
    let store = Arc::new(MemoryStore::new());
    let config = IdentityConfig {
        key_repository: keys.path().join("fernet-keys"),
        password_hashing: HashParams {
            algorithm: PasswordHashAlgorithm::Bcrypt,
            bcrypt_cost: 4,
            ..HashParams::default()
        },
        public_url: identity_url.clone(),
        ..IdentityConfig::default()
    };
    let identity = Arc::new(IdentityService::new(store.clone(), config).await.unwrap());
    identity
        .bootstrap(&BootstrapOptions {
            admin_username: "admin".into(),
            admin_password: ADMIN_PASSWORD.into(),
            admin_project: "admin".into(),
            region: "RegionOne".into(),
            identity_url: format!("{identity_url}/v3"),
        })
        .await
        .unwrap();
    let urls = [Interface::Public, Interface::Internal, Interface::Admin]
        .map(|i| (i, network_url.clone()));
    identity.register_service("network", "neutron", "RegionOne", &urls).await.unwrap();
    let fake = Arc::new(FakeBackend::new());
    let network = Arc::new(NetworkService::new(
        store.clone(),
        NetworkConfig::default(),
        Backends::all(fake.clone()),
    ));
    let api: Arc<dyn IdentityApi> = identity.clone();
    let app = Router::new()
        .nest("/identity", ferrostack_identity::http::router(identity.clone(), &identity_url))
        .nest(
            "/network",
            ferrostack_identity::http::authenticate(
                ferrostack_network::http::router(network.clone()),
                api,
            ),
        );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let admin = Cli {
        bin,
        auth_url: format!("{identity_url}/v3"),
        user: "admin".into(),
        password: ADMIN_PASSWORD.into(),
        project: "admin".into(),
    };

    // The operator's external network.
    let public = admin
        .json(&[
            "network",
            "create",
            "--external",
            "--provider-network-type",
            "flat",
            "--provider-physical-network",
            "public",
            "public",
        ])
        .await;
    assert_eq!(public["router:external"], true, "{public}");
    admin
        .ok(&[
            "subnet",
            "create",
            "--network",
            "public",
            "--subnet-range",
            "203.0.113.0/24",
            "public-subnet",
        ])
        .await;

    // Two projects with one member each.
    let mut users = Vec::new();
    for (project, user) in [("demo1", "alice"), ("demo2", "bob")] {
        admin.ok(&["project", "create", "--domain", "default", project]).await;
        admin.ok(&["user", "create", "--password", "pw-secret", user]).await;
        admin.ok(&["role", "add", "--project", project, "--user", user, "member"]).await;
        users.push(admin.as_user(user, "pw-secret", project));
    }

    let mut built = Vec::new();
    for cli in &users {
        let net = cli.json(&["network", "create", "private"]).await;
        let sub = cli
            .json(&[
                "subnet",
                "create",
                "--network",
                "private",
                "--subnet-range",
                "192.168.0.0/24",
                "private-subnet",
            ])
            .await;
        assert_eq!(sub["gateway_ip"], "192.168.0.1", "{sub}");
        let port = cli.json(&["port", "create", "--network", "private", "p1"]).await;
        let port_ip = port["fixed_ips"][0]["ip_address"].as_str().unwrap_or_default().to_owned();
        assert!(port_ip.starts_with("192.168.0."), "{port}");
        let router = cli.json(&["router", "create", "r1"]).await;
        cli.ok(&["router", "set", "--external-gateway", "public", "r1"]).await;
        cli.ok(&["router", "add", "subnet", "r1", "private-subnet"]).await;
        let shown = cli.json(&["router", "show", "r1"]).await;
        assert!(shown["external_gateway_info"].to_string().contains("203.0.113."), "{shown}");
        let fip = cli.json(&["floating", "ip", "create", "public"]).await;
        let fip_ip = fip["floating_ip_address"].as_str().unwrap().to_owned();
        cli.ok(&["floating", "ip", "set", "--port", "p1", &fip_ip]).await;
        let fip_shown = cli.json(&["floating", "ip", "show", &fip_ip]).await;
        assert_eq!(fip_shown["fixed_ip_address"], port_ip.as_str(), "{fip_shown}");
        assert_eq!(fip_shown["router_id"], router["id"], "{fip_shown}");
        let sg = cli.json(&["security", "group", "create", "web"]).await;
        let rule = cli
            .json(&[
                "security",
                "group",
                "rule",
                "create",
                "--protocol",
                "tcp",
                "--dst-port",
                "22",
                "web",
            ])
            .await;
        assert_eq!(rule["port_range_min"], 22, "{rule}");
        let rules = cli.json(&["security", "group", "rule", "list", "web"]).await;
        assert_eq!(rules.as_array().unwrap().len(), 3, "two egress defaults and ssh: {rules}");
        let groups = cli.json(&["security", "group", "list"]).await;
        assert_eq!(groups.as_array().unwrap().len(), 2, "default and web: {groups}");
        cli.json(&["network", "show", "private"]).await;
        cli.json(&["subnet", "show", "private-subnet"]).await;
        cli.json(&["port", "show", "p1"]).await;
        built.push((
            net["id"].as_str().unwrap().to_owned(),
            sub["id"].as_str().unwrap().to_owned(),
            port["id"].as_str().unwrap().to_owned(),
            router["id"].as_str().unwrap().to_owned(),
            fip["id"].as_str().unwrap().to_owned(),
            sg["id"].as_str().unwrap().to_owned(),
            rule["id"].as_str().unwrap().to_owned(),
            fip_ip,
        ));
    }

    // Nothing leaks between the projects through the API.
    for (i, cli) in users.iter().enumerate() {
        let other = &built[1 - i];
        let mine = &built[i];
        let nets = ids(&cli.json(&["network", "list"]).await);
        assert!(
            nets.contains(&mine.0) && nets.contains(&public["id"].as_str().unwrap().to_owned())
        );
        assert!(!nets.contains(&other.0), "{nets:?}");
        for (cmd, id) in [
            (vec!["subnet", "list"], &other.1),
            (vec!["port", "list"], &other.2),
            (vec!["router", "list"], &other.3),
            (vec!["floating", "ip", "list"], &other.4),
            (vec!["security", "group", "list"], &other.5),
        ] {
            let list = ids(&cli.json(&cmd).await);
            assert!(!list.contains(id), "{cmd:?} shows the other project's {id}");
        }
        let (ok, _, _) = cli.run(&["network", "show", &other.0]).await;
        assert!(!ok, "showing the other project's network must fail");
        let (ok, _, _) = cli.run(&["port", "delete", &other.2]).await;
        assert!(!ok, "deleting the other project's port must fail");
    }

    // Tear everything down with the CLI.
    for (cli, b) in users.iter().zip(&built) {
        cli.ok(&["security", "group", "rule", "delete", &b.6]).await;
        cli.ok(&["security", "group", "delete", "web"]).await;
        cli.ok(&["floating", "ip", "delete", &b.7]).await;
        cli.ok(&["router", "remove", "subnet", "r1", "private-subnet"]).await;
        cli.ok(&["router", "delete", "r1"]).await;
        cli.ok(&["port", "delete", "p1"]).await;
        cli.ok(&["subnet", "delete", "private-subnet"]).await;
        cli.ok(&["network", "delete", "private"]).await;
        assert_eq!(cli.json(&["port", "list"]).await, Value::Array(Vec::new()));
    }
    let state = fake.state();
    assert!(state.routers.is_empty() && state.plugged.is_empty(), "{state:?}");
    server.abort();
}
