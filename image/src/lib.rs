// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-image: Glance v2
//!
//! Image records with Glance's status lifecycle, visibility and members; streaming upload and
//! download with checksums computed on the fly; a pure-Rust disk-format inspector that refuses
//! hostile images; the `ImageStore` trait; and the Glance v2 REST API.

pub mod error;
pub mod http;
pub mod inspector;
pub mod service;
pub mod store;
pub mod types;

pub use error::ImageError;
pub use service::{ImageApi, ImageConfig, ImageService, ListQuery, PatchOp};
pub use store::{FilesystemStore, ImageStore, MemoryImageStore};
pub use types::{Image, ImageStatus, Member, MemberStatus, Visibility};
