// SPDX-License-Identifier: Apache-2.0
//! Volume types: list, show, create, extra specs, delete (admin), and the `__DEFAULT__` type
//! created on first use. Names are unique through an index key per name.

use super::{VolumeService, check_metadata, check_text};
use crate::VolumeError;
use crate::api::CreateVolumeType;
use crate::policy::{authorize, is_admin};
use crate::types::*;
use ferrostack_core::RequestContext;
use ferrostack_core::store::{Condition, StoreError, Txn};
use serde_json::json;
use std::collections::BTreeMap;

/// The index of type names: `volume/type-names/<name>` holds the type's id.
const TYPE_NAMES: &str = "volume/type-names/";

pub(super) async fn list(
    svc: &VolumeService,
    ctx: &RequestContext,
) -> Result<Vec<VolumeType>, VolumeError> {
    authorize("volume_extension:type_get", ctx, &json!({}))?;
    svc.default_type().await?;
    let admin = is_admin(ctx);
    Ok(svc
        .types
        .list_all()
        .await?
        .into_iter()
        .map(|v| v.value)
        .filter(|t| admin || t.is_public)
        .collect())
}

pub(super) async fn get(
    svc: &VolumeService,
    ctx: &RequestContext,
    id_or_name: &str,
) -> Result<VolumeType, VolumeError> {
    authorize("volume_extension:type_get", ctx, &json!({}))?;
    let t = if id_or_name == "default" {
        svc.default_type().await?
    } else {
        svc.resolve_type(id_or_name).await.map_err(|_| VolumeError::NotFound {
            kind: "Volume type",
            id: ferrostack_core::id::truncate_for_message(id_or_name),
        })?
    };
    if !t.is_public && !is_admin(ctx) {
        return Err(VolumeError::NotFound { kind: "Volume type", id: t.id.to_string() });
    }
    Ok(t)
}

pub(super) async fn create(
    svc: &VolumeService,
    ctx: &RequestContext,
    req: CreateVolumeType,
) -> Result<VolumeType, VolumeError> {
    authorize("volume_extension:types_manage", ctx, &json!({}))?;
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 255 || name.contains('\0') {
        return Err(VolumeError::InvalidInput("Volume type name can not be empty.".into()));
    }
    check_text("description", &req.description, MAX_DESCRIPTION_LEN)?;
    check_metadata(&req.extra_specs)?;
    let t = VolumeType {
        id: VolumeTypeId::new(),
        name: name.to_owned(),
        description: req.description,
        is_public: req.is_public,
        extra_specs: req.extra_specs,
    };
    svc.insert_type(&t).await?;
    Ok(t)
}

pub(super) async fn set_extra_specs(
    svc: &VolumeService,
    ctx: &RequestContext,
    id: &VolumeTypeId,
    specs: BTreeMap<String, String>,
) -> Result<VolumeType, VolumeError> {
    authorize("volume_extension:types_manage", ctx, &json!({}))?;
    check_metadata(&specs)?;
    let r = svc
        .types
        .update_with::<VolumeError, _>(&id.to_string(), |t| {
            t.extra_specs.extend(specs.clone());
            Ok(())
        })
        .await;
    match r {
        Ok(v) => Ok(v.value),
        Err(VolumeError::Store(StoreError::NotFound(_))) => {
            Err(VolumeError::NotFound { kind: "Volume type", id: id.to_string() })
        }
        Err(e) => Err(e),
    }
}

pub(super) async fn delete(
    svc: &VolumeService,
    ctx: &RequestContext,
    id: &VolumeTypeId,
) -> Result<(), VolumeError> {
    authorize("volume_extension:types_manage", ctx, &json!({}))?;
    let t = svc
        .types
        .get(&id.to_string())
        .await?
        .ok_or_else(|| VolumeError::NotFound { kind: "Volume type", id: id.to_string() })?;
    if t.value.name == DEFAULT_TYPE_NAME {
        return Err(VolumeError::InvalidVolumeType(
            "the default volume type cannot be deleted".into(),
        ));
    }
    let in_use = svc.volumes.list_all().await?.iter().any(|v| v.value.volume_type_id == *id);
    if in_use {
        return Err(VolumeError::InvalidVolumeType("Target volume type is still in use.".into()));
    }
    let txn = Txn::new()
        .when(svc.types.unchanged(&id.to_string(), t.revision))
        .op(svc.types.delete_op(&id.to_string()))
        .delete(format!("{TYPE_NAMES}{}", t.value.name));
    if svc.store.txn(txn).await?.is_committed() {
        Ok(())
    } else {
        Err(VolumeError::Conflict("the volume type changed concurrently; retry".into()))
    }
}

impl VolumeService {
    pub(super) async fn default_type(&self) -> Result<VolumeType, VolumeError> {
        if let Some(t) = self.type_by_name(DEFAULT_TYPE_NAME).await? {
            return Ok(t);
        }
        let t = VolumeType {
            id: VolumeTypeId::new(),
            name: DEFAULT_TYPE_NAME.into(),
            description: Some("Default Volume Type".into()),
            is_public: true,
            extra_specs: BTreeMap::new(),
        };
        match self.insert_type(&t).await {
            Ok(()) => Ok(t),
            Err(VolumeError::AlreadyExists(_)) => self
                .type_by_name(DEFAULT_TYPE_NAME)
                .await?
                .ok_or_else(|| VolumeError::Conflict("the default volume type is changing".into())),
            Err(e) => Err(e),
        }
    }

    pub(super) async fn insert_type(&self, t: &VolumeType) -> Result<(), VolumeError> {
        let index = format!("{TYPE_NAMES}{}", t.name);
        let txn = Txn::new()
            .when(Condition::absent(&index))
            .when(self.types.absent(&t.id.to_string()))
            .put(&index, t.id.to_string().into_bytes())
            .op(self.types.put_op(&t.id.to_string(), t)?);
        if self.store.txn(txn).await?.is_committed() {
            Ok(())
        } else {
            Err(VolumeError::AlreadyExists(format!("Volume Type {} already exists.", t.name)))
        }
    }

    pub(super) async fn type_by_name(&self, name: &str) -> Result<Option<VolumeType>, VolumeError> {
        if name.is_empty() || name.len() > 255 || name.contains('\0') {
            return Ok(None);
        }
        let Some(kv) = self.store.get(&format!("{TYPE_NAMES}{name}")).await? else {
            return Ok(None);
        };
        let id = String::from_utf8_lossy(&kv.value).into_owned();
        Ok(self.types.get(&id).await?.map(|v| v.value))
    }

    pub(super) async fn resolve_type(&self, id_or_name: &str) -> Result<VolumeType, VolumeError> {
        if let Ok(id) = id_or_name.parse::<VolumeTypeId>()
            && let Some(t) = self.types.get(&id.to_string()).await?
        {
            return Ok(t.value);
        }
        if id_or_name == DEFAULT_TYPE_NAME {
            return self.default_type().await;
        }
        self.type_by_name(id_or_name).await?.ok_or_else(|| VolumeError::NotFound {
            kind: "Volume type with name",
            id: ferrostack_core::id::truncate_for_message(id_or_name),
        })
    }
}
