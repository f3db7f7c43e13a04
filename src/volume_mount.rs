// SPDX-License-Identifier: Apache-2.0
//! Cinder in the facade: [`Cloud::volume_service`], [`Cloud::default_volume_backend`] and
//! [`Cloud::mount_volume`].

use crate::{Cloud, ServiceMount};
use ferrostack_core::command::SystemRunner;
use ferrostack_identity::IdentityApi;
use ferrostack_volume::backend::BackendError;
use ferrostack_volume::file::{FileBackend, FileBackendConfig, FileFormat};
use ferrostack_volume::{VolumeBackend, VolumeService};
use std::sync::Arc;

/// Where block storage is mounted. The catalog URL carries the project, as Cinder's does
/// (`/volume/v3/<project_id>`); identity substitutes `$(project_id)s` per token. The type
/// `block-storage` is what clients look up first (`volumev3` is its alias).
pub const VOLUME_MOUNT: ServiceMount = ServiceMount {
    service_type: "block-storage",
    name: "cinderv3",
    path: "/volume",
    endpoint_suffix: "/v3/$(project_id)s",
};

impl Cloud {
    /// The embedded default backend: sparse raw files in `DATA_DIR/volumes`, named `file`,
    /// driven through `qemu-img`.
    ///
    /// # Errors
    ///
    /// The directory cannot be created.
    pub fn default_volume_backend(&self) -> Result<Arc<dyn VolumeBackend>, BackendError> {
        let cfg = FileBackendConfig::new("file", self.data_dir().join("volumes"), FileFormat::Raw);
        Ok(Arc::new(FileBackend::new(cfg, Arc::new(SystemRunner::new()))?))
    }

    /// A volume service over the cloud's store with `backends`; add an image source and sink
    /// (`VolumeService::with_image_source`/`with_image_sink`) before mounting it.
    pub fn volume_service(&self, backends: Vec<Arc<dyn VolumeBackend>>) -> VolumeService {
        VolumeService::new(self.store().clone(), backends)
    }

    /// Mounts Cinder v3 at `/volume` behind identity's token validation. Call
    /// `Cloud::register_catalog` afterwards to publish the endpoint.
    pub fn mount_volume(
        &mut self,
        identity: Arc<dyn IdentityApi>,
        service: VolumeService,
    ) -> Arc<VolumeService> {
        let service = Arc::new(service);
        let router = ferrostack_identity::http::authenticate(
            ferrostack_volume::http::router(service.clone()),
            identity,
        );
        self.mount(VOLUME_MOUNT, router);
        service
    }
}
