// SPDX-License-Identifier: Apache-2.0
//! The versioned messages the controller sends to hosts over the [`ferrostack_core::bus::Bus`]
//! on topic `compute.<host>`. The message version is `"<major>.<minor>"`; a host accepts any
//! minor of its major (new optional fields are minor bumps) and refuses other majors.

use crate::hypervisor::RebootKind;
use crate::types::{AttachmentId, Flavor};
use ferrostack_core::RequestContext;
use ferrostack_core::bus::{BusError, Message};
use ferrostack_core::id::{ImageId, NetworkId, PortId, ServerId, VolumeId};
use serde::{Deserialize, Serialize};

/// The current message version.
pub const RPC_VERSION: &str = "1.0";
/// The major version hosts accept.
pub const RPC_MAJOR: &str = "1";

/// The bus topic of a host.
pub fn host_topic(host: &str) -> String {
    format!("compute.{host}")
}

/// An operation for a host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", content = "args", rename_all = "snake_case")]
pub enum HostRequest {
    /// Build a scheduled instance (cast).
    BuildInstance {
        /// The server.
        server: ServerId,
    },
    /// Delete an instance (cast).
    TerminateInstance {
        /// The server.
        server: ServerId,
    },
    /// Power off (cast).
    StopInstance {
        /// The server.
        server: ServerId,
    },
    /// Power on (cast).
    StartInstance {
        /// The server.
        server: ServerId,
    },
    /// Reboot (cast).
    RebootInstance {
        /// The server.
        server: ServerId,
        /// Soft or hard.
        kind: RebootKind,
    },
    /// Resize to a flavor (cast).
    ResizeInstance {
        /// The server.
        server: ServerId,
        /// The new flavor.
        flavor: Flavor,
    },
    /// Confirm a resize (cast).
    ConfirmResize {
        /// The server.
        server: ServerId,
    },
    /// Revert a resize (cast).
    RevertResize {
        /// The server.
        server: ServerId,
    },
    /// Rebuild from an image (cast).
    RebuildInstance {
        /// The server.
        server: ServerId,
        /// The new image.
        image: Option<ImageId>,
    },
    /// Snapshot into a created image record (cast).
    SnapshotInstance {
        /// The server.
        server: ServerId,
        /// The queued image.
        image: ImageId,
    },
    /// Attach a reserved volume (call).
    AttachVolume {
        /// The server.
        server: ServerId,
        /// The volume.
        volume: VolumeId,
        /// The reserved attachment.
        attachment: AttachmentId,
        /// The device name.
        device: String,
        /// Delete on termination.
        delete_on_termination: bool,
    },
    /// Detach a volume (call).
    DetachVolume {
        /// The server.
        server: ServerId,
        /// The volume.
        volume: VolumeId,
    },
    /// Attach an interface (call).
    AttachInterface {
        /// The server.
        server: ServerId,
        /// A network to create a port on.
        network: Option<NetworkId>,
        /// An existing port.
        port: Option<PortId>,
    },
    /// Detach an interface (call).
    DetachInterface {
        /// The server.
        server: ServerId,
        /// The port.
        port: PortId,
    },
    /// A console URL (call).
    ConsoleUrl {
        /// The server.
        server: ServerId,
        /// `vnc`, `spice`, `serial`.
        protocol: String,
    },
    /// The serial console output (call).
    ConsoleOutput {
        /// The server.
        server: ServerId,
        /// The last this many lines; all with `None`.
        lines: Option<u32>,
    },
}

impl HostRequest {
    /// The method name.
    pub fn method(&self) -> &'static str {
        match self {
            HostRequest::BuildInstance { .. } => "build_instance",
            HostRequest::TerminateInstance { .. } => "terminate_instance",
            HostRequest::StopInstance { .. } => "stop_instance",
            HostRequest::StartInstance { .. } => "start_instance",
            HostRequest::RebootInstance { .. } => "reboot_instance",
            HostRequest::ResizeInstance { .. } => "resize_instance",
            HostRequest::ConfirmResize { .. } => "confirm_resize",
            HostRequest::RevertResize { .. } => "revert_resize",
            HostRequest::RebuildInstance { .. } => "rebuild_instance",
            HostRequest::SnapshotInstance { .. } => "snapshot_instance",
            HostRequest::AttachVolume { .. } => "attach_volume",
            HostRequest::DetachVolume { .. } => "detach_volume",
            HostRequest::AttachInterface { .. } => "attach_interface",
            HostRequest::DetachInterface { .. } => "detach_interface",
            HostRequest::ConsoleUrl { .. } => "console_url",
            HostRequest::ConsoleOutput { .. } => "console_output",
        }
    }
}

/// A request with the caller's context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// The caller (the token itself is not carried).
    pub ctx: RequestContext,
    /// The operation.
    pub request: HostRequest,
}

impl Envelope {
    /// The bus message, at [`RPC_VERSION`].
    pub fn to_message(&self) -> Result<Message, BusError> {
        Ok(Message::new(self.request.method(), self)?.with_version(RPC_VERSION))
    }
}

/// Whether a host of this version can handle a message of `version`.
pub fn version_compatible(version: &str) -> bool {
    version.split('.').next() == Some(RPC_MAJOR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_with_version_and_method() {
        let env = Envelope {
            ctx: RequestContext::internal("test"),
            request: HostRequest::RebootInstance {
                server: ServerId::new(),
                kind: RebootKind::Hard,
            },
        };
        let msg = env.to_message().unwrap();
        assert_eq!(msg.method, "reboot_instance");
        assert_eq!(msg.version, "1.0");
        assert_eq!(msg.payload["request"]["method"], "reboot_instance");
        assert_eq!(msg.payload["request"]["args"]["kind"], "HARD");
        let back: Envelope = msg.decode().unwrap();
        assert_eq!(back.request, env.request);
        assert!(version_compatible("1.7"));
        assert!(!version_compatible("2.0"));
    }
}
