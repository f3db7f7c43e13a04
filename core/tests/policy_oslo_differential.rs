// SPDX-License-Identifier: Apache-2.0
//! Differential test: Ferrostack's policy engine against the real oslo.policy.
//!
//! Generates random policies (every construct of the language, nesting, `not`, `rule:`
//! references to other generated rules and to unknown ones, role checks in mixed case, generic
//! checks on dotted and list-valued credentials, literal left-hand sides, `%(key)s` with present
//! and missing keys, `@`, `!`, the empty rule, the legacy list-of-lists form, and deliberately
//! broken rules), random credentials and targets, and evaluates each case both with
//! [`Policy::evaluate`] and with oslo.policy's `Enforcer.enforce` in one Python process
//! (`core/tests/oslo_policy_driver.py`). Both the verdicts (allow, deny, or failed evaluation:
//! an exception in Python) and the parsed trees (`str()` of oslo's checks against our
//! `Display`) must agree on every case.
//!
//! Prerequisite: the venv `venv-oslo-policy` (`scripts/test-env/oslo-policy.sh`).
//! `FERROSTACK_POLICY_CASES` (default 12000) and `FERROSTACK_POLICY_SEED` change the run.
//! Needs the `testing` feature of ferrostack-core (on in workspace test runs).
#![cfg(feature = "testing")]

use ferrostack_core::policy::Policy;
use ferrostack_core::testing::{prerequisite, venv_python};
use serde_json::{Map, Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

/// SplitMix64: small, seedable, good enough to spread cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
}

const RULE_NAMES: &[&str] = &["r0", "r1", "r2", "r3", "r4"];
const REF_NAMES: &[&str] = &["r0", "r1", "r2", "r3", "r4", "r5", "unknown", "", "R0"];
const ROLES: &[&str] = &[
    "admin", "member", "reader", "service", "Member", "ADMIN", "ReAdEr", "Service", "ΑΣ", "ας",
    "straße", "STRASSE", "a", "d", "m",
];
const PATHS: &[&str] = &[
    "user_id",
    "project_id",
    "domain_id",
    "system_scope",
    "system",
    "is_admin",
    "enabled",
    "count",
    "ratio",
    "none",
    "groups",
    "roles",
    "token",
    "token.project.id",
    "token.project.domain.id",
    "token.roles.name",
    "token.tags",
    "token.user",
    "token.user.id",
    "nested.list.x",
    "nested.list",
    "missing",
    "missing.deep",
    "token.nope.x",
    "project-id",
    "a.b()",
    "a[0]",
    "a!=b",
    "é",
    "_",
    "True.x",
    "(token)",
];
const LITERAL_KINDS: &[&str] = &[
    "True",
    "False",
    "None",
    "'member'",
    "\"admin\"",
    "1",
    "3",
    "0x3",
    "1.5",
    "-1",
    "1e16",
    "b'x'",
    "(1,)",
    "[1,'a']",
    "set()",
    "{}",
    "...",
    "'a''b'",
    "u'x'",
    "r'\\d'",
    "1j",
    "-0j",
    "1+2j",
    "3.0",
    "0o3",
    "1_0",
    "'it''s'",
    "{'a'}",
];
const INVALID_KINDS: &[&str] = &[
    "1a",
    "a..b",
    "token.class",
    "x.True",
    "a$b",
    "01",
    "'abc",
    "not",
    "lambda",
    "€",
    "a.1",
    "1.x",
    "",
    "a?",
    "a=1",
    "in",
];
const TARGET_KEYS: &[&str] = &[
    "project_id",
    "user_id",
    "target.domain_id",
    "role",
    "flag",
    "n",
    "name",
    "obj",
    "lst",
    "f",
    "none",
    "missing",
    "target.missing",
    "",
];
const LITERAL_MATCHES: &[&str] = &[
    "u1",
    "p1",
    "p2",
    "d1",
    "True",
    "False",
    "None",
    "3",
    "3.0",
    "1.5",
    "g1",
    "all",
    "member",
    "reader",
    "['x']",
    "{'a': 1}",
    "x",
    "y",
    "1",
    "Member",
    "(1,)",
    "[1, 'a']",
    "b'x'",
    "ab",
    "inf",
    "(1+2j)",
    "(-0-0j)",
    "1j",
    "set()",
    "{}",
    "Ellipsis",
    "10",
    "\\d",
    "it's",
    "{'a'}",
    "[{'x': 1}, {'x': '2'}, [1]]",
];
const SPACES: &[&str] = &[" ", " ", " ", " ", "  ", "\t", "\n", "\u{3000}", "\u{a0}", "\u{1c}"];

struct Gen {
    rng: Rng,
}

impl Gen {
    fn space(&mut self) -> &'static str {
        self.rng.pick(SPACES)
    }

    fn keyword(&mut self, kw: &str) -> String {
        match self.rng.below(6) {
            0 => kw.to_uppercase(),
            1 => {
                let mut c = kw.chars();
                c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
            }
            _ => kw.to_owned(),
        }
    }

    /// The right-hand side of a check, without whitespace.
    fn matcher(&mut self) -> String {
        let key = self.rng.pick(TARGET_KEYS);
        let key2 = self.rng.pick(TARGET_KEYS);
        match self.rng.below(20) {
            0..=6 => self.rng.pick(LITERAL_MATCHES).to_owned(),
            7..=12 => format!("%({key})s"),
            13 => format!("%({key})r"),
            14 => format!("%({key})d"),
            15 => self.rng.pick(&[
                format!("x-%({key})s-y"),
                format!("%({key})s%%"),
                format!("%({key})5s"),
                format!("%({key}).1s"),
                format!("%({key})-3s|"),
                format!("%({key})05d"),
                format!("%({key})s%({key2})s"),
            ]),
            16 => self.rng.pick(&[
                "%s".to_owned(),
                "%s%s".to_owned(),
                format!("%s%({key})s"),
                format!("%({key})s%s"),
                "%%s".to_owned(),
            ]),
            17 => self.rng.pick(&[
                format!("%({key}"),
                "%q".to_owned(),
                format!("%({key})q"),
                "50%".to_owned(),
                format!("%({key})"),
                format!("%({key})%"),
                format!("%({key})*s"),
            ]),
            18 => String::new(),
            _ => self.rng.pick(ROLES).to_owned(),
        }
    }

    fn role(&mut self) -> String {
        match self.rng.below(10) {
            0 => format!("role:%({})s", self.rng.pick(&["role", "name", "missing", "n"])),
            1 => "role:".to_owned(),
            _ => format!("role:{}", self.rng.pick(ROLES)),
        }
    }

    /// One check, as a single token (no whitespace).
    fn leaf(&mut self) -> String {
        match self.rng.below(40) {
            0..=1 => "@".to_owned(),
            2 => "!".to_owned(),
            3..=10 => self.role(),
            11..=15 => format!("rule:{}", self.rng.pick(REF_NAMES)),
            16..=25 => format!("{}:{}", self.rng.pick(PATHS), self.matcher()),
            26..=31 => format!("{}:{}", self.rng.pick(LITERAL_KINDS), self.matcher()),
            32..=33 => format!("{}:{}", self.rng.pick(INVALID_KINDS), self.matcher()),
            34 => self.rng.pick(&["http://example.invalid/%(n)s", "https:x", "HTTP:x"]).to_owned(),
            35 => self
                .rng
                .pick(&["foo", "'quoted'", "\"q\"", "''", "'", "x'", "role", ":"])
                .to_owned(),
            36 => self
                .rng
                .pick(&["role:a:b", "rule:r0:x", "a:b:c", "Role:admin", "RULE:r0"])
                .to_owned(),
            _ => format!("{}:{}", self.rng.pick(PATHS), self.rng.pick(LITERAL_MATCHES)),
        }
    }

    fn expr(&mut self, depth: usize) -> String {
        if depth == 0 || self.rng.chance(35) {
            return self.leaf();
        }
        match self.rng.below(10) {
            0..=2 => {
                let n = 2 + self.rng.below(3);
                let op = if self.rng.chance(50) { "and" } else { "or" };
                let parts: Vec<String> = (0..n).map(|_| self.expr(depth - 1)).collect();
                let mut out = parts[0].clone();
                for p in &parts[1..] {
                    let mixed = if self.rng.chance(30) {
                        if op == "and" { "or" } else { "and" }
                    } else {
                        op
                    };
                    let kw = self.keyword(mixed);
                    out = format!("{out}{}{kw}{}{p}", self.space(), self.space());
                }
                out
            }
            3..=4 => {
                let kw = self.keyword("not");
                format!("{kw}{}{}", self.space(), self.expr(depth - 1))
            }
            5..=7 => {
                let inner = self.expr(depth - 1);
                if self.rng.chance(50) {
                    format!("({inner})")
                } else {
                    format!("({}{inner}{})", self.space(), self.space())
                }
            }
            _ => {
                let a = self.expr(depth - 1);
                let b = self.expr(depth - 1);
                let op = if self.rng.chance(50) { "and" } else { "or" };
                let kw = self.keyword(op);
                format!("{a}{}{kw}{}{b}", self.space(), self.space())
            }
        }
    }

    /// Breaks a rule in one of the ways people do.
    fn corrupt(&mut self, rule: String) -> String {
        match self.rng.below(8) {
            0 => rule.replacen('(', "", 1),
            1 => rule.replacen(')', "", 1),
            2 => format!("{rule} and"),
            3 => format!("or {rule}"),
            4 => format!("{rule} ()"),
            5 => format!("{rule} {}", self.leaf()),
            6 => format!("{rule} not"),
            _ => format!("({rule}"),
        }
    }

    fn text_rule(&mut self) -> String {
        match self.rng.below(40) {
            0 => String::new(),
            1 => self.rng.pick(&[" ", "\t", "@", "!", "()", "not", "(@)", "((!))"]).to_owned(),
            2..=5 => {
                let r = self.expr(4);
                self.corrupt(r)
            }
            _ => {
                let depth = 1 + self.rng.below(5);
                self.expr(depth)
            }
        }
    }

    /// A list-of-lists rule; its elements are single checks and may contain spaces.
    fn list_rule(&mut self) -> Value {
        let outer = self.rng.below(4);
        let mut items = Vec::new();
        for _ in 0..outer {
            let element = match self.rng.below(10) {
                0..=2 => json!(self.leaf()),
                3 => json!(""),
                4 => json!([]),
                _ => {
                    let n = 1 + self.rng.below(3);
                    let mut inner = Vec::new();
                    for _ in 0..n {
                        inner.push(match self.rng.below(12) {
                            0 => json!(1),
                            1 => json!(null),
                            2 => json!(format!("{} or {}", self.leaf(), self.leaf())),
                            3 => json!(["role:admin"]),
                            _ => json!(self.leaf()),
                        });
                    }
                    Value::Array(inner)
                }
            };
            items.push(element);
        }
        Value::Array(items)
    }

    fn roles(&mut self) -> Value {
        let n = self.rng.below(4);
        let list: Vec<Value> = (0..n).map(|_| json!(self.rng.pick(ROLES))).collect();
        match self.rng.below(30) {
            0 => json!("admin"),
            1 => json!({"Admin": 1, "reader": 2}),
            2 => json!(["admin", 1]),
            3 => json!(null),
            4 => json!(["member", ["x"]]),
            _ => Value::Array(list),
        }
    }

    fn creds(&mut self) -> Value {
        let mut c = Map::new();
        let put = |g: &mut Gen, c: &mut Map<String, Value>, key: &str, options: &[Value]| {
            if g.rng.chance(85) {
                c.insert(key.to_owned(), g.rng.pick(options));
            }
        };
        put(self, &mut c, "user_id", &[json!("u1"), json!("u2")]);
        put(self, &mut c, "project_id", &[json!("p1"), json!("p2"), json!(null)]);
        put(self, &mut c, "domain_id", &[json!(null), json!("d1"), json!("")]);
        put(self, &mut c, "system_scope", &[json!("all"), json!(""), json!(null), json!(true)]);
        if self.rng.chance(20) {
            c.insert(
                "system".into(),
                self.rng.pick(&[json!("all"), json!(true), json!({"all": true})]),
            );
        }
        put(
            self,
            &mut c,
            "is_admin",
            &[json!(true), json!(false), json!(1), json!(0), json!("True")],
        );
        put(self, &mut c, "enabled", &[json!(true), json!(false)]);
        put(self, &mut c, "count", &[json!(3), json!(3.0), json!("3"), json!(10)]);
        put(self, &mut c, "ratio", &[json!(1.5), json!(1e16), json!(-0.0), json!(f64::MAX)]);
        put(self, &mut c, "none", &[json!(null)]);
        put(
            self,
            &mut c,
            "groups",
            &[json!(["g1", "g2"]), json!([]), json!([["x"]]), json!([{"a": 1}]), json!("g1")],
        );
        put(
            self,
            &mut c,
            "nested",
            &[
                json!({"list": [{"x": 1}, {"x": "2"}, [1]]}),
                json!({"list": [{"x": "member"}]}),
                json!([]),
            ],
        );
        put(self, &mut c, "a", &[json!({"b": 1}), json!("ab")]);
        put(self, &mut c, "é", &[json!("member"), json!(1)]);
        put(self, &mut c, "True", &[json!({"x": "member"})]);
        if self.rng.chance(90) {
            let roles = self.roles();
            c.insert("roles".into(), roles);
        }
        if self.rng.chance(85) {
            let token_roles: Vec<Value> =
                (0..self.rng.below(3)).map(|_| json!({"name": self.rng.pick(ROLES)})).collect();
            let user = self.rng.pick(&[
                json!("not-a-dict"),
                json!({"id": "u1"}),
                json!([{"id": "u1"}, "x"]),
            ]);
            c.insert(
                "token".into(),
                json!({
                    "project": {"id": self.rng.pick(&["p1", "p2"]), "domain": {"id": self.rng.pick(&["d1", "default"])}},
                    "roles": token_roles,
                    "tags": self.rng.pick(&[json!([["x"], "y"]), json!(["x", "y"]), json!("y")]),
                    "user": user,
                }),
            );
        }
        Value::Object(c)
    }

    fn target(&mut self) -> Value {
        let mut t = Map::new();
        let options: Vec<(&str, Vec<Value>)> = vec![
            ("project_id", vec![json!("p1"), json!("p2")]),
            ("user_id", vec![json!("u1"), json!("u2")]),
            ("target.domain_id", vec![json!("d1"), json!("default")]),
            ("role", ROLES.iter().map(|r| json!(r)).collect()),
            ("flag", vec![json!(true), json!(false)]),
            ("n", vec![json!(3), json!(3.5), json!(-7), json!("3"), json!(true)]),
            ("name", vec![json!("member"), json!("x y"), json!("it's")]),
            ("obj", vec![json!({"a": 1}), json!({"b": [1, "x"]})]),
            ("lst", vec![json!([1, "a"]), json!([])]),
            ("f", vec![json!(1.5), json!(1e16), json!(-0.0), json!(0.0001)]),
            ("none", vec![json!(null)]),
            ("", vec![json!("empty-key")]),
        ];
        for (key, values) in options {
            if self.rng.chance(80) {
                t.insert(key.to_owned(), self.rng.pick(&values));
            }
        }
        Value::Object(t)
    }

    fn case(&mut self) -> Value {
        let mut rules = Map::new();
        let count = self.rng.below(RULE_NAMES.len() + 1);
        for name in &RULE_NAMES[..count] {
            let rule = if self.rng.chance(10) { self.list_rule() } else { json!(self.text_rule()) };
            rules.insert((*name).to_owned(), rule);
        }
        let name = if self.rng.chance(90) && count > 0 {
            RULE_NAMES[self.rng.below(count)].to_owned()
        } else {
            self.rng.pick(&["r5", "unknown", ""]).to_owned()
        };
        json!({"rules": rules, "name": name, "target": self.target(), "creds": self.creds()})
    }
}

/// Our side of one case: the verdict and `Display` of each rule.
fn ferrostack(case: &Value) -> (Value, Map<String, Value>) {
    let policy = match Policy::from_json_str(&case["rules"].to_string()) {
        Ok(p) => p,
        Err(e) => return (json!(format!("load error: {e}")), Map::new()),
    };
    let name = case["name"].as_str().unwrap_or_default();
    let verdict = match policy.evaluate(name, &case["target"], &case["creds"]) {
        Ok(b) => json!(b),
        Err(_) => json!("error"),
    };
    let strs = policy
        .names()
        .map(|n| (n.to_owned(), json!(policy.rule(n).map(|r| r.to_string()))))
        .collect();
    (verdict, strs)
}

#[test]
fn policy_engine_agrees_with_oslo_policy() {
    let python = venv_python("oslo-policy");
    if !prerequisite(
        python.is_some(),
        "policy_engine_agrees_with_oslo_policy",
        "the oslo.policy venv",
        "run scripts/test-env/oslo-policy.sh",
    ) {
        return;
    }
    let python = python.unwrap_or_default();
    let cases_wanted: usize = std::env::var("FERROSTACK_POLICY_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12_000);
    let seed: u64 = std::env::var("FERROSTACK_POLICY_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x0510_90c1);
    let start = Instant::now();

    let mut generator = Gen { rng: Rng(seed) };
    let cases: Vec<Value> = (0..cases_wanted).map(|_| generator.case()).collect();

    let driver = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oslo_policy_driver.py");
    let mut child = Command::new(&python)
        .arg(driver)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the oslo.policy driver");
    let mut stdin = child.stdin.take().expect("driver stdin");
    let input: String = cases.iter().map(|c| format!("{c}\n")).collect();
    if let Ok(path) = std::env::var("FERROSTACK_POLICY_DUMP") {
        std::fs::write(path, &input).expect("dump cases");
    }
    let writer = std::thread::spawn(move || {
        stdin.write_all(input.as_bytes()).expect("write cases");
    });
    // Our side runs while oslo.policy works through the same cases.
    let (ours, answers, python_done) = std::thread::scope(|scope| {
        let ours = scope.spawn(|| cases.iter().map(ferrostack).collect::<Vec<_>>());
        let stdout = BufReader::new(child.stdout.take().expect("driver stdout"));
        let answers: Vec<Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(&l.expect("read verdict")).expect("verdict JSON"))
            .collect();
        let python_done = start.elapsed();
        (ours.join().expect("ferrostack thread"), answers, python_done)
    });
    writer.join().expect("writer thread");
    assert!(child.wait().expect("driver exit").success(), "the oslo.policy driver failed");
    assert_eq!(answers.len(), cases.len(), "the driver answered every case");

    let mut mismatches = Vec::new();
    let mut tally = std::collections::BTreeMap::<String, usize>::new();
    for ((case, answer), (verdict, strs)) in cases.iter().zip(&answers).zip(ours) {
        *tally.entry(verdict.to_string()).or_default() += 1;
        let theirs = answer["strs"].as_object().cloned().unwrap_or_default();
        if verdict != answer["verdict"] || strs != theirs {
            mismatches.push(format!(
                "case {case}\n  oslo.policy: {} {}\n  ferrostack:  {verdict} {}",
                answer["verdict"],
                Value::Object(theirs),
                Value::Object(strs)
            ));
        }
    }
    let elapsed = start.elapsed();
    println!(
        "oslo.policy differential: {} cases compared (seed {seed:#x}), {} mismatches, verdicts {tally:?}, \
         {:.1} s (oslo.policy done after {:.1} s)",
        cases.len(),
        mismatches.len(),
        elapsed.as_secs_f64(),
        python_done.as_secs_f64(),
    );
    for m in mismatches.iter().take(10) {
        println!("{m}");
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} cases disagree with oslo.policy",
        mismatches.len(),
        cases.len()
    );
}
