// SPDX-License-Identifier: Apache-2.0
//! Credentials (`/v3/credentials`), the `OS-EC2` user extension and `POST /v3/ec2tokens`.
//!
//! Credentials are stored under `identity/credentials/<id>` with their blob encrypted by the
//! credential Fernet key repository (Keystone's `[credential] key_repository`, laid out as
//! `keystone-manage credential_setup` lays it out) and the hash of the key that encrypted it.
//! Keystone records that hash as SHA-1 of the key; here it is SHA-256 (it only tells which key
//! a blob needs during rotation), so a Keystone database migrated here keeps decrypting but
//! its `key_hash` column is not reused.

use super::appcred::is_delegated;
use super::{IdentityService, PREFIX};
use crate::api::{CredentialCreate, CredentialFilter, Ec2Credential, TokenInfo};
use crate::ec2::{self, SignedRequest};
use crate::error::{IdentityError, Result};
use crate::fernet::{self, KeyRepository, MultiFernet};
use crate::token::{self, PayloadScope, TokenPayload};
use crate::types::{Credential, Target, User};
use ferrostack_core::RequestContext;
use ferrostack_core::context::Scope;
use ferrostack_core::id::{ProjectId, UserId};
use ferrostack_core::store::{Collection, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::fmt;
use time::{Duration, OffsetDateTime};

const EC2: &str = "ec2";
/// Keystone's `MAX_ACTIVE_KEYS` of the credential key repository.
const CREDENTIAL_MAX_ACTIVE_KEYS: usize = 3;

/// A credential as stored: the blob only encrypted.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct StoredCredential {
    pub(crate) id: String,
    pub(crate) user_id: UserId,
    #[serde(default)]
    pub(crate) project_id: Option<ProjectId>,
    #[serde(rename = "type")]
    pub(crate) credential_type: String,
    pub(crate) encrypted_blob: String,
    pub(crate) key_hash: String,
}

impl fmt::Debug for StoredCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredCredential")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("type", &self.credential_type)
            .finish()
    }
}

fn delegated_forbidden() -> IdentityError {
    IdentityError::Forbidden {
        action: "Delegated tokens cannot access credentials directly".into(),
    }
}

fn bad(msg: &str) -> IdentityError {
    IdentityError::Validation(msg.to_owned())
}

/// The JSON object of an `ec2` blob, with its `access` key (Keystone's `_validate_blob_json`).
fn ec2_blob(blob: &str) -> Result<serde_json::Map<String, Value>> {
    let v: Value = serde_json::from_str(blob).map_err(|_| bad("Invalid blob in credential"))?;
    let Value::Object(m) = v else {
        return Err(bad("Expecting to find blob in credential."));
    };
    if m.is_empty() {
        return Err(bad("Expecting to find blob in credential."));
    }
    if m.get("access").is_none_or(Value::is_null) {
        return Err(bad("Expecting to find access in credential."));
    }
    Ok(m)
}

fn access_of(m: &serde_json::Map<String, Value>) -> String {
    match m.get("access") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

fn str_field(m: &serde_json::Map<String, Value>, k: &str) -> Option<String> {
    m.get(k).and_then(Value::as_str).map(str::to_owned)
}

impl IdentityService {
    fn credentials(&self) -> Collection<StoredCredential> {
        Collection::new(self.store.clone(), format!("{PREFIX}credentials/"))
    }

    /// The credential key repository's keys (configured, or `credential-keys` next to the
    /// token keys), read from disk on the blocking pool: read on every use, as Keystone does,
    /// so a rotation by another process is seen at once.
    async fn credential_keys(&self) -> Result<MultiFernet> {
        let dir = match &self.config.credential_key_repository {
            Some(d) => d.clone(),
            None => {
                let tokens = &self.config.key_repository;
                let parent = tokens.parent().unwrap_or(tokens.as_path());
                parent.join("credential-keys")
            }
        };
        let repo = KeyRepository::new(&dir, CREDENTIAL_MAX_ACTIVE_KEYS);
        super::blocking::read_keys(repo, self.config.setup_key_repository).await
    }

    async fn encrypt_blob(&self, blob: &str) -> Result<(String, String)> {
        let keys = self.credential_keys().await?;
        let key_hash = Sha256::digest(keys.primary().to_base64().as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok((keys.encrypt(blob.as_bytes()), key_hash))
    }

    async fn decrypt(&self, c: &StoredCredential) -> Result<Credential> {
        Self::decrypt_with(&self.credential_keys().await?, c)
    }

    fn decrypt_with(keys: &MultiFernet, c: &StoredCredential) -> Result<Credential> {
        let undecryptable =
            || IdentityError::key_repository_msg("credential could not be decrypted");
        let raw = fernet::decode_token_text(&c.encrypted_blob).map_err(|_| undecryptable())?;
        let (_, plain) = keys.decrypt_raw(&raw).map_err(|_| undecryptable())?;
        Ok(Credential {
            id: c.id.clone(),
            user_id: c.user_id.clone(),
            project_id: c.project_id.clone(),
            credential_type: c.credential_type.clone(),
            blob: String::from_utf8(plain)
                .map_err(|_| IdentityError::key_repository_msg("credential is not valid UTF-8"))?,
        })
    }

    async fn stored_credential(&self, id: &str) -> Result<Option<StoredCredential>> {
        Ok(self.credentials().get(id).await?.map(|v| v.value))
    }

    /// Deletes the credentials matching `f` (their user or project is being deleted).
    pub(super) async fn delete_credentials_where<F>(&self, f: F) -> Result<()>
    where
        F: Fn(&StoredCredential) -> bool + Send,
    {
        let coll = self.credentials();
        for c in coll.list_all().await? {
            if f(&c.value) {
                coll.delete(&c.id).await?;
            }
        }
        Ok(())
    }

    /// Keystone's `_require_primary_auth`: tokens of delegated credentials never touch
    /// credentials.
    fn require_primary_auth(&self, ctx: &RequestContext) -> Result<()> {
        match self.caller_payload(ctx) {
            Some(p) if is_delegated(&p.methods) => Err(delegated_forbidden()),
            _ => Ok(()),
        }
    }

    fn credential_target(c: &StoredCredential) -> Value {
        json!({"target": {"credential": {
            "id": c.id, "user_id": c.user_id, "project_id": c.project_id, "type": c.credential_type,
        }}})
    }

    async fn insert_credential(
        &self,
        id: &str,
        user_id: UserId,
        project_id: Option<ProjectId>,
        credential_type: &str,
        blob: &str,
    ) -> Result<Credential> {
        let (encrypted_blob, key_hash) = self.encrypt_blob(blob).await?;
        let stored = StoredCredential {
            id: id.to_owned(),
            user_id,
            project_id,
            credential_type: credential_type.to_owned(),
            encrypted_blob,
            key_hash,
        };
        self.credentials().create(id, &stored).await.map_err(|e| match e {
            StoreError::AlreadyExists(_) => IdentityError::duplicate("credential", "id", id),
            other => other.into(),
        })?;
        Ok(Credential {
            id: stored.id,
            user_id: stored.user_id,
            project_id: stored.project_id,
            credential_type: stored.credential_type,
            blob: blob.to_owned(),
        })
    }

    pub(super) async fn credential_create(
        &self,
        ctx: &RequestContext,
        req: CredentialCreate,
    ) -> Result<Credential> {
        self.authorize(
            "identity:create_credential",
            ctx,
            &json!({"target": {"credential": {
                "user_id": req.user_id, "project_id": req.project_id, "type": req.credential_type,
            }}}),
        )?;
        self.require_primary_auth(ctx)?;
        if req.credential_type.is_empty() || req.credential_type.len() > 255 {
            return Err(bad("Invalid input for field 'type'."));
        }
        let user_id: UserId =
            req.user_id.parse().map_err(|_| bad("Invalid input for field 'user_id'."))?;
        let project_id: Option<ProjectId> = req
            .project_id
            .as_deref()
            .map(|p| p.parse().map_err(|_| bad("Invalid input for field 'project_id'.")))
            .transpose()?;
        let id = if req.credential_type.eq_ignore_ascii_case(EC2) {
            if project_id.is_none() {
                return Err(bad(
                    "Invalid input for field 'project_id': ec2 credential requires project_id",
                ));
            }
            ec2::credential_id(&access_of(&ec2_blob(&req.blob)?))
        } else {
            uuid::Uuid::new_v4().simple().to_string()
        };
        self.insert_credential(&id, user_id, project_id, &req.credential_type, &req.blob).await
    }

    pub(super) async fn credential_get(
        &self,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<Credential> {
        let c = self.stored_credential(id).await?;
        let target = c.as_ref().map_or(json!({}), Self::credential_target);
        self.authorize("identity:get_credential", ctx, &target)?;
        let c = c.ok_or_else(|| IdentityError::not_found("credential", id))?;
        self.require_primary_auth(ctx)?;
        self.decrypt(&c).await
    }

    pub(super) async fn credential_list(
        &self,
        ctx: &RequestContext,
        filter: &CredentialFilter,
    ) -> Result<Vec<Credential>> {
        let target = match ctx.scope {
            Scope::System => json!({}),
            _ => json!({"target": {"credential": {"user_id": ctx.user_id}}}),
        };
        self.authorize("identity:list_credentials", ctx, &target)?;
        let primary = self.require_primary_auth(ctx).is_ok();
        let mut out = Vec::new();
        let mut keys = None; // read once, and only when there is something to decrypt
        for c in self.credentials().list_all().await? {
            let c = c.value;
            let keep = filter.user_id.as_deref().is_none_or(|u| u == c.user_id.as_str())
                && filter.credential_type.as_deref().is_none_or(|t| t == c.credential_type)
                && primary
                && self
                    .authorize("identity:get_credential", ctx, &Self::credential_target(&c))
                    .is_ok();
            if keep {
                let keys = match &mut keys {
                    Some(k) => k,
                    None => keys.insert(self.credential_keys().await?),
                };
                out.push(Self::decrypt_with(keys, &c)?);
            }
        }
        Ok(out)
    }

    pub(super) async fn credential_update(
        &self,
        ctx: &RequestContext,
        id: &str,
        blob: String,
    ) -> Result<Credential> {
        let cur = self.credentials().get(id).await?;
        let target = cur.as_ref().map_or(json!({}), |v| Self::credential_target(&v.value));
        self.authorize("identity:update_credential", ctx, &target)?;
        let cur = cur.ok_or_else(|| IdentityError::not_found("credential", id))?;
        self.require_primary_auth(ctx)?;
        let mut c = cur.value.clone();
        if c.credential_type.eq_ignore_ascii_case(EC2) {
            let new = ec2_blob(&blob)?;
            let old_blob = self.decrypt(&c).await?.blob;
            let old: serde_json::Map<String, Value> =
                serde_json::from_str(&old_blob).unwrap_or_default();
            for key in ["trust_id", "app_cred_id", "access_token_id", "access_id"] {
                if old.get(key).filter(|v| !v.is_null()) != new.get(key).filter(|v| !v.is_null()) {
                    return Err(bad(&format!("{key} can not be updated for credential")));
                }
            }
        }
        let (encrypted_blob, key_hash) = self.encrypt_blob(&blob).await?;
        c.encrypted_blob = encrypted_blob;
        c.key_hash = key_hash;
        let txn = ferrostack_core::store::Txn::new()
            .when(self.credentials().unchanged(id, cur.revision))
            .op(self.credentials().put_op(id, &c)?);
        if !self.store.txn(txn).await?.is_committed() {
            return Err(IdentityError::Conflict(
                "the credential was changed concurrently; retry".into(),
            ));
        }
        Ok(Credential {
            id: c.id,
            user_id: c.user_id,
            project_id: c.project_id,
            credential_type: c.credential_type,
            blob,
        })
    }

    pub(super) async fn credential_delete(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        let c = self.stored_credential(id).await?;
        let target = c.as_ref().map_or(json!({}), Self::credential_target);
        self.authorize("identity:delete_credential", ctx, &target)?;
        if c.is_none() {
            return Err(IdentityError::not_found("credential", id));
        }
        self.require_primary_auth(ctx)?;
        if !self.credentials().delete(id).await? {
            return Err(IdentityError::not_found("credential", id));
        }
        Ok(())
    }

    // ----- OS-EC2 -----

    fn ec2_view(c: &Credential) -> Ec2Credential {
        let m: serde_json::Map<String, Value> = serde_json::from_str(&c.blob).unwrap_or_default();
        Ec2Credential {
            user_id: c.user_id.to_string(),
            tenant_id: c.project_id.as_ref().map(ToString::to_string),
            access: str_field(&m, "access").unwrap_or_default(),
            secret: str_field(&m, "secret").unwrap_or_default(),
            trust_id: str_field(&m, "trust_id"),
        }
    }

    pub(super) async fn ec2_create(
        &self,
        ctx: &RequestContext,
        user_id: &str,
        project_id: &str,
    ) -> Result<Ec2Credential> {
        self.authorize(
            "identity:ec2_create_credential",
            ctx,
            &json!({"target": {"credential": {"user_id": user_id}}}),
        )?;
        let user = self.user(user_id).await?;
        let project = self.project(project_id).await?;
        self.require_primary_auth(ctx)?;
        let access = uuid::Uuid::new_v4().simple().to_string();
        let blob = json!({
            "access": access,
            "secret": uuid::Uuid::new_v4().simple().to_string(),
            "trust_id": null,
        })
        .to_string();
        let c = self
            .insert_credential(&ec2::credential_id(&access), user.id, Some(project.id), EC2, &blob)
            .await?;
        Ok(Self::ec2_view(&c))
    }

    pub(super) async fn ec2_list(
        &self,
        ctx: &RequestContext,
        user_id: &str,
    ) -> Result<Vec<Ec2Credential>> {
        self.authorize("identity:ec2_list_credentials", ctx, &json!({"user_id": user_id}))?;
        self.require_primary_auth(ctx)?;
        self.user(user_id).await?;
        let mut out = Vec::new();
        let mut keys = None; // read once, and only when there is something to decrypt
        for c in self.credentials().list_all().await? {
            if c.value.user_id.as_str() == user_id && c.value.credential_type == EC2 {
                let keys = match &mut keys {
                    Some(k) => k,
                    None => keys.insert(self.credential_keys().await?),
                };
                out.push(Self::ec2_view(&Self::decrypt_with(keys, &c.value)?));
            }
        }
        Ok(out)
    }

    /// The stored EC2 credential of an access key, policy checked with it as the target.
    async fn ec2_lookup(
        &self,
        rule: &str,
        ctx: &RequestContext,
        user_id: &str,
        access: &str,
    ) -> Result<StoredCredential> {
        let id = ec2::credential_id(access);
        let c = self
            .stored_credential(&id)
            .await?
            .ok_or_else(|| IdentityError::not_found("credential", &id))?;
        self.authorize(rule, ctx, &Self::credential_target(&c))?;
        self.user(user_id).await?;
        if c.credential_type != EC2 {
            return Err(IdentityError::unauthorized("EC2 access key not found."));
        }
        self.require_primary_auth(ctx)?;
        Ok(c)
    }

    pub(super) async fn ec2_get(
        &self,
        ctx: &RequestContext,
        user_id: &str,
        access: &str,
    ) -> Result<Ec2Credential> {
        let c = self.ec2_lookup("identity:ec2_get_credential", ctx, user_id, access).await?;
        Ok(Self::ec2_view(&self.decrypt(&c).await?))
    }

    pub(super) async fn ec2_delete(
        &self,
        ctx: &RequestContext,
        user_id: &str,
        access: &str,
    ) -> Result<()> {
        let c = self.ec2_lookup("identity:ec2_delete_credential", ctx, user_id, access).await?;
        self.credentials().delete(&c.id).await?;
        Ok(())
    }

    // ----- POST /v3/ec2tokens -----

    pub(super) async fn ec2_token(
        &self,
        ctx: &RequestContext,
        req: SignedRequest,
    ) -> Result<TokenInfo> {
        self.authorize("identity:ec2tokens_validate", ctx, &json!({}))?;
        if req.access.is_empty() {
            return Err(IdentityError::unauthorized("EC2 Signature not supplied"));
        }
        let not_found = || IdentityError::not_found("EC2 access key", &req.access);
        let stored = self
            .stored_credential(&ec2::credential_id(&req.access))
            .await?
            .filter(|c| c.credential_type == EC2)
            .ok_or_else(not_found)?;
        let cred = self.decrypt(&stored).await?;
        let blob: serde_json::Map<String, Value> =
            serde_json::from_str(&cred.blob).unwrap_or_default();
        let secret = str_field(&blob, "secret").unwrap_or_default();
        if req.signature.as_deref().is_none_or(str::is_empty) {
            return Err(IdentityError::unauthorized("EC2 signature not supplied."));
        }
        if secret.is_empty() || !ec2::verify(&secret, &req) {
            return Err(IdentityError::unauthorized("Invalid EC2 signature."));
        }
        let project_id = cred.project_id.clone().ok_or_else(not_found)?;
        let project = self.project(project_id.as_str()).await?;
        let user = self.user(cred.user_id.as_str()).await?;
        let (user_domain, project_domain) = (
            self.domain(user.domain_id.as_str()).await?,
            self.domain(project.domain_id.as_str()).await?,
        );
        if !user.enabled || !user_domain.enabled || !project.enabled || !project_domain.enabled {
            return Err(IdentityError::unauthorized("user or project disabled"));
        }
        if let Some(ts) = ec2::signed_timestamp(&req) {
            let t = ec2::parse_timestamp(ts)
                .ok_or_else(|| IdentityError::unauthorized("Credential timestamp is invalid"))?;
            let ttl = Duration::seconds(self.config.ec2_auth_ttl_secs as i64);
            // A timestamp so far ahead that adding the TTL overflows is not expired.
            if t.checked_add(ttl).is_some_and(|limit| Self::now() > limit) {
                return Err(IdentityError::unauthorized("Credential is expired"));
            }
        }
        if str_field(&blob, "trust_id").is_some() {
            return Err(IdentityError::not_found("trust", "trust_id"));
        }
        let scope = match str_field(&blob, "app_cred_id") {
            Some(ac) => {
                let c = self
                    .stored_app_cred(&ac)
                    .await?
                    .ok_or_else(|| IdentityError::not_found("application credential", &ac))?;
                if c.project_id != project.id {
                    return Err(IdentityError::unauthorized(
                        "EC2 credential project does not match the application credential project.",
                    ));
                }
                PayloadScope::ApplicationCredential {
                    project_id: project.id.to_string(),
                    app_cred_id: c.id,
                }
            }
            None => {
                if self
                    .effective_roles(&user.id, &Target::Project(project.id.clone()))
                    .await?
                    .is_empty()
                {
                    return Err(IdentityError::unauthorized("User not valid for project."));
                }
                PayloadScope::Project(project.id.to_string())
            }
        };
        self.issue_token_for(&user, vec!["ec2credential".into()], scope).await
    }

    /// Issues a fresh token (new audit chain, default lifetime) and resolves it.
    async fn issue_token_for(
        &self,
        user: &User,
        methods: Vec<String>,
        scope: PayloadScope,
    ) -> Result<TokenInfo> {
        let now = Self::now();
        let expires = now + Duration::seconds(self.config.token_expiration_secs as i64);
        let payload = TokenPayload {
            user_id: user.id.to_string(),
            methods,
            scope,
            expires_at: expires.replace_nanosecond(0).unwrap_or(expires),
            audit_ids: vec![token::new_audit_id()],
            issued_at: now,
        };
        let t = self
            .formatter()
            .issue(&payload)
            .map_err(|e| IdentityError::Validation(e.to_string()))?;
        let payload = TokenPayload {
            issued_at: OffsetDateTime::from_unix_timestamp(now.unix_timestamp()).unwrap_or(now),
            ..payload
        };
        self.resolve(&t, payload, true).await.map_err(|e| match e {
            IdentityError::InvalidToken { .. } => IdentityError::unauthorized("scope not usable"),
            other => other,
        })
    }
}
