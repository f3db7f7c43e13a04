// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-compute: Nova
//!
//! Instances with Nova's state model, flavors, keypairs, quotas, server groups and
//! availability zones. The crate has the shape every Ferrostack service has:
//! [`api::ComputeApi`] (the operations, typed requests), [`service::ComputeService`] (the
//! local controller, which implements it), [`http::router`] (Nova's v2.1 REST API over any
//! `ComputeApi`) and [`http::Client`] (a `ComputeApi` over a remote Nova API), with
//! [`testing::run_api_conformance`] run against both. Per-host managers
//! ([`host::ComputeHost`]) talk to the controller over the [`ferrostack_core::bus::Bus`] and
//! drive a [`hypervisor::Hypervisor`] (the KVM and Xen drivers implement it).
//!
//! ## Design
//!
//! ```text
//!  HTTP (http::router) ──▶ dyn ComputeApi = ComputeService  (or http::Client, remote)
//!     policy · validation · state checks · quotas (one Txn with the records)
//!     Placement::claim (CAS in the Store) ──▶ Bus cast compute.<host>: rpc::HostRequest v1.x
//!                                              │
//!  ComputeHost (one per host) ◀────────────────┘
//!     build: ports (NetworkPort) → volume attachments (VolumePort, Cinder 3.44 flow)
//!            → image cache (ImagePort) → Hypervisor::spawn; rollback of every step on failure
//!     sync_power_states (Nova's table) · reconcile (ghost cases a/b/c → reap/stop/adopt/log)
//! ```
//!
//! | module | what |
//! |---|---|
//! | [`api`] | `ComputeApi` (with its `# Contract`), `CreateServer` (Nova's `{"server": ..}` body), `ServerAction` (the one-key action bodies), the other typed requests |
//! | [`service`] | `ComputeService`, split by resource: `servers`, `actions`, `attachments`, `flavors`, `keypairs`, `groups`, `quotas`; Nova's `check_instance_state` rules |
//! | [`http`] | `router` (`router.rs`, one handler file per resource, `views.rs`), `Client` (`client.rs`), microversions 2.1–2.79 through core's negotiation |
//! | [`testing`] | the **API** conformance suite every `ComputeApi` must pass |
//! | [`conformance`] | the **hypervisor** conformance suite every `Hypervisor` driver must pass |
//! | [`types`] | `VmState`, `TaskState`, `PowerState`, [`types::server_status`] (`_STATE_MAP`), `Flavor`, `Keypair`, `ServerGroup`, quotas, the `Server` record |
//! | [`hypervisor`] | the `Hypervisor` trait, `Capabilities`, optional capabilities (`Console`, `Snapshots`, `LiveMigration`), `EventSink`, `InstanceSpec`, config drives |
//! | [`fake`] | `FakeHypervisor`: a **fake** driver in memory, with failure injection per operation |
//! | [`ports`] | consumer traits for image, volume and network (`ImagePort`, `VolumePort`, `NetworkPort`) with fakes |
//! | [`placement`] | the `Placement` consumer trait and `StorePlacement`, the project's one claim store (atomic claims) |
//! | [`host`] | `ComputeHost`: build flow, actions, power-state sync, ghost reconciler |
//! | [`rpc`] | versioned controller → host messages |
//! | [`local`] | `LocalCompute`: controller + hosts in one process (minicloud) |
//! | [`db`], [`policy`], [`error`] | records in the Store, default policy rules, `ComputeError` |
//!
//! Concurrency: quota usage is charged in the same transaction that creates the server
//! records, and placement claims are compare-and-swap transactions on the host's usage
//! record (and the server group's member counts for hard policies), so concurrent creates
//! never exceed a quota, a host's capacity or an anti-affinity rule. Lost races are retried
//! by core's `retry_txn`.
//!
//! ## What is built, and what is not
//!
//! Served: servers (create with `min_count`/`max_count`, boot from image or volume through
//! `block_device_mapping_v2` `volume` sources, networks and ports, keypairs, user data,
//! metadata, config drive, availability zones, the `group` scheduler hint; list with
//! `name`, `status`, `flavor`, `image`, `host`, `all_tenants`, `reservation_id`,
//! `changes-since`, `marker`, `limit`; show, update, delete, `ips`), the actions `os-stop`,
//! `os-start`, `reboot`, `resize`, `confirmResize`, `revertResize`, `rebuild`,
//! `createImage`, `os-getConsoleOutput`, `os-getVNCConsole`/`os-getSPICEConsole`/
//! `os-getSerialConsole`, remote consoles, volume attachments, interfaces, flavors with extra
//! specs, keypairs (import, or generated with `ssh-keygen`), server groups, availability
//! zones, limits and quota sets.
//!
//! Answered **501 Not Implemented**: the actions `addFloatingIp`, `removeFloatingIp`,
//! `addSecurityGroup`, `removeSecurityGroup`, `pause`, `unpause`, `suspend`, `resume`,
//! `lock`, `unlock`, `shelve`, `unshelve`, `rescue`, `unrescue`, `migrate`,
//! `os-migrateLive`, `evacuate` and `changePassword` ([`api::NOT_IMPLEMENTED_ACTIONS`]);
//! block device sources other than volumes and the image itself (`snapshot`, `blank`, an
//! image to a new volume).
//!
//! Accepted and not acted on: `security_groups` on create (ports get the network's default
//! group), `tags`, scheduler hints other than `group`. Not served at all (404): aggregates,
//! hypervisors, services, migrations, instance actions, server metadata and tags
//! sub-resources, flavor access, the legacy v2.0 API (only its version document).
//!
//! ## Example
//!
//! ```
//! use ferrostack_compute::fake::FakeHypervisor;
//! use ferrostack_compute::host::HostConfig;
//! use ferrostack_compute::local::{LocalCompute, Ports};
//! use ferrostack_compute::ports::{FakeImages, FakeNetworks, FakeVolumes};
//! use ferrostack_compute::api::{ComputeApi, CreateServer};
//! use ferrostack_compute::types::NetworkRequest;
//! use ferrostack_core::{RequestContext, bus::LocalBus, store::MemoryStore};
//! use ferrostack_core::id::{ProjectId, UserId};
//! use std::sync::Arc;
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let (images, networks) = (FakeImages::new(), FakeNetworks::new());
//! let image = images.add("cirros", "raw", vec![0; 512]);
//! let net = networks.add_network("private");
//! let cache = std::env::temp_dir().join(format!("fs-compute-doc-{}", std::process::id()));
//! let compute = LocalCompute::start(
//!     Arc::new(MemoryStore::new()),
//!     Arc::new(LocalBus::new()),
//!     Ports { images: Arc::new(images), volumes: Arc::new(FakeVolumes::new()), networks: Arc::new(networks) },
//!     Default::default(),
//!     vec![(HostConfig::new("host1", &cache), Arc::new(FakeHypervisor::default()))],
//! ).await.unwrap();
//! let ctx = RequestContext::for_project(UserId::new(), ProjectId::new(), &["member", "reader"]);
//! let req = CreateServer {
//!     name: "vm1".into(), flavor_ref: "1".into(), image_ref: Some(image),
//!     networks: vec![NetworkRequest { network_id: Some(net), ..Default::default() }].into(),
//!     ..Default::default()
//! };
//! let id = compute.service.create_servers(&ctx, req).await.unwrap()[0].id;
//! let server = loop {
//!     let s = compute.service.get_server(&ctx, id).await.unwrap();
//!     if s.status() != "BUILD" { break s; }
//!     tokio::time::sleep(std::time::Duration::from_millis(5)).await;
//! };
//! assert_eq!(server.status(), "ACTIVE");
//! assert_eq!(server.host.as_deref(), Some("host1"));
//! # let _ = std::fs::remove_dir_all(&cache);
//! # });
//! ```

pub mod api;
pub mod conformance;
pub mod db;
pub mod error;
pub mod fake;
pub mod host;
pub mod http;
pub mod hypervisor;
pub mod local;
pub mod placement;
pub mod policy;
pub mod ports;
pub mod rpc;
pub mod service;
pub mod testing;
pub mod types;
