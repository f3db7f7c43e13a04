// SPDX-License-Identifier: Apache-2.0
//! The API conformance suite: [`run_api_conformance`] drives any [`ComputeApi`] (the local
//! [`ComputeService`](crate::service::ComputeService), or [`Client`](crate::http::Client)
//! against a served router) through flavors, keypairs, server groups, the server lifecycle,
//! quotas and zones, and the error kinds callers rely on.
//!
//! Not to be confused with [`crate::conformance`], the suite every
//! [`Hypervisor`](crate::hypervisor::Hypervisor) driver must pass.
//!
//! The deployment under test needs one host that can run `m1.tiny` servers (the fake
//! hypervisor does), Nova's default flavors, the [`ApiFixture::image`] (active) and the
//! [`ApiFixture::network`]. Error kinds are compared by HTTP status, because a remote
//! caller only sees the status (an `AlreadyExists` and a `Conflict` are both 409).

use crate::api::{
    ComputeApi, CreateGroup, CreateKeypair, CreateServer, ServerFilter, UpdateServer,
};
use crate::error::ComputeError;
use crate::hypervisor::RebootKind;
use crate::types::{Flavor, GroupPolicy, NetworkRequest, Server};
use base64::Engine;
use ferrostack_core::RequestContext;
use ferrostack_core::error::{Classify, ErrorKind};
use ferrostack_core::id::{ImageId, NetworkId, ServerId};
use std::collections::BTreeMap;
use std::time::Duration;

/// Who calls, and what exists, for [`run_api_conformance`].
#[derive(Debug, Clone)]
pub struct ApiFixture {
    /// A member (and reader) of a project.
    pub member: RequestContext,
    /// A member of another project.
    pub other: RequestContext,
    /// An admin.
    pub admin: RequestContext,
    /// An active image servers can boot.
    pub image: ImageId,
    /// A network servers can join.
    pub network: NetworkId,
}

/// How long to poll for a server to settle: attempts × pause (no timing is asserted).
const POLLS: usize = 3000;
const PAUSE: Duration = Duration::from_millis(10);

#[track_caller]
fn expect_kind<T: std::fmt::Debug>(r: Result<T, ComputeError>, want: ErrorKind, what: &str) {
    match r {
        Ok(v) => panic!("{what}: expected {want:?}, got Ok({v:?})"),
        Err(e) => assert_eq!(
            e.kind().http_status(),
            want.http_status(),
            "{what}: expected {want:?}, got {:?}: {e}",
            e.kind()
        ),
    }
}

async fn wait_status(
    api: &dyn ComputeApi,
    ctx: &RequestContext,
    id: ServerId,
    want: &str,
) -> Server {
    let mut last = String::new();
    for _ in 0..POLLS {
        let s = api.get_server(ctx, id).await.expect("get_server while waiting");
        if s.status() == want && s.task_state.is_none() {
            return s;
        }
        assert_ne!(
            s.status(),
            "ERROR",
            "server {id} failed while waiting for {want}: {:?}",
            s.fault
        );
        last = s.status().to_owned();
        tokio::time::sleep(PAUSE).await;
    }
    panic!("server {id} never reached {want} (last {last})");
}

async fn wait_gone(api: &dyn ComputeApi, ctx: &RequestContext, id: ServerId) {
    for _ in 0..POLLS {
        match api.get_server(ctx, id).await {
            Err(e) if e.kind() == ErrorKind::NotFound => return,
            Err(e) => panic!("get_server {id} while deleting: {e}"),
            Ok(_) => tokio::time::sleep(PAUSE).await,
        }
    }
    panic!("server {id} was never deleted");
}

/// A well-formed ed25519 public key (the blob is not a real curve point; Nova only parses
/// the format).
fn ed25519_key(seed: u8) -> String {
    let mut blob = vec![0, 0, 0, 11];
    blob.extend_from_slice(b"ssh-ed25519");
    blob.extend_from_slice(&[0, 0, 0, 32]);
    blob.extend_from_slice(&[seed; 32]);
    format!("ssh-ed25519 {} conformance", base64::engine::general_purpose::STANDARD.encode(&blob))
}

/// Runs the whole suite against `api`. Panics on the first divergence.
pub async fn run_api_conformance(api: &dyn ComputeApi, fx: &ApiFixture) {
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    flavors(api, fx, &tag).await;
    keypairs(api, fx, &tag).await;
    groups(api, fx, &tag).await;
    servers(api, fx, &tag).await;
    bad_input(api, fx).await;
    quotas_and_zones(api, fx).await;
}

/// Flavors: the defaults for everyone; create, extra specs and delete for admins only.
pub async fn flavors(api: &dyn ComputeApi, fx: &ApiFixture, tag: &str) {
    let (member, admin) = (&fx.member, &fx.admin);
    let list = api.list_flavors(member).await.expect("list_flavors");
    assert!(list.iter().any(|f| f.id == "1" && f.name == "m1.tiny"), "default flavors: {list:?}");
    let tiny = api.get_flavor(member, "1").await.expect("get_flavor 1");
    assert_eq!((tiny.ram_mb, tiny.vcpus, tiny.disk_gb), (512, 1, 1));
    expect_kind(
        api.get_flavor(member, "no-such-flavor").await,
        ErrorKind::NotFound,
        "get missing flavor",
    );

    let id = format!("conf-{tag}");
    let mut f = Flavor::new(&id, &format!("conformance.{tag}"), 256, 1, 1);
    f.description = Some("made by the conformance suite".into());
    expect_kind(
        api.create_flavor(member, f.clone()).await,
        ErrorKind::Forbidden,
        "member creates a flavor",
    );
    let created = api.create_flavor(admin, f.clone()).await.expect("admin creates a flavor");
    assert_eq!((created.id.as_str(), created.ram_mb, created.vcpus), (id.as_str(), 256, 1));
    assert_eq!(created.description, f.description);
    expect_kind(api.create_flavor(admin, f).await, ErrorKind::AlreadyExists, "duplicate flavor");

    let specs = BTreeMap::from([("hw:cpu_policy".to_owned(), "dedicated".to_owned())]);
    expect_kind(
        api.set_extra_specs(member, &id, specs.clone()).await,
        ErrorKind::Forbidden,
        "member sets extra specs",
    );
    assert_eq!(
        api.set_extra_specs(admin, &id, specs.clone()).await.expect("set_extra_specs"),
        specs
    );
    assert_eq!(api.get_flavor(admin, &id).await.expect("get_flavor").extra_specs, specs);
    api.unset_extra_spec(admin, &id, "hw:cpu_policy").await.expect("unset_extra_spec");
    assert!(api.get_flavor(admin, &id).await.expect("get_flavor").extra_specs.is_empty());
    expect_kind(
        api.unset_extra_spec(admin, &id, "hw:cpu_policy").await,
        ErrorKind::NotFound,
        "unset a missing extra spec",
    );

    expect_kind(
        api.delete_flavor(member, &id).await,
        ErrorKind::Forbidden,
        "member deletes a flavor",
    );
    api.delete_flavor(admin, &id).await.expect("admin deletes the flavor");
    expect_kind(api.get_flavor(admin, &id).await, ErrorKind::NotFound, "deleted flavor");
    expect_kind(api.delete_flavor(admin, &id).await, ErrorKind::NotFound, "delete twice");
}

/// Keypairs: import, list, show, duplicate and bad names, delete; per user.
pub async fn keypairs(api: &dyn ComputeApi, fx: &ApiFixture, tag: &str) {
    let member = &fx.member;
    let name = format!("conf-{tag}");
    let req = CreateKeypair {
        name: name.clone(),
        public_key: Some(ed25519_key(7)),
        key_type: Default::default(),
    };
    let k = api.create_keypair(member, req.clone()).await.expect("import keypair");
    assert_eq!((k.name.as_str(), k.fingerprint.split(':').count()), (name.as_str(), 16));
    assert!(k.private_key.is_none(), "an imported key has no private key");
    expect_kind(
        api.create_keypair(member, req).await,
        ErrorKind::AlreadyExists,
        "duplicate keypair",
    );
    let bad = CreateKeypair {
        name: "bad/name".into(),
        public_key: Some(ed25519_key(8)),
        key_type: Default::default(),
    };
    expect_kind(api.create_keypair(member, bad).await, ErrorKind::InvalidInput, "bad keypair name");
    let garbage = CreateKeypair {
        name: format!("{name}-x"),
        public_key: Some("ssh-rsa garbage".into()),
        key_type: Default::default(),
    };
    expect_kind(api.create_keypair(member, garbage).await, ErrorKind::InvalidInput, "garbage key");

    let list = api.list_keypairs(member).await.expect("list_keypairs");
    assert!(list.iter().any(|l| l.name == name && l.fingerprint == k.fingerprint), "{list:?}");
    let shown = api.get_keypair(member, &name).await.expect("get_keypair");
    assert_eq!((shown.public_key, shown.user_id), (k.public_key, member.user_id.clone()));
    expect_kind(
        api.get_keypair(&fx.other, &name).await,
        ErrorKind::NotFound,
        "another user's keypair",
    );

    api.delete_keypair(member, &name).await.expect("delete_keypair");
    expect_kind(api.get_keypair(member, &name).await, ErrorKind::NotFound, "deleted keypair");
    expect_kind(api.delete_keypair(member, &name).await, ErrorKind::NotFound, "delete twice");
}

/// Server groups: create, show, list, hidden from another project, delete.
pub async fn groups(api: &dyn ComputeApi, fx: &ApiFixture, tag: &str) {
    let member = &fx.member;
    let req = CreateGroup {
        name: format!("conf-{tag}"),
        policy: GroupPolicy::AntiAffinity,
        max_server_per_host: Some(2),
    };
    let g = api.create_group(member, req).await.expect("create_group");
    assert_eq!((g.policy, g.max_server_per_host), (GroupPolicy::AntiAffinity, Some(2)));
    assert!(g.members.is_empty());
    assert_eq!(api.get_group(member, g.id).await.expect("get_group"), g);
    assert!(api.list_groups(member).await.expect("list_groups").iter().any(|x| x.id == g.id));
    expect_kind(
        api.get_group(&fx.other, g.id).await,
        ErrorKind::NotFound,
        "another project's group",
    );
    assert!(!api.list_groups(&fx.other).await.expect("list_groups").iter().any(|x| x.id == g.id));
    let bad = CreateGroup {
        name: format!("conf-{tag}-bad"),
        policy: GroupPolicy::Affinity,
        max_server_per_host: Some(2),
    };
    expect_kind(api.create_group(member, bad).await, ErrorKind::InvalidInput, "rules on affinity");
    expect_kind(
        api.delete_group(&fx.other, g.id).await,
        ErrorKind::NotFound,
        "delete another's group",
    );
    api.delete_group(member, g.id).await.expect("delete_group");
    expect_kind(api.get_group(member, g.id).await, ErrorKind::NotFound, "deleted group");
}

/// The server lifecycle: create → ACTIVE, list with filters, update, stop/start/reboot, the
/// state checks, another project's view, delete.
pub async fn servers(api: &dyn ComputeApi, fx: &ApiFixture, tag: &str) {
    let member = &fx.member;
    let name = format!("conf-{tag}");
    let req = CreateServer {
        name: name.clone(),
        flavor_ref: "1".into(),
        image_ref: Some(fx.image),
        networks: vec![NetworkRequest { network_id: Some(fx.network), ..Default::default() }]
            .into(),
        metadata: BTreeMap::from([("suite".to_owned(), "conformance".to_owned())]),
        ..Default::default()
    };
    let created = api.create_servers(member, req).await.expect("create_servers");
    assert_eq!(created.len(), 1, "{created:?}");
    let id = created[0].id;
    assert_eq!(created[0].name, name);
    assert_eq!(created[0].project_id.as_str(), member.project_id().expect("project").as_str());

    let s = wait_status(api, member, id, "ACTIVE").await;
    assert_eq!(s.image_id, Some(fx.image));
    assert_eq!(s.flavor.name, "m1.tiny");
    assert_eq!(s.metadata.get("suite").map(String::as_str), Some("conformance"));
    assert_eq!(s.vifs.len(), 1, "one interface on the fixture network: {:?}", s.vifs);
    assert!(!s.vifs[0].fixed_ips.is_empty(), "{:?}", s.vifs);

    let by = |f: ServerFilter| async move {
        api.list_servers(member, &f).await.expect("list_servers").iter().any(|s| s.id == id)
    };
    assert!(by(ServerFilter::default()).await, "listed");
    assert!(by(ServerFilter { name: Some(name.clone()), ..Default::default() }).await, "by name");
    assert!(!by(ServerFilter { name: Some(format!("{name}-nope")), ..Default::default() }).await);
    assert!(by(ServerFilter { status: Some("ACTIVE".into()), ..Default::default() }).await);
    assert!(!by(ServerFilter { status: Some("SHUTOFF".into()), ..Default::default() }).await);
    assert!(by(ServerFilter { flavor: Some("1".into()), ..Default::default() }).await, "by flavor");
    assert!(!by(ServerFilter { flavor: Some("2".into()), ..Default::default() }).await);
    assert!(by(ServerFilter { image: Some(fx.image.to_string()), ..Default::default() }).await);

    // Another project neither sees nor touches it.
    let other = &fx.other;
    expect_kind(api.get_server(other, id).await, ErrorKind::NotFound, "another project's server");
    let theirs = api.list_servers(other, &ServerFilter::default()).await.expect("list_servers");
    assert!(!theirs.iter().any(|s| s.id == id), "listed to another project");
    expect_kind(api.stop_server(other, id).await, ErrorKind::NotFound, "stop another's server");
    expect_kind(api.delete_server(other, id).await, ErrorKind::NotFound, "delete another's server");
    let all = ServerFilter { all_tenants: true, ..Default::default() };
    expect_kind(api.list_servers(other, &all).await, ErrorKind::Forbidden, "all_tenants as member");
    assert!(
        api.list_servers(&fx.admin, &all)
            .await
            .expect("admin lists all")
            .iter()
            .any(|s| s.id == id)
    );

    let upd = UpdateServer {
        name: Some(format!("{name}-renamed")),
        description: Some(Some("described".into())),
    };
    let s = api.update_server(member, id, upd).await.expect("update_server");
    assert_eq!(
        (s.name.as_str(), s.description.as_deref()),
        (format!("{name}-renamed").as_str(), Some("described"))
    );
    let bad = UpdateServer { name: Some("   ".into()), description: None };
    expect_kind(api.update_server(member, id, bad).await, ErrorKind::InvalidInput, "blank name");

    api.stop_server(member, id).await.expect("stop_server");
    wait_status(api, member, id, "SHUTOFF").await;
    expect_kind(api.stop_server(member, id).await, ErrorKind::Conflict, "stop a stopped server");
    expect_kind(
        api.reboot_server(member, id, RebootKind::Soft).await,
        ErrorKind::Conflict,
        "soft reboot a stopped server",
    );
    api.start_server(member, id).await.expect("start_server");
    wait_status(api, member, id, "ACTIVE").await;
    expect_kind(api.start_server(member, id).await, ErrorKind::Conflict, "start a running server");
    api.reboot_server(member, id, RebootKind::Hard).await.expect("reboot_server");
    wait_status(api, member, id, "ACTIVE").await;
    let out = api.console_output(member, id, None).await.expect("console_output");
    assert!(!out.is_empty(), "console output");

    api.delete_server(member, id).await.expect("delete_server");
    wait_gone(api, member, id).await;
    expect_kind(api.delete_server(member, id).await, ErrorKind::NotFound, "delete twice");
}

/// Refusals that change nothing.
pub async fn bad_input(api: &dyn ComputeApi, fx: &ApiFixture) {
    let member = &fx.member;
    let base = CreateServer {
        name: "conf-bad".into(),
        flavor_ref: "1".into(),
        image_ref: Some(fx.image),
        networks: vec![NetworkRequest { network_id: Some(fx.network), ..Default::default() }]
            .into(),
        ..Default::default()
    };
    let cases = [
        ("unknown flavor", CreateServer { flavor_ref: "no-such-flavor".into(), ..base.clone() }),
        ("unknown image", CreateServer { image_ref: Some(ImageId::new()), ..base.clone() }),
        (
            "unknown network",
            CreateServer {
                networks: vec![NetworkRequest {
                    network_id: Some(NetworkId::new()),
                    ..Default::default()
                }]
                .into(),
                ..base.clone()
            },
        ),
        ("blank name", CreateServer { name: " ".into(), ..base.clone() }),
        ("no image", CreateServer { image_ref: None, ..base.clone() }),
        ("unknown keypair", CreateServer { key_name: Some("no-such-key".into()), ..base.clone() }),
        ("bad user data", CreateServer { user_data: Some("!!".into()), ..base.clone() }),
    ];
    for (what, req) in cases {
        expect_kind(api.create_servers(member, req).await, ErrorKind::InvalidInput, what);
    }
    let f = ServerFilter { name: Some("conf-bad".into()), ..Default::default() };
    let mine = api.list_servers(member, &f).await.expect("list_servers");
    assert!(mine.is_empty(), "a refused create left a server: {mine:?}");
    expect_kind(
        api.get_server(member, ServerId::new()).await,
        ErrorKind::NotFound,
        "missing server",
    );
    expect_kind(
        api.stop_server(member, ServerId::new()).await,
        ErrorKind::NotFound,
        "stop missing",
    );
}

/// Quotas (show for the project, update for admins only) and availability zones.
pub async fn quotas_and_zones(api: &dyn ComputeApi, fx: &ApiFixture) {
    let member = &fx.member;
    let project = member.project_id().expect("a project-scoped member").clone();
    let (limits, usage) = api.quotas(member, &project).await.expect("quotas");
    assert!(limits.instances != 0 && usage.instances >= 0, "{limits:?} {usage:?}");
    expect_kind(
        api.set_quotas(member, &project, limits).await,
        ErrorKind::Forbidden,
        "member sets quotas",
    );
    let raised = crate::types::QuotaLimits { key_pairs: limits.key_pairs + 1, ..limits };
    assert_eq!(
        api.set_quotas(&fx.admin, &project, raised).await.expect("admin sets quotas"),
        raised
    );
    assert_eq!(api.quotas(member, &project).await.expect("quotas").0, raised);
    api.set_quotas(&fx.admin, &project, limits).await.expect("restore quotas");
    let zones = api.availability_zones(member).await.expect("availability_zones");
    assert!(zones.iter().any(|z| z.name == "nova" && z.available), "{zones:?}");
}
