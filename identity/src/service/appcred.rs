// SPDX-License-Identifier: Apache-2.0
//! Application credentials (Keystone's `keystone/application_credential`): stored under
//! `identity/app_creds/<id>` with the name index `identity/names/application_credential/
//! <user>/<name>` written in the same transaction; the secret is hashed as passwords are.
//!
//! Access rules are not supported: a request carrying them is refused with 400.

use super::{IdentityService, PREFIX, esc, validate_name};
use crate::api::{AppCredCreate, AppCredRef, RoleRef, TokenAppCred};
use crate::error::{IdentityError, Result};
use crate::token::{self, PayloadScope, TokenPayload};
use crate::types::{ApplicationCredential, Role, Target, User};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ferrostack_core::RequestContext;
use ferrostack_core::id::{ProjectId, RoleId, UserId};
use ferrostack_core::store::{Collection, StoreExt};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::fmt;
use time::OffsetDateTime;

const KIND: &str = "application_credential";

/// An application credential as stored: the secret only as its hash.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct StoredAppCred {
    pub(crate) id: String,
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) description: Option<String>,
    pub(crate) user_id: UserId,
    pub(crate) project_id: ProjectId,
    pub(crate) secret_hash: String,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub(crate) expires_at: Option<OffsetDateTime>,
    pub(crate) unrestricted: bool,
    pub(crate) role_ids: Vec<RoleId>,
}

impl fmt::Debug for StoredAppCred {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredAppCred")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("user_id", &self.user_id)
            .field("secret_hash", &"<redacted>")
            .finish()
    }
}

/// Methods that authenticate a user directly (Keystone's `delegation.primary_auth_methods`,
/// restricted to the methods tokens here can carry).
const PRIMARY_METHODS: &[&str] = &["external", "mapped", "password", "token"];

/// Whether a token's methods show a delegated credential (application credential, EC2,
/// OAuth1): such tokens cannot be re-scoped or manage credentials.
pub(crate) fn is_delegated(methods: &[String]) -> bool {
    methods.is_empty() || methods.iter().any(|m| !PRIMARY_METHODS.contains(&m.as_str()))
}

/// Keystone's generated secret: 64 random bytes, base64url without padding.
fn generate_secret() -> String {
    let mut b = [0u8; 64];
    rand::Rng::fill(&mut rand::rng(), &mut b[..]);
    URL_SAFE_NO_PAD.encode(b)
}

fn forbidden(action: &str) -> IdentityError {
    IdentityError::Forbidden { action: action.to_owned() }
}

impl IdentityService {
    pub(super) fn app_creds(&self) -> Collection<StoredAppCred> {
        Collection::new(self.store.clone(), format!("{PREFIX}app_creds/"))
    }

    pub(super) async fn stored_app_cred(&self, id: &str) -> Result<Option<StoredAppCred>> {
        Ok(self.app_creds().get(id).await?.map(|v| v.value))
    }

    async fn app_cred_view(
        &self,
        c: &StoredAppCred,
        secret: Option<String>,
    ) -> Result<ApplicationCredential> {
        let mut roles = Vec::new();
        for r in &c.role_ids {
            if let Some(role) = self.roles.get(r.as_str()).await? {
                roles.push(role.value);
            }
        }
        Ok(ApplicationCredential {
            id: c.id.clone(),
            name: c.name.clone(),
            description: c.description.clone(),
            user_id: c.user_id.clone(),
            project_id: c.project_id.clone(),
            roles,
            expires_at: c.expires_at,
            unrestricted: c.unrestricted,
            secret,
        })
    }

    async fn app_cred_ids_of(&self, user: &str) -> Result<Vec<String>> {
        let prefix = format!("{PREFIX}names/{KIND}/{}/", esc(user));
        Ok(self
            .store
            .list_all(&prefix)
            .await?
            .into_iter()
            .filter_map(|kv| String::from_utf8(kv.value).ok())
            .collect())
    }

    async fn app_creds_of(&self, user: &str) -> Result<Vec<StoredAppCred>> {
        let mut out = Vec::new();
        for id in self.app_cred_ids_of(user).await? {
            if let Some(c) = self.stored_app_cred(&id).await? {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// Deletes one application credential and its name index in one transaction.
    async fn remove_app_cred(&self, c: &StoredAppCred) -> Result<()> {
        let coll = self.app_creds();
        let txn = ferrostack_core::store::Txn::new()
            .op(coll.delete_op(&c.id))
            .delete(Self::name_key(KIND, c.user_id.as_str(), &c.name));
        self.store.txn(txn).await?;
        self.changed();
        Ok(())
    }

    /// Deletes the application credentials of `user` (all, or only those on `project`), as
    /// Keystone does when the user is deleted or disabled, or loses a role on the project.
    pub(super) async fn delete_app_creds_of(
        &self,
        user: &str,
        project: Option<&ProjectId>,
    ) -> Result<()> {
        for c in self.app_creds_of(user).await? {
            if project.is_none_or(|p| &c.project_id == p) {
                self.remove_app_cred(&c).await?;
            }
        }
        Ok(())
    }

    /// Deletes every application credential on `project` (the project is being deleted).
    pub(super) async fn delete_app_creds_on_project(&self, project: &ProjectId) -> Result<()> {
        for c in self.app_creds().list_all().await? {
            if &c.value.project_id == project {
                self.remove_app_cred(&c.value).await?;
            }
        }
        Ok(())
    }

    /// The token payload of the caller, if the context came from a token of ours.
    pub(super) fn caller_payload(&self, ctx: &RequestContext) -> Option<TokenPayload> {
        ctx.auth_token.as_deref().and_then(|t| self.formatter().read(t).ok())
    }

    /// Keystone's `_check_unrestricted_application_credential` and
    /// `_block_delegated_token_app_creds`: tokens of restricted application credentials,
    /// and EC2-derived tokens, cannot manage application credentials.
    async fn check_may_manage_app_creds(&self, ctx: &RequestContext) -> Result<()> {
        let Some(p) = self.caller_payload(ctx) else { return Ok(()) };
        if let PayloadScope::ApplicationCredential { app_cred_id, .. } = &p.scope {
            let unrestricted =
                self.stored_app_cred(app_cred_id).await?.is_some_and(|c| c.unrestricted);
            if !unrestricted {
                return Err(forbidden(
                    "Using method 'application_credential' is not allowed for managing additional application credentials",
                ));
            }
            return Ok(());
        }
        if is_delegated(&p.methods) {
            return Err(forbidden(
                "Cannot manage application credentials with a token issued via delegation",
            ));
        }
        Ok(())
    }

    fn block_delegated_reads(&self, ctx: &RequestContext) -> Result<()> {
        match self.caller_payload(ctx) {
            Some(p)
                if !matches!(p.scope, PayloadScope::ApplicationCredential { .. })
                    && is_delegated(&p.methods) =>
            {
                Err(forbidden(
                    "Cannot manage application credentials with a token issued via delegation",
                ))
            }
            _ => Ok(()),
        }
    }

    async fn resolve_role_ref(&self, r: &RoleRef) -> Result<Role> {
        match r {
            RoleRef::Id(id) => self.role(id).await,
            RoleRef::Name(name) => match self.lookup_name("role", "-", name).await? {
                Some(id) => self.role(&id).await,
                None => Err(IdentityError::not_found("role", name)),
            },
        }
    }

    pub(super) async fn app_cred_create(
        &self,
        ctx: &RequestContext,
        user_id: &str,
        req: AppCredCreate,
    ) -> Result<ApplicationCredential> {
        self.authorize(
            "identity:create_application_credential",
            ctx,
            &json!({"user_id": user_id}),
        )?;
        self.check_may_manage_app_creds(ctx).await?;
        if ctx.user_id.as_str() != user_id {
            return Err(forbidden("Cannot create an application credential for another user"));
        }
        let Some(project_id) = ctx.project_id().cloned() else {
            return Err(forbidden("identity:create_application_credential"));
        };
        validate_name("application credential", &req.name)?;
        if req.description.as_ref().is_some_and(|d| d.len() > 65_535) {
            return Err(IdentityError::Validation(
                "Invalid input for field 'description': it is too long.".into(),
            ));
        }
        let now = Self::now();
        if req.expires_at.is_some_and(|t| t <= now) {
            return Err(IdentityError::Validation(
                "Invalid input for field 'expires_at': the expiration date must be in the future."
                    .into(),
            ));
        }
        let user_roles =
            self.effective_roles(&ctx.user_id, &Target::Project(project_id.clone())).await?;
        let in_token = |r: &Role| ctx.roles.iter().any(|n| n == &r.name);
        let roles: Vec<Role> = if req.roles.is_empty() {
            user_roles.iter().filter(|r| in_token(r)).cloned().collect()
        } else {
            let mut wanted = Vec::new();
            for r in &req.roles {
                wanted.push(self.resolve_role_ref(r).await?.id);
            }
            // Implied roles come along, as when no roles are given.
            let with_implied = self.expand_implied(wanted.into_iter().collect()).await?;
            for r in &with_implied {
                if !in_token(r) {
                    return Err(IdentityError::Validation(
                        "Invalid application credential: Cannot create an application credential with unassigned role".into(),
                    ));
                }
                if !user_roles.iter().any(|u| u.id == r.id) {
                    return Err(IdentityError::Validation(format!(
                        "Invalid application credential: Could not find role assignment with role: {}, user or group: {}, project, domain, or system: {}.",
                        r.id, ctx.user_id, project_id
                    )));
                }
            }
            with_implied
        };
        if roles.is_empty() {
            return Err(IdentityError::Validation(
                "Invalid application credential: the token carries no roles to delegate.".into(),
            ));
        }
        let secret = match req.secret {
            Some(s) if !s.is_empty() => s,
            _ => generate_secret(),
        };
        let secret_hash = self.hash_secret(secret.clone(), "secret").await?;
        let stored = StoredAppCred {
            id: uuid::Uuid::new_v4().simple().to_string(),
            name: req.name,
            description: req.description,
            user_id: ctx.user_id.clone(),
            project_id,
            secret_hash,
            // Keystone keeps microseconds.
            expires_at: req
                .expires_at
                .map(|t| t.replace_nanosecond(t.microsecond() * 1000).unwrap_or(t)),
            unrestricted: req.unrestricted,
            role_ids: roles.iter().map(|r| r.id.clone()).collect(),
        };
        self.insert_named(
            &self.app_creds(),
            KIND,
            &stored.id,
            stored.user_id.as_str(),
            &stored.name,
            &stored,
        )
        .await?;
        self.app_cred_view(&stored, Some(secret)).await
    }

    /// Loads an application credential for a get or delete: the policy target's owner is the
    /// credential's (Keystone's `_update_request_user_id_attribute`), and one of another
    /// user than the path names is not found.
    async fn app_cred_for(
        &self,
        rule: &str,
        ctx: &RequestContext,
        user_id: &str,
        id: &str,
    ) -> Result<StoredAppCred> {
        let c = self.stored_app_cred(id).await?;
        let owner = c.as_ref().map_or(user_id, |c| c.user_id.as_str());
        self.authorize(rule, ctx, &json!({"user_id": owner}))?;
        match c {
            Some(c) if c.user_id.as_str() == user_id => Ok(c),
            _ => Err(IdentityError::not_found("application credential", id)),
        }
    }

    pub(super) async fn app_cred_get(
        &self,
        ctx: &RequestContext,
        user_id: &str,
        id: &str,
    ) -> Result<ApplicationCredential> {
        let c = self.app_cred_for("identity:get_application_credential", ctx, user_id, id).await?;
        self.block_delegated_reads(ctx)?;
        self.app_cred_view(&c, None).await
    }

    pub(super) async fn app_cred_list(
        &self,
        ctx: &RequestContext,
        user_id: &str,
        name: Option<&str>,
    ) -> Result<Vec<ApplicationCredential>> {
        self.authorize("identity:list_application_credentials", ctx, &json!({"user_id": user_id}))?;
        self.block_delegated_reads(ctx)?;
        let mut out = Vec::new();
        for c in self.app_creds_of(user_id).await? {
            if name.is_none_or(|n| n == c.name) {
                out.push(self.app_cred_view(&c, None).await?);
            }
        }
        Ok(out)
    }

    pub(super) async fn app_cred_delete(
        &self,
        ctx: &RequestContext,
        user_id: &str,
        id: &str,
    ) -> Result<()> {
        let c =
            self.app_cred_for("identity:delete_application_credential", ctx, user_id, id).await?;
        self.check_may_manage_app_creds(ctx).await?;
        self.remove_app_cred(&c).await
    }

    /// The application credential an authentication request names, its secret checked and
    /// its expiry: unknown ids are 404 (as Keystone), everything else 401.
    pub(super) async fn app_cred_authenticate(
        &self,
        which: &AppCredRef,
        secret: &str,
    ) -> Result<(StoredAppCred, User)> {
        let fail = |r: &str| IdentityError::unauthorized(r.to_owned());
        let c = match which {
            AppCredRef::Id(id) => self
                .stored_app_cred(id)
                .await?
                .ok_or_else(|| IdentityError::not_found("application credential", id))?,
            AppCredRef::Name { name, user } => {
                let u = match self.resolve_user(user).await {
                    Ok(u) => u,
                    Err(IdentityError::NotFound { .. }) => return Err(fail("unknown user")),
                    Err(e) => return Err(e),
                };
                let id = self
                    .lookup_name(KIND, u.id.as_str(), name)
                    .await?
                    .ok_or_else(|| fail("unknown application credential name"))?;
                self.stored_app_cred(&id)
                    .await?
                    .ok_or_else(|| fail("application credential gone"))?
            }
        };
        if !self.verify_secret(secret, &c.secret_hash).await? {
            return Err(fail("wrong application credential secret"));
        }
        if c.expires_at.is_some_and(|t| t <= Self::now()) {
            return Err(fail("application credential expired"));
        }
        let user = self.user(c.user_id.as_str()).await.map_err(|_| fail("owner gone"))?;
        let domain = self.domain(user.domain_id.as_str()).await?;
        if !user.enabled || !domain.enabled {
            return Err(fail("owner or domain disabled"));
        }
        Ok((c, user))
    }

    /// The roles of an application-credential token: the credential's roles that the user
    /// still holds on the project (Keystone's `_get_application_credential_roles`).
    pub(super) async fn app_cred_token_roles(
        &self,
        p: &TokenPayload,
        app_cred_id: &str,
        user_roles: Vec<Role>,
    ) -> Result<(Vec<Role>, TokenAppCred)> {
        let invalid = |reason| IdentityError::InvalidToken { reason };
        let c = self.stored_app_cred(app_cred_id).await?.ok_or(invalid("app cred gone"))?;
        if c.user_id.as_str() != p.user_id {
            return Err(invalid("app cred of another user"));
        }
        let roles = user_roles.into_iter().filter(|r| c.role_ids.contains(&r.id)).collect();
        Ok((roles, TokenAppCred { id: c.id, name: c.name, restricted: !c.unrestricted }))
    }
}

/// The `application_credential` bit of token method lists.
pub(crate) fn app_cred_methods() -> Vec<String> {
    token::int_to_methods(
        token::methods_to_int(&["application_credential".to_owned()]).unwrap_or(0),
    )
}
