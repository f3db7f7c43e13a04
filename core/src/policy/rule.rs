// SPDX-License-Identifier: Apache-2.0
//! [`Rule`]: a compiled oslo.policy rule, its parser and its evaluator.

use super::python::{self, KindClass, Rendered, Template};
use serde_json::Value;
use std::fmt;

/// Deepest nesting of `not`/`and`/`or` a rule may have; a deeper rule is unparsable (deny).
pub const MAX_RULE_DEPTH: usize = 64;

/// Deepest evaluation nesting, counting both operators and `rule:` hops; a deeper evaluation
/// (for example a reference cycle) fails, which denies.
pub const MAX_EVAL_DEPTH: usize = 256;

/// Named rules that `rule:<name>` checks resolve against.
///
/// Implemented by [`Policy`](super::Policy), by maps of names to [`Rule`]s, and by `()` (no
/// rules: every reference is unknown and false).
pub trait RuleSet {
    /// The rule called `name`, if there is one.
    fn rule(&self, name: &str) -> Option<&Rule>;
}

impl RuleSet for () {
    fn rule(&self, _name: &str) -> Option<&Rule> {
        None
    }
}

impl<S: std::hash::BuildHasher> RuleSet for std::collections::HashMap<String, Rule, S> {
    fn rule(&self, name: &str) -> Option<&Rule> {
        self.get(name)
    }
}

impl RuleSet for std::collections::BTreeMap<String, Rule> {
    fn rule(&self, name: &str) -> Option<&Rule> {
        self.get(name)
    }
}

impl<T: RuleSet + ?Sized> RuleSet for &T {
    fn rule(&self, name: &str) -> Option<&Rule> {
        (**self).rule(name)
    }
}

/// Why a rule string is not a well-formed rule. [`Rule::parse`] never fails (it turns such a
/// rule, or such a check, into a denial as oslo.policy does); [`Rule::try_parse`] reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot parse policy rule {rule:?}: {reason}")]
pub struct ParseError {
    /// The rule text.
    pub rule: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Why evaluating a rule failed. Where oslo.policy would raise an exception, this port returns
/// an `EvalError`; [`Rule::check`] and [`Policy::enforce`](super::Policy::enforce) deny.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// The match could not be interpolated from the target (`%d` of a string, a `%` at the end,
    /// a second `%s`, a target that is not an object, ...).
    #[error("check `{check}`: cannot interpolate the target: {reason}")]
    Format {
        /// The check, as written.
        check: String,
        /// What went wrong.
        reason: String,
    },
    /// The left-hand side is neither a literal nor a valid expression (`1a:x`, `a..b:x`), a
    /// `SyntaxError` in oslo.policy.
    #[error("check `{check}`: invalid left-hand side: {reason}")]
    InvalidKind {
        /// The check, as written.
        check: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The left-hand side uses Python syntax this port does not model.
    #[error("check `{check}`: unsupported left-hand side ({what})")]
    Unsupported {
        /// The check, as written.
        check: String,
        /// Which construct.
        what: &'static str,
    },
    /// The credentials do not have the shape the check needs (a path going through a string or
    /// a number, `roles` that are not strings).
    #[error("check `{check}`: {reason}")]
    Credentials {
        /// The check, as written.
        check: String,
        /// What is wrong with the credentials.
        reason: String,
    },
    /// Evaluation nested deeper than [`MAX_EVAL_DEPTH`] (usually a `rule:` cycle).
    #[error("rule evaluation nested deeper than {MAX_EVAL_DEPTH} levels (a rule: cycle?)")]
    RecursionLimit,
}

/// A single `kind:match` check.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Leaf {
    kind: String,
    matcher: String,
    template: Template,
}

impl Leaf {
    fn new(kind: &str, matcher: &str) -> Leaf {
        Leaf {
            kind: kind.to_owned(),
            matcher: matcher.to_owned(),
            template: Template::compile(matcher),
        }
    }

    fn text(&self) -> String {
        format!("{}:{}", self.kind, self.matcher)
    }
}

/// How a generic check's left-hand side is used.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lhs {
    /// Compare the match with this literal's `str()`.
    Literal(String),
    /// A literal that compares unequal to everything.
    Opaque,
    /// A dotted path into the credentials.
    Path(Vec<String>),
    /// Evaluation fails (a `SyntaxError` in oslo.policy).
    Invalid(String),
    /// Evaluation fails (syntax this port does not model).
    Unsupported(&'static str),
}

/// A node of the check tree. Composite nodes carry their depth.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    True,
    False,
    Not(Box<Node>, usize),
    And(Vec<Node>, usize),
    Or(Vec<Node>, usize),
    Rule(String),
    Role(Leaf),
    Generic(Leaf, Lhs),
    /// `http:`/`https:`: not supported, always false.
    External(Leaf),
}

impl Node {
    fn depth(&self) -> usize {
        match self {
            Node::Not(_, d) | Node::And(_, d) | Node::Or(_, d) => *d,
            _ => 0,
        }
    }

    fn not(inner: Node) -> Result<Node, &'static str> {
        let d = inner.depth() + 1;
        if d > MAX_RULE_DEPTH {
            return Err("rule nests too deeply");
        }
        Ok(Node::Not(Box::new(inner), d))
    }

    fn and(items: Vec<Node>) -> Result<Node, &'static str> {
        let d = items.iter().map(Node::depth).max().unwrap_or(0) + 1;
        if d > MAX_RULE_DEPTH {
            return Err("rule nests too deeply");
        }
        Ok(Node::And(items, d))
    }

    fn or(items: Vec<Node>) -> Result<Node, &'static str> {
        let d = items.iter().map(Node::depth).max().unwrap_or(0) + 1;
        if d > MAX_RULE_DEPTH {
            return Err("rule nests too deeply");
        }
        Ok(Node::Or(items, d))
    }

    /// Appends to an `and`/`or` node, keeping its depth.
    fn push(&mut self, item: Node) -> Result<(), &'static str> {
        let needed = item.depth() + 1;
        if needed > MAX_RULE_DEPTH {
            return Err("rule nests too deeply");
        }
        match self {
            Node::And(items, d) | Node::Or(items, d) => {
                items.push(item);
                *d = (*d).max(needed);
            }
            _ => {}
        }
        Ok(())
    }
}

impl fmt::Display for Node {
    /// The form `str()` gives in oslo.policy: `(a and b)`, `(a or b)`, `not a`, `@`, `!`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>, items: &[Node], op: &str| {
            f.write_str("(")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(op)?;
                }
                write!(f, "{item}")?;
            }
            f.write_str(")")
        };
        match self {
            Node::True => f.write_str("@"),
            Node::False => f.write_str("!"),
            Node::Not(inner, _) => write!(f, "not {inner}"),
            Node::And(items, _) => join(f, items, " and "),
            Node::Or(items, _) => join(f, items, " or "),
            Node::Rule(name) => write!(f, "rule:{name}"),
            Node::Role(leaf) | Node::Generic(leaf, _) | Node::External(leaf) => {
                write!(f, "{}:{}", leaf.kind, leaf.matcher)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// One check as `_parse_check` reads it; the second value says what was wrong, if anything.
fn parse_check(text: &str) -> (Node, Option<String>) {
    match text {
        "!" => return (Node::False, None),
        "@" => return (Node::True, None),
        _ => {}
    }
    let Some((kind, matcher)) = text.split_once(':') else {
        return (Node::False, Some(format!("check {text:?} is not of the form kind:match")));
    };
    match kind {
        "rule" => (Node::Rule(matcher.to_owned()), None),
        "role" => (Node::Role(Leaf::new(kind, matcher)), None),
        "http" | "https" => (
            Node::External(Leaf::new(kind, matcher)),
            Some(format!("{kind}: checks are not supported (always false)")),
        ),
        _ => {
            let lhs = match python::classify_kind(kind) {
                KindClass::Literal(s) => Lhs::Literal(s),
                KindClass::Opaque => Lhs::Opaque,
                KindClass::Path => Lhs::Path(kind.split('.').map(str::to_owned).collect()),
                KindClass::Error(m) => Lhs::Invalid(m),
                KindClass::Unsupported(w) => Lhs::Unsupported(w),
            };
            let issue = match &lhs {
                Lhs::Invalid(m) => Some(format!("left-hand side {kind:?} is invalid: {m}")),
                Lhs::Unsupported(w) => Some(format!("left-hand side {kind:?} is unsupported: {w}")),
                _ => None,
            };
            (Node::Generic(Leaf::new(kind, matcher), lhs), issue)
        }
    }
}

/// The parser's tokens, as oslo.policy's `ParseState` stacks them.
enum Tok {
    LParen,
    RParen,
    And,
    Or,
    Not,
    Str,
    Check(Node),
    AndExpr(Node),
    OrExpr(Node),
}

/// The greedy shift-reduce of oslo.policy's `ParseState.reduce`, applied until nothing matches.
fn reduce(stack: &mut Vec<Tok>) -> Result<(), &'static str> {
    loop {
        let n = stack.len();
        if n >= 3 {
            let (a, b, c) = (&stack[n - 3], &stack[n - 2], &stack[n - 1]);
            let rule = match (a, b, c) {
                (Tok::LParen, Tok::Check(_) | Tok::AndExpr(_) | Tok::OrExpr(_), Tok::RParen) => 1,
                (Tok::Check(_), Tok::And, Tok::Check(_)) => 2,
                (Tok::AndExpr(_), Tok::And, Tok::Check(_)) => 3,
                (Tok::OrExpr(_), Tok::And, Tok::Check(_)) => 4,
                (Tok::Check(_) | Tok::AndExpr(_), Tok::Or, Tok::Check(_)) => 5,
                (Tok::OrExpr(_), Tok::Or, Tok::Check(_)) => 6,
                _ => 0,
            };
            if rule != 0 {
                let (Some(third), Some(second), Some(first)) =
                    (stack.pop(), stack.pop(), stack.pop())
                else {
                    return Err("parser stack underflow");
                };
                let value = |t: Tok| match t {
                    Tok::Check(n) | Tok::AndExpr(n) | Tok::OrExpr(n) => n,
                    _ => Node::False,
                };
                let new = match rule {
                    // "(" x ")" becomes a check.
                    1 => Tok::Check(value(second)),
                    2 => Tok::AndExpr(Node::and(vec![value(first), value(third)])?),
                    3 | 6 => {
                        let mut expr = value(first);
                        expr.push(value(third))?;
                        if rule == 3 { Tok::AndExpr(expr) } else { Tok::OrExpr(expr) }
                    }
                    4 => {
                        // `a or b and c`: the last operand of the `or` takes the `and`.
                        let Node::Or(mut items, depth) = value(first) else {
                            return Err("expected an or");
                        };
                        let joined = match items.pop().unwrap_or(Node::False) {
                            mut and @ Node::And(..) => {
                                and.push(value(third))?;
                                and
                            }
                            other => Node::and(vec![other, value(third)])?,
                        };
                        let depth = depth.max(joined.depth() + 1);
                        if depth > MAX_RULE_DEPTH {
                            return Err("rule nests too deeply");
                        }
                        items.push(joined);
                        Tok::OrExpr(Node::Or(items, depth))
                    }
                    _ => Tok::OrExpr(Node::or(vec![value(first), value(third)])?),
                };
                stack.push(new);
                continue;
            }
        }
        if n >= 2 && matches!((&stack[n - 2], &stack[n - 1]), (Tok::Not, Tok::Check(_))) {
            let Some(Tok::Check(inner)) = stack.pop() else { return Err("parser stack underflow") };
            stack.pop();
            stack.push(Tok::Check(Node::not(inner)?));
            continue;
        }
        return Ok(());
    }
}

fn shift(stack: &mut Vec<Tok>, tok: Tok) -> Result<(), &'static str> {
    stack.push(tok);
    reduce(stack)
}

/// Parses the policy language; the second value is the first problem found, if any.
pub(crate) fn parse_text(rule: &str) -> (Node, Option<String>) {
    if rule.is_empty() {
        return (Node::True, None);
    }
    let mut stack = Vec::new();
    let mut issue = None;
    let mut note = |m: String| {
        if issue.is_none() {
            issue = Some(m);
        }
    };
    for raw in rule.split(python::is_space).filter(|t| !t.is_empty()) {
        let tok = raw.trim_start_matches('(');
        let leading = raw.len() - tok.len();
        let result: Result<(), &'static str> = (|| {
            for _ in 0..leading {
                shift(&mut stack, Tok::LParen)?;
            }
            if tok.is_empty() {
                return Ok(());
            }
            let clean = tok.trim_end_matches(')');
            let trailing = tok.len() - clean.len();
            if clean.eq_ignore_ascii_case("and") {
                shift(&mut stack, Tok::And)?;
            } else if clean.eq_ignore_ascii_case("or") {
                shift(&mut stack, Tok::Or)?;
            } else if clean.eq_ignore_ascii_case("not") {
                shift(&mut stack, Tok::Not)?;
            } else if !clean.is_empty() {
                let mut chars = tok.chars();
                let quoted = match (chars.next(), chars.next_back()) {
                    (Some(first), Some(last)) => (first == '"' || first == '\'') && first == last,
                    _ => false,
                };
                if quoted {
                    note(format!("quoted string {tok} is not a check"));
                    shift(&mut stack, Tok::Str)?;
                } else {
                    let (node, problem) = parse_check(clean);
                    if let Some(p) = problem {
                        note(p);
                    }
                    shift(&mut stack, Tok::Check(node))?;
                }
            }
            for _ in 0..trailing {
                shift(&mut stack, Tok::RParen)?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            return (Node::False, Some(e.to_owned()));
        }
    }
    if stack.len() == 1
        && let Some(Tok::Check(node) | Tok::AndExpr(node) | Tok::OrExpr(node)) = stack.pop()
    {
        return (node, issue);
    }
    (Node::False, Some("could not parse rule".to_owned()))
}

/// The legacy list-of-lists form: the outer list is `or`, each inner list is `and`, a bare
/// string stands for a one-element list. Each element is a single check (no operators).
pub(crate) fn parse_list(outer: &[Value]) -> Result<(Node, Option<String>), String> {
    if outer.is_empty() {
        return Ok((Node::True, None));
    }
    let mut issue = None;
    let mut ors = Vec::new();
    for inner in outer {
        let items: Vec<&Value> = match inner {
            Value::String(s) if s.is_empty() => continue,
            Value::String(_) => vec![inner],
            Value::Array(a) if a.is_empty() => continue,
            Value::Array(a) => a.iter().collect(),
            other => {
                return Err(format!(
                    "a rule list may hold strings and lists of strings, not {other}"
                ));
            }
        };
        let mut ands = Vec::with_capacity(items.len());
        for item in items {
            let (node, problem) = match item {
                Value::String(s) => parse_check(s),
                other => (Node::False, Some(format!("{other} is not a check"))),
            };
            if issue.is_none() {
                issue = problem;
            }
            ands.push(node);
        }
        ors.push(if ands.len() == 1 {
            ands.pop().unwrap_or(Node::False)
        } else {
            Node::and(ands)?
        });
    }
    let node = match ors.len() {
        0 => Node::False,
        1 => ors.pop().unwrap_or(Node::False),
        _ => Node::or(ors)?,
    };
    Ok((node, issue))
}

// ---------------------------------------------------------------------------------------------
// Rule
// ---------------------------------------------------------------------------------------------

/// A compiled oslo.policy rule.
///
/// Parse once with [`Rule::parse`] (or [`Rule::from_json`] for a policy-file value), evaluate
/// many times with [`Rule::check`]. `Display` gives the same text as `str()` of the check tree
/// in oslo.policy, with explicit parentheses: `role:admin or (role:member and
/// project_id:%(project_id)s)` displays as `(role:admin or (role:member and
/// project_id:%(project_id)s))`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    root: Node,
}

impl Rule {
    /// Parses a rule in the policy language. Never fails: as in oslo.policy, a rule that cannot
    /// be parsed becomes `!` (deny), and a check that cannot be understood inside an otherwise
    /// valid rule becomes a false check. `""` allows.
    pub fn parse(text: &str) -> Rule {
        Rule { root: parse_text(text).0 }
    }

    /// Parses a rule, reporting what [`Rule::parse`] would silently turn into a denial: an
    /// unparsable rule, a check that is not `kind:match`, a quoted string, an invalid or
    /// unsupported left-hand side, an `http:` check.
    pub fn try_parse(text: &str) -> Result<Rule, ParseError> {
        match parse_text(text) {
            (root, None) => Ok(Rule { root }),
            (_, Some(reason)) => Err(ParseError { rule: text.to_owned(), reason }),
        }
    }

    /// A rule as a policy file gives it: a string in the policy language, or the legacy
    /// list-of-lists form (`[["role:admin"], ["role:member", "project_id:%(project_id)s"]]`:
    /// the outer list is `or`, the inner lists `and`; `[]` allows). Other JSON values are
    /// refused (oslo.policy would take `null`, `false`, `0` and `{}` as "allow").
    pub fn from_json(value: &Value) -> Result<Rule, ParseError> {
        Rule::from_json_checked(value).map(|(rule, _)| rule)
    }

    /// [`Rule::from_json`], also returning what [`Rule::try_parse`] would report.
    pub(crate) fn from_json_checked(value: &Value) -> Result<(Rule, Option<String>), ParseError> {
        let err = |reason: String| ParseError { rule: value.to_string(), reason };
        let (root, issue) = match value {
            Value::String(s) => parse_text(s),
            Value::Array(outer) => parse_list(outer).map_err(err)?,
            other => {
                return Err(err(format!("a rule is a string or a list of lists, not {other}")));
            }
        };
        Ok((Rule { root }, issue))
    }

    /// A rule that always allows (`@`).
    pub fn allow() -> Rule {
        Rule { root: Node::True }
    }

    /// A rule that always denies (`!`).
    pub fn deny() -> Rule {
        Rule { root: Node::False }
    }

    /// Whether the rule allows: `rule:<name>` checks resolve in `rules`, `%(key)s` are taken
    /// from `target`, everything else is looked up in `creds`. A failed evaluation
    /// ([`Rule::evaluate`] returning an error) denies.
    pub fn check<R: RuleSet + ?Sized>(&self, rules: &R, target: &Value, creds: &Value) -> bool {
        self.evaluate(rules, target, creds).unwrap_or(false)
    }

    /// Evaluates the rule, telling a denial (`Ok(false)`) from a failure: the cases where
    /// oslo.policy raises an exception (see [`EvalError`]).
    pub fn evaluate<R: RuleSet + ?Sized>(
        &self,
        rules: &R,
        target: &Value,
        creds: &Value,
    ) -> Result<bool, EvalError> {
        let env = Env { rules: &rules, target, creds, system_alias: None };
        env.eval(&self.root, 0)
    }

    pub(crate) fn evaluate_aliased(
        &self,
        rules: &dyn RuleSet,
        target: &Value,
        creds: &Value,
        system_alias: Option<&Value>,
    ) -> Result<bool, EvalError> {
        let env = Env { rules, target, creds, system_alias };
        env.eval(&self.root, 0)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.root.fmt(f)
    }
}

impl Default for Rule {
    /// The empty rule, which allows (as `""` does).
    fn default() -> Self {
        Rule::allow()
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------

struct Env<'a> {
    rules: &'a dyn RuleSet,
    target: &'a Value,
    creds: &'a Value,
    /// oslo.policy's `Enforcer.enforce` copies a truthy `system_scope` into `creds['system']`.
    system_alias: Option<&'a Value>,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

impl Env<'_> {
    fn eval(&self, node: &Node, depth: usize) -> Result<bool, EvalError> {
        if depth > MAX_EVAL_DEPTH {
            return Err(EvalError::RecursionLimit);
        }
        match node {
            Node::True => Ok(true),
            Node::False | Node::External(_) => Ok(false),
            Node::Not(inner, _) => Ok(!self.eval(inner, depth + 1)?),
            Node::And(items, _) => {
                for item in items {
                    if !self.eval(item, depth + 1)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Node::Or(items, _) => {
                for item in items {
                    if self.eval(item, depth + 1)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Node::Rule(name) => match self.rules.rule(name) {
                Some(rule) => self.eval(&rule.root, depth + 1),
                None => Ok(false),
            },
            Node::Role(leaf) => self.role(leaf),
            Node::Generic(leaf, lhs) => self.generic(leaf, lhs),
        }
    }

    fn render<'l>(&self, leaf: &'l Leaf) -> Result<Option<std::borrow::Cow<'l, str>>, EvalError> {
        match leaf.template.render(self.target) {
            Ok(Rendered::Text(t)) => Ok(Some(t)),
            Ok(Rendered::MissingKey) => Ok(None),
            Err(e) => Err(EvalError::Format { check: leaf.text(), reason: e.0 }),
        }
    }

    fn role(&self, leaf: &Leaf) -> Result<bool, EvalError> {
        let Some(wanted) = self.render(leaf)? else { return Ok(false) };
        let Some(roles) = self.creds.as_object().and_then(|c| c.get("roles")) else {
            return Ok(false);
        };
        let wanted = wanted.to_lowercase();
        let bad = |v: &Value| EvalError::Credentials {
            check: leaf.text(),
            reason: format!("roles must be strings, found a {}", type_name(v)),
        };
        match roles {
            Value::Array(items) => {
                // oslo lowercases every role before looking, so any non-string fails.
                if let Some(v) = items.iter().find(|v| !v.is_string()) {
                    return Err(bad(v));
                }
                Ok(items.iter().filter_map(Value::as_str).any(|r| r.to_lowercase() == wanted))
            }
            // Iterating a string gives its characters, a dict its keys.
            Value::String(s) => Ok(s.chars().any(|c| c.to_lowercase().eq(wanted.chars()))),
            Value::Object(map) => Ok(map.keys().any(|k| k.to_lowercase() == wanted)),
            other => Err(EvalError::Credentials {
                check: leaf.text(),
                reason: format!("roles must be a list, found a {}", type_name(other)),
            }),
        }
    }

    fn generic(&self, leaf: &Leaf, lhs: &Lhs) -> Result<bool, EvalError> {
        let Some(wanted) = self.render(leaf)? else { return Ok(false) };
        match lhs {
            Lhs::Literal(s) => Ok(*s == *wanted),
            Lhs::Opaque => Ok(false),
            Lhs::Invalid(reason) => {
                Err(EvalError::InvalidKind { check: leaf.text(), reason: reason.clone() })
            }
            Lhs::Unsupported(what) => Err(EvalError::Unsupported { check: leaf.text(), what }),
            Lhs::Path(path) => self.find(leaf, path, &wanted),
        }
    }

    /// oslo.policy's `_find_in_dict`, depth first and in order, without recursion: follow
    /// `path` through dicts; a list on the way matches if any element does; the value at the
    /// end matches if its `str()` equals `wanted`.
    fn find(&self, leaf: &Leaf, path: &[String], wanted: &str) -> Result<bool, EvalError> {
        let fail = |reason: String| EvalError::Credentials { check: leaf.text(), reason };
        // (value, number of path segments already consumed)
        let mut pending: Vec<(&Value, usize)> = vec![(self.creds, 0)];
        while let Some((value, used)) = pending.pop() {
            let Some(key) = path.get(used) else {
                if python::py_str_eq(value, wanted).map_err(|e| fail(e.0))? {
                    return Ok(true);
                }
                continue;
            };
            let Value::Object(map) = value else {
                return Err(fail(format!("cannot look up {key:?} in a {}", type_name(value))));
            };
            let next = match self.system_alias {
                Some(alias) if used == 0 && key == "system" => Some(alias),
                _ => map.get(key.as_str()),
            };
            match next {
                None => {}
                Some(Value::Array(items)) => {
                    pending.extend(items.iter().rev().map(|v| (v, used + 1)))
                }
                Some(v) => pending.push((v, used + 1)),
            }
        }
        Ok(false)
    }
}
