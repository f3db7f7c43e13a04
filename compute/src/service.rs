// SPDX-License-Identifier: Apache-2.0
//! [`ComputeApi`]: compute's operations, and [`ComputeService`], the controller that
//! validates, authorizes, applies Nova's state checks and quotas, schedules through
//! [`crate::placement::Placement`] and sends work to hosts over the bus.

use crate::db::ComputeDb;
use crate::error::ComputeError;
use crate::host::{HostDeps, release_resources};
use crate::hypervisor::RebootKind;
use crate::placement::{ClaimRequest, Resources};
use crate::policy::{authorize, default_policy};
use crate::rpc::{Envelope, HostRequest, host_topic};
use crate::types::{
    Flavor, GroupPolicy, Keypair, KeypairType, NetworkRequest, QuotaLimits, QuotaUsage, Server,
    ServerGroup, ServerGroupId, TaskState, Vif, VmState, VolumeAttachment, ssh_fingerprint,
    validate_keypair_name,
};
use base64::Engine;
use ferrostack_core::RequestContext;
use ferrostack_core::bus::BusError;
use ferrostack_core::error::{Classify, ErrorKind};
use ferrostack_core::id::{ImageId, NetworkId, PortId, ProjectId, ServerId, VolumeId};
use ferrostack_core::policy::Policy;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// A create request (one or many servers).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CreateServer {
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Flavor id.
    pub flavor_ref: String,
    /// Image (None for boot from volume).
    pub image_ref: Option<ImageId>,
    /// Networks and ports.
    pub networks: Vec<NetworkRequest>,
    /// Volumes to attach at boot (the first boots when there is no image).
    pub volumes: Vec<VolumeId>,
    /// Keypair name.
    pub key_name: Option<String>,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
    /// Base64 user data.
    pub user_data: Option<String>,
    /// Config drive.
    pub config_drive: bool,
    /// Availability zone.
    pub availability_zone: Option<String>,
    /// Server group (scheduler hint `group`).
    pub group: Option<ServerGroupId>,
    /// Minimum count.
    pub min_count: u32,
    /// Maximum count.
    pub max_count: u32,
    /// Admin password.
    pub admin_pass: Option<String>,
    /// Access IPv4.
    pub access_ipv4: Option<String>,
    /// Access IPv6.
    pub access_ipv6: Option<String>,
}

/// List filters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerFilter {
    /// Substring of the name.
    pub name: Option<String>,
    /// API status.
    pub status: Option<String>,
    /// Flavor id.
    pub flavor: Option<String>,
    /// Image id.
    pub image: Option<String>,
    /// Host (admin).
    pub host: Option<String>,
    /// Every project (admin).
    pub all_tenants: bool,
    /// A project (admin).
    pub project_id: Option<String>,
    /// Reservation id.
    pub reservation_id: Option<String>,
    /// Changed since.
    pub changes_since: Option<OffsetDateTime>,
}

/// A server group create request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateGroup {
    /// Name.
    pub name: String,
    /// Policy.
    pub policy: GroupPolicy,
    /// `max_server_per_host`.
    pub max_server_per_host: Option<u32>,
}

/// Compute's operations (Nova's API), each taking the caller's context.
///
/// # Contract
/// Every method authorizes through the crate's policy, hides other projects' servers as
/// `NotFound`, and changes nothing when it fails.
#[async_trait::async_trait]
pub trait ComputeApi: Send + Sync + std::fmt::Debug {
    /// Creates `min_count..=max_count` servers; returns them in BUILD.
    async fn create_servers(
        &self,
        ctx: &RequestContext,
        req: CreateServer,
    ) -> Result<Vec<Server>, ComputeError>;
    /// Lists servers.
    async fn list_servers(
        &self,
        ctx: &RequestContext,
        f: &ServerFilter,
    ) -> Result<Vec<Server>, ComputeError>;
    /// Shows a server.
    async fn get_server(&self, ctx: &RequestContext, id: ServerId) -> Result<Server, ComputeError>;
    /// Renames or re-describes a server.
    async fn update_server(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        name: Option<String>,
        description: Option<Option<String>>,
    ) -> Result<Server, ComputeError>;
    /// Deletes a server.
    async fn delete_server(&self, ctx: &RequestContext, id: ServerId) -> Result<(), ComputeError>;
    /// Stops.
    async fn stop_server(&self, ctx: &RequestContext, id: ServerId) -> Result<(), ComputeError>;
    /// Starts.
    async fn start_server(&self, ctx: &RequestContext, id: ServerId) -> Result<(), ComputeError>;
    /// Reboots.
    async fn reboot_server(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        kind: RebootKind,
    ) -> Result<(), ComputeError>;
    /// Resizes to a flavor.
    async fn resize_server(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        flavor_ref: &str,
    ) -> Result<(), ComputeError>;
    /// Confirms a resize.
    async fn confirm_resize(&self, ctx: &RequestContext, id: ServerId) -> Result<(), ComputeError>;
    /// Reverts a resize.
    async fn revert_resize(&self, ctx: &RequestContext, id: ServerId) -> Result<(), ComputeError>;
    /// Rebuilds from an image.
    async fn rebuild_server(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        image: ImageId,
        name: Option<String>,
    ) -> Result<Server, ComputeError>;
    /// Snapshots to a new image; returns its id.
    async fn create_image(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        name: &str,
        metadata: BTreeMap<String, String>,
    ) -> Result<ImageId, ComputeError>;
    /// Attaches a volume.
    async fn attach_volume(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        volume: VolumeId,
        device: Option<String>,
        delete_on_termination: bool,
    ) -> Result<VolumeAttachment, ComputeError>;
    /// Detaches a volume.
    async fn detach_volume(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        volume: VolumeId,
    ) -> Result<(), ComputeError>;
    /// Attaches an interface.
    async fn attach_interface(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        network: Option<NetworkId>,
        port: Option<PortId>,
    ) -> Result<Vif, ComputeError>;
    /// Detaches an interface.
    async fn detach_interface(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        port: PortId,
    ) -> Result<(), ComputeError>;
    /// A console URL.
    async fn console_url(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        protocol: &str,
    ) -> Result<String, ComputeError>;
    /// The serial console output: the last `lines` lines, all with `None`.
    async fn console_output(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        lines: Option<u32>,
    ) -> Result<String, ComputeError>;
    /// Flavors visible to the caller.
    async fn list_flavors(&self, ctx: &RequestContext) -> Result<Vec<Flavor>, ComputeError>;
    /// A flavor.
    async fn get_flavor(&self, ctx: &RequestContext, id: &str) -> Result<Flavor, ComputeError>;
    /// Creates a flavor (admin).
    async fn create_flavor(
        &self,
        ctx: &RequestContext,
        flavor: Flavor,
    ) -> Result<Flavor, ComputeError>;
    /// Deletes a flavor (admin).
    async fn delete_flavor(&self, ctx: &RequestContext, id: &str) -> Result<(), ComputeError>;
    /// Sets extra specs (admin).
    async fn set_extra_specs(
        &self,
        ctx: &RequestContext,
        id: &str,
        specs: BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, ComputeError>;
    /// Unsets an extra spec (admin).
    async fn unset_extra_spec(
        &self,
        ctx: &RequestContext,
        id: &str,
        key: &str,
    ) -> Result<(), ComputeError>;
    /// The caller's keypairs.
    async fn list_keypairs(&self, ctx: &RequestContext) -> Result<Vec<Keypair>, ComputeError>;
    /// A keypair.
    async fn get_keypair(&self, ctx: &RequestContext, name: &str) -> Result<Keypair, ComputeError>;
    /// Imports a keypair.
    async fn create_keypair(
        &self,
        ctx: &RequestContext,
        name: &str,
        public_key: Option<String>,
        key_type: KeypairType,
    ) -> Result<Keypair, ComputeError>;
    /// Deletes a keypair.
    async fn delete_keypair(&self, ctx: &RequestContext, name: &str) -> Result<(), ComputeError>;
    /// Server groups.
    async fn list_groups(&self, ctx: &RequestContext) -> Result<Vec<ServerGroup>, ComputeError>;
    /// A server group.
    async fn get_group(
        &self,
        ctx: &RequestContext,
        id: ServerGroupId,
    ) -> Result<ServerGroup, ComputeError>;
    /// Creates a server group.
    async fn create_group(
        &self,
        ctx: &RequestContext,
        req: CreateGroup,
    ) -> Result<ServerGroup, ComputeError>;
    /// Deletes a server group.
    async fn delete_group(
        &self,
        ctx: &RequestContext,
        id: ServerGroupId,
    ) -> Result<(), ComputeError>;
    /// A project's limits and usage.
    async fn quotas(
        &self,
        ctx: &RequestContext,
        project: &ProjectId,
    ) -> Result<(QuotaLimits, QuotaUsage), ComputeError>;
    /// Sets a project's limits (admin).
    async fn set_quotas(
        &self,
        ctx: &RequestContext,
        project: &ProjectId,
        limits: QuotaLimits,
    ) -> Result<QuotaLimits, ComputeError>;
    /// Availability zones and whether each has a host up.
    async fn availability_zones(
        &self,
        ctx: &RequestContext,
    ) -> Result<Vec<(String, bool)>, ComputeError>;
}

/// The controller (see the module docs).
#[derive(Debug)]
pub struct ComputeService {
    deps: HostDeps,
    policy: Arc<Policy>,
    call_timeout: Duration,
}

fn invalid_state(
    action: &'static str,
    s: &Server,
    attr: &'static str,
    state: String,
) -> ComputeError {
    ComputeError::InvalidState { action, id: s.id.to_string(), attr, state }
}

/// Nova's `@check_instance_state`: `vm` lists the allowed vm_states, `task` the allowed
/// task_states (`None` in the list means "no task").
pub fn check_state(
    s: &Server,
    action: &'static str,
    vm: &[VmState],
    task: &[Option<TaskState>],
) -> Result<(), ComputeError> {
    if !vm.contains(&s.vm_state) {
        return Err(invalid_state(action, s, "vm_state", s.vm_state.to_string()));
    }
    if !task.contains(&s.task_state) {
        return Err(invalid_state(
            action,
            s,
            "task_state",
            s.task_state.map_or("None".into(), |t| t.to_string()),
        ));
    }
    Ok(())
}

impl ComputeService {
    /// A controller over `deps` with the default policy.
    pub fn new(deps: HostDeps) -> Self {
        ComputeService {
            deps,
            policy: Arc::new(default_policy()),
            call_timeout: Duration::from_secs(60),
        }
    }

    /// Uses `policy` instead of the defaults.
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = Arc::new(policy);
        self
    }

    /// The shared records.
    pub fn db(&self) -> &ComputeDb {
        &self.deps.db
    }

    /// Installs Nova's default flavors where missing.
    pub async fn seed_default_flavors(&self) -> Result<(), ComputeError> {
        for f in Flavor::defaults() {
            let _ = self
                .deps
                .db
                .create_unique(&self.deps.db.flavors, &f.id.clone(), &f, "Flavor")
                .await;
        }
        Ok(())
    }

    fn authz(
        &self,
        rule: &str,
        ctx: &RequestContext,
        project: &ProjectId,
    ) -> Result<(), ComputeError> {
        authorize(
            &self.policy,
            rule,
            ctx,
            &json!({"project_id": project.as_str(), "user_id": ctx.user_id.as_str()}),
        )
    }

    fn caller_project(ctx: &RequestContext) -> Result<ProjectId, ComputeError> {
        ctx.project_id()
            .cloned()
            .ok_or_else(|| ComputeError::Forbidden("a project-scoped token is required".into()))
    }

    /// A server visible to the caller (other projects' servers are `NotFound` unless admin).
    async fn visible(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        rule: &str,
    ) -> Result<Server, ComputeError> {
        let s = self.deps.db.server(id).await?.value;
        if !ctx.has_role("admin") && ctx.project_id() != Some(&s.project_id) {
            return Err(ComputeError::instance_not_found(id));
        }
        self.authz(rule, ctx, &s.project_id)?;
        Ok(s)
    }

    async fn flavor(&self, id: &str) -> Result<Flavor, ComputeError> {
        let id = id.rsplit('/').next().unwrap_or(id);
        if let Some(f) = self.deps.db.flavors.get(id).await.ok().flatten() {
            return Ok(f.value);
        }
        Err(ComputeError::NotFound { what: "Flavor", id: id.into() })
    }

    async fn host_is_up(&self, host: &str) -> bool {
        match self.deps.placement.hosts().await {
            Ok(hs) => hs.iter().any(|h| h.name == host && h.up),
            Err(_) => false,
        }
    }

    async fn cast(
        &self,
        ctx: &RequestContext,
        host: &str,
        req: HostRequest,
    ) -> Result<(), ComputeError> {
        let msg = Envelope { ctx: ctx.clone(), request: req }.to_message()?;
        self.deps.bus.cast(&host_topic(host), msg).await.map_err(|e| match e {
            BusError::NoSubscribers(_) => {
                ComputeError::Conflict(format!("compute host {host} is not available"))
            }
            e => e.into(),
        })
    }

    async fn call(
        &self,
        ctx: &RequestContext,
        host: &str,
        req: HostRequest,
    ) -> Result<serde_json::Value, ComputeError> {
        let msg = Envelope { ctx: ctx.clone(), request: req }.to_message()?;
        self.deps.bus.call(&host_topic(host), msg, self.call_timeout).await.map_err(|e| match e {
            BusError::NoSubscribers(_) => {
                ComputeError::Conflict(format!("compute host {host} is not available"))
            }
            e => e.into(),
        })
    }

    /// Moves a server into `task` if `check` passes (atomically), returning it.
    async fn begin(
        &self,
        id: ServerId,
        action: &'static str,
        vm: &[VmState],
        task: &[Option<TaskState>],
        new_task: TaskState,
    ) -> Result<Server, ComputeError> {
        let vm = vm.to_vec();
        let task = task.to_vec();
        self.deps
            .db
            .update_server(id, move |s| {
                check_state(s, action, &vm, &task)?;
                if s.host.is_none() {
                    return Err(invalid_state(action, s, "vm_state", s.vm_state.to_string()));
                }
                s.task_state = Some(new_task);
                Ok(())
            })
            .await
    }

    async fn abort(&self, id: ServerId) {
        let _ = self
            .deps
            .db
            .update_server(id, |s| {
                s.task_state = None;
                Ok(())
            })
            .await;
    }

    async fn dispatch(
        &self,
        ctx: &RequestContext,
        s: &Server,
        req: HostRequest,
    ) -> Result<(), ComputeError> {
        let host = s.host.clone().unwrap_or_default();
        if let Err(e) = self.cast(ctx, &host, req).await {
            self.abort(s.id).await;
            return Err(e);
        }
        Ok(())
    }

    async fn schedule(self: Arc<Self>, ctx: RequestContext, s: Server) {
        let group = match s.server_group {
            Some(g) => match self.deps.db.groups.get(&g.to_string()).await {
                Ok(Some(v)) => Some((g, v.value.policy, v.value.max_server_per_host)),
                _ => None,
            },
            None => None,
        };
        let req = ClaimRequest {
            server: s.id,
            resources: Resources {
                vcpus: u64::from(s.flavor.vcpus),
                ram_mb: s.flavor.ram_mb,
                disk_gb: s.flavor.disk_gb + s.flavor.ephemeral_gb,
            },
            availability_zone: s.availability_zone.clone(),
            group,
            ignore_hosts: Vec::new(),
        };
        let result = async {
            let alloc = self.deps.placement.claim(&req).await?;
            // The server may have been deleted while it was scheduled.
            let host = alloc.host.clone();
            let upd = self
                .deps
                .db
                .update_server(s.id, |r| {
                    if r.vm_state != VmState::Building
                        || r.task_state != Some(TaskState::Scheduling)
                    {
                        return Err(ComputeError::Conflict("no longer scheduling".into()));
                    }
                    r.host = Some(host.clone());
                    Ok(())
                })
                .await;
            if let Err(e) = upd {
                let _ = self.deps.placement.release(s.id).await;
                return Err(e);
            }
            if let Err(e) =
                self.cast(&ctx, &alloc.host, HostRequest::BuildInstance { server: s.id }).await
            {
                let _ = self.deps.placement.release(s.id).await;
                return Err(e);
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            let f = crate::types::Fault {
                code: e.kind().http_status(),
                message: e.to_string(),
                created: OffsetDateTime::now_utc(),
            };
            let _ = self
                .deps
                .db
                .update_server(s.id, |r| {
                    if r.vm_state == VmState::Building {
                        r.vm_state = VmState::Error;
                        r.task_state = None;
                        r.fault = Some(f.clone());
                    }
                    Ok(())
                })
                .await;
        }
    }

    /// `create_servers`, with scheduling in background tasks (needs `Arc<Self>`).
    pub async fn create(
        self: &Arc<Self>,
        ctx: &RequestContext,
        req: CreateServer,
    ) -> Result<Vec<Server>, ComputeError> {
        let servers = self.prepare(ctx, req).await?;
        for s in &servers {
            let me = self.clone();
            let ctx = ctx.clone();
            let s = s.clone();
            tokio::spawn(async move { me.schedule(ctx, s).await });
        }
        Ok(servers)
    }

    async fn prepare(
        &self,
        ctx: &RequestContext,
        req: CreateServer,
    ) -> Result<Vec<Server>, ComputeError> {
        let project = Self::caller_project(ctx)?;
        self.authz("os_compute_api:servers:create", ctx, &project)?;
        let bad = |m: String| ComputeError::Invalid(m);
        if req.name.trim().is_empty() || req.name.len() > 255 {
            return Err(bad("Invalid input for field/attribute name.".into()));
        }
        let min = req.min_count.max(1);
        let max = req.max_count.max(min);
        if max > 1000 {
            return Err(bad("Invalid input for field/attribute max_count.".into()));
        }
        let flavor = self.flavor(&req.flavor_ref).await.map_err(|_| {
            bad(format!(
                "Flavor {} could not be found.",
                ferrostack_core::id::truncate_for_message(&req.flavor_ref)
            ))
        })?;
        if flavor.disabled {
            return Err(bad(format!("Flavor {} is disabled.", flavor.id)));
        }
        match req.image_ref {
            Some(img) => {
                let meta = self.deps.images.image(ctx, img).await.map_err(|e| match e.kind() {
                    ErrorKind::NotFound => bad(format!("Image {img} could not be found.")),
                    _ => e,
                })?;
                if meta.status != "active" {
                    return Err(bad(format!("Image {img} is not active.")));
                }
                if meta.min_ram > flavor.ram_mb {
                    return Err(bad("Flavor's memory is too small for requested image.".into()));
                }
                if meta.min_disk > flavor.disk_gb && flavor.disk_gb > 0 {
                    return Err(bad("Flavor's disk is too small for requested image.".into()));
                }
            }
            None if req.volumes.is_empty() => {
                return Err(bad("Missing imageRef attribute".into()));
            }
            None => {}
        }
        for n in &req.networks {
            if let Some(net) = n.network_id {
                self.deps.networks.network(ctx, net).await.map_err(|e| match e.kind() {
                    ErrorKind::NotFound => bad(format!("Network {net} could not be found.")),
                    _ => e,
                })?;
            }
        }
        if max > 1 && req.networks.iter().any(|n| n.port_id.is_some()) {
            return Err(bad("Unable to launch multiple instances with a single configured port ID. Please launch your instance one by one with different ports.".into()));
        }
        for v in &req.volumes {
            let meta = self.deps.volumes.volume(ctx, *v).await.map_err(|e| match e.kind() {
                ErrorKind::NotFound => {
                    bad(format!("Block Device Mapping is Invalid: failed to get volume {v}."))
                }
                _ => e,
            })?;
            if meta.status != "available" {
                return Err(bad(format!(
                    "Block Device Mapping is Invalid: volume {v} status must be available."
                )));
            }
        }
        if !req.volumes.is_empty() && max > 1 {
            return Err(bad(
                "Block Device Mapping is Invalid: cannot attach one volume to several instances."
                    .into(),
            ));
        }
        let key_data = match &req.key_name {
            Some(k) => {
                let kp = self.deps.db.keypairs.get(&keypair_key(ctx, k)).await?;
                Some(kp.ok_or_else(|| bad("Invalid key_name provided.".into()))?.value.public_key)
            }
            None => None,
        };
        let limits = self.deps.db.limits(&project).await?;
        if limits.metadata_items >= 0 && req.metadata.len() as i64 > limits.metadata_items {
            return Err(ComputeError::Forbidden("Quota exceeded for metadata_items".into()));
        }
        for (k, v) in &req.metadata {
            if k.is_empty() || k.len() > 255 || v.len() > 255 {
                return Err(bad("Invalid input for field/attribute metadata.".into()));
            }
        }
        if let Some(ud) = &req.user_data
            && (ud.len() > 65535 || base64::engine::general_purpose::STANDARD.decode(ud).is_err())
        {
            return Err(bad("User data needs to be valid base 64.".into()));
        }
        if let Some(az) = &req.availability_zone {
            let zones = self.deps.placement.hosts().await?;
            if !zones.iter().any(|h| &h.availability_zone == az) {
                return Err(bad("The requested availability zone is not available".to_string()));
            }
        }
        if let Some(g) = req.group {
            let grp = self.deps.db.groups.get(&g.to_string()).await?;
            match grp {
                Some(v) if v.value.project_id == project || ctx.has_role("admin") => {}
                _ => {
                    return Err(bad(format!(
                        "Invalid input for field/attribute group. Value: {g}"
                    )));
                }
            }
        }
        let now = OffsetDateTime::now_utc();
        let reservation = format!("r-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let servers: Vec<Server> = (0..max)
            .map(|i| Server {
                id: ServerId::new(),
                name: if max > 1 { format!("{}-{}", req.name, i + 1) } else { req.name.clone() },
                description: req.description.clone(),
                project_id: project.clone(),
                user_id: ctx.user_id.clone(),
                flavor: flavor.clone(),
                old_flavor: None,
                image_id: req.image_ref,
                vm_state: VmState::Building,
                task_state: Some(TaskState::Scheduling),
                power_state: crate::types::PowerState::NoState,
                host: None,
                availability_zone: req.availability_zone.clone(),
                key_name: req.key_name.clone(),
                key_data: key_data.clone(),
                metadata: req.metadata.clone(),
                user_data: req.user_data.clone(),
                config_drive: req.config_drive,
                requested_networks: req.networks.clone(),
                requested_volumes: req.volumes.clone(),
                vifs: Vec::new(),
                volumes: Vec::new(),
                server_group: req.group,
                reservation_id: reservation.clone(),
                launch_index: i,
                access_ipv4: req.access_ipv4.clone(),
                access_ipv6: req.access_ipv6.clone(),
                admin_pass: None,
                progress: 0,
                locked: false,
                fault: None,
                created_at: now,
                updated_at: now,
                launched_at: None,
            })
            .collect();
        if let Some(g) = req.group {
            // Members first: if the group is full nothing is created.
            let ids: Vec<ServerId> = servers.iter().map(|s| s.id).collect();
            self.deps.db.add_group_members(g, &ids, limits.server_group_members).await?;
            if let Err(e) = self.deps.db.create_servers(&servers).await {
                let _ = self.deps.db.update_group_remove(g, &ids).await;
                return Err(e);
            }
        } else {
            self.deps.db.create_servers(&servers).await?;
        }
        Ok(servers)
    }

    async fn local_delete(&self, ctx: &RequestContext, s: &Server) -> Result<(), ComputeError> {
        release_resources(&self.deps, ctx, s).await;
        self.deps.db.finish_delete(s.id).await?;
        Ok(())
    }
}

fn keypair_key(ctx: &RequestContext, name: &str) -> String {
    format!("{}/{}", ctx.user_id.as_str(), name)
}

const ALLOW_REBOOT_TASKS: &[Option<TaskState>] = &[
    None,
    Some(TaskState::Rebooting),
    Some(TaskState::RebootPending),
    Some(TaskState::RebootStarted),
    Some(TaskState::RebootingHard),
    Some(TaskState::RebootPendingHard),
    Some(TaskState::RebootStartedHard),
    Some(TaskState::Pausing),
    Some(TaskState::Unpausing),
    Some(TaskState::Suspending),
    Some(TaskState::Resuming),
];

const ATTACH_STATES: &[VmState] = &[
    VmState::Active,
    VmState::Paused,
    VmState::Stopped,
    VmState::Resized,
    VmState::SoftDeleted,
    VmState::Shelved,
    VmState::ShelvedOffloaded,
];

/// A [`ComputeApi`] over an `Arc<ComputeService>` (scheduling runs in spawned tasks, which
/// need the `Arc`).
#[derive(Debug, Clone)]
pub struct Controller(pub Arc<ComputeService>);

#[async_trait::async_trait]
impl ComputeApi for Controller {
    async fn create_servers(
        &self,
        ctx: &RequestContext,
        req: CreateServer,
    ) -> Result<Vec<Server>, ComputeError> {
        self.0.create(ctx, req).await
    }

    async fn list_servers(
        &self,
        ctx: &RequestContext,
        f: &ServerFilter,
    ) -> Result<Vec<Server>, ComputeError> {
        let me = &self.0;
        let project = ctx.project_id().cloned();
        let admin = ctx.has_role("admin");
        let all = f.all_tenants || f.project_id.is_some();
        if all {
            authorize(&me.policy, "os_compute_api:servers:index:get_all_tenants", ctx, &json!({}))?;
        } else {
            let p = ComputeService::caller_project(ctx)?;
            me.authz("os_compute_api:servers:index", ctx, &p)?;
        }
        let statuses = f.status.as_deref().map(|s| s.to_ascii_uppercase());
        let mut out: Vec<Server> = me
            .deps
            .db
            .all_servers()
            .await?
            .into_iter()
            .filter(|s| {
                if all {
                    f.project_id.as_deref().is_none_or(|p| s.project_id.as_str() == p)
                } else {
                    Some(&s.project_id) == project.as_ref()
                }
            })
            .filter(|s| f.name.as_deref().is_none_or(|n| s.name.contains(n)))
            .filter(|s| statuses.as_deref().is_none_or(|st| s.status() == st))
            .filter(|s| f.flavor.as_deref().is_none_or(|fl| s.flavor.id == fl))
            .filter(|s| {
                f.image
                    .as_deref()
                    .is_none_or(|i| s.image_id.map(|x| x.to_string()).as_deref() == Some(i))
            })
            .filter(|s| !admin || f.host.as_deref().is_none_or(|h| s.host.as_deref() == Some(h)))
            .filter(|s| f.reservation_id.as_deref().is_none_or(|r| s.reservation_id == r))
            .filter(|s| f.changes_since.is_none_or(|t| s.updated_at >= t))
            .collect();
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.id.cmp(&a.id)));
        Ok(out)
    }

    async fn get_server(&self, ctx: &RequestContext, id: ServerId) -> Result<Server, ComputeError> {
        self.0.visible(ctx, id, "os_compute_api:servers:show").await
    }

    async fn update_server(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        name: Option<String>,
        description: Option<Option<String>>,
    ) -> Result<Server, ComputeError> {
        self.0.visible(ctx, id, "os_compute_api:servers:update").await?;
        if let Some(n) = &name
            && (n.trim().is_empty() || n.len() > 255)
        {
            return Err(ComputeError::Invalid("Invalid input for field/attribute name.".into()));
        }
        self.0
            .deps
            .db
            .update_server(id, |s| {
                if let Some(n) = &name {
                    s.name = n.clone();
                }
                if let Some(d) = &description {
                    s.description = d.clone();
                }
                Ok(())
            })
            .await
    }

    async fn delete_server(&self, ctx: &RequestContext, id: ServerId) -> Result<(), ComputeError> {
        let me = &self.0;
        let s = me.visible(ctx, id, "os_compute_api:servers:delete").await?;
        // Nova: no state check for delete. No host (still scheduling) or a host that is down
        // means a local delete.
        let host = match &s.host {
            Some(h) if me.host_is_up(h).await => h.clone(),
            _ => return me.local_delete(ctx, &s).await,
        };
        me.deps
            .db
            .update_server(id, |r| {
                r.task_state = Some(TaskState::Deleting);
                Ok(())
            })
            .await?;
        match me.cast(ctx, &host, HostRequest::TerminateInstance { server: id }).await {
            Ok(()) => Ok(()),
            Err(_) => me.local_delete(ctx, &s).await,
        }
    }

    async fn stop_server(&self, ctx: &RequestContext, id: ServerId) -> Result<(), ComputeError> {
        let me = &self.0;
        me.visible(ctx, id, "os_compute_api:servers:stop").await?;
        let s = me
            .begin(id, "stop", &[VmState::Active, VmState::Error], &[None], TaskState::PoweringOff)
            .await?;
        me.dispatch(ctx, &s, HostRequest::StopInstance { server: id }).await
    }

    async fn start_server(&self, ctx: &RequestContext, id: ServerId) -> Result<(), ComputeError> {
        let me = &self.0;
        me.visible(ctx, id, "os_compute_api:servers:start").await?;
        let s = me.begin(id, "start", &[VmState::Stopped], &[None], TaskState::PoweringOn).await?;
        me.dispatch(ctx, &s, HostRequest::StartInstance { server: id }).await
    }

    async fn reboot_server(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        kind: RebootKind,
    ) -> Result<(), ComputeError> {
        let me = &self.0;
        me.visible(ctx, id, "os_compute_api:servers:reboot").await?;
        let s = match kind {
            RebootKind::Soft => {
                me.begin(id, "reboot", &[VmState::Active], &[None], TaskState::Rebooting).await?
            }
            RebootKind::Hard => {
                me.begin(
                    id,
                    "reboot",
                    &[
                        VmState::Active,
                        VmState::Stopped,
                        VmState::Paused,
                        VmState::Suspended,
                        VmState::Error,
                    ],
                    ALLOW_REBOOT_TASKS,
                    TaskState::RebootingHard,
                )
                .await?
            }
        };
        me.dispatch(ctx, &s, HostRequest::RebootInstance { server: id, kind }).await
    }

    async fn resize_server(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        flavor_ref: &str,
    ) -> Result<(), ComputeError> {
        let me = &self.0;
        let cur = me.visible(ctx, id, "os_compute_api:servers:resize").await?;
        let flavor = me.flavor(flavor_ref).await.map_err(|_| {
            ComputeError::Invalid(format!(
                "Flavor {} could not be found.",
                ferrostack_core::id::truncate_for_message(flavor_ref)
            ))
        })?;
        if flavor.id == cur.flavor.id {
            return Err(ComputeError::Invalid(
                "When resizing, instances must change flavor!".into(),
            ));
        }
        if flavor.disk_gb < cur.flavor.disk_gb && cur.image_id.is_some() {
            return Err(ComputeError::Invalid("Resize error: Unable to resize disk down.".into()));
        }
        let project = cur.project_id.clone();
        let (limits, usage) =
            (me.deps.db.limits(&project).await?, me.deps.db.usage_of(&project).await?);
        let dc = i64::from(flavor.vcpus) - i64::from(cur.flavor.vcpus);
        if limits.cores >= 0 && dc > 0 && usage.cores + dc > limits.cores {
            return Err(ComputeError::QuotaExceeded {
                resource: "cores",
                requested: dc,
                used: usage.cores,
                limit: limits.cores,
            });
        }
        let s = me
            .begin(
                id,
                "resize",
                &[VmState::Active, VmState::Stopped],
                &[None],
                TaskState::ResizePrep,
            )
            .await?;
        me.dispatch(ctx, &s, HostRequest::ResizeInstance { server: id, flavor }).await
    }

    async fn confirm_resize(&self, ctx: &RequestContext, id: ServerId) -> Result<(), ComputeError> {
        let me = &self.0;
        me.visible(ctx, id, "os_compute_api:servers:confirm_resize").await?;
        let s = me
            .begin(id, "confirmResize", &[VmState::Resized], &[None], TaskState::ResizeConfirming)
            .await?;
        me.dispatch(ctx, &s, HostRequest::ConfirmResize { server: id }).await
    }

    async fn revert_resize(&self, ctx: &RequestContext, id: ServerId) -> Result<(), ComputeError> {
        let me = &self.0;
        me.visible(ctx, id, "os_compute_api:servers:revert_resize").await?;
        let s = me
            .begin(id, "revertResize", &[VmState::Resized], &[None], TaskState::ResizeReverting)
            .await?;
        me.dispatch(ctx, &s, HostRequest::RevertResize { server: id }).await
    }

    async fn rebuild_server(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        image: ImageId,
        name: Option<String>,
    ) -> Result<Server, ComputeError> {
        let me = &self.0;
        me.visible(ctx, id, "os_compute_api:servers:rebuild").await?;
        let meta = me.deps.images.image(ctx, image).await.map_err(|e| match e.kind() {
            ErrorKind::NotFound => {
                ComputeError::Invalid(format!("Image {image} could not be found."))
            }
            _ => e,
        })?;
        if meta.status != "active" {
            return Err(ComputeError::Invalid(format!("Image {image} is not active.")));
        }
        let s = me
            .begin(
                id,
                "rebuild",
                &[VmState::Active, VmState::Stopped, VmState::Error],
                &[None],
                TaskState::Rebuilding,
            )
            .await?;
        if let Some(n) = name {
            me.deps
                .db
                .update_server(id, |r| {
                    r.name = n.clone();
                    Ok(())
                })
                .await?;
        }
        me.dispatch(ctx, &s, HostRequest::RebuildInstance { server: id, image: Some(image) })
            .await?;
        me.deps.db.server(id).await.map(|v| v.value)
    }

    async fn create_image(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        name: &str,
        metadata: BTreeMap<String, String>,
    ) -> Result<ImageId, ComputeError> {
        let me = &self.0;
        me.visible(ctx, id, "os_compute_api:servers:create_image").await?;
        if name.trim().is_empty() || name.len() > 255 {
            return Err(ComputeError::Invalid("Invalid input for field/attribute name.".into()));
        }
        let s = me
            .begin(
                id,
                "createImage",
                &[VmState::Active, VmState::Stopped, VmState::Paused, VmState::Suspended],
                &[None],
                TaskState::ImageSnapshotPending,
            )
            .await?;
        let image = match me.deps.images.create_snapshot(ctx, name, id, &metadata).await {
            Ok(i) => i,
            Err(e) => {
                me.abort(id).await;
                return Err(e);
            }
        };
        if let Err(e) =
            me.dispatch(ctx, &s, HostRequest::SnapshotInstance { server: id, image }).await
        {
            let _ = me.deps.images.delete_image(ctx, image).await;
            return Err(e);
        }
        Ok(image)
    }

    async fn attach_volume(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        volume: VolumeId,
        device: Option<String>,
        delete_on_termination: bool,
    ) -> Result<VolumeAttachment, ComputeError> {
        let me = &self.0;
        let s = me.visible(ctx, id, "os_compute_api:os-volumes-attachments:create").await?;
        check_state(&s, "attach_volume", ATTACH_STATES, &[None])?;
        if s.volumes.iter().any(|a| a.volume_id == volume) {
            return Err(ComputeError::Conflict(format!(
                "Volume {volume} is already attached to instance {id}."
            )));
        }
        let host = s.host.clone().ok_or_else(|| {
            invalid_state("attach_volume", &s, "vm_state", s.vm_state.to_string())
        })?;
        let attachment = me.deps.volumes.attachment_create(ctx, volume, id).await.map_err(|e| {
            match e.kind() {
                ErrorKind::NotFound => {
                    ComputeError::NotFound { what: "Volume", id: volume.to_string() }
                }
                ErrorKind::InvalidInput => ComputeError::Invalid(e.to_string()),
                _ => e,
            }
        })?;
        let used: Vec<&str> = s.volumes.iter().map(|a| a.device.as_str()).collect();
        let device = device.filter(|d| !d.is_empty()).unwrap_or_else(|| {
            (1..26)
                .map(crate::host::device_name)
                .find(|d| !used.contains(&d.as_str()))
                .unwrap_or_else(|| "/dev/vdz".into())
        });
        let r = me
            .call(
                ctx,
                &host,
                HostRequest::AttachVolume {
                    server: id,
                    volume,
                    attachment,
                    device,
                    delete_on_termination,
                },
            )
            .await;
        match r {
            Ok(v) => serde_json::from_value(v).map_err(|e| ComputeError::Internal(e.to_string())),
            Err(e) => {
                let _ = me.deps.volumes.attachment_delete(ctx, attachment).await;
                Err(e)
            }
        }
    }

    async fn detach_volume(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        volume: VolumeId,
    ) -> Result<(), ComputeError> {
        let me = &self.0;
        let s = me.visible(ctx, id, "os_compute_api:os-volumes-attachments:delete").await?;
        check_state(&s, "detach_volume", ATTACH_STATES, &[None])?;
        if !s.volumes.iter().any(|a| a.volume_id == volume) {
            return Err(ComputeError::NotFound {
                what: "Volume attachment",
                id: volume.to_string(),
            });
        }
        let host = s.host.clone().unwrap_or_default();
        me.call(ctx, &host, HostRequest::DetachVolume { server: id, volume }).await.map(|_| ())
    }

    async fn attach_interface(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        network: Option<NetworkId>,
        port: Option<PortId>,
    ) -> Result<Vif, ComputeError> {
        let me = &self.0;
        let s = me.visible(ctx, id, "os_compute_api:os-attach-interfaces:create").await?;
        check_state(
            &s,
            "attach_interface",
            &[VmState::Active, VmState::Paused, VmState::Stopped],
            &[None],
        )?;
        if network.is_none() && port.is_none() {
            return Err(ComputeError::Invalid("A net_id or port_id is required.".into()));
        }
        if let Some(n) = network {
            me.deps.networks.network(ctx, n).await?;
        }
        let host = s.host.clone().unwrap_or_default();
        let v =
            me.call(ctx, &host, HostRequest::AttachInterface { server: id, network, port }).await?;
        serde_json::from_value(v).map_err(|e| ComputeError::Internal(e.to_string()))
    }

    async fn detach_interface(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        port: PortId,
    ) -> Result<(), ComputeError> {
        let me = &self.0;
        let s = me.visible(ctx, id, "os_compute_api:os-attach-interfaces:delete").await?;
        check_state(
            &s,
            "detach_interface",
            &[VmState::Active, VmState::Paused, VmState::Stopped],
            &[None],
        )?;
        if !s.vifs.iter().any(|v| v.port_id == port) {
            return Err(ComputeError::NotFound { what: "Port", id: port.to_string() });
        }
        let host = s.host.clone().unwrap_or_default();
        me.call(ctx, &host, HostRequest::DetachInterface { server: id, port }).await.map(|_| ())
    }

    async fn console_url(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        protocol: &str,
    ) -> Result<String, ComputeError> {
        let me = &self.0;
        let s = me.visible(ctx, id, "os_compute_api:os-remote-consoles").await?;
        if s.vm_state != VmState::Active {
            return Err(ComputeError::Conflict(format!("Instance {id} is not ready.")));
        }
        let host = s.host.clone().unwrap_or_default();
        let v = me
            .call(ctx, &host, HostRequest::ConsoleUrl { server: id, protocol: protocol.into() })
            .await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    async fn console_output(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        lines: Option<u32>,
    ) -> Result<String, ComputeError> {
        let me = &self.0;
        let s = me.visible(ctx, id, "os_compute_api:os-console-output").await?;
        // Nova's InstanceNotReady: nothing to read before a host runs it.
        let Some(host) = s.host.clone().filter(|_| s.vm_state != VmState::Building) else {
            return Err(ComputeError::Conflict(format!("Instance {id} is not ready.")));
        };
        let v = me.call(ctx, &host, HostRequest::ConsoleOutput { server: id, lines }).await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    async fn list_flavors(&self, ctx: &RequestContext) -> Result<Vec<Flavor>, ComputeError> {
        let admin = ctx.has_role("admin");
        let mut v: Vec<Flavor> = self
            .0
            .deps
            .db
            .flavors
            .list_all()
            .await?
            .into_iter()
            .map(|f| f.value)
            .filter(|f| admin || f.is_public)
            .collect();
        v.sort_by(|a, b| a.ram_mb.cmp(&b.ram_mb).then_with(|| a.id.cmp(&b.id)));
        Ok(v)
    }

    async fn get_flavor(&self, ctx: &RequestContext, id: &str) -> Result<Flavor, ComputeError> {
        let f = self.0.flavor(id).await?;
        if !f.is_public && !ctx.has_role("admin") {
            return Err(ComputeError::NotFound { what: "Flavor", id: id.into() });
        }
        Ok(f)
    }

    async fn create_flavor(
        &self,
        ctx: &RequestContext,
        flavor: Flavor,
    ) -> Result<Flavor, ComputeError> {
        authorize(&self.0.policy, "os_compute_api:os-flavor-manage:create", ctx, &json!({}))?;
        flavor.validate().map_err(ComputeError::Invalid)?;
        let db = &self.0.deps.db;
        if db.flavors.list_all().await?.iter().any(|f| f.value.name == flavor.name) {
            return Err(ComputeError::AlreadyExists(format!(
                "Flavor with name {} already exists.",
                flavor.name
            )));
        }
        db.create_unique(
            &db.flavors,
            &flavor.id.clone(),
            &flavor,
            &format!("Flavor with ID {}", flavor.id),
        )
        .await?;
        Ok(flavor)
    }

    async fn delete_flavor(&self, ctx: &RequestContext, id: &str) -> Result<(), ComputeError> {
        authorize(&self.0.policy, "os_compute_api:os-flavor-manage:delete", ctx, &json!({}))?;
        if !self.0.deps.db.flavors.delete(id).await? {
            return Err(ComputeError::NotFound { what: "Flavor", id: id.into() });
        }
        Ok(())
    }

    async fn set_extra_specs(
        &self,
        ctx: &RequestContext,
        id: &str,
        specs: BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, ComputeError> {
        authorize(&self.0.policy, "os_compute_api:os-flavor-extra-specs:create", ctx, &json!({}))?;
        for (k, v) in &specs {
            crate::types::validate_spec(k, v).map_err(ComputeError::Invalid)?;
        }
        self.0.flavor(id).await?;
        let f = self
            .0
            .deps
            .db
            .flavors
            .update_with::<ComputeError, _>(id, |f| {
                f.extra_specs.extend(specs.clone());
                Ok(())
            })
            .await?;
        Ok(specs
            .keys()
            .filter_map(|k| f.value.extra_specs.get_key_value(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    async fn unset_extra_spec(
        &self,
        ctx: &RequestContext,
        id: &str,
        key: &str,
    ) -> Result<(), ComputeError> {
        authorize(&self.0.policy, "os_compute_api:os-flavor-extra-specs:delete", ctx, &json!({}))?;
        let f = self.0.flavor(id).await?;
        if !f.extra_specs.contains_key(key) {
            return Err(ComputeError::NotFound { what: "Flavor extra spec", id: key.into() });
        }
        self.0
            .deps
            .db
            .flavors
            .update_with::<ComputeError, _>(id, |f| {
                f.extra_specs.remove(key);
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn list_keypairs(&self, ctx: &RequestContext) -> Result<Vec<Keypair>, ComputeError> {
        authorize(
            &self.0.policy,
            "os_compute_api:os-keypairs:index",
            ctx,
            &json!({"user_id": ctx.user_id.as_str()}),
        )?;
        let prefix = format!("{}/", ctx.user_id.as_str());
        Ok(self
            .0
            .deps
            .db
            .keypairs
            .list_all()
            .await?
            .into_iter()
            .filter(|k| k.id.starts_with(&prefix))
            .map(|k| k.value)
            .collect())
    }

    async fn get_keypair(&self, ctx: &RequestContext, name: &str) -> Result<Keypair, ComputeError> {
        authorize(
            &self.0.policy,
            "os_compute_api:os-keypairs:show",
            ctx,
            &json!({"user_id": ctx.user_id.as_str()}),
        )?;
        if validate_keypair_name(name).is_err() {
            return Err(ComputeError::NotFound {
                what: "Keypair",
                id: ferrostack_core::id::truncate_for_message(name),
            });
        }
        self.0
            .deps
            .db
            .keypairs
            .get(&keypair_key(ctx, name))
            .await?
            .map(|k| k.value)
            .ok_or(ComputeError::NotFound { what: "Keypair", id: name.into() })
    }

    async fn create_keypair(
        &self,
        ctx: &RequestContext,
        name: &str,
        public_key: Option<String>,
        key_type: KeypairType,
    ) -> Result<Keypair, ComputeError> {
        authorize(
            &self.0.policy,
            "os_compute_api:os-keypairs:create",
            ctx,
            &json!({"user_id": ctx.user_id.as_str()}),
        )?;
        validate_keypair_name(name).map_err(ComputeError::Invalid)?;
        let (public_key, private_key) = match (public_key, key_type) {
            (Some(public_key), _) => (public_key, None),
            (None, KeypairType::Ssh) => {
                let (public_key, private_key) = generate_ssh_keypair(name).await?;
                (public_key, Some(private_key))
            }
            (None, KeypairType::X509) => {
                return Err(ComputeError::NotSupported("generating x509 keypairs".into()));
            }
        };
        let fingerprint = match key_type {
            KeypairType::Ssh => ssh_fingerprint(&public_key).map_err(ComputeError::Invalid)?,
            KeypairType::X509 => return Err(ComputeError::NotSupported("x509 keypairs".into())),
        };
        let db = &self.0.deps.db;
        let project = ctx.project_id().cloned();
        if let Some(p) = project {
            let limit = db.limits(&p).await?.key_pairs;
            if limit >= 0 && self.list_keypairs(ctx).await?.len() as i64 >= limit {
                return Err(ComputeError::Forbidden("Quota exceeded, too many key pairs.".into()));
            }
        }
        let kp = Keypair {
            name: name.into(),
            user_id: ctx.user_id.clone(),
            public_key: public_key.trim().to_owned(),
            fingerprint,
            key_type,
            created_at: OffsetDateTime::now_utc(),
            private_key: None,
        };
        db.create_unique(&db.keypairs, &keypair_key(ctx, name), &kp, &format!("Key pair '{name}'"))
            .await?;
        Ok(Keypair { private_key, ..kp })
    }

    async fn delete_keypair(&self, ctx: &RequestContext, name: &str) -> Result<(), ComputeError> {
        authorize(
            &self.0.policy,
            "os_compute_api:os-keypairs:delete",
            ctx,
            &json!({"user_id": ctx.user_id.as_str()}),
        )?;
        if validate_keypair_name(name).is_err()
            || !self.0.deps.db.keypairs.delete(&keypair_key(ctx, name)).await?
        {
            return Err(ComputeError::NotFound {
                what: "Keypair",
                id: ferrostack_core::id::truncate_for_message(name),
            });
        }
        Ok(())
    }

    async fn list_groups(&self, ctx: &RequestContext) -> Result<Vec<ServerGroup>, ComputeError> {
        let p = ComputeService::caller_project(ctx)?;
        self.0.authz("os_compute_api:os-server-groups:index", ctx, &p)?;
        Ok(self
            .0
            .deps
            .db
            .groups
            .list_all()
            .await?
            .into_iter()
            .map(|g| g.value)
            .filter(|g| g.project_id == p)
            .collect())
    }

    async fn get_group(
        &self,
        ctx: &RequestContext,
        id: ServerGroupId,
    ) -> Result<ServerGroup, ComputeError> {
        let g = self
            .0
            .deps
            .db
            .groups
            .get(&id.to_string())
            .await?
            .ok_or(ComputeError::NotFound { what: "Instance group", id: id.to_string() })?
            .value;
        if !ctx.has_role("admin") && ctx.project_id() != Some(&g.project_id) {
            return Err(ComputeError::NotFound { what: "Instance group", id: id.to_string() });
        }
        self.0.authz("os_compute_api:os-server-groups:show", ctx, &g.project_id)?;
        Ok(g)
    }

    async fn create_group(
        &self,
        ctx: &RequestContext,
        req: CreateGroup,
    ) -> Result<ServerGroup, ComputeError> {
        let p = ComputeService::caller_project(ctx)?;
        self.0.authz("os_compute_api:os-server-groups:create", ctx, &p)?;
        if req.name.trim().is_empty() || req.name.len() > 255 {
            return Err(ComputeError::Invalid("Invalid input for field/attribute name.".into()));
        }
        if req.max_server_per_host.is_some() && req.policy != GroupPolicy::AntiAffinity {
            return Err(ComputeError::Invalid(
                "Only anti-affinity policy supports max_server_per_host rule.".into(),
            ));
        }
        if req.max_server_per_host == Some(0) {
            return Err(ComputeError::Invalid(
                "Invalid input for field/attribute max_server_per_host.".into(),
            ));
        }
        let db = &self.0.deps.db;
        let limit = db.limits(&p).await?.server_groups;
        if limit >= 0 && self.list_groups(ctx).await?.len() as i64 >= limit {
            return Err(ComputeError::Forbidden("Quota exceeded, too many server groups.".into()));
        }
        let g = ServerGroup {
            id: ServerGroupId::new(),
            name: req.name,
            policy: req.policy,
            max_server_per_host: req.max_server_per_host,
            members: Vec::new(),
            project_id: p,
            user_id: ctx.user_id.clone(),
        };
        db.create_unique(&db.groups, &g.id.to_string(), &g, "Server group").await?;
        Ok(g)
    }

    async fn delete_group(
        &self,
        ctx: &RequestContext,
        id: ServerGroupId,
    ) -> Result<(), ComputeError> {
        let g = self.get_group(ctx, id).await?;
        self.0.authz("os_compute_api:os-server-groups:delete", ctx, &g.project_id)?;
        self.0.deps.db.groups.delete(&id.to_string()).await?;
        Ok(())
    }

    async fn quotas(
        &self,
        ctx: &RequestContext,
        project: &ProjectId,
    ) -> Result<(QuotaLimits, QuotaUsage), ComputeError> {
        self.0.authz("os_compute_api:os-quota-sets:show", ctx, project)?;
        Ok((self.0.deps.db.limits(project).await?, self.0.deps.db.usage_of(project).await?))
    }

    async fn set_quotas(
        &self,
        ctx: &RequestContext,
        project: &ProjectId,
        limits: QuotaLimits,
    ) -> Result<QuotaLimits, ComputeError> {
        authorize(
            &self.0.policy,
            "os_compute_api:os-quota-sets:update",
            ctx,
            &json!({"project_id": project.as_str()}),
        )?;
        for v in [
            limits.instances,
            limits.cores,
            limits.ram,
            limits.key_pairs,
            limits.server_groups,
            limits.server_group_members,
            limits.metadata_items,
        ] {
            if v < -1 {
                return Err(ComputeError::Invalid("Quota limit must be -1 or greater.".into()));
            }
        }
        let db = &self.0.deps.db;
        let key = project.as_str();
        let txn = ferrostack_core::store::Txn::new().op(db.quotas.put_op(key, &limits)?);
        db.store.txn(txn).await?;
        Ok(limits)
    }

    async fn availability_zones(
        &self,
        ctx: &RequestContext,
    ) -> Result<Vec<(String, bool)>, ComputeError> {
        authorize(&self.0.policy, "os_compute_api:os-availability-zone:list", ctx, &json!({}))?;
        let mut zones: BTreeMap<String, bool> = BTreeMap::new();
        for h in self.0.deps.placement.hosts().await? {
            let e = zones.entry(h.availability_zone.clone()).or_insert(false);
            *e |= h.up && !h.disabled;
        }
        Ok(zones.into_iter().collect())
    }
}

impl ComputeDb {
    /// Removes servers from a group (rollback of a failed create).
    pub async fn update_group_remove(
        &self,
        gid: ServerGroupId,
        ids: &[ServerId],
    ) -> Result<(), ComputeError> {
        self.groups
            .update_with::<ComputeError, _>(&gid.to_string(), |g| {
                g.members.retain(|m| !ids.contains(m));
                Ok(())
            })
            .await?;
        Ok(())
    }
}

/// Generates an RSA 2048 key pair as Nova does, with OpenSSH's `ssh-keygen` in a private
/// temporary directory (removed afterwards, also on failure). Returns `(public, private)`.
async fn generate_ssh_keypair(comment: &str) -> Result<(String, String), ComputeError> {
    let comment = comment.to_owned();
    tokio::task::spawn_blocking(move || {
        let fail = |what: String| ComputeError::Internal(format!("keypair generation: {what}"));
        let dir = std::env::temp_dir().join(format!("ferrostack-keygen-{}", uuid::Uuid::new_v4()));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir).map_err(|e| fail(e.to_string()))?;
        let key = dir.join("key");
        let result = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "rsa", "-b", "2048", "-N", "", "-C"])
            .arg(&comment)
            .arg("-f")
            .arg(&key)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| fail(format!("cannot run ssh-keygen: {e}")))
            .and_then(|out| {
                if !out.status.success() {
                    return Err(fail(String::from_utf8_lossy(&out.stderr).trim().to_owned()));
                }
                let private = std::fs::read_to_string(&key).map_err(|e| fail(e.to_string()))?;
                let public = std::fs::read_to_string(key.with_extension("pub"))
                    .map_err(|e| fail(e.to_string()))?;
                Ok((public.trim().to_owned(), private))
            });
        let _ = std::fs::remove_dir_all(&dir);
        result
    })
    .await
    .map_err(|e| ComputeError::Internal(format!("keypair generation task: {e}")))?
}
