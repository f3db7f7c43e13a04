// SPDX-License-Identifier: Apache-2.0
//! The Glance v2 REST API: [`router`] serves any [`ImageApi`](crate::ImageApi), [`Client`]
//! is an [`ImageApi`](crate::ImageApi) over a remote Glance v2 endpoint.
//!
//! Mount the router at the image endpoint (the facade uses `/image`); it serves version
//! discovery at its root and the API under `/v2`. It reads the caller's
//! [`RequestContext`](ferrostack_core::RequestContext) from the request extensions (put there
//! by the identity middleware) and answers 401 without one. Errors render in Glance's style.
//! Uploads and downloads stream: neither holds an image in memory, and JSON bodies are limited
//! to [`DEFAULT_BODY_LIMIT`](ferrostack_core::http::DEFAULT_BODY_LIMIT).

mod client;
mod router;

pub use client::Client;
pub use router::{IMPORT_METHODS, PATCH_MEDIA_TYPES, router};
