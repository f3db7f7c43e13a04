// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-libvirt: what the KVM and Xen drivers share
//!
//! * [`domain`]: a typed libvirt domain model (disks: files, block devices, RBD and iSCSI
//!   network disks with secrets, CD-ROMs; controllers; bridge, OVS and tap interfaces with
//!   MAC and MTU; PTY serial consoles logged to a file; VNC/SPICE; huge pages, vCPU pinning,
//!   CPU modes), each device rendering itself to XML so live attach uses the same code;
//! * [`xml`]: the element tree rendered with quick-xml (everything escaped) and the few reads
//!   of libvirt's live XML the drivers need;
//! * [`builder`]: [`InstanceSpec`](ferrostack_compute::hypervisor::InstanceSpec) to a
//!   [`Domain`](domain::Domain) under a [`DriverConfig`];
//! * [`conn`]: one libvirt connection used from async code (calls on tokio's blocking pool,
//!   libvirt's event loop on its own thread, reconnect after the connection dies);
//! * [`driver`]: [`LibvirtDriver`], the
//!   [`Hypervisor`](ferrostack_compute::hypervisor::Hypervisor) the KVM and Xen crates
//!   configure.
//!
//! ```text
//!  InstanceSpec ──builder──▶ Domain ──to_xml──▶ define(VALIDATE) + create ──▶ libvirt
//!                               │                                              │
//!                     Disk/Interface::to_elem ──▶ attach/detach (live+config)  │
//!  EventSink ◀── observe(state changes) ◀── watcher thread / each operation ◀──┘
//! ```
//!
//! Rendering needs no libvirt daemon:
//!
//! ```
//! use ferrostack_libvirt::domain::*;
//! let disk = Disk {
//!     device: DiskDevice::Disk,
//!     source: DiskSource::File("/var/lib/ferrostack/instances/x/disk".into()),
//!     driver_name: Some("qemu".into()),
//!     format: Some("qcow2".into()),
//!     cache: Some("none".into()),
//!     target_dev: "vda".into(),
//!     target_bus: "virtio".into(),
//!     readonly: false,
//!     serial: None,
//! };
//! let xml = disk.to_elem().render();
//! assert!(xml.contains("<driver name=\"qemu\" type=\"qcow2\" cache=\"none\"/>"));
//! ```
//!
//! The KVM crate (`ferrostack-kvm`) shows the driver end to end on libvirt's in-process
//! `test:///default` connection.

pub mod builder;
pub mod conn;
pub mod domain;
pub mod driver;
pub mod error;
pub mod events;
pub mod testing;
pub mod xml;

pub use builder::DriverConfig;
pub use driver::{HostReport, LibvirtDriver};
pub use error::LibvirtError;
