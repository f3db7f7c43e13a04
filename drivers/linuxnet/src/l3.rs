// SPDX-License-Identifier: Apache-2.0
//! Routers: one network namespace per router (`<prefix>-router-<id>`), legs as veth pairs
//! whose host ends are ports of the networks' bridges, addresses and routes over rtnetlink
//! opened inside the namespace, and NAT as one nftables table per router (`ip <prefix>_nat`)
//! replaced atomically on every sync: SNAT of the internal subnets to the gateway address,
//! and per floating IP a DNAT (inbound and locally generated) plus a SNAT (outbound).

use crate::driver::LinuxNet;
use crate::error::LinuxNetError;
use crate::names::{self, Role};
use crate::netlink::Netlink;
use ferrostack_core::id::{NetworkId, RouterId};
use ferrostack_network::backend::{BackendError, L3Backend, RouterSpec};
use ferrostack_network::cidr::IpVersion;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;

/// The NAT table of a router (the whole `nft -f` transaction replacing it).
pub fn nat_table(prefix: &str, spec: &RouterSpec, gateway_dev: &str) -> String {
    let t = format!("{prefix}_nat");
    let mut s = format!("table ip {t} {{}}\ndelete table ip {t}\n");
    let Some(gw) = &spec.gateway else { return s };
    let IpAddr::V4(gw_addr) = gw.address else { return s };
    let _ = writeln!(s, "table ip {t} {{");
    let _ = writeln!(s, "  chain pre {{ type nat hook prerouting priority dstnat; policy accept;");
    for f in &spec.floating_ips {
        if let (IpAddr::V4(fip), IpAddr::V4(fixed)) = (f.floating_ip, f.fixed_ip) {
            let _ = writeln!(s, "    ip daddr {fip} dnat to {fixed}");
        }
    }
    let _ = writeln!(s, "  }}\n  chain out {{ type nat hook output priority -100; policy accept;");
    for f in &spec.floating_ips {
        if let (IpAddr::V4(fip), IpAddr::V4(fixed)) = (f.floating_ip, f.fixed_ip) {
            let _ = writeln!(s, "    ip daddr {fip} dnat to {fixed}");
        }
    }
    let _ = writeln!(
        s,
        "  }}\n  chain post {{ type nat hook postrouting priority srcnat; policy accept;"
    );
    for f in &spec.floating_ips {
        if let (IpAddr::V4(fip), IpAddr::V4(fixed)) = (f.floating_ip, f.fixed_ip) {
            let _ = writeln!(s, "    ip saddr {fixed} oifname \"{gateway_dev}\" snat to {fip}");
        }
    }
    if gw.enable_snat {
        let internal: Vec<String> = spec
            .interfaces
            .iter()
            .filter(|i| i.cidr.version() == IpVersion::V4)
            .map(|i| i.cidr.to_string())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !internal.is_empty() {
            let _ = writeln!(
                s,
                "    ip saddr {{ {} }} oifname \"{gateway_dev}\" snat to {gw_addr}",
                internal.join(", ")
            );
        }
    }
    let _ = writeln!(s, "  }}\n}}");
    s
}

/// A router leg: host-side name, network, addresses (with prefix lengths).
type Leg = (String, NetworkId, Vec<(IpAddr, u8)>);

impl LinuxNet {
    pub(crate) async fn do_sync_router(&self, spec: &RouterSpec) -> Result<(), LinuxNetError> {
        let p = self.cfg.prefix.clone();
        let ns = names::router_ns(&p, spec.id);
        // ns-side leg name -> (host-side name, network, addresses)
        let mut want: BTreeMap<String, Leg> = BTreeMap::new();
        for i in &spec.interfaces {
            if IpVersion::of(&i.address) != i.cidr.version() || !i.cidr.contains(&i.address) {
                return Err(LinuxNetError::Invalid(format!(
                    "interface address {} outside {}",
                    i.address, i.cidr
                )));
            }
            let e =
                want.entry(names::port_dev(&p, Role::RouterPort, i.port_id)).or_insert_with(|| {
                    (names::port_dev(&p, Role::RouterPortHost, i.port_id), i.network_id, Vec::new())
                });
            e.2.push((i.address, i.cidr.prefix_len()));
        }
        let gw_dev = names::router_dev(&p, Role::Gateway, spec.id);
        if let Some(gw) = &spec.gateway {
            if IpVersion::of(&gw.address) != gw.cidr.version() {
                return Err(LinuxNetError::Invalid(format!(
                    "gateway {} outside {}",
                    gw.address, gw.cidr
                )));
            }
            let mut addrs = vec![(gw.address, gw.cidr.prefix_len())];
            for f in &spec.floating_ips {
                let bits = IpVersion::of(&f.floating_ip).bits();
                if !addrs.contains(&(f.floating_ip, bits)) {
                    addrs.push((f.floating_ip, bits));
                }
            }
            want.insert(
                gw_dev.clone(),
                (names::router_dev(&p, Role::GatewayHost, spec.id), gw.network_id, addrs),
            );
        }
        let mut st = self.lock().await;
        self.ensure_netns(&ns).await?;
        let forward = if spec.admin_state_up { "1" } else { "0" };
        self.sysctl(Some(&ns), "net.ipv4.ip_forward", forward).await?;
        let inner = Netlink::open(Some(&ns)).await?;
        let nl = self.host(&mut st).await?;
        // Legs no longer wanted.
        for l in inner.links().await? {
            let ours = l.name.starts_with(&format!("{p}r")) || l.name.starts_with(&format!("{p}g"));
            if ours && !want.contains_key(&l.name) {
                inner.delete(&l.name).await?;
            }
        }
        for (name, (host_end, network, addrs)) in &want {
            if inner.link(name).await?.is_none() {
                nl.delete(host_end).await?;
                nl.ensure_veth(host_end, name).await?;
                let l =
                    nl.link(name).await?.ok_or_else(|| LinuxNetError::NotFound(name.clone()))?;
                nl.move_to(l.index, &ns).await?;
            }
            self.attach_leg(&mut st, &nl, *network, host_end).await?;
            let mtu = st.networks.get(network).map(|n| n.spec.mtu);
            let l = inner.up(name, mtu).await?;
            inner.converge_addresses(l.index, addrs).await?;
        }
        // Routes: drop what the previous spec had and this one has not, then (re)place.
        let mut routes: Vec<(IpAddr, u8, IpAddr)> = spec
            .routes
            .iter()
            .map(|r| (r.destination.network(), r.destination.prefix_len(), r.nexthop))
            .collect();
        if let Some(gw) = &spec.gateway
            && let Some(nh) = gw.next_hop
        {
            let any = match nh {
                IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
            };
            routes.push((any, 0, nh));
        }
        if let Some(old) = st.routers.get(&spec.id) {
            let mut old_routes: Vec<(IpAddr, u8)> = old
                .routes
                .iter()
                .map(|r| (r.destination.network(), r.destination.prefix_len()))
                .collect();
            if old.gateway.as_ref().is_some_and(|g| g.next_hop.is_some()) {
                old_routes.push((IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0));
            }
            for (d, len) in old_routes {
                if !routes.iter().any(|(rd, rl, _)| *rd == d && *rl == len) {
                    inner.delete_route(d, len).await?;
                }
            }
        }
        for (d, len, nh) in &routes {
            inner.replace_route(*d, *len, *nh).await?;
        }
        let nat = nat_table(&p, spec, &gw_dev);
        self.runner
            .run(&Self::in_ns(Some(&ns), "nft", &["-f", "-"]).stdin(nat.into_bytes()))
            .await?;
        st.routers.insert(spec.id, spec.clone());
        Ok(())
    }

    pub(crate) async fn do_remove_router(&self, id: RouterId) -> Result<(), LinuxNetError> {
        let mut st = self.lock().await;
        // Deleting the namespace deletes the legs, and with them their bridge ends.
        self.delete_netns(&names::router_ns(&self.cfg.prefix, id)).await?;
        if let Some(old) = st.routers.remove(&id) {
            let p = &self.cfg.prefix;
            let mut hosts: Vec<String> = old
                .interfaces
                .iter()
                .map(|i| names::port_dev(p, Role::RouterPortHost, i.port_id))
                .collect();
            hosts.push(names::router_dev(p, Role::GatewayHost, id));
            for legs in st.pending_legs.values_mut() {
                legs.retain(|l| !hosts.contains(l));
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl L3Backend for LinuxNet {
    fn name(&self) -> &'static str {
        "linuxnet-netns"
    }
    async fn sync_router(&self, router: &RouterSpec) -> Result<(), BackendError> {
        Ok(self.do_sync_router(router).await?)
    }
    async fn remove_router(&self, id: RouterId) -> Result<(), BackendError> {
        Ok(self.do_remove_router(id).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrostack_core::id::{PortId, SubnetId};
    use ferrostack_network::backend::{FloatingIpNat, GatewaySpec, InterfaceSpec};

    #[test]
    fn nat_has_snat_for_subnets_and_a_pair_per_floating_ip() {
        let spec = RouterSpec {
            id: RouterId::new(),
            admin_state_up: true,
            gateway: Some(GatewaySpec {
                network_id: NetworkId::new(),
                address: "198.18.0.1".parse().unwrap(),
                cidr: "198.18.0.0/24".parse().unwrap(),
                next_hop: None,
                enable_snat: true,
            }),
            interfaces: vec![InterfaceSpec {
                port_id: PortId::new(),
                network_id: NetworkId::new(),
                subnet_id: SubnetId::new(),
                address: "10.0.0.1".parse().unwrap(),
                cidr: "10.0.0.0/24".parse().unwrap(),
            }],
            routes: vec![],
            floating_ips: vec![FloatingIpNat {
                floating_ip: "198.18.0.50".parse().unwrap(),
                fixed_ip: "10.0.0.11".parse().unwrap(),
            }],
        };
        let t = nat_table("fs", &spec, "fsg0");
        assert!(t.contains("ip daddr 198.18.0.50 dnat to 10.0.0.11"), "{t}");
        assert!(t.contains("ip saddr 10.0.0.11 oifname \"fsg0\" snat to 198.18.0.50"));
        assert!(t.contains("ip saddr { 10.0.0.0/24 } oifname \"fsg0\" snat to 198.18.0.1"));
        // The floating IP's SNAT comes before the subnet's.
        assert!(t.find("snat to 198.18.0.50").unwrap() < t.find("snat to 198.18.0.1").unwrap());
        let mut no_gw = spec.clone();
        no_gw.gateway = None;
        assert!(!nat_table("fs", &no_gw, "g").contains("dnat"), "no gateway, no NAT");
    }
}
