// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-objectstore: Swift
//!
//! The consistent-hash ring (an immutable lookup table plus a builder, reading and writing
//! Swift's ring files), storage servers for accounts, containers and objects, the proxy with
//! the Swift API, and a replicator.
//!
//! **Status:** not built yet (tracked by the ring issue and later object-store work). This crate
//! exists so the shape of the workspace is visible; it exports nothing.
