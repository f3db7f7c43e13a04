// SPDX-License-Identifier: Apache-2.0
//! The [`VolumeApi`] conformance suite: what every implementation (the local
//! [`crate::VolumeService`], the remote [`crate::http::Client`]) must do, asserted through the
//! trait alone.
//!
//! [`run`] needs an implementation whose backends can hold a few 1-2 GiB volumes with
//! snapshots, clones and attachments (the [`super::FakeVolumeBackend`] or a file backend), no
//! image service, and an [`ApiFixture`] whose contexts it may act as. It creates its own
//! resources (names carry a random suffix) and deletes them again, so it can run against a
//! service other tests use.

use crate::VolumeError;
use crate::api::{
    CreateVolume, CreateVolumeType, ListFilter, QuotaUpdate, UpdateVolume, VolumeApi,
};
use crate::types::{
    AttachStatus, Connector, DEFAULT_TYPE_NAME, SnapshotStatus, VolumeSource, VolumeStatus,
};
use ferrostack_core::RequestContext;
use ferrostack_core::error::{Classify, ErrorKind};
use ferrostack_core::id::{ProjectId, ServerId, SnapshotId, UserId, VolumeId};
use std::collections::BTreeMap;

/// The callers the suite acts as. Over HTTP each needs a token (set `auth_token`, e.g. with
/// `ferrostack_core::http::testing::StaticTokens::register`).
#[derive(Debug, Clone)]
pub struct ApiFixture {
    /// A `member` (and `reader`) of project A: owns the resources.
    pub member: RequestContext,
    /// A `reader` of project A only: may look, not change.
    pub reader: RequestContext,
    /// A `member` of project B: must not see project A's resources.
    pub other: RequestContext,
    /// An `admin` (of project C): manages types and quotas, sees everything.
    pub admin: RequestContext,
}

impl ApiFixture {
    /// Three fresh projects and the four callers.
    pub fn new() -> Self {
        let a = ProjectId::new();
        ApiFixture {
            member: RequestContext::for_project(UserId::new(), a.clone(), &["member", "reader"]),
            reader: RequestContext::for_project(UserId::new(), a, &["reader"]),
            other: RequestContext::for_project(
                UserId::new(),
                ProjectId::new(),
                &["member", "reader"],
            ),
            admin: RequestContext::for_project(
                UserId::new(),
                ProjectId::new(),
                &["admin", "member", "reader"],
            ),
        }
    }

    /// The project that owns the suite's resources.
    pub fn project(&self) -> &ProjectId {
        self.member.project_id().expect("the member context is project-scoped")
    }
}

impl Default for ApiFixture {
    fn default() -> Self {
        Self::new()
    }
}

/// Asserts that `r` failed with `kind`; `what` names the step in the panic message.
#[track_caller]
pub fn assert_kind<T: std::fmt::Debug>(r: Result<T, VolumeError>, kind: ErrorKind, what: &str) {
    match r {
        Ok(v) => panic!("{what}: expected a {kind:?} error, got {v:?}"),
        Err(e) => assert_eq!(e.kind(), kind, "{what}: wrong kind for {e}"),
    }
}

fn suffix() -> String {
    VolumeId::new().to_string()[..8].to_owned()
}

fn sized(name: &str, size_gb: u64) -> CreateVolume {
    CreateVolume { name: Some(name.into()), size_gb: Some(size_gb), ..Default::default() }
}

/// Runs every part of the suite.
pub async fn run(api: &dyn VolumeApi, f: &ApiFixture) {
    volumes(api, f).await;
    snapshots(api, f).await;
    types(api, f).await;
    attachments(api, f).await;
    quotas(api, f).await;
}

/// Volumes: create, get, list (filters, limit), update, extend, delete; invalid input,
/// not found, a reader refused, another project's member shown nothing, an admin's
/// `all_projects` listing.
pub async fn volumes(api: &dyn VolumeApi, f: &ApiFixture) {
    let name = format!("conf-vol-{}", suffix());
    let mut req = sized(&name, 1);
    req.description = Some("made by the conformance suite".into());
    req.metadata = BTreeMap::from([("purpose".to_owned(), "conformance".to_owned())]);
    let v = api.create_volume(&f.member, req).await.expect("create a volume");
    assert_eq!(v.status, VolumeStatus::Available);
    assert_eq!(v.size_gb, 1);
    assert_eq!(v.name.as_deref(), Some(name.as_str()));
    assert_eq!(&v.project_id, f.project());
    assert_eq!(v.user_id, f.member.user_id);
    assert_eq!(v.volume_type_name, DEFAULT_TYPE_NAME);
    assert_eq!(v.source, VolumeSource::Blank);
    assert_eq!(v.metadata.get("purpose").map(String::as_str), Some("conformance"));

    let got = api.get_volume(&f.member, &v.id).await.expect("get the volume");
    assert_eq!(got.id, v.id);
    assert_eq!(got.name, v.name);
    assert_eq!(got.description, v.description);
    assert_eq!(got.volume_type_id, v.volume_type_id);
    assert_eq!(got.metadata, v.metadata);
    assert_eq!(api.get_volume(&f.reader, &v.id).await.expect("a reader may look").id, v.id);

    let all = api.list_volumes(&f.member, &ListFilter::default()).await.expect("list");
    assert!(all.iter().any(|x| x.id == v.id), "the new volume is listed");
    assert!(all.iter().all(|x| &x.project_id == f.project()), "only the caller's project");
    let named = ListFilter { name: Some(name.clone()), ..Default::default() };
    let by_name = api.list_volumes(&f.member, &named).await.expect("list by name");
    assert_eq!(by_name.iter().map(|x| x.id).collect::<Vec<_>>(), vec![v.id]);
    let by_status = ListFilter { status: Some("error".into()), ..named.clone() };
    assert!(api.list_volumes(&f.member, &by_status).await.expect("by status").is_empty());
    let second = api.create_volume(&f.member, sized(&format!("{name}-2"), 1)).await.expect("2nd");
    let one = ListFilter { limit: Some(1), ..Default::default() };
    assert_eq!(api.list_volumes(&f.member, &one).await.expect("limit").len(), 1);

    let change = UpdateVolume {
        name: Some(format!("{name}-renamed")),
        description: Some("renamed".into()),
        metadata: None,
    };
    let updated = api.update_volume(&f.member, &v.id, change).await.expect("update");
    assert_eq!(updated.name.as_deref(), Some(format!("{name}-renamed").as_str()));
    assert_eq!(updated.metadata, v.metadata, "metadata unchanged when not given");
    let got = api.get_volume(&f.member, &v.id).await.expect("get after update");
    assert_eq!(got.description.as_deref(), Some("renamed"));

    let grown = api.extend_volume(&f.member, &v.id, 2).await.expect("extend");
    assert_eq!(grown.size_gb, 2);
    assert_eq!(grown.status, VolumeStatus::Available);
    assert_kind(api.extend_volume(&f.member, &v.id, 1).await, ErrorKind::InvalidInput, "shrink");

    // Invalid input and missing resources.
    assert_kind(
        api.create_volume(&f.member, sized("zero", 0)).await,
        ErrorKind::InvalidInput,
        "size 0",
    );
    let mut long = sized("x", 1);
    long.name = Some("n".repeat(256));
    assert_kind(api.create_volume(&f.member, long).await, ErrorKind::InvalidInput, "long name");
    let missing = VolumeId::new();
    assert_kind(api.get_volume(&f.member, &missing).await, ErrorKind::NotFound, "get missing");
    assert_kind(api.delete_volume(&f.member, &missing).await, ErrorKind::NotFound, "del missing");

    // A reader may not change anything.
    assert_kind(
        api.create_volume(&f.reader, sized("reader", 1)).await,
        ErrorKind::Forbidden,
        "a reader creates",
    );
    assert_kind(api.delete_volume(&f.reader, &v.id).await, ErrorKind::Forbidden, "reader deletes");

    // Another project sees nothing.
    assert_kind(api.get_volume(&f.other, &v.id).await, ErrorKind::NotFound, "other's get");
    assert_kind(
        api.update_volume(&f.other, &v.id, UpdateVolume::default()).await,
        ErrorKind::NotFound,
        "other's update",
    );
    assert_kind(api.delete_volume(&f.other, &v.id).await, ErrorKind::NotFound, "other's delete");
    let theirs = api.list_volumes(&f.other, &ListFilter::default()).await.expect("other lists");
    assert!(theirs.iter().all(|x| x.id != v.id), "another project's volumes are hidden");
    let sneaky = ListFilter { all_projects: true, ..Default::default() };
    let theirs = api.list_volumes(&f.other, &sneaky).await.expect("all_projects, non-admin");
    assert!(theirs.iter().all(|x| x.id != v.id), "all_projects is for admins only");

    // An admin sees every project's volumes when asking for all of them.
    let every = api.list_volumes(&f.admin, &sneaky).await.expect("admin lists all");
    assert!(every.iter().any(|x| x.id == v.id), "an admin's all_projects listing");
    assert_eq!(api.get_volume(&f.admin, &v.id).await.expect("admin gets").project_id, v.project_id);

    api.delete_volume(&f.member, &v.id).await.expect("delete");
    api.delete_volume(&f.member, &second.id).await.expect("delete the second");
    assert_kind(api.get_volume(&f.member, &v.id).await, ErrorKind::NotFound, "get deleted");
}

/// Snapshots: create, get, list, update, a volume from a snapshot, deletion order, other
/// projects.
pub async fn snapshots(api: &dyn VolumeApi, f: &ApiFixture) {
    let name = format!("conf-snap-{}", suffix());
    let v = api.create_volume(&f.member, sized(&name, 1)).await.expect("create a volume");
    let s = api
        .create_snapshot(&f.member, &v.id, Some(name.clone()), None, false)
        .await
        .expect("create a snapshot");
    assert_eq!(s.status, SnapshotStatus::Available);
    assert_eq!(s.volume_id, v.id);
    assert_eq!(s.size_gb, 1);
    assert_eq!(&s.project_id, f.project());
    let got = api.get_snapshot(&f.member, &s.id).await.expect("get the snapshot");
    assert_eq!((got.id, got.name.clone()), (s.id, s.name.clone()));
    let named = ListFilter { name: Some(name.clone()), ..Default::default() };
    let listed = api.list_snapshots(&f.member, &named).await.expect("list snapshots");
    assert_eq!(listed.iter().map(|x| x.id).collect::<Vec<_>>(), vec![s.id]);
    let change = UpdateVolume { name: Some(format!("{name}-renamed")), ..Default::default() };
    let renamed = api.update_snapshot(&f.member, &s.id, change).await.expect("update snapshot");
    assert_eq!(renamed.name.as_deref(), Some(format!("{name}-renamed").as_str()));

    assert_kind(api.get_snapshot(&f.other, &s.id).await, ErrorKind::NotFound, "other's snap");
    let theirs = api.list_snapshots(&f.other, &ListFilter::default()).await.expect("list");
    assert!(theirs.iter().all(|x| x.id != s.id), "another project's snapshots are hidden");
    assert_kind(
        api.get_snapshot(&f.member, &SnapshotId::new()).await,
        ErrorKind::NotFound,
        "missing snapshot",
    );
    assert_kind(
        api.create_snapshot(&f.reader, &v.id, None, None, false).await,
        ErrorKind::Forbidden,
        "a reader snapshots",
    );

    // A volume with snapshots cannot go; a volume made from one records it.
    assert_kind(api.delete_volume(&f.member, &v.id).await, ErrorKind::InvalidInput, "has snaps");
    let mut from = sized(&format!("{name}-copy"), 2);
    from.snapshot_id = Some(s.id);
    let copy = api.create_volume(&f.member, from).await.expect("a volume from the snapshot");
    assert_eq!(copy.source, VolumeSource::Snapshot { id: s.id });
    assert_eq!(copy.size_gb, 2);
    let mut same = sized(&format!("{name}-same"), 1);
    same.snapshot_id = Some(s.id);
    let same = api.create_volume(&f.member, same).await.expect("the snapshot's own size");
    api.delete_volume(&f.member, &same.id).await.expect("delete it");

    api.delete_volume(&f.member, &copy.id).await.expect("delete the copy");
    api.delete_snapshot(&f.member, &s.id).await.expect("delete the snapshot");
    assert_kind(api.get_snapshot(&f.member, &s.id).await, ErrorKind::NotFound, "deleted snap");
    api.delete_volume(&f.member, &v.id).await.expect("delete the volume");
}

/// Volume types: admin-only management, public and private visibility, extra specs, a
/// type in use cannot be deleted.
pub async fn types(api: &dyn VolumeApi, f: &ApiFixture) {
    let name = format!("conf-type-{}", suffix());
    let req = CreateVolumeType {
        name: name.clone(),
        description: Some("conformance".into()),
        is_public: true,
        extra_specs: BTreeMap::from([("conformance:tier".to_owned(), "gold".to_owned())]),
    };
    assert_kind(api.create_type(&f.member, req.clone()).await, ErrorKind::Forbidden, "member");
    let t = api.create_type(&f.admin, req.clone()).await.expect("an admin creates a type");
    assert_eq!(t.name, name);
    assert!(t.is_public);
    assert_eq!(t.extra_specs.get("conformance:tier").map(String::as_str), Some("gold"));
    let dup = api.create_type(&f.admin, req).await;
    assert!(
        matches!(
            dup.as_ref().map_err(Classify::kind),
            Err(ErrorKind::AlreadyExists | ErrorKind::Conflict)
        ),
        "a duplicate name is a 409: {dup:?}"
    );

    let listed = api.list_types(&f.member).await.expect("a member lists types");
    assert!(listed.iter().any(|x| x.id == t.id), "public types are listed");
    assert_eq!(api.get_type(&f.member, &name).await.expect("by name").id, t.id);
    assert_eq!(api.get_type(&f.member, &t.id.to_string()).await.expect("by id").name, name);
    assert_kind(api.get_type(&f.member, "no-such-type").await, ErrorKind::NotFound, "missing");

    let specs = BTreeMap::from([("conformance:color".to_owned(), "blue".to_owned())]);
    assert_kind(
        api.set_type_extra_specs(&f.member, &t.id, specs.clone()).await,
        ErrorKind::Forbidden,
        "member sets specs",
    );
    let t2 = api.set_type_extra_specs(&f.admin, &t.id, specs).await.expect("admin sets specs");
    assert_eq!(t2.extra_specs.len(), 2, "extra specs are merged: {:?}", t2.extra_specs);

    let private = CreateVolumeType {
        name: format!("{name}-private"),
        is_public: false,
        ..Default::default()
    };
    let p = api.create_type(&f.admin, private).await.expect("a private type");
    assert!(!p.is_public);
    assert_kind(api.get_type(&f.member, &p.id.to_string()).await, ErrorKind::NotFound, "private");
    let seen = api.list_types(&f.member).await.expect("list types");
    assert!(seen.iter().all(|x| x.id != p.id), "private types are hidden from members");
    assert!(api.list_types(&f.admin).await.expect("admin lists").iter().any(|x| x.id == p.id));

    // A volume of the type; the type cannot go while it is used.
    let mut req = sized(&format!("{name}-vol"), 1);
    req.volume_type = Some(name.clone());
    let v = api.create_volume(&f.member, req).await.expect("a volume of the type");
    assert_eq!((v.volume_type_id, v.volume_type_name.as_str()), (t.id, name.as_str()));
    assert_kind(api.delete_type(&f.admin, &t.id).await, ErrorKind::InvalidInput, "type in use");
    assert_kind(api.delete_type(&f.member, &t.id).await, ErrorKind::Forbidden, "member deletes");
    api.delete_volume(&f.member, &v.id).await.expect("delete the volume");
    api.delete_type(&f.admin, &t.id).await.expect("delete the type");
    api.delete_type(&f.admin, &p.id).await.expect("delete the private type");
    assert_kind(api.get_type(&f.admin, &t.id.to_string()).await, ErrorKind::NotFound, "deleted");
}

/// The attachment flow: reserve, connect, complete, detach; refusals on the way.
pub async fn attachments(api: &dyn VolumeApi, f: &ApiFixture) {
    let name = format!("conf-att-{}", suffix());
    let v = api.create_volume(&f.member, sized(&name, 1)).await.expect("create a volume");
    let server = ServerId::new();
    assert_kind(
        api.create_attachment(&f.member, &v.id, Some(server), None, Some("xx".into())).await,
        ErrorKind::InvalidInput,
        "a bad mode",
    );
    assert_kind(
        api.create_attachment(&f.other, &v.id, Some(server), None, None).await,
        ErrorKind::NotFound,
        "another project attaches",
    );
    let a =
        api.create_attachment(&f.member, &v.id, Some(server), None, None).await.expect("reserve");
    assert_eq!(a.attach_status, AttachStatus::Reserved);
    assert_eq!((a.volume_id, a.instance_uuid), (v.id, Some(server)));
    assert_eq!(&a.project_id, f.project());
    assert_eq!(a.attach_mode, "rw");
    assert!(a.connection_info.is_none());
    assert_eq!(api.get_volume(&f.member, &v.id).await.expect("get").status, VolumeStatus::Reserved);

    let connector = Connector {
        host: Some("conformance-host".into()),
        initiator: Some("iqn.2004-10.org.ferrostack:conformance".into()),
        ..Default::default()
    };
    let a = api.update_attachment(&f.member, &a.id, connector).await.expect("connect");
    assert_eq!(a.attach_status, AttachStatus::Attaching);
    let info = a.connection_info.clone().expect("connection info after a connector");
    assert!(!info.driver_volume_type.is_empty());
    assert_eq!(a.attached_host.as_deref(), Some("conformance-host"));

    let a = api.complete_attachment(&f.member, &a.id).await.expect("complete");
    assert_eq!(a.attach_status, AttachStatus::Attached);
    assert!(a.attach_time.is_some());
    assert_eq!(api.get_volume(&f.member, &v.id).await.expect("get").status, VolumeStatus::InUse);
    let got = api.get_attachment(&f.member, &a.id).await.expect("get the attachment");
    assert_eq!((got.id, got.attach_status), (a.id, AttachStatus::Attached));
    assert_eq!(got.connection_info, Some(info), "connection info survives a get");
    let listed = api.list_attachments(&f.member, Some(&v.id), false).await.expect("list");
    assert_eq!(listed.iter().map(|x| x.id).collect::<Vec<_>>(), vec![a.id]);

    assert_kind(api.get_attachment(&f.other, &a.id).await, ErrorKind::NotFound, "other's get");
    let theirs = api.list_attachments(&f.other, None, false).await.expect("other lists");
    assert!(theirs.iter().all(|x| x.id != a.id), "another project's attachments are hidden");
    assert_kind(api.delete_volume(&f.member, &v.id).await, ErrorKind::InvalidInput, "in use");
    assert_kind(
        api.create_attachment(&f.member, &v.id, Some(ServerId::new()), None, None).await,
        ErrorKind::InvalidInput,
        "a second server on a volume that is not multiattach",
    );
    assert_kind(api.delete_attachment(&f.reader, &a.id).await, ErrorKind::Forbidden, "reader");

    let remaining = api.delete_attachment(&f.member, &a.id).await.expect("detach");
    assert!(remaining.is_empty(), "no attachment left: {remaining:?}");
    assert_eq!(
        api.get_volume(&f.member, &v.id).await.expect("get").status,
        VolumeStatus::Available
    );
    assert_kind(api.get_attachment(&f.member, &a.id).await, ErrorKind::NotFound, "deleted");
    api.delete_volume(&f.member, &v.id).await.expect("delete the volume");
}

/// Quotas: defaults, usage accounting, admin-only changes, invalid limits, enforcement.
pub async fn quotas(api: &dyn VolumeApi, f: &ApiFixture) {
    let project = f.project().clone();
    let (limits, before) = api.get_quotas(&f.member, &project).await.expect("show quotas");
    let fresh = f.other.project_id().expect("project-scoped").clone();
    let (fresh_limits, _) = api.get_quotas(&f.other, &fresh).await.expect("other's quotas");
    assert_eq!(fresh_limits, api.default_quotas(), "an untouched project has the defaults");
    assert_kind(api.get_quotas(&f.other, &project).await, ErrorKind::Forbidden, "other's quotas");

    let v = api.create_volume(&f.member, sized("conf-quota", 2)).await.expect("create");
    let (_, after) = api.get_quotas(&f.member, &project).await.expect("show quotas");
    assert_eq!(after.volumes, before.volumes + 1);
    assert_eq!(after.gigabytes, before.gigabytes + 2);

    let change = QuotaUpdate { volumes: Some(after.volumes as i64), ..Default::default() };
    assert_kind(api.update_quotas(&f.member, &project, change).await, ErrorKind::Forbidden, "m");
    let set = api.update_quotas(&f.admin, &project, change).await.expect("an admin sets quotas");
    assert_eq!(set.volumes, after.volumes as i64);
    assert_eq!(set.gigabytes, limits.gigabytes, "other limits unchanged");
    assert_kind(
        api.create_volume(&f.member, sized("over", 1)).await,
        ErrorKind::QuotaExceeded,
        "over the volumes quota",
    );
    let bad = QuotaUpdate { gigabytes: Some(-2), ..Default::default() };
    assert_kind(api.update_quotas(&f.admin, &project, bad).await, ErrorKind::InvalidInput, "-2");

    let reset = QuotaUpdate { volumes: Some(limits.volumes), ..Default::default() };
    api.update_quotas(&f.admin, &project, reset).await.expect("reset");
    assert_eq!(api.get_quotas(&f.member, &project).await.expect("show").0, limits);
    api.delete_volume(&f.member, &v.id).await.expect("delete");
    let (_, end) = api.get_quotas(&f.member, &project).await.expect("show quotas");
    assert_eq!((end.volumes, end.gigabytes), (before.volumes, before.gigabytes), "usage returned");
}
