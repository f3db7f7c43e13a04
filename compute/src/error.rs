// SPDX-License-Identifier: Apache-2.0
//! [`ComputeError`]: every way a compute operation fails, classified into
//! [`ferrostack_core::ErrorKind`] once.

use ferrostack_core::error::{BoxError, Classify, ErrorKind};
use ferrostack_core::http::client::ClientError;

/// A compute failure. Messages are what Nova shows callers; causes sit in `source()`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ComputeError {
    /// The request is malformed or violates a constraint.
    #[error("{0}")]
    Invalid(String),
    /// A resource does not exist or is not visible to the caller.
    #[error("{what} {id} could not be found.")]
    NotFound {
        /// `"Instance"`, `"Flavor"`, `"Image"`, ...
        what: &'static str,
        /// The id or name asked for.
        id: String,
    },
    /// A resource with the same name already exists.
    #[error("{0}")]
    AlreadyExists(String),
    /// The instance's state forbids the action (Nova's `InstanceInvalidState`).
    #[error("Cannot '{action}' instance {id} while it is in {attr} {state}")]
    InvalidState {
        /// The action (`"stop"`).
        action: &'static str,
        /// The instance.
        id: String,
        /// `"vm_state"` or `"task_state"`.
        attr: &'static str,
        /// The offending value.
        state: String,
    },
    /// A concurrent change won, or the resource is in use.
    #[error("{0}")]
    Conflict(String),
    /// A quota would be exceeded.
    #[error(
        "Quota exceeded for {resource}: Requested {requested}, but already used {used} of {limit} {resource}"
    )]
    QuotaExceeded {
        /// `"instances"`, `"cores"`, `"ram"`.
        resource: &'static str,
        /// How many the request needs.
        requested: i64,
        /// How many are in use.
        used: i64,
        /// The limit.
        limit: i64,
    },
    /// No host can take the instance (Nova's `NoValidHost`).
    #[error("No valid host was found. {0}")]
    NoValidHost(String),
    /// Policy forbids the operation.
    #[error("{0}")]
    Forbidden(String),
    /// The hypervisor or deployment does not support the operation.
    #[error("{0} is not supported")]
    NotSupported(String),
    /// A hypervisor operation failed.
    #[error("hypervisor {driver} failed to {op}")]
    Hypervisor {
        /// The driver name.
        driver: &'static str,
        /// The operation.
        op: &'static str,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// A service compute depends on (image, volume, network) failed.
    #[error("{service} failed: {message}")]
    Dependency {
        /// `"image"`, `"volume"`, `"network"`.
        service: &'static str,
        /// What failed, safe to show.
        message: String,
        /// The class of the failure (a missing image is a 400 to the caller, an outage a 503).
        kind: ErrorKind,
    },
    /// The state store failed.
    #[error("state store error")]
    Store(#[source] ferrostack_core::store::StoreError),
    /// The message bus failed.
    #[error("message bus error")]
    Bus(#[source] ferrostack_core::bus::BusError),
    /// A compute host answered a call with an error.
    #[error("{message}")]
    Remote {
        /// The class of the remote failure.
        kind: ErrorKind,
        /// The remote message.
        message: String,
    },
    /// A remote compute API ([`crate::http::Client`]) failed. When it answered with a fault,
    /// the message is the fault's (what Nova said) and the kind its status's; otherwise the
    /// transport failure is the source.
    #[error("{}", client_message(.0))]
    Client(#[source] ClientError),
    /// A service compute depends on failed, with the cause kept: shown as the cause's own
    /// message (the other service's fault text), classified as the cause is.
    #[error(transparent)]
    Upstream(UpstreamError),
    /// A local file operation failed.
    #[error("{what} failed")]
    Io {
        /// What was being done (`"creating the image cache"`).
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A background task (a blocking job) failed to finish.
    #[error("a background task failed")]
    Task(#[source] tokio::task::JoinError),
    /// The policy could not be evaluated.
    #[error("the policy could not be evaluated")]
    Policy(#[source] ferrostack_core::policy::PolicyError),
    /// A stored record could not be encoded or decoded.
    #[error("corrupt {what} record")]
    Codec {
        /// Which record (`"placement"`, `"host reply"`, ...).
        what: &'static str,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// An optimistic transaction kept losing races (HTTP 409; try again).
    #[error(transparent)]
    Contention(#[from] ferrostack_core::store::retry::Contention),
    /// A bug or an unexpected failure.
    #[error("{0}")]
    Internal(String),
}

fn client_message(e: &ClientError) -> String {
    match e.api() {
        Some(api) => api.message.clone(),
        None => "the compute API call failed".into(),
    }
}

impl From<ClientError> for ComputeError {
    fn from(e: ClientError) -> Self {
        ComputeError::Client(e)
    }
}

/// See [`ComputeError::Upstream`]: another service's error with the class it has for
/// compute's callers. Displays as the cause; `source()` continues the cause's chain.
#[derive(Debug)]
pub struct UpstreamError {
    /// `"image"`, `"volume"`, `"network"`.
    pub service: &'static str,
    /// The class of the failure (a missing image is a 400 to the caller, an outage a 503).
    pub kind: ErrorKind,
    /// The other service's error.
    pub cause: BoxError,
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.cause.fmt(f)
    }
}

impl std::error::Error for UpstreamError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause.source()
    }
}

impl ComputeError {
    /// `e`, a failure of `service`, keeping its class and its cause.
    pub fn upstream<E>(service: &'static str, e: E) -> Self
    where
        E: Classify + std::error::Error + Send + Sync + 'static,
    {
        ComputeError::Upstream(UpstreamError { service, kind: e.kind(), cause: Box::new(e) })
    }

    /// An `Io` failure while doing `what`.
    pub fn io(what: &'static str) -> impl Fn(std::io::Error) -> Self + Copy {
        move |source| ComputeError::Io { what, source }
    }

    /// A `Codec` failure of a `what` record.
    pub fn codec(what: &'static str) -> impl Fn(serde_json::Error) -> Self + Copy {
        move |source| ComputeError::Codec { what, source }
    }

    /// A `NotFound` for an instance.
    pub fn instance_not_found(id: impl ToString) -> Self {
        ComputeError::NotFound { what: "Instance", id: id.to_string() }
    }
}

impl Classify for ComputeError {
    fn kind(&self) -> ErrorKind {
        match self {
            ComputeError::Invalid(_) => ErrorKind::InvalidInput,
            ComputeError::NotFound { .. } => ErrorKind::NotFound,
            ComputeError::AlreadyExists(_) => ErrorKind::AlreadyExists,
            ComputeError::InvalidState { .. } | ComputeError::Conflict(_) => ErrorKind::Conflict,
            ComputeError::QuotaExceeded { .. } => ErrorKind::QuotaExceeded,
            ComputeError::NoValidHost(_) => ErrorKind::Unavailable,
            ComputeError::Forbidden(_) => ErrorKind::Forbidden,
            ComputeError::NotSupported(_) => ErrorKind::NotSupported,
            ComputeError::Upstream(e) => e.kind,
            ComputeError::Hypervisor { .. }
            | ComputeError::Io { .. }
            | ComputeError::Task(_)
            | ComputeError::Policy(_)
            | ComputeError::Codec { .. }
            | ComputeError::Internal(_) => ErrorKind::Internal,
            ComputeError::Dependency { kind, .. } | ComputeError::Remote { kind, .. } => *kind,
            ComputeError::Store(e) => e.kind(),
            ComputeError::Client(e) => e.kind(),
            ComputeError::Contention(e) => e.kind(),
            ComputeError::Bus(e) => e.kind(),
        }
    }
}

impl From<ferrostack_core::store::StoreError> for ComputeError {
    fn from(e: ferrostack_core::store::StoreError) -> Self {
        ComputeError::Store(e)
    }
}

impl From<ferrostack_core::bus::BusError> for ComputeError {
    fn from(e: ferrostack_core::bus::BusError) -> Self {
        match e {
            ferrostack_core::bus::BusError::Remote(r) => {
                ComputeError::Remote { kind: r.kind, message: r.message }
            }
            e => ComputeError::Bus(e),
        }
    }
}

impl From<ferrostack_core::policy::PolicyError> for ComputeError {
    fn from(e: ferrostack_core::policy::PolicyError) -> Self {
        match e.kind() {
            ErrorKind::Forbidden => ComputeError::Forbidden(format!(
                "Policy doesn't allow {} to be performed.",
                e.rule().unwrap_or("the operation")
            )),
            _ => ComputeError::Policy(e),
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = ComputeError> = std::result::Result<T, E>;
