// SPDX-License-Identifier: Apache-2.0
//! The crate's error type.

use ferrostack_core::error::{Classify, ErrorKind};

/// Everything that can go wrong in the object store crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObjectStoreError {
    /// A ring file could not be read or written.
    #[error("ring file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A ring file is not a valid Swift ring (bad magic, truncated, inconsistent, too large).
    #[error("invalid ring file: {0}")]
    InvalidRing(String),
    /// A builder operation got invalid input (unknown device, bad weight, bad part power).
    #[error("invalid ring builder input: {0}")]
    InvalidInput(String),
    /// The requested operation cannot be done in this state (for example, a ring with no
    /// devices, or v1 format with device ids above 65534).
    #[error("ring builder: {0}")]
    Conflict(String),
}

impl ObjectStoreError {
    pub(crate) fn invalid_ring(msg: impl Into<String>) -> Self {
        ObjectStoreError::InvalidRing(msg.into())
    }
    pub(crate) fn invalid_input(msg: impl Into<String>) -> Self {
        ObjectStoreError::InvalidInput(msg.into())
    }
}

impl Classify for ObjectStoreError {
    fn kind(&self) -> ErrorKind {
        match self {
            ObjectStoreError::Io { .. } => ErrorKind::Unavailable,
            ObjectStoreError::InvalidRing(_) | ObjectStoreError::InvalidInput(_) => {
                ErrorKind::InvalidInput
            }
            ObjectStoreError::Conflict(_) => ErrorKind::Conflict,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = ObjectStoreError> = std::result::Result<T, E>;
