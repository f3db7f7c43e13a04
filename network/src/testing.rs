// SPDX-License-Identifier: Apache-2.0
//! [`FakeBackend`]: one object implementing all four backend traits by recording the intended
//! state, and the public [`conformance`] suites every real driver must pass too.

use crate::backend::{
    BackendError, DhcpBackend, DhcpNetwork, Firewall, FirewallPort, L3Backend, NetworkBackend,
    NetworkSpec, PortBinding, RouterSpec, VifDetails,
};
use ferrostack_core::ErrorKind;
use ferrostack_core::id::{NetworkId, PortId, RouterId};
use serde_json::{Map, Value};
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
