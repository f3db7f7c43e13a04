// SPDX-License-Identifier: Apache-2.0
//! The oslo.policy rule language, compiled once and evaluated per request.
//!
//! Every OpenStack service authorises API calls with rules written in oslo.policy's language,
//! and deployments override them in `policy.yaml`/`policy.json`. This module reads the same
//! rules and gives the same answers as oslo.policy (checked against the real library by
//! `core/tests/policy_oslo_differential.rs` on tens of thousands of random rules, credentials
//! and targets), so that an operator's existing overrides keep working.
//!
//! # The language
//!
//! | rule | allows when |
//! |---|---|
//! | `""`, `@` | always (`""` is the empty rule; `[]` in the list form too) |
//! | `!` | never |
//! | `role:admin` | `creds["roles"]` contains `admin`, compared case-insensitively; the name may use `%(key)s` |
//! | `rule:admin_required` | the named rule allows; an unknown name is false |
//! | `project_id:%(project_id)s` | generic check: the dotted path on the left is looked up in the credentials and its `str()` compared with the right-hand side, interpolated from the target |
//! | `token.project.domain.id:%(target.domain_id)s` | the left-hand side is a dot path through nested credentials; a list on the way matches if any element does |
//! | `True:%(user.enabled)s`, `'member':%(role.name)s` | a Python literal on the left is compared as a literal (`str(True)` is `True`) |
//! | `not A`, `A and B`, `A or B`, `( … )` | precedence `not` > `and` > `or`; the keywords are case-insensitive |
//! | `http:…`, `https:…` | **not supported: always false** (oslo.policy would POST to a URL) |
//!
//! Details that matter for compatibility, all as in oslo.policy:
//!
//! * Tokens are split on whitespace; parentheses are peeled off the ends of each token, so
//!   `(role:a or role:b)` needs no spaces inside the parentheses, and parentheses *inside* a
//!   check (`a:%(x)s`) are kept.
//! * A rule that does not parse (unbalanced parentheses, a dangling `and`, a quoted string,
//!   nesting deeper than [`MAX_RULE_DEPTH`]) is `!`. Within a rule that parses, a check without
//!   a colon (`foo`) is a false check, so `not foo` is **true**. Whitespace-only rules deny.
//! * `%(key)s` takes `target[key]` literally: `%(target.domain_id)s` is the key
//!   `"target.domain_id"`, not a path (Keystone flattens its targets first, see
//!   [`flatten_target`]). A missing key makes that check false (and so `not` of it true). `%%`, `%r`
//!   and `%d`, flags, width and precision follow Python's `%` operator.
//! * `str()` is Python's: `true` in JSON compares equal to `True`, `null` to `None`, `1.0` to
//!   `1.0`, a dict to `{'a': 1}`.
//! * The legacy list-of-lists form (`[["role:admin"], ["role:member",
//!   "project_id:%(project_id)s"]]`) is an `or` of `and`s of single checks (no operators inside
//!   an element).
//!
//! Where oslo.policy raises an exception (a left-hand side that is not valid Python such as
//! `1a:x`, `roles` that are not strings, a path through a string, a `%d` of a string, a `rule:`
//! cycle), [`Rule::evaluate`] returns an [`EvalError`] and every enforcing entry point denies.
//! As in Python, the error surfaces only if evaluation reaches the check (`@ or 1a:x` allows).
//!
//! # Design
//!
//! * [`Rule::parse`] compiles the text with the same greedy shift-reduce as oslo.policy's
//!   `ParseState` (so that the tree, and `Display`, are identical to `str()` of oslo's), and
//!   pre-compiles each check: the `%`-format of its match and the classification of its
//!   left-hand side (a literal, a path, or invalid, as `ast.literal_eval` would decide).
//! * Evaluation is a walk over the tree, short-circuiting left to right like oslo.policy (the
//!   order matters because failures propagate). It allocates only when a match is interpolated
//!   or a non-string credential is compared.
//! * Nothing panics on any input, and nothing recurses without a bound: rules nest at most
//!   [`MAX_RULE_DEPTH`] deep, evaluation (with `rule:` hops) at most [`MAX_EVAL_DEPTH`], the
//!   credential walk is iterative.
//! * [`Policy`] is the enforcer: the defaults a service declares ([`RuleDefault`]), the
//!   deployment's overrides, and oslo's `Enforcer.enforce` behaviour around the rule (unknown
//!   rule names deny, `scope_types` are enforced, a truthy `system_scope` credential is also
//!   visible as `system`).
//!
//! Known differences from oslo.policy, all on inputs no real policy has: `http:`/`https:` are
//! false; the `%` conversions `x o c e f g` and widths over 1024 fail (deny); `repr()` of
//! non-ASCII characters uses an approximation of `str.isprintable`; a set literal of several
//! elements, a `\N{…}` escape or Python syntax such as comprehensions on the left-hand side of a
//! check never match or fail; integers beyond 64 bits in credentials are floats (serde_json).
//!
//! # Examples
//!
//! A service declares its defaults; the deployment overrides one; handlers authorise:
//!
//! ```
//! use ferrostack_core::policy::{Policy, RuleDefault};
//! use ferrostack_core::{RequestContext, ErrorKind, error::Classify};
//! use ferrostack_core::id::{ProjectId, UserId};
//! use serde_json::json;
//!
//! const DEFAULTS: &[RuleDefault] = &[
//!     RuleDefault::new("admin_required", "role:admin", "Administrators", &[]),
//!     RuleDefault::new(
//!         "project_member",
//!         "role:member and project_id:%(project_id)s",
//!         "Members of the owning project",
//!         &["project"],
//!     ),
//!     RuleDefault::new(
//!         "compute:servers:delete",
//!         "rule:admin_required or rule:project_member",
//!         "Delete a server",
//!         &["project"],
//!     ),
//! ];
//!
//! let policy = Policy::new(DEFAULTS)
//!     .with_overrides([("admin_required".to_owned(), "role:admin or role:cloud-admin".to_owned())]);
//!
//! let project = ProjectId::new();
//! let ctx = RequestContext::for_project(UserId::new(), project.clone(), &["Member"]);
//! let own = json!({"project_id": project.as_str()});
//! let other = json!({"project_id": ProjectId::new().as_str()});
//! assert!(policy.authorize("compute:servers:delete", &ctx, &own).is_ok());
//! let err = policy.authorize("compute:servers:delete", &ctx, &other).unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::Forbidden);
//! assert!(err.to_string().contains("compute:servers:delete"));
//! ```
//!
//! Rules straight from a policy file, and ad-hoc checks:
//!
//! ```
//! use ferrostack_core::policy::{Policy, Rule};
//! use serde_json::json;
//!
//! let policy = Policy::from_json_str(r#"{
//!     "owner": "user_id:%(user_id)s",
//!     "legacy": [["role:admin"], ["rule:owner", "True:%(enabled)s"]]
//! }"#).unwrap();
//! let creds = json!({"user_id": "u1", "roles": ["reader"]});
//! assert!(policy.enforce("legacy", &json!({"user_id": "u1", "enabled": true}), &creds));
//! assert!(!policy.enforce("legacy", &json!({"user_id": "u1", "enabled": false}), &creds));
//! assert!(!policy.enforce("no_such_rule", &json!({}), &creds));
//!
//! assert!(Policy::check_str("role:READER and not role:admin", &json!({}), &creds));
//! let rule = Rule::parse("role:a or role:b and not role:c");
//! assert_eq!(rule.to_string(), "(role:a or (role:b and not role:c))");
//! assert_eq!(Rule::parse("(role:a").to_string(), "!"); // unparsable: deny
//! ```

mod python;
mod rule;

pub use rule::{EvalError, MAX_EVAL_DEPTH, MAX_RULE_DEPTH, ParseError, Rule, RuleSet};

use crate::RequestContext;
use crate::error::{Classify, ErrorKind};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// A rule a service declares, with its default check string (as oslo.policy's `RuleDefault`
/// or `DocumentedRuleDefault`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleDefault {
    /// The rule's name, e.g. `identity:get_user` or `os_compute_api:servers:create`.
    pub name: &'static str,
    /// The default rule in the policy language.
    pub check_str: &'static str,
    /// What the rule protects, for generated documentation.
    pub description: &'static str,
    /// The token scopes the operation accepts (`"system"`, `"domain"`, `"project"`); empty
    /// means any. Enforced by [`Policy::enforce`] and [`Policy::authorize`], and kept when a
    /// deployment overrides the check string.
    pub scope_types: &'static [&'static str],
}

impl RuleDefault {
    /// A default, for `const` tables.
    pub const fn new(
        name: &'static str,
        check_str: &'static str,
        description: &'static str,
        scope_types: &'static [&'static str],
    ) -> Self {
        RuleDefault { name, check_str, description, scope_types }
    }
}

/// Why a policy could not be loaded, or why [`Policy::authorize`] refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The rule denied the request.
    #[error("{rule} is disallowed by policy")]
    Forbidden {
        /// The rule that denied.
        rule: String,
    },
    /// The operation does not accept the token's scope (`scope_types`).
    #[error("{rule} requires a token scoped to one of {allowed:?}, not a {scope}-scoped token")]
    InvalidScope {
        /// The rule.
        rule: String,
        /// The token's scope: `system`, `domain` or `project`.
        scope: &'static str,
        /// The scopes the rule accepts.
        allowed: Vec<&'static str>,
    },
    /// The rule could not be evaluated (oslo.policy would raise); the request is denied.
    #[error("{rule} is disallowed by policy: the rule failed to evaluate")]
    Evaluation {
        /// The rule.
        rule: String,
        /// Why evaluation failed.
        #[source]
        source: EvalError,
    },
    /// No rule has this name: a bug in the calling service (oslo.policy's
    /// `PolicyNotRegistered`).
    #[error("no policy rule named {rule}")]
    UnknownRule {
        /// The name asked for.
        rule: String,
    },
    /// A policy file is not a JSON object of rules.
    #[error("invalid policy file")]
    InvalidFile {
        /// The parse error.
        #[source]
        source: crate::BoxError,
    },
    /// A rule in a policy file is neither a string nor a list of lists.
    #[error("invalid policy rule {name}")]
    InvalidRule {
        /// The rule's name.
        name: String,
        /// What is wrong with it.
        #[source]
        source: ParseError,
    },
}

impl PolicyError {
    /// The rule the error is about, if any.
    pub fn rule(&self) -> Option<&str> {
        match self {
            PolicyError::Forbidden { rule }
            | PolicyError::InvalidScope { rule, .. }
            | PolicyError::Evaluation { rule, .. }
            | PolicyError::UnknownRule { rule } => Some(rule),
            PolicyError::InvalidRule { name, .. } => Some(name),
            PolicyError::InvalidFile { .. } => None,
        }
    }
}

impl Classify for PolicyError {
    fn kind(&self) -> ErrorKind {
        match self {
            PolicyError::Forbidden { .. }
            | PolicyError::InvalidScope { .. }
            | PolicyError::Evaluation { .. } => ErrorKind::Forbidden,
            PolicyError::UnknownRule { .. } => ErrorKind::Internal,
            PolicyError::InvalidFile { .. } | PolicyError::InvalidRule { .. } => {
                ErrorKind::InvalidInput
            }
        }
    }
}

/// A compiled set of named rules: a service's defaults plus a deployment's overrides.
///
/// Cheap to share (`Arc<Policy>`); every method takes `&self`.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    rules: HashMap<String, Rule>,
    defaults: Vec<RuleDefault>,
    scope_types: HashMap<String, &'static [&'static str]>,
    issues: BTreeMap<String, String>,
}

/// How one enforcement ended.
enum Decision {
    Allowed,
    Denied,
    Unknown,
    WrongScope(&'static str, &'static [&'static str]),
    Failed(EvalError),
}

impl Policy {
    /// A policy with a service's default rules. A later default with the same name replaces an
    /// earlier one.
    pub fn new(defaults: &[RuleDefault]) -> Policy {
        let mut policy = Policy { defaults: defaults.to_vec(), ..Policy::default() };
        for d in defaults {
            if policy.rules.contains_key(d.name) {
                tracing::warn!(rule = d.name, "policy default declared twice; the last one wins");
            }
            policy.insert_text(d.name.to_owned(), d.check_str);
            policy.scope_types.insert(d.name.to_owned(), d.scope_types);
        }
        policy
    }

    /// A policy with the rules of a policy file: a JSON object of names to rules, each a string
    /// in the policy language or a legacy list of lists (`policy.json`, or a `policy.yaml`
    /// converted to JSON).
    pub fn from_json_str(json: &str) -> Result<Policy, PolicyError> {
        Policy::default().with_overrides_json(json)
    }

    /// Adds or replaces rules with a deployment's overrides (name, rule in the policy
    /// language). An override keeps the `scope_types` of the default it replaces. An override
    /// that does not parse denies, as in oslo.policy; [`Policy::issues`] lists it.
    pub fn with_overrides(mut self, overrides: impl IntoIterator<Item = (String, String)>) -> Self {
        for (name, text) in overrides {
            self.insert_text(name, &text);
        }
        self
    }

    /// Adds or replaces rules with those of a policy file (see [`Policy::from_json_str`]).
    pub fn with_overrides_json(mut self, json: &str) -> Result<Self, PolicyError> {
        let value: Value = serde_json::from_str(json)
            .map_err(|e| PolicyError::InvalidFile { source: Box::new(e) })?;
        let Value::Object(map) = value else {
            return Err(PolicyError::InvalidFile {
                source: "a policy file must be a JSON object".into(),
            });
        };
        for (name, value) in map {
            match &value {
                Value::String(s) => self.insert_text(name, s),
                _ => {
                    let (rule, issue) = Rule::from_json_checked(&value).map_err(|source| {
                        PolicyError::InvalidRule { name: name.clone(), source }
                    })?;
                    match issue {
                        Some(reason) => self.issues.insert(name.clone(), reason),
                        None => self.issues.remove(&name),
                    };
                    self.rules.insert(name, rule);
                }
            }
        }
        Ok(self)
    }

    /// Adds or replaces one compiled rule.
    pub fn with_rule(mut self, name: impl Into<String>, rule: Rule) -> Self {
        let name = name.into();
        self.issues.remove(&name);
        self.rules.insert(name, rule);
        self
    }

    fn insert_text(&mut self, name: String, text: &str) {
        match Rule::try_parse(text) {
            Ok(rule) => {
                self.issues.remove(&name);
                self.rules.insert(name, rule);
            }
            Err(e) => {
                tracing::warn!(rule = %name, reason = %e.reason, "policy rule not fully understood; it denies where it fails");
                self.issues.insert(name.clone(), e.reason);
                self.rules.insert(name, Rule::parse(text));
            }
        }
    }

    /// The rule called `name`.
    pub fn rule(&self, name: &str) -> Option<&Rule> {
        self.rules.get(name)
    }

    /// The names of all rules, in no particular order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.rules.keys().map(String::as_str)
    }

    /// The defaults the policy was built from, for documentation and sample files.
    pub fn defaults(&self) -> &[RuleDefault] {
        &self.defaults
    }

    /// The `scope_types` declared for `name` (empty for rules without a default).
    pub fn scope_types(&self, name: &str) -> &'static [&'static str] {
        self.scope_types.get(name).copied().unwrap_or(&[])
    }

    /// Rules that oslo.policy would have logged as not understood (an unparsable rule, a check
    /// without a colon, an `http:` check, ...), with the reason: what `oslopolicy-validator`
    /// would flag. Such rules deny where they fail.
    pub fn issues(&self) -> impl Iterator<Item = (&str, &str)> {
        self.issues.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether the rule `name` allows `creds` to act on `target`, as oslo.policy's
    /// `Enforcer.enforce`: an unknown name denies; a rule with `scope_types` denies tokens of
    /// other scopes (`system` when `creds["system"]` or `creds["system_scope"]` is set, else
    /// `domain` when `creds["domain_id"]` is, else `project`); a failed evaluation denies.
    pub fn enforce(&self, name: &str, target: &Value, creds: &Value) -> bool {
        match self.decide(name, target, creds) {
            Decision::Allowed => true,
            Decision::Failed(e) => {
                tracing::warn!(rule = name, error = %e, "policy rule failed to evaluate; denying");
                false
            }
            _ => false,
        }
    }

    /// Like [`Policy::enforce`], telling a denial (`Ok(false)`, including unknown names and
    /// scope mismatches) from a rule that failed to evaluate (`Err`, where oslo.policy raises).
    pub fn evaluate(&self, name: &str, target: &Value, creds: &Value) -> Result<bool, EvalError> {
        match self.decide(name, target, creds) {
            Decision::Allowed => Ok(true),
            Decision::Failed(e) => Err(e),
            _ => Ok(false),
        }
    }

    /// Authorises the caller of an API operation: [`Policy::enforce`] with
    /// [`RequestContext::policy_credentials`]. A denial, a scope mismatch and a failed
    /// evaluation are errors of kind [`ErrorKind::Forbidden`] naming the rule; an unknown rule
    /// is a bug in the service ([`ErrorKind::Internal`]).
    pub fn authorize(
        &self,
        name: &str,
        ctx: &RequestContext,
        target: &Value,
    ) -> Result<(), PolicyError> {
        let creds = ctx.policy_credentials();
        let rule = name.to_owned();
        match self.decide(name, target, &creds) {
            Decision::Allowed => Ok(()),
            Decision::Denied => Err(PolicyError::Forbidden { rule }),
            Decision::Unknown => Err(PolicyError::UnknownRule { rule }),
            Decision::WrongScope(scope, allowed) => {
                Err(PolicyError::InvalidScope { rule, scope, allowed: allowed.to_vec() })
            }
            Decision::Failed(source) => {
                tracing::warn!(rule = name, error = %source, "policy rule failed to evaluate; denying");
                Err(PolicyError::Evaluation { rule, source })
            }
        }
    }

    /// Evaluates an ad-hoc rule in the policy language with no named rules (`rule:` checks
    /// are false). See [`Policy::check_expr`] to resolve them in a policy.
    pub fn check_str(rule: &str, target: &Value, creds: &Value) -> bool {
        Rule::parse(rule).check(&(), target, creds)
    }

    /// Evaluates an ad-hoc rule in the policy language, resolving `rule:` checks in this
    /// policy.
    pub fn check_expr(&self, rule: &str, target: &Value, creds: &Value) -> bool {
        Rule::parse(rule)
            .evaluate_aliased(self, target, creds, system_alias(creds))
            .unwrap_or(false)
    }

    fn decide(&self, name: &str, target: &Value, creds: &Value) -> Decision {
        let Some(rule) = self.rules.get(name) else {
            return Decision::Unknown;
        };
        let alias = system_alias(creds);
        let allowed = self.scope_types(name);
        if !allowed.is_empty() {
            let field = |k: &str| creds.get(k).is_some_and(python::truthy);
            let scope = if alias.is_some() || field("system") {
                "system"
            } else if field("domain_id") {
                "domain"
            } else {
                "project"
            };
            if !allowed.contains(&scope) {
                return Decision::WrongScope(scope, allowed);
            }
        }
        match rule.evaluate_aliased(self, target, creds, alias) {
            Ok(true) => Decision::Allowed,
            Ok(false) => Decision::Denied,
            Err(e) => Decision::Failed(e),
        }
    }
}

/// `Enforcer.enforce` sets `creds['system'] = creds['system_scope']` when the latter is truthy.
fn system_alias(creds: &Value) -> Option<&Value> {
    creds.get("system_scope").filter(|v| python::truthy(v))
}

impl RuleSet for Policy {
    fn rule(&self, name: &str) -> Option<&Rule> {
        self.rules.get(name)
    }
}

/// Flattens nested objects into dotted keys, as Keystone does to its policy targets
/// (`{"target": {"user": {"id": "u"}}}` becomes `{"target.user.id": "u"}`), so that rules can
/// say `%(target.user.id)s`. Lists and scalars are kept as they are; a non-object is returned
/// unchanged.
pub fn flatten_target(value: &Value) -> Value {
    let Value::Object(root) = value else {
        return value.clone();
    };
    let mut out = serde_json::Map::new();
    let mut pending: Vec<(String, &serde_json::Map<String, Value>)> = vec![(String::new(), root)];
    while let Some((prefix, map)) = pending.pop() {
        for (k, v) in map {
            let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            match v {
                Value::Object(inner) => pending.push((key, inner)),
                other => {
                    out.insert(key, other.clone());
                }
            }
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests;
