// SPDX-License-Identifier: Apache-2.0
//! Volume and interface attachments: checked here, carried out by the server's host over a
//! bus call (the host talks to the volume and network services).

use super::{ATTACH_STATES, AttachVolume, ComputeService, check_state, invalid_state};
use crate::error::ComputeError;
use crate::rpc::HostRequest;
use crate::types::{Vif, VmState, VolumeAttachment};
use ferrostack_core::RequestContext;
use ferrostack_core::error::{Classify, ErrorKind};
use ferrostack_core::id::{NetworkId, PortId, ServerId, VolumeId};

pub(super) async fn attach_volume(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: ServerId,
    req: AttachVolume,
) -> Result<VolumeAttachment, ComputeError> {
    let AttachVolume { volume, device, delete_on_termination } = req;
    let me = svc;
    let s = me.visible(ctx, id, "os_compute_api:os-volumes-attachments:create").await?;
    check_state(&s, "attach_volume", ATTACH_STATES, &[None])?;
    if s.volumes.iter().any(|a| a.volume_id == volume) {
        return Err(ComputeError::Conflict(format!(
            "Volume {volume} is already attached to instance {id}."
        )));
    }
    let host = s
        .host
        .clone()
        .ok_or_else(|| invalid_state("attach_volume", &s, "vm_state", s.vm_state.to_string()))?;
    let attachment =
        me.deps.volumes.attachment_create(ctx, volume, id).await.map_err(|e| match e.kind() {
            ErrorKind::NotFound => {
                ComputeError::NotFound { what: "Volume", id: volume.to_string() }
            }
            _ => e,
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
        Ok(v) => serde_json::from_value(v)
            .map_err(|source| ComputeError::Codec { what: "host reply", source }),
        Err(e) => {
            let _ = me.deps.volumes.attachment_delete(ctx, attachment).await;
            Err(e)
        }
    }
}

pub(super) async fn detach_volume(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: ServerId,
    volume: VolumeId,
) -> Result<(), ComputeError> {
    let me = svc;
    let s = me.visible(ctx, id, "os_compute_api:os-volumes-attachments:delete").await?;
    check_state(&s, "detach_volume", ATTACH_STATES, &[None])?;
    if !s.volumes.iter().any(|a| a.volume_id == volume) {
        return Err(ComputeError::NotFound { what: "Volume attachment", id: volume.to_string() });
    }
    let host = s.host.clone().unwrap_or_default();
    me.call(ctx, &host, HostRequest::DetachVolume { server: id, volume }).await.map(|_| ())
}

pub(super) async fn attach_interface(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: ServerId,
    network: Option<NetworkId>,
    port: Option<PortId>,
) -> Result<Vif, ComputeError> {
    let me = svc;
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
    let v = me.call(ctx, &host, HostRequest::AttachInterface { server: id, network, port }).await?;
    serde_json::from_value(v).map_err(|source| ComputeError::Codec { what: "host reply", source })
}

pub(super) async fn detach_interface(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: ServerId,
    port: PortId,
) -> Result<(), ComputeError> {
    let me = svc;
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
