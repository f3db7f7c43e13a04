// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-network: Neutron
//!
//! Networks with segmentation (flat, VLAN, VXLAN from per-physnet pools), subnets (IPv4 and
//! IPv6 with SLAAC/DHCPv6 modes, allocation pools, gateway, DNS, host routes), ports (MACs
//! unique per network, fixed IPs, binding, port security, allowed address pairs), IPAM that
//! never double-allocates, routers with SNAT gateways, interfaces and static routes, floating
//! IPs (one-to-one NAT), security groups (the per-project `default` group, remote prefixes or
//! remote groups, stateful), quotas, and the Neutron v2.0 REST API.
//!
//! ## Design
//!
//! The crate has the shape every Ferrostack service has (`DESIGN.md` §3):
//!
//! | module | what |
//! |---|---|
//! | [`types`] | resources serialised exactly as Neutron renders them |
//! | [`api`] | [`NetworkApi`]: the operations, each taking the caller's `RequestContext`, and their typed request bodies (strict when parsed; serialisable for the client) and answers |
//! | [`service`] | [`NetworkService`], the implementation over any [`Store`](ferrostack_core::store::Store): every change is **one transaction** with compare-and-swap conditions on what it read and `absent` conditions on the index keys it creates (addresses, MACs, segment ids, rule fingerprints, floating IP associations), retried from fresh reads when it loses a race. One file per resource: `service/{networks,subnets,ports,routers,floating_ips,security_groups,quotas}.rs`, with `ipam.rs` (address allocation) and `sync.rs` (what the backends are told, and [`NetworkService::desired_state`]) |
//! | [`backend`] | the declarative data-plane traits [`NetworkBackend`](backend::NetworkBackend), [`Firewall`](backend::Firewall), [`L3Backend`](backend::L3Backend), [`DhcpBackend`](backend::DhcpBackend) |
//! | [`secgroup`] | the pure compiler from security-group rules to an ordered accept list any firewall renders |
//! | [`policy`] | Neutron's default rules for [`ferrostack_core::policy`] and the one [`policy::authorize`] |
//! | [`http`] | [`http::router`], the Neutron v2.0 API over any `Arc<dyn NetworkApi>` (`/v2.0/...`, Neutron error bodies, filters, `fields=`, sorting, pagination), and [`http::Client`], a [`NetworkApi`] over that API |
//! | [`testing`] | [`testing::FakeBackend`], the backend conformance suites, and [`testing::run_api_conformance`], which the local service and the client both pass |
//! | [`error`] | [`NetworkError`] with Neutron's exception types; a remote fault keeps its kind, message and type |
//!
//! ## Built and not built
//!
//! Built: the resources above and their REST API; `GET /v2.0/extensions` lists only the
//! extensions really served (`allowed-address-pairs`, `binding`, `external-net`, `ext-gw-mode`,
//! `extraroute`, `net-mtu`, `port-security`, `provider`, `quotas`, `quota_details`, `router`,
//! `security-group`, `stateful-security-group`, `standard-attr-description`,
//! `standard-attr-revisions`, `standard-attr-timestamp`).
//!
//! Not built: agents (`/v2.0/agents`), network IP availability, subnet pools and subnet
//! allocation, address scopes, trunks, QoS, tags (`tags` renders empty), RBAC policies
//! (sharing is all-or-nothing through `shared`), segments, port forwardings, DVR and HA routers,
//! metering. Policy is Neutron's legacy default (owner or admin); the `reader` role is not
//! distinguished from `member`. The data plane lives elsewhere: the Linux drivers are in
//! `ferrostack-linuxnet`, and this crate ships only the recording [`testing::FakeBackend`].
//!
//! The service commits state first and then tells the backends (as Neutron's server notifies
//! its agents); a backend failure is logged and shows in the resource (`binding_failed`), and
//! since every backend call carries the complete desired state, re-sending it converges.
//!
//! ## Example
//!
//! ```
//! use ferrostack_core::id::{ProjectId, UserId};
//! use ferrostack_core::{RequestContext, store::MemoryStore};
//! use ferrostack_network::testing::FakeBackend;
//! use ferrostack_network::{Backends, NetworkApi, NetworkConfig, NetworkService};
//! use std::sync::Arc;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let fake = Arc::new(FakeBackend::new());
//! let svc = NetworkService::new(Arc::new(MemoryStore::new()), NetworkConfig::default(), Backends::all(fake.clone()));
//! let ctx = RequestContext::for_project(UserId::new(), ProjectId::new(), &["member"]);
//!
//! let net = svc.create_network(&ctx, serde_json::from_str(r#"{"name": "private"}"#).unwrap()).await.unwrap();
//! let subnet = svc
//!     .create_subnet(&ctx, serde_json::from_value(serde_json::json!({
//!         "network_id": net.id, "cidr": "192.168.0.0/24", "ip_version": 4})).unwrap())
//!     .await
//!     .unwrap();
//! assert_eq!(subnet.gateway_ip.unwrap().to_string(), "192.168.0.1");
//! let port = svc
//!     .create_port(&ctx, serde_json::from_value(serde_json::json!({"network_id": net.id})).unwrap())
//!     .await
//!     .unwrap();
//! assert!(subnet.cidr.contains(&port.fixed_ips[0].ip_address));
//! // The port got the project's default security group; the fake firewall got its rules.
//! assert_eq!(port.security_groups.len(), 1);
//! assert!(fake.state().firewalls.contains_key(&port.id));
//! # });
//! ```
//!
//! ## Features
//!
//! | feature | default | what |
//! |---|---|---|
//! | `client` | yes | [`http::Client`] (reqwest through core's `ServiceClient`) |
//! | `testing` | no | reserved; [`testing`] (the fake backend and conformance suites) has no extra dependencies and is always built, so integrators can run a control plane without a data plane |

pub mod api;
pub mod backend;
pub mod cidr;
pub mod error;
pub mod http;
pub mod policy;
pub mod secgroup;
pub mod service;
pub mod testing;
pub mod types;

pub use api::NetworkApi;
pub use error::NetworkError;
pub use service::{Backends, NetworkConfig, NetworkService};
