// SPDX-License-Identifier: Apache-2.0
//! The second DHCP backend: ISC Kea's `kea-dhcp4`, configured by a generated JSON document.
//!
//! Where dnsmasq takes host lines and option lines in flat files, Kea takes one structured
//! configuration: a `subnet4` list with per-subnet `option-data` and `reservations` (hardware
//! address to address and host name), an in-memory lease file, and the interface to listen
//! on. The driver writes it atomically and sends `SIGHUP`, on which Kea re-reads its
//! configuration. Nothing in the [`DhcpBackend`](ferrostack_network::backend::DhcpBackend)
//! trait is specific to either server.

use ferrostack_network::backend::DhcpNetwork;
use ferrostack_network::cidr::IpVersion;
use serde_json::{Value, json};
use std::net::IpAddr;
use std::path::Path;

/// The `kea-dhcp4` configuration serving `net` on interface `iface`, with its lease file and
/// log under `dir`.
pub fn config(net: &DhcpNetwork, iface: &str, dir: &Path, lease_seconds: u32) -> Value {
    let mut subnets = Vec::new();
    for (i, sub) in net.subnets.iter().enumerate() {
        if sub.cidr.version() != IpVersion::V4 || crate::dhcp::server_address(&sub.cidr).is_none() {
            continue;
        }
        let mut options = Vec::new();
        if let Some(IpAddr::V4(g)) = sub.gateway {
            options.push(json!({"name": "routers", "data": g.to_string()}));
        }
        let dns: Vec<String> =
            sub.dns_nameservers.iter().filter(|d| d.is_ipv4()).map(|d| d.to_string()).collect();
        if !dns.is_empty() {
            options.push(json!({"name": "domain-name-servers", "data": dns.join(", ")}));
        }
        let reservations: Vec<Value> = net
            .hosts
            .iter()
            .filter(|h| sub.cidr.contains(&h.ip_address))
            .map(|h| {
                let name: String = h
                    .hostname
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .take(63)
                    .collect();
                json!({
                    "hw-address": h.mac_address.to_ascii_lowercase(),
                    "ip-address": h.ip_address.to_string(),
                    "hostname": name,
                })
            })
            .collect();
        subnets.push(json!({
            "id": i + 1,
            "subnet": sub.cidr.to_string(),
            "pools": [],
            "option-data": options,
            "reservations": reservations,
        }));
    }
    json!({
        "Dhcp4": {
            "interfaces-config": {"interfaces": [iface], "dhcp-socket-type": "raw"},
            "lease-database": {
                "type": "memfile",
                "persist": true,
                "lfc-interval": 0,
                "name": dir.join("kea-leases4.csv").display().to_string(),
            },
            "authoritative": true,
            "valid-lifetime": lease_seconds,
            "host-reservation-identifiers": ["hw-address"],
            "subnet4": subnets,
            "loggers": [{
                "name": "kea-dhcp4",
                "output_options": [{"output": dir.join("kea.log").display().to_string()}],
                "severity": "INFO",
            }],
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrostack_core::id::{NetworkId, SubnetId};
    use ferrostack_network::backend::{DhcpHost, DhcpSubnet};

    #[test]
    fn reservations_and_options_land_in_their_subnet() {
        let net = DhcpNetwork {
            network_id: NetworkId::new(),
            subnets: vec![DhcpSubnet {
                id: SubnetId::new(),
                cidr: "10.0.0.0/24".parse().unwrap(),
                gateway: Some("10.0.0.1".parse().unwrap()),
                dns_nameservers: vec!["10.0.0.2".parse().unwrap()],
                host_routes: vec![],
            }],
            hosts: vec![DhcpHost {
                mac_address: "FA:16:3E:00:00:03".into(),
                ip_address: "10.0.0.5".parse().unwrap(),
                hostname: "host-10-0-0-5".into(),
            }],
        };
        let c = config(&net, "eth9", Path::new("/x"), 600);
        let s = &c["Dhcp4"]["subnet4"][0];
        assert_eq!(s["subnet"], "10.0.0.0/24");
        assert_eq!(s["reservations"][0]["hw-address"], "fa:16:3e:00:00:03");
        assert_eq!(s["reservations"][0]["ip-address"], "10.0.0.5");
        assert_eq!(s["option-data"][0]["data"], "10.0.0.1");
        assert_eq!(c["Dhcp4"]["interfaces-config"]["interfaces"][0], "eth9");
    }
}
