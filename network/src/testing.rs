// SPDX-License-Identifier: Apache-2.0
//! [`FakeBackend`]: one object implementing all four backend traits by recording the intended
//! state, the public [`conformance`] suites every real driver must pass too, and
//! [`run_api_conformance`], the suite every [`NetworkApi`] (the local service and
//! [`crate::http::Client`]) must pass.

use crate::api::NetworkApi;
use crate::backend::{
    BackendError, DhcpBackend, DhcpNetwork, Firewall, FirewallPort, L3Backend, NetworkBackend,
    NetworkSpec, PortBinding, RouterSpec, VifDetails,
};
use crate::types::*;
use ferrostack_core::error::Classify;
use ferrostack_core::id::{NetworkId, PortId, ProjectId, RouterId, SubnetId};
use ferrostack_core::{ErrorKind, RequestContext};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// The state a [`FakeBackend`] was asked to realise.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FakeState {
    /// Ensured networks.
    pub networks: BTreeMap<NetworkId, NetworkSpec>,
    /// Plugged ports.
    pub plugged: BTreeMap<PortId, PortBinding>,
    /// Firewalls per port.
    pub firewalls: BTreeMap<PortId, FirewallPort>,
    /// Routers.
    pub routers: BTreeMap<RouterId, RouterSpec>,
    /// DHCP per network.
    pub dhcp: BTreeMap<NetworkId, DhcpNetwork>,
}

/// A backend that records the intended data-plane state, for tests and examples.
#[derive(Debug, Default)]
pub struct FakeBackend {
    state: Mutex<FakeState>,
    fail_hosts: Mutex<Vec<String>>,
}

impl FakeBackend {
    /// An empty fake.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the recorded state.
    pub fn state(&self) -> FakeState {
        self.lock().clone()
    }

    /// Makes plugging onto `host` fail (to exercise `binding_failed`).
    pub fn fail_host(&self, host: &str) {
        self.fail_hosts.lock().unwrap_or_else(|p| p.into_inner()).push(host.to_owned());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl NetworkBackend for FakeBackend {
    fn name(&self) -> &'static str {
        "fake"
    }
    async fn ensure_network(&self, network: &NetworkSpec) -> Result<(), BackendError> {
        self.lock().networks.insert(network.id, network.clone());
        Ok(())
    }
    async fn remove_network(&self, id: NetworkId) -> Result<(), BackendError> {
        let mut s = self.lock();
        s.networks.remove(&id);
        s.plugged.retain(|_, b| b.network.id != id);
        Ok(())
    }
    async fn plug_port(&self, binding: &PortBinding) -> Result<VifDetails, BackendError> {
        if self.fail_hosts.lock().unwrap_or_else(|p| p.into_inner()).contains(&binding.host) {
            return Err(BackendError {
                backend: "fake",
                kind: ErrorKind::Unavailable,
                message: format!("host {} is down", binding.host),
            });
        }
        let mut s = self.lock();
        if !s.networks.contains_key(&binding.network.id) {
            return Err(BackendError {
                backend: "fake",
                kind: ErrorKind::NotFound,
                message: format!("network {} is not ensured", binding.network.id),
            });
        }
        s.plugged.insert(binding.port_id, binding.clone());
        let mut details = Map::new();
        details.insert("port_filter".into(), Value::Bool(true));
        details.insert("bridge_name".into(), Value::String("br-int".into()));
        details.insert("datapath_type".into(), Value::String("system".into()));
        Ok(VifDetails { vif_type: "ovs".into(), details })
    }
    async fn unplug_port(&self, port_id: PortId) -> Result<(), BackendError> {
        self.lock().plugged.remove(&port_id);
        Ok(())
    }
}

#[async_trait::async_trait]
impl Firewall for FakeBackend {
    fn name(&self) -> &'static str {
        "fake"
    }
    async fn apply_port(&self, port: &FirewallPort) -> Result<(), BackendError> {
        self.lock().firewalls.insert(port.port_id, port.clone());
        Ok(())
    }
    async fn remove_port(&self, port_id: PortId) -> Result<(), BackendError> {
        self.lock().firewalls.remove(&port_id);
        Ok(())
    }
}

#[async_trait::async_trait]
impl L3Backend for FakeBackend {
    fn name(&self) -> &'static str {
        "fake"
    }
    async fn sync_router(&self, router: &RouterSpec) -> Result<(), BackendError> {
        let mut r = router.clone();
        if r.gateway.is_none() {
            // Without a gateway there is no NAT to install.
            r.floating_ips.clear();
        }
        self.lock().routers.insert(router.id, r);
        Ok(())
    }
    async fn remove_router(&self, id: RouterId) -> Result<(), BackendError> {
        self.lock().routers.remove(&id);
        Ok(())
    }
}

#[async_trait::async_trait]
impl DhcpBackend for FakeBackend {
    fn name(&self) -> &'static str {
        "fake"
    }
    async fn sync_network(&self, network: &DhcpNetwork) -> Result<(), BackendError> {
        let mut s = self.lock();
        if network.subnets.is_empty() {
            s.dhcp.remove(&network.network_id);
        } else {
            s.dhcp.insert(network.network_id, network.clone());
        }
        Ok(())
    }
    async fn remove_network(&self, id: NetworkId) -> Result<(), BackendError> {
        self.lock().dhcp.remove(&id);
        Ok(())
    }
}

/// Conformance suites for backend implementations. Each function panics on a contract
/// violation; call them from a `#[tokio::test]` with a fresh backend.
pub mod conformance {
    use super::*;
    use crate::backend::{DhcpHost, DhcpSubnet, FloatingIpNat, GatewaySpec, InterfaceSpec};
    use crate::cidr::Cidr;
    use crate::secgroup::CompiledRuleSet;
    use crate::types::{NetworkType, Segment};
    use ferrostack_core::id::SubnetId;

    fn spec() -> NetworkSpec {
        NetworkSpec {
            id: NetworkId::new(),
            segment: Segment {
                network_type: NetworkType::Vxlan,
                physical_network: None,
                segmentation_id: Some(4242),
            },
            mtu: 1450,
        }
    }

    /// [`NetworkBackend`]: idempotent ensure, plug returns stable VIF details, plug onto an
    /// unknown network fails with `NotFound`, unplug/remove of unknown objects succeed.
    pub async fn network_backend(b: &dyn NetworkBackend) {
        let net = spec();
        b.ensure_network(&net).await.expect("ensure");
        b.ensure_network(&net).await.expect("ensure twice");
        let binding = PortBinding {
            port_id: PortId::new(),
            network: net.clone(),
            mac_address: "fa:16:3e:00:00:01".into(),
            host: "compute-1".into(),
            vnic_type: "normal".into(),
        };
        let a = b.plug_port(&binding).await.expect("plug");
        assert!(!a.vif_type.is_empty() && a.vif_type != "unbound", "a real vif_type");
        let again = b.plug_port(&binding).await.expect("plug twice");
        assert_eq!(a, again, "plugging again returns the same details");
        let orphan = PortBinding { port_id: PortId::new(), network: spec(), ..binding.clone() };
        let err = b.plug_port(&orphan).await.expect_err("plug onto an unknown network");
        assert_eq!(err.kind, ErrorKind::NotFound);
        b.unplug_port(binding.port_id).await.expect("unplug");
        b.unplug_port(binding.port_id).await.expect("unplug twice");
        b.remove_network(net.id).await.expect("remove");
        b.remove_network(net.id).await.expect("remove twice");
    }

    /// [`Firewall`]: apply replaces, remove is idempotent.
    pub async fn firewall(f: &dyn Firewall) {
        let port = FirewallPort {
            port_id: PortId::new(),
            mac_address: "fa:16:3e:00:00:02".into(),
            allowed_sources: vec!["10.0.0.5/32".parse().expect("cidr")],
            rules: CompiledRuleSet { allow_all: false, stateful: true, rules: Vec::new() },
        };
        f.apply_port(&port).await.expect("apply");
        let open = FirewallPort {
            rules: CompiledRuleSet { allow_all: true, stateful: true, rules: Vec::new() },
            ..port.clone()
        };
        f.apply_port(&open).await.expect("re-apply");
        f.remove_port(port.port_id).await.expect("remove");
        f.remove_port(port.port_id).await.expect("remove twice");
    }

    /// [`L3Backend`]: sync is idempotent and accepts shrinking specs; remove is idempotent.
    pub async fn l3_backend(l3: &dyn L3Backend) {
        let cidr: Cidr = "192.168.0.0/24".parse().expect("cidr");
        let mut spec = RouterSpec {
            id: RouterId::new(),
            admin_state_up: true,
            gateway: Some(GatewaySpec {
                network_id: NetworkId::new(),
                address: "203.0.113.10".parse().expect("ip"),
                cidr: "203.0.113.0/24".parse().expect("cidr"),
                next_hop: Some("203.0.113.1".parse().expect("ip")),
                enable_snat: true,
            }),
            interfaces: vec![InterfaceSpec {
                port_id: PortId::new(),
                network_id: NetworkId::new(),
                subnet_id: SubnetId::new(),
                address: "192.168.0.1".parse().expect("ip"),
                cidr,
            }],
            routes: Vec::new(),
            floating_ips: vec![FloatingIpNat {
                floating_ip: "203.0.113.20".parse().expect("ip"),
                fixed_ip: "192.168.0.5".parse().expect("ip"),
            }],
        };
        l3.sync_router(&spec).await.expect("sync");
        l3.sync_router(&spec).await.expect("sync twice");
        spec.floating_ips.clear();
        spec.gateway = None;
        l3.sync_router(&spec).await.expect("shrink");
        l3.remove_router(spec.id).await.expect("remove");
        l3.remove_router(spec.id).await.expect("remove twice");
    }

    /// [`DhcpBackend`]: sync is idempotent; an empty spec and remove both stop serving.
    pub async fn dhcp_backend(d: &dyn DhcpBackend) {
        let net = DhcpNetwork {
            network_id: NetworkId::new(),
            subnets: vec![DhcpSubnet {
                id: SubnetId::new(),
                cidr: "10.0.0.0/24".parse().expect("cidr"),
                gateway: Some("10.0.0.1".parse().expect("ip")),
                dns_nameservers: vec!["10.0.0.2".parse().expect("ip")],
                host_routes: Vec::new(),
            }],
            hosts: vec![DhcpHost {
                mac_address: "fa:16:3e:00:00:03".into(),
                ip_address: "10.0.0.5".parse().expect("ip"),
                hostname: "host-10-0-0-5".into(),
            }],
        };
        d.sync_network(&net).await.expect("sync");
        d.sync_network(&net).await.expect("sync twice");
        d.sync_network(&DhcpNetwork { subnets: Vec::new(), hosts: Vec::new(), ..net.clone() })
            .await
            .expect("empty");
        d.remove_network(net.network_id).await.expect("remove");
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[tokio::test]
        async fn fake_backend_passes_every_suite() {
            let b = FakeBackend::new();
            network_backend(&b).await;
            firewall(&b).await;
            l3_backend(&b).await;
            dhcp_backend(&b).await;
            assert_eq!(b.state(), FakeState::default(), "everything was removed");
        }
    }
}

/// The callers [`run_api_conformance`] acts as. Each context must reach the API as itself: for
/// a local service any contexts do; through [`crate::http::Client`] they must carry tokens the
/// server's auth layer maps back to them (`StaticTokens::register` in tests).
#[derive(Debug, Clone)]
pub struct ApiFixture {
    /// An admin (role `admin`), in a project of its own.
    pub admin: RequestContext,
    /// A member of project A.
    pub member_a: RequestContext,
    /// A reader of project A (roles `reader` only).
    pub reader_a: RequestContext,
    /// A member of project B.
    pub member_b: RequestContext,
}

/// The API conformance suite: every [`NetworkApi`] operation, and the error kinds a consumer
/// relies on (not found, invalid input, conflict, forbidden; another project's resources
/// reported as not found). Panics on the first violation.
///
/// Run it against a fresh API (it creates resources and an external network as the admin,
/// and relies on the default quotas and the default `physical_mtu`); projects A and B of
/// `fx` must differ and hold nothing yet.
pub async fn run_api_conformance(api: &dyn NetworkApi, fx: &ApiFixture) {
    let a = fx.member_a.project_id().expect("member_a is project scoped").clone();
    let b = fx.member_b.project_id().expect("member_b is project scoped").clone();
    assert_ne!(a, b, "projects A and B must differ");

    let (net_a, subnet_a) = api_networks_and_subnets(api, fx).await;
    let (port_1, port_2) = api_ports(api, fx, &net_a, &subnet_a).await;
    let router = api_routers(api, fx, &subnet_a).await;
    api_floating_ips(api, fx, &router, &port_1).await;
    api_security_groups(api, fx).await;
    api_quotas(api, fx, &a, &b).await;

    // Clean-up through the API: the router's interface, ports, subnet, network.
    api.remove_router_interface(
        &fx.member_a,
        router.id,
        req(json!({"subnet_id": subnet_a.id.to_string()})),
    )
    .await
    .expect("remove the interface");
    api.delete_router(&fx.member_a, router.id).await.expect("delete the router");
    for p in [port_1.id, port_2.id] {
        api.delete_port(&fx.member_a, p).await.expect("delete a port");
    }
    api.delete_subnet(&fx.member_a, subnet_a.id).await.expect("delete the subnet");
    api.delete_network(&fx.member_a, net_a.id).await.expect("delete the network");
    assert_kind(api.get_network(&fx.member_a, net_a.id).await, ErrorKind::NotFound, "deleted");
}

/// A request body as a client would send it (so defaults are Neutron's, as on the wire).
fn req<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("a valid request body")
}

#[track_caller]
fn assert_kind<T: std::fmt::Debug>(r: crate::error::Result<T>, kind: ErrorKind, what: &str) {
    match r {
        Ok(v) => panic!("{what}: expected a {kind:?} error, got {v:?}"),
        Err(e) => assert_eq!(e.kind(), kind, "{what}: {e}"),
    }
}

async fn api_networks_and_subnets(api: &dyn NetworkApi, fx: &ApiFixture) -> (Network, Subnet) {
    let (ma, mb) = (&fx.member_a, &fx.member_b);
    let net = api.create_network(ma, req(json!({"name": "conf-a"}))).await.expect("create");
    assert_eq!(net.name, "conf-a");
    assert_eq!(Some(&net.project_id), ma.project_id());
    assert!(net.admin_state_up && !net.shared && !net.external);
    assert_eq!(api.get_network(ma, net.id).await.expect("get").id, net.id);
    assert_eq!(api.get_network(&fx.reader_a, net.id).await.expect("reader gets").id, net.id);
    assert!(api.list_networks(ma).await.expect("list").iter().any(|n| n.id == net.id));
    let renamed =
        api.update_network(ma, net.id, req(json!({"name": "conf-a2"}))).await.expect("update");
    assert_eq!(renamed.name, "conf-a2");
    assert_eq!(api.get_network(ma, net.id).await.expect("get").name, "conf-a2");

    // Another project's network is hidden, for every operation.
    assert_kind(api.get_network(mb, net.id).await, ErrorKind::NotFound, "B gets A's network");
    assert!(!api.list_networks(mb).await.expect("list").iter().any(|n| n.id == net.id));
    assert_kind(
        api.update_network(mb, net.id, req(json!({"name": "x"}))).await,
        ErrorKind::NotFound,
        "B updates A's network",
    );
    assert_kind(api.delete_network(mb, net.id).await, ErrorKind::NotFound, "B deletes");
    assert_kind(api.get_network(ma, NetworkId::new()).await, ErrorKind::NotFound, "no such id");
    for (ctx, body, kind, why) in [
        (ma, json!({"name": "n".repeat(256)}), ErrorKind::InvalidInput, "a 256-character name"),
        (
            ma,
            json!({"name": "s", "shared": true}),
            ErrorKind::Forbidden,
            "a member creates a shared network",
        ),
        (
            ma,
            json!({"name": "theirs", "project_id": fx.member_b.project_id()}),
            ErrorKind::Forbidden,
            "a member creates a network for another project",
        ),
    ] {
        assert_kind(api.create_network(ctx, req(body)).await, kind, why);
    }

    // Subnets: the gateway is the first host, the same CIDR works in another project.
    let subnet = api
        .create_subnet(
            ma,
            req(json!({"network_id": net.id, "cidr": "10.77.0.0/24", "ip_version": 4,
                       "name": "conf-sub-a"})),
        )
        .await
        .expect("create a subnet");
    assert_eq!(subnet.network_id, net.id);
    assert_eq!(subnet.gateway_ip.map(|g| g.to_string()).as_deref(), Some("10.77.0.1"));
    assert_eq!(api.get_subnet(ma, subnet.id).await.expect("get").cidr, subnet.cidr);
    assert!(api.list_subnets(ma).await.expect("list").iter().any(|s| s.id == subnet.id));
    assert!(api.get_network(ma, net.id).await.expect("get").subnets.contains(&subnet.id));
    let sub =
        api.update_subnet(ma, subnet.id, req(json!({"name": "renamed"}))).await.expect("update");
    assert_eq!(sub.name, "renamed");

    let net_b = api.create_network(mb, req(json!({"name": "conf-b"}))).await.expect("B's net");
    let subnet_b = api
        .create_subnet(
            mb,
            req(json!({"network_id": net_b.id, "cidr": "10.77.0.0/24", "ip_version": 4})),
        )
        .await
        .expect("the same CIDR in another project");
    assert_eq!(subnet_b.cidr, subnet.cidr);
    assert_kind(api.get_subnet(mb, subnet.id).await, ErrorKind::NotFound, "B gets A's subnet");
    assert!(!api.list_subnets(mb).await.expect("list").iter().any(|s| s.id == subnet.id));
    for (ctx, body, kind, why) in [
        (
            mb,
            json!({"network_id": net.id, "cidr": "10.78.0.0/24", "ip_version": 4}),
            ErrorKind::NotFound,
            "B adds a subnet to A's network",
        ),
        (
            ma,
            json!({"network_id": net.id, "cidr": "10.79.0.1/24", "ip_version": 4}),
            ErrorKind::InvalidInput,
            "a CIDR with host bits",
        ),
        (
            ma,
            json!({"network_id": net.id, "cidr": "10.77.0.128/25", "ip_version": 4}),
            ErrorKind::InvalidInput,
            "a CIDR overlapping another subnet of the network",
        ),
    ] {
        assert_kind(api.create_subnet(ctx, req(body)).await, kind, why);
    }
    assert_kind(api.get_subnet(ma, SubnetId::new()).await, ErrorKind::NotFound, "no such id");
    api.delete_subnet(mb, subnet_b.id).await.expect("B deletes its subnet");
    api.delete_network(mb, net_b.id).await.expect("B deletes its network");
    assert_kind(api.get_subnet(mb, subnet_b.id).await, ErrorKind::NotFound, "deleted subnet");
    (net, subnet)
}

async fn api_ports(
    api: &dyn NetworkApi,
    fx: &ApiFixture,
    net: &Network,
    subnet: &Subnet,
) -> (Port, Port) {
    let (ma, mb) = (&fx.member_a, &fx.member_b);
    let p1 = api.create_port(ma, req(json!({"network_id": net.id, "name": "p1"}))).await;
    let p1 = p1.expect("create a port");
    let p2 = api
        .create_port(
            ma,
            req(json!({"network_id": net.id,
                       "fixed_ips": [{"subnet_id": subnet.id, "ip_address": "10.77.0.50"}]})),
        )
        .await
        .expect("create a port with a chosen address");
    // IPAM: inside the subnet, never the gateway, never shared.
    assert_eq!(p1.fixed_ips.len(), 1);
    let ip1 = p1.fixed_ips[0].ip_address;
    assert!(subnet.cidr.contains(&ip1), "{ip1} outside {}", subnet.cidr);
    assert_ne!(Some(ip1), subnet.gateway_ip);
    assert_eq!(p2.fixed_ips[0].ip_address.to_string(), "10.77.0.50");
    assert_ne!(ip1, p2.fixed_ips[0].ip_address);
    assert_ne!(p1.mac_address, p2.mac_address);
    assert_eq!(p1.security_groups.len(), 1, "the project's default group");
    for (ctx, body, kind, why) in [
        (
            ma,
            json!({"network_id": net.id, "fixed_ips": [{"ip_address": "10.77.0.50"}]}),
            ErrorKind::Conflict,
            "an address already allocated",
        ),
        (
            ma,
            json!({"network_id": net.id, "fixed_ips": [{"ip_address": "10.99.0.5"}]}),
            ErrorKind::InvalidInput,
            "an address on no subnet of the network",
        ),
    ] {
        assert_kind(api.create_port(ctx, req(body)).await, kind, why);
    }
    assert_eq!(api.get_port(ma, p1.id).await.expect("get").fixed_ips, p1.fixed_ips);
    let ports = api.list_ports(ma).await.expect("list");
    assert!(ports.iter().any(|p| p.id == p1.id) && ports.iter().any(|p| p.id == p2.id));
    let p1 = api.update_port(ma, p1.id, req(json!({"name": "p1b"}))).await.expect("update");
    assert_eq!(p1.name, "p1b");
    assert_kind(api.get_port(mb, p1.id).await, ErrorKind::NotFound, "B gets A's port");
    assert!(!api.list_ports(mb).await.expect("list").iter().any(|p| p.id == p1.id));
    assert_kind(api.delete_port(mb, p1.id).await, ErrorKind::NotFound, "B deletes A's port");
    assert_kind(
        api.create_port(mb, req(json!({"network_id": net.id}))).await,
        ErrorKind::NotFound,
        "B creates a port on A's network",
    );
    assert_kind(
        api.update_port(ma, p1.id, req(json!({"binding:host_id": "compute-1"}))).await,
        ErrorKind::Forbidden,
        "a member binds a port",
    );
    assert_kind(
        api.delete_subnet(ma, subnet.id).await,
        ErrorKind::Conflict,
        "a subnet with allocations",
    );
    // A deleted port's address can be allocated again.
    let p3 = api
        .create_port(
            ma,
            req(json!({"network_id": net.id, "fixed_ips": [{"ip_address": "10.77.0.60"}]})),
        )
        .await
        .expect("create");
    api.delete_port(ma, p3.id).await.expect("delete");
    assert_kind(api.get_port(ma, p3.id).await, ErrorKind::NotFound, "deleted port");
    let p4 = api
        .create_port(
            ma,
            req(json!({"network_id": net.id, "fixed_ips": [{"ip_address": "10.77.0.60"}]})),
        )
        .await
        .expect("the released address again");
    api.delete_port(ma, p4.id).await.expect("delete");
    (p1, p2)
}

async fn api_routers(api: &dyn NetworkApi, fx: &ApiFixture, subnet: &Subnet) -> Router {
    let (ad, ma, mb) = (&fx.admin, &fx.member_a, &fx.member_b);
    // An external network (admin only) for the gateway and floating IPs.
    assert_kind(
        api.create_network(ma, req(json!({"name": "ext", "router:external": true}))).await,
        ErrorKind::Forbidden,
        "a member creates an external network",
    );
    let ext = api
        .create_network(ad, req(json!({"name": "conf-ext", "router:external": true})))
        .await
        .expect("create an external network");
    assert!(ext.external);
    api.create_subnet(
        ad,
        req(json!({"network_id": ext.id, "cidr": "203.0.113.0/24", "ip_version": 4,
                   "enable_dhcp": false})),
    )
    .await
    .expect("the external subnet");
    assert!(api.list_networks(mb).await.expect("list").iter().any(|n| n.id == ext.id));

    let router = api
        .create_router(
            ma,
            req(json!({"name": "conf-r", "external_gateway_info": {"network_id": ext.id}})),
        )
        .await
        .expect("create a router");
    let gw = router.external_gateway_info.clone().expect("a gateway");
    assert_eq!(gw.network_id, ext.id);
    assert!(gw.enable_snat);
    assert_eq!(gw.external_fixed_ips.len(), 1);
    assert_eq!(api.get_router(ma, router.id).await.expect("get").id, router.id);
    assert!(api.list_routers(ma).await.expect("list").iter().any(|r| r.id == router.id));
    let info = api
        .add_router_interface(ma, router.id, req(json!({"subnet_id": subnet.id})))
        .await
        .expect("add an interface");
    assert_eq!(info.id, router.id);
    assert_eq!(info.subnet_id, subnet.id);
    let port = api.get_port(ma, info.port_id).await.expect("the interface port");
    assert_eq!(port.device_id, router.id.to_string());
    assert_eq!(Some(port.fixed_ips[0].ip_address), subnet.gateway_ip);
    assert_kind(
        api.add_router_interface(ma, router.id, req(json!({"subnet_id": subnet.id}))).await,
        ErrorKind::InvalidInput,
        "the same subnet twice",
    );
    assert_kind(
        api.delete_router(ma, router.id).await,
        ErrorKind::Conflict,
        "a router with interfaces",
    );
    let routes = json!({"routes": [{"destination": "10.200.0.0/16", "nexthop": "10.77.0.9"}]});
    let updated = api.update_router(ma, router.id, req(routes)).await.expect("routes");
    assert_eq!(updated.routes.len(), 1);
    let updated = api
        .update_router(ma, router.id, req(json!({"name": "conf-r2", "routes": []})))
        .await
        .expect("rename");
    assert_eq!(updated.name, "conf-r2");
    assert!(updated.routes.is_empty());
    assert_kind(api.get_router(mb, router.id).await, ErrorKind::NotFound, "B gets A's router");
    assert!(!api.list_routers(mb).await.expect("list").iter().any(|r| r.id == router.id));
    assert_kind(
        api.add_router_interface(mb, router.id, req(json!({"subnet_id": subnet.id}))).await,
        ErrorKind::NotFound,
        "B attaches to A's router",
    );
    assert_kind(api.get_router(ma, RouterId::new()).await, ErrorKind::NotFound, "no such id");
    // A router of B's, created and deleted.
    let rb = api.create_router(mb, req(json!({"name": "b"}))).await.expect("B's router");
    assert!(rb.external_gateway_info.is_none());
    api.delete_router(mb, rb.id).await.expect("delete");
    assert_kind(api.get_router(mb, rb.id).await, ErrorKind::NotFound, "deleted router");
    updated
}

async fn api_floating_ips(api: &dyn NetworkApi, fx: &ApiFixture, router: &Router, port: &Port) {
    let (ma, mb) = (&fx.member_a, &fx.member_b);
    let ext = router.external_gateway_info.as_ref().expect("a gateway").network_id;
    let fip = api
        .create_floatingip(ma, req(json!({"floating_network_id": ext})))
        .await
        .expect("allocate a floating IP");
    assert!(fip.port_id.is_none() && fip.fixed_ip_address.is_none());
    assert!(fip.floating_ip_address.to_string().starts_with("203.0.113."));
    assert_eq!(api.get_floatingip(ma, fip.id).await.expect("get").id, fip.id);
    assert!(api.list_floatingips(ma).await.expect("list").iter().any(|f| f.id == fip.id));
    let assoc = api
        .update_floatingip(ma, fip.id, req(json!({"port_id": port.id})))
        .await
        .expect("associate");
    assert_eq!(assoc.port_id, Some(port.id));
    assert_eq!(assoc.fixed_ip_address, Some(port.fixed_ips[0].ip_address));
    assert_eq!(assoc.router_id, Some(router.id));
    let second = api
        .create_floatingip(ma, req(json!({"floating_network_id": ext})))
        .await
        .expect("a second floating IP");
    assert_ne!(second.floating_ip_address, fip.floating_ip_address);
    assert_kind(
        api.update_floatingip(ma, second.id, req(json!({"port_id": port.id}))).await,
        ErrorKind::Conflict,
        "a fixed address already associated",
    );
    assert_kind(api.get_floatingip(mb, fip.id).await, ErrorKind::NotFound, "B gets A's fip");
    assert!(!api.list_floatingips(mb).await.expect("list").iter().any(|f| f.id == fip.id));
    assert_kind(
        api.update_floatingip(mb, fip.id, req(json!({"port_id": null}))).await,
        ErrorKind::NotFound,
        "B disassociates A's fip",
    );
    assert_kind(
        api.create_floatingip(ma, req(json!({"floating_network_id": NetworkId::new()}))).await,
        ErrorKind::NotFound,
        "a floating IP on no network",
    );
    let free = api
        .update_floatingip(ma, fip.id, req(json!({"port_id": null})))
        .await
        .expect("disassociate");
    assert!(free.port_id.is_none() && free.fixed_ip_address.is_none());
    for f in [fip.id, second.id] {
        api.delete_floatingip(ma, f).await.expect("release");
        assert_kind(api.get_floatingip(ma, f).await, ErrorKind::NotFound, "released fip");
    }
}

async fn api_security_groups(api: &dyn NetworkApi, fx: &ApiFixture) {
    let (ma, mb) = (&fx.member_a, &fx.member_b);
    let sg = api
        .create_security_group(ma, req(json!({"name": "web", "description": "conformance"})))
        .await
        .expect("create a group");
    assert_eq!(sg.name, "web");
    assert!(sg.stateful);
    assert_eq!(sg.security_group_rules.len(), 2, "egress IPv4 and IPv6");
    assert!(sg.security_group_rules.iter().all(|r| r.direction == Direction::Egress));
    let groups = api.list_security_groups(ma).await.expect("list");
    assert!(groups.iter().any(|g| g.id == sg.id));
    assert!(groups.iter().any(|g| g.name == "default"), "the project's default group");
    let rule = api
        .create_security_group_rule(
            ma,
            req(json!({"security_group_id": sg.id, "direction": "ingress", "protocol": "tcp",
                       "port_range_min": 22, "port_range_max": 22,
                       "remote_ip_prefix": "192.0.2.0/24"})),
        )
        .await
        .expect("add a rule");
    assert_eq!(rule.security_group_id, sg.id);
    assert_eq!(rule.protocol.as_deref(), Some("tcp"));
    assert_eq!(api.get_security_group_rule(ma, rule.id).await.expect("get").id, rule.id);
    assert!(api.list_security_group_rules(ma).await.expect("list").iter().any(|r| r.id == rule.id));
    let got = api.get_security_group(ma, sg.id).await.expect("get");
    assert_eq!(got.security_group_rules.len(), 3);
    for (ctx, body, kind, why) in [
        (
            ma,
            json!({"security_group_id": sg.id, "direction": "ingress", "protocol": "tcp",
                       "port_range_min": 22, "port_range_max": 22,
                       "remote_ip_prefix": "192.0.2.0/24"}),
            ErrorKind::Conflict,
            "the same rule twice",
        ),
        (
            ma,
            json!({"security_group_id": sg.id, "direction": "ingress", "protocol": "tcp",
                       "port_range_min": 90, "port_range_max": 80}),
            ErrorKind::InvalidInput,
            "a port range with min above max",
        ),
    ] {
        assert_kind(api.create_security_group_rule(ctx, req(body)).await, kind, why);
    }
    let renamed =
        api.update_security_group(ma, sg.id, req(json!({"name": "web2"}))).await.expect("update");
    assert_eq!(renamed.name, "web2");
    assert_kind(api.get_security_group(mb, sg.id).await, ErrorKind::NotFound, "B gets A's group");
    assert_kind(
        api.get_security_group_rule(mb, rule.id).await,
        ErrorKind::NotFound,
        "B gets A's rule",
    );
    assert!(!api.list_security_groups(mb).await.expect("list").iter().any(|g| g.id == sg.id));
    assert_kind(
        api.create_security_group_rule(
            mb,
            req(json!({"security_group_id": sg.id, "direction": "ingress"})),
        )
        .await,
        ErrorKind::NotFound,
        "B adds a rule to A's group",
    );
    assert_kind(api.delete_security_group(mb, sg.id).await, ErrorKind::NotFound, "B deletes");
    api.delete_security_group_rule(ma, rule.id).await.expect("remove the rule");
    assert_kind(
        api.get_security_group_rule(ma, rule.id).await,
        ErrorKind::NotFound,
        "removed rule",
    );
    api.delete_security_group(ma, sg.id).await.expect("delete the group");
    assert_kind(api.get_security_group(ma, sg.id).await, ErrorKind::NotFound, "deleted group");
    assert_kind(
        api.get_security_group(ma, SecurityGroupId::new()).await,
        ErrorKind::NotFound,
        "no such id",
    );
}

async fn api_quotas(api: &dyn NetworkApi, fx: &ApiFixture, a: &ProjectId, b: &ProjectId) {
    let (ad, ma, mb) = (&fx.admin, &fx.member_a, &fx.member_b);
    let defaults = api.get_quota(ma, a).await.expect("own quota");
    assert_eq!(defaults, QuotaSet::default());
    assert_kind(api.get_quota(mb, a).await, ErrorKind::Forbidden, "B reads A's quota");
    assert_kind(
        api.update_quota(ma, a, req(json!({"network": 5}))).await,
        ErrorKind::Forbidden,
        "a member changes its quota",
    );
    assert_kind(api.delete_quota(ma, a).await, ErrorKind::Forbidden, "a member resets its quota");
    let set = api.update_quota(ad, a, req(json!({"network": 7}))).await.expect("admin sets");
    assert_eq!(set.network, 7);
    assert_eq!(set.subnet, defaults.subnet);
    assert_eq!(api.get_quota(ma, a).await.expect("own quota").network, 7);
    let listed = api.list_quotas(ad).await.expect("list");
    assert!(listed.iter().any(|(p, q)| p == a && q.network == 7));
    assert!(!listed.iter().any(|(p, _)| p == b), "B has default quotas");
    let details = api.get_quota_details(ma, a).await.expect("details");
    let net = details.iter().find(|(r, _)| *r == Resource::Network).expect("network detail").1;
    assert_eq!(net.limit, 7);
    assert_eq!(net.used, 1, "A holds one network at this point");
    let ports = details.iter().find(|(r, _)| *r == Resource::Port).expect("port detail").1;
    assert!(ports.used >= 2);
    assert_kind(
        api.update_quota(ad, a, req(json!({"network": 1})))
            .await
            .and(api.create_network(ma, req(json!({"name": "over"}))).await.map(drop)),
        ErrorKind::Conflict,
        "a network over the quota",
    );
    api.delete_quota(ad, a).await.expect("reset");
    assert_eq!(api.get_quota(ma, a).await.expect("own quota"), defaults);
    assert!(!api.list_quotas(ad).await.expect("list").iter().any(|(p, _)| p == a));
}
