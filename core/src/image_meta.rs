// SPDX-License-Identifier: Apache-2.0
//! [`ImageMeta`]: the part of a Glance image record that its consumers (compute building a
//! server, volume creating a volume from an image) read, defined once for both.

use crate::id::ImageId;
use serde::{Deserialize, Serialize};

/// An image's metadata, as far as compute and volume care.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageMeta {
    /// The image.
    pub id: ImageId,
    /// Its name (empty when the image has none).
    pub name: String,
    /// Glance status (`active`, `queued`, ...); `active` when its data can be downloaded.
    pub status: String,
    /// Disk format (`raw`, `qcow2`, ...).
    pub disk_format: Option<String>,
    /// Container format (`bare`, ...).
    pub container_format: Option<String>,
    /// Size of the data in bytes, once uploaded.
    pub size: Option<u64>,
    /// The smallest disk it fits on, GiB.
    pub min_disk: u64,
    /// The least RAM it boots with, MiB.
    pub min_ram: u64,
}
