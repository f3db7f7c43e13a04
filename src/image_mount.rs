// SPDX-License-Identifier: Apache-2.0
//! Glance in the facade: [`Cloud::image_service`] and [`Cloud::mount_image`].

use crate::{Cloud, ServiceMount};
use ferrostack_identity::IdentityApi;
use ferrostack_image::{FilesystemStore, ImageConfig, ImageError, ImageService, ImageStore};
use std::sync::Arc;

/// Where the image service is mounted. The router answers the version list at its root and
/// the API under `/v2`, as Glance does.
pub const IMAGE_MOUNT: ServiceMount =
    ServiceMount { service_type: "image", name: "glance", path: "/image", endpoint_suffix: "" };

impl Cloud {
    /// The embedded image service: records in the cloud's store, image data where
    /// `[image.store]` says (files in `DATA_DIR/images` by default).
    ///
    /// # Errors
    ///
    /// The image directory cannot be created.
    pub fn image_service(&self, config: ImageConfig) -> Result<Arc<ImageService>, ImageError> {
        let data: Arc<dyn ImageStore> = match &self.config().image_store {
            Some(store) => store.build()?,
            None => Arc::new(FilesystemStore::new(self.data_dir().join("images"))?),
        };
        Ok(Arc::new(ImageService::new(self.store().clone(), data, config)))
    }

    /// Mounts Glance v2 at `/image` behind identity's token validation. The version list at
    /// `/image` answers without a token, as Glance's does; every API call needs one (the image
    /// router answers 401 without a validated caller). Call `Cloud::register_catalog`
    /// afterwards to publish the endpoint.
    pub fn mount_image(&mut self, identity: Arc<dyn IdentityApi>, service: Arc<ImageService>) {
        let router = ferrostack_identity::http::authenticate(
            ferrostack_image::http::router(service),
            identity,
        );
        self.mount(IMAGE_MOUNT, router);
    }
}
