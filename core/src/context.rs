// SPDX-License-Identifier: Apache-2.0
//! [`RequestContext`]: who is calling, in which scope, with which roles.
//!
//! The identity layer builds a context from a validated token and puts it in the request's
//! extensions; every API operation takes `&RequestContext` and passes it to policy. Service
//! crates never look at tokens themselves.

use crate::id::{DomainId, ProjectId, UserId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// What a token is scoped to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Scope {
    /// No scope: the token proves identity but grants no roles.
    #[default]
    Unscoped,
    /// Scoped to a project.
    Project {
        /// The project.
        id: ProjectId,
        /// Its name.
        name: String,
        /// The domain that owns the project.
        domain_id: DomainId,
        /// That domain's name.
        domain_name: String,
    },
    /// Scoped to a domain.
    Domain {
        /// The domain.
        id: DomainId,
        /// Its name.
        name: String,
    },
    /// Scoped to the whole deployment (`system: {all: true}`).
    System,
}

/// The caller of an API operation.
///
/// Built by the identity middleware from a validated token (or by [`RequestContext::internal`]
/// for the control plane's own calls) and passed to every API call and policy check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestContext {
    /// The authenticated user.
    pub user_id: UserId,
    /// The user's name, for logs and API bodies.
    pub user_name: String,
    /// The domain that owns the user.
    pub user_domain_id: DomainId,
    /// What the token is scoped to.
    pub scope: Scope,
    /// Role names granted in `scope` (lowercase as Keystone stores them; compare case-insensitively).
    pub roles: Vec<String>,
    /// The request id, `req-<uuid>`, echoed in `X-Openstack-Request-Id` and logged everywhere.
    pub request_id: String,
    /// When the token expires; `None` for internal contexts.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// The token itself, so that a service can call another on the user's behalf
    /// (Nova calling Glance); never logged.
    #[serde(skip)]
    pub auth_token: Option<String>,
    /// Audit ids of the token chain, as Keystone reports them.
    pub audit_ids: Vec<String>,
}

impl RequestContext {
    /// A fresh request id in OpenStack's form: `req-` and a hyphenated UUID.
    pub fn new_request_id() -> String {
        format!("req-{}", uuid::Uuid::new_v4().hyphenated())
    }

    /// A context for the control plane's own work (periodic tasks, reconcilers), with the
    /// `admin` role at system scope. Never built from user input.
    pub fn internal(component: &str) -> Self {
        RequestContext {
            user_id: UserId::try_from(format!("ferrostack-{component}"))
                .unwrap_or_else(|_| UserId::new()),
            user_name: format!("ferrostack-{component}"),
            user_domain_id: DomainId::default_domain(),
            scope: Scope::System,
            roles: vec!["admin".into(), "member".into(), "reader".into(), "service".into()],
            request_id: Self::new_request_id(),
            expires_at: None,
            auth_token: None,
            audit_ids: Vec::new(),
        }
    }

    /// A project-scoped context, mainly for tests and examples.
    pub fn for_project(user: UserId, project: ProjectId, roles: &[&str]) -> Self {
        RequestContext {
            user_name: user.to_string(),
            user_id: user,
            user_domain_id: DomainId::default_domain(),
            scope: Scope::Project {
                name: project.to_string(),
                id: project,
                domain_id: DomainId::default_domain(),
                domain_name: "Default".into(),
            },
            roles: roles.iter().map(|r| r.to_string()).collect(),
            request_id: Self::new_request_id(),
            expires_at: None,
            auth_token: None,
            audit_ids: Vec::new(),
        }
    }

    /// The project this context is scoped to, if any.
    pub fn project_id(&self) -> Option<&ProjectId> {
        match &self.scope {
            Scope::Project { id, .. } => Some(id),
            _ => None,
        }
    }

    /// The domain this context is scoped to, if domain-scoped.
    pub fn domain_id(&self) -> Option<&DomainId> {
        match &self.scope {
            Scope::Domain { id, .. } => Some(id),
            _ => None,
        }
    }

    /// Whether the token is system-scoped.
    pub fn is_system_scoped(&self) -> bool {
        matches!(self.scope, Scope::System)
    }

    /// Whether the caller holds `role` (case-insensitive, as oslo.policy compares roles).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.eq_ignore_ascii_case(role))
    }

    /// Whether the token has expired at `now`.
    pub fn is_expired_at(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }

    /// The credentials dictionary oslo.policy rules are evaluated against, with the keys
    /// Keystone's and Nova's default rules use: `user_id`, `user_domain_id`, `project_id`,
    /// `project_domain_id`, `domain_id`, `system_scope`, `roles`, plus nested `token.*` and
    /// `user.*`/`project.*` forms for dotted checks.
    pub fn policy_credentials(&self) -> serde_json::Value {
        use serde_json::{Value, json};
        let (project_id, project_name, project_domain_id) = match &self.scope {
            Scope::Project { id, name, domain_id, .. } => (
                Value::from(id.as_str()),
                Value::from(name.as_str()),
                Value::from(domain_id.as_str()),
            ),
            _ => (Value::Null, Value::Null, Value::Null),
        };
        let domain_id = self.domain_id().map_or(Value::Null, |d| Value::from(d.as_str()));
        let system_scope = if self.is_system_scoped() { Value::from("all") } else { Value::Null };
        let roles: Vec<String> = self.roles.clone();
        json!({
            "user_id": self.user_id.as_str(),
            "user_domain_id": self.user_domain_id.as_str(),
            "project_id": project_id,
            "project_name": project_name,
            "project_domain_id": project_domain_id,
            "domain_id": domain_id,
            "system_scope": system_scope,
            "roles": roles,
            "is_admin_project": true,
            "token": {
                "user": {"id": self.user_id.as_str(), "domain": {"id": self.user_domain_id.as_str()}},
                "project": {"id": project_id, "domain": {"id": project_domain_id}},
                "domain": {"id": domain_id},
                "roles": self.roles.iter().map(|r| json!({"name": r})).collect::<Vec<_>>(),
                "system": {"all": self.is_system_scoped()},
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_context_exposes_scope_and_roles() {
        let project = ProjectId::new();
        let ctx = RequestContext::for_project(UserId::new(), project.clone(), &["Member"]);
        assert_eq!(ctx.project_id(), Some(&project));
        assert!(ctx.has_role("member"));
        assert!(!ctx.has_role("admin"));
        assert!(ctx.request_id.starts_with("req-"));
        let creds = ctx.policy_credentials();
        assert_eq!(creds["project_id"], project.as_str());
        assert_eq!(creds["system_scope"], serde_json::Value::Null);
        assert_eq!(creds["token"]["project"]["id"], project.as_str());
    }

    #[test]
    fn internal_context_is_system_scoped_admin() {
        let ctx = RequestContext::internal("reconciler");
        assert!(ctx.is_system_scoped());
        assert!(ctx.has_role("ADMIN"));
        assert_eq!(ctx.policy_credentials()["system_scope"], "all");
        assert!(!ctx.is_expired_at(OffsetDateTime::now_utc()));
    }
}
