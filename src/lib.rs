// SPDX-License-Identifier: Apache-2.0
//! # Ferrostack
//!
//! A Rust toolkit for building clouds: OpenStack's services (Keystone, Nova and its scheduler,
//! Glance, Cinder, Swift, Neutron) as reusable library crates with pluggable drivers. This
//! facade crate re-exports them and assembles a control plane from a typed configuration
//! ([`Cloud`], [`CloudConfig`]); `cargo run --example minicloud` runs one on a laptop.
//!
//! | crate | role |
//! |---|---|
//! | [`core`] | ids, `RequestContext`, errors, `Store`, `Bus`, `CommandRunner`, policy, HTTP plumbing |
//! | [`identity`] | Keystone v3 |
//! | [`compute`] | Nova: lifecycle, host manager, `Hypervisor` trait |
//! | [`scheduler`] | Nova's filter scheduler |
//! | [`image`] | Glance v2 |
//! | [`volume`] | Cinder |
//! | [`network`] | Neutron |
//! | [`objectstore`] | Swift: ring, storage servers, proxy |
//!
//! Drivers are behind cargo features: `sqlite` (default), `postgres`, `amqp`, `kvm`, `xen`,
//! `linuxnet`. The LVM, Ceph and Open vSwitch driver crates exist as placeholders only and are
//! not offered as features until they drive the real systems.
//!
//! ## Example
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let cloud = ferrostack::Cloud::open(ferrostack::CloudConfig::default(), dir.path())
//!     .await
//!     .unwrap();
//! let admin = cloud.bootstrap_admin(None).await.unwrap();
//! let files = cloud.write_client_files(&admin).unwrap();
//! assert!(files.clouds_yaml.exists());
//! let app: axum::Router = cloud.router(); // serve with axum::serve
//! # let _ = app;
//! # });
//! ```

pub mod bridges;
pub mod cloud;
pub mod compute_mount;
pub mod config;
pub mod embedded;
pub mod identity_mount;
pub mod image_mount;
pub mod network_mount;
pub mod placement;
pub mod volume_mount;

pub use cloud::{AdminCredentials, ClientFiles, Cloud, CloudError, RunningDriver, ServiceMount};
pub use config::{
    BusConfig, CloudConfig, ConfigError, DataPlaneConfig, HypervisorConfig, KvmConfig,
    LinuxDataPlaneConfig, StoreConfig,
};
pub use embedded::EmbeddedServices;

pub use ferrostack_compute as compute;
pub use ferrostack_core as core;
pub use ferrostack_identity as identity;
pub use ferrostack_image as image;
pub use ferrostack_network as network;
pub use ferrostack_objectstore as objectstore;
pub use ferrostack_scheduler as scheduler;
pub use ferrostack_volume as volume;

#[cfg(feature = "amqp")]
pub use ferrostack_amqp as amqp;
#[cfg(feature = "kvm")]
pub use ferrostack_kvm as kvm;
#[cfg(feature = "linuxnet")]
pub use ferrostack_linuxnet as linuxnet;
#[cfg(feature = "postgres")]
pub use ferrostack_postgres as postgres;
#[cfg(feature = "sqlite")]
pub use ferrostack_sqlite as sqlite;
#[cfg(feature = "xen")]
pub use ferrostack_xen as xen;
