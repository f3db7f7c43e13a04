// SPDX-License-Identifier: Apache-2.0
//! What volumes and snapshots have in common: both belong to a project, carry a user-set
//! name, description and metadata, and are listed and renamed the same way.

use super::{VolumeService, check_metadata, check_text, now};
use crate::VolumeError;
use crate::api::{ListFilter, UpdateVolume};
use crate::policy::{authorize, is_admin};
use crate::types::*;
use ferrostack_core::RequestContext;
use ferrostack_core::id::{ProjectId, SnapshotId, VolumeId};
use ferrostack_core::store::Collection;
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

/// A project-owned record with a user-editable name, description and metadata.
pub(super) trait Owned: Serialize + DeserializeOwned + Send + Sync {
    /// The record's id type (its order breaks ties between records created together).
    type Id: Ord + ToString;
    fn id(&self) -> &Self::Id;
    fn project_id(&self) -> &ProjectId;
    fn status_str(&self) -> &str;
    fn created_at(&self) -> OffsetDateTime;
    fn name(&self) -> Option<&String>;
    /// Sets what `change` names, and `updated_at`.
    fn apply(&mut self, change: &UpdateVolume);
}

/// `Owned` for a record type whose fields have the shared names (`id`, `project_id`,
/// `status`, `name`, `description`, `metadata`, `created_at`, `updated_at`): a trait
/// implementation is the one thing a function cannot write for two types.
macro_rules! impl_owned {
    ($ty:ty, $id:ty) => {
        impl Owned for $ty {
            type Id = $id;
            fn id(&self) -> &$id {
                &self.id
            }
            fn project_id(&self) -> &ProjectId {
                &self.project_id
            }
            fn status_str(&self) -> &str {
                self.status.as_str()
            }
            fn created_at(&self) -> OffsetDateTime {
                self.created_at
            }
            fn name(&self) -> Option<&String> {
                self.name.as_ref()
            }
            fn apply(&mut self, change: &UpdateVolume) {
                if let Some(n) = &change.name {
                    self.name = Some(n.clone());
                }
                if let Some(d) = &change.description {
                    self.description = Some(d.clone());
                }
                if let Some(m) = &change.metadata {
                    self.metadata = m.clone();
                }
                self.updated_at = Some(now());
            }
        }
    };
}
impl_owned!(Volume, VolumeId);
impl_owned!(Snapshot, SnapshotId);

/// The records of `all` the caller may list (policy `action`), filtered, newest first, paged.
pub(super) async fn list<T: Owned>(
    all: &Collection<T>,
    ctx: &RequestContext,
    filter: &ListFilter,
    action: &str,
) -> Result<Vec<T>, VolumeError> {
    let every_project = filter.all_projects && is_admin(ctx);
    let project = ctx.project_id().cloned();
    if let Some(p) = &project {
        authorize(action, ctx, &VolumeService::target(p))?;
    } else if !every_project {
        return Err(VolumeError::Forbidden(action.into()));
    }
    let mut items: Vec<T> = all
        .list_all()
        .await?
        .into_iter()
        .map(|v| v.value)
        .filter(|v| every_project || Some(v.project_id()) == project.as_ref())
        .filter(|v| filter.name.as_ref().is_none_or(|n| v.name() == Some(n)))
        .filter(|v| filter.status.as_ref().is_none_or(|s| v.status_str() == s))
        .collect();
    items.sort_by(|a, b| b.created_at().cmp(&a.created_at()).then(b.id().cmp(a.id())));
    Ok(VolumeService::listed(items, filter, |v| v.id().to_string()))
}

/// Checks `change` and applies it to record `id` of `all`.
pub(super) async fn update<T: Owned>(
    all: &Collection<T>,
    id: &str,
    change: &UpdateVolume,
) -> Result<T, VolumeError> {
    check_text("name", &change.name, MAX_NAME_LEN)?;
    check_text("description", &change.description, MAX_DESCRIPTION_LEN)?;
    if let Some(m) = &change.metadata {
        check_metadata(m)?;
    }
    Ok(all
        .update_with::<VolumeError, _>(id, |r| {
            r.apply(change);
            Ok(())
        })
        .await?
        .value)
}
