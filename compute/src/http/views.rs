// SPDX-License-Identifier: Apache-2.0
//! Nova's JSON views of servers, flavors, keypairs, server groups, attachments, interfaces
//! and quota sets, shaped by the negotiated microversion.

use super::links;
use super::ts_micro;
use crate::types::{Flavor, Keypair, QuotaLimits, Server, ServerGroup, Vif, VolumeAttachment};
use ferrostack_core::http::Microversion;
use ferrostack_core::id::ServerId;
use ferrostack_core::time::seconds_format;
use serde_json::{Value, json};
use std::collections::BTreeMap;

// Views

/// The server's addresses by network name. `extended` adds the `OS-EXT-IPS` type and MAC
/// (the server view); the `ips` resource shows only version and address, as Nova's does.
pub(super) fn address_map(s: &Server, extended: bool) -> BTreeMap<String, Vec<Value>> {
    let mut addresses: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for v in &s.vifs {
        let e = addresses.entry(v.network_name.clone()).or_default();
        for ip in &v.fixed_ips {
            let mut a = json!({ "version": if ip.contains(':') { 6 } else { 4 }, "addr": ip });
            if extended {
                a["OS-EXT-IPS:type"] = json!("fixed");
                a["OS-EXT-IPS-MAC:mac_addr"] = json!(v.mac);
            }
            e.push(a);
        }
    }
    addresses
}

pub(super) fn server_view(s: &Server, mv: Microversion, base: &str, admin: bool) -> Value {
    let addresses = address_map(s, true);
    let image = match s.image_id {
        Some(i) => {
            json!({"id": i.to_string(), "links": [{"rel": "bookmark", "href": format!("{base}/images/{i}")}]})
        }
        None => json!(""),
    };
    let flavor = if mv.at_least(2, 47) {
        let mut f = json!({
            "vcpus": s.flavor.vcpus, "ram": s.flavor.ram_mb, "disk": s.flavor.disk_gb,
            "ephemeral": s.flavor.ephemeral_gb, "swap": s.flavor.swap_mb,
            "original_name": s.flavor.name,
        });
        if admin || mv.at_least(2, 47) {
            f["extra_specs"] = json!(s.flavor.extra_specs);
        }
        f
    } else {
        json!({"id": s.flavor.id, "links": [{"rel": "bookmark", "href": format!("{base}/flavors/{}", s.flavor.id)}]})
    };
    let host_id = match &s.host {
        Some(h) => {
            use md5::Digest;
            // Nova hashes project id + host (sha224); any opaque per-project digest works.
            let d = md5::Md5::digest(format!("{}{}", s.project_id.as_str(), h).as_bytes());
            d.iter().map(|b| format!("{b:02x}")).collect::<String>()
        }
        None => String::new(),
    };
    let volumes: Vec<Value> = s
        .volumes
        .iter()
        .map(|a| {
            if mv.at_least(2, 3) {
                json!({"id": a.volume_id.to_string(), "delete_on_termination": a.delete_on_termination})
            } else {
                json!({"id": a.volume_id.to_string()})
            }
        })
        .collect();
    let mut v = json!({
        "id": s.id.to_string(),
        "name": s.name,
        "status": s.status(),
        "tenant_id": s.project_id.as_str(),
        "user_id": s.user_id.as_str(),
        "metadata": s.metadata,
        "hostId": host_id,
        "image": image,
        "flavor": flavor,
        "created": seconds_format(s.created_at),
        "updated": seconds_format(s.updated_at),
        "addresses": addresses,
        "accessIPv4": s.access_ipv4.clone().unwrap_or_default(),
        "accessIPv6": s.access_ipv6.clone().unwrap_or_default(),
        "links": links(base, "servers", &s.id.to_string()),
        "OS-DCF:diskConfig": "MANUAL",
        "progress": s.progress,
        "OS-EXT-AZ:availability_zone": s.availability_zone.clone().unwrap_or_else(|| if s.host.is_some() { "nova".into() } else { String::new() }),
        "config_drive": if s.config_drive { "True" } else { "" },
        "key_name": s.key_name,
        "OS-SRV-USG:launched_at": s.launched_at.map(ts_micro),
        "OS-SRV-USG:terminated_at": Value::Null,
        "OS-EXT-STS:task_state": s.task_state.map(|t| t.as_str()),
        "OS-EXT-STS:vm_state": s.vm_state.as_str(),
        "OS-EXT-STS:power_state": s.power_state.code(),
        "os-extended-volumes:volumes_attached": volumes,
        "security_groups": if s.vifs.is_empty() { json!([]) } else { json!([{"name": "default"}]) },
    });
    if admin {
        v["OS-EXT-SRV-ATTR:host"] = json!(s.host);
        v["OS-EXT-SRV-ATTR:hypervisor_hostname"] = json!(s.host);
        v["OS-EXT-SRV-ATTR:instance_name"] = json!(format!("instance-{}", &s.id.simple()[..8]));
        if mv.at_least(2, 3) {
            v["OS-EXT-SRV-ATTR:reservation_id"] = json!(s.reservation_id);
            v["OS-EXT-SRV-ATTR:launch_index"] = json!(s.launch_index);
            v["OS-EXT-SRV-ATTR:hostname"] = json!(crate::hypervisor::hostname_of(&s.name));
            v["OS-EXT-SRV-ATTR:kernel_id"] = json!("");
            v["OS-EXT-SRV-ATTR:ramdisk_id"] = json!("");
            v["OS-EXT-SRV-ATTR:root_device_name"] = json!("/dev/vda");
            v["OS-EXT-SRV-ATTR:user_data"] = json!(s.user_data);
        }
    }
    if mv.at_least(2, 9) {
        v["locked"] = json!(s.locked);
    }
    if mv.at_least(2, 19) {
        v["description"] = json!(s.description);
    }
    if mv.at_least(2, 26) {
        v["tags"] = json!([]);
    }
    if mv.at_least(2, 63) {
        v["trusted_image_certificates"] = Value::Null;
    }
    if mv.at_least(2, 73) {
        v["locked_reason"] = Value::Null;
    }
    if mv.at_least(2, 71) {
        v["server_groups"] = json!(s.server_group.map(|g| vec![g.to_string()]).unwrap_or_default());
    }
    if let Some(f) = &s.fault
        && matches!(s.status(), "ERROR" | "DELETED")
    {
        v["fault"] =
            json!({"code": f.code, "created": seconds_format(f.created), "message": f.message});
    }
    v
}

pub(super) fn flavor_view(f: &Flavor, mv: Microversion, base: &str, detail: bool) -> Value {
    let mut v = json!({"id": f.id, "name": f.name, "links": links(base, "flavors", &f.id)});
    if mv.at_least(2, 55) {
        v["description"] = json!(f.description);
    }
    if detail {
        v["ram"] = json!(f.ram_mb);
        v["vcpus"] = json!(f.vcpus);
        v["disk"] = json!(f.disk_gb);
        v["swap"] =
            if f.swap_mb == 0 && !mv.at_least(2, 75) { json!("") } else { json!(f.swap_mb) };
        v["OS-FLV-EXT-DATA:ephemeral"] = json!(f.ephemeral_gb);
        v["OS-FLV-DISABLED:disabled"] = json!(f.disabled);
        v["os-flavor-access:is_public"] = json!(f.is_public);
        v["rxtx_factor"] = json!(f.rxtx_factor);
        if mv.at_least(2, 61) {
            v["extra_specs"] = json!(f.extra_specs);
        }
    }
    v
}

pub(super) fn keypair_view(k: &Keypair, mv: Microversion, full: bool) -> Value {
    let mut v = json!({"name": k.name, "public_key": k.public_key, "fingerprint": k.fingerprint});
    if mv.at_least(2, 2) {
        v["type"] = json!(k.key_type);
    }
    if full {
        v["user_id"] = json!(k.user_id.as_str());
    }
    if let Some(private_key) = &k.private_key {
        v["private_key"] = json!(private_key);
    }
    v
}

pub(super) fn group_view(g: &ServerGroup, mv: Microversion) -> Value {
    let mut v = json!({
        "id": g.id.to_string(),
        "name": g.name,
        "members": g.members.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
    });
    if mv.at_least(2, 64) {
        v["policy"] = json!(g.policy.as_str());
        v["rules"] = match g.max_server_per_host {
            Some(n) => json!({"max_server_per_host": n}),
            None => json!({}),
        };
    } else {
        v["policies"] = json!([g.policy.as_str()]);
        v["metadata"] = json!({});
    }
    if mv.at_least(2, 13) {
        v["project_id"] = json!(g.project_id.as_str());
        v["user_id"] = json!(g.user_id.as_str());
    }
    v
}

pub(super) fn attachment_view(a: &VolumeAttachment, server: ServerId, mv: Microversion) -> Value {
    let mut v = json!({
        "id": a.volume_id.to_string(),
        "volumeId": a.volume_id.to_string(),
        "serverId": server.to_string(),
        "device": a.device,
    });
    if mv.at_least(2, 70) {
        v["tag"] = json!(a.tag);
    }
    if mv.at_least(2, 79) {
        v["delete_on_termination"] = json!(a.delete_on_termination);
    }
    v
}

pub(super) fn interface_view(v: &Vif, mv: Microversion) -> Value {
    let mut o = json!({
        "port_id": v.port_id.to_string(),
        "net_id": v.network_id.to_string(),
        "mac_addr": v.mac,
        "port_state": "ACTIVE",
        "fixed_ips": v.fixed_ips.iter().map(|ip| json!({"ip_address": ip, "subnet_id": ""})).collect::<Vec<_>>(),
    });
    if mv.at_least(2, 70) {
        o["tag"] = Value::Null;
    }
    o
}

pub(super) fn quota_view(project: &str, l: &QuotaLimits, mv: Microversion) -> Value {
    let mut v = json!({
        "id": project, "instances": l.instances, "cores": l.cores, "ram": l.ram,
        "key_pairs": l.key_pairs, "metadata_items": l.metadata_items,
        "server_groups": l.server_groups, "server_group_members": l.server_group_members,
    });
    if !mv.at_least(2, 57) {
        v["injected_files"] = json!(5);
        v["injected_file_content_bytes"] = json!(10240);
        v["injected_file_path_bytes"] = json!(255);
    }
    if !mv.at_least(2, 36) {
        for k in ["fixed_ips", "floating_ips", "security_groups", "security_group_rules"] {
            v[k] = json!(-1);
        }
    }
    v
}
