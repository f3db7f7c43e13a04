// SPDX-License-Identifier: Apache-2.0
//! Networks: create (segment allocation from the pools), get, list, update, delete.

use super::ipam::free_candidates;
use super::{
    NetworkService, Plan, Tag, check_len, ipam_prefix, now, owner_for, target, values_where,
};
use crate::backend::*;
use crate::error::{NetworkError, Result};
use crate::policy::authorize;
use crate::types::*;
use ferrostack_core::RequestContext;
use ferrostack_core::id::NetworkId;
use ferrostack_core::store::retry::retry_txn;
use ferrostack_core::store::{Condition, Op, StoreExt};
use serde_json::json;
use std::collections::BTreeSet;

impl NetworkService {
    pub(super) fn segment_key(seg: &Segment) -> String {
        match (seg.network_type, &seg.physical_network, seg.segmentation_id) {
            (NetworkType::Flat, Some(p), _) => format!("network/segments/flat/{p}"),
            (t, p, id) => format!(
                "network/segments/{}/{}/{:08}",
                t.as_str(),
                p.as_deref().unwrap_or("-"),
                id.unwrap_or(0)
            ),
        }
    }

    /// Chooses the segment of a new network and adds its reservation to `plan`.
    pub(super) async fn plan_segment(
        &self,
        plan: &mut Plan,
        req: &NetworkCreate,
    ) -> Result<Segment> {
        let explicit = req.network_type.is_some()
            || req.physical_network.is_some()
            || req.segmentation_id.is_some();
        let ty = req.network_type.unwrap_or(self.config.tenant_network_type);
        let (physnet, range): (Option<String>, Option<(u32, u32)>) = match ty {
            NetworkType::Local => {
                if req.physical_network.is_some() || req.segmentation_id.is_some() {
                    return Err(NetworkError::invalid(
                        "local networks take no physical network or segmentation id",
                    ));
                }
                return Ok(Segment {
                    network_type: ty,
                    physical_network: None,
                    segmentation_id: None,
                });
            }
            NetworkType::Flat => {
                let p = req.physical_network.clone().ok_or_else(|| {
                    NetworkError::invalid("physical_network required for flat provider network")
                })?;
                if req.segmentation_id.is_some() {
                    return Err(NetworkError::invalid(
                        "segmentation_id specified for flat provider network",
                    ));
                }
                if !self.config.flat_networks.contains(&p) {
                    return Err(NetworkError::invalid(format!(
                        "physical_network '{}' unknown for flat provider network",
                        ferrostack_core::id::truncate_for_message(&p)
                    )));
                }
                let seg = Segment {
                    network_type: ty,
                    physical_network: Some(p.clone()),
                    segmentation_id: None,
                };
                plan.when(
                    Condition::absent(Self::segment_key(&seg)),
                    Tag::Segment(format!(
                        "Unable to create the flat network. Physical network {p} is in use."
                    )),
                );
                plan.op(Op::Put { key: Self::segment_key(&seg), value: b"1".to_vec() });
                return Ok(seg);
            }
            NetworkType::Vlan => {
                let p = match &req.physical_network {
                    Some(p) => p.clone(),
                    None if !explicit || req.network_type.is_some() => self
                        .config
                        .vlan_ranges
                        .first()
                        .map(|r| r.physical_network.clone())
                        .ok_or_else(|| NetworkError::Exhausted("Unable to create the network. No tenant network is available for allocation.".into()))?,
                    None => return Err(NetworkError::invalid("physical_network required for VLAN provider network")),
                };
                let range = self.config.vlan_ranges.iter().find(|r| r.physical_network == p);
                if range.is_none() && req.segmentation_id.is_none() {
                    return Err(NetworkError::invalid(format!(
                        "physical_network '{}' unknown for VLAN provider network",
                        ferrostack_core::id::truncate_for_message(&p)
                    )));
                }
                if let Some(id) = req.segmentation_id
                    && !(1..=4094).contains(&id)
                {
                    return Err(NetworkError::invalid(format!(
                        "segmentation_id out of range (1 through 4094): {id}"
                    )));
                }
                (Some(p), range.map(|r| (r.min, r.max)))
            }
            NetworkType::Vxlan => {
                if req.physical_network.is_some() {
                    return Err(NetworkError::invalid(
                        "provider:physical_network specified for vxlan network",
                    ));
                }
                if let Some(id) = req.segmentation_id
                    && !(1..=(1 << 24) - 1).contains(&id)
                {
                    return Err(NetworkError::invalid(format!(
                        "segmentation_id out of range (1 through 16777215): {id}"
                    )));
                }
                (None, Some(self.config.vni_range))
            }
        };
        let id = match req.segmentation_id {
            Some(id) => {
                let seg = Segment {
                    network_type: ty,
                    physical_network: physnet.clone(),
                    segmentation_id: Some(id),
                };
                let msg = match ty {
                    NetworkType::Vlan => format!(
                        "Unable to create the network. The VLAN {id} on physical network {} is in use.",
                        physnet.as_deref().unwrap_or("")
                    ),
                    _ => format!("Unable to create the network. The tunnel ID {id} is in use."),
                };
                plan.when(Condition::absent(Self::segment_key(&seg)), Tag::Segment(msg));
                id
            }
            None => {
                let (min, max) = range.unwrap_or((1, 0));
                let prefix = format!(
                    "network/segments/{}/{}/",
                    ty.as_str(),
                    physnet.as_deref().unwrap_or("-")
                );
                let taken: BTreeSet<u128> = self
                    .store
                    .list_all(&prefix)
                    .await?
                    .iter()
                    .filter_map(|kv| kv.key[prefix.len()..].parse::<u128>().ok())
                    .collect();
                let free = free_candidates(&[(min as u128, max as u128)], &taken, 16);
                if free.is_empty() || min > max {
                    return Err(NetworkError::Exhausted(
                        "Unable to create the network. No tenant network is available for allocation.".into(),
                    ));
                }
                let pick = free[rand::random_range(0..free.len())] as u32;
                let seg = Segment {
                    network_type: ty,
                    physical_network: physnet.clone(),
                    segmentation_id: Some(pick),
                };
                plan.when(Condition::absent(Self::segment_key(&seg)), Tag::Retry);
                pick
            }
        };
        let seg =
            Segment { network_type: ty, physical_network: physnet, segmentation_id: Some(id) };
        plan.op(Op::Put { key: Self::segment_key(&seg), value: b"1".to_vec() });
        Ok(seg)
    }
}

pub(super) async fn create_network(
    svc: &NetworkService,
    ctx: &RequestContext,
    req: NetworkCreate,
) -> Result<Network> {
    authorize("create_network", ctx, &json!({}))?;
    let project = owner_for(ctx, &req.project_id, &req.tenant_id)?;
    if req.shared == Some(true) {
        authorize("create_network:shared", ctx, &target(&project))?;
    }
    if req.external == Some(true) {
        authorize("create_network:router:external", ctx, &target(&project))?;
    }
    if req.network_type.is_some() || req.physical_network.is_some() || req.segmentation_id.is_some()
    {
        authorize("create_network:provider", ctx, &target(&project))?;
    }
    let name = req.name.clone().unwrap_or_default();
    check_len("name", &name, 255)?;
    check_len("description", req.description.as_deref().unwrap_or(""), 255)?;
    retry_txn("a new network", || async {
        let mut plan = Plan::default();
        let seg = svc.plan_segment(&mut plan, &req).await?;
        let max_mtu = match seg.network_type {
            NetworkType::Vxlan => svc.config.physical_mtu - 50,
            _ => svc.config.physical_mtu,
        };
        let mtu = req.mtu.unwrap_or(max_mtu);
        if mtu > max_mtu || mtu < 68 {
            return Err(NetworkError::invalid(format!(
                "Requested MTU is too big, maximum is {max_mtu}"
            )));
        }
        svc.usage(&mut plan, &project, Resource::Network, 1, true).await?;
        let t = now();
        let net = Network {
            id: NetworkId::new(),
            name: name.clone(),
            description: req.description.clone().unwrap_or_default(),
            project_id: project.clone(),
            tenant_id: project.clone(),
            admin_state_up: req.admin_state_up,
            status: "ACTIVE".into(),
            shared: req.shared.unwrap_or(false),
            external: req.external.unwrap_or(false),
            mtu,
            subnets: Vec::new(),
            network_type: seg.network_type,
            physical_network: seg.physical_network.clone(),
            segmentation_id: seg.segmentation_id,
            port_security_enabled: req.port_security_enabled.unwrap_or(true),
            tags: Vec::new(),
            availability_zone_hints: req.availability_zone_hints.clone().unwrap_or_default(),
            availability_zones: vec!["nova".into()],
            created_at: t.clone(),
            updated_at: t,
            revision_number: 1,
            deleting: false,
        };
        plan.when(svc.networks.absent(&net.id.to_string()), Tag::Retry);
        plan.op(svc.networks.put_op(&net.id.to_string(), &net)?);
        if svc.run(plan).await? {
            let spec = NetworkSpec { id: net.id, segment: seg, mtu };
            if let Err(e) = svc.backends.l2.ensure_network(&spec).await {
                tracing::warn!(network = %net.id, error = %e, "ensure_network failed");
            }
            return Ok(Some(net));
        }
        Ok(None)
    })
    .await
}

pub(super) async fn get_network(
    svc: &NetworkService,
    ctx: &RequestContext,
    id: NetworkId,
) -> Result<Network> {
    Ok(svc.visible_network(ctx, &id).await?.value)
}

pub(super) async fn list_networks(
    svc: &NetworkService,
    ctx: &RequestContext,
) -> Result<Vec<Network>> {
    values_where(&svc.networks, |n| !n.deleting && NetworkService::network_visible(ctx, n)).await
}

pub(super) async fn update_network(
    svc: &NetworkService,
    ctx: &RequestContext,
    id: NetworkId,
    req: NetworkUpdate,
) -> Result<Network> {
    let cur = svc.visible_network(ctx, &id).await?;
    authorize("update_network", ctx, &target(&cur.value.project_id))?;
    if req.shared.is_some() {
        authorize("update_network:shared", ctx, &target(&cur.value.project_id))?;
    }
    if req.external.is_some() {
        authorize("update_network:router:external", ctx, &target(&cur.value.project_id))?;
    }
    if let Some(n) = &req.name {
        check_len("name", n, 255)?;
    }
    let max_mtu = match cur.value.network_type {
        NetworkType::Vxlan => svc.config.physical_mtu - 50,
        _ => svc.config.physical_mtu,
    };
    if let Some(m) = req.mtu
        && (m > max_mtu || m < 68)
    {
        return Err(NetworkError::invalid(format!(
            "Requested MTU is too big, maximum is {max_mtu}"
        )));
    }
    let updated = svc
        .networks
        .update_with::<NetworkError, _>(&id.to_string(), |n| {
            if n.deleting {
                return Err(NetworkError::not_found("network", id));
            }
            if let Some(v) = &req.name {
                n.name = v.clone()
            }
            if let Some(v) = &req.description {
                n.description = v.clone()
            }
            if let Some(v) = req.admin_state_up {
                n.admin_state_up = v
            }
            if let Some(v) = req.shared {
                n.shared = v
            }
            if let Some(v) = req.external {
                n.external = v
            }
            if let Some(v) = req.mtu {
                n.mtu = v
            }
            if let Some(v) = req.port_security_enabled {
                n.port_security_enabled = v
            }
            n.revision_number += 1;
            n.updated_at = now();
            Ok(())
        })
        .await?;
    Ok(updated.value)
}

pub(super) async fn delete_network(
    svc: &NetworkService,
    ctx: &RequestContext,
    id: NetworkId,
) -> Result<()> {
    let cur = svc.visible_network(ctx, &id).await?;
    authorize("delete_network", ctx, &target(&cur.value.project_id))?;
    let marked = svc.mark_deleting(&svc.networks, &id.to_string(), true).await?;
    let unmark = || async {
        let _ = svc.mark_deleting(&svc.networks, &id.to_string(), false).await;
    };
    let in_use = svc
        .ports
        .list_all()
        .await?
        .iter()
        .any(|p| p.value.network_id == id && p.value.device_owner != "network:dhcp")
        || svc.fips.list_all().await?.iter().any(|f| f.value.floating_network_id == id);
    if in_use {
        unmark().await;
        return Err(NetworkError::conflict(
            "NetworkInUse",
            format!(
                "Unable to complete operation on network {id}. There are one or more ports still in use on the network."
            ),
        ));
    }
    let net = marked.value;
    let mut plan = Plan::default();
    plan.when(svc.networks.unchanged(&marked.id, marked.revision), Tag::Retry);
    plan.op(svc.networks.delete_op(&marked.id));
    let subnets = svc.network_subnets(&net).await?;
    for s in &subnets {
        plan.op(svc.subnets.delete_op(&s.id));
        for kv in svc.store.list_all(&ipam_prefix(&s.value.id)).await? {
            plan.del(kv.key);
        }
        svc.usage(&mut plan, &s.value.project_id, Resource::Subnet, -1, false).await?;
    }
    if net.segmentation_id.is_some() || net.network_type == NetworkType::Flat {
        plan.del(NetworkService::segment_key(&net.segment()));
    }
    svc.usage(&mut plan, &net.project_id, Resource::Network, -1, false).await?;
    if !svc.run(plan).await? {
        unmark().await;
        return Err(NetworkService::too_busy(format!("network {id}")));
    }
    let _ = svc.backends.dhcp.remove_network(id).await;
    let _ = svc.backends.l2.remove_network(id).await;
    Ok(())
}
