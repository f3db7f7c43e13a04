// SPDX-License-Identifier: Apache-2.0
//! Routers: gateways (SNAT, external fixed IPs), interfaces and static routes.

use super::{NetworkService, Plan, Tag, check_len, now, owner_for, owns, target, values_where};
use crate::error::{NetworkError, Result};
use crate::policy::authorize;
use crate::types::*;
use ferrostack_core::RequestContext;
use ferrostack_core::id::{NetworkId, RouterId, SubnetId};
use ferrostack_core::store::Versioned;
use ferrostack_core::store::retry::retry_txn;
use serde_json::json;

/// The port request of a port `router` owns on `network_id` as `device_owner` (its gateway or
/// an interface): an empty name, no port security, no binding, no explicit owner.
fn router_port(
    network_id: NetworkId,
    router: &RouterId,
    device_owner: &str,
    fixed_ips: Option<Vec<FixedIpRequest>>,
) -> PortCreate {
    PortCreate {
        network_id,
        name: Some(String::new()),
        description: None,
        admin_state_up: true,
        mac_address: None,
        fixed_ips,
        device_id: Some(router.to_string()),
        device_owner: Some(device_owner.to_owned()),
        security_groups: None,
        port_security_enabled: Some(false),
        allowed_address_pairs: None,
        binding_host_id: None,
        binding_vnic_type: None,
        binding_profile: None,
        project_id: None,
        tenant_id: None,
        extra_dhcp_opts: None,
        qos_policy_id: None,
        dns_name: None,
    }
}

impl NetworkService {
    /// Plans the gateway of `router` on `req.network_id`, returning the gateway info and the
    /// gateway port.
    pub(super) async fn plan_gateway(
        &self,
        plan: &mut Plan,
        ctx: &RequestContext,
        router: &Router,
        req: &GatewayRequest,
    ) -> Result<(GatewayInfo, Port)> {
        let net = self.visible_network(ctx, &req.network_id).await?;
        if !net.value.external {
            return Err(NetworkError::BadRequest {
                resource: "router",
                message: format!("Network {} is not an external network", req.network_id),
            });
        }
        let preq = router_port(
            req.network_id,
            &router.id,
            "network:router_gateway",
            req.external_fixed_ips.clone(),
        );
        // Requested gateway addresses on an external network are an admin's choice.
        if req.external_fixed_ips.as_ref().is_some_and(|l| l.iter().any(|f| f.ip_address.is_some()))
        {
            authorize("admin_only", ctx, &target(&router.project_id))?;
        }
        let admin = RequestContext::internal("network");
        let port = self
            .plan_port(plan, &admin, &net, &router.project_id, &preq, Vec::new(), false)
            .await?;
        if port.fixed_ips.is_empty() {
            return Err(NetworkError::BadRequest {
                resource: "router",
                message: format!("No subnet on external network {}", req.network_id),
            });
        }
        let info = GatewayInfo {
            network_id: req.network_id,
            enable_snat: req.enable_snat.unwrap_or(true),
            external_fixed_ips: port.fixed_ips.clone(),
        };
        Ok((info, port))
    }

    pub(super) async fn router_interface_ports(
        &self,
        router: &RouterId,
    ) -> Result<Vec<Versioned<Port>>> {
        let rid = router.to_string();
        Ok(self
            .ports
            .list_all()
            .await?
            .into_iter()
            .filter(|p| {
                p.value.device_id == rid && p.value.device_owner == "network:router_interface"
            })
            .collect())
    }
}

pub(super) async fn create_router(
    svc: &NetworkService,
    ctx: &RequestContext,
    req: RouterCreate,
) -> Result<Router> {
    authorize("create_router", ctx, &json!({}))?;
    let project = owner_for(ctx, &req.project_id, &req.tenant_id)?;
    if req.distributed == Some(true) || req.ha == Some(true) {
        return Err(NetworkError::invalid("distributed and HA routers are not supported"));
    }
    let name = req.name.clone().unwrap_or_default();
    check_len("name", &name, 255)?;
    retry_txn("a new router", || async {
        let t = now();
        let mut router = Router {
            id: RouterId::new(),
            name: name.clone(),
            description: req.description.clone().unwrap_or_default(),
            project_id: project.clone(),
            tenant_id: project.clone(),
            admin_state_up: req.admin_state_up,
            status: "ACTIVE".into(),
            external_gateway_info: None,
            routes: Vec::new(),
            distributed: false,
            ha: false,
            gw_port_id: None,
            availability_zones: vec!["nova".into()],
            tags: Vec::new(),
            created_at: t.clone(),
            updated_at: t,
            revision_number: 1,
        };
        let mut plan = Plan::default();
        svc.usage(&mut plan, &project, Resource::Router, 1, true).await?;
        if let Some(gw) = &req.external_gateway_info {
            let (info, port) = svc.plan_gateway(&mut plan, ctx, &router, gw).await?;
            router.external_gateway_info = Some(info);
            router.gw_port_id = Some(port.id);
        }
        plan.op(svc.routers.put_op(&router.id.to_string(), &router)?);
        if svc.run(plan).await? {
            svc.sync_router(router.id).await;
            svc.sync_gateway_dhcp(&[&router]).await;
            return Ok(Some(router));
        }
        Ok(None)
    })
    .await
}

pub(super) async fn get_router(
    svc: &NetworkService,
    ctx: &RequestContext,
    id: RouterId,
) -> Result<Router> {
    Ok(svc.visible_router(ctx, &id).await?.value)
}

pub(super) async fn list_routers(
    svc: &NetworkService,
    ctx: &RequestContext,
) -> Result<Vec<Router>> {
    values_where(&svc.routers, |r| owns(ctx, &r.project_id)).await
}

pub(super) async fn update_router(
    svc: &NetworkService,
    ctx: &RequestContext,
    id: RouterId,
    req: RouterUpdate,
) -> Result<Router> {
    let cur = svc.visible_router(ctx, &id).await?;
    authorize("update_router", ctx, &target(&cur.value.project_id))?;
    if let Some(n) = &req.name {
        check_len("name", n, 255)?;
    }
    let gw_req: Option<Option<GatewayRequest>> = match &req.external_gateway_info {
        None => None,
        Some(None) => Some(None),
        Some(Some(v)) if v.as_object().is_some_and(|o| o.is_empty()) => Some(None),
        Some(Some(v)) => Some(Some(
            serde_json::from_value(v.clone())
                .map_err(|e| NetworkError::malformed(Some("external_gateway_info"), e))?,
        )),
    };
    if let Some(routes) = &req.routes {
        NetworkService::validate_routes(routes, svc.config.max_subnet_host_routes)?;
    }
    retry_txn(&format!("router {id}"), || async {
        let cur = svc.visible_router(ctx, &id).await?;
        let mut r = cur.value.clone();
        let mut plan = Plan::default();
        plan.when(svc.routers.unchanged(&cur.id, cur.revision), Tag::Retry);
        if let Some(v) = &req.name {
            r.name = v.clone()
        }
        if let Some(v) = &req.description {
            r.description = v.clone()
        }
        if let Some(v) = req.admin_state_up {
            r.admin_state_up = v
        }
        if let Some(routes) = &req.routes {
            let ifaces = svc.router_interface_ports(&id).await?;
            let mut cidrs = Vec::new();
            for p in &ifaces {
                for f in &p.value.fixed_ips {
                    if let Some(s) = svc.subnets.get(&f.subnet_id.to_string()).await? {
                        cidrs.push(s.value.cidr);
                    }
                }
            }
            for route in routes {
                if !cidrs.iter().any(|c| c.contains(&route.nexthop)) {
                    return Err(NetworkError::invalid(format!(
                        "Invalid format for routes: {{'destination': '{}', 'nexthop': '{}'}}, the nexthop is not connected with router",
                        route.destination, route.nexthop
                    )));
                }
            }
            r.routes = routes.clone();
        }
        let mut new_gw_port = None;
        if let Some(gw) = &gw_req {
            let same = match (gw, &r.external_gateway_info) {
                (Some(g), Some(cur)) => {
                    g.network_id == cur.network_id && g.external_fixed_ips.is_none()
                }
                _ => false,
            };
            if same {
                if let (Some(g), Some(info)) = (gw, r.external_gateway_info.as_mut()) {
                    info.enable_snat = g.enable_snat.unwrap_or(info.enable_snat);
                }
            } else {
                if let Some(old) = r.gw_port_id {
                    let in_use =
                        svc.fips.list_all().await?.iter().any(|f| f.value.router_id == Some(id));
                    if in_use {
                        return Err(NetworkError::conflict(
                            "RouterExternalGatewayInUseByFloatingIp",
                            format!(
                                "Gateway cannot be updated for router {id}, since a gateway to external network {} is required by one or more floating IPs.",
                                r.external_gateway_info
                                    .as_ref()
                                    .map(|g| g.network_id.to_string())
                                    .unwrap_or_default()
                            ),
                        ));
                    }
                    if let Some(p) = svc.ports.get(&old.to_string()).await? {
                        svc.plan_port_delete(&mut plan, &p, false).await?;
                    }
                    r.gw_port_id = None;
                    r.external_gateway_info = None;
                }
                if let Some(g) = gw {
                    let (info, port) = svc.plan_gateway(&mut plan, ctx, &r, g).await?;
                    r.external_gateway_info = Some(info);
                    r.gw_port_id = Some(port.id);
                    new_gw_port = Some(port.id);
                }
            }
        }
        let _ = new_gw_port;
        r.revision_number += 1;
        r.updated_at = now();
        plan.op(svc.routers.put_op(&cur.id, &r)?);
        if svc.run(plan).await? {
            svc.sync_router(id).await;
            svc.sync_gateway_dhcp(&[&cur.value, &r]).await;
            return Ok(Some(r));
        }
        Ok(None)
    })
    .await
}

pub(super) async fn delete_router(
    svc: &NetworkService,
    ctx: &RequestContext,
    id: RouterId,
) -> Result<()> {
    let cur = svc.visible_router(ctx, &id).await?;
    authorize("delete_router", ctx, &target(&cur.value.project_id))?;
    retry_txn(&format!("router {id}"), || async {
        let cur = svc.visible_router(ctx, &id).await?;
        if !svc.router_interface_ports(&id).await?.is_empty() {
            return Err(NetworkError::conflict(
                "RouterInUse",
                format!("Router {id} still has ports"),
            ));
        }
        if svc.fips.list_all().await?.iter().any(|f| f.value.router_id == Some(id)) {
            return Err(NetworkError::conflict(
                "RouterInUse",
                format!("Router {id} still has floating IPs"),
            ));
        }
        let mut plan = Plan::default();
        plan.when(svc.routers.unchanged(&cur.id, cur.revision), Tag::Retry);
        plan.op(svc.routers.delete_op(&cur.id));
        if let Some(gw) = cur.value.gw_port_id
            && let Some(p) = svc.ports.get(&gw.to_string()).await?
        {
            svc.plan_port_delete(&mut plan, &p, false).await?;
        }
        svc.usage(&mut plan, &cur.value.project_id, Resource::Router, -1, false).await?;
        if svc.run(plan).await? {
            svc.sync_router(id).await;
            svc.sync_gateway_dhcp(&[&cur.value]).await;
            return Ok(Some(()));
        }
        Ok(None)
    })
    .await
}

pub(super) async fn add_router_interface(
    svc: &NetworkService,
    ctx: &RequestContext,
    id: RouterId,
    req: InterfaceRequest,
) -> Result<RouterInterfaceInfo> {
    let cur = svc.visible_router(ctx, &id).await?;
    authorize("add_router_interface", ctx, &target(&cur.value.project_id))?;
    let bad = |m: String| NetworkError::BadRequest { resource: "router", message: m };
    match (&req.subnet_id, &req.port_id) {
        (Some(_), Some(_)) => {
            return Err(bad("Cannot specify both subnet-id and port-id".into()));
        }
        (None, None) => {
            return Err(bad("Either subnet_id or port_id must be specified".into()));
        }
        _ => {}
    }
    retry_txn(&format!("router {id}"), || async {
        let cur = svc.visible_router(ctx, &id).await?;
        let mut plan = Plan::default();
        plan.when(svc.routers.unchanged(&cur.id, cur.revision), Tag::Retry);
        let mut existing: Vec<Subnet> = Vec::new();
        for p in svc.router_interface_ports(&id).await? {
            for f in &p.value.fixed_ips {
                if let Some(s) = svc.subnets.get(&f.subnet_id.to_string()).await? {
                    existing.push(s.value);
                }
            }
        }
        let check_overlap = |s: &Subnet| -> Result<()> {
            for e in &existing {
                if e.id == s.id {
                    return Err(bad(format!("Router already has a port on subnet {}", s.id)));
                }
                if e.cidr.overlaps(&s.cidr) {
                    return Err(bad(format!(
                        "Cidr {} of subnet {} overlaps with cidr {} of subnet {}",
                        s.cidr, s.id, e.cidr, e.id
                    )));
                }
            }
            Ok(())
        };
        let port = match (&req.subnet_id, &req.port_id) {
            (Some(sid), _) => {
                let s = svc.visible_subnet(ctx, sid).await?;
                if !owns(ctx, &s.value.project_id) {
                    return Err(NetworkError::not_found("subnet", sid));
                }
                check_overlap(&s.value)?;
                let gw = s.value.gateway_ip.ok_or_else(|| {
                    bad("Subnet for router interface must have a gateway IP".to_string())
                })?;
                let net = svc.visible_network(ctx, &s.value.network_id).await?;
                let preq = router_port(
                    s.value.network_id,
                    &id,
                    "network:router_interface",
                    Some(vec![FixedIpRequest {
                        subnet_id: Some(*sid),
                        ip_address: Some(gw.to_string()),
                    }]),
                );
                let admin = RequestContext::internal("network");
                svc.plan_port(
                    &mut plan,
                    &admin,
                    &net,
                    &cur.value.project_id,
                    &preq,
                    Vec::new(),
                    true,
                )
                .await?
            }
            (None, Some(pid)) => {
                let p = svc.visible_port(ctx, pid).await?;
                if !p.value.device_id.is_empty() || !p.value.device_owner.is_empty() {
                    return Err(NetworkError::conflict(
                        "PortInUse",
                        format!(
                            "Unable to complete operation on port {pid} for network {}. Port already has an attached device {}.",
                            p.value.network_id, p.value.device_id
                        ),
                    ));
                }
                if p.value.fixed_ips.is_empty() {
                    return Err(bad("Router port must have at least one fixed IP".to_string()));
                }
                for f in &p.value.fixed_ips {
                    if let Some(s) = svc.subnets.get(&f.subnet_id.to_string()).await? {
                        check_overlap(&s.value)?;
                    }
                }
                let mut port = p.value.clone();
                port.device_id = id.to_string();
                port.device_owner = "network:router_interface".into();
                port.security_groups.clear();
                port.port_security_enabled = false;
                port.revision_number += 1;
                plan.when(svc.ports.unchanged(&p.id, p.revision), Tag::Retry);
                plan.op(svc.ports.put_op(&p.id, &port)?);
                port
            }
            (None, None) => unreachable!("checked above"),
        };
        let mut r = cur.value.clone();
        r.revision_number += 1;
        r.updated_at = now();
        plan.op(svc.routers.put_op(&cur.id, &r)?);
        if svc.run(plan).await? {
            svc.sync_router(id).await;
            svc.sync_dhcp(port.network_id).await;
            // A tenant port that became a router leg is no longer filtered.
            if let Err(e) = svc.backends.firewall.remove_port(port.id).await {
                tracing::warn!(port = %port.id, error = %e, "firewall removal failed");
            }
            let subnet_ids: Vec<SubnetId> = port.fixed_ips.iter().map(|f| f.subnet_id).collect();
            return Ok(Some(RouterInterfaceInfo {
                id,
                tenant_id: r.project_id.clone(),
                project_id: r.project_id.clone(),
                port_id: port.id,
                network_id: port.network_id,
                subnet_id: subnet_ids[0],
                subnet_ids,
            }));
        }
        Ok(None)
    })
    .await
}

pub(super) async fn remove_router_interface(
    svc: &NetworkService,
    ctx: &RequestContext,
    id: RouterId,
    req: InterfaceRequest,
) -> Result<RouterInterfaceInfo> {
    let cur = svc.visible_router(ctx, &id).await?;
    authorize("remove_router_interface", ctx, &target(&cur.value.project_id))?;
    retry_txn(&format!("router {id}"), || async {
        let cur = svc.visible_router(ctx, &id).await?;
        let ports = svc.router_interface_ports(&id).await?;
        let port = match (&req.subnet_id, &req.port_id) {
            (_, Some(pid)) => ports.into_iter().find(|p| p.value.id == *pid).ok_or_else(|| {
                NetworkError::NotFound {
                    neutron_type: "RouterInterfaceNotFound",
                    message: format!("Router {id} does not have an interface with id {pid}"),
                }
            })?,
            (Some(sid), None) => ports
                .into_iter()
                .find(|p| p.value.fixed_ips.iter().any(|f| f.subnet_id == *sid))
                .ok_or_else(|| NetworkError::NotFound {
                    neutron_type: "RouterInterfaceNotFoundForSubnet",
                    message: format!("Router {id} has no interface on subnet {sid}"),
                })?,
            (None, None) => {
                return Err(NetworkError::BadRequest {
                    resource: "router",
                    message: "Either subnet_id or port_id must be specified".into(),
                });
            }
        };
        let subnet_ids: Vec<SubnetId> = port.value.fixed_ips.iter().map(|f| f.subnet_id).collect();
        for f in svc.fips.list_all().await? {
            if f.value.router_id == Some(id)
                && let Some(pid) = f.value.port_id
                && let Some(p) = svc.ports.get(&pid.to_string()).await?
                && p.value.fixed_ips.iter().any(|x| subnet_ids.contains(&x.subnet_id))
            {
                return Err(NetworkError::conflict(
                    "RouterInterfaceInUseByFloatingIP",
                    format!(
                        "Router interface for subnet {} on router {id} cannot be deleted, as it is required by one or more floating IPs.",
                        subnet_ids[0]
                    ),
                ));
            }
        }
        let mut plan = Plan::default();
        plan.when(svc.routers.unchanged(&cur.id, cur.revision), Tag::Retry);
        svc.plan_port_delete(&mut plan, &port, true).await?;
        let mut r = cur.value.clone();
        r.revision_number += 1;
        r.updated_at = now();
        plan.op(svc.routers.put_op(&cur.id, &r)?);
        if svc.run(plan).await? {
            svc.sync_router(id).await;
            svc.sync_dhcp(port.value.network_id).await;
            return Ok(Some(RouterInterfaceInfo {
                id,
                tenant_id: r.project_id.clone(),
                project_id: r.project_id,
                port_id: port.value.id,
                network_id: port.value.network_id,
                subnet_id: subnet_ids[0],
                subnet_ids,
            }));
        }
        Ok(None)
    })
    .await
}
