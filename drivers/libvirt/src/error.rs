// SPDX-License-Identifier: Apache-2.0
//! [`LibvirtError`]: every way the libvirt driver core fails, classified once and converted
//! into [`ComputeError`] at the `Hypervisor` boundary.

use ferrostack_compute::error::ComputeError;
use ferrostack_core::command::CommandError;
use ferrostack_core::error::{Classify, ErrorKind};

/// A libvirt driver failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LibvirtError {
    /// A libvirt call failed.
    #[error("libvirt {op} failed: {message} (code {code})")]
    Libvirt {
        /// The call (`define`, `create`, ...).
        op: &'static str,
        /// libvirt's error number.
        code: i32,
        /// libvirt's message.
        message: String,
    },
    /// The domain does not exist.
    #[error("domain {0} does not exist")]
    NoDomain(String),
    /// The domain already exists (or is being created).
    #[error("domain {0} already exists")]
    Exists(String),
    /// The request cannot be turned into a domain (a bad device name, missing connection
    /// data).
    #[error("{0}")]
    Invalid(String),
    /// Not supported by this driver or connection kind.
    #[error("{0}")]
    NotSupported(String),
    /// A volume or port is not attached.
    #[error("{0} is not attached")]
    NotAttached(String),
    /// The console has no address yet, or the domain is not running.
    #[error("{0}")]
    NotReady(String),
    /// A host tool (`qemu-img`, `genisoimage`) failed.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// Local state (instance directory, attachment records) could not be read or written.
    #[error("instance state: {0}")]
    Io(#[from] std::io::Error),
    /// A local state record (the attachment records) could not be encoded or decoded.
    #[error("instance state record: {0}")]
    Record(#[source] serde_json::Error),
    /// The blocking worker was cancelled or panicked.
    #[error("libvirt worker failed")]
    Worker(#[source] tokio::task::JoinError),
}

impl LibvirtError {
    /// Wraps a `virt` error from call `op`.
    pub fn from_virt(op: &'static str, e: virt::error::Error) -> Self {
        match e.code() {
            virt::error::ErrorNumber::NoDomain => {
                return LibvirtError::NoDomain(e.message().to_string());
            }
            virt::error::ErrorNumber::OperationUnsupported => {
                return LibvirtError::NotSupported(format!("{op}: {}", e.message()));
            }
            _ => {}
        }
        LibvirtError::Libvirt { op, code: e.code() as i32, message: e.message().to_string() }
    }

    /// Converts into the compute error for driver `driver` doing `op`.
    pub fn into_compute(self, driver: &'static str, op: &'static str) -> ComputeError {
        match self {
            LibvirtError::NoDomain(id) => ComputeError::NotFound { what: "Instance", id },
            LibvirtError::Exists(id) => {
                ComputeError::AlreadyExists(format!("Instance {id} already exists."))
            }
            LibvirtError::Invalid(m) => ComputeError::Invalid(m),
            LibvirtError::NotSupported(m) => ComputeError::NotSupported(m),
            LibvirtError::NotAttached(m) => ComputeError::NotFound { what: "Attachment", id: m },
            LibvirtError::NotReady(m) => ComputeError::Conflict(m),
            other => ComputeError::Hypervisor { driver, op, source: Box::new(other) },
        }
    }
}

impl Classify for LibvirtError {
    fn kind(&self) -> ErrorKind {
        match self {
            LibvirtError::NoDomain(_) | LibvirtError::NotAttached(_) => ErrorKind::NotFound,
            LibvirtError::Exists(_) => ErrorKind::AlreadyExists,
            LibvirtError::Invalid(_) => ErrorKind::InvalidInput,
            LibvirtError::NotSupported(_) => ErrorKind::NotSupported,
            LibvirtError::NotReady(_) => ErrorKind::Conflict,
            LibvirtError::Command(e) => e.kind(),
            LibvirtError::Libvirt { .. }
            | LibvirtError::Io(_)
            | LibvirtError::Record(_)
            | LibvirtError::Worker(_) => ErrorKind::Internal,
        }
    }
}
