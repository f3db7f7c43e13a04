// SPDX-License-Identifier: Apache-2.0
//! The scheduler's error type.

use ferrostack_core::error::{Classify, ErrorKind};
use ferrostack_core::store::StoreError;

/// Everything that can go wrong while scheduling.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchedulerError {
    /// No host passed the filters, or no host could be claimed (Nova's `NoValidHost`).
    #[error("no valid host was found: {reason}")]
    NoValidHost {
        /// Why, in words.
        reason: String,
    },
    /// The request or an input document is malformed.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The claim store failed.
    #[error("claim store failed")]
    Store(#[source] StoreError),
    /// An unknown filter or weigher name in the configuration.
    #[error("unknown {what} {name:?}")]
    UnknownPlugin {
        /// `filter` or `weigher`.
        what: &'static str,
        /// The name.
        name: String,
    },
}

impl Classify for SchedulerError {
    fn kind(&self) -> ErrorKind {
        match self {
            // Nova answers NoValidHost to the API as a failed build, not a client error;
            // callers see a resource shortage.
            SchedulerError::NoValidHost { .. } => ErrorKind::Unavailable,
            SchedulerError::InvalidInput(_) | SchedulerError::UnknownPlugin { .. } => {
                ErrorKind::InvalidInput
            }
            SchedulerError::Store(e) => e.kind(),
        }
    }
}

impl From<StoreError> for SchedulerError {
    fn from(e: StoreError) -> Self {
        SchedulerError::Store(e)
    }
}
