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

fn yes() -> bool {
    true
}

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
        match self {
            Resource::Network => q.network,
            Resource::Subnet => q.subnet,
            Resource::Port => q.port,
            Resource::Router => q.router,
            Resource::FloatingIp => q.floatingip,
            Resource::SecurityGroup => q.security_group,
            Resource::SecurityGroupRule => q.security_group_rule,
        }
    }
}

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

/// Body of `POST /v2.0/networks`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkCreate {
    /// Name.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Description.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Admin state (default up).
    #[serde(default = "yes")]
    pub admin_state_up: bool,
    /// Shared (admin only).
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared: Option<bool>,
    /// External (admin only).
    #[serde(default, rename = "router:external")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external: Option<bool>,
    /// MTU (default from the segment type).
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Segment type (admin only).
    #[serde(default, rename = "provider:network_type")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_type: Option<NetworkType>,
    /// Physical network (admin only).
    #[serde(default, rename = "provider:physical_network")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub physical_network: Option<String>,
    /// VLAN id or VNI (admin only).
    #[serde(default, rename = "provider:segmentation_id")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segmentation_id: Option<u32>,
    /// Port security default.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_security_enabled: Option<bool>,
    /// Owner (admin only, when different from the caller's project).
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<ProjectId>,
    /// Owner, legacy name.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<ProjectId>,
    /// AZ hints.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub availability_zone_hints: Option<Vec<String>>,
    /// Whether this is the default external network (accepted and ignored).
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_default: Option<bool>,
    /// Accepted and ignored.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_domain: Option<String>,
    /// Accepted and ignored.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
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
    #[serde(rename = "router:external")]
    #[serde(skip_serializing_if = "Option::is_none")]
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
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Description.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Gateway: absent = first host, `null` = none.
    #[serde(default, deserialize_with = "double_option")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway_ip: Option<Option<IpAddr>>,
    /// Pools: default all but the gateway.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocation_pools: Option<Vec<AllocationPool>>,
    /// DNS servers.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_nameservers: Option<Vec<String>>,
    /// Host routes.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_routes: Option<Vec<HostRoute>>,
    /// DHCP (default on).
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_dhcp: Option<bool>,
    /// IPv6 RA mode.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6_ra_mode: Option<Ipv6Mode>,
    /// IPv6 address mode.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6_address_mode: Option<Ipv6Mode>,
    /// Owner (admin only).
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<ProjectId>,
    /// Owner, legacy name.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<ProjectId>,
    /// Unsupported unless null.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnetpool_id: Option<String>,
    /// Unsupported unless null.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefixlen: Option<u8>,
    /// Accepted and ignored.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_default_subnetpool: Option<bool>,
    /// Service types (stored).
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_types: Option<Vec<String>>,
    /// Accepted and ignored.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
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
    #[serde(default, deserialize_with = "double_option")]
    #[serde(skip_serializing_if = "Option::is_none")]
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
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<SubnetId>,
    /// The address.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
}

/// Body of `POST /v2.0/ports`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PortCreate {
    /// The network.
    pub network_id: NetworkId,
    /// Name.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Description.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Admin state.
    #[serde(default = "yes")]
    pub admin_state_up: bool,
    /// MAC (generated when absent).
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    /// Fixed IPs (absent: one from each IPv4 subnet and each auto-address IPv6 subnet).
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed_ips: Option<Vec<FixedIpRequest>>,
    /// Device id.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// Device owner.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_owner: Option<String>,
    /// Security groups (absent: the project's default group).
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_groups: Option<Vec<SecurityGroupId>>,
    /// Port security (absent: the network's setting).
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_security_enabled: Option<bool>,
    /// Allowed address pairs.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_address_pairs: Option<Vec<AddressPair>>,
    /// Binding host (admin only).
    #[serde(default, rename = "binding:host_id")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binding_host_id: Option<String>,
    /// VNIC type.
    #[serde(default, rename = "binding:vnic_type")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binding_vnic_type: Option<String>,
    /// Binding profile (admin only).
    #[serde(default, rename = "binding:profile")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binding_profile: Option<Map<String, Value>>,
    /// Owner (admin only).
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<ProjectId>,
    /// Owner, legacy name.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<ProjectId>,
    /// Accepted when empty.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_dhcp_opts: Option<Vec<Value>>,
    /// Accepted and ignored.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qos_policy_id: Option<Value>,
    /// Accepted and ignored.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
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
    #[serde(rename = "binding:host_id")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binding_host_id: Option<String>,
    /// VNIC type.
    #[serde(rename = "binding:vnic_type")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binding_vnic_type: Option<String>,
    /// Binding profile (admin only).
    #[serde(rename = "binding:profile")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binding_profile: Option<Map<String, Value>>,
}

/// `external_gateway_info` in a router request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayRequest {
    /// The external network.
    pub network_id: NetworkId,
    /// SNAT (default on).
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_snat: Option<bool>,
    /// Requested gateway addresses.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_fixed_ips: Option<Vec<FixedIpRequest>>,
}

/// Body of `POST /v2.0/routers`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouterCreate {
    /// Name.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Description.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Admin state.
    #[serde(default = "yes")]
    pub admin_state_up: bool,
    /// The uplink.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_gateway_info: Option<GatewayRequest>,
    /// Owner (admin only).
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<ProjectId>,
    /// Owner, legacy name.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<ProjectId>,
    /// Must be false.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distributed: Option<bool>,
    /// Must be false.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ha: Option<bool>,
    /// Accepted and ignored.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
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
    #[serde(default, deserialize_with = "double_option")]
    #[serde(skip_serializing_if = "Option::is_none")]
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
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<SubnetId>,
    /// Attach an existing port.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
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
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<SubnetId>,
    /// A specific address (admin only in Neutron's defaults; allowed to owners here).
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floating_ip_address: Option<String>,
    /// Associate at once.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_id: Option<PortId>,
    /// Which of the port's addresses.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed_ip_address: Option<String>,
    /// Description.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Owner (admin only).
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<ProjectId>,
    /// Owner, legacy name.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<ProjectId>,
    /// Accepted and ignored.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qos_policy_id: Option<Value>,
    /// Accepted and ignored.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_name: Option<String>,
    /// Accepted and ignored.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_domain: Option<String>,
}

/// Body of `PUT /v2.0/floatingips/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FloatingIpUpdate {
    /// Associate (`id`), disassociate (`null`), or keep (absent).
    #[serde(default, deserialize_with = "double_option")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_id: Option<Option<PortId>>,
    /// Which of the port's addresses.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
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
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Description.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Stateful (default true).
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stateful: Option<bool>,
    /// Owner (admin only).
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<ProjectId>,
    /// Owner, legacy name.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
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
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ethertype: Option<String>,
    /// Protocol name or number.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Value>,
    /// Port range start or ICMP type.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_range_min: Option<Value>,
    /// Port range end or ICMP code.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_range_max: Option<Value>,
    /// Remote prefix.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_ip_prefix: Option<String>,
    /// Remote group.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_group_id: Option<SecurityGroupId>,
    /// Unsupported unless null.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_address_group_id: Option<String>,
    /// Description.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Owner (admin only).
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<ProjectId>,
    /// Owner, legacy name.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
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
