// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-compute: Nova
//!
//! Types of Nova's state model, the [`hypervisor::Hypervisor`] trait with the
//! [`fake::FakeHypervisor`] and the public [`conformance`] suite.

pub mod conformance;
pub mod db;
pub mod error;
pub mod fake;
pub mod host;
pub mod hypervisor;
pub mod local;
pub mod placement;
pub mod policy;
pub mod ports;
pub mod rpc;
pub mod service;
pub mod types;
