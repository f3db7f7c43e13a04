// SPDX-License-Identifier: Apache-2.0
//! Image data: upload, stage, the `glance-direct` import and download, with the hashes and
//! the format inspector run off the async threads.

use bytes::Bytes;
use ferrostack_core::RequestContext;
use ferrostack_core::id::ImageId;
use ferrostack_core::store::Txn;
use ferrostack_core::store::retry::retry_txn;
use futures::StreamExt;
use md5::Digest as _;

use super::{IMPORT_TASK_PROPERTY, ImageService, is_admin, target};
use crate::blocking::{Absorb, Batched};
use crate::error::{ImageError, Result};
use crate::inspector::{InspectWrapper, Verdict};
use crate::store::{ByteStream, ImageWriter};
use crate::types::*;

/// What streaming an image's data established.
#[derive(Debug, Clone)]
pub(super) struct Digest {
    size: u64,
    checksum: String,
    sha512: String,
    virtual_size: Option<u64>,
}

/// The CPU-heavy side of ingesting data: md5, sha512 and the format inspector, run on the
/// blocking pool ([`Batched`]) so a large upload never occupies a runtime thread with hashing.
struct Digester {
    md5: md5::Md5,
    sha: sha2::Sha512,
    inspector: InspectWrapper,
}

impl Absorb for Digester {
    fn absorb(&mut self, data: &[u8]) {
        self.md5.update(data);
        self.sha.update(data);
        self.inspector.feed(data);
    }
}

impl Digester {
    fn batched() -> Batched<Digester> {
        Batched::new(Digester {
            md5: md5::Md5::new(),
            sha: sha2::Sha512::new(),
            inspector: InspectWrapper::new(),
        })
    }

    /// The md5 and sha512 hex digests and the inspector's verdict.
    fn finish(self) -> (String, String, Verdict) {
        (
            hex::encode(self.md5.finalize()),
            hex::encode(self.sha.finalize()),
            self.inspector.finish(),
        )
    }
}

impl ImageService {
    pub(super) async fn revert(&self, id: &ImageId, from: ImageStatus) {
        let r = self
            .images
            .update_with::<ImageError, _>(&id.to_string(), |img| {
                if img.status == from {
                    img.transition(ImageStatus::Queued)?;
                    img.properties.remove(IMPORT_TASK_PROPERTY);
                }
                Ok(())
            })
            .await;
        if let Err(e) = r {
            tracing::warn!(image = %id, error = %e, "could not return image to queued");
        }
    }

    /// A check of the running size against the size cap and the owner's byte quota.
    async fn upload_limit(&self, img: &Image) -> Result<impl Fn(u64) -> Result<()> + use<>> {
        let used = match img.owner.as_ref() {
            Some(p) => self.usage.get(p.as_str()).await?.map(|v| v.value.bytes).unwrap_or(0),
            None => 0,
        };
        let quota = self.config.image_size_total.map(|t| t.saturating_sub(used));
        let cap = self.config.image_size_cap;
        Ok(move |size: u64| {
            if size > cap {
                return Err(ImageError::OverLimit(format!(
                    "image exceeds the size cap of {cap} bytes"
                )));
            }
            if quota.is_some_and(|q| size > q) {
                return Err(ImageError::OverLimit(
                    "image storage quota of the project exceeded".into(),
                ));
            }
            Ok(())
        })
    }

    /// Streams `data` through the hashes and the format inspector (and into `writer`, which is
    /// committed only if everything passes, else aborted).
    pub(super) async fn ingest(
        &self,
        img: &Image,
        mut data: ByteStream,
        mut writer: Option<Box<dyn ImageWriter>>,
    ) -> Result<Digest> {
        let limit = self.upload_limit(img).await?;
        let mut size: u64 = 0;
        let outcome: Result<(u64, String, String, Option<u64>)> = async {
            let mut digester = Digester::batched();
            while let Some(chunk) = data.next().await {
                let chunk: Bytes = chunk?;
                size += chunk.len() as u64;
                limit(size)?;
                if let Some(w) = writer.as_mut() {
                    w.write(&chunk).await?;
                }
                digester = digester.feed(chunk).await?;
            }
            let (checksum, sha512, verdict) = digester.finish(Digester::finish).await?;
            let virtual_size = if img.container_format.as_deref() != Some("bare") {
                None
            } else {
                let disk = img.disk_format.clone().unwrap_or_default();
                match verdict.check(&disk) {
                    Ok(report) => report.virtual_size.clone().ok(),
                    Err(rej) if self.config.require_image_format_match => {
                        return Err(ImageError::BadImageData(rej));
                    }
                    Err(_) => None,
                }
            };
            Ok((size, checksum, sha512, virtual_size))
        }
        .await;
        match outcome {
            Ok((size, checksum, sha512, virtual_size)) => {
                if let Some(w) = writer {
                    w.commit().await?;
                }
                Ok(Digest { size, checksum, sha512, virtual_size })
            }
            Err(e) => {
                if let Some(w) = writer {
                    let _ = w.abort().await;
                }
                Err(e)
            }
        }
    }

    /// `from` → `active` with the digest, counting the bytes in the owner's usage in the same
    /// transaction. On a quota refusal the data is deleted and the image returns to `queued`.
    pub(super) async fn activate(
        &self,
        id: &ImageId,
        from: ImageStatus,
        d: Digest,
    ) -> Result<Image> {
        let key = &id.to_string();
        let d = &d;
        retry_txn(&format!("image {id}"), move || async move {
            let Some(cur) = self.images.get(key).await? else {
                let _ = self.data.delete(id).await;
                return Err(ImageError::NotFound(key.clone()));
            };
            let mut img = cur.value;
            if img.status != from {
                let _ = self.data.delete(id).await;
                return Err(ImageError::Conflict("the image changed during the upload".into()));
            }
            img.transition(ImageStatus::Active)?;
            img.properties.remove(IMPORT_TASK_PROPERTY);
            img.size = Some(d.size);
            img.virtual_size = d.virtual_size;
            img.checksum = Some(d.checksum.clone());
            img.os_hash_algo = Some("sha512".into());
            img.os_hash_value = Some(d.sha512.clone());
            let base = Txn::new()
                .when(self.images.unchanged(key, cur.revision))
                .op(self.images.put_op(key, &img)?);
            let total = self.config.image_size_total;
            let committed = self
                .with_usage(img.owner.as_ref(), 0, d.size as i64, base, |u| match total {
                    Some(t) if u.bytes > t => Err(ImageError::OverLimit(
                        "image storage quota of the project exceeded".into(),
                    )),
                    _ => Ok(()),
                })
                .await;
            match committed {
                Ok(true) => Ok(Some(img)),
                // The image record raced: read it again.
                Ok(false) => Ok(None),
                Err(e) => {
                    let _ = self.data.delete(id).await;
                    self.revert(id, from).await;
                    Err(e)
                }
            }
        })
        .await
    }

    pub(super) async fn upload_data(
        &self,
        ctx: &RequestContext,
        id: &ImageId,
        data: ByteStream,
    ) -> Result<Image> {
        let (mut img, rev) = self.load(ctx, id).await?;
        self.authorize("upload_image", ctx, &target(&img))?;
        if img.status != ImageStatus::Queued {
            return Err(ImageError::Conflict(format!(
                "Image status transition from {} to saving is not allowed",
                img.status.as_str()
            )));
        }
        img.transition(ImageStatus::Saving)?;
        self.save(&img, rev).await?;
        let writer = match self.data.begin(id).await {
            Ok(w) => w,
            Err(e) => {
                self.revert(id, ImageStatus::Saving).await;
                return Err(e);
            }
        };
        let digest = match self.ingest(&img, data, Some(writer)).await {
            Ok(d) => d,
            Err(e) => {
                self.revert(id, ImageStatus::Saving).await;
                return Err(e);
            }
        };
        self.activate(id, ImageStatus::Saving, digest).await
    }

    pub(super) async fn stage_data(
        &self,
        ctx: &RequestContext,
        id: &ImageId,
        data: ByteStream,
    ) -> Result<()> {
        let (mut img, rev) = self.load(ctx, id).await?;
        self.authorize("upload_image", ctx, &target(&img))?;
        if img.status != ImageStatus::Queued {
            return Err(ImageError::Conflict(format!(
                "Image status transition from {} to uploading is not allowed",
                img.status.as_str()
            )));
        }
        img.transition(ImageStatus::Uploading)?;
        self.save(&img, rev).await?;
        let result: Result<u64> = async {
            let limit = self.upload_limit(&img).await?;
            let mut writer = self.data.begin(id).await?;
            let mut size = 0u64;
            let mut data = data;
            while let Some(chunk) = data.next().await {
                let step = match chunk {
                    Ok(c) => {
                        size += c.len() as u64;
                        match limit(size) {
                            Ok(()) => writer.write(&c).await,
                            Err(e) => Err(e),
                        }
                    }
                    Err(e) => Err(e),
                };
                if let Err(e) = step {
                    let _ = writer.abort().await;
                    return Err(e);
                }
            }
            writer.commit().await?;
            Ok(size)
        }
        .await;
        let size = match result {
            Ok(size) => size,
            Err(e) => {
                self.revert(id, ImageStatus::Uploading).await;
                return Err(e);
            }
        };
        let r = self
            .images
            .update_with::<ImageError, _>(&id.to_string(), |i| {
                if i.status != ImageStatus::Uploading {
                    return Err(ImageError::Conflict("the image changed during staging".into()));
                }
                i.size = Some(size);
                Ok(())
            })
            .await;
        if let Err(e) = r {
            let _ = self.data.delete(id).await;
            return Err(e);
        }
        Ok(())
    }

    /// `glance-direct` (or an unknown method, refused after the visibility and policy checks).
    pub(super) async fn import_staged(
        &self,
        ctx: &RequestContext,
        id: &ImageId,
        method: &str,
    ) -> Result<Image> {
        let (mut img, rev) = self.load(ctx, id).await?;
        self.authorize("upload_image", ctx, &target(&img))?;
        if method != "glance-direct" {
            return Err(ImageError::Invalid(format!("Import method {method} is not enabled")));
        }
        if img.status != ImageStatus::Uploading || img.size.is_none() {
            return Err(ImageError::Conflict(format!(
                "Image {id} is not staged (status {})",
                img.status.as_str()
            )));
        }
        img.transition(ImageStatus::Importing)?;
        self.save(&img, rev).await?;
        let digest = async {
            let stream = self.data.open(id).await?;
            self.ingest(&img, stream, None).await
        }
        .await;
        let digest = match digest {
            Ok(d) => d,
            Err(e) => {
                let _ = self.data.delete(id).await;
                self.revert(id, ImageStatus::Importing).await;
                return Err(e);
            }
        };
        self.activate(id, ImageStatus::Importing, digest).await
    }

    pub(super) async fn download_data(
        &self,
        ctx: &RequestContext,
        id: &ImageId,
    ) -> Result<Option<(Image, ByteStream)>> {
        let (img, _) = self.load(ctx, id).await?;
        self.authorize("download_image", ctx, &target(&img))?;
        match img.status {
            ImageStatus::Active => {}
            ImageStatus::Deactivated if !is_admin(ctx) => {
                return Err(ImageError::Forbidden(
                    "The requested image has been deactivated. Image data download is forbidden."
                        .into(),
                ));
            }
            ImageStatus::Deactivated => {}
            _ => return Ok(None),
        }
        let stream = self.data.open(id).await?;
        Ok(Some((img, stream)))
    }
}
