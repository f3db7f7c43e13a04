// SPDX-License-Identifier: Apache-2.0
//! The small pieces of Python that oslo.policy's semantics lean on, re-done in Rust:
//!
//! * [`is_space`]: what `re.split(r'\s+')` splits rule text on (Python's `str.isspace`);
//! * [`Template`]: `match % target`, printf-style formatting with a mapping;
//! * [`py_str`] / [`py_repr`]: `str()` and `repr()` of JSON values as Python sees them
//!   (`True`, `None`, `{'a': [1, 'x']}`, `1e+16`);
//! * [`classify_kind`]: what `ast.literal_eval(kind)` does with the left-hand side of a generic
//!   check: a literal (`True`, `'member'`, `1`), a valid non-literal expression (a credentials
//!   path such as `token.project.id`, `ValueError` in Python), or a syntax error (Python raises).
//!
//! Everything here is total: malformed input gives an error value, never a panic, and every
//! recursion is bounded.

use serde_json::Value;
use std::fmt::Write as _;

/// Python's `str.isspace()`, which is what `\s` matches in a `str` regular expression.
pub(crate) fn is_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n'
            | '\u{0b}'
            | '\u{0c}'
            | '\r'
            | '\u{1c}'..='\u{1f}'
            | ' '
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
    )
}

/// Nesting beyond which `repr()` of a value gives up (Python would hit its recursion limit at
/// roughly 1000; JSON parsed by serde_json is at most 128 deep anyway).
const MAX_VALUE_DEPTH: usize = 256;

/// Why a Python operation would have raised (the evaluator turns it into a denial).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PyError(pub(crate) String);

impl PyError {
    fn new(msg: impl Into<String>) -> Self {
        PyError(msg.into())
    }
}

// ---------------------------------------------------------------------------------------------
// str() and repr()
// ---------------------------------------------------------------------------------------------

/// `repr(float)` (and `str(float)`): the shortest round-tripping digits, in positional notation
/// when the decimal exponent is in `-4 <= e < 16`, else `1e+16` style. With `add_dot_0` an
/// integral value gets `.0`, as for floats; complex parts are formatted without it.
pub(crate) fn float_repr(x: f64, add_dot_0: bool) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // Rust's `{:e}` prints the shortest round-trip digits: "-1.2345e-7", "1e16", "0e0".
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exp: i64 = exp.parse().unwrap_or(0);
    let decpt = exp + 1;
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if decpt <= -4 || decpt > 16 {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let e = decpt - 1;
        let _ = write!(out, "e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    } else if decpt <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', decpt.unsigned_abs() as usize));
        out.push_str(&digits);
    } else {
        let d = decpt as usize;
        if digits.len() <= d {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', d - digits.len()));
            if add_dot_0 {
                out.push_str(".0");
            }
        } else {
            out.push_str(&digits[..d]);
            out.push('.');
            out.push_str(&digits[d..]);
        }
    }
    out
}

/// `repr(complex(re, im))`.
fn complex_repr(re: f64, im: f64) -> String {
    let imag = float_repr(im, false);
    if re == 0.0 && re.is_sign_positive() {
        return format!("{imag}j");
    }
    let sign = if imag.starts_with('-') { "" } else { "+" };
    format!("({}{sign}{imag}j)", float_repr(re, false))
}

/// Whether Python's `str.isprintable()` holds for a non-ASCII character. An approximation
/// without the Unicode tables: control, format, separator (other than space), private-use,
/// surrogate and non-character code points are non-printable; unassigned ones are taken as
/// printable (Python escapes them).
fn is_printable_non_ascii(c: char) -> bool {
    let u = c as u32;
    !(matches!(
        u,
        0x80..=0xa0
            | 0xad
            | 0x600..=0x605
            | 0x61c
            | 0x6dd
            | 0x70f
            | 0x890..=0x891
            | 0x8e2
            | 0x1680
            | 0x180e
            | 0x2000..=0x200f
            | 0x2028..=0x202f
            | 0x205f..=0x2064
            | 0x2066..=0x206f
            | 0x3000
            | 0xd800..=0xf8ff
            | 0xfdd0..=0xfdef
            | 0xfeff
            | 0xfff9..=0xfffb
            | 0x110bd
            | 0x110cd
            | 0x13430..=0x1343f
            | 0x1bca0..=0x1bca3
            | 0x1d173..=0x1d17a
            | 0xe0001
            | 0xe0020..=0xe007f
            | 0xf0000..
    ) || u & 0xfffe == 0xfffe)
}

/// `repr(str)`, or `ascii(str)` with `ascii_only`.
pub(crate) fn repr_str(s: &str, ascii_only: bool, out: &mut String) {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c == '\x7f' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_ascii() => out.push(c),
            c if ascii_only || !is_printable_non_ascii(c) => {
                let u = c as u32;
                let _ = if u < 0x100 {
                    write!(out, "\\x{u:02x}")
                } else if u < 0x10000 {
                    write!(out, "\\u{u:04x}")
                } else {
                    write!(out, "\\U{u:08x}")
                };
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// `repr(bytes)`.
fn repr_bytes(b: &[u8], out: &mut String) {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') { b'"' } else { b'\'' };
    out.push('b');
    out.push(quote as char);
    for &c in b {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c as char);
            }
            0x20..=0x7e => out.push(c as char),
            c => {
                let _ = write!(out, "\\x{c:02x}");
            }
        }
    }
    out.push(quote as char);
}

fn number_str(n: &serde_json::Number) -> String {
    if n.is_f64() { float_repr(n.as_f64().unwrap_or(0.0), true) } else { n.to_string() }
}

fn write_repr(v: &Value, ascii_only: bool, depth: usize, out: &mut String) -> Result<(), PyError> {
    if depth > MAX_VALUE_DEPTH {
        return Err(PyError::new("maximum recursion depth exceeded while getting the repr"));
    }
    match v {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => out.push_str(&number_str(n)),
        Value::String(s) => repr_str(s, ascii_only, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(item, ascii_only, depth + 1, out)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                repr_str(k, ascii_only, out);
                out.push_str(": ");
                write_repr(item, ascii_only, depth + 1, out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// Python's `str(value)` for a JSON value (as `json.loads` would have built it).
pub(crate) fn py_str(v: &Value) -> Result<String, PyError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        other => py_repr(other, false),
    }
}

/// Python's `repr(value)` (`ascii(value)` with `ascii_only`).
pub(crate) fn py_repr(v: &Value, ascii_only: bool) -> Result<String, PyError> {
    let mut out = String::new();
    write_repr(v, ascii_only, 0, &mut out)?;
    Ok(out)
}

/// Whether `str(v) == s`, without building `str(v)` for the common string case.
pub(crate) fn py_str_eq(v: &Value, s: &str) -> Result<bool, PyError> {
    match v {
        Value::String(x) => Ok(x == s),
        Value::Null => Ok(s == "None"),
        Value::Bool(b) => Ok(s == if *b { "True" } else { "False" }),
        other => Ok(py_repr(other, false)? == s),
    }
}

/// Python truthiness of a JSON value.
pub(crate) fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

// ---------------------------------------------------------------------------------------------
// printf-style formatting: `match % target`
// ---------------------------------------------------------------------------------------------

/// Largest width or precision honoured; beyond it the format is refused (Python would build a
/// string that large).
const MAX_WIDTH: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conv {
    Str,
    Repr,
    Ascii,
    Int,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Spec {
    conv: Conv,
    left: bool,
    zero: bool,
    plus: bool,
    space: bool,
    width: usize,
    precision: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Lit(String),
    /// `%(key)…`: the key is looked up first (a missing key makes the check false), then the
    /// rest of the specification applies (or raises).
    Key(String, Result<Spec, PyError>),
    /// `%s` with no key: formats the whole target, once.
    Positional(Result<Spec, PyError>),
    /// A malformed format that raises when reached.
    Fail(PyError),
}

/// The right-hand side of a check, compiled once: `match % target` in Python.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    ops: Vec<Op>,
}

/// The outcome of interpolating a [`Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rendered<'a> {
    /// The interpolated string.
    Text(std::borrow::Cow<'a, str>),
    /// A `%(key)s` named a key the target does not have: the check is false.
    MissingKey,
}

impl Template {
    /// Compiles a format string the way `PyUnicode_Format` reads it.
    pub(crate) fn compile(fmt: &str) -> Template {
        let mut ops = Vec::new();
        if !fmt.contains('%') {
            ops.push(Op::Lit(fmt.to_owned()));
            return Template { ops };
        }
        let chars: Vec<char> = fmt.chars().collect();
        let mut lit = String::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            if c != '%' {
                lit.push(c);
                continue;
            }
            if chars.get(i) == Some(&'%') {
                lit.push('%');
                i += 1;
                continue;
            }
            if !lit.is_empty() {
                ops.push(Op::Lit(std::mem::take(&mut lit)));
            }
            let mut key = None;
            if chars.get(i) == Some(&'(') {
                i += 1;
                let start = i;
                let mut depth = 1usize;
                while i < chars.len() && depth > 0 {
                    match chars[i] {
                        ')' => depth -= 1,
                        '(' => depth += 1,
                        _ => {}
                    }
                    i += 1;
                }
                if depth > 0 {
                    ops.push(Op::Fail(PyError::new("incomplete format key")));
                    return Template { ops };
                }
                key = Some(chars[start..i - 1].iter().collect::<String>());
            }
            let spec = parse_spec(&chars, &mut i);
            let failed = spec.is_err();
            ops.push(match key {
                Some(k) => Op::Key(k, spec),
                None => Op::Positional(spec),
            });
            if failed {
                return Template { ops };
            }
        }
        if !lit.is_empty() {
            ops.push(Op::Lit(lit));
        }
        Template { ops }
    }

    /// Whether the template has no conversion at all (its text is used as is).
    pub(crate) fn literal(&self) -> Option<&str> {
        match self.ops.as_slice() {
            [] => Some(""),
            [Op::Lit(s)] => Some(s),
            _ => None,
        }
    }

    /// `fmt % target`.
    pub(crate) fn render<'a>(&'a self, target: &Value) -> Result<Rendered<'a>, PyError> {
        if let Some(s) = self.literal() {
            return Ok(Rendered::Text(std::borrow::Cow::Borrowed(s)));
        }
        let mut out = String::new();
        let mut consumed = false;
        for op in &self.ops {
            match op {
                Op::Lit(s) => out.push_str(s),
                Op::Fail(e) => return Err(e.clone()),
                Op::Key(key, spec) => {
                    let Value::Object(map) = target else {
                        return Err(PyError::new("format requires a mapping"));
                    };
                    let Some(v) = map.get(key) else {
                        return Ok(Rendered::MissingKey);
                    };
                    let spec = spec.as_ref().map_err(Clone::clone)?;
                    format_value(v, spec, &mut out)?;
                    consumed = true;
                }
                Op::Positional(spec) => {
                    let spec = spec.as_ref().map_err(Clone::clone)?;
                    if consumed {
                        return Err(PyError::new("not enough arguments for format string"));
                    }
                    consumed = true;
                    format_value(target, spec, &mut out)?;
                }
            }
        }
        Ok(Rendered::Text(std::borrow::Cow::Owned(out)))
    }
}

fn parse_number(chars: &[char], i: &mut usize) -> Result<usize, PyError> {
    let mut n: usize = 0;
    while let Some(d) = chars.get(*i).and_then(|c| c.to_digit(10)) {
        n = n.saturating_mul(10).saturating_add(d as usize);
        *i += 1;
    }
    if n > MAX_WIDTH {
        return Err(PyError::new("width or precision too big"));
    }
    Ok(n)
}

fn parse_spec(chars: &[char], i: &mut usize) -> Result<Spec, PyError> {
    let mut spec = Spec {
        conv: Conv::Str,
        left: false,
        zero: false,
        plus: false,
        space: false,
        width: 0,
        precision: None,
    };
    let incomplete = || PyError::new("incomplete format");
    loop {
        match chars.get(*i) {
            Some('-') => spec.left = true,
            Some('+') => spec.plus = true,
            Some(' ') => spec.space = true,
            Some('#') => {}
            Some('0') => spec.zero = true,
            _ => break,
        }
        *i += 1;
    }
    match chars.get(*i) {
        Some('*') => return Err(PyError::new("* wants int")),
        Some(c) if c.is_ascii_digit() => spec.width = parse_number(chars, i)?,
        _ => {}
    }
    if chars.get(*i) == Some(&'.') {
        *i += 1;
        if chars.get(*i) == Some(&'*') {
            return Err(PyError::new("* wants int"));
        }
        spec.precision = Some(parse_number(chars, i)?);
    }
    if matches!(chars.get(*i), Some('h' | 'l' | 'L')) {
        *i += 1;
    }
    let Some(&c) = chars.get(*i) else {
        return Err(incomplete());
    };
    *i += 1;
    spec.conv = match c {
        's' => Conv::Str,
        'r' => Conv::Repr,
        'a' => Conv::Ascii,
        'd' | 'i' | 'u' => Conv::Int,
        'x' | 'X' | 'o' | 'c' | 'e' | 'E' | 'f' | 'F' | 'g' | 'G' => {
            return Err(PyError::new(format!("format character '{c}' is not supported")));
        }
        c => return Err(PyError::new(format!("unsupported format character '{c}'"))),
    };
    Ok(spec)
}

fn pad(body: &str, spec: &Spec, out: &mut String) {
    let len = body.chars().count();
    let fill = spec.width.saturating_sub(len);
    if spec.left {
        out.push_str(body);
        out.extend(std::iter::repeat_n(' ', fill));
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(body);
    }
}

fn format_value(v: &Value, spec: &Spec, out: &mut String) -> Result<(), PyError> {
    match spec.conv {
        Conv::Str | Conv::Repr | Conv::Ascii => {
            let mut s = match spec.conv {
                Conv::Str => py_str(v)?,
                Conv::Repr => py_repr(v, false)?,
                _ => py_repr(v, true)?,
            };
            if let Some(p) = spec.precision
                && let Some((idx, _)) = s.char_indices().nth(p)
            {
                s.truncate(idx);
            }
            pad(&s, spec, out);
        }
        Conv::Int => {
            let (negative, digits) = match v {
                Value::Bool(b) => (false, if *b { "1".to_owned() } else { "0".to_owned() }),
                Value::Number(n) if n.is_f64() => {
                    let t = n.as_f64().unwrap_or(0.0).trunc();
                    if t == 0.0 {
                        (false, "0".to_owned())
                    } else {
                        (t < 0.0, format!("{:.0}", t.abs()))
                    }
                }
                Value::Number(n) => {
                    let s = n.to_string();
                    match s.strip_prefix('-') {
                        Some(d) => (true, d.to_owned()),
                        None => (false, s),
                    }
                }
                _ => return Err(PyError::new("%d format: a real number is required")),
            };
            let mut body = String::new();
            if let Some(p) = spec.precision {
                body.extend(std::iter::repeat_n('0', p.saturating_sub(digits.len())));
            }
            body.push_str(&digits);
            let sign = if negative {
                "-"
            } else if spec.plus {
                "+"
            } else if spec.space {
                " "
            } else {
                ""
            };
            if spec.zero && !spec.left {
                let fill = spec.width.saturating_sub(body.len() + sign.len());
                out.push_str(sign);
                out.extend(std::iter::repeat_n('0', fill));
                out.push_str(&body);
            } else {
                pad(&format!("{sign}{body}"), spec, out);
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// ast.literal_eval(kind)
// ---------------------------------------------------------------------------------------------

/// What `ast.literal_eval(kind)` does with the left-hand side of a generic check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KindClass {
    /// A literal; the check compares `str(literal)` with the interpolated match.
    Literal(String),
    /// A literal whose `str()` this port cannot reproduce (a set of several elements, a string
    /// with a lone surrogate or a `\N{…}` escape); it compares unequal to everything.
    Opaque,
    /// A valid expression that is not a literal (`ValueError`): the kind is a dotted path into
    /// the credentials.
    Path,
    /// Python raises (`SyntaxError`, or `TypeError` for an unhashable set element).
    Error(String),
    /// Syntax this port does not model (comprehensions, starred expressions, `await`, line
    /// breaks, NUL); evaluation refuses it.
    Unsupported(&'static str),
}

/// Deepest bracket or operator nesting the expression reader follows (Python refuses more than
/// 200 nested parentheses; this port refuses more than 100, as a syntax error).
const MAX_EXPR_DEPTH: usize = 100;
/// CPython's limit on the decimal digits of an int converted to or from a string.
const MAX_INT_DIGITS: usize = 4300;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    /// A keyword other than `True`/`False`/`None`.
    Kw(&'static str),
    Const(Const),
    /// A string literal; `Err` for an f-string (a non-literal `JoinedStr`).
    Str(Result<StrLit, ()>),
    Op(&'static str),
}

#[derive(Debug, Clone, PartialEq)]
enum StrLit {
    Text(Option<String>),
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq)]
enum Const {
    /// Decimal digits, or `None` when `str()` would exceed the 4300-digit limit.
    Int(Option<String>),
    Float(f64),
    Imag(f64),
    True,
    False,
    None,
    Ellipsis,
}

const KEYWORDS: &[&str] = &[
    "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif",
    "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda",
    "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
];

/// Operators, longest first.
const OPERATORS: &[&str] = &[
    "**=", "//=", ">>=", "<<=", "...", "!=", "%=", "&=", "**", "*=", "+=", "-=", "->", "//", "/=",
    ":=", "<<", "<=", "==", ">=", ">>", "@=", "^=", "|=", "!", "%", "&", "(", ")", "*", "+", ",",
    "-", ".", "/", ":", ";", "<", "=", ">", "@", "[", "]", "^", "{", "|", "}", "~",
];

fn is_id_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic() || (!c.is_ascii() && c.is_alphabetic())
}

fn is_id_continue(c: char) -> bool {
    c == '_' || c.is_ascii_alphanumeric() || (!c.is_ascii() && c.is_alphanumeric())
}

struct Lexer<'a> {
    s: &'a [char],
    i: usize,
}

enum LexError {
    Syntax(String),
    Unsupported(&'static str),
}

impl Lexer<'_> {
    fn peek(&self, k: usize) -> Option<char> {
        self.s.get(self.i + k).copied()
    }

    fn tokens(mut self) -> Result<Vec<Tok>, LexError> {
        let mut out = Vec::new();
        while let Some(c) = self.peek(0) {
            match c {
                ' ' | '\t' | '\x0c' => self.i += 1,
                '#' => break, // a comment runs to the end of the (single) line
                '\n' | '\r' => return Err(LexError::Unsupported("line breaks")),
                '\\' => {
                    return Err(if matches!(self.peek(1), Some('\n' | '\r')) {
                        LexError::Unsupported("line breaks")
                    } else {
                        LexError::Syntax(
                            "unexpected character after line continuation character".into(),
                        )
                    });
                }
                '\0' => return Err(LexError::Unsupported("NUL characters")),
                c if c.is_ascii_digit()
                    || (c == '.' && self.peek(1).is_some_and(|d| d.is_ascii_digit())) =>
                {
                    out.push(Tok::Const(self.number()?));
                    self.after_number()?;
                }
                c if is_id_start(c) => {
                    let start = self.i;
                    while self.peek(0).is_some_and(is_id_continue) {
                        self.i += 1;
                    }
                    let word: String = self.s[start..self.i].iter().collect();
                    if matches!(self.peek(0), Some('\'' | '"'))
                        && let Some(prefix) = StrPrefix::parse(&word)
                    {
                        out.push(Tok::Str(self.string(prefix)?));
                        continue;
                    }
                    out.push(word_token(word));
                }
                '\'' | '"' => out.push(Tok::Str(self.string(StrPrefix::default())?)),
                _ => {
                    let rest = &self.s[self.i..];
                    let Some(op) = OPERATORS.iter().find(|op| {
                        op.chars().count() <= rest.len()
                            && op.chars().zip(rest).all(|(a, b)| a == *b)
                    }) else {
                        return Err(LexError::Syntax(format!("invalid character {c:?}")));
                    };
                    self.i += op.len();
                    out.push(Tok::Op(op));
                }
            }
        }
        Ok(out)
    }

    fn digits(&mut self, radix: u32, allow_leading_underscore: bool) -> Result<String, LexError> {
        let mut out = String::new();
        let mut expect_digit = allow_leading_underscore && self.peek(0) == Some('_');
        if expect_digit {
            self.i += 1;
        }
        loop {
            match self.peek(0) {
                Some(c) if c.is_digit(radix) => {
                    out.push(c);
                    self.i += 1;
                    expect_digit = false;
                }
                Some('_') if !expect_digit && !out.is_empty() => {
                    self.i += 1;
                    expect_digit = true;
                }
                Some(c) if radix < 10 && c.is_ascii_digit() => {
                    return Err(LexError::Syntax(format!("invalid digit '{c}'")));
                }
                _ => break,
            }
        }
        if expect_digit || out.is_empty() {
            return Err(LexError::Syntax("invalid literal".into()));
        }
        Ok(out)
    }

    fn number(&mut self) -> Result<Const, LexError> {
        if self.peek(0) == Some('0') {
            let radix = match self.peek(1) {
                Some('x' | 'X') => 16,
                Some('o' | 'O') => 8,
                Some('b' | 'B') => 2,
                _ => 0,
            };
            if radix != 0 {
                self.i += 2;
                let digits = self.digits(radix, true)?;
                return Ok(Const::Int(radix_to_decimal(&digits, radix)));
            }
        }
        let mut int_part = String::new();
        if self.peek(0) != Some('.') {
            int_part = self.digits(10, false)?;
        }
        let mut text = int_part.clone();
        let mut is_float = false;
        if self.peek(0) == Some('.') {
            self.i += 1;
            is_float = true;
            text.push('.');
            if self.peek(0).is_some_and(|c| c.is_ascii_digit()) {
                text.push_str(&self.digits(10, false)?);
            }
        }
        if matches!(self.peek(0), Some('e' | 'E')) {
            let save = self.i;
            self.i += 1;
            let mut exp = String::from("e");
            if let Some(sign @ ('+' | '-')) = self.peek(0) {
                exp.push(sign);
                self.i += 1;
            }
            if self.peek(0).is_some_and(|c| c.is_ascii_digit()) {
                exp.push_str(&self.digits(10, false)?);
                text.push_str(&exp);
                is_float = true;
            } else if exp.len() > 1 {
                return Err(LexError::Syntax("invalid decimal literal".into()));
            } else {
                self.i = save; // `1else`: the number ends before the keyword
            }
        }
        if matches!(self.peek(0), Some('j' | 'J')) {
            self.i += 1;
            return Ok(Const::Imag(text.parse().unwrap_or(f64::INFINITY)));
        }
        if is_float {
            return Ok(Const::Float(text.parse().unwrap_or(f64::INFINITY)));
        }
        let trimmed = int_part.trim_start_matches('0');
        if trimmed.len() < int_part.len() && !trimmed.is_empty() {
            return Err(LexError::Syntax("leading zeros in decimal integer literals".into()));
        }
        if int_part.len() > MAX_INT_DIGITS {
            return Err(LexError::Syntax("exceeds the limit for integer string conversion".into()));
        }
        Ok(Const::Int(Some(if trimmed.is_empty() { "0".into() } else { trimmed.into() })))
    }

    /// CPython's `verify_end_of_number`: a number may run into a keyword (`1or 2`), not into
    /// any other identifier (`1a`).
    fn after_number(&self) -> Result<(), LexError> {
        let Some(c) = self.peek(0) else { return Ok(()) };
        if !is_id_continue(c) {
            return Ok(());
        }
        let rest: String = self.s[self.i..].iter().take(5).collect();
        let ok = ["and", "else", "for", "if", "in", "is", "not", "or"]
            .iter()
            .any(|k| rest.starts_with(k));
        if ok { Ok(()) } else { Err(LexError::Syntax("invalid decimal literal".into())) }
    }

    fn string(&mut self, prefix: StrPrefix) -> Result<Result<StrLit, ()>, LexError> {
        let quote = self.peek(0).unwrap_or('\'');
        let triple = self.peek(1) == Some(quote) && self.peek(2) == Some(quote);
        self.i += if triple { 3 } else { 1 };
        let start = self.i;
        loop {
            match self.peek(0) {
                None => return Err(LexError::Syntax("unterminated string literal".into())),
                Some('\\') => self.i += 2,
                Some(c) if c == quote => {
                    if !triple {
                        break;
                    }
                    if self.peek(1) == Some(quote) && self.peek(2) == Some(quote) {
                        break;
                    }
                    self.i += 1;
                }
                Some('\n' | '\r') if !triple => {
                    return Err(LexError::Syntax("unterminated string literal".into()));
                }
                Some(_) => self.i += 1,
            }
        }
        let body = &self.s[start..self.i.min(self.s.len())];
        self.i += if triple { 3 } else { 1 };
        if prefix.f {
            if body.iter().any(|c| matches!(c, '{' | '}')) {
                return Err(LexError::Unsupported("f-string replacement fields"));
            }
            return Ok(Err(()));
        }
        if prefix.b {
            if body.iter().any(|c| !c.is_ascii()) {
                return Err(LexError::Syntax(
                    "bytes can only contain ASCII literal characters".into(),
                ));
            }
            let bytes = if prefix.r {
                body.iter().map(|&c| c as u8).collect()
            } else {
                unescape_bytes(body)
            };
            return Ok(Ok(StrLit::Bytes(bytes)));
        }
        if prefix.r {
            return Ok(Ok(StrLit::Text(Some(body.iter().collect()))));
        }
        unescape_str(body).map(|s| Ok(StrLit::Text(s)))
    }
}

fn word_token(word: String) -> Tok {
    match word.as_str() {
        "True" => Tok::Const(Const::True),
        "False" => Tok::Const(Const::False),
        "None" => Tok::Const(Const::None),
        w => match KEYWORDS.iter().find(|k| **k == w) {
            Some(k) => Tok::Kw(k),
            None => Tok::Name(word),
        },
    }
}

#[derive(Default, Clone, Copy)]
struct StrPrefix {
    r: bool,
    b: bool,
    f: bool,
}

impl StrPrefix {
    fn parse(word: &str) -> Option<StrPrefix> {
        let lower = word.to_ascii_lowercase();
        let p = match lower.as_str() {
            "r" => StrPrefix { r: true, ..Default::default() },
            "u" => StrPrefix::default(),
            "b" => StrPrefix { b: true, ..Default::default() },
            "f" => StrPrefix { f: true, ..Default::default() },
            "br" | "rb" => StrPrefix { r: true, b: true, f: false },
            "fr" | "rf" => StrPrefix { r: true, f: true, b: false },
            _ => return None,
        };
        Some(p)
    }
}

fn hex_value(s: &[char]) -> Option<u32> {
    s.iter().try_fold(0u32, |acc, c| Some(acc * 16 + c.to_digit(16)?))
}

/// Decodes the escapes of a non-raw `str` literal; `Ok(None)` when the result is not
/// representable here (a lone surrogate) or needs the Unicode name database (`\N{…}`).
fn unescape_str(body: &[char]) -> Result<Option<String>, LexError> {
    let mut out = String::new();
    let mut opaque = false;
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        i += 1;
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(&e) = body.get(i) else { break };
        i += 1;
        match e {
            '\n' => {}
            '\\' => out.push('\\'),
            '\'' => out.push('\''),
            '"' => out.push('"'),
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\x0b'),
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match body.get(i).and_then(|c| c.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            i += 1;
                        }
                        None => break,
                    }
                }
                out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
            }
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let digits = body.get(i..i + n).filter(|d| d.iter().all(char::is_ascii_hexdigit));
                let Some(digits) = digits else {
                    return Err(LexError::Syntax("truncated escape".into()));
                };
                i += n;
                match hex_value(digits) {
                    Some(v) if v > 0x10ffff => {
                        return Err(LexError::Syntax("illegal Unicode character".into()));
                    }
                    Some(v) => match char::from_u32(v) {
                        Some(ch) => out.push(ch),
                        None => opaque = true,
                    },
                    None => return Err(LexError::Syntax("truncated escape".into())),
                }
            }
            'N' => return Err(LexError::Unsupported("\\N{...} escapes")),
            other => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    Ok(if opaque { None } else { Some(out) })
}

fn unescape_bytes(body: &[char]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        i += 1;
        if c != '\\' {
            out.push(c as u8);
            continue;
        }
        let Some(&e) = body.get(i) else { break };
        i += 1;
        match e {
            '\n' => {}
            '\\' | '\'' | '"' => out.push(e as u8),
            'a' => out.push(7),
            'b' => out.push(8),
            'f' => out.push(12),
            'n' => out.push(b'\n'),
            'r' => out.push(b'\r'),
            't' => out.push(b'\t'),
            'v' => out.push(11),
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match body.get(i).and_then(|c| c.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            i += 1;
                        }
                        None => break,
                    }
                }
                out.push((v & 0xff) as u8);
            }
            'x' if body.get(i..i + 2).is_some_and(|d| d.iter().all(char::is_ascii_hexdigit)) => {
                out.push(hex_value(&body[i..i + 2]).unwrap_or(0) as u8);
                i += 2;
            }
            other => {
                out.push(b'\\');
                out.push(other as u8);
            }
        }
    }
    out
}

/// The decimal digits of a hex/octal/binary literal, or `None` when they would exceed
/// CPython's 4300-digit limit for `str(int)` (then `literal_eval` raises `ValueError`).
fn radix_to_decimal(digits: &str, radix: u32) -> Option<String> {
    let significant = digits.trim_start_matches('0');
    let bits_per_digit = match radix {
        16 => 4,
        8 => 3,
        _ => 1,
    };
    // A cheap lower bound on the decimal length keeps huge literals out of the O(n²) loop.
    if significant.len().saturating_sub(1) * bits_per_digit * 3 / 10 > MAX_INT_DIGITS {
        return None;
    }
    // Little-endian limbs of 10^9.
    let mut limbs: Vec<u64> = vec![0];
    for c in significant.chars() {
        let mut carry = u64::from(c.to_digit(radix).unwrap_or(0));
        for limb in &mut limbs {
            let v = *limb * u64::from(radix) + carry;
            *limb = v % 1_000_000_000;
            carry = v / 1_000_000_000;
        }
        if carry > 0 {
            limbs.push(carry);
        }
    }
    let mut out = String::new();
    for (i, limb) in limbs.iter().rev().enumerate() {
        if i == 0 {
            let _ = write!(out, "{limb}");
        } else {
            let _ = write!(out, "{limb:09}");
        }
    }
    (out.len() <= MAX_INT_DIGITS).then_some(out)
}

/// The little AST `literal_eval` inspects; everything else is `Other`.
#[derive(Debug, Clone, PartialEq)]
enum Ast {
    Const(Const),
    Str(StrLit),
    Tuple(Vec<Ast>),
    List(Vec<Ast>),
    Set(Vec<Ast>),
    EmptyDict,
    /// The bare name `set`, which `literal_eval` accepts when called with no arguments.
    SetName,
    EmptySetCall,
    UnaryOp(char, Box<Ast>),
    BinOp(char, Box<Ast>, Box<Ast>),
    /// Any node `literal_eval` rejects with `ValueError` (names, attributes, calls, ...).
    Other,
}

enum ParseFail {
    Syntax(String),
    Unsupported(&'static str),
}

type PResult = Result<Ast, ParseFail>;

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

fn syntax<T>(msg: &str) -> Result<T, ParseFail> {
    Err(ParseFail::Syntax(msg.into()))
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Some(Tok::Op(o)) if *o == op)
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Kw(k)) if *k == kw)
    }

    fn eat_op(&mut self, op: &str) -> bool {
        let yes = self.is_op(op);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        let yes = self.is_kw(kw);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn enter(&mut self) -> Result<(), ParseFail> {
        self.depth += 1;
        if self.depth > MAX_EXPR_DEPTH {
            return syntax("too many nested parentheses");
        }
        Ok(())
    }

    /// `expressions` (eval mode): an expression or an unparenthesised tuple.
    fn expressions(&mut self) -> PResult {
        let first = self.expression()?;
        if !self.is_op(",") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.eat_op(",") {
            if self.starts_expression() {
                items.push(self.expression()?);
            } else {
                break;
            }
        }
        Ok(Ast::Tuple(items))
    }

    fn starts_expression(&self) -> bool {
        match self.peek() {
            None => false,
            Some(Tok::Op(o)) => matches!(*o, "(" | "[" | "{" | "-" | "+" | "~" | "..." | "*"),
            Some(Tok::Kw(k)) => matches!(*k, "not" | "lambda" | "await" | "yield"),
            Some(_) => true,
        }
    }

    fn expression(&mut self) -> PResult {
        self.enter()?;
        if self.is_kw("lambda") {
            return syntax("lambda needs a colon");
        }
        if self.is_kw("yield") {
            return syntax("'yield' outside function");
        }
        if self.is_kw("await") || self.is_op("*") {
            return Err(ParseFail::Unsupported("await or starred expressions"));
        }
        let cond = self.disjunction()?;
        let result = if self.eat_kw("if") {
            self.disjunction()?;
            if !self.eat_kw("else") {
                return syntax("expected 'else'");
            }
            self.expression()?;
            Ast::Other
        } else {
            cond
        };
        self.depth -= 1;
        Ok(result)
    }

    fn disjunction(&mut self) -> PResult {
        let first = self.conjunction()?;
        if !self.is_kw("or") {
            return Ok(first);
        }
        while self.eat_kw("or") {
            self.conjunction()?;
        }
        Ok(Ast::Other)
    }

    fn conjunction(&mut self) -> PResult {
        let first = self.inversion()?;
        if !self.is_kw("and") {
            return Ok(first);
        }
        while self.eat_kw("and") {
            self.inversion()?;
        }
        Ok(Ast::Other)
    }

    fn inversion(&mut self) -> PResult {
        if self.eat_kw("not") {
            self.enter()?;
            self.inversion()?;
            self.depth -= 1;
            return Ok(Ast::Other);
        }
        self.comparison()
    }

    fn comparison(&mut self) -> PResult {
        let first = self.binary(0)?;
        let mut compared = false;
        loop {
            let is_cmp =
                matches!(self.peek(), Some(Tok::Op("==" | "!=" | "<" | "<=" | ">" | ">=")))
                    || self.is_kw("in")
                    || self.is_kw("is");
            if self.is_kw("not") {
                // `not in`
                if matches!(self.toks.get(self.pos + 1), Some(Tok::Kw("in"))) {
                    self.pos += 2;
                } else {
                    break;
                }
            } else if is_cmp {
                if self.eat_kw("is") {
                    self.eat_kw("not");
                } else {
                    self.pos += 1;
                }
            } else {
                break;
            }
            self.binary(0)?;
            compared = true;
        }
        Ok(if compared { Ast::Other } else { first })
    }

    /// Binary operators by precedence level: `|`, `^`, `&`, shifts, `+ -`, `* / // % @`.
    fn binary(&mut self, level: usize) -> PResult {
        const LEVELS: &[&[&str]] =
            &[&["|"], &["^"], &["&"], &["<<", ">>"], &["+", "-"], &["*", "/", "//", "%", "@"]];
        if level == LEVELS.len() {
            return self.factor();
        }
        let mut left = self.binary(level + 1)?;
        while let Some(Tok::Op(op)) = self.peek() {
            let op = *op;
            if !LEVELS[level].contains(&op) {
                break;
            }
            self.pos += 1;
            let right = self.binary(level + 1)?;
            left = match op {
                "+" => Ast::BinOp('+', Box::new(left), Box::new(right)),
                "-" => Ast::BinOp('-', Box::new(left), Box::new(right)),
                _ => Ast::Other,
            };
        }
        Ok(left)
    }

    fn factor(&mut self) -> PResult {
        let op = match self.peek() {
            Some(Tok::Op("+")) => '+',
            Some(Tok::Op("-")) => '-',
            Some(Tok::Op("~")) => '~',
            _ => return self.power(),
        };
        self.pos += 1;
        self.enter()?;
        let operand = self.factor()?;
        self.depth -= 1;
        Ok(Ast::UnaryOp(op, Box::new(operand)))
    }

    fn power(&mut self) -> PResult {
        let base = self.primary()?;
        if self.eat_op("**") {
            self.enter()?;
            self.factor()?;
            self.depth -= 1;
            return Ok(Ast::Other);
        }
        Ok(base)
    }

    fn primary(&mut self) -> PResult {
        let mut node = self.atom()?;
        loop {
            if self.eat_op(".") {
                match self.peek() {
                    Some(Tok::Name(_)) => self.pos += 1,
                    _ => return syntax("expected an attribute name"),
                }
                node = Ast::Other;
            } else if self.eat_op("(") {
                self.enter()?;
                let no_args = self.arguments()?;
                self.depth -= 1;
                node = if no_args && node == Ast::SetName { Ast::EmptySetCall } else { Ast::Other };
            } else if self.eat_op("[") {
                self.enter()?;
                if self.is_op("]") {
                    return syntax("empty subscript");
                }
                self.expressions()?;
                if !self.eat_op("]") {
                    return syntax("expected ']'");
                }
                self.depth -= 1;
                node = Ast::Other;
            } else {
                return Ok(node);
            }
        }
    }

    /// Call arguments after `(`, through `)`; whether there were none.
    fn arguments(&mut self) -> Result<bool, ParseFail> {
        if self.eat_op(")") {
            return Ok(true);
        }
        let mut keyword_seen = false;
        let mut double_star_seen = false;
        loop {
            if self.eat_op("**") {
                self.expression()?;
                double_star_seen = true;
            } else if self.eat_op("*") {
                if double_star_seen {
                    return syntax(
                        "iterable argument unpacking follows keyword argument unpacking",
                    );
                }
                self.expression()?;
            } else if matches!(self.peek(), Some(Tok::Name(_)))
                && matches!(self.toks.get(self.pos + 1), Some(Tok::Op("=")))
            {
                self.pos += 2;
                self.expression()?;
                keyword_seen = true;
            } else {
                if keyword_seen || double_star_seen {
                    return syntax("positional argument follows keyword argument");
                }
                self.expression()?;
                if self.is_kw("for") || self.is_kw("async") {
                    return Err(ParseFail::Unsupported("comprehensions"));
                }
            }
            if self.eat_op(")") {
                return Ok(false);
            }
            if !self.eat_op(",") {
                return syntax("expected ',' or ')'");
            }
            if self.eat_op(")") {
                return Ok(false);
            }
        }
    }

    /// Comma-separated display items up to `close`; whether a trailing or separating comma
    /// was seen.
    fn display(&mut self, close: &str) -> Result<(Vec<Ast>, bool), ParseFail> {
        let mut items = Vec::new();
        let mut comma = false;
        loop {
            if self.eat_op(close) {
                return Ok((items, comma));
            }
            if self.is_op("**") {
                return Err(ParseFail::Unsupported("dict unpacking"));
            }
            items.push(self.expression()?);
            if self.is_kw("for") || self.is_kw("async") {
                return Err(ParseFail::Unsupported("comprehensions"));
            }
            if self.eat_op(",") {
                comma = true;
                if self.is_op(",") {
                    return syntax("invalid syntax");
                }
            } else if !self.is_op(close) {
                return syntax("expected a comma");
            }
        }
    }

    fn atom(&mut self) -> PResult {
        let Some(tok) = self.peek().cloned() else {
            return syntax("unexpected end of input");
        };
        self.pos += 1;
        match tok {
            Tok::Name(n) => Ok(if n == "set" { Ast::SetName } else { Ast::Other }),
            Tok::Const(c) => Ok(Ast::Const(c)),
            Tok::Op("...") => Ok(Ast::Const(Const::Ellipsis)),
            Tok::Str(first) => {
                let mut parts = vec![first];
                while let Some(Tok::Str(next)) = self.peek() {
                    parts.push(next.clone());
                    self.pos += 1;
                }
                concat_strings(parts)
            }
            Tok::Op("(") => {
                self.enter()?;
                let (items, comma) = self.display(")")?;
                self.depth -= 1;
                Ok(match (items.len(), comma) {
                    (1, false) => items.into_iter().next().unwrap_or(Ast::Other),
                    _ => Ast::Tuple(items),
                })
            }
            Tok::Op("[") => {
                self.enter()?;
                let (items, _) = self.display("]")?;
                self.depth -= 1;
                Ok(Ast::List(items))
            }
            Tok::Op("{") => {
                self.enter()?;
                let (items, _) = self.display("}")?;
                self.depth -= 1;
                Ok(if items.is_empty() { Ast::EmptyDict } else { Ast::Set(items) })
            }
            Tok::Kw("for" | "async") => Err(ParseFail::Unsupported("comprehensions")),
            _ => syntax("invalid syntax"),
        }
    }
}

fn concat_strings(parts: Vec<Result<StrLit, ()>>) -> PResult {
    let any_f = parts.iter().any(Result::is_err);
    let bytes = parts.iter().filter(|p| matches!(p, Ok(StrLit::Bytes(_)))).count();
    if bytes > 0 && bytes < parts.len() {
        return syntax("cannot mix bytes and nonbytes literals");
    }
    if any_f {
        return Ok(Ast::Other);
    }
    if bytes > 0 {
        let mut all = Vec::new();
        for p in parts {
            if let Ok(StrLit::Bytes(b)) = p {
                all.extend(b);
            }
        }
        return Ok(Ast::Str(StrLit::Bytes(all)));
    }
    let mut all = Some(String::new());
    for p in parts {
        match (p, all.as_mut()) {
            (Ok(StrLit::Text(Some(s))), Some(acc)) => acc.push_str(&s),
            _ => all = None,
        }
    }
    Ok(Ast::Str(StrLit::Text(all)))
}

/// A value `literal_eval` builds, as far as its `str()` is needed.
enum LitValue {
    Text(String),
    Float(f64),
    Complex(f64, f64),
    Opaque,
}

enum EvalFail {
    /// `ValueError`: malformed node (the kind is a path).
    Malformed,
    /// Another exception.
    Raise(String),
}

/// `_convert_num`: a constant int/float/complex (not bool).
fn convert_num(node: &Ast) -> Result<LitValue, EvalFail> {
    match node {
        Ast::Const(Const::Int(Some(d))) => Ok(LitValue::Text(d.clone())),
        // `str()` of an int past 4300 digits raises ValueError, which oslo takes as "a path".
        Ast::Const(Const::Int(None)) => Err(EvalFail::Malformed),
        Ast::Const(Const::Float(f)) => Ok(LitValue::Float(*f)),
        Ast::Const(Const::Imag(f)) => Ok(LitValue::Complex(0.0, *f)),
        _ => Err(EvalFail::Malformed),
    }
}

fn negate(v: LitValue) -> LitValue {
    match v {
        LitValue::Text(d) if d == "0" => LitValue::Text(d),
        LitValue::Text(d) => LitValue::Text(format!("-{d}")),
        LitValue::Float(f) => LitValue::Float(-f),
        LitValue::Complex(re, im) => LitValue::Complex(-re, -im),
        LitValue::Opaque => LitValue::Opaque,
    }
}

/// `_convert_signed_num`.
fn convert_signed_num(node: &Ast) -> Result<LitValue, EvalFail> {
    match node {
        Ast::UnaryOp(op @ ('+' | '-'), operand) => {
            let v = convert_num(operand)?;
            Ok(if *op == '-' { negate(v) } else { v })
        }
        other => convert_num(other),
    }
}

fn lit_str(v: LitValue) -> Result<String, ()> {
    match v {
        LitValue::Text(s) => Ok(s),
        LitValue::Float(f) => Ok(float_repr(f, true)),
        LitValue::Complex(re, im) => Ok(complex_repr(re, im)),
        LitValue::Opaque => Err(()),
    }
}

/// `repr()` of a literal element inside a container (strings quoted).
fn convert_repr(node: &Ast, depth: usize) -> Result<LitValue, EvalFail> {
    match node {
        Ast::Str(StrLit::Text(Some(s))) => {
            let mut out = String::new();
            repr_str(s, false, &mut out);
            Ok(LitValue::Text(out))
        }
        other => convert(other, depth),
    }
}

/// `_convert` followed by `str()`.
fn convert(node: &Ast, depth: usize) -> Result<LitValue, EvalFail> {
    if depth > MAX_EXPR_DEPTH {
        return Err(EvalFail::Raise("too deep".into()));
    }
    let join = |items: &[Ast],
                open: &str,
                close: &str,
                single_comma: bool|
     -> Result<LitValue, EvalFail> {
        let mut out = String::from(open);
        let mut opaque = false;
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            match lit_str(convert_repr(item, depth + 1)?) {
                Ok(s) => out.push_str(&s),
                Err(()) => opaque = true,
            }
        }
        if single_comma && items.len() == 1 {
            out.push(',');
        }
        out.push_str(close);
        Ok(if opaque { LitValue::Opaque } else { LitValue::Text(out) })
    };
    match node {
        Ast::Const(Const::True) => Ok(LitValue::Text("True".into())),
        Ast::Const(Const::False) => Ok(LitValue::Text("False".into())),
        Ast::Const(Const::None) => Ok(LitValue::Text("None".into())),
        Ast::Const(Const::Ellipsis) => Ok(LitValue::Text("Ellipsis".into())),
        Ast::Const(_) => convert_num(node),
        Ast::Str(StrLit::Text(Some(s))) => Ok(LitValue::Text(s.clone())),
        Ast::Str(StrLit::Text(None)) => Ok(LitValue::Opaque),
        Ast::Str(StrLit::Bytes(b)) => {
            let mut out = String::new();
            repr_bytes(b, &mut out);
            Ok(LitValue::Text(out))
        }
        Ast::Tuple(items) => join(items, "(", ")", true),
        Ast::List(items) => join(items, "[", "]", false),
        Ast::Set(items) => {
            // Elements must be hashable; a list (or a dict) inside raises TypeError.
            for item in items {
                check_hashable(item)?;
                convert(item, depth + 1)?;
            }
            if items.len() == 1 { join(items, "{", "}", false) } else { Ok(LitValue::Opaque) }
        }
        Ast::EmptyDict => Ok(LitValue::Text("{}".into())),
        Ast::EmptySetCall => Ok(LitValue::Text("set()".into())),
        Ast::BinOp(op, left, right) => {
            let l = convert_signed_num(left)?;
            let r = convert_num(right)?;
            match (l, r) {
                (LitValue::Text(d), LitValue::Complex(_, im)) => {
                    let re: f64 = d.parse().unwrap_or(f64::INFINITY);
                    Ok(if *op == '+' {
                        LitValue::Complex(re, im)
                    } else {
                        LitValue::Complex(re, 0.0 - im)
                    })
                }
                (LitValue::Float(re), LitValue::Complex(_, im)) => Ok(if *op == '+' {
                    LitValue::Complex(re, im)
                } else {
                    LitValue::Complex(re, 0.0 - im)
                }),
                _ => Err(EvalFail::Malformed),
            }
        }
        other => convert_signed_num(other),
    }
}

fn check_hashable(node: &Ast) -> Result<(), EvalFail> {
    match node {
        Ast::List(_) | Ast::Set(_) | Ast::EmptyDict | Ast::EmptySetCall => {
            Err(EvalFail::Raise("unhashable type".into()))
        }
        Ast::Tuple(items) => items.iter().try_for_each(check_hashable),
        _ => Ok(()),
    }
}

/// Classifies the left-hand side of a generic check as `ast.literal_eval` would see it.
pub(crate) fn classify_kind(kind: &str) -> KindClass {
    let trimmed = kind.trim_start_matches([' ', '\t']);
    let chars: Vec<char> = trimmed.chars().collect();
    let toks = match (Lexer { s: &chars, i: 0 }).tokens() {
        Ok(t) => t,
        Err(LexError::Syntax(m)) => return KindClass::Error(m),
        Err(LexError::Unsupported(what)) => return KindClass::Unsupported(what),
    };
    if toks.is_empty() {
        return KindClass::Error("invalid syntax".into());
    }
    if toks.iter().any(|t| matches!(t, Tok::Kw("for" | "async"))) {
        return KindClass::Unsupported("comprehensions");
    }
    let mut parser = Parser { toks, pos: 0, depth: 0 };
    let ast = match parser.expressions() {
        Ok(ast) if parser.pos == parser.toks.len() => ast,
        Ok(_) => return KindClass::Error("invalid syntax".into()),
        Err(ParseFail::Syntax(m)) => return KindClass::Error(m),
        Err(ParseFail::Unsupported(what)) => return KindClass::Unsupported(what),
    };
    match convert(&ast, 0) {
        Ok(v) => match lit_str(v) {
            Ok(s) => KindClass::Literal(s),
            Err(()) => KindClass::Opaque,
        },
        Err(EvalFail::Malformed) => KindClass::Path,
        Err(EvalFail::Raise(m)) => KindClass::Error(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn float_repr_matches_python() {
        for (x, want) in [
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456789012345.6, "123456789012345.6"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (100.0, "100.0"),
            (2.5, "2.5"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (1e22, "1e+22"),
        ] {
            assert_eq!(float_repr(x, true), want, "{x}");
        }
        assert_eq!(complex_repr(0.0, 100.0), "100j");
        assert_eq!(complex_repr(-0.0, -1.0), "(-0-1j)");
        assert_eq!(complex_repr(1.0, -1e16), "(1-1e+16j)");
    }

    #[test]
    fn repr_matches_python() {
        let v = json!({"a": [1, {"b": null}], "c": true, "d": 1.0, "e": "x'y"});
        assert_eq!(
            py_str(&v).unwrap(),
            r#"{'a': [1, {'b': None}], 'c': True, 'd': 1.0, 'e': "x'y"}"#
        );
        let mut s = String::new();
        repr_str("both ' \"", false, &mut s);
        assert_eq!(s, r#"'both \' "'"#);
        s.clear();
        repr_str("\u{7f}\u{80}\u{a0}\u{ad}\u{2028}\u{200b}\u{e000}😀", false, &mut s);
        assert_eq!(s, r"'\x7f\x80\xa0\xad\u2028\u200b\ue000😀'");
        s.clear();
        repr_str("é😀", true, &mut s);
        assert_eq!(s, r"'\xe9\U0001f600'");
        s.clear();
        repr_bytes(b"\x00\x7f\x80'\"\\ab\t", &mut s);
        assert_eq!(s, r#"b'\x00\x7f\x80\'"\\ab\t'"#);
    }

    fn render(fmt: &str, target: &Value) -> Result<Option<String>, PyError> {
        Template::compile(fmt).render(target).map(|r| match r {
            Rendered::Text(t) => Some(t.into_owned()),
            Rendered::MissingKey => None,
        })
    }

    #[test]
    fn percent_format_matches_python() {
        let d = json!({"a": 1, "b": "xyz", "f": -1.5, "n": null, "t": true, "neg": -5, "fl": 1e20});
        let ok = |f: &str, want: &str| assert_eq!(render(f, &d), Ok(Some(want.to_owned())), "{f}");
        let err = |f: &str| assert!(render(f, &d).is_err(), "{f}");
        let missing = |f: &str| assert_eq!(render(f, &d), Ok(None), "{f}");
        ok("%%", "%");
        ok("x%(a)sy", "x1y");
        ok("%(b)r", "'xyz'");
        ok("%(n)s", "None");
        ok("%(t)s", "True");
        ok("%(b).2s", "xy");
        ok("%(b)-5s|", "xyz  |");
        ok("%(b)05s", "  xyz");
        ok("%(a)05d", "00001");
        ok("%(neg)05d", "-0005");
        ok("%(a)+d", "+1");
        ok("%(neg).3d", "-005");
        ok("%(a)-+5d|", "+1   |");
        ok("%(fl)d", "100000000000000000000");
        ok("%(f)d", "-1");
        ok("%(t)d", "1");
        ok("%(a)ls", "1");
        ok("%(a)05.3d", "00001");
        ok("%s", "{'a': 1, 'b': 'xyz', 'f': -1.5, 'fl': 1e+20, 'n': None, 'neg': -5, 't': True}");
        err("%s %s");
        err("%(a)s %s");
        ok(
            "%s %(a)s",
            "{'a': 1, 'b': 'xyz', 'f': -1.5, 'fl': 1e+20, 'n': None, 'neg': -5, 't': True} 1",
        );
        err("%(a)s%");
        missing("%(zz)s%");
        err("%(a)");
        err("%(a");
        err("%(a)%");
        missing("%(zz)%");
        err("%q");
        err("%(a)q");
        missing("%(zz)q");
        err("%(b)d");
        err("%(n)d");
        err("%(a)*s");
        err("%-%");
        missing("%(a(b))s");
        missing("%()s");
        ok("plain", "plain");
    }

    #[test]
    fn literal_eval_classification_matches_python() {
        use KindClass::*;
        let lit = |k: &str, want: &str| assert_eq!(classify_kind(k), Literal(want.into()), "{k}");
        let path = |k: &str| assert_eq!(classify_kind(k), Path, "{k}");
        let error =
            |k: &str| assert!(matches!(classify_kind(k), Error(_)), "{k}: {:?}", classify_kind(k));
        lit("True", "True");
        lit("'member'", "member");
        lit("\"a\"", "a");
        lit("'a'#c", "a");
        lit("1_0", "10");
        lit("0x1F", "31");
        lit("0o17", "15");
        lit("00", "0");
        lit("1e400", "inf");
        lit("1.", "1.0");
        lit(".5", "0.5");
        lit("-1j", "(-0-1j)");
        lit("1+2j", "(1+2j)");
        lit("1-0j", "(1+0j)");
        lit("-0j", "(-0-0j)");
        lit("+1j", "1j");
        lit("(1)+1j", "(1+1j)");
        lit("-(1)", "-1");
        lit("b'x'", "b'x'");
        lit("'a''b'", "ab");
        lit("set()", "set()");
        lit("{1}", "{1}");
        lit("{}", "{}");
        lit("(1,)", "(1,)");
        lit("1,", "(1,)");
        lit("()", "()");
        lit("[1,\"a\"]", "[1, 'a']");
        lit("[1,]", "[1]");
        lit("...", "Ellipsis");
        lit("'\\x41'", "A");
        lit("'\\101'", "A");
        lit("'\\8'", "\\8");
        lit("rb'\\x'", "b'\\\\x'");
        lit("'\\777'", "ǿ");
        lit("b'\\777'", "b'\\xff'");
        lit("r'\\''", "\\'");
        lit("Rb'x'", "b'x'");
        lit("U'x'", "x");
        lit(" 1", "1");
        lit("\t1 ", "1");
        lit("1e5j", "100000j");
        lit("0e0", "0.0");
        lit("09.5", "9.5");
        lit("0b1_0", "2");
        lit("0x_1", "1");
        lit("12345678901234567890123", "12345678901234567890123");
        lit("None", "None");
        for k in [
            "a-b",
            "True.x",
            "a.b.c",
            "é",
            "é.x",
            "_",
            "a!=b",
            "(a)if(b)else(c)",
            "f'x'",
            "rf'x'",
            "-True",
            "--1",
            "a[0]",
            "a(1)",
            "set(1)",
            "(1)(2)",
            "(1,)+(2,)",
            "--1j",
            "True+1j",
            "1+-1j",
            "1or 2",
            "1..x",
            "'a'.x",
            "(a)",
            "not 1",
            "~1",
            "a<b<c",
            "a@b",
            "a**-b",
            "a[1,2]",
            "f(a,b=1,*c,**d)",
            "a.b(1)[2].c",
            "a,b",
            "a not in b",
            "a is not b",
            "1 if 1 else 2",
            "project_id",
            "token.project.domain.id",
        ] {
            path(k);
        }
        for k in [
            "1a",
            "token.class",
            "x.True",
            "",
            "a..b",
            "01",
            "a$b",
            "a!b",
            "not",
            "1if",
            "0in",
            "a b",
            "ur'x'",
            "lambda",
            "€",
            "1.x",
            "a.1",
            "1_",
            "1__0",
            "0_9",
            "0b",
            "1e",
            "1e+_1",
            "'\\x4'",
            "(,)",
            "[,]",
            "1,,",
            "(1 2)",
            "x[]",
            "f(,)",
            "a and",
            "and",
            "a not b",
            "`a`",
            "a?",
            "'abc",
            "'''abc",
            "r'\\'",
            "ub'x'",
            "b'é'",
            "'a'b'b'",
            "{1,[2]}",
            "f(**d, a)",
            "f(a=1, b)",
            "a<>b",
            "a->b",
            "a;b",
            "a=1",
            "0o8",
            "1else",
            "yield",
            "(",
            ")",
            "'\\U00110000'",
        ] {
            error(k);
        }
        assert_eq!(classify_kind("'\\ud800'"), Opaque);
        assert_eq!(classify_kind("{1,2}"), Opaque);
        assert!(matches!(classify_kind("x\n"), Unsupported(_)));
        assert!(matches!(classify_kind(&"1".repeat(4301)), Error(_)));
        assert_eq!(classify_kind(&format!("0x{}", "f".repeat(3600))), Path);
        assert!(matches!(classify_kind(&format!("0x{}", "f".repeat(3500))), Literal(_)));
        assert!(matches!(classify_kind(&"(".repeat(10_000)), Error(_)));
        assert!(matches!(classify_kind(&"-".repeat(10_000)), Error(_)));
    }
}
