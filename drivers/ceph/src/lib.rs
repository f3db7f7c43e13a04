// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-ceph: Ceph RBD
//!
//! A `VolumeBackend` and an `ImageStore` over RBD images with copy-on-write clones.
//!
//! **Status:** not built yet.
