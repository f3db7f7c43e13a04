// SPDX-License-Identifier: Apache-2.0
//! The data-plane seams: what an L2 driver, a firewall, an L3 agent and a DHCP server must do.
//!
//! Every trait is **declarative**: the service hands the backend the complete desired state of
//! one object (a network, a port's firewall, a router, a network's DHCP configuration) and the
//! backend converges to it. Calls are therefore idempotent and a restarted service can simply
//! re-send everything. The service commits its state to the [`Store`](ferrostack_core::store::Store)
//! first and calls backends afterwards, as Neutron's server notifies its agents: a backend
//! failure is logged and surfaces in the resource's status (`binding_failed` for ports) rather
//! than undoing the API call.

use crate::cidr::Cidr;
use crate::secgroup::CompiledRuleSet;
use crate::types::{HostRoute, Segment};
use ferrostack_core::ErrorKind;
use ferrostack_core::id::{NetworkId, PortId, RouterId, SubnetId};
use serde_json::{Map, Value};
use std::fmt::Debug;
use std::net::IpAddr;

/// A backend failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{backend}: {message}")]
pub struct BackendError {
    /// The backend's name.
    pub backend: &'static str,
    /// The class of failure (`Unavailable` when retrying may help).
    pub kind: ErrorKind,
    /// What went wrong.
    pub message: String,
}

/// An L2 network as the data plane needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSpec {
    /// The network.
    pub id: NetworkId,
    /// Its segment.
    pub segment: Segment,
    /// Its MTU.
    pub mtu: u32,
}

/// A port to plug on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortBinding {
    /// The port.
    pub port_id: PortId,
    /// Its network.
    pub network: NetworkSpec,
    /// Its MAC.
    pub mac_address: String,
    /// The host.
    pub host: String,
    /// `normal`, `direct`, ...
    pub vnic_type: String,
}

/// What the hypervisor needs to attach a VIF (`binding:vif_type` and `binding:vif_details`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VifDetails {
    /// `ovs`, `bridge`, `tap`, ...
    pub vif_type: String,
    /// Type-specific details (`bridge_name`, `port_filter`, `ovs_hybrid_plug`, ...).
    pub details: Map<String, Value>,
}

/// The L2 driver.
///
/// # Contract
///
/// * [`ensure_network`](NetworkBackend::ensure_network) is idempotent: calling it twice with
///   the same spec changes nothing the second time; calling it with a changed MTU updates it.
/// * [`plug_port`](NetworkBackend::plug_port) on an ensured network returns the VIF details for
///   the hypervisor; plugging the same port again returns the same details. Plugging onto a
///   network that was never ensured is [`ErrorKind::NotFound`].
/// * [`unplug_port`](NetworkBackend::unplug_port) and
///   [`remove_network`](NetworkBackend::remove_network) of unknown objects succeed (deletes are
///   idempotent). A network with plugged ports may be removed; its ports go with it.
///
/// # Errors
///
/// [`BackendError`] with `Unavailable` for transient failures (retry), anything else otherwise.
///
/// # Cancellation
///
/// A dropped call may leave the object half-converged; the next call with the same desired
/// state must finish the job.
#[async_trait::async_trait]
pub trait NetworkBackend: Send + Sync + Debug {
    /// A short name for logs.
    fn name(&self) -> &'static str;
    /// Creates or updates the network's L2 segment.
    async fn ensure_network(&self, network: &NetworkSpec) -> Result<(), BackendError>;
    /// Removes the network's L2 segment.
    async fn remove_network(&self, id: NetworkId) -> Result<(), BackendError>;
    /// Plugs a port on its host; returns the VIF details.
    async fn plug_port(&self, binding: &PortBinding) -> Result<VifDetails, BackendError>;
    /// Unplugs a port.
    async fn unplug_port(&self, port_id: PortId) -> Result<(), BackendError>;
}

/// The desired firewall of one port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallPort {
    /// The port.
    pub port_id: PortId,
    /// Its MAC.
    pub mac_address: String,
    /// Addresses the port may send from (fixed IPs and allowed address pairs); anti-spoofing
    /// drops anything else when port security is on.
    pub allowed_sources: Vec<Cidr>,
    /// The compiled rules, with remote groups already resolved.
    pub rules: CompiledRuleSet,
}

/// The security-group firewall.
///
/// # Contract
///
/// * [`apply_port`](Firewall::apply_port) replaces the port's whole rule set atomically from the
///   point of view of traffic: a packet is judged either by the old set or by the new one.
/// * Rules are rendered in the order given; the set ends with an implicit drop unless
///   `rules.allow_all`.
/// * [`remove_port`](Firewall::remove_port) of an unknown port succeeds.
///
/// # Errors
///
/// [`BackendError`].
///
/// # Cancellation
///
/// A dropped `apply_port` leaves either the old or the new set in force.
#[async_trait::async_trait]
pub trait Firewall: Send + Sync + Debug {
    /// A short name for logs.
    fn name(&self) -> &'static str;
    /// Installs the port's rule set.
    async fn apply_port(&self, port: &FirewallPort) -> Result<(), BackendError>;
    /// Removes the port's rules.
    async fn remove_port(&self, port_id: PortId) -> Result<(), BackendError>;
}

/// A router's uplink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewaySpec {
    /// The external network.
    pub network_id: NetworkId,
    /// The gateway address and its subnet's prefix.
    pub address: IpAddr,
    /// The external subnet's prefix.
    pub cidr: Cidr,
    /// The external subnet's gateway (default route), if any.
    pub next_hop: Option<IpAddr>,
    /// Whether to source-NAT inside traffic to `address`.
    pub enable_snat: bool,
}

/// A router's leg on an internal subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceSpec {
    /// The port.
    pub port_id: PortId,
    /// The port's network (the L2 segment the leg plugs into).
    pub network_id: NetworkId,
    /// The subnet.
    pub subnet_id: SubnetId,
    /// The router's address on it.
    pub address: IpAddr,
    /// The subnet's prefix.
    pub cidr: Cidr,
}

/// A one-to-one NAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloatingIpNat {
    /// The public address.
    pub floating_ip: IpAddr,
    /// The private address.
    pub fixed_ip: IpAddr,
}

/// The desired state of one router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterSpec {
    /// The router.
    pub id: RouterId,
    /// Whether it forwards.
    pub admin_state_up: bool,
    /// The uplink.
    pub gateway: Option<GatewaySpec>,
    /// Internal legs, sorted by port id.
    pub interfaces: Vec<InterfaceSpec>,
    /// Static routes.
    pub routes: Vec<HostRoute>,
    /// Floating IP NATs, sorted by floating address.
    pub floating_ips: Vec<FloatingIpNat>,
}

/// The L3 agent.
///
/// # Contract
///
/// * [`sync_router`](L3Backend::sync_router) converges the router to the spec: interfaces,
///   routes and NAT entries not in the spec are removed. SNAT is installed only when the spec
///   has a gateway with `enable_snat`; floating IP NAT only when it has a gateway.
/// * Calling it twice with the same spec is a no-op the second time.
/// * [`remove_router`](L3Backend::remove_router) of an unknown router succeeds.
///
/// # Errors
///
/// [`BackendError`].
///
/// # Cancellation
///
/// A dropped sync may leave the router partly converged; the next sync completes it.
#[async_trait::async_trait]
pub trait L3Backend: Send + Sync + Debug {
    /// A short name for logs.
    fn name(&self) -> &'static str;
    /// Converges one router.
    async fn sync_router(&self, router: &RouterSpec) -> Result<(), BackendError>;
    /// Removes a router and everything it installed.
    async fn remove_router(&self, id: RouterId) -> Result<(), BackendError>;
}

/// One DHCP subnet's options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpSubnet {
    /// The subnet.
    pub id: SubnetId,
    /// The prefix.
    pub cidr: Cidr,
    /// The default gateway option.
    pub gateway: Option<IpAddr>,
    /// DNS servers option.
    pub dns_nameservers: Vec<IpAddr>,
    /// Classless static routes option.
    pub host_routes: Vec<HostRoute>,
}

/// One fixed host entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DhcpHost {
    /// The MAC.
    pub mac_address: String,
    /// The address.
    pub ip_address: IpAddr,
    /// The host name (`host-10-0-0-5`).
    pub hostname: String,
}

/// The desired DHCP configuration of a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpNetwork {
    /// The network.
    pub network_id: NetworkId,
    /// Subnets with DHCP enabled.
    pub subnets: Vec<DhcpSubnet>,
    /// Host entries, sorted.
    pub hosts: Vec<DhcpHost>,
}

/// The DHCP server.
///
/// # Contract
///
/// * [`sync_network`](DhcpBackend::sync_network) converges the network's server to the spec:
///   host entries and subnets not in it are removed. A spec with no subnets stops serving.
/// * Idempotent; [`remove_network`](DhcpBackend::remove_network) of an unknown network succeeds.
///
/// # Errors
///
/// [`BackendError`].
///
/// # Cancellation
///
/// The next sync completes an interrupted one.
#[async_trait::async_trait]
pub trait DhcpBackend: Send + Sync + Debug {
    /// A short name for logs.
    fn name(&self) -> &'static str;
    /// Converges the network's DHCP service.
    async fn sync_network(&self, network: &DhcpNetwork) -> Result<(), BackendError>;
    /// Stops serving the network.
    async fn remove_network(&self, id: NetworkId) -> Result<(), BackendError>;
}

/// Everything the data plane should hold: what the service would re-send to its backends after
/// a restart. [`NetworkService::desired_state`](crate::NetworkService::desired_state) computes
/// it from the Store; a driver that can find its own kernel objects again (such as the Linux
/// data plane's `reconcile`) converges to it, adopting what exists and removing what is no
/// longer wanted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredState {
    /// Networks.
    pub networks: Vec<NetworkSpec>,
    /// Plugged ports.
    pub ports: Vec<PortBinding>,
    /// Port firewalls.
    pub firewalls: Vec<FirewallPort>,
    /// Routers.
    pub routers: Vec<RouterSpec>,
    /// DHCP per network.
    pub dhcp: Vec<DhcpNetwork>,
}
