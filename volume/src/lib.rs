// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-volume: Cinder
//!
//! Block storage with Cinder's semantics, as a library: the [`VolumeApi`] trait, its local
//! implementation [`VolumeService`], the Cinder v3 REST API ([`http::router`]) and a remote
//! client of it ([`http::Client`]).
//!
//! | module | what |
//! |---|---|
//! | [`api`] | the [`VolumeApi`] trait (with `# Contract`) and its typed requests ([`CreateVolume`], [`UpdateVolume`], [`ListFilter`], [`UploadToImage`], [`QuotaUpdate`], ...) |
//! | [`types`] | volumes, snapshots, volume types, attachments, quotas; status enums with the legal transitions |
//! | [`service`] | [`VolumeService`], the local implementation over a `Store`, one file per resource (`volumes`, `images`, `snapshots`, `types`, `attachments`, `quotas`) |
//! | [`http`] | the Cinder v3 REST API: [`http::router`] over any `Arc<dyn VolumeApi>` (handlers split by resource), [`http::Client`] implementing [`VolumeApi`] over it |
//! | [`backend`] | the [`VolumeBackend`] trait (with `# Contract`), typed [`Capabilities`], capacity reports |
//! | [`scheduler`] | backend selection: Cinder's capabilities filter, capacity filter and capacity weigher |
//! | [`mod@file`] | [`FileBackend`]: sparse raw or qcow2 files in a directory, through `qemu-img` |
//! | [`image`] | [`ImageSource`]/[`ImageSink`]: what volumes need from the image service |
//! | [`policy`] | Cinder's default policy rules and the one [`policy::authorize`] function |
//! | [`testing`] | [`testing::FakeVolumeBackend`], the backend suite [`testing::conformance`] and the API suite [`testing::api_conformance`] |
//! | [`error`] | [`VolumeError`], classified once; remote faults pass through with their text |
//!
//! ## What is built
//!
//! * **One backend: [`FileBackend`]** (raw or qcow2 files, attached as local paths), what the
//!   embedded cloud runs. The [`testing::FakeVolumeBackend`] is a test double, not a driver.
//! * **Not built:** LVM/iSCSI and Ceph RBD backends. They belong in their own driver crates
//!   (`drivers/lvm`, `drivers/ceph`), which do not implement [`VolumeBackend`] yet; no
//!   backups, consistency groups, transfers, QoS specs, volume migration between backends
//!   of different kinds, or encryption.
//! * **Both sides of the API:** [`VolumeService`] and [`http::Client`] pass the same
//!   [`testing::api_conformance`] suite (`tests/conformance.rs`), the client through the
//!   router served on loopback.

//! ## Design
//!
//! * **The store is the truth.** Volumes, snapshots, attachments, types and per-project quota
//!   usage are documents in a `ferrostack_core::store::Store`. Each state change is one
//!   transaction that pins what it read (compare-and-swap), so concurrent requests never both
//!   win: two attach requests for a non-multiattach volume produce exactly one reservation.
//! * **Backends only hold bytes and exports.** A [`VolumeBackend`] is told ids and sizes; it
//!   never decides statuses or quotas. Backend calls are bracketed by Cinder's transitional
//!   statuses (`creating`, `extending`, `deleting`, ...) and every failure ends in the previous
//!   status or Cinder's error status, with exports rolled back.
//! * **The attachment flow** is Cinder's 3.27+ flow: reserve (volume and attachment
//!   `reserved`), update with a connector (backend `create_export` + `initialize_connection`,
//!   both `attaching`, connection info returned), complete (`attached` / `in-use`), delete
//!   (`terminate_connection` + `remove_export`, volume `available` when no attachment is left).
//! * **Authorization** goes through [`policy::authorize`] with Cinder's default check strings;
//!   resources of other projects are "not found".
//!
//! ## Example
//!
//! ```
//! use ferrostack_core::RequestContext;
//! use ferrostack_core::id::{ProjectId, UserId};
//! use ferrostack_core::store::MemoryStore;
//! use ferrostack_volume::testing::FakeVolumeBackend;
//! use ferrostack_volume::{Connector, CreateVolume, VolumeApi, VolumeService, VolumeStatus};
//! use std::sync::Arc;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let backend = Arc::new(FakeVolumeBackend::new("fake", 100));
//! let svc = VolumeService::new(Arc::new(MemoryStore::new()), vec![backend.clone()]);
//! let ctx = RequestContext::for_project(UserId::new(), ProjectId::new(), &["member", "reader"]);
//!
//! let vol = svc
//!     .create_volume(&ctx, CreateVolume { size_gb: Some(1), ..Default::default() })
//!     .await
//!     .unwrap();
//! assert_eq!(vol.status, VolumeStatus::Available);
//!
//! // Reserve, connect, complete: the volume is in-use.
//! let att = svc.create_attachment(&ctx, &vol.id, None, None, None).await.unwrap();
//! let connector = Connector { host: Some("compute-1".into()), ..Default::default() };
//! let att = svc.update_attachment(&ctx, &att.id, connector).await.unwrap();
//! assert!(att.connection_info.is_some());
//! svc.complete_attachment(&ctx, &att.id).await.unwrap();
//! assert_eq!(svc.get_volume(&ctx, &vol.id).await.unwrap().status, VolumeStatus::InUse);
//!
//! // Detach and delete.
//! svc.delete_attachment(&ctx, &att.id).await.unwrap();
//! assert_eq!(backend.export_count(), 0);
//! svc.delete_volume(&ctx, &vol.id).await.unwrap();
//! # });
//! ```

pub mod api;
pub mod backend;
pub mod error;
pub mod file;
pub mod http;
pub mod image;
pub mod policy;
pub mod scheduler;
pub mod service;
pub mod testing;
pub mod types;

pub use api::{
    CreateVolume, CreateVolumeType, ListFilter, MigrationPolicy, QuotaUpdate, UpdateVolume,
    UploadToImage, UploadedImage, VolumeApi,
};
pub use backend::{Capabilities, CapacityReport, VolumeBackend};
pub use error::VolumeError;
pub use file::{FileBackend, FileFormat};
pub use image::{ImageSink, ImageSource};
pub use service::VolumeService;
pub use types::{
    AttachStatus, Attachment, AttachmentId, ConnectionInfo, Connector, Snapshot, SnapshotStatus,
    Volume, VolumeStatus, VolumeType, VolumeTypeId,
};
