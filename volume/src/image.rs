// SPDX-License-Identifier: Apache-2.0
//! The consumer side of the image service: what the volume service needs from Glance to
//! create a volume from an image ([`ImageSource`]) and to upload a volume to an image
//! ([`ImageSink`]). The facade adapts the image crate's API to these traits; tests use
//! [`MemoryImages`].

use crate::backend::ByteStream;
use bytes::Bytes;
use ferrostack_core::RequestContext;
use ferrostack_core::error::{BoxError, Classify, ErrorKind};
use ferrostack_core::id::ImageId;
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// An image's metadata, as far as volumes care (shared with compute).
pub use ferrostack_core::image_meta::ImageMeta;

/// A request to create an image for [`ImageSink::create`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewImage {
    /// The name.
    pub name: String,
    /// The disk format of the data that will be uploaded.
    pub disk_format: String,
    /// The container format.
    pub container_format: String,
    /// Extra properties.
    pub properties: BTreeMap<String, String>,
}

/// What can go wrong talking to the image service.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageTransferError {
    /// The image does not exist or is not visible to the caller.
    #[error("image {0} could not be found")]
    NotFound(String),
    /// The image has no data yet.
    #[error("image {0} is not active")]
    NotActive(String),
    /// The image service refused the request.
    #[error("the image service refused the request: {0}")]
    Refused(String),
    /// The transfer failed.
    #[error("the image transfer failed")]
    Failed(#[source] BoxError),
}

impl Classify for ImageTransferError {
    fn kind(&self) -> ErrorKind {
        match self {
            ImageTransferError::NotFound(_) => ErrorKind::NotFound,
            ImageTransferError::NotActive(_) | ImageTransferError::Refused(_) => {
                ErrorKind::InvalidInput
            }
            ImageTransferError::Failed(_) => ErrorKind::Unavailable,
        }
    }
}

/// Where volume-from-image data comes from.
///
/// # Contract
///
/// * [`Self::image`] answers [`ImageTransferError::NotFound`] for images the caller cannot
///   see, so that a volume request cannot probe other projects' private images.
/// * [`Self::download`] streams exactly the image's stored bytes.
#[async_trait::async_trait]
pub trait ImageSource: Send + Sync + std::fmt::Debug + 'static {
    /// The image's metadata, as the caller sees it.
    async fn image(
        &self,
        ctx: &RequestContext,
        id: &ImageId,
    ) -> Result<ImageMeta, ImageTransferError>;
    /// The image's data.
    async fn download(
        &self,
        ctx: &RequestContext,
        id: &ImageId,
    ) -> Result<ByteStream, ImageTransferError>;
}

/// Where upload-to-image data goes.
///
/// # Contract
///
/// * [`Self::create`] makes a `queued` image owned by the caller's project.
/// * [`Self::upload`] consumes the stream and makes the image `active`; on error the image
///   is left without data (the caller deletes or retries it).
#[async_trait::async_trait]
pub trait ImageSink: Send + Sync + std::fmt::Debug + 'static {
    /// Creates an image record.
    async fn create(
        &self,
        ctx: &RequestContext,
        req: &NewImage,
    ) -> Result<ImageMeta, ImageTransferError>;
    /// Uploads the image's data.
    async fn upload(
        &self,
        ctx: &RequestContext,
        id: &ImageId,
        data: ByteStream,
    ) -> Result<(), ImageTransferError>;
}

type StoredImage = (ImageMeta, Option<Vec<u8>>);

/// An in-memory image service implementing both traits, for tests and examples.
///
/// Data is kept sparsely: trailing zeros of an upload are counted in `size` but not stored,
/// and downloads put them back.
#[derive(Debug, Default)]
pub struct MemoryImages {
    images: Mutex<HashMap<ImageId, StoredImage>>,
}

impl MemoryImages {
    /// An empty image service.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an active image with `data` and returns its id.
    pub fn add(&self, name: &str, disk_format: &str, data: Vec<u8>) -> ImageId {
        let id = ImageId::new();
        let meta = ImageMeta {
            id,
            name: name.into(),
            disk_format: Some(disk_format.into()),
            container_format: Some("bare".into()),
            size: Some(data.len() as u64),
            min_disk: 0,
            min_ram: 0,
            status: "active".into(),
        };
        self.lock().insert(id, (meta, Some(data)));
        id
    }

    /// Every image's metadata, in no particular order.
    pub fn list(&self) -> Vec<ImageMeta> {
        self.lock().values().map(|(m, _)| m.clone()).collect()
    }

    /// An image's metadata and data (without trailing zeros), if it exists.
    pub fn get(&self, id: &ImageId) -> Option<(ImageMeta, Option<Vec<u8>>)> {
        self.lock().get(id).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ImageId, StoredImage>> {
        self.images.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait::async_trait]
impl ImageSource for MemoryImages {
    async fn image(
        &self,
        _ctx: &RequestContext,
        id: &ImageId,
    ) -> Result<ImageMeta, ImageTransferError> {
        self.get(id).map(|(m, _)| m).ok_or_else(|| ImageTransferError::NotFound(id.to_string()))
    }

    async fn download(
        &self,
        _ctx: &RequestContext,
        id: &ImageId,
    ) -> Result<ByteStream, ImageTransferError> {
        let (_, data) = self.get(id).ok_or_else(|| ImageTransferError::NotFound(id.to_string()))?;
        let (meta, data) = (self.get(id).map(|(m, _)| m), data);
        let data = data.ok_or_else(|| ImageTransferError::NotActive(id.to_string()))?;
        let size = meta.and_then(|m| m.size).unwrap_or(data.len() as u64);
        let mut chunks: Vec<Result<Bytes, BoxError>> =
            data.chunks(64 * 1024).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        let mut left = size.saturating_sub(data.len() as u64);
        let zero = Bytes::from(vec![0u8; 1024 * 1024]);
        while left > 0 {
            let n = left.min(zero.len() as u64) as usize;
            chunks.push(Ok(zero.slice(..n)));
            left -= n as u64;
        }
        Ok(futures::stream::iter(chunks).boxed())
    }
}

#[async_trait::async_trait]
impl ImageSink for MemoryImages {
    async fn create(
        &self,
        _ctx: &RequestContext,
        req: &NewImage,
    ) -> Result<ImageMeta, ImageTransferError> {
        let id = ImageId::new();
        let meta = ImageMeta {
            id,
            name: req.name.clone(),
            disk_format: Some(req.disk_format.clone()),
            container_format: Some(req.container_format.clone()),
            size: None,
            min_disk: 0,
            min_ram: 0,
            status: "queued".into(),
        };
        self.lock().insert(id, (meta.clone(), None));
        Ok(meta)
    }

    async fn upload(
        &self,
        _ctx: &RequestContext,
        id: &ImageId,
        mut data: ByteStream,
    ) -> Result<(), ImageTransferError> {
        // Stored sparsely: trailing zeros are counted, not kept.
        let mut buf = Vec::new();
        let mut zeros = 0u64;
        while let Some(chunk) = data.next().await {
            let chunk = chunk.map_err(ImageTransferError::Failed)?;
            if crate::testing::is_zero(&chunk) {
                zeros += chunk.len() as u64;
                continue;
            }
            buf.resize(buf.len() + zeros as usize, 0);
            zeros = 0;
            buf.extend_from_slice(&chunk);
        }
        let total = buf.len() as u64 + zeros;
        while buf.last() == Some(&0) {
            buf.pop();
        }
        let mut images = self.lock();
        let entry =
            images.get_mut(id).ok_or_else(|| ImageTransferError::NotFound(id.to_string()))?;
        entry.0.size = Some(total);
        entry.0.status = "active".into();
        entry.1 = Some(buf);
        Ok(())
    }
}
