// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-volume: Cinder
//!
//! Volumes, snapshots, volume types and the attachment flow (reserve, connect, complete,
//! delete) with Cinder's statuses; the `VolumeBackend` trait with typed capabilities and a
//! public conformance suite; a file backend as the embedded default; and the Cinder v3 REST API.
//!
//! **Status:** not built yet (tracked by the block-storage issue). This crate exists so the shape
//! of the workspace is visible; it exports nothing.
