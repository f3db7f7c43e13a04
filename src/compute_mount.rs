// SPDX-License-Identifier: Apache-2.0
//! Nova in the facade: the adapters that give compute its image, volume and network ports over
//! the real services ([`ImagesForCompute`], [`VolumesForCompute`], [`NetworksForCompute`]),
//! [`Cloud::start_compute`] and [`Cloud::mount_compute`].
//!
//! Every adapter call runs with the caller's own context, so Glance's visibility, Cinder's
//! ownership and Neutron's policy apply to a server's resources exactly as to direct API calls.
//! The one exception is Neutron's port binding (`binding:host_id`), which Neutron reserves to
//! admins: compute binds with an internal service context, as Nova does with its admin client.

use crate::placement::ScheduledPlacement;
use crate::{Cloud, ServiceMount};
use bytes::Bytes;
use ferrostack_compute::error::ComputeError;
use ferrostack_compute::host::HostConfig;
use ferrostack_compute::hypervisor::Hypervisor;
use ferrostack_compute::local::{LocalCompute, Ports};
use ferrostack_compute::placement::PlacementConfig;
use ferrostack_compute::ports::{
    ConnectionInfo, Connector, ImageMeta, ImagePort, NetworkMeta, NetworkPort, VolumeMeta,
    VolumePort,
};
use ferrostack_compute::types::{AttachmentId, Vif};
use ferrostack_core::RequestContext;
use ferrostack_core::error::{Classify, ErrorKind};
use ferrostack_core::id::{ImageId, NetworkId, PortId, ServerId, VolumeId};
use ferrostack_identity::IdentityApi;
use ferrostack_image::{CreateImage, ImageApi, PatchOp};
use ferrostack_network::api::NetworkApi;
use ferrostack_network::types::{Port, PortUpdate};
use ferrostack_volume::VolumeApi;
use futures::StreamExt;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Where compute is mounted: `/compute`, with the catalog URL at `/compute/v2.1` as devstack
/// publishes it (no project id in the path since microversion-era clients).
pub const COMPUTE_MOUNT: ServiceMount = ServiceMount {
    service_type: "compute",
    name: "nova",
    path: "/compute",
    endpoint_suffix: "/v2.1",
};

/// Maps another service's error into compute's, keeping its class: a missing image stays a
/// 404/400 for the caller, an outage stays a 503.
fn dependency<E>(service: &'static str, e: E) -> ComputeError
where
    E: Classify + std::error::Error + Send + Sync + 'static,
{
    ComputeError::upstream(service, e)
}

/// Like [`dependency`], but a missing resource is compute's own `NotFound` for `what`.
fn lookup_error(
    what: &'static str,
    id: impl ToString,
    service: &'static str,
    e: impl Classify + std::error::Error + Send + Sync + 'static,
) -> ComputeError {
    match e.kind() {
        ErrorKind::NotFound => ComputeError::NotFound { what, id: id.to_string() },
        _ => dependency(service, e),
    }
}

// ---------------------------------------------------------------------------------------------
// Images

/// Compute's [`ImagePort`] over Glance: reads images for the host cache, writes snapshots.
#[derive(Debug, Clone)]
pub struct ImagesForCompute(pub Arc<dyn ImageApi>);

#[async_trait::async_trait]
impl ImagePort for ImagesForCompute {
    async fn image(&self, ctx: &RequestContext, id: ImageId) -> Result<ImageMeta, ComputeError> {
        let image =
            self.0.get(ctx, &id).await.map_err(|e| lookup_error("Image", id, "image", e))?;
        Ok(crate::bridges::meta(&image))
    }

    async fn fetch_to(
        &self,
        ctx: &RequestContext,
        id: ImageId,
        dest: &Path,
    ) -> Result<u64, ComputeError> {
        let (_, mut data) = self
            .0
            .download(ctx, &id)
            .await
            .map_err(|e| lookup_error("Image", id, "image", e))?
            .ok_or_else(|| ComputeError::Dependency {
                service: "image",
                message: format!("image {id} has no data"),
                kind: ErrorKind::Conflict,
            })?;
        let io = ComputeError::io("writing the image cache");
        let mut file = tokio::fs::File::create(dest).await.map_err(io)?;
        let mut written = 0u64;
        while let Some(chunk) = data.next().await {
            let chunk = chunk.map_err(|e| dependency("image", e))?;
            file.write_all(&chunk).await.map_err(io)?;
            written += chunk.len() as u64;
        }
        file.sync_all().await.map_err(io)?;
        Ok(written)
    }

    async fn create_snapshot(
        &self,
        ctx: &RequestContext,
        name: &str,
        server: ServerId,
        metadata: &BTreeMap<String, String>,
    ) -> Result<ImageId, ComputeError> {
        let mut body = serde_json::Map::new();
        for (k, v) in metadata {
            body.insert(k.clone(), v.clone().into());
        }
        body.insert("name".into(), name.into());
        body.insert("image_type".into(), "snapshot".into());
        body.insert("instance_uuid".into(), server.to_string().into());
        // Glance's body parser: metadata naming an attribute sets it, as in a create request.
        let body = CreateImage::from_json(body).map_err(|e| dependency("image", e))?;
        let image = self.0.create(ctx, body).await.map_err(|e| dependency("image", e))?;
        Ok(image.id)
    }

    async fn upload_snapshot(
        &self,
        ctx: &RequestContext,
        id: ImageId,
        src: &Path,
        disk_format: &str,
    ) -> Result<(), ComputeError> {
        let ops = vec![
            PatchOp::add("/disk_format", disk_format),
            PatchOp::add("/container_format", "bare"),
        ];
        self.0.update(ctx, &id, ops).await.map_err(|e| dependency("image", e))?;
        let file =
            tokio::fs::File::open(src).await.map_err(ComputeError::io("reading the snapshot"))?;
        let chunks = futures::stream::unfold(file, |mut file| async move {
            let mut buf = vec![0u8; 1 << 20];
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(Bytes::from(buf)), file))
                }
                Err(e) => {
                    Some((Err(ferrostack_image::ImageError::UploadInterrupted(e.into())), file))
                }
            }
        });
        self.0.upload(ctx, &id, chunks.boxed()).await.map_err(|e| dependency("image", e))?;
        Ok(())
    }

    async fn delete_image(&self, ctx: &RequestContext, id: ImageId) -> Result<(), ComputeError> {
        match self.0.delete(ctx, &id).await {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(dependency("image", e)),
            _ => Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Volumes

/// Compute's [`VolumePort`] over Cinder's attachment API (3.44 flow: reserve, connect,
/// complete, delete).
#[derive(Debug, Clone)]
pub struct VolumesForCompute(pub Arc<dyn VolumeApi>);

fn cinder_attachment(id: AttachmentId) -> ferrostack_volume::AttachmentId {
    uuid::Uuid::from(id).into()
}

#[async_trait::async_trait]
impl VolumePort for VolumesForCompute {
    async fn volume(&self, ctx: &RequestContext, id: VolumeId) -> Result<VolumeMeta, ComputeError> {
        let v = self
            .0
            .get_volume(ctx, &id)
            .await
            .map_err(|e| lookup_error("Volume", id, "volume", e))?;
        let status = v.status.as_str().to_owned();
        Ok(VolumeMeta { id, status, size_gb: v.size_gb, multiattach: v.multiattach })
    }

    async fn attachment_create(
        &self,
        ctx: &RequestContext,
        volume: VolumeId,
        server: ServerId,
    ) -> Result<AttachmentId, ComputeError> {
        let a = self
            .0
            .create_attachment(ctx, &volume, Some(server), None, None)
            .await
            .map_err(|e| lookup_error("Volume", volume, "volume", e))?;
        Ok(uuid::Uuid::from(a.id).into())
    }

    async fn attachment_update(
        &self,
        ctx: &RequestContext,
        attachment: AttachmentId,
        connector: &Connector,
    ) -> Result<ConnectionInfo, ComputeError> {
        let a = self
            .0
            .update_attachment(ctx, &cinder_attachment(attachment), connector.clone())
            .await
            .map_err(|e| dependency("volume", e))?;
        a.connection_info.ok_or_else(|| ComputeError::Dependency {
            service: "volume",
            message: format!("attachment {attachment} has no connection info"),
            kind: ErrorKind::Internal,
        })
    }

    async fn attachment_complete(
        &self,
        ctx: &RequestContext,
        attachment: AttachmentId,
    ) -> Result<(), ComputeError> {
        self.0
            .complete_attachment(ctx, &cinder_attachment(attachment))
            .await
            .map_err(|e| dependency("volume", e))?;
        Ok(())
    }

    async fn attachment_delete(
        &self,
        ctx: &RequestContext,
        attachment: AttachmentId,
    ) -> Result<(), ComputeError> {
        match self.0.delete_attachment(ctx, &cinder_attachment(attachment)).await {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(dependency("volume", e)),
            _ => Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Networks

/// Compute's [`NetworkPort`] over Neutron: ports are created and owned in the caller's
/// project, bound to the host with an internal context.
#[derive(Debug, Clone)]
pub struct NetworksForCompute(pub Arc<dyn NetworkApi>);

impl NetworksForCompute {
    async fn network_name(&self, ctx: &RequestContext, id: NetworkId) -> String {
        self.0.get_network(ctx, id).await.map(|n| n.name).unwrap_or_default()
    }

    /// Sets (or with `""` clears) the port's binding host with compute's own context.
    async fn set_binding(&self, port: PortId, host: &str) -> Result<Port, ComputeError> {
        let update = PortUpdate { binding_host_id: Some(host.into()), ..PortUpdate::default() };
        self.0
            .update_port(&RequestContext::internal("compute"), port, update)
            .await
            .map_err(|e| lookup_error("Port", port, "network", e))
    }

    fn vif(port: &Port, network_name: String, created_by_compute: bool) -> Vif {
        let details = port
            .binding_vif_details
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
            .collect();
        Vif {
            port_id: port.id,
            network_id: port.network_id,
            network_name,
            mac: port.mac_address.clone(),
            fixed_ips: port.fixed_ips.iter().map(|ip| ip.ip_address.to_string()).collect(),
            vif_type: port.binding_vif_type.clone(),
            details,
            created_by_compute,
        }
    }
}

#[async_trait::async_trait]
impl NetworkPort for NetworksForCompute {
    async fn network(
        &self,
        ctx: &RequestContext,
        id: NetworkId,
    ) -> Result<NetworkMeta, ComputeError> {
        let n = self
            .0
            .get_network(ctx, id)
            .await
            .map_err(|e| lookup_error("Network", id, "network", e))?;
        Ok(NetworkMeta { id, name: n.name })
    }

    async fn create_port(
        &self,
        ctx: &RequestContext,
        network: NetworkId,
        server: ServerId,
        host: &str,
        fixed_ip: Option<&str>,
    ) -> Result<Vif, ComputeError> {
        let mut body = json!({
            "network_id": network,
            "device_id": server,
            "device_owner": "compute:nova",
        });
        if let Some(ip) = fixed_ip {
            body["fixed_ips"] = json!([{ "ip_address": ip }]);
        }
        let req = serde_json::from_value(body)
            .map_err(|source| ComputeError::Codec { what: "port request", source })?;
        let port = self
            .0
            .create_port(ctx, req)
            .await
            .map_err(|e| lookup_error("Network", network, "network", e))?;
        let bound = match self.set_binding(port.id, host).await {
            Ok(p) => p,
            Err(e) => {
                // Nothing half-made: the caller never learns this port's id.
                let _ = self.0.delete_port(ctx, port.id).await;
                return Err(e);
            }
        };
        Ok(Self::vif(&bound, self.network_name(ctx, network).await, true))
    }

    async fn bind_port(
        &self,
        ctx: &RequestContext,
        port: PortId,
        server: ServerId,
        host: &str,
    ) -> Result<Vif, ComputeError> {
        let current = self
            .0
            .get_port(ctx, port)
            .await
            .map_err(|e| lookup_error("Port", port, "network", e))?;
        let server_id = server.to_string();
        if !current.device_id.is_empty() && current.device_id != server_id {
            return Err(ComputeError::Conflict(format!("Port {port} is still in use.")));
        }
        let claim = PortUpdate {
            device_id: Some(server_id),
            device_owner: Some("compute:nova".into()),
            ..PortUpdate::default()
        };
        self.0.update_port(ctx, port, claim).await.map_err(|e| dependency("network", e))?;
        let bound = self.set_binding(port, host).await?;
        Ok(Self::vif(&bound, self.network_name(ctx, current.network_id).await, false))
    }

    async fn unbind_port(&self, _ctx: &RequestContext, port: PortId) -> Result<(), ComputeError> {
        let release = PortUpdate {
            device_id: Some(String::new()),
            device_owner: Some(String::new()),
            binding_host_id: Some(String::new()),
            ..PortUpdate::default()
        };
        match self.0.update_port(&RequestContext::internal("compute"), port, release).await {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(dependency("network", e)),
            _ => Ok(()),
        }
    }

    async fn delete_port(&self, _ctx: &RequestContext, port: PortId) -> Result<(), ComputeError> {
        // Compute's own ports are deleted even when the user's token has since lost access
        // (deleting a server after a role change must not leak its ports).
        match self.0.delete_port(&RequestContext::internal("compute"), port).await {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(dependency("network", e)),
            _ => Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Mounting

impl Cloud {
    /// Starts compute in this process: a controller plus one host per `(name, hypervisor)`,
    /// over the cloud's store and bus, with the given services behind its ports, hosts chosen
    /// by the filter scheduler ([`ScheduledPlacement`]). Each host caches images in
    /// `DATA_DIR/compute/<name>/image-cache`.
    ///
    /// # Errors
    ///
    /// A host could not start (unusable data directory, failing store or bus).
    pub async fn start_compute(
        &self,
        ports: Ports,
        hosts: Vec<(String, Arc<dyn Hypervisor>)>,
    ) -> Result<LocalCompute, ComputeError> {
        let hosts = hosts
            .into_iter()
            .map(|(name, hv)| {
                let cache = self.data_dir().join("compute").join(&name).join("image-cache");
                (HostConfig::new(&name, cache), hv)
            })
            .collect();
        let placement =
            Arc::new(ScheduledPlacement::new(self.store().clone(), PlacementConfig::default()));
        LocalCompute::start_with_placement(
            self.store().clone(),
            self.bus().clone(),
            ports,
            placement,
            hosts,
        )
        .await
    }

    /// Mounts Nova v2.1 at `/compute` over `compute`'s controller; version documents answer
    /// without a token, everything else behind identity's token validation. The mounted
    /// router owns `compute`, so its hosts keep serving for as long as the cloud does, even
    /// when the caller drops its handle. Call `Cloud::register_catalog` afterwards to publish
    /// the endpoint.
    pub fn mount_compute(&mut self, identity: Arc<dyn IdentityApi>, compute: Arc<LocalCompute>) {
        let router = ferrostack_identity::http::authenticate(
            ferrostack_compute::http::router(compute.service.clone()),
            identity,
        )
        .layer(axum::Extension(compute));
        self.mount(COMPUTE_MOUNT, router);
    }
}
