// SPDX-License-Identifier: Apache-2.0
//! Neutron's resources, serialized exactly as the v2.0 API renders them, and the request bodies
//! that create and update them.
//!
//! Request bodies use `deny_unknown_fields`: Neutron answers an unrecognized attribute with
//! 400, and so do we.

use crate::cidr::Cidr;
use ferrostack_core::id::{NetworkId, PortId, ProjectId, RouterId, SubnetId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::net::IpAddr;

// The request bodies live with the trait that takes them; re-exported for existing paths.
pub use crate::api::{
    FixedIpRequest, FloatingIpCreate, FloatingIpUpdate, GatewayRequest, InterfaceRequest,
    NetworkCreate, NetworkUpdate, PortCreate, PortUpdate, QuotaUpdate, RouterCreate,
    RouterInterfaceInfo, RouterUpdate, SecurityGroupCreate, SecurityGroupRuleCreate,
    SecurityGroupUpdate, SubnetCreate, SubnetUpdate,
};

ferrostack_core::define_id!(
    /// A Neutron floating IP.
    FloatingIpId
);
ferrostack_core::define_id!(
    /// A Neutron security group.
    SecurityGroupId
);
ferrostack_core::define_id!(
    /// A Neutron security group rule.
    SecurityGroupRuleId
);

fn is_false(b: &bool) -> bool {
    !*b
}

/// How a network is isolated on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkType {
    /// Untagged on a physical network.
    Flat,
    /// 802.1Q tag on a physical network.
    Vlan,
    /// VXLAN overlay (VNI).
    Vxlan,
    /// Host-local, for tests and single-host clouds.
    Local,
}

impl NetworkType {
    /// The name Neutron uses.
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkType::Flat => "flat",
            NetworkType::Vlan => "vlan",
            NetworkType::Vxlan => "vxlan",
            NetworkType::Local => "local",
        }
    }
}

/// A network's L2 segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Segment {
    /// The type.
    pub network_type: NetworkType,
    /// The physical network (flat and VLAN).
    pub physical_network: Option<String>,
    /// The VLAN id or VNI.
    pub segmentation_id: Option<u32>,
}

/// An L2 network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Network {
    /// The id.
    pub id: NetworkId,
    /// The name (not unique).
    pub name: String,
    /// Free text.
    pub description: String,
    /// The owner.
    pub project_id: ProjectId,
    /// The owner, under its legacy name.
    pub tenant_id: ProjectId,
    /// Administrative state.
    pub admin_state_up: bool,
    /// `ACTIVE`, `DOWN`, `BUILD` or `ERROR`.
    pub status: String,
    /// Visible to and usable by every project.
    pub shared: bool,
    /// Floating IPs and router gateways come from external networks.
    #[serde(rename = "router:external")]
    pub external: bool,
    /// The MTU.
    pub mtu: u32,
    /// Subnet ids, in creation order.
    pub subnets: Vec<SubnetId>,
    /// `provider:network_type`.
    #[serde(rename = "provider:network_type")]
    pub network_type: NetworkType,
    /// `provider:physical_network`.
    #[serde(rename = "provider:physical_network")]
    pub physical_network: Option<String>,
    /// `provider:segmentation_id`.
    #[serde(rename = "provider:segmentation_id")]
    pub segmentation_id: Option<u32>,
    /// The default for new ports.
    pub port_security_enabled: bool,
    /// Tags.
    pub tags: Vec<String>,
    /// Availability zone hints.
    pub availability_zone_hints: Vec<String>,
    /// Availability zones.
    pub availability_zones: Vec<String>,
    /// Creation time.
    pub created_at: String,
    /// Last update time.
    pub updated_at: String,
    /// Bumped by every update.
    pub revision_number: u64,
    /// Set while a delete is in progress; new ports and subnets are refused.
    #[serde(default, skip_serializing_if = "is_false", rename = "ferrostack:deleting")]
    pub deleting: bool,
}

impl Network {
    /// The network's segment.
    pub fn segment(&self) -> Segment {
        Segment {
            network_type: self.network_type,
            physical_network: self.physical_network.clone(),
            segmentation_id: self.segmentation_id,
        }
    }
}

/// A range of addresses IPAM hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllocationPool {
    /// First address.
    pub start: IpAddr,
    /// Last address (inclusive).
    pub end: IpAddr,
}

/// A static route pushed to instances (subnet) or installed in a router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostRoute {
    /// Destination prefix.
    pub destination: Cidr,
    /// Next hop.
    pub nexthop: IpAddr,
}

/// IPv6 address configuration modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ipv6Mode {
    /// Stateless address autoconfiguration (EUI-64 addresses).
    #[serde(rename = "slaac")]
    Slaac,
    /// DHCPv6 hands out addresses.
    #[serde(rename = "dhcpv6-stateful")]
    Dhcpv6Stateful,
    /// SLAAC addresses, DHCPv6 for other options.
    #[serde(rename = "dhcpv6-stateless")]
    Dhcpv6Stateless,
}

/// An IP subnet of a network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subnet {
    /// The id.
    pub id: SubnetId,
    /// The name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// The network.
    pub network_id: NetworkId,
    /// The owner.
    pub project_id: ProjectId,
    /// The owner, legacy name.
    pub tenant_id: ProjectId,
    /// 4 or 6.
    pub ip_version: u8,
    /// The prefix.
    pub cidr: Cidr,
    /// The gateway, or none.
    pub gateway_ip: Option<IpAddr>,
    /// What IPAM hands out.
    pub allocation_pools: Vec<AllocationPool>,
    /// DNS servers for instances.
    pub dns_nameservers: Vec<IpAddr>,
    /// Static routes for instances.
    pub host_routes: Vec<HostRoute>,
    /// Whether DHCP serves the subnet.
    pub enable_dhcp: bool,
    /// IPv6 router advertisement mode.
    pub ipv6_ra_mode: Option<Ipv6Mode>,
    /// IPv6 address mode.
    pub ipv6_address_mode: Option<Ipv6Mode>,
    /// Always null (no subnet pools).
    pub subnetpool_id: Option<String>,
    /// Service types.
    pub service_types: Vec<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Creation time.
    pub created_at: String,
    /// Last update time.
    pub updated_at: String,
    /// Bumped by every update.
    pub revision_number: u64,
    /// Set while a delete is in progress.
    #[serde(default, skip_serializing_if = "is_false", rename = "ferrostack:deleting")]
    pub deleting: bool,
}

impl Subnet {
    /// Whether addresses come from the MAC (SLAAC or DHCPv6-stateless) rather than the pools.
    pub fn is_auto_address(&self) -> bool {
        matches!(self.ipv6_address_mode, Some(Ipv6Mode::Slaac | Ipv6Mode::Dhcpv6Stateless))
    }
}

/// An address of a port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FixedIp {
    /// The subnet.
    pub subnet_id: SubnetId,
    /// The address.
    pub ip_address: IpAddr,
}

/// An extra address (or prefix) a port may send from when port security is on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressPair {
    /// An address or a prefix.
    pub ip_address: String,
    /// The MAC; defaults to the port's.
    #[serde(default)]
    pub mac_address: Option<String>,
}

/// A virtual NIC on a network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Port {
    /// The id.
    pub id: PortId,
    /// The name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// The network.
    pub network_id: NetworkId,
    /// The owner.
    pub project_id: ProjectId,
    /// The owner, legacy name.
    pub tenant_id: ProjectId,
    /// `fa:16:3e:xx:xx:xx`, unique on the network.
    pub mac_address: String,
    /// Addresses.
    pub fixed_ips: Vec<FixedIp>,
    /// The device using the port (server id, router id).
    pub device_id: String,
    /// `compute:<az>`, `network:router_interface`, ...
    pub device_owner: String,
    /// Administrative state.
    pub admin_state_up: bool,
    /// `ACTIVE`, `DOWN`, `BUILD`, `ERROR`.
    pub status: String,
    /// Security groups applied.
    pub security_groups: Vec<SecurityGroupId>,
    /// Whether anti-spoofing and security groups apply.
    pub port_security_enabled: bool,
    /// Extra allowed source addresses.
    pub allowed_address_pairs: Vec<AddressPair>,
    /// The host the port is bound to.
    #[serde(rename = "binding:host_id")]
    pub binding_host_id: String,
    /// `unbound`, `binding_failed`, `ovs`, `bridge`, ...
    #[serde(rename = "binding:vif_type")]
    pub binding_vif_type: String,
    /// What the hypervisor needs to plug the VIF.
    #[serde(rename = "binding:vif_details")]
    pub binding_vif_details: Map<String, Value>,
    /// `normal`, `direct`, ...
    #[serde(rename = "binding:vnic_type")]
    pub binding_vnic_type: String,
    /// Free-form binding data from Nova.
    #[serde(rename = "binding:profile")]
    pub binding_profile: Map<String, Value>,
    /// Extra DHCP options (unsupported; always empty).
    pub extra_dhcp_opts: Vec<Value>,
    /// Tags.
    pub tags: Vec<String>,
    /// Creation time.
    pub created_at: String,
    /// Last update time.
    pub updated_at: String,
    /// Bumped by every update.
    pub revision_number: u64,
}

/// A router's uplink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayInfo {
    /// The external network.
    pub network_id: NetworkId,
    /// Whether traffic from inside is source-NATed to the gateway address.
    pub enable_snat: bool,
    /// The gateway's addresses.
    pub external_fixed_ips: Vec<FixedIp>,
}

/// An L3 router.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Router {
    /// The id.
    pub id: RouterId,
    /// The name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// The owner.
    pub project_id: ProjectId,
    /// The owner, legacy name.
    pub tenant_id: ProjectId,
    /// Administrative state.
    pub admin_state_up: bool,
    /// `ACTIVE`.
    pub status: String,
    /// The uplink.
    pub external_gateway_info: Option<GatewayInfo>,
    /// Static routes.
    pub routes: Vec<HostRoute>,
    /// Always false.
    pub distributed: bool,
    /// Always false.
    pub ha: bool,
    /// The gateway port.
    pub gw_port_id: Option<PortId>,
    /// Availability zones.
    pub availability_zones: Vec<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Creation time.
    pub created_at: String,
    /// Last update time.
    pub updated_at: String,
    /// Bumped by every update (and by interface changes).
    pub revision_number: u64,
}

/// A public address NATed one-to-one to a port's fixed address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloatingIp {
    /// The id.
    pub id: FloatingIpId,
    /// The owner.
    pub project_id: ProjectId,
    /// The owner, legacy name.
    pub tenant_id: ProjectId,
    /// The external network the address comes from.
    pub floating_network_id: NetworkId,
    /// The subnet the address comes from.
    pub floating_subnet_id: SubnetId,
    /// The public address.
    pub floating_ip_address: IpAddr,
    /// The port it is associated with.
    pub port_id: Option<PortId>,
    /// The port's address it maps to.
    pub fixed_ip_address: Option<IpAddr>,
    /// The router doing the NAT.
    pub router_id: Option<RouterId>,
    /// `ACTIVE` when associated, else `DOWN`.
    pub status: String,
    /// Free text.
    pub description: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Creation time.
    pub created_at: String,
    /// Last update time.
    pub updated_at: String,
    /// Bumped by every update.
    pub revision_number: u64,
}

/// Which way traffic flows, from the port's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Into the port.
    Ingress,
    /// Out of the port.
    Egress,
}

/// A named set of allow rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecurityGroup {
    /// The id.
    pub id: SecurityGroupId,
    /// The name (`default` for the per-project group).
    pub name: String,
    /// Free text.
    pub description: String,
    /// The owner.
    pub project_id: ProjectId,
    /// The owner, legacy name.
    pub tenant_id: ProjectId,
    /// Whether replies to allowed traffic are allowed implicitly.
    pub stateful: bool,
    /// The rules (filled in on read; stored separately).
    #[serde(default)]
    pub security_group_rules: Vec<SecurityGroupRule>,
    /// Tags.
    pub tags: Vec<String>,
    /// Creation time.
    pub created_at: String,
    /// Last update time.
    pub updated_at: String,
    /// Bumped by every update.
    pub revision_number: u64,
}

/// One allow rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SecurityGroupRule {
    /// The id.
    pub id: SecurityGroupRuleId,
    /// The group.
    pub security_group_id: SecurityGroupId,
    /// The owner.
    pub project_id: ProjectId,
    /// The owner, legacy name.
    pub tenant_id: ProjectId,
    /// The direction.
    pub direction: Direction,
    /// `IPv4` or `IPv6`.
    pub ethertype: String,
    /// A protocol name or number; `None` is any.
    pub protocol: Option<String>,
    /// Lowest destination port, or ICMP type.
    pub port_range_min: Option<u32>,
    /// Highest destination port, or ICMP code.
    pub port_range_max: Option<u32>,
    /// The remote prefix.
    pub remote_ip_prefix: Option<Cidr>,
    /// The remote group.
    pub remote_group_id: Option<SecurityGroupId>,
    /// Never set (address groups are not supported).
    pub remote_address_group_id: Option<String>,
    /// The prefix normalized.
    pub normalized_cidr: Option<Cidr>,
    /// Free text.
    pub description: String,
    /// Creation time.
    pub created_at: String,
    /// Last update time.
    pub updated_at: String,
    /// Always 0.
    pub revision_number: u64,
}

/// Per-project limits; `-1` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaSet {
    /// Networks.
    pub network: i64,
    /// Subnets.
    pub subnet: i64,
    /// Ports.
    pub port: i64,
    /// Routers.
    pub router: i64,
    /// Floating IPs.
    pub floatingip: i64,
    /// Security groups.
    pub security_group: i64,
    /// Security group rules.
    pub security_group_rule: i64,
}

impl Default for QuotaSet {
    /// Neutron's defaults.
    fn default() -> Self {
        QuotaSet {
            network: 100,
            subnet: 100,
            port: 500,
            router: 10,
            floatingip: 50,
            security_group: 10,
            security_group_rule: 100,
        }
    }
}

/// A quota-counted resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    /// Networks.
    Network,
    /// Subnets.
    Subnet,
    /// Ports.
    Port,
    /// Routers.
    Router,
    /// Floating IPs.
    FloatingIp,
    /// Security groups.
    SecurityGroup,
    /// Security group rules.
    SecurityGroupRule,
}

impl Resource {
    /// Every quota-counted resource, in the order Neutron lists them.
    pub const ALL: [Resource; 7] = [
        Resource::Network,
        Resource::Subnet,
        Resource::Port,
        Resource::Router,
        Resource::FloatingIp,
        Resource::SecurityGroup,
        Resource::SecurityGroupRule,
    ];

    /// The resource of a Neutron quota name (`"floatingip"`).
    pub fn from_name(name: &str) -> Option<Resource> {
        Resource::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// Neutron's quota name.
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Network => "network",
            Resource::Subnet => "subnet",
            Resource::Port => "port",
            Resource::Router => "router",
            Resource::FloatingIp => "floatingip",
            Resource::SecurityGroup => "security_group",
            Resource::SecurityGroupRule => "security_group_rule",
        }
    }
    /// The limit of this resource in `q`.
    pub fn limit(self, q: &QuotaSet) -> i64 {
        let mut q = *q;
        *self.limit_mut(&mut q)
    }
    /// The limit of this resource in `q`, to change.
    pub fn limit_mut(self, q: &mut QuotaSet) -> &mut i64 {
        match self {
            Resource::Network => &mut q.network,
            Resource::Subnet => &mut q.subnet,
            Resource::Port => &mut q.port,
            Resource::Router => &mut q.router,
            Resource::FloatingIp => &mut q.floatingip,
            Resource::SecurityGroup => &mut q.security_group,
            Resource::SecurityGroupRule => &mut q.security_group_rule,
        }
    }
}
