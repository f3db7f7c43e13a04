// SPDX-License-Identifier: Apache-2.0
//! The error vocabulary shared by every crate.
//!
//! Each crate keeps its own `thiserror` enum carrying the facts of a failure and implements
//! [`Classify`] so that API layers can turn any error into an HTTP status and an OpenStack fault
//! body without knowing the crate.

use std::fmt;

/// A boxed error usable as a `#[source]` for foreign error types.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The class of a failure, independent of which crate produced it.
///
/// The HTTP layer maps each kind to one status code ([`ErrorKind::http_status`]) and one
/// OpenStack fault name ([`ErrorKind::fault_name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request is malformed or violates a constraint (400).
    InvalidInput,
    /// The named resource does not exist or is not visible to the caller (404).
    NotFound,
    /// A resource with the same identity already exists (409).
    AlreadyExists,
    /// The resource is in a state that forbids the operation, or a concurrent change won (409).
    Conflict,
    /// No valid credentials were presented (401).
    Unauthenticated,
    /// The caller is known but policy forbids the operation (403).
    Forbidden,
    /// A quota or size limit would be exceeded (413).
    QuotaExceeded,
    /// The operation is not supported by this deployment or backend (501).
    NotSupported,
    /// The requested representation or API microversion is not served (406).
    NotAcceptable,
    /// A dependency is temporarily unavailable; retrying may succeed (503).
    Unavailable,
    /// An operation did not finish in time; retrying may succeed (504).
    Timeout,
    /// A bug or an unexpected failure (500).
    Internal,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [ErrorKind; 12] = [
        ErrorKind::InvalidInput,
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::Conflict,
        ErrorKind::Unauthenticated,
        ErrorKind::Forbidden,
        ErrorKind::QuotaExceeded,
        ErrorKind::NotSupported,
        ErrorKind::NotAcceptable,
        ErrorKind::Unavailable,
        ErrorKind::Timeout,
        ErrorKind::Internal,
    ];

    /// The HTTP status code an API returns for this kind.
    pub const fn http_status(self) -> u16 {
        match self {
            ErrorKind::InvalidInput => 400,
            ErrorKind::NotFound => 404,
            ErrorKind::AlreadyExists | ErrorKind::Conflict => 409,
            ErrorKind::Unauthenticated => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::QuotaExceeded => 413,
            ErrorKind::NotSupported => 501,
            ErrorKind::NotAcceptable => 406,
            ErrorKind::Unavailable => 503,
            ErrorKind::Timeout => 504,
            ErrorKind::Internal => 500,
        }
    }

    /// The fault name Nova and Cinder put at the top of their error bodies
    /// (`{"itemNotFound": {"code": 404, "message": ...}}`).
    pub const fn fault_name(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "badRequest",
            ErrorKind::NotFound => "itemNotFound",
            ErrorKind::AlreadyExists | ErrorKind::Conflict => "conflictingRequest",
            ErrorKind::Unauthenticated => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::QuotaExceeded => "overLimit",
            ErrorKind::NotSupported => "notImplemented",
            ErrorKind::Unavailable => "serviceUnavailable",
            ErrorKind::Timeout => "gatewayTimeout",
            ErrorKind::NotAcceptable | ErrorKind::Internal => "computeFault",
        }
    }

    /// The reason phrase of [`ErrorKind::http_status`] (`"Not Found"`), as Keystone and Glance
    /// put it in their `title` fields.
    pub const fn title(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "Bad Request",
            ErrorKind::NotFound => "Not Found",
            ErrorKind::AlreadyExists | ErrorKind::Conflict => "Conflict",
            ErrorKind::Unauthenticated => "Unauthorized",
            ErrorKind::Forbidden => "Forbidden",
            ErrorKind::QuotaExceeded => "Request Entity Too Large",
            ErrorKind::NotSupported => "Not Implemented",
            ErrorKind::NotAcceptable => "Not Acceptable",
            ErrorKind::Unavailable => "Service Unavailable",
            ErrorKind::Timeout => "Gateway Timeout",
            ErrorKind::Internal => "Internal Server Error",
        }
    }

    /// Whether retrying the same request later may succeed.
    pub const fn is_retryable(self) -> bool {
        matches!(self, ErrorKind::Unavailable | ErrorKind::Timeout)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.title())
    }
}

/// Implemented by every crate error: which [`ErrorKind`] it is.
pub trait Classify {
    /// The class of this error.
    fn kind(&self) -> ErrorKind;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_client_or_server_errors_as_documented() {
        for kind in ErrorKind::ALL {
            let status = kind.http_status();
            assert!((400..600).contains(&status), "{kind:?}");
            let server_side = matches!(
                kind,
                ErrorKind::NotSupported
                    | ErrorKind::Unavailable
                    | ErrorKind::Timeout
                    | ErrorKind::Internal
            );
            assert_eq!(status >= 500, server_side, "{kind:?}");
        }
        assert_eq!(ErrorKind::NotFound.http_status(), 404);
        assert_eq!(ErrorKind::QuotaExceeded.fault_name(), "overLimit");
        assert!(ErrorKind::Timeout.is_retryable());
        assert!(!ErrorKind::Conflict.is_retryable());
    }
}
