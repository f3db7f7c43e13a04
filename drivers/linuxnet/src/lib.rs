// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-linuxnet: the Linux data plane
//!
//! [`LinuxNet`] implements the four backend traits of `ferrostack-network` with plain Linux
//! networking, the way Neutron's Linux bridge, L3 and DHCP agents did, with today's kernel
//! interfaces:
//!
//! | trait | realisation |
//! |---|---|
//! | [`NetworkBackend`](ferrostack_network::backend::NetworkBackend) | a Linux bridge per network; VXLAN segments get a VXLAN device on the bridge; VLAN segments a veth from the network's bridge to a per-physical-network **VLAN-filtering** trunk bridge (access port with the segment's PVID; the uplink is a tagged member), which needs no 8021q module; on kernels built without bridge VLAN filtering (like the project's CI machines) a plain bridge per (physical network, VLAN) joins the networks of one VLAN instead, and a tagged uplink is refused as `NotSupported`; ports are veth pairs (the VM end carries the port's MAC) or taps the hypervisor creates (`vif_type: bridge`, `bridge_name`, `devname`) |
//! | [`Firewall`](ferrostack_network::backend::Firewall) | nftables ([`nft`]): per-port chains dispatched from verdict maps, conntrack state, remote groups as **shared sets** (a membership change is one element update), anti-spoofing through shared `ifname . address` sets in the bridge family; every change one atomic `nft -f` transaction |
//! | [`L3Backend`](ferrostack_network::backend::L3Backend) | one network namespace per router ([`l3`]), legs into the tenant bridges and the external network's bridge, default and static routes, SNAT and floating IPs as DNAT/SNAT pairs in one nftables table per router |
//! | [`DhcpBackend`](ferrostack_network::backend::DhcpBackend) | one DHCP server per network in its own namespace ([`dhcp`]): dnsmasq with host and option files written atomically and reloaded by `SIGHUP`, or ISC Kea ([`kea`]) chosen by [`LinuxNetConfig::dhcp_server`] |
//!
//! [`LinuxNet::reconcile`] rebuilds the driver's view after a restart: what is desired and
//! present is adopted untouched, what carries the prefix but is not desired is removed.
//!
//! ## Design decisions
//!
//! * **Everything carries a prefix** ([`LinuxNetConfig::prefix`]): device names are
//!   `<prefix><role><10 hex digits of a hash of the id>` (at most 15 bytes), namespaces
//!   `<prefix>-router-<uuid>` / `<prefix>-dhcp-<uuid>`, tables `<prefix>_sg` / `<prefix>_as` /
//!   `<prefix>_nat`. Names derive from ids, so a restarted driver finds its objects again, and
//!   it never touches anything without its prefix. [`LinuxNetConfig::host_netns`] puts the
//!   bridges themselves in a namespace (the tests use one per test).
//! * **Netlink in a namespace.** Links, addresses and routes go through `rtnetlink`, never by
//!   parsing `ip` output. A netlink socket stays bound to the namespace it was created in, so
//!   the driver opens it on a short-lived thread that `setns(2)`s first and then hands the
//!   socket to the tokio runtime: no runtime worker ever changes namespace (which would leak
//!   into unrelated tasks), and every later request runs on the ordinary async socket. Tools
//!   that only exist as programs (`nft`, `sysctl`, `dnsmasq`, `ip netns add/del`) run through
//!   [`CommandRunner`](ferrostack_core::command::CommandRunner) with `ip netns exec` (argv
//!   only, timeouts, optional privilege wrapper).
//! * **Security groups and `br_netfilter`.** Bridged IPv4/IPv6 traffic is seen by the `inet`
//!   family's forward hook with `bridge-nf-call-iptables=1` (set per namespace), where
//!   conntrack works; the bridge family has no conntrack here (`nf_conntrack_bridge` is not in
//!   the kernel). There the in/out interface is the bridge, so ports are found by
//!   `bridge . address`; anti-spoofing in the bridge family guarantees that an address really
//!   comes from its port. Each bridge gets its own conntrack zone.
//! * **Atomicity.** One driver call is one nftables transaction (a packet sees the old or the
//!   new rules), router NAT tables are replaced whole, DHCP files are written with
//!   `rename`. Driver calls are serialised by one async mutex, so concurrent requests never
//!   race on the kernel state.
//! * **DHCP server address.** The traits give no DHCP-port address, so the server takes the
//!   **last usable address** of each IPv4 subnet ([`dhcp::server_address`]); allocation pools
//!   must leave it out (Neutron allocates a DHCP port instead: a follow-up for the service).
//!
//! ## Example
//!
//! Rendering is pure and runs anywhere; the driver itself needs root (see the tests for
//! complete namespace labs):
//!
//! ```
//! use ferrostack_core::id::PortId;
//! use ferrostack_linuxnet::{LinuxNet, LinuxNetConfig, nft};
//! use ferrostack_network::backend::FirewallPort;
//! use ferrostack_network::secgroup::{CompiledRule, CompiledRuleSet, L4Match};
//! use ferrostack_network::cidr::IpVersion;
//! use ferrostack_network::types::Direction;
//! use std::sync::Arc;
//!
//! let port = FirewallPort {
//!     port_id: PortId::new(),
//!     mac_address: "fa:16:3e:00:00:01".into(),
//!     allowed_sources: vec!["10.0.0.5/32".parse().unwrap()],
//!     rules: CompiledRuleSet {
//!         allow_all: false,
//!         stateful: true,
//!         rules: vec![CompiledRule {
//!             direction: Direction::Ingress,
//!             version: IpVersion::V4,
//!             protocol: Some(6),
//!             l4: L4Match::Ports { min: 22, max: 22 },
//!             remote: None,
//!             remote_group: None,
//!         }],
//!     },
//! };
//! let plan = nft::plan(&port.port_id.simple(), &port, Some("fsb0123456789"), "fst0123456789");
//! assert!(plan.ingress.contains(&"meta l4proto 6 th dport 22 accept".to_string()));
//! assert_eq!(plan.ingress.last().unwrap(), "drop");
//!
//! // The driver plugs into the network service like any backend (needs root at run time):
//! let cfg = LinuxNetConfig { prefix: "fs".into(), host_netns: Some("hv".into()), ..Default::default() };
//! let driver = Arc::new(
//!     LinuxNet::new(cfg, Arc::new(ferrostack_core::command::SystemRunner::new())).unwrap(),
//! );
//! let _backends = ferrostack_network::Backends::all(driver);
//! ```
//!
//! ## Tests
//!
//! The tests under `tests/` build their own namespaces (`fst-<pid>-<n>-*`, removed in a
//! `Drop` guard, processes inside killed) and need root, `nft`, `dnsmasq`, `busybox`, `nc` and
//! `ping` (`scripts/test-env/linuxnet.sh` installs them); without them they print `SKIPPED`
//! locally and fail under CI. `examples/sg_bench.rs` compares applying 1,000 ports x 10 rules
//! and one remote-group membership change against Neutron's iptables firewall driver as
//! rendered by [`iptables`]: with ipset (Neutron's default, the headline baseline: one set per
//! remote group, a membership change is one `ipset add`) and without (a rule per member, a
//! membership change reloads the table); numbers in `DESIGN.md`.

pub mod config;
pub mod dhcp;
mod driver;
pub mod error;
pub mod iptables;
pub mod kea;
pub mod l3;
mod names;
mod netlink;
pub mod nft;
pub mod reconcile;

pub use config::{DhcpServer, LinuxNetConfig, PortKind};
pub use driver::LinuxNet;
pub use error::LinuxNetError;
pub use reconcile::{DesiredState, ReconcileReport};
