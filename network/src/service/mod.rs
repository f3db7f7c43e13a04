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
//! A losing transaction is rebuilt from fresh reads and retried (through core's
//! [`retry_txn`](ferrostack_core::store::retry::retry_txn), which bounds the attempts and counts the lost races), so concurrent creators never
//! share an address, a MAC or a segment, and a quota is never overshot. Deleting a subnet,
//! network or security group first marks it (a CAS that makes every in-flight transaction
//! depending on it fail), then checks it is unused, then deletes it.
//!
//! # Layout
//!
//! This module holds the struct, its constructor, the transaction plan and the visibility
//! helpers every resource shares, and the [`NetworkApi`] implementation, which dispatches each
//! operation to the file of its resource: `networks`, `subnets`, `ports`, `routers`,
//! `floating_ips`, `security_groups`, `quotas`; `ipam` holds address allocation and `sync`
//! what the service tells the data-plane backends.

use crate::api::{NetworkApi, QuotaDetail};
use crate::backend::*;
use crate::cidr::to_u128;
use crate::error::{NetworkError, Result};
use crate::policy::authorize;
use crate::types::*;
use ferrostack_core::RequestContext;
use ferrostack_core::id::{NetworkId, PortId, ProjectId, RouterId, SubnetId};
use ferrostack_core::store::retry::Contention;
use ferrostack_core::store::{Collection, Condition, Op, Store, Txn, TxnOutcome, Versioned};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

mod floating_ips;
mod ipam;
mod networks;
mod ports;
mod quotas;
mod routers;
mod security_groups;
mod subnets;
mod sync;

pub use ipam::free_candidates;
pub use ports::parse_mac;
pub use subnets::validate_subnet_layout;

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

fn check_len(what: &str, s: &str, max: usize) -> Result<()> {
    if s.chars().count() > max {
        return Err(NetworkError::invalid(format!(
            "'{}' exceeds maximum length of {max} for {what}",
            ferrostack_core::id::truncate_for_message(s)
        )));
    }
    Ok(())
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

/// A resource whose delete first flags it `deleting` (networks and subnets).
trait Deletable {
    fn set_deleting(&mut self, on: bool);
}

impl Deletable for Network {
    fn set_deleting(&mut self, on: bool) {
        self.deleting = on;
    }
}

impl Deletable for Subnet {
    fn set_deleting(&mut self, on: bool) {
        self.deleting = on;
    }
}

/// Every document of `table` that `keep` accepts, without its version, in id order.
async fn values_where<T>(table: &Collection<T>, keep: impl FnMut(&T) -> bool) -> Result<Vec<T>>
where
    T: Serialize + serde::de::DeserializeOwned + Send + Sync,
{
    Ok(table.list_all().await?.into_iter().map(|v| v.value).filter(keep).collect())
}

/// Every document of `table`, without its version, in id order.
async fn values<T>(table: &Collection<T>) -> Result<Vec<T>>
where
    T: Serialize + serde::de::DeserializeOwned + Send + Sync,
{
    values_where(table, |_| true).await
}

/// Every network, by id.
async fn networks_by_id(svc: &NetworkService) -> Result<HashMap<NetworkId, Network>> {
    Ok(values(&svc.networks).await?.into_iter().map(|n| (n.id, n)).collect())
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

    /// A single-attempt step (the final delete after marking) lost its race.
    fn too_busy(what: String) -> NetworkError {
        NetworkError::Contention(Contention { what, attempts: 1 })
    }

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

    /// Sets (`on`) or clears the `deleting` flag of document `id` through [`Self::mark`].
    async fn mark_deleting<T>(
        &self,
        col: &Collection<T>,
        id: &str,
        on: bool,
    ) -> Result<Versioned<T>>
    where
        T: Deletable + Serialize + serde::de::DeserializeOwned + Send + Sync,
    {
        self.mark(col, id, |v| {
            v.set_deleting(on);
            Ok(())
        })
        .await
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

#[async_trait::async_trait]
impl NetworkApi for NetworkService {
    async fn create_network(&self, ctx: &RequestContext, req: NetworkCreate) -> Result<Network> {
        networks::create_network(self, ctx, req).await
    }

    async fn get_network(&self, ctx: &RequestContext, id: NetworkId) -> Result<Network> {
        networks::get_network(self, ctx, id).await
    }

    async fn list_networks(&self, ctx: &RequestContext) -> Result<Vec<Network>> {
        networks::list_networks(self, ctx).await
    }

    async fn update_network(
        &self,
        ctx: &RequestContext,
        id: NetworkId,
        req: NetworkUpdate,
    ) -> Result<Network> {
        networks::update_network(self, ctx, id, req).await
    }

    async fn delete_network(&self, ctx: &RequestContext, id: NetworkId) -> Result<()> {
        networks::delete_network(self, ctx, id).await
    }

    async fn create_subnet(&self, ctx: &RequestContext, req: SubnetCreate) -> Result<Subnet> {
        subnets::create_subnet(self, ctx, req).await
    }

    async fn get_subnet(&self, ctx: &RequestContext, id: SubnetId) -> Result<Subnet> {
        subnets::get_subnet(self, ctx, id).await
    }

    async fn list_subnets(&self, ctx: &RequestContext) -> Result<Vec<Subnet>> {
        subnets::list_subnets(self, ctx).await
    }

    async fn update_subnet(
        &self,
        ctx: &RequestContext,
        id: SubnetId,
        req: SubnetUpdate,
    ) -> Result<Subnet> {
        subnets::update_subnet(self, ctx, id, req).await
    }

    async fn delete_subnet(&self, ctx: &RequestContext, id: SubnetId) -> Result<()> {
        subnets::delete_subnet(self, ctx, id).await
    }

    async fn create_port(&self, ctx: &RequestContext, req: PortCreate) -> Result<Port> {
        ports::create_port(self, ctx, req).await
    }

    async fn get_port(&self, ctx: &RequestContext, id: PortId) -> Result<Port> {
        ports::get_port(self, ctx, id).await
    }

    async fn list_ports(&self, ctx: &RequestContext) -> Result<Vec<Port>> {
        ports::list_ports(self, ctx).await
    }

    async fn update_port(&self, ctx: &RequestContext, id: PortId, req: PortUpdate) -> Result<Port> {
        ports::update_port(self, ctx, id, req).await
    }

    async fn delete_port(&self, ctx: &RequestContext, id: PortId) -> Result<()> {
        ports::delete_port(self, ctx, id).await
    }

    async fn create_router(&self, ctx: &RequestContext, req: RouterCreate) -> Result<Router> {
        routers::create_router(self, ctx, req).await
    }

    async fn get_router(&self, ctx: &RequestContext, id: RouterId) -> Result<Router> {
        routers::get_router(self, ctx, id).await
    }

    async fn list_routers(&self, ctx: &RequestContext) -> Result<Vec<Router>> {
        routers::list_routers(self, ctx).await
    }

    async fn update_router(
        &self,
        ctx: &RequestContext,
        id: RouterId,
        req: RouterUpdate,
    ) -> Result<Router> {
        routers::update_router(self, ctx, id, req).await
    }

    async fn delete_router(&self, ctx: &RequestContext, id: RouterId) -> Result<()> {
        routers::delete_router(self, ctx, id).await
    }

    async fn add_router_interface(
        &self,
        ctx: &RequestContext,
        id: RouterId,
        req: InterfaceRequest,
    ) -> Result<RouterInterfaceInfo> {
        routers::add_router_interface(self, ctx, id, req).await
    }

    async fn remove_router_interface(
        &self,
        ctx: &RequestContext,
        id: RouterId,
        req: InterfaceRequest,
    ) -> Result<RouterInterfaceInfo> {
        routers::remove_router_interface(self, ctx, id, req).await
    }

    async fn create_floatingip(
        &self,
        ctx: &RequestContext,
        req: FloatingIpCreate,
    ) -> Result<FloatingIp> {
        floating_ips::create_floatingip(self, ctx, req).await
    }

    async fn get_floatingip(&self, ctx: &RequestContext, id: FloatingIpId) -> Result<FloatingIp> {
        floating_ips::get_floatingip(self, ctx, id).await
    }

    async fn list_floatingips(&self, ctx: &RequestContext) -> Result<Vec<FloatingIp>> {
        floating_ips::list_floatingips(self, ctx).await
    }

    async fn update_floatingip(
        &self,
        ctx: &RequestContext,
        id: FloatingIpId,
        req: FloatingIpUpdate,
    ) -> Result<FloatingIp> {
        floating_ips::update_floatingip(self, ctx, id, req).await
    }

    async fn delete_floatingip(&self, ctx: &RequestContext, id: FloatingIpId) -> Result<()> {
        floating_ips::delete_floatingip(self, ctx, id).await
    }

    async fn create_security_group(
        &self,
        ctx: &RequestContext,
        req: SecurityGroupCreate,
    ) -> Result<SecurityGroup> {
        security_groups::create_security_group(self, ctx, req).await
    }

    async fn get_security_group(
        &self,
        ctx: &RequestContext,
        id: SecurityGroupId,
    ) -> Result<SecurityGroup> {
        security_groups::get_security_group(self, ctx, id).await
    }

    async fn list_security_groups(&self, ctx: &RequestContext) -> Result<Vec<SecurityGroup>> {
        security_groups::list_security_groups(self, ctx).await
    }

    async fn update_security_group(
        &self,
        ctx: &RequestContext,
        id: SecurityGroupId,
        req: SecurityGroupUpdate,
    ) -> Result<SecurityGroup> {
        security_groups::update_security_group(self, ctx, id, req).await
    }

    async fn delete_security_group(&self, ctx: &RequestContext, id: SecurityGroupId) -> Result<()> {
        security_groups::delete_security_group(self, ctx, id).await
    }

    async fn create_security_group_rule(
        &self,
        ctx: &RequestContext,
        req: SecurityGroupRuleCreate,
    ) -> Result<SecurityGroupRule> {
        security_groups::create_security_group_rule(self, ctx, req).await
    }

    async fn get_security_group_rule(
        &self,
        ctx: &RequestContext,
        id: SecurityGroupRuleId,
    ) -> Result<SecurityGroupRule> {
        security_groups::get_security_group_rule(self, ctx, id).await
    }

    async fn list_security_group_rules(
        &self,
        ctx: &RequestContext,
    ) -> Result<Vec<SecurityGroupRule>> {
        security_groups::list_security_group_rules(self, ctx).await
    }

    async fn delete_security_group_rule(
        &self,
        ctx: &RequestContext,
        id: SecurityGroupRuleId,
    ) -> Result<()> {
        security_groups::delete_security_group_rule(self, ctx, id).await
    }

    async fn get_quota(&self, ctx: &RequestContext, project: &ProjectId) -> Result<QuotaSet> {
        quotas::get_quota(self, ctx, project).await
    }

    async fn get_quota_details(
        &self,
        ctx: &RequestContext,
        project: &ProjectId,
    ) -> Result<Vec<(Resource, QuotaDetail)>> {
        quotas::get_quota_details(self, ctx, project).await
    }

    async fn list_quotas(&self, ctx: &RequestContext) -> Result<Vec<(ProjectId, QuotaSet)>> {
        quotas::list_quotas(self, ctx).await
    }

    async fn update_quota(
        &self,
        ctx: &RequestContext,
        project: &ProjectId,
        req: QuotaUpdate,
    ) -> Result<QuotaSet> {
        quotas::update_quota(self, ctx, project, req).await
    }

    async fn delete_quota(&self, ctx: &RequestContext, project: &ProjectId) -> Result<()> {
        quotas::delete_quota(self, ctx, project).await
    }
}
