// SPDX-License-Identifier: Apache-2.0
//! Keystone's default policies and the single [`Authorizer::authorize`] every identity
//! operation calls.
//!
//! The rules are Keystone's 2024 defaults (`keystone/common/policies/*.py`) written in the
//! oslo.policy language and evaluated by [`ferrostack_core::policy::Policy`]; deployments
//! override any of them by name. Targets are built nested (`{"target": {"project": {...}}}`)
//! and flattened to Keystone's dotted keys (`target.project.domain_id`) before evaluation.

use crate::error::IdentityError;
use ferrostack_core::RequestContext;
pub use ferrostack_core::policy::RuleDefault;
use ferrostack_core::policy::{Policy, PolicyError, flatten_target};
use serde_json::Value;

const ADMIN_OR_SYSTEM_READER: &str = "rule:admin_required or (role:reader and system_scope:all)";
const SPD: &[&str] = &["system", "project", "domain"];
const ADMIN_OR_SYSTEM_READER_OR_CRED_OWNER: &str = "(rule:admin_required) or (role:reader and system_scope:all) or user_id:%(target.credential.user_id)s";
const ADMIN_OR_CRED_OWNER: &str = "(rule:admin_required) or user_id:%(target.credential.user_id)s";
const ADMIN_OR_MEMBER_AND_CRED_OWNER: &str =
    "(rule:admin_required) or (role:member and user_id:%(target.credential.user_id)s)";

macro_rules! rule {
    ($name:expr, $check:expr, $desc:expr) => {
        RuleDefault::new($name, $check, $desc, SPD)
    };
}

/// Every default rule of the identity service.
pub const DEFAULT_RULES: &[RuleDefault] = &[
    rule!("admin_required", "role:admin or is_admin:1", "Administrator."),
    rule!("service_role", "role:service", "A service user."),
    rule!(
        "service_or_admin",
        "rule:admin_required or rule:service_role",
        "A service or an administrator."
    ),
    rule!("owner", "user_id:%(user_id)s", "The user the request is about."),
    rule!("admin_or_owner", "rule:admin_required or rule:owner", "Administrator or the user."),
    rule!("token_subject", "user_id:%(target.token.user_id)s", "The owner of the subject token."),
    rule!(
        "service_admin_or_token_subject",
        "rule:service_or_admin or rule:token_subject",
        "A service, an administrator or the token's owner."
    ),
    // Tokens and auth.
    rule!(
        "identity:check_token",
        "rule:admin_required or (role:reader and system_scope:all) or rule:service_role or rule:token_subject",
        "HEAD /v3/auth/tokens."
    ),
    rule!(
        "identity:validate_token",
        "rule:admin_required or (role:reader and system_scope:all) or rule:service_role or rule:token_subject",
        "GET /v3/auth/tokens."
    ),
    rule!(
        "identity:revoke_token",
        "rule:admin_required or rule:service_role or rule:token_subject",
        "DELETE /v3/auth/tokens."
    ),
    rule!("identity:get_auth_catalog", "", "GET /v3/auth/catalog."),
    rule!("identity:get_auth_projects", "", "GET /v3/auth/projects."),
    rule!("identity:get_auth_domains", "", "GET /v3/auth/domains."),
    rule!("identity:get_auth_system", "", "GET /v3/auth/system."),
    // Domains.
    rule!(
        "identity:get_domain",
        "rule:admin_required or (role:reader and system_scope:all) or token.domain.id:%(target.domain.id)s or token.project.domain.id:%(target.domain.id)s",
        "Show a domain."
    ),
    rule!("identity:list_domains", ADMIN_OR_SYSTEM_READER, "List domains."),
    rule!("identity:create_domain", "rule:admin_required", "Create a domain."),
    rule!("identity:update_domain", "rule:admin_required", "Update a domain."),
    rule!("identity:delete_domain", "rule:admin_required", "Delete a domain."),
    // Projects.
    rule!(
        "identity:get_project",
        "rule:admin_required or (role:reader and system_scope:all) or (role:reader and domain_id:%(target.project.domain_id)s) or project_id:%(target.project.id)s",
        "Show a project."
    ),
    rule!(
        "identity:list_projects",
        "rule:admin_required or (role:reader and system_scope:all) or (role:reader and domain_id:%(target.domain_id)s)",
        "List projects."
    ),
    rule!(
        "identity:list_user_projects",
        "rule:admin_or_owner or (role:reader and system_scope:all) or (role:reader and domain_id:%(target.user.domain_id)s)",
        "List a user's projects."
    ),
    rule!(
        "identity:create_project",
        "rule:admin_required or (role:admin and domain_id:%(target.project.domain_id)s)",
        "Create a project."
    ),
    rule!(
        "identity:update_project",
        "rule:admin_required or (role:admin and domain_id:%(target.project.domain_id)s)",
        "Update a project."
    ),
    rule!(
        "identity:delete_project",
        "rule:admin_required or (role:admin and domain_id:%(target.project.domain_id)s)",
        "Delete a project."
    ),
    // Users.
    rule!(
        "identity:get_user",
        "rule:admin_required or (role:reader and system_scope:all) or (role:reader and token.domain.id:%(target.user.domain_id)s) or user_id:%(target.user.id)s",
        "Show a user."
    ),
    rule!(
        "identity:list_users",
        "rule:admin_required or (role:reader and system_scope:all) or (role:reader and domain_id:%(target.domain_id)s)",
        "List users."
    ),
    rule!(
        "identity:create_user",
        "rule:admin_required or (role:admin and token.domain.id:%(target.user.domain_id)s)",
        "Create a user."
    ),
    rule!(
        "identity:update_user",
        "rule:admin_required or (role:admin and token.domain.id:%(target.user.domain_id)s)",
        "Update a user."
    ),
    rule!(
        "identity:delete_user",
        "rule:admin_required or (role:admin and token.domain.id:%(target.user.domain_id)s)",
        "Delete a user."
    ),
    rule!("identity:change_password", "rule:admin_or_owner", "Change a user's own password."),
    // Groups.
    rule!(
        "identity:get_group",
        "rule:admin_required or (role:reader and system_scope:all) or (role:reader and token.domain.id:%(target.group.domain_id)s)",
        "Show a group."
    ),
    rule!(
        "identity:list_groups",
        "rule:admin_required or (role:reader and system_scope:all) or (role:reader and token.domain.id:%(target.domain_id)s)",
        "List groups."
    ),
    rule!(
        "identity:list_groups_for_user",
        "rule:admin_or_owner or (role:reader and system_scope:all) or (role:reader and token.domain.id:%(target.user.domain_id)s)",
        "List a user's groups."
    ),
    rule!(
        "identity:create_group",
        "rule:admin_required or (role:admin and token.domain.id:%(target.group.domain_id)s)",
        "Create a group."
    ),
    rule!(
        "identity:update_group",
        "rule:admin_required or (role:admin and token.domain.id:%(target.group.domain_id)s)",
        "Update a group."
    ),
    rule!(
        "identity:delete_group",
        "rule:admin_required or (role:admin and token.domain.id:%(target.group.domain_id)s)",
        "Delete a group."
    ),
    rule!(
        "identity:list_users_in_group",
        "rule:admin_required or (role:reader and system_scope:all) or (role:reader and token.domain.id:%(target.group.domain_id)s)",
        "List a group's members."
    ),
    rule!(
        "identity:check_user_in_group",
        "rule:admin_required or (role:reader and system_scope:all) or (role:reader and token.domain.id:%(target.group.domain_id)s)",
        "Check membership."
    ),
    rule!(
        "identity:add_user_to_group",
        "rule:admin_required or (role:admin and token.domain.id:%(target.group.domain_id)s)",
        "Add a member."
    ),
    rule!(
        "identity:remove_user_from_group",
        "rule:admin_required or (role:admin and token.domain.id:%(target.group.domain_id)s)",
        "Remove a member."
    ),
    // Roles.
    rule!("identity:get_role", ADMIN_OR_SYSTEM_READER, "Show a role."),
    rule!(
        "identity:list_roles",
        "rule:admin_required or (role:reader and system_scope:all) or (role:reader and domain_id:%(target.domain_id)s) or role:reader",
        "List roles."
    ),
    rule!("identity:create_role", "rule:admin_required", "Create a role."),
    rule!("identity:update_role", "rule:admin_required", "Update a role."),
    rule!("identity:delete_role", "rule:admin_required", "Delete a role."),
    rule!("identity:create_implied_role", "rule:admin_required", "Create a role inference rule."),
    rule!("identity:delete_implied_role", "rule:admin_required", "Delete a role inference rule."),
    rule!("identity:list_implied_roles", ADMIN_OR_SYSTEM_READER, "List role inference rules."),
    // Grants and assignments.
    rule!(
        "identity:check_grant",
        "rule:admin_required or (role:reader and system_scope:all) or (role:reader and domain_id:%(target.domain_id)s)",
        "Check a grant."
    ),
    rule!(
        "identity:list_grants",
        "rule:admin_required or (role:reader and system_scope:all) or (role:reader and domain_id:%(target.domain_id)s)",
        "List grants."
    ),
    rule!(
        "identity:create_grant",
        "rule:admin_required or (role:admin and domain_id:%(target.domain_id)s)",
        "Grant a role."
    ),
    rule!(
        "identity:revoke_grant",
        "rule:admin_required or (role:admin and domain_id:%(target.domain_id)s)",
        "Revoke a role."
    ),
    rule!(
        "identity:list_role_assignments",
        "rule:admin_required or (role:reader and system_scope:all) or (role:reader and domain_id:%(target.domain_id)s)",
        "List role assignments."
    ),
    // Catalog.
    rule!("identity:get_region", "", "Show a region."),
    rule!("identity:list_regions", "", "List regions."),
    rule!("identity:create_region", "rule:admin_required", "Create a region."),
    rule!("identity:update_region", "rule:admin_required", "Update a region."),
    rule!("identity:delete_region", "rule:admin_required", "Delete a region."),
    rule!("identity:get_service", ADMIN_OR_SYSTEM_READER, "Show a service."),
    rule!("identity:list_services", ADMIN_OR_SYSTEM_READER, "List services."),
    rule!("identity:create_service", "rule:admin_required", "Create a service."),
    rule!("identity:update_service", "rule:admin_required", "Update a service."),
    rule!("identity:delete_service", "rule:admin_required", "Delete a service."),
    rule!("identity:get_endpoint", ADMIN_OR_SYSTEM_READER, "Show an endpoint."),
    rule!("identity:list_endpoints", ADMIN_OR_SYSTEM_READER, "List endpoints."),
    rule!("identity:create_endpoint", "rule:admin_required", "Create an endpoint."),
    rule!("identity:update_endpoint", "rule:admin_required", "Update an endpoint."),
    rule!("identity:delete_endpoint", "rule:admin_required", "Delete an endpoint."),
    // Application credentials.
    rule!(
        "identity:get_application_credential",
        "(rule:admin_required) or (role:reader and system_scope:all) or rule:owner",
        "Show an application credential."
    ),
    rule!(
        "identity:list_application_credentials",
        "(rule:admin_required) or (role:reader and system_scope:all) or rule:owner",
        "List a user's application credentials."
    ),
    rule!(
        "identity:create_application_credential",
        "rule:owner",
        "Create an application credential."
    ),
    rule!(
        "identity:delete_application_credential",
        "rule:admin_or_owner",
        "Delete an application credential."
    ),
    // Credentials and OS-EC2.
    rule!("identity:get_credential", ADMIN_OR_SYSTEM_READER_OR_CRED_OWNER, "Show a credential."),
    rule!("identity:list_credentials", ADMIN_OR_SYSTEM_READER_OR_CRED_OWNER, "List credentials."),
    rule!("identity:create_credential", ADMIN_OR_CRED_OWNER, "Create a credential."),
    rule!("identity:update_credential", ADMIN_OR_CRED_OWNER, "Update a credential."),
    rule!("identity:delete_credential", ADMIN_OR_CRED_OWNER, "Delete a credential."),
    rule!(
        "identity:ec2_get_credential",
        ADMIN_OR_SYSTEM_READER_OR_CRED_OWNER,
        "Show an EC2 credential."
    ),
    rule!(
        "identity:ec2_list_credentials",
        "(rule:admin_required) or (role:reader and system_scope:all) or rule:owner",
        "List EC2 credentials."
    ),
    rule!(
        "identity:ec2_create_credential",
        ADMIN_OR_MEMBER_AND_CRED_OWNER,
        "Create an EC2 credential."
    ),
    rule!(
        "identity:ec2_delete_credential",
        ADMIN_OR_MEMBER_AND_CRED_OWNER,
        "Delete an EC2 credential."
    ),
    rule!(
        "identity:ec2tokens_validate",
        "rule:service_or_admin",
        "POST /v3/ec2tokens: services and administrators exchange a signed EC2 request for a token."
    ),
];

/// Evaluates identity's rules (defaults plus overrides).
#[derive(Debug, Clone)]
pub struct Authorizer {
    policy: Policy,
}

impl Default for Authorizer {
    fn default() -> Self {
        Self::new(std::iter::empty())
    }
}

impl Authorizer {
    /// The defaults with `overrides` (rule name, check string) applied.
    pub fn new(overrides: impl IntoIterator<Item = (String, String)>) -> Self {
        Authorizer { policy: Policy::new(DEFAULT_RULES).with_overrides(overrides) }
    }

    /// Whether `ctx` may perform `rule` on `target`; [`IdentityError::Forbidden`] otherwise.
    /// Unknown rules deny.
    pub fn authorize(
        &self,
        rule: &str,
        ctx: &RequestContext,
        target: &Value,
    ) -> Result<(), IdentityError> {
        match self.policy.authorize(rule, ctx, &flat(target)) {
            Ok(()) => Ok(()),
            Err(PolicyError::UnknownRule { .. }) => {
                tracing::error!(rule, "identity asked for an unknown policy rule; denying");
                Err(IdentityError::Forbidden { action: rule.to_owned() })
            }
            Err(_) => Err(IdentityError::Forbidden { action: rule.to_owned() }),
        }
    }

    /// Evaluates `rule` against a (nested) `target` and `creds` (oslo.policy's `enforce`).
    pub fn enforce(&self, rule: &str, target: &Value, creds: &Value) -> bool {
        self.policy.enforce(rule, &flat(target), creds)
    }
}

/// Keystone's dotted target keys, without the attributes that are absent (`null`): Keystone
/// builds targets from what the request names, so a missing filter is a missing key (which
/// fails the check), never the string `None`.
fn flat(target: &Value) -> Value {
    match flatten_target(target) {
        Value::Object(mut m) => {
            m.retain(|_, v| !v.is_null());
            Value::Object(m)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrostack_core::id::{ProjectId, UserId};
    use serde_json::json;

    #[test]
    fn defaults_grant_and_deny_as_keystone() {
        let a = Authorizer::default();
        let p = ProjectId::new();
        let admin =
            RequestContext::for_project(UserId::new(), p.clone(), &["admin", "member", "reader"]);
        let member = RequestContext::for_project(UserId::new(), p.clone(), &["member", "reader"]);
        let t = json!({"target": {"project": {"id": p.as_str(), "domain_id": "default"}}});
        assert!(a.authorize("identity:create_project", &admin, &t).is_ok());
        assert!(a.authorize("identity:create_project", &member, &t).is_err());
        assert!(a.authorize("identity:get_project", &member, &t).is_ok());
        let other = json!({"target": {"project": {"id": "other", "domain_id": "x"}}});
        assert!(a.authorize("identity:get_project", &member, &other).is_err());
        assert!(a.authorize("identity:no_such_rule", &admin, &t).is_err());
        let sys_reader = RequestContext {
            scope: ferrostack_core::context::Scope::System,
            roles: vec!["reader".into()],
            ..member.clone()
        };
        assert!(a.authorize("identity:list_domains", &sys_reader, &json!({})).is_ok());
        assert!(a.authorize("identity:list_domains", &member, &json!({})).is_err());
        let own = json!({"user_id": member.user_id.as_str()});
        assert!(a.authorize("identity:change_password", &member, &own).is_ok());
        assert!(
            a.authorize("identity:change_password", &member, &json!({"user_id": "x"})).is_err()
        );
    }

    #[test]
    fn overrides_and_malformed_rules() {
        let a = Authorizer::new([
            ("identity:list_regions".to_owned(), "!".to_owned()),
            ("identity:get_region".to_owned(), "(role:admin".to_owned()),
            ("identity:get_service".to_owned(), "not role:admin and 'x':%(name)s".to_owned()),
        ]);
        let ctx = RequestContext::internal("t");
        assert!(a.authorize("identity:list_regions", &ctx, &json!({})).is_err());
        assert!(a.authorize("identity:get_region", &ctx, &json!({})).is_err());
        let member = RequestContext::for_project(UserId::new(), ProjectId::new(), &["member"]);
        assert!(a.authorize("identity:get_service", &member, &json!({"name": "x"})).is_ok());
        assert!(a.authorize("identity:get_service", &member, &json!({"name": "y"})).is_err());
    }
}
