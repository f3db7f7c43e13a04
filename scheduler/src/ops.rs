// SPDX-License-Identifier: Apache-2.0
//! Small parsers and matchers shared by the filters: Nova's `extra_specs_ops.match`, the
//! hypervisor version predicate of `img_hv_requested_version`, architecture canonicalisation
//! and Python-compatible number parsing of aggregate metadata.

/// Nova's `extra_specs_ops.match(value, req)`: the first word of `req` is the operator.
///
/// | op | meaning |
/// |---|---|
/// | `=` | float `>=` (sic) |
/// | `==` `!=` `>=` `<=` | float compare |
/// | `s==` `s!=` `s<` `s<=` `s>` `s>=` | string compare |
/// | `<in>` | substring |
/// | `<all-in>` | all words present as substrings |
/// | `<or> a <or> b` | any of |
///
/// With no known operator the whole of `req` must equal `value`. A float operand that does
/// not parse makes the match fail (Nova raises `ValueError` there and the filter rejects).
pub fn spec_match(value: &str, req: &str) -> bool {
    let mut words = req.split_whitespace();
    let Some(op) = words.next() else {
        return value == req;
    };
    let known = matches!(
        op,
        "=" | "<in>"
            | "<all-in>"
            | "=="
            | "!="
            | ">="
            | "<="
            | "s=="
            | "s!="
            | "s<"
            | "s<="
            | "s>"
            | "s>="
            | "<or>"
    );
    if !known {
        return value == req;
    }
    if op == "<or>" {
        // "<or> a <or> b": the operands are every other word after the first.
        let rest: Vec<&str> = words.collect();
        let mut i = 0;
        loop {
            let Some(w) = rest.get(i) else {
                return false;
            };
            if *w == value {
                return true;
            }
            // skip the next "<or>"
            if i + 1 >= rest.len() {
                return false;
            }
            i += 2;
        }
    }
    if op == "<all-in>" {
        let rest: Vec<&str> = words.collect();
        if rest.is_empty() {
            return false;
        }
        return rest.iter().all(|w| value.contains(w));
    }
    let Some(operand) = words.next() else {
        return false;
    };
    match op {
        "<in>" => value.contains(operand),
        "s==" => value == operand,
        "s!=" => value != operand,
        "s<" => value < operand,
        "s<=" => value <= operand,
        "s>" => value > operand,
        "s>=" => value >= operand,
        _ => {
            let (Some(x), Some(y)) = (py_float(value), py_float(operand)) else {
                return false;
            };
            match op {
                "=" | ">=" => x >= y,
                "==" => x == y,
                "!=" => x != y,
                "<=" => x <= y,
                _ => false,
            }
        }
    }
}

/// Python's `float(s)`: surrounding whitespace, `inf`/`infinity`/`nan` in any case, and `_`
/// between digits are accepted. `None` where Python raises `ValueError`.
pub fn py_float(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    if t.contains('_') {
        let b = t.as_bytes();
        for (i, c) in b.iter().enumerate() {
            if *c == b'_' {
                let ok = i > 0
                    && i + 1 < b.len()
                    && b[i - 1].is_ascii_digit()
                    && b[i + 1].is_ascii_digit();
                if !ok {
                    return None;
                }
            }
        }
        return t.replace('_', "").parse().ok();
    }
    t.parse().ok()
}

/// Python's `int(s)` for decimal strings (whitespace, sign, `_` between digits).
pub fn py_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    if !digits.bytes().all(|c| c.is_ascii_digit() || c == b'_') {
        return None;
    }
    t.replace('_', "").parse().ok()
}

/// Python's `str()` of a float (`repr`): `4.0`, `1.5`, `1e+16`, `inf`, `nan`.
pub fn py_float_str(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let a = x.abs();
    if a != 0.0 && !(1e-4..1e16).contains(&a) {
        // Python switches to exponent form here; Rust's `{:e}` gives the shortest digits.
        let s = format!("{x:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        let sign = if e < 0 { '-' } else { '+' };
        return format!("{m}e{sign}{:02}", e.abs());
    }
    let s = format!("{x:?}");
    if s.contains('.') || s.contains('e') { s } else { format!("{s}.0") }
}

/// Nova's `Architecture.canonicalize`: lower case, `i386`..`x86_32p` → `i686`, `amd64` →
/// `x86_64`.
pub fn canonical_arch(a: &str) -> String {
    let a = a.to_ascii_lowercase();
    match a.as_str() {
        "i386" | "i486" | "i586" | "x86_32" | "x86_32p" => "i686".into(),
        "amd64" => "x86_64".into(),
        _ => a,
    }
}

/// Nova's `HVType.canonicalize`: lower case, `xapi` → `xen`.
pub fn canonical_hv_type(t: &str) -> String {
    let t = t.to_ascii_lowercase();
    if t == "xapi" { "xen".into() } else { t }
}

/// Nova's `VMMode.canonicalize`: lower case, legacy `hv`/`baremetal` → `hvm`, `pv` → `xen`.
pub fn canonical_vm_mode(m: &str) -> String {
    let m = m.to_ascii_lowercase();
    match m.as_str() {
        "hv" | "baremetal" => "hvm".into(),
        "pv" => "xen".into(),
        _ => m,
    }
}

/// Nova's integer hypervisor version as a dotted version, 3 digits per group
/// (`7002000` → `[7, 2, 0]`).
pub fn version_groups(v: u64) -> Vec<u64> {
    let mut parts = Vec::new();
    let mut v = v;
    while v != 0 {
        parts.insert(0, v % 1000);
        v /= 1000;
    }
    parts
}

fn version_tuple(s: &str) -> Option<Vec<u64>> {
    let mut t = s.split('.').map(|x| x.parse::<u64>().ok()).collect::<Option<Vec<_>>>()?;
    while t.len() > 1 && t.last() == Some(&0) {
        t.pop();
    }
    Some(t)
}

/// Whether the hypervisor `version` (Nova's integer form) satisfies `pred`, a comma-separated
/// list of `op version` clauses (`>= 7.0, < 9`). An unparsable predicate is not satisfied.
pub fn version_predicate_ok(pred: &str, version: u64) -> bool {
    let mut have = version_groups(version);
    while have.len() > 1 && have.last() == Some(&0) {
        have.pop();
    }
    for clause in pred.split(',') {
        let c = clause.trim();
        let (op, rest) = ["<=", ">=", "!=", "==", "<", ">"]
            .iter()
            .find_map(|op| c.strip_prefix(op).map(|r| (*op, r)))
            .unwrap_or(("", c));
        if op.is_empty() {
            return false;
        }
        let rest = rest.trim();
        if rest.is_empty() || rest.contains(char::is_whitespace) {
            return false;
        }
        let Some(want) = version_tuple(rest) else {
            return false;
        };
        let ord = have.as_slice().cmp(want.as_slice());
        let ok = match op {
            "<" => ord.is_lt(),
            "<=" => ord.is_le(),
            "==" => ord.is_eq(),
            ">" => ord.is_gt(),
            ">=" => ord.is_ge(),
            _ => ord.is_ne(),
        };
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_follow_extra_specs_ops() {
        assert!(spec_match("QEMU", "s== QEMU"));
        assert!(!spec_match("KVM", "s== QEMU"));
        assert!(spec_match("8002000", ">= 7002000"));
        assert!(!spec_match("6002000", ">= 7002000"));
        // "=" is >= (sic)
        assert!(spec_match("5", "= 3"));
        assert!(!spec_match("2", "= 3"));
        assert!(spec_match("gold", "<in> gold"));
        assert!(spec_match("goldfish", "<in> gold"));
        assert!(!spec_match("silver", "<in> gold"));
        assert!(spec_match("a b c", "<all-in> a c"));
        assert!(!spec_match("a b", "<all-in> a z"));
        assert!(spec_match("b", "<or> a <or> b"));
        assert!(!spec_match("c", "<or> a <or> b"));
        assert!(spec_match("true", "true"));
        assert!(!spec_match("True", "true"));
        assert!(spec_match("", ""));
        assert!(!spec_match("x", ">= notanumber"));
        assert!(!spec_match("1", ">="));
    }

    #[test]
    fn python_numbers() {
        assert_eq!(py_float(" 2.0 "), Some(2.0));
        assert_eq!(py_float("1_0"), Some(10.0));
        assert_eq!(py_float("_1"), None);
        assert_eq!(py_float("abc"), None);
        assert_eq!(py_int(" 5 "), Some(5));
        assert_eq!(py_int("2.5"), None);
        assert_eq!(py_float_str(4.0), "4.0");
        assert_eq!(py_float_str(1.5), "1.5");
        assert_eq!(py_float_str(1e16), "1e+16");
    }

    #[test]
    fn versions() {
        assert_eq!(version_groups(7002000), vec![7, 2, 0]);
        assert!(version_predicate_ok(">= 7.0", 7002000));
        assert!(version_predicate_ok(">= 7.2", 7002000));
        assert!(!version_predicate_ok(">= 7.3", 7002000));
        assert!(version_predicate_ok(">= 7.0, < 9", 8002000));
        assert!(!version_predicate_ok(">= 7.0, < 9", 9000000));
        assert!(version_predicate_ok("== 9.0.0", 9000000));
        assert!(!version_predicate_ok("bogus", 9000000));
    }

    #[test]
    fn canonical_names() {
        assert_eq!(canonical_arch("AMD64"), "x86_64");
        assert_eq!(canonical_arch("i386"), "i686");
        assert_eq!(canonical_vm_mode("HV"), "hvm");
        assert_eq!(canonical_hv_type("xapi"), "xen");
    }
}
