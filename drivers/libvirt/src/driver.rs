// SPDX-License-Identifier: Apache-2.0
//! [`LibvirtDriver`]: the [`Hypervisor`] both the KVM and Xen crates wrap, parametrised by
//! their [`DriverConfig`].
//!
//! Domains are persistent (`define` then `create`) so a powered-off instance keeps its
//! definition; `destroy` removes the domain and its instance directory. Attachments made
//! after spawn are recorded in `attachments.json` in the instance directory (the exact device
//! XML, so detach removes precisely what attach added). Lifecycle events come from a watcher
//! thread comparing libvirt's states with the last ones seen, from each operation (which
//! observes its instance right away) and from libvirt's own lifecycle events ([`crate::events`],
//! which re-read the state when they arrive): one event per observed change, whoever caused
//! it. The poller is a safety net for events lost while the connection was down.

use crate::builder::{self, DriverConfig, LocalFiles};
use crate::conn::Connection;
use crate::error::LibvirtError;
use crate::xml;
use ferrostack_compute::error::ComputeError;
use ferrostack_compute::hypervisor::{
    BlockDevice, Capabilities, ConfigDriveFormat, Console, EventSink, HostResources, Hypervisor,
    InstanceInfo, InstanceSpec, LifecycleEvent, LiveMigration, NullSink, RebootKind, Snapshots,
};
use ferrostack_compute::types::{PowerState, Vif};
use ferrostack_core::command::{Command, CommandRunner, SystemRunner};
use ferrostack_core::id::{PortId, ServerId, VolumeId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use virt::connect::Connect;
use virt::domain::Domain as VirDomain;

/// What a host reports beyond [`HostResources`]: for the scheduler and operators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostReport {
    /// Totals.
    pub resources: HostResources,
    /// Free memory in MiB.
    pub free_memory_mb: u64,
    /// The CPU model libvirt reports (`x86_64`, or the model name).
    pub cpu_model: String,
    /// CPU sockets x cores x threads.
    pub cpu_topology: (u32, u32, u32),
    /// The hypervisor version (`10.0.2`).
    pub hypervisor_version: String,
    /// The libvirt library version.
    pub libvirt_version: String,
    /// The hypervisor type libvirt reports (`QEMU`, `Xen`, `TEST`).
    pub hypervisor_type: String,
}

/// Devices attached after spawn, by id, with their exact XML.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Attachments {
    volumes: BTreeMap<VolumeId, String>,
    ports: BTreeMap<PortId, String>,
}

#[derive(Debug)]
struct Shared {
    cfg: DriverConfig,
    conn: Connection,
    events: Arc<dyn EventSink>,
    seen: Mutex<HashMap<ServerId, PowerState>>,
}

impl Shared {
    /// Compares `id`'s state with the last one seen and emits the matching event.
    fn observe(&self, id: ServerId, now: Option<PowerState>) {
        let before = {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            match now {
                Some(ps) => seen.insert(id, ps),
                None => seen.remove(&id),
            }
        };
        let ev = match (before, now) {
            (b, Some(n)) if b == Some(n) => None,
            (_, Some(PowerState::Running)) => {
                if before == Some(PowerState::Paused) {
                    Some(LifecycleEvent::Resumed)
                } else {
                    Some(LifecycleEvent::Started)
                }
            }
            (_, Some(PowerState::Paused)) => Some(LifecycleEvent::Paused),
            (_, Some(PowerState::Suspended)) => Some(LifecycleEvent::Suspended),
            (_, Some(PowerState::Crashed)) => Some(LifecycleEvent::Crashed),
            (Some(PowerState::Running | PowerState::Paused), Some(_) | None) => {
                Some(LifecycleEvent::Stopped)
            }
            _ => None,
        };
        if let Some(ev) = ev {
            self.events.emit(id, ev);
        }
    }
}

/// A [`Hypervisor`] over libvirt, shaped by a [`DriverConfig`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LibvirtDriver {
    shared: Arc<Shared>,
    runner: Arc<dyn CommandRunner>,
    caps: Arc<Capabilities>,
    busy: Arc<Mutex<HashSet<ServerId>>>,
}

/// Marks an instance busy for the duration of a spawn so a concurrent spawn of the same id
/// fails instead of redefining the domain.
struct BusyGuard(Arc<Mutex<HashSet<ServerId>>>, ServerId);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.1);
    }
}

fn power_state(state: virt::sys::virDomainState) -> PowerState {
    match state {
        virt::sys::VIR_DOMAIN_RUNNING | virt::sys::VIR_DOMAIN_BLOCKED => PowerState::Running,
        virt::sys::VIR_DOMAIN_PAUSED => PowerState::Paused,
        // Shutting down is still running until it is off.
        virt::sys::VIR_DOMAIN_SHUTDOWN => PowerState::Running,
        virt::sys::VIR_DOMAIN_SHUTOFF => PowerState::Shutdown,
        virt::sys::VIR_DOMAIN_CRASHED => PowerState::Crashed,
        virt::sys::VIR_DOMAIN_PMSUSPENDED => PowerState::Suspended,
        _ => PowerState::NoState,
    }
}

/// A domain handle that is released without panicking: `virt`'s own `Drop` panics when
/// `virDomainFree` fails; this frees explicitly and leaks the handle instead.
struct Dom(Option<VirDomain>);

impl Dom {
    fn new(d: VirDomain) -> Self {
        Dom(Some(d))
    }
}

impl std::ops::Deref for Dom {
    type Target = VirDomain;
    fn deref(&self) -> &VirDomain {
        // Only `drop` takes the handle out.
        self.0.as_ref().expect("a domain handle is present until it is dropped")
    }
}

impl Drop for Dom {
    fn drop(&mut self) {
        if let Some(mut d) = self.0.take()
            && d.free().is_err()
        {
            std::mem::forget(d);
        }
    }
}

fn lookup(c: &Connect, id: ServerId) -> Result<Dom, LibvirtError> {
    VirDomain::lookup_by_uuid_string(c, &id.to_string()).map(Dom::new).map_err(|e| {
        match LibvirtError::from_virt("lookup", e) {
            LibvirtError::NoDomain(_) => LibvirtError::NoDomain(id.to_string()),
            other => other,
        }
    })
}

/// The power state for events: `None` while the domain is in transition (QEMU starts paused
/// and is resumed once its devices are set up), which is no event.
fn settled_state(d: &VirDomain) -> Option<PowerState> {
    let (state, reason) = d.get_state().ok()?;
    settled(state, reason)
}

fn settled(state: virt::sys::virDomainState, reason: i32) -> Option<PowerState> {
    if state == virt::sys::VIR_DOMAIN_PAUSED
        && reason == virt::sys::VIR_DOMAIN_PAUSED_STARTING_UP as i32
    {
        return None;
    }
    Some(power_state(state))
}

fn info_of(id: ServerId, d: &VirDomain) -> Result<InstanceInfo, LibvirtError> {
    let i = d.get_info().map_err(|e| LibvirtError::from_virt("info", e))?;
    Ok(InstanceInfo {
        id,
        power_state: power_state(i.state),
        vcpus: i.nr_virt_cpu,
        memory_mb: i.max_mem / 1024,
    })
}

fn virt_err(op: &'static str) -> impl Fn(virt::error::Error) -> LibvirtError {
    move |e| LibvirtError::from_virt(op, e)
}

fn version_string(v: u32) -> String {
    format!("{}.{}.{}", v / 1_000_000, (v / 1000) % 1000, v % 1000)
}

fn version_code(v: &str) -> String {
    v.to_string()
}

impl LibvirtDriver {
    /// A driver for `cfg`, running tools with the system runner and dropping events.
    pub fn new(cfg: DriverConfig) -> Self {
        Self::with_parts(cfg, Arc::new(SystemRunner::new()), Arc::new(NullSink))
    }

    /// A driver with an explicit command runner and event sink; starts the state watcher.
    pub fn with_parts(
        cfg: DriverConfig,
        runner: Arc<dyn CommandRunner>,
        events: Arc<dyn EventSink>,
    ) -> Self {
        let mut caps = Capabilities::all();
        caps.live_migration = false;
        caps.disk_formats = vec!["raw".into(), "qcow2".into()];
        caps.config_drive = vec![ConfigDriveFormat::ConfigDriveV2, ConfigDriveFormat::NoCloud];
        caps.console = cfg.graphics.is_some();
        let poll = cfg.poll_interval;
        let shared = Arc::new(Shared {
            conn: Connection::new(cfg.uri.clone()),
            cfg,
            events,
            seen: Mutex::new(HashMap::new()),
        });
        // libvirt's lifecycle events, registered on every connection the driver opens.
        let weak = Arc::downgrade(&shared);
        shared.conn.on_open(Arc::new(move |c| {
            let weak = weak.clone();
            let handler: crate::events::Handler = Box::new(move |uuid, name, event, current| {
                let Some(s) = weak.upgrade() else { return };
                if !name.starts_with(&s.cfg.name_prefix) {
                    return;
                }
                // The event says something changed; the state read now says what is true
                // (events arrive after the operation that caused them has observed it).
                let now = match current {
                    Some((st, reason)) => match settled(st, reason) {
                        Some(PowerState::Shutdown)
                            if event == virt::sys::VIR_DOMAIN_EVENT_UNDEFINED =>
                        {
                            None
                        }
                        Some(ps) => Some(ps),
                        None => return,
                    },
                    None if event == virt::sys::VIR_DOMAIN_EVENT_UNDEFINED => None,
                    None => return,
                };
                s.observe(ServerId(uuid), now);
            });
            if let Err(e) = crate::events::register(c, handler) {
                tracing::warn!(error = %e, "no libvirt lifecycle events; relying on polling");
            }
        }));
        if !poll.is_zero() {
            let weak = Arc::downgrade(&shared);
            let _ = std::thread::Builder::new()
                .name("libvirt-watch".into())
                .spawn(move || watch(weak, poll));
        }
        LibvirtDriver {
            shared,
            runner,
            caps: Arc::new(caps),
            busy: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    /// Replaces the advertised capabilities (a connection that cannot do everything the
    /// hypervisor can, like libvirt's test driver refusing Xen disk hotplug).
    pub fn with_capabilities(mut self, caps: Capabilities) -> Self {
        self.caps = Arc::new(caps);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &DriverConfig {
        &self.shared.cfg
    }

    /// The connection (for callers that need libvirt directly, like the examples).
    pub fn connection(&self) -> &Connection {
        &self.shared.conn
    }

    fn name_(&self) -> &'static str {
        self.shared.cfg.driver_name
    }

    fn err(&self, op: &'static str) -> impl Fn(LibvirtError) -> ComputeError + '_ {
        move |e| e.into_compute(self.name_(), op)
    }

    /// The serial console log of an instance (when console logging is on).
    pub fn console_log_path(&self, id: ServerId) -> PathBuf {
        self.shared.cfg.instance_dir(id.as_uuid()).join("console.log")
    }

    /// The domain XML libvirt holds for an instance (live when running).
    pub async fn domain_xml(&self, id: ServerId) -> Result<String, ComputeError> {
        self.shared
            .conn
            .call(move |c| lookup(c, id)?.get_xml_desc(0).map_err(virt_err("dumpxml")))
            .await
            .map_err(self.err("read the domain XML"))
    }

    /// Renders the domain `spawn` would define for `spec` (local files at their usual paths),
    /// without touching libvirt or the disk.
    pub fn render_domain(&self, spec: &InstanceSpec) -> Result<String, ComputeError> {
        let files = self.local_paths(spec);
        builder::build_domain(&self.shared.cfg, spec, &files)
            .map(|d| d.to_xml())
            .map_err(self.err("render the domain"))
    }

    fn local_paths(&self, spec: &InstanceSpec) -> LocalFiles {
        let dir = self.shared.cfg.instance_dir(spec.id.as_uuid());
        LocalFiles {
            root_disk: spec.image.as_ref().map(|_| (dir.join("disk"), "qcow2".to_string())),
            config_drive: spec.config_drive.as_ref().map(|_| dir.join("disk.config")),
            console_log: Some(dir.join("console.log")),
        }
    }

    /// A richer host report (CPU model, versions, free memory).
    pub async fn host_report(&self) -> Result<HostReport, ComputeError> {
        let (node, free, hyp, lib, ty) = self
            .shared
            .conn
            .call(|c| {
                let node = c.get_node_info().map_err(virt_err("node info"))?;
                let free = c.get_free_memory().unwrap_or(0);
                let hyp = c.get_hyp_version().unwrap_or(0);
                let lib = c.get_lib_version().unwrap_or(0);
                let ty = c.get_type().unwrap_or_default();
                Ok((node, free, hyp, lib, ty))
            })
            .await
            .map_err(self.err("report host resources"))?;
        let disk_gb = self.disk_gb().await;
        Ok(HostReport {
            resources: HostResources { vcpus: node.cpus, memory_mb: node.memory / 1024, disk_gb },
            free_memory_mb: free / (1024 * 1024),
            cpu_model: node.model,
            cpu_topology: (node.sockets * node.nodes, node.cores, node.threads),
            hypervisor_version: version_code(&version_string(hyp)),
            libvirt_version: version_string(lib),
            hypervisor_type: ty,
        })
    }

    async fn disk_gb(&self) -> u64 {
        let dir = &self.shared.cfg.state_dir;
        if tokio::fs::create_dir_all(dir).await.is_err() {
            return 0;
        }
        let cmd = Command::new("df").arg("-Pk").arg(dir).timeout(Duration::from_secs(10));
        match self.runner.run(&cmd).await {
            Ok(out) => out
                .stdout_str()
                .lines()
                .nth(1)
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<u64>().ok())
                .map(|k| k / (1024 * 1024))
                .unwrap_or(0),
            Err(_) => 0,
        }
    }

    async fn observe(&self, id: ServerId) {
        let r = self.shared.conn.call(move |c| Ok(settled_state(&*lookup(c, id)?))).await;
        match r {
            Ok(Some(ps)) => self.shared.observe(id, Some(ps)),
            Ok(None) => {}
            Err(LibvirtError::NoDomain(_)) => self.shared.observe(id, None),
            Err(_) => {}
        }
    }

    async fn prepare_files(&self, spec: &InstanceSpec) -> Result<LocalFiles, LibvirtError> {
        let cfg = &self.shared.cfg;
        let dir = cfg.instance_dir(spec.id.as_uuid());
        // A directory without a domain is a leftover of an interrupted spawn.
        if tokio::fs::try_exists(&dir).await.unwrap_or(false) {
            tokio::fs::remove_dir_all(&dir).await?;
        }
        tokio::fs::create_dir_all(&dir).await?;
        let files = self.local_paths(spec);
        if let (Some(img), Some((disk, _))) = (&spec.image, &files.root_disk) {
            if !matches!(img.disk_format.as_str(), "raw" | "qcow2") {
                return Err(LibvirtError::Invalid(format!(
                    "image format {:?} is not raw or qcow2",
                    img.disk_format
                )));
            }
            let mut cmd = Command::new(&cfg.qemu_img)
                .args(["create", "-q", "-f", "qcow2", "-F", img.disk_format.as_str(), "-b"])
                .arg(&img.path)
                .arg(disk);
            let want = spec.flavor.disk_gb.saturating_mul(1024 * 1024 * 1024);
            if want > img.size {
                cmd = cmd.arg(want.to_string());
            }
            self.runner.run(&cmd.timeout(Duration::from_secs(60))).await?;
        }
        if let (Some(cd), Some(iso)) = (&spec.config_drive, &files.config_drive) {
            let src = dir.join("config-drive");
            for (rel, data) in &cd.files {
                let rel = Path::new(rel);
                if rel.is_absolute()
                    || rel.components().any(|c| !matches!(c, std::path::Component::Normal(_)))
                {
                    return Err(LibvirtError::Invalid(format!(
                        "config drive path {} escapes the drive",
                        rel.display()
                    )));
                }
                let p = src.join(rel);
                if let Some(parent) = p.parent() {
                    tokio::fs::create_dir_all(parent).await?;
                }
                tokio::fs::write(&p, data).await?;
            }
            tokio::fs::create_dir_all(&src).await?;
            let cmd = Command::new(&cfg.genisoimage)
                .args(["-quiet", "-o"])
                .arg(iso)
                .args(["-ldots", "-allow-lowercase", "-allow-multidot", "-l", "-J", "-r", "-V"])
                .arg(&cd.label)
                .args(["-publisher", "ferrostack"])
                .arg(&src)
                .timeout(Duration::from_secs(60));
            self.runner.run(&cmd).await?;
            tokio::fs::remove_dir_all(&src).await?;
        }
        if let Some(log) = &files.console_log {
            tokio::fs::write(log, b"").await?;
        }
        Ok(files)
    }

    async fn spawn_inner(&self, spec: &InstanceSpec) -> Result<InstanceInfo, LibvirtError> {
        let id = spec.id;
        {
            let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
            if !busy.insert(id) {
                return Err(LibvirtError::Exists(id.to_string()));
            }
        }
        let _guard = BusyGuard(self.busy.clone(), id);
        let cfg = self.shared.cfg.clone();
        let name = cfg.domain_name(id.as_uuid());
        let exists = self
            .shared
            .conn
            .call(move |c| match lookup(c, id) {
                Ok(_) => Ok(true),
                Err(LibvirtError::NoDomain(_)) => {
                    Ok(VirDomain::lookup_by_name(c, &name).map(Dom::new).is_ok())
                }
                Err(e) => Err(e),
            })
            .await?;
        if exists {
            return Err(LibvirtError::Exists(id.to_string()));
        }
        // Validate the whole definition before creating any file.
        builder::build_domain(&cfg, spec, &self.local_paths(spec))?;
        let result = async {
            let files = self.prepare_files(spec).await?;
            let xml = builder::build_domain(&cfg, spec, &files)?.to_xml();
            self.shared
                .conn
                .call(move |c| {
                    let d =
                        VirDomain::define_xml_flags(c, &xml, virt::sys::VIR_DOMAIN_DEFINE_VALIDATE)
                            .map(Dom::new)
                            .map_err(virt_err("define"))?;
                    if let Err(e) = d.create() {
                        let _ = undefine(&d);
                        return Err(LibvirtError::from_virt("start", e));
                    }
                    info_of(id, &d)
                })
                .await
        }
        .await;
        match result {
            Ok(info) => {
                self.shared.observe(id, Some(info.power_state));
                Ok(info)
            }
            Err(e) => {
                let _ = tokio::fs::remove_dir_all(cfg.instance_dir(id.as_uuid())).await;
                Err(e)
            }
        }
    }

    fn attachments_path(&self, id: ServerId) -> PathBuf {
        self.shared.cfg.instance_dir(id.as_uuid()).join("attachments.json")
    }

    async fn load_attachments(&self, id: ServerId) -> Result<Attachments, LibvirtError> {
        match tokio::fs::read(self.attachments_path(id)).await {
            Ok(b) => serde_json::from_slice(&b).map_err(LibvirtError::Record),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Attachments::default()),
            Err(e) => Err(e.into()),
        }
    }

    async fn store_attachments(&self, id: ServerId, a: &Attachments) -> Result<(), LibvirtError> {
        let p = self.attachments_path(id);
        if let Some(dir) = p.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let tmp = p.with_extension("json.tmp");
        let body = serde_json::to_vec_pretty(a).map_err(LibvirtError::Record)?;
        tokio::fs::write(&tmp, body).await?;
        tokio::fs::rename(&tmp, &p).await?;
        Ok(())
    }

    async fn attach_xml(&self, id: ServerId, xml: String) -> Result<(), LibvirtError> {
        self.shared
            .conn
            .call(move |c| {
                let d = lookup(c, id)?;
                let live = d.is_active().unwrap_or(false);
                let flags = virt::sys::VIR_DOMAIN_AFFECT_CONFIG
                    | if live { virt::sys::VIR_DOMAIN_AFFECT_LIVE } else { 0 };
                match d.attach_device_flags(&xml, flags) {
                    Ok(_) => Ok(()),
                    // Drivers that change only one side (the test driver: live only).
                    Err(e) if live && e.message().contains("unsupported flags") => d
                        .attach_device_flags(&xml, virt::sys::VIR_DOMAIN_AFFECT_LIVE)
                        .map(|_| ())
                        .map_err(virt_err("attach a device")),
                    Err(e) => Err(LibvirtError::from_virt("attach a device", e)),
                }
            })
            .await
    }

    async fn detach_xml(
        &self,
        id: ServerId,
        xml: String,
        select: (&'static str, &'static str, &'static str, String),
    ) -> Result<(), LibvirtError> {
        self.shared
            .conn
            .call(move |c| {
                let d = lookup(c, id)?;
                let live = d.is_active().unwrap_or(false);
                let flags = virt::sys::VIR_DOMAIN_AFFECT_CONFIG
                    | if live { virt::sys::VIR_DOMAIN_AFFECT_LIVE } else { 0 };
                match d.detach_device_flags(&xml, flags) {
                    Ok(_) => Ok(()),
                    // Drivers that change only one side (the test driver: live only).
                    // Connections without device detach (the test driver): take the
                    // device out of the persistent definition (effective at the next boot).
                    Err(e) if matches!(e.code(), virt::error::ErrorNumber::NoSupport) => {
                        let (name, child, key, value) = &select;
                        let inactive = d
                            .get_xml_desc(virt::sys::VIR_DOMAIN_XML_INACTIVE)
                            .map_err(virt_err("dumpxml"))?;
                        let (new, n) = xml::remove_device(&inactive, name, child, key, value)
                            .map_err(|e| LibvirtError::Invalid(format!("domain XML: {e}")))?;
                        if n > 0 {
                            VirDomain::define_xml(c, &new)
                                .map(Dom::new)
                                .map_err(virt_err("define"))?;
                            return Ok(());
                        }
                        // Attached live only: it goes with the next power cycle.
                        let current = d.get_xml_desc(0).map_err(virt_err("dumpxml"))?;
                        match xml::remove_device(&current, name, child, key, value) {
                            Ok((_, n)) if n > 0 => Ok(()),
                            _ => Err(LibvirtError::NotAttached(format!("{name} {value}"))),
                        }
                    }
                    Err(e) => Err(LibvirtError::from_virt("detach a device", e)),
                }
            })
            .await
    }

    async fn power_off_inner(&self, id: ServerId) -> Result<(), LibvirtError> {
        let timeout = self.shared.cfg.shutdown_timeout;
        self.shared
            .conn
            .call(move |c| {
                let d = lookup(c, id)?;
                if !d.is_active().map_err(virt_err("state"))? {
                    return Ok(());
                }
                if !timeout.is_zero() && d.shutdown().is_ok() {
                    let deadline = std::time::Instant::now() + timeout;
                    while std::time::Instant::now() < deadline {
                        if !d.is_active().unwrap_or(true) {
                            return Ok(());
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
                match d.destroy() {
                    Ok(()) => Ok(()),
                    // It went off between the check and the destroy.
                    Err(_) if !d.is_active().unwrap_or(true) => Ok(()),
                    Err(e) => Err(LibvirtError::from_virt("destroy", e)),
                }
            })
            .await
    }
}

/// Undefines with managed save, snapshot metadata and NVRAM; connections that refuse those
/// flags (the test driver, libxl) get a plain undefine.
fn undefine(d: &VirDomain) -> Result<(), LibvirtError> {
    let flags = virt::sys::VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
        | virt::sys::VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
        | virt::sys::VIR_DOMAIN_UNDEFINE_NVRAM;
    let gone = |e: &virt::error::Error| matches!(e.code(), virt::error::ErrorNumber::NoDomain);
    match d.undefine_flags(flags) {
        Ok(()) => Ok(()),
        // Transient domains vanish on destroy.
        Err(e) if gone(&e) => Ok(()),
        Err(_) => match d.undefine() {
            Ok(()) => Ok(()),
            Err(e) if gone(&e) => Ok(()),
            Err(e) => Err(LibvirtError::from_virt("undefine", e)),
        },
    }
}

/// The watcher: polls every `every` until the driver is dropped.
fn watch(shared: Weak<Shared>, every: Duration) {
    loop {
        std::thread::sleep(every);
        let Some(s) = shared.upgrade() else { return };
        let prefix = s.cfg.name_prefix.clone();
        let states = s.conn.call_blocking(|c| {
            let doms = c.list_all_domains(0).map_err(virt_err("list"))?;
            let doms: Vec<Dom> = doms.into_iter().map(Dom::new).collect();
            let mut out = Vec::new();
            for d in doms {
                let Ok(name) = d.get_name() else { continue };
                if !name.starts_with(&prefix) {
                    continue;
                }
                let Ok(uuid) = d.get_uuid() else { continue };
                out.push((ServerId(uuid), settled_state(&d)));
            }
            Ok(out)
        });
        let Ok(states) = states else { continue };
        let known: Vec<ServerId> =
            s.seen.lock().unwrap_or_else(|e| e.into_inner()).keys().copied().collect();
        let present: HashSet<ServerId> = states.iter().map(|(id, _)| *id).collect();
        for (id, ps) in states {
            if ps.is_some() {
                s.observe(id, ps);
            }
        }
        for id in known {
            if !present.contains(&id) {
                s.observe(id, None);
            }
        }
    }
}

#[async_trait::async_trait]
impl Hypervisor for LibvirtDriver {
    fn name(&self) -> &'static str {
        self.name_()
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    async fn resources(&self) -> Result<HostResources, ComputeError> {
        Ok(self.host_report().await?.resources)
    }

    async fn spawn(&self, spec: &InstanceSpec) -> Result<InstanceInfo, ComputeError> {
        self.spawn_inner(spec).await.map_err(self.err("spawn"))
    }

    async fn destroy(&self, id: ServerId) -> Result<(), ComputeError> {
        let r = self
            .shared
            .conn
            .call(move |c| {
                let d = match lookup(c, id) {
                    Ok(d) => d,
                    Err(LibvirtError::NoDomain(_)) => return Ok(()),
                    Err(e) => return Err(e),
                };
                if d.is_active().unwrap_or(false)
                    && let Err(e) = d.destroy()
                    && d.is_active().unwrap_or(true)
                {
                    return Err(LibvirtError::from_virt("destroy", e));
                }
                undefine(&d)
            })
            .await;
        r.map_err(self.err("destroy"))?;
        let dir = self.shared.cfg.instance_dir(id.as_uuid());
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(LibvirtError::Io(e).into_compute(self.name_(), "destroy")),
        }
        self.shared.observe(id, None);
        Ok(())
    }

    async fn power_off(&self, id: ServerId) -> Result<(), ComputeError> {
        self.power_off_inner(id).await.map_err(self.err("power off"))?;
        self.observe(id).await;
        Ok(())
    }

    async fn power_on(&self, id: ServerId) -> Result<(), ComputeError> {
        self.shared
            .conn
            .call(move |c| {
                let d = lookup(c, id)?;
                if d.is_active().map_err(virt_err("state"))? {
                    return Ok(());
                }
                d.create().map_err(virt_err("start"))?;
                Ok(())
            })
            .await
            .map_err(self.err("power on"))?;
        self.observe(id).await;
        Ok(())
    }

    async fn reboot(&self, id: ServerId, kind: RebootKind) -> Result<(), ComputeError> {
        let r = match kind {
            RebootKind::Soft => {
                self.shared
                    .conn
                    .call(move |c| {
                        let d = lookup(c, id)?;
                        if !d.is_active().map_err(virt_err("state"))? {
                            d.create().map_err(virt_err("start"))?;
                            return Ok(());
                        }
                        d.reboot(0).map_err(virt_err("reboot"))
                    })
                    .await
            }
            RebootKind::Hard => {
                // A power cycle: destroy, then start from the persistent definition.
                self.shared
                    .conn
                    .call(move |c| {
                        let d = lookup(c, id)?;
                        if d.is_active().map_err(virt_err("state"))? {
                            d.destroy().map_err(virt_err("destroy"))?;
                        }
                        d.create().map_err(virt_err("start"))?;
                        Ok(())
                    })
                    .await
            }
        };
        r.map_err(self.err("reboot"))?;
        self.observe(id).await;
        Ok(())
    }

    async fn info(&self, id: ServerId) -> Result<InstanceInfo, ComputeError> {
        self.shared
            .conn
            .call(move |c| info_of(id, &*lookup(c, id)?))
            .await
            .map_err(self.err("read instance info"))
    }

    async fn list(&self) -> Result<Vec<InstanceInfo>, ComputeError> {
        let prefix = self.shared.cfg.name_prefix.clone();
        self.shared
            .conn
            .call(move |c| {
                let doms = c.list_all_domains(0).map_err(virt_err("list"))?;
                let doms: Vec<Dom> = doms.into_iter().map(Dom::new).collect();
                let mut out = Vec::new();
                for d in doms {
                    let name = d.get_name().map_err(virt_err("list"))?;
                    if !name.starts_with(&prefix) {
                        continue;
                    }
                    let uuid = d.get_uuid().map_err(virt_err("list"))?;
                    match info_of(ServerId(uuid), &d) {
                        Ok(i) => out.push(i),
                        // Gone between the listing and the info call.
                        Err(LibvirtError::NoDomain(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(out)
            })
            .await
            .map_err(self.err("list instances"))
    }

    async fn attach_volume(&self, id: ServerId, device: &BlockDevice) -> Result<(), ComputeError> {
        let e = self.err("attach a volume");
        let mut att = self.load_attachments(id).await.map_err(&e)?;
        if att.volumes.contains_key(&device.volume_id) {
            return Err(ComputeError::Conflict(format!(
                "volume {} is already attached",
                device.volume_id
            )));
        }
        let disk = builder::volume_disk(&self.shared.cfg, device).map_err(&e)?;
        let xml = disk.to_elem().render();
        // Fails with NotFound for an unknown instance before anything is recorded.
        self.attach_xml(id, xml.clone()).await.map_err(&e)?;
        att.volumes.insert(device.volume_id, xml);
        self.store_attachments(id, &att).await.map_err(&e)
    }

    async fn detach_volume(&self, id: ServerId, volume: VolumeId) -> Result<(), ComputeError> {
        let e = self.err("detach a volume");
        let mut att = self.load_attachments(id).await.map_err(&e)?;
        let xml = att
            .volumes
            .get(&volume)
            .cloned()
            .ok_or_else(|| e(LibvirtError::NotAttached(format!("volume {volume}"))))?;
        let dev = xml::find_attrs(&xml, &["disk"], "target")
            .first()
            .and_then(|a| xml::attr(a, "dev").map(String::from))
            .unwrap_or_default();
        self.detach_xml(id, xml, ("disk", "target", "dev", dev)).await.map_err(&e)?;
        att.volumes.remove(&volume);
        self.store_attachments(id, &att).await.map_err(&e)
    }

    async fn attach_interface(&self, id: ServerId, vif: &Vif) -> Result<(), ComputeError> {
        let e = self.err("attach an interface");
        let mut att = self.load_attachments(id).await.map_err(&e)?;
        if att.ports.contains_key(&vif.port_id) {
            return Err(ComputeError::Conflict(format!("port {} is already plugged", vif.port_id)));
        }
        let xml = builder::vif_interface(&self.shared.cfg, vif).map_err(&e)?.to_elem().render();
        self.attach_xml(id, xml.clone()).await.map_err(&e)?;
        att.ports.insert(vif.port_id, xml);
        self.store_attachments(id, &att).await.map_err(&e)
    }

    async fn detach_interface(&self, id: ServerId, port: PortId) -> Result<(), ComputeError> {
        let e = self.err("detach an interface");
        let mut att = self.load_attachments(id).await.map_err(&e)?;
        let xml = att
            .ports
            .get(&port)
            .cloned()
            .ok_or_else(|| e(LibvirtError::NotAttached(format!("port {port}"))))?;
        let mac = xml::find_attrs(&xml, &["interface"], "mac")
            .first()
            .and_then(|a| xml::attr(a, "address").map(String::from))
            .unwrap_or_default();
        self.detach_xml(id, xml, ("interface", "mac", "address", mac)).await.map_err(&e)?;
        att.ports.remove(&port);
        self.store_attachments(id, &att).await.map_err(&e)
    }

    fn console(&self) -> Option<Arc<dyn Console>> {
        // Without a remote display there is no console URL to hand out.
        self.caps.console.then(|| Arc::new(self.clone()) as Arc<dyn Console>)
    }

    fn snapshots(&self) -> Option<Arc<dyn Snapshots>> {
        Some(Arc::new(self.clone()))
    }

    fn live_migration(&self) -> Option<Arc<dyn LiveMigration>> {
        None
    }
}

#[async_trait::async_trait]
impl Console for LibvirtDriver {
    async fn console_url(&self, id: ServerId, protocol: &str) -> Result<String, ComputeError> {
        let xml = self.domain_xml(id).await?;
        match protocol {
            "vnc" | "spice" => {
                let g = xml::find_attrs(&xml, &["domain", "devices"], "graphics");
                let g = g
                    .iter()
                    .find(|a| xml::attr(a, "type") == Some(protocol))
                    .ok_or_else(|| ComputeError::NotSupported(format!("{protocol} console")))?;
                let host = xml::attr(g, "listen").unwrap_or("127.0.0.1");
                match xml::attr(g, "port").and_then(|p| p.parse::<i32>().ok()) {
                    Some(p) if p > 0 => Ok(format!("{protocol}://{host}:{p}")),
                    // libvirt allocates the port at start; the test driver never does.
                    _ => Ok(format!("{protocol}://{host}/?domain={id}")),
                }
            }
            "serial" => {
                // Serial port 0, else the console (Xen PV guests have only hvc0).
                let mut s = xml::find_attrs(&xml, &["domain", "devices", "serial"], "source");
                s.extend(xml::find_attrs(&xml, &["domain", "devices", "console"], "source"));
                s.iter()
                    .find_map(|a| xml::attr(a, "path").map(|p| format!("pty://{p}")))
                    .ok_or_else(|| {
                        ComputeError::Conflict(format!("instance {id} has no serial console now"))
                    })
            }
            other => Err(ComputeError::NotSupported(format!("{other} console"))),
        }
    }

    async fn console_output(
        &self,
        id: ServerId,
        lines: Option<u32>,
    ) -> Result<String, ComputeError> {
        // Unknown instances are NotFound, as for every other call.
        self.domain_xml(id).await?;
        let log = self.console_log_path(id);
        match tokio::fs::read(&log).await {
            Ok(bytes) => Ok(ferrostack_compute::hypervisor::console_tail(&bytes, lines)),
            // Nothing written yet (or console logging off).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(LibvirtError::Io(e).into_compute(self.name_(), "console_output")),
        }
    }
}

#[async_trait::async_trait]
impl Snapshots for LibvirtDriver {
    async fn snapshot(&self, id: ServerId, dest: &Path) -> Result<String, ComputeError> {
        let e = self.err("snapshot");
        let disk = self.shared.cfg.instance_dir(id.as_uuid()).join("disk");
        let running = self.info(id).await?.power_state == PowerState::Running;
        if !tokio::fs::try_exists(&disk).await.unwrap_or(false) {
            return Err(ComputeError::NotSupported(
                "snapshots of instances without a local root disk".into(),
            ));
        }
        // Pause for a consistent image; the instance keeps its power state afterwards.
        if running {
            self.shared
                .conn
                .call(move |c| lookup(c, id)?.suspend().map(|_| ()).map_err(virt_err("pause")))
                .await
                .map_err(&e)?;
        }
        let cmd = Command::new(&self.shared.cfg.qemu_img)
            .args(["convert", "-U", "-f", "qcow2", "-O", "qcow2"])
            .arg(&disk)
            .arg(dest)
            .timeout(Duration::from_secs(3600));
        let r = self.runner.run(&cmd).await.map_err(LibvirtError::from);
        if running {
            self.shared
                .conn
                .call(move |c| lookup(c, id)?.resume().map(|_| ()).map_err(virt_err("resume")))
                .await
                .map_err(&e)?;
        }
        r.map_err(&e)?;
        Ok("qcow2".into())
    }
}
