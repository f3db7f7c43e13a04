// SPDX-License-Identifier: Apache-2.0
//! Security groups and their rules, including each project's `default` group.

use super::{
    NetworkService, Plan, Tag, check_len, default_sg_key, fp_key, is_admin, now, owner_for, owns,
    target, values, values_where,
};
use crate::cidr::{Cidr, IpVersion};
use crate::error::{NetworkError, Result};
use crate::policy::authorize;
use crate::secgroup::{has_ports, is_icmp, protocol_number};
use crate::types::*;
use ferrostack_core::RequestContext;
use ferrostack_core::id::ProjectId;
use ferrostack_core::store::retry::retry_txn;
use ferrostack_core::store::{Condition, Op};
use serde_json::{Value, json};
use std::collections::HashMap;

pub(super) fn rule_err(t: &'static str, msg: String) -> NetworkError {
    NetworkError::Rejected { neutron_type: t, message: msg }
}

pub(super) fn port_value(v: &Option<Value>) -> Result<Option<u32>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .filter(|n| *n <= 65535)
            .map(|n| Some(n as u32))
            .ok_or_else(|| NetworkError::invalid(format!("Invalid value for port {n}"))),
        Some(Value::String(s)) => {
            s.parse::<u32>().ok().filter(|n| *n <= 65535).map(Some).ok_or_else(|| {
                NetworkError::invalid(format!(
                    "Invalid value for port {}",
                    ferrostack_core::id::truncate_for_message(s)
                ))
            })
        }
        Some(other) => Err(NetworkError::invalid(format!("Invalid value for port {other}"))),
    }
}

impl NetworkService {
    pub(super) fn new_rule(
        sg: &SecurityGroup,
        direction: Direction,
        v: IpVersion,
        remote_group: Option<SecurityGroupId>,
    ) -> SecurityGroupRule {
        let t = now();
        SecurityGroupRule {
            id: SecurityGroupRuleId::new(),
            security_group_id: sg.id,
            project_id: sg.project_id.clone(),
            tenant_id: sg.project_id.clone(),
            direction,
            ethertype: v.ethertype().into(),
            protocol: None,
            port_range_min: None,
            port_range_max: None,
            remote_ip_prefix: None,
            remote_group_id: remote_group,
            remote_address_group_id: None,
            normalized_cidr: None,
            description: String::new(),
            created_at: t.clone(),
            updated_at: t,
            revision_number: 0,
        }
    }

    pub(super) fn new_group(
        project: &ProjectId,
        name: &str,
        description: &str,
        stateful: bool,
    ) -> SecurityGroup {
        let t = now();
        SecurityGroup {
            id: SecurityGroupId::new(),
            name: name.into(),
            description: description.into(),
            project_id: project.clone(),
            tenant_id: project.clone(),
            stateful,
            security_group_rules: Vec::new(),
            tags: Vec::new(),
            created_at: t.clone(),
            updated_at: t,
            revision_number: 1,
        }
    }

    /// The project's `default` group, created (with Neutron's default rules) on first use.
    pub async fn ensure_default_sg(&self, project: &ProjectId) -> Result<SecurityGroupId> {
        retry_txn(&format!("the default security group of project {project}"), || async {
            if let Some(kv) = self.store.get(&default_sg_key(project)).await? {
                let id: SecurityGroupId =
                    String::from_utf8_lossy(&kv.value).parse().map_err(|_| {
                        NetworkError::Store(ferrostack_core::store::StoreError::NotFound(
                            kv.key.clone(),
                        ))
                    })?;
                return Ok(Some(id));
            }
            let sg = Self::new_group(project, "default", "Default security group", true);
            let rules = vec![
                Self::new_rule(&sg, Direction::Egress, IpVersion::V4, None),
                Self::new_rule(&sg, Direction::Egress, IpVersion::V6, None),
                Self::new_rule(&sg, Direction::Ingress, IpVersion::V4, Some(sg.id)),
                Self::new_rule(&sg, Direction::Ingress, IpVersion::V6, Some(sg.id)),
            ];
            let mut plan = Plan::default();
            plan.when(Condition::absent(default_sg_key(project)), Tag::Retry);
            plan.op(Op::Put {
                key: default_sg_key(project),
                value: sg.id.to_string().into_bytes(),
            });
            plan.op(self.sgs.put_op(&sg.id.to_string(), &sg)?);
            for r in &rules {
                plan.op(self.rules.put_op(&r.id.to_string(), r)?);
                plan.op(Op::Put { key: fp_key(r), value: r.id.to_string().into_bytes() });
            }
            self.usage(&mut plan, project, Resource::SecurityGroup, 1, false).await?;
            self.usage(&mut plan, project, Resource::SecurityGroupRule, rules.len() as i64, false)
                .await?;
            if self.run(plan).await? {
                return Ok(Some(sg.id));
            }
            Ok(None)
        })
        .await
    }

    pub(super) async fn group_rules(&self, id: &SecurityGroupId) -> Result<Vec<SecurityGroupRule>> {
        values_where(&self.rules, |r| &r.security_group_id == id).await
    }
}

pub(super) async fn create_security_group(
    svc: &NetworkService,
    ctx: &RequestContext,
    req: SecurityGroupCreate,
) -> Result<SecurityGroup> {
    authorize("create_security_group", ctx, &json!({}))?;
    let project = owner_for(ctx, &req.project_id, &req.tenant_id)?;
    let name = req.name.clone().unwrap_or_default();
    check_len("name", &name, 255)?;
    check_len("description", req.description.as_deref().unwrap_or(""), 255)?;
    if name == "default" && !is_admin(ctx) {
        return Err(NetworkError::conflict(
            "SecurityGroupDefaultAlreadyExists",
            "Default security group already exists.",
        ));
    }
    svc.ensure_default_sg(&project).await?;
    retry_txn("a new security group", || async {
        let mut sg = NetworkService::new_group(
            &project,
            &name,
            req.description.as_deref().unwrap_or(""),
            req.stateful.unwrap_or(true),
        );
        let rules = vec![
            NetworkService::new_rule(&sg, Direction::Egress, IpVersion::V4, None),
            NetworkService::new_rule(&sg, Direction::Egress, IpVersion::V6, None),
        ];
        let mut plan = Plan::default();
        svc.usage(&mut plan, &project, Resource::SecurityGroup, 1, true).await?;
        svc.usage(&mut plan, &project, Resource::SecurityGroupRule, rules.len() as i64, true)
            .await?;
        plan.op(svc.sgs.put_op(&sg.id.to_string(), &sg)?);
        for r in &rules {
            plan.op(svc.rules.put_op(&r.id.to_string(), r)?);
            plan.op(Op::Put { key: fp_key(r), value: r.id.to_string().into_bytes() });
        }
        if svc.run(plan).await? {
            sg.security_group_rules = rules;
            return Ok(Some(sg));
        }
        Ok(None)
    })
    .await
}

pub(super) async fn get_security_group(
    svc: &NetworkService,
    ctx: &RequestContext,
    id: SecurityGroupId,
) -> Result<SecurityGroup> {
    let mut sg = svc.visible_sg(ctx, &id).await?.value;
    sg.security_group_rules = svc.group_rules(&id).await?;
    Ok(sg)
}

pub(super) async fn list_security_groups(
    svc: &NetworkService,
    ctx: &RequestContext,
) -> Result<Vec<SecurityGroup>> {
    if let Some(p) = ctx.project_id() {
        svc.ensure_default_sg(p).await?;
    }
    let rules: Vec<SecurityGroupRule> = values(&svc.rules).await?;
    Ok(values_where(&svc.sgs, |g| owns(ctx, &g.project_id))
        .await?
        .into_iter()
        .map(|mut g| {
            g.security_group_rules =
                rules.iter().filter(|r| r.security_group_id == g.id).cloned().collect();
            g
        })
        .collect())
}

pub(super) async fn update_security_group(
    svc: &NetworkService,
    ctx: &RequestContext,
    id: SecurityGroupId,
    req: SecurityGroupUpdate,
) -> Result<SecurityGroup> {
    let cur = svc.visible_sg(ctx, &id).await?;
    authorize("update_security_group", ctx, &target(&cur.value.project_id))?;
    if let Some(n) = &req.name {
        check_len("name", n, 255)?;
        if cur.value.name == "default" && n != "default" {
            return Err(NetworkError::conflict(
                "SecurityGroupCannotUpdateDefault",
                "Updating default security group not allowed.",
            ));
        }
    }
    let mut updated = svc
        .sgs
        .update_with::<NetworkError, _>(&id.to_string(), |g| {
            if let Some(v) = &req.name {
                g.name = v.clone()
            }
            if let Some(v) = &req.description {
                g.description = v.clone()
            }
            if let Some(v) = req.stateful {
                g.stateful = v
            }
            g.revision_number += 1;
            g.updated_at = now();
            Ok(())
        })
        .await?
        .value;
    updated.security_group_rules = svc.group_rules(&id).await?;
    svc.refresh_firewalls(&[id]).await;
    Ok(updated)
}

pub(super) async fn delete_security_group(
    svc: &NetworkService,
    ctx: &RequestContext,
    id: SecurityGroupId,
) -> Result<()> {
    let cur = svc.visible_sg(ctx, &id).await?;
    authorize("delete_security_group", ctx, &target(&cur.value.project_id))?;
    if cur.value.name == "default" && !is_admin(ctx) {
        return Err(NetworkError::conflict(
            "SecurityGroupCannotRemoveDefault",
            "Insufficient rights for removing default security group.",
        ));
    }
    // Mark (a CAS write) so that in-flight port transactions naming the group fail.
    let marked = svc
        .mark(&svc.sgs, &id.to_string(), |g| {
            g.revision_number += 1;
            Ok(())
        })
        .await?;
    if svc.ports.list_all().await?.iter().any(|p| p.value.security_groups.contains(&id)) {
        return Err(NetworkError::conflict(
            "SecurityGroupInUse",
            format!("Security Group {id} in use."),
        ));
    }
    let mut plan = Plan::default();
    plan.when(svc.sgs.unchanged(&marked.id, marked.revision), Tag::Retry);
    plan.op(svc.sgs.delete_op(&marked.id));
    let mut removed: HashMap<ProjectId, i64> = HashMap::new();
    for r in svc.rules.list_all().await? {
        if r.value.security_group_id == id || r.value.remote_group_id == Some(id) {
            plan.op(svc.rules.delete_op(&r.id));
            plan.del(fp_key(&r.value));
            *removed.entry(r.value.project_id.clone()).or_default() -= 1;
        }
    }
    if cur.value.name == "default" {
        plan.del(default_sg_key(&cur.value.project_id));
    }
    for (p, n) in removed {
        svc.usage(&mut plan, &p, Resource::SecurityGroupRule, n, false).await?;
    }
    svc.usage(&mut plan, &cur.value.project_id, Resource::SecurityGroup, -1, false).await?;
    if !svc.run(plan).await? {
        return Err(NetworkService::too_busy(format!("security group {id}")));
    }
    svc.refresh_firewalls(&[id]).await;
    Ok(())
}

pub(super) async fn create_security_group_rule(
    svc: &NetworkService,
    ctx: &RequestContext,
    req: SecurityGroupRuleCreate,
) -> Result<SecurityGroupRule> {
    let sg = svc.visible_sg(ctx, &req.security_group_id).await?;
    authorize("create_security_group_rule", ctx, &target(&sg.value.project_id))?;
    let ethertype = req.ethertype.clone().unwrap_or_else(|| "IPv4".into());
    let version = match ethertype.as_str() {
        "IPv4" => IpVersion::V4,
        "IPv6" => IpVersion::V6,
        other => {
            return Err(rule_err(
                "SecurityGroupRuleInvalidEtherType",
                format!(
                    "Security group rule for ethertype '{}' not supported. Allowed values are ['IPv4', 'IPv6'].",
                    ferrostack_core::id::truncate_for_message(other)
                ),
            ));
        }
    };
    let protocol: Option<String> = match &req.protocol {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() || s.eq_ignore_ascii_case("any") => None,
        Some(Value::String(s)) => Some(s.to_ascii_lowercase()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => Some(other.to_string()),
    };
    let proto_num = match &protocol {
        None => None,
        Some(p) => Some(protocol_number(p, version).ok_or_else(|| {
            rule_err("SecurityGroupRuleInvalidProtocol", format!(
                "Security group rule protocol {} not supported. Only protocol values [None, 'ah', 'dccp', 'egp', 'esp', 'gre', 'icmp', 'igmp', 'ipip', 'ipv6-encap', 'ipv6-frag', 'ipv6-icmp', 'icmpv6', 'ipv6-nonxt', 'ipv6-opts', 'ipv6-route', 'ospf', 'pgm', 'rsvp', 'sctp', 'tcp', 'udp', 'udplite', 'vrrp'] and integer representations [0 to 255] are supported.",
                ferrostack_core::id::truncate_for_message(p)
            ))
        })?),
    };
    // `icmp` on IPv6 is ICMPv6, stored under its IPv6 name.
    let protocol = match (&protocol, version) {
        (Some(p), IpVersion::V6) if p == "icmp" => Some("ipv6-icmp".to_string()),
        (Some(p), IpVersion::V4) if p == "ipv6-icmp" || p == "icmpv6" => {
            return Err(rule_err(
                "SecurityGroupRuleParameterConflict",
                format!("Conflicting value ethertype IPv4 for protocol {p}"),
            ));
        }
        _ => protocol,
    };
    let min = port_value(&req.port_range_min)?;
    let max = port_value(&req.port_range_max)?;
    match proto_num {
        Some(p) if has_ports(p) => match (min, max) {
            (None, None) => {}
            (Some(a), Some(b)) if a == 0 || b == 0 => {
                return Err(rule_err(
                    "SecurityGroupInvalidPortValue",
                    "Invalid value for port 0".into(),
                ));
            }
            (Some(a), Some(b)) if a <= b => {}
            _ => {
                return Err(rule_err(
                    "SecurityGroupInvalidPortRange",
                    "For TCP/UDP protocols, port_range_min must be <= port_range_max".into(),
                ));
            }
        },
        Some(p) if is_icmp(p) => {
            if let Some(t) = min
                && t > 255
            {
                return Err(rule_err(
                    "SecurityGroupInvalidIcmpValue",
                    format!(
                        "Invalid value for ICMP port_range_min(type): {t}. It must be 0 to 255."
                    ),
                ));
            }
            if let Some(c) = max
                && c > 255
            {
                return Err(rule_err(
                    "SecurityGroupInvalidIcmpValue",
                    format!(
                        "Invalid value for ICMP port_range_max(code): {c}. It must be 0 to 255."
                    ),
                ));
            }
            if min.is_none() && max.is_some() {
                return Err(rule_err(
                    "SecurityGroupMissingIcmpType",
                    format!(
                        "ICMP code (port-range-max) {} is provided but ICMP type (port-range-min) is missing.",
                        max.unwrap_or(0)
                    ),
                ));
            }
        }
        _ => {
            if min.is_some() || max.is_some() {
                return Err(rule_err(
                    "SecurityGroupInvalidProtocolForPortRange",
                    format!(
                        "Invalid protocol {} for port range, only supported for TCP, UDP, UDPLITE, SCTP and ICMP",
                        protocol.as_deref().unwrap_or("None")
                    ),
                ));
            }
        }
    }
    if req.remote_address_group_id.is_some() {
        return Err(NetworkError::invalid("remote_address_group_id is not supported"));
    }
    if req.remote_ip_prefix.is_some() && req.remote_group_id.is_some() {
        return Err(rule_err(
            "SecurityGroupRemoteGroupAndRemoteIpPrefix",
            "Only remote_ip_prefix or remote_group_id may be provided.".into(),
        ));
    }
    let prefix = match &req.remote_ip_prefix {
        None => None,
        Some(s) => {
            let c = Cidr::parse_loose(s).map_err(|e| NetworkError::malformed(None, e))?;
            if c.version() != version {
                return Err(rule_err(
                    "SecurityGroupRuleParameterConflict",
                    format!("Conflicting value ethertype {ethertype} for CIDR {c}"),
                ));
            }
            Some(c)
        }
    };
    if let Some(g) = &req.remote_group_id {
        svc.visible_sg(ctx, g).await?;
    }
    check_len("description", req.description.as_deref().unwrap_or(""), 255)?;
    retry_txn("a new security group rule", || async {
        let sg = svc.visible_sg(ctx, &req.security_group_id).await?;
        let t = now();
        let rule = SecurityGroupRule {
            id: SecurityGroupRuleId::new(),
            security_group_id: sg.value.id,
            project_id: sg.value.project_id.clone(),
            tenant_id: sg.value.project_id.clone(),
            direction: req.direction,
            ethertype: ethertype.clone(),
            protocol: protocol.clone(),
            port_range_min: min,
            port_range_max: max,
            remote_ip_prefix: prefix,
            remote_group_id: req.remote_group_id,
            remote_address_group_id: None,
            normalized_cidr: prefix,
            description: req.description.clone().unwrap_or_default(),
            created_at: t.clone(),
            updated_at: t,
            revision_number: 0,
        };
        let mut plan = Plan::default();
        plan.when(svc.sgs.unchanged(&sg.id, sg.revision), Tag::Retry);
        let fp = fp_key(&rule);
        if let Some(existing) = svc.store.get(&fp).await? {
            return Err(NetworkError::conflict(
                "SecurityGroupRuleExists",
                format!(
                    "Security group rule already exists. Rule id is {}.",
                    String::from_utf8_lossy(&existing.value)
                ),
            ));
        }
        plan.when(Condition::absent(&fp), Tag::RuleExists);
        plan.op(Op::Put { key: fp, value: rule.id.to_string().into_bytes() });
        if let Some(g) = &req.remote_group_id {
            plan.when(Condition::exists(svc.sgs.key(&g.to_string())), Tag::Retry);
        }
        svc.usage(&mut plan, &sg.value.project_id, Resource::SecurityGroupRule, 1, true).await?;
        plan.op(svc.rules.put_op(&rule.id.to_string(), &rule)?);
        if svc.run(plan).await? {
            svc.refresh_firewalls(&[sg.value.id]).await;
            return Ok(Some(rule));
        }
        Ok(None)
    })
    .await
}

pub(super) async fn get_security_group_rule(
    svc: &NetworkService,
    ctx: &RequestContext,
    id: SecurityGroupRuleId,
) -> Result<SecurityGroupRule> {
    match svc.rules.get(&id.to_string()).await? {
        Some(r) if owns(ctx, &r.value.project_id) => Ok(r.value),
        _ => Err(NetworkError::not_found("security_group_rule", id)),
    }
}

pub(super) async fn list_security_group_rules(
    svc: &NetworkService,
    ctx: &RequestContext,
) -> Result<Vec<SecurityGroupRule>> {
    if let Some(p) = ctx.project_id() {
        svc.ensure_default_sg(p).await?;
    }
    values_where(&svc.rules, |r| owns(ctx, &r.project_id)).await
}

pub(super) async fn delete_security_group_rule(
    svc: &NetworkService,
    ctx: &RequestContext,
    id: SecurityGroupRuleId,
) -> Result<()> {
    let r = match svc.rules.get(&id.to_string()).await? {
        Some(r) if owns(ctx, &r.value.project_id) => r,
        _ => return Err(NetworkError::not_found("security_group_rule", id)),
    };
    authorize("delete_security_group_rule", ctx, &target(&r.value.project_id))?;
    retry_txn(&format!("security group rule {id}"), || async {
        let Some(r) = svc.rules.get(&id.to_string()).await? else {
            return Err(NetworkError::not_found("security_group_rule", id));
        };
        let mut plan = Plan::default();
        plan.when(svc.rules.unchanged(&r.id, r.revision), Tag::Retry);
        plan.op(svc.rules.delete_op(&r.id));
        plan.del(fp_key(&r.value));
        svc.usage(&mut plan, &r.value.project_id, Resource::SecurityGroupRule, -1, false).await?;
        if svc.run(plan).await? {
            svc.refresh_firewalls(&[r.value.security_group_id]).await;
            return Ok(Some(()));
        }
        Ok(None)
    })
    .await
}
