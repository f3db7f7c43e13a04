// SPDX-License-Identifier: Apache-2.0
//! Ports: MAC allocation, the port plan (document, MAC and address reservations), binding,
//! allowed address pairs, security group resolution, and create, get, list, update, delete.

use super::sync::network_spec;
use super::{
    NetworkService, Plan, Tag, check_len, ipam_key, mac_key, networks_by_id, now, owner_for, owns,
    target, values_where,
};
use crate::backend::*;
use crate::cidr::Cidr;
use crate::error::{NetworkError, Result};
use crate::policy::authorize;
use crate::types::*;
use ferrostack_core::RequestContext;
use ferrostack_core::id::{NetworkId, PortId, ProjectId, RouterId};
use ferrostack_core::store::retry::retry_txn;
use ferrostack_core::store::{Condition, Op, StoreExt, Versioned};
use serde_json::{Map, json};
use std::collections::{HashMap, HashSet};

/// Parses and normalises a MAC address (`fa:16:3e:aa:bb:cc`); refuses multicast and zero.
pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let bad = || {
        NetworkError::invalid(format!(
            "'{}' is not a valid MAC address",
            ferrostack_core::id::truncate_for_message(s)
        ))
    };
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut out = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        if p.len() != 2 {
            return Err(bad());
        }
        out[i] = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if out[0] & 1 == 1 || out == [0; 6] {
        return Err(bad());
    }
    Ok(out)
}

pub(super) fn mac_string(m: &[u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

impl NetworkService {
    pub(super) fn random_mac(&self) -> [u8; 6] {
        let b = self.config.base_mac;
        let r: [u8; 3] = rand::random();
        [b[0], b[1], b[2], r[0], r[1], r[2]]
    }

    /// Everything a new port needs, in `plan`: the document, MAC and IP reservations, and the
    /// conditions on the network, subnets and security groups it read.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn plan_port(
        &self,
        plan: &mut Plan,
        ctx: &RequestContext,
        net: &Versioned<Network>,
        project: &ProjectId,
        req: &PortCreate,
        security_groups: Vec<SecurityGroupId>,
        count_quota: bool,
    ) -> Result<Port> {
        let id = PortId::new();
        plan.when(self.networks.unchanged(&net.id, net.revision), Tag::Retry);
        let subnets = self.network_subnets(&net.value).await?;
        for s in &subnets {
            if s.value.deleting {
                return Err(NetworkError::not_found("subnet", s.value.id));
            }
            plan.when(self.subnets.unchanged(&s.id, s.revision), Tag::Retry);
        }
        let (mac, mac_tag) = match &req.mac_address {
            Some(m) => {
                let parsed = parse_mac(m)?;
                (parsed, Tag::MacInUse(mac_string(&parsed), net.value.id))
            }
            None => (self.random_mac(), Tag::Retry),
        };
        let mac_s = mac_string(&mac);
        plan.when(Condition::absent(mac_key(&net.value.id, &mac_s)), mac_tag);
        plan.op(Op::Put {
            key: mac_key(&net.value.id, &mac_s),
            value: id.to_string().into_bytes(),
        });
        let net_owner_ok = owns(ctx, &net.value.project_id);
        let fixed_ips = self
            .plan_fixed_ips(
                plan,
                ctx,
                &net.value,
                &subnets,
                req.fixed_ips.as_deref(),
                &mac,
                &format!("port:{id}"),
                net_owner_ok,
            )
            .await?;
        for g in &security_groups {
            let sg = self
                .sgs
                .get(&g.to_string())
                .await?
                .ok_or_else(|| NetworkError::not_found("security_group", g))?;
            plan.when(self.sgs.unchanged(&sg.id, sg.revision), Tag::Retry);
        }
        if count_quota {
            self.usage(plan, project, Resource::Port, 1, true).await?;
        }
        let t = now();
        let port = Port {
            id,
            name: req.name.clone().unwrap_or_default(),
            description: req.description.clone().unwrap_or_default(),
            network_id: net.value.id,
            project_id: project.clone(),
            tenant_id: project.clone(),
            mac_address: mac_s,
            fixed_ips,
            device_id: req.device_id.clone().unwrap_or_default(),
            device_owner: req.device_owner.clone().unwrap_or_default(),
            admin_state_up: req.admin_state_up,
            status: "DOWN".into(),
            security_groups,
            port_security_enabled: req
                .port_security_enabled
                .unwrap_or(net.value.port_security_enabled),
            allowed_address_pairs: req.allowed_address_pairs.clone().unwrap_or_default(),
            binding_host_id: String::new(),
            binding_vif_type: "unbound".into(),
            binding_vif_details: Map::new(),
            binding_vnic_type: req.binding_vnic_type.clone().unwrap_or_else(|| "normal".into()),
            binding_profile: req.binding_profile.clone().unwrap_or_default(),
            extra_dhcp_opts: Vec::new(),
            tags: Vec::new(),
            created_at: t.clone(),
            updated_at: t,
            revision_number: 1,
        };
        plan.put(self.ports.key(&id.to_string()), &port)?;
        Ok(port)
    }

    /// Plans the removal of a port: document, addresses, MAC, usage, floating IP
    /// associations.
    pub(super) async fn plan_port_delete(
        &self,
        plan: &mut Plan,
        port: &Versioned<Port>,
        count_quota: bool,
    ) -> Result<Vec<RouterId>> {
        let p = &port.value;
        plan.when(self.ports.unchanged(&port.id, port.revision), Tag::Retry);
        plan.op(self.ports.delete_op(&port.id));
        for f in &p.fixed_ips {
            plan.del(ipam_key(&f.subnet_id, &f.ip_address));
        }
        plan.del(mac_key(&p.network_id, &p.mac_address));
        if count_quota {
            self.usage(plan, &p.project_id, Resource::Port, -1, false).await?;
        }
        let mut routers = Vec::new();
        let prefix = format!("network/fip-assoc/{}/", p.id);
        for kv in self.store.list_all(&prefix).await? {
            plan.when(Condition::mod_revision(&kv.key, kv.mod_revision), Tag::Retry);
            plan.del(kv.key.clone());
            let fid = String::from_utf8_lossy(&kv.value).to_string();
            if let Some(mut f) = self.fips.get(&fid).await? {
                plan.when(self.fips.unchanged(&f.id, f.revision), Tag::Retry);
                if let Some(r) = f.value.router_id {
                    routers.push(r);
                }
                f.value.port_id = None;
                f.value.fixed_ip_address = None;
                f.value.router_id = None;
                f.value.status = "DOWN".into();
                f.value.revision_number += 1;
                f.value.updated_at = now();
                plan.op(self.fips.put_op(&f.id, &f.value)?);
            }
        }
        Ok(routers)
    }

    /// Binds a port to `host` through the L2 backend and records the VIF details (or
    /// `binding_failed`).
    pub(super) async fn bind_port(&self, port: PortId, host: String) -> Result<Port> {
        let current = self.ports.require(&port.to_string()).await?;
        let net = self.networks.require(&current.value.network_id.to_string()).await?;
        let (vif_type, details) = if host.is_empty() {
            let _ = self.backends.l2.unplug_port(port).await;
            ("unbound".to_string(), Map::new())
        } else {
            let spec = network_spec(&net.value);
            let _ = self.backends.l2.ensure_network(&spec).await;
            let binding = PortBinding {
                port_id: port,
                network: spec,
                mac_address: current.value.mac_address.clone(),
                host: host.clone(),
                vnic_type: current.value.binding_vnic_type.clone(),
            };
            match self.backends.l2.plug_port(&binding).await {
                Ok(v) => (v.vif_type, v.details),
                Err(e) => {
                    tracing::warn!(port = %port, error = %e, "binding failed");
                    ("binding_failed".to_string(), Map::new())
                }
            }
        };
        let updated = self
            .ports
            .update_with::<NetworkError, _>(&port.to_string(), |p| {
                p.binding_host_id = host.clone();
                p.binding_vif_type = vif_type.clone();
                p.binding_vif_details = details.clone();
                p.status = if vif_type == "unbound" || vif_type == "binding_failed" {
                    "DOWN"
                } else {
                    "ACTIVE"
                }
                .into();
                p.revision_number += 1;
                p.updated_at = now();
                Ok(())
            })
            .await?;
        Ok(updated.value)
    }

    pub(super) fn validate_pairs(pairs: &[AddressPair]) -> Result<()> {
        for a in pairs {
            Cidr::parse_loose(&a.ip_address).map_err(|e| NetworkError::malformed(None, e))?;
            if let Some(m) = &a.mac_address {
                parse_mac(m)?;
            }
        }
        Ok(())
    }

    pub(super) async fn resolve_port_groups(
        &self,
        ctx: &RequestContext,
        project: &ProjectId,
        requested: Option<&[SecurityGroupId]>,
        port_security: bool,
        device_owner: &str,
    ) -> Result<Vec<SecurityGroupId>> {
        let groups = match requested {
            Some(g) => {
                let mut out = Vec::new();
                for id in g {
                    let sg = self.sgs.get(&id.to_string()).await?;
                    match sg {
                        Some(sg)
                            if owns(ctx, &sg.value.project_id)
                                || &sg.value.project_id == project =>
                        {
                            if !out.contains(id) {
                                out.push(*id)
                            }
                        }
                        _ => return Err(NetworkError::not_found("security_group", id)),
                    }
                }
                out
            }
            None if port_security && !device_owner.starts_with("network:") => {
                vec![self.ensure_default_sg(project).await?]
            }
            None => Vec::new(),
        };
        if !port_security && !groups.is_empty() {
            return Err(NetworkError::conflict(
                "PortSecurityAndIPRequiredForSecurityGroups",
                "Port security must be enabled and port must have an IP address in order to use security groups.",
            ));
        }
        Ok(groups)
    }
}

pub(super) async fn create_port(
    svc: &NetworkService,
    ctx: &RequestContext,
    req: PortCreate,
) -> Result<Port> {
    authorize("create_port", ctx, &json!({}))?;
    let net0 = svc.visible_network(ctx, &req.network_id).await?;
    let project = owner_for(ctx, &req.project_id, &req.tenant_id)?;
    // Ports on another project's network are allowed only when it is shared.
    if !net0.value.shared && !owns(ctx, &net0.value.project_id) {
        return Err(NetworkError::not_found("network", req.network_id));
    }
    if req.binding_host_id.is_some() || req.binding_profile.is_some() {
        authorize("create_port:binding", ctx, &target(&project))?;
    }
    if req.mac_address.is_some() {
        authorize("create_port:mac_address", ctx, &target(&net0.value.project_id))?;
    }
    if req.extra_dhcp_opts.as_ref().is_some_and(|o| !o.is_empty()) {
        return Err(NetworkError::invalid("extra_dhcp_opts are not supported"));
    }
    check_len("name", req.name.as_deref().unwrap_or(""), 255)?;
    check_len("device_id", req.device_id.as_deref().unwrap_or(""), 255)?;
    check_len("device_owner", req.device_owner.as_deref().unwrap_or(""), 255)?;
    let port_security = req.port_security_enabled.unwrap_or(net0.value.port_security_enabled);
    let pairs = req.allowed_address_pairs.clone().unwrap_or_default();
    NetworkService::validate_pairs(&pairs)?;
    if !port_security && !pairs.is_empty() {
        return Err(NetworkError::conflict(
            "AddressPairAndPortSecurityRequired",
            "Port Security must be enabled in order to have allowed address pairs on a port.",
        ));
    }
    let owner = req.device_owner.clone().unwrap_or_default();
    let groups = svc
        .resolve_port_groups(ctx, &project, req.security_groups.as_deref(), port_security, &owner)
        .await?;
    let mut stateful = HashSet::new();
    for g in &groups {
        if let Some(sg) = svc.sgs.get(&g.to_string()).await? {
            stateful.insert(sg.value.stateful);
        }
    }
    if stateful.len() > 1 {
        return Err(NetworkError::invalid(
            "Cannot apply both stateful and stateless security groups on the same port at the same time",
        ));
    }
    retry_txn("a new port", || async {
        let net = svc.visible_network(ctx, &req.network_id).await?;
        let mut plan = Plan::default();
        let port =
            svc.plan_port(&mut plan, ctx, &net, &project, &req, groups.clone(), true).await?;
        if svc.run(plan).await? {
            let port = match &req.binding_host_id {
                Some(h) if !h.is_empty() => svc.bind_port(port.id, h.clone()).await?,
                _ => port,
            };
            svc.sync_dhcp(port.network_id).await;
            svc.refresh_port_firewall(&port).await;
            return Ok(Some(port));
        }
        Ok(None)
    })
    .await
}

pub(super) async fn get_port(
    svc: &NetworkService,
    ctx: &RequestContext,
    id: PortId,
) -> Result<Port> {
    Ok(svc.visible_port(ctx, &id).await?.value)
}

pub(super) async fn list_ports(svc: &NetworkService, ctx: &RequestContext) -> Result<Vec<Port>> {
    let nets: HashMap<NetworkId, Network> = networks_by_id(svc).await?;
    values_where(&svc.ports, |p| {
        owns(ctx, &p.project_id)
            || nets.get(&p.network_id).is_some_and(|n| owns(ctx, &n.project_id))
    })
    .await
}

pub(super) async fn update_port(
    svc: &NetworkService,
    ctx: &RequestContext,
    id: PortId,
    req: PortUpdate,
) -> Result<Port> {
    let cur = svc.visible_port(ctx, &id).await?;
    authorize("update_port", ctx, &target(&cur.value.project_id))?;
    if req.binding_host_id.is_some() || req.binding_profile.is_some() {
        authorize("update_port:binding", ctx, &target(&cur.value.project_id))?;
    }
    if let Some(p) = &req.allowed_address_pairs {
        NetworkService::validate_pairs(p)?;
    }
    let port_security = req.port_security_enabled.unwrap_or(cur.value.port_security_enabled);
    let groups = match &req.security_groups {
        Some(g) => Some(
            svc.resolve_port_groups(
                ctx,
                &cur.value.project_id,
                Some(g),
                port_security,
                &cur.value.device_owner,
            )
            .await?,
        ),
        None if !port_security && !cur.value.security_groups.is_empty() => {
            return Err(NetworkError::conflict(
                "PortSecurityPortHasSecurityGroup",
                "Port has security group associated. Cannot disable port security or ip address until security group is removed",
            ));
        }
        None => None,
    };
    let pairs = req
        .allowed_address_pairs
        .clone()
        .unwrap_or_else(|| cur.value.allowed_address_pairs.clone());
    if !port_security && !pairs.is_empty() {
        return Err(NetworkError::conflict(
            "AddressPairAndPortSecurityRequired",
            "Port Security must be enabled in order to have allowed address pairs on a port.",
        ));
    }
    let old_groups = cur.value.security_groups.clone();
    retry_txn(&format!("port {id}"), || async {
        let cur = svc.visible_port(ctx, &id).await?;
        let mut p = cur.value.clone();
        if let Some(v) = &req.name {
            check_len("name", v, 255)?;
            p.name = v.clone()
        }
        if let Some(v) = &req.description {
            p.description = v.clone()
        }
        if let Some(v) = req.admin_state_up {
            p.admin_state_up = v
        }
        if let Some(v) = &req.device_id {
            p.device_id = v.clone()
        }
        if let Some(v) = &req.device_owner {
            p.device_owner = v.clone()
        }
        if let Some(v) = &groups {
            p.security_groups = v.clone()
        }
        if let Some(v) = req.port_security_enabled {
            p.port_security_enabled = v
        }
        if let Some(v) = &req.allowed_address_pairs {
            p.allowed_address_pairs = v.clone()
        }
        if let Some(v) = &req.binding_vnic_type {
            p.binding_vnic_type = v.clone()
        }
        if let Some(v) = &req.binding_profile {
            p.binding_profile = v.clone()
        }
        p.revision_number += 1;
        p.updated_at = now();
        let mut plan = Plan::default();
        plan.when(svc.ports.unchanged(&cur.id, cur.revision), Tag::Retry);
        for g in groups.iter().flatten() {
            let sg = svc
                .sgs
                .get(&g.to_string())
                .await?
                .ok_or_else(|| NetworkError::not_found("security_group", g))?;
            plan.when(svc.sgs.unchanged(&sg.id, sg.revision), Tag::Retry);
        }
        plan.op(svc.ports.put_op(&cur.id, &p)?);
        if svc.run(plan).await? {
            let p = match &req.binding_host_id {
                Some(h) if *h != p.binding_host_id => svc.bind_port(id, h.clone()).await?,
                _ => p,
            };
            let mut all = old_groups.clone();
            all.extend(p.security_groups.iter().copied());
            svc.refresh_firewalls(&all).await;
            if p.security_groups.is_empty() {
                svc.refresh_port_firewall(&p).await;
            }
            return Ok(Some(p));
        }
        Ok(None)
    })
    .await
}

pub(super) async fn delete_port(
    svc: &NetworkService,
    ctx: &RequestContext,
    id: PortId,
) -> Result<()> {
    let cur = svc.visible_port(ctx, &id).await?;
    authorize("delete_port", ctx, &target(&cur.value.project_id))?;
    if matches!(
        cur.value.device_owner.as_str(),
        "network:router_interface" | "network:router_gateway" | "network:floatingip"
    ) {
        return Err(NetworkError::conflict(
            "ServicePortInUse",
            format!(
                "Port {id} cannot be deleted directly via the port API: has device owner {}.",
                cur.value.device_owner
            ),
        ));
    }
    retry_txn(&format!("port {id}"), || async {
        let cur = svc.visible_port(ctx, &id).await?;
        let mut plan = Plan::default();
        let routers = svc.plan_port_delete(&mut plan, &cur, true).await?;
        if svc.run(plan).await? {
            let _ = svc.backends.l2.unplug_port(id).await;
            let _ = svc.backends.firewall.remove_port(id).await;
            svc.sync_dhcp(cur.value.network_id).await;
            for r in routers {
                svc.sync_router(r).await;
            }
            svc.refresh_firewalls(&cur.value.security_groups).await;
            return Ok(Some(()));
        }
        Ok(None)
    })
    .await
}
