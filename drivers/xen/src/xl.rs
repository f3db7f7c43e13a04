// SPDX-License-Identifier: Apache-2.0
//! `xl` configuration files from the typed domain model, for hosts without libvirt.
//!
//! `xl`'s syntax has no escapes inside strings, and device specs are comma-separated
//! `key=value` lists inside single-quoted strings, so any value holding a quote, a comma,
//! a backslash or a control character is refused ([`XlError`]) instead of being rendered.

use ferrostack_compute::hypervisor::InstanceSpec;
use ferrostack_libvirt::DriverConfig;
use ferrostack_libvirt::builder::{LocalFiles, build_domain};
use ferrostack_libvirt::domain::{DiskDevice, DiskSource};
use ferrostack_libvirt::domain::{Domain, DomainType, GuestKind, InterfaceKind, OnEvent};
use std::fmt::Write as _;

/// A domain that cannot be expressed as an `xl` config.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum XlError {
    /// Not a Xen domain, or a device `xl` cannot attach from a config (network disks).
    #[error("{0}")]
    Unsupported(String),
    /// A value `xl`'s syntax cannot carry.
    #[error("{what} {value:?} cannot be written in an xl config")]
    BadValue {
        /// The field.
        what: &'static str,
        /// The value.
        value: String,
    },
    /// The spec could not be turned into a domain.
    #[error(transparent)]
    Domain(#[from] ferrostack_libvirt::LibvirtError),
}

impl ferrostack_core::error::Classify for XlError {
    fn kind(&self) -> ferrostack_core::error::ErrorKind {
        use ferrostack_core::error::ErrorKind;
        match self {
            XlError::Unsupported(_) => ErrorKind::NotSupported,
            XlError::BadValue { .. } => ErrorKind::InvalidInput,
            XlError::Domain(e) => e.kind(),
        }
    }
}

fn safe(what: &'static str, v: &str) -> Result<String, XlError> {
    if v.chars().any(|c| matches!(c, '\'' | '"' | ',' | '\\') || c.is_control()) {
        return Err(XlError::BadValue { what, value: v.into() });
    }
    Ok(v.to_string())
}

fn on_event(e: OnEvent) -> &'static str {
    match e {
        OnEvent::Destroy => "destroy",
        OnEvent::Restart => "restart",
    }
}

/// Renders `d` as an `xl` config file.
pub fn render(d: &Domain) -> Result<String, XlError> {
    if d.domain_type != DomainType::Xen {
        return Err(XlError::Unsupported("xl configs are for Xen domains".into()));
    }
    let mut out = String::new();
    let ty = match d.os.kind {
        GuestKind::XenPv => "pv",
        GuestKind::XenPvh => "pvh",
        GuestKind::Hvm { .. } => "hvm",
    };
    let mut line = |k: &str, v: String| {
        let _ = writeln!(out, "{k} = {v}");
    };
    line("name", format!("\"{}\"", safe("name", &d.name)?));
    line("uuid", format!("\"{}\"", d.uuid.hyphenated()));
    line("type", format!("\"{ty}\""));
    line("memory", (d.memory_kib / 1024).to_string());
    line("maxmem", (d.memory_kib / 1024).to_string());
    line("vcpus", d.vcpus.to_string());
    if !d.vcpu_pins.is_empty() {
        let pins: Result<Vec<String>, XlError> = d
            .vcpu_pins
            .iter()
            .map(|(_, set)| Ok(format!("\"{}\"", safe("cpuset", set)?)))
            .collect();
        line("cpus", format!("[{}]", pins?.join(", ")));
    }
    if let Some(b) = &d.os.direct {
        line("kernel", format!("\"{}\"", safe("kernel", &b.kernel.display().to_string())?));
        if let Some(i) = &b.initrd {
            line("ramdisk", format!("\"{}\"", safe("initrd", &i.display().to_string())?));
        }
        if let Some(c) = &b.cmdline {
            line("cmdline", format!("\"{}\"", safe("cmdline", c)?));
        }
    }
    line("on_poweroff", format!("\"{}\"", on_event(d.on_poweroff)));
    line("on_reboot", format!("\"{}\"", on_event(d.on_reboot)));
    line("on_crash", format!("\"{}\"", on_event(d.on_crash)));
    let mut disks = Vec::new();
    for disk in &d.devices.disks {
        let target = match &disk.source {
            DiskSource::File(p) | DiskSource::Block(p) => {
                safe("disk path", &p.display().to_string())?
            }
            DiskSource::Network { protocol, .. } => {
                return Err(XlError::Unsupported(format!(
                    "{protocol} network disks need libvirt (xl has no {protocol} client)"
                )));
            }
        };
        let format = safe("disk format", disk.format.as_deref().unwrap_or("raw"))?;
        let access = if disk.readonly { "ro" } else { "rw" };
        let mut spec = format!(
            "format={format}, vdev={}, access={access}",
            safe("disk device", &disk.target_dev)?
        );
        if disk.device == DiskDevice::Cdrom {
            spec.push_str(", devtype=cdrom");
        }
        if matches!(disk.source, DiskSource::Block(_)) {
            spec.push_str(", backendtype=phy");
        }
        spec.push_str(&format!(", target={target}"));
        disks.push(format!("'{spec}'"));
    }
    line("disk", format!("[{}]", disks.join(", ")));
    let mut vifs = Vec::new();
    for i in &d.devices.interfaces {
        let mut spec = format!("mac={}", safe("mac", &i.mac)?);
        match &i.kind {
            InterfaceKind::Bridge { bridge } => {
                spec.push_str(&format!(", bridge={}", safe("bridge", bridge)?));
            }
            InterfaceKind::Ethernet => {}
        }
        // Open vSwitch bridges need Xen's vif-openvswitch hotplug script.
        let script = if i.ovs_interface_id.is_some() {
            Some("vif-openvswitch")
        } else {
            i.script.as_deref()
        };
        if let Some(s) = script {
            spec.push_str(&format!(", script={}", safe("script", s)?));
        }
        if let Some(m) = i.mtu {
            spec.push_str(&format!(", mtu={m}"));
        }
        vifs.push(format!("'{spec}'"));
    }
    line("vif", format!("[{}]", vifs.join(", ")));
    if let Some(g) = d.devices.graphics.first() {
        let listen = safe("listen", &g.listen)?;
        match g.protocol.as_str() {
            "vnc" => {
                line("vnc", "1".into());
                line("vnclisten", format!("\"{listen}\""));
            }
            "spice" => {
                line("spice", "1".into());
                line("spicehost", format!("\"{listen}\""));
            }
            _ => {}
        }
    }
    if matches!(d.os.kind, GuestKind::Hvm { .. }) {
        line("serial", "\"pty\"".into());
        line("acpi", if d.acpi { "1" } else { "0" }.into());
    }
    Ok(out)
}

/// Renders the `xl` config for `spec` under a Xen driver configuration (local files at their
/// usual paths in the instance directory).
pub fn render_spec(cfg: &DriverConfig, spec: &InstanceSpec) -> Result<String, XlError> {
    let dir = cfg.instance_dir(spec.id.as_uuid());
    let files = LocalFiles {
        root_disk: spec.image.as_ref().map(|_| (dir.join("disk"), "qcow2".to_string())),
        config_drive: spec.config_drive.as_ref().map(|_| dir.join("disk.config")),
        console_log: None,
    };
    render(&build_domain(cfg, spec, &files)?)
}
