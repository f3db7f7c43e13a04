// SPDX-License-Identifier: Apache-2.0
//! Identity resources as they are stored: domains, projects, users, groups, roles, role
//! assignments, regions, services, endpoints and token revocation events.
//!
//! Field names follow Keystone's API so that the REST layer renders them with few changes.
//! Secrets (password hashes) are never printed by `Debug`.

use ferrostack_core::id::{DomainId, GroupId, ProjectId, RoleId, UserId};
use serde::{Deserialize, Serialize};
use std::fmt;
use time::OffsetDateTime;

/// A Keystone domain: a namespace of projects, users, groups and (domain-specific) roles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Domain {
    /// The id (`"default"` for the default domain).
    pub id: DomainId,
    /// The unique name.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Disabled domains cannot be authenticated into, nor can their users authenticate.
    pub enabled: bool,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A project (tenant), possibly nested under another project of the same domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    /// The id.
    pub id: ProjectId,
    /// The name, unique within the domain.
    pub name: String,
    /// The owning domain.
    pub domain_id: DomainId,
    /// The parent project; `None` for a top-level project (Keystone then reports the domain
    /// as `parent_id`).
    #[serde(default)]
    pub parent_id: Option<ProjectId>,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Disabled projects cannot be scoped to.
    pub enabled: bool,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A stored password: the hash (Keystone's formats) and its lifetime.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct PasswordRecord {
    /// The hash in one of Keystone's formats ([`crate::password`]).
    pub hash: String,
    /// When the password was set.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the password expires, if the deployment has `password_expires_days`.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

impl fmt::Debug for PasswordRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordRecord")
            .field("hash", &"<redacted>")
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// The id.
    pub id: UserId,
    /// The name, unique within the domain.
    pub name: String,
    /// The owning domain.
    pub domain_id: DomainId,
    /// Disabled users cannot authenticate and their tokens stop validating.
    pub enabled: bool,
    /// The project a token is scoped to when the request names no scope.
    #[serde(default)]
    pub default_project_id: Option<ProjectId>,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// The email address, if given.
    #[serde(default)]
    pub email: Option<String>,
    /// The password, if the user has one.
    #[serde(default)]
    pub password: Option<PasswordRecord>,
    /// Consecutive failed authentications (for lockout).
    #[serde(default)]
    pub failed_auth_count: u32,
    /// When the last failed authentication happened.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub failed_auth_at: Option<OffsetDateTime>,
    /// Per-user options (`ignore_lockout_failure_attempts`, ...), as Keystone's `options`.
    #[serde(default)]
    pub options: serde_json::Map<String, serde_json::Value>,
}

impl User {
    /// An enabled user named `name` in `domain_id`, with a new id and nothing else set (no
    /// password record, no default project, no options).
    pub fn new(name: impl Into<String>, domain_id: DomainId) -> User {
        User {
            id: UserId::new(),
            name: name.into(),
            domain_id,
            enabled: true,
            default_project_id: None,
            description: String::new(),
            email: None,
            password: None,
            failed_auth_count: 0,
            failed_auth_at: None,
            options: serde_json::Map::new(),
        }
    }

    /// When the password expires, if it does.
    pub fn password_expires_at(&self) -> Option<OffsetDateTime> {
        self.password.as_ref().and_then(|p| p.expires_at)
    }
}

/// A group of users, used to grant roles to many users at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// The id.
    pub id: GroupId,
    /// The name, unique within the domain.
    pub name: String,
    /// The owning domain.
    pub domain_id: DomainId,
    /// Free text.
    #[serde(default)]
    pub description: String,
}

/// A role. Global roles have no domain; domain-specific roles have one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Role {
    /// The id.
    pub id: RoleId,
    /// The name (unique among global roles, or within the domain).
    pub name: String,
    /// The domain of a domain-specific role.
    #[serde(default)]
    pub domain_id: Option<DomainId>,
    /// Free text.
    #[serde(default)]
    pub description: String,
}

/// "`prior` implies `implied`": whoever holds the prior role also holds the implied one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImpliedRole {
    /// The prior role.
    pub prior_role_id: RoleId,
    /// The implied role.
    pub implied_role_id: RoleId,
}

/// Who holds a role.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Actor {
    /// A user.
    User(UserId),
    /// A group (every member holds the role).
    Group(GroupId),
}

/// Where a role is held.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Target {
    /// On a project.
    Project(ProjectId),
    /// On a domain.
    Domain(DomainId),
    /// On the whole deployment (`system: all`).
    System,
}

/// A role assignment (a "grant").
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub struct Assignment {
    /// Who.
    pub actor: Actor,
    /// Where.
    pub target: Target,
    /// Which role.
    pub role_id: RoleId,
    /// Inherited assignments (`OS-INHERIT`) apply to the projects below the target, not to
    /// the target itself.
    #[serde(default)]
    pub inherited: bool,
}

/// A region of the service catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Region {
    /// The id (also its name, `"RegionOne"`).
    pub id: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// The parent region.
    #[serde(default)]
    pub parent_region_id: Option<String>,
}

/// A service of the catalog (`compute`, `identity`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    /// The id.
    pub id: String,
    /// The type (`identity`, `compute`, `object-store`, ...).
    #[serde(rename = "type")]
    pub service_type: String,
    /// The name (`keystone`, `nova`, ...).
    #[serde(default)]
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Disabled services are left out of token catalogs.
    pub enabled: bool,
}

/// The interface of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interface {
    /// For end users.
    Public,
    /// For services on the internal network.
    Internal,
    /// For administrators.
    Admin,
}

impl Interface {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Interface::Public => "public",
            Interface::Internal => "internal",
            Interface::Admin => "admin",
        }
    }

    /// Parses `public`, `internal`, `admin` (or the `publicURL` forms of v2).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "public" | "publicURL" => Some(Interface::Public),
            "internal" | "internalURL" => Some(Interface::Internal),
            "admin" | "adminURL" => Some(Interface::Admin),
            _ => None,
        }
    }
}

/// An endpoint of a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    /// The id.
    pub id: String,
    /// The service.
    pub service_id: String,
    /// The interface.
    pub interface: Interface,
    /// The region.
    #[serde(default)]
    pub region_id: Option<String>,
    /// The URL; `$(project_id)s` and `$(tenant_id)s` are substituted in token catalogs.
    pub url: String,
    /// Disabled endpoints are left out of token catalogs.
    pub enabled: bool,
}

/// A catalog entry as tokens carry it: a service with its endpoints, URLs substituted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogEntry {
    /// The service id.
    pub id: String,
    /// The service type.
    #[serde(rename = "type")]
    pub service_type: String,
    /// The service name.
    pub name: String,
    /// The endpoints.
    pub endpoints: Vec<CatalogEndpoint>,
}

/// One endpoint of a [`CatalogEntry`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogEndpoint {
    /// The endpoint id.
    pub id: String,
    /// `public`, `internal` or `admin`.
    pub interface: String,
    /// The region (also in `region_id`, as Keystone renders both).
    pub region: Option<String>,
    /// The region id.
    pub region_id: Option<String>,
    /// The URL.
    pub url: String,
}

/// A token revocation event (Keystone's `revocation_event` table): tokens matching every set
/// field and issued at or before `issued_before` are revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationEvent {
    /// Tokens of this user.
    #[serde(default)]
    pub user_id: Option<UserId>,
    /// Tokens scoped to this project.
    #[serde(default)]
    pub project_id: Option<ProjectId>,
    /// Tokens scoped to this domain.
    #[serde(default)]
    pub domain_id: Option<DomainId>,
    /// The token with this audit id (the token itself).
    #[serde(default)]
    pub audit_id: Option<String>,
    /// Every token of this audit chain (a token and those re-issued from it).
    #[serde(default)]
    pub audit_chain_id: Option<String>,
    /// Tokens issued at or before this time (unix seconds, as Fernet timestamps are).
    pub issued_before: i64,
    /// When the event was recorded (unix seconds).
    pub revoked_at: i64,
}

// ----- application credentials and credentials -----

/// An application credential as the API shows it: never its secret hash, and the secret
/// itself only in the answer to its creation.
#[derive(Clone, PartialEq)]
pub struct ApplicationCredential {
    /// The id (a UUID without hyphens).
    pub id: String,
    /// The name, unique per user.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// The owner.
    pub user_id: UserId,
    /// The project tokens from it are scoped to.
    pub project_id: ProjectId,
    /// The roles it delegates (implied roles included), resolved.
    pub roles: Vec<Role>,
    /// When it stops authenticating, if ever.
    pub expires_at: Option<OffsetDateTime>,
    /// Whether tokens from it may manage application credentials and trusts.
    pub unrestricted: bool,
    /// The secret: set only in the answer to a create.
    pub secret: Option<String>,
}

impl fmt::Debug for ApplicationCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApplicationCredential")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("user_id", &self.user_id)
            .field("project_id", &self.project_id)
            .field("roles", &self.roles.iter().map(|r| &r.name).collect::<Vec<_>>())
            .field("expires_at", &self.expires_at)
            .field("unrestricted", &self.unrestricted)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A credential of `/v3/credentials` (`ec2`, `totp`, `cert`, ...), decrypted. For `ec2`
/// credentials the id is the SHA-256 hex digest of the access key, as Keystone computes it.
#[derive(Clone, PartialEq)]
pub struct Credential {
    /// The id.
    pub id: String,
    /// The owner.
    pub user_id: UserId,
    /// The project (required for `ec2`).
    pub project_id: Option<ProjectId>,
    /// The type (`ec2`, `totp`, `cert`, ...).
    pub credential_type: String,
    /// The blob, a JSON document serialised as a string for `ec2` (`{"access", "secret"}`).
    pub blob: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("project_id", &self.project_id)
            .field("type", &self.credential_type)
            .field("blob", &"<redacted>")
            .finish()
    }
}
