// SPDX-License-Identifier: Apache-2.0
//! [`NetworkService`]: the local implementation of [`NetworkApi`] over a
//! `Store`.
//!
//! # Consistency
//!
//! Every change is **one [`Txn`]** that writes the resource together with its index keys and
//! checks, with compare-and-swap conditions, everything it read:
//!
//! | key | meaning |
//! |---|---|
//! | `network/ipam/<subnet>/<addr hex>` | an allocated address (`Condition::absent` on allocation) |
//! | `network/macs/<network>/<mac>` | a MAC in use on a network |
//! | `network/segments/<type>/<physnet>/<id>` | an allocated VLAN id / VNI / flat physnet |
//! | `network/usage/<project>/<resource>` | quota usage counter (CAS) |
//! | `network/default-sg/<project>` | the project's default security group |
//! | `network/sg-rule-fp/<group>/<fingerprint>` | rule uniqueness |
//! | `network/fip-assoc/<port>/<addr hex>` | a fixed address's floating IP (one-to-one NAT) |
//!
//! A losing transaction is rebuilt from fresh reads and retried, so concurrent creators never
//! share an address, a MAC or a segment, and a quota is never overshot. Deleting a subnet,
//! network or security group first marks it (a CAS that makes every in-flight transaction
//! depending on it fail), then checks it is unused, then deletes it.

use crate::api::{NetworkApi, QuotaDetail};
use crate::backend::*;
use crate::cidr::{Cidr, IpVersion, eui64, from_u128, to_u128};
use crate::error::{NetworkError, Result};
use crate::policy::{allowed, authorize};
use crate::secgroup::{compile, has_ports, is_icmp, protocol_number};
use crate::types::*;
use ferrostack_core::RequestContext;
use ferrostack_core::id::{NetworkId, PortId, ProjectId, RouterId, SubnetId};
use ferrostack_core::store::{
    Collection, Condition, Op, Store, StoreExt, Txn, TxnOutcome, Versioned,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

/// How many times a transaction is rebuilt after losing a race before giving up.
pub const MAX_ATTEMPTS: usize = 500;

/// A VLAN range of a physical network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VlanRange {
    /// The physical network.
    pub physical_network: String,
    /// First id (1..=4094).
    pub min: u32,
    /// Last id.
    pub max: u32,
}

/// The service's configuration (ML2's type drivers and Neutron's limits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// Physical networks usable by flat networks.
    pub flat_networks: Vec<String>,
    /// VLAN pools.
    pub vlan_ranges: Vec<VlanRange>,
    /// VNI pool for VXLAN, inclusive.
    pub vni_range: (u32, u32),
    /// The type of project networks (`vxlan` by default).
    pub tenant_network_type: NetworkType,
    /// The physical MTU; VXLAN networks get 50 bytes less.
    pub physical_mtu: u32,
    /// Neutron's `max_dns_nameservers`.
    pub max_dns_nameservers: usize,
    /// Neutron's `max_subnet_host_routes`.
    pub max_subnet_host_routes: usize,
    /// Neutron's `max_fixed_ips_per_port`.
    pub max_fixed_ips_per_port: usize,
    /// Quotas of projects without overrides.
    pub default_quotas: QuotaSet,
    /// The first three octets of generated MACs (`fa:16:3e`).
    pub base_mac: [u8; 3],
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            flat_networks: vec!["public".into()],
            vlan_ranges: vec![VlanRange {
                physical_network: "physnet1".into(),
                min: 100,
                max: 199,
            }],
            vni_range: (1, 65535),
            tenant_network_type: NetworkType::Vxlan,
            physical_mtu: 1500,
            max_dns_nameservers: 5,
            max_subnet_host_routes: 20,
            max_fixed_ips_per_port: 5,
            default_quotas: QuotaSet::default(),
            base_mac: [0xfa, 0x16, 0x3e],
        }
    }
}

/// The data-plane backends the service drives.
#[derive(Debug, Clone)]
pub struct Backends {
    /// L2.
    pub l2: Arc<dyn NetworkBackend>,
    /// Security groups.
    pub firewall: Arc<dyn Firewall>,
    /// Routers and NAT.
    pub l3: Arc<dyn L3Backend>,
    /// DHCP.
    pub dhcp: Arc<dyn DhcpBackend>,
}

impl Backends {
    /// One object implementing all four traits (such as the fake backend).
    pub fn all<B>(b: Arc<B>) -> Self
    where
        B: NetworkBackend + Firewall + L3Backend + DhcpBackend + 'static,
    {
        Backends { l2: b.clone(), firewall: b.clone(), l3: b.clone(), dhcp: b }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Allocation {
    owner: String,
    ip: IpAddr,
}

/// Why a transaction condition may fail.
#[derive(Debug, Clone)]
enum Tag {
    Retry,
    IpInUse(IpAddr, SubnetId),
    MacInUse(String, NetworkId),
    Segment(String),
    FipAssociated(String),
    RuleExists,
}

#[derive(Default)]
struct Plan {
    txn: Txn,
    tags: Vec<Tag>,
}

impl Plan {
    fn when(&mut self, c: Condition, tag: Tag) {
        self.txn.conditions.push(c);
        self.tags.push(tag);
    }
    fn op(&mut self, op: Op) {
        self.txn.ops.push(op);
    }
    fn put<T: Serialize>(&mut self, key: String, v: &T) -> Result<()> {
        let value = serde_json::to_vec(v)
            .map_err(|e| NetworkError::Store(ferrostack_core::store::StoreError::Encode(e)))?;
        self.txn.ops.push(Op::Put { key, value });
        Ok(())
    }
    fn del(&mut self, key: String) {
        self.txn.ops.push(Op::Delete { key });
    }
}

fn now() -> String {
    ferrostack_core::time::seconds_format(ferrostack_core::time::now())
}

fn ip_hex(ip: &IpAddr) -> String {
    format!("{:032x}", to_u128(ip))
}

fn ipam_prefix(subnet: &SubnetId) -> String {
    format!("network/ipam/{subnet}/")
}
fn ipam_key(subnet: &SubnetId, ip: &IpAddr) -> String {
    format!("network/ipam/{subnet}/{}", ip_hex(ip))
}
fn mac_key(net: &NetworkId, mac: &str) -> String {
    format!("network/macs/{net}/{mac}")
}
fn usage_key(p: &ProjectId, r: Resource) -> String {
    format!("network/usage/{p}/{}", r.as_str())
}
fn default_sg_key(p: &ProjectId) -> String {
    format!("network/default-sg/{p}")
}
fn assoc_key(port: &PortId, ip: &IpAddr) -> String {
    format!("network/fip-assoc/{port}/{}", ip_hex(ip))
}
fn fp_key(r: &SecurityGroupRule) -> String {
    format!(
        "network/sg-rule-fp/{}/{:?}|{}|{}|{:?}|{:?}|{}|{}",
        r.security_group_id,
        r.direction,
        r.ethertype,
        r.protocol.as_deref().unwrap_or("any"),
        r.port_range_min,
        r.port_range_max,
        r.remote_ip_prefix.map(|c| c.to_string()).unwrap_or_default(),
        r.remote_group_id.map(|g| g.to_string()).unwrap_or_default(),
    )
}

/// The L2 view of a network the backends need.
fn network_spec(net: &Network) -> NetworkSpec {
    NetworkSpec { id: net.id, segment: net.segment(), mtu: net.mtu }
}

/// A port's firewall: its addresses (fixed IPs and allowed address pairs) as permitted
/// sources and its groups' `rules` compiled with remote-group `members` resolved.
fn firewall_port(
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

fn check_len(what: &str, s: &str, max: usize) -> Result<()> {
    if s.chars().count() > max {
        return Err(NetworkError::invalid(format!(
            "'{}' exceeds maximum length of {max} for {what}",
            ferrostack_core::id::truncate_for_message(s)
        )));
    }
    Ok(())
}

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

fn mac_string(m: &[u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

fn parse_ip(s: &str) -> Result<IpAddr> {
    s.parse().map_err(|_| {
        NetworkError::invalid(format!(
            "'{}' is not a valid IP address",
            ferrostack_core::id::truncate_for_message(s)
        ))
    })
}

/// The addresses of a subnet IPAM may hand out, as number ranges.
fn pool_ranges(s: &Subnet) -> Vec<(u128, u128)> {
    s.allocation_pools.iter().map(|p| (to_u128(&p.start), to_u128(&p.end))).collect()
}

/// Up to `n` free addresses from the pools, lowest first.
pub fn free_candidates(pools: &[(u128, u128)], allocated: &BTreeSet<u128>, n: usize) -> Vec<u128> {
    let mut out = Vec::new();
    for &(start, end) in pools {
        let mut cur = start;
        let mut taken = allocated.range(start..=end).peekable();
        while cur <= end && out.len() < n {
            match taken.peek() {
                Some(&&t) if t == cur => {
                    taken.next();
                }
                _ => out.push(cur),
            }
            if cur == u128::MAX {
                break;
            }
            cur += 1;
        }
        if out.len() >= n {
            break;
        }
    }
    out
}

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

/// The networking service.
#[derive(Debug, Clone)]
pub struct NetworkService {
    store: Arc<dyn Store>,
    networks: Collection<Network>,
    subnets: Collection<Subnet>,
    ports: Collection<Port>,
    routers: Collection<Router>,
    fips: Collection<FloatingIp>,
    sgs: Collection<SecurityGroup>,
    rules: Collection<SecurityGroupRule>,
    quotas: Collection<QuotaSet>,
    config: NetworkConfig,
    backends: Backends,
}

fn is_admin(ctx: &RequestContext) -> bool {
    ctx.has_role("admin")
}

fn target(p: &ProjectId) -> Value {
    json!({ "project_id": p.as_str(), "tenant_id": p.as_str() })
}

fn owns(ctx: &RequestContext, p: &ProjectId) -> bool {
    is_admin(ctx) || ctx.project_id() == Some(p)
}

/// The project a create acts for: the caller's, or another one for admins.
fn owner_for(
    ctx: &RequestContext,
    project_id: &Option<ProjectId>,
    tenant_id: &Option<ProjectId>,
) -> Result<ProjectId> {
    if let (Some(a), Some(b)) = (project_id, tenant_id)
        && a != b
    {
        return Err(NetworkError::invalid("project_id and tenant_id do not match"));
    }
    let requested = project_id.clone().or_else(|| tenant_id.clone());
    match (requested, ctx.project_id()) {
        (Some(r), Some(own)) if &r == own => Ok(r),
        (Some(r), _) => {
            authorize("create_resource_for_other_project", ctx, &target(&r))?;
            Ok(r)
        }
        (None, Some(own)) => Ok(own.clone()),
        (None, None) => {
            Err(NetworkError::invalid("project_id is required for a token without project scope"))
        }
    }
}

impl NetworkService {
    /// A service over `store` driving `backends`.
    pub fn new(store: Arc<dyn Store>, config: NetworkConfig, backends: Backends) -> Self {
        NetworkService {
            networks: Collection::new(store.clone(), "network/networks/"),
            subnets: Collection::new(store.clone(), "network/subnets/"),
            ports: Collection::new(store.clone(), "network/ports/"),
            routers: Collection::new(store.clone(), "network/routers/"),
            fips: Collection::new(store.clone(), "network/floatingips/"),
            sgs: Collection::new(store.clone(), "network/security-groups/"),
            rules: Collection::new(store.clone(), "network/security-group-rules/"),
            quotas: Collection::new(store.clone(), "network/quotas/"),
            store,
            config,
            backends,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    async fn run(&self, plan: Plan) -> Result<bool> {
        match self.store.txn(plan.txn).await? {
            TxnOutcome::Committed { .. } => Ok(true),
            TxnOutcome::Failed { condition } => match plan.tags.get(condition) {
                None | Some(Tag::Retry) => {
                    tokio::task::yield_now().await;
                    Ok(false)
                }
                Some(Tag::IpInUse(ip, subnet)) => Err(NetworkError::conflict(
                    "IpAddressAlreadyAllocated",
                    format!("IP address {ip} already allocated in subnet {subnet}"),
                )),
                Some(Tag::MacInUse(mac, net)) => Err(NetworkError::conflict(
                    "MacAddressInUse",
                    format!(
                        "Unable to complete operation for network {net}. The mac address {mac} is in use."
                    ),
                )),
                Some(Tag::Segment(m)) => {
                    Err(NetworkError::conflict("SegmentationIdInUse", m.clone()))
                }
                Some(Tag::FipAssociated(m)) => {
                    Err(NetworkError::conflict("FloatingIPPortAlreadyAssociated", m.clone()))
                }
                Some(Tag::RuleExists) => Err(NetworkError::conflict(
                    "SecurityGroupRuleExists",
                    "Security group rule already exists.",
                )),
            },
        }
    }

    fn too_busy() -> NetworkError {
        NetworkError::conflict("Conflict", "too many concurrent updates; try again")
    }

    // ----- quotas -------------------------------------------------------------------------

    async fn limits(&self, p: &ProjectId) -> Result<QuotaSet> {
        Ok(self
            .quotas
            .get(p.as_str())
            .await?
            .map(|v| v.value)
            .unwrap_or(self.config.default_quotas))
    }

    /// Adds a usage change to `plan` (CAS on the counter), failing with `OverQuota` when an
    /// increase would pass the limit.
    async fn usage(
        &self,
        plan: &mut Plan,
        p: &ProjectId,
        r: Resource,
        delta: i64,
        check: bool,
    ) -> Result<()> {
        if delta == 0 {
            return Ok(());
        }
        let key = usage_key(p, r);
        let cur = self.store.get(&key).await?;
        let used: i64 = cur
            .as_ref()
            .and_then(|kv| std::str::from_utf8(&kv.value).ok()?.parse().ok())
            .unwrap_or(0);
        if check && delta > 0 {
            let limit = r.limit(&self.limits(p).await?);
            if limit >= 0 && used + delta > limit {
                return Err(NetworkError::OverQuota(r.as_str()));
            }
        }
        match &cur {
            Some(kv) => plan.when(Condition::mod_revision(&key, kv.mod_revision), Tag::Retry),
            None => plan.when(Condition::absent(&key), Tag::Retry),
        }
        plan.op(Op::Put { key, value: (used + delta).max(0).to_string().into_bytes() });
        Ok(())
    }

    async fn used(&self, p: &ProjectId, r: Resource) -> Result<i64> {
        Ok(self
            .store
            .get(&usage_key(p, r))
            .await?
            .and_then(|kv| std::str::from_utf8(&kv.value).ok()?.parse().ok())
            .unwrap_or(0))
    }

    // ----- visibility ---------------------------------------------------------------------

    fn network_visible(ctx: &RequestContext, n: &Network) -> bool {
        owns(ctx, &n.project_id) || n.shared || n.external
    }

    async fn visible_network(
        &self,
        ctx: &RequestContext,
        id: &NetworkId,
    ) -> Result<Versioned<Network>> {
        match self.networks.get(&id.to_string()).await? {
            Some(n) if Self::network_visible(ctx, &n.value) && !n.value.deleting => Ok(n),
            _ => Err(NetworkError::not_found("network", id)),
        }
    }

    async fn subnet_visible(&self, ctx: &RequestContext, s: &Subnet) -> bool {
        if owns(ctx, &s.project_id) {
            return true;
        }
        matches!(self.networks.get(&s.network_id.to_string()).await, Ok(Some(n)) if n.value.shared)
    }

    async fn visible_subnet(
        &self,
        ctx: &RequestContext,
        id: &SubnetId,
    ) -> Result<Versioned<Subnet>> {
        match self.subnets.get(&id.to_string()).await? {
            Some(s) if !s.value.deleting && self.subnet_visible(ctx, &s.value).await => Ok(s),
            _ => Err(NetworkError::not_found("subnet", id)),
        }
    }

    async fn port_visible(&self, ctx: &RequestContext, p: &Port) -> bool {
        if owns(ctx, &p.project_id) {
            return true;
        }
        matches!(self.networks.get(&p.network_id.to_string()).await, Ok(Some(n)) if owns(ctx, &n.value.project_id))
    }

    async fn visible_port(&self, ctx: &RequestContext, id: &PortId) -> Result<Versioned<Port>> {
        match self.ports.get(&id.to_string()).await? {
            Some(p) if self.port_visible(ctx, &p.value).await => Ok(p),
            _ => Err(NetworkError::not_found("port", id)),
        }
    }

    async fn visible_router(
        &self,
        ctx: &RequestContext,
        id: &RouterId,
    ) -> Result<Versioned<Router>> {
        match self.routers.get(&id.to_string()).await? {
            Some(r) if owns(ctx, &r.value.project_id) => Ok(r),
            _ => Err(NetworkError::not_found("router", id)),
        }
    }

    async fn visible_fip(
        &self,
        ctx: &RequestContext,
        id: &FloatingIpId,
    ) -> Result<Versioned<FloatingIp>> {
        match self.fips.get(&id.to_string()).await? {
            Some(f) if owns(ctx, &f.value.project_id) => Ok(f),
            _ => Err(NetworkError::not_found("floatingip", id)),
        }
    }

    async fn visible_sg(
        &self,
        ctx: &RequestContext,
        id: &SecurityGroupId,
    ) -> Result<Versioned<SecurityGroup>> {
        match self.sgs.get(&id.to_string()).await? {
            Some(g) if owns(ctx, &g.value.project_id) => Ok(g),
            _ => Err(NetworkError::not_found("security_group", id)),
        }
    }

    // ----- segments -----------------------------------------------------------------------

    fn segment_key(seg: &Segment) -> String {
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
    async fn plan_segment(&self, plan: &mut Plan, req: &NetworkCreate) -> Result<Segment> {
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

    // ----- IPAM ---------------------------------------------------------------------------

    async fn allocated(&self, subnet: &SubnetId) -> Result<BTreeSet<u128>> {
        let prefix = ipam_prefix(subnet);
        Ok(self
            .store
            .list_all(&prefix)
            .await?
            .iter()
            .filter_map(|kv| u128::from_str_radix(&kv.key[prefix.len()..], 16).ok())
            .collect())
    }

    /// Picks a free address of `subnet` (random among the lowest free ones, to spread
    /// concurrent creators) and reserves it in `plan`. `None` when the pools are exhausted.
    async fn plan_auto_ip(
        &self,
        plan: &mut Plan,
        subnet: &Subnet,
        owner: &str,
        avoid: &HashSet<IpAddr>,
    ) -> Result<Option<IpAddr>> {
        let mut taken = self.allocated(&subnet.id).await?;
        taken.extend(avoid.iter().map(to_u128));
        let free = free_candidates(&pool_ranges(subnet), &taken, 16);
        if free.is_empty() {
            return Ok(None);
        }
        let ip = from_u128(subnet.cidr.version(), free[rand::random_range(0..free.len())]);
        self.reserve_ip(plan, subnet, ip, owner, Tag::Retry)?;
        Ok(Some(ip))
    }

    fn reserve_ip(
        &self,
        plan: &mut Plan,
        subnet: &Subnet,
        ip: IpAddr,
        owner: &str,
        tag: Tag,
    ) -> Result<()> {
        let key = ipam_key(&subnet.id, &ip);
        plan.when(Condition::absent(&key), tag);
        plan.put(key, &Allocation { owner: owner.to_owned(), ip })
    }

    /// Plans the fixed IPs of a new port.
    #[allow(clippy::too_many_arguments)]
    async fn plan_fixed_ips(
        &self,
        plan: &mut Plan,
        ctx: &RequestContext,
        net: &Network,
        subnets: &[Versioned<Subnet>],
        req: Option<&[FixedIpRequest]>,
        mac: &[u8; 6],
        owner: &str,
        net_owner_ok: bool,
    ) -> Result<Vec<FixedIp>> {
        let mut out: Vec<FixedIp> = Vec::new();
        let find = |id: &SubnetId| subnets.iter().find(|s| &s.value.id == id).map(|s| &s.value);
        match req {
            None => {
                let mut got_v4 = false;
                let mut got_v6 = false;
                let mut any_v4 = false;
                for s in subnets.iter().map(|s| &s.value) {
                    if s.is_auto_address() {
                        if let Some(ip) = eui64(&s.cidr, mac) {
                            self.reserve_ip(plan, s, ip, owner, Tag::IpInUse(ip, s.id))?;
                            out.push(FixedIp { subnet_id: s.id, ip_address: ip });
                        }
                        continue;
                    }
                    let v4 = s.cidr.version() == IpVersion::V4;
                    any_v4 |= v4;
                    if (v4 && got_v4) || (!v4 && got_v6) {
                        continue;
                    }
                    if let Some(ip) = self.plan_auto_ip(plan, s, owner, &HashSet::new()).await? {
                        out.push(FixedIp { subnet_id: s.id, ip_address: ip });
                        if v4 { got_v4 = true } else { got_v6 = true }
                    }
                }
                if (any_v4 && !got_v4) || (!subnets.is_empty() && out.is_empty()) {
                    return Err(NetworkError::conflict(
                        "IpAddressGenerationFailure",
                        format!("No more IP addresses available on network {}.", net.id),
                    ));
                }
            }
            Some(list) => {
                if list.len() > self.config.max_fixed_ips_per_port {
                    return Err(NetworkError::invalid(
                        "Exceeded maximum amount of fixed ips per port.",
                    ));
                }
                let mut chosen: HashSet<IpAddr> = HashSet::new();
                for r in list {
                    let explicit_ip = r.ip_address.as_deref().map(parse_ip).transpose()?;
                    let subnet = match (&r.subnet_id, explicit_ip) {
                        (Some(id), _) => find(id).ok_or_else(|| {
                            NetworkError::invalid(format!(
                                "Failed to create port on network {}, because fixed_ips included invalid subnet {id}",
                                net.id
                            ))
                        })?,
                        (None, Some(ip)) => subnets
                            .iter()
                            .map(|s| &s.value)
                            .find(|s| s.cidr.contains(&ip))
                            .ok_or_else(|| {
                                NetworkError::invalid(format!(
                                    "IP address {ip} is not a valid IP for any of the subnets on the specified network."
                                ))
                            })?,
                        (None, None) => {
                            return Err(NetworkError::invalid("Exceeded maximum amount of fixed ips per port."));
                        }
                    };
                    match explicit_ip {
                        Some(ip) => {
                            if !net_owner_ok {
                                authorize(
                                    "create_port:fixed_ips:ip_address",
                                    ctx,
                                    &target(&net.project_id),
                                )?;
                            }
                            let n = to_u128(&ip);
                            let c = &subnet.cidr;
                            let reserved_v4 = c.version() == IpVersion::V4
                                && c.prefix_len() < 31
                                && (n == c.first() || n == c.last());
                            if !c.contains(&ip) || reserved_v4 {
                                return Err(NetworkError::invalid(format!(
                                    "IP address {ip} is not a valid IP for the specified subnet."
                                )));
                            }
                            if !chosen.insert(ip) {
                                return Err(NetworkError::invalid(format!(
                                    "Duplicate IP address '{ip}'"
                                )));
                            }
                            self.reserve_ip(plan, subnet, ip, owner, Tag::IpInUse(ip, subnet.id))?;
                            out.push(FixedIp { subnet_id: subnet.id, ip_address: ip });
                        }
                        None => {
                            let ip = if subnet.is_auto_address() {
                                let ip = eui64(&subnet.cidr, mac)
                                    .ok_or_else(|| NetworkError::invalid("SLAAC needs a /64"))?;
                                self.reserve_ip(
                                    plan,
                                    subnet,
                                    ip,
                                    owner,
                                    Tag::IpInUse(ip, subnet.id),
                                )?;
                                Some(ip)
                            } else {
                                self.plan_auto_ip(plan, subnet, owner, &chosen).await?
                            };
                            let ip = ip.ok_or_else(|| {
                                NetworkError::conflict(
                                    "IpAddressGenerationFailure",
                                    format!(
                                        "No more IP addresses available on network {}.",
                                        net.id
                                    ),
                                )
                            })?;
                            chosen.insert(ip);
                            out.push(FixedIp { subnet_id: subnet.id, ip_address: ip });
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    async fn network_subnets(&self, net: &Network) -> Result<Vec<Versioned<Subnet>>> {
        let mut out = Vec::new();
        for id in &net.subnets {
            if let Some(s) = self.subnets.get(&id.to_string()).await? {
                out.push(s);
            }
        }
        Ok(out)
    }

    fn random_mac(&self) -> [u8; 6] {
        let b = self.config.base_mac;
        let r: [u8; 3] = rand::random();
        [b[0], b[1], b[2], r[0], r[1], r[2]]
    }

    /// Everything a new port needs, in `plan`: the document, MAC and IP reservations, and the
    /// conditions on the network, subnets and security groups it read.
    #[allow(clippy::too_many_arguments)]
    async fn plan_port(
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
    async fn plan_port_delete(
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

    // ----- security groups ------------------------------------------------------------------

    fn new_rule(
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

    fn new_group(
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
        let networks: Vec<Network> =
            self.networks.list_all().await?.into_iter().map(|v| v.value).collect();
        let ports: Vec<Port> = self.ports.list_all().await?.into_iter().map(|v| v.value).collect();
        let rules: Vec<SecurityGroupRule> =
            self.rules.list_all().await?.into_iter().map(|v| v.value).collect();
        let sgs: HashMap<SecurityGroupId, SecurityGroup> =
            self.sgs.list_all().await?.into_iter().map(|v| (v.value.id, v.value)).collect();
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
            let port_rules: Vec<SecurityGroupRule> = rules
                .iter()
                .filter(|r| p.security_groups.contains(&r.security_group_id))
                .cloned()
                .collect();
            let stateful = p.security_groups.iter().all(|g| sgs.get(g).is_none_or(|s| s.stateful));
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

    /// The project's `default` group, created (with Neutron's default rules) on first use.
    pub async fn ensure_default_sg(&self, project: &ProjectId) -> Result<SecurityGroupId> {
        for _ in 0..MAX_ATTEMPTS {
            if let Some(kv) = self.store.get(&default_sg_key(project)).await? {
                let id: SecurityGroupId =
                    String::from_utf8_lossy(&kv.value).parse().map_err(|_| {
                        NetworkError::Store(ferrostack_core::store::StoreError::NotFound(
                            kv.key.clone(),
                        ))
                    })?;
                return Ok(id);
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
                return Ok(sg.id);
            }
        }
        Err(Self::too_busy())
    }

    async fn group_rules(&self, id: &SecurityGroupId) -> Result<Vec<SecurityGroupRule>> {
        Ok(self
            .rules
            .list_all()
            .await?
            .into_iter()
            .map(|v| v.value)
            .filter(|r| &r.security_group_id == id)
            .collect())
    }

    /// Recomputes and applies the firewall of every port affected by a change of `groups`
    /// (ports in the groups, and ports whose rules name them as remote groups).
    async fn refresh_firewalls(&self, groups: &[SecurityGroupId]) {
        if let Err(e) = self.refresh_firewalls_inner(groups).await {
            tracing::warn!(error = %e, "firewall refresh failed");
        }
    }

    async fn refresh_firewalls_inner(&self, groups: &[SecurityGroupId]) -> Result<()> {
        let ports: Vec<Port> = self.ports.list_all().await?.into_iter().map(|v| v.value).collect();
        let rules: Vec<SecurityGroupRule> =
            self.rules.list_all().await?.into_iter().map(|v| v.value).collect();
        let sgs: HashMap<SecurityGroupId, SecurityGroup> =
            self.sgs.list_all().await?.into_iter().map(|v| (v.value.id, v.value)).collect();
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
            let port_rules: Vec<SecurityGroupRule> = rules
                .iter()
                .filter(|r| p.security_groups.contains(&r.security_group_id))
                .cloned()
                .collect();
            let stateful = p.security_groups.iter().all(|g| sgs.get(g).is_none_or(|s| s.stateful));
            self.apply_firewall(p, &port_rules, &members, stateful).await;
        }
        Ok(())
    }

    async fn apply_firewall(
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

    async fn refresh_port_firewall(&self, p: &Port) {
        if p.security_groups.is_empty() || !p.port_security_enabled {
            // No groups: drop everything (or accept everything without port security).
            self.apply_firewall(p, &[], &HashMap::new(), true).await;
        }
        self.refresh_firewalls(&p.security_groups.clone()).await;
    }

    // ----- data-plane sync ----------------------------------------------------------------

    /// The DHCP configuration of `net`: its DHCP-enabled subnets and one host entry per fixed
    /// address on them.
    async fn dhcp_spec(&self, net: &Network) -> Result<DhcpNetwork> {
        let subnets: Vec<Subnet> = self
            .network_subnets(net)
            .await?
            .into_iter()
            .map(|s| s.value)
            .filter(|s| s.enable_dhcp)
            .collect();
        let ids: HashSet<SubnetId> = subnets.iter().map(|s| s.id).collect();
        let mut hosts: Vec<DhcpHost> = Vec::new();
        for p in self
            .ports
            .list_all()
            .await?
            .into_iter()
            .map(|v| v.value)
            .filter(|p| p.network_id == net.id)
        {
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

    async fn sync_dhcp(&self, net: NetworkId) {
        let result: Result<()> = async {
            let Some(n) = self.networks.get(&net.to_string()).await? else {
                let _ = self.backends.dhcp.remove_network(net).await;
                return Ok(());
            };
            let spec = self.dhcp_spec(&n.value).await?;
            self.backends.dhcp.sync_network(&spec).await.map_err(|e| NetworkError::Backend {
                backend: "dhcp",
                kind: e.kind,
                source: Box::new(e),
            })
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(network = %net, error = %e, "dhcp sync failed");
        }
    }

    async fn router_spec(&self, r: &Router) -> Result<RouterSpec> {
        let ports: Vec<Port> = self
            .ports
            .list_all()
            .await?
            .into_iter()
            .map(|v| v.value)
            .filter(|p| p.device_id == r.id.to_string())
            .collect();
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
        let mut floating_ips: Vec<FloatingIpNat> = self
            .fips
            .list_all()
            .await?
            .into_iter()
            .map(|v| v.value)
            .filter(|f| f.router_id == Some(r.id))
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

    async fn sync_router(&self, id: RouterId) {
        let result: Result<()> = async {
            match self.routers.get(&id.to_string()).await? {
                Some(r) => {
                    let spec = self.router_spec(&r.value).await?;
                    self.backends.l3.sync_router(&spec).await
                }
                None => self.backends.l3.remove_router(id).await,
            }
            .map_err(|e| NetworkError::Backend {
                backend: "l3",
                kind: e.kind,
                source: Box::new(e),
            })
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(router = %id, error = %e, "router sync failed");
        }
    }

    /// Re-syncs DHCP on the external networks of `routers`' gateways: a gateway port is a
    /// host entry there like any other port.
    async fn sync_gateway_dhcp(&self, routers: &[&Router]) {
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

    /// Binds a port to `host` through the L2 backend and records the VIF details (or
    /// `binding_failed`).
    async fn bind_port(&self, port: PortId, host: String) -> Result<Port> {
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

    fn validate_pairs(pairs: &[AddressPair]) -> Result<()> {
        for a in pairs {
            Cidr::parse_loose(&a.ip_address).map_err(|e| NetworkError::invalid(e.to_string()))?;
            if let Some(m) = &a.mac_address {
                parse_mac(m)?;
            }
        }
        Ok(())
    }

    async fn resolve_port_groups(
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

    async fn find_fip_router(
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
    async fn plan_association(
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

    /// Plans the gateway of `router` on `req.network_id`, returning the gateway info and the
    /// gateway port.
    async fn plan_gateway(
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
        let preq = PortCreate {
            network_id: req.network_id,
            name: Some(String::new()),
            description: None,
            admin_state_up: true,
            mac_address: None,
            fixed_ips: req.external_fixed_ips.clone(),
            device_id: Some(router.id.to_string()),
            device_owner: Some("network:router_gateway".into()),
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
        };
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

    async fn router_interface_ports(&self, router: &RouterId) -> Result<Vec<Versioned<Port>>> {
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

    fn validate_routes(routes: &[HostRoute], max: usize) -> Result<()> {
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

    fn parse_dns(list: &[String], max: usize, v: IpVersion) -> Result<Vec<IpAddr>> {
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

    /// Marks a document as being deleted (a CAS write), so that transactions that read it fail.
    async fn mark<T, F>(&self, col: &Collection<T>, id: &str, f: F) -> Result<Versioned<T>>
    where
        T: Serialize + serde::de::DeserializeOwned + Send + Sync,
        F: FnMut(&mut T) -> Result<()> + Send,
    {
        col.update_with::<NetworkError, _>(id, f).await
    }
}

fn rule_err(t: &'static str, msg: String) -> NetworkError {
    NetworkError::Rejected { neutron_type: t, message: msg }
}

fn port_value(v: &Option<Value>) -> Result<Option<u32>> {
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

#[async_trait::async_trait]
impl NetworkApi for NetworkService {
    async fn create_network(&self, ctx: &RequestContext, req: NetworkCreate) -> Result<Network> {
        authorize("create_network", ctx, &json!({}))?;
        let project = owner_for(ctx, &req.project_id, &req.tenant_id)?;
        if req.shared == Some(true) {
            authorize("create_network:shared", ctx, &target(&project))?;
        }
        if req.external == Some(true) {
            authorize("create_network:router:external", ctx, &target(&project))?;
        }
        if req.network_type.is_some()
            || req.physical_network.is_some()
            || req.segmentation_id.is_some()
        {
            authorize("create_network:provider", ctx, &target(&project))?;
        }
        let name = req.name.clone().unwrap_or_default();
        check_len("name", &name, 255)?;
        check_len("description", req.description.as_deref().unwrap_or(""), 255)?;
        for _ in 0..MAX_ATTEMPTS {
            let mut plan = Plan::default();
            let seg = self.plan_segment(&mut plan, &req).await?;
            let max_mtu = match seg.network_type {
                NetworkType::Vxlan => self.config.physical_mtu - 50,
                _ => self.config.physical_mtu,
            };
            let mtu = req.mtu.unwrap_or(max_mtu);
            if mtu > max_mtu || mtu < 68 {
                return Err(NetworkError::invalid(format!(
                    "Requested MTU is too big, maximum is {max_mtu}"
                )));
            }
            self.usage(&mut plan, &project, Resource::Network, 1, true).await?;
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
            plan.when(self.networks.absent(&net.id.to_string()), Tag::Retry);
            plan.op(self.networks.put_op(&net.id.to_string(), &net)?);
            if self.run(plan).await? {
                let spec = NetworkSpec { id: net.id, segment: seg, mtu };
                if let Err(e) = self.backends.l2.ensure_network(&spec).await {
                    tracing::warn!(network = %net.id, error = %e, "ensure_network failed");
                }
                return Ok(net);
            }
        }
        Err(Self::too_busy())
    }

    async fn get_network(&self, ctx: &RequestContext, id: NetworkId) -> Result<Network> {
        Ok(self.visible_network(ctx, &id).await?.value)
    }

    async fn list_networks(&self, ctx: &RequestContext) -> Result<Vec<Network>> {
        Ok(self
            .networks
            .list_all()
            .await?
            .into_iter()
            .map(|v| v.value)
            .filter(|n| !n.deleting && Self::network_visible(ctx, n))
            .collect())
    }

    async fn update_network(
        &self,
        ctx: &RequestContext,
        id: NetworkId,
        req: NetworkUpdate,
    ) -> Result<Network> {
        let cur = self.visible_network(ctx, &id).await?;
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
            NetworkType::Vxlan => self.config.physical_mtu - 50,
            _ => self.config.physical_mtu,
        };
        if let Some(m) = req.mtu
            && (m > max_mtu || m < 68)
        {
            return Err(NetworkError::invalid(format!(
                "Requested MTU is too big, maximum is {max_mtu}"
            )));
        }
        let updated = self
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

    async fn delete_network(&self, ctx: &RequestContext, id: NetworkId) -> Result<()> {
        let cur = self.visible_network(ctx, &id).await?;
        authorize("delete_network", ctx, &target(&cur.value.project_id))?;
        let marked = self
            .mark(&self.networks, &id.to_string(), |n| {
                n.deleting = true;
                Ok(())
            })
            .await?;
        let unmark = || async {
            let _ = self
                .mark(&self.networks, &id.to_string(), |n| {
                    n.deleting = false;
                    Ok(())
                })
                .await;
        };
        let in_use = self
            .ports
            .list_all()
            .await?
            .iter()
            .any(|p| p.value.network_id == id && p.value.device_owner != "network:dhcp")
            || self.fips.list_all().await?.iter().any(|f| f.value.floating_network_id == id);
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
        plan.when(self.networks.unchanged(&marked.id, marked.revision), Tag::Retry);
        plan.op(self.networks.delete_op(&marked.id));
        let subnets = self.network_subnets(&net).await?;
        for s in &subnets {
            plan.op(self.subnets.delete_op(&s.id));
            for kv in self.store.list_all(&ipam_prefix(&s.value.id)).await? {
                plan.del(kv.key);
            }
            self.usage(&mut plan, &s.value.project_id, Resource::Subnet, -1, false).await?;
        }
        if net.segmentation_id.is_some() || net.network_type == NetworkType::Flat {
            plan.del(Self::segment_key(&net.segment()));
        }
        self.usage(&mut plan, &net.project_id, Resource::Network, -1, false).await?;
        if !self.run(plan).await? {
            unmark().await;
            return Err(Self::too_busy());
        }
        let _ = self.backends.dhcp.remove_network(id).await;
        let _ = self.backends.l2.remove_network(id).await;
        Ok(())
    }

    async fn create_subnet(&self, ctx: &RequestContext, req: SubnetCreate) -> Result<Subnet> {
        let net = self.visible_network(ctx, &req.network_id).await?;
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
        let cidr = Cidr::parse_strict(cidr_s).map_err(|e| NetworkError::invalid(e.to_string()))?;
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
        if version == IpVersion::V4
            && (req.ipv6_ra_mode.is_some() || req.ipv6_address_mode.is_some())
        {
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
        let dns = Self::parse_dns(
            req.dns_nameservers.as_deref().unwrap_or(&[]),
            self.config.max_dns_nameservers,
            version,
        )?;
        let routes = req.host_routes.clone().unwrap_or_default();
        Self::validate_routes(&routes, self.config.max_subnet_host_routes)?;
        for _ in 0..MAX_ATTEMPTS {
            let net = self.visible_network(ctx, &req.network_id).await?;
            for s in self.network_subnets(&net.value).await? {
                if s.value.cidr.overlaps(&cidr) {
                    return Err(NetworkError::invalid(format!(
                        "Requested subnet with cidr: {cidr} for network: {} overlaps with another subnet",
                        net.value.id
                    )));
                }
            }
            let mut plan = Plan::default();
            self.usage(&mut plan, &project, Resource::Subnet, 1, true).await?;
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
            plan.when(self.networks.unchanged(&net.id, net.revision), Tag::Retry);
            plan.op(self.networks.put_op(&net.id, &n)?);
            plan.op(self.subnets.put_op(&subnet.id.to_string(), &subnet)?);
            if self.run(plan).await? {
                self.sync_dhcp(net.value.id).await;
                return Ok(subnet);
            }
        }
        Err(Self::too_busy())
    }

    async fn get_subnet(&self, ctx: &RequestContext, id: SubnetId) -> Result<Subnet> {
        Ok(self.visible_subnet(ctx, &id).await?.value)
    }

    async fn list_subnets(&self, ctx: &RequestContext) -> Result<Vec<Subnet>> {
        let nets: HashMap<NetworkId, Network> =
            self.networks.list_all().await?.into_iter().map(|v| (v.value.id, v.value)).collect();
        Ok(self
            .subnets
            .list_all()
            .await?
            .into_iter()
            .map(|v| v.value)
            .filter(|s| {
                !s.deleting
                    && (owns(ctx, &s.project_id)
                        || nets.get(&s.network_id).is_some_and(|n| n.shared))
            })
            .collect())
    }

    async fn update_subnet(
        &self,
        ctx: &RequestContext,
        id: SubnetId,
        req: SubnetUpdate,
    ) -> Result<Subnet> {
        let cur = self.visible_subnet(ctx, &id).await?;
        authorize("update_subnet", ctx, &target(&cur.value.project_id))?;
        let v = cur.value.cidr.version();
        let dns = req
            .dns_nameservers
            .as_deref()
            .map(|d| Self::parse_dns(d, self.config.max_dns_nameservers, v))
            .transpose()?;
        if let Some(r) = &req.host_routes {
            Self::validate_routes(r, self.config.max_subnet_host_routes)?;
        }
        if let Some(n) = &req.name {
            check_len("name", n, 255)?;
        }
        if let Some(g) = req.gateway_ip {
            let pools = cur.value.allocation_pools.clone();
            validate_subnet_layout(&cur.value.cidr, g, Some(&pools))?;
        }
        let updated = self
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
        self.sync_dhcp(updated.value.network_id).await;
        Ok(updated.value)
    }

    async fn delete_subnet(&self, ctx: &RequestContext, id: SubnetId) -> Result<()> {
        let cur = self.visible_subnet(ctx, &id).await?;
        authorize("delete_subnet", ctx, &target(&cur.value.project_id))?;
        let marked = self
            .mark(&self.subnets, &id.to_string(), |s| {
                s.deleting = true;
                Ok(())
            })
            .await?;
        let unmark = || async {
            let _ = self
                .mark(&self.subnets, &id.to_string(), |s| {
                    s.deleting = false;
                    Ok(())
                })
                .await;
        };
        if !self.store.list_all(&ipam_prefix(&id)).await?.is_empty() {
            unmark().await;
            return Err(NetworkError::conflict(
                "SubnetInUse",
                format!(
                    "Unable to complete operation on subnet {id}: One or more ports have an IP allocation from this subnet."
                ),
            ));
        }
        for _ in 0..MAX_ATTEMPTS {
            let Some(net) = self.networks.get(&marked.value.network_id.to_string()).await? else {
                break;
            };
            let mut plan = Plan::default();
            plan.when(self.subnets.unchanged(&marked.id, marked.revision), Tag::Retry);
            plan.op(self.subnets.delete_op(&marked.id));
            let mut n = net.value.clone();
            n.subnets.retain(|s| s != &id);
            n.revision_number += 1;
            plan.when(self.networks.unchanged(&net.id, net.revision), Tag::Retry);
            plan.op(self.networks.put_op(&net.id, &n)?);
            self.usage(&mut plan, &marked.value.project_id, Resource::Subnet, -1, false).await?;
            if self.run(plan).await? {
                self.sync_dhcp(n.id).await;
                return Ok(());
            }
        }
        unmark().await;
        Err(Self::too_busy())
    }

    async fn create_port(&self, ctx: &RequestContext, req: PortCreate) -> Result<Port> {
        authorize("create_port", ctx, &json!({}))?;
        let net0 = self.visible_network(ctx, &req.network_id).await?;
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
        Self::validate_pairs(&pairs)?;
        if !port_security && !pairs.is_empty() {
            return Err(NetworkError::conflict(
                "AddressPairAndPortSecurityRequired",
                "Port Security must be enabled in order to have allowed address pairs on a port.",
            ));
        }
        let owner = req.device_owner.clone().unwrap_or_default();
        let groups = self
            .resolve_port_groups(
                ctx,
                &project,
                req.security_groups.as_deref(),
                port_security,
                &owner,
            )
            .await?;
        let mut stateful = HashSet::new();
        for g in &groups {
            if let Some(sg) = self.sgs.get(&g.to_string()).await? {
                stateful.insert(sg.value.stateful);
            }
        }
        if stateful.len() > 1 {
            return Err(NetworkError::invalid(
                "Cannot apply both stateful and stateless security groups on the same port at the same time",
            ));
        }
        for _ in 0..MAX_ATTEMPTS {
            let net = self.visible_network(ctx, &req.network_id).await?;
            let mut plan = Plan::default();
            let port =
                self.plan_port(&mut plan, ctx, &net, &project, &req, groups.clone(), true).await?;
            if self.run(plan).await? {
                let port = match &req.binding_host_id {
                    Some(h) if !h.is_empty() => self.bind_port(port.id, h.clone()).await?,
                    _ => port,
                };
                self.sync_dhcp(port.network_id).await;
                self.refresh_port_firewall(&port).await;
                return Ok(port);
            }
        }
        Err(Self::too_busy())
    }

    async fn get_port(&self, ctx: &RequestContext, id: PortId) -> Result<Port> {
        Ok(self.visible_port(ctx, &id).await?.value)
    }

    async fn list_ports(&self, ctx: &RequestContext) -> Result<Vec<Port>> {
        let nets: HashMap<NetworkId, Network> =
            self.networks.list_all().await?.into_iter().map(|v| (v.value.id, v.value)).collect();
        Ok(self
            .ports
            .list_all()
            .await?
            .into_iter()
            .map(|v| v.value)
            .filter(|p| {
                owns(ctx, &p.project_id)
                    || nets.get(&p.network_id).is_some_and(|n| owns(ctx, &n.project_id))
            })
            .collect())
    }

    async fn update_port(&self, ctx: &RequestContext, id: PortId, req: PortUpdate) -> Result<Port> {
        let cur = self.visible_port(ctx, &id).await?;
        authorize("update_port", ctx, &target(&cur.value.project_id))?;
        if req.binding_host_id.is_some() || req.binding_profile.is_some() {
            authorize("update_port:binding", ctx, &target(&cur.value.project_id))?;
        }
        if let Some(p) = &req.allowed_address_pairs {
            Self::validate_pairs(p)?;
        }
        let port_security = req.port_security_enabled.unwrap_or(cur.value.port_security_enabled);
        let groups = match &req.security_groups {
            Some(g) => Some(
                self.resolve_port_groups(
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
        for _ in 0..MAX_ATTEMPTS {
            let cur = self.visible_port(ctx, &id).await?;
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
            plan.when(self.ports.unchanged(&cur.id, cur.revision), Tag::Retry);
            for g in groups.iter().flatten() {
                let sg = self
                    .sgs
                    .get(&g.to_string())
                    .await?
                    .ok_or_else(|| NetworkError::not_found("security_group", g))?;
                plan.when(self.sgs.unchanged(&sg.id, sg.revision), Tag::Retry);
            }
            plan.op(self.ports.put_op(&cur.id, &p)?);
            if self.run(plan).await? {
                let p = match &req.binding_host_id {
                    Some(h) if *h != p.binding_host_id => self.bind_port(id, h.clone()).await?,
                    _ => p,
                };
                let mut all = old_groups.clone();
                all.extend(p.security_groups.iter().copied());
                self.refresh_firewalls(&all).await;
                if p.security_groups.is_empty() {
                    self.refresh_port_firewall(&p).await;
                }
                return Ok(p);
            }
        }
        Err(Self::too_busy())
    }

    async fn delete_port(&self, ctx: &RequestContext, id: PortId) -> Result<()> {
        let cur = self.visible_port(ctx, &id).await?;
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
        for _ in 0..MAX_ATTEMPTS {
            let cur = self.visible_port(ctx, &id).await?;
            let mut plan = Plan::default();
            let routers = self.plan_port_delete(&mut plan, &cur, true).await?;
            if self.run(plan).await? {
                let _ = self.backends.l2.unplug_port(id).await;
                let _ = self.backends.firewall.remove_port(id).await;
                self.sync_dhcp(cur.value.network_id).await;
                for r in routers {
                    self.sync_router(r).await;
                }
                self.refresh_firewalls(&cur.value.security_groups).await;
                return Ok(());
            }
        }
        Err(Self::too_busy())
    }

    async fn create_router(&self, ctx: &RequestContext, req: RouterCreate) -> Result<Router> {
        authorize("create_router", ctx, &json!({}))?;
        let project = owner_for(ctx, &req.project_id, &req.tenant_id)?;
        if req.distributed == Some(true) || req.ha == Some(true) {
            return Err(NetworkError::invalid("distributed and HA routers are not supported"));
        }
        let name = req.name.clone().unwrap_or_default();
        check_len("name", &name, 255)?;
        for _ in 0..MAX_ATTEMPTS {
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
            self.usage(&mut plan, &project, Resource::Router, 1, true).await?;
            if let Some(gw) = &req.external_gateway_info {
                let (info, port) = self.plan_gateway(&mut plan, ctx, &router, gw).await?;
                router.external_gateway_info = Some(info);
                router.gw_port_id = Some(port.id);
            }
            plan.op(self.routers.put_op(&router.id.to_string(), &router)?);
            if self.run(plan).await? {
                self.sync_router(router.id).await;
                self.sync_gateway_dhcp(&[&router]).await;
                return Ok(router);
            }
        }
        Err(Self::too_busy())
    }

    async fn get_router(&self, ctx: &RequestContext, id: RouterId) -> Result<Router> {
        Ok(self.visible_router(ctx, &id).await?.value)
    }

    async fn list_routers(&self, ctx: &RequestContext) -> Result<Vec<Router>> {
        Ok(self
            .routers
            .list_all()
            .await?
            .into_iter()
            .map(|v| v.value)
            .filter(|r| owns(ctx, &r.project_id))
            .collect())
    }

    async fn update_router(
        &self,
        ctx: &RequestContext,
        id: RouterId,
        req: RouterUpdate,
    ) -> Result<Router> {
        let cur = self.visible_router(ctx, &id).await?;
        authorize("update_router", ctx, &target(&cur.value.project_id))?;
        if let Some(n) = &req.name {
            check_len("name", n, 255)?;
        }
        let gw_req: Option<Option<GatewayRequest>> = match &req.external_gateway_info {
            None => None,
            Some(None) => Some(None),
            Some(Some(v)) if v.as_object().is_some_and(|o| o.is_empty()) => Some(None),
            Some(Some(v)) => Some(Some(serde_json::from_value(v.clone()).map_err(|e| {
                NetworkError::invalid(format!("Invalid external_gateway_info: {e}"))
            })?)),
        };
        if let Some(routes) = &req.routes {
            Self::validate_routes(routes, self.config.max_subnet_host_routes)?;
        }
        for _ in 0..MAX_ATTEMPTS {
            let cur = self.visible_router(ctx, &id).await?;
            let mut r = cur.value.clone();
            let mut plan = Plan::default();
            plan.when(self.routers.unchanged(&cur.id, cur.revision), Tag::Retry);
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
                let ifaces = self.router_interface_ports(&id).await?;
                let mut cidrs = Vec::new();
                for p in &ifaces {
                    for f in &p.value.fixed_ips {
                        if let Some(s) = self.subnets.get(&f.subnet_id.to_string()).await? {
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
                        let in_use = self
                            .fips
                            .list_all()
                            .await?
                            .iter()
                            .any(|f| f.value.router_id == Some(id));
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
                        if let Some(p) = self.ports.get(&old.to_string()).await? {
                            self.plan_port_delete(&mut plan, &p, false).await?;
                        }
                        r.gw_port_id = None;
                        r.external_gateway_info = None;
                    }
                    if let Some(g) = gw {
                        let (info, port) = self.plan_gateway(&mut plan, ctx, &r, g).await?;
                        r.external_gateway_info = Some(info);
                        r.gw_port_id = Some(port.id);
                        new_gw_port = Some(port.id);
                    }
                }
            }
            let _ = new_gw_port;
            r.revision_number += 1;
            r.updated_at = now();
            plan.op(self.routers.put_op(&cur.id, &r)?);
            if self.run(plan).await? {
                self.sync_router(id).await;
                self.sync_gateway_dhcp(&[&cur.value, &r]).await;
                return Ok(r);
            }
        }
        Err(Self::too_busy())
    }

    async fn delete_router(&self, ctx: &RequestContext, id: RouterId) -> Result<()> {
        let cur = self.visible_router(ctx, &id).await?;
        authorize("delete_router", ctx, &target(&cur.value.project_id))?;
        for _ in 0..MAX_ATTEMPTS {
            let cur = self.visible_router(ctx, &id).await?;
            if !self.router_interface_ports(&id).await?.is_empty() {
                return Err(NetworkError::conflict(
                    "RouterInUse",
                    format!("Router {id} still has ports"),
                ));
            }
            if self.fips.list_all().await?.iter().any(|f| f.value.router_id == Some(id)) {
                return Err(NetworkError::conflict(
                    "RouterInUse",
                    format!("Router {id} still has floating IPs"),
                ));
            }
            let mut plan = Plan::default();
            plan.when(self.routers.unchanged(&cur.id, cur.revision), Tag::Retry);
            plan.op(self.routers.delete_op(&cur.id));
            if let Some(gw) = cur.value.gw_port_id
                && let Some(p) = self.ports.get(&gw.to_string()).await?
            {
                self.plan_port_delete(&mut plan, &p, false).await?;
            }
            self.usage(&mut plan, &cur.value.project_id, Resource::Router, -1, false).await?;
            if self.run(plan).await? {
                self.sync_router(id).await;
                self.sync_gateway_dhcp(&[&cur.value]).await;
                return Ok(());
            }
        }
        Err(Self::too_busy())
    }

    async fn add_router_interface(
        &self,
        ctx: &RequestContext,
        id: RouterId,
        req: InterfaceRequest,
    ) -> Result<RouterInterfaceInfo> {
        let cur = self.visible_router(ctx, &id).await?;
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
        for _ in 0..MAX_ATTEMPTS {
            let cur = self.visible_router(ctx, &id).await?;
            let mut plan = Plan::default();
            plan.when(self.routers.unchanged(&cur.id, cur.revision), Tag::Retry);
            let mut existing: Vec<Subnet> = Vec::new();
            for p in self.router_interface_ports(&id).await? {
                for f in &p.value.fixed_ips {
                    if let Some(s) = self.subnets.get(&f.subnet_id.to_string()).await? {
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
                    let s = self.visible_subnet(ctx, sid).await?;
                    if !owns(ctx, &s.value.project_id) {
                        return Err(NetworkError::not_found("subnet", sid));
                    }
                    check_overlap(&s.value)?;
                    let gw = s.value.gateway_ip.ok_or_else(|| {
                        bad("Subnet for router interface must have a gateway IP".to_string())
                    })?;
                    let net = self.visible_network(ctx, &s.value.network_id).await?;
                    let preq = PortCreate {
                        network_id: s.value.network_id,
                        name: Some(String::new()),
                        description: None,
                        admin_state_up: true,
                        mac_address: None,
                        fixed_ips: Some(vec![FixedIpRequest {
                            subnet_id: Some(*sid),
                            ip_address: Some(gw.to_string()),
                        }]),
                        device_id: Some(id.to_string()),
                        device_owner: Some("network:router_interface".into()),
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
                    };
                    let admin = RequestContext::internal("network");
                    self.plan_port(
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
                    let p = self.visible_port(ctx, pid).await?;
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
                        if let Some(s) = self.subnets.get(&f.subnet_id.to_string()).await? {
                            check_overlap(&s.value)?;
                        }
                    }
                    let mut port = p.value.clone();
                    port.device_id = id.to_string();
                    port.device_owner = "network:router_interface".into();
                    port.security_groups.clear();
                    port.port_security_enabled = false;
                    port.revision_number += 1;
                    plan.when(self.ports.unchanged(&p.id, p.revision), Tag::Retry);
                    plan.op(self.ports.put_op(&p.id, &port)?);
                    port
                }
                (None, None) => unreachable!("checked above"),
            };
            let mut r = cur.value.clone();
            r.revision_number += 1;
            r.updated_at = now();
            plan.op(self.routers.put_op(&cur.id, &r)?);
            if self.run(plan).await? {
                self.sync_router(id).await;
                self.sync_dhcp(port.network_id).await;
                // A tenant port that became a router leg is no longer filtered.
                if let Err(e) = self.backends.firewall.remove_port(port.id).await {
                    tracing::warn!(port = %port.id, error = %e, "firewall removal failed");
                }
                let subnet_ids: Vec<SubnetId> =
                    port.fixed_ips.iter().map(|f| f.subnet_id).collect();
                return Ok(RouterInterfaceInfo {
                    id,
                    tenant_id: r.project_id.clone(),
                    project_id: r.project_id.clone(),
                    port_id: port.id,
                    network_id: port.network_id,
                    subnet_id: subnet_ids[0],
                    subnet_ids,
                });
            }
        }
        Err(Self::too_busy())
    }

    async fn remove_router_interface(
        &self,
        ctx: &RequestContext,
        id: RouterId,
        req: InterfaceRequest,
    ) -> Result<RouterInterfaceInfo> {
        let cur = self.visible_router(ctx, &id).await?;
        authorize("remove_router_interface", ctx, &target(&cur.value.project_id))?;
        for _ in 0..MAX_ATTEMPTS {
            let cur = self.visible_router(ctx, &id).await?;
            let ports = self.router_interface_ports(&id).await?;
            let port = match (&req.subnet_id, &req.port_id) {
                (_, Some(pid)) => {
                    ports.into_iter().find(|p| p.value.id == *pid).ok_or_else(|| {
                        NetworkError::NotFound {
                            neutron_type: "RouterInterfaceNotFound",
                            message: format!(
                                "Router {id} does not have an interface with id {pid}"
                            ),
                        }
                    })?
                }
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
            let subnet_ids: Vec<SubnetId> =
                port.value.fixed_ips.iter().map(|f| f.subnet_id).collect();
            for f in self.fips.list_all().await? {
                if f.value.router_id == Some(id)
                    && let Some(pid) = f.value.port_id
                    && let Some(p) = self.ports.get(&pid.to_string()).await?
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
            plan.when(self.routers.unchanged(&cur.id, cur.revision), Tag::Retry);
            self.plan_port_delete(&mut plan, &port, true).await?;
            let mut r = cur.value.clone();
            r.revision_number += 1;
            r.updated_at = now();
            plan.op(self.routers.put_op(&cur.id, &r)?);
            if self.run(plan).await? {
                self.sync_router(id).await;
                self.sync_dhcp(port.value.network_id).await;
                return Ok(RouterInterfaceInfo {
                    id,
                    tenant_id: r.project_id.clone(),
                    project_id: r.project_id,
                    port_id: port.value.id,
                    network_id: port.value.network_id,
                    subnet_id: subnet_ids[0],
                    subnet_ids,
                });
            }
        }
        Err(Self::too_busy())
    }

    async fn create_floatingip(
        &self,
        ctx: &RequestContext,
        req: FloatingIpCreate,
    ) -> Result<FloatingIp> {
        authorize("create_floatingip", ctx, &json!({}))?;
        let project = owner_for(ctx, &req.project_id, &req.tenant_id)?;
        let explicit = req.floating_ip_address.as_deref().map(parse_ip).transpose()?;
        for _ in 0..MAX_ATTEMPTS {
            let net = self.visible_network(ctx, &req.floating_network_id).await?;
            if !net.value.external {
                return Err(NetworkError::BadRequest {
                    resource: "floatingip",
                    message: format!("Network {} is not a valid external network", net.value.id),
                });
            }
            let subnets = self.network_subnets(&net.value).await?;
            let mut plan = Plan::default();
            plan.when(self.networks.unchanged(&net.id, net.revision), Tag::Retry);
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
                let sv =
                    subnets.iter().find(|x| x.value.id == s.id).map(|x| x.revision).unwrap_or(0);
                plan.when(self.subnets.unchanged(&s.id.to_string(), sv), Tag::Retry);
                match explicit {
                    Some(ip) => {
                        self.reserve_ip(&mut plan, s, ip, &owner, Tag::IpInUse(ip, s.id))?;
                        chosen = Some((s.id, ip));
                        break;
                    }
                    None => {
                        if let Some(ip) =
                            self.plan_auto_ip(&mut plan, s, &owner, &HashSet::new()).await?
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
            self.usage(&mut plan, &project, Resource::FloatingIp, 1, true).await?;
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
                self.plan_association(
                    &mut plan,
                    ctx,
                    &mut fip,
                    pid,
                    req.fixed_ip_address.as_deref(),
                )
                .await?;
            }
            plan.op(self.fips.put_op(&id.to_string(), &fip)?);
            if self.run(plan).await? {
                if let Some(r) = fip.router_id {
                    self.sync_router(r).await;
                }
                return Ok(fip);
            }
        }
        Err(Self::too_busy())
    }

    async fn get_floatingip(&self, ctx: &RequestContext, id: FloatingIpId) -> Result<FloatingIp> {
        Ok(self.visible_fip(ctx, &id).await?.value)
    }

    async fn list_floatingips(&self, ctx: &RequestContext) -> Result<Vec<FloatingIp>> {
        Ok(self
            .fips
            .list_all()
            .await?
            .into_iter()
            .map(|v| v.value)
            .filter(|f| owns(ctx, &f.project_id))
            .collect())
    }

    async fn update_floatingip(
        &self,
        ctx: &RequestContext,
        id: FloatingIpId,
        req: FloatingIpUpdate,
    ) -> Result<FloatingIp> {
        let cur = self.visible_fip(ctx, &id).await?;
        authorize("update_floatingip", ctx, &target(&cur.value.project_id))?;
        for _ in 0..MAX_ATTEMPTS {
            let cur = self.visible_fip(ctx, &id).await?;
            let mut f = cur.value.clone();
            let mut plan = Plan::default();
            plan.when(self.fips.unchanged(&cur.id, cur.revision), Tag::Retry);
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
                    self.plan_association(
                        &mut plan,
                        ctx,
                        &mut f,
                        *pid,
                        req.fixed_ip_address.as_deref(),
                    )
                    .await?;
                }
            }
            if let Some(d) = &req.description {
                check_len("description", d, 255)?;
                f.description = d.clone();
            }
            f.revision_number += 1;
            f.updated_at = now();
            plan.op(self.fips.put_op(&cur.id, &f)?);
            if self.run(plan).await? {
                for r in [old_router, f.router_id].into_iter().flatten().collect::<BTreeSet<_>>() {
                    self.sync_router(r).await;
                }
                return Ok(f);
            }
        }
        Err(Self::too_busy())
    }

    async fn delete_floatingip(&self, ctx: &RequestContext, id: FloatingIpId) -> Result<()> {
        let cur = self.visible_fip(ctx, &id).await?;
        authorize("delete_floatingip", ctx, &target(&cur.value.project_id))?;
        for _ in 0..MAX_ATTEMPTS {
            let cur = self.visible_fip(ctx, &id).await?;
            let f = &cur.value;
            let mut plan = Plan::default();
            plan.when(self.fips.unchanged(&cur.id, cur.revision), Tag::Retry);
            plan.op(self.fips.delete_op(&cur.id));
            plan.del(ipam_key(&f.floating_subnet_id, &f.floating_ip_address));
            if let (Some(p), Some(ip)) = (f.port_id, f.fixed_ip_address) {
                plan.del(assoc_key(&p, &ip));
            }
            self.usage(&mut plan, &f.project_id, Resource::FloatingIp, -1, false).await?;
            if self.run(plan).await? {
                if let Some(r) = f.router_id {
                    self.sync_router(r).await;
                }
                return Ok(());
            }
        }
        Err(Self::too_busy())
    }

    async fn create_security_group(
        &self,
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
        self.ensure_default_sg(&project).await?;
        for _ in 0..MAX_ATTEMPTS {
            let mut sg = Self::new_group(
                &project,
                &name,
                req.description.as_deref().unwrap_or(""),
                req.stateful.unwrap_or(true),
            );
            let rules = vec![
                Self::new_rule(&sg, Direction::Egress, IpVersion::V4, None),
                Self::new_rule(&sg, Direction::Egress, IpVersion::V6, None),
            ];
            let mut plan = Plan::default();
            self.usage(&mut plan, &project, Resource::SecurityGroup, 1, true).await?;
            self.usage(&mut plan, &project, Resource::SecurityGroupRule, rules.len() as i64, true)
                .await?;
            plan.op(self.sgs.put_op(&sg.id.to_string(), &sg)?);
            for r in &rules {
                plan.op(self.rules.put_op(&r.id.to_string(), r)?);
                plan.op(Op::Put { key: fp_key(r), value: r.id.to_string().into_bytes() });
            }
            if self.run(plan).await? {
                sg.security_group_rules = rules;
                return Ok(sg);
            }
        }
        Err(Self::too_busy())
    }

    async fn get_security_group(
        &self,
        ctx: &RequestContext,
        id: SecurityGroupId,
    ) -> Result<SecurityGroup> {
        let mut sg = self.visible_sg(ctx, &id).await?.value;
        sg.security_group_rules = self.group_rules(&id).await?;
        Ok(sg)
    }

    async fn list_security_groups(&self, ctx: &RequestContext) -> Result<Vec<SecurityGroup>> {
        if let Some(p) = ctx.project_id() {
            self.ensure_default_sg(p).await?;
        }
        let rules: Vec<SecurityGroupRule> =
            self.rules.list_all().await?.into_iter().map(|v| v.value).collect();
        Ok(self
            .sgs
            .list_all()
            .await?
            .into_iter()
            .map(|v| v.value)
            .filter(|g| owns(ctx, &g.project_id))
            .map(|mut g| {
                g.security_group_rules =
                    rules.iter().filter(|r| r.security_group_id == g.id).cloned().collect();
                g
            })
            .collect())
    }

    async fn update_security_group(
        &self,
        ctx: &RequestContext,
        id: SecurityGroupId,
        req: SecurityGroupUpdate,
    ) -> Result<SecurityGroup> {
        let cur = self.visible_sg(ctx, &id).await?;
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
        let mut updated = self
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
        updated.security_group_rules = self.group_rules(&id).await?;
        self.refresh_firewalls(&[id]).await;
        Ok(updated)
    }

    async fn delete_security_group(&self, ctx: &RequestContext, id: SecurityGroupId) -> Result<()> {
        let cur = self.visible_sg(ctx, &id).await?;
        authorize("delete_security_group", ctx, &target(&cur.value.project_id))?;
        if cur.value.name == "default" && !is_admin(ctx) {
            return Err(NetworkError::conflict(
                "SecurityGroupCannotRemoveDefault",
                "Insufficient rights for removing default security group.",
            ));
        }
        // Mark (a CAS write) so that in-flight port transactions naming the group fail.
        let marked = self
            .mark(&self.sgs, &id.to_string(), |g| {
                g.revision_number += 1;
                Ok(())
            })
            .await?;
        if self.ports.list_all().await?.iter().any(|p| p.value.security_groups.contains(&id)) {
            return Err(NetworkError::conflict(
                "SecurityGroupInUse",
                format!("Security Group {id} in use."),
            ));
        }
        let mut plan = Plan::default();
        plan.when(self.sgs.unchanged(&marked.id, marked.revision), Tag::Retry);
        plan.op(self.sgs.delete_op(&marked.id));
        let mut removed: HashMap<ProjectId, i64> = HashMap::new();
        for r in self.rules.list_all().await? {
            if r.value.security_group_id == id || r.value.remote_group_id == Some(id) {
                plan.op(self.rules.delete_op(&r.id));
                plan.del(fp_key(&r.value));
                *removed.entry(r.value.project_id.clone()).or_default() -= 1;
            }
        }
        if cur.value.name == "default" {
            plan.del(default_sg_key(&cur.value.project_id));
        }
        for (p, n) in removed {
            self.usage(&mut plan, &p, Resource::SecurityGroupRule, n, false).await?;
        }
        self.usage(&mut plan, &cur.value.project_id, Resource::SecurityGroup, -1, false).await?;
        if !self.run(plan).await? {
            return Err(Self::too_busy());
        }
        self.refresh_firewalls(&[id]).await;
        Ok(())
    }

    async fn create_security_group_rule(
        &self,
        ctx: &RequestContext,
        req: SecurityGroupRuleCreate,
    ) -> Result<SecurityGroupRule> {
        let sg = self.visible_sg(ctx, &req.security_group_id).await?;
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
                let c = Cidr::parse_loose(s).map_err(|e| NetworkError::invalid(e.to_string()))?;
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
            self.visible_sg(ctx, g).await?;
        }
        check_len("description", req.description.as_deref().unwrap_or(""), 255)?;
        for _ in 0..MAX_ATTEMPTS {
            let sg = self.visible_sg(ctx, &req.security_group_id).await?;
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
            plan.when(self.sgs.unchanged(&sg.id, sg.revision), Tag::Retry);
            let fp = fp_key(&rule);
            if let Some(existing) = self.store.get(&fp).await? {
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
                plan.when(Condition::exists(self.sgs.key(&g.to_string())), Tag::Retry);
            }
            self.usage(&mut plan, &sg.value.project_id, Resource::SecurityGroupRule, 1, true)
                .await?;
            plan.op(self.rules.put_op(&rule.id.to_string(), &rule)?);
            if self.run(plan).await? {
                self.refresh_firewalls(&[sg.value.id]).await;
                return Ok(rule);
            }
        }
        Err(Self::too_busy())
    }

    async fn get_security_group_rule(
        &self,
        ctx: &RequestContext,
        id: SecurityGroupRuleId,
    ) -> Result<SecurityGroupRule> {
        match self.rules.get(&id.to_string()).await? {
            Some(r) if owns(ctx, &r.value.project_id) => Ok(r.value),
            _ => Err(NetworkError::not_found("security_group_rule", id)),
        }
    }

    async fn list_security_group_rules(
        &self,
        ctx: &RequestContext,
    ) -> Result<Vec<SecurityGroupRule>> {
        if let Some(p) = ctx.project_id() {
            self.ensure_default_sg(p).await?;
        }
        Ok(self
            .rules
            .list_all()
            .await?
            .into_iter()
            .map(|v| v.value)
            .filter(|r| owns(ctx, &r.project_id))
            .collect())
    }

    async fn delete_security_group_rule(
        &self,
        ctx: &RequestContext,
        id: SecurityGroupRuleId,
    ) -> Result<()> {
        let r = match self.rules.get(&id.to_string()).await? {
            Some(r) if owns(ctx, &r.value.project_id) => r,
            _ => return Err(NetworkError::not_found("security_group_rule", id)),
        };
        authorize("delete_security_group_rule", ctx, &target(&r.value.project_id))?;
        for _ in 0..MAX_ATTEMPTS {
            let Some(r) = self.rules.get(&id.to_string()).await? else {
                return Err(NetworkError::not_found("security_group_rule", id));
            };
            let mut plan = Plan::default();
            plan.when(self.rules.unchanged(&r.id, r.revision), Tag::Retry);
            plan.op(self.rules.delete_op(&r.id));
            plan.del(fp_key(&r.value));
            self.usage(&mut plan, &r.value.project_id, Resource::SecurityGroupRule, -1, false)
                .await?;
            if self.run(plan).await? {
                self.refresh_firewalls(&[r.value.security_group_id]).await;
                return Ok(());
            }
        }
        Err(Self::too_busy())
    }

    async fn get_quota(&self, ctx: &RequestContext, project: &ProjectId) -> Result<QuotaSet> {
        if !allowed("get_quota", ctx, &target(project)) {
            return Err(NetworkError::Forbidden("rule:get_quota".into()));
        }
        self.limits(project).await
    }

    async fn get_quota_details(
        &self,
        ctx: &RequestContext,
        project: &ProjectId,
    ) -> Result<Vec<(Resource, QuotaDetail)>> {
        let limits = self.get_quota(ctx, project).await?;
        let mut out = Vec::new();
        for r in [
            Resource::Network,
            Resource::Subnet,
            Resource::Port,
            Resource::Router,
            Resource::FloatingIp,
            Resource::SecurityGroup,
            Resource::SecurityGroupRule,
        ] {
            out.push((
                r,
                QuotaDetail {
                    limit: r.limit(&limits),
                    used: self.used(project, r).await?,
                    reserved: 0,
                },
            ));
        }
        Ok(out)
    }

    async fn list_quotas(&self, ctx: &RequestContext) -> Result<Vec<(ProjectId, QuotaSet)>> {
        authorize("admin_only", ctx, &json!({}))?;
        let mut out = Vec::new();
        for v in self.quotas.list_all().await? {
            if let Ok(p) = ProjectId::try_from(v.id.clone()) {
                out.push((p, v.value));
            }
        }
        Ok(out)
    }

    async fn update_quota(
        &self,
        ctx: &RequestContext,
        project: &ProjectId,
        req: QuotaUpdate,
    ) -> Result<QuotaSet> {
        authorize("update_quota", ctx, &target(project))?;
        for v in [
            req.network,
            req.subnet,
            req.port,
            req.router,
            req.floatingip,
            req.security_group,
            req.security_group_rule,
        ]
        .into_iter()
        .flatten()
        {
            if v < -1 {
                return Err(NetworkError::invalid(format!("'{v}' should be non-negative")));
            }
        }
        for _ in 0..MAX_ATTEMPTS {
            let cur = self.quotas.get(project.as_str()).await?;
            let mut q = cur.as_ref().map(|v| v.value).unwrap_or(self.config.default_quotas);
            if let Some(v) = req.network {
                q.network = v
            }
            if let Some(v) = req.subnet {
                q.subnet = v
            }
            if let Some(v) = req.port {
                q.port = v
            }
            if let Some(v) = req.router {
                q.router = v
            }
            if let Some(v) = req.floatingip {
                q.floatingip = v
            }
            if let Some(v) = req.security_group {
                q.security_group = v
            }
            if let Some(v) = req.security_group_rule {
                q.security_group_rule = v
            }
            let ok = match cur {
                Some(c) => self.quotas.update(project.as_str(), c.revision, &q).await.is_ok(),
                None => self.quotas.create(project.as_str(), &q).await.is_ok(),
            };
            if ok {
                return Ok(q);
            }
        }
        Err(Self::too_busy())
    }

    async fn delete_quota(&self, ctx: &RequestContext, project: &ProjectId) -> Result<()> {
        authorize("delete_quota", ctx, &target(project))?;
        self.quotas.delete(project.as_str()).await?;
        Ok(())
    }
}
