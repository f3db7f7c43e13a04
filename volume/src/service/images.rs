// SPDX-License-Identifier: Apache-2.0
//! Volumes and images: the checks of create-from-image, copying an image into a new volume,
//! and upload-to-image.

use super::{VolumeService, bvol};
use crate::VolumeError;
use crate::api::{UploadToImage, UploadedImage};
use crate::backend::{DiskFormat, GIB, VolumeBackend};
use crate::image::NewImage;
use crate::policy::authorize;
use crate::types::*;
use ferrostack_core::RequestContext;
use ferrostack_core::id::{ImageId, ProjectId, VolumeId};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a volume created from an image starts with.
pub(super) struct FromImage {
    /// The smallest size it can have, GiB: the image's `min_disk`, and its size when raw.
    pub(super) min_size: u64,
    /// `volume_image_metadata`.
    pub(super) image_metadata: BTreeMap<String, String>,
}

/// Checks that image `iid` can fill a volume of `size_gb` (when given) for `project`.
pub(super) async fn check_source(
    svc: &VolumeService,
    ctx: &RequestContext,
    project: &ProjectId,
    iid: &ImageId,
    size_gb: Option<u64>,
) -> Result<FromImage, VolumeError> {
    authorize("volume:create_from_image", ctx, &VolumeService::target(project))?;
    let images = svc.images.as_ref().ok_or_else(|| {
        VolumeError::NotSupported("creating volumes from images is not configured".into())
    })?;
    let meta = images.image(ctx, iid).await?;
    if meta.status != "active" {
        return Err(VolumeError::InvalidInput(format!("Image {iid} is not active.")));
    }
    let fmt = meta.disk_format.clone().unwrap_or_default();
    if DiskFormat::parse(&fmt).is_none() {
        return Err(VolumeError::InvalidInput(format!(
            "Image {iid} has disk format {fmt:?}; only raw and qcow2 can be copied to volumes."
        )));
    }
    let image_gb = meta.size.unwrap_or(0).div_ceil(GIB).max(1);
    if let Some(s) = size_gb {
        if fmt == "raw" && s < image_gb {
            return Err(VolumeError::InvalidInput(format!(
                "Size of specified image {image_gb}GB is larger than volume size {s}GB."
            )));
        }
        if s < meta.min_disk {
            return Err(VolumeError::InvalidInput(format!(
                "Volume size {s}GB cannot be smaller than the image minDisk size {}GB.",
                meta.min_disk
            )));
        }
    }
    let min_size = meta.min_disk.max(if fmt == "raw" { image_gb } else { 1 });
    let mut image_metadata = BTreeMap::new();
    image_metadata.insert("image_id".into(), iid.to_string());
    image_metadata.insert("image_name".into(), meta.name.clone());
    image_metadata.insert("disk_format".into(), fmt);
    if let Some(c) = &meta.container_format {
        image_metadata.insert("container_format".into(), c.clone());
    }
    image_metadata.insert("min_disk".into(), meta.min_disk.to_string());
    image_metadata.insert("size".into(), meta.size.unwrap_or(0).to_string());
    Ok(FromImage { min_size, image_metadata })
}

/// Writes image `id` into the new volume `vol` on `b` (volume `downloading` meanwhile).
pub(super) async fn copy_to_volume(
    svc: &VolumeService,
    ctx: &RequestContext,
    vol: &Volume,
    b: &Arc<dyn VolumeBackend>,
    id: &ImageId,
) -> Result<(), VolumeError> {
    let bv = bvol(vol);
    let images = svc
        .images
        .as_ref()
        .ok_or_else(|| VolumeError::NotSupported("no image service is configured".into()))?;
    let meta = images.image(ctx, id).await?;
    let format = meta
        .disk_format
        .as_deref()
        .and_then(DiskFormat::parse)
        .ok_or_else(|| VolumeError::InvalidInput("unsupported disk format".into()))?;
    b.create_volume(&bv).await.map_err(VolumeService::backend_err(b.as_ref(), "create volume"))?;
    svc.transition(&vol.id, &[VolumeStatus::Creating], VolumeStatus::Downloading, |_| {}).await?;
    let data = images.download(ctx, id).await?;
    b.copy_image_to_volume(&bv, format, data)
        .await
        .map_err(VolumeService::backend_err(b.as_ref(), "copy the image to the volume"))
}

/// Uploads volume `id` to a new image (volume `uploading` meanwhile).
pub(super) async fn upload(
    svc: &VolumeService,
    ctx: &RequestContext,
    id: &VolumeId,
    req: UploadToImage,
) -> Result<UploadedImage, VolumeError> {
    let v = svc.visible_volume(ctx, id).await?.value;
    authorize(
        "volume_extension:volume_actions:upload_image",
        ctx,
        &VolumeService::target(&v.project_id),
    )?;
    if req.image_name.is_empty() || req.image_name.chars().count() > 255 {
        return Err(VolumeError::InvalidInput("image_name must be 1 to 255 characters".into()));
    }
    let sink = svc
        .sink
        .clone()
        .ok_or_else(|| VolumeError::NotSupported("uploading to images is not configured".into()))?;
    let allowed: &[VolumeStatus] = if req.force {
        &[VolumeStatus::Available, VolumeStatus::InUse]
    } else {
        &[VolumeStatus::Available]
    };
    let before = svc.transition(id, allowed, VolumeStatus::Uploading, |_| {}).await?;
    let attached =
        svc.live_attachments(id).await?.iter().any(|a| a.attach_status == AttachStatus::Attached);
    let back = if attached { VolumeStatus::InUse } else { VolumeStatus::Available };
    let result = async {
        let b = svc.backend_of(&before)?.clone();
        let mut props = BTreeMap::new();
        props.insert("volume_id".into(), id.to_string());
        let image = sink
            .create(
                ctx,
                &NewImage {
                    name: req.image_name.clone(),
                    disk_format: req.disk_format.as_str().into(),
                    container_format: req.container_format.clone(),
                    properties: props,
                },
            )
            .await?;
        let data = b
            .copy_volume_to_image(&bvol(&before), req.disk_format)
            .await
            .map_err(VolumeService::backend_err(b.as_ref(), "read the volume"))?;
        sink.upload(ctx, &image.id, data).await?;
        Ok::<_, VolumeError>(image.id)
    }
    .await;
    let vol = svc.transition(id, &[VolumeStatus::Uploading], back, |_| {}).await?;
    let image_id = result?;
    Ok(UploadedImage {
        image_id,
        image_name: req.image_name,
        disk_format: req.disk_format,
        container_format: req.container_format,
        volume: vol,
    })
}
