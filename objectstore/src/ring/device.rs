// SPDX-License-Identifier: Apache-2.0
//! Devices: the storage targets a ring maps partitions to.

use serde::{Deserialize, Serialize};

/// One device (a disk on a storage server), with the metadata Swift keeps in ring files.
///
/// The failure-domain tiers are `region`, `(region, zone)`, `(region, zone, ip)` (a server) and
/// the device itself, as in Swift's `tiers_for_dev`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    /// Unique id; also the index in the ring's device list.
    pub id: u32,
    /// Region (the largest failure domain).
    pub region: u32,
    /// Zone within the region.
    pub zone: u32,
    /// The storage server's address for client traffic.
    pub ip: String,
    /// The storage server's port for client traffic.
    pub port: u16,
    /// The address replication traffic uses (defaults to `ip`).
    #[serde(default)]
    pub replication_ip: String,
    /// The port replication traffic uses (defaults to `port`).
    #[serde(default)]
    pub replication_port: u16,
    /// The device's name on the server (`sdb1`).
    pub device: String,
    /// Relative weight: how much of the ring this device should hold. `0` drains it.
    pub weight: f64,
    /// Free-form operator notes.
    #[serde(default)]
    pub meta: String,
}

/// The input shape of a device that has not been given an id yet.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDevice {
    /// Explicit id, or `None` for the lowest free id (as Swift's `add_dev`).
    pub id: Option<u32>,
    /// Region.
    pub region: u32,
    /// Zone.
    pub zone: u32,
    /// Server address.
    pub ip: String,
    /// Server port.
    pub port: u16,
    /// Replication address (`None`: same as `ip`).
    pub replication_ip: Option<String>,
    /// Replication port (`None`: same as `port`).
    pub replication_port: Option<u16>,
    /// Device name.
    pub device: String,
    /// Weight (finite, `>= 0`).
    pub weight: f64,
    /// Operator notes.
    pub meta: String,
}

impl NewDevice {
    /// A device with the given location and weight, default replication address and no meta.
    pub fn new(region: u32, zone: u32, ip: &str, port: u16, device: &str, weight: f64) -> Self {
        NewDevice {
            id: None,
            region,
            zone,
            ip: ip.to_string(),
            port,
            replication_ip: None,
            replication_port: None,
            device: device.to_string(),
            weight,
            meta: String::new(),
        }
    }

    pub(crate) fn into_device(self, id: u32) -> Device {
        Device {
            id,
            region: self.region,
            zone: self.zone,
            replication_ip: self.replication_ip.unwrap_or_else(|| self.ip.clone()),
            replication_port: self.replication_port.unwrap_or(self.port),
            ip: self.ip,
            port: self.port,
            device: self.device,
            weight: self.weight,
            meta: self.meta,
        }
    }
}
