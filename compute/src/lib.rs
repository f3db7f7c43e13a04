// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-compute: Nova
//!
//! Types of Nova's state model, the [`hypervisor::Hypervisor`] trait with the
//! [`fake::FakeHypervisor`] and the public [`conformance`] suite.

pub mod conformance;
pub mod error;
pub mod fake;
pub mod hypervisor;
pub mod types;
