// SPDX-License-Identifier: Apache-2.0
//! Keystone's JSON shapes for resources and tokens.

use crate::api::{AssignmentView, TokenInfo, TokenScope};
use crate::types::*;
use ferrostack_core::time::keystone_format;
use serde_json::{Value, json};

fn link(base: &str, path: &str) -> Value {
    json!({"self": format!("{base}/v3/{path}")})
}

/// `{"domain": ...}` body content.
pub fn domain(base: &str, d: &Domain) -> Value {
    json!({
        "id": d.id, "name": d.name, "description": d.description, "enabled": d.enabled,
        "tags": d.tags, "options": {}, "links": link(base, &format!("domains/{}", d.id)),
    })
}

/// A project.
pub fn project(base: &str, p: &Project) -> Value {
    let parent = p.parent_id.as_ref().map_or(p.domain_id.as_str(), |x| x.as_str());
    json!({
        "id": p.id, "name": p.name, "domain_id": p.domain_id, "description": p.description,
        "enabled": p.enabled, "parent_id": parent, "is_domain": false, "tags": p.tags,
        "options": {}, "links": link(base, &format!("projects/{}", p.id)),
    })
}

/// A user (never its password).
pub fn user(base: &str, u: &User) -> Value {
    let mut v = json!({
        "id": u.id, "name": u.name, "domain_id": u.domain_id, "enabled": u.enabled,
        "password_expires_at": u.password_expires_at().map(keystone_format),
        "options": u.options, "links": link(base, &format!("users/{}", u.id)),
    });
    if let Some(p) = &u.default_project_id {
        v["default_project_id"] = json!(p);
    }
    if !u.description.is_empty() {
        v["description"] = json!(u.description);
    }
    if let Some(e) = &u.email {
        v["email"] = json!(e);
    }
    v
}

/// A group.
pub fn group(base: &str, g: &Group) -> Value {
    json!({
        "id": g.id, "name": g.name, "domain_id": g.domain_id, "description": g.description,
        "links": link(base, &format!("groups/{}", g.id)),
    })
}

/// A role.
pub fn role(base: &str, r: &Role) -> Value {
    json!({
        "id": r.id, "name": r.name, "domain_id": r.domain_id, "description": r.description,
        "options": {}, "links": link(base, &format!("roles/{}", r.id)),
    })
}

/// A region.
pub fn region(base: &str, r: &Region) -> Value {
    json!({
        "id": r.id, "description": r.description, "parent_region_id": r.parent_region_id,
        "links": link(base, &format!("regions/{}", r.id)),
    })
}

/// A service.
pub fn service(base: &str, s: &Service) -> Value {
    json!({
        "id": s.id, "type": s.service_type, "name": s.name, "description": s.description,
        "enabled": s.enabled, "links": link(base, &format!("services/{}", s.id)),
    })
}

/// An endpoint.
pub fn endpoint(base: &str, e: &Endpoint) -> Value {
    json!({
        "id": e.id, "interface": e.interface.as_str(), "region_id": e.region_id,
        "region": e.region_id, "service_id": e.service_id, "url": e.url, "enabled": e.enabled,
        "links": link(base, &format!("endpoints/{}", e.id)),
    })
}

/// A catalog as tokens and `/v3/auth/catalog` carry it.
pub fn catalog(c: &[CatalogEntry]) -> Value {
    json!(c)
}

/// `{"token": {...}}`.
pub fn token(t: &TokenInfo, with_catalog: bool) -> Value {
    let mut body = json!({
        "methods": t.payload.methods,
        "user": {
            "domain": {"id": t.user_domain.id, "name": t.user_domain.name},
            "id": t.user.id,
            "name": t.user.name,
            "password_expires_at": t.user.password_expires_at().map(keystone_format),
        },
        "audit_ids": t.payload.audit_ids,
        "expires_at": keystone_format(t.payload.expires_at),
        "issued_at": keystone_format(t.payload.issued_at),
    });
    match &t.scope {
        TokenScope::Unscoped => {}
        TokenScope::Project { project, domain } => {
            body["project"] = json!({
                "domain": {"id": domain.id, "name": domain.name},
                "id": project.id, "name": project.name,
            });
            body["is_domain"] = json!(false);
        }
        TokenScope::Domain(d) => body["domain"] = json!({"id": d.id, "name": d.name}),
        TokenScope::System => body["system"] = json!({"all": true}),
    }
    if let Some(ac) = &t.application_credential {
        body["application_credential"] =
            json!({"id": ac.id, "name": ac.name, "restricted": ac.restricted});
    }
    if !matches!(t.scope, TokenScope::Unscoped) {
        body["roles"] = t.roles.iter().map(|r| json!({"id": r.id, "name": r.name})).collect();
        if with_catalog {
            body["catalog"] = catalog(&t.catalog);
        }
    }
    json!({ "token": body })
}

/// One row of `GET /v3/role_assignments`.
pub fn assignment(base: &str, a: &AssignmentView, include_names: bool) -> Value {
    let asg = &a.assignment;
    let mut v = json!({"role": {"id": asg.role_id}});
    let domain_of = |(id, name): &(String, String)| {
        if include_names { json!({"id": id, "name": name}) } else { json!({"id": id}) }
    };
    let (actor_key, actor_id) = match &asg.actor {
        Actor::User(u) => ("user", u.to_string()),
        Actor::Group(g) => ("group", g.to_string()),
    };
    v[actor_key] = json!({"id": actor_id});
    let scope_path;
    match &asg.target {
        Target::Project(p) => {
            v["scope"] = json!({"project": {"id": p}});
            if include_names {
                v["scope"]["project"]["name"] = json!(a.target_name);
                if let Some(d) = &a.target_domain {
                    v["scope"]["project"]["domain"] = domain_of(d);
                }
            }
            scope_path = format!("projects/{p}");
        }
        Target::Domain(d) => {
            v["scope"] = json!({"domain": {"id": d}});
            if include_names {
                v["scope"]["domain"]["name"] = json!(a.target_name);
            }
            scope_path = format!("domains/{d}");
        }
        Target::System => {
            v["scope"] = json!({"system": {"all": true}});
            scope_path = "system".to_owned();
        }
    }
    if asg.inherited {
        v["scope"]["OS-INHERIT:inherited_to"] = json!("projects");
    }
    if include_names {
        v["role"]["name"] = json!(a.role_name);
        v[actor_key]["name"] = json!(a.actor_name);
        v[actor_key]["domain"] = domain_of(&a.actor_domain);
    }
    let mut href = format!("{base}/v3/{scope_path}/{actor_key}s/{actor_id}/roles/{}", asg.role_id);
    if asg.inherited {
        href = format!(
            "{base}/v3/OS-INHERIT/{scope_path}/{actor_key}s/{actor_id}/roles/{}/inherited_to_projects",
            asg.role_id
        );
    }
    v["links"] = json!({"assignment": href});
    if let Some(g) = &a.via_group {
        v["links"]["membership"] = json!(format!("{base}/v3/groups/{g}/users/{actor_id}"));
    }
    v
}

/// Python's `datetime.isoformat()` of a naive UTC time, as Keystone renders an application
/// credential's `expires_at`: `2026-11-22T08:42:33.042025`, or without the fraction when it
/// is zero.
pub fn python_isoformat(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let base = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    match t.microsecond() {
        0 => base,
        us => format!("{base}.{us:06}"),
    }
}

/// An application credential (`secret` only when set: in the answer to a create).
pub fn application_credential(base: &str, c: &ApplicationCredential) -> Value {
    let roles: Vec<Value> = c
        .roles
        .iter()
        .map(|r| {
            json!({"id": r.id, "name": r.name, "domain_id": r.domain_id,
                "description": r.description, "options": {}})
        })
        .collect();
    let mut v = json!({
        "id": c.id, "name": c.name, "description": c.description, "user_id": c.user_id,
        "project_id": c.project_id, "roles": roles,
        "expires_at": c.expires_at.map(python_isoformat), "unrestricted": c.unrestricted,
        "system": null, "access_rules": [],
        "links": link(base, &format!("users/{}/application_credentials/{}", c.user_id, c.id)),
    });
    if let Some(s) = &c.secret {
        v["secret"] = json!(s);
    }
    v
}

/// A credential of `/v3/credentials`.
pub fn credential(base: &str, c: &Credential) -> Value {
    json!({
        "id": c.id, "user_id": c.user_id, "project_id": c.project_id, "type": c.credential_type,
        "blob": c.blob, "links": link(base, &format!("credentials/{}", c.id)),
    })
}

/// An EC2 credential of the `OS-EC2` extension.
pub fn ec2_credential(base: &str, c: &crate::api::Ec2Credential) -> Value {
    json!({
        "user_id": c.user_id, "tenant_id": c.tenant_id, "access": c.access, "secret": c.secret,
        "trust_id": c.trust_id,
        "links": link(base, &format!("users/{}/credentials/OS-EC2/{}", c.user_id, c.access)),
    })
}
