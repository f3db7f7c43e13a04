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
//!
//! ## Layout
//!
//! This file holds the [`IdentityService`] struct, its constructor and key management, and
//! the [`IdentityApi`] impl, which only maps each operation to its body in the file of its
//! resource:
//!
//! | file | what |
//! |---|---|
//! | `auth.rs` | `POST /v3/auth/tokens`: password checks (lockout, expiry), scopes, password hashing |
//! | `tokens.rs` | validation, revocation events, the `/v3/auth/*` views of a token |
//! | `blocking.rs` | the bounded blocking pool for password work, key repository reads |
//! | `lookup.rs` | the unique-name index and plain reads without policy |
//! | `domains.rs`, `projects.rs`, `users.rs`, `groups.rs`, `roles.rs` | each resource's CRUD |
//! | `assignments.rs` | effective roles, grants, `/v3/role_assignments` |
//! | `catalog.rs` | regions, services, endpoints, a token's catalog |
//! | `appcred.rs` | application credentials |
//! | `credential.rs` | credentials, `OS-EC2`, `/v3/ec2tokens` |

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
use ferrostack_core::store::retry::retry_txn;
use ferrostack_core::store::{Collection, Condition, Store, StoreExt, Txn, TxnOutcome};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use time::{Duration, OffsetDateTime};

mod appcred;
mod assignments;
mod auth;
mod blocking;
mod catalog;
mod credential;
mod domains;
mod groups;
mod lookup;
mod projects;
mod roles;
mod tokens;
mod users;

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
            IdentityError::Validation("ldap: domain must not be the default domain".into())
        };
        if lc.domain.eq_ignore_ascii_case("default") || lc.domain == self.config.default_domain_id {
            return Err(refuse());
        }
        retry_txn("the LDAP domain", || async {
            if let Some(id) = self.lookup_name("domain", "-", &lc.domain).await? {
                if id == self.config.default_domain_id {
                    return Err(refuse());
                }
                return parse_id("domain", &id).map(Some);
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
                Ok(()) => Ok(Some(d.id)),
                // Another process created it concurrently: read its id.
                Err(IdentityError::Duplicate { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await
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

    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    fn authorize(&self, rule: &str, ctx: &RequestContext, target: &Value) -> Result<()> {
        self.authz.authorize(rule, ctx, target)
    }

    /// The domain a list is about: the `domain_id` filter, else a domain-scoped caller's
    /// domain (as Keystone fills it for domain-scoped tokens).
    fn list_domain(ctx: &RequestContext, filter: &ListFilter) -> Option<String> {
        filter.domain_id.clone().or_else(|| ctx.domain_id().map(|d| d.to_string()))
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

    /// Checks a user and project exist for `parse_id` users in other modules.
    #[allow(dead_code)]
    pub(crate) fn parse<T: std::str::FromStr>(kind: &'static str, s: &str) -> Result<T> {
        parse_id(kind, s)
    }
}

fn matches(filter: &ListFilter, name: &str, domain: Option<&str>, enabled: Option<bool>) -> bool {
    filter.name.as_deref().is_none_or(|n| n == name)
        && filter.domain_id.as_deref().is_none_or(|d| Some(d) == domain)
        && filter.enabled.is_none_or(|e| Some(e) == enabled)
}

/// Each operation's body is in the file of its resource (see the module docs).
#[async_trait::async_trait]
impl IdentityApi for IdentityService {
    // ----- authentication (auth.rs) and tokens (tokens.rs) -----

    async fn authenticate(&self, req: AuthRequest) -> Result<TokenInfo> {
        self.issue_token(req).await
    }

    async fn context_for_token(&self, token: &str, request_id: &str) -> Result<RequestContext> {
        self.token_context(token, request_id).await
    }

    async fn validate_token(
        &self,
        ctx: &RequestContext,
        subject: &str,
        allow_expired: bool,
    ) -> Result<TokenInfo> {
        self.token_validate(ctx, subject, allow_expired).await
    }

    async fn revoke_token(&self, ctx: &RequestContext, subject: &str) -> Result<()> {
        self.token_revoke(ctx, subject).await
    }

    async fn auth_catalog(&self, ctx: &RequestContext) -> Result<Vec<CatalogEntry>> {
        self.token_catalog(ctx).await
    }

    async fn auth_projects(&self, ctx: &RequestContext) -> Result<Vec<Project>> {
        self.token_projects(ctx).await
    }

    async fn auth_domains(&self, ctx: &RequestContext) -> Result<Vec<Domain>> {
        self.token_domains(ctx).await
    }

    async fn auth_system(&self, ctx: &RequestContext) -> Result<bool> {
        self.token_system(ctx).await
    }

    // ----- domains (domains.rs) -----

    async fn create_domain(&self, ctx: &RequestContext, domain: Domain) -> Result<Domain> {
        self.domain_create(ctx, domain).await
    }

    async fn get_domain(&self, ctx: &RequestContext, id: &str) -> Result<Domain> {
        self.domain_get(ctx, id).await
    }

    async fn list_domains(&self, ctx: &RequestContext, filter: &ListFilter) -> Result<Vec<Domain>> {
        self.domain_list(ctx, filter).await
    }

    async fn update_domain(
        &self,
        ctx: &RequestContext,
        id: &str,
        patch: DomainPatch,
    ) -> Result<Domain> {
        self.domain_update(ctx, id, patch).await
    }

    async fn delete_domain(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        self.domain_delete(ctx, id).await
    }

    // ----- projects (projects.rs) -----

    async fn create_project(&self, ctx: &RequestContext, project: Project) -> Result<Project> {
        self.project_create(ctx, project).await
    }

    async fn get_project(&self, ctx: &RequestContext, id: &str) -> Result<Project> {
        self.project_get(ctx, id).await
    }

    async fn list_projects(
        &self,
        ctx: &RequestContext,
        filter: &ListFilter,
    ) -> Result<Vec<Project>> {
        self.project_list(ctx, filter).await
    }

    async fn update_project(
        &self,
        ctx: &RequestContext,
        id: &str,
        patch: ProjectPatch,
    ) -> Result<Project> {
        self.project_update(ctx, id, patch).await
    }

    async fn delete_project(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        self.project_delete(ctx, id).await
    }

    async fn list_user_projects(
        &self,
        ctx: &RequestContext,
        user_id: &str,
    ) -> Result<Vec<Project>> {
        self.project_list_for_user(ctx, user_id).await
    }

    // ----- users (users.rs) -----

    async fn create_user(
        &self,
        ctx: &RequestContext,
        user: User,
        password: Option<String>,
    ) -> Result<User> {
        self.user_create(ctx, user, password).await
    }

    async fn get_user(&self, ctx: &RequestContext, id: &str) -> Result<User> {
        self.user_get(ctx, id).await
    }

    async fn list_users(&self, ctx: &RequestContext, filter: &ListFilter) -> Result<Vec<User>> {
        self.user_list(ctx, filter).await
    }

    async fn update_user(&self, ctx: &RequestContext, id: &str, patch: UserPatch) -> Result<User> {
        self.user_update(ctx, id, patch).await
    }

    async fn delete_user(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        self.user_delete(ctx, id).await
    }

    async fn change_password(
        &self,
        ctx: &RequestContext,
        id: &str,
        original: &str,
        new: &str,
    ) -> Result<()> {
        self.user_change_password(ctx, id, original, new).await
    }

    // ----- groups (groups.rs) -----

    async fn create_group(&self, ctx: &RequestContext, group: Group) -> Result<Group> {
        self.group_create(ctx, group).await
    }

    async fn get_group(&self, ctx: &RequestContext, id: &str) -> Result<Group> {
        self.group_get(ctx, id).await
    }

    async fn list_groups(&self, ctx: &RequestContext, filter: &ListFilter) -> Result<Vec<Group>> {
        self.group_list(ctx, filter).await
    }

    async fn update_group(
        &self,
        ctx: &RequestContext,
        id: &str,
        patch: NamePatch,
    ) -> Result<Group> {
        self.group_update(ctx, id, patch).await
    }

    async fn delete_group(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        self.group_delete(ctx, id).await
    }

    async fn add_user_to_group(&self, ctx: &RequestContext, group: &str, user: &str) -> Result<()> {
        self.group_add_user(ctx, group, user).await
    }

    async fn remove_user_from_group(
        &self,
        ctx: &RequestContext,
        group: &str,
        user: &str,
    ) -> Result<()> {
        self.group_remove_user(ctx, group, user).await
    }

    async fn check_user_in_group(
        &self,
        ctx: &RequestContext,
        group: &str,
        user: &str,
    ) -> Result<()> {
        self.group_check_user(ctx, group, user).await
    }

    async fn list_users_in_group(&self, ctx: &RequestContext, group: &str) -> Result<Vec<User>> {
        self.group_list_users(ctx, group).await
    }

    async fn list_groups_for_user(&self, ctx: &RequestContext, user: &str) -> Result<Vec<Group>> {
        self.group_list_for_user(ctx, user).await
    }

    // ----- roles (roles.rs) -----

    async fn create_role(&self, ctx: &RequestContext, role: Role) -> Result<Role> {
        self.role_create(ctx, role).await
    }

    async fn get_role(&self, ctx: &RequestContext, id: &str) -> Result<Role> {
        self.role_get(ctx, id).await
    }

    async fn list_roles(&self, ctx: &RequestContext, filter: &ListFilter) -> Result<Vec<Role>> {
        self.role_list(ctx, filter).await
    }

    async fn update_role(&self, ctx: &RequestContext, id: &str, patch: NamePatch) -> Result<Role> {
        self.role_update(ctx, id, patch).await
    }

    async fn delete_role(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        self.role_delete(ctx, id).await
    }

    async fn create_implied_role(
        &self,
        ctx: &RequestContext,
        prior: &str,
        implied: &str,
    ) -> Result<ImpliedRole> {
        self.implied_role_create(ctx, prior, implied).await
    }

    async fn delete_implied_role(
        &self,
        ctx: &RequestContext,
        prior: &str,
        implied: &str,
    ) -> Result<()> {
        self.implied_role_delete(ctx, prior, implied).await
    }

    async fn list_implied_roles(&self, ctx: &RequestContext) -> Result<Vec<ImpliedRole>> {
        self.implied_role_list(ctx).await
    }

    // ----- grants (assignments.rs) -----

    async fn create_grant(&self, ctx: &RequestContext, grant: Assignment) -> Result<()> {
        self.grant_create(ctx, grant).await
    }

    async fn revoke_grant(&self, ctx: &RequestContext, grant: Assignment) -> Result<()> {
        self.grant_revoke(ctx, grant).await
    }

    async fn check_grant(&self, ctx: &RequestContext, grant: Assignment) -> Result<()> {
        self.grant_check(ctx, grant).await
    }

    async fn list_grants(
        &self,
        ctx: &RequestContext,
        actor: Actor,
        target: Target,
        inherited: bool,
    ) -> Result<Vec<Role>> {
        self.grant_list(ctx, actor, target, inherited).await
    }

    async fn list_role_assignments(
        &self,
        ctx: &RequestContext,
        q: &AssignmentQuery,
    ) -> Result<Vec<AssignmentView>> {
        self.assignment_list(ctx, q).await
    }

    // ----- catalog (catalog.rs) -----

    async fn create_region(&self, ctx: &RequestContext, region: Region) -> Result<Region> {
        self.region_create(ctx, region).await
    }

    async fn get_region(&self, ctx: &RequestContext, id: &str) -> Result<Region> {
        self.region_get(ctx, id).await
    }

    async fn list_regions(&self, ctx: &RequestContext) -> Result<Vec<Region>> {
        self.region_list(ctx).await
    }

    async fn update_region(
        &self,
        ctx: &RequestContext,
        id: &str,
        patch: RegionPatch,
    ) -> Result<Region> {
        self.region_update(ctx, id, patch).await
    }

    async fn delete_region(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        self.region_delete(ctx, id).await
    }

    async fn create_service(&self, ctx: &RequestContext, service: Service) -> Result<Service> {
        self.service_create(ctx, service).await
    }

    async fn get_service(&self, ctx: &RequestContext, id: &str) -> Result<Service> {
        self.service_get(ctx, id).await
    }

    async fn list_services(
        &self,
        ctx: &RequestContext,
        filter: &ListFilter,
    ) -> Result<Vec<Service>> {
        self.service_list(ctx, filter).await
    }

    async fn update_service(
        &self,
        ctx: &RequestContext,
        id: &str,
        patch: ServicePatch,
    ) -> Result<Service> {
        self.service_update(ctx, id, patch).await
    }

    async fn delete_service(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        self.service_delete(ctx, id).await
    }

    async fn create_endpoint(&self, ctx: &RequestContext, endpoint: Endpoint) -> Result<Endpoint> {
        self.endpoint_create(ctx, endpoint).await
    }

    async fn get_endpoint(&self, ctx: &RequestContext, id: &str) -> Result<Endpoint> {
        self.endpoint_get(ctx, id).await
    }

    async fn list_endpoints(&self, ctx: &RequestContext) -> Result<Vec<Endpoint>> {
        self.endpoint_list(ctx).await
    }

    async fn update_endpoint(
        &self,
        ctx: &RequestContext,
        id: &str,
        patch: EndpointPatch,
    ) -> Result<Endpoint> {
        self.endpoint_update(ctx, id, patch).await
    }

    async fn delete_endpoint(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        self.endpoint_delete(ctx, id).await
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
