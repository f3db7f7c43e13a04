// SPDX-License-Identifier: Apache-2.0
//! Neutron's v2.0 REST API: served over any [`NetworkApi`](crate::NetworkApi) by [`router`],
//! and consumed by [`Client`], a [`NetworkApi`](crate::NetworkApi) over HTTP.
//!
//! | file | what |
//! |---|---|
//! | `router.rs` | [`router`]: `/` (versions) and `/v2.0/...`, Neutron error bodies, attribute filters, `fields=`, sorting and pagination |
//! | `client.rs` | [`Client`] (feature `client`): every [`NetworkApi`](crate::NetworkApi) operation as the same JSON the router serves, on core's [`ServiceClient`](ferrostack_core::http::client::ServiceClient) |
//!
//! Because the local [`NetworkService`](crate::NetworkService) and [`Client`] implement the same
//! trait, a consumer cannot tell them apart; [`crate::testing::run_api_conformance`] runs through
//! both (`tests/conformance.rs`).

#[cfg(feature = "client")]
mod client;
mod router;

#[cfg(feature = "client")]
pub use client::Client;
pub use router::{API_VERSION, EXTENSIONS, router};
