// SPDX-License-Identifier: Apache-2.0
//! Subnets: layout validation (prefix, gateway, pools, DNS, host routes) and create, get,
//! list, update, delete.

use super::ipam::parse_ip;
use super::{
    NetworkService, Plan, Tag, check_len, ipam_prefix, is_admin, networks_by_id, now, owner_for,
    owns, target, values_where,
};
use crate::cidr::{Cidr, IpVersion, from_u128, to_u128};
use crate::error::{NetworkError, Result};
use crate::policy::authorize;
use crate::types::*;
use ferrostack_core::RequestContext;
use ferrostack_core::id::{NetworkId, SubnetId};
use ferrostack_core::store::StoreExt;
use ferrostack_core::store::retry::retry_txn;
use serde_json::json;
use std::collections::HashMap;
use std::net::IpAddr;

/// Validates a subnet's prefix, gateway and pools; returns the pools (defaulted when absent).
pub fn validate_subnet_layout(
    cidr: &Cidr,
    gateway: Option<IpAddr>,
    pools: Option<&[AllocationPool]>,
) -> Result<Vec<AllocationPool>> {
    let v = cidr.version();
    let (first, last) = (cidr.first(), cidr.last());
    // IPv4 network and broadcast addresses are never handed out (except in /31 and /32).
    let (lo, hi) = if v == IpVersion::V4 && cidr.prefix_len() < 31 {
        (first + 1, last - 1)
    } else if v == IpVersion::V6 {
        // The subnet-router anycast address is reserved.
        (first + 1, last)
    } else {
        (first, last)
    };
    if let Some(gw) = gateway {
        if IpVersion::of(&gw) != v {
            return Err(NetworkError::invalid(format!(
                "gateway_ip {gw} is not an IPv{} address",
                v.number()
            )));
        }
        if !cidr.contains(&gw) && v == IpVersion::V4 {
            return Err(NetworkError::invalid(format!(
                "Gateway IP {gw} is not in the subnet cidr {cidr}"
            )));
        }
        let n = to_u128(&gw);
        if v == IpVersion::V4 && cidr.prefix_len() < 31 && (n == first || n == last) {
            return Err(NetworkError::invalid(format!(
                "Gateway is not valid on subnet: the gateway {gw} is the network or broadcast address"
            )));
        }
    }
    let pools: Vec<AllocationPool> = match pools {
        Some(p) => p.to_vec(),
        None => {
            // Everything between lo and hi except the gateway.
            let mut out = Vec::new();
            let gw = gateway.filter(|g| cidr.contains(g)).map(|g| to_u128(&g));
            let mut push = |a: u128, b: u128| {
                if a <= b {
                    out.push(AllocationPool { start: from_u128(v, a), end: from_u128(v, b) });
                }
            };
            match gw {
                Some(g) if g >= lo && g <= hi => {
                    if g > lo {
                        push(lo, g - 1);
                    }
                    if g < hi {
                        push(g + 1, hi);
                    }
                }
                _ => push(lo, hi),
            }
            return Ok(out);
        }
    };
    let mut ranges: Vec<(u128, u128, AllocationPool)> = Vec::new();
    for p in &pools {
        if IpVersion::of(&p.start) != v || IpVersion::of(&p.end) != v {
            return Err(NetworkError::invalid(format!(
                "The allocation pool {}-{} is not IPv{}",
                p.start,
                p.end,
                v.number()
            )));
        }
        let (a, b) = (to_u128(&p.start), to_u128(&p.end));
        if a > b {
            return Err(NetworkError::invalid(format!(
                "The allocation pool {}-{} is invalid: start is after end",
                p.start, p.end
            )));
        }
        if a < lo || b > hi {
            return Err(NetworkError::Rejected {
                neutron_type: "OutOfBoundsAllocationPool",
                message: format!(
                    "The allocation pool {}-{} spans beyond the subnet cidr {cidr}.",
                    p.start, p.end
                ),
            });
        }
        ranges.push((a, b, *p));
    }
    ranges.sort_by_key(|r| r.0);
    for w in ranges.windows(2) {
        if w[1].0 <= w[0].1 {
            return Err(NetworkError::invalid(format!(
                "Found overlapping allocation pools: {}-{} and {}-{}",
                w[0].2.start, w[0].2.end, w[1].2.start, w[1].2.end
            )));
        }
    }
    if let Some(gw) = gateway {
        let g = to_u128(&gw);
        if ranges.iter().any(|(a, b, _)| g >= *a && g <= *b) {
            return Err(NetworkError::conflict(
                "GatewayConflictWithAllocationPools",
                format!(
                    "Gateway ip {gw} conflicts with allocation pool {}-{}",
                    ranges[0].2.start, ranges[0].2.end
                ),
            ));
        }
    }
    Ok(pools)
}

impl NetworkService {
    pub(super) fn validate_routes(routes: &[HostRoute], max: usize) -> Result<()> {
        if routes.len() > max {
            return Err(NetworkError::invalid(format!(
                "Number of host routes exceeds the limit {max}"
            )));
        }
        for r in routes {
            if r.destination.version() != IpVersion::of(&r.nexthop) {
                return Err(NetworkError::invalid(format!(
                    "Invalid route: destination {} and nexthop {} are of different families",
                    r.destination, r.nexthop
                )));
            }
        }
        Ok(())
    }

    pub(super) fn parse_dns(list: &[String], max: usize, v: IpVersion) -> Result<Vec<IpAddr>> {
        if list.len() > max {
            return Err(NetworkError::invalid(format!(
                "Number of DNS nameservers exceeds the limit {max}"
            )));
        }
        let mut out: Vec<IpAddr> = Vec::new();
        for s in list {
            let ip = parse_ip(s)?;
            if out.contains(&ip) {
                return Err(NetworkError::invalid(format!("Duplicate nameserver '{ip}'")));
            }
            let _ = v;
            out.push(ip);
        }
        Ok(out)
    }
}

pub(super) async fn create_subnet(
    svc: &NetworkService,
    ctx: &RequestContext,
    req: SubnetCreate,
) -> Result<Subnet> {
    let net = svc.visible_network(ctx, &req.network_id).await?;
    authorize("create_subnet", ctx, &target(&net.value.project_id))?;
    let project = match owner_for(ctx, &req.project_id, &req.tenant_id) {
        Ok(p) => p,
        Err(_) if is_admin(ctx) => net.value.project_id.clone(),
        Err(e) => return Err(e),
    };
    let version = match req.ip_version {
        4 => IpVersion::V4,
        6 => IpVersion::V6,
        v => return Err(NetworkError::invalid(format!("{v} is not in [4, 6]"))),
    };
    if req.subnetpool_id.is_some() || req.prefixlen.is_some() {
        return Err(NetworkError::BadRequest {
            resource: "subnets",
            message: "subnet pools are not supported".into(),
        });
    }
    let cidr_s = req.cidr.as_deref().ok_or_else(|| NetworkError::BadRequest {
        resource: "subnets",
        message: "a cidr must be specified in the absence of a subnet pool".into(),
    })?;
    let cidr = Cidr::parse_strict(cidr_s).map_err(|e| NetworkError::malformed(None, e))?;
    if cidr.version() != version {
        return Err(NetworkError::invalid(format!(
            "Cidr {cidr} does not match ip_version {}",
            req.ip_version
        )));
    }
    if cidr.prefix_len() == 0 {
        return Err(NetworkError::invalid("0 is not allowed as CIDR prefix length"));
    }
    if version == IpVersion::V4 && cidr.prefix_len() > 30 {
        return Err(NetworkError::invalid(format!(
            "Invalid CIDR {cidr} for IPv4 subnet: prefix too long"
        )));
    }
    if version == IpVersion::V4 && (req.ipv6_ra_mode.is_some() || req.ipv6_address_mode.is_some()) {
        return Err(NetworkError::invalid(
            "ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp is set to False or ip_version is 4",
        ));
    }
    if let (Some(a), Some(b)) = (req.ipv6_ra_mode, req.ipv6_address_mode)
        && a != b
    {
        return Err(NetworkError::invalid(format!(
            "ipv6_ra_mode set to '{}' with ipv6_address_mode set to '{}' is not valid. If both attributes are set, they must be the same value",
            json!(a).as_str().unwrap_or(""),
            json!(b).as_str().unwrap_or("")
        )));
    }
    if req.ipv6_address_mode.is_some_and(|m| m != Ipv6Mode::Dhcpv6Stateful)
        && cidr.prefix_len() != 64
    {
        return Err(NetworkError::invalid(format!(
            "Invalid CIDR {cidr} for IPv6 address mode. OpenStack uses the EUI-64 address format, which requires the prefix to be /64"
        )));
    }
    let gateway = match req.gateway_ip {
        None => {
            let first = cidr.first() + 1;
            if first <= cidr.last() { Some(from_u128(version, first)) } else { None }
        }
        Some(g) => g,
    };
    let name = req.name.clone().unwrap_or_default();
    check_len("name", &name, 255)?;
    let pools = validate_subnet_layout(&cidr, gateway, req.allocation_pools.as_deref())?;
    let dns = NetworkService::parse_dns(
        req.dns_nameservers.as_deref().unwrap_or(&[]),
        svc.config.max_dns_nameservers,
        version,
    )?;
    let routes = req.host_routes.clone().unwrap_or_default();
    NetworkService::validate_routes(&routes, svc.config.max_subnet_host_routes)?;
    retry_txn("a new subnet", || async {
        let net = svc.visible_network(ctx, &req.network_id).await?;
        for s in svc.network_subnets(&net.value).await? {
            if s.value.cidr.overlaps(&cidr) {
                return Err(NetworkError::invalid(format!(
                    "Requested subnet with cidr: {cidr} for network: {} overlaps with another subnet",
                    net.value.id
                )));
            }
        }
        let mut plan = Plan::default();
        svc.usage(&mut plan, &project, Resource::Subnet, 1, true).await?;
        let t = now();
        let subnet = Subnet {
            id: SubnetId::new(),
            name: name.clone(),
            description: req.description.clone().unwrap_or_default(),
            network_id: net.value.id,
            project_id: project.clone(),
            tenant_id: project.clone(),
            ip_version: req.ip_version,
            cidr,
            gateway_ip: gateway,
            allocation_pools: pools.clone(),
            dns_nameservers: dns.clone(),
            host_routes: routes.clone(),
            enable_dhcp: req.enable_dhcp.unwrap_or(true),
            ipv6_ra_mode: req.ipv6_ra_mode,
            ipv6_address_mode: req.ipv6_address_mode,
            subnetpool_id: None,
            service_types: req.service_types.clone().unwrap_or_default(),
            tags: Vec::new(),
            created_at: t.clone(),
            updated_at: t.clone(),
            revision_number: 1,
            deleting: false,
        };
        let mut n = net.value.clone();
        n.subnets.push(subnet.id);
        n.revision_number += 1;
        n.updated_at = t;
        plan.when(svc.networks.unchanged(&net.id, net.revision), Tag::Retry);
        plan.op(svc.networks.put_op(&net.id, &n)?);
        plan.op(svc.subnets.put_op(&subnet.id.to_string(), &subnet)?);
        if svc.run(plan).await? {
            svc.sync_dhcp(net.value.id).await;
            return Ok(Some(subnet));
        }
        Ok(None)
    })
    .await
}

pub(super) async fn get_subnet(
    svc: &NetworkService,
    ctx: &RequestContext,
    id: SubnetId,
) -> Result<Subnet> {
    Ok(svc.visible_subnet(ctx, &id).await?.value)
}

pub(super) async fn list_subnets(
    svc: &NetworkService,
    ctx: &RequestContext,
) -> Result<Vec<Subnet>> {
    let nets: HashMap<NetworkId, Network> = networks_by_id(svc).await?;
    values_where(&svc.subnets, |s| {
        !s.deleting
            && (owns(ctx, &s.project_id) || nets.get(&s.network_id).is_some_and(|n| n.shared))
    })
    .await
}

pub(super) async fn update_subnet(
    svc: &NetworkService,
    ctx: &RequestContext,
    id: SubnetId,
    req: SubnetUpdate,
) -> Result<Subnet> {
    let cur = svc.visible_subnet(ctx, &id).await?;
    authorize("update_subnet", ctx, &target(&cur.value.project_id))?;
    let v = cur.value.cidr.version();
    let dns = req
        .dns_nameservers
        .as_deref()
        .map(|d| NetworkService::parse_dns(d, svc.config.max_dns_nameservers, v))
        .transpose()?;
    if let Some(r) = &req.host_routes {
        NetworkService::validate_routes(r, svc.config.max_subnet_host_routes)?;
    }
    if let Some(n) = &req.name {
        check_len("name", n, 255)?;
    }
    if let Some(g) = req.gateway_ip {
        let pools = cur.value.allocation_pools.clone();
        validate_subnet_layout(&cur.value.cidr, g, Some(&pools))?;
    }
    let updated = svc
        .subnets
        .update_with::<NetworkError, _>(&id.to_string(), |s| {
            if s.deleting {
                return Err(NetworkError::not_found("subnet", id));
            }
            if let Some(v) = &req.name {
                s.name = v.clone()
            }
            if let Some(v) = &req.description {
                s.description = v.clone()
            }
            if let Some(v) = req.gateway_ip {
                s.gateway_ip = v
            }
            if let Some(v) = &dns {
                s.dns_nameservers = v.clone()
            }
            if let Some(v) = &req.host_routes {
                s.host_routes = v.clone()
            }
            if let Some(v) = req.enable_dhcp {
                s.enable_dhcp = v
            }
            s.revision_number += 1;
            s.updated_at = now();
            Ok(())
        })
        .await?;
    svc.sync_dhcp(updated.value.network_id).await;
    Ok(updated.value)
}

pub(super) async fn delete_subnet(
    svc: &NetworkService,
    ctx: &RequestContext,
    id: SubnetId,
) -> Result<()> {
    let cur = svc.visible_subnet(ctx, &id).await?;
    authorize("delete_subnet", ctx, &target(&cur.value.project_id))?;
    let marked = svc.mark_deleting(&svc.subnets, &id.to_string(), true).await?;
    let unmark = || async {
        let _ = svc.mark_deleting(&svc.subnets, &id.to_string(), false).await;
    };
    if !svc.store.list_all(&ipam_prefix(&id)).await?.is_empty() {
        unmark().await;
        return Err(NetworkError::conflict(
            "SubnetInUse",
            format!(
                "Unable to complete operation on subnet {id}: One or more ports have an IP allocation from this subnet."
            ),
        ));
    }
    let deleted = retry_txn(&format!("subnet {id}"), || async {
        let Some(net) = svc.networks.get(&marked.value.network_id.to_string()).await? else {
            return Err(NetworkError::not_found("network", marked.value.network_id));
        };
        let mut plan = Plan::default();
        plan.when(svc.subnets.unchanged(&marked.id, marked.revision), Tag::Retry);
        plan.op(svc.subnets.delete_op(&marked.id));
        let mut n = net.value.clone();
        n.subnets.retain(|s| s != &id);
        n.revision_number += 1;
        plan.when(svc.networks.unchanged(&net.id, net.revision), Tag::Retry);
        plan.op(svc.networks.put_op(&net.id, &n)?);
        svc.usage(&mut plan, &marked.value.project_id, Resource::Subnet, -1, false).await?;
        if svc.run(plan).await? {
            svc.sync_dhcp(n.id).await;
            return Ok(Some(()));
        }
        Ok(None)
    })
    .await;
    if deleted.is_err() {
        unmark().await;
    }
    deleted
}
