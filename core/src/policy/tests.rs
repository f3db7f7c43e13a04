// SPDX-License-Identifier: Apache-2.0
//! Unit tests of the policy language, one group per construct, and property tests.

use super::*;
use crate::id::{DomainId, ProjectId, UserId};
use serde_json::{Value, json};

fn creds() -> Value {
    json!({
        "user_id": "u1",
        "project_id": "p1",
        "domain_id": null,
        "roles": ["Member", "reader"],
        "is_admin": true,
        "enabled": false,
        "count": 3,
        "ratio": 1.5,
        "groups": ["g1", "g2"],
        "token": {
            "project": {"id": "p1", "domain": {"id": "d1"}},
            "roles": [{"name": "member"}, {"name": "reader"}],
            "tags": [["x"], "y"],
            "user": "not-a-dict"
        }
    })
}

fn target() -> Value {
    json!({
        "project_id": "p1",
        "other_project": "p2",
        "user_id": "u1",
        "target.domain_id": "d1",
        "role": "READER",
        "flag": true,
        "n": 3,
        "name": "member"
    })
}

/// Evaluates `rule` against the fixtures with no named rules.
fn eval(rule: &str) -> Result<bool, EvalError> {
    Rule::parse(rule).evaluate(&(), &target(), &creds())
}

fn allows(rule: &str) -> bool {
    let r = eval(rule);
    assert!(r.is_ok(), "{rule}: {r:?}");
    r.unwrap_or(false)
}

fn shows(rule: &str) -> String {
    Rule::parse(rule).to_string()
}

#[test]
fn special_rules() {
    assert!(allows(""));
    assert!(allows("@"));
    assert!(!allows("!"));
    // Whitespace alone is not the empty rule: nothing to reduce, so unparsable.
    assert!(!allows("   "));
    assert_eq!(shows(" \t "), "!");
    assert!(Rule::try_parse("   ").is_err());
    assert!(Rule::try_parse("").is_ok());
    assert_eq!(Rule::default().to_string(), "@");
    assert_eq!(Rule::deny().to_string(), "!");
}

#[test]
fn operators_and_precedence() {
    assert_eq!(shows("role:a or role:b and role:c"), "(role:a or (role:b and role:c))");
    assert_eq!(shows("role:a and role:b or role:c"), "((role:a and role:b) or role:c)");
    assert_eq!(shows("a:1 or b:2 and c:3 and d:4"), "(a:1 or (b:2 and c:3 and d:4))");
    assert_eq!(shows("a:1 and b:2 or c:3 and d:4"), "((a:1 and b:2) or (c:3 and d:4))");
    assert_eq!(shows("(a:1 or b:2) and c:3"), "((a:1 or b:2) and c:3)");
    assert_eq!(shows("((a:1))"), "a:1");
    // `not` binds tighter than and/or and applies to one check or parenthesis.
    assert_eq!(shows("not a:1 and b:2"), "(not a:1 and b:2)");
    assert_eq!(shows("not (a:1 and b:2)"), "not (a:1 and b:2)");
    assert_eq!(shows("a:1 or not not b:2"), "(a:1 or not not b:2)");
    // Keywords are case-insensitive; parentheses stick to tokens.
    assert_eq!(shows("(role:a OR role:b) AnD NOT role:c"), "((role:a or role:b) and not role:c)");
    assert!(allows("role:member and not role:admin"));
    assert!(!allows("not role:member"));
    assert!(allows("role:nope or @"));
    assert!(!allows("@ and !"));
    // Parentheses inside a check are kept; only the ends of a token are peeled.
    assert_eq!(shows("(a:%(x)s)"), "a:%(x)s");
}

#[test]
fn unparsable_rules_deny() {
    for bad in [
        "(role:a",
        "role:a)",
        "role:a and",
        "or role:a",
        "role:a role:b",
        "not",
        "()",
        "role:a and and role:b",
        "'quoted'",
        "role:a or \"x\"",
        "@ not",
    ] {
        assert_eq!(shows(bad), "!", "{bad}");
        assert!(Rule::try_parse(bad).is_err(), "{bad}");
        assert!(!allows(bad), "{bad}");
    }
    // A check without a colon is a false *check*: the rule around it still parses.
    assert_eq!(shows("foo or @"), "(! or @)");
    assert!(allows("not foo"));
    assert!(Rule::try_parse("not foo").is_err());
    assert_eq!(shows("'member':%(name)s"), "'member':%(name)s");
}

#[test]
fn deep_nesting_is_bounded() {
    let deep_not = format!("{}@", "not ".repeat(100_000));
    assert_eq!(shows(&deep_not), "!");
    let ok_not = format!("{}@", "not ".repeat(MAX_RULE_DEPTH));
    assert!(allows(&ok_not));
    let parens = format!("{}@{}", "(".repeat(100_000), ")".repeat(100_000));
    assert!(allows(&parens)); // parentheses alone add no depth
    let nested = format!("{}@{}", "(@ and not (".repeat(1000), "))".repeat(1000));
    assert_eq!(shows(&nested), "!");
    let long_chain = vec!["role:x or role:y and role:z"; 20_000].join(" or ");
    assert!(!allows(&long_chain));
}

#[test]
fn role_checks() {
    assert!(allows("role:member"));
    assert!(allows("role:MEMBER"));
    assert!(allows("role:Reader"));
    assert!(!allows("role:admin"));
    // Interpolated from the target, and lowercased after interpolation.
    assert!(allows("role:%(role)s"));
    // A missing key makes the check false (and `not` of it true, as in oslo.policy).
    assert!(!allows("role:%(nope)s"));
    assert!(allows("not role:%(nope)s"));
    let t = json!({});
    let check =
        |roles: Value, rule: &str| Rule::parse(rule).evaluate(&(), &t, &json!({ "roles": roles }));
    assert_eq!(check(json!("admin"), "role:a"), Ok(true)); // a string is iterated
    assert_eq!(check(json!({"Admin": 1}), "role:admin"), Ok(true)); // a dict's keys
    assert_eq!(check(json!(["ΑΣ"]), "role:ας"), Ok(true)); // full Unicode lowercasing
    assert!(check(json!(["admin", 1]), "role:admin").is_err()); // oslo calls .lower()
    assert!(check(json!(null), "role:admin").is_err());
    assert_eq!(Rule::parse("role:admin").evaluate(&(), &t, &json!({})), Ok(false));
}

#[test]
fn generic_checks() {
    assert!(allows("user_id:u1"));
    assert!(allows("project_id:%(project_id)s"));
    assert!(!allows("project_id:%(other_project)s"));
    assert!(allows("token.project.domain.id:%(target.domain_id)s"));
    assert!(allows("token.roles.name:reader")); // a list on the way: any element
    assert!(allows("groups:g2"));
    assert!(allows("token.tags:y"));
    assert!(allows("token.tags:['x']")); // str() of a nested list
    assert!(allows("is_admin:True"));
    assert!(allows("enabled:False"));
    assert!(allows("count:3"));
    assert!(allows("count:%(n)s"));
    assert!(allows("ratio:1.5"));
    assert!(allows("domain_id:None"));
    assert!(!allows("nope:x"));
    assert!(!allows("token.nope.id:x"));
    assert!(!allows("user_id:%(missing)s"));
    assert!(allows("not user_id:%(missing)s"));
    // Keys with colons: only the first colon splits.
    assert_eq!(shows("a:b:c"), "a:b:c");
    // A path through a string or a number fails, as in Python (TypeError).
    assert!(eval("token.user.id:x").is_err());
    assert!(eval("count.x:1").is_err());
    // `%` formatting follows Python.
    assert!(allows("user_id:%(user_id)s"));
    assert!(allows("count:%(n)d"));
    assert!(eval("count:%(user_id)d").is_err());
    assert!(eval("user_id:u1%").is_err());
    assert!(!allows("user_id:u%%1"));
    assert!(Policy::check_str("a:50%%", &json!({}), &json!({"a": "50%"})));
}

#[test]
fn literal_left_hand_sides() {
    assert!(allows("True:%(flag)s"));
    assert!(!allows("False:%(flag)s"));
    assert!(allows("'member':%(name)s"));
    assert!(allows("\"member\":%(name)s"));
    assert!(allows("3:%(n)s"));
    assert!(allows("0x3:%(n)s"));
    assert!(!allows("'member':%(missing)s"));
    // Not Python: raises in oslo.policy, fails here.
    assert!(matches!(eval("1a:x"), Err(EvalError::InvalidKind { .. })));
    assert!(matches!(eval("a..b:x"), Err(EvalError::InvalidKind { .. })));
    assert!(matches!(eval("token.class:x"), Err(EvalError::InvalidKind { .. })));
    // ... but only when evaluation gets there.
    assert!(allows("@ or 1a:x"));
    assert!(!allows("1a:%(missing)s"));
    // Valid Python that is not a literal is a path.
    assert!(!allows("project-id:x"));
}

#[test]
fn rule_references() {
    let rules: std::collections::HashMap<String, Rule> = [
        ("admin", "role:admin"),
        ("member", "role:member and project_id:%(project_id)s"),
        ("either", "rule:admin or rule:member"),
        ("loop", "rule:loop"),
        ("ping", "rule:pong"),
        ("pong", "not rule:ping"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), Rule::parse(v)))
    .collect();
    let ev = |r: &str| Rule::parse(r).evaluate(&rules, &target(), &creds());
    assert_eq!(ev("rule:either"), Ok(true));
    assert_eq!(ev("rule:admin"), Ok(false));
    assert_eq!(ev("rule:unknown"), Ok(false));
    assert_eq!(ev("not rule:unknown"), Ok(true));
    assert_eq!(ev("rule:loop"), Err(EvalError::RecursionLimit));
    assert_eq!(ev("rule:ping"), Err(EvalError::RecursionLimit));
    assert_eq!(ev("@ or rule:loop"), Ok(true));
    assert!(!Rule::parse("rule:loop").check(&rules, &target(), &creds()));
}

#[test]
fn http_checks_are_false() {
    assert!(!allows("http://example.invalid/%(project_id)s"));
    assert!(!allows("https://example.invalid"));
    assert!(allows("not http://example.invalid"));
    assert!(Rule::try_parse("http://x").is_err());
}

#[test]
fn list_of_lists() {
    let rule = |v: Value| Rule::from_json(&v).unwrap();
    let both = rule(json!([["role:admin"], ["role:member", "project_id:%(project_id)s"]]));
    assert_eq!(both.to_string(), "(role:admin or (role:member and project_id:%(project_id)s))");
    assert!(both.check(&(), &target(), &creds()));
    assert_eq!(rule(json!([])).to_string(), "@");
    assert_eq!(rule(json!([[]])).to_string(), "!");
    assert_eq!(rule(json!(["role:a", ["role:b"]])).to_string(), "(role:a or role:b)");
    assert_eq!(rule(json!([["role:a", 1]])).to_string(), "(role:a and !)");
    // Elements are single checks: no operators inside.
    assert_eq!(rule(json!([["role:a or role:b"]])).to_string(), "role:a or role:b");
    assert!(Rule::from_json(&json!(null)).is_err());
    assert!(Rule::from_json(&json!([1])).is_err());
    assert_eq!(rule(json!("role:a")).to_string(), "role:a");
}

const DEFAULTS: &[RuleDefault] = &[
    RuleDefault::new("admin_required", "role:admin", "Admins", &[]),
    RuleDefault::new(
        "project_member",
        "role:member and project_id:%(project_id)s",
        "Members",
        &["project"],
    ),
    RuleDefault::new(
        "system_reader",
        "role:reader and system_scope:all",
        "System readers",
        &["system"],
    ),
    RuleDefault::new(
        "system_flag",
        "role:reader and system:all",
        "System, the old way",
        &["system"],
    ),
    RuleDefault::new("anyone", "", "Anybody", &[]),
];

#[test]
fn policy_enforce_and_overrides() {
    let policy = Policy::new(DEFAULTS);
    assert!(policy.enforce("project_member", &target(), &creds()));
    assert!(!policy.enforce("admin_required", &target(), &creds()));
    assert!(!policy.enforce("no_such_rule", &target(), &creds()));
    assert!(policy.enforce("anyone", &target(), &creds()));
    assert_eq!(policy.scope_types("project_member"), &["project"]);
    assert_eq!(policy.defaults().len(), DEFAULTS.len());
    assert!(policy.issues().next().is_none());

    let policy = policy.with_overrides([
        ("admin_required".to_owned(), "role:admin or role:member".to_owned()),
        ("project_member".to_owned(), "(broken".to_owned()),
        ("extra".to_owned(), "rule:admin_required".to_owned()),
    ]);
    assert!(policy.enforce("admin_required", &target(), &creds()));
    assert!(policy.enforce("extra", &target(), &creds()));
    assert!(!policy.enforce("project_member", &target(), &creds()));
    assert_eq!(policy.issues().map(|(n, _)| n).collect::<Vec<_>>(), ["project_member"]);
    // Overrides keep the default's scope types.
    assert_eq!(policy.scope_types("project_member"), &["project"]);
    assert!(Policy::check_str("role:reader", &json!({}), &creds()));
    assert!(!Policy::check_str("rule:admin_required", &json!({}), &creds()));
    assert!(policy.check_expr("rule:admin_required", &json!({}), &creds()));
}

#[test]
fn policy_scope_types() {
    let policy = Policy::new(DEFAULTS);
    let system = json!({"roles": ["reader"], "system_scope": "all"});
    let domain = json!({"roles": ["member"], "domain_id": "d1", "project_id": "p1"});
    assert!(policy.enforce("system_reader", &json!({}), &system));
    // `system_scope` is also visible as `system`, as oslo's Enforcer copies it.
    assert!(policy.enforce("system_flag", &json!({}), &system));
    assert!(!policy.enforce("system_reader", &json!({}), &creds())); // project scope
    assert!(!policy.enforce("project_member", &json!({"project_id": "p1"}), &domain));
    assert!(!policy.enforce("project_member", &json!({"project_id": "p1"}), &system));
}

#[test]
fn policy_authorize_with_request_context() {
    let policy = Policy::new(DEFAULTS);
    let project = ProjectId::new();
    let ctx = RequestContext::for_project(UserId::new(), project.clone(), &["Member"]);
    let own = json!({"project_id": project.as_str()});
    assert!(policy.authorize("project_member", &ctx, &own).is_ok());

    let err =
        policy.authorize("project_member", &ctx, &json!({"project_id": "elsewhere"})).unwrap_err();
    assert!(matches!(err, PolicyError::Forbidden { .. }));
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    assert_eq!(err.rule(), Some("project_member"));
    assert_eq!(err.to_string(), "project_member is disallowed by policy");

    let err = policy.authorize("system_reader", &ctx, &own).unwrap_err();
    assert!(matches!(err, PolicyError::InvalidScope { scope: "project", .. }), "{err}");
    assert_eq!(err.kind(), ErrorKind::Forbidden);

    let err = policy.authorize("nope", &ctx, &own).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);

    let admin = RequestContext::internal("test");
    assert!(policy.authorize("system_reader", &admin, &json!({})).is_ok());
    assert!(policy.authorize("system_flag", &admin, &json!({})).is_ok());

    let broken = policy.with_overrides([("anyone".to_owned(), "1a:x".to_owned())]);
    let err = broken.authorize("anyone", &ctx, &own).unwrap_err();
    assert!(matches!(err, PolicyError::Evaluation { .. }));
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    let _ = DomainId::default_domain();
}

#[test]
fn policy_files() {
    let policy = Policy::from_json_str(
        r#"{"a": "role:member", "b": [["rule:a", "user_id:%(user_id)s"]], "c": "foo", "d": [["bar"]]}"#,
    )
    .unwrap();
    assert!(policy.enforce("b", &target(), &creds()));
    let issues: Vec<_> = policy.issues().map(|(n, _)| n).collect();
    assert_eq!(issues, ["c", "d"]);
    let mut names: Vec<_> = policy.names().collect();
    names.sort_unstable();
    assert_eq!(names, ["a", "b", "c", "d"]);
    for bad in ["[]", "{", r#"{"a": 1}"#, r#"{"a": null}"#, r#"{"a": [true]}"#] {
        let err = Policy::from_json_str(bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad}");
    }
    let merged = Policy::new(DEFAULTS).with_overrides_json(r#"{"admin_required": "@"}"#).unwrap();
    assert!(merged.enforce("admin_required", &json!({}), &json!({})));
}

#[test]
fn flatten_target_joins_keys() {
    let flat =
        flatten_target(&json!({"target": {"user": {"id": "u", "tags": [{"a": 1}]}}, "x": 1}));
    assert_eq!(flat, json!({"target.user.id": "u", "target.user.tags": [{"a": 1}], "x": 1}));
    assert_eq!(flatten_target(&json!([1])), json!([1]));
    let rule = Rule::parse("user_id:%(target.user.id)s");
    assert!(rule.check(&(), &flat, &json!({"user_id": "u"})));
}

#[test]
fn context_credentials_work_with_keystone_style_rules() {
    let project = ProjectId::new();
    let user = UserId::new();
    let ctx = RequestContext::for_project(user.clone(), project.clone(), &["reader", "member"]);
    let creds = ctx.policy_credentials();
    let t = json!({"project_id": project.as_str(), "user_id": user.as_str(), "target.project.domain_id": "default"});
    for rule in [
        "role:reader and project_id:%(project_id)s",
        "user_id:%(user_id)s",
        "token.project.domain.id:%(target.project.domain_id)s",
        "token.roles.name:member",
    ] {
        let ok = Rule::parse(rule).evaluate(&(), &t, &creds);
        assert_eq!(ok, Ok(true), "{rule}");
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn leaf() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("@".to_owned()),
            Just("!".to_owned()),
            "(role|rule|user_id|token\\.project\\.id|True|'m'|1a|http):[a-zA-Z%()._]{0,8}",
            "[a-z]{1,4}",
        ]
    }

    fn expr() -> impl Strategy<Value = String> {
        leaf().prop_recursive(6, 48, 4, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} and {b}")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} OR {b}")),
                inner.clone().prop_map(|a| format!("not {a}")),
                inner.prop_map(|a| format!("({a})")),
            ]
        })
    }

    proptest! {
        #![proptest_config(crate::testing::proptest_config(1000))]

        /// Parsing and evaluating arbitrary text never panics.
        #[test]
        fn arbitrary_strings_never_panic(s in "\\PC{0,200}") {
            let rule = Rule::parse(&s);
            let _ = rule.to_string();
            let _ = rule.evaluate(&(), &target(), &creds());
            let _ = Rule::try_parse(&s);
        }

        /// Text made mostly of the language's own tokens never panics either.
        #[test]
        #[cfg_attr(miri, ignore)]
        fn token_soup_never_panics(s in "([()@! ]|and|or|not|role:|rule:|%\\(|\\)s|[a-z.:'\"%0-9]){0,80}") {
            let rule = Rule::parse(&s);
            let _ = rule.evaluate(&(), &target(), &creds());
            let _ = Rule::from_json(&json!([[s.clone(), s]]));
        }

        /// `Display` gives oslo's `str()`, which parses back to the same tree.
        #[test]
        fn display_round_trips(s in expr()) {
            let rule = Rule::parse(&s);
            prop_assert_eq!(Rule::parse(&rule.to_string()), rule);
        }
    }
}
