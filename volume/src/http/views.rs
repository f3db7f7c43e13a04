// SPDX-License-Identifier: Apache-2.0
//! Cinder's JSON views of volumes, snapshots, types, attachments and quota sets.

use crate::types::*;
use ferrostack_core::http::Microversion;
use serde_json::{Value, json};
use time::OffsetDateTime;

pub(super) fn fmt_time(t: OffsetDateTime) -> String {
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]"
    );
    t.to_offset(time::UtcOffset::UTC).format(&f).unwrap_or_default()
}

pub(super) fn fmt_opt(t: Option<OffsetDateTime>) -> Value {
    t.map_or(Value::Null, |t| Value::String(fmt_time(t)))
}

pub(super) fn link(project: &str, kind: &str, id: &str) -> Value {
    json!([{ "rel": "self", "href": format!("v3/{project}/{kind}/{id}") },
           { "rel": "bookmark", "href": format!("{project}/{kind}/{id}") }])
}

/// Cinder's volume view. `extended` adds what Cinder's API extensions add to show and detail
/// only (tenant attribute, image metadata, admin host attributes): create and update
/// responses do not carry them, and strict clients (tempest's schemas) refuse them there.
/// `volume_type_id` appears from microversion 3.63.
pub(super) fn volume_view(
    v: &Volume,
    attachments: &[Attachment],
    admin: bool,
    mv: Microversion,
    extended: bool,
) -> Value {
    let atts: Vec<Value> = attachments
        .iter()
        .filter(|a| a.volume_id == v.id && a.attach_status == AttachStatus::Attached)
        .map(|a| {
            json!({
                "server_id": a.instance_uuid.map(|s| s.to_string()),
                "attachment_id": a.id.to_string(),
                "attached_at": fmt_opt(a.attach_time),
                "host_name": a.attached_host,
                "volume_id": v.id.to_string(),
                "device": a.mountpoint,
                "id": v.id.to_string(),
            })
        })
        .collect();
    let (snapshot_id, source_volid) = match &v.source {
        VolumeSource::Snapshot { id } => (Some(id.to_string()), None),
        VolumeSource::Volume { id } => (None, Some(id.to_string())),
        _ => (None, None),
    };
    let mut out = json!({
        "id": v.id.to_string(),
        "name": v.name,
        "description": v.description,
        "status": v.status.as_str(),
        "size": v.size_gb,
        "availability_zone": v.availability_zone,
        "created_at": fmt_time(v.created_at),
        "updated_at": fmt_opt(v.updated_at),
        "volume_type": v.volume_type_name,
        "snapshot_id": snapshot_id,
        "source_volid": source_volid,
        "metadata": v.metadata,
        "bootable": if v.bootable { "true" } else { "false" },
        "encrypted": false,
        "multiattach": v.multiattach,
        "replication_status": "disabled",
        "consistencygroup_id": null,
        "group_id": null,
        "migration_status": null,
        "shared_targets": false,
        "service_uuid": null,
        "user_id": v.user_id.as_str(),
        "attachments": atts,
        "links": link(v.project_id.as_str(), "volumes", &v.id.to_string()),
    });
    if mv.at_least(3, 63) {
        out["volume_type_id"] = json!(v.volume_type_id.to_string());
    }
    if !extended {
        return out;
    }
    out["os-vol-tenant-attr:tenant_id"] = json!(v.project_id.as_str());
    if !v.image_metadata.is_empty() {
        out["volume_image_metadata"] = json!(v.image_metadata);
    }
    if admin {
        out["os-vol-host-attr:host"] =
            json!(v.backend.as_ref().map(|b| format!("ferrostack@{b}#{b}")));
        out["os-vol-mig-status-attr:migstat"] = Value::Null;
    }
    out
}

pub(super) fn snapshot_view(s: &Snapshot) -> Value {
    json!({
        "id": s.id.to_string(),
        "name": s.name,
        "description": s.description,
        "volume_id": s.volume_id.to_string(),
        "status": s.status.as_str(),
        "size": s.size_gb,
        "metadata": s.metadata,
        "created_at": fmt_time(s.created_at),
        "updated_at": fmt_opt(s.updated_at),
        "user_id": s.user_id.as_str(),
        "group_snapshot_id": null,
        "consumes_quota": true,
        "os-extended-snapshot-attributes:progress": if s.status == SnapshotStatus::Available { "100%" } else { "0%" },
        "os-extended-snapshot-attributes:project_id": s.project_id.as_str(),
    })
}

pub(super) fn type_view(t: &VolumeType) -> Value {
    json!({
        "id": t.id.to_string(),
        "name": t.name,
        "description": t.description,
        "is_public": t.is_public,
        "os-volume-type-access:is_public": t.is_public,
        "extra_specs": t.extra_specs,
        "qos_specs_id": null,
    })
}

pub(super) fn attachment_view(a: &Attachment) -> Value {
    json!({
        "id": a.id.to_string(),
        "status": a.attach_status.as_str(),
        "instance": a.instance_uuid.map(|s| s.to_string()),
        "volume_id": a.volume_id.to_string(),
        "attached_at": fmt_opt(a.attach_time),
        "detached_at": fmt_opt(a.detach_time),
        "attach_mode": a.attach_mode,
        "connection_info": a.connection_info.as_ref().map(|c| c.to_cinder_attachment_json(&a.id)),
    })
}

pub(super) fn attachment_summary(a: &Attachment) -> Value {
    json!({
        "id": a.id.to_string(),
        "status": a.attach_status.as_str(),
        "instance": a.instance_uuid.map(|s| s.to_string()),
        "volume_id": a.volume_id.to_string(),
    })
}

pub(super) fn quota_json(target: &str, l: &QuotaLimits, usage: Option<&QuotaUsage>) -> Value {
    let item = |limit: i64, used: u64| match usage {
        Some(_) => json!({ "limit": limit, "in_use": used, "reserved": 0, "allocated": 0 }),
        None => json!(limit),
    };
    let u = usage.copied().unwrap_or_default();
    json!({ "quota_set": {
        "id": target,
        "volumes": item(l.volumes, u.volumes),
        "gigabytes": item(l.gigabytes, u.gigabytes),
        "snapshots": item(l.snapshots, u.snapshots),
        "per_volume_gigabytes": item(l.per_volume_gigabytes, 0),
    }})
}
