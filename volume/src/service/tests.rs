// SPDX-License-Identifier: Apache-2.0
//! Tests of [`crate::VolumeService`] on the fake backend: statuses, the attachment flow with
//! failures injected at each step, concurrency, quotas and refusals.

use crate::backend::VolumeBackend;
use crate::image::MemoryImages;
use crate::service::*;
use crate::testing::FakeVolumeBackend;
use crate::types::*;
use crate::{VolumeError, VolumeService};
use ferrostack_core::RequestContext;
use ferrostack_core::error::BoxError;
use ferrostack_core::id::{ProjectId, ServerId, UserId, VolumeId};
use ferrostack_core::store::MemoryStore;
use std::sync::{Arc, Mutex};

struct Env {
    svc: Arc<VolumeService>,
    fake: Arc<FakeVolumeBackend>,
    ctx: RequestContext,
    images: Arc<MemoryImages>,
    notified: Arc<RecordingNotifier>,
}

#[derive(Debug, Default)]
struct RecordingNotifier(Mutex<Vec<(VolumeId, Vec<ServerId>, u64)>>);

#[async_trait::async_trait]
impl ExtendNotifier for RecordingNotifier {
    async fn volume_extended(
        &self,
        v: &VolumeId,
        s: &[ServerId],
        size: u64,
    ) -> Result<(), BoxError> {
        self.0.lock().unwrap().push((*v, s.to_vec(), size));
        Ok(())
    }
}

fn env() -> Env {
    let fake = Arc::new(FakeVolumeBackend::new("fake", 1000));
    let images = Arc::new(MemoryImages::new());
    let notified = Arc::new(RecordingNotifier::default());
    let svc = VolumeService::new(
        Arc::new(MemoryStore::new()),
        vec![fake.clone() as Arc<dyn VolumeBackend>],
    )
    .with_image_source(images.clone())
    .with_image_sink(images.clone())
    .with_extend_notifier(notified.clone());
    let ctx = RequestContext::for_project(UserId::new(), ProjectId::new(), &["member", "reader"]);
    Env { svc: Arc::new(svc), fake, ctx, images, notified }
}

fn sized(size: u64) -> CreateVolume {
    CreateVolume { size_gb: Some(size), name: Some("v".into()), ..Default::default() }
}

fn connector() -> Connector {
    Connector { host: Some("compute-1".into()), ip: Some("127.0.0.1".into()), ..Default::default() }
}

async fn status(e: &Env, id: &VolumeId) -> VolumeStatus {
    e.svc.get_volume(&e.ctx, id).await.unwrap().status
}

#[tokio::test]
async fn attachment_flow_moves_statuses_like_cinder() {
    let e = env();
    let v = e.svc.create_volume(&e.ctx, sized(1)).await.unwrap();
    assert_eq!(v.status, VolumeStatus::Available);
    let server = ServerId::new();
    let a = e.svc.create_attachment(&e.ctx, &v.id, Some(server), None, None).await.unwrap();
    assert_eq!(a.attach_status, AttachStatus::Reserved);
    assert_eq!(status(&e, &v.id).await, VolumeStatus::Reserved);
    assert_eq!(e.fake.export_count(), 0, "reserve does not export");

    let a = e.svc.update_attachment(&e.ctx, &a.id, connector()).await.unwrap();
    assert_eq!(a.attach_status, AttachStatus::Attaching);
    assert_eq!(status(&e, &v.id).await, VolumeStatus::Attaching);
    let info = a.connection_info.clone().unwrap();
    assert_eq!(info.driver_volume_type, "fake");
    assert_eq!(e.fake.export_count(), 1);

    let a = e.svc.complete_attachment(&e.ctx, &a.id).await.unwrap();
    assert_eq!(a.attach_status, AttachStatus::Attached);
    assert!(a.attach_time.is_some());
    assert_eq!(status(&e, &v.id).await, VolumeStatus::InUse);

    // An attached volume cannot be deleted.
    let err = e.svc.delete_volume(&e.ctx, &v.id).await.unwrap_err();
    assert!(matches!(err, VolumeError::InvalidVolume(ref m) if m.contains("attached")), "{err}");

    let remaining = e.svc.delete_attachment(&e.ctx, &a.id).await.unwrap();
    assert!(remaining.is_empty());
    assert_eq!(status(&e, &v.id).await, VolumeStatus::Available);
    assert_eq!(e.fake.export_count(), 0);
    e.svc.delete_volume(&e.ctx, &v.id).await.unwrap();
    assert_eq!(e.fake.volume_count(), 0);
}

#[tokio::test]
async fn a_reserved_attachment_deleted_without_connector_frees_the_volume() {
    let e = env();
    let v = e.svc.create_volume(&e.ctx, sized(1)).await.unwrap();
    let a = e.svc.create_attachment(&e.ctx, &v.id, None, None, None).await.unwrap();
    e.svc.delete_attachment(&e.ctx, &a.id).await.unwrap();
    assert_eq!(status(&e, &v.id).await, VolumeStatus::Available);
    assert!(!e.fake.calls().contains(&"terminate_connection"));
}

/// A failure at each backend step of the flow: the request fails, nothing is leaked, and
/// after Nova's rollback (deleting the attachment) the volume is `available` again.
#[tokio::test]
async fn failures_at_each_step_roll_back_cleanly() {
    for step in ["create_export", "initialize_connection"] {
        let e = env();
        let v = e.svc.create_volume(&e.ctx, sized(1)).await.unwrap();
        let a = e.svc.create_attachment(&e.ctx, &v.id, None, None, None).await.unwrap();
        e.fake.fail_on(step);
        let err = e.svc.update_attachment(&e.ctx, &a.id, connector()).await.unwrap_err();
        assert!(matches!(err, VolumeError::Backend { .. }), "{step}: {err}");
        assert_eq!(e.fake.export_count(), 0, "{step}: export leaked");
        let att = e.svc.get_attachment(&e.ctx, &a.id).await.unwrap();
        assert_eq!(att.attach_status, AttachStatus::Reserved, "{step}: attachment unchanged");
        assert!(att.connection_info.is_none());
        assert_eq!(status(&e, &v.id).await, VolumeStatus::Reserved);
        e.fake.clear_failures();
        e.svc.delete_attachment(&e.ctx, &a.id).await.unwrap();
        assert_eq!(status(&e, &v.id).await, VolumeStatus::Available, "{step}");
        assert_eq!(e.fake.export_count(), 0, "{step}");
    }
    // A failure while reserving (the store refuses because the volume is not available)
    // changes nothing.
    let e = env();
    let v = e.svc.create_volume(&e.ctx, sized(1)).await.unwrap();
    let a = e.svc.create_attachment(&e.ctx, &v.id, None, None, None).await.unwrap();
    let err = e.svc.create_attachment(&e.ctx, &v.id, None, None, None).await.unwrap_err();
    assert!(
        matches!(err, VolumeError::InvalidVolume(ref m) if m.contains("must be available or downloading")),
        "{err}"
    );
    assert_eq!(e.svc.list_attachments(&e.ctx, Some(&v.id), false).await.unwrap().len(), 1);
    // A failure while detaching: the attachment is error_detaching, the export stays
    // until the retry succeeds, then the volume is available with no export.
    let a = e.svc.update_attachment(&e.ctx, &a.id, connector()).await.unwrap();
    e.svc.complete_attachment(&e.ctx, &a.id).await.unwrap();
    for step in ["terminate_connection", "remove_export"] {
        e.fake.fail_on(step);
        assert!(e.svc.delete_attachment(&e.ctx, &a.id).await.is_err(), "{step}");
        let att = e.svc.get_attachment(&e.ctx, &a.id).await.unwrap();
        assert_eq!(att.attach_status, AttachStatus::ErrorDetaching, "{step}");
        assert_ne!(status(&e, &v.id).await, VolumeStatus::Available, "{step}");
        e.fake.clear_failures();
    }
    e.svc.delete_attachment(&e.ctx, &a.id).await.unwrap();
    assert_eq!(status(&e, &v.id).await, VolumeStatus::Available);
    assert_eq!(e.fake.export_count(), 0);
}

#[tokio::test]
async fn concurrent_attach_of_a_non_multiattach_volume_has_one_winner() {
    let e = env();
    let v = e.svc.create_volume(&e.ctx, sized(1)).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let svc = e.svc.clone();
        let ctx = e.ctx.clone();
        let id = v.id;
        tasks.push(tokio::spawn(async move {
            svc.create_attachment(&ctx, &id, Some(ServerId::new()), Some(connector()), None).await
        }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => won += 1,
            Err(VolumeError::InvalidVolume(_)) => {}
            Err(other) => panic!("unexpected error {other}"),
        }
    }
    assert_eq!(won, 1, "exactly one attach wins");
    assert_eq!(e.svc.list_attachments(&e.ctx, Some(&v.id), false).await.unwrap().len(), 1);
    assert_eq!(e.fake.export_count(), 1);
}

#[tokio::test]
async fn multiattach_volumes_take_several_attachments() {
    let e = env();
    let v =
        e.svc.create_volume(&e.ctx, CreateVolume { multiattach: true, ..sized(1) }).await.unwrap();
    assert!(v.multiattach);
    let a1 = e
        .svc
        .create_attachment(&e.ctx, &v.id, Some(ServerId::new()), Some(connector()), None)
        .await
        .unwrap();
    e.svc.complete_attachment(&e.ctx, &a1.id).await.unwrap();
    let a2 = e
        .svc
        .create_attachment(&e.ctx, &v.id, Some(ServerId::new()), Some(connector()), None)
        .await
        .unwrap();
    assert_eq!(status(&e, &v.id).await, VolumeStatus::Attaching);
    e.svc.complete_attachment(&e.ctx, &a2.id).await.unwrap();
    assert_eq!(e.fake.export_count(), 2);
    let left = e.svc.delete_attachment(&e.ctx, &a1.id).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(status(&e, &v.id).await, VolumeStatus::InUse, "still attached once");
    e.svc.delete_attachment(&e.ctx, &a2.id).await.unwrap();
    assert_eq!(status(&e, &v.id).await, VolumeStatus::Available);
}

#[tokio::test]
async fn snapshots_block_deletion_and_seed_volumes() {
    let e = env();
    let v = e.svc.create_volume(&e.ctx, sized(2)).await.unwrap();
    let s = e.svc.create_snapshot(&e.ctx, &v.id, Some("s".into()), None, false).await.unwrap();
    assert_eq!(s.status, SnapshotStatus::Available);
    let err = e.svc.delete_volume(&e.ctx, &v.id).await.unwrap_err();
    assert!(
        matches!(err, VolumeError::InvalidVolume(ref m) if m.contains("have snapshots")),
        "{err}"
    );
    // Smaller than the snapshot: refused.
    let err = e
        .svc
        .create_volume(&e.ctx, CreateVolume { snapshot_id: Some(s.id), ..sized(1) })
        .await
        .unwrap_err();
    assert!(
        matches!(err, VolumeError::InvalidInput(ref m) if m.contains("cannot be smaller than the snapshot size")),
        "{err}"
    );
    let from = e
        .svc
        .create_volume(
            &e.ctx,
            CreateVolume { snapshot_id: Some(s.id), size_gb: None, ..Default::default() },
        )
        .await
        .unwrap();
    assert_eq!(from.size_gb, 2);
    assert_eq!(from.source, VolumeSource::Snapshot { id: s.id });
    let clone = e
        .svc
        .create_volume(
            &e.ctx,
            CreateVolume { source_volid: Some(v.id), size_gb: Some(3), ..Default::default() },
        )
        .await
        .unwrap();
    assert_eq!(clone.status, VolumeStatus::Available);
    let (_, usage) = e.svc.get_quotas(&e.ctx, e.ctx.project_id().unwrap()).await.unwrap();
    assert_eq!(usage, QuotaUsage { volumes: 3, gigabytes: 2 + 2 + 2 + 3, snapshots: 1 });
    e.svc.delete_snapshot(&e.ctx, &s.id).await.unwrap();
    for id in [v.id, from.id, clone.id] {
        e.svc.delete_volume(&e.ctx, &id).await.unwrap();
    }
    let (_, usage) = e.svc.get_quotas(&e.ctx, e.ctx.project_id().unwrap()).await.unwrap();
    assert_eq!(usage, QuotaUsage::default(), "quota usage returns to zero");
    assert_eq!(e.fake.volume_count(), 0);
}

#[tokio::test]
async fn quotas_refuse_and_change_nothing() {
    let e = env();
    let err = e.svc.create_volume(&e.ctx, sized(1001)).await.unwrap_err();
    assert!(
        matches!(err, VolumeError::QuotaExceeded(ref m) if m.contains("exceeds allowed gigabytes quota")),
        "{err}"
    );
    let admin = RequestContext::for_project(UserId::new(), ProjectId::new(), &["admin"]);
    let project = e.ctx.project_id().unwrap().clone();
    e.svc
        .update_quotas(&admin, &project, QuotaUpdate { volumes: Some(1), ..Default::default() })
        .await
        .unwrap();
    let v = e.svc.create_volume(&e.ctx, sized(1)).await.unwrap();
    let err = e.svc.create_volume(&e.ctx, sized(1)).await.unwrap_err();
    assert!(matches!(err, VolumeError::QuotaExceeded(ref m) if m.contains("'volumes'")), "{err}");
    // Lowering below usage is refused; members cannot change quotas.
    let err = e
        .svc
        .update_quotas(&admin, &project, QuotaUpdate { volumes: Some(0), ..Default::default() })
        .await
        .unwrap_err();
    assert!(matches!(err, VolumeError::InvalidInput(_)), "{err}");
    assert!(matches!(
        e.svc.update_quotas(&e.ctx, &project, QuotaUpdate::default()).await,
        Err(VolumeError::Forbidden(_))
    ));
    assert_eq!(e.svc.list_volumes(&e.ctx, &ListFilter::default()).await.unwrap().len(), 1);
    assert_eq!(e.fake.volume_count(), 1);
    e.svc.delete_volume(&e.ctx, &v.id).await.unwrap();
}

#[tokio::test]
async fn bad_input_is_refused_without_changes() {
    let e = env();
    for (req, want) in [
        (sized(0), "greater than 0"),
        (sized(MAX_SIZE_GB + 1), "greater than 0"),
        (CreateVolume { volume_type: Some("nope".into()), ..sized(1) }, "could not be found"),
        (CreateVolume { name: Some("x".repeat(256)), ..sized(1) }, "more than 255"),
        (CreateVolume::default(), "Size must be specified"),
        (
            CreateVolume { availability_zone: Some("elsewhere".into()), ..sized(1) },
            "Availability zone",
        ),
    ] {
        let err = e.svc.create_volume(&e.ctx, req).await.unwrap_err();
        assert!(err.to_string().contains(want), "{err} should mention {want}");
    }
    assert!(e.svc.list_volumes(&e.ctx, &ListFilter::default()).await.unwrap().is_empty());
    assert_eq!(e.fake.volume_count(), 0);
    let (_, usage) = e.svc.get_quotas(&e.ctx, e.ctx.project_id().unwrap()).await.unwrap();
    assert_eq!(usage, QuotaUsage::default());
}

#[tokio::test]
async fn other_projects_volumes_are_not_found() {
    let e = env();
    let v = e.svc.create_volume(&e.ctx, sized(1)).await.unwrap();
    let stranger =
        RequestContext::for_project(UserId::new(), ProjectId::new(), &["member", "reader"]);
    assert!(matches!(e.svc.get_volume(&stranger, &v.id).await, Err(VolumeError::NotFound { .. })));
    assert!(matches!(
        e.svc.delete_volume(&stranger, &v.id).await,
        Err(VolumeError::NotFound { .. })
    ));
    assert!(matches!(
        e.svc.create_attachment(&stranger, &v.id, None, None, None).await,
        Err(VolumeError::NotFound { .. })
    ));
    assert!(e.svc.list_volumes(&stranger, &ListFilter::default()).await.unwrap().is_empty());
    assert_eq!(status(&e, &v.id).await, VolumeStatus::Available);
    let reader = RequestContext { roles: vec!["reader".into()], ..e.ctx.clone() };
    assert!(matches!(e.svc.delete_volume(&reader, &v.id).await, Err(VolumeError::Forbidden(_))));
}

#[tokio::test]
async fn extend_offline_online_and_failure() {
    let e = env();
    let v = e.svc.create_volume(&e.ctx, sized(1)).await.unwrap();
    let err = e.svc.extend_volume(&e.ctx, &v.id, 1).await.unwrap_err();
    assert!(
        err.to_string().contains("New size for extend must be greater than current size"),
        "{err}"
    );
    let v2 = e.svc.extend_volume(&e.ctx, &v.id, 2).await.unwrap();
    assert_eq!((v2.size_gb, v2.status), (2, VolumeStatus::Available));
    // Online: the hypervisor is told.
    let server = ServerId::new();
    let a = e
        .svc
        .create_attachment(&e.ctx, &v.id, Some(server), Some(connector()), None)
        .await
        .unwrap();
    e.svc.complete_attachment(&e.ctx, &a.id).await.unwrap();
    let v3 = e.svc.extend_volume(&e.ctx, &v.id, 3).await.unwrap();
    assert_eq!((v3.size_gb, v3.status), (3, VolumeStatus::InUse));
    assert_eq!(e.notified.0.lock().unwrap().as_slice(), &[(v.id, vec![server], 3)]);
    // A backend failure: error_extending, size and quota unchanged.
    e.fake.fail_on("extend_volume");
    e.svc.delete_attachment(&e.ctx, &a.id).await.unwrap();
    assert!(e.svc.extend_volume(&e.ctx, &v.id, 5).await.is_err());
    let after = e.svc.get_volume(&e.ctx, &v.id).await.unwrap();
    assert_eq!((after.size_gb, after.status), (3, VolumeStatus::ErrorExtending));
    let (_, usage) = e.svc.get_quotas(&e.ctx, e.ctx.project_id().unwrap()).await.unwrap();
    assert_eq!(usage.gigabytes, 3);
    e.fake.clear_failures();
    e.svc.delete_volume(&e.ctx, &v.id).await.unwrap();
}

#[tokio::test]
async fn image_round_trip_and_failed_creation() {
    let e = env();
    let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8 + 1).collect();
    let image = e.images.add("cirros", "raw", data.clone());
    let v = e
        .svc
        .create_volume(
            &e.ctx,
            CreateVolume { image_id: Some(image), size_gb: None, ..Default::default() },
        )
        .await
        .unwrap();
    assert_eq!(v.status, VolumeStatus::Available);
    assert!(v.bootable);
    assert_eq!(v.image_metadata.get("image_id"), Some(&image.to_string()));
    let up = e
        .svc
        .upload_to_image(
            &e.ctx,
            &v.id,
            UploadToImage {
                image_name: "back".into(),
                disk_format: crate::backend::DiskFormat::Raw,
                container_format: "bare".into(),
                force: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(up.volume.status, VolumeStatus::Available);
    let (meta, bytes) = e.images.get(&up.image_id).unwrap();
    assert_eq!(meta.status, "active");
    assert_eq!(meta.size, Some(crate::backend::GIB), "the whole volume is uploaded");
    assert_eq!(bytes.unwrap(), data, "with the image's data first, then zeros");
    // Unknown image: 404, nothing created.
    let err = e
        .svc
        .create_volume(
            &e.ctx,
            CreateVolume { image_id: Some(ferrostack_core::id::ImageId::new()), ..sized(1) },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, VolumeError::NotFound { kind: "Image", .. }), "{err}");
    // A backend failure while copying: the volume is in error and can be deleted.
    e.fake.fail_on("copy_image_to_volume");
    let bad = e
        .svc
        .create_volume(&e.ctx, CreateVolume { image_id: Some(image), ..sized(1) })
        .await
        .unwrap();
    assert_eq!(bad.status, VolumeStatus::Error);
    e.fake.clear_failures();
    e.svc.delete_volume(&e.ctx, &bad.id).await.unwrap();
    e.svc.delete_volume(&e.ctx, &v.id).await.unwrap();
    assert_eq!(e.fake.volume_count(), 0);
}

#[tokio::test]
async fn types_select_backends_and_retype_moves_data() {
    let a = Arc::new(FakeVolumeBackend::new("a", 1000));
    let b = Arc::new(FakeVolumeBackend::new("b", 10));
    let svc = VolumeService::new(
        Arc::new(MemoryStore::new()),
        vec![a.clone() as Arc<dyn VolumeBackend>, b.clone()],
    );
    let admin = RequestContext::for_project(
        UserId::new(),
        ProjectId::new(),
        &["admin", "member", "reader"],
    );
    let mut specs = std::collections::BTreeMap::new();
    specs.insert("volume_backend_name".to_string(), "b".to_string());
    let tb = svc
        .create_type(
            &admin,
            CreateVolumeType {
                name: "on-b".into(),
                is_public: true,
                extra_specs: specs,
                description: None,
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        svc.create_type(
            &admin,
            CreateVolumeType { name: "on-b".into(), is_public: true, ..Default::default() }
        )
        .await,
        Err(VolumeError::AlreadyExists(_))
    ));
    // Default type: spread to the backend with the most free space.
    let v = svc.create_volume(&admin, sized(1)).await.unwrap();
    assert_eq!(v.backend.as_deref(), Some("a"));
    let vb = svc
        .create_volume(&admin, CreateVolume { volume_type: Some("on-b".into()), ..sized(1) })
        .await
        .unwrap();
    assert_eq!(vb.backend.as_deref(), Some("b"));
    // Too big for b: no valid backend, the volume is in error.
    let big = svc
        .create_volume(&admin, CreateVolume { volume_type: Some(tb.id.to_string()), ..sized(500) })
        .await
        .unwrap();
    assert_eq!(big.status, VolumeStatus::Error);
    assert_eq!(big.backend, None);
    svc.delete_volume(&admin, &big.id).await.unwrap();
    // Retype to on-b needs a migration.
    let err = svc.retype_volume(&admin, &v.id, "on-b", MigrationPolicy::Never).await.unwrap_err();
    assert!(err.to_string().contains("migration policy"), "{err}");
    let moved = svc.retype_volume(&admin, &v.id, "on-b", MigrationPolicy::OnDemand).await.unwrap();
    assert_eq!(moved.backend.as_deref(), Some("b"));
    assert_eq!(moved.volume_type_name, "on-b");
    assert!(!a.has_volume(&v.id) && b.has_volume(&v.id));
    assert!(matches!(
        svc.delete_type(&admin, &tb.id).await,
        Err(VolumeError::InvalidVolumeType(_))
    ));
}

#[tokio::test]
async fn attachment_flow_on_the_file_backend_exports_a_local_path() {
    let qemu = std::process::Command::new("qemu-img")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ferrostack_core::testing::prerequisite(
        qemu,
        "file attachment flow",
        "qemu-img",
        "apt-get install qemu-utils",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = crate::file::FileBackend::new(
        crate::file::FileBackendConfig::new("file", dir.path(), crate::file::FileFormat::Raw),
        Arc::new(ferrostack_core::command::SystemRunner::new()),
    )
    .unwrap();
    let file: Arc<dyn VolumeBackend> = Arc::new(file);
    let svc = VolumeService::new(Arc::new(MemoryStore::new()), vec![file.clone()]);
    let ctx = RequestContext::for_project(UserId::new(), ProjectId::new(), &["member", "reader"]);
    let v = svc.create_volume(&ctx, sized(1)).await.unwrap();
    let a = svc
        .create_attachment(&ctx, &v.id, Some(ServerId::new()), Some(connector()), None)
        .await
        .unwrap();
    let info = a.connection_info.clone().unwrap();
    assert_eq!(info.driver_volume_type, "local");
    let path = info.data["device_path"].as_str().unwrap().to_owned();
    assert!(std::path::Path::new(&path).exists(), "{path}");
    let bv = crate::backend::BackendVolume { id: v.id, size_gb: 1 };
    assert_eq!(file.exports(&bv).await.unwrap(), vec![a.id]);
    svc.complete_attachment(&ctx, &a.id).await.unwrap();
    assert_eq!(svc.get_volume(&ctx, &v.id).await.unwrap().status, VolumeStatus::InUse);
    // The file backend cannot snapshot or extend an attached volume: refused (the snapshot is
    // recorded in `error`, as Cinder records failed snapshots), the volume stays in-use.
    assert!(svc.create_snapshot(&ctx, &v.id, None, None, true).await.is_err());
    let snaps = svc.list_snapshots(&ctx, &ListFilter::default()).await.unwrap();
    assert_eq!(snaps[0].status, SnapshotStatus::Error);
    assert!(svc.extend_volume(&ctx, &v.id, 2).await.is_err());
    assert_eq!(svc.get_volume(&ctx, &v.id).await.unwrap().status, VolumeStatus::InUse);
    svc.delete_attachment(&ctx, &a.id).await.unwrap();
    assert!(file.exports(&bv).await.unwrap().is_empty());
    for s in svc.list_snapshots(&ctx, &ListFilter::default()).await.unwrap() {
        svc.delete_snapshot(&ctx, &s.id).await.unwrap();
    }
    svc.delete_volume(&ctx, &v.id).await.unwrap();
    assert!(!std::path::Path::new(&path).exists());
}
