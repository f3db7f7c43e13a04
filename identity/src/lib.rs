// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-identity: Keystone v3
//!
//! Domains, projects (with hierarchy), users (password expiry, lockout), groups, roles (with
//! implied roles), role assignments on projects, domains and the system (direct, through
//! groups, inherited), regions, services and endpoints, application credentials, credentials
//! (`/v3/credentials`, `OS-EC2`) and EC2 token exchange (`/v3/ec2tokens`), kept in any
//! [`ferrostack_core::store::Store`]; Fernet tokens byte-compatible with Keystone's; the
//! Keystone v3 REST API; and the middleware that turns `X-Auth-Token` into a
//! [`ferrostack_core::RequestContext`] for every other service's router.
//!
//! | module | what |
//! |---|---|
//! | [`api`] | [`IdentityApi`]: every operation, object-safe, each taking the caller's context |
//! | [`service`] | [`IdentityService`]: the local implementation over a `Store`, one file per resource under `service/` (`auth`, `tokens`, `domains`, `projects`, `users`, `groups`, `roles`, `assignments`, `catalog`, `appcred`, `credential`; `lookup` for plain reads, `blocking` for the password pool) |
//! | [`types`] | the stored resources |
//! | [`token`], [`fernet`], [`msgpack`] | Keystone's Fernet token format and key repository |
//! | [`password`] | bcrypt (default), bcrypt_sha256, pbkdf2_sha512 and scrypt in passlib's formats |
//! | [`policy`] | Keystone's default policies and the one `authorize` every operation calls |
//! | [`ec2`] | EC2 request signatures (v2 HMAC-SHA256, v4) as `/v3/ec2tokens` checks them |
//! | [`bootstrap`] | `keystone-manage bootstrap` and catalog registration for the facade |
//! | [`ldap`] | the read-only LDAP identity backend for one domain ([`ldap::LdapDirectory`]) |
//! | [`http`] | the REST API ([`http::router`], its handlers split by resource), the auth layer ([`http::authenticate`]) and core's [`http::Ctx`] |
//! | [`http::client`] | [`http::Client`]: `IdentityApi` against a remote Keystone (`client/operations.rs`: one request per operation), remote token validation (feature `client`, default) |
//!
//! ## Design
//!
//! * **Tokens are validated without the store.** A Fernet token carries the user, scope,
//!   methods, expiry and audit ids; validation is an HMAC check, an AES decryption, an expiry
//!   check and a scan of the in-memory revocation events. The roles of a (user, scope) pair are
//!   resolved once and cached until any identity write (a generation counter), so the auth
//!   layer in front of compute or storage reads nothing on the hot path. In a multi-process
//!   deployment call [`IdentityService::refresh_revocations`] periodically; revocation is
//!   Keystone's model (events matched against the token's issue time, in whole seconds, so a
//!   token issued in the same second as a revocation that matches it is revoked too).
//! * **Keystone's bytes.** Payloads are msgpack arrays as Python's `msgpack.packb` writes them,
//!   UUID ids packed as 16 raw bytes, the `=` padding stripped, the key repository laid out as
//!   `keystone-manage fernet_setup/fernet_rotate` lays it out: one repository can serve
//!   Keystone and Ferrostack side by side.
//! * **Passwords off the runtime threads.** Hashing and verifying passwords and application
//!   credential secrets (bcrypt of cost 12 is ~250 ms of CPU) runs on tokio's blocking pool,
//!   at most [`IdentityConfig::password_concurrency`] at a time (default: half the CPUs); more
//!   logins queue for a turn without holding a thread, so token validations stay served while
//!   logins run. Key repositories are read from disk on the blocking pool too.
//! * **Atomic writes.** A resource and its unique-name index are written in one store
//!   transaction with compare-and-swap conditions, so concurrent creates of the same name
//!   cannot both succeed.
//! * **Errors.** One [`IdentityError`] classified into `ErrorKind`; authentication failures
//!   never say whether the user, the password or the scope was wrong.
//! * **LDAP for one domain.** With [`IdentityConfig::ldap`] set, the users and groups of one
//!   domain (created on start if missing) are read from an LDAP directory, as Keystone's
//!   domain-specific `ldap` driver serves them; every other domain, and all projects, roles,
//!   role assignments, tokens and the catalog, stay in the store, keyed by the directory
//!   user's and group's ids (the values of `user_id_attribute` / `group_id_attribute`). A
//!   lookup by id tries the store, then the directory; a lookup by name goes to the
//!   directory when the name's domain is the LDAP domain; a user or group listing without a
//!   `domain_id` filter is about the token's domain, as in Keystone with domain-specific
//!   drivers. Passwords are checked by binding
//!   as the user's DN; group-based role assignments work through the directory's
//!   membership. The domain is read-only: creating, updating or deleting its users and
//!   groups, changing their membership or a user's password answers 403 "LDAP does not
//!   support write operations" (Keystone's answer), after the policy check. Token scopes of
//!   LDAP users are cached for at most [`ldap::LdapConfig::cache_time`] seconds, since
//!   directory changes bump no generation. See [`ldap`] for escaping and reconnection.
//! * **Policy.** Every operation calls one `authorize(rule, ctx, target)` with Keystone's 2024
//!   default rules ([`policy::DEFAULT_RULES`]), overridable by configuration.
//! * **Local or remote validation, one layer.** The auth layer takes any
//!   `Arc<dyn IdentityApi>`: the local [`IdentityService`] (holds the Fernet keys) or an
//!   [`http::Client`] pointed at any Keystone-compatible endpoint, which validates tokens the
//!   way keystonemiddleware does (a renewed service token, `GET /v3/auth/tokens`, a bounded
//!   cache of validated tokens for `token_cache_time`, one remote call per uncached token
//!   however many requests carry it). A service in another process, or in front of a real
//!   Keystone, therefore gets the same `RequestContext`; see [`http::client`] for the
//!   example and for how revocation and the cache interact.
//! * **Application credentials** are owned by a user and scoped to the project of the token
//!   that created them, with a subset of its roles; the secret is shown once and stored hashed
//!   as passwords are. Their tokens use Keystone's version-9 Fernet payload and carry only the
//!   credential's roles the user still holds; they are delegated tokens: they cannot be
//!   re-scoped, and a restricted credential's token cannot manage application credentials.
//!   Deleting or disabling the user, or deleting a role they held on the project, deletes
//!   them; deleting one invalidates its tokens at once.
//! * **Credentials** (`/v3/credentials`, `OS-EC2`) keep their blobs encrypted with a second
//!   Fernet key repository (`[credential] key_repository`); an EC2 credential's id is the
//!   SHA-256 of its access key, and `/v3/ec2tokens` exchanges a request signed with its secret
//!   for a project-scoped token carrying the `ec2credential` method.
//!
//! ## Example
//!
//! ```
//! use ferrostack_core::store::MemoryStore;
//! use ferrostack_identity::api::{AuthMethod, AuthRequest, DomainRef, ProjectRef, ScopeRequest, UserRef};
//! use ferrostack_identity::password::HashParams;
//! use ferrostack_identity::{BootstrapOptions, IdentityApi, IdentityConfig, IdentityService};
//! use std::sync::Arc;
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let keys = tempfile::tempdir().unwrap();
//! let config = IdentityConfig {
//!     key_repository: keys.path().join("fernet-keys"),
//!     public_url: "http://127.0.0.1:8770/identity".into(),
//!     password_hashing: HashParams { bcrypt_cost: 4, ..HashParams::default() },
//!     ..IdentityConfig::default()
//! };
//! let identity = IdentityService::new(Arc::new(MemoryStore::new()), config).await.unwrap();
//! identity.bootstrap(&BootstrapOptions {
//!     admin_username: "admin".into(),
//!     admin_password: "secret".into(),
//!     admin_project: "admin".into(),
//!     region: "RegionOne".into(),
//!     identity_url: "http://127.0.0.1:8770/identity/v3".into(),
//! }).await.unwrap();
//!
//! // Authenticate as Keystone's POST /v3/auth/tokens does, then validate the token as the
//! // auth layer in front of another service would.
//! let default = || DomainRef::Id("default".into());
//! let token = identity.authenticate(AuthRequest {
//!     method: AuthMethod::Password {
//!         user: UserRef::Name { name: "admin".into(), domain: default() },
//!         password: "secret".into(),
//!     },
//!     scope: ScopeRequest::Project(ProjectRef::Name { name: "admin".into(), domain: default() }),
//! }).await.unwrap();
//! let ctx = identity.context_for_token(&token.token, "req-1").await.unwrap();
//! assert!(ctx.has_role("admin") && ctx.has_role("reader"));
//! assert_eq!(ctx.project_id(), Some(&token.payload_project_id().unwrap()));
//!
//! // An application credential: a secret of its own, scoped to the token's project, shown
//! // once; its tokens say which credential issued them.
//! use ferrostack_identity::api::{AppCredCreate, AppCredRef};
//! let cred = identity
//!     .create_application_credential(&ctx, ctx.user_id.as_str(), AppCredCreate {
//!         name: "ci".into(),
//!         ..AppCredCreate::default()
//!     })
//!     .await
//!     .unwrap();
//! let app = identity.authenticate(AuthRequest {
//!     method: AuthMethod::ApplicationCredential {
//!         credential: AppCredRef::Id(cred.id.clone()),
//!         secret: cred.secret.clone().unwrap(),
//!     },
//!     scope: ScopeRequest::Default,
//! }).await.unwrap();
//! assert_eq!(app.application_credential.map(|a| a.id), Some(cred.id));
//! assert_eq!(app.payload.methods, vec!["application_credential".to_owned()]);
//! # });
//! ```
//!
//! ## Not yet built
//!
//! Trusts (so trust-scoped EC2 credentials and the `trust_id` of a blob), access rules of
//! application credentials (refused with 400), `/v3/s3tokens`, EC2 signature versions 0 and 1
//! (HMAC-SHA1), `[credential] user_limit` and `[application_credential] user_limit`,
//! `keystone-manage credential_rotate`/`credential_migrate`, federation; LDAP over TLS
//! (`ldaps://`, StartTLS), the id-mapping table (`[identity_mapping]`) and nested groups;
//! see the issue.

pub mod api;
pub mod bootstrap;
pub mod config;
pub mod ec2;
pub mod error;
pub mod fernet;
pub mod http;
pub mod ldap;
pub mod msgpack;
pub mod password;
pub mod policy;
pub mod service;
pub mod testing;
pub mod token;
pub mod types;

pub use api::IdentityApi;
pub use bootstrap::{BootstrapOptions, BootstrapReport};
pub use config::IdentityConfig;
pub use error::IdentityError;
pub use service::IdentityService;
