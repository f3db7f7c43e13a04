// SPDX-License-Identifier: Apache-2.0
//! Adapters between services: each service defines the narrow, consumer-side trait it needs
//! from another (block storage needs an image source and sink), and the facade implements it
//! over the other service's API. No service crate depends on another's internals.

use ferrostack_core::RequestContext;
use ferrostack_core::error::{Classify, ErrorKind};
use ferrostack_core::id::ImageId;
use ferrostack_image::{CreateImage, Image, ImageApi, ImageError};
use ferrostack_volume::backend::ByteStream as VolumeStream;
use ferrostack_volume::image::{ImageMeta, ImageSink, ImageSource, ImageTransferError, NewImage};
use futures::StreamExt;
use std::sync::Arc;

/// Block storage's view of the image service: `volume create --image` reads through it and
/// `volume_upload_image` writes through it, with the caller's own context, so Glance's
/// visibility and quota rules apply unchanged.
#[derive(Debug, Clone)]
pub struct ImagesForVolumes(pub Arc<dyn ImageApi>);

/// The metadata compute and volume read from a Glance image record.
pub(crate) fn meta(image: &Image) -> ImageMeta {
    let status = image.status.as_str().to_owned();
    ImageMeta {
        id: image.id,
        name: image.name.clone().unwrap_or_default(),
        disk_format: image.disk_format.clone(),
        container_format: image.container_format.clone(),
        size: image.size,
        min_disk: image.min_disk,
        min_ram: image.min_ram,
        status,
    }
}

fn transfer_error(id: &ImageId, e: ImageError) -> ImageTransferError {
    match e.kind() {
        ErrorKind::NotFound => ImageTransferError::NotFound(id.to_string()),
        ErrorKind::InvalidInput
        | ErrorKind::Conflict
        | ErrorKind::AlreadyExists
        | ErrorKind::Forbidden
        | ErrorKind::QuotaExceeded => ImageTransferError::Refused(e.to_string()),
        _ => ImageTransferError::Failed(Box::new(e)),
    }
}

#[async_trait::async_trait]
impl ImageSource for ImagesForVolumes {
    async fn image(
        &self,
        ctx: &RequestContext,
        id: &ImageId,
    ) -> Result<ImageMeta, ImageTransferError> {
        let image = self.0.get(ctx, id).await.map_err(|e| transfer_error(id, e))?;
        Ok(meta(&image))
    }

    async fn download(
        &self,
        ctx: &RequestContext,
        id: &ImageId,
    ) -> Result<VolumeStream, ImageTransferError> {
        match self.0.download(ctx, id).await.map_err(|e| transfer_error(id, e))? {
            Some((_, data)) => Ok(data.map(|chunk| chunk.map_err(|e| e.into())).boxed()),
            None => Err(ImageTransferError::NotActive(id.to_string())),
        }
    }
}

#[async_trait::async_trait]
impl ImageSink for ImagesForVolumes {
    async fn create(
        &self,
        ctx: &RequestContext,
        req: &NewImage,
    ) -> Result<ImageMeta, ImageTransferError> {
        // Through Glance's body parser, so a property that names an attribute (`min_disk`,
        // `visibility`, ...) sets it, as it would in a create request.
        let mut body = serde_json::Map::new();
        body.insert("name".into(), req.name.clone().into());
        body.insert("disk_format".into(), req.disk_format.clone().into());
        body.insert("container_format".into(), req.container_format.clone().into());
        for (k, v) in &req.properties {
            body.insert(k.clone(), v.clone().into());
        }
        let body =
            CreateImage::from_json(body).map_err(|e| ImageTransferError::Refused(e.to_string()))?;
        let image = self.0.create(ctx, body).await.map_err(|e| match e.kind() {
            ErrorKind::Unavailable | ErrorKind::Internal | ErrorKind::Timeout => {
                ImageTransferError::Failed(Box::new(e))
            }
            _ => ImageTransferError::Refused(e.to_string()),
        })?;
        Ok(meta(&image))
    }

    async fn upload(
        &self,
        ctx: &RequestContext,
        id: &ImageId,
        data: VolumeStream,
    ) -> Result<(), ImageTransferError> {
        let data = data.map(|chunk| chunk.map_err(ImageError::UploadInterrupted)).boxed();
        self.0.upload(ctx, id, data).await.map_err(|e| transfer_error(id, e))?;
        Ok(())
    }
}
