// SPDX-License-Identifier: Apache-2.0
//! [`IdentityApi`]: every identity operation, implemented locally by
//! [`crate::IdentityService`] and served over HTTP by [`crate::http::router`].

use crate::error::Result;
use crate::token::TokenPayload;
use crate::types::*;
use ferrostack_core::RequestContext;
use ferrostack_core::id::{DomainId, GroupId, ProjectId, RoleId, UserId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A domain named by id or by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainRef {
    /// By id.
    Id(String),
    /// By name.
    Name(String),
}

/// A user named by id, or by name within a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRef {
    /// By id.
    Id(String),
    /// By name in a domain.
    Name {
        /// The name.
        name: String,
        /// The domain.
        domain: DomainRef,
    },
}

/// A project named by id, or by name within a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectRef {
    /// By id.
    Id(String),
    /// By name in a domain.
    Name {
        /// The name.
        name: String,
        /// The domain.
        domain: DomainRef,
    },
}

/// The scope an authentication request asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ScopeRequest {
    /// No scope given: the user's default project if usable, else unscoped.
    #[default]
    Default,
    /// Explicitly unscoped (`"scope": "unscoped"`).
    Unscoped,
    /// A project.
    Project(ProjectRef),
    /// A domain.
    Domain(DomainRef),
    /// The system (`{"system": {"all": true}}`).
    System,
}

/// How the caller proves who they are.
#[derive(Clone, PartialEq, Eq)]
pub enum AuthMethod {
    /// `password`.
    Password {
        /// The user.
        user: UserRef,
        /// The password (never printed by `Debug`).
        password: String,
    },
    /// `token`: an existing token, re-scoped.
    Token(String),
    /// `application_credential`: an application credential and its secret; the token is
    /// scoped to the credential's project (the request may not name a scope).
    ApplicationCredential {
        /// Which application credential.
        credential: AppCredRef,
        /// The secret (never printed by `Debug`).
        secret: String,
    },
}

/// An application credential named in an authentication request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppCredRef {
    /// By id.
    Id(String),
    /// By name, with its owner.
    Name {
        /// The name.
        name: String,
        /// The owner.
        user: UserRef,
    },
}

impl fmt::Debug for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthMethod::Password { user, .. } => f
                .debug_struct("Password")
                .field("user", user)
                .field("password", &"<redacted>")
                .finish(),
            AuthMethod::Token(_) => f.write_str("Token(<redacted>)"),
            AuthMethod::ApplicationCredential { credential, .. } => f
                .debug_struct("ApplicationCredential")
                .field("credential", credential)
                .field("secret", &"<redacted>")
                .finish(),
        }
    }
}

/// `POST /v3/auth/tokens`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRequest {
    /// The proof.
    pub method: AuthMethod,
    /// The scope.
    pub scope: ScopeRequest,
}

/// What a validated token is scoped to, resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenScope {
    /// Unscoped.
    Unscoped,
    /// A project (and its domain).
    Project {
        /// The project.
        project: Project,
        /// Its domain.
        domain: Domain,
    },
    /// A domain.
    Domain(Domain),
    /// The system.
    System,
}

/// A token with everything Keystone renders about it.
#[derive(Clone, PartialEq)]
pub struct TokenInfo {
    /// The token itself (never printed by `Debug`).
    pub token: String,
    /// The payload.
    pub payload: TokenPayload,
    /// The user.
    pub user: User,
    /// The user's domain.
    pub user_domain: Domain,
    /// The scope.
    pub scope: TokenScope,
    /// The effective roles (implied roles included).
    pub roles: Vec<Role>,
    /// The catalog for this scope (empty for unscoped tokens).
    pub catalog: Vec<CatalogEntry>,
    /// The application credential of a token issued from one (`application_credential` in
    /// Keystone's token body).
    pub application_credential: Option<TokenAppCred>,
}

/// What a token says about the application credential it was issued from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenAppCred {
    /// The id.
    pub id: String,
    /// The name.
    pub name: String,
    /// `!unrestricted`: a restricted credential's tokens cannot manage application
    /// credentials or trusts.
    pub restricted: bool,
}

impl fmt::Debug for TokenInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenInfo")
            .field("token", &"<redacted>")
            .field("payload", &self.payload)
            .field("user", &self.user.id)
            .field("scope", &self.scope)
            .field("roles", &self.roles.iter().map(|r| &r.name).collect::<Vec<_>>())
            .finish()
    }
}

impl TokenInfo {
    /// The project id of a project-scoped token.
    pub fn payload_project_id(&self) -> Option<ProjectId> {
        match &self.scope {
            TokenScope::Project { project, .. } => Some(project.id.clone()),
            _ => None,
        }
    }

    /// The [`RequestContext`] of this validated token, for a request `request_id`: what the
    /// local service's `context_for_token` and a remote client's validation both hand out.
    pub(crate) fn context(&self, request_id: &str) -> RequestContext {
        use ferrostack_core::context::Scope;
        let scope = match &self.scope {
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
            user_id: self.user.id.clone(),
            user_name: self.user.name.clone(),
            user_domain_id: self.user.domain_id.clone(),
            scope,
            roles: self.roles.iter().map(|r| r.name.clone()).collect(),
            request_id: request_id.to_owned(),
            expires_at: Some(self.payload.expires_at),
            auth_token: Some(self.token.clone()),
            audit_ids: self.payload.audit_ids.clone(),
        }
    }
}

/// Filters of list operations (`?name=`, `?domain_id=`, `?enabled=`, `?parent_id=`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListFilter {
    /// Exact name.
    pub name: Option<String>,
    /// Owning domain.
    pub domain_id: Option<String>,
    /// Enabled state.
    pub enabled: Option<bool>,
    /// Parent project.
    pub parent_id: Option<String>,
}

/// Changes to a domain; `None` keeps the field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainPatch {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New enabled state.
    pub enabled: Option<bool>,
    /// New tags.
    pub tags: Option<Vec<String>>,
}

/// Changes to a project; `None` keeps the field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectPatch {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New enabled state.
    pub enabled: Option<bool>,
    /// New tags.
    pub tags: Option<Vec<String>>,
}

/// Changes to a user; `None` keeps the field.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct UserPatch {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New enabled state.
    pub enabled: Option<bool>,
    /// New default project (`Some(None)` clears it).
    pub default_project_id: Option<Option<ProjectId>>,
    /// New email.
    pub email: Option<Option<String>>,
    /// New password (an administrator reset).
    pub password: Option<String>,
}

impl fmt::Debug for UserPatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserPatch")
            .field("name", &self.name)
            .field("enabled", &self.enabled)
            .field("default_project_id", &self.default_project_id)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Changes to a group or role: name and description.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamePatch {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
}

/// Changes to a region.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegionPatch {
    /// New description.
    pub description: Option<String>,
    /// New parent (`Some(None)` clears it).
    pub parent_region_id: Option<Option<String>>,
}

/// Changes to a service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServicePatch {
    /// New type.
    pub service_type: Option<String>,
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New enabled state.
    pub enabled: Option<bool>,
}

/// Changes to an endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointPatch {
    /// New service.
    pub service_id: Option<String>,
    /// New interface.
    pub interface: Option<Interface>,
    /// New URL.
    pub url: Option<String>,
    /// New region (`Some(None)` clears it).
    pub region_id: Option<Option<String>>,
    /// New enabled state.
    pub enabled: Option<bool>,
}

/// Filters of `GET /v3/role_assignments`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssignmentQuery {
    /// `user.id`.
    pub user_id: Option<UserId>,
    /// `group.id`.
    pub group_id: Option<GroupId>,
    /// `scope.project.id`.
    pub project_id: Option<ProjectId>,
    /// `scope.domain.id`.
    pub domain_id: Option<DomainId>,
    /// `scope.system`.
    pub system: bool,
    /// `role.id`.
    pub role_id: Option<RoleId>,
    /// `scope.OS-INHERIT:inherited_to`.
    pub inherited: Option<bool>,
    /// `effective`: expand groups into users and inherited assignments onto projects.
    pub effective: bool,
}

/// One row of `GET /v3/role_assignments`, with the names `include_names` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentView {
    /// The assignment (for effective listings, as it applies to the user and target).
    pub assignment: Assignment,
    /// The role's name.
    pub role_name: String,
    /// The actor's name and domain (id, name).
    pub actor_name: String,
    /// The actor's domain (id, name).
    pub actor_domain: (String, String),
    /// The target's name and domain (for projects) (id, name).
    pub target_name: String,
    /// The target's domain, for projects.
    pub target_domain: Option<(String, String)>,
    /// For effective listings through a group: that group.
    pub via_group: Option<GroupId>,
}

/// `POST /v3/users/{user_id}/application_credentials`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AppCredCreate {
    /// The name (unique per user).
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// The secret; generated (64 random bytes, base64url) when absent.
    pub secret: Option<String>,
    /// Roles by id or name (`RoleRef`); empty means every role of the creating token.
    pub roles: Vec<RoleRef>,
    /// When it expires.
    pub expires_at: Option<time::OffsetDateTime>,
    /// Whether its tokens may manage application credentials and trusts (default false).
    pub unrestricted: bool,
}

impl fmt::Debug for AppCredCreate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppCredCreate")
            .field("name", &self.name)
            .field("roles", &self.roles)
            .field("expires_at", &self.expires_at)
            .field("unrestricted", &self.unrestricted)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A role named by id or by (global) name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleRef {
    /// By id.
    Id(String),
    /// By name.
    Name(String),
}

/// `POST /v3/credentials`.
#[derive(Clone, PartialEq, Eq)]
pub struct CredentialCreate {
    /// The owner.
    pub user_id: String,
    /// The project (required for `ec2`).
    pub project_id: Option<String>,
    /// The type.
    pub credential_type: String,
    /// The blob (for `ec2`, a JSON object with `access` and `secret`, serialised).
    pub blob: String,
}

impl fmt::Debug for CredentialCreate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialCreate")
            .field("user_id", &self.user_id)
            .field("project_id", &self.project_id)
            .field("type", &self.credential_type)
            .field("blob", &"<redacted>")
            .finish()
    }
}

/// Filters of `GET /v3/credentials`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialFilter {
    /// Owner.
    pub user_id: Option<String>,
    /// Type.
    pub credential_type: Option<String>,
}

/// An EC2 credential as the `OS-EC2` extension shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Ec2Credential {
    /// The owner.
    pub user_id: String,
    /// The project (`tenant_id`).
    pub tenant_id: Option<String>,
    /// The access key.
    pub access: String,
    /// The secret key (never printed by `Debug`).
    pub secret: String,
    /// The trust it was created under, if any.
    pub trust_id: Option<String>,
}

impl fmt::Debug for Ec2Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ec2Credential")
            .field("user_id", &self.user_id)
            .field("tenant_id", &self.tenant_id)
            .field("access", &self.access)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The identity service's operations. Each takes the caller's [`RequestContext`] (except
/// [`IdentityApi::authenticate`] and [`IdentityApi::context_for_token`], which establish one)
/// and is authorised by Keystone's default policy for its rule.
///
/// # Contract
///
/// * Unknown ids are [`crate::IdentityError::NotFound`] (404), duplicate names
///   [`crate::IdentityError::Duplicate`] (409), policy denials `Forbidden` (403), failed
///   authentication `Unauthorized` (401) without saying which part failed.
/// * Writes are atomic in the store (a resource and its name index change together) and revoke
///   the tokens they invalidate (disabling a user revokes the user's tokens, removing a grant
///   revokes the user's tokens on that project) before returning.
/// * `context_for_token` checks the signature, expiry and revocation of a token without reading
///   the store when the scope's roles are cached; it never calls policy.
///
/// # Cancellation
///
/// Dropping a future leaves the store either before or after the write, never in between.
#[async_trait::async_trait]
pub trait IdentityApi: Send + Sync + fmt::Debug + 'static {
    /// `POST /v3/auth/tokens`: authenticates and issues a token.
    async fn authenticate(&self, req: AuthRequest) -> Result<TokenInfo>;
    /// The caller's context from its `X-Auth-Token`.
    async fn context_for_token(&self, token: &str, request_id: &str) -> Result<RequestContext>;
    /// `GET /v3/auth/tokens`: validates `subject`; 404 if invalid.
    async fn validate_token(
        &self,
        ctx: &RequestContext,
        subject: &str,
        allow_expired: bool,
    ) -> Result<TokenInfo>;
    /// `DELETE /v3/auth/tokens`.
    async fn revoke_token(&self, ctx: &RequestContext, subject: &str) -> Result<()>;
    /// `GET /v3/auth/catalog`.
    async fn auth_catalog(&self, ctx: &RequestContext) -> Result<Vec<CatalogEntry>>;
    /// `GET /v3/auth/projects`.
    async fn auth_projects(&self, ctx: &RequestContext) -> Result<Vec<Project>>;
    /// `GET /v3/auth/domains`.
    async fn auth_domains(&self, ctx: &RequestContext) -> Result<Vec<Domain>>;
    /// `GET /v3/auth/system`: whether the caller has roles on the system.
    async fn auth_system(&self, ctx: &RequestContext) -> Result<bool>;

    /// Creates a domain (`POST /v3/domains`).
    async fn create_domain(&self, ctx: &RequestContext, domain: Domain) -> Result<Domain>;
    /// A domain (`GET /v3/domains/{id}`).
    async fn get_domain(&self, ctx: &RequestContext, id: &str) -> Result<Domain>;
    /// Domains matching `filter` (`GET /v3/domains`).
    async fn list_domains(&self, ctx: &RequestContext, filter: &ListFilter) -> Result<Vec<Domain>>;
    /// Changes a domain (`PATCH /v3/domains/{id}`); disabling it revokes its tokens.
    async fn update_domain(
        &self,
        ctx: &RequestContext,
        id: &str,
        patch: DomainPatch,
    ) -> Result<Domain>;
    /// Deletes a disabled domain and everything in it (`DELETE /v3/domains/{id}`).
    async fn delete_domain(&self, ctx: &RequestContext, id: &str) -> Result<()>;

    /// Creates a project (`POST /v3/projects`).
    async fn create_project(&self, ctx: &RequestContext, project: Project) -> Result<Project>;
    /// A project (`GET /v3/projects/{id}`).
    async fn get_project(&self, ctx: &RequestContext, id: &str) -> Result<Project>;
    /// Projects matching `filter` (`GET /v3/projects`).
    async fn list_projects(
        &self,
        ctx: &RequestContext,
        filter: &ListFilter,
    ) -> Result<Vec<Project>>;
    /// Changes a project (`PATCH /v3/projects/{id}`); disabling it revokes its tokens.
    async fn update_project(
        &self,
        ctx: &RequestContext,
        id: &str,
        patch: ProjectPatch,
    ) -> Result<Project>;
    /// Deletes a leaf project and its grants (`DELETE /v3/projects/{id}`).
    async fn delete_project(&self, ctx: &RequestContext, id: &str) -> Result<()>;
    /// The projects a user has roles on (`GET /v3/users/{id}/projects`).
    async fn list_user_projects(&self, ctx: &RequestContext, user_id: &str)
    -> Result<Vec<Project>>;

    /// Creates a user, hashing `password` (`POST /v3/users`).
    async fn create_user(
        &self,
        ctx: &RequestContext,
        user: User,
        password: Option<String>,
    ) -> Result<User>;
    /// A user (`GET /v3/users/{id}`).
    async fn get_user(&self, ctx: &RequestContext, id: &str) -> Result<User>;
    /// Users matching `filter` (`GET /v3/users`).
    async fn list_users(&self, ctx: &RequestContext, filter: &ListFilter) -> Result<Vec<User>>;
    /// Changes a user (`PATCH /v3/users/{id}`); disabling or a new password revokes their tokens.
    async fn update_user(&self, ctx: &RequestContext, id: &str, patch: UserPatch) -> Result<User>;
    /// Deletes a user, their grants and memberships (`DELETE /v3/users/{id}`).
    async fn delete_user(&self, ctx: &RequestContext, id: &str) -> Result<()>;
    /// A user changes their own password (`POST /v3/users/{id}/password`).
    async fn change_password(
        &self,
        ctx: &RequestContext,
        id: &str,
        original: &str,
        new: &str,
    ) -> Result<()>;

    /// Creates a group (`POST /v3/groups`).
    async fn create_group(&self, ctx: &RequestContext, group: Group) -> Result<Group>;
    /// A group (`GET /v3/groups/{id}`).
    async fn get_group(&self, ctx: &RequestContext, id: &str) -> Result<Group>;
    /// Groups matching `filter` (`GET /v3/groups`).
    async fn list_groups(&self, ctx: &RequestContext, filter: &ListFilter) -> Result<Vec<Group>>;
    /// Changes a group (`PATCH /v3/groups/{id}`).
    async fn update_group(&self, ctx: &RequestContext, id: &str, patch: NamePatch)
    -> Result<Group>;
    /// Deletes a group and its grants (`DELETE /v3/groups/{id}`).
    async fn delete_group(&self, ctx: &RequestContext, id: &str) -> Result<()>;
    /// Adds a member (`PUT /v3/groups/{g}/users/{u}`).
    async fn add_user_to_group(&self, ctx: &RequestContext, group: &str, user: &str) -> Result<()>;
    /// Removes a member (`DELETE /v3/groups/{g}/users/{u}`); revokes their tokens.
    async fn remove_user_from_group(
        &self,
        ctx: &RequestContext,
        group: &str,
        user: &str,
    ) -> Result<()>;
    /// Whether a user is a member (`HEAD /v3/groups/{g}/users/{u}`); 404 if not.
    async fn check_user_in_group(
        &self,
        ctx: &RequestContext,
        group: &str,
        user: &str,
    ) -> Result<()>;
    /// A group's members (`GET /v3/groups/{id}/users`).
    async fn list_users_in_group(&self, ctx: &RequestContext, group: &str) -> Result<Vec<User>>;
    /// A user's groups (`GET /v3/users/{id}/groups`).
    async fn list_groups_for_user(&self, ctx: &RequestContext, user: &str) -> Result<Vec<Group>>;

    /// Creates a role (`POST /v3/roles`).
    async fn create_role(&self, ctx: &RequestContext, role: Role) -> Result<Role>;
    /// A role (`GET /v3/roles/{id}`).
    async fn get_role(&self, ctx: &RequestContext, id: &str) -> Result<Role>;
    /// Roles matching `filter` (`GET /v3/roles`).
    async fn list_roles(&self, ctx: &RequestContext, filter: &ListFilter) -> Result<Vec<Role>>;
    /// Changes a role (`PATCH /v3/roles/{id}`).
    async fn update_role(&self, ctx: &RequestContext, id: &str, patch: NamePatch) -> Result<Role>;
    /// Deletes a role, its grants and inference rules (`DELETE /v3/roles/{id}`).
    async fn delete_role(&self, ctx: &RequestContext, id: &str) -> Result<()>;
    /// `prior` implies `implied` (`PUT /v3/roles/{prior}/implies/{implied}`); idempotent.
    async fn create_implied_role(
        &self,
        ctx: &RequestContext,
        prior: &str,
        implied: &str,
    ) -> Result<ImpliedRole>;
    /// Removes an inference rule (`DELETE /v3/roles/{prior}/implies/{implied}`).
    async fn delete_implied_role(
        &self,
        ctx: &RequestContext,
        prior: &str,
        implied: &str,
    ) -> Result<()>;
    /// Every inference rule (`GET /v3/role_inferences`).
    async fn list_implied_roles(&self, ctx: &RequestContext) -> Result<Vec<ImpliedRole>>;

    /// Grants a role (`PUT /v3/projects/{p}/users/{u}/roles/{r}` and the domain, group, system and `OS-INHERIT` forms); idempotent.
    async fn create_grant(&self, ctx: &RequestContext, grant: Assignment) -> Result<()>;
    /// Revokes a role and the tokens relying on it.
    async fn revoke_grant(&self, ctx: &RequestContext, grant: Assignment) -> Result<()>;
    /// Whether a grant exists; 404 if not.
    async fn check_grant(&self, ctx: &RequestContext, grant: Assignment) -> Result<()>;
    /// The roles an actor holds directly on a target.
    async fn list_grants(
        &self,
        ctx: &RequestContext,
        actor: Actor,
        target: Target,
        inherited: bool,
    ) -> Result<Vec<Role>>;
    /// `GET /v3/role_assignments` with its filters, `effective` expanding groups and inheritance.
    async fn list_role_assignments(
        &self,
        ctx: &RequestContext,
        query: &AssignmentQuery,
    ) -> Result<Vec<AssignmentView>>;

    /// Creates a region (`POST /v3/regions`).
    async fn create_region(&self, ctx: &RequestContext, region: Region) -> Result<Region>;
    /// A region.
    async fn get_region(&self, ctx: &RequestContext, id: &str) -> Result<Region>;
    /// Every region.
    async fn list_regions(&self, ctx: &RequestContext) -> Result<Vec<Region>>;
    /// Changes a region.
    async fn update_region(
        &self,
        ctx: &RequestContext,
        id: &str,
        patch: RegionPatch,
    ) -> Result<Region>;
    /// Deletes a region.
    async fn delete_region(&self, ctx: &RequestContext, id: &str) -> Result<()>;

    /// Creates a catalog service (`POST /v3/services`).
    async fn create_service(&self, ctx: &RequestContext, service: Service) -> Result<Service>;
    /// A service.
    async fn get_service(&self, ctx: &RequestContext, id: &str) -> Result<Service>;
    /// Services matching `filter`.
    async fn list_services(
        &self,
        ctx: &RequestContext,
        filter: &ListFilter,
    ) -> Result<Vec<Service>>;
    /// Changes a service.
    async fn update_service(
        &self,
        ctx: &RequestContext,
        id: &str,
        patch: ServicePatch,
    ) -> Result<Service>;
    /// Deletes a service and its endpoints.
    async fn delete_service(&self, ctx: &RequestContext, id: &str) -> Result<()>;

    /// Creates an endpoint (`POST /v3/endpoints`).
    async fn create_endpoint(&self, ctx: &RequestContext, endpoint: Endpoint) -> Result<Endpoint>;
    /// An endpoint.
    async fn get_endpoint(&self, ctx: &RequestContext, id: &str) -> Result<Endpoint>;
    /// Every endpoint.
    async fn list_endpoints(&self, ctx: &RequestContext) -> Result<Vec<Endpoint>>;
    /// Changes an endpoint.
    async fn update_endpoint(
        &self,
        ctx: &RequestContext,
        id: &str,
        patch: EndpointPatch,
    ) -> Result<Endpoint>;
    /// Deletes an endpoint.
    async fn delete_endpoint(&self, ctx: &RequestContext, id: &str) -> Result<()>;

    // ----- application credentials, credentials, EC2 (issue 5) -----
    //
    // These have default bodies answering `NotImplemented` (501), so an implementation
    // written before them (a remote client) still compiles; `IdentityService` implements all.

    /// Creates an application credential for the caller (`POST
    /// /v3/users/{user_id}/application_credentials`): scoped to the project of the caller's
    /// token, with a subset of its roles (all of them by default). The answer carries the
    /// secret, the only time it is shown; the store keeps a hash.
    async fn create_application_credential(
        &self,
        ctx: &RequestContext,
        user_id: &str,
        req: AppCredCreate,
    ) -> Result<ApplicationCredential> {
        let _ = (ctx, user_id, req);
        Err(crate::IdentityError::NotImplemented("application credentials"))
    }
    /// An application credential of `user_id`.
    async fn get_application_credential(
        &self,
        ctx: &RequestContext,
        user_id: &str,
        id: &str,
    ) -> Result<ApplicationCredential> {
        let _ = (ctx, user_id, id);
        Err(crate::IdentityError::NotImplemented("application credentials"))
    }
    /// The application credentials of `user_id`, optionally only the one named `name`.
    async fn list_application_credentials(
        &self,
        ctx: &RequestContext,
        user_id: &str,
        name: Option<&str>,
    ) -> Result<Vec<ApplicationCredential>> {
        let _ = (ctx, user_id, name);
        Err(crate::IdentityError::NotImplemented("application credentials"))
    }
    /// Deletes an application credential; tokens issued from it stop validating.
    async fn delete_application_credential(
        &self,
        ctx: &RequestContext,
        user_id: &str,
        id: &str,
    ) -> Result<()> {
        let _ = (ctx, user_id, id);
        Err(crate::IdentityError::NotImplemented("application credentials"))
    }

    /// Creates a credential (`POST /v3/credentials`); the blob is encrypted at rest.
    async fn create_credential(
        &self,
        ctx: &RequestContext,
        req: CredentialCreate,
    ) -> Result<Credential> {
        let _ = (ctx, req);
        Err(crate::IdentityError::NotImplemented("credentials"))
    }
    /// A credential (`GET /v3/credentials/{id}`).
    async fn get_credential(&self, ctx: &RequestContext, id: &str) -> Result<Credential> {
        let _ = (ctx, id);
        Err(crate::IdentityError::NotImplemented("credentials"))
    }
    /// The credentials the caller may see (`GET /v3/credentials`).
    async fn list_credentials(
        &self,
        ctx: &RequestContext,
        filter: &CredentialFilter,
    ) -> Result<Vec<Credential>> {
        let _ = (ctx, filter);
        Err(crate::IdentityError::NotImplemented("credentials"))
    }
    /// Replaces a credential's blob (`PATCH /v3/credentials/{id}`; nothing else may change).
    async fn update_credential(
        &self,
        ctx: &RequestContext,
        id: &str,
        blob: String,
    ) -> Result<Credential> {
        let _ = (ctx, id, blob);
        Err(crate::IdentityError::NotImplemented("credentials"))
    }
    /// Deletes a credential.
    async fn delete_credential(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        let _ = (ctx, id);
        Err(crate::IdentityError::NotImplemented("credentials"))
    }

    /// Creates an EC2 access/secret pair for `user_id` on `project_id`
    /// (`POST /v3/users/{user_id}/credentials/OS-EC2`).
    async fn create_ec2_credential(
        &self,
        ctx: &RequestContext,
        user_id: &str,
        project_id: &str,
    ) -> Result<Ec2Credential> {
        let _ = (ctx, user_id, project_id);
        Err(crate::IdentityError::NotImplemented("EC2 credentials"))
    }
    /// The EC2 credentials of `user_id`.
    async fn list_ec2_credentials(
        &self,
        ctx: &RequestContext,
        user_id: &str,
    ) -> Result<Vec<Ec2Credential>> {
        let _ = (ctx, user_id);
        Err(crate::IdentityError::NotImplemented("EC2 credentials"))
    }
    /// One EC2 credential by access key.
    async fn get_ec2_credential(
        &self,
        ctx: &RequestContext,
        user_id: &str,
        access: &str,
    ) -> Result<Ec2Credential> {
        let _ = (ctx, user_id, access);
        Err(crate::IdentityError::NotImplemented("EC2 credentials"))
    }
    /// Deletes an EC2 credential by access key.
    async fn delete_ec2_credential(
        &self,
        ctx: &RequestContext,
        user_id: &str,
        access: &str,
    ) -> Result<()> {
        let _ = (ctx, user_id, access);
        Err(crate::IdentityError::NotImplemented("EC2 credentials"))
    }
    /// `POST /v3/ec2tokens`: checks an EC2 request signature against the credential's
    /// secret and issues a token scoped to the credential's project. The caller (an EC2 or S3
    /// API service) must be a service user or an administrator.
    async fn ec2_authenticate(
        &self,
        ctx: &RequestContext,
        req: crate::ec2::SignedRequest,
    ) -> Result<TokenInfo> {
        let _ = (ctx, req);
        Err(crate::IdentityError::NotImplemented("EC2 tokens"))
    }
}
