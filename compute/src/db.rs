// SPDX-License-Identifier: Apache-2.0
//! Compute's records in the [`Store`], shared by the controller and the hosts: servers,
//! flavors, keypairs, server groups, quotas, per-project usage and delete tombstones.
//! Multi-key changes (servers + usage) are single transactions.

use crate::error::ComputeError;
use crate::types::{Flavor, Keypair, QuotaLimits, QuotaUsage, Server, ServerGroup, ServerGroupId};
use ferrostack_core::id::{ProjectId, ServerId};
use ferrostack_core::store::retry::retry_txn;
use ferrostack_core::store::{Collection, Condition, Store, Txn, Versioned};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use time::OffsetDateTime;

/// What remains of a deleted server, so the reconciler can tell "deleted but still running"
/// from "never known".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    /// The server.
    pub id: ServerId,
    /// Its host when deleted.
    pub host: Option<String>,
    /// Its project.
    pub project_id: ProjectId,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub deleted_at: OffsetDateTime,
}

/// The typed collections (see the module docs).
#[derive(Debug, Clone)]
pub struct ComputeDb {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Servers by id.
    pub servers: Collection<Server>,
    /// Flavors by flavor id.
    pub flavors: Collection<Flavor>,
    /// Keypairs by `<user>/<name>`.
    pub keypairs: Collection<Keypair>,
    /// Server groups by id.
    pub groups: Collection<ServerGroup>,
    /// Quota limits by project (absent = defaults).
    pub quotas: Collection<QuotaLimits>,
    /// Usage by project.
    pub usage: Collection<QuotaUsage>,
    /// Tombstones by server id.
    pub tombstones: Collection<Tombstone>,
}

impl ComputeDb {
    /// The collections over `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        ComputeDb {
            servers: Collection::new(store.clone(), "compute/servers/"),
            flavors: Collection::new(store.clone(), "compute/flavors/"),
            keypairs: Collection::new(store.clone(), "compute/keypairs/"),
            groups: Collection::new(store.clone(), "compute/server-groups/"),
            quotas: Collection::new(store.clone(), "compute/quotas/"),
            usage: Collection::new(store.clone(), "compute/usage/"),
            tombstones: Collection::new(store.clone(), "compute/deleted/"),
            store,
        }
    }

    /// A server.
    pub async fn server(&self, id: ServerId) -> Result<Versioned<Server>, ComputeError> {
        self.servers.get(&id.to_string()).await?.ok_or_else(|| ComputeError::instance_not_found(id))
    }

    /// Read-modify-write of a server; `change` may refuse with an error.
    pub async fn update_server<F>(
        &self,
        id: ServerId,
        mut change: F,
    ) -> Result<Server, ComputeError>
    where
        F: FnMut(&mut Server) -> Result<(), ComputeError> + Send,
    {
        // The change runs once per attempt; the lock only lends it to one attempt at a time.
        let change = std::sync::Mutex::new(&mut change);
        let change = &change;
        retry_txn(&format!("instance {id}"), || async move {
            let cur = self.server(id).await?;
            let mut s = cur.value.clone();
            (change.lock().unwrap_or_else(std::sync::PoisonError::into_inner))(&mut s)?;
            s.updated_at = OffsetDateTime::now_utc();
            let key = id.to_string();
            let txn = Txn::new()
                .when(self.servers.unchanged(&key, cur.revision))
                .op(self.servers.put_op(&key, &s)?);
            Ok(self.store.txn(txn).await?.is_committed().then_some(s))
        })
        .await
    }

    /// A project's quota limits.
    pub async fn limits(&self, project: &ProjectId) -> Result<QuotaLimits, ComputeError> {
        Ok(self.quotas.get(project.as_str()).await?.map(|v| v.value).unwrap_or_default())
    }

    /// A project's usage.
    pub async fn usage_of(&self, project: &ProjectId) -> Result<QuotaUsage, ComputeError> {
        Ok(self.usage.get(project.as_str()).await?.map(|v| v.value).unwrap_or_default())
    }

    /// Creates `servers` (all of one project) and charges their usage in one transaction,
    /// refusing with [`ComputeError::QuotaExceeded`] when a limit would be passed.
    pub async fn create_servers(&self, servers: &[Server]) -> Result<(), ComputeError> {
        let Some(first) = servers.first() else { return Ok(()) };
        let project = &first.project_id;
        let need = QuotaUsage {
            instances: servers.len() as i64,
            cores: servers.iter().map(|s| i64::from(s.flavor.vcpus)).sum(),
            ram: servers.iter().map(|s| s.flavor.ram_mb as i64).sum(),
        };
        let need = &need;
        retry_txn("quota usage", || async move {
            let limits = self.limits(project).await?;
            let cur = self.usage.get(project.as_str()).await?;
            let used = cur.as_ref().map(|v| v.value).unwrap_or_default();
            for (resource, requested, used, limit) in [
                ("instances", need.instances, used.instances, limits.instances),
                ("cores", need.cores, used.cores, limits.cores),
                ("ram", need.ram, used.ram, limits.ram),
            ] {
                if limit >= 0 && used + requested > limit {
                    return Err(ComputeError::QuotaExceeded { resource, requested, used, limit });
                }
            }
            let new = QuotaUsage {
                instances: used.instances + need.instances,
                cores: used.cores + need.cores,
                ram: used.ram + need.ram,
            };
            let mut txn = Txn::new().when(match &cur {
                Some(v) => self.usage.unchanged(project.as_str(), v.revision),
                None => self.usage.absent(project.as_str()),
            });
            txn = txn.op(self.usage.put_op(project.as_str(), &new)?);
            for s in servers {
                let key = s.id.to_string();
                txn = txn.when(self.servers.absent(&key)).op(self.servers.put_op(&key, s)?);
            }
            Ok(self.store.txn(txn).await?.is_committed().then_some(()))
        })
        .await
    }

    /// Deletes a server record, returns its usage and leaves a tombstone, in one transaction.
    /// Returns the deleted record, or `None` when it was already gone.
    pub async fn finish_delete(&self, id: ServerId) -> Result<Option<Server>, ComputeError> {
        retry_txn(&format!("instance {id}"), || async move {
            let Some(cur) = self.servers.get(&id.to_string()).await? else {
                return Ok(Some(None));
            };
            let s = cur.value;
            let project = s.project_id.as_str().to_owned();
            let ucur = self.usage.get(&project).await?;
            let mut u = ucur.as_ref().map(|v| v.value).unwrap_or_default();
            u.instances = (u.instances - 1).max(0);
            u.cores = (u.cores - i64::from(s.flavor.vcpus)).max(0);
            u.ram = (u.ram - s.flavor.ram_mb as i64).max(0);
            let tomb = Tombstone {
                id,
                host: s.host.clone(),
                project_id: s.project_id.clone(),
                deleted_at: OffsetDateTime::now_utc(),
            };
            let key = id.to_string();
            let mut txn = Txn::new()
                .when(self.servers.unchanged(&key, cur.revision))
                .op(self.servers.delete_op(&key))
                .op(self.tombstones.put_op(&key, &tomb)?)
                .op(self.usage.put_op(&project, &u)?);
            txn = txn.when(match &ucur {
                Some(v) => self.usage.unchanged(&project, v.revision),
                None => self.usage.absent(&project),
            });
            if let Some(gid) = s.server_group
                && let Some(g) = self.groups.get(&gid.to_string()).await?
            {
                {
                    let mut gv = g.value.clone();
                    gv.members.retain(|m| *m != id);
                    txn = txn
                        .when(self.groups.unchanged(&gid.to_string(), g.revision))
                        .op(self.groups.put_op(&gid.to_string(), &gv)?);
                }
            }
            Ok(self.store.txn(txn).await?.is_committed().then_some(Some(s)))
        })
        .await
    }

    /// Adds servers to a group, enforcing the member quota, in one transaction.
    pub async fn add_group_members(
        &self,
        gid: ServerGroupId,
        members: &[ServerId],
        limit: i64,
    ) -> Result<(), ComputeError> {
        retry_txn(&format!("server group {gid}"), || async move {
            let g = self
                .groups
                .get(&gid.to_string())
                .await?
                .ok_or(ComputeError::NotFound { what: "Server group", id: gid.to_string() })?;
            let mut v = g.value.clone();
            if limit >= 0 && (v.members.len() + members.len()) as i64 > limit {
                return Err(ComputeError::QuotaExceeded {
                    resource: "server_group_members",
                    requested: members.len() as i64,
                    used: v.members.len() as i64,
                    limit,
                });
            }
            v.members.extend_from_slice(members);
            let txn = Txn::new()
                .when(self.groups.unchanged(&gid.to_string(), g.revision))
                .op(self.groups.put_op(&gid.to_string(), &v)?);
            Ok(self.store.txn(txn).await?.is_committed().then_some(()))
        })
        .await
    }

    /// Every server.
    pub async fn all_servers(&self) -> Result<Vec<Server>, ComputeError> {
        Ok(self.servers.list_all().await?.into_iter().map(|v| v.value).collect())
    }

    /// Creates a record under a unique key, or `AlreadyExists`.
    pub async fn create_unique<T: Serialize + serde::de::DeserializeOwned + Send + Sync>(
        &self,
        coll: &Collection<T>,
        key: &str,
        value: &T,
        what: &str,
    ) -> Result<(), ComputeError> {
        let txn = Txn::new().when(Condition::absent(coll.key(key))).op(coll.put_op(key, value)?);
        if self.store.txn(txn).await?.is_committed() {
            Ok(())
        } else {
            Err(ComputeError::AlreadyExists(format!("{what} already exists.")))
        }
    }
}
