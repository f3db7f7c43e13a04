// SPDX-License-Identifier: Apache-2.0
//! [`LinuxNetError`]: the driver's one error type, classified once into
//! [`ErrorKind`] and converted into the traits'
//! [`BackendError`].

use ferrostack_core::ErrorKind;
use ferrostack_core::command::CommandError;
use ferrostack_core::error::Classify;
use ferrostack_network::backend::BackendError;

/// A failure of the Linux data plane driver.
#[derive(Debug, thiserror::Error)]
pub enum LinuxNetError {
    /// The configuration is unusable.
    #[error("invalid linuxnet configuration: {0}")]
    Config(String),
    /// The desired state refers to something the driver does not have (a network that was
    /// never ensured).
    #[error("{0} not found")]
    NotFound(String),
    /// The desired state is malformed (a MAC that is not one, a VNI out of range).
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The driver cannot do what was asked (a vnic type other than `normal`).
    #[error("not supported: {0}")]
    NotSupported(String),
    /// A netlink request failed.
    #[error("netlink {op} failed")]
    Netlink {
        /// What was being done.
        op: String,
        /// The cause.
        #[source]
        source: rtnetlink::Error,
    },
    /// A tool (`nft`, `ip netns`, `dnsmasq`) failed.
    #[error("command failed")]
    Command(#[source] CommandError),
    /// A file or namespace operation failed.
    #[error("{op} failed")]
    Io {
        /// What was being done.
        op: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl LinuxNetError {
    pub(crate) fn netlink(op: impl Into<String>, source: rtnetlink::Error) -> Self {
        LinuxNetError::Netlink { op: op.into(), source }
    }
    pub(crate) fn io(op: impl Into<String>, source: std::io::Error) -> Self {
        LinuxNetError::Io { op: op.into(), source }
    }
}

impl From<CommandError> for LinuxNetError {
    fn from(e: CommandError) -> Self {
        LinuxNetError::Command(e)
    }
}

impl Classify for LinuxNetError {
    fn kind(&self) -> ErrorKind {
        match self {
            LinuxNetError::Config(_) | LinuxNetError::Invalid(_) => ErrorKind::InvalidInput,
            LinuxNetError::NotFound(_) => ErrorKind::NotFound,
            LinuxNetError::NotSupported(_) => ErrorKind::NotSupported,
            // The kernel or a tool refused: retrying after the cause is fixed may help.
            LinuxNetError::Netlink { .. } | LinuxNetError::Io { .. } => ErrorKind::Unavailable,
            LinuxNetError::Command(e) => match e.kind() {
                ErrorKind::Timeout => ErrorKind::Timeout,
                _ => ErrorKind::Unavailable,
            },
        }
    }
}

impl From<LinuxNetError> for BackendError {
    fn from(e: LinuxNetError) -> Self {
        // The message carries the whole cause chain: BackendError keeps no source.
        let mut message = e.to_string();
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            message.push_str(": ");
            message.push_str(&c.to_string());
            cause = c.source();
        }
        BackendError { backend: "linuxnet", kind: e.kind(), message }
    }
}
