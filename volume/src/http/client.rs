// SPDX-License-Identifier: Apache-2.0
//! [`Client`]: [`VolumeApi`](crate::VolumeApi) over Cinder's v3 REST API.

/// A remote Cinder.
#[derive(Debug, Clone)]
pub struct Client {}
