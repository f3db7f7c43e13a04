// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-network: Neutron
pub mod api;
pub mod backend;
pub mod cidr;
pub mod error;
pub mod http;
pub mod policy;
pub mod secgroup;
pub mod service;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod types;

pub use api::NetworkApi;
pub use error::NetworkError;
pub use service::{Backends, NetworkConfig, NetworkService};
