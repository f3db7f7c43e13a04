// SPDX-License-Identifier: Apache-2.0
//! Compute's default policy rules (Nova's 2023+ defaults: project member/reader or admin)
//! and the one function every authorization goes through.

use crate::error::ComputeError;
use ferrostack_core::RequestContext;
use ferrostack_core::policy::{Policy, RuleDefault};

const ADMIN: &str = "role:admin";
const MEMBER: &str = "(role:member and project_id:%(project_id)s) or role:admin";
const READER: &str = "(role:reader and project_id:%(project_id)s) or role:admin";
const ANY: &str = "@";

macro_rules! rules {
    ($($name:literal => $check:expr, $desc:literal;)+) => {
        /// Compute's default rules.
        pub const DEFAULT_RULES: &[RuleDefault] = &[
            $(RuleDefault::new($name, $check, $desc, &[]),)+
        ];
    };
}

rules! {
    "context_is_admin" => ADMIN, "Decides what is an admin";
    "os_compute_api:servers:index" => READER, "List servers";
    "os_compute_api:servers:detail" => READER, "List servers with details";
    "os_compute_api:servers:index:get_all_tenants" => ADMIN, "List servers of all projects";
    "os_compute_api:servers:show" => READER, "Show a server";
    "os_compute_api:servers:show:host_status" => ADMIN, "Show a server's host status";
    "os_compute_api:servers:create" => MEMBER, "Create a server";
    "os_compute_api:servers:create:forced_host" => ADMIN, "Create a server on a given host";
    "os_compute_api:servers:update" => MEMBER, "Update a server";
    "os_compute_api:servers:delete" => MEMBER, "Delete a server";
    "os_compute_api:servers:start" => MEMBER, "Start a server";
    "os_compute_api:servers:stop" => MEMBER, "Stop a server";
    "os_compute_api:servers:reboot" => MEMBER, "Reboot a server";
    "os_compute_api:servers:resize" => MEMBER, "Resize a server";
    "os_compute_api:servers:confirm_resize" => MEMBER, "Confirm a resize";
    "os_compute_api:servers:revert_resize" => MEMBER, "Revert a resize";
    "os_compute_api:servers:rebuild" => MEMBER, "Rebuild a server";
    "os_compute_api:servers:create_image" => MEMBER, "Snapshot a server";
    "os_compute_api:os-volumes-attachments:index" => READER, "List volume attachments";
    "os_compute_api:os-volumes-attachments:show" => READER, "Show a volume attachment";
    "os_compute_api:os-volumes-attachments:create" => MEMBER, "Attach a volume";
    "os_compute_api:os-volumes-attachments:delete" => MEMBER, "Detach a volume";
    "os_compute_api:os-attach-interfaces:list" => READER, "List interfaces";
    "os_compute_api:os-attach-interfaces:show" => READER, "Show an interface";
    "os_compute_api:os-attach-interfaces:create" => MEMBER, "Attach an interface";
    "os_compute_api:os-attach-interfaces:delete" => MEMBER, "Detach an interface";
    "os_compute_api:os-remote-consoles" => MEMBER, "Get a console URL";
    "os_compute_api:os-console-output" => MEMBER, "Show a server's console output";
    "os_compute_api:os-flavor-manage:create" => ADMIN, "Create a flavor";
    "os_compute_api:os-flavor-manage:delete" => ADMIN, "Delete a flavor";
    "os_compute_api:os-flavor-extra-specs:create" => ADMIN, "Set flavor extra specs";
    "os_compute_api:os-flavor-extra-specs:delete" => ADMIN, "Unset flavor extra specs";
    "os_compute_api:os-keypairs:index" => "role:admin or user_id:%(user_id)s", "List keypairs";
    "os_compute_api:os-keypairs:show" => "role:admin or user_id:%(user_id)s", "Show a keypair";
    "os_compute_api:os-keypairs:create" => "role:admin or user_id:%(user_id)s", "Create a keypair";
    "os_compute_api:os-keypairs:delete" => "role:admin or user_id:%(user_id)s", "Delete a keypair";
    "os_compute_api:os-server-groups:index" => READER, "List server groups";
    "os_compute_api:os-server-groups:show" => READER, "Show a server group";
    "os_compute_api:os-server-groups:create" => MEMBER, "Create a server group";
    "os_compute_api:os-server-groups:delete" => MEMBER, "Delete a server group";
    "os_compute_api:os-quota-sets:show" => READER, "Show quotas";
    "os_compute_api:os-quota-sets:update" => ADMIN, "Update quotas";
    "os_compute_api:limits" => ANY, "Show limits";
    "os_compute_api:os-availability-zone:list" => ANY, "List availability zones";
    "os_compute_api:os-aggregates:create" => ADMIN, "Create an aggregate";
    "os_compute_api:os-aggregates:index" => ADMIN, "List aggregates";
}

/// The compiled default policy.
pub fn default_policy() -> Policy {
    Policy::new(DEFAULT_RULES)
}

/// Authorizes `rule` for `ctx` on `target` (every compute authorization goes through here).
pub fn authorize(
    policy: &Policy,
    rule: &str,
    ctx: &RequestContext,
    target: &serde_json::Value,
) -> Result<(), ComputeError> {
    policy.authorize(rule, ctx, target).map_err(ComputeError::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrostack_core::id::{ProjectId, UserId};
    use serde_json::json;

    #[test]
    fn members_act_in_their_project_only() {
        let p = default_policy();
        assert_eq!(p.issues().count(), 0, "every default parses");
        let project = ProjectId::new();
        let member =
            RequestContext::for_project(UserId::new(), project.clone(), &["member", "reader"]);
        let target = json!({"project_id": project.as_str()});
        assert!(authorize(&p, "os_compute_api:servers:create", &member, &target).is_ok());
        let other = json!({"project_id": ProjectId::new().as_str()});
        assert!(authorize(&p, "os_compute_api:servers:delete", &member, &other).is_err());
        assert!(authorize(&p, "os_compute_api:os-flavor-manage:create", &member, &target).is_err());
        let reader = RequestContext::for_project(UserId::new(), project, &["reader"]);
        assert!(authorize(&p, "os_compute_api:servers:show", &reader, &target).is_ok());
        assert!(authorize(&p, "os_compute_api:servers:stop", &reader, &target).is_err());
    }
}
