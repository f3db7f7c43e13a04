// SPDX-License-Identifier: Apache-2.0
//! The crate's error type.

use ferrostack_core::error::{BoxError, Classify, ErrorKind};
use ferrostack_core::http::ApiError;
use ferrostack_core::http::client::ClientError;
use ferrostack_core::policy::PolicyError;
use ferrostack_core::store::StoreError;
use ferrostack_core::store::retry::Contention;

/// Everything that can go wrong in the image service.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// No such image, or not visible to the caller (Glance answers 404 for both).
    #[error("no image found with id {0}")]
    NotFound(String),
    /// No such member of an image.
    #[error("member {member} not found for image {image}")]
    MemberNotFound {
        /// The image.
        image: String,
        /// The member's project.
        member: String,
    },
    /// The request is malformed or violates a constraint.
    #[error("{0}")]
    Invalid(String),
    /// The operation is not allowed for this caller or on this attribute.
    #[error("{0}")]
    Forbidden(String),
    /// The image is in a state that forbids the operation, or a concurrent change won.
    #[error("{0}")]
    Conflict(String),
    /// A project quota or the image size cap would be exceeded.
    #[error("{0}")]
    OverLimit(String),
    /// The uploaded data was refused by the format inspector.
    #[error("image data refused: {0}")]
    BadImageData(#[from] crate::inspector::Rejection),
    /// The client's stream broke during an upload.
    #[error("upload interrupted")]
    UploadInterrupted(#[source] BoxError),
    /// Policy refused the operation.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// A change lost its optimistic-transaction race too many times (the image is busy).
    #[error(transparent)]
    Contention(#[from] Contention),
    /// The record store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The image data store failed.
    #[error("image data store failure")]
    Backend(#[source] BoxError),
    /// A remote image service refused the call: its fault, with its message.
    #[error("{}", .0.message)]
    Api(ApiError),
    /// A remote image service could not be reached, or answered what this client cannot read.
    #[error("the image service could not be called")]
    Remote(#[source] ClientError),
}

impl From<ClientError> for ImageError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Api(api) => ImageError::Api(api),
            other => ImageError::Remote(other),
        }
    }
}

impl Classify for ImageError {
    fn kind(&self) -> ErrorKind {
        match self {
            ImageError::NotFound(_) | ImageError::MemberNotFound { .. } => ErrorKind::NotFound,
            ImageError::Invalid(_) | ImageError::BadImageData(_) => ErrorKind::InvalidInput,
            ImageError::UploadInterrupted(_) => ErrorKind::InvalidInput,
            ImageError::Forbidden(_) => ErrorKind::Forbidden,
            ImageError::Conflict(_) => ErrorKind::Conflict,
            ImageError::OverLimit(_) => ErrorKind::QuotaExceeded,
            ImageError::Policy(e) => e.kind(),
            ImageError::Store(e) => e.kind(),
            ImageError::Contention(e) => e.kind(),
            ImageError::Backend(_) => ErrorKind::Unavailable,
            ImageError::Api(e) => e.kind,
            ImageError::Remote(e) => e.kind(),
        }
    }
}

/// A shorthand for results of this crate.
pub type Result<T, E = ImageError> = std::result::Result<T, E>;
