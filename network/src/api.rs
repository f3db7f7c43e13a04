// SPDX-License-Identifier: Apache-2.0
//! [`NetworkApi`]: the service's operations, implemented locally by
//! [`NetworkService`](crate::NetworkService) and served over HTTP by [`crate::http::router`].

use crate::error::Result;
use crate::types::*;
use ferrostack_core::RequestContext;
use ferrostack_core::id::{NetworkId, PortId, ProjectId, RouterId, SubnetId};

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
