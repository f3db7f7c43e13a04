// SPDX-License-Identifier: Apache-2.0
//! Authorization: Cinder's default rules as oslo.policy check strings, and the one function
//! every operation goes through ([`authorize`]).
//!
//! Until `ferrostack_core::policy` lands, [`authorize`] evaluates the small subset of the rule
//! language the defaults use (`role:`, `project_id:%(project_id)s`, `rule:`, `and`, `or`,
//! `not`, parentheses, `@`, `!`); switching to the engine changes only this module.

use crate::VolumeError;
use ferrostack_core::RequestContext;
use serde_json::Value;

/// One default rule: name, oslo.policy check string, description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VolumeRule {
    /// The rule name Cinder uses (`"volume:create"`).
    pub name: &'static str,
    /// The check string.
    pub check_str: &'static str,
    /// What it guards.
    pub description: &'static str,
}

const ADMIN: &str = "role:admin";
const MEMBER: &str = "role:admin or (role:member and project_id:%(project_id)s)";
const READER: &str = "role:admin or (role:reader and project_id:%(project_id)s)";

macro_rules! rules {
    ($($name:literal => $check:expr, $desc:literal;)*) => {
        /// Cinder's default rules (the 2023 secure-RBAC defaults, project scope).
        pub const DEFAULT_RULES: &[VolumeRule] = &[
            $(VolumeRule { name: $name, check_str: $check, description: $desc },)*
        ];
    };
}

rules! {
    "admin_api" => ADMIN, "Administrative operations";
    "volume:create" => MEMBER, "Create a volume";
    "volume:create_from_image" => MEMBER, "Create a volume from an image";
    "volume:get" => READER, "Show a volume";
    "volume:get_all" => READER, "List volumes";
    "volume:update" => MEMBER, "Update a volume";
    "volume:delete" => MEMBER, "Delete a volume";
    "volume:extend" => MEMBER, "Extend an available volume";
    "volume:extend_attached_volume" => MEMBER, "Extend an in-use volume";
    "volume:retype" => MEMBER, "Retype a volume";
    "volume:multiattach" => MEMBER, "Create a multiattach volume";
    "volume_extension:volume_actions:upload_image" => MEMBER, "Upload a volume to an image";
    "volume:create_snapshot" => MEMBER, "Create a snapshot";
    "volume:get_snapshot" => READER, "Show a snapshot";
    "volume:get_all_snapshots" => READER, "List snapshots";
    "volume:update_snapshot" => MEMBER, "Update a snapshot";
    "volume:delete_snapshot" => MEMBER, "Delete a snapshot";
    "volume:attachment_create" => MEMBER, "Create an attachment";
    "volume:attachment_update" => MEMBER, "Update an attachment with a connector";
    "volume:attachment_complete" => MEMBER, "Mark an attachment complete";
    "volume:attachment_delete" => MEMBER, "Delete an attachment";
    "volume:attachment_get" => READER, "Show or list attachments";
    "volume_extension:types_manage" => ADMIN, "Create, update and delete volume types";
    "volume_extension:type_get" => "", "Show or list volume types";
    "volume_extension:quotas:show" => READER, "Show a project's quotas";
    "volume_extension:quotas:update" => ADMIN, "Update a project's quotas";
    "volume_extension:volume_admin_actions:force_delete" => ADMIN, "Force-delete a volume";
}

/// Checks that `ctx` may perform `rule` on `target` (a JSON object with at least
/// `project_id`). Unknown rules and unparsable check strings deny.
pub fn authorize(rule: &str, ctx: &RequestContext, target: &Value) -> Result<(), VolumeError> {
    let Some(r) = DEFAULT_RULES.iter().find(|r| r.name == rule) else {
        return Err(VolumeError::Forbidden(rule.to_owned()));
    };
    let creds = ctx.policy_credentials();
    match eval_str(r.check_str, &creds, target, 0) {
        Some(true) => Ok(()),
        _ => Err(VolumeError::Forbidden(rule.to_owned())),
    }
}

/// Whether `ctx` holds the admin role (Cinder's `context.is_admin`).
pub fn is_admin(ctx: &RequestContext) -> bool {
    ctx.has_role("admin")
}

fn eval_str(s: &str, creds: &Value, target: &Value, depth: usize) -> Option<bool> {
    if s.trim().is_empty() {
        return Some(true);
    }
    if depth > 8 {
        return None;
    }
    let tokens = tokenize(s);
    let mut p = Parser { tokens, pos: 0, creds, target, depth };
    let v = p.or()?;
    (p.pos == p.tokens.len()).then_some(v)
}

fn tokenize(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            // Parentheses inside a check (`%(project_id)s`) belong to it.
            '(' if !cur.is_empty() => cur.push(c),
            ')' if cur.matches('(').count() > cur.matches(')').count() => cur.push(c),
            '(' | ')' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                out.push(c.to_string());
            }
            c if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

struct Parser<'a> {
    tokens: Vec<String>,
    pos: usize,
    creds: &'a Value,
    target: &'a Value,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.pos).map(String::as_str)
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
        let tok = self.tokens.get(self.pos)?.clone();
        self.pos += 1;
        if tok == "(" {
            let v = self.or()?;
            if self.peek() != Some(")") {
                return None;
            }
            self.pos += 1;
            return Some(v);
        }
        match tok.as_str() {
            "@" => return Some(true),
            "!" => return Some(false),
            _ => {}
        }
        let (kind, match_) = tok.split_once(':')?;
        match kind {
            "role" => Some(self.creds["roles"].as_array().is_some_and(|r| {
                r.iter().any(|x| x.as_str().is_some_and(|x| x.eq_ignore_ascii_case(match_)))
            })),
            "rule" => {
                let r = DEFAULT_RULES.iter().find(|r| r.name == match_)?;
                eval_str(r.check_str, self.creds, self.target, self.depth + 1)
            }
            key => {
                let want =
                    if let Some(t) = match_.strip_prefix("%(").and_then(|m| m.strip_suffix(")s")) {
                        self.target.get(t).and_then(Value::as_str).map(str::to_owned)
                    } else {
                        Some(match_.to_owned())
                    };
                let have = self.creds.get(key).and_then(Value::as_str);
                Some(matches!((want, have), (Some(w), Some(h)) if w == h))
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
        let creds = admin.policy_credentials();
        for r in DEFAULT_RULES {
            assert_eq!(
                eval_str(r.check_str, &creds, &json!({"project_id": "x"}), 0),
                Some(true),
                "{}",
                r.name
            );
        }
        assert_eq!(eval_str("role:admin or (", &creds, &json!({}), 0), None);
    }
}
