// SPDX-License-Identifier: Apache-2.0
//! Keystone's default policies and the single [`Authorizer::authorize`] every identity
//! operation calls.
//!
//! The rules are Keystone's 2024 defaults (`keystone/common/policies/*.py`) written in the
//! oslo.policy language; deployments override any of them by name. They are evaluated by a
//! small oslo.policy interpreter local to this module (`or`/`and`/`not`, parentheses, `@`, `!`,
//! `rule:`, `role:`, and generic `<creds path>:<literal or %(target path)s>` checks; unknown or
//! unparsable rules deny). It is the one place to switch to `ferrostack_core::policy` once the
//! shared engine exists, without touching any operation.

use crate::error::IdentityError;
use ferrostack_core::RequestContext;
use serde_json::Value;
use std::collections::HashMap;

/// A default rule: name, check string, description, scope types (as oslo.policy registers them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleDefault {
    /// `identity:get_project`.
    pub name: &'static str,
    /// The oslo.policy check string.
    pub check_str: &'static str,
    /// What the rule guards.
    pub description: &'static str,
    /// `system`, `domain`, `project`.
    pub scope_types: &'static [&'static str],
}

const ADMIN_OR_SYSTEM_READER: &str = "rule:admin_required or (role:reader and system_scope:all)";
const SPD: &[&str] = &["system", "project", "domain"];

macro_rules! rule {
    ($name:expr, $check:expr, $desc:expr) => {
        RuleDefault { name: $name, check_str: $check, description: $desc, scope_types: SPD }
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
];

/// Evaluates identity's rules (defaults plus overrides).
#[derive(Debug, Clone)]
pub struct Authorizer {
    rules: HashMap<String, String>,
}

impl Default for Authorizer {
    fn default() -> Self {
        Self::new(std::iter::empty())
    }
}

impl Authorizer {
    /// The defaults with `overrides` (rule name, check string) applied.
    pub fn new(overrides: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut rules: HashMap<String, String> =
            DEFAULT_RULES.iter().map(|r| (r.name.to_owned(), r.check_str.to_owned())).collect();
        rules.extend(overrides);
        Authorizer { rules }
    }

    /// Whether `ctx` may perform `rule` on `target`; [`IdentityError::Forbidden`] otherwise.
    /// Unknown rules deny.
    pub fn authorize(
        &self,
        rule: &str,
        ctx: &RequestContext,
        target: &Value,
    ) -> Result<(), IdentityError> {
        let creds = ctx.policy_credentials();
        if self.enforce(rule, target, &creds) {
            Ok(())
        } else {
            Err(IdentityError::Forbidden { action: rule.to_owned() })
        }
    }

    /// Evaluates `rule` against `target` and `creds` (oslo.policy's `enforce`).
    pub fn enforce(&self, rule: &str, target: &Value, creds: &Value) -> bool {
        match self.rules.get(rule) {
            Some(check) => eval_str(self, check, target, creds, 0),
            None => false,
        }
    }
}

fn eval_str(a: &Authorizer, check: &str, target: &Value, creds: &Value, depth: usize) -> bool {
    if depth > 16 {
        return false;
    }
    let tokens = tokenize(check);
    if tokens.is_empty() {
        return true;
    }
    let mut p = Parser { t: &tokens, pos: 0, a, target, creds, depth };
    match p.or() {
        Some(v) if p.pos == tokens.len() => v,
        _ => false,
    }
}

fn tokenize(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in s.split_whitespace() {
        let mut w = word;
        while let Some(rest) = w.strip_prefix('(') {
            out.push("(".into());
            w = rest;
        }
        let mut closes = 0;
        while let Some(rest) = w.strip_suffix(')') {
            closes += 1;
            w = rest;
        }
        if !w.is_empty() {
            out.push(w.to_owned());
        }
        out.extend(std::iter::repeat_n(")".to_owned(), closes));
    }
    out
}

struct Parser<'a> {
    t: &'a [String],
    pos: usize,
    a: &'a Authorizer,
    target: &'a Value,
    creds: &'a Value,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&str> {
        self.t.get(self.pos).map(String::as_str)
    }
    fn or(&mut self) -> Option<bool> {
        let mut v = self.and()?;
        while self.peek() == Some("or") {
            self.pos += 1;
            let r = self.and()?;
            v = v || r;
        }
        Some(v)
    }
    fn and(&mut self) -> Option<bool> {
        let mut v = self.not()?;
        while self.peek() == Some("and") {
            self.pos += 1;
            let r = self.not()?;
            v = v && r;
        }
        Some(v)
    }
    fn not(&mut self) -> Option<bool> {
        if self.peek() == Some("not") {
            self.pos += 1;
            return self.not().map(|v| !v);
        }
        self.atom()
    }
    fn atom(&mut self) -> Option<bool> {
        let tok = self.peek()?.to_owned();
        self.pos += 1;
        if tok == "(" {
            let v = self.or()?;
            if self.peek() != Some(")") {
                return None;
            }
            self.pos += 1;
            return Some(v);
        }
        Some(self.check(&tok))
    }
    fn check(&self, tok: &str) -> bool {
        match tok {
            "@" => return true,
            "!" => return false,
            _ => {}
        }
        let Some((kind, m)) = tok.split_once(':') else { return false };
        match kind {
            "rule" => self
                .a
                .rules
                .get(m)
                .is_some_and(|c| eval_str(self.a, c, self.target, self.creds, self.depth + 1)),
            "role" => {
                let Some(want) = interpolate(m, self.target) else { return false };
                self.creds["roles"].as_array().is_some_and(|roles| {
                    roles.iter().any(|r| r.as_str().is_some_and(|r| r.eq_ignore_ascii_case(&want)))
                })
            }
            _ => {
                let Some(want) = interpolate(m, self.target) else { return false };
                if let Some(lit) = literal(kind) {
                    return lit == want;
                }
                match lookup(self.creds, kind) {
                    Some(Value::Array(items)) => {
                        items.iter().any(|i| scalar(i).as_deref() == Some(&want))
                    }
                    Some(v) => scalar(v).as_deref() == Some(&want),
                    None => false,
                }
            }
        }
    }
}

fn literal(kind: &str) -> Option<String> {
    if let Some(s) = kind.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        return Some(s.to_owned());
    }
    match kind {
        "True" | "False" => Some(kind.to_owned()),
        _ if kind.parse::<i64>().is_ok() => Some(kind.to_owned()),
        _ => None,
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(true) => Some("True".into()),
        Value::Bool(false) => Some("False".into()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `%(a.b)s` → the target's value at that path (a missing key fails the check); other text is
/// literal.
fn interpolate(m: &str, target: &Value) -> Option<String> {
    match m.strip_prefix("%(").and_then(|r| r.strip_suffix(")s")) {
        Some(path) => lookup(target, path).and_then(scalar),
        None => Some(m.to_owned()),
    }
}

/// A dotted path: first as a flat key (oslo.policy flattens targets), then nested.
fn lookup<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    if let Some(x) = v.get(path) {
        return (!x.is_null()).then_some(x);
    }
    let mut cur = v;
    for part in path.split('.') {
        cur = cur.get(part)?;
    }
    (!cur.is_null()).then_some(cur)
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
