// SPDX-License-Identifier: Apache-2.0
//! [`Client`]: [`ComputeApi`](crate::api::ComputeApi) over Nova's REST API.

/// Placeholder.
#[derive(Debug)]
pub struct Client;
