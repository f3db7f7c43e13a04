// SPDX-License-Identifier: Apache-2.0
//! Authentication (`POST /v3/auth/tokens`): password checks with lockout and expiry, the
//! scope a token asks for, and password hashing and verification on the bounded blocking pool.

use super::*;

impl IdentityService {
    pub(super) async fn password_authenticate(&self, user_ref: &UserRef, pw: &str) -> Result<User> {
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
    pub(super) async fn password_record_blocking(&self, pw: String) -> Result<PasswordRecord> {
        let days = self.config.password_expires_days;
        let hash = self.hash_secret(pw, "password").await?;
        let now = Self::now();
        Ok(PasswordRecord {
            hash,
            created_at: now,
            expires_at: days.map(|d| now + Duration::days(d as i64)),
        })
    }

    pub(super) async fn scope_for(
        &self,
        user: &User,
        scope: &ScopeRequest,
    ) -> Result<PayloadScope> {
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

    pub(super) async fn issue_token(&self, req: AuthRequest) -> Result<TokenInfo> {
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
}
