// SPDX-License-Identifier: Apache-2.0
//! Floating IPs: allocation on an external network and one-to-one association with a port's
//! fixed address through a router.

use super::ipam::parse_ip;
use super::{
    NetworkService, Plan, Tag, assoc_key, check_len, ipam_key, is_admin, now, owner_for, owns,
    target, values_where,
};
use crate::cidr::IpVersion;
use crate::error::{NetworkError, Result};
use crate::policy::authorize;
use crate::types::*;
use ferrostack_core::RequestContext;
use ferrostack_core::id::{NetworkId, PortId, RouterId, SubnetId};
use ferrostack_core::store::retry::retry_txn;
use ferrostack_core::store::{Condition, Op};
use serde_json::json;
use std::collections::{BTreeSet, HashSet};

impl NetworkService {
    pub(super) async fn find_fip_router(
        &self,
        fip_net: &NetworkId,
        subnet: &SubnetId,
    ) -> Result<Option<RouterId>> {
        for r in self.routers.list_all().await? {
            let has_gw =
                r.value.external_gateway_info.as_ref().is_some_and(|g| &g.network_id == fip_net);
            if !has_gw {
                continue;
            }
            let rid = r.value.id.to_string();
            let on_subnet = self.ports.list_all().await?.iter().any(|p| {
                p.value.device_id == rid
                    && p.value.device_owner == "network:router_interface"
                    && p.value.fixed_ips.iter().any(|f| &f.subnet_id == subnet)
            });
            if on_subnet {
                return Ok(Some(r.value.id));
            }
        }
        Ok(None)
    }

    /// Plans associating `fip` with `port_id`, mutating `fip` accordingly.
    pub(super) async fn plan_association(
        &self,
        plan: &mut Plan,
        ctx: &RequestContext,
        fip: &mut FloatingIp,
        port_id: PortId,
        fixed: Option<&str>,
    ) -> Result<()> {
        let port = self.visible_port(ctx, &port_id).await?;
        if port.value.project_id != fip.project_id && !is_admin(ctx) {
            return Err(NetworkError::BadRequest {
                resource: "floatingip",
                message: format!(
                    "Cannot create floating IP and bind it to Port {port_id}, since that port is owned by a different tenant"
                ),
            });
        }
        let v4: Vec<&FixedIp> =
            port.value.fixed_ips.iter().filter(|f| f.ip_address.is_ipv4()).collect();
        let chosen = match fixed {
            Some(s) => {
                let ip = parse_ip(s)?;
                *v4.iter().find(|f| f.ip_address == ip).ok_or_else(|| NetworkError::BadRequest {
                    resource: "floatingip",
                    message: format!("Port {port_id} does not have fixed ip {ip}"),
                })?
            }
            None => *v4.first().ok_or_else(|| NetworkError::BadRequest {
                resource: "floatingip",
                message: format!("Port {port_id} does not have any IPv4 address on it"),
            })?,
        };
        let router = self.find_fip_router(&fip.floating_network_id, &chosen.subnet_id).await?.ok_or_else(|| {
            NetworkError::NotFound {
                neutron_type: "ExternalGatewayForFloatingIPNotFound",
                message: format!(
                    "External network {} is not reachable from subnet {}.  Therefore, cannot associate Port {port_id} with a Floating IP.",
                    fip.floating_network_id, chosen.subnet_id
                ),
            }
        })?;
        plan.when(self.ports.unchanged(&port.id, port.revision), Tag::Retry);
        let key = assoc_key(&port_id, &chosen.ip_address);
        plan.when(
            Condition::absent(&key),
            Tag::FipAssociated(format!(
                "Cannot associate floating IP {} ({}) with port {port_id} using fixed IP {}, as that fixed IP already has a floating IP on external network {}.",
                fip.floating_ip_address, fip.id, chosen.ip_address, fip.floating_network_id
            )),
        );
        plan.op(Op::Put { key, value: fip.id.to_string().into_bytes() });
        fip.port_id = Some(port_id);
        fip.fixed_ip_address = Some(chosen.ip_address);
        fip.router_id = Some(router);
        fip.status = "ACTIVE".into();
        Ok(())
    }
}

pub(super) async fn create_floatingip(
    svc: &NetworkService,
    ctx: &RequestContext,
    req: FloatingIpCreate,
) -> Result<FloatingIp> {
    authorize("create_floatingip", ctx, &json!({}))?;
    let project = owner_for(ctx, &req.project_id, &req.tenant_id)?;
    let explicit = req.floating_ip_address.as_deref().map(parse_ip).transpose()?;
    retry_txn("a new floating IP", || async {
        let net = svc.visible_network(ctx, &req.floating_network_id).await?;
        if !net.value.external {
            return Err(NetworkError::BadRequest {
                resource: "floatingip",
                message: format!("Network {} is not a valid external network", net.value.id),
            });
        }
        let subnets = svc.network_subnets(&net.value).await?;
        let mut plan = Plan::default();
        plan.when(svc.networks.unchanged(&net.id, net.revision), Tag::Retry);
        let id = FloatingIpId::new();
        let owner = format!("floatingip:{id}");
        let candidates: Vec<&Subnet> = subnets
            .iter()
            .map(|s| &s.value)
            .filter(|s| s.cidr.version() == IpVersion::V4)
            .filter(|s| req.subnet_id.is_none_or(|w| w == s.id))
            .filter(|s| explicit.is_none_or(|ip| s.cidr.contains(&ip)))
            .collect();
        if let Some(w) = req.subnet_id
            && candidates.is_empty()
        {
            return Err(NetworkError::not_found("subnet", w));
        }
        let mut chosen = None;
        for s in candidates {
            let sv = subnets.iter().find(|x| x.value.id == s.id).map(|x| x.revision).unwrap_or(0);
            plan.when(svc.subnets.unchanged(&s.id.to_string(), sv), Tag::Retry);
            match explicit {
                Some(ip) => {
                    svc.reserve_ip(&mut plan, s, ip, &owner, Tag::IpInUse(ip, s.id))?;
                    chosen = Some((s.id, ip));
                    break;
                }
                None => {
                    if let Some(ip) =
                        svc.plan_auto_ip(&mut plan, s, &owner, &HashSet::new()).await?
                    {
                        chosen = Some((s.id, ip));
                        break;
                    }
                }
            }
        }
        let (subnet_id, ip) = chosen.ok_or_else(|| match explicit {
            Some(ip) => NetworkError::invalid(format!(
                "IP address {ip} is not a valid IP for the specified subnet."
            )),
            None => NetworkError::conflict(
                "IpAddressGenerationFailure",
                format!("No more IP addresses available on network {}.", net.value.id),
            ),
        })?;
        svc.usage(&mut plan, &project, Resource::FloatingIp, 1, true).await?;
        let t = now();
        let mut fip = FloatingIp {
            id,
            project_id: project.clone(),
            tenant_id: project.clone(),
            floating_network_id: net.value.id,
            floating_subnet_id: subnet_id,
            floating_ip_address: ip,
            port_id: None,
            fixed_ip_address: None,
            router_id: None,
            status: "DOWN".into(),
            description: req.description.clone().unwrap_or_default(),
            tags: Vec::new(),
            created_at: t.clone(),
            updated_at: t,
            revision_number: 1,
        };
        if let Some(pid) = req.port_id {
            svc.plan_association(&mut plan, ctx, &mut fip, pid, req.fixed_ip_address.as_deref())
                .await?;
        }
        plan.op(svc.fips.put_op(&id.to_string(), &fip)?);
        if svc.run(plan).await? {
            if let Some(r) = fip.router_id {
                svc.sync_router(r).await;
            }
            return Ok(Some(fip));
        }
        Ok(None)
    })
    .await
}

pub(super) async fn get_floatingip(
    svc: &NetworkService,
    ctx: &RequestContext,
    id: FloatingIpId,
) -> Result<FloatingIp> {
    Ok(svc.visible_fip(ctx, &id).await?.value)
}

pub(super) async fn list_floatingips(
    svc: &NetworkService,
    ctx: &RequestContext,
) -> Result<Vec<FloatingIp>> {
    values_where(&svc.fips, |f| owns(ctx, &f.project_id)).await
}

pub(super) async fn update_floatingip(
    svc: &NetworkService,
    ctx: &RequestContext,
    id: FloatingIpId,
    req: FloatingIpUpdate,
) -> Result<FloatingIp> {
    let cur = svc.visible_fip(ctx, &id).await?;
    authorize("update_floatingip", ctx, &target(&cur.value.project_id))?;
    retry_txn(&format!("floating IP {id}"), || async {
        let cur = svc.visible_fip(ctx, &id).await?;
        let mut f = cur.value.clone();
        let mut plan = Plan::default();
        plan.when(svc.fips.unchanged(&cur.id, cur.revision), Tag::Retry);
        let old_router = f.router_id;
        if let Some(target_port) = &req.port_id {
            if let (Some(p), Some(ip)) = (f.port_id, f.fixed_ip_address) {
                plan.del(assoc_key(&p, &ip));
            }
            f.port_id = None;
            f.fixed_ip_address = None;
            f.router_id = None;
            f.status = "DOWN".into();
            if let Some(pid) = target_port {
                svc.plan_association(&mut plan, ctx, &mut f, *pid, req.fixed_ip_address.as_deref())
                    .await?;
            }
        }
        if let Some(d) = &req.description {
            check_len("description", d, 255)?;
            f.description = d.clone();
        }
        f.revision_number += 1;
        f.updated_at = now();
        plan.op(svc.fips.put_op(&cur.id, &f)?);
        if svc.run(plan).await? {
            for r in [old_router, f.router_id].into_iter().flatten().collect::<BTreeSet<_>>() {
                svc.sync_router(r).await;
            }
            return Ok(Some(f));
        }
        Ok(None)
    })
    .await
}

pub(super) async fn delete_floatingip(
    svc: &NetworkService,
    ctx: &RequestContext,
    id: FloatingIpId,
) -> Result<()> {
    let cur = svc.visible_fip(ctx, &id).await?;
    authorize("delete_floatingip", ctx, &target(&cur.value.project_id))?;
    retry_txn(&format!("floating IP {id}"), || async {
        let cur = svc.visible_fip(ctx, &id).await?;
        let f = &cur.value;
        let mut plan = Plan::default();
        plan.when(svc.fips.unchanged(&cur.id, cur.revision), Tag::Retry);
        plan.op(svc.fips.delete_op(&cur.id));
        plan.del(ipam_key(&f.floating_subnet_id, &f.floating_ip_address));
        if let (Some(p), Some(ip)) = (f.port_id, f.fixed_ip_address) {
            plan.del(assoc_key(&p, &ip));
        }
        svc.usage(&mut plan, &f.project_id, Resource::FloatingIp, -1, false).await?;
        if svc.run(plan).await? {
            if let Some(r) = f.router_id {
                svc.sync_router(r).await;
            }
            return Ok(Some(()));
        }
        Ok(None)
    })
    .await
}
