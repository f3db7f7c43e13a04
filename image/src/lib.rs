// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-image: Glance v2
//!
//! Glance's image service as a library: image records with Glance's status lifecycle,
//! visibility, members, tags and free-form properties; streaming upload and download with the
//! md5 `checksum` and sha512 `os_hash_value` computed on the fly; a pure-Rust disk-format
//! inspector that detects the format from the stream and refuses hostile images; the
//! [`ImageStore`] trait for where the bytes live; and the Glance v2 REST API.
//!
//! ## Module layout
//!
//! The crate has the shape every Ferrostack service has (`DESIGN.md` §3):
//!
//! | piece | what |
//! |---|---|
//! | [`api`] | [`ImageApi`] (object-safe, the `# Contract`) and its typed requests: [`CreateImage`], [`PatchOp`]/[`PatchValue`], [`ListQuery`] |
//! | [`service`] | [`ImageService`], the local implementation: `service/{mod,images,data,web_import,members}.rs` |
//! | [`http`] | [`http::router`] (Glance v2 over any `Arc<dyn ImageApi>`, Glance error bodies) and [`http::Client`] (`ImageApi` over a remote Glance v2, streamed both ways) |
//! | [`testing`] | [`testing::run_api_conformance`], the `ImageApi` conformance suite; `tests/conformance.rs` runs it against the service and through the client against the served router |
//! | [`error`] | [`ImageError`], classified once into HTTP statuses; remote faults keep the server's message |
//! | [`types`] | [`Image`], [`ImageStatus`] with Glance's `valid_state_targets`, [`Visibility`], members, import tasks |
//! | [`store`] | [`ImageStore`] + [`ImageWriter`](store::ImageWriter) and `store::conformance`; see below for the stores built |
//! | [`inspector`] | streaming format inspector with oslo.utils' verdicts (differential-tested) |
//! | [`web_download`] | the `web-download` import method's filter and downloader |
//! | [`cache`] | compute-host image cache (content-addressed, single fetch, LRU eviction) and `qemu-img` with explicit `-f` |
//!
//! ## What is built, what is not
//!
//! * Image data stores built here: [`FilesystemStore`] (the default: files in one directory,
//!   written to a temporary file and renamed on commit), [`SwiftStore`](store::swift::SwiftStore)
//!   (any Swift-API object store) and [`MemoryImageStore`] (tests and examples), selected by
//!   [`StoreConfig`].
//! * **Not built:** an RBD (Ceph) store. It would belong to the Ceph driver crate, which is not
//!   built either; `type = "rbd"` is refused as configuration.
//! * Import methods: `glance-direct`, and `web-download` once its host allow-list is set.
//!   Glance's `copy-image` and multi-store `stores` are not implemented.
//!
//! ## Design
//!
//! * **Records** live in a `ferrostack_core::store::Store` under `image/images/<id>`; every
//!   change is a compare-and-swap on the record's revision. Per-project usage (`image/usage/`)
//!   is updated in the *same* transaction as the image it counts, so concurrent creates and
//!   uploads can never exceed the count or byte quotas.
//! * **Uploads** move the image `queued → saving` (a CAS, so two concurrent uploads cannot both
//!   start), then stream: each chunk is hashed (md5, sha512), fed to the format inspector and
//!   written to the store; nothing holds the image in memory. At the end, for
//!   `container_format=bare`, the inspector's verdict must match the declared `disk_format`
//!   and pass the safety checks, else the data is discarded and the image returns to
//!   `queued` (no half-written image is ever `active`). Activation and the usage update are one
//!   transaction.
//! * **Authorisation** goes through one function of the service, on
//!   `ferrostack_core::policy` with the rule table [`service::POLICY_DEFAULTS`]; visibility
//!   (private, shared with accepted members, community, public) is enforced by the service, and
//!   invisible images are 404 as in Glance.
//!
//! * **Import**: `PUT /v2/images/{id}/stage` then `POST /v2/images/{id}/import` with
//!   `glance-direct` runs the same inspection and hashing over the staged data.
//!
//! * **Swift**: [`store::swift::SwiftStore`] keeps image data in any Swift-API object store
//!   (tempauth/v1 credentials, or a token and storage URL obtained elsewhere, renewed on `401`):
//!   streamed segment uploads committed atomically as a Static Large Object manifest, streamed
//!   downloads, deletion of the manifest and its segments, clean errors on hostile answers. It
//!   passes `store::conformance` against a real Swift (`tests/swift_store.rs`).
//!
//! * **web-download**: `POST /v2/images/{id}/import` with `{"method": {"name": "web-download",
//!   "uri": ...}}` checks the URI against [`web_download::ImportFilter`] (Glance's
//!   `[import_filtering_opts]`, but with a *mandatory* host allow-list: the method is off and
//!   unadvertised in `/v2/info/import` until the operator names hosts, because Glance's
//!   allow-any-host default turns the image service into a request forgery proxy into the
//!   control plane), answers `202` with the image `importing` and the task id in
//!   `os_glance_import_task`, and downloads in the background through the same size cap,
//!   quota, hashing and format inspection as an upload; redirects are re-checked. The image
//!   ends `active`, or back in `queued` with the failure in its task
//!   (`GET /v2/images/{id}/tasks`).
//!
//! * **Off the async threads**: hashing and format inspection of uploads run in batches on the
//!   blocking pool; file I/O goes through `tokio::fs` (itself on the blocking pool).
//!
//! ## Example
//!
//! ```
//! use std::sync::Arc;
//! use ferrostack_core::{RequestContext, id::{ProjectId, UserId}, store::MemoryStore};
//! use ferrostack_image::{CreateImage, ImageApi, ImageConfig, ImageError, ImageService, ImageStatus, MemoryImageStore};
//! use futures::StreamExt;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let svc = ImageService::new(
//!     Arc::new(MemoryStore::new()),
//!     Arc::new(MemoryImageStore::new()),
//!     ImageConfig::default(),
//! );
//! let ctx = RequestContext::for_project(UserId::new(), ProjectId::new(), &["member", "reader"]);
//! let image = svc.create(&ctx, CreateImage::new("disk", "qcow2", "bare")).await.unwrap();
//!
//! // A qcow2 header with a backing file is refused, and the image stays queued.
//! let mut hostile = vec![0u8; 512];
//! hostile[..4].copy_from_slice(b"QFI\xfb");
//! hostile[7] = 3;
//! hostile[15] = 0x80; // backing file offset
//! let stream = futures::stream::iter([Ok(bytes::Bytes::from(hostile))]).boxed();
//! let err = svc.upload(&ctx, &image.id, stream).await.unwrap_err();
//! assert!(matches!(err, ImageError::BadImageData(_)));
//! assert_eq!(svc.get(&ctx, &image.id).await.unwrap().status, ImageStatus::Queued);
//!
//! // A clean one becomes active with its hashes.
//! let mut clean = vec![0u8; 512];
//! clean[..4].copy_from_slice(b"QFI\xfb");
//! clean[7] = 3;
//! let stream = futures::stream::iter([Ok(bytes::Bytes::from(clean))]).boxed();
//! let active = svc.upload(&ctx, &image.id, stream).await.unwrap();
//! assert_eq!(active.status, ImageStatus::Active);
//! assert_eq!(active.os_hash_algo.as_deref(), Some("sha512"));
//! # });
//! ```

pub mod api;
mod blocking;
pub mod cache;
pub mod error;
pub mod http;
pub mod inspector;
pub mod service;
pub mod store;
pub mod testing;
pub mod types;
pub mod web_download;

pub use api::{CreateImage, ImageApi, ListQuery, PatchOp, PatchValue};
pub use error::ImageError;
pub use service::{ImageConfig, ImageService};
pub use store::{FilesystemStore, ImageStore, MemoryImageStore, StoreConfig};
pub use types::{Image, ImageStatus, Member, MemberStatus, Visibility};
pub use web_download::WebDownloadConfig;
