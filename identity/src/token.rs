// SPDX-License-Identifier: Apache-2.0
//! Keystone's Fernet token payloads (`keystone/token/token_formatters.py`), byte-compatible.
//!
//! The plaintext is a msgpack array `(version, ...payload)`:
//!
//! | version | scope | payload after the version |
//! |---|---|---|
//! | 0 | unscoped | `(user, methods, expires_at, audit_ids)` |
//! | 1 | domain | `(user, methods, domain, expires_at, audit_ids)` |
//! | 2 | project | `(user, methods, project, expires_at, audit_ids)` |
//! | 8 | system | `(user, methods, "all", expires_at, audit_ids)` |
//! | 9 | application credential | `(user, methods, project, expires_at, audit_ids, app_cred)` |
//!
//! `user`, `project` and `app_cred` are `(is_uuid, value)`: 16 raw bytes when the id is a UUID
//! (as Python's `uuid.UUID()` would parse it), else the string. The domain is 16 bytes, or the
//! default domain id as a plain string. `methods` is a bitmask over Keystone's `[auth] methods`
//! (external=1, password=2, token=4, oauth1=8, mapped=16, application_credential=32,
//! ec2credential=64);
//! `expires_at` a float of seconds since the epoch; audit ids are their 16 decoded bytes.
//! `issued_at` is the Fernet timestamp, not a payload field.

use crate::fernet::{self, MultiFernet};
use crate::msgpack::{self, Value};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::OffsetDateTime;

/// Keystone's default `[auth] methods`, in bit order (`ec2credential`, the marker of tokens
/// issued by `/v3/ec2tokens`, since Keystone 30).
pub const AUTH_METHODS: [&str; 7] = [
    "external",
    "password",
    "token",
    "oauth1",
    "mapped",
    "application_credential",
    "ec2credential",
];

/// What a token is scoped to, as its payload says (ids as strings, unresolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadScope {
    /// Version 0.
    Unscoped,
    /// Version 1.
    Domain(String),
    /// Version 2.
    Project(String),
    /// Version 8; the value is `"all"`.
    System(String),
    /// Version 9.
    ApplicationCredential {
        /// The project.
        project_id: String,
        /// The application credential.
        app_cred_id: String,
    },
}

/// The content of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPayload {
    /// The user id.
    pub user_id: String,
    /// Authentication methods (`"password"`, `"token"`, ...), highest bit first.
    pub methods: Vec<String>,
    /// The scope.
    pub scope: PayloadScope,
    /// When the token expires. Keystone issues whole seconds and reads back whole seconds
    /// (its `isotime(subsecond=True)` truncates), so [`disassemble`] truncates too.
    pub expires_at: OffsetDateTime,
    /// Audit ids: the token's own first, then its chain's.
    pub audit_ids: Vec<String>,
    /// When the token was issued (the Fernet timestamp; whole seconds).
    pub issued_at: OffsetDateTime,
}

/// Why a token could not be made or read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Bad signature, unknown key, not base64: not a token of ours.
    #[error("could not recognize fernet token")]
    Unrecognized,
    /// Signed by us but the payload is malformed or of an unsupported version.
    #[error("unsupported or malformed token payload")]
    BadPayload,
    /// An input cannot be represented (an audit id that is not 22 base64url characters, an
    /// unknown method).
    #[error("invalid token input: {0}")]
    InvalidInput(&'static str),
}

/// The bitmask of `methods`; unknown methods are an error.
pub fn methods_to_int(methods: &[String]) -> Result<i128, TokenError> {
    let mut n = 0i128;
    for m in methods {
        let bit = AUTH_METHODS
            .iter()
            .position(|x| x == m)
            .ok_or(TokenError::InvalidInput("unknown authentication method"))?;
        n |= 1 << bit;
    }
    Ok(n)
}

/// The methods of bitmask `n`, highest bit first (the order Keystone's
/// `convert_integer_to_method_list` returns and its API shows).
pub fn int_to_methods(n: i128) -> Vec<String> {
    AUTH_METHODS
        .iter()
        .enumerate()
        .rev()
        .filter(|(i, _)| n & (1 << i) != 0)
        .map(|(_, m)| (*m).to_owned())
        .collect()
}

/// Python's `uuid.UUID(s).bytes`, if it parses (`urn:`/`uuid:` prefixes, braces and hyphens
/// are ignored; 32 hex digits remain).
pub fn python_uuid_bytes(s: &str) -> Option<[u8; 16]> {
    let h = s.replace("urn:", "").replace("uuid:", "");
    let h = h.trim_matches(|c| c == '{' || c == '}').replace('-', "");
    if h.len() != 32 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&h[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(b.len() * 2);
    for x in b {
        out.push(DIGITS[usize::from(x >> 4)] as char);
        out.push(DIGITS[usize::from(x & 0x0f)] as char);
    }
    out
}

fn pack_id(id: &str) -> Value {
    match python_uuid_bytes(id) {
        Some(b) => Value::Array(vec![Value::Bool(true), Value::Bin(b.to_vec())]),
        None => Value::Array(vec![Value::Bool(false), Value::Str(id.to_owned())]),
    }
}

fn unpack_id(v: &Value) -> Result<String, TokenError> {
    let Value::Array(pair) = v else { return Err(TokenError::BadPayload) };
    match pair.as_slice() {
        [Value::Bool(true), Value::Bin(b)] if b.len() == 16 => Ok(hex(b)),
        [Value::Bool(false), Value::Str(s)] => Ok(s.clone()),
        [Value::Bool(false), Value::Bin(b)] => {
            String::from_utf8(b.clone()).map_err(|_| TokenError::BadPayload)
        }
        _ => Err(TokenError::BadPayload),
    }
}

/// Seconds since the epoch as Python's `timedelta.total_seconds()` computes them.
pub fn time_to_float(t: OffsetDateTime) -> f64 {
    let micros = t.unix_timestamp_nanos() / 1000;
    micros as f64 / 1_000_000.0
}

/// Python's `datetime.utcfromtimestamp(f)`: whole seconds plus the fraction rounded half to
/// even to microseconds.
pub fn float_to_time(f: f64) -> Option<OffsetDateTime> {
    if !f.is_finite() || f.abs() > 253_402_300_799.0 {
        return None;
    }
    let mut int = f.trunc();
    let mut us = ((f - int) * 1e6).round_ties_even();
    if us >= 1e6 {
        us -= 1e6;
        int += 1.0;
    } else if us < 0.0 {
        us += 1e6;
        int -= 1.0;
    }
    let nanos = (int as i128) * 1_000_000_000 + (us as i128) * 1000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

/// Decodes a 22-character base64url audit id to its 16 bytes.
fn audit_to_bytes(a: &str) -> Result<Vec<u8>, TokenError> {
    let b = URL_SAFE_NO_PAD
        .decode(a.trim_end_matches('='))
        .map_err(|_| TokenError::InvalidInput("audit id is not base64url"))?;
    if b.is_empty() {
        return Err(TokenError::InvalidInput("empty audit id"));
    }
    Ok(b)
}

/// A new random audit id (16 random bytes, base64url without padding: 22 characters).
pub fn new_audit_id() -> String {
    let mut b = [0u8; 16];
    rand::Rng::fill(&mut rand::rng(), &mut b[..]);
    URL_SAFE_NO_PAD.encode(b)
}

/// The msgpack plaintext of a payload (without `issued_at`, which is the Fernet timestamp).
pub fn assemble(p: &TokenPayload, default_domain_id: &str) -> Result<Vec<u8>, TokenError> {
    let user = pack_id(&p.user_id);
    let methods = Value::Int(methods_to_int(&p.methods)?);
    let expires = Value::Float(time_to_float(p.expires_at));
    let audits = Value::Array(
        p.audit_ids.iter().map(|a| audit_to_bytes(a).map(Value::Bin)).collect::<Result<_, _>>()?,
    );
    let items = match &p.scope {
        PayloadScope::Unscoped => vec![Value::Int(0), user, methods, expires, audits],
        PayloadScope::Domain(d) => {
            let dom = match python_uuid_bytes(d) {
                Some(b) => Value::Bin(b.to_vec()),
                None if d == default_domain_id => Value::Str(d.clone()),
                None => {
                    return Err(TokenError::InvalidInput(
                        "a domain id in a token must be a UUID or the default domain",
                    ));
                }
            };
            vec![Value::Int(1), user, methods, dom, expires, audits]
        }
        PayloadScope::Project(pid) => {
            vec![Value::Int(2), user, methods, pack_id(pid), expires, audits]
        }
        PayloadScope::System(s) => {
            vec![Value::Int(8), user, methods, Value::Str(s.clone()), expires, audits]
        }
        PayloadScope::ApplicationCredential { project_id, app_cred_id } => vec![
            Value::Int(9),
            user,
            methods,
            pack_id(project_id),
            expires,
            audits,
            pack_id(app_cred_id),
        ],
    };
    Ok(msgpack::encode(&Value::Array(items)))
}

/// Reads a plaintext back; `issued_at` is given (the Fernet timestamp).
pub fn disassemble(
    plaintext: &[u8],
    issued_at: OffsetDateTime,
    default_domain_id: &str,
) -> Result<TokenPayload, TokenError> {
    let Value::Array(items) = msgpack::decode(plaintext).map_err(|_| TokenError::BadPayload)?
    else {
        return Err(TokenError::BadPayload);
    };
    let version = match items.first() {
        Some(Value::Int(v)) => *v,
        _ => return Err(TokenError::BadPayload),
    };
    let methods = |v: &Value| match v {
        Value::Int(n) if *n >= 0 => Ok(int_to_methods(*n)),
        _ => Err(TokenError::BadPayload),
    };
    let expires = |v: &Value| match v {
        Value::Float(f) => float_to_time(*f)
            .and_then(|t| t.replace_nanosecond(0).ok())
            .ok_or(TokenError::BadPayload),
        Value::Int(i) => float_to_time(*i as f64).ok_or(TokenError::BadPayload),
        _ => Err(TokenError::BadPayload),
    };
    let audits = |v: &Value| match v {
        Value::Array(a) => a
            .iter()
            .map(|x| match x {
                Value::Bin(b) => Ok(URL_SAFE_NO_PAD.encode(b)),
                Value::Str(s) => Ok(s.clone()),
                _ => Err(TokenError::BadPayload),
            })
            .collect::<Result<Vec<_>, _>>(),
        _ => Err(TokenError::BadPayload),
    };
    let build = |user: &Value, m: &Value, scope: PayloadScope, e: &Value, a: &Value| {
        Ok(TokenPayload {
            user_id: unpack_id(user)?,
            methods: methods(m)?,
            scope,
            expires_at: expires(e)?,
            audit_ids: audits(a)?,
            issued_at,
        })
    };
    match (version, &items[1..]) {
        (0, [u, m, e, a]) => build(u, m, PayloadScope::Unscoped, e, a),
        (1, [u, m, d, e, a]) => {
            let dom = match d {
                Value::Bin(b) if b.len() == 16 => hex(b),
                Value::Str(s) if s == default_domain_id => s.clone(),
                Value::Bin(b) if b.as_slice() == default_domain_id.as_bytes() => {
                    default_domain_id.to_owned()
                }
                _ => return Err(TokenError::BadPayload),
            };
            build(u, m, PayloadScope::Domain(dom), e, a)
        }
        (2, [u, m, p, e, a]) => build(u, m, PayloadScope::Project(unpack_id(p)?), e, a),
        (8, [u, m, s, e, a]) => {
            let system = match s {
                Value::Str(s) => s.clone(),
                _ => return Err(TokenError::BadPayload),
            };
            build(u, m, PayloadScope::System(system), e, a)
        }
        (9, [u, m, p, e, a, c]) => build(
            u,
            m,
            PayloadScope::ApplicationCredential {
                project_id: unpack_id(p)?,
                app_cred_id: unpack_id(c)?,
            },
            e,
            a,
        ),
        _ => Err(TokenError::BadPayload),
    }
}

/// Issues and reads Fernet tokens with a set of keys; never touches the store.
#[derive(Debug, Clone)]
pub struct TokenFormatter {
    keys: MultiFernet,
    default_domain_id: String,
}

impl TokenFormatter {
    /// A formatter over `keys`; `default_domain_id` is Keystone's
    /// `[identity] default_domain_id` (`"default"`).
    pub fn new(keys: MultiFernet, default_domain_id: impl Into<String>) -> Self {
        TokenFormatter { keys, default_domain_id: default_domain_id.into() }
    }

    /// Encrypts `payload` with the primary key. The payload's `issued_at`, in whole seconds,
    /// becomes the Fernet timestamp, so that the token validates to the `issued_at` its issuer
    /// reported. The token has its `=` padding stripped, as Keystone's.
    pub fn issue(&self, payload: &TokenPayload) -> Result<String, TokenError> {
        let plaintext = assemble(payload, &self.default_domain_id)?;
        let ts = u64::try_from(payload.issued_at.unix_timestamp()).unwrap_or(0);
        let token = self.keys.encrypt_at(&plaintext, ts);
        Ok(token.trim_end_matches('=').to_owned())
    }

    /// Checks and decrypts `token` (with or without padding). Expiry is not checked here.
    pub fn read(&self, token: &str) -> Result<TokenPayload, TokenError> {
        let raw = fernet::decode_token_text(token).map_err(|_| TokenError::Unrecognized)?;
        let (ts, plaintext) = self.keys.decrypt_raw(&raw).map_err(|_| TokenError::Unrecognized)?;
        let ts = i64::try_from(ts).map_err(|_| TokenError::BadPayload)?;
        let issued_at =
            OffsetDateTime::from_unix_timestamp(ts).map_err(|_| TokenError::BadPayload)?;
        disassemble(&plaintext, issued_at, &self.default_domain_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fernet::FernetKey;
    use proptest::prelude::*;
    use time::macros::datetime;

    fn formatter() -> TokenFormatter {
        TokenFormatter::new(MultiFernet::new(vec![FernetKey::generate()]).unwrap(), "default")
    }

    fn payload(scope: PayloadScope) -> TokenPayload {
        TokenPayload {
            user_id: "0123456789abcdef0123456789abcdef".into(),
            methods: vec!["token".into(), "password".into()],
            scope,
            expires_at: datetime!(2030-01-02 03:04:05 UTC),
            audit_ids: vec![new_audit_id(), new_audit_id()],
            issued_at: datetime!(2030-01-01 00:00:00 UTC),
        }
    }

    #[test]
    fn every_scope_round_trips() {
        let f = formatter();
        for scope in [
            PayloadScope::Unscoped,
            PayloadScope::Domain("default".into()),
            PayloadScope::Domain("fedcba9876543210fedcba9876543210".into()),
            PayloadScope::Project("fedcba9876543210fedcba9876543210".into()),
            PayloadScope::Project("not-a-uuid".into()),
            PayloadScope::System("all".into()),
            PayloadScope::ApplicationCredential {
                project_id: "fedcba9876543210fedcba9876543210".into(),
                app_cred_id: "aaaabbbbccccddddeeeeffff00001111".into(),
            },
        ] {
            let p = payload(scope);
            let t = f.issue(&p).unwrap();
            assert!(!t.ends_with('='));
            let back = f.read(&t).unwrap();
            assert_eq!(back.user_id, p.user_id);
            assert_eq!(back.scope, p.scope);
            assert_eq!(back.methods, p.methods);
            assert_eq!(back.audit_ids, p.audit_ids);
            assert_eq!(back.expires_at, p.expires_at);
            // The token validates to the issue time its issuer reported, in whole seconds,
            // whatever the clock says when it is encrypted.
            assert_eq!(back.issued_at, p.issued_at);
            let late = TokenPayload { issued_at: datetime!(2030-01-01 00:00:00.7 UTC), ..p };
            let back = f.read(&f.issue(&late).unwrap()).unwrap();
            assert_eq!(back.issued_at, datetime!(2030-01-01 00:00:00 UTC));
        }
    }

    #[test]
    fn project_payload_bytes_match_keystone_layout() {
        let p = payload(PayloadScope::Project("fedcba9876543210fedcba9876543210".into()));
        let bytes = assemble(&p, "default").unwrap();
        // (2, (True, bin16), 6, (True, bin16), float, [bin16, bin16])
        assert_eq!(&bytes[..4], &[0x96, 0x02, 0x92, 0xc3]);
        assert_eq!(bytes[4..6], [0xc4, 16]);
        assert_eq!(bytes[22], 0x06);
        let Value::Array(items) = msgpack::decode(&bytes).unwrap() else { panic!() };
        assert_eq!(items[4], Value::Float(1_893_553_445.0));
        // Sub-second expiries (from other issuers) read back truncated, as Keystone shows them.
        let mut p2 = p.clone();
        p2.expires_at = datetime!(2030-01-02 03:04:05.678901 UTC);
        let back = disassemble(&assemble(&p2, "default").unwrap(), p.issued_at, "default").unwrap();
        assert_eq!(back.expires_at, datetime!(2030-01-02 03:04:05 UTC));
    }

    #[test]
    fn non_default_non_uuid_domain_cannot_be_packed() {
        let p = payload(PayloadScope::Domain("mydomain".into()));
        assert!(assemble(&p, "default").is_err());
    }

    #[test]
    fn float_times_round_like_python() {
        let t = datetime!(2026-11-22 01:02:03.999999 UTC);
        assert_eq!(float_to_time(time_to_float(t)), Some(t));
        assert_eq!(float_to_time(0.5), Some(datetime!(1970-01-01 00:00:00.5 UTC)));
        assert_eq!(float_to_time(f64::NAN), None);
        assert_eq!(methods_to_int(&["password".into()]), Ok(2));
        assert_eq!(int_to_methods(6), vec!["token".to_owned(), "password".to_owned()]);
    }

    #[test]
    fn tampered_tokens_are_refused() {
        let f = formatter();
        let t = f.issue(&payload(PayloadScope::Unscoped)).unwrap();
        let mut bytes = t.clone().into_bytes();
        let mid = bytes.len() / 2;
        bytes[mid] = if bytes[mid] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert_eq!(f.read(&tampered), Err(TokenError::Unrecognized));
        assert_eq!(formatter().read(&t), Err(TokenError::Unrecognized));
    }

    proptest! {
        #![proptest_config(ferrostack_core::testing::proptest_config(256))]
        #[test]
        fn arbitrary_token_text_never_panics(s in ".{0,400}") {
            let _ = formatter().read(&s);
        }

        #[test]
        fn arbitrary_plaintext_never_panics(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = disassemble(&b, OffsetDateTime::UNIX_EPOCH, "default");
        }

        #[test]
        fn signed_garbage_is_bad_payload_not_a_panic(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let key = FernetKey::generate();
            let f = TokenFormatter::new(MultiFernet::new(vec![key.clone()]).unwrap(), "default");
            let t = key.encrypt(&b);
            prop_assert!(f.read(&t).is_err() || msgpack::decode(&b).is_ok());
        }
    }
}
