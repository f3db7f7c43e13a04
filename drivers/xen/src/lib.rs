// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-xen: Xen through libvirt's libxl driver, and `xl` configs
//!
//! [`XenDriver`] configures the shared libvirt driver core (`ferrostack-libvirt`) for Xen:
//! `<domain type='xen'>` guests of kind PV (`xenpv`), PVH (`xenpvh`) or HVM (`xenfv`), Xen's
//! device models (`xvd*` disks on the `xen` bus served by blkback or qdisk, netfront NICs
//! with the `vif-bridge` hotplug script, the PV console `hvc0`), connected to
//! `xen:///system` on a dom0 (or libvirt's `test:///default` in tests).
//!
//! For hosts without libvirt, [`xl::render`] turns the same typed
//! [`Domain`](ferrostack_libvirt::domain::Domain) into an `xl` configuration file (`xl
//! create FILE`), refusing values `xl`'s syntax cannot carry.
//!
//! A real host is exercised by `scripts/xen-nested.sh` (a separate CI step): Xen 4.17 nested
//! under QEMU TCG, where a PV guest (the test payload) boots from the xl config this crate
//! renders (`xl create`, marker about 37 s later under TCG) and through this driver over
//! `xen:///system` (spawn 13 s, marker 34 s), about 2.3 minutes in all. libvirt's test driver
//! refuses disk hotplug on the xen bus, so the conformance run there checks the NotSupported
//! path for volumes.
//!
//! ```
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! use ferrostack_compute::hypervisor::Hypervisor;
//! use ferrostack_xen::{XenDriver, XenGuest};
//! let dir = tempfile::tempdir().unwrap();
//! let xen = XenDriver::new("test:///default", XenGuest::Pv, dir.path()).build();
//! let spec = ferrostack_compute::conformance::minimal_spec("doc");
//! let xml = xen.render_domain(&spec).unwrap();
//! assert!(xml.contains("machine=\"xenpv\""));
//! let cfg = ferrostack_xen::xl::render_spec(xen.config(), &spec).unwrap();
//! assert!(cfg.contains("type = \"pv\""));
//! xen.spawn(&spec).await.unwrap();
//! xen.destroy(spec.id).await.unwrap();
//! # });
//! ```

pub mod xl;

use ferrostack_compute::hypervisor::{EventSink, NullSink};
use ferrostack_core::command::{CommandRunner, SystemRunner};
use ferrostack_libvirt::DriverConfig;
use ferrostack_libvirt::domain::{DirectBoot, DomainType, GuestKind};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use ferrostack_libvirt::LibvirtDriver as XenHypervisor;

/// The Xen guest kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XenGuest {
    /// Paravirtualised: the guest kernel is booted directly and talks to Xen.
    Pv,
    /// PVH: PV without emulated devices, using hardware virtualisation.
    Pvh,
    /// Fully virtualised with QEMU device emulation.
    Hvm,
}

impl std::str::FromStr for XenGuest {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pv" => Ok(XenGuest::Pv),
            "pvh" => Ok(XenGuest::Pvh),
            "hvm" => Ok(XenGuest::Hvm),
            other => Err(format!("Xen guest kind must be pv, pvh or hvm, not {other:?}")),
        }
    }
}

/// Builds a Xen driver: [`XenDriver::new`], optional settings, [`XenDriver::build`].
#[derive(Debug, Clone)]
pub struct XenDriver {
    cfg: DriverConfig,
    runner: Option<Arc<dyn CommandRunner>>,
    events: Option<Arc<dyn EventSink>>,
}

impl XenDriver {
    /// A driver connecting to `uri` (`xen:///system`), creating `guest` kind domains, keeping
    /// instance files under `state_dir`.
    pub fn new(uri: &str, guest: XenGuest, state_dir: impl AsRef<Path>) -> Self {
        let hvm = guest == XenGuest::Hvm;
        XenDriver {
            cfg: DriverConfig {
                driver_name: "xen",
                uri: uri.into(),
                domain_type: DomainType::Xen,
                guest: match guest {
                    XenGuest::Pv => GuestKind::XenPv,
                    XenGuest::Pvh => GuestKind::XenPvh,
                    XenGuest::Hvm => GuestKind::Hvm { machine: Some("xenfv".into()) },
                },
                state_dir: state_dir.as_ref().to_path_buf(),
                name_prefix: "instance-".into(),
                emulator: None,
                cpu: None,
                direct_boot: None,
                disk_bus: "xen".into(),
                disk_prefix: "xvd".into(),
                config_drive_bus: "xen".into(),
                config_drive_cdrom: false,
                nic_model: None,
                console_target: if hvm { "serial".into() } else { "xen".into() },
                console_log: false,
                // HVM: an emulated VGA; PV: the paravirtual framebuffer (vfb); PVH: none.
                graphics: if guest == XenGuest::Pvh {
                    None
                } else {
                    Some(("vnc".into(), "127.0.0.1".into()))
                },
                spare_pcie_ports: 0,
                memballoon: None,
                shutdown_timeout: Duration::from_secs(60),
                poll_interval: Duration::from_secs(5),
                qemu_img: "qemu-img".into(),
                genisoimage: "genisoimage".into(),
            },
            runner: None,
            events: None,
        }
    }

    /// Boot instances that have no image from this kernel (PV and PVH guests always boot a
    /// kernel directly).
    pub fn direct_boot(mut self, boot: DirectBoot) -> Self {
        self.cfg.direct_boot = Some(boot);
        self
    }

    /// How long `power_off` waits for the guest to shut down before destroying it.
    pub fn shutdown_timeout(mut self, t: Duration) -> Self {
        self.cfg.shutdown_timeout = t;
        self
    }

    /// How often the state watcher polls libvirt (0 turns it off).
    pub fn poll_interval(mut self, t: Duration) -> Self {
        self.cfg.poll_interval = t;
        self
    }

    /// The command runner for `qemu-img` and `genisoimage`.
    pub fn runner(mut self, r: Arc<dyn CommandRunner>) -> Self {
        self.runner = Some(r);
        self
    }

    /// Where lifecycle events go.
    pub fn event_sink(mut self, s: Arc<dyn EventSink>) -> Self {
        self.events = Some(s);
        self
    }

    /// Any other setting of the shared configuration.
    pub fn configure(mut self, f: impl FnOnce(&mut DriverConfig)) -> Self {
        f(&mut self.cfg);
        self
    }

    /// The configuration so far.
    pub fn config(&self) -> &DriverConfig {
        &self.cfg
    }

    /// The driver.
    pub fn build(self) -> XenHypervisor {
        XenHypervisor::with_parts(
            self.cfg,
            self.runner.unwrap_or_else(|| Arc::new(SystemRunner::new())),
            self.events.unwrap_or_else(|| Arc::new(NullSink)),
        )
    }
}
