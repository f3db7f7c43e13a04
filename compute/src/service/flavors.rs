// SPDX-License-Identifier: Apache-2.0
//! Flavors and their extra specs. Private flavors are visible to admins only; management
//! needs the admin rules of [`crate::policy`].

use super::ComputeService;
use crate::error::ComputeError;
use crate::policy::authorize;
use crate::types::Flavor;
use ferrostack_core::RequestContext;
use serde_json::json;
use std::collections::BTreeMap;

pub(super) async fn list(
    svc: &ComputeService,
    ctx: &RequestContext,
) -> Result<Vec<Flavor>, ComputeError> {
    let admin = ctx.has_role("admin");
    let mut v: Vec<Flavor> = svc
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

pub(super) async fn get(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
) -> Result<Flavor, ComputeError> {
    let f = svc.flavor(id).await?;
    if !f.is_public && !ctx.has_role("admin") {
        return Err(ComputeError::NotFound { what: "Flavor", id: id.into() });
    }
    Ok(f)
}

pub(super) async fn create(
    svc: &ComputeService,
    ctx: &RequestContext,
    flavor: Flavor,
) -> Result<Flavor, ComputeError> {
    authorize(&svc.policy, "os_compute_api:os-flavor-manage:create", ctx, &json!({}))?;
    flavor.validate().map_err(ComputeError::Invalid)?;
    let db = &svc.deps.db;
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

pub(super) async fn delete(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
) -> Result<(), ComputeError> {
    authorize(&svc.policy, "os_compute_api:os-flavor-manage:delete", ctx, &json!({}))?;
    if !svc.deps.db.flavors.delete(id).await? {
        return Err(ComputeError::NotFound { what: "Flavor", id: id.into() });
    }
    Ok(())
}

pub(super) async fn set_extra_specs(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
    specs: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ComputeError> {
    authorize(&svc.policy, "os_compute_api:os-flavor-extra-specs:create", ctx, &json!({}))?;
    for (k, v) in &specs {
        crate::types::validate_spec(k, v).map_err(ComputeError::Invalid)?;
    }
    svc.flavor(id).await?;
    let f = svc
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

pub(super) async fn unset_extra_spec(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
    key: &str,
) -> Result<(), ComputeError> {
    authorize(&svc.policy, "os_compute_api:os-flavor-extra-specs:delete", ctx, &json!({}))?;
    let f = svc.flavor(id).await?;
    if !f.extra_specs.contains_key(key) {
        return Err(ComputeError::NotFound { what: "Flavor extra spec", id: key.into() });
    }
    svc.deps
        .db
        .flavors
        .update_with::<ComputeError, _>(id, |f| {
            f.extra_specs.remove(key);
            Ok(())
        })
        .await?;
    Ok(())
}
