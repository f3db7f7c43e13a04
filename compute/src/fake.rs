// SPDX-License-Identifier: Apache-2.0
//! [`FakeHypervisor`]: a **fake** driver that keeps instances in memory. It never runs a
//! guest. It exists for tests, examples and the embedded minicloud, and supports failure
//! injection per operation so orchestration code can be tested at every step.

use crate::error::ComputeError;
use crate::hypervisor::{
    BlockDevice, Capabilities, Console, EventSink, HostResources, Hypervisor, InstanceInfo,
    InstanceSpec, LifecycleEvent, LiveMigration, NullSink, RebootKind, Snapshots,
};
use crate::types::{PowerState, Vif};
use ferrostack_core::id::{PortId, ServerId, VolumeId};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// An operation of the fake, for failure injection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FakeOp {
    /// `spawn`.
    Spawn,
    /// `destroy`.
    Destroy,
    /// `power_off`.
    PowerOff,
    /// `power_on`.
    PowerOn,
    /// `reboot`.
    Reboot,
    /// `attach_volume`.
    AttachVolume,
    /// `detach_volume`.
    DetachVolume,
    /// `attach_interface`.
    AttachInterface,
    /// `detach_interface`.
    DetachInterface,
    /// `snapshot`.
    Snapshot,
}

/// One fake domain.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeDomain {
    /// The spec it was spawned from.
    pub spec: InstanceSpec,
    /// Its power state.
    pub power_state: PowerState,
    /// Attached volumes.
    pub volumes: BTreeMap<VolumeId, BlockDevice>,
    /// Plugged interfaces.
    pub vifs: BTreeMap<PortId, Vif>,
}

#[derive(Debug, Default)]
struct State {
    domains: HashMap<ServerId, FakeDomain>,
    failures: HashMap<FakeOp, u32>,
}

/// A fake hypervisor (see the module docs). Cheap to clone; clones share state.
#[derive(Debug, Clone)]
pub struct FakeHypervisor {
    state: Arc<Mutex<State>>,
    caps: Arc<Capabilities>,
    resources: HostResources,
    events: Arc<dyn EventSink>,
}

impl Default for FakeHypervisor {
    fn default() -> Self {
        Self::new(HostResources { vcpus: 16, memory_mb: 32768, disk_gb: 500 })
    }
}

impl FakeHypervisor {
    /// A fake host with `resources`, every capability but live migration, and no event sink.
    pub fn new(resources: HostResources) -> Self {
        FakeHypervisor {
            state: Arc::new(Mutex::new(State::default())),
            caps: Arc::new(Capabilities::all()),
            resources,
            events: Arc::new(NullSink),
        }
    }

    /// Sends lifecycle events to `sink`.
    pub fn with_event_sink(mut self, sink: Arc<dyn EventSink>) -> Self {
        self.events = sink;
        self
    }

    /// Replaces the advertised capabilities.
    pub fn with_capabilities(mut self, caps: Capabilities) -> Self {
        self.caps = Arc::new(caps);
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes the next `times` calls of `op` fail.
    pub fn fail_next(&self, op: FakeOp, times: u32) {
        self.lock().failures.insert(op, times);
    }

    /// Clears injected failures.
    pub fn clear_failures(&self) {
        self.lock().failures.clear();
    }

    /// A copy of a domain, if it exists.
    pub fn domain(&self, id: ServerId) -> Option<FakeDomain> {
        self.lock().domains.get(&id).cloned()
    }

    /// The number of domains.
    pub fn domain_count(&self) -> usize {
        self.lock().domains.len()
    }

    /// Changes a domain's power state behind the control plane's back (a guest shutting
    /// itself down, a crash), emitting the matching event. Returns false if unknown.
    pub fn set_power_state(&self, id: ServerId, ps: PowerState) -> bool {
        let found = {
            let mut st = self.lock();
            match st.domains.get_mut(&id) {
                Some(d) => {
                    d.power_state = ps;
                    true
                }
                None => false,
            }
        };
        if found {
            let ev = match ps {
                PowerState::Running => LifecycleEvent::Started,
                PowerState::Paused => LifecycleEvent::Paused,
                PowerState::Suspended => LifecycleEvent::Suspended,
                PowerState::Crashed => LifecycleEvent::Crashed,
                _ => LifecycleEvent::Stopped,
            };
            self.events.emit(id, ev);
        }
        found
    }

    /// Removes a domain behind the control plane's back (a host reboot losing it).
    pub fn vanish(&self, id: ServerId) -> bool {
        self.lock().domains.remove(&id).is_some()
    }

    /// Creates a domain the control plane does not know about (a ghost).
    pub fn inject_domain(&self, spec: InstanceSpec, ps: PowerState) {
        let id = spec.id;
        self.lock().domains.insert(
            id,
            FakeDomain { spec, power_state: ps, volumes: BTreeMap::new(), vifs: BTreeMap::new() },
        );
    }

    fn check(&self, op: FakeOp) -> Result<(), ComputeError> {
        let mut st = self.lock();
        if let Some(n) = st.failures.get_mut(&op)
            && *n > 0
        {
            *n -= 1;
            return Err(ComputeError::Hypervisor {
                driver: "fake",
                op: op_name(op),
                source: format!("injected failure of {op:?}").into(),
            });
        }
        Ok(())
    }

    fn with_domain<R>(
        &self,
        id: ServerId,
        f: impl FnOnce(&mut FakeDomain) -> R,
    ) -> Result<R, ComputeError> {
        let mut st = self.lock();
        st.domains.get_mut(&id).map(f).ok_or_else(|| ComputeError::instance_not_found(id))
    }
}

fn op_name(op: FakeOp) -> &'static str {
    match op {
        FakeOp::Spawn => "spawn",
        FakeOp::Destroy => "destroy",
        FakeOp::PowerOff => "power off",
        FakeOp::PowerOn => "power on",
        FakeOp::Reboot => "reboot",
        FakeOp::AttachVolume => "attach a volume",
        FakeOp::DetachVolume => "detach a volume",
        FakeOp::AttachInterface => "attach an interface",
        FakeOp::DetachInterface => "detach an interface",
        FakeOp::Snapshot => "snapshot",
    }
}

fn info_of(id: ServerId, d: &FakeDomain) -> InstanceInfo {
    InstanceInfo {
        id,
        power_state: d.power_state,
        vcpus: d.spec.flavor.vcpus,
        memory_mb: d.spec.flavor.ram_mb,
    }
}

#[async_trait::async_trait]
impl Hypervisor for FakeHypervisor {
    fn name(&self) -> &'static str {
        "fake"
    }
    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }
    async fn resources(&self) -> Result<HostResources, ComputeError> {
        Ok(self.resources.clone())
    }
    async fn spawn(&self, spec: &InstanceSpec) -> Result<InstanceInfo, ComputeError> {
        self.check(FakeOp::Spawn)?;
        if let Some(img) = &spec.image
            && !self.caps.disk_formats.contains(&img.disk_format)
        {
            return Err(ComputeError::NotSupported(format!("disk format {}", img.disk_format)));
        }
        let info = {
            let mut st = self.lock();
            if st.domains.contains_key(&spec.id) {
                return Err(ComputeError::AlreadyExists(format!("instance {} exists", spec.id)));
            }
            let d = FakeDomain {
                spec: spec.clone(),
                power_state: PowerState::Running,
                volumes: spec.block_devices.iter().map(|b| (b.volume_id, b.clone())).collect(),
                vifs: spec.vifs.iter().map(|v| (v.port_id, v.clone())).collect(),
            };
            let info = info_of(spec.id, &d);
            st.domains.insert(spec.id, d);
            info
        };
        self.events.emit(spec.id, LifecycleEvent::Started);
        Ok(info)
    }
    async fn destroy(&self, id: ServerId) -> Result<(), ComputeError> {
        self.check(FakeOp::Destroy)?;
        if self.lock().domains.remove(&id).is_some() {
            self.events.emit(id, LifecycleEvent::Stopped);
        }
        Ok(())
    }
    async fn power_off(&self, id: ServerId) -> Result<(), ComputeError> {
        self.check(FakeOp::PowerOff)?;
        let changed = self.with_domain(id, |d| {
            let was = d.power_state;
            d.power_state = PowerState::Shutdown;
            was != PowerState::Shutdown
        })?;
        if changed {
            self.events.emit(id, LifecycleEvent::Stopped);
        }
        Ok(())
    }
    async fn power_on(&self, id: ServerId) -> Result<(), ComputeError> {
        self.check(FakeOp::PowerOn)?;
        let changed = self.with_domain(id, |d| {
            let was = d.power_state;
            d.power_state = PowerState::Running;
            was != PowerState::Running
        })?;
        if changed {
            self.events.emit(id, LifecycleEvent::Started);
        }
        Ok(())
    }
    async fn reboot(&self, id: ServerId, _kind: RebootKind) -> Result<(), ComputeError> {
        self.check(FakeOp::Reboot)?;
        self.with_domain(id, |d| d.power_state = PowerState::Running)?;
        self.events.emit(id, LifecycleEvent::Started);
        Ok(())
    }
    async fn info(&self, id: ServerId) -> Result<InstanceInfo, ComputeError> {
        self.with_domain(id, |d| info_of(id, d))
    }
    async fn list(&self) -> Result<Vec<InstanceInfo>, ComputeError> {
        let st = self.lock();
        let mut v: Vec<_> = st.domains.iter().map(|(id, d)| info_of(*id, d)).collect();
        v.sort_by_key(|i| i.id.to_string());
        Ok(v)
    }
    async fn attach_volume(&self, id: ServerId, device: &BlockDevice) -> Result<(), ComputeError> {
        self.check(FakeOp::AttachVolume)?;
        self.with_domain(id, |d| {
            if d.volumes.contains_key(&device.volume_id) {
                return Err(ComputeError::Conflict(format!(
                    "volume {} is already attached",
                    device.volume_id
                )));
            }
            d.volumes.insert(device.volume_id, device.clone());
            Ok(())
        })?
    }
    async fn detach_volume(&self, id: ServerId, volume: VolumeId) -> Result<(), ComputeError> {
        self.check(FakeOp::DetachVolume)?;
        self.with_domain(id, |d| {
            d.volumes
                .remove(&volume)
                .map(|_| ())
                .ok_or(ComputeError::NotFound { what: "Volume attachment", id: volume.to_string() })
        })?
    }
    async fn attach_interface(&self, id: ServerId, vif: &Vif) -> Result<(), ComputeError> {
        self.check(FakeOp::AttachInterface)?;
        self.with_domain(id, |d| {
            d.vifs.insert(vif.port_id, vif.clone());
        })
    }
    async fn detach_interface(&self, id: ServerId, port: PortId) -> Result<(), ComputeError> {
        self.check(FakeOp::DetachInterface)?;
        self.with_domain(id, |d| {
            d.vifs
                .remove(&port)
                .map(|_| ())
                .ok_or(ComputeError::NotFound { what: "Port", id: port.to_string() })
        })?
    }
    fn console(&self) -> Option<Arc<dyn Console>> {
        Some(Arc::new(self.clone()))
    }
    fn snapshots(&self) -> Option<Arc<dyn Snapshots>> {
        Some(Arc::new(self.clone()))
    }
    fn live_migration(&self) -> Option<Arc<dyn LiveMigration>> {
        None
    }
}

#[async_trait::async_trait]
impl Console for FakeHypervisor {
    async fn console_url(&self, id: ServerId, protocol: &str) -> Result<String, ComputeError> {
        self.info(id).await?;
        match protocol {
            "vnc" | "novnc" => Ok(format!("http://127.0.0.1:6080/vnc_auto.html?token=fake-{id}")),
            "serial" => Ok(format!("ws://127.0.0.1:6083/?token=fake-{id}")),
            "spice" => Ok(format!("http://127.0.0.1:6082/spice_auto.html?token=fake-{id}")),
            other => Err(ComputeError::NotSupported(format!("console protocol {other}"))),
        }
    }

    async fn console_output(
        &self,
        id: ServerId,
        lines: Option<u32>,
    ) -> Result<String, ComputeError> {
        let info = self.info(id).await?;
        let log = format!("fake console of {id}\npower state {:?}\n", info.power_state);
        Ok(crate::hypervisor::console_tail(log.as_bytes(), lines))
    }
}

#[async_trait::async_trait]
impl Snapshots for FakeHypervisor {
    async fn snapshot(&self, id: ServerId, dest: &std::path::Path) -> Result<String, ComputeError> {
        self.check(FakeOp::Snapshot)?;
        let image = self.with_domain(id, |d| d.spec.image.clone())?;
        let content = match &image {
            Some(img) => tokio::fs::read(&img.path).await.unwrap_or_default(),
            None => Vec::new(),
        };
        tokio::fs::write(dest, &content).await.map_err(|e| ComputeError::Hypervisor {
            driver: "fake",
            op: "snapshot",
            source: Box::new(e),
        })?;
        Ok(image.map_or_else(|| "raw".into(), |i| i.disk_format))
    }
}
