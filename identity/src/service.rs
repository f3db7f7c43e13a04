// SPDX-License-Identifier: Apache-2.0
//! [`IdentityService`]: the local [`IdentityApi`] over a [`Store`].
//!
//! Store layout (all under `identity/`):
//!
//! | key | value |
//! |---|---|
//! | `domains/<id>`, `projects/<id>`, `users/<id>`, `groups/<id>`, `roles/<id>` | the resource |
//! | `names/<kind>/<scope>/<name>` | the id owning a unique name (written in the same transaction) |
//! | `members/<group>/<user>`, `user_groups/<user>/<group>` | group membership, both directions |
//! | `assignments/<actor>/<id>/<target>/<id>/<role>/<inherited>` | a role assignment |
//! | `implied/<prior>/<implied>` | a role inference rule |
//! | `regions/<id>`, `services/<id>`, `endpoints/<id>` | the catalog |
//! | `revocations/<id>` | token revocation events |
//! | `app_creds/<id>` | application credentials (secret hashed); name index `names/application_credential/<user>/<name>` |
//! | `credentials/<id>` | credentials, blob Fernet-encrypted with the credential key repository |
//!
//! Id components of keys are escaped (`%` and `/`), so ids from LDAP cannot collide.

use crate::api::*;
use crate::config::IdentityConfig;
use crate::error::{IdentityError, Result};
use crate::fernet::KeyRepository;
use crate::ldap::LdapDirectory;
use crate::password;
use crate::policy::Authorizer;
use crate::token::{self, PayloadScope, TokenFormatter, TokenPayload};
use crate::types::*;
use ferrostack_core::RequestContext;
use ferrostack_core::context::Scope;
use ferrostack_core::id::{DomainId, GroupId, ProjectId, RoleId, UserId};
use ferrostack_core::store::{Collection, Condition, Store, StoreExt, Txn, TxnOutcome};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use time::{Duration, OffsetDateTime};

mod appcred;
mod blocking;
mod credential;

use blocking::PasswordPool;

const PREFIX: &str = "identity/";

/// Escapes an id for use as one key component.
fn esc(s: &str) -> String {
    s.replace('%', "%25").replace('/', "%2F")
}

fn assignment_key(a: &Assignment) -> String {
    let actor = match &a.actor {
        Actor::User(u) => format!("user/{}", esc(u.as_str())),
        Actor::Group(g) => format!("group/{}", esc(g.as_str())),
    };
    let target = match &a.target {
        Target::Project(p) => format!("project/{}", esc(p.as_str())),
        Target::Domain(d) => format!("domain/{}", esc(d.as_str())),
        Target::System => "system/all".to_owned(),
    };
    format!("{actor}/{target}/{}/{}", esc(a.role_id.as_str()), u8::from(a.inherited))
}

fn parse_id<T: std::str::FromStr>(kind: &'static str, s: &str) -> Result<T> {
    s.parse().map_err(|_| IdentityError::not_found(kind, s))
}

fn validate_name(kind: &str, name: &str) -> Result<()> {
    if name.trim().is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
        return Err(IdentityError::Validation(format!(
            "Invalid input for field 'name': {kind} names must be 1 to 255 printable characters."
        )));
    }
    Ok(())
}

/// The cached outcome of resolving a (user, scope): what a [`RequestContext`] needs.
#[derive(Debug, Clone)]
struct Resolved {
    user_name: String,
    user_domain_id: DomainId,
    scope: Scope,
    roles: Vec<String>,
}

/// Resolved scopes by (user id, scope), with the generation and the time they were computed
/// at (entries of LDAP users also age out, since directory changes bump no generation).
type ScopeCache = HashMap<(String, String), (u64, std::time::Instant, Arc<Resolved>)>;

/// The identity service: Keystone v3 over any [`Store`].
#[derive(Debug)]
pub struct IdentityService {
    store: Arc<dyn Store>,
    config: IdentityConfig,
    keys: KeyRepository,
    formatter: RwLock<Arc<TokenFormatter>>,
    authz: Authorizer,
    revocations: RwLock<Vec<RevocationEvent>>,
    generation: AtomicU64,
    cache: Mutex<ScopeCache>,
    /// Password hashing and verification: on the blocking pool, bounded.
    passwords: PasswordPool,
    domains: Collection<Domain>,
    projects: Collection<Project>,
    users: Collection<User>,
    groups: Collection<Group>,
    roles: Collection<Role>,
    implied: Collection<ImpliedRole>,
    assignments: Collection<Assignment>,
    regions: Collection<Region>,
    services: Collection<Service>,
    endpoints: Collection<Endpoint>,
    revocation_events: Collection<RevocationEvent>,
    ldap: Option<Arc<LdapDirectory>>,
}

impl IdentityService {
    /// A service over `store` with `config`: sets up the Fernet key repository if asked to,
    /// loads its keys and the revocation events.
    ///
    /// # Errors
    ///
    /// Invalid configuration, an unusable key repository, a failing store.
    pub async fn new(store: Arc<dyn Store>, config: IdentityConfig) -> Result<Self> {
        config.validate()?;
        let keys = KeyRepository::new(&config.key_repository, config.max_active_keys);
        let loaded = blocking::read_keys(keys.clone(), config.setup_key_repository).await?;
        let formatter = TokenFormatter::new(loaded, config.default_domain_id.clone());
        let c = |p: &str| format!("{PREFIX}{p}/");
        let mut svc = IdentityService {
            domains: Collection::new(store.clone(), c("domains")),
            projects: Collection::new(store.clone(), c("projects")),
            users: Collection::new(store.clone(), c("users")),
            groups: Collection::new(store.clone(), c("groups")),
            roles: Collection::new(store.clone(), c("roles")),
            implied: Collection::new(store.clone(), c("implied")),
            assignments: Collection::new(store.clone(), c("assignments")),
            regions: Collection::new(store.clone(), c("regions")),
            services: Collection::new(store.clone(), c("services")),
            endpoints: Collection::new(store.clone(), c("endpoints")),
            revocation_events: Collection::new(store.clone(), c("revocations")),
            authz: Authorizer::new(config.policy_overrides.clone()),
            store,
            keys,
            formatter: RwLock::new(Arc::new(formatter)),
            revocations: RwLock::new(Vec::new()),
            generation: AtomicU64::new(0),
            cache: Mutex::new(HashMap::new()),
            passwords: PasswordPool::new(config.password_concurrency),
            ldap: None,
            config,
        };
        svc.refresh_revocations().await?;
        if let Some(lc) = svc.config.ldap.clone() {
            let domain_id = svc.ensure_ldap_domain(&lc).await?;
            svc.ldap = Some(Arc::new(LdapDirectory::new(lc, domain_id)?));
        }
        Ok(svc)
    }

    /// The LDAP directory serving one domain's users and groups, if configured.
    pub fn ldap(&self) -> Option<&Arc<LdapDirectory>> {
        self.ldap.as_ref()
    }

    /// The id of the domain named `lc.domain`, created (enabled) if it does not exist.
    async fn ensure_ldap_domain(&self, lc: &crate::ldap::LdapConfig) -> Result<DomainId> {
        let refuse = || {
            // Bootstrap's admin and the service users live in the store's default domain; a
            // directory there would hide them.
            Err(IdentityError::Validation("ldap: domain must not be the default domain".into()))
        };
        if lc.domain.eq_ignore_ascii_case("default") || lc.domain == self.config.default_domain_id {
            return refuse();
        }
        for _ in 0..2 {
            if let Some(id) = self.lookup_name("domain", "-", &lc.domain).await? {
                if id == self.config.default_domain_id {
                    return refuse();
                }
                return parse_id("domain", &id);
            }
            let d = Domain {
                id: parse_id("domain", &uuid::Uuid::new_v4().simple().to_string())?,
                name: lc.domain.clone(),
                description: "Users and groups from an LDAP directory".into(),
                enabled: true,
                tags: Vec::new(),
            };
            match self.insert_named(&self.domains, "domain", d.id.as_str(), "-", &d.name, &d).await
            {
                Ok(()) => return Ok(d.id),
                // Another process created it concurrently: read its id.
                Err(IdentityError::Duplicate { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(IdentityError::Conflict("the LDAP domain could not be created".into()))
    }

    /// The directory if `domain` is the LDAP domain.
    fn ldap_for(&self, domain: &DomainId) -> Option<&LdapDirectory> {
        self.ldap.as_deref().filter(|l| l.domain_id() == domain)
    }

    /// The configuration.
    pub fn config(&self) -> &IdentityConfig {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The current token formatter (the loaded keys).
    pub fn formatter(&self) -> Arc<TokenFormatter> {
        self.formatter.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Reloads the Fernet keys from the repository (after a rotation by any process). The
    /// files are read on the blocking pool.
    ///
    /// # Errors
    ///
    /// An unreadable or empty repository; the old keys stay in use.
    pub async fn reload_keys(&self) -> Result<()> {
        let loaded = blocking::read_keys(self.keys.clone(), false).await?;
        let f = TokenFormatter::new(loaded, self.config.default_domain_id.clone());
        *self.formatter.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(f);
        Ok(())
    }

    /// Rotates the key repository (`keystone-manage fernet_rotate`) on the blocking pool and
    /// reloads it.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub async fn rotate_keys(&self) -> Result<()> {
        let keys = self.keys.clone();
        tokio::task::spawn_blocking(move || {
            keys.rotate().map_err(|e| IdentityError::key_repository(keys.dir(), e))
        })
        .await
        .map_err(IdentityError::Worker)??;
        self.reload_keys().await
    }

    /// Re-reads revocation events from the store (other processes may have added some); call
    /// periodically in multi-process deployments. Events older than the longest a token can
    /// live (expiration plus the allow-expired window) are pruned.
    ///
    /// # Errors
    ///
    /// Store failures.
    pub async fn refresh_revocations(&self) -> Result<()> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let horizon =
            (self.config.token_expiration_secs + self.config.allow_expired_window_secs) as i64;
        let mut live = Vec::new();
        for ev in self.revocation_events.list_all().await? {
            if ev.value.revoked_at + horizon < now {
                self.revocation_events.delete(&ev.id).await?;
            } else {
                live.push(ev.value);
            }
        }
        *self.revocations.write().unwrap_or_else(|p| p.into_inner()) = live;
        self.changed();
        Ok(())
    }

    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    fn authorize(&self, rule: &str, ctx: &RequestContext, target: &Value) -> Result<()> {
        self.authz.authorize(rule, ctx, target)
    }

    async fn revoke(&self, mut ev: RevocationEvent) -> Result<()> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        ev.revoked_at = now;
        if ev.issued_before == 0 {
            ev.issued_before = now;
        }
        self.revocation_events.create(&uuid::Uuid::new_v4().simple().to_string(), &ev).await?;
        self.revocations.write().unwrap_or_else(|p| p.into_inner()).push(ev);
        self.changed();
        Ok(())
    }

    fn blank_event() -> RevocationEvent {
        RevocationEvent {
            user_id: None,
            project_id: None,
            domain_id: None,
            audit_id: None,
            audit_chain_id: None,
            issued_before: 0,
            revoked_at: 0,
        }
    }

    fn is_revoked(&self, p: &TokenPayload) -> bool {
        let issued = p.issued_at.unix_timestamp();
        let (project, domain) = match &p.scope {
            PayloadScope::Project(x) => (Some(x.as_str()), None),
            PayloadScope::ApplicationCredential { project_id, .. } => {
                (Some(project_id.as_str()), None)
            }
            PayloadScope::Domain(d) => (None, Some(d.as_str())),
            _ => (None, None),
        };
        let audit = p.audit_ids.first().map(String::as_str);
        let chain = p.audit_ids.get(1).or(p.audit_ids.first()).map(String::as_str);
        let events = self.revocations.read().unwrap_or_else(|e| e.into_inner());
        events.iter().any(|ev| {
            issued <= ev.issued_before
                && ev.user_id.as_ref().is_none_or(|u| u.as_str() == p.user_id)
                && ev.project_id.as_ref().is_none_or(|x| Some(x.as_str()) == project)
                && ev.domain_id.as_ref().is_none_or(|x| Some(x.as_str()) == domain)
                && ev.audit_id.as_deref().is_none_or(|x| Some(x) == audit)
                && ev.audit_chain_id.as_deref().is_none_or(|x| Some(x) == chain)
        })
    }

    // ----- name index -----

    fn name_key(kind: &str, scope: &str, name: &str) -> String {
        format!("{PREFIX}names/{kind}/{}/{}", esc(scope), esc(name))
    }

    async fn insert_named<T>(
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
    async fn replace_named<T>(
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

    async fn lookup_name(&self, kind: &str, scope: &str, name: &str) -> Result<Option<String>> {
        Ok(self
            .store
            .get(&Self::name_key(kind, scope, name))
            .await?
            .and_then(|kv| String::from_utf8(kv.value).ok()))
    }

    // ----- plain lookups (no policy) -----

    async fn domain(&self, id: &str) -> Result<Domain> {
        self.domains
            .get(id)
            .await?
            .map(|v| v.value)
            .ok_or_else(|| IdentityError::not_found("domain", id))
    }
    async fn project(&self, id: &str) -> Result<Project> {
        self.projects
            .get(id)
            .await?
            .map(|v| v.value)
            .ok_or_else(|| IdentityError::not_found("project", id))
    }
    /// A user of the store, else of the LDAP directory.
    async fn user(&self, id: &str) -> Result<User> {
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
    async fn group(&self, id: &str) -> Result<Group> {
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
    async fn group_member_ids(&self, g: &str) -> Result<Vec<UserId>> {
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
    async fn role(&self, id: &str) -> Result<Role> {
        self.roles
            .get(id)
            .await?
            .map(|v| v.value)
            .ok_or_else(|| IdentityError::not_found("role", id))
    }

    async fn resolve_domain(&self, d: &DomainRef) -> Result<Domain> {
        match d {
            DomainRef::Id(id) => self.domain(id).await,
            DomainRef::Name(name) => match self.lookup_name("domain", "-", name).await? {
                Some(id) => self.domain(&id).await,
                None => Err(IdentityError::not_found("domain", name)),
            },
        }
    }

    async fn resolve_user(&self, u: &UserRef) -> Result<User> {
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

    async fn resolve_project(&self, p: &ProjectRef) -> Result<Project> {
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

    // ----- role resolution -----

    async fn user_group_ids(&self, user: &str) -> Result<Vec<GroupId>> {
        let prefix = format!("{PREFIX}user_groups/{}/", esc(user));
        let mut out = Vec::new();
        for kv in self.store.list_all(&prefix).await? {
            if let Ok(g) = String::from_utf8(kv.value).unwrap_or_default().parse() {
                out.push(g);
            }
        }
        if let Some(l) = &self.ldap
            && out.is_empty()
            && self.users.get(user).await?.is_none()
        {
            out.extend(l.user_groups(user).await?.unwrap_or_default().into_iter().map(|g| g.id));
        }
        Ok(out)
    }

    async fn actor_assignments(&self, actor: &Actor) -> Result<Vec<Assignment>> {
        let prefix = match actor {
            Actor::User(u) => format!("{PREFIX}assignments/user/{}/", esc(u.as_str())),
            Actor::Group(g) => format!("{PREFIX}assignments/group/{}/", esc(g.as_str())),
        };
        let mut out = Vec::new();
        for kv in self.store.list_all(&prefix).await? {
            if let Ok(a) = serde_json::from_slice::<Assignment>(&kv.value) {
                out.push(a);
            }
        }
        Ok(out)
    }

    async fn ancestors(&self, project: &Project) -> Result<Vec<ProjectId>> {
        let mut out = Vec::new();
        let mut cur = project.parent_id.clone();
        while let Some(p) = cur {
            if out.len() > 64 || out.contains(&p) {
                break;
            }
            cur = self.projects.get(p.as_str()).await?.and_then(|v| v.value.parent_id);
            out.push(p);
        }
        Ok(out)
    }

    /// The assignments of `user` (directly and through groups) that apply to `target`,
    /// including inherited ones from parents and the owning domain.
    async fn applicable(
        &self,
        user: &UserId,
        target: &Target,
    ) -> Result<Vec<(Assignment, Option<GroupId>)>> {
        let mut actors = vec![(Actor::User(user.clone()), None)];
        for g in self.user_group_ids(user.as_str()).await? {
            actors.push((Actor::Group(g.clone()), Some(g)));
        }
        let (parents, domain) = match target {
            Target::Project(p) => match self.projects.get(p.as_str()).await? {
                Some(v) => (self.ancestors(&v.value).await?, Some(v.value.domain_id)),
                None => return Ok(Vec::new()),
            },
            _ => (Vec::new(), None),
        };
        let mut out = Vec::new();
        for (actor, via) in actors {
            for a in self.actor_assignments(&actor).await? {
                let applies = if a.inherited {
                    match &a.target {
                        Target::Project(p) => parents.contains(p),
                        Target::Domain(d) => domain.as_ref() == Some(d),
                        Target::System => false,
                    }
                } else {
                    &a.target == target
                };
                if applies {
                    out.push((a, via.clone()));
                }
            }
        }
        Ok(out)
    }

    async fn expand_implied(&self, ids: BTreeSet<RoleId>) -> Result<Vec<Role>> {
        let rules = self.implied.list_all().await?;
        let mut all = ids.clone();
        let mut frontier: Vec<RoleId> = ids.into_iter().collect();
        while let Some(r) = frontier.pop() {
            for rule in rules.iter().filter(|x| x.value.prior_role_id == r) {
                if all.insert(rule.value.implied_role_id.clone()) {
                    frontier.push(rule.value.implied_role_id.clone());
                }
            }
        }
        let mut out = Vec::new();
        for id in all {
            if let Some(r) = self.roles.get(id.as_str()).await? {
                out.push(r.value);
            }
        }
        Ok(out)
    }

    async fn effective_roles(&self, user: &UserId, target: &Target) -> Result<Vec<Role>> {
        let ids =
            self.applicable(user, target).await?.into_iter().map(|(a, _)| a.role_id).collect();
        self.expand_implied(ids).await
    }

    // ----- catalog -----

    async fn build_catalog(&self, project_id: Option<&str>) -> Result<Vec<CatalogEntry>> {
        let services = self.services.list_all().await?;
        let endpoints = self.endpoints.list_all().await?;
        let mut out = Vec::new();
        for s in services.into_iter().map(|v| v.value).filter(|s| s.enabled) {
            let mut eps = Vec::new();
            for e in
                endpoints.iter().map(|v| &v.value).filter(|e| e.enabled && e.service_id == s.id)
            {
                let needs_project =
                    e.url.contains("$(project_id)s") || e.url.contains("$(tenant_id)s");
                let url = match (needs_project, project_id) {
                    (false, _) => e.url.clone(),
                    (true, Some(p)) => {
                        e.url.replace("$(project_id)s", p).replace("$(tenant_id)s", p)
                    }
                    (true, None) => continue,
                };
                eps.push(CatalogEndpoint {
                    id: e.id.clone(),
                    interface: e.interface.as_str().to_owned(),
                    region: e.region_id.clone(),
                    region_id: e.region_id.clone(),
                    url,
                });
            }
            out.push(CatalogEntry {
                id: s.id,
                service_type: s.service_type,
                name: s.name,
                endpoints: eps,
            });
        }
        Ok(out)
    }

    // ----- tokens -----

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    /// Checks the token's crypto, expiry and revocation: no store read.
    fn read_token(&self, token: &str, allow_expired: bool) -> Result<TokenPayload> {
        let p = self
            .formatter()
            .read(token)
            .map_err(|_| IdentityError::InvalidToken { reason: "bad signature or payload" })?;
        let now = Self::now();
        let limit = if allow_expired {
            p.expires_at + Duration::seconds(self.config.allow_expired_window_secs as i64)
        } else {
            p.expires_at
        };
        if limit <= now {
            return Err(IdentityError::InvalidToken { reason: "expired" });
        }
        if self.is_revoked(&p) {
            return Err(IdentityError::InvalidToken { reason: "revoked" });
        }
        Ok(p)
    }

    fn target_of(scope: &PayloadScope) -> Option<Target> {
        Some(match scope {
            PayloadScope::Unscoped => return None,
            PayloadScope::Project(p)
            | PayloadScope::ApplicationCredential { project_id: p, .. } => {
                Target::Project(p.parse().ok()?)
            }
            PayloadScope::Domain(d) => Target::Domain(d.parse().ok()?),
            PayloadScope::System(_) => Target::System,
        })
    }

    /// Resolves a payload against the store: the user and scope must still be enabled and the
    /// user must still hold roles on a scoped token's target.
    async fn resolve(&self, token: &str, p: TokenPayload, with_catalog: bool) -> Result<TokenInfo> {
        let invalid = |reason| IdentityError::InvalidToken { reason };
        let user = match self.user(&p.user_id).await {
            Ok(u) => u,
            Err(IdentityError::NotFound { .. }) => return Err(invalid("user gone")),
            Err(e) => return Err(e),
        };
        let user_domain =
            self.domain(user.domain_id.as_str()).await.map_err(|_| invalid("domain gone"))?;
        if !user.enabled || !user_domain.enabled {
            return Err(invalid("user disabled"));
        }
        let mut app_cred = None;
        let (scope, roles) = match Self::target_of(&p.scope) {
            None if matches!(p.scope, PayloadScope::Unscoped) => (TokenScope::Unscoped, Vec::new()),
            None => return Err(invalid("bad scope")),
            Some(target) => {
                let scope = match &target {
                    Target::Project(pid) => {
                        let project = self
                            .project(pid.as_str())
                            .await
                            .map_err(|_| invalid("project gone"))?;
                        let domain = self
                            .domain(project.domain_id.as_str())
                            .await
                            .map_err(|_| invalid("domain gone"))?;
                        if !project.enabled || !domain.enabled {
                            return Err(invalid("project disabled"));
                        }
                        TokenScope::Project { project, domain }
                    }
                    Target::Domain(d) => {
                        let domain =
                            self.domain(d.as_str()).await.map_err(|_| invalid("domain gone"))?;
                        if !domain.enabled {
                            return Err(invalid("domain disabled"));
                        }
                        TokenScope::Domain(domain)
                    }
                    Target::System => TokenScope::System,
                };
                let mut roles = self.effective_roles(&user.id, &target).await?;
                if let PayloadScope::ApplicationCredential { app_cred_id, .. } = &p.scope {
                    let (r, ac) = self.app_cred_token_roles(&p, app_cred_id, roles).await?;
                    roles = r;
                    app_cred = Some(ac);
                }
                if roles.is_empty() {
                    return Err(invalid("no roles on scope"));
                }
                (scope, roles)
            }
        };
        let catalog = match (&scope, with_catalog) {
            (TokenScope::Unscoped, _) | (_, false) => Vec::new(),
            (TokenScope::Project { project, .. }, true) => {
                self.build_catalog(Some(project.id.as_str())).await?
            }
            (_, true) => self.build_catalog(None).await?,
        };
        Ok(TokenInfo {
            token: token.to_owned(),
            payload: p,
            user,
            user_domain,
            scope,
            roles,
            catalog,
            application_credential: app_cred,
        })
    }

    fn to_context(info: &TokenInfo, request_id: &str) -> RequestContext {
        let scope = match &info.scope {
            TokenScope::Unscoped => Scope::Unscoped,
            TokenScope::Project { project, domain } => Scope::Project {
                id: project.id.clone(),
                name: project.name.clone(),
                domain_id: domain.id.clone(),
                domain_name: domain.name.clone(),
            },
            TokenScope::Domain(d) => Scope::Domain { id: d.id.clone(), name: d.name.clone() },
            TokenScope::System => Scope::System,
        };
        RequestContext {
            user_id: info.user.id.clone(),
            user_name: info.user.name.clone(),
            user_domain_id: info.user.domain_id.clone(),
            scope,
            roles: info.roles.iter().map(|r| r.name.clone()).collect(),
            request_id: request_id.to_owned(),
            expires_at: Some(info.payload.expires_at),
            auth_token: Some(info.token.clone()),
            audit_ids: info.payload.audit_ids.clone(),
        }
    }

    async fn password_authenticate(&self, user_ref: &UserRef, pw: &str) -> Result<User> {
        let fail = |r: &str| IdentityError::unauthorized(r.to_owned());
        let user = match self.resolve_user(user_ref).await {
            Ok(u) => u,
            Err(IdentityError::NotFound { .. }) => return Err(fail("unknown user")),
            Err(e) => return Err(e),
        };
        if let Some(l) = self.ldap_for(&user.domain_id) {
            // Keystone's LDAP driver: a bind as the user's DN; no lockout, no expiry.
            if !l.check_password(user.id.as_str(), pw).await? {
                return Err(fail("wrong password"));
            }
            let domain = self.domain(user.domain_id.as_str()).await?;
            if !user.enabled || !domain.enabled {
                return Err(fail("user or domain disabled"));
            }
            return Ok(user);
        }
        let now = Self::now();
        if let Some(max) = self.config.lockout_failure_attempts {
            let ignore =
                user.options.get("ignore_lockout_failure_attempts") == Some(&Value::Bool(true));
            let window = Duration::seconds(self.config.lockout_duration_secs as i64);
            if !ignore
                && user.failed_auth_count >= max
                && user.failed_auth_at.is_some_and(|t| t + window > now)
            {
                return Err(fail("account locked"));
            }
        }
        let ok = match &user.password {
            // On the blocking pool: a bcrypt of cost 12 is ~250 ms of CPU.
            Some(rec) => self.verify_secret(pw, &rec.hash).await?,
            None => false,
        };
        if !ok {
            if self.config.lockout_failure_attempts.is_some() {
                let _ = self
                    .users
                    .update_with::<IdentityError, _>(user.id.as_str(), |u| {
                        u.failed_auth_count = u.failed_auth_count.saturating_add(1);
                        u.failed_auth_at = Some(now);
                        Ok(())
                    })
                    .await;
            }
            return Err(fail("wrong password"));
        }
        if user.failed_auth_count > 0 {
            self.users
                .update_with::<IdentityError, _>(user.id.as_str(), |u| {
                    u.failed_auth_count = 0;
                    u.failed_auth_at = None;
                    Ok(())
                })
                .await?;
        }
        let domain = self.domain(user.domain_id.as_str()).await?;
        if !user.enabled || !domain.enabled {
            return Err(fail("user or domain disabled"));
        }
        if user.password_expires_at().is_some_and(|t| t <= now) {
            return Err(fail("password expired"));
        }
        Ok(user)
    }

    /// Whether `secret` matches the stored `hash` (any supported format; a malformed hash
    /// matches nothing), checked on the bounded blocking pool.
    pub(crate) async fn verify_secret(&self, secret: &str, hash: &str) -> Result<bool> {
        let (secret, hash) = (secret.to_owned(), hash.to_owned());
        let ok = self.passwords.run(move || password::verify_password(&secret, &hash)).await?;
        Ok(ok.unwrap_or(false))
    }

    /// Hashes `secret` with the configured algorithm on the bounded blocking pool; `field`
    /// names it in the 400 for a secret that is too long.
    pub(crate) async fn hash_secret(&self, secret: String, field: &str) -> Result<String> {
        let params = self.config.password_hashing;
        self.passwords.run(move || password::hash_password(&secret, &params)).await?.map_err(|e| {
            match e {
                password::PasswordError::TooLong => IdentityError::Validation(format!(
                    "Invalid input for field '{field}': the {field} is too long."
                )),
                other => IdentityError::Hashing(other),
            }
        })
    }

    /// Hashes a new password (off the runtime threads) into the record stored on the user.
    async fn password_record_blocking(&self, pw: String) -> Result<PasswordRecord> {
        let days = self.config.password_expires_days;
        let hash = self.hash_secret(pw, "password").await?;
        let now = Self::now();
        Ok(PasswordRecord {
            hash,
            created_at: now,
            expires_at: days.map(|d| now + Duration::days(d as i64)),
        })
    }

    async fn scope_for(&self, user: &User, scope: &ScopeRequest) -> Result<PayloadScope> {
        let no_access = |what: &str| IdentityError::unauthorized(format!("no access to {what}"));
        match scope {
            ScopeRequest::Unscoped => Ok(PayloadScope::Unscoped),
            ScopeRequest::Default => {
                if let Some(pid) = &user.default_project_id
                    && let Ok(p) = self.project(pid.as_str()).await
                {
                    let d = self.domain(p.domain_id.as_str()).await?;
                    if p.enabled
                        && d.enabled
                        && !self
                            .effective_roles(&user.id, &Target::Project(p.id.clone()))
                            .await?
                            .is_empty()
                    {
                        return Ok(PayloadScope::Project(p.id.to_string()));
                    }
                }
                Ok(PayloadScope::Unscoped)
            }
            ScopeRequest::Project(r) => {
                let p = match self.resolve_project(r).await {
                    Ok(p) => p,
                    Err(IdentityError::NotFound { .. }) => return Err(no_access("project")),
                    Err(e) => return Err(e),
                };
                let d = self.domain(p.domain_id.as_str()).await?;
                if !p.enabled || !d.enabled {
                    return Err(no_access("disabled project"));
                }
                if self.effective_roles(&user.id, &Target::Project(p.id.clone())).await?.is_empty()
                {
                    return Err(no_access("project"));
                }
                Ok(PayloadScope::Project(p.id.to_string()))
            }
            ScopeRequest::Domain(r) => {
                let d = match self.resolve_domain(r).await {
                    Ok(d) => d,
                    Err(IdentityError::NotFound { .. }) => return Err(no_access("domain")),
                    Err(e) => return Err(e),
                };
                if !d.enabled
                    || self
                        .effective_roles(&user.id, &Target::Domain(d.id.clone()))
                        .await?
                        .is_empty()
                {
                    return Err(no_access("domain"));
                }
                Ok(PayloadScope::Domain(d.id.to_string()))
            }
            ScopeRequest::System => {
                if self.effective_roles(&user.id, &Target::System).await?.is_empty() {
                    return Err(no_access("system"));
                }
                Ok(PayloadScope::System("all".into()))
            }
        }
    }

    /// The domain a list is about: the `domain_id` filter, else a domain-scoped caller's
    /// domain (as Keystone fills it for domain-scoped tokens).
    fn list_domain(ctx: &RequestContext, filter: &ListFilter) -> Option<String> {
        filter.domain_id.clone().or_else(|| ctx.domain_id().map(|d| d.to_string()))
    }

    fn subject_target(p: &TokenPayload) -> Value {
        json!({"target": {"token": {"user_id": p.user_id}}})
    }

    // ----- bootstrap support -----

    /// The id owning `name` among global roles.
    pub(crate) async fn role_id_by_name(&self, name: &str) -> Result<Option<String>> {
        self.lookup_name("role", "-", name).await
    }
    /// The id of the user `name` in `domain`.
    pub(crate) async fn user_id_by_name(&self, domain: &str, name: &str) -> Result<Option<String>> {
        self.lookup_name("user", domain, name).await
    }
    /// The id of the project `name` in `domain`.
    pub(crate) async fn project_id_by_name(
        &self,
        domain: &str,
        name: &str,
    ) -> Result<Option<String>> {
        self.lookup_name("project", domain, name).await
    }
    /// Sets a user's password without policy (bootstrap).
    pub(crate) async fn set_password_internal(&self, user: &str, pw: &str) -> Result<()> {
        let rec = self.password_record_blocking(pw.to_owned()).await?;
        self.users
            .update_with::<IdentityError, _>(user, |u| {
                u.password = Some(rec.clone());
                Ok(())
            })
            .await?;
        self.changed();
        Ok(())
    }
    /// All services, without policy (bootstrap and catalog registration).
    pub(crate) async fn all_services(&self) -> Result<Vec<Service>> {
        Ok(self.services.list_all().await?.into_iter().map(|v| v.value).collect())
    }
    /// All endpoints, without policy.
    pub(crate) async fn all_endpoints(&self) -> Result<Vec<Endpoint>> {
        Ok(self.endpoints.list_all().await?.into_iter().map(|v| v.value).collect())
    }

    async fn list_filtered<T, F>(&self, coll: &Collection<T>, keep: F) -> Result<Vec<T>>
    where
        T: serde::Serialize + serde::de::DeserializeOwned + Send + Sync,
        F: Fn(&T) -> bool + Send,
    {
        Ok(coll.list_all().await?.into_iter().map(|v| v.value).filter(|x| keep(x)).collect())
    }
}

fn matches(filter: &ListFilter, name: &str, domain: Option<&str>, enabled: Option<bool>) -> bool {
    filter.name.as_deref().is_none_or(|n| n == name)
        && filter.domain_id.as_deref().is_none_or(|d| Some(d) == domain)
        && filter.enabled.is_none_or(|e| Some(e) == enabled)
}

#[async_trait::async_trait]
impl IdentityApi for IdentityService {
    async fn authenticate(&self, req: AuthRequest) -> Result<TokenInfo> {
        let now = Self::now();
        let (user, methods, audit_ids, expires_at, parent_scope) = match &req.method {
            AuthMethod::Password { user, password } => {
                let u = self.password_authenticate(user, password).await?;
                let expires = now + Duration::seconds(self.config.token_expiration_secs as i64);
                (u, vec!["password".to_owned()], vec![token::new_audit_id()], expires, None)
            }
            AuthMethod::ApplicationCredential { credential, secret } => {
                if req.scope != ScopeRequest::Default {
                    return Err(IdentityError::unauthorized(
                        "Application credentials cannot request a scope.",
                    ));
                }
                let (c, u) = self.app_cred_authenticate(credential, secret).await?;
                let mut expires = now + Duration::seconds(self.config.token_expiration_secs as i64);
                if let Some(t) = c.expires_at
                    && t < expires
                {
                    expires = t;
                }
                let scope = PayloadScope::ApplicationCredential {
                    project_id: c.project_id.to_string(),
                    app_cred_id: c.id.clone(),
                };
                (u, appcred::app_cred_methods(), vec![token::new_audit_id()], expires, Some(scope))
            }
            AuthMethod::Token(t) => {
                let p = self
                    .read_token(t, false)
                    .map_err(|_| IdentityError::unauthorized("bad token"))?;
                if appcred::is_delegated(&p.methods) {
                    return Err(IdentityError::Forbidden {
                        action: "Using a delegated token to create another token is not allowed"
                            .into(),
                    });
                }
                let info = self
                    .resolve(t, p, false)
                    .await
                    .map_err(|_| IdentityError::unauthorized("bad token"))?;
                let mut methods = info.payload.methods.clone();
                methods.push("token".to_owned());
                let methods = token::int_to_methods(token::methods_to_int(&methods).unwrap_or(4));
                let chain =
                    info.payload.audit_ids.get(1).or(info.payload.audit_ids.first()).cloned();
                let audits = std::iter::once(token::new_audit_id()).chain(chain).collect();
                (info.user, methods, audits, info.payload.expires_at, Some(info.payload.scope))
            }
        };
        let scope = match (&req.scope, parent_scope) {
            // Re-authenticating a scoped token without a scope keeps its scope; an application
            // credential's token is scoped to its project.
            (ScopeRequest::Default, Some(s)) if s != PayloadScope::Unscoped => s,
            _ => self.scope_for(&user, &req.scope).await?,
        };
        let payload = TokenPayload {
            user_id: user.id.to_string(),
            methods,
            scope,
            // Keystone issues whole-second expiries.
            expires_at: expires_at.replace_nanosecond(0).unwrap_or(expires_at),
            audit_ids,
            issued_at: now,
        };
        let token = self
            .formatter()
            .issue(&payload)
            .map_err(|e| IdentityError::Validation(e.to_string()))?;
        let payload = TokenPayload {
            issued_at: OffsetDateTime::from_unix_timestamp(now.unix_timestamp()).unwrap_or(now),
            ..payload
        };
        self.resolve(&token, payload, true).await.map_err(|e| match e {
            IdentityError::InvalidToken { .. } => IdentityError::unauthorized("scope not usable"),
            other => other,
        })
    }

    async fn context_for_token(&self, token: &str, request_id: &str) -> Result<RequestContext> {
        let p = self.read_token(token, false)?;
        let key = (p.user_id.clone(), format!("{:?}", p.scope));
        let generation = self.generation.load(Ordering::SeqCst);
        let cached = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key).cloned();
        let fresh = |at: std::time::Instant, r: &Resolved| match &self.ldap {
            Some(l) if l.domain_id() == &r.user_domain_id => {
                at.elapsed() < std::time::Duration::from_secs(l.config().cache_time)
            }
            _ => true,
        };
        let resolved = match cached {
            Some((g, at, r)) if g == generation && fresh(at, &r) => r,
            _ => {
                let info = self.resolve(token, p.clone(), false).await?;
                let ctx = Self::to_context(&info, request_id);
                let r = Arc::new(Resolved {
                    user_name: ctx.user_name,
                    user_domain_id: ctx.user_domain_id,
                    scope: ctx.scope,
                    roles: ctx.roles,
                });
                let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                if cache.len() > 100_000 {
                    cache.clear();
                }
                cache.insert(key, (generation, std::time::Instant::now(), r.clone()));
                r
            }
        };
        Ok(RequestContext {
            user_id: p
                .user_id
                .parse()
                .map_err(|_| IdentityError::InvalidToken { reason: "bad user id" })?,
            user_name: resolved.user_name.clone(),
            user_domain_id: resolved.user_domain_id.clone(),
            scope: resolved.scope.clone(),
            roles: resolved.roles.clone(),
            request_id: request_id.to_owned(),
            expires_at: Some(p.expires_at),
            auth_token: Some(token.to_owned()),
            audit_ids: p.audit_ids,
        })
    }

    async fn validate_token(
        &self,
        ctx: &RequestContext,
        subject: &str,
        allow_expired: bool,
    ) -> Result<TokenInfo> {
        let p =
            self.read_token(subject, allow_expired).map_err(|_| IdentityError::TokenNotFound)?;
        self.authorize("identity:validate_token", ctx, &Self::subject_target(&p))?;
        self.resolve(subject, p, true).await.map_err(|e| match e {
            IdentityError::InvalidToken { .. } => IdentityError::TokenNotFound,
            other => other,
        })
    }

    async fn revoke_token(&self, ctx: &RequestContext, subject: &str) -> Result<()> {
        let p = self.read_token(subject, false).map_err(|_| IdentityError::TokenNotFound)?;
        self.authorize("identity:revoke_token", ctx, &Self::subject_target(&p))?;
        let audit = p.audit_ids.first().cloned().ok_or(IdentityError::TokenNotFound)?;
        self.revoke(RevocationEvent { audit_id: Some(audit), ..Self::blank_event() }).await
    }

    async fn auth_catalog(&self, ctx: &RequestContext) -> Result<Vec<CatalogEntry>> {
        self.authorize("identity:get_auth_catalog", ctx, &json!({}))?;
        match &ctx.scope {
            Scope::Unscoped => Err(IdentityError::unauthorized("unscoped token has no catalog")),
            Scope::Project { id, .. } => self.build_catalog(Some(id.as_str())).await,
            _ => self.build_catalog(None).await,
        }
    }

    async fn auth_projects(&self, ctx: &RequestContext) -> Result<Vec<Project>> {
        self.authorize("identity:get_auth_projects", ctx, &json!({}))?;
        self.user_projects(&ctx.user_id).await
    }

    async fn auth_domains(&self, ctx: &RequestContext) -> Result<Vec<Domain>> {
        self.authorize("identity:get_auth_domains", ctx, &json!({}))?;
        let mut out = Vec::new();
        for d in self.domains.list_all().await? {
            if d.value.enabled
                && !self
                    .effective_roles(&ctx.user_id, &Target::Domain(d.value.id.clone()))
                    .await?
                    .is_empty()
            {
                out.push(d.value);
            }
        }
        Ok(out)
    }

    async fn auth_system(&self, ctx: &RequestContext) -> Result<bool> {
        self.authorize("identity:get_auth_system", ctx, &json!({}))?;
        Ok(!self.effective_roles(&ctx.user_id, &Target::System).await?.is_empty())
    }

    // ----- domains -----

    async fn create_domain(&self, ctx: &RequestContext, domain: Domain) -> Result<Domain> {
        self.authorize("identity:create_domain", ctx, &json!({"target": {"domain": domain}}))?;
        validate_name("domain", &domain.name)?;
        self.insert_named(&self.domains, "domain", domain.id.as_str(), "-", &domain.name, &domain)
            .await?;
        Ok(domain)
    }

    async fn get_domain(&self, ctx: &RequestContext, id: &str) -> Result<Domain> {
        let d = self.domain(id).await;
        let target = match &d {
            Ok(d) => json!({"target": {"domain": d}}),
            Err(_) => json!({"target": {"domain": {"id": id}}}),
        };
        self.authorize("identity:get_domain", ctx, &target)?;
        d
    }

    async fn list_domains(&self, ctx: &RequestContext, filter: &ListFilter) -> Result<Vec<Domain>> {
        self.authorize("identity:list_domains", ctx, &json!({}))?;
        self.list_filtered(&self.domains, |d| {
            matches(filter, &d.name, None, Some(d.enabled)) && filter.domain_id.is_none()
        })
        .await
    }

    async fn update_domain(
        &self,
        ctx: &RequestContext,
        id: &str,
        patch: DomainPatch,
    ) -> Result<Domain> {
        let cur =
            self.domains.get(id).await?.ok_or_else(|| IdentityError::not_found("domain", id))?;
        self.authorize("identity:update_domain", ctx, &json!({"target": {"domain": cur.value}}))?;
        let mut d = cur.value.clone();
        if let Some(n) = patch.name {
            validate_name("domain", &n)?;
            d.name = n;
        }
        if let Some(x) = patch.description {
            d.description = x;
        }
        if let Some(x) = patch.enabled {
            d.enabled = x;
        }
        if let Some(x) = patch.tags {
            d.tags = x;
        }
        self.replace_named(
            &self.domains,
            "domain",
            id,
            cur.revision,
            "-",
            &cur.value.name,
            &d.name,
            &d,
        )
        .await?;
        if cur.value.enabled && !d.enabled {
            self.revoke(RevocationEvent { domain_id: Some(d.id.clone()), ..Self::blank_event() })
                .await?;
        }
        Ok(d)
    }

    async fn delete_domain(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        let cur =
            self.domains.get(id).await?.ok_or_else(|| IdentityError::not_found("domain", id))?;
        self.authorize("identity:delete_domain", ctx, &json!({"target": {"domain": cur.value}}))?;
        if cur.value.enabled {
            return Err(IdentityError::NotAllowed(
                "Cannot delete a domain that is enabled, please disable it first.".into(),
            ));
        }
        if id == self.config.default_domain_id {
            return Err(IdentityError::NotAllowed("Cannot delete the default domain.".into()));
        }
        let internal = RequestContext::internal("identity");
        for p in self.list_filtered(&self.projects, |p| p.domain_id.as_str() == id).await? {
            // children first
            let _ = self.delete_project_tree(&internal, &p.id).await;
        }
        for u in self.list_filtered(&self.users, |u| u.domain_id.as_str() == id).await? {
            self.delete_user(&internal, u.id.as_str()).await?;
        }
        for g in self.list_filtered(&self.groups, |g| g.domain_id.as_str() == id).await? {
            self.delete_group(&internal, g.id.as_str()).await?;
        }
        self.delete_assignments(|a| a.target == Target::Domain(cur.value.id.clone())).await?;
        let txn = Txn::new()
            .when(self.domains.unchanged(id, cur.revision))
            .op(self.domains.delete_op(id))
            .delete(Self::name_key("domain", "-", &cur.value.name));
        self.store.txn(txn).await?;
        self.changed();
        Ok(())
    }

    // ----- projects -----

    async fn create_project(&self, ctx: &RequestContext, mut project: Project) -> Result<Project> {
        if let Some(parent) = &project.parent_id
            && parent.as_str() == project.domain_id.as_str()
        {
            project.parent_id = None;
        }
        self.authorize("identity:create_project", ctx, &json!({"target": {"project": project}}))?;
        validate_name("project", &project.name)?;
        self.domain(project.domain_id.as_str()).await.map_err(|_| {
            IdentityError::Validation(format!("Could not find domain: {}.", project.domain_id))
        })?;
        if let Some(parent) = &project.parent_id {
            let p = self.project(parent.as_str()).await.map_err(|_| {
                IdentityError::Validation(format!("Could not find parent project: {parent}."))
            })?;
            if p.domain_id != project.domain_id {
                return Err(IdentityError::Validation(
                    "A project's parent must be in the same domain.".into(),
                ));
            }
        }
        let scope = project.domain_id.to_string();
        self.insert_named(
            &self.projects,
            "project",
            project.id.as_str(),
            &scope,
            &project.name,
            &project,
        )
        .await?;
        Ok(project)
    }

    async fn get_project(&self, ctx: &RequestContext, id: &str) -> Result<Project> {
        let p = self.project(id).await;
        let target = match &p {
            Ok(p) => json!({"target": {"project": p}}),
            Err(_) => json!({"target": {"project": {"id": id}}}),
        };
        self.authorize("identity:get_project", ctx, &target)?;
        p
    }

    async fn list_projects(
        &self,
        ctx: &RequestContext,
        filter: &ListFilter,
    ) -> Result<Vec<Project>> {
        self.authorize(
            "identity:list_projects",
            ctx,
            &json!({"target": {"domain_id": Self::list_domain(ctx, filter)}}),
        )?;
        // A domain reader only sees their own domain.
        let own_domain = match (&ctx.scope, ctx.has_role("admin")) {
            (Scope::Domain { id, .. }, false) => Some(id.to_string()),
            _ => None,
        };
        self.list_filtered(&self.projects, |p| {
            matches(filter, &p.name, Some(p.domain_id.as_str()), Some(p.enabled))
                && filter.parent_id.as_deref().is_none_or(|x| {
                    p.parent_id.as_ref().map_or(p.domain_id.as_str() == x, |pp| pp.as_str() == x)
                })
                && own_domain.as_deref().is_none_or(|d| d == p.domain_id.as_str())
        })
        .await
    }

    async fn update_project(
        &self,
        ctx: &RequestContext,
        id: &str,
        patch: ProjectPatch,
    ) -> Result<Project> {
        let cur =
            self.projects.get(id).await?.ok_or_else(|| IdentityError::not_found("project", id))?;
        self.authorize("identity:update_project", ctx, &json!({"target": {"project": cur.value}}))?;
        let mut p = cur.value.clone();
        if let Some(n) = patch.name {
            validate_name("project", &n)?;
            p.name = n;
        }
        if let Some(x) = patch.description {
            p.description = x;
        }
        if let Some(x) = patch.enabled {
            p.enabled = x;
        }
        if let Some(x) = patch.tags {
            p.tags = x;
        }
        let scope = p.domain_id.to_string();
        self.replace_named(
            &self.projects,
            "project",
            id,
            cur.revision,
            &scope,
            &cur.value.name,
            &p.name,
            &p,
        )
        .await?;
        if cur.value.enabled && !p.enabled {
            self.revoke(RevocationEvent { project_id: Some(p.id.clone()), ..Self::blank_event() })
                .await?;
        }
        Ok(p)
    }

    async fn delete_project(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        let cur =
            self.projects.get(id).await?.ok_or_else(|| IdentityError::not_found("project", id))?;
        self.authorize("identity:delete_project", ctx, &json!({"target": {"project": cur.value}}))?;
        let children = self
            .list_filtered(&self.projects, |p| {
                p.parent_id.as_ref().is_some_and(|x| x.as_str() == id)
            })
            .await?;
        if !children.is_empty() {
            return Err(IdentityError::NotAllowed(
                "Cannot delete the project since it is not a leaf in the hierarchy.".into(),
            ));
        }
        let pid = cur.value.id.clone();
        self.delete_assignments(|a| a.target == Target::Project(pid.clone())).await?;
        self.delete_app_creds_on_project(&pid).await?;
        self.delete_credentials_where(|c| c.project_id.as_ref() == Some(&pid)).await?;
        let txn = Txn::new()
            .when(self.projects.unchanged(id, cur.revision))
            .op(self.projects.delete_op(id))
            .delete(Self::name_key("project", cur.value.domain_id.as_str(), &cur.value.name));
        if !self.store.txn(txn).await?.is_committed() {
            return Err(IdentityError::Conflict(
                "the project was changed concurrently; retry".into(),
            ));
        }
        self.revoke(RevocationEvent { project_id: Some(pid), ..Self::blank_event() }).await
    }

    async fn list_user_projects(
        &self,
        ctx: &RequestContext,
        user_id: &str,
    ) -> Result<Vec<Project>> {
        let u = self.user(user_id).await?;
        self.authorize(
            "identity:list_user_projects",
            ctx,
            &json!({"user_id": user_id, "target": {"user": u}}),
        )?;
        self.user_projects(&u.id).await
    }

    // ----- users -----

    async fn create_user(
        &self,
        ctx: &RequestContext,
        mut user: User,
        password: Option<String>,
    ) -> Result<User> {
        self.authorize("identity:create_user", ctx, &json!({"target": {"user": user}}))?;
        if self.ldap_for(&user.domain_id).is_some() {
            return Err(IdentityError::ReadOnly);
        }
        validate_name("user", &user.name)?;
        self.domain(user.domain_id.as_str()).await.map_err(|_| {
            IdentityError::Validation(format!("Could not find domain: {}.", user.domain_id))
        })?;
        user.password = match password {
            Some(pw) => Some(self.password_record_blocking(pw).await?),
            None => None,
        };
        let scope = user.domain_id.to_string();
        self.insert_named(&self.users, "user", user.id.as_str(), &scope, &user.name, &user).await?;
        Ok(user)
    }

    async fn get_user(&self, ctx: &RequestContext, id: &str) -> Result<User> {
        let u = self.user(id).await;
        let target = match &u {
            Ok(u) => json!({"target": {"user": {"id": u.id, "domain_id": u.domain_id}}}),
            Err(_) => json!({"target": {"user": {"id": id}}}),
        };
        self.authorize("identity:get_user", ctx, &target)?;
        u
    }

    async fn list_users(&self, ctx: &RequestContext, filter: &ListFilter) -> Result<Vec<User>> {
        self.authorize(
            "identity:list_users",
            ctx,
            &json!({"target": {"domain_id": Self::list_domain(ctx, filter)}}),
        )?;
        let Some(filter) = self.driver_list_filter(ctx, filter) else {
            return Ok(Vec::new());
        };
        let keep =
            |u: &User| matches(&filter, &u.name, Some(u.domain_id.as_str()), Some(u.enabled));
        match &self.ldap {
            Some(l) if filter.domain_id.as_deref() == Some(l.domain_id().as_str()) => {
                Ok(l.list_users().await?.into_iter().filter(|u| keep(u)).collect())
            }
            _ => self.list_filtered(&self.users, keep).await,
        }
    }

    async fn update_user(&self, ctx: &RequestContext, id: &str, patch: UserPatch) -> Result<User> {
        let Some(cur) = self.users.get(id).await? else {
            return self.refuse_directory_user("identity:update_user", ctx, id).await;
        };
        self.authorize(
            "identity:update_user",
            ctx,
            &json!({"target": {"user": {"id": cur.value.id, "domain_id": cur.value.domain_id}}}),
        )?;
        let mut u = cur.value.clone();
        if let Some(n) = patch.name {
            validate_name("user", &n)?;
            u.name = n;
        }
        if let Some(x) = patch.description {
            u.description = x;
        }
        if let Some(x) = patch.enabled {
            u.enabled = x;
        }
        if let Some(x) = patch.default_project_id {
            u.default_project_id = x;
        }
        if let Some(x) = patch.email {
            u.email = x;
        }
        let pw_changed = patch.password.is_some();
        if let Some(pw) = patch.password {
            u.password = Some(self.password_record_blocking(pw).await?);
            u.failed_auth_count = 0;
            u.failed_auth_at = None;
        }
        let scope = u.domain_id.to_string();
        self.replace_named(
            &self.users,
            "user",
            id,
            cur.revision,
            &scope,
            &cur.value.name,
            &u.name,
            &u,
        )
        .await?;
        if cur.value.enabled && !u.enabled {
            // Keystone deletes a disabled user's application credentials.
            self.delete_app_creds_of(id, None).await?;
        }
        if (cur.value.enabled && !u.enabled) || pw_changed {
            self.revoke(RevocationEvent { user_id: Some(u.id.clone()), ..Self::blank_event() })
                .await?;
        }
        Ok(u)
    }

    async fn delete_user(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        let Some(cur) = self.users.get(id).await? else {
            return self.refuse_directory_user("identity:delete_user", ctx, id).await;
        };
        self.authorize(
            "identity:delete_user",
            ctx,
            &json!({"target": {"user": {"id": cur.value.id, "domain_id": cur.value.domain_id}}}),
        )?;
        let uid = cur.value.id.clone();
        self.delete_assignments(|a| a.actor == Actor::User(uid.clone())).await?;
        self.delete_app_creds_of(id, None).await?;
        self.delete_credentials_where(|c| c.user_id == uid).await?;
        for g in self.user_group_ids(id).await? {
            self.store
                .txn(
                    Txn::new()
                        .delete(format!("{PREFIX}members/{}/{}", esc(g.as_str()), esc(id)))
                        .delete(format!("{PREFIX}user_groups/{}/{}", esc(id), esc(g.as_str()))),
                )
                .await?;
        }
        let txn = Txn::new().op(self.users.delete_op(id)).delete(Self::name_key(
            "user",
            cur.value.domain_id.as_str(),
            &cur.value.name,
        ));
        self.store.txn(txn).await?;
        self.revoke(RevocationEvent { user_id: Some(uid), ..Self::blank_event() }).await
    }

    async fn change_password(
        &self,
        ctx: &RequestContext,
        id: &str,
        original: &str,
        new: &str,
    ) -> Result<()> {
        self.authorize("identity:change_password", ctx, &json!({"user_id": id}))?;
        let u = self.user(id).await?;
        if self.ldap_for(&u.domain_id).is_some() {
            return Err(IdentityError::ReadOnly);
        }
        self.password_authenticate(&UserRef::Id(u.id.to_string()), original).await?;
        self.set_password_internal(id, new).await?;
        self.revoke(RevocationEvent { user_id: Some(u.id), ..Self::blank_event() }).await
    }

    // ----- groups -----

    async fn create_group(&self, ctx: &RequestContext, group: Group) -> Result<Group> {
        self.authorize("identity:create_group", ctx, &json!({"target": {"group": group}}))?;
        if self.ldap_for(&group.domain_id).is_some() {
            return Err(IdentityError::ReadOnly);
        }
        validate_name("group", &group.name)?;
        self.domain(group.domain_id.as_str()).await.map_err(|_| {
            IdentityError::Validation(format!("Could not find domain: {}.", group.domain_id))
        })?;
        let scope = group.domain_id.to_string();
        self.insert_named(&self.groups, "group", group.id.as_str(), &scope, &group.name, &group)
            .await?;
        Ok(group)
    }

    async fn get_group(&self, ctx: &RequestContext, id: &str) -> Result<Group> {
        let g = self.group(id).await;
        let target = match &g {
            Ok(g) => json!({"target": {"group": g}}),
            Err(_) => json!({"target": {"group": {"id": id}}}),
        };
        self.authorize("identity:get_group", ctx, &target)?;
        g
    }

    async fn list_groups(&self, ctx: &RequestContext, filter: &ListFilter) -> Result<Vec<Group>> {
        self.authorize(
            "identity:list_groups",
            ctx,
            &json!({"target": {"domain_id": Self::list_domain(ctx, filter)}}),
        )?;
        let Some(filter) = self.driver_list_filter(ctx, filter) else {
            return Ok(Vec::new());
        };
        let keep = |g: &Group| matches(&filter, &g.name, Some(g.domain_id.as_str()), None);
        match &self.ldap {
            Some(l) if filter.domain_id.as_deref() == Some(l.domain_id().as_str()) => {
                Ok(l.list_groups().await?.into_iter().filter(|g| keep(g)).collect())
            }
            _ => self.list_filtered(&self.groups, keep).await,
        }
    }

    async fn update_group(
        &self,
        ctx: &RequestContext,
        id: &str,
        patch: NamePatch,
    ) -> Result<Group> {
        let Some(cur) = self.groups.get(id).await? else {
            let g = self.group(id).await?;
            self.authorize("identity:update_group", ctx, &json!({"target": {"group": g}}))?;
            return Err(IdentityError::ReadOnly);
        };
        self.authorize("identity:update_group", ctx, &json!({"target": {"group": cur.value}}))?;
        let mut g = cur.value.clone();
        if let Some(n) = patch.name {
            validate_name("group", &n)?;
            g.name = n;
        }
        if let Some(x) = patch.description {
            g.description = x;
        }
        let scope = g.domain_id.to_string();
        self.replace_named(
            &self.groups,
            "group",
            id,
            cur.revision,
            &scope,
            &cur.value.name,
            &g.name,
            &g,
        )
        .await?;
        Ok(g)
    }

    async fn delete_group(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        let Some(cur) = self.groups.get(id).await? else {
            let g = self.group(id).await?;
            self.authorize("identity:delete_group", ctx, &json!({"target": {"group": g}}))?;
            return Err(IdentityError::ReadOnly);
        };
        self.authorize("identity:delete_group", ctx, &json!({"target": {"group": cur.value}}))?;
        let gid = cur.value.id.clone();
        self.delete_assignments(|a| a.actor == Actor::Group(gid.clone())).await?;
        let members = self.store.list_all(&format!("{PREFIX}members/{}/", esc(id))).await?;
        for kv in members {
            let user = String::from_utf8(kv.value).unwrap_or_default();
            self.store
                .txn(Txn::new().delete(kv.key).delete(format!(
                    "{PREFIX}user_groups/{}/{}",
                    esc(&user),
                    esc(id)
                )))
                .await?;
            if let Ok(u) = user.parse::<UserId>() {
                self.revoke(RevocationEvent { user_id: Some(u), ..Self::blank_event() }).await?;
            }
        }
        let txn = Txn::new().op(self.groups.delete_op(id)).delete(Self::name_key(
            "group",
            cur.value.domain_id.as_str(),
            &cur.value.name,
        ));
        self.store.txn(txn).await?;
        self.changed();
        Ok(())
    }

    async fn add_user_to_group(&self, ctx: &RequestContext, group: &str, user: &str) -> Result<()> {
        let g = self.group(group).await?;
        self.authorize(
            "identity:add_user_to_group",
            ctx,
            &json!({"target": {"group": g, "user": {"id": user}}}),
        )?;
        let u = self.user(user).await?;
        if self.ldap_for(&g.domain_id).is_some() || self.ldap_for(&u.domain_id).is_some() {
            return Err(IdentityError::ReadOnly);
        }
        self.store
            .txn(
                Txn::new()
                    .put(
                        format!("{PREFIX}members/{}/{}", esc(group), esc(user)),
                        user.as_bytes().to_vec(),
                    )
                    .put(
                        format!("{PREFIX}user_groups/{}/{}", esc(user), esc(group)),
                        group.as_bytes().to_vec(),
                    ),
            )
            .await?;
        self.changed();
        Ok(())
    }

    async fn remove_user_from_group(
        &self,
        ctx: &RequestContext,
        group: &str,
        user: &str,
    ) -> Result<()> {
        let g = self.group(group).await?;
        self.authorize(
            "identity:remove_user_from_group",
            ctx,
            &json!({"target": {"group": g, "user": {"id": user}}}),
        )?;
        let u = self.user(user).await?;
        if self.ldap_for(&g.domain_id).is_some() || self.ldap_for(&u.domain_id).is_some() {
            return Err(IdentityError::ReadOnly);
        }
        let key = format!("{PREFIX}members/{}/{}", esc(group), esc(user));
        let txn = Txn::new().when(Condition::exists(&key)).delete(&key).delete(format!(
            "{PREFIX}user_groups/{}/{}",
            esc(user),
            esc(group)
        ));
        if !self.store.txn(txn).await?.is_committed() {
            return Err(IdentityError::not_found("membership", format!("{user} in {group}")));
        }
        self.revoke(RevocationEvent { user_id: Some(u.id), ..Self::blank_event() }).await
    }

    async fn check_user_in_group(
        &self,
        ctx: &RequestContext,
        group: &str,
        user: &str,
    ) -> Result<()> {
        let g = self.group(group).await?;
        self.authorize(
            "identity:check_user_in_group",
            ctx,
            &json!({"target": {"group": g, "user": {"id": user}}}),
        )?;
        self.user(user).await?;
        if self.ldap_for(&g.domain_id).is_some() {
            return match self.group_member_ids(group).await?.iter().any(|m| m.as_str() == user) {
                true => Ok(()),
                false => Err(IdentityError::not_found("membership", format!("{user} in {group}"))),
            };
        }
        match self.store.get(&format!("{PREFIX}members/{}/{}", esc(group), esc(user))).await? {
            Some(_) => Ok(()),
            None => Err(IdentityError::not_found("membership", format!("{user} in {group}"))),
        }
    }

    async fn list_users_in_group(&self, ctx: &RequestContext, group: &str) -> Result<Vec<User>> {
        let g = self.group(group).await?;
        self.authorize("identity:list_users_in_group", ctx, &json!({"target": {"group": g}}))?;
        if let Some(l) = self.ldap_for(&g.domain_id) {
            return Ok(l.group_members(group).await?.unwrap_or_default());
        }
        let mut out = Vec::new();
        for kv in self.store.list_all(&format!("{PREFIX}members/{}/", esc(group))).await? {
            if let Some(u) =
                self.users.get(&String::from_utf8(kv.value).unwrap_or_default()).await?
            {
                out.push(u.value);
            }
        }
        Ok(out)
    }

    async fn list_groups_for_user(&self, ctx: &RequestContext, user: &str) -> Result<Vec<Group>> {
        let u = self.user(user).await?;
        self.authorize(
            "identity:list_groups_for_user",
            ctx,
            &json!({"user_id": user, "target": {"user": {"id": u.id, "domain_id": u.domain_id}}}),
        )?;
        if let Some(l) = self.ldap_for(&u.domain_id) {
            return Ok(l.user_groups(user).await?.unwrap_or_default());
        }
        let mut out = Vec::new();
        for g in self.user_group_ids(user).await? {
            if let Some(g) = self.groups.get(g.as_str()).await? {
                out.push(g.value);
            }
        }
        Ok(out)
    }

    // ----- roles -----

    async fn create_role(&self, ctx: &RequestContext, role: Role) -> Result<Role> {
        self.authorize("identity:create_role", ctx, &json!({"target": {"role": role}}))?;
        validate_name("role", &role.name)?;
        let scope = role.domain_id.as_ref().map_or("-".to_owned(), |d| d.to_string());
        self.insert_named(&self.roles, "role", role.id.as_str(), &scope, &role.name, &role).await?;
        Ok(role)
    }

    async fn get_role(&self, ctx: &RequestContext, id: &str) -> Result<Role> {
        self.authorize("identity:get_role", ctx, &json!({"target": {"role": {"id": id}}}))?;
        self.role(id).await
    }

    async fn list_roles(&self, ctx: &RequestContext, filter: &ListFilter) -> Result<Vec<Role>> {
        self.authorize(
            "identity:list_roles",
            ctx,
            &json!({"target": {"domain_id": filter.domain_id}}),
        )?;
        self.list_filtered(&self.roles, |r| {
            filter.name.as_deref().is_none_or(|n| n == r.name)
                && filter.domain_id.as_deref() == r.domain_id.as_ref().map(|d| d.as_str())
        })
        .await
    }

    async fn update_role(&self, ctx: &RequestContext, id: &str, patch: NamePatch) -> Result<Role> {
        let cur = self.roles.get(id).await?.ok_or_else(|| IdentityError::not_found("role", id))?;
        self.authorize("identity:update_role", ctx, &json!({"target": {"role": cur.value}}))?;
        let mut r = cur.value.clone();
        if let Some(n) = patch.name {
            validate_name("role", &n)?;
            r.name = n;
        }
        if let Some(x) = patch.description {
            r.description = x;
        }
        let scope = r.domain_id.as_ref().map_or("-".to_owned(), |d| d.to_string());
        self.replace_named(
            &self.roles,
            "role",
            id,
            cur.revision,
            &scope,
            &cur.value.name,
            &r.name,
            &r,
        )
        .await?;
        Ok(r)
    }

    async fn delete_role(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        let cur = self.roles.get(id).await?.ok_or_else(|| IdentityError::not_found("role", id))?;
        self.authorize("identity:delete_role", ctx, &json!({"target": {"role": cur.value}}))?;
        let rid = cur.value.id.clone();
        // Keystone deletes the application credentials of every user holding the role on a
        // project (REMOVE_APP_CREDS_FOR_USER).
        for a in self.assignments.list_all().await? {
            if let (Actor::User(u), Target::Project(p)) = (&a.value.actor, &a.value.target)
                && a.value.role_id == rid
            {
                self.delete_app_creds_of(u.as_str(), Some(p)).await?;
            }
        }
        self.delete_assignments(|a| a.role_id == rid).await?;
        for rule in self.implied.list_all().await? {
            if rule.value.prior_role_id == rid || rule.value.implied_role_id == rid {
                self.implied.delete(&rule.id).await?;
            }
        }
        let scope = cur.value.domain_id.as_ref().map_or("-".to_owned(), |d| d.to_string());
        self.store
            .txn(Txn::new().op(self.roles.delete_op(id)).delete(Self::name_key(
                "role",
                &scope,
                &cur.value.name,
            )))
            .await?;
        self.changed();
        Ok(())
    }

    async fn create_implied_role(
        &self,
        ctx: &RequestContext,
        prior: &str,
        implied: &str,
    ) -> Result<ImpliedRole> {
        self.authorize("identity:create_implied_role", ctx, &json!({}))?;
        let p = self.role(prior).await?;
        let i = self.role(implied).await?;
        if p.id == i.id {
            return Err(IdentityError::Validation("A role cannot imply itself.".into()));
        }
        let rule = ImpliedRole { prior_role_id: p.id, implied_role_id: i.id };
        let key = format!("{}/{}", esc(prior), esc(implied));
        match self.implied.create(&key, &rule).await {
            Ok(_) | Err(ferrostack_core::store::StoreError::AlreadyExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
        self.changed();
        Ok(rule)
    }

    async fn delete_implied_role(
        &self,
        ctx: &RequestContext,
        prior: &str,
        implied: &str,
    ) -> Result<()> {
        self.authorize("identity:delete_implied_role", ctx, &json!({}))?;
        if !self.implied.delete(&format!("{}/{}", esc(prior), esc(implied))).await? {
            return Err(IdentityError::not_found("implied role", format!("{prior} -> {implied}")));
        }
        self.changed();
        Ok(())
    }

    async fn list_implied_roles(&self, ctx: &RequestContext) -> Result<Vec<ImpliedRole>> {
        self.authorize("identity:list_implied_roles", ctx, &json!({}))?;
        Ok(self.implied.list_all().await?.into_iter().map(|v| v.value).collect())
    }

    // ----- grants -----

    async fn create_grant(&self, ctx: &RequestContext, grant: Assignment) -> Result<()> {
        let target = self.grant_target(&grant).await?;
        self.authorize("identity:create_grant", ctx, &target)?;
        self.assignments
            .store()
            .put(
                &format!("{PREFIX}assignments/{}", assignment_key(&grant)),
                serde_json::to_vec(&grant).map_err(|e| {
                    IdentityError::Store(ferrostack_core::store::StoreError::Encode(e))
                })?,
            )
            .await?;
        self.changed();
        Ok(())
    }

    async fn revoke_grant(&self, ctx: &RequestContext, grant: Assignment) -> Result<()> {
        let target = self.grant_target(&grant).await?;
        self.authorize("identity:revoke_grant", ctx, &target)?;
        if !self.assignments.delete(&assignment_key(&grant)).await? {
            return Err(IdentityError::not_found("role assignment", grant.role_id.as_str()));
        }
        let mut ev = Self::blank_event();
        if let Actor::User(u) = &grant.actor {
            ev.user_id = Some(u.clone());
        }
        match &grant.target {
            Target::Project(p) => ev.project_id = Some(p.clone()),
            Target::Domain(d) if !grant.inherited => ev.domain_id = Some(d.clone()),
            _ => {}
        }
        self.revoke(ev).await
    }

    async fn check_grant(&self, ctx: &RequestContext, grant: Assignment) -> Result<()> {
        let target = self.grant_target(&grant).await?;
        self.authorize("identity:check_grant", ctx, &target)?;
        match self.assignments.get(&assignment_key(&grant)).await? {
            Some(_) => Ok(()),
            None => Err(IdentityError::not_found("role assignment", grant.role_id.as_str())),
        }
    }

    async fn list_grants(
        &self,
        ctx: &RequestContext,
        actor: Actor,
        target: Target,
        inherited: bool,
    ) -> Result<Vec<Role>> {
        let probe = Assignment {
            actor: actor.clone(),
            target: target.clone(),
            role_id: "probe".parse().map_err(|_| IdentityError::Validation("bad role".into()))?,
            inherited,
        };
        let t = self.grant_target_no_role(&probe).await?;
        self.authorize("identity:list_grants", ctx, &t)?;
        let mut out = Vec::new();
        for a in self.actor_assignments(&actor).await? {
            if a.target == target
                && a.inherited == inherited
                && let Some(r) = self.roles.get(a.role_id.as_str()).await?
            {
                out.push(r.value);
            }
        }
        Ok(out)
    }

    async fn list_role_assignments(
        &self,
        ctx: &RequestContext,
        q: &AssignmentQuery,
    ) -> Result<Vec<AssignmentView>> {
        self.authorize(
            "identity:list_role_assignments",
            ctx,
            &json!({"target": {"domain_id": q.domain_id}, "domain_id": q.domain_id}),
        )?;
        let all: Vec<Assignment> =
            self.assignments.list_all().await?.into_iter().map(|v| v.value).collect();
        let mut rows: Vec<(Assignment, Option<GroupId>)> = Vec::new();
        if q.effective {
            // Expand group assignments into their members, and inherited assignments onto the
            // projects below their target; drop the inherited originals.
            for a in &all {
                let users: Vec<(UserId, Option<GroupId>)> = match &a.actor {
                    Actor::User(u) => vec![(u.clone(), None)],
                    Actor::Group(g) => self
                        .group_member_ids(g.as_str())
                        .await?
                        .into_iter()
                        .map(|u| (u, Some(g.clone())))
                        .collect(),
                };
                let targets: Vec<Target> = if a.inherited {
                    let mut t = Vec::new();
                    for p in self.projects.list_all().await? {
                        let applies = match &a.target {
                            Target::Domain(d) => &p.value.domain_id == d,
                            Target::Project(pid) => self.ancestors(&p.value).await?.contains(pid),
                            Target::System => false,
                        };
                        if applies {
                            t.push(Target::Project(p.value.id));
                        }
                    }
                    t
                } else {
                    vec![a.target.clone()]
                };
                for (u, via) in &users {
                    for t in &targets {
                        rows.push((
                            Assignment {
                                actor: Actor::User(u.clone()),
                                target: t.clone(),
                                role_id: a.role_id.clone(),
                                inherited: false,
                            },
                            via.clone(),
                        ));
                    }
                }
            }
        } else {
            rows = all.into_iter().map(|a| (a, None)).collect();
        }
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for (a, via) in rows {
            let keep = q.user_id.as_ref().is_none_or(|u| a.actor == Actor::User(u.clone()))
                && q.group_id.as_ref().is_none_or(|g| a.actor == Actor::Group(g.clone()))
                && q.project_id.as_ref().is_none_or(|p| a.target == Target::Project(p.clone()))
                && q.domain_id.as_ref().is_none_or(|d| a.target == Target::Domain(d.clone()))
                && (!q.system || a.target == Target::System)
                && q.role_id.as_ref().is_none_or(|r| &a.role_id == r)
                && q.inherited.is_none_or(|i| a.inherited == i);
            if !keep || !seen.insert((a.clone(), via.clone())) {
                continue;
            }
            out.push(self.describe(a, via).await?);
        }
        Ok(out)
    }

    // ----- catalog -----

    async fn create_region(&self, ctx: &RequestContext, region: Region) -> Result<Region> {
        self.authorize("identity:create_region", ctx, &json!({"target": {"region": region}}))?;
        if let Some(parent) = &region.parent_region_id
            && self.regions.get(parent).await?.is_none()
        {
            return Err(IdentityError::Validation(format!(
                "Could not find parent region: {parent}."
            )));
        }
        self.regions.create(&region.id, &region).await.map_err(|e| match e {
            ferrostack_core::store::StoreError::AlreadyExists(_) => {
                IdentityError::duplicate("region", "id", &region.id)
            }
            other => other.into(),
        })?;
        Ok(region)
    }

    async fn get_region(&self, ctx: &RequestContext, id: &str) -> Result<Region> {
        self.authorize("identity:get_region", ctx, &json!({}))?;
        self.regions
            .get(id)
            .await?
            .map(|v| v.value)
            .ok_or_else(|| IdentityError::not_found("region", id))
    }

    async fn list_regions(&self, ctx: &RequestContext) -> Result<Vec<Region>> {
        self.authorize("identity:list_regions", ctx, &json!({}))?;
        Ok(self.regions.list_all().await?.into_iter().map(|v| v.value).collect())
    }

    async fn update_region(
        &self,
        ctx: &RequestContext,
        id: &str,
        patch: RegionPatch,
    ) -> Result<Region> {
        self.authorize("identity:update_region", ctx, &json!({}))?;
        let v = self
            .regions
            .update_with::<IdentityError, _>(id, |r| {
                if let Some(x) = &patch.description {
                    r.description = x.clone();
                }
                if let Some(x) = &patch.parent_region_id {
                    r.parent_region_id = x.clone();
                }
                Ok(())
            })
            .await
            .map_err(|e| match e {
                IdentityError::NotFound { .. } => IdentityError::not_found("region", id),
                other => other,
            })?;
        self.changed();
        Ok(v.value)
    }

    async fn delete_region(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        self.authorize("identity:delete_region", ctx, &json!({}))?;
        if !self.regions.delete(id).await? {
            return Err(IdentityError::not_found("region", id));
        }
        self.changed();
        Ok(())
    }

    async fn create_service(&self, ctx: &RequestContext, service: Service) -> Result<Service> {
        self.authorize("identity:create_service", ctx, &json!({}))?;
        if service.service_type.is_empty() || service.service_type.len() > 255 {
            return Err(IdentityError::Validation("Invalid input for field 'type'.".into()));
        }
        self.services.create(&service.id, &service).await?;
        self.changed();
        Ok(service)
    }

    async fn get_service(&self, ctx: &RequestContext, id: &str) -> Result<Service> {
        self.authorize("identity:get_service", ctx, &json!({}))?;
        self.services
            .get(id)
            .await?
            .map(|v| v.value)
            .ok_or_else(|| IdentityError::not_found("service", id))
    }

    async fn list_services(
        &self,
        ctx: &RequestContext,
        filter: &ListFilter,
    ) -> Result<Vec<Service>> {
        self.authorize("identity:list_services", ctx, &json!({}))?;
        self.list_filtered(&self.services, |s| filter.name.as_deref().is_none_or(|n| n == s.name))
            .await
    }

    async fn update_service(
        &self,
        ctx: &RequestContext,
        id: &str,
        patch: ServicePatch,
    ) -> Result<Service> {
        self.authorize("identity:update_service", ctx, &json!({}))?;
        let v = self
            .services
            .update_with::<IdentityError, _>(id, |s| {
                if let Some(x) = &patch.service_type {
                    s.service_type = x.clone();
                }
                if let Some(x) = &patch.name {
                    s.name = x.clone();
                }
                if let Some(x) = &patch.description {
                    s.description = x.clone();
                }
                if let Some(x) = patch.enabled {
                    s.enabled = x;
                }
                Ok(())
            })
            .await
            .map_err(|e| match e {
                IdentityError::NotFound { .. } => IdentityError::not_found("service", id),
                other => other,
            })?;
        self.changed();
        Ok(v.value)
    }

    async fn delete_service(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        self.authorize("identity:delete_service", ctx, &json!({}))?;
        if !self.services.delete(id).await? {
            return Err(IdentityError::not_found("service", id));
        }
        for e in self.endpoints.list_all().await? {
            if e.value.service_id == id {
                self.endpoints.delete(&e.id).await?;
            }
        }
        self.changed();
        Ok(())
    }

    async fn create_endpoint(&self, ctx: &RequestContext, endpoint: Endpoint) -> Result<Endpoint> {
        self.authorize("identity:create_endpoint", ctx, &json!({}))?;
        if self.services.get(&endpoint.service_id).await?.is_none() {
            return Err(IdentityError::Validation(format!(
                "Could not find service: {}.",
                endpoint.service_id
            )));
        }
        if let Some(r) = &endpoint.region_id
            && self.regions.get(r).await?.is_none()
        {
            return Err(IdentityError::Validation(format!("Could not find region: {r}.")));
        }
        if !(endpoint.url.starts_with("http://") || endpoint.url.starts_with("https://")) {
            return Err(IdentityError::Validation("Invalid input for field 'url'.".into()));
        }
        self.endpoints.create(&endpoint.id, &endpoint).await?;
        self.changed();
        Ok(endpoint)
    }

    async fn get_endpoint(&self, ctx: &RequestContext, id: &str) -> Result<Endpoint> {
        self.authorize("identity:get_endpoint", ctx, &json!({}))?;
        self.endpoints
            .get(id)
            .await?
            .map(|v| v.value)
            .ok_or_else(|| IdentityError::not_found("endpoint", id))
    }

    async fn list_endpoints(&self, ctx: &RequestContext) -> Result<Vec<Endpoint>> {
        self.authorize("identity:list_endpoints", ctx, &json!({}))?;
        Ok(self.endpoints.list_all().await?.into_iter().map(|v| v.value).collect())
    }

    async fn update_endpoint(
        &self,
        ctx: &RequestContext,
        id: &str,
        patch: EndpointPatch,
    ) -> Result<Endpoint> {
        self.authorize("identity:update_endpoint", ctx, &json!({}))?;
        let v = self
            .endpoints
            .update_with::<IdentityError, _>(id, |e| {
                if let Some(x) = &patch.service_id {
                    e.service_id = x.clone();
                }
                if let Some(x) = patch.interface {
                    e.interface = x;
                }
                if let Some(x) = &patch.url {
                    e.url = x.clone();
                }
                if let Some(x) = &patch.region_id {
                    e.region_id = x.clone();
                }
                if let Some(x) = patch.enabled {
                    e.enabled = x;
                }
                Ok(())
            })
            .await
            .map_err(|e| match e {
                IdentityError::NotFound { .. } => IdentityError::not_found("endpoint", id),
                other => other,
            })?;
        self.changed();
        Ok(v.value)
    }

    async fn delete_endpoint(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        self.authorize("identity:delete_endpoint", ctx, &json!({}))?;
        if !self.endpoints.delete(id).await? {
            return Err(IdentityError::not_found("endpoint", id));
        }
        self.changed();
        Ok(())
    }

    // ----- application credentials, credentials, EC2 (service/appcred.rs, credential.rs) -----

    async fn create_application_credential(
        &self,
        ctx: &RequestContext,
        user_id: &str,
        req: AppCredCreate,
    ) -> Result<ApplicationCredential> {
        self.app_cred_create(ctx, user_id, req).await
    }

    async fn get_application_credential(
        &self,
        ctx: &RequestContext,
        user_id: &str,
        id: &str,
    ) -> Result<ApplicationCredential> {
        self.app_cred_get(ctx, user_id, id).await
    }

    async fn list_application_credentials(
        &self,
        ctx: &RequestContext,
        user_id: &str,
        name: Option<&str>,
    ) -> Result<Vec<ApplicationCredential>> {
        self.app_cred_list(ctx, user_id, name).await
    }

    async fn delete_application_credential(
        &self,
        ctx: &RequestContext,
        user_id: &str,
        id: &str,
    ) -> Result<()> {
        self.app_cred_delete(ctx, user_id, id).await
    }

    async fn create_credential(
        &self,
        ctx: &RequestContext,
        req: CredentialCreate,
    ) -> Result<Credential> {
        self.credential_create(ctx, req).await
    }

    async fn get_credential(&self, ctx: &RequestContext, id: &str) -> Result<Credential> {
        self.credential_get(ctx, id).await
    }

    async fn list_credentials(
        &self,
        ctx: &RequestContext,
        filter: &CredentialFilter,
    ) -> Result<Vec<Credential>> {
        self.credential_list(ctx, filter).await
    }

    async fn update_credential(
        &self,
        ctx: &RequestContext,
        id: &str,
        blob: String,
    ) -> Result<Credential> {
        self.credential_update(ctx, id, blob).await
    }

    async fn delete_credential(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        self.credential_delete(ctx, id).await
    }

    async fn create_ec2_credential(
        &self,
        ctx: &RequestContext,
        user_id: &str,
        project_id: &str,
    ) -> Result<Ec2Credential> {
        self.ec2_create(ctx, user_id, project_id).await
    }

    async fn list_ec2_credentials(
        &self,
        ctx: &RequestContext,
        user_id: &str,
    ) -> Result<Vec<Ec2Credential>> {
        self.ec2_list(ctx, user_id).await
    }

    async fn get_ec2_credential(
        &self,
        ctx: &RequestContext,
        user_id: &str,
        access: &str,
    ) -> Result<Ec2Credential> {
        self.ec2_get(ctx, user_id, access).await
    }

    async fn delete_ec2_credential(
        &self,
        ctx: &RequestContext,
        user_id: &str,
        access: &str,
    ) -> Result<()> {
        self.ec2_delete(ctx, user_id, access).await
    }

    async fn ec2_authenticate(
        &self,
        ctx: &RequestContext,
        req: crate::ec2::SignedRequest,
    ) -> Result<TokenInfo> {
        self.ec2_token(ctx, req).await
    }
}

impl IdentityService {
    /// A write to a user that is not in the store: 403 for a directory user (after the
    /// policy check, as Keystone's driver refuses only once the caller is authorised), 404
    /// for an unknown one.
    async fn refuse_directory_user<T>(
        &self,
        rule: &str,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<T> {
        let u = self.user(id).await?;
        self.authorize(
            rule,
            ctx,
            &json!({"target": {"user": {"id": u.id, "domain_id": u.domain_id}}}),
        )?;
        Err(IdentityError::ReadOnly)
    }

    /// The filter of a user or group listing with Keystone's domain-specific-driver rule
    /// (`_get_domain_id_for_list_request`): with an LDAP domain configured, a listing is
    /// about one domain, the `domain_id` filter's, else the token's domain (a domain-scoped
    /// token's, a project-scoped token's project's); system-scoped listings read the store
    /// only (Keystone's default driver). `None` when nothing can be listed (unscoped).
    /// Without LDAP the filter is unchanged.
    fn driver_list_filter(&self, ctx: &RequestContext, filter: &ListFilter) -> Option<ListFilter> {
        if self.ldap.is_none() || filter.domain_id.is_some() {
            return Some(filter.clone());
        }
        let domain = match &ctx.scope {
            Scope::Domain { id, .. } => id.to_string(),
            Scope::Project { domain_id, .. } => domain_id.to_string(),
            // The store's users of every domain but the directory's.
            Scope::System => return Some(filter.clone()),
            Scope::Unscoped => return None,
        };
        Some(ListFilter { domain_id: Some(domain), ..filter.clone() })
    }

    async fn user_projects(&self, user: &UserId) -> Result<Vec<Project>> {
        let mut out = Vec::new();
        for p in self.projects.list_all().await? {
            let p = p.value;
            if p.enabled
                && !self.effective_roles(user, &Target::Project(p.id.clone())).await?.is_empty()
            {
                out.push(p);
            }
        }
        Ok(out)
    }

    async fn delete_assignments<F: Fn(&Assignment) -> bool + Send>(&self, f: F) -> Result<()> {
        for a in self.assignments.list_all().await? {
            if f(&a.value) {
                self.assignments.delete(&a.id).await?;
            }
        }
        self.changed();
        Ok(())
    }

    fn delete_project_tree<'a>(
        &'a self,
        ctx: &'a RequestContext,
        id: &'a ProjectId,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send + 'a>> {
        Box::pin(async move {
            let children =
                self.list_filtered(&self.projects, |p| p.parent_id.as_ref() == Some(id)).await?;
            for c in children {
                self.delete_project_tree(ctx, &c.id).await?;
            }
            match self.delete_project(ctx, id.as_str()).await {
                Ok(()) | Err(IdentityError::NotFound { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        })
    }

    async fn grant_target_no_role(&self, g: &Assignment) -> Result<Value> {
        let mut t = json!({});
        match &g.actor {
            Actor::User(u) => {
                let u = self.user(u.as_str()).await?;
                t["user"] = json!({"id": u.id, "domain_id": u.domain_id});
            }
            Actor::Group(gid) => {
                let g = self.group(gid.as_str()).await?;
                t["group"] = json!({"id": g.id, "domain_id": g.domain_id});
            }
        }
        match &g.target {
            Target::Project(p) => {
                let p = self.project(p.as_str()).await?;
                t["project"] = json!({"id": p.id, "domain_id": p.domain_id});
                t["domain_id"] = json!(p.domain_id);
            }
            Target::Domain(d) => {
                let d = self.domain(d.as_str()).await?;
                t["domain"] = json!({"id": d.id});
                t["domain_id"] = json!(d.id);
            }
            Target::System => {}
        }
        Ok(json!({"target": t.clone(), "domain_id": t["domain_id"]}))
    }

    async fn grant_target(&self, g: &Assignment) -> Result<Value> {
        let mut t = self.grant_target_no_role(g).await?;
        let r = self.role(g.role_id.as_str()).await?;
        t["target"]["role"] = json!({"id": r.id, "name": r.name, "domain_id": r.domain_id});
        Ok(t)
    }

    async fn describe(&self, a: Assignment, via: Option<GroupId>) -> Result<AssignmentView> {
        let role_name =
            self.roles.get(a.role_id.as_str()).await?.map(|r| r.value.name).unwrap_or_default();
        let dom_name = |id: String| async move {
            let name = self
                .domains
                .get(&id)
                .await
                .ok()
                .flatten()
                .map(|d| d.value.name)
                .unwrap_or_default();
            (id, name)
        };
        let (actor_name, actor_domain) = match &a.actor {
            Actor::User(u) => match self.user(u.as_str()).await {
                Ok(u) => (u.name, dom_name(u.domain_id.to_string()).await),
                Err(_) => (String::new(), (String::new(), String::new())),
            },
            Actor::Group(g) => match self.group(g.as_str()).await {
                Ok(g) => (g.name, dom_name(g.domain_id.to_string()).await),
                Err(_) => (String::new(), (String::new(), String::new())),
            },
        };
        let (target_name, target_domain) = match &a.target {
            Target::Project(p) => match self.projects.get(p.as_str()).await? {
                Some(p) => (p.value.name, Some(dom_name(p.value.domain_id.to_string()).await)),
                None => (String::new(), None),
            },
            Target::Domain(d) => (dom_name(d.to_string()).await.1, None),
            Target::System => ("all".to_owned(), None),
        };
        Ok(AssignmentView {
            assignment: a,
            role_name,
            actor_name,
            actor_domain,
            target_name,
            target_domain,
            via_group: via,
        })
    }

    /// Checks a user and project exist for `parse_id` users in other modules.
    #[allow(dead_code)]
    pub(crate) fn parse<T: std::str::FromStr>(kind: &'static str, s: &str) -> Result<T> {
        parse_id(kind, s)
    }
}
