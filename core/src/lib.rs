// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-core: the vocabulary every Ferrostack crate shares
//!
//! Every service crate (identity, compute, scheduler, image, volume, network, objectstore) and
//! every driver builds on the pieces in this crate:
//!
//! | module | what it gives |
//! |---|---|
//! | [`id`] | UUID newtype ids ([`id::ProjectId`], [`id::ServerId`], ...) and the [`define_id!`](crate::define_id) macro |
//! | [`context`] | [`RequestContext`]: who is calling, in which scope, with which roles |
//! | [`error`] | [`ErrorKind`]: the twelve classes every crate error maps into, with HTTP status and OpenStack fault name |
//! | [`pagination`] | marker/limit/sort parameters as every OpenStack list API takes them |
//! | [`store`] | [`store::Store`]: the control plane's versioned key-value state with compare-and-swap transactions, the typed [`store::Collection`], [`store::MemoryStore`], and [`store::retry::retry_txn`], the one loop every optimistic transaction retries in |
//! | [`bus`] | [`bus::Bus`]: RPC between services (`call`, `cast`, `fanout`) and [`bus::LocalBus`] |
//! | [`command`] | [`command::CommandRunner`]: how drivers run system tools (argv only, timeouts, privilege wrapper) |
//! | [`placement`] | [`placement::Resources`] and [`placement::GroupPolicy`]: what compute's claims and the scheduler both speak |
//! | [`policy`] | the oslo.policy rule language, compiled once and evaluated per request |
//! | `http` (feature `http`) | axum plumbing every REST API shares: OpenStack error bodies, request ids, version documents, JSON extraction, the `Ctx` extractor, microversion negotiation; `http::client` (feature `client`): the base of every service's remote `http::Client`; `http::testing`: a fake token table and a loopback server |
//!
//! ## Design
//!
//! * **Traits at the seams.** `Store`, `Bus` and `CommandRunner` are object-safe
//!   `#[async_trait]` traits so that deployments pick implementations at run time
//!   (`Arc<dyn Store>`). Each has an in-process implementation here and a public
//!   conformance suite (feature `testing`) that every other implementation must pass.
//! * **One error vocabulary.** Crates keep their own `thiserror` enums with the facts of each
//!   failure and classify them with `fn kind(&self) -> ErrorKind`; the HTTP layer maps the kind
//!   to a status and fault body exactly once.
//! * **One shape for every service.** Each service crate has `api.rs` (its `XxxApi` trait
//!   and typed requests), `service/` (the local implementation, split by resource), `http/`
//!   (`router` over `Arc<dyn XxxApi>` and a `Client` implementing the same trait over REST),
//!   `testing` (fakes and conformance suites) and `error.rs`. What their HTTP layers share is
//!   here, once: [`http::Ctx`](crate::http), microversions, error bodies, the client base.
//! * **No I/O in types.** Ids, contexts, policy and pagination are plain data, usable from
//!   synchronous hot paths (the scheduler, the ring).
//!
//! ## Example
//!
//! ```
//! use ferrostack_core::store::{Collection, MemoryStore, StoreError};
//! use std::sync::Arc;
//!
//! #[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
//! struct Counter { value: u64 }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = Arc::new(MemoryStore::new());
//! let counters: Collection<Counter> = Collection::new(store, "demo/counters/");
//! counters.create("hits", &Counter { value: 0 }).await.unwrap();
//! // Optimistic read-modify-write: retried automatically when another writer wins the race.
//! let updated = counters
//!     .update_with::<StoreError, _>("hits", |c| { c.value += 1; Ok(()) })
//!     .await
//!     .unwrap();
//! assert_eq!(updated.value.value, 1);
//! # });
//! ```
//!
//! ## Features
//!
//! | feature | default | what |
//! |---|---|---|
//! | `http` | no | axum plumbing for REST APIs |
//! | `client` | no | `http::client::ServiceClient` (reqwest), the base of the remote clients |
//! | `testing` | no | conformance suites (`store::conformance`, `bus::conformance`) and `testing` helpers |

pub mod attach;
pub mod bus;
pub mod command;
pub mod context;
pub mod error;
#[cfg(feature = "http")]
pub mod http;
pub mod id;
pub mod image_meta;
pub mod pagination;
pub mod placement;
pub mod policy;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod time;

pub use context::RequestContext;
pub use error::{BoxError, ErrorKind};
