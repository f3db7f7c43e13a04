// SPDX-License-Identifier: Apache-2.0
//! [`NetworkApi`]: the service's operations, implemented locally by
//! [`NetworkService`](crate::NetworkService) and served over HTTP by [`crate::http::router`],
//! and the typed request bodies and answers its methods take and return (the resources
//! themselves are in [`crate::types`]).

use crate::error::Result;
use crate::types::*;
use ferrostack_core::RequestContext;
use ferrostack_core::id::{NetworkId, PortId, ProjectId, RouterId, SubnetId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::net::IpAddr;

/// Quota usage of one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QuotaDetail {
    /// The limit (`-1` unlimited).
    pub limit: i64,
    /// How many exist.
    pub used: i64,
    /// Always 0 (no reservations).
    pub reserved: i64,
}

/// Neutron's operations, implemented locally by [`NetworkService`](crate::NetworkService) and
/// remotely by [`http::Client`](crate::http::Client).
///
/// List operations return every resource visible to the caller; filtering by attribute,
/// `fields=` and pagination are applied by the HTTP layer on the rendered resources.
///
/// # Contract
///
/// Every implementation passes [`testing::run_api_conformance`](crate::testing::run_api_conformance):
///
/// * every call acts as `ctx`; resources of another project the caller may not see are
///   reported as [`NotFound`](ferrostack_core::ErrorKind::NotFound), exactly as ids that do not
///   exist (shared and external networks are visible to all);
/// * what policy refuses on a visible target (a member creating a shared or external network,
///   binding a port, changing quotas) is [`Forbidden`](ferrostack_core::ErrorKind::Forbidden);
/// * malformed or inconsistent input is `InvalidInput` and changes nothing; an address, MAC,
///   segment or association already taken, a resource still in use, and an exceeded quota
///   are `Conflict`;
/// * IPAM never hands out an address twice, nor one outside the subnet's pools or its
///   gateway; CIDRs may overlap across networks (and so across projects);
/// * a call that returned `Ok` is durable: a following `get` or `list` by the same caller
///   shows it.
#[async_trait::async_trait]
pub trait NetworkApi: Send + Sync + std::fmt::Debug {
    /// Creates a network (allocating a segment from the pools when none is given).
    async fn create_network(&self, ctx: &RequestContext, req: NetworkCreate) -> Result<Network>;
    /// One network.
    async fn get_network(&self, ctx: &RequestContext, id: NetworkId) -> Result<Network>;
    /// Visible networks: own, shared and external.
    async fn list_networks(&self, ctx: &RequestContext) -> Result<Vec<Network>>;
    /// Updates a network.
    async fn update_network(
        &self,
        ctx: &RequestContext,
        id: NetworkId,
        req: NetworkUpdate,
    ) -> Result<Network>;
    /// Deletes a network with no ports left, with its subnets and segment.
    async fn delete_network(&self, ctx: &RequestContext, id: NetworkId) -> Result<()>;

    /// Creates a subnet.
    async fn create_subnet(&self, ctx: &RequestContext, req: SubnetCreate) -> Result<Subnet>;
    /// One subnet.
    async fn get_subnet(&self, ctx: &RequestContext, id: SubnetId) -> Result<Subnet>;
    /// Visible subnets.
    async fn list_subnets(&self, ctx: &RequestContext) -> Result<Vec<Subnet>>;
    /// Updates a subnet.
    async fn update_subnet(
        &self,
        ctx: &RequestContext,
        id: SubnetId,
        req: SubnetUpdate,
    ) -> Result<Subnet>;
    /// Deletes a subnet without allocations.
    async fn delete_subnet(&self, ctx: &RequestContext, id: SubnetId) -> Result<()>;

    /// Creates a port, allocating its MAC and addresses.
    async fn create_port(&self, ctx: &RequestContext, req: PortCreate) -> Result<Port>;
    /// One port.
    async fn get_port(&self, ctx: &RequestContext, id: PortId) -> Result<Port>;
    /// Visible ports.
    async fn list_ports(&self, ctx: &RequestContext) -> Result<Vec<Port>>;
    /// Updates a port (binding it when `binding:host_id` changes).
    async fn update_port(&self, ctx: &RequestContext, id: PortId, req: PortUpdate) -> Result<Port>;
    /// Deletes a port and releases its addresses.
    async fn delete_port(&self, ctx: &RequestContext, id: PortId) -> Result<()>;

    /// Creates a router.
    async fn create_router(&self, ctx: &RequestContext, req: RouterCreate) -> Result<Router>;
    /// One router.
    async fn get_router(&self, ctx: &RequestContext, id: RouterId) -> Result<Router>;
    /// Visible routers.
    async fn list_routers(&self, ctx: &RequestContext) -> Result<Vec<Router>>;
    /// Updates a router (gateway, routes).
    async fn update_router(
        &self,
        ctx: &RequestContext,
        id: RouterId,
        req: RouterUpdate,
    ) -> Result<Router>;
    /// Deletes a router without interfaces.
    async fn delete_router(&self, ctx: &RequestContext, id: RouterId) -> Result<()>;
    /// Attaches a subnet or port.
    async fn add_router_interface(
        &self,
        ctx: &RequestContext,
        id: RouterId,
        req: InterfaceRequest,
    ) -> Result<RouterInterfaceInfo>;
    /// Detaches a subnet or port.
    async fn remove_router_interface(
        &self,
        ctx: &RequestContext,
        id: RouterId,
        req: InterfaceRequest,
    ) -> Result<RouterInterfaceInfo>;

    /// Allocates a floating IP.
    async fn create_floatingip(
        &self,
        ctx: &RequestContext,
        req: FloatingIpCreate,
    ) -> Result<FloatingIp>;
    /// One floating IP.
    async fn get_floatingip(&self, ctx: &RequestContext, id: FloatingIpId) -> Result<FloatingIp>;
    /// Visible floating IPs.
    async fn list_floatingips(&self, ctx: &RequestContext) -> Result<Vec<FloatingIp>>;
    /// Associates or disassociates.
    async fn update_floatingip(
        &self,
        ctx: &RequestContext,
        id: FloatingIpId,
        req: FloatingIpUpdate,
    ) -> Result<FloatingIp>;
    /// Releases a floating IP.
    async fn delete_floatingip(&self, ctx: &RequestContext, id: FloatingIpId) -> Result<()>;

    /// Creates a security group (with the two egress rules).
    async fn create_security_group(
        &self,
        ctx: &RequestContext,
        req: SecurityGroupCreate,
    ) -> Result<SecurityGroup>;
    /// One security group with its rules.
    async fn get_security_group(
        &self,
        ctx: &RequestContext,
        id: SecurityGroupId,
    ) -> Result<SecurityGroup>;
    /// Visible security groups (creating the caller's `default` group on first use).
    async fn list_security_groups(&self, ctx: &RequestContext) -> Result<Vec<SecurityGroup>>;
    /// Updates a security group.
    async fn update_security_group(
        &self,
        ctx: &RequestContext,
        id: SecurityGroupId,
        req: SecurityGroupUpdate,
    ) -> Result<SecurityGroup>;
    /// Deletes an unused security group.
    async fn delete_security_group(&self, ctx: &RequestContext, id: SecurityGroupId) -> Result<()>;
    /// Adds a rule.
    async fn create_security_group_rule(
        &self,
        ctx: &RequestContext,
        req: SecurityGroupRuleCreate,
    ) -> Result<SecurityGroupRule>;
    /// One rule.
    async fn get_security_group_rule(
        &self,
        ctx: &RequestContext,
        id: SecurityGroupRuleId,
    ) -> Result<SecurityGroupRule>;
    /// Visible rules.
    async fn list_security_group_rules(
        &self,
        ctx: &RequestContext,
    ) -> Result<Vec<SecurityGroupRule>>;
    /// Removes a rule.
    async fn delete_security_group_rule(
        &self,
        ctx: &RequestContext,
        id: SecurityGroupRuleId,
    ) -> Result<()>;

    /// A project's limits.
    async fn get_quota(&self, ctx: &RequestContext, project: &ProjectId) -> Result<QuotaSet>;
    /// A project's limits with usage.
    async fn get_quota_details(
        &self,
        ctx: &RequestContext,
        project: &ProjectId,
    ) -> Result<Vec<(Resource, QuotaDetail)>>;
    /// Projects with non-default limits (admin).
    async fn list_quotas(&self, ctx: &RequestContext) -> Result<Vec<(ProjectId, QuotaSet)>>;
    /// Changes a project's limits (admin).
    async fn update_quota(
        &self,
        ctx: &RequestContext,
        project: &ProjectId,
        req: QuotaUpdate,
    ) -> Result<QuotaSet>;
    /// Resets a project's limits to the defaults (admin).
    async fn delete_quota(&self, ctx: &RequestContext, project: &ProjectId) -> Result<()>;
}

// ----- request bodies and typed answers ------------------------------------------------------

/// Partial quota update.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaUpdate {
    /// Networks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<i64>,
    /// Subnets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet: Option<i64>,
    /// Ports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    /// Routers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub router: Option<i64>,
    /// Floating IPs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floatingip: Option<i64>,
    /// Security groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_group: Option<i64>,
    /// Security group rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_group_rule: Option<i64>,
}

impl QuotaUpdate {
    /// The new limit of `r`, when the update sets one.
    pub fn limit(&self, r: Resource) -> Option<i64> {
        match r {
            Resource::Network => self.network,
            Resource::Subnet => self.subnet,
            Resource::Port => self.port,
            Resource::Router => self.router,
            Resource::FloatingIp => self.floatingip,
            Resource::SecurityGroup => self.security_group,
            Resource::SecurityGroupRule => self.security_group_rule,
        }
    }
}

/// Body of `POST /v2.0/networks`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkCreate {
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Admin state (default up).
    #[serde(default = "yes")]
    pub admin_state_up: bool,
    /// Shared (admin only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<bool>,
    /// External (admin only).
    #[serde(default, rename = "router:external", skip_serializing_if = "Option::is_none")]
    pub external: Option<bool>,
    /// MTU (default from the segment type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Segment type (admin only).
    #[serde(default, rename = "provider:network_type", skip_serializing_if = "Option::is_none")]
    pub network_type: Option<NetworkType>,
    /// Physical network (admin only).
    #[serde(
        default,
        rename = "provider:physical_network",
        skip_serializing_if = "Option::is_none"
    )]
    pub physical_network: Option<String>,
    /// VLAN id or VNI (admin only).
    #[serde(default, rename = "provider:segmentation_id", skip_serializing_if = "Option::is_none")]
    pub segmentation_id: Option<u32>,
    /// Port security default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_security_enabled: Option<bool>,
    /// Owner (admin only, when different from the caller's project).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<ProjectId>,
    /// Owner, legacy name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<ProjectId>,
    /// AZ hints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone_hints: Option<Vec<String>>,
    /// Whether this is the default external network (accepted and ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_default: Option<bool>,
    /// Accepted and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_domain: Option<String>,
    /// Accepted and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos_policy_id: Option<Value>,
}

/// Body of `PUT /v2.0/networks/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkUpdate {
    /// Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Admin state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_state_up: Option<bool>,
    /// Shared (admin only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared: Option<bool>,
    /// External (admin only).
    #[serde(rename = "router:external", skip_serializing_if = "Option::is_none")]
    pub external: Option<bool>,
    /// MTU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Port security default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_security_enabled: Option<bool>,
}

/// Body of `POST /v2.0/subnets`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SubnetCreate {
    /// The network.
    pub network_id: NetworkId,
    /// The prefix (strict: host bits must be zero).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
    /// 4 or 6.
    pub ip_version: u8,
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Gateway: absent = first host, `null` = none.
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    pub gateway_ip: Option<Option<IpAddr>>,
    /// Pools: default all but the gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_pools: Option<Vec<AllocationPool>>,
    /// DNS servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_nameservers: Option<Vec<String>>,
    /// Host routes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_routes: Option<Vec<HostRoute>>,
    /// DHCP (default on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_dhcp: Option<bool>,
    /// IPv6 RA mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_ra_mode: Option<Ipv6Mode>,
    /// IPv6 address mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_address_mode: Option<Ipv6Mode>,
    /// Owner (admin only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<ProjectId>,
    /// Owner, legacy name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<ProjectId>,
    /// Unsupported unless null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnetpool_id: Option<String>,
    /// Unsupported unless null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefixlen: Option<u8>,
    /// Accepted and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_default_subnetpool: Option<bool>,
    /// Service types (stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_types: Option<Vec<String>>,
    /// Accepted and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_id: Option<Value>,
}

/// Body of `PUT /v2.0/subnets/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SubnetUpdate {
    /// Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Gateway (`null` removes it).
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    pub gateway_ip: Option<Option<IpAddr>>,
    /// DNS servers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_nameservers: Option<Vec<String>>,
    /// Host routes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_routes: Option<Vec<HostRoute>>,
    /// DHCP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_dhcp: Option<bool>,
}

/// A requested fixed IP: a subnet, an address, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FixedIpRequest {
    /// The subnet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<SubnetId>,
    /// The address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
}

/// Body of `POST /v2.0/ports`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PortCreate {
    /// The network.
    pub network_id: NetworkId,
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Admin state.
    #[serde(default = "yes")]
    pub admin_state_up: bool,
    /// MAC (generated when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    /// Fixed IPs (absent: one from each IPv4 subnet and each auto-address IPv6 subnet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_ips: Option<Vec<FixedIpRequest>>,
    /// Device id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// Device owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_owner: Option<String>,
    /// Security groups (absent: the project's default group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_groups: Option<Vec<SecurityGroupId>>,
    /// Port security (absent: the network's setting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_security_enabled: Option<bool>,
    /// Allowed address pairs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_address_pairs: Option<Vec<AddressPair>>,
    /// Binding host (admin only).
    #[serde(default, rename = "binding:host_id", skip_serializing_if = "Option::is_none")]
    pub binding_host_id: Option<String>,
    /// VNIC type.
    #[serde(default, rename = "binding:vnic_type", skip_serializing_if = "Option::is_none")]
    pub binding_vnic_type: Option<String>,
    /// Binding profile (admin only).
    #[serde(default, rename = "binding:profile", skip_serializing_if = "Option::is_none")]
    pub binding_profile: Option<Map<String, Value>>,
    /// Owner (admin only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<ProjectId>,
    /// Owner, legacy name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<ProjectId>,
    /// Accepted when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_dhcp_opts: Option<Vec<Value>>,
    /// Accepted and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos_policy_id: Option<Value>,
    /// Accepted and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_name: Option<String>,
}

/// Body of `PUT /v2.0/ports/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PortUpdate {
    /// Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Admin state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_state_up: Option<bool>,
    /// Device id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// Device owner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_owner: Option<String>,
    /// Security groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_groups: Option<Vec<SecurityGroupId>>,
    /// Port security.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_security_enabled: Option<bool>,
    /// Allowed address pairs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_address_pairs: Option<Vec<AddressPair>>,
    /// Binding host (admin only); binds or unbinds the port.
    #[serde(rename = "binding:host_id", skip_serializing_if = "Option::is_none")]
    pub binding_host_id: Option<String>,
    /// VNIC type.
    #[serde(rename = "binding:vnic_type", skip_serializing_if = "Option::is_none")]
    pub binding_vnic_type: Option<String>,
    /// Binding profile (admin only).
    #[serde(rename = "binding:profile", skip_serializing_if = "Option::is_none")]
    pub binding_profile: Option<Map<String, Value>>,
}

/// `external_gateway_info` in a router request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayRequest {
    /// The external network.
    pub network_id: NetworkId,
    /// SNAT (default on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_snat: Option<bool>,
    /// Requested gateway addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_fixed_ips: Option<Vec<FixedIpRequest>>,
}

/// Body of `POST /v2.0/routers`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouterCreate {
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Admin state.
    #[serde(default = "yes")]
    pub admin_state_up: bool,
    /// The uplink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_gateway_info: Option<GatewayRequest>,
    /// Owner (admin only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<ProjectId>,
    /// Owner, legacy name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<ProjectId>,
    /// Must be false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distributed: Option<bool>,
    /// Must be false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ha: Option<bool>,
    /// Accepted and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone_hints: Option<Vec<String>>,
}

/// Body of `PUT /v2.0/routers/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouterUpdate {
    /// Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Admin state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_state_up: Option<bool>,
    /// Set (object), clear (`null` or `{}`), or keep (absent) the uplink.
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    pub external_gateway_info: Option<Option<Value>>,
    /// Static routes (replaces the list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routes: Option<Vec<HostRoute>>,
}

/// Body of `PUT /v2.0/routers/{id}/add_router_interface` and `remove_router_interface`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InterfaceRequest {
    /// Attach by subnet (the router takes the gateway address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<SubnetId>,
    /// Attach an existing port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_id: Option<PortId>,
}

/// What `add_router_interface` returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterInterfaceInfo {
    /// The router.
    pub id: RouterId,
    /// The owner.
    pub tenant_id: ProjectId,
    /// The owner.
    pub project_id: ProjectId,
    /// The port.
    pub port_id: PortId,
    /// The network.
    pub network_id: NetworkId,
    /// The first subnet.
    pub subnet_id: SubnetId,
    /// All subnets.
    pub subnet_ids: Vec<SubnetId>,
}

/// Body of `POST /v2.0/floatingips`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FloatingIpCreate {
    /// The external network.
    pub floating_network_id: NetworkId,
    /// A specific subnet of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<SubnetId>,
    /// A specific address (admin only in Neutron's defaults; allowed to owners here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floating_ip_address: Option<String>,
    /// Associate at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_id: Option<PortId>,
    /// Which of the port's addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_ip_address: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Owner (admin only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<ProjectId>,
    /// Owner, legacy name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<ProjectId>,
    /// Accepted and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos_policy_id: Option<Value>,
    /// Accepted and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_name: Option<String>,
    /// Accepted and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_domain: Option<String>,
}

/// Body of `PUT /v2.0/floatingips/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FloatingIpUpdate {
    /// Associate (`id`), disassociate (`null`), or keep (absent).
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    pub port_id: Option<Option<PortId>>,
    /// Which of the port's addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_ip_address: Option<String>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Body of `POST /v2.0/security-groups`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroupCreate {
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Stateful (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stateful: Option<bool>,
    /// Owner (admin only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<ProjectId>,
    /// Owner, legacy name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<ProjectId>,
}

/// Body of `PUT /v2.0/security-groups/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroupUpdate {
    /// Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Stateful.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stateful: Option<bool>,
}

/// Body of `POST /v2.0/security-group-rules`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroupRuleCreate {
    /// The group.
    pub security_group_id: SecurityGroupId,
    /// Direction.
    pub direction: Direction,
    /// `IPv4` (default) or `IPv6`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ethertype: Option<String>,
    /// Protocol name or number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Value>,
    /// Port range start or ICMP type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_range_min: Option<Value>,
    /// Port range end or ICMP code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_range_max: Option<Value>,
    /// Remote prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_ip_prefix: Option<String>,
    /// Remote group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_group_id: Option<SecurityGroupId>,
    /// Unsupported unless null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_address_group_id: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Owner (admin only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<ProjectId>,
    /// Owner, legacy name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<ProjectId>,
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

fn yes() -> bool {
    true
}
