// SPDX-License-Identifier: Apache-2.0
//! Consumer-side traits for what compute needs from the image, volume and network services
//! ([`ImagePort`], [`VolumePort`], [`NetworkPort`]), each with an in-memory fake with failure
//! injection. The facade adapts the real services to these traits; compute never depends on
//! their internals.

use crate::error::ComputeError;
use crate::types::{AttachmentId, Vif};
use ferrostack_core::RequestContext;
use ferrostack_core::error::ErrorKind;
use ferrostack_core::id::{ImageId, NetworkId, PortId, ServerId, VolumeId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Image metadata compute reads (shared with volume).
pub use ferrostack_core::image_meta::ImageMeta;

/// What compute needs from the image service.
///
/// # Contract
/// * `image` of an unknown or invisible image is [`ComputeError::NotFound`] (`what = "Image"`).
/// * `fetch_to` writes the image's bytes to `dest` (creating it) and returns the byte count;
///   on error `dest` may be partial and the caller removes it.
/// * `create_snapshot` creates a queued image record owned by the caller; `upload_snapshot`
///   streams `src` into it and makes it active; `delete_image` removes a record (rollback).
#[async_trait::async_trait]
pub trait ImagePort: Send + Sync + std::fmt::Debug {
    /// Image metadata.
    async fn image(&self, ctx: &RequestContext, id: ImageId) -> Result<ImageMeta, ComputeError>;
    /// Streams the image into the host cache file `dest`.
    async fn fetch_to(
        &self,
        ctx: &RequestContext,
        id: ImageId,
        dest: &Path,
    ) -> Result<u64, ComputeError>;
    /// Creates the record of a snapshot image.
    async fn create_snapshot(
        &self,
        ctx: &RequestContext,
        name: &str,
        server: ServerId,
        metadata: &BTreeMap<String, String>,
    ) -> Result<ImageId, ComputeError>;
    /// Uploads a snapshot's data.
    async fn upload_snapshot(
        &self,
        ctx: &RequestContext,
        id: ImageId,
        src: &Path,
        disk_format: &str,
    ) -> Result<(), ComputeError>;
    /// Deletes an image record (snapshot rollback).
    async fn delete_image(&self, ctx: &RequestContext, id: ImageId) -> Result<(), ComputeError>;
}

/// Volume metadata compute reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeMeta {
    /// The volume.
    pub id: VolumeId,
    /// Cinder status (`available`, `in-use`, `reserved`, ...).
    pub status: String,
    /// Size in GiB.
    pub size_gb: u64,
    /// Whether it can attach to several servers.
    pub multiattach: bool,
}

/// The host's connector (os-brick's connector properties) and the connection info the volume
/// service returns for it: the shared wire vocabulary of [`ferrostack_core::attach`].
pub use ferrostack_core::attach::{ConnectionInfo, Connector};

/// What compute needs from the volume service: Cinder's 3.44 attachment flow.
///
/// # Contract
/// * `attachment_create` (reserve) needs the volume `available` (or `in-use` when
///   multiattach) and moves it to `reserved`; otherwise [`ComputeError::Conflict`] /
///   `Invalid`.
/// * `attachment_update` with the host's connector returns connection info (`attaching`).
/// * `attachment_complete` makes the volume `in-use`.
/// * `attachment_delete` of any attachment state frees it; the volume is `available` when
///   no attachments remain. Deleting an unknown attachment is `Ok(())`.
#[async_trait::async_trait]
pub trait VolumePort: Send + Sync + std::fmt::Debug {
    /// Volume metadata.
    async fn volume(&self, ctx: &RequestContext, id: VolumeId) -> Result<VolumeMeta, ComputeError>;
    /// Reserve: creates an attachment without a connector.
    async fn attachment_create(
        &self,
        ctx: &RequestContext,
        volume: VolumeId,
        server: ServerId,
    ) -> Result<AttachmentId, ComputeError>;
    /// Connect: updates the attachment with the connector, returning connection info.
    async fn attachment_update(
        &self,
        ctx: &RequestContext,
        attachment: AttachmentId,
        connector: &Connector,
    ) -> Result<ConnectionInfo, ComputeError>;
    /// Complete: the guest has the device.
    async fn attachment_complete(
        &self,
        ctx: &RequestContext,
        attachment: AttachmentId,
    ) -> Result<(), ComputeError>;
    /// Delete: detaches and frees the attachment.
    async fn attachment_delete(
        &self,
        ctx: &RequestContext,
        attachment: AttachmentId,
    ) -> Result<(), ComputeError>;
}

/// Network metadata compute reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkMeta {
    /// The network.
    pub id: NetworkId,
    /// Its name.
    pub name: String,
}

/// What compute needs from the network service.
///
/// # Contract
/// * `create_port` creates a port on `network` owned by the caller's project with
///   `device_id = server`, bound to `host`, and returns its VIF details.
/// * `bind_port` binds an existing port (the user's) to `server` on `host`.
/// * `unbind_port` clears device id and binding; `delete_port` removes the port. Both are
///   `Ok(())` for unknown ports, so rollback can always call them.
#[async_trait::async_trait]
pub trait NetworkPort: Send + Sync + std::fmt::Debug {
    /// Network metadata; unknown is [`ComputeError::NotFound`] (`what = "Network"`).
    async fn network(
        &self,
        ctx: &RequestContext,
        id: NetworkId,
    ) -> Result<NetworkMeta, ComputeError>;
    /// Creates and binds a port.
    async fn create_port(
        &self,
        ctx: &RequestContext,
        network: NetworkId,
        server: ServerId,
        host: &str,
        fixed_ip: Option<&str>,
    ) -> Result<Vif, ComputeError>;
    /// Binds an existing port.
    async fn bind_port(
        &self,
        ctx: &RequestContext,
        port: PortId,
        server: ServerId,
        host: &str,
    ) -> Result<Vif, ComputeError>;
    /// Unbinds a port the user brought.
    async fn unbind_port(&self, ctx: &RequestContext, port: PortId) -> Result<(), ComputeError>;
    /// Deletes a port compute created.
    async fn delete_port(&self, ctx: &RequestContext, port: PortId) -> Result<(), ComputeError>;
}

/// Failures a test asked a fake to inject: how many more calls of each operation fail.
#[derive(Debug, Default)]
struct Failures(HashMap<&'static str, u32>);

impl Failures {
    /// Counts down `op`'s injected failures: an `Unavailable` error of `service` while any
    /// are left.
    fn check(&mut self, service: &'static str, op: &'static str) -> Result<(), ComputeError> {
        match self.0.get_mut(op) {
            Some(n) if *n > 0 => {
                *n -= 1;
                Err(ComputeError::Dependency {
                    service,
                    message: format!("injected failure of {op}"),
                    kind: ErrorKind::Unavailable,
                })
            }
            _ => Ok(()),
        }
    }
}

/// The state of a fake service behind one lock, shared by its clones. A poisoned lock is taken
/// over: a test that panicked must not hide the state from the next assertion.
#[derive(Debug, Default)]
struct Shared<S>(Arc<Mutex<S>>);

impl<S> Clone for Shared<S> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<S> Shared<S> {
    fn lock(&self) -> std::sync::MutexGuard<'_, S> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

// ---------------------------------------------------------------------------------------------
// Fake image service

#[derive(Debug, Default)]
struct ImagesState {
    images: BTreeMap<ImageId, (ImageMeta, Vec<u8>)>,
    failures: Failures,
}

/// An in-memory image service.
#[derive(Debug, Clone, Default)]
pub struct FakeImages {
    state: Shared<ImagesState>,
}

impl FakeImages {
    /// An empty service.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds an active image with `data`.
    pub fn add(&self, name: &str, disk_format: &str, data: Vec<u8>) -> ImageId {
        let id = ImageId::new();
        let meta = ImageMeta {
            id,
            name: name.into(),
            status: "active".into(),
            disk_format: Some(disk_format.into()),
            container_format: Some("bare".into()),
            size: Some(data.len() as u64),
            min_disk: 0,
            min_ram: 0,
        };
        self.state.lock().images.insert(id, (meta, data));
        id
    }
    /// Metadata of an image, if present.
    pub fn get(&self, id: ImageId) -> Option<ImageMeta> {
        self.state.lock().images.get(&id).map(|(m, _)| m.clone())
    }
    /// The number of images.
    pub fn count(&self) -> usize {
        self.state.lock().images.len()
    }
    /// Makes the next `times` calls of `op` (`"image"`, `"fetch_to"`, `"create_snapshot"`,
    /// `"upload_snapshot"`) fail.
    pub fn fail_next(&self, op: &'static str, times: u32) {
        self.state.lock().failures.0.insert(op, times);
    }
}

#[async_trait::async_trait]
impl ImagePort for FakeImages {
    async fn image(&self, _: &RequestContext, id: ImageId) -> Result<ImageMeta, ComputeError> {
        let mut st = self.state.lock();
        st.failures.check("image", "image")?;
        st.images
            .get(&id)
            .map(|(m, _)| m.clone())
            .ok_or(ComputeError::NotFound { what: "Image", id: id.to_string() })
    }
    async fn fetch_to(
        &self,
        _: &RequestContext,
        id: ImageId,
        dest: &Path,
    ) -> Result<u64, ComputeError> {
        let data = {
            let mut st = self.state.lock();
            st.failures.check("image", "fetch_to")?;
            st.images
                .get(&id)
                .map(|(_, d)| d.clone())
                .ok_or(ComputeError::NotFound { what: "Image", id: id.to_string() })?
        };
        tokio::fs::write(dest, &data).await.map_err(ComputeError::io("writing the image cache"))?;
        Ok(data.len() as u64)
    }
    async fn create_snapshot(
        &self,
        _: &RequestContext,
        name: &str,
        _server: ServerId,
        _metadata: &BTreeMap<String, String>,
    ) -> Result<ImageId, ComputeError> {
        let mut st = self.state.lock();
        st.failures.check("image", "create_snapshot")?;
        let id = ImageId::new();
        let meta = ImageMeta {
            id,
            name: name.into(),
            status: "queued".into(),
            disk_format: None,
            container_format: None,
            size: None,
            min_disk: 0,
            min_ram: 0,
        };
        st.images.insert(id, (meta, Vec::new()));
        Ok(id)
    }
    async fn upload_snapshot(
        &self,
        _: &RequestContext,
        id: ImageId,
        src: &Path,
        disk_format: &str,
    ) -> Result<(), ComputeError> {
        self.state.lock().failures.check("image", "upload_snapshot")?;
        let data = tokio::fs::read(src).await.map_err(ComputeError::io("reading the snapshot"))?;
        let mut st = self.state.lock();
        let (meta, bytes) = st
            .images
            .get_mut(&id)
            .ok_or(ComputeError::NotFound { what: "Image", id: id.to_string() })?;
        meta.status = "active".into();
        meta.disk_format = Some(disk_format.into());
        meta.size = Some(data.len() as u64);
        *bytes = data;
        Ok(())
    }
    async fn delete_image(&self, _: &RequestContext, id: ImageId) -> Result<(), ComputeError> {
        self.state.lock().images.remove(&id);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Fake volume service

/// An attachment in the fake volume service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeAttachment {
    /// The volume.
    pub volume: VolumeId,
    /// The server.
    pub server: ServerId,
    /// `reserved`, `attaching`, `attached`.
    pub status: &'static str,
}

#[derive(Debug, Default)]
struct VolumesState {
    volumes: BTreeMap<VolumeId, VolumeMeta>,
    attachments: BTreeMap<AttachmentId, FakeAttachment>,
    failures: Failures,
}

/// An in-memory volume service implementing the attachment flow.
#[derive(Debug, Clone, Default)]
pub struct FakeVolumes {
    state: Shared<VolumesState>,
}

impl FakeVolumes {
    /// An empty service.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds an available volume.
    pub fn add(&self, size_gb: u64) -> VolumeId {
        let id = VolumeId::new();
        self.state
            .lock()
            .volumes
            .insert(id, VolumeMeta { id, status: "available".into(), size_gb, multiattach: false });
        id
    }
    /// A volume's status.
    pub fn status(&self, id: VolumeId) -> Option<String> {
        self.state.lock().volumes.get(&id).map(|v| v.status.clone())
    }
    /// Every attachment.
    pub fn attachments(&self) -> Vec<(AttachmentId, FakeAttachment)> {
        self.state.lock().attachments.iter().map(|(k, v)| (*k, v.clone())).collect()
    }
    /// Makes the next `times` calls of `op` (`"attachment_create"`, `"attachment_update"`,
    /// `"attachment_complete"`, `"attachment_delete"`) fail.
    pub fn fail_next(&self, op: &'static str, times: u32) {
        self.state.lock().failures.0.insert(op, times);
    }
    fn refresh(st: &mut VolumesState, volume: VolumeId) {
        let atts: Vec<_> = st.attachments.values().filter(|a| a.volume == volume).collect();
        let status = if atts.is_empty() {
            "available"
        } else if atts.iter().any(|a| a.status == "attached") {
            "in-use"
        } else if atts.iter().any(|a| a.status == "attaching") {
            "attaching"
        } else {
            "reserved"
        };
        if let Some(v) = st.volumes.get_mut(&volume) {
            v.status = status.into();
        }
    }
}

impl VolumesState {
    /// Moves `attachment` to `status` and its volume's status with it; the volume.
    fn advance(
        &mut self,
        attachment: AttachmentId,
        status: &'static str,
    ) -> Result<VolumeId, ComputeError> {
        let a = self
            .attachments
            .get_mut(&attachment)
            .ok_or(ComputeError::NotFound { what: "Attachment", id: attachment.to_string() })?;
        a.status = status;
        let volume = a.volume;
        FakeVolumes::refresh(self, volume);
        Ok(volume)
    }
}

#[async_trait::async_trait]
impl VolumePort for FakeVolumes {
    async fn volume(&self, _: &RequestContext, id: VolumeId) -> Result<VolumeMeta, ComputeError> {
        self.state
            .lock()
            .volumes
            .get(&id)
            .cloned()
            .ok_or(ComputeError::NotFound { what: "Volume", id: id.to_string() })
    }
    async fn attachment_create(
        &self,
        _: &RequestContext,
        volume: VolumeId,
        server: ServerId,
    ) -> Result<AttachmentId, ComputeError> {
        let mut st = self.state.lock();
        st.failures.check("volume", "attachment_create")?;
        let v = st
            .volumes
            .get(&volume)
            .ok_or(ComputeError::NotFound { what: "Volume", id: volume.to_string() })?;
        let ok = v.status == "available" || (v.multiattach && v.status == "in-use");
        if !ok {
            return Err(ComputeError::Invalid(format!(
                "Invalid volume: volume {volume} status must be available, but current status is: {}",
                v.status
            )));
        }
        let id = AttachmentId::new();
        st.attachments.insert(id, FakeAttachment { volume, server, status: "reserved" });
        Self::refresh(&mut st, volume);
        Ok(id)
    }
    async fn attachment_update(
        &self,
        _: &RequestContext,
        attachment: AttachmentId,
        connector: &Connector,
    ) -> Result<ConnectionInfo, ComputeError> {
        let mut st = self.state.lock();
        st.failures.check("volume", "attachment_update")?;
        let volume = st.advance(attachment, "attaching")?;
        Ok(ConnectionInfo {
            driver_volume_type: "file".into(),
            data: serde_json::Map::from_iter([
                (
                    "device_path".to_owned(),
                    format!("/var/lib/ferrostack/volumes/volume-{volume}").into(),
                ),
                ("format".to_owned(), "raw".into()),
                ("host".to_owned(), connector.host.clone().into()),
            ]),
        })
    }
    async fn attachment_complete(
        &self,
        _: &RequestContext,
        attachment: AttachmentId,
    ) -> Result<(), ComputeError> {
        let mut st = self.state.lock();
        st.failures.check("volume", "attachment_complete")?;
        st.advance(attachment, "attached")?;
        Ok(())
    }
    async fn attachment_delete(
        &self,
        _: &RequestContext,
        attachment: AttachmentId,
    ) -> Result<(), ComputeError> {
        let mut st = self.state.lock();
        st.failures.check("volume", "attachment_delete")?;
        if let Some(a) = st.attachments.remove(&attachment) {
            Self::refresh(&mut st, a.volume);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Fake network service

/// A port in the fake network service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakePort {
    /// The network.
    pub network: NetworkId,
    /// The bound server, if any.
    pub device_id: Option<ServerId>,
    /// The bound host.
    pub host: Option<String>,
    /// The IP.
    pub ip: String,
    /// The MAC.
    pub mac: String,
}

#[derive(Debug, Default)]
struct NetworksState {
    networks: BTreeMap<NetworkId, String>,
    ports: BTreeMap<PortId, FakePort>,
    next_ip: u32,
    failures: Failures,
}

/// An in-memory network service.
#[derive(Debug, Clone, Default)]
pub struct FakeNetworks {
    state: Shared<NetworksState>,
}

impl FakeNetworks {
    /// An empty service.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a network.
    pub fn add_network(&self, name: &str) -> NetworkId {
        let id = NetworkId::new();
        self.state.lock().networks.insert(id, name.into());
        id
    }
    /// Adds an unbound port (as a user would create one).
    pub fn add_port(&self, network: NetworkId) -> PortId {
        let mut st = self.state.lock();
        let id = PortId::new();
        st.next_ip += 1;
        let n = st.next_ip;
        st.ports.insert(
            id,
            FakePort {
                network,
                device_id: None,
                host: None,
                ip: format!("10.0.{}.{}", n / 250, n % 250 + 2),
                mac: format!(
                    "fa:16:3e:{:02x}:{:02x}:{:02x}",
                    (n >> 16) & 0xff,
                    (n >> 8) & 0xff,
                    n & 0xff
                ),
            },
        );
        id
    }
    /// Every port.
    pub fn ports(&self) -> Vec<(PortId, FakePort)> {
        self.state.lock().ports.iter().map(|(k, v)| (*k, v.clone())).collect()
    }
    /// Makes the next `times` calls of `op` (`"create_port"`, `"bind_port"`,
    /// `"delete_port"`) fail.
    pub fn fail_next(&self, op: &'static str, times: u32) {
        self.state.lock().failures.0.insert(op, times);
    }
    fn vif(id: PortId, p: &FakePort, network_name: &str, created: bool) -> Vif {
        Vif {
            port_id: id,
            network_id: p.network,
            network_name: network_name.into(),
            mac: p.mac.clone(),
            fixed_ips: vec![p.ip.clone()],
            vif_type: "tap".into(),
            details: BTreeMap::from([("devname".into(), format!("tap{}", &id.simple()[..11]))]),
            created_by_compute: created,
        }
    }
}

#[async_trait::async_trait]
impl NetworkPort for FakeNetworks {
    async fn network(
        &self,
        _: &RequestContext,
        id: NetworkId,
    ) -> Result<NetworkMeta, ComputeError> {
        self.state
            .lock()
            .networks
            .get(&id)
            .map(|name| NetworkMeta { id, name: name.clone() })
            .ok_or(ComputeError::NotFound { what: "Network", id: id.to_string() })
    }
    async fn create_port(
        &self,
        ctx: &RequestContext,
        network: NetworkId,
        server: ServerId,
        host: &str,
        _fixed_ip: Option<&str>,
    ) -> Result<Vif, ComputeError> {
        self.state.lock().failures.check("network", "create_port")?;
        let meta = self.network(ctx, network).await?;
        let id = self.add_port(network);
        let mut st = self.state.lock();
        let p =
            st.ports.get_mut(&id).ok_or_else(|| ComputeError::Internal("port vanished".into()))?;
        p.device_id = Some(server);
        p.host = Some(host.into());
        Ok(Self::vif(id, p, &meta.name, true))
    }
    async fn bind_port(
        &self,
        ctx: &RequestContext,
        port: PortId,
        server: ServerId,
        host: &str,
    ) -> Result<Vif, ComputeError> {
        self.state.lock().failures.check("network", "bind_port")?;
        let network = self
            .state
            .lock()
            .ports
            .get(&port)
            .map(|p| p.network)
            .ok_or(ComputeError::NotFound { what: "Port", id: port.to_string() })?;
        let meta = self.network(ctx, network).await?;
        let mut st = self.state.lock();
        let p = st
            .ports
            .get_mut(&port)
            .ok_or(ComputeError::NotFound { what: "Port", id: port.to_string() })?;
        if p.device_id.is_some_and(|d| d != server) {
            return Err(ComputeError::Conflict(format!("Port {port} is still in use.")));
        }
        p.device_id = Some(server);
        p.host = Some(host.into());
        Ok(Self::vif(port, p, &meta.name, false))
    }
    async fn unbind_port(&self, _: &RequestContext, port: PortId) -> Result<(), ComputeError> {
        if let Some(p) = self.state.lock().ports.get_mut(&port) {
            p.device_id = None;
            p.host = None;
        }
        Ok(())
    }
    async fn delete_port(&self, _: &RequestContext, port: PortId) -> Result<(), ComputeError> {
        let mut st = self.state.lock();
        st.failures.check("network", "delete_port")?;
        st.ports.remove(&port);
        Ok(())
    }
}
