// SPDX-License-Identifier: Apache-2.0
//! Token validation: the Fernet check, revocation events, resolving a payload against the store
//! into a [`TokenInfo`] and a [`RequestContext`]; `GET/HEAD/DELETE /v3/auth/tokens` and the
//! `/v3/auth/{catalog,projects,domains,system}` views of a token.

use super::*;

impl IdentityService {
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

    pub(super) async fn revoke(&self, mut ev: RevocationEvent) -> Result<()> {
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

    pub(super) fn blank_event() -> RevocationEvent {
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

    pub(super) fn is_revoked(&self, p: &TokenPayload) -> bool {
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

    pub(super) fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    /// Checks the token's crypto, expiry and revocation: no store read.
    pub(super) fn read_token(&self, token: &str, allow_expired: bool) -> Result<TokenPayload> {
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

    pub(super) fn target_of(scope: &PayloadScope) -> Option<Target> {
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
    pub(super) async fn resolve(
        &self,
        token: &str,
        p: TokenPayload,
        with_catalog: bool,
    ) -> Result<TokenInfo> {
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

    pub(super) fn subject_target(p: &TokenPayload) -> Value {
        json!({"target": {"token": {"user_id": p.user_id}}})
    }

    pub(super) async fn token_context(
        &self,
        token: &str,
        request_id: &str,
    ) -> Result<RequestContext> {
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
                let ctx = info.context(request_id);
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

    pub(super) async fn token_validate(
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

    pub(super) async fn token_revoke(&self, ctx: &RequestContext, subject: &str) -> Result<()> {
        let p = self.read_token(subject, false).map_err(|_| IdentityError::TokenNotFound)?;
        self.authorize("identity:revoke_token", ctx, &Self::subject_target(&p))?;
        let audit = p.audit_ids.first().cloned().ok_or(IdentityError::TokenNotFound)?;
        self.revoke(RevocationEvent { audit_id: Some(audit), ..Self::blank_event() }).await
    }

    pub(super) async fn token_catalog(&self, ctx: &RequestContext) -> Result<Vec<CatalogEntry>> {
        self.authorize("identity:get_auth_catalog", ctx, &json!({}))?;
        match &ctx.scope {
            Scope::Unscoped => Err(IdentityError::unauthorized("unscoped token has no catalog")),
            Scope::Project { id, .. } => self.build_catalog(Some(id.as_str())).await,
            _ => self.build_catalog(None).await,
        }
    }

    pub(super) async fn token_projects(&self, ctx: &RequestContext) -> Result<Vec<Project>> {
        self.authorize("identity:get_auth_projects", ctx, &json!({}))?;
        self.user_projects(&ctx.user_id).await
    }

    pub(super) async fn token_domains(&self, ctx: &RequestContext) -> Result<Vec<Domain>> {
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

    pub(super) async fn token_system(&self, ctx: &RequestContext) -> Result<bool> {
        self.authorize("identity:get_auth_system", ctx, &json!({}))?;
        Ok(!self.effective_roles(&ctx.user_id, &Target::System).await?.is_empty())
    }
}
