// SPDX-License-Identifier: Apache-2.0
//! [`NetworkError`]: every failure of the networking service, with Neutron's exception type
//! names and messages.

use ferrostack_core::ErrorKind;
use ferrostack_core::error::Classify;
use ferrostack_core::store::StoreError;

/// What can go wrong in the networking service.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetworkError {
    /// A resource does not exist or is not visible to the caller.
    #[error("{message}")]
    NotFound {
        /// Neutron's exception type (`NetworkNotFound`).
        neutron_type: &'static str,
        /// The message.
        message: String,
    },
    /// Malformed or invalid input (`InvalidInput`, 400).
    #[error("Invalid input for operation: {0}.")]
    InvalidInput(String),
    /// Input that does not parse (`InvalidInput`, 400): the parse error is the source, and
    /// the message shows it as Neutron does.
    #[error(
        "Invalid input for operation: {}{source}.",
        .field.map(|f| format!("Invalid {f}: ")).unwrap_or_default()
    )]
    Malformed {
        /// The field, when the parse error does not name it.
        field: Option<&'static str>,
        /// Why it does not parse.
        #[source]
        source: ferrostack_core::BoxError,
    },
    /// Input Neutron rejects with a specific 400 exception (`SecurityGroupInvalidPortRange`).
    #[error("{message}")]
    Rejected {
        /// Neutron's exception type.
        neutron_type: &'static str,
        /// The message.
        message: String,
    },
    /// A request Neutron rejects as `BadRequest` (400).
    #[error("Bad {resource} request: {message}.")]
    BadRequest {
        /// The resource (`router`, `port`).
        resource: &'static str,
        /// Why.
        message: String,
    },
    /// The resource is in a state that forbids the operation (409).
    #[error("{message}")]
    Conflict {
        /// Neutron's exception type (`SubnetInUse`).
        neutron_type: &'static str,
        /// The message.
        message: String,
    },
    /// A quota would be exceeded (Neutron's `OverQuota`, 409).
    #[error("Quota exceeded for resources: ['{0}'].")]
    OverQuota(&'static str),
    /// Policy forbids the operation (403).
    #[error("({0}) is disallowed by policy")]
    Forbidden(String),
    /// No request context was presented (401).
    #[error("authentication required")]
    Unauthenticated,
    /// No segmentation id, or no address, is left (503, as Neutron's `NoNetworkAvailable`).
    #[error("{0}")]
    Exhausted(String),
    /// The state store failed.
    #[error("state store failure")]
    Store(#[source] StoreError),
    /// A data-plane backend failed.
    #[error("{backend} backend failed")]
    Backend {
        /// The backend's name.
        backend: &'static str,
        /// The class of the failure.
        kind: ErrorKind,
        /// The cause.
        #[source]
        source: ferrostack_core::BoxError,
    },
    /// A change lost its optimistic-transaction race too often (409; the client should retry).
    #[error("{0}")]
    Contention(#[source] ferrostack_core::store::retry::Contention),
    /// A remote Neutron answered with a fault ([`crate::http::Client`]): its kind, its message
    /// and its exception type, as the server rendered them.
    #[error("{}", .0.message)]
    Remote(ferrostack_core::http::ApiError),
    /// A remote Neutron could not be asked ([`crate::http::Client`]): unreachable, an
    /// unreadable answer, no token.
    #[cfg(feature = "client")]
    #[error("the networking service could not be reached")]
    Client(#[source] ferrostack_core::http::client::ClientError),
}

impl NetworkError {
    /// A `<Kind>NotFound` error with Neutron's message.
    pub fn not_found(kind: &'static str, id: impl std::fmt::Display) -> Self {
        let (neutron_type, message) = match kind {
            "network" => ("NetworkNotFound", format!("Network {id} could not be found.")),
            "subnet" => ("SubnetNotFound", format!("Subnet {id} could not be found.")),
            "port" => ("PortNotFound", format!("Port {id} could not be found.")),
            "router" => ("RouterNotFound", format!("Router {id} could not be found")),
            "floatingip" => ("FloatingIPNotFound", format!("Floating IP {id} could not be found")),
            "security_group" => {
                ("SecurityGroupNotFound", format!("Security group {id} does not exist"))
            }
            "security_group_rule" => {
                ("SecurityGroupRuleNotFound", format!("Security group rule {id} does not exist"))
            }
            _ => ("NotFound", format!("{kind} {id} could not be found.")),
        };
        NetworkError::NotFound { neutron_type, message }
    }

    /// A 409 with Neutron's exception type.
    pub fn conflict(neutron_type: &'static str, message: impl Into<String>) -> Self {
        NetworkError::Conflict { neutron_type, message: message.into() }
    }

    /// An `InvalidInput` 400.
    pub fn invalid(message: impl Into<String>) -> Self {
        NetworkError::InvalidInput(message.into())
    }

    /// A [`NetworkError::Malformed`] for `source`, a parse error of `field` (when the error
    /// itself does not say which input it is about).
    pub fn malformed(
        field: Option<&'static str>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        NetworkError::Malformed { field, source: Box::new(source) }
    }

    /// Neutron's exception type name, shown in `NeutronError.type`.
    pub fn neutron_type(&self) -> &str {
        match self {
            NetworkError::Remote(e) => e.error_type.as_deref().unwrap_or("HTTPError"),
            NetworkError::Contention(_) => "Conflict",
            #[cfg(feature = "client")]
            NetworkError::Client(_) => "HTTPServiceUnavailable",
            NetworkError::NotFound { neutron_type, .. }
            | NetworkError::Conflict { neutron_type, .. }
            | NetworkError::Rejected { neutron_type, .. } => neutron_type,
            NetworkError::InvalidInput(_) | NetworkError::Malformed { .. } => "InvalidInput",
            NetworkError::BadRequest { .. } => "BadRequest",
            NetworkError::OverQuota(_) => "OverQuota",
            NetworkError::Forbidden(_) => "PolicyNotAuthorized",
            NetworkError::Unauthenticated => "HTTPUnauthorized",
            NetworkError::Exhausted(_) => "NoNetworkAvailable",
            NetworkError::Store(_) | NetworkError::Backend { .. } => "HTTPInternalServerError",
        }
    }
}

impl From<ferrostack_core::store::retry::Contention> for NetworkError {
    fn from(e: ferrostack_core::store::retry::Contention) -> Self {
        NetworkError::Contention(e)
    }
}

impl From<StoreError> for NetworkError {
    fn from(e: StoreError) -> Self {
        NetworkError::Store(e)
    }
}

impl Classify for NetworkError {
    fn kind(&self) -> ErrorKind {
        match self {
            NetworkError::NotFound { .. } => ErrorKind::NotFound,
            NetworkError::InvalidInput(_)
            | NetworkError::Malformed { .. }
            | NetworkError::BadRequest { .. }
            | NetworkError::Rejected { .. } => ErrorKind::InvalidInput,
            // Neutron answers OverQuota with 409, not 413.
            NetworkError::Conflict { .. } | NetworkError::OverQuota(_) => ErrorKind::Conflict,
            NetworkError::Forbidden(_) => ErrorKind::Forbidden,
            NetworkError::Unauthenticated => ErrorKind::Unauthenticated,
            NetworkError::Exhausted(_) => ErrorKind::Unavailable,
            NetworkError::Store(e) => match e.kind() {
                ErrorKind::Conflict => ErrorKind::Conflict,
                ErrorKind::Unavailable => ErrorKind::Unavailable,
                _ => ErrorKind::Internal,
            },
            NetworkError::Backend { kind, .. } => *kind,
            NetworkError::Remote(e) => e.kind,
            NetworkError::Contention(_) => ErrorKind::Conflict,
            #[cfg(feature = "client")]
            NetworkError::Client(e) => e.kind(),
        }
    }
}

impl From<NetworkError> for ferrostack_core::http::ApiError {
    fn from(e: NetworkError) -> Self {
        if let NetworkError::Remote(api) = e {
            // The remote fault passes through as the remote rendered it.
            return api;
        }
        let t = e.neutron_type().to_owned();
        let api = ferrostack_core::http::ApiError::from_error(&e);
        if api.kind == ErrorKind::Internal { api } else { api.with_type(t) }
    }
}

#[cfg(feature = "client")]
impl From<ferrostack_core::http::client::ClientError> for NetworkError {
    fn from(e: ferrostack_core::http::client::ClientError) -> Self {
        match e {
            ferrostack_core::http::client::ClientError::Api(api) => NetworkError::Remote(api),
            other => NetworkError::Client(other),
        }
    }
}

/// Shorthand.
pub type Result<T, E = NetworkError> = std::result::Result<T, E>;
