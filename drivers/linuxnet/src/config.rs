// SPDX-License-Identifier: Apache-2.0
//! [`LinuxNetConfig`]: what an integrator chooses (name prefix, the namespace the bridges live
//! in, uplinks, VXLAN underlay, where dnsmasq keeps its files).

use crate::error::LinuxNetError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// How a port is plugged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortKind {
    /// A veth pair: the host end is a bridge port, the other end (named in the VIF details as
    /// `peer_name`, carrying the port's MAC) is handed to the "VM" (a container or a test
    /// namespace). The default.
    #[default]
    Veth,
    /// Nothing is created: the hypervisor creates the tap named `devname` in the VIF details
    /// and adds it to `bridge_name` (libvirt's `<interface type='bridge'>`).
    Hypervisor,
}

/// Which DHCP server runs in each network's DHCP namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DhcpServer {
    /// dnsmasq with hosts/options files reloaded by `SIGHUP`. The default.
    #[default]
    Dnsmasq,
    /// ISC Kea (`kea-dhcp4`) with a generated JSON configuration (reservations per host)
    /// reloaded by `SIGHUP`. IPv4 only; host routes are not rendered.
    Kea,
}

/// The driver's configuration. Defaults: prefix `fs`, bridges in the current namespace,
/// no uplinks, VXLAN on UDP 4789 without a multicast group, state under
/// `/var/lib/ferrostack/linuxnet`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinuxNetConfig {
    /// Prefix of every device, namespace, nftables table and file the driver creates (1 to 4
    /// lowercase letters or digits, starting with a letter). The driver never touches
    /// anything without it, and reconcile removes only what carries it.
    pub prefix: String,
    /// The network namespace the bridges, host ends of ports and security-group tables live
    /// in (`ip netns` name); `None` is the driver's own namespace.
    pub host_netns: Option<String>,
    /// Physical network name to uplink interface (in `host_netns`), for flat and VLAN
    /// segments. A physical network without an entry is host-local.
    pub physical_interfaces: BTreeMap<String, String>,
    /// VXLAN underlay: the local address (and so the interface) tunnels leave from.
    pub vxlan_local_ip: Option<Ipv4Addr>,
    /// VXLAN multicast group for flooding; `None` relies on FDB entries (unicast).
    pub vxlan_group: Option<Ipv4Addr>,
    /// VXLAN UDP port.
    pub vxlan_port: u16,
    /// How ports are plugged.
    pub port_kind: PortKind,
    /// Directory for dnsmasq's host, option, lease and pid files.
    pub state_dir: PathBuf,
    /// DHCP lease time in seconds.
    pub dhcp_lease_seconds: u32,
    /// The DHCP server.
    pub dhcp_server: DhcpServer,
}

impl Default for LinuxNetConfig {
    fn default() -> Self {
        LinuxNetConfig {
            prefix: "fs".into(),
            host_netns: None,
            physical_interfaces: BTreeMap::new(),
            vxlan_local_ip: None,
            vxlan_group: None,
            vxlan_port: 4789,
            port_kind: PortKind::Veth,
            state_dir: PathBuf::from("/var/lib/ferrostack/linuxnet"),
            dhcp_lease_seconds: 86_400,
            dhcp_server: DhcpServer::Dnsmasq,
        }
    }
}

impl LinuxNetConfig {
    /// Checks the prefix, interface names and lease time.
    ///
    /// # Errors
    ///
    /// [`LinuxNetError::Config`] naming the bad field.
    pub fn validate(&self) -> Result<(), LinuxNetError> {
        let p = self.prefix.as_bytes();
        if p.is_empty()
            || p.len() > 4
            || !p[0].is_ascii_lowercase()
            || !p.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(LinuxNetError::Config(format!(
                "prefix {:?} must be 1 to 4 lowercase letters or digits starting with a letter",
                self.prefix
            )));
        }
        if let Some(ns) = &self.host_netns
            && !valid_netns_name(ns)
        {
            return Err(LinuxNetError::Config(format!("host_netns {ns:?} is not a valid name")));
        }
        for (physnet, dev) in &self.physical_interfaces {
            if dev.is_empty() || dev.len() > 15 || dev.contains(['/', ' ', '\0']) {
                return Err(LinuxNetError::Config(format!(
                    "physical network {physnet:?}: interface {dev:?} is not a device name"
                )));
            }
        }
        if self.dhcp_lease_seconds < 120 {
            return Err(LinuxNetError::Config("dhcp_lease_seconds must be at least 120".into()));
        }
        if self.vxlan_port == 0 {
            return Err(LinuxNetError::Config("vxlan_port must not be 0".into()));
        }
        Ok(())
    }
}

/// Whether `name` can be an `ip netns` name (a file name under `/run/netns`).
pub(crate) fn valid_netns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_that_could_collide_or_overflow_names_are_refused() {
        for bad in ["", "toolong", "Ab", "1a", "a-b"] {
            let c = LinuxNetConfig { prefix: bad.into(), ..Default::default() };
            assert!(c.validate().is_err(), "{bad:?} accepted");
        }
        assert!(LinuxNetConfig::default().validate().is_ok());
        let c = LinuxNetConfig { host_netns: Some("../x".into()), ..Default::default() };
        assert!(c.validate().is_err());
    }
}
