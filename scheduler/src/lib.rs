// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-scheduler: Nova's filter scheduler
//!
//! Host state kept in a scan-friendly layout, synchronous `HostFilter` and `HostWeigher`
//! traits with Nova's filters and weighers, the `FilterScheduler` (and the Chance and Simple
//! schedulers), and claims made atomically in the [`ferrostack_core::store::Store`] so that many
//! scheduler workers never over-commit a host.
//!
//! **Status:** not built yet (tracked by the scheduler issue). This crate exists so the shape of
//! the workspace is visible; it exports nothing.
