// SPDX-License-Identifier: Apache-2.0
//! Names of everything the driver creates, derived from ids so that a restarted driver finds
//! its objects again: `<prefix><role><10 hex digits of xxh3(id)>`, at most 15 bytes (the
//! kernel's `IFNAMSIZ`), and namespaces `<prefix>-<role>-<uuid>`.

use ferrostack_core::id::{NetworkId, PortId, RouterId};

/// Roles, one letter each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// A network's bridge.
    Bridge,
    /// A network's VXLAN device.
    Vxlan,
    /// A physical network's VLAN-filtering trunk bridge.
    Trunk,
    /// The network-bridge end of a network's link to its trunk.
    TrunkLinkNet,
    /// The trunk end of that link.
    TrunkLinkTrunk,
    /// The host (bridge) end of a port.
    Tap,
    /// The VM end of a veth port.
    Peer,
    /// The bridge end of a router's internal leg.
    RouterPortHost,
    /// The namespace end of a router's internal leg.
    RouterPort,
    /// The bridge end of a router's gateway leg.
    GatewayHost,
    /// The namespace end of a router's gateway leg.
    Gateway,
    /// The bridge end of a DHCP server's leg.
    DhcpHost,
    /// The namespace end of a DHCP server's leg.
    Dhcp,
}

impl Role {
    fn letter(self) -> char {
        match self {
            Role::Bridge => 'b',
            Role::Vxlan => 'x',
            Role::Trunk => 'k',
            Role::TrunkLinkNet => 'y',
            Role::TrunkLinkTrunk => 'z',
            Role::Tap => 't',
            Role::Peer => 'v',
            Role::RouterPortHost => 'i',
            Role::RouterPort => 'r',
            Role::GatewayHost => 'o',
            Role::Gateway => 'g',
            Role::DhcpHost => 'h',
            Role::Dhcp => 'd',
        }
    }
}

/// A short stable hash of `key` (10 hex digits).
pub(crate) fn short_hash(key: &[u8]) -> String {
    let h = xxhash_rust::xxh3::xxh3_64(key);
    format!("{:010x}", h & 0xff_ffff_ffff)
}

/// The device name of `role` for the object with bytes `key`.
pub(crate) fn device(prefix: &str, role: Role, key: &[u8]) -> String {
    let mut s = String::with_capacity(15);
    s.push_str(prefix);
    s.push(role.letter());
    s.push_str(&short_hash(key));
    s.truncate(15);
    s
}

pub(crate) fn bridge(prefix: &str, id: NetworkId) -> String {
    device(prefix, Role::Bridge, id.0.as_bytes())
}
pub(crate) fn net_dev(prefix: &str, role: Role, id: NetworkId) -> String {
    device(prefix, role, id.0.as_bytes())
}
pub(crate) fn port_dev(prefix: &str, role: Role, id: PortId) -> String {
    device(prefix, role, id.0.as_bytes())
}
pub(crate) fn router_dev(prefix: &str, role: Role, id: RouterId) -> String {
    device(prefix, role, id.0.as_bytes())
}
pub(crate) fn trunk(prefix: &str, physnet: &str) -> String {
    device(prefix, Role::Trunk, physnet.as_bytes())
}
/// The bridge joining the networks of one VLAN of a physical network when the kernel has no
/// bridge VLAN filtering.
pub(crate) fn vlan_segment(prefix: &str, physnet: &str, vid: u16) -> String {
    device(prefix, Role::Trunk, format!("{physnet}\0{vid}").as_bytes())
}

/// The namespace of a router.
pub(crate) fn router_ns(prefix: &str, id: RouterId) -> String {
    format!("{prefix}-router-{}", id.0)
}
/// The namespace of a network's DHCP server.
pub(crate) fn dhcp_ns(prefix: &str, id: NetworkId) -> String {
    format!("{prefix}-dhcp-{}", id.0)
}

/// The conntrack zone of a network's bridge: stable across restarts, 1..=65000. Two networks
/// may share a zone (a 1/65000 chance per pair); they then share conntrack state only for
/// identical address/port tuples.
pub(crate) fn zone(id: NetworkId) -> u16 {
    (xxhash_rust::xxh3::xxh3_64(id.0.as_bytes()) % 65_000) as u16 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_ifnamsiz_and_differ_per_role_and_id() {
        let a = NetworkId::new();
        let b = NetworkId::new();
        let n = bridge("abcd", a);
        assert_eq!(n.len(), 15, "{n}");
        assert_ne!(n, bridge("abcd", b));
        assert_ne!(n, net_dev("abcd", Role::Vxlan, a));
        assert_eq!(n, bridge("abcd", a), "stable");
        assert!(n.starts_with("abcdb"));
    }
}
