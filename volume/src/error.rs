// SPDX-License-Identifier: Apache-2.0
//! [`VolumeError`]: every failure of the volume service, classified once.

use crate::backend::BackendError;
use crate::image::ImageTransferError;
use ferrostack_core::error::{Classify, ErrorKind};
use ferrostack_core::http::client::ClientError;
use ferrostack_core::store::StoreError;
use ferrostack_core::store::retry::Contention;

/// Everything the volume service can refuse or fail at. The `Display` texts are Cinder's
/// messages, shown to API callers for every kind but `Internal`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VolumeError {
    /// Malformed or out-of-range input (Cinder's `InvalidInput`, 400).
    #[error("Invalid input received: {0}")]
    InvalidInput(String),
    /// A resource does not exist or is not visible (404).
    #[error("{kind} {id} could not be found.")]
    NotFound {
        /// `"Volume"`, `"Snapshot"`, `"Volume type"`, `"Volume attachment"`, `"Image"`.
        kind: &'static str,
        /// The id or name asked for.
        id: String,
    },
    /// The volume is in a state that forbids the operation (Cinder's `InvalidVolume`, 400).
    #[error("Invalid volume: {0}")]
    InvalidVolume(String),
    /// The snapshot is in a state that forbids the operation (400).
    #[error("Invalid snapshot: {0}")]
    InvalidSnapshot(String),
    /// The volume type is unusable for the request (400).
    #[error("Invalid volume type: {0}")]
    InvalidVolumeType(String),
    /// A name is already taken (409).
    #[error("{0}")]
    AlreadyExists(String),
    /// A state conflict (409).
    #[error("{0}")]
    Conflict(String),
    /// Concurrent changes won every attempt of an optimistic transaction (409; try again).
    #[error(transparent)]
    Contention(#[from] Contention),
    /// Quota exceeded (413), with Cinder's `VolumeSizeExceedsAvailableQuota` and
    /// `VolumeLimitExceeded` messages.
    #[error("{0}")]
    QuotaExceeded(String),
    /// Policy forbids the operation (403).
    #[error("Policy doesn't allow {0} to be performed.")]
    Forbidden(String),
    /// The microversion or deployment lacks the feature (400 from the API, as Cinder does for
    /// unsupported operations).
    #[error("{0}")]
    NotSupported(String),
    /// No backend can hold the volume (`NoValidBackend`).
    #[error("No valid backend was found. {0}")]
    NoValidBackend(String),
    /// A backend failed.
    #[error("the {backend} backend failed to {op}")]
    Backend {
        /// The backend's name.
        backend: String,
        /// What was being done.
        op: &'static str,
        /// The cause.
        #[source]
        source: BackendError,
    },
    /// The image service failed or refused.
    #[error("image transfer failed: {0}")]
    Image(#[source] ImageTransferError),
    /// The state store failed.
    #[error("the state store failed")]
    Store(#[source] StoreError),
    /// A remote Cinder (through [`crate::http::Client`]) refused or failed: its fault message
    /// and kind pass through unchanged.
    #[error(transparent)]
    Remote(RemoteError),
    /// A remote Cinder answered 2xx with something this client cannot read.
    #[error("the remote volume service answered with an unreadable {0}")]
    RemoteAnswer(&'static str),
}

/// A failed call to a remote Cinder: its `Display` is the service's fault message (what Cinder
/// said, without decoration) or, when no answer came, what went wrong on the way; the
/// transport's error is the [`source`](std::error::Error::source).
#[derive(Debug)]
pub struct RemoteError(pub ClientError);

impl std::fmt::Display for RemoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            ClientError::Api(api) => f.write_str(&api.message),
            other => other.fmt(f),
        }
    }
}

impl std::error::Error for RemoteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0 {
            ClientError::Api(_) => None,
            other => other.source(),
        }
    }
}

impl VolumeError {
    /// A not-found error for a volume.
    pub fn volume_not_found(id: impl ToString) -> Self {
        VolumeError::NotFound { kind: "Volume", id: id.to_string() }
    }
    /// A not-found error for a snapshot.
    pub fn snapshot_not_found(id: impl ToString) -> Self {
        VolumeError::NotFound { kind: "Snapshot", id: id.to_string() }
    }
    /// A not-found error for an attachment.
    pub fn attachment_not_found(id: impl ToString) -> Self {
        VolumeError::NotFound { kind: "Volume attachment", id: id.to_string() }
    }
}

impl From<StoreError> for VolumeError {
    fn from(e: StoreError) -> Self {
        VolumeError::Store(e)
    }
}

impl From<ClientError> for VolumeError {
    fn from(e: ClientError) -> Self {
        VolumeError::Remote(RemoteError(e))
    }
}

impl From<ImageTransferError> for VolumeError {
    fn from(e: ImageTransferError) -> Self {
        match e {
            ImageTransferError::NotFound(id) => VolumeError::NotFound { kind: "Image", id },
            other => VolumeError::Image(other),
        }
    }
}

impl Classify for VolumeError {
    fn kind(&self) -> ErrorKind {
        match self {
            VolumeError::InvalidInput(_)
            | VolumeError::InvalidVolume(_)
            | VolumeError::InvalidSnapshot(_)
            | VolumeError::InvalidVolumeType(_)
            | VolumeError::NotSupported(_) => ErrorKind::InvalidInput,
            VolumeError::NotFound { .. } => ErrorKind::NotFound,
            VolumeError::AlreadyExists(_) => ErrorKind::AlreadyExists,
            VolumeError::Conflict(_) | VolumeError::Contention(_) => ErrorKind::Conflict,
            VolumeError::QuotaExceeded(_) => ErrorKind::QuotaExceeded,
            VolumeError::Forbidden(_) => ErrorKind::Forbidden,
            VolumeError::NoValidBackend(_) => ErrorKind::InvalidInput,
            VolumeError::Backend { source, .. } => match source.kind() {
                ErrorKind::InvalidInput => ErrorKind::InvalidInput,
                ErrorKind::NotSupported => ErrorKind::InvalidInput,
                ErrorKind::QuotaExceeded => ErrorKind::QuotaExceeded,
                _ => ErrorKind::Internal,
            },
            VolumeError::Image(e) => e.kind(),
            VolumeError::Remote(e) => e.0.kind(),
            VolumeError::RemoteAnswer(_) => ErrorKind::Internal,
            VolumeError::Store(e) => match e.kind() {
                ErrorKind::Conflict | ErrorKind::AlreadyExists => ErrorKind::Conflict,
                ErrorKind::Unavailable => ErrorKind::Unavailable,
                _ => ErrorKind::Internal,
            },
        }
    }
}
