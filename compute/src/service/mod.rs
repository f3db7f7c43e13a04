// SPDX-License-Identifier: Apache-2.0
//! [`ComputeService`]: the controller that validates, authorizes, applies Nova's state checks
//! and quotas, schedules through [`crate::placement::Placement`] and sends work to hosts over
//! the bus. It implements [`ComputeApi`]; the operations live in one file per resource:
//!
//! | file | operations |
//! |---|---|
//! | `servers.rs` | create (validation, quota, records, background scheduling), list, show, update, delete |
//! | `actions.rs` | stop, start, reboot, resize (confirm, revert), rebuild, snapshot, consoles |
//! | `attachments.rs` | volume and interface attach/detach |
//! | `flavors.rs` | flavors and extra specs |
//! | `keypairs.rs` | keypairs (import, generation with `ssh-keygen`) |
//! | `groups.rs` | server groups |
//! | `quotas.rs` | quota sets and availability zones |

mod actions;
mod attachments;
mod flavors;
mod groups;
mod keypairs;
mod quotas;
mod servers;

pub use crate::api::{
    AttachVolume, AvailabilityZone, ComputeApi, CreateGroup, CreateImage, CreateKeypair,
    CreateServer, RebuildServer, ServerFilter, UpdateServer,
};
use crate::db::ComputeDb;
use crate::error::ComputeError;
use crate::host::HostDeps;
use crate::hypervisor::RebootKind;
use crate::policy::{authorize, default_policy};
use crate::rpc::{Envelope, HostRequest, host_topic};
use crate::types::{
    Flavor, Keypair, QuotaLimits, QuotaUsage, Server, ServerGroup, ServerGroupId, TaskState, Vif,
    VmState, VolumeAttachment,
};
use ferrostack_core::RequestContext;
use ferrostack_core::bus::BusError;
use ferrostack_core::id::{ImageId, NetworkId, PortId, ProjectId, ServerId, VolumeId};
use ferrostack_core::policy::Policy;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The controller (see the module docs). Cheap to clone: clones share the store, bus and
/// policy.
#[derive(Debug, Clone)]
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

    pub(crate) fn caller_project(ctx: &RequestContext) -> Result<ProjectId, ComputeError> {
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

#[async_trait::async_trait]
impl ComputeApi for ComputeService {
    async fn create_servers(
        &self,
        ctx: &RequestContext,
        req: CreateServer,
    ) -> Result<Vec<Server>, ComputeError> {
        servers::create(self, ctx, req).await
    }

    async fn list_servers(
        &self,
        ctx: &RequestContext,
        f: &ServerFilter,
    ) -> Result<Vec<Server>, ComputeError> {
        servers::list(self, ctx, f).await
    }

    async fn get_server(&self, ctx: &RequestContext, id: ServerId) -> Result<Server, ComputeError> {
        servers::get(self, ctx, id).await
    }

    async fn update_server(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        req: UpdateServer,
    ) -> Result<Server, ComputeError> {
        servers::update(self, ctx, id, req).await
    }

    async fn delete_server(&self, ctx: &RequestContext, id: ServerId) -> Result<(), ComputeError> {
        servers::delete(self, ctx, id).await
    }

    async fn stop_server(&self, ctx: &RequestContext, id: ServerId) -> Result<(), ComputeError> {
        actions::stop(self, ctx, id).await
    }

    async fn start_server(&self, ctx: &RequestContext, id: ServerId) -> Result<(), ComputeError> {
        actions::start(self, ctx, id).await
    }

    async fn reboot_server(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        kind: RebootKind,
    ) -> Result<(), ComputeError> {
        actions::reboot(self, ctx, id, kind).await
    }

    async fn resize_server(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        flavor_ref: &str,
    ) -> Result<(), ComputeError> {
        actions::resize(self, ctx, id, flavor_ref).await
    }

    async fn confirm_resize(&self, ctx: &RequestContext, id: ServerId) -> Result<(), ComputeError> {
        actions::confirm_resize(self, ctx, id).await
    }

    async fn revert_resize(&self, ctx: &RequestContext, id: ServerId) -> Result<(), ComputeError> {
        actions::revert_resize(self, ctx, id).await
    }

    async fn rebuild_server(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        req: RebuildServer,
    ) -> Result<Server, ComputeError> {
        actions::rebuild(self, ctx, id, req).await
    }

    async fn create_image(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        req: CreateImage,
    ) -> Result<ImageId, ComputeError> {
        actions::create_image(self, ctx, id, req).await
    }

    async fn attach_volume(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        req: AttachVolume,
    ) -> Result<VolumeAttachment, ComputeError> {
        attachments::attach_volume(self, ctx, id, req).await
    }

    async fn detach_volume(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        volume: VolumeId,
    ) -> Result<(), ComputeError> {
        attachments::detach_volume(self, ctx, id, volume).await
    }

    async fn attach_interface(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        network: Option<NetworkId>,
        port: Option<PortId>,
    ) -> Result<Vif, ComputeError> {
        attachments::attach_interface(self, ctx, id, network, port).await
    }

    async fn detach_interface(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        port: PortId,
    ) -> Result<(), ComputeError> {
        attachments::detach_interface(self, ctx, id, port).await
    }

    async fn console_url(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        protocol: &str,
    ) -> Result<String, ComputeError> {
        actions::console_url(self, ctx, id, protocol).await
    }

    async fn console_output(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        lines: Option<u32>,
    ) -> Result<String, ComputeError> {
        actions::console_output(self, ctx, id, lines).await
    }

    async fn list_flavors(&self, ctx: &RequestContext) -> Result<Vec<Flavor>, ComputeError> {
        flavors::list(self, ctx).await
    }

    async fn get_flavor(&self, ctx: &RequestContext, id: &str) -> Result<Flavor, ComputeError> {
        flavors::get(self, ctx, id).await
    }

    async fn create_flavor(
        &self,
        ctx: &RequestContext,
        flavor: Flavor,
    ) -> Result<Flavor, ComputeError> {
        flavors::create(self, ctx, flavor).await
    }

    async fn delete_flavor(&self, ctx: &RequestContext, id: &str) -> Result<(), ComputeError> {
        flavors::delete(self, ctx, id).await
    }

    async fn set_extra_specs(
        &self,
        ctx: &RequestContext,
        id: &str,
        specs: BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, ComputeError> {
        flavors::set_extra_specs(self, ctx, id, specs).await
    }

    async fn unset_extra_spec(
        &self,
        ctx: &RequestContext,
        id: &str,
        key: &str,
    ) -> Result<(), ComputeError> {
        flavors::unset_extra_spec(self, ctx, id, key).await
    }

    async fn list_keypairs(&self, ctx: &RequestContext) -> Result<Vec<Keypair>, ComputeError> {
        keypairs::list(self, ctx).await
    }

    async fn get_keypair(&self, ctx: &RequestContext, name: &str) -> Result<Keypair, ComputeError> {
        keypairs::get(self, ctx, name).await
    }

    async fn create_keypair(
        &self,
        ctx: &RequestContext,
        req: CreateKeypair,
    ) -> Result<Keypair, ComputeError> {
        keypairs::create(self, ctx, req).await
    }

    async fn delete_keypair(&self, ctx: &RequestContext, name: &str) -> Result<(), ComputeError> {
        keypairs::delete(self, ctx, name).await
    }

    async fn list_groups(&self, ctx: &RequestContext) -> Result<Vec<ServerGroup>, ComputeError> {
        groups::list(self, ctx).await
    }

    async fn get_group(
        &self,
        ctx: &RequestContext,
        id: ServerGroupId,
    ) -> Result<ServerGroup, ComputeError> {
        groups::get(self, ctx, id).await
    }

    async fn create_group(
        &self,
        ctx: &RequestContext,
        req: CreateGroup,
    ) -> Result<ServerGroup, ComputeError> {
        groups::create(self, ctx, req).await
    }

    async fn delete_group(
        &self,
        ctx: &RequestContext,
        id: ServerGroupId,
    ) -> Result<(), ComputeError> {
        groups::delete(self, ctx, id).await
    }

    async fn quotas(
        &self,
        ctx: &RequestContext,
        project: &ProjectId,
    ) -> Result<(QuotaLimits, QuotaUsage), ComputeError> {
        quotas::show(self, ctx, project).await
    }

    async fn set_quotas(
        &self,
        ctx: &RequestContext,
        project: &ProjectId,
        limits: QuotaLimits,
    ) -> Result<QuotaLimits, ComputeError> {
        quotas::set(self, ctx, project, limits).await
    }

    async fn availability_zones(
        &self,
        ctx: &RequestContext,
    ) -> Result<Vec<AvailabilityZone>, ComputeError> {
        quotas::availability_zones(self, ctx).await
    }
}
