// SPDX-License-Identifier: Apache-2.0
//! Reconcile on start: a restarted driver rebuilds its view from the kernel, removes what
//! carries its prefix but is no longer desired, and adopts what is, without recreating it.
//!
//! * Links (bridges, VXLAN devices, trunk links, ports, router and DHCP legs) are found by
//!   name in the host namespace: names are derived from ids, so the desired state says
//!   exactly which names must exist. A desired object that exists is recorded, not touched;
//!   a missing one is created.
//! * Namespaces `<prefix>-router-*` and `<prefix>-dhcp-*` not desired are deleted (with the
//!   dnsmasq inside); desired routers are re-synced (every step converges and is a no-op when
//!   nothing changed) and a running dnsmasq with the same arguments is adopted, not restarted.
//! * The security-group tables are rebuilt for the desired ports in **one** nftables
//!   transaction: packets see the old rules or the identical new ones, and conntrack entries
//!   (established connections) are kept.

use crate::driver::{FwState, LinuxNet, NetState, PortState};
use crate::error::LinuxNetError;
use crate::names::{self, Role};
use crate::netlink::NETNS_DIR;
pub use ferrostack_network::backend::DesiredState;
use std::collections::BTreeSet;

/// What [`LinuxNet::reconcile`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Kernel objects (links, namespaces) found and kept.
    pub kept: Vec<String>,
    /// Kernel objects removed because nothing desired them.
    pub removed: Vec<String>,
}

impl LinuxNet {
    /// Brings the kernel to `desired` after a restart; see the [module docs](self).
    ///
    /// # Errors
    ///
    /// The first failure; reconcile can simply be run again.
    pub async fn reconcile(
        &self,
        desired: &DesiredState,
    ) -> Result<ReconcileReport, LinuxNetError> {
        let p = self.cfg.prefix.clone();
        let mut report = ReconcileReport::default();
        // 1. Namespaces of routers and DHCP servers nobody wants.
        let want_ns: BTreeSet<String> = desired
            .routers
            .iter()
            .map(|r| names::router_ns(&p, r.id))
            .chain(
                desired
                    .dhcp
                    .iter()
                    .filter(|d| !d.subnets.is_empty())
                    .map(|d| names::dhcp_ns(&p, d.network_id)),
            )
            .collect();
        let mut stale_ns = Vec::new();
        if let Ok(dir) = std::fs::read_dir(NETNS_DIR) {
            for e in dir.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                let ours =
                    n.starts_with(&format!("{p}-router-")) || n.starts_with(&format!("{p}-dhcp-"));
                if ours && !want_ns.contains(&n) {
                    stale_ns.push(n);
                } else if ours {
                    report.kept.push(n);
                }
            }
        }
        for n in stale_ns {
            if let Some(id) = n.strip_prefix(&format!("{p}-dhcp-")).and_then(|u| u.parse().ok()) {
                self.do_remove_dhcp(ferrostack_core::id::NetworkId(id)).await?;
            } else {
                self.delete_netns(&n).await?;
            }
            report.removed.push(n);
        }
        // 2. Links in the host namespace.
        let mut want_links: BTreeSet<String> = BTreeSet::new();
        for n in &desired.networks {
            want_links.insert(names::bridge(&p, n.id));
            want_links.insert(names::net_dev(&p, Role::Vxlan, n.id));
            want_links.insert(names::net_dev(&p, Role::TrunkLinkNet, n.id));
            want_links.insert(names::net_dev(&p, Role::TrunkLinkTrunk, n.id));
            if let Some(phys) = &n.segment.physical_network {
                want_links.insert(names::trunk(&p, phys));
                if let Some(vid) = n.segment.segmentation_id {
                    want_links.insert(names::vlan_segment(&p, phys, vid as u16));
                }
            }
        }
        for b in &desired.ports {
            want_links.insert(names::port_dev(&p, Role::Tap, b.port_id));
            want_links.insert(names::port_dev(&p, Role::Peer, b.port_id));
        }
        for r in &desired.routers {
            want_links.insert(names::router_dev(&p, Role::GatewayHost, r.id));
            for i in &r.interfaces {
                want_links.insert(names::port_dev(&p, Role::RouterPortHost, i.port_id));
            }
        }
        for d in &desired.dhcp {
            want_links.insert(names::net_dev(&p, Role::DhcpHost, d.network_id));
        }
        {
            let mut st = self.lock().await;
            let nl = self.host(&mut st).await?;
            let links = nl.links().await?;
            // Bridges last, so that their ports go first.
            let mut stale: Vec<String> = links
                .iter()
                .filter(|l| {
                    l.name.starts_with(&p)
                        && l.name.len() == p.len() + 11
                        && !want_links.contains(&l.name)
                })
                .map(|l| l.name.clone())
                .collect();
            stale.sort_by_key(|n| n.as_bytes().get(p.len()) == Some(&b'b'));
            for n in &stale {
                nl.delete(n).await?;
                report.removed.push(n.clone());
            }
            for l in &links {
                if want_links.contains(&l.name) {
                    report.kept.push(l.name.clone());
                }
            }
            // 3. Adopt desired networks and ports that exist.
            for n in &desired.networks {
                let bridge = names::bridge(&p, n.id);
                if links.iter().any(|l| l.name == bridge) {
                    st.networks.insert(n.id, NetState { spec: n.clone(), bridge });
                    st.zones.insert(names::bridge(&p, n.id), names::zone(n.id));
                }
            }
            for b in &desired.ports {
                let tap = names::port_dev(&p, Role::Tap, b.port_id);
                let exists = links.iter().any(|l| l.name == tap);
                if exists && st.networks.contains_key(&b.network.id) {
                    st.ports.insert(b.port_id, PortState { network: b.network.id });
                }
            }
        }
        // Create what is desired but missing (ensure/plug converge and skip what exists).
        for n in &desired.networks {
            self.do_ensure_network(n).await?;
        }
        for b in &desired.ports {
            self.do_plug(b).await?;
        }
        // 4. Firewall: one transaction rebuilding both tables for the desired ports.
        {
            let mut st = self.lock().await;
            st.firewalls = desired
                .firewalls
                .iter()
                .map(|f| (f.port_id, FwState { desired: f.clone(), installed: None }))
                .collect();
            self.rebuild_fw(&mut st).await?;
        }
        // 5. Routers and DHCP converge (no-ops when unchanged; dnsmasq is adopted).
        for r in &desired.routers {
            self.do_sync_router(r).await?;
        }
        for d in &desired.dhcp {
            self.do_sync_dhcp(d).await?;
        }
        report.kept.sort();
        report.kept.dedup();
        Ok(report)
    }
}
