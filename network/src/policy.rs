// SPDX-License-Identifier: Apache-2.0
//! Authorization: the service's default rules as oslo.policy check strings, and the one
//! [`authorize`] function every operation goes through.
//!
//! The rules follow Neutron's legacy defaults (`admin_or_owner`). Until the workspace policy
//! engine (`ferrostack_core::policy`) lands, [`authorize`] evaluates the small subset of the
//! oslo.policy language these rules use (`@`, `!`, `role:`, `rule:`, `key:%(attr)s`, `or`,
//! `and`); switching to the engine changes only this file.
//!
//! Visibility of shared and external networks (Neutron's `field:networks:shared=True` checks)
//! is decided by the service before a rule is evaluated, so the rules here need only generic
//! checks.

use crate::error::NetworkError;
use ferrostack_core::RequestContext;
use serde_json::Value;

/// One default rule: a name and its oslo.policy check string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The rule name (`create_network`).
    pub name: &'static str,
    /// The check string.
    pub check_str: &'static str,
}

const fn r(name: &'static str, check_str: &'static str) -> Rule {
    Rule { name, check_str }
}

/// The default rules.
pub const DEFAULT_RULES: &[Rule] = &[
    r("context_is_admin", "role:admin"),
    r("owner", "project_id:%(project_id)s"),
    r("admin_or_owner", "rule:context_is_admin or rule:owner"),
    r("admin_only", "rule:context_is_admin"),
    r("regular_user", ""),
    r("create_network", ""),
    r("create_network:shared", "rule:admin_only"),
    r("create_network:router:external", "rule:admin_only"),
    r("create_network:provider", "rule:admin_only"),
    r("get_network", "rule:admin_or_owner"),
    r("update_network", "rule:admin_or_owner"),
    r("update_network:shared", "rule:admin_only"),
    r("update_network:router:external", "rule:admin_only"),
    r("delete_network", "rule:admin_or_owner"),
    r("create_subnet", "rule:admin_or_owner"),
    r("get_subnet", "rule:admin_or_owner"),
    r("update_subnet", "rule:admin_or_owner"),
    r("delete_subnet", "rule:admin_or_owner"),
    r("create_port", ""),
    r("create_port:fixed_ips:ip_address", "rule:admin_or_owner"),
    r("create_port:mac_address", "rule:admin_or_owner"),
    r("create_port:binding", "rule:admin_only"),
    r("get_port", "rule:admin_or_owner"),
    r("update_port", "rule:admin_or_owner"),
    r("update_port:binding", "rule:admin_only"),
    r("delete_port", "rule:admin_or_owner"),
    r("create_router", ""),
    r("get_router", "rule:admin_or_owner"),
    r("update_router", "rule:admin_or_owner"),
    r("delete_router", "rule:admin_or_owner"),
    r("add_router_interface", "rule:admin_or_owner"),
    r("remove_router_interface", "rule:admin_or_owner"),
    r("create_floatingip", ""),
    r("get_floatingip", "rule:admin_or_owner"),
    r("update_floatingip", "rule:admin_or_owner"),
    r("delete_floatingip", "rule:admin_or_owner"),
    r("create_security_group", ""),
    r("get_security_group", "rule:admin_or_owner"),
    r("update_security_group", "rule:admin_or_owner"),
    r("delete_security_group", "rule:admin_or_owner"),
    r("create_security_group_rule", "rule:admin_or_owner"),
    r("get_security_group_rule", "rule:admin_or_owner"),
    r("delete_security_group_rule", "rule:admin_or_owner"),
    r("get_quota", "rule:admin_or_owner"),
    r("update_quota", "rule:admin_only"),
    r("delete_quota", "rule:admin_only"),
    r("create_resource_for_other_project", "rule:admin_only"),
];

/// Whether `ctx` may perform `rule` on `target` (a JSON object with at least `project_id`).
///
/// # Errors
///
/// [`NetworkError::Forbidden`] naming the rule when policy denies. Unknown rules deny.
pub fn authorize(rule: &str, ctx: &RequestContext, target: &Value) -> Result<(), NetworkError> {
    if check_rule(rule, ctx, target, 0) {
        Ok(())
    } else {
        Err(NetworkError::Forbidden(format!("rule:{rule}")))
    }
}

/// Whether policy allows, without building an error.
pub fn allowed(rule: &str, ctx: &RequestContext, target: &Value) -> bool {
    check_rule(rule, ctx, target, 0)
}

fn check_rule(name: &str, ctx: &RequestContext, target: &Value, depth: usize) -> bool {
    if depth > 16 {
        return false;
    }
    match DEFAULT_RULES.iter().find(|r| r.name == name) {
        Some(rule) => eval(rule.check_str, ctx, target, depth + 1),
        None => false,
    }
}

fn eval(expr: &str, ctx: &RequestContext, target: &Value, depth: usize) -> bool {
    let expr = expr.trim();
    if expr.is_empty() {
        return true;
    }
    expr.split(" or ").any(|conj| {
        conj.split(" and ").all(|atom| {
            let atom = atom.trim();
            match atom.strip_prefix("not ") {
                Some(inner) => !check_atom(inner.trim(), ctx, target, depth),
                None => check_atom(atom, ctx, target, depth),
            }
        })
    })
}

fn check_atom(atom: &str, ctx: &RequestContext, target: &Value, depth: usize) -> bool {
    match atom {
        "@" => return true,
        "!" => return false,
        _ => {}
    }
    let Some((kind, value)) = atom.split_once(':') else { return false };
    match kind {
        "role" => ctx.has_role(value),
        "rule" => check_rule(value, ctx, target, depth),
        key => {
            let creds = ctx.policy_credentials();
            let Some(attr) = value.strip_prefix("%(").and_then(|v| v.strip_suffix(")s")) else {
                return false;
            };
            match (creds.get(key), target.get(attr)) {
                (Some(Value::String(a)), Some(Value::String(b))) => a == b,
                _ => false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrostack_core::id::{ProjectId, UserId};
    use serde_json::json;

    #[test]
    fn owner_admin_and_unknown_rules() {
        let p = ProjectId::new();
        let member = RequestContext::for_project(UserId::new(), p.clone(), &["member"]);
        let admin = RequestContext::for_project(UserId::new(), ProjectId::new(), &["admin"]);
        let mine = json!({"project_id": p.as_str()});
        let theirs = json!({"project_id": "someone-else"});
        assert!(authorize("get_network", &member, &mine).is_ok());
        assert!(authorize("get_network", &member, &theirs).is_err());
        assert!(authorize("get_network", &admin, &theirs).is_ok());
        assert!(authorize("create_network:shared", &member, &mine).is_err());
        assert!(authorize("create_network", &member, &mine).is_ok());
        assert!(authorize("no_such_rule", &admin, &mine).is_err());
    }
}
