// SPDX-License-Identifier: Apache-2.0
//! The vocabulary of a volume attachment that compute and volume share: os-brick's connector
//! properties ([`Connector`]) and the connection info a backend returns for them
//! ([`ConnectionInfo`]).
//!
//! These are the wire forms Cinder's attachment API carries (`PUT /attachments/{id}` with a
//! `connector`, and the `connection_info` of an attachment), so compute sends and volume stores
//! exactly what a Nova/Cinder pair would.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the consumer of an attachment tells the backend about itself (os-brick's
/// `get_connector_properties`). Every field is optional on the wire; absent ones are not
/// serialized, and keys this type does not name are kept in [`Connector::extra`].
///
/// ```
/// use ferrostack_core::attach::Connector;
/// let c = Connector {
///     host: Some("compute-1".into()),
///     mountpoint: Some("/dev/vdb".into()),
///     ..Connector::default()
/// };
/// let v = serde_json::to_value(&c).unwrap();
/// assert_eq!(v, serde_json::json!({"host": "compute-1", "mountpoint": "/dev/vdb"}));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Connector {
    /// The consumer's host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Its IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Its iSCSI initiator name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiator: Option<String>,
    /// Whether it uses multipath.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multipath: Option<bool>,
    /// The host's operating system (`"linux"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_type: Option<String>,
    /// The host's machine architecture (`"x86_64"`, `"aarch64"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The device name the volume gets in the guest (`/dev/vdb`); Cinder records it as the
    /// attachment's `mountpoint`/`device`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mountpoint: Option<String>,
    /// `"rw"` or `"ro"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Everything else the consumer sent (`wwpns`, `nqn`, `do_local_attach`, ...).
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// How a consumer reaches an exported volume: os-brick's `driver_volume_type` and `data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionInfo {
    /// `"local"` (a file or block device path), `"iscsi"`, `"rbd"`, ...
    pub driver_volume_type: String,
    /// Protocol-specific data (`device_path`, `target_iqn`, `name`, ...).
    pub data: serde_json::Map<String, serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn connector_keys_round_trip_and_unknown_keys_are_kept() {
        let wire = json!({
            "host": "h", "ip": "10.0.0.1", "multipath": false, "os_type": "linux",
            "platform": "x86_64", "mountpoint": "/dev/vdb", "wwpns": ["50014380"],
        });
        let c: Connector = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(c.os_type.as_deref(), Some("linux"));
        assert_eq!(c.mountpoint.as_deref(), Some("/dev/vdb"));
        assert_eq!(c.extra.keys().collect::<Vec<_>>(), ["wwpns"]);
        assert_eq!(serde_json::to_value(&c).unwrap(), wire);
        assert_eq!(serde_json::to_value(Connector::default()).unwrap(), json!({}));
    }
}
