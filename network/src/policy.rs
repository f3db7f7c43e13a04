// SPDX-License-Identifier: Apache-2.0
//! Authorization: the service's default rules as oslo.policy check strings, and the one
//! [`authorize`] function every operation goes through.
//!
//! The rules follow Neutron's legacy defaults (`admin_or_owner`) and are evaluated by the
//! workspace's oslo.policy engine ([`ferrostack_core::policy::Policy`]).
//!
//! Visibility of shared and external networks (Neutron's `field:networks:shared=True` checks)
//! is decided by the service before a rule is evaluated, so the rules here need only generic
//! checks.

use crate::error::NetworkError;
use ferrostack_core::RequestContext;
use ferrostack_core::policy::{Policy, RuleDefault};
use serde_json::Value;
use std::sync::LazyLock;

const fn r(name: &'static str, check_str: &'static str) -> RuleDefault {
    RuleDefault::new(name, check_str, "Neutron default rule", &[])
}

/// The default rules, as oslo.policy check strings.
pub const DEFAULT_RULES: &[RuleDefault] = &[
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

static POLICY: LazyLock<Policy> = LazyLock::new(|| Policy::new(DEFAULT_RULES));

/// The compiled default policy.
pub fn default_policy() -> &'static Policy {
    &POLICY
}

/// Whether `ctx` may perform `rule` on `target` (a JSON object with at least `project_id`).
///
/// # Errors
///
/// [`NetworkError::Forbidden`] naming the rule when policy denies. Unknown rules deny.
pub fn authorize(rule: &str, ctx: &RequestContext, target: &Value) -> Result<(), NetworkError> {
    POLICY.authorize(rule, ctx, target).map_err(|_| NetworkError::Forbidden(format!("rule:{rule}")))
}

/// Whether policy allows, without building an error.
pub fn allowed(rule: &str, ctx: &RequestContext, target: &Value) -> bool {
    POLICY.authorize(rule, ctx, target).is_ok()
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
