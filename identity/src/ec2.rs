// SPDX-License-Identifier: Apache-2.0
//! EC2 request signatures as Keystone's `POST /v3/ec2tokens` checks them (keystoneclient's
//! `Ec2Signer`): AWS signature version 2 (HMAC-SHA256 over the canonical query string) and
//! version 4 (`AWS4-HMAC-SHA256`, from the `Authorization` header or the `X-Amz-*` query
//! parameters).
//!
//! Versions 0 and 1 (HMAC-SHA1, long deprecated by AWS) are refused: the request fails as a
//! bad signature would.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use time::OffsetDateTime;

type HmacSha256 = hmac::Hmac<Sha256>;

/// The `credentials` object of a `POST /v3/ec2tokens` request: what the EC2 API service saw
/// and the signature the client sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignedRequest {
    /// The access key.
    pub access: String,
    /// The signature the client computed (base64 for v2, hex for v4).
    pub signature: Option<String>,
    /// The `Host` the client signed (`host` or `host:port`).
    pub host: String,
    /// The HTTP method.
    pub verb: String,
    /// The request path.
    pub path: String,
    /// The query (or form) parameters, values as Python's `str()` renders them.
    pub params: BTreeMap<String, String>,
    /// The request headers, names as sent (lookups of `Authorization` and `X-Amz-Date` are
    /// case-sensitive, as keystoneclient's).
    pub headers: BTreeMap<String, String>,
    /// SHA-256 hex digest of the request body (v4).
    pub body_hash: String,
}

/// Why a signature could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ec2Error {
    /// `SignatureVersion` 0 or 1 (HMAC-SHA1), or another unknown version.
    #[error("unsupported signature version {0}")]
    UnsupportedVersion(String),
    /// Neither a `SignatureVersion` nor v4 authorization data.
    #[error("unexpected signature format")]
    UnexpectedFormat,
    /// v4 data is incomplete or its date does not match the credential scope.
    #[error("malformed v4 authorization: {0}")]
    MalformedV4(&'static str),
}

/// Python's `urllib.parse.quote(s, safe='-_~')`: everything but ASCII letters, digits and
/// `_.-~` is percent-encoded (uppercase hex) byte by byte.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The sorted, encoded query string of v2 and v4.
fn canonical_qs(params: &BTreeMap<String, String>) -> String {
    params.iter().map(|(k, v)| format!("{}={}", quote(k), quote(v))).collect::<Vec<_>>().join("&")
}

fn hmac256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn is_v4(req: &SignedRequest) -> bool {
    match req.headers.get("Authorization") {
        Some(a) => a.starts_with("AWS4-HMAC-SHA256"),
        None => req.params.get("X-Amz-Algorithm").is_some_and(|a| a == "AWS4-HMAC-SHA256"),
    }
}

fn v2(secret: &str, req: &SignedRequest) -> String {
    let mut params = req.params.clone();
    params.insert("SignatureMethod".into(), "HmacSHA256".into());
    let sts = format!("{}\n{}\n{}\n{}", req.verb, req.host, req.path, canonical_qs(&params));
    STANDARD.encode(hmac256(secret.as_bytes(), sts.as_bytes()))
}

fn v4(secret: &str, req: &SignedRequest) -> Result<String, Ec2Error> {
    let auth_param = |name: &str| -> Option<String> {
        match req.headers.get("Authorization") {
            Some(a) => {
                let key = format!("{name}=");
                let rest = a.find(&key).map_or("", |i| &a[i + key.len()..]);
                Some(rest.split(',').next().unwrap_or("").to_owned())
            }
            None => req.params.get(&format!("X-Amz-{name}")).cloned(),
        }
    };
    let date = req
        .headers
        .get("X-Amz-Date")
        .or_else(|| req.params.get("X-Amz-Date"))
        .ok_or(Ec2Error::MalformedV4("no X-Amz-Date"))?;
    let signed_headers =
        auth_param("SignedHeaders").ok_or(Ec2Error::MalformedV4("no SignedHeaders"))?;
    let lower: BTreeMap<String, String> = req
        .headers
        .iter()
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    // Boto < 2.9.3 signed the host without its port.
    let strip_port = lower.get("user-agent").is_some_and(|ua| {
        let b = ua.as_bytes();
        ua.starts_with("Boto/2.")
            && b.len() >= 10
            && b[7].is_ascii_digit()
            && b[8] == b'.'
            && (b'0'..=b'2').contains(&b[9])
    });
    let mut header_lines = Vec::new();
    for h in signed_headers.split(';') {
        let Some(v) = lower.get(h) else { continue };
        if h == "host" && strip_port {
            header_lines.push(format!("{h}:{}", v.split(':').next().unwrap_or("")));
        } else {
            header_lines.push(format!("{h}:{v}"));
        }
    }
    let canonical_headers = header_lines.join("\n") + "\n";
    let qs =
        if req.verb.to_uppercase() != "POST" { canonical_qs(&req.params) } else { String::new() };
    let cr = [
        req.verb.to_uppercase().as_str(),
        req.path.as_str(),
        qs.as_str(),
        canonical_headers.as_str(),
        signed_headers.as_str(),
        req.body_hash.as_str(),
    ]
    .join("\n");
    let credential = auth_param("Credential").ok_or(Ec2Error::MalformedV4("no Credential"))?;
    let parts: Vec<&str> = credential.split('/').collect();
    if parts.len() < 4 {
        return Err(Ec2Error::MalformedV4("credential scope too short"));
    }
    let scope = parts[1..].join("/");
    let (cred_date, region, service) = (parts[1], parts[2], parts[3]);
    if !date.starts_with(cred_date) {
        return Err(Ec2Error::MalformedV4("request date mismatch"));
    }
    let sts = format!("AWS4-HMAC-SHA256\n{date}\n{scope}\n{}", hex(&Sha256::digest(cr.as_bytes())));
    let k_date = hmac256(format!("AWS4{secret}").as_bytes(), cred_date.as_bytes());
    let k_region = hmac256(&k_date, region.as_bytes());
    let k_service = hmac256(&k_region, service.as_bytes());
    let k_signing = hmac256(&k_service, b"aws4_request");
    Ok(hex(&hmac256(&k_signing, sts.as_bytes())))
}

/// The signature of `req` under `secret`, as keystoneclient's `Ec2Signer.generate` computes it.
///
/// # Errors
///
/// Unsupported versions and malformed v4 data.
pub fn signature(secret: &str, req: &SignedRequest) -> Result<String, Ec2Error> {
    match req.params.get("SignatureVersion").map(String::as_str) {
        Some("2") => Ok(v2(secret, req)),
        Some(v) if v == "0" || v == "1" => Err(Ec2Error::UnsupportedVersion(v.to_owned())),
        _ if is_v4(req) => v4(secret, req),
        Some(v) => Err(Ec2Error::UnsupportedVersion(v.to_owned())),
        None => Err(Ec2Error::UnexpectedFormat),
    }
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether the request's signature matches `secret`; like Keystone, a `host:port` that does
/// not match is retried without the port (some clients sign without it).
pub fn verify(secret: &str, req: &SignedRequest) -> bool {
    let Some(given) = req.signature.as_deref() else { return false };
    if signature(secret, req).is_ok_and(|s| ct_eq(s.as_bytes(), given.as_bytes())) {
        return true;
    }
    if let Some((host, _)) = req.host.rsplit_once(':')
        && !host.contains(']')
    {
        let again = SignedRequest { host: host.to_ascii_lowercase(), ..req.clone() };
        return signature(secret, &again).is_ok_and(|s| ct_eq(s.as_bytes(), given.as_bytes()));
    }
    false
}

/// The timestamp the client signed (`Timestamp`, or `X-Amz-Date` as header or parameter).
pub fn signed_timestamp(req: &SignedRequest) -> Option<&str> {
    req.params
        .get("Timestamp")
        .or_else(|| req.headers.get("X-Amz-Date"))
        .or_else(|| req.params.get("X-Amz-Date"))
        .map(String::as_str)
        .filter(|s| !s.is_empty())
}

/// Parses ISO 8601 timestamps as oslo's `parse_isotime` accepts them from EC2 clients:
/// extended (`2026-11-22T07:00:00Z`, fractions and offsets allowed, UTC if no offset) and
/// basic (`20261122T070000Z`); fractions are kept to the microsecond.
pub fn parse_timestamp(s: &str) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    let naive = s.trim_end_matches('Z');
    let (date, clock) = naive.split_once('T')?;
    let digits = |x: &str| x.chars().filter(char::is_ascii_digit).collect::<String>();
    let (whole, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let (d, c) = (digits(date), digits(whole));
    if d.len() != 8 || c.len() != 6 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Microseconds, as Python keeps them: the first six digits of the fraction.
    let micros: String = fraction.chars().chain(std::iter::repeat('0')).take(6).collect();
    let n = |s: &str| s.parse::<u32>().ok();
    let month = time::Month::try_from(u8::try_from(n(&d[4..6])?).ok()?).ok()?;
    let date =
        time::Date::from_calendar_date(n(&d[..4])? as i32, month, n(&d[6..8])? as u8).ok()?;
    let t = time::Time::from_hms_micro(
        n(&c[..2])? as u8,
        n(&c[2..4])? as u8,
        n(&c[4..6])? as u8,
        n(&micros)?,
    )
    .ok()?;
    Some(date.with_time(t).assume_utc())
}

/// Keystone's EC2 credential id: the SHA-256 hex digest of the access key.
pub fn credential_id(access: &str) -> String {
    hex(&Sha256::digest(access.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> SignedRequest {
        let mut params = BTreeMap::new();
        params.insert("Action".into(), "DescribeInstances".into());
        params.insert("SignatureVersion".into(), "2".into());
        params.insert("Timestamp".into(), "2026-11-22T07:00:00Z".into());
        params.insert("AWSAccessKeyId".into(), "ak".into());
        SignedRequest {
            access: "ak".into(),
            signature: None,
            host: "ec2.example.com:8773".into(),
            verb: "GET".into(),
            path: "/".into(),
            params,
            ..SignedRequest::default()
        }
    }

    #[test]
    fn quote_matches_python() {
        assert_eq!(quote("a b/c~d_e.f-g+h=é"), "a%20b%2Fc~d_e.f-g%2Bh%3D%C3%A9");
    }

    #[test]
    fn v2_verifies_and_rejects() {
        let mut r = req();
        let sig = signature("s3cret", &r).unwrap();
        r.signature = Some(sig.clone());
        assert!(verify("s3cret", &r));
        assert!(!verify("other", &r));
        // Signed without the port: still accepted.
        let mut no_port = req();
        no_port.host = "ec2.example.com".into();
        r.signature = Some(signature("s3cret", &no_port).unwrap());
        assert!(verify("s3cret", &r));
        // A changed parameter breaks the signature.
        r.params.insert("Action".into(), "RunInstances".into());
        r.signature = Some(sig);
        assert!(!verify("s3cret", &r));
    }

    #[test]
    fn v1_and_unknown_versions_are_refused() {
        let mut r = req();
        r.params.insert("SignatureVersion".into(), "1".into());
        assert_eq!(signature("x", &r), Err(Ec2Error::UnsupportedVersion("1".into())));
        r.params.remove("SignatureVersion");
        assert_eq!(signature("x", &r), Err(Ec2Error::UnexpectedFormat));
        r.signature = Some("x".into());
        assert!(!verify("x", &r));
    }

    #[test]
    fn v4_date_must_match_scope() {
        let mut r = req();
        r.params.clear();
        r.headers.insert(
            "Authorization".into(),
            "AWS4-HMAC-SHA256 Credential=ak/20261122/RegionOne/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=x".into(),
        );
        r.headers.insert("host".into(), "ec2.example.com".into());
        r.headers.insert("X-Amz-Date".into(), "20261122T070000Z".into());
        assert!(signature("k", &r).is_ok());
        r.headers.insert("X-Amz-Date".into(), "20261123T070000Z".into());
        assert!(matches!(signature("k", &r), Err(Ec2Error::MalformedV4(_))));
        r.headers.insert("Authorization".into(), "AWS4-HMAC-SHA256 ".into());
        assert!(signature("k", &r).is_err());
    }

    #[test]
    fn timestamps_parse_in_both_forms() {
        let t = parse_timestamp("20261122T070000Z").unwrap();
        assert_eq!(t, parse_timestamp("2026-11-22T07:00:00Z").unwrap());
        assert_eq!(t, parse_timestamp("2026-11-22T07:00:00.000Z").unwrap());
        assert_eq!(t, parse_timestamp("2026-11-22T07:00:00").unwrap());
        assert_eq!(
            parse_timestamp("2026-11-22T07:00:00.042025").unwrap(),
            t + time::Duration::microseconds(42025)
        );
        assert!(parse_timestamp("2026-11-22T07:00:00.x").is_none());
        assert!(parse_timestamp("yesterday").is_none());
        assert!(parse_timestamp("20261399T070000Z").is_none());
    }

    proptest::proptest! {
        #![proptest_config(ferrostack_core::testing::proptest_config(256))]
        #[test]
        fn hostile_input_never_panics(
            auth in ".{0,200}",
            date in ".{0,40}",
            host in ".{0,40}",
            k in ".{0,20}",
            v in ".{0,40}",
            version in "[0-9v4]{0,2}",
        ) {
            let mut r = req();
            r.host = host;
            r.params.insert(k, v);
            r.params.insert("SignatureVersion".into(), version);
            r.headers.insert("Authorization".into(), format!("AWS4-HMAC-SHA256 {auth}"));
            r.headers.insert("X-Amz-Date".into(), date.clone());
            r.signature = Some(auth);
            let _ = signature("s", &r);
            let _ = verify("s", &r);
            let _ = parse_timestamp(&date);
        }
    }

    #[test]
    fn credential_id_is_sha256_of_access() {
        assert_eq!(
            credential_id("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
