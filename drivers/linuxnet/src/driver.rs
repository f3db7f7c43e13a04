// SPDX-License-Identifier: Apache-2.0
//! [`LinuxNet`]: the driver object implementing all four backend traits over one shared view
//! of what it installed (the firewall needs the bridge of a port, the router and DHCP legs
//! the bridge of a network).

use crate::config::{LinuxNetConfig, PortKind};
use crate::error::LinuxNetError;
use crate::names::{self, Role};
use crate::netlink::{self, Netlink};
use crate::nft::{self, PortPlan};
use ferrostack_core::command::{Command, CommandRunner};
use ferrostack_core::id::{NetworkId, PortId, RouterId};
use ferrostack_network::backend::{
    BackendError, FirewallPort, NetworkBackend, NetworkSpec, PortBinding, RouterSpec, VifDetails,
};
use ferrostack_network::types::NetworkType;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, MutexGuard};

/// A network the driver realised.
#[derive(Debug, Clone)]
pub(crate) struct NetState {
    pub spec: NetworkSpec,
    pub bridge: String,
}

/// A port the driver plugged.
#[derive(Debug, Clone)]
pub(crate) struct PortState {
    pub network: NetworkId,
}

/// A port's firewall: what was asked and what is installed.
#[derive(Debug, Clone)]
pub(crate) struct FwState {
    pub desired: FirewallPort,
    pub installed: Option<PortPlan>,
}

/// The driver's view of what it installed.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub host: Option<Netlink>,
    pub networks: BTreeMap<NetworkId, NetState>,
    pub ports: BTreeMap<PortId, PortState>,
    pub fw_base: bool,
    pub firewalls: BTreeMap<PortId, FwState>,
    pub groups: nft::Groups,
    pub zones: BTreeMap<String, u16>,
    pub routers: BTreeMap<RouterId, RouterSpec>,
    pub dhcp: BTreeMap<NetworkId, crate::dhcp::Server>,
    /// Legs (router, DHCP) whose network was not ensured yet: host end name by network.
    pub pending_legs: BTreeMap<NetworkId, Vec<String>>,
}

/// The Linux data plane: bridges and veth/tap ports ([`NetworkBackend`]), nftables security
/// groups ([`Firewall`](ferrostack_network::backend::Firewall)), one namespace per router
/// with nftables NAT ([`L3Backend`](ferrostack_network::backend::L3Backend)) and one
/// dnsmasq per network ([`DhcpBackend`](ferrostack_network::backend::DhcpBackend)).
#[derive(Debug)]
pub struct LinuxNet {
    pub(crate) cfg: LinuxNetConfig,
    pub(crate) runner: Arc<dyn CommandRunner>,
    pub(crate) state: Mutex<State>,
}

impl LinuxNet {
    /// A driver with `cfg`, running tools through `runner`.
    ///
    /// # Errors
    ///
    /// [`LinuxNetError::Config`] when `cfg` does not validate.
    pub fn new(cfg: LinuxNetConfig, runner: Arc<dyn CommandRunner>) -> Result<Self, LinuxNetError> {
        cfg.validate()?;
        Ok(LinuxNet { cfg, runner, state: Mutex::new(State::default()) })
    }

    /// The configuration.
    pub fn config(&self) -> &LinuxNetConfig {
        &self.cfg
    }

    pub(crate) async fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().await
    }

    pub(crate) async fn host(&self, st: &mut State) -> Result<Netlink, LinuxNetError> {
        if let Some(h) = &st.host {
            return Ok(h.clone());
        }
        let h = Netlink::open(self.cfg.host_netns.as_deref()).await?;
        st.host = Some(h.clone());
        Ok(h)
    }

    /// `program args` in namespace `ns` (`None`: the driver's own).
    pub(crate) fn in_ns(ns: Option<&str>, program: &str, args: &[&str]) -> Command {
        let c = match ns {
            Some(ns) => Command::new("ip").args(["netns", "exec", ns, program]),
            None => Command::new(program),
        };
        c.args(args.iter().copied()).privileged().timeout(Duration::from_secs(60))
    }

    pub(crate) fn host_cmd(&self, program: &str, args: &[&str]) -> Command {
        Self::in_ns(self.cfg.host_netns.as_deref(), program, args)
    }

    /// Runs an nftables transaction in the host namespace.
    pub(crate) async fn nft_host(&self, script: &str) -> Result<(), LinuxNetError> {
        if script.trim().is_empty() {
            return Ok(());
        }
        self.runner
            .run(&self.host_cmd("nft", &["-f", "-"]).stdin(script.as_bytes().to_vec()))
            .await?;
        Ok(())
    }

    /// Creates namespace `name` unless it exists, with `lo` up.
    pub(crate) async fn ensure_netns(&self, name: &str) -> Result<(), LinuxNetError> {
        if !netlink::netns_exists(name) {
            self.runner
                .run(
                    &Command::new("ip").args(["netns", "add", name]).privileged().ok_codes(&[0, 1]),
                )
                .await?;
            if !netlink::netns_exists(name) {
                return Err(LinuxNetError::NotFound(format!(
                    "namespace {name} after ip netns add"
                )));
            }
        }
        let nl = Netlink::open(Some(name)).await?;
        nl.up("lo", None).await?;
        Ok(())
    }

    /// Deletes namespace `name` if it exists.
    pub(crate) async fn delete_netns(&self, name: &str) -> Result<(), LinuxNetError> {
        if netlink::netns_exists(name) {
            self.runner.run(&Command::new("ip").args(["netns", "del", name]).privileged()).await?;
        }
        Ok(())
    }

    /// Sets a sysctl inside namespace `ns`.
    pub(crate) async fn sysctl(
        &self,
        ns: Option<&str>,
        key: &str,
        value: &str,
    ) -> Result<(), LinuxNetError> {
        let kv = format!("{key}={value}");
        self.runner.run(&Self::in_ns(ns, "sysctl", &["-qw", &kv])).await?;
        Ok(())
    }

    // ---- firewall plumbing shared by L2 and the Firewall impl ----

    pub(crate) async fn ensure_fw_base(&self, st: &mut State) -> Result<(), LinuxNetError> {
        if st.fw_base {
            return Ok(());
        }
        self.sysctl(self.cfg.host_netns.as_deref(), "net.bridge.bridge-nf-call-iptables", "1")
            .await?;
        self.sysctl(self.cfg.host_netns.as_deref(), "net.bridge.bridge-nf-call-ip6tables", "1")
            .await?;
        self.nft_host(&nft::base(&self.cfg.prefix)).await?;
        st.fw_base = true;
        Ok(())
    }

    /// Re-renders one port's firewall from its desired state and what L2 knows.
    pub(crate) async fn refresh_fw(
        &self,
        st: &mut State,
        port: PortId,
    ) -> Result<(), LinuxNetError> {
        let Some(fw) = st.firewalls.get(&port).cloned() else { return Ok(()) };
        self.ensure_fw_base(st).await?;
        let new = self.plan_for(st, &fw.desired);
        let mut groups = st.groups.clone();
        let tx = nft::transition(&self.cfg.prefix, port, fw.installed.as_ref(), &new, &mut groups);
        if let Err(e) = self.nft_host(&tx).await {
            tracing::warn!(port = %port, error = %e, "incremental firewall update failed; rebuilding the tables");
            return self.rebuild_fw(st).await;
        }
        st.groups = groups;
        if let Some(f) = st.firewalls.get_mut(&port) {
            f.installed = Some(new);
        }
        Ok(())
    }

    /// Rebuilds both security-group tables from the desired state of every port, in one
    /// transaction. The way back to a known state when the kernel and the driver's view
    /// disagree (an interrupted call, someone else's edit); also what reconcile does.
    pub(crate) async fn rebuild_fw(&self, st: &mut State) -> Result<(), LinuxNetError> {
        let p = &self.cfg.prefix;
        let t = nft::sg_table(p);
        let a = nft::as_table(p);
        let mut tx = format!(
            "add table inet {t}\ndelete table inet {t}\nadd table bridge {a}\ndelete table bridge {a}\n"
        );
        tx.push_str(&nft::base(p));
        for (bridge, zone) in &st.zones {
            tx.push_str(&format!(
                "add element inet {t} zones {{ {} }}\n",
                nft::zone_element(bridge, *zone)
            ));
        }
        let mut groups = nft::Groups::default();
        let mut plans = Vec::new();
        for f in st.firewalls.values() {
            let plan = self.plan_for(st, &f.desired);
            tx.push_str(&nft::transition(p, f.desired.port_id, None, &plan, &mut groups));
            plans.push((f.desired.port_id, plan));
        }
        for (key, value) in [
            ("net.bridge.bridge-nf-call-iptables", "1"),
            ("net.bridge.bridge-nf-call-ip6tables", "1"),
        ] {
            self.sysctl(self.cfg.host_netns.as_deref(), key, value).await?;
        }
        self.nft_host(&nft::coalesce(&tx)).await?;
        st.fw_base = true;
        st.groups = groups;
        for (id, plan) in plans {
            if let Some(f) = st.firewalls.get_mut(&id) {
                f.installed = Some(plan);
            }
        }
        Ok(())
    }

    pub(crate) fn plan_for(&self, st: &State, fw: &FirewallPort) -> PortPlan {
        let bridge = st
            .ports
            .get(&fw.port_id)
            .and_then(|p| st.networks.get(&p.network))
            .map(|n| n.bridge.as_str());
        let tap = names::port_dev(&self.cfg.prefix, Role::Tap, fw.port_id);
        nft::plan(&fw.port_id.simple(), fw, bridge, &tap)
    }

    async fn set_zone(
        &self,
        st: &mut State,
        bridge: &str,
        zone: Option<u16>,
    ) -> Result<(), LinuxNetError> {
        self.ensure_fw_base(st).await?;
        let t = nft::sg_table(&self.cfg.prefix);
        let mut tx = String::new();
        if let Some(old) = st.zones.get(bridge) {
            if Some(*old) == zone {
                return Ok(());
            }
            tx.push_str(&format!(
                "delete element inet {t} zones {{ {} }}\n",
                nft::zone_element(bridge, *old)
            ));
        }
        if let Some(z) = zone {
            tx.push_str(&format!(
                "add element inet {t} zones {{ {} }}\n",
                nft::zone_element(bridge, z)
            ));
        }
        self.nft_host(&tx).await?;
        match zone {
            Some(z) => st.zones.insert(bridge.to_owned(), z),
            None => st.zones.remove(bridge),
        };
        Ok(())
    }

    // ---- L2 ----

    async fn remove_segment(&self, nl: &Netlink, id: NetworkId) -> Result<(), LinuxNetError> {
        let p = &self.cfg.prefix;
        nl.delete(&names::net_dev(p, Role::Vxlan, id)).await?;
        nl.delete(&names::net_dev(p, Role::TrunkLinkNet, id)).await?;
        Ok(())
    }

    pub(crate) async fn do_ensure_network(&self, spec: &NetworkSpec) -> Result<(), LinuxNetError> {
        if !(68..=65_535).contains(&spec.mtu) {
            return Err(LinuxNetError::Invalid(format!("mtu {} out of range", spec.mtu)));
        }
        let p = self.cfg.prefix.clone();
        let mut st = self.lock().await;
        let nl = self.host(&mut st).await?;
        let bridge = names::bridge(&p, spec.id);
        if let Some(old) = st.networks.get(&spec.id)
            && old.spec.segment != spec.segment
        {
            self.remove_segment(&nl, spec.id).await?;
        }
        let br = nl.ensure_bridge(&bridge, Some(spec.mtu), false).await?;
        let seg = &spec.segment;
        match seg.network_type {
            NetworkType::Local => {}
            NetworkType::Flat => {
                if let Some(dev) =
                    seg.physical_network.as_ref().and_then(|n| self.cfg.physical_interfaces.get(n))
                {
                    let up = nl.up(dev, None).await?;
                    if up.controller != Some(br.index) {
                        nl.set_controller(up.index, br.index).await?;
                    }
                }
            }
            NetworkType::Vlan => {
                let vid =
                    seg.segmentation_id.filter(|v| (1..=4094).contains(v)).ok_or_else(|| {
                        LinuxNetError::Invalid("vlan segment without a vlan id in 1..=4094".into())
                    })? as u16;
                let physnet = seg.physical_network.clone().unwrap_or_default();
                let uplink = self.cfg.physical_interfaces.get(&physnet);
                let y = names::net_dev(&p, Role::TrunkLinkNet, spec.id);
                let z = names::net_dev(&p, Role::TrunkLinkTrunk, spec.id);
                // Preferred: one VLAN-filtering trunk bridge per physical network (access
                // ports with the VLAN as PVID, the uplink a tagged member). Kernels without
                // bridge VLAN filtering (and without 8021q) get one plain bridge per
                // (physical network, VLAN): the same isolation on the host, no tagged uplink.
                let trunk_name = names::trunk(&p, &physnet);
                let (trunk, filtering) = match nl.ensure_bridge(&trunk_name, None, true).await {
                    Ok(t) => (t, true),
                    Err(e) if netlink::not_supported(&e) => {
                        if uplink.is_some() {
                            return Err(LinuxNetError::NotSupported(format!(
                                "a VLAN uplink on physical network {physnet:?}: this kernel has neither bridge VLAN filtering nor 8021q"
                            )));
                        }
                        let seg_name = names::vlan_segment(&p, &physnet, vid);
                        (nl.ensure_bridge(&seg_name, None, false).await?, false)
                    }
                    Err(e) => return Err(e),
                };
                if let (Some(dev), true) = (uplink, filtering) {
                    let up = nl.up(dev, None).await?;
                    if up.controller != Some(trunk.index) {
                        nl.set_controller(up.index, trunk.index).await?;
                    }
                    nl.trunk_vlan(up.index, vid).await?;
                }
                nl.ensure_veth(&y, &z).await?;
                let yl = nl.up(&y, Some(spec.mtu)).await?;
                if yl.controller != Some(br.index) {
                    nl.set_controller(yl.index, br.index).await?;
                }
                let zl = nl.up(&z, Some(spec.mtu)).await?;
                if zl.controller != Some(trunk.index) {
                    nl.set_controller(zl.index, trunk.index).await?;
                }
                if filtering {
                    nl.access_vlan(zl.index, vid).await?;
                }
            }
            NetworkType::Vxlan => {
                let vni = seg.segmentation_id.filter(|v| (1..=16_777_215).contains(v)).ok_or_else(
                    || LinuxNetError::Invalid("vxlan segment without a VNI in 1..=16777215".into()),
                )?;
                let x = names::net_dev(&p, Role::Vxlan, spec.id);
                let xl = nl
                    .ensure_vxlan(
                        &x,
                        vni,
                        self.cfg.vxlan_port,
                        self.cfg.vxlan_local_ip,
                        self.cfg.vxlan_group,
                        Some(spec.mtu),
                    )
                    .await?;
                if xl.controller != Some(br.index) {
                    nl.set_controller(xl.index, br.index).await?;
                }
            }
        }
        // Legs created before the network was ensured.
        if let Some(legs) = st.pending_legs.remove(&spec.id) {
            for leg in legs {
                if let Some(l) = nl.link(&leg).await? {
                    nl.set_controller(l.index, br.index).await?;
                    nl.up(&leg, Some(spec.mtu)).await?;
                }
            }
        }
        self.set_zone(&mut st, &bridge, Some(names::zone(spec.id))).await?;
        st.networks.insert(spec.id, NetState { spec: spec.clone(), bridge });
        Ok(())
    }

    pub(crate) async fn do_remove_network(&self, id: NetworkId) -> Result<(), LinuxNetError> {
        let mut st = self.lock().await;
        let nl = self.host(&mut st).await?;
        let ports: Vec<PortId> =
            st.ports.iter().filter(|(_, p)| p.network == id).map(|(k, _)| *k).collect();
        for port in ports {
            self.unplug_locked(&mut st, &nl, port).await?;
        }
        self.remove_segment(&nl, id).await?;
        let bridge = names::bridge(&self.cfg.prefix, id);
        nl.delete(&bridge).await?;
        // The last network of a VLAN takes its segment bridge along.
        if let Some(seg) = st.networks.get(&id).map(|n| n.spec.segment.clone())
            && seg.network_type == NetworkType::Vlan
        {
            let physnet = seg.physical_network.clone().unwrap_or_default();
            let same_vlan = |s: &ferrostack_network::types::Segment| {
                s.network_type == NetworkType::Vlan
                    && s.physical_network == seg.physical_network
                    && s.segmentation_id == seg.segmentation_id
            };
            let others = st.networks.iter().any(|(k, n)| *k != id && same_vlan(&n.spec.segment));
            if let (false, Some(vid)) = (others, seg.segmentation_id) {
                nl.delete(&names::vlan_segment(&self.cfg.prefix, &physnet, vid as u16)).await?;
            }
        }
        if st.fw_base || st.zones.contains_key(&bridge) {
            self.set_zone(&mut st, &bridge, None).await?;
        }
        st.networks.remove(&id);
        Ok(())
    }

    /// Attaches leg `host_end` to the bridge of `network`, or remembers it until the network
    /// is ensured.
    pub(crate) async fn attach_leg(
        &self,
        st: &mut State,
        nl: &Netlink,
        network: NetworkId,
        host_end: &str,
    ) -> Result<(), LinuxNetError> {
        match st.networks.get(&network) {
            Some(n) => {
                let br = nl
                    .link(&n.bridge)
                    .await?
                    .ok_or_else(|| LinuxNetError::NotFound(n.bridge.clone()))?;
                let l = nl.up(host_end, Some(n.spec.mtu)).await?;
                if l.controller != Some(br.index) {
                    nl.set_controller(l.index, br.index).await?;
                }
            }
            None => {
                let legs = st.pending_legs.entry(network).or_default();
                if !legs.iter().any(|l| l == host_end) {
                    legs.push(host_end.to_owned());
                }
            }
        }
        Ok(())
    }

    pub(crate) async fn do_plug(&self, b: &PortBinding) -> Result<VifDetails, LinuxNetError> {
        if b.vnic_type != "normal" {
            return Err(LinuxNetError::NotSupported(format!("vnic_type {}", b.vnic_type)));
        }
        let mac = netlink::parse_mac(&b.mac_address)
            .ok_or_else(|| LinuxNetError::Invalid(format!("mac address {:?}", b.mac_address)))?;
        let p = self.cfg.prefix.clone();
        let mut st = self.lock().await;
        let Some(net) = st.networks.get(&b.network.id).cloned() else {
            return Err(LinuxNetError::NotFound(format!("network {}", b.network.id)));
        };
        let nl = self.host(&mut st).await?;
        let tap = names::port_dev(&p, Role::Tap, b.port_id);
        let mut details = Map::new();
        details.insert("bridge_name".into(), Value::String(net.bridge.clone()));
        details.insert("port_filter".into(), Value::Bool(true));
        details.insert("devname".into(), Value::String(tap.clone()));
        if self.cfg.port_kind == PortKind::Veth {
            let peer = names::port_dev(&p, Role::Peer, b.port_id);
            nl.ensure_veth(&tap, &peer).await?;
            if let Some(pl) = nl.link(&peer).await? {
                // Still on the host side: give it the port's MAC and the network's MTU.
                if pl.mac.as_deref() != Some(&mac[..]) {
                    nl.set_mac(pl.index, mac).await?;
                }
                nl.up(&peer, Some(net.spec.mtu)).await?;
            }
            let br = nl
                .link(&net.bridge)
                .await?
                .ok_or_else(|| LinuxNetError::NotFound(net.bridge.clone()))?;
            let tl = nl.up(&tap, Some(net.spec.mtu)).await?;
            if tl.controller != Some(br.index) {
                nl.set_controller(tl.index, br.index).await?;
            }
            details.insert("peer_name".into(), Value::String(peer));
        }
        let vif = VifDetails { vif_type: "bridge".into(), details };
        st.ports.insert(b.port_id, PortState { network: b.network.id });
        self.refresh_fw(&mut st, b.port_id).await?;
        Ok(vif)
    }

    async fn unplug_locked(
        &self,
        st: &mut State,
        nl: &Netlink,
        port: PortId,
    ) -> Result<(), LinuxNetError> {
        nl.delete(&names::port_dev(&self.cfg.prefix, Role::Tap, port)).await?;
        if st.ports.remove(&port).is_some() {
            // The port's dispatch entries go; its chains stay until remove_port.
            self.refresh_fw(st, port).await?;
        }
        Ok(())
    }

    pub(crate) async fn do_unplug(&self, port: PortId) -> Result<(), LinuxNetError> {
        let mut st = self.lock().await;
        let nl = self.host(&mut st).await?;
        self.unplug_locked(&mut st, &nl, port).await
    }

    pub(crate) async fn do_apply_fw(&self, port: &FirewallPort) -> Result<(), LinuxNetError> {
        self.apply_ports(std::slice::from_ref(port)).await
    }

    /// Applies many ports' firewalls in one nftables transaction (what a restarted agent or
    /// a bulk change needs; the benchmark measures it).
    ///
    /// # Errors
    ///
    /// As [`Firewall::apply_port`](ferrostack_network::backend::Firewall::apply_port); on
    /// error nothing of the batch is applied.
    pub async fn apply_ports(&self, ports: &[FirewallPort]) -> Result<(), LinuxNetError> {
        for port in ports {
            netlink::parse_mac(&port.mac_address).ok_or_else(|| {
                LinuxNetError::Invalid(format!("mac address {:?}", port.mac_address))
            })?;
        }
        let mut st = self.lock().await;
        self.ensure_fw_base(&mut st).await?;
        let mut tx = String::new();
        let mut groups = st.groups.clone();
        let mut plans = Vec::with_capacity(ports.len());
        for port in ports {
            let new = self.plan_for(&st, port);
            let old = st.firewalls.get(&port.port_id).and_then(|f| f.installed.as_ref());
            tx.push_str(&nft::transition(&self.cfg.prefix, port.port_id, old, &new, &mut groups));
            plans.push((port.clone(), new));
        }
        if let Err(e) = self.nft_host(&nft::coalesce(&tx)).await {
            tracing::warn!(error = %e, "incremental firewall update failed; rebuilding the tables");
            for (port, _) in plans {
                let installed = st.firewalls.get(&port.port_id).and_then(|f| f.installed.clone());
                st.firewalls.insert(port.port_id, FwState { desired: port, installed });
            }
            return self.rebuild_fw(&mut st).await;
        }
        st.groups = groups;
        for (port, new) in plans {
            st.firewalls.insert(port.port_id, FwState { desired: port, installed: Some(new) });
        }
        Ok(())
    }

    /// Records `port` as plugged on `network` without creating a device: for tools and
    /// benchmarks that create the bridge port themselves (the firewall then dispatches to
    /// it). The network must have been ensured.
    ///
    /// # Errors
    ///
    /// [`LinuxNetError::NotFound`] for a network that was not ensured.
    pub async fn record_plugged(
        &self,
        port: PortId,
        network: NetworkId,
    ) -> Result<(), LinuxNetError> {
        let mut st = self.lock().await;
        if !st.networks.contains_key(&network) {
            return Err(LinuxNetError::NotFound(format!("network {network}")));
        }
        st.ports.insert(port, PortState { network });
        Ok(())
    }

    pub(crate) async fn do_remove_fw(&self, port: PortId) -> Result<(), LinuxNetError> {
        let mut st = self.lock().await;
        let Some(fw) = st.firewalls.get(&port).cloned() else { return Ok(()) };
        if let Some(installed) = &fw.installed {
            let mut groups = st.groups.clone();
            let tx = nft::removal(&self.cfg.prefix, port, installed, &mut groups);
            st.firewalls.remove(&port);
            if let Err(e) = self.nft_host(&tx).await {
                tracing::warn!(port = %port, error = %e, "firewall removal failed; rebuilding the tables");
                return self.rebuild_fw(&mut st).await;
            }
            st.groups = groups;
        }
        st.firewalls.remove(&port);
        Ok(())
    }
}

#[async_trait::async_trait]
impl NetworkBackend for LinuxNet {
    fn name(&self) -> &'static str {
        "linuxnet"
    }
    async fn ensure_network(&self, network: &NetworkSpec) -> Result<(), BackendError> {
        Ok(self.do_ensure_network(network).await?)
    }
    async fn remove_network(&self, id: NetworkId) -> Result<(), BackendError> {
        Ok(self.do_remove_network(id).await?)
    }
    async fn plug_port(&self, binding: &PortBinding) -> Result<VifDetails, BackendError> {
        Ok(self.do_plug(binding).await?)
    }
    async fn unplug_port(&self, port_id: PortId) -> Result<(), BackendError> {
        Ok(self.do_unplug(port_id).await?)
    }
}

#[async_trait::async_trait]
impl ferrostack_network::backend::Firewall for LinuxNet {
    fn name(&self) -> &'static str {
        "linuxnet-nftables"
    }
    async fn apply_port(&self, port: &FirewallPort) -> Result<(), BackendError> {
        Ok(self.do_apply_fw(port).await?)
    }
    async fn remove_port(&self, port_id: PortId) -> Result<(), BackendError> {
        Ok(self.do_remove_fw(port_id).await?)
    }
}
