// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-image: Glance v2
//!
//! Image records with Glance's status lifecycle, visibility and members; streaming upload and
//! download with checksums computed on the fly; a pure-Rust disk-format inspector that refuses
//! hostile images; the `ImageStore` trait (filesystem, Swift API, RBD); a compute-host image
//! cache; and the Glance v2 REST API.
//!
//! **Status:** not built yet (tracked by the image issue). This crate exists so the shape of the
//! workspace is visible; it exports nothing.
