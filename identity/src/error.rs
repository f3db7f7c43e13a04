// SPDX-License-Identifier: Apache-2.0
//! [`IdentityError`]: everything that can go wrong in the identity service.

use ferrostack_core::error::{Classify, ErrorKind};
use ferrostack_core::store::StoreError;
use std::sync::Arc;

/// Every failure of the identity service, classified into [`ErrorKind`] for the API layer.
///
/// Messages never contain secrets (passwords, token bytes, keys); authentication failures
/// deliberately say no more than Keystone does ("The request you have made requires
/// authentication."), so a caller cannot tell an unknown user from a wrong password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// A resource does not exist (or is not visible).
    #[error("could not find {kind}: {id}")]
    NotFound {
        /// `"project"`, `"user"`, ...
        kind: &'static str,
        /// The id or name looked up (truncated).
        id: String,
    },
    /// A resource with the same name (or id) already exists.
    #[error(
        "conflict occurred attempting to store {kind} - duplicate entry found with {field} {value}"
    )]
    Duplicate {
        /// `"project"`, `"user"`, ...
        kind: &'static str,
        /// `"name"` or `"id"`.
        field: &'static str,
        /// The duplicated value (truncated).
        value: String,
    },
    /// The request is invalid.
    #[error("{0}")]
    Validation(String),
    /// Authentication failed; the reason is logged, never returned.
    #[error("The request you have made requires authentication.")]
    Unauthorized {
        /// Why (for logs only; not part of `Display`).
        reason: String,
    },
    /// The token is not valid (bad signature, unknown key, malformed, expired, revoked).
    #[error("Could not recognize Fernet token")]
    InvalidToken {
        /// Why (for logs only).
        reason: &'static str,
    },
    /// The subject token of a validation is unknown, expired or revoked (404, as Keystone).
    #[error("Failed to validate token")]
    TokenNotFound,
    /// Policy denies the operation.
    #[error("You are not authorized to perform the requested action: {action}.")]
    Forbidden {
        /// The policy rule.
        action: String,
    },
    /// The operation conflicts with current state (deleting a domain that is enabled,
    /// a project that has children, ...).
    #[error("{0}")]
    Conflict(String),
    /// An optimistic transaction kept losing its race (core's `retry_txn` gave up): 409.
    #[error(transparent)]
    Contention(#[from] ferrostack_core::store::retry::Contention),
    /// Keystone's `ForbiddenNotSecurity`: the operation is refused for a reason that is not
    /// about the caller's rights (deleting an enabled domain, a project with children).
    #[error("{0}")]
    NotAllowed(String),
    /// The operation is not implemented.
    #[error("{0} is not implemented")]
    NotImplemented(&'static str),
    /// The Fernet key repository (token or credential keys) is missing, empty or unreadable,
    /// or a credential blob does not decrypt with it.
    #[error("fernet key repository problem: {what}")]
    KeyRepository {
        /// What is wrong, naming the path when there is one.
        what: String,
        /// The I/O error behind it, if any.
        #[source]
        source: Option<std::io::Error>,
    },
    /// A store operation failed.
    #[error("store failure")]
    Store(#[source] StoreError),
    /// A password hash could not be produced.
    #[error("password hashing failed")]
    Hashing(#[source] crate::password::PasswordError),
    /// A job on the blocking pool (password hashing or verification, reading a key
    /// repository) panicked or was cancelled by a runtime shutdown.
    #[error("a blocking task failed")]
    Worker(#[source] tokio::task::JoinError),
    /// A remote identity endpoint failed or answered unexpectedly.
    #[error("remote identity endpoint failed: {what}")]
    Remote {
        /// What failed.
        what: String,
        /// The cause (a transport or decoding error), if any; shared, since one failed
        /// remote validation answers every caller that waited on it.
        #[source]
        source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    },
    /// The LDAP directory could not be reached or searched.
    #[error("the LDAP directory is unavailable: {what} failed")]
    Directory {
        /// The operation (`"search"`, `"bind"`).
        what: &'static str,
        /// The LDAP client's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A write to a user or group of a read-only (LDAP) domain; Keystone's message.
    #[error("LDAP does not support write operations")]
    ReadOnly,
}

impl IdentityError {
    /// A [`IdentityError::NotFound`] for `kind` with `id`.
    pub fn not_found(kind: &'static str, id: impl AsRef<str>) -> Self {
        IdentityError::NotFound { kind, id: ferrostack_core::id::truncate_for_message(id.as_ref()) }
    }

    /// A [`IdentityError::Unauthorized`] with a logged reason.
    pub fn unauthorized(reason: impl Into<String>) -> Self {
        IdentityError::Unauthorized { reason: reason.into() }
    }

    /// A [`IdentityError::KeyRepository`] for `path` failing with `source`.
    pub fn key_repository(path: &std::path::Path, source: std::io::Error) -> Self {
        IdentityError::KeyRepository { what: path.display().to_string(), source: Some(source) }
    }

    /// A [`IdentityError::KeyRepository`] without an I/O cause.
    pub fn key_repository_msg(what: impl Into<String>) -> Self {
        IdentityError::KeyRepository { what: what.into(), source: None }
    }

    /// A [`IdentityError::Remote`] without a cause.
    pub fn remote(what: impl Into<String>) -> Self {
        IdentityError::Remote { what: what.into(), source: None }
    }

    /// A [`IdentityError::Remote`] caused by `source`.
    pub fn remote_from(
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        IdentityError::Remote { what: what.into(), source: Some(Arc::new(source)) }
    }

    /// A [`IdentityError::Duplicate`] on the name.
    pub fn duplicate(kind: &'static str, field: &'static str, value: impl AsRef<str>) -> Self {
        IdentityError::Duplicate {
            kind,
            field,
            value: ferrostack_core::id::truncate_for_message(value.as_ref()),
        }
    }
}

impl From<StoreError> for IdentityError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(k) => IdentityError::NotFound { kind: "resource", id: k },
            other => IdentityError::Store(other),
        }
    }
}

impl Classify for IdentityError {
    fn kind(&self) -> ErrorKind {
        match self {
            IdentityError::NotFound { .. } | IdentityError::TokenNotFound => ErrorKind::NotFound,
            IdentityError::Duplicate { .. }
            | IdentityError::Conflict(_)
            | IdentityError::Contention(_) => ErrorKind::Conflict,
            IdentityError::Validation(_) => ErrorKind::InvalidInput,
            IdentityError::Unauthorized { .. } | IdentityError::InvalidToken { .. } => {
                ErrorKind::Unauthenticated
            }
            IdentityError::Forbidden { .. } | IdentityError::NotAllowed(_) => ErrorKind::Forbidden,
            IdentityError::NotImplemented(_) => ErrorKind::NotSupported,
            IdentityError::Store(e) => e.kind(),
            IdentityError::Remote { .. } | IdentityError::Directory { .. } => {
                ErrorKind::Unavailable
            }
            IdentityError::ReadOnly => ErrorKind::Forbidden,
            IdentityError::KeyRepository { .. }
            | IdentityError::Hashing(_)
            | IdentityError::Worker(_) => ErrorKind::Internal,
        }
    }
}

impl From<IdentityError> for ferrostack_core::http::ApiError {
    fn from(e: IdentityError) -> Self {
        if let IdentityError::Unauthorized { reason } = &e {
            tracing::info!(%reason, "authentication failed");
        }
        if let IdentityError::InvalidToken { reason } = &e {
            tracing::info!(%reason, "token rejected");
        }
        ferrostack_core::http::ApiError::from_error(&e)
    }
}

/// Shorthand for results of identity operations.
pub type Result<T, E = IdentityError> = std::result::Result<T, E>;
