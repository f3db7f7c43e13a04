// SPDX-License-Identifier: Apache-2.0
//! API microversions: one negotiation for every service that has them (Nova, Cinder, ...).
//!
//! A client asks for a microversion with `OpenStack-API-Version: <service> X.Y` (several
//! services may be listed, comma-separated) or, for Nova, the legacy
//! `X-OpenStack-Nova-API-Version: X.Y`. Absent means the service's minimum, `latest` its
//! maximum; a malformed value is a 400 and a version outside the served range a 406.
//! [`with_microversions`] negotiates once per request, stores the result as a [`Microversion`]
//! extension for handlers to extract, and echoes the chosen version (and `Vary`) on the
//! response, as the OpenStack services do.

use super::ApiError;
use crate::error::ErrorKind;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::fmt;

/// `OpenStack-API-Version`.
pub const OPENSTACK_API_VERSION: &str = "openstack-api-version";

/// A microversion `major.minor`, ordered numerically (2.10 > 2.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Microversion {
    /// The major version (2 for Nova, 3 for Cinder).
    pub major: u16,
    /// The minor version.
    pub minor: u16,
}

impl Microversion {
    /// `major.minor`.
    pub const fn new(major: u16, minor: u16) -> Self {
        Microversion { major, minor }
    }

    /// Whether this is `major.minor` or newer.
    pub fn at_least(self, major: u16, minor: u16) -> bool {
        self >= Microversion::new(major, minor)
    }

    /// Parses `X.Y` (no leading sign, no spaces, no leading zeros beyond `0`).
    pub fn parse(s: &str) -> Option<Self> {
        let (major, minor) = s.split_once('.')?;
        let num = |p: &str| -> Option<u16> {
            let digits = !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
            let canonical = p == "0" || !p.starts_with('0');
            if digits && canonical { p.parse().ok() } else { None }
        };
        Some(Microversion::new(num(major)?, num(minor)?))
    }
}

impl fmt::Display for Microversion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The microversions a service serves and how clients name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MicroversionRange {
    /// The service type in `OpenStack-API-Version` (`"compute"`, `"volume"`).
    pub service: &'static str,
    /// A legacy header carrying the bare version (`X-OpenStack-Nova-API-Version`), if any.
    pub legacy_header: Option<&'static str>,
    /// The oldest version served (and the one used when none is asked for).
    pub min: Microversion,
    /// The newest version served (and what `latest` means).
    pub max: Microversion,
}

impl MicroversionRange {
    /// The version `headers` ask for, by the rules in the [module docs](self).
    pub fn negotiate(&self, headers: &HeaderMap) -> Result<Microversion, ApiError> {
        let mut requested: Option<String> = None;
        for value in headers.get_all(OPENSTACK_API_VERSION) {
            let Ok(value) = value.to_str() else {
                return Err(ApiError::bad_request("Invalid API version request: not ASCII"));
            };
            for part in value.split(',') {
                let mut it = part.split_whitespace();
                if it.next().is_some_and(|s| s.eq_ignore_ascii_case(self.service)) {
                    requested = Some(it.collect::<Vec<_>>().join(" "));
                }
            }
        }
        if requested.is_none()
            && let Some(legacy) = self.legacy_header
            && let Some(v) = headers.get(legacy)
        {
            requested =
                Some(v.to_str().map(|s| s.trim().to_owned()).map_err(|_| {
                    ApiError::bad_request("Invalid API version request: not ASCII")
                })?);
        }
        let Some(req) = requested else { return Ok(self.min) };
        if req.eq_ignore_ascii_case("latest") {
            return Ok(self.max);
        }
        let mv = Microversion::parse(&req).ok_or_else(|| {
            ApiError::bad_request(format!(
                "Invalid API version request: {}",
                crate::id::truncate_for_message(&req)
            ))
        })?;
        if mv < self.min || mv > self.max {
            return Err(ApiError::new(
                ErrorKind::NotAcceptable,
                format!(
                    "Version {mv} is not supported by the API. Minimum is {} and maximum is {}.",
                    self.min, self.max
                ),
            ));
        }
        Ok(mv)
    }

    /// The response headers announcing `mv`.
    fn announce(&self, mv: Microversion, headers: &mut HeaderMap) {
        if let Ok(v) = HeaderValue::from_str(&format!("{} {mv}", self.service)) {
            headers.insert(OPENSTACK_API_VERSION, v);
        }
        let mut vary = String::from("OpenStack-API-Version");
        if let Some(legacy) = self.legacy_header {
            if let (Ok(name), Ok(v)) =
                (HeaderName::try_from(legacy), HeaderValue::from_str(&mv.to_string()))
            {
                headers.insert(name, v);
            }
            vary.push_str(", ");
            vary.push_str(&legacy_display(legacy));
        }
        if let Ok(v) = HeaderValue::from_str(&vary) {
            headers.insert(header::VARY, v);
        }
    }
}

/// `x-openstack-nova-api-version` as services print it in `Vary`.
fn legacy_display(name: &str) -> String {
    name.split('-')
        .map(|w| match w.to_ascii_lowercase().as_str() {
            "x" => "X".to_owned(),
            "api" => "API".to_owned(),
            "openstack" => "OpenStack".to_owned(),
            other => {
                let mut c = other.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Middleware body of [`with_microversions`].
pub async fn negotiate_microversion(
    range: &'static MicroversionRange,
    mut req: Request,
    next: Next,
) -> Response {
    let mv = match range.negotiate(req.headers()) {
        Ok(mv) => mv,
        Err(e) => return e.into_response(),
    };
    req.extensions_mut().insert(mv);
    let mut resp = next.run(req).await;
    range.announce(mv, resp.headers_mut());
    resp
}

/// Wraps `router` so that every request is negotiated against `range` (see the
/// [module docs](self)); handlers then extract [`Microversion`].
pub fn with_microversions<S: Clone + Send + Sync + 'static>(
    router: axum::Router<S>,
    range: &'static MicroversionRange,
) -> axum::Router<S> {
    router.layer(axum::middleware::from_fn(move |req: Request, next: Next| {
        negotiate_microversion(range, req, next)
    }))
}

impl<S: Send + Sync> FromRequestParts<S> for Microversion {
    type Rejection = ApiError;

    /// The version [`with_microversions`] negotiated; a 500 when the router forgot the layer
    /// (a bug, not a client error).
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts.extensions.get::<Microversion>().copied().ok_or_else(|| {
            tracing::error!("Microversion extracted on a route without with_microversions");
            ApiError::new(ErrorKind::Internal, "microversion not negotiated")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static NOVA: MicroversionRange = MicroversionRange {
        service: "compute",
        legacy_header: Some("x-openstack-nova-api-version"),
        min: Microversion::new(2, 1),
        max: Microversion::new(2, 79),
    };

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn negotiation_follows_the_openstack_rules() {
        assert_eq!(NOVA.negotiate(&headers(&[])).unwrap(), Microversion::new(2, 1));
        let h = headers(&[("openstack-api-version", "compute 2.10")]);
        assert_eq!(NOVA.negotiate(&h).unwrap(), Microversion::new(2, 10));
        let h = headers(&[("openstack-api-version", "volume 3.5, compute latest")]);
        assert_eq!(NOVA.negotiate(&h).unwrap(), NOVA.max);
        let h = headers(&[("x-openstack-nova-api-version", "2.53")]);
        assert_eq!(NOVA.negotiate(&h).unwrap(), Microversion::new(2, 53));
        // The standard header wins over the legacy one.
        let h = headers(&[
            ("openstack-api-version", "compute 2.2"),
            ("x-openstack-nova-api-version", "2.53"),
        ]);
        assert_eq!(NOVA.negotiate(&h).unwrap(), Microversion::new(2, 2));
        // Another service's version is not ours.
        let h = headers(&[("openstack-api-version", "volume 3.5")]);
        assert_eq!(NOVA.negotiate(&h).unwrap(), NOVA.min);
    }

    #[test]
    fn bad_and_unserved_versions_are_400_and_406() {
        for bad in ["compute 2", "compute 2.x", "compute -2.1", "compute 2.01", "compute 2.1 2"] {
            let h = headers(&[("openstack-api-version", bad)]);
            assert_eq!(NOVA.negotiate(&h).unwrap_err().kind, ErrorKind::InvalidInput, "{bad}");
        }
        for unserved in ["compute 2.80", "compute 3.0", "compute 2.0", "compute 1.9"] {
            let h = headers(&[("openstack-api-version", unserved)]);
            let e = NOVA.negotiate(&h).unwrap_err();
            assert_eq!(e.kind, ErrorKind::NotAcceptable, "{unserved}");
            assert_eq!(e.kind.http_status(), 406);
        }
    }

    #[test]
    fn versions_order_numerically() {
        assert!(Microversion::new(2, 10) > Microversion::new(2, 9));
        assert!(Microversion::new(2, 79).at_least(2, 79));
        assert!(!Microversion::new(2, 78).at_least(2, 79));
        assert_eq!(Microversion::parse("2.79").unwrap().to_string(), "2.79");
    }

    #[test]
    fn responses_announce_the_version() {
        let mut h = HeaderMap::new();
        NOVA.announce(Microversion::new(2, 79), &mut h);
        assert_eq!(h["openstack-api-version"], "compute 2.79");
        assert_eq!(h["x-openstack-nova-api-version"], "2.79");
        assert_eq!(h["vary"], "OpenStack-API-Version, X-OpenStack-Nova-API-Version");
    }
}
