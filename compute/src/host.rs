// SPDX-License-Identifier: Apache-2.0
//! [`ComputeHost`]: the per-host manager. It receives [`HostRequest`]s on `compute.<host>`,
//! builds instances (ports, volume attachments, image cache, spawn) with a clean rollback at
//! any step, reports resources to [`Placement`], syncs power states with Nova's rules and
//! reconciles ghosts (see [`ComputeHost::reconcile`]).

use crate::db::ComputeDb;
use crate::error::ComputeError;
use crate::hypervisor::{
    BlockDevice, CachedImage, ConfigDrive, ConfigDriveFormat, Hypervisor, InstanceSpec,
};
use crate::placement::{Placement, Resources};
use crate::ports::{Connector, ImagePort, NetworkPort, VolumePort};
use crate::rpc::{Envelope, HostRequest, host_topic, version_compatible};
use crate::types::{
    AttachmentId, Fault, Flavor, PowerState, Server, TaskState, Vif, VmState, VolumeAttachment,
};
use base64::Engine;
use ferrostack_core::RequestContext;
use ferrostack_core::bus::{Bus, Delivery, RemoteError};
use ferrostack_core::error::Classify;
use ferrostack_core::id::{ImageId, PortId, ProjectId, ServerId, UserId, VolumeId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use time::OffsetDateTime;

/// What the reconciler does about one ghost case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GhostAction {
    /// Remove it: destroy the domain (cases a, c) or the record (case b).
    Reap,
    /// Stop it: power the domain off (a, c), or mark the record stopped (b).
    Stop,
    /// Take it over: create a record for an unknown domain (c only; others log).
    Adopt,
    /// Only report it.
    Log,
}

/// A ghost: the record and the hypervisor disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GhostCase {
    /// (a) Deleted in the records but the domain still runs.
    DeletedButRunning,
    /// (b) Active (or stopped) in the records but no domain.
    MissingDomain,
    /// (c) A domain the records never knew.
    UnknownDomain,
}

/// One thing the reconciler found and did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GhostFinding {
    /// The instance.
    pub id: ServerId,
    /// Which case.
    pub case: GhostCase,
    /// What was done.
    pub action: GhostAction,
    /// Whether the action succeeded.
    pub ok: bool,
}

/// The per-host configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostConfig {
    /// The host name (topic `compute.<name>`).
    pub name: String,
    /// Its availability zone.
    pub availability_zone: String,
    /// The image cache directory.
    pub image_cache_dir: PathBuf,
    /// The host IP for volume connectors.
    pub ip: String,
    /// Case (a): Nova's `running_deleted_instance_action` (default reap).
    pub running_deleted_action: GhostAction,
    /// Case (b): Nova only logs.
    pub missing_domain_action: GhostAction,
    /// Case (c): Nova only warns.
    pub unknown_domain_action: GhostAction,
    /// The project adopted domains are recorded under.
    pub adopt_project: Option<ProjectId>,
    /// Config drive format when a server asks for one.
    pub config_drive_format: ConfigDriveFormat,
}

impl HostConfig {
    /// Nova's defaults for a host called `name` with its cache under `cache_dir`.
    pub fn new(name: &str, cache_dir: impl Into<PathBuf>) -> Self {
        HostConfig {
            name: name.into(),
            availability_zone: "nova".into(),
            image_cache_dir: cache_dir.into(),
            ip: "127.0.0.1".into(),
            running_deleted_action: GhostAction::Reap,
            missing_domain_action: GhostAction::Log,
            unknown_domain_action: GhostAction::Log,
            adopt_project: None,
            config_drive_format: ConfigDriveFormat::ConfigDriveV2,
        }
    }
}

/// The services a host uses.
#[derive(Debug, Clone)]
pub struct HostDeps {
    /// Shared records.
    pub db: ComputeDb,
    /// The bus.
    pub bus: Arc<dyn Bus>,
    /// The driver.
    pub hypervisor: Arc<dyn Hypervisor>,
    /// Placement.
    pub placement: Arc<dyn Placement>,
    /// Images.
    pub images: Arc<dyn ImagePort>,
    /// Volumes.
    pub volumes: Arc<dyn VolumePort>,
    /// Networks.
    pub networks: Arc<dyn NetworkPort>,
}

/// The per-host manager (see the module docs).
#[derive(Debug)]
pub struct ComputeHost {
    cfg: HostConfig,
    deps: HostDeps,
}

/// A running host's message loop; dropping it stops the loop (the host stays "up" in
/// placement until [`HostHandle::shutdown`] reports it down).
#[derive(Debug)]
pub struct HostHandle {
    host: Arc<ComputeHost>,
    task: tokio::task::JoinHandle<()>,
}

impl HostHandle {
    /// The host.
    pub fn host(&self) -> &Arc<ComputeHost> {
        &self.host
    }
    /// Stops the loop and reports the host down.
    pub async fn shutdown(self) -> Result<(), ComputeError> {
        self.task.abort();
        self.host.report(false).await
    }
}

impl Drop for HostHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the power-state sync changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Records whose power_state was copied from the hypervisor.
    pub power_updated: Vec<ServerId>,
    /// Instances stopped through the API path (active but shut down/crashed/suspended).
    pub stopped: Vec<ServerId>,
    /// Instances force-stopped (stopped/paused in the records but running).
    pub force_stopped: Vec<ServerId>,
}

#[derive(Default)]
struct Cleanup {
    created_ports: Vec<PortId>,
    bound_ports: Vec<PortId>,
    attachments: Vec<AttachmentId>,
    spawned: bool,
}

fn fault(e: &ComputeError) -> Fault {
    Fault {
        code: e.kind().http_status(),
        message: e.to_string(),
        created: OffsetDateTime::now_utc(),
    }
}

/// Records `e` as the server's fault and ends its task; `vm_state`, when given, is the
/// state the failure leaves it in (ERROR when the instance can no longer be trusted).
async fn record_fault(
    d: &HostDeps,
    id: ServerId,
    e: &ComputeError,
    vm_state: Option<VmState>,
) -> Result<(), ComputeError> {
    let f = fault(e);
    d.db.update_server(id, |s| {
        if let Some(v) = vm_state {
            s.vm_state = v;
        }
        s.task_state = None;
        s.fault = Some(f.clone());
        Ok(())
    })
    .await?;
    Ok(())
}

/// The state a server settles in once a resize is confirmed or reverted: ACTIVE when it runs,
/// STOPPED otherwise.
fn settled(power: PowerState) -> VmState {
    if power == PowerState::Running { VmState::Active } else { VmState::Stopped }
}

impl ComputeHost {
    /// A host.
    pub fn new(cfg: HostConfig, deps: HostDeps) -> Self {
        ComputeHost { cfg, deps }
    }

    /// The host name.
    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// The configuration.
    pub fn config(&self) -> &HostConfig {
        &self.cfg
    }

    /// The driver.
    pub fn hypervisor(&self) -> &Arc<dyn Hypervisor> {
        &self.deps.hypervisor
    }

    /// Reports capacity and liveness to placement.
    pub async fn report(&self, up: bool) -> Result<(), ComputeError> {
        let r = self.deps.hypervisor.resources().await?;
        let total =
            Resources { vcpus: u64::from(r.vcpus), ram_mb: r.memory_mb, disk_gb: r.disk_gb };
        self.deps.placement.report(&self.cfg.name, &self.cfg.availability_zone, total, up).await
    }

    /// Reports the host up, subscribes to `compute.<name>` and serves requests until the
    /// handle is dropped.
    pub async fn start(self: Arc<Self>) -> Result<HostHandle, ComputeError> {
        tokio::fs::create_dir_all(&self.cfg.image_cache_dir)
            .await
            .map_err(ComputeError::io("creating the image cache"))?;
        let mut sub = self.deps.bus.subscribe(&host_topic(&self.cfg.name)).await?;
        self.report(true).await?;
        let host = self.clone();
        let task = tokio::spawn(async move {
            while let Some(d) = sub.next().await {
                let host = host.clone();
                tokio::spawn(async move { host.serve(d).await });
            }
        });
        Ok(HostHandle { host: self, task })
    }

    async fn serve(&self, d: Delivery) {
        let reply = if !version_compatible(&d.message.version) {
            Err(RemoteError {
                kind: ferrostack_core::ErrorKind::InvalidInput,
                message: format!("unsupported message version {}", d.message.version),
            })
        } else {
            match d.message.decode::<Envelope>() {
                Ok(env) => self
                    .handle(&env.ctx, env.request)
                    .await
                    .map_err(|e| RemoteError { kind: e.kind(), message: e.to_string() }),
                Err(e) => Err(e),
            }
        };
        if let Err(e) = &reply {
            tracing::warn!(host = %self.cfg.name, method = %d.message.method, error = %e.message, "host request failed");
        }
        let _ = d.reply(reply).await;
    }

    /// Handles one request (what the message loop does for each delivery).
    pub async fn handle(
        &self,
        ctx: &RequestContext,
        req: HostRequest,
    ) -> Result<serde_json::Value, ComputeError> {
        use serde_json::Value;
        match req {
            HostRequest::BuildInstance { server } => {
                self.build(ctx, server).await;
                Ok(Value::Null)
            }
            HostRequest::TerminateInstance { server } => {
                self.terminate(ctx, server).await.map(|_| Value::Null)
            }
            HostRequest::StopInstance { server } => self
                .simple_op(server, "stop", VmState::Stopped, |hv, id| {
                    Box::pin(async move { hv.power_off(id).await })
                })
                .await
                .map(|_| Value::Null),
            HostRequest::StartInstance { server } => self
                .simple_op(server, "start", VmState::Active, |hv, id| {
                    Box::pin(async move { hv.power_on(id).await })
                })
                .await
                .map(|_| Value::Null),
            HostRequest::RebootInstance { server, kind } => self
                .simple_op(server, "reboot", VmState::Active, move |hv, id| {
                    Box::pin(async move { hv.reboot(id, kind).await })
                })
                .await
                .map(|_| Value::Null),
            HostRequest::ResizeInstance { server, flavor } => {
                self.resize(server, flavor).await.map(|_| Value::Null)
            }
            HostRequest::ConfirmResize { server } => {
                self.confirm_resize(server).await.map(|_| Value::Null)
            }
            HostRequest::RevertResize { server } => {
                self.revert_resize(server).await.map(|_| Value::Null)
            }
            HostRequest::RebuildInstance { server, image } => {
                self.rebuild(ctx, server, image).await.map(|_| Value::Null)
            }
            HostRequest::SnapshotInstance { server, image } => {
                self.snapshot(ctx, server, image).await.map(|_| Value::Null)
            }
            HostRequest::AttachVolume {
                server,
                volume,
                attachment,
                device,
                delete_on_termination,
            } => {
                let a = self
                    .attach_volume(ctx, server, volume, attachment, device, delete_on_termination)
                    .await?;
                serde_json::to_value(a).map_err(ComputeError::codec("host reply"))
            }
            HostRequest::DetachVolume { server, volume } => {
                self.detach_volume(ctx, server, volume).await.map(|_| Value::Null)
            }
            HostRequest::AttachInterface { server, network, port } => {
                let v = self.attach_interface(ctx, server, network, port).await?;
                serde_json::to_value(v).map_err(ComputeError::codec("host reply"))
            }
            HostRequest::DetachInterface { server, port } => {
                self.detach_interface(ctx, server, port).await.map(|_| Value::Null)
            }
            HostRequest::ConsoleUrl { server, protocol } => {
                let console = self
                    .deps
                    .hypervisor
                    .console()
                    .ok_or_else(|| ComputeError::NotSupported("remote consoles".into()))?;
                Ok(Value::String(console.console_url(server, &protocol).await?))
            }
            HostRequest::ConsoleOutput { server, lines } => {
                let console = self
                    .deps
                    .hypervisor
                    .console()
                    .ok_or_else(|| ComputeError::NotSupported("console output".into()))?;
                Ok(Value::String(console.console_output(server, lines).await?))
            }
        }
    }

    /// This host's connector for a volume that appears in the guest as `device`.
    fn connector(&self, device: &str) -> Connector {
        Connector {
            host: Some(self.cfg.name.clone()),
            ip: Some(self.cfg.ip.clone()),
            multipath: Some(false),
            os_type: Some("linux".into()),
            platform: Some(std::env::consts::ARCH.into()),
            mountpoint: Some(device.to_owned()),
            ..Connector::default()
        }
    }

    /// Builds a scheduled instance. On failure at any step everything created so far is
    /// undone (domain, attachments, ports, claim) and the server goes to ERROR with a fault.
    pub async fn build(&self, ctx: &RequestContext, id: ServerId) {
        let mut cleanup = Cleanup::default();
        match self.build_steps(ctx, id, &mut cleanup).await {
            Ok(()) => {}
            Err(e) => {
                tracing::warn!(server = %id, error = %e, "build failed; rolling back");
                self.rollback(ctx, id, cleanup).await;
                let f = fault(&e);
                let gone = matches!(e, ComputeError::NotFound { what: "Instance", .. });
                if !gone {
                    let _ = self
                        .deps
                        .db
                        .update_server(id, |s| {
                            s.vm_state = VmState::Error;
                            s.task_state = None;
                            s.power_state = PowerState::NoState;
                            s.vifs.clear();
                            s.volumes.clear();
                            s.fault = Some(f.clone());
                            Ok(())
                        })
                        .await;
                }
            }
        }
    }

    async fn rollback(&self, ctx: &RequestContext, id: ServerId, c: Cleanup) {
        let d = &self.deps;
        if c.spawned {
            let _ = d.hypervisor.destroy(id).await;
        } else {
            // The driver contract: destroy of an unknown instance is Ok, and a failed or
            // cancelled spawn may leave a partial domain that destroy removes.
            let _ = d.hypervisor.destroy(id).await;
        }
        for a in c.attachments {
            if let Err(e) = d.volumes.attachment_delete(ctx, a).await {
                tracing::error!(server = %id, attachment = %a, error = %e, "rollback: attachment delete failed");
            }
        }
        for p in c.created_ports {
            if let Err(e) = d.networks.delete_port(ctx, p).await {
                tracing::error!(server = %id, port = %p, error = %e, "rollback: port delete failed");
            }
        }
        for p in c.bound_ports {
            let _ = d.networks.unbind_port(ctx, p).await;
        }
        if let Err(e) = d.placement.release(id).await {
            tracing::error!(server = %id, error = %e, "rollback: claim release failed");
        }
    }

    async fn build_steps(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        c: &mut Cleanup,
    ) -> Result<(), ComputeError> {
        let d = &self.deps;
        let host = self.cfg.name.clone();
        let s =
            d.db.update_server(id, |s| {
                if s.vm_state != VmState::Building {
                    return Err(ComputeError::Conflict(format!("instance {id} is not building")));
                }
                s.host = Some(host.clone());
                s.task_state = Some(TaskState::Networking);
                Ok(())
            })
            .await?;
        // 1. Ports.
        let mut vifs = Vec::new();
        for req in &s.requested_networks {
            let vif = match (req.port_id, req.network_id) {
                (Some(port), _) => {
                    let v = d.networks.bind_port(ctx, port, id, &host).await?;
                    c.bound_ports.push(port);
                    v
                }
                (None, Some(net)) => {
                    let v = d
                        .networks
                        .create_port(ctx, net, id, &host, req.fixed_ip.as_deref())
                        .await?;
                    c.created_ports.push(v.port_id);
                    v
                }
                (None, None) => continue,
            };
            vifs.push(vif);
        }
        d.db.update_server(id, |s| {
            s.vifs.clone_from(&vifs);
            s.task_state = Some(TaskState::BlockDeviceMapping);
            Ok(())
        })
        .await?;
        // 2. Volumes: reserve, connect, complete.
        let mut devices = Vec::new();
        let mut attachments = Vec::new();
        for (i, vol) in s.requested_volumes.iter().enumerate() {
            let att = d.volumes.attachment_create(ctx, *vol, id).await?;
            c.attachments.push(att);
            let device = device_name(i + usize::from(s.image_id.is_some()));
            let conn = d.volumes.attachment_update(ctx, att, &self.connector(&device)).await?;
            d.volumes.attachment_complete(ctx, att).await?;
            devices.push(BlockDevice {
                volume_id: *vol,
                device: device.clone(),
                driver_volume_type: conn.driver_volume_type,
                connection: serde_json::Value::Object(conn.data),
                boot_index: if s.image_id.is_none() && i == 0 { Some(0) } else { None },
            });
            attachments.push(VolumeAttachment {
                volume_id: *vol,
                attachment_id: att,
                device,
                delete_on_termination: false,
                tag: None,
            });
        }
        // 3. Image into the host cache.
        let image = match s.image_id {
            Some(img) => Some(self.cache_image(ctx, img).await?),
            None => None,
        };
        d.db.update_server(id, |s| {
            s.volumes.clone_from(&attachments);
            s.task_state = Some(TaskState::Spawning);
            Ok(())
        })
        .await?;
        // 4. Spawn.
        let spec = self.spec_of(&s, image, devices, vifs);
        c.spawned = true;
        let info = d.hypervisor.spawn(&spec).await;
        let info = match info {
            Ok(i) => i,
            Err(e) => {
                c.spawned = false;
                return Err(e);
            }
        };
        d.db.update_server(id, |s| {
            if s.task_state == Some(TaskState::Deleting) {
                return Err(ComputeError::instance_not_found(id));
            }
            s.vm_state = VmState::Active;
            s.task_state = None;
            s.power_state = info.power_state;
            s.launched_at = Some(OffsetDateTime::now_utc());
            s.fault = None;
            Ok(())
        })
        .await?;
        Ok(())
    }

    fn spec_of(
        &self,
        s: &Server,
        image: Option<CachedImage>,
        block_devices: Vec<BlockDevice>,
        vifs: Vec<Vif>,
    ) -> InstanceSpec {
        let user_data = s
            .user_data
            .as_ref()
            .and_then(|u| base64::engine::general_purpose::STANDARD.decode(u).ok());
        let mut public_keys = BTreeMap::new();
        if let (Some(n), Some(k)) = (&s.key_name, &s.key_data) {
            public_keys.insert(n.clone(), k.clone());
        }
        let mut spec = InstanceSpec {
            id: s.id,
            name: s.name.clone(),
            flavor: s.flavor.clone(),
            image,
            block_devices,
            vifs,
            metadata: s.metadata.clone(),
            user_data,
            public_keys,
            availability_zone: s.availability_zone.clone(),
            config_drive: None,
        };
        if s.config_drive {
            spec.config_drive = Some(ConfigDrive::render(&spec, self.cfg.config_drive_format));
        }
        spec
    }

    async fn cache_image(
        &self,
        ctx: &RequestContext,
        img: ImageId,
    ) -> Result<CachedImage, ComputeError> {
        let meta = self.deps.images.image(ctx, img).await?;
        let path = self.cfg.image_cache_dir.join(img.to_string());
        let size = match tokio::fs::metadata(&path).await {
            Ok(m) => m.len(),
            Err(_) => {
                let tmp = self.cfg.image_cache_dir.join(format!(
                    ".{}.part-{}",
                    img,
                    uuid::Uuid::new_v4().simple()
                ));
                let res = self.deps.images.fetch_to(ctx, img, &tmp).await;
                match res {
                    Ok(n) => {
                        tokio::fs::rename(&tmp, &path)
                            .await
                            .map_err(ComputeError::io("renaming into the image cache"))?;
                        n
                    }
                    Err(e) => {
                        let _ = tokio::fs::remove_file(&tmp).await;
                        return Err(e);
                    }
                }
            }
        };
        Ok(CachedImage {
            image_id: img,
            path,
            disk_format: meta.disk_format.unwrap_or_else(|| "raw".into()),
            size,
        })
    }

    /// Deletes an instance: domain, attachments, ports, claim, record.
    pub async fn terminate(&self, ctx: &RequestContext, id: ServerId) -> Result<(), ComputeError> {
        let d = &self.deps;
        let s = match d.db.server(id).await {
            Ok(s) => s.value,
            Err(ComputeError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        if let Err(e) = d.hypervisor.destroy(id).await {
            let _ = record_fault(d, id, &e, Some(VmState::Error)).await;
            return Err(e);
        }
        release_resources(d, ctx, &s).await;
        d.db.finish_delete(id).await?;
        Ok(())
    }

    async fn simple_op<F>(
        &self,
        id: ServerId,
        op: &'static str,
        target: VmState,
        f: F,
    ) -> Result<(), ComputeError>
    where
        F: FnOnce(
            Arc<dyn Hypervisor>,
            ServerId,
        )
            -> std::pin::Pin<Box<dyn Future<Output = Result<(), ComputeError>> + Send>>,
    {
        let d = &self.deps;
        match f(d.hypervisor.clone(), id).await {
            Ok(()) => {
                let ps = d.hypervisor.info(id).await.map(|i| i.power_state).unwrap_or_default();
                d.db.update_server(id, |s| {
                    s.vm_state = target;
                    s.task_state = None;
                    s.power_state = ps;
                    Ok(())
                })
                .await?;
                Ok(())
            }
            Err(e) => {
                tracing::warn!(server = %id, op, error = %e, "operation failed");
                record_fault(d, id, &e, None).await?;
                Err(e)
            }
        }
    }

    async fn resize(&self, id: ServerId, flavor: Flavor) -> Result<(), ComputeError> {
        let d = &self.deps;
        if let Err(e) = d.placement.resize(id, flavor.resources()).await {
            record_fault(d, id, &e, None).await?;
            return Err(e);
        }
        let ps = d.hypervisor.info(id).await.map(|i| i.power_state).unwrap_or_default();
        d.db.update_server(id, |s| {
            s.old_flavor = Some(s.flavor.clone());
            s.flavor = flavor.clone();
            s.vm_state = VmState::Resized;
            s.task_state = None;
            s.power_state = ps;
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn confirm_resize(&self, id: ServerId) -> Result<(), ComputeError> {
        self.end_resize(id, None).await
    }

    /// Ends a resize: the server goes back to `back_to` (a revert) or keeps its new flavor (a
    /// confirm), forgets the old one and settles.
    async fn end_resize(&self, id: ServerId, back_to: Option<Flavor>) -> Result<(), ComputeError> {
        self.deps
            .db
            .update_server(id, |s| {
                if let Some(f) = &back_to {
                    s.flavor = f.clone();
                }
                s.old_flavor = None;
                s.vm_state = settled(s.power_state);
                s.task_state = None;
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn revert_resize(&self, id: ServerId) -> Result<(), ComputeError> {
        let d = &self.deps;
        let s = d.db.server(id).await?.value;
        let Some(old) = s.old_flavor.clone() else {
            return Err(ComputeError::Conflict(format!("instance {id} has no resize to revert")));
        };
        d.placement.resize(id, old.resources()).await?;
        self.end_resize(id, Some(old)).await
    }

    async fn rebuild(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        image: Option<ImageId>,
    ) -> Result<(), ComputeError> {
        let d = &self.deps;
        let result: Result<(), ComputeError> = async {
            let s = d.db.server(id).await?.value;
            let img = image.or(s.image_id);
            let cached = match img {
                Some(i) => Some(self.cache_image(ctx, i).await?),
                None => None,
            };
            d.db.update_server(id, |s| {
                s.task_state = Some(TaskState::RebuildSpawning);
                Ok(())
            })
            .await?;
            let devices: Vec<BlockDevice> = Vec::new();
            d.hypervisor.destroy(id).await?;
            let spec = self.spec_of(&s, cached, devices, s.vifs.clone());
            let mut info = d.hypervisor.spawn(&spec).await?;
            // Nova keeps a stopped server stopped across a rebuild.
            let was_stopped = s.vm_state == VmState::Stopped;
            if was_stopped {
                d.hypervisor.power_off(id).await?;
                info.power_state = PowerState::Shutdown;
            }
            d.db.update_server(id, |s| {
                s.image_id = img;
                s.vm_state = if was_stopped { VmState::Stopped } else { VmState::Active };
                s.task_state = None;
                s.power_state = info.power_state;
                Ok(())
            })
            .await?;
            Ok(())
        }
        .await;
        if let Err(e) = &result {
            let _ = record_fault(d, id, e, Some(VmState::Error)).await;
        }
        result
    }

    async fn snapshot(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        image: ImageId,
    ) -> Result<(), ComputeError> {
        let d = &self.deps;
        let result: Result<(), ComputeError> = async {
            let snap = d
                .hypervisor
                .snapshots()
                .ok_or_else(|| ComputeError::NotSupported("snapshots".into()))?;
            d.db.update_server(id, |s| {
                s.task_state = Some(TaskState::ImageUploading);
                Ok(())
            })
            .await?;
            let tmp = self.cfg.image_cache_dir.join(format!(
                ".snapshot-{}-{}",
                id,
                uuid::Uuid::new_v4().simple()
            ));
            let r = async {
                let fmt = snap.snapshot(id, &tmp).await?;
                d.images.upload_snapshot(ctx, image, &tmp, &fmt).await
            }
            .await;
            let _ = tokio::fs::remove_file(&tmp).await;
            r
        }
        .await;
        if result.is_err() {
            let _ = d.images.delete_image(ctx, image).await;
        }
        let _ =
            d.db.update_server(id, |s| {
                s.task_state = None;
                Ok(())
            })
            .await;
        result
    }

    async fn attach_volume(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        volume: VolumeId,
        attachment: AttachmentId,
        device: String,
        delete_on_termination: bool,
    ) -> Result<VolumeAttachment, ComputeError> {
        let d = &self.deps;
        let r: Result<VolumeAttachment, ComputeError> = async {
            let conn =
                d.volumes.attachment_update(ctx, attachment, &self.connector(&device)).await?;
            let dev = BlockDevice {
                volume_id: volume,
                device: device.clone(),
                driver_volume_type: conn.driver_volume_type,
                connection: serde_json::Value::Object(conn.data),
                boot_index: None,
            };
            d.hypervisor.attach_volume(id, &dev).await?;
            if let Err(e) = d.volumes.attachment_complete(ctx, attachment).await {
                let _ = d.hypervisor.detach_volume(id, volume).await;
                return Err(e);
            }
            let a = VolumeAttachment {
                volume_id: volume,
                attachment_id: attachment,
                device: device.clone(),
                delete_on_termination,
                tag: None,
            };
            let a2 = a.clone();
            if let Err(e) =
                d.db.update_server(id, |s| {
                    s.volumes.push(a2.clone());
                    Ok(())
                })
                .await
            {
                let _ = d.hypervisor.detach_volume(id, volume).await;
                return Err(e);
            }
            Ok(a)
        }
        .await;
        if r.is_err() {
            let _ = d.volumes.attachment_delete(ctx, attachment).await;
        }
        r
    }

    async fn detach_volume(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        volume: VolumeId,
    ) -> Result<(), ComputeError> {
        let d = &self.deps;
        let s = d.db.server(id).await?.value;
        let a =
            s.volumes.iter().find(|a| a.volume_id == volume).cloned().ok_or(
                ComputeError::NotFound { what: "Volume attachment", id: volume.to_string() },
            )?;
        match d.hypervisor.detach_volume(id, volume).await {
            Ok(()) | Err(ComputeError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        d.volumes.attachment_delete(ctx, a.attachment_id).await?;
        d.db.update_server(id, |s| {
            s.volumes.retain(|x| x.volume_id != volume);
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn attach_interface(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        network: Option<ferrostack_core::id::NetworkId>,
        port: Option<PortId>,
    ) -> Result<Vif, ComputeError> {
        let d = &self.deps;
        let vif = match (port, network) {
            (Some(p), _) => d.networks.bind_port(ctx, p, id, &self.cfg.name).await?,
            (None, Some(n)) => d.networks.create_port(ctx, n, id, &self.cfg.name, None).await?,
            (None, None) => {
                return Err(ComputeError::Invalid("a port or network is required".into()));
            }
        };
        let undo = |vif: Vif| async move {
            if vif.created_by_compute {
                let _ = d.networks.delete_port(ctx, vif.port_id).await;
            } else {
                let _ = d.networks.unbind_port(ctx, vif.port_id).await;
            }
        };
        if let Err(e) = d.hypervisor.attach_interface(id, &vif).await {
            undo(vif).await;
            return Err(e);
        }
        let v2 = vif.clone();
        if let Err(e) =
            d.db.update_server(id, |s| {
                s.vifs.push(v2.clone());
                Ok(())
            })
            .await
        {
            let _ = d.hypervisor.detach_interface(id, vif.port_id).await;
            undo(vif).await;
            return Err(e);
        }
        Ok(vif)
    }

    async fn detach_interface(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        port: PortId,
    ) -> Result<(), ComputeError> {
        let d = &self.deps;
        let s = d.db.server(id).await?.value;
        let vif = s
            .vifs
            .iter()
            .find(|v| v.port_id == port)
            .cloned()
            .ok_or(ComputeError::NotFound { what: "Port", id: port.to_string() })?;
        match d.hypervisor.detach_interface(id, port).await {
            Ok(()) | Err(ComputeError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        if vif.created_by_compute {
            d.networks.delete_port(ctx, port).await?;
        } else {
            d.networks.unbind_port(ctx, port).await?;
        }
        d.db.update_server(id, |s| {
            s.vifs.retain(|v| v.port_id != port);
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// Nova's `_sync_power_states` for this host: the hypervisor's power state is copied
    /// into every record without a task, and the vm_state is corrected by the table in
    /// `_sync_instance_power_state` (active but shut down → stop; stopped but running →
    /// force stop; ...).
    pub async fn sync_power_states(&self) -> Result<SyncReport, ComputeError> {
        let d = &self.deps;
        let mut report = SyncReport::default();
        for s in d.db.all_servers().await? {
            if s.host.as_deref() != Some(&self.cfg.name) || s.task_state.is_some() {
                continue;
            }
            let ps = match d.hypervisor.info(s.id).await {
                Ok(i) => i.power_state,
                Err(ComputeError::NotFound { .. }) => PowerState::NoState,
                Err(e) => return Err(e),
            };
            if ps != s.power_state {
                let _ =
                    d.db.update_server(s.id, |r| {
                        if r.task_state.is_none() {
                            r.power_state = ps;
                        }
                        Ok(())
                    })
                    .await;
                report.power_updated.push(s.id);
            }
            match (s.vm_state, ps) {
                (VmState::Active, PowerState::Shutdown | PowerState::Crashed) => {
                    self.mark_stopped(s.id, PowerState::Shutdown).await?;
                    report.stopped.push(s.id);
                }
                (VmState::Active, PowerState::Suspended) => {
                    let _ = d.hypervisor.power_off(s.id).await;
                    self.mark_stopped(s.id, PowerState::Shutdown).await?;
                    report.stopped.push(s.id);
                }
                (VmState::Active, PowerState::NoState) => {
                    tracing::warn!(server = %s.id, "instance is unexpectedly not found; ignoring");
                }
                (VmState::Stopped, PowerState::Running | PowerState::Paused)
                | (VmState::Paused, PowerState::Shutdown | PowerState::Crashed) => {
                    d.hypervisor.power_off(s.id).await?;
                    self.mark_stopped(s.id, PowerState::Shutdown).await?;
                    report.force_stopped.push(s.id);
                }
                _ => {}
            }
        }
        Ok(report)
    }

    async fn mark_stopped(&self, id: ServerId, ps: PowerState) -> Result<(), ComputeError> {
        self.deps
            .db
            .update_server(id, |s| {
                if s.task_state.is_none() {
                    s.vm_state = VmState::Stopped;
                    s.power_state = ps;
                }
                Ok(())
            })
            .await?;
        Ok(())
    }

    /// Finds every ghost on this host and applies the configured action:
    /// (a) deleted records whose domain still runs, (b) active/stopped records without a
    /// domain, (c) domains no record knows. Returns what it found and did.
    pub async fn reconcile(&self) -> Result<Vec<GhostFinding>, ComputeError> {
        let d = &self.deps;
        let mut out = Vec::new();
        let domains = d.hypervisor.list().await?;
        let servers = d.db.all_servers().await?;
        let ctx = RequestContext::internal("compute-reconciler");
        for dom in &domains {
            if servers.iter().any(|s| s.id == dom.id) {
                continue;
            }
            let tomb = d.db.tombstones.get(&dom.id.to_string()).await?;
            let (case, action) = if tomb.is_some() {
                (GhostCase::DeletedButRunning, self.cfg.running_deleted_action)
            } else {
                (GhostCase::UnknownDomain, self.cfg.unknown_domain_action)
            };
            let ok = match action {
                GhostAction::Reap => d.hypervisor.destroy(dom.id).await.is_ok(),
                GhostAction::Stop => d.hypervisor.power_off(dom.id).await.is_ok(),
                GhostAction::Adopt if case == GhostCase::UnknownDomain => {
                    self.adopt(dom).await.is_ok()
                }
                _ => {
                    tracing::warn!(server = %dom.id, ?case, "ghost instance found");
                    true
                }
            };
            let action = if action == GhostAction::Adopt && case != GhostCase::UnknownDomain {
                GhostAction::Log
            } else {
                action
            };
            out.push(GhostFinding { id: dom.id, case, action, ok });
        }
        for s in &servers {
            if s.host.as_deref() != Some(&self.cfg.name)
                || s.task_state.is_some()
                || !matches!(s.vm_state, VmState::Active | VmState::Stopped | VmState::Paused)
                || domains.iter().any(|dm| dm.id == s.id)
            {
                continue;
            }
            let action = match self.cfg.missing_domain_action {
                GhostAction::Adopt => GhostAction::Log,
                a => a,
            };
            let ok = match action {
                GhostAction::Reap => {
                    release_resources(d, &ctx, s).await;
                    d.db.finish_delete(s.id).await.is_ok()
                }
                GhostAction::Stop => {
                    d.db.update_server(s.id, |r| {
                        r.vm_state = VmState::Stopped;
                        r.power_state = PowerState::NoState;
                        Ok(())
                    })
                    .await
                    .is_ok()
                }
                _ => {
                    tracing::warn!(server = %s.id, "instance has no domain on its host");
                    true
                }
            };
            out.push(GhostFinding { id: s.id, case: GhostCase::MissingDomain, action, ok });
        }
        Ok(out)
    }

    async fn adopt(&self, dom: &crate::hypervisor::InstanceInfo) -> Result<(), ComputeError> {
        let project = self
            .cfg
            .adopt_project
            .clone()
            .ok_or_else(|| ComputeError::Invalid("no adoption project configured".into()))?;
        let now = OffsetDateTime::now_utc();
        let mut flavor =
            Flavor::new("adopted", "adopted", dom.memory_mb.max(1), dom.vcpus.max(1), 0);
        flavor.is_public = false;
        let s = Server {
            id: dom.id,
            name: format!("adopted-{}", dom.id),
            description: Some("adopted by the reconciler".into()),
            project_id: project,
            user_id: UserId::try_from("ferrostack-compute-reconciler".to_string())
                .unwrap_or_else(|_| UserId::new()),
            flavor,
            old_flavor: None,
            image_id: None,
            vm_state: if dom.power_state == PowerState::Running {
                VmState::Active
            } else {
                VmState::Stopped
            },
            task_state: None,
            power_state: dom.power_state,
            host: Some(self.cfg.name.clone()),
            availability_zone: Some(self.cfg.availability_zone.clone()),
            key_name: None,
            key_data: None,
            metadata: BTreeMap::new(),
            user_data: None,
            config_drive: false,
            requested_networks: Vec::new(),
            requested_volumes: Vec::new(),
            vifs: Vec::new(),
            volumes: Vec::new(),
            server_group: None,
            reservation_id: "r-adopted".into(),
            launch_index: 0,
            access_ipv4: None,
            access_ipv6: None,
            admin_pass: None,
            progress: 0,
            locked: false,
            fault: None,
            created_at: now,
            updated_at: now,
            launched_at: Some(now),
        };
        self.deps.db.create_servers(std::slice::from_ref(&s)).await
    }
}

/// Frees what a server holds outside the hypervisor: attachments, ports, claim.
pub(crate) async fn release_resources(d: &HostDeps, ctx: &RequestContext, s: &Server) {
    for a in &s.volumes {
        if let Err(e) = d.volumes.attachment_delete(ctx, a.attachment_id).await {
            tracing::error!(server = %s.id, error = %e, "attachment delete failed");
        }
    }
    for v in &s.vifs {
        let r = if v.created_by_compute {
            d.networks.delete_port(ctx, v.port_id).await
        } else {
            d.networks.unbind_port(ctx, v.port_id).await
        };
        if let Err(e) = r {
            tracing::error!(server = %s.id, error = %e, "port cleanup failed");
        }
    }
    if let Err(e) = d.placement.release(s.id).await {
        tracing::error!(server = %s.id, error = %e, "claim release failed");
    }
}

/// `/dev/vda`, `/dev/vdb`, ...
pub fn device_name(index: usize) -> String {
    let letter = (b'a' + (index % 26) as u8) as char;
    format!("/dev/vd{letter}")
}
