// SPDX-License-Identifier: Apache-2.0
//! Data-plane sync: the desired state for a restarted data plane, and the per-change pushes
//! to the firewall, DHCP and L3 backends.

use super::{NetworkService, values, values_where};
use crate::backend::*;
use crate::cidr::Cidr;
use crate::error::{NetworkError, Result};
use crate::secgroup::compile;
use crate::types::*;
use ferrostack_core::id::{NetworkId, RouterId, SubnetId};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

/// The L2 view of a network the backends need.
pub(super) fn network_spec(net: &Network) -> NetworkSpec {
    NetworkSpec { id: net.id, segment: net.segment(), mtu: net.mtu }
}

/// A port's firewall: its addresses (fixed IPs and allowed address pairs) as permitted
/// sources and its groups' `rules` compiled with remote-group `members` resolved.
pub(super) fn firewall_port(
    p: &Port,
    rules: &[SecurityGroupRule],
    members: &HashMap<SecurityGroupId, Vec<IpAddr>>,
    stateful: bool,
) -> FirewallPort {
    let mut sources: Vec<Cidr> = p.fixed_ips.iter().map(|f| Cidr::host(f.ip_address)).collect();
    sources.extend(
        p.allowed_address_pairs.iter().filter_map(|a| Cidr::parse_loose(&a.ip_address).ok()),
    );
    FirewallPort {
        port_id: p.id,
        mac_address: p.mac_address.clone(),
        allowed_sources: sources,
        rules: compile(rules, members, stateful, p.port_security_enabled),
    }
}

/// The rules of `p`'s security groups, and whether all those groups are stateful.
fn port_groups(
    p: &Port,
    rules: &[SecurityGroupRule],
    sgs: &HashMap<SecurityGroupId, SecurityGroup>,
) -> (Vec<SecurityGroupRule>, bool) {
    let port_rules = rules
        .iter()
        .filter(|r| p.security_groups.contains(&r.security_group_id))
        .cloned()
        .collect();
    let stateful = p.security_groups.iter().all(|g| sgs.get(g).is_none_or(|s| s.stateful));
    (port_rules, stateful)
}

impl NetworkService {
    /// Everything the data plane should hold, computed from the Store: every network, every
    /// port bound to a host (only those bound to `host` when one is given) with its firewall,
    /// every router, and the DHCP configuration of every network with a DHCP-enabled subnet.
    ///
    /// Backends converge per call, so a running service keeps them current by itself; this is
    /// for a restarted data plane: hand it to a driver's reconcile (the Linux data plane's
    /// `LinuxNet::reconcile`) to adopt what exists, create what is missing and remove what
    /// nothing wants any more.
    ///
    /// # Errors
    ///
    /// A failing Store.
    pub async fn desired_state(&self, host: Option<&str>) -> Result<DesiredState> {
        let networks: Vec<Network> = values(&self.networks).await?;
        let ports: Vec<Port> = values(&self.ports).await?;
        let rules: Vec<SecurityGroupRule> = values(&self.rules).await?;
        let sgs: HashMap<SecurityGroupId, SecurityGroup> =
            values(&self.sgs).await?.into_iter().map(|g| (g.id, g)).collect();
        let specs: HashMap<NetworkId, NetworkSpec> =
            networks.iter().map(|n| (n.id, network_spec(n))).collect();
        let mut members: HashMap<SecurityGroupId, Vec<IpAddr>> = HashMap::new();
        for p in &ports {
            for g in &p.security_groups {
                members.entry(*g).or_default().extend(p.fixed_ips.iter().map(|f| f.ip_address));
            }
        }
        let mut desired =
            DesiredState { networks: specs.values().cloned().collect(), ..DesiredState::default() };
        desired.networks.sort_by_key(|n| n.id);
        let on_host = |p: &Port| match host {
            Some(h) => p.binding_host_id == h,
            None => true,
        };
        for p in ports.iter().filter(|p| on_host(p)) {
            if !p.binding_host_id.is_empty()
                && let Some(spec) = specs.get(&p.network_id)
            {
                desired.ports.push(PortBinding {
                    port_id: p.id,
                    network: spec.clone(),
                    mac_address: p.mac_address.clone(),
                    host: p.binding_host_id.clone(),
                    vnic_type: p.binding_vnic_type.clone(),
                });
            }
            if p.device_owner.starts_with("network:") {
                // Router, floating-IP and DHCP ports are the data plane's own: not filtered.
                continue;
            }
            let (port_rules, stateful) = port_groups(p, &rules, &sgs);
            desired.firewalls.push(firewall_port(p, &port_rules, &members, stateful));
        }
        for r in self.routers.list_all().await? {
            desired.routers.push(self.router_spec(&r.value).await?);
        }
        desired.routers.sort_by_key(|r| r.id);
        for n in &networks {
            let dhcp = self.dhcp_spec(n).await?;
            if !dhcp.subnets.is_empty() {
                desired.dhcp.push(dhcp);
            }
        }
        desired.dhcp.sort_by_key(|d| d.network_id);
        Ok(desired)
    }

    /// Recomputes and applies the firewall of every port affected by a change of `groups`
    /// (ports in the groups, and ports whose rules name them as remote groups).
    pub(super) async fn refresh_firewalls(&self, groups: &[SecurityGroupId]) {
        if let Err(e) = self.refresh_firewalls_inner(groups).await {
            tracing::warn!(error = %e, "firewall refresh failed");
        }
    }

    pub(super) async fn refresh_firewalls_inner(&self, groups: &[SecurityGroupId]) -> Result<()> {
        let ports: Vec<Port> = values(&self.ports).await?;
        let rules: Vec<SecurityGroupRule> = values(&self.rules).await?;
        let sgs: HashMap<SecurityGroupId, SecurityGroup> =
            values(&self.sgs).await?.into_iter().map(|g| (g.id, g)).collect();
        let mut affected: HashSet<SecurityGroupId> = groups.iter().copied().collect();
        for r in &rules {
            if r.remote_group_id.is_some_and(|g| groups.contains(&g)) {
                affected.insert(r.security_group_id);
            }
        }
        let mut members: HashMap<SecurityGroupId, Vec<IpAddr>> = HashMap::new();
        for p in &ports {
            for g in &p.security_groups {
                members.entry(*g).or_default().extend(p.fixed_ips.iter().map(|f| f.ip_address));
            }
        }
        for p in ports.iter().filter(|p| p.security_groups.iter().any(|g| affected.contains(g))) {
            let (port_rules, stateful) = port_groups(p, &rules, &sgs);
            self.apply_firewall(p, &port_rules, &members, stateful).await;
        }
        Ok(())
    }

    pub(super) async fn apply_firewall(
        &self,
        p: &Port,
        rules: &[SecurityGroupRule],
        members: &HashMap<SecurityGroupId, Vec<IpAddr>>,
        stateful: bool,
    ) {
        let fw = firewall_port(p, rules, members, stateful);
        if let Err(e) = self.backends.firewall.apply_port(&fw).await {
            tracing::warn!(port = %p.id, error = %e, "firewall apply failed");
        }
    }

    pub(super) async fn refresh_port_firewall(&self, p: &Port) {
        if p.security_groups.is_empty() || !p.port_security_enabled {
            // No groups: drop everything (or accept everything without port security).
            self.apply_firewall(p, &[], &HashMap::new(), true).await;
        }
        self.refresh_firewalls(&p.security_groups.clone()).await;
    }

    /// The DHCP configuration of `net`: its DHCP-enabled subnets and one host entry per fixed
    /// address on them.
    pub(super) async fn dhcp_spec(&self, net: &Network) -> Result<DhcpNetwork> {
        let subnets: Vec<Subnet> = self
            .network_subnets(net)
            .await?
            .into_iter()
            .map(|s| s.value)
            .filter(|s| s.enable_dhcp)
            .collect();
        let ids: HashSet<SubnetId> = subnets.iter().map(|s| s.id).collect();
        let mut hosts: Vec<DhcpHost> = Vec::new();
        for p in values_where(&self.ports, |p| p.network_id == net.id).await? {
            for f in p.fixed_ips.iter().filter(|f| ids.contains(&f.subnet_id)) {
                hosts.push(DhcpHost {
                    mac_address: p.mac_address.clone(),
                    ip_address: f.ip_address,
                    hostname: format!("host-{}", f.ip_address.to_string().replace(['.', ':'], "-")),
                });
            }
        }
        hosts.sort();
        Ok(DhcpNetwork {
            network_id: net.id,
            subnets: subnets
                .iter()
                .map(|s| DhcpSubnet {
                    id: s.id,
                    cidr: s.cidr,
                    gateway: s.gateway_ip,
                    dns_nameservers: s.dns_nameservers.clone(),
                    host_routes: s.host_routes.clone(),
                })
                .collect(),
            hosts,
        })
    }

    pub(super) async fn sync_dhcp(&self, net: NetworkId) {
        let result: Result<()> = async {
            let Some(n) = self.networks.get(&net.to_string()).await? else {
                let _ = self.backends.dhcp.remove_network(net).await;
                return Ok(());
            };
            let spec = self.dhcp_spec(&n.value).await?;
            self.backends.dhcp.sync_network(&spec).await.map_err(backend_failed("dhcp"))
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(network = %net, error = %e, "dhcp sync failed");
        }
    }

    pub(super) async fn router_spec(&self, r: &Router) -> Result<RouterSpec> {
        let ports: Vec<Port> =
            values_where(&self.ports, |p| p.device_id == r.id.to_string()).await?;
        let mut gateway = None;
        if let Some(gw) = &r.external_gateway_info
            && let Some(f) = gw.external_fixed_ips.first()
            && let Some(s) = self.subnets.get(&f.subnet_id.to_string()).await?
        {
            gateway = Some(GatewaySpec {
                network_id: gw.network_id,
                address: f.ip_address,
                cidr: s.value.cidr,
                next_hop: s.value.gateway_ip,
                enable_snat: gw.enable_snat,
            });
        }
        let mut interfaces = Vec::new();
        for p in ports.iter().filter(|p| p.device_owner == "network:router_interface") {
            for f in &p.fixed_ips {
                if let Some(s) = self.subnets.get(&f.subnet_id.to_string()).await? {
                    interfaces.push(InterfaceSpec {
                        port_id: p.id,
                        network_id: p.network_id,
                        subnet_id: f.subnet_id,
                        address: f.ip_address,
                        cidr: s.value.cidr,
                    });
                }
            }
        }
        interfaces.sort_by_key(|i| i.port_id);
        let mut floating_ips: Vec<FloatingIpNat> =
            values_where(&self.fips, |f| f.router_id == Some(r.id))
                .await?
                .into_iter()
                .filter_map(|f| {
                    Some(FloatingIpNat {
                        floating_ip: f.floating_ip_address,
                        fixed_ip: f.fixed_ip_address?,
                    })
                })
                .collect();
        floating_ips.sort_by_key(|f| f.floating_ip);
        Ok(RouterSpec {
            id: r.id,
            admin_state_up: r.admin_state_up,
            gateway,
            interfaces,
            routes: r.routes.clone(),
            floating_ips,
        })
    }

    pub(super) async fn sync_router(&self, id: RouterId) {
        let result: Result<()> = async {
            match self.routers.get(&id.to_string()).await? {
                Some(r) => {
                    let spec = self.router_spec(&r.value).await?;
                    self.backends.l3.sync_router(&spec).await
                }
                None => self.backends.l3.remove_router(id).await,
            }
            .map_err(backend_failed("l3"))
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(router = %id, error = %e, "router sync failed");
        }
    }

    /// Re-syncs DHCP on the external networks of `routers`' gateways: a gateway port is a
    /// host entry there like any other port.
    pub(super) async fn sync_gateway_dhcp(&self, routers: &[&Router]) {
        let mut nets: Vec<NetworkId> = routers
            .iter()
            .filter_map(|r| r.external_gateway_info.as_ref().map(|g| g.network_id))
            .collect();
        nets.sort();
        nets.dedup();
        for n in nets {
            self.sync_dhcp(n).await;
        }
    }
}

/// [`NetworkError::Backend`] for a failure of the `backend` data-plane backend.
fn backend_failed(backend: &'static str) -> impl FnOnce(BackendError) -> NetworkError {
    move |e| NetworkError::Backend { backend, kind: e.kind, source: Box::new(e) }
}
