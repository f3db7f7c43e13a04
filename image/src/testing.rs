// SPDX-License-Identifier: Apache-2.0
//! The [`ImageApi`] conformance suite: [`run_api_conformance`] exercises any implementation
//! (the local [`ImageService`](crate::ImageService), the [`http::Client`](crate::http::Client)
//! against a served router, or a client against a real Glance) through the trait alone, and
//! panics at the first behaviour that departs from Glance's. The image-data store has its own
//! suite, [`store::conformance`](crate::store::conformance).

use bytes::Bytes;
use ferrostack_core::RequestContext;
use ferrostack_core::error::{Classify, ErrorKind};
use ferrostack_core::id::{ImageId, ProjectId, UserId};
use futures::StreamExt;
use md5::Digest as _;

use crate::api::{CreateImage, ImageApi, ListQuery, PatchOp};
use crate::error::ImageError;
use crate::store::ByteStream;
use crate::types::{ImageStatus, MemberStatus, Visibility};

/// The callers the suite acts as. Each context carries a distinct `auth_token`, so an HTTP run
/// can map the tokens back to these contexts (`StaticTokens::with(token, ctx)`).
#[derive(Debug, Clone)]
pub struct Fixture {
    /// A member of project A: creates and owns the suite's images.
    pub owner: RequestContext,
    /// A reader (no member role) of project A.
    pub reader: RequestContext,
    /// A member of project B.
    pub other: RequestContext,
    /// An administrator (of a third project).
    pub admin: RequestContext,
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

impl Fixture {
    /// Fresh projects and users, with tokens.
    pub fn new() -> Self {
        let ctx = |project: &ProjectId, roles: &[&str], token: &str| {
            let mut c = RequestContext::for_project(UserId::new(), project.clone(), roles);
            c.auth_token = Some(format!("{token}-{}", uuid::Uuid::new_v4().simple()));
            c
        };
        let (a, b) = (ProjectId::new(), ProjectId::new());
        Fixture {
            owner: ctx(&a, &["member", "reader"], "owner"),
            reader: ctx(&a, &["reader"], "reader"),
            other: ctx(&b, &["member", "reader"], "other"),
            admin: ctx(&ProjectId::new(), &["admin", "member", "reader"], "admin"),
        }
    }

    /// Every context of the fixture.
    pub fn contexts(&self) -> [&RequestContext; 4] {
        [&self.owner, &self.reader, &self.other, &self.admin]
    }
}

#[track_caller]
fn expect_kind<T: std::fmt::Debug>(r: Result<T, ImageError>, kind: ErrorKind, what: &str) {
    match r {
        Err(e) => assert_eq!(e.kind(), kind, "{what}: wrong error kind ({e})"),
        Ok(v) => panic!("{what}: expected a {kind:?} error, got {v:?}"),
    }
}

fn chunked(data: &[u8], chunk: usize) -> ByteStream {
    let parts: Vec<Result<Bytes, ImageError>> =
        data.chunks(chunk).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    futures::stream::iter(parts).boxed()
}

async fn read_all(mut s: ByteStream) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(c) = s.next().await {
        out.extend_from_slice(&c.expect("a download chunk"));
    }
    out
}

/// Data that no format inspector mistakes for anything but `raw`.
fn raw_data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

/// A qcow2 header: refused when the image is declared `raw`.
fn qcow2_header() -> Vec<u8> {
    let mut h = vec![0u8; 4096];
    h[..4].copy_from_slice(b"QFI\xfb");
    h[7] = 3;
    h[24..32].copy_from_slice(&(1u64 << 30).to_be_bytes());
    h
}

fn names(images: &[crate::Image]) -> Vec<ImageId> {
    images.iter().map(|i| i.id).collect()
}

/// Runs the suite against `api`. Panics on the first violation.
///
/// Covers create/get/list/update/delete, upload then download (equal bytes, md5 `checksum`
/// and sha512 `os_hash_value`), a refused upload, the `glance-direct` import, tags, members
/// and visibility across two projects, deactivation, and the error kinds: not found, invalid
/// input, forbidden (a reader, another project's member, a non-admin), conflict, and another
/// project's private image hidden.
pub async fn run_api_conformance(api: &dyn ImageApi, fx: &Fixture) {
    records(api, fx).await;
    data(api, fx).await;
    import(api, fx).await;
    tags(api, fx).await;
    sharing(api, fx).await;
    deactivation_and_deletion(api, fx).await;
}

async fn records(api: &dyn ImageApi, fx: &Fixture) {
    let req = CreateImage {
        tags: Some(vec!["t1".into(), "t1".into(), "t2".into()]),
        min_disk: Some(1),
        visibility: Some(Visibility::Private),
        ..CreateImage::new("conformance", "raw", "bare").property("hw_disk_bus", "scsi")
    };
    let img = api.create(&fx.owner, req).await.expect("create");
    assert_eq!(img.status, ImageStatus::Queued);
    assert_eq!(img.name.as_deref(), Some("conformance"));
    assert_eq!(img.owner.as_ref(), fx.owner.project_id());
    assert_eq!(img.visibility, Visibility::Private);
    assert_eq!(img.tags, ["t1", "t2"], "duplicate tags collapse");
    assert_eq!(img.min_disk, 1);
    assert_eq!(img.properties.get("hw_disk_bus").map(String::as_str), Some("scsi"));

    let got = api.get(&fx.owner, &img.id).await.expect("get");
    assert_eq!(
        (got.id, got.name.clone(), got.properties.clone()),
        (img.id, img.name, img.properties)
    );
    assert_eq!(api.get(&fx.reader, &img.id).await.expect("a reader sees it").id, img.id);
    expect_kind(
        api.get(&fx.other, &img.id).await,
        ErrorKind::NotFound,
        "another project's private image",
    );
    expect_kind(api.get(&fx.owner, &ImageId::new()).await, ErrorKind::NotFound, "a missing image");

    let mine = api.list(&fx.owner, &ListQuery::default()).await.expect("list");
    assert!(names(&mine).contains(&img.id), "the owner lists its image");
    let theirs = api.list(&fx.other, &ListQuery::default()).await.expect("list");
    assert!(!names(&theirs).contains(&img.id), "another project's private image is not listed");
    let q = ListQuery { name: Some("conformance".into()), ..ListQuery::default() };
    let by_name = api.list(&fx.owner, &q).await.expect("list by name");
    assert!(by_name.iter().all(|i| i.name.as_deref() == Some("conformance")));
    assert!(names(&by_name).contains(&img.id));
    let q = ListQuery { limit: Some(1), ..ListQuery::default() };
    assert_eq!(api.list(&fx.owner, &q).await.expect("list with limit").len(), 1);

    // Update: a JSON patch, all or nothing.
    let ops = vec![
        PatchOp::replace("/name", "renamed"),
        PatchOp::add("/os_distro", "cirros"),
        PatchOp::remove("/hw_disk_bus"),
        PatchOp::replace("/min_ram", 512u64),
        PatchOp::replace("/protected", true),
    ];
    let up = api.update(&fx.owner, &img.id, ops).await.expect("update");
    assert_eq!(up.name.as_deref(), Some("renamed"));
    assert_eq!(up.properties.get("os_distro").map(String::as_str), Some("cirros"));
    assert!(!up.properties.contains_key("hw_disk_bus"));
    assert_eq!((up.min_ram, up.protected), (512, true));
    let got = api.get(&fx.owner, &img.id).await.expect("get after update");
    assert_eq!((got.name.as_deref(), got.min_ram), (Some("renamed"), 512));

    let upd = |ops: Vec<PatchOp>| api.update(&fx.owner, &img.id, ops);
    for (op, kind, why) in [
        (PatchOp::replace("/nope", "x"), ErrorKind::Conflict, "replace of a missing property"),
        (PatchOp::add("/status", "active"), ErrorKind::Forbidden, "a read-only attribute"),
        (PatchOp::replace("/min_ram", "lots"), ErrorKind::InvalidInput, "a string for an integer"),
        (
            PatchOp::replace("/min_disk", 1u64 << 40),
            ErrorKind::InvalidInput,
            "an integer out of range",
        ),
        (
            PatchOp::replace("/disk_format", "floppy"),
            ErrorKind::InvalidInput,
            "an unknown disk format",
        ),
        (
            PatchOp::replace("/visibility", "public"),
            ErrorKind::Forbidden,
            "publicizing needs admin",
        ),
        (PatchOp::replace("name", "x"), ErrorKind::InvalidInput, "a path that is no JSON pointer"),
    ] {
        expect_kind(upd(vec![op]).await, kind, why);
    }
    let failed = vec![PatchOp::replace("/name", "half"), PatchOp::replace("/nope", "x")];
    expect_kind(upd(failed).await, ErrorKind::Conflict, "a patch failing half-way");
    assert_eq!(
        api.get(&fx.owner, &img.id).await.unwrap().name.as_deref(),
        Some("renamed"),
        "nothing applied"
    );
    expect_kind(
        api.update(&fx.reader, &img.id, vec![PatchOp::replace("/name", "x")]).await,
        ErrorKind::Forbidden,
        "a reader updates",
    );
    expect_kind(
        api.update(&fx.other, &img.id, vec![PatchOp::replace("/name", "x")]).await,
        ErrorKind::NotFound,
        "another project updates a private image",
    );

    // Refused creates.
    let owner = &fx.owner;
    for (ctx, req, kind, why) in [
        (
            owner,
            CreateImage::new("bad", "floppy", "bare"),
            ErrorKind::InvalidInput,
            "an unknown disk format",
        ),
        (
            owner,
            CreateImage::new("bad", "raw", "bare").property("status", "active"),
            ErrorKind::Forbidden,
            "a read-only attribute as a property",
        ),
        (
            owner,
            CreateImage { min_ram: Some(u64::MAX), ..CreateImage::default() },
            ErrorKind::InvalidInput,
            "min_ram out of range",
        ),
        (
            owner,
            CreateImage { visibility: Some(Visibility::Public), ..CreateImage::default() },
            ErrorKind::Forbidden,
            "a public image by a member",
        ),
        (&fx.reader, CreateImage::default(), ErrorKind::Forbidden, "a reader creates"),
        (
            owner,
            CreateImage { id: Some(img.id), ..CreateImage::default() },
            ErrorKind::Conflict,
            "an id in use",
        ),
    ] {
        expect_kind(api.create(ctx, req).await, kind, why);
    }

    // Protected images are not deleted.
    expect_kind(
        api.delete(&fx.owner, &img.id).await,
        ErrorKind::Forbidden,
        "deleting a protected image",
    );
    api.update(&fx.owner, &img.id, vec![PatchOp::replace("/protected", false)])
        .await
        .expect("unprotect");
    expect_kind(api.delete(&fx.reader, &img.id).await, ErrorKind::Forbidden, "a reader deletes");
    expect_kind(
        api.delete(&fx.other, &img.id).await,
        ErrorKind::NotFound,
        "another project deletes",
    );
    api.delete(&fx.owner, &img.id).await.expect("delete");
    expect_kind(api.get(&fx.owner, &img.id).await, ErrorKind::NotFound, "a deleted image");
    expect_kind(api.delete(&fx.owner, &img.id).await, ErrorKind::NotFound, "deleting twice");
}

async fn data(api: &dyn ImageApi, fx: &Fixture) {
    let img = api.create(&fx.owner, CreateImage::new("data", "raw", "bare")).await.expect("create");
    assert!(api.download(&fx.owner, &img.id).await.expect("download of a queued image").is_none());

    let bytes = raw_data(3 * 1024 * 1024 + 17);
    // Refusals are tested with small bodies: a server may answer before reading a large one.
    expect_kind(
        api.upload(&fx.reader, &img.id, chunked(b"x", 1)).await,
        ErrorKind::Forbidden,
        "a reader uploads",
    );
    let active = api.upload(&fx.owner, &img.id, chunked(&bytes, 100_000)).await.expect("upload");
    assert_eq!(active.status, ImageStatus::Active);
    assert_eq!(active.size, Some(bytes.len() as u64));
    assert_eq!(active.checksum.as_deref(), Some(hex::encode(md5::Md5::digest(&bytes)).as_str()));
    assert_eq!(active.os_hash_algo.as_deref(), Some("sha512"));
    let sha = hex::encode(sha2::Sha512::digest(&bytes));
    assert_eq!(active.os_hash_value.as_deref(), Some(sha.as_str()));
    let got = api.get(&fx.owner, &img.id).await.expect("get");
    assert_eq!((got.status, got.checksum.clone()), (ImageStatus::Active, active.checksum.clone()));

    let (meta, stream) = api
        .download(&fx.owner, &img.id)
        .await
        .expect("download")
        .expect("an active image has data");
    assert_eq!(meta.os_hash_value, active.os_hash_value);
    assert!(read_all(stream).await == bytes, "downloaded bytes differ from the uploaded ones");
    assert!(api.download(&fx.reader, &img.id).await.expect("a reader downloads").is_some());
    expect_kind(
        api.download(&fx.other, &img.id).await.map(|d| d.map(|(i, _)| i)),
        ErrorKind::NotFound,
        "another project downloads",
    );

    expect_kind(
        api.upload(&fx.owner, &img.id, chunked(b"again", 5)).await,
        ErrorKind::Conflict,
        "uploading to an active image",
    );
    expect_kind(
        api.upload(&fx.owner, &ImageId::new(), chunked(b"x", 1)).await,
        ErrorKind::NotFound,
        "uploading to a missing image",
    );

    // Data that is not what the image declares is refused; the image stays queued.
    let liar = api.create(&fx.owner, CreateImage::new("liar", "raw", "bare")).await.unwrap();
    expect_kind(
        api.upload(&fx.owner, &liar.id, chunked(&qcow2_header(), 1000)).await,
        ErrorKind::InvalidInput,
        "a qcow2 declared raw",
    );
    assert_eq!(api.get(&fx.owner, &liar.id).await.unwrap().status, ImageStatus::Queued);
    // No formats, no data.
    let bare = api.create(&fx.owner, CreateImage::default()).await.unwrap();
    expect_kind(
        api.upload(&fx.owner, &bare.id, chunked(b"x", 1)).await,
        ErrorKind::InvalidInput,
        "data for an image without formats",
    );
    for id in [img.id, liar.id, bare.id] {
        api.delete(&fx.owner, &id).await.expect("delete");
    }
}

async fn import(api: &dyn ImageApi, fx: &Fixture) {
    let methods = api.import_methods(&fx.owner).await.expect("import methods");
    assert!(methods.iter().any(|m| m == "glance-direct"), "{methods:?}");
    let img = api.create(&fx.owner, CreateImage::new("staged", "raw", "bare")).await.unwrap();
    expect_kind(
        api.import(&fx.owner, &img.id, "glance-direct", None).await,
        ErrorKind::Conflict,
        "importing before staging",
    );
    let bytes = raw_data(200_000);
    api.stage(&fx.owner, &img.id, chunked(&bytes, 30_000)).await.expect("stage");
    let staged = api.get(&fx.owner, &img.id).await.unwrap();
    assert_eq!(staged.status, ImageStatus::Uploading);
    expect_kind(
        api.import(&fx.owner, &img.id, "no-such-method", None).await,
        ErrorKind::InvalidInput,
        "an unknown import method",
    );
    expect_kind(
        api.import(&fx.other, &img.id, "glance-direct", None).await,
        ErrorKind::NotFound,
        "another project imports",
    );
    let active = api.import(&fx.owner, &img.id, "glance-direct", None).await.expect("import");
    assert_eq!(active.status, ImageStatus::Active);
    assert_eq!(active.size, Some(bytes.len() as u64));
    assert_eq!(active.checksum.as_deref(), Some(hex::encode(md5::Md5::digest(&bytes)).as_str()));
    let (_, stream) = api.download(&fx.owner, &img.id).await.unwrap().expect("data");
    assert!(read_all(stream).await == bytes, "imported bytes differ from the staged ones");
    assert!(api.tasks(&fx.owner, &img.id).await.expect("tasks").is_empty());
    api.delete(&fx.owner, &img.id).await.unwrap();
}

async fn tags(api: &dyn ImageApi, fx: &Fixture) {
    let img = api.create(&fx.owner, CreateImage::default()).await.unwrap();
    api.tag(&fx.owner, &img.id, "blue", true).await.expect("tag");
    api.tag(&fx.owner, &img.id, "blue", true).await.expect("tagging twice is a no-op");
    api.tag(&fx.owner, &img.id, "green", true).await.expect("tag");
    assert_eq!(api.get(&fx.owner, &img.id).await.unwrap().tags, ["blue", "green"]);
    api.tag(&fx.owner, &img.id, "blue", false).await.expect("untag");
    assert_eq!(api.get(&fx.owner, &img.id).await.unwrap().tags, ["green"]);
    expect_kind(
        api.tag(&fx.owner, &img.id, "blue", false).await,
        ErrorKind::NotFound,
        "a missing tag",
    );
    expect_kind(
        api.tag(&fx.reader, &img.id, "red", true).await,
        ErrorKind::Forbidden,
        "a reader tags",
    );
    expect_kind(
        api.tag(&fx.owner, &img.id, &"x".repeat(300), true).await,
        ErrorKind::InvalidInput,
        "a long tag",
    );
    api.delete(&fx.owner, &img.id).await.unwrap();
}

async fn sharing(api: &dyn ImageApi, fx: &Fixture) {
    let other = fx.other.project_id().expect("a project").to_string();
    let img = api.create(&fx.owner, CreateImage::new("shared", "raw", "bare")).await.unwrap();
    assert_eq!(img.visibility, Visibility::Shared, "Glance's default visibility");
    expect_kind(api.get(&fx.other, &img.id).await, ErrorKind::NotFound, "not shared yet");

    let m = api.add_member(&fx.owner, &img.id, &other).await.expect("add member");
    assert_eq!((m.member_id.as_str(), m.status), (other.as_str(), MemberStatus::Pending));
    expect_kind(
        api.add_member(&fx.owner, &img.id, &other).await,
        ErrorKind::Conflict,
        "a member twice",
    );
    expect_kind(
        api.add_member(&fx.reader, &img.id, "p2").await,
        ErrorKind::Forbidden,
        "a reader shares",
    );

    // A pending member sees the image but does not list it until it accepts.
    assert_eq!(api.get(&fx.other, &img.id).await.expect("a member sees it").id, img.id);
    let listed = |ctx: RequestContext| async move {
        names(&api.list(&ctx, &ListQuery::default()).await.expect("list")).contains(&img.id)
    };
    assert!(!listed(fx.other.clone()).await, "pending: not listed");
    expect_kind(
        api.update_member(&fx.owner, &img.id, &other, MemberStatus::Accepted).await,
        ErrorKind::Forbidden,
        "the owner accepts for the member",
    );
    let m = api
        .update_member(&fx.other, &img.id, &other, MemberStatus::Accepted)
        .await
        .expect("accept");
    assert_eq!(m.status, MemberStatus::Accepted);
    assert!(listed(fx.other.clone()).await, "accepted: listed");

    let (_, members) = api.members(&fx.owner, &img.id).await.expect("members");
    assert_eq!(members.iter().map(|m| m.member_id.as_str()).collect::<Vec<_>>(), [other.as_str()]);
    let (_, mine) = api.members(&fx.other, &img.id).await.expect("a member's view");
    assert_eq!(mine.len(), 1);
    // A member cannot change or delete the image.
    expect_kind(
        api.update(&fx.other, &img.id, vec![PatchOp::replace("/name", "x")]).await,
        ErrorKind::Forbidden,
        "a member project updates",
    );
    expect_kind(
        api.delete(&fx.other, &img.id).await,
        ErrorKind::Forbidden,
        "a member project deletes",
    );

    api.remove_member(&fx.owner, &img.id, &other).await.expect("remove member");
    expect_kind(api.get(&fx.other, &img.id).await, ErrorKind::NotFound, "no longer shared");
    expect_kind(
        api.remove_member(&fx.owner, &img.id, &other).await,
        ErrorKind::NotFound,
        "removing a member twice",
    );

    // Only shared images have members.
    api.update(&fx.owner, &img.id, vec![PatchOp::replace("/visibility", "private")]).await.unwrap();
    expect_kind(
        api.add_member(&fx.owner, &img.id, &other).await,
        ErrorKind::Forbidden,
        "members of a private image",
    );
    expect_kind(
        api.members(&fx.owner, &img.id).await,
        ErrorKind::Forbidden,
        "members of a private image",
    );

    // Community images are visible to everyone, listed only when asked for.
    api.update(&fx.owner, &img.id, vec![PatchOp::replace("/visibility", "community")])
        .await
        .unwrap();
    assert_eq!(api.get(&fx.other, &img.id).await.expect("community is visible").id, img.id);
    assert!(!listed(fx.other.clone()).await, "community: not listed by default");
    let q = ListQuery { visibility: Some(Visibility::Community), ..ListQuery::default() };
    assert!(names(&api.list(&fx.other, &q).await.unwrap()).contains(&img.id));
    api.delete(&fx.owner, &img.id).await.unwrap();
}

async fn deactivation_and_deletion(api: &dyn ImageApi, fx: &Fixture) {
    let img = api.create(&fx.owner, CreateImage::new("deact", "raw", "bare")).await.unwrap();
    expect_kind(
        api.set_active(&fx.admin, &img.id, false).await,
        ErrorKind::Forbidden,
        "deactivating a queued image",
    );
    api.upload(&fx.owner, &img.id, chunked(&raw_data(1000), 100)).await.unwrap();
    expect_kind(
        api.set_active(&fx.owner, &img.id, false).await,
        ErrorKind::Forbidden,
        "a member deactivates",
    );
    api.set_active(&fx.admin, &img.id, false).await.expect("deactivate");
    assert_eq!(api.get(&fx.owner, &img.id).await.unwrap().status, ImageStatus::Deactivated);
    expect_kind(
        api.download(&fx.owner, &img.id).await.map(|d| d.map(|(i, _)| i)),
        ErrorKind::Forbidden,
        "downloading a deactivated image",
    );
    assert!(api.download(&fx.admin, &img.id).await.expect("admin downloads").is_some());
    api.set_active(&fx.admin, &img.id, true).await.expect("reactivate");
    assert_eq!(api.get(&fx.owner, &img.id).await.unwrap().status, ImageStatus::Active);
    // Admin sees every project's private images.
    api.update(&fx.owner, &img.id, vec![PatchOp::replace("/visibility", "private")]).await.unwrap();
    assert_eq!(api.get(&fx.admin, &img.id).await.expect("admin sees it").id, img.id);
    api.delete(&fx.owner, &img.id).await.expect("delete an active image");
    expect_kind(api.get(&fx.admin, &img.id).await, ErrorKind::NotFound, "a deleted image");
}
