// SPDX-License-Identifier: Apache-2.0
//! Store access without policy: the unique-name index written with each resource, and plain
//! reads of domains, projects, users, groups and roles (the LDAP directory for its domain).

use super::*;

impl IdentityService {
    pub(super) fn name_key(kind: &str, scope: &str, name: &str) -> String {
        format!("{PREFIX}names/{kind}/{}/{}", esc(scope), esc(name))
    }

    pub(super) async fn insert_named<T>(
        &self,
        coll: &Collection<T>,
        kind: &'static str,
        id: &str,
        scope: &str,
        name: &str,
        value: &T,
    ) -> Result<()>
    where
        T: serde::Serialize + serde::de::DeserializeOwned + Send + Sync,
    {
        let nk = Self::name_key(kind, scope, name);
        let txn = Txn::new()
            .when(coll.absent(id))
            .when(Condition::absent(&nk))
            .op(coll.put_op(id, value)?)
            .put(&nk, id.as_bytes().to_vec());
        match self.store.txn(txn).await? {
            TxnOutcome::Committed { .. } => {
                self.changed();
                Ok(())
            }
            TxnOutcome::Failed { condition: 0 } => Err(IdentityError::duplicate(kind, "id", id)),
            TxnOutcome::Failed { .. } => Err(IdentityError::duplicate(kind, "name", name)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn replace_named<T>(
        &self,
        coll: &Collection<T>,
        kind: &'static str,
        id: &str,
        revision: u64,
        scope: &str,
        old_name: &str,
        new_name: &str,
        value: &T,
    ) -> Result<()>
    where
        T: serde::Serialize + serde::de::DeserializeOwned + Send + Sync,
    {
        let mut txn = Txn::new().when(coll.unchanged(id, revision)).op(coll.put_op(id, value)?);
        if old_name != new_name {
            let nk = Self::name_key(kind, scope, new_name);
            txn = txn
                .when(Condition::absent(&nk))
                .delete(Self::name_key(kind, scope, old_name))
                .put(nk, id.as_bytes().to_vec());
        }
        match self.store.txn(txn).await? {
            TxnOutcome::Committed { .. } => {
                self.changed();
                Ok(())
            }
            TxnOutcome::Failed { condition: 0 } => {
                Err(IdentityError::Conflict(format!("the {kind} was changed concurrently; retry")))
            }
            TxnOutcome::Failed { .. } => Err(IdentityError::duplicate(kind, "name", new_name)),
        }
    }

    pub(super) async fn lookup_name(
        &self,
        kind: &str,
        scope: &str,
        name: &str,
    ) -> Result<Option<String>> {
        Ok(self
            .store
            .get(&Self::name_key(kind, scope, name))
            .await?
            .and_then(|kv| String::from_utf8(kv.value).ok()))
    }

    pub(super) async fn domain(&self, id: &str) -> Result<Domain> {
        self.domains
            .get(id)
            .await?
            .map(|v| v.value)
            .ok_or_else(|| IdentityError::not_found("domain", id))
    }

    pub(super) async fn project(&self, id: &str) -> Result<Project> {
        self.projects
            .get(id)
            .await?
            .map(|v| v.value)
            .ok_or_else(|| IdentityError::not_found("project", id))
    }

    /// A user of the store, else of the LDAP directory.
    pub(super) async fn user(&self, id: &str) -> Result<User> {
        if let Some(u) = self.users.get(id).await? {
            return Ok(u.value);
        }
        if let Some(l) = &self.ldap
            && let Some(u) = l.get_user(id).await?
        {
            return Ok(u);
        }
        Err(IdentityError::not_found("user", id))
    }

    /// A group of the store, else of the LDAP directory.
    pub(super) async fn group(&self, id: &str) -> Result<Group> {
        if let Some(g) = self.groups.get(id).await? {
            return Ok(g.value);
        }
        if let Some(l) = &self.ldap
            && let Some(g) = l.get_group(id).await?
        {
            return Ok(g);
        }
        Err(IdentityError::not_found("group", id))
    }

    /// The ids of the members of group `g` (from the directory for an LDAP group).
    pub(super) async fn group_member_ids(&self, g: &str) -> Result<Vec<UserId>> {
        if self.groups.get(g).await?.is_none()
            && let Some(l) = &self.ldap
        {
            let members = l.group_members(g).await?.unwrap_or_default();
            return Ok(members.into_iter().map(|u| u.id).collect());
        }
        let mut v = Vec::new();
        for kv in self.store.list_all(&format!("{PREFIX}members/{}/", esc(g))).await? {
            if let Ok(u) = String::from_utf8(kv.value).unwrap_or_default().parse() {
                v.push(u);
            }
        }
        Ok(v)
    }

    pub(super) async fn role(&self, id: &str) -> Result<Role> {
        self.roles
            .get(id)
            .await?
            .map(|v| v.value)
            .ok_or_else(|| IdentityError::not_found("role", id))
    }

    pub(super) async fn resolve_domain(&self, d: &DomainRef) -> Result<Domain> {
        match d {
            DomainRef::Id(id) => self.domain(id).await,
            DomainRef::Name(name) => match self.lookup_name("domain", "-", name).await? {
                Some(id) => self.domain(&id).await,
                None => Err(IdentityError::not_found("domain", name)),
            },
        }
    }

    pub(super) async fn resolve_user(&self, u: &UserRef) -> Result<User> {
        match u {
            UserRef::Id(id) => self.user(id).await,
            UserRef::Name { name, domain } => {
                let d = self.resolve_domain(domain).await?;
                if let Some(l) = self.ldap_for(&d.id) {
                    return l
                        .get_user_by_name(name)
                        .await?
                        .ok_or_else(|| IdentityError::not_found("user", name));
                }
                match self.lookup_name("user", d.id.as_str(), name).await? {
                    Some(id) => self.user(&id).await,
                    None => Err(IdentityError::not_found("user", name)),
                }
            }
        }
    }

    pub(super) async fn resolve_project(&self, p: &ProjectRef) -> Result<Project> {
        match p {
            ProjectRef::Id(id) => self.project(id).await,
            ProjectRef::Name { name, domain } => {
                let d = self.resolve_domain(domain).await?;
                match self.lookup_name("project", d.id.as_str(), name).await? {
                    Some(id) => self.project(&id).await,
                    None => Err(IdentityError::not_found("project", name)),
                }
            }
        }
    }
}
