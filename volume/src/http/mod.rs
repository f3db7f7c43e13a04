// SPDX-License-Identifier: Apache-2.0
//! The Cinder v3 REST API: [`router`] serves it over any `Arc<dyn VolumeApi>`, [`Client`]
//! implements [`VolumeApi`] over it.
//!
//! [`router`] serves, relative to its mount point (the facade mounts it at `/volume`; the
//! catalog entry is type `block-storage` (alias `volumev3`) with URL
//! `<public>/volume/v3/$(project_id)s`):
//!
//! * `GET /` (300, `{"versions": [...]}`) and `GET /v3/` (`{"version": {...}}`): discovery,
//!   microversions 3.0 to 3.60 ([`MICROVERSIONS`], negotiated by core's
//!   [`with_microversions`](ferrostack_core::http::with_microversions));
//! * `/v3/{project_id}/volumes` (+ `/detail`, `?name=`, `?status=`, `?all_tenants=`,
//!   `limit`/`marker`), `/volumes/{id}` (GET, PUT, DELETE), `/volumes/{id}/action`
//!   (`os-extend`, `os-volume_upload_image`, `os-retype`);
//! * `/snapshots` (+ `/detail`), `/snapshots/{id}`;
//! * `/types`, `/types/{id}` (`default` too), `/types/{id}/extra_specs`;
//! * `/attachments` (3.27+, + `/detail`), `/attachments/{id}` (GET, PUT with a connector,
//!   DELETE), `/attachments/{id}/action` (`os-complete`, 3.44+);
//! * `/os-quota-sets/{project}` (GET with `?usage=True`, PUT) and `/defaults`.
//!
//! The caller's [`RequestContext`](ferrostack_core::RequestContext) must be in the request
//! extensions (identity's auth layer
//! puts it there); without it the answer is 401. Errors use Cinder's body style
//! (`{"itemNotFound": {"code": 404, "message": ...}}`) and Cinder's messages.
//!
//! | file | what |
//! |---|---|
//! | `router.rs` | [`router`], [`MICROVERSIONS`], error mapping, request-body parsing |
//! | `views.rs` | the JSON views (volume, snapshot, type, attachment, quota set) |
//! | `volumes.rs`, `snapshots.rs`, `types.rs`, `attachments.rs`, `quotas.rs` | the handlers |
//! | `client.rs` | [`Client`]: [`VolumeApi`] over this API |

mod attachments;
mod body;
mod client;
mod quotas;
mod router;
mod snapshots;
#[cfg(test)]
mod tests;
mod types;
mod views;
mod volumes;

pub use client::Client;
pub use router::{MICROVERSIONS, router};

#[cfg(doc)]
use crate::api::VolumeApi;
