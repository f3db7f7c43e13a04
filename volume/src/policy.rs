// SPDX-License-Identifier: Apache-2.0
//! Authorization: Cinder's default rules as oslo.policy check strings, and the one function
//! every operation goes through ([`authorize`]).
//!
//! The rules are evaluated by the workspace's oslo.policy engine
//! ([`ferrostack_core::policy::Policy`]).

use crate::VolumeError;
use ferrostack_core::RequestContext;
use ferrostack_core::policy::{Policy, RuleDefault};
use serde_json::Value;
use std::sync::LazyLock;

const ADMIN: &str = "role:admin";
const MEMBER: &str = "role:admin or (role:member and project_id:%(project_id)s)";
const READER: &str = "role:admin or (role:reader and project_id:%(project_id)s)";

const fn r(name: &'static str, check_str: &'static str, description: &'static str) -> RuleDefault {
    RuleDefault::new(name, check_str, description, &[])
}

/// Cinder's default rules (the 2023 secure-RBAC defaults for project-scoped tokens), as
/// oslo.policy check strings.
pub const DEFAULT_RULES: &[RuleDefault] = &[
    r("admin_api", ADMIN, "Administrative operations"),
    r("volume:create", MEMBER, "Create a volume"),
    r("volume:create_from_image", MEMBER, "Create a volume from an image"),
    r("volume:get", READER, "Show a volume"),
    r("volume:get_all", READER, "List volumes"),
    r("volume:update", MEMBER, "Update a volume"),
    r("volume:delete", MEMBER, "Delete a volume"),
    r("volume:extend", MEMBER, "Extend an available volume"),
    r("volume:extend_attached_volume", MEMBER, "Extend an in-use volume"),
    r("volume:retype", MEMBER, "Retype a volume"),
    r("volume:multiattach", MEMBER, "Create a multiattach volume"),
    r("volume_extension:volume_actions:upload_image", MEMBER, "Upload a volume to an image"),
    r("volume:create_snapshot", MEMBER, "Create a snapshot"),
    r("volume:get_snapshot", READER, "Show a snapshot"),
    r("volume:get_all_snapshots", READER, "List snapshots"),
    r("volume:update_snapshot", MEMBER, "Update a snapshot"),
    r("volume:delete_snapshot", MEMBER, "Delete a snapshot"),
    r("volume:attachment_create", MEMBER, "Create an attachment"),
    r("volume:attachment_update", MEMBER, "Update an attachment with a connector"),
    r("volume:attachment_complete", MEMBER, "Mark an attachment complete"),
    r("volume:attachment_delete", MEMBER, "Delete an attachment"),
    r("volume:attachment_get", READER, "Show or list attachments"),
    r("volume_extension:types_manage", ADMIN, "Create, update and delete volume types"),
    r("volume_extension:type_get", "", "Show or list volume types"),
    r("volume_extension:quotas:show", READER, "Show a project's quotas"),
    r("volume_extension:quotas:update", ADMIN, "Update a project's quotas"),
];

/// The compiled default policy.
pub fn default_policy() -> &'static Policy {
    static POLICY: LazyLock<Policy> = LazyLock::new(|| Policy::new(DEFAULT_RULES));
    &POLICY
}

/// Checks that `ctx` may perform `rule` on `target` (a JSON object with at least
/// `project_id`) under the default policy. Denials, unknown rules and rules that fail to
/// evaluate are [`VolumeError::Forbidden`] naming the rule.
pub fn authorize(rule: &str, ctx: &RequestContext, target: &Value) -> Result<(), VolumeError> {
    default_policy()
        .authorize(rule, ctx, target)
        .map_err(|e| VolumeError::Forbidden(e.rule().unwrap_or(rule).to_owned()))
}

/// Whether `ctx` holds the admin role (Cinder's `context.is_admin`).
pub fn is_admin(ctx: &RequestContext) -> bool {
    ctx.has_role("admin")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrostack_core::id::{ProjectId, UserId};
    use serde_json::json;

    #[test]
    fn members_act_on_their_own_project_only() {
        let p = ProjectId::new();
        let ctx = RequestContext::for_project(UserId::new(), p.clone(), &["member", "reader"]);
        assert!(authorize("volume:create", &ctx, &json!({"project_id": p.as_str()})).is_ok());
        let other = json!({"project_id": "someone-else"});
        assert!(matches!(
            authorize("volume:delete", &ctx, &other),
            Err(VolumeError::Forbidden(r)) if r == "volume:delete"
        ));
        assert!(authorize("volume_extension:types_manage", &ctx, &other).is_err());
        assert!(authorize("no:such:rule", &ctx, &other).is_err());
        let reader = RequestContext::for_project(UserId::new(), p.clone(), &["reader"]);
        assert!(authorize("volume:get", &reader, &json!({"project_id": p.as_str()})).is_ok());
        assert!(authorize("volume:create", &reader, &json!({"project_id": p.as_str()})).is_err());
    }

    #[test]
    fn admins_pass_and_every_default_parses() {
        let admin = RequestContext::for_project(UserId::new(), ProjectId::new(), &["admin"]);
        for r in DEFAULT_RULES {
            assert!(authorize(r.name, &admin, &json!({"project_id": "x"})).is_ok(), "{}", r.name);
        }
        assert_eq!(default_policy().issues().count(), 0, "every default parses");
    }
}
