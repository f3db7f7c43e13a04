// SPDX-License-Identifier: Apache-2.0
//! Where image data lives: the [`ImageStore`] trait, the filesystem store (the default), an
//! in-memory store for tests and examples, and the conformance suite every store must pass.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use ferrostack_core::id::ImageId;
use futures::stream::{self, BoxStream, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::{ImageError, Result};

pub mod swift;

/// A stream of image data chunks.
pub type ByteStream = BoxStream<'static, Result<Bytes>>;

/// The chunk size stores read with.
pub const READ_CHUNK: usize = 64 * 1024;

/// Stores and serves the bytes of images.
///
/// # Contract
///
/// * Data written through an [`ImageWriter`] becomes visible to [`ImageStore::open`] only when
///   [`ImageWriter::commit`] returns `Ok`, and then atomically replaces any previous data of the
///   image. An aborted or dropped writer leaves nothing visible behind.
/// * [`ImageStore::open`] streams the data in chunks without holding the image in memory;
///   opening an image without committed data is [`ImageError::NotFound`].
/// * [`ImageStore::delete`] removes the data and reports whether there was any.
/// * Distinct images may be written concurrently.
///
/// # Errors
///
/// I/O or remote failures are [`ImageError::Backend`].
///
/// # Cancellation
///
/// Dropping a writer mid-way is an abort.
#[async_trait::async_trait]
pub trait ImageStore: Send + Sync + fmt::Debug {
    /// Starts writing the data of `id`.
    async fn begin(&self, id: &ImageId) -> Result<Box<dyn ImageWriter>>;
    /// Streams the committed data of `id`.
    async fn open(&self, id: &ImageId) -> Result<ByteStream>;
    /// Deletes the data of `id`; returns whether it existed.
    async fn delete(&self, id: &ImageId) -> Result<bool>;
}

/// An upload in progress. See [`ImageStore`]'s contract.
#[async_trait::async_trait]
pub trait ImageWriter: Send + fmt::Debug {
    /// Appends a chunk.
    async fn write(&mut self, chunk: &[u8]) -> Result<()>;
    /// Makes the data durable and visible.
    async fn commit(self: Box<Self>) -> Result<()>;
    /// Discards the data.
    async fn abort(self: Box<Self>) -> Result<()>;
}

fn backend(e: impl std::error::Error + Send + Sync + 'static) -> ImageError {
    ImageError::Backend(Box::new(e))
}

/// Which [`ImageStore`] a deployment uses, as configuration (`type = "filesystem"` or
/// `type = "swift"`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StoreConfig {
    /// A [`FilesystemStore`].
    Filesystem {
        /// Its directory.
        dir: PathBuf,
    },
    /// A [`swift::SwiftStore`] with tempauth credentials.
    Swift(swift::SwiftStoreConfig),
}

impl StoreConfig {
    /// Builds the store (the filesystem store creates its directory; Swift is contacted only
    /// at first use).
    pub fn build(&self) -> Result<Arc<dyn ImageStore>> {
        Ok(match self {
            StoreConfig::Filesystem { dir } => Arc::new(FilesystemStore::new(dir)?),
            StoreConfig::Swift(c) => Arc::new(c.build()?),
        })
    }
}

/// Image data in files under one directory: `<dir>/<image id>`, written to a temporary file
/// in the same directory, fsynced and renamed on commit.
#[derive(Debug, Clone)]
pub struct FilesystemStore {
    dir: PathBuf,
}

impl FilesystemStore {
    /// A store in `dir` (created if missing).
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(backend)?;
        Ok(FilesystemStore { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, id: &ImageId) -> PathBuf {
        self.dir.join(id.to_string())
    }
}

#[derive(Debug)]
struct FsWriter {
    file: Option<tokio::fs::File>,
    tmp: PathBuf,
    dest: PathBuf,
    done: bool,
}

impl Drop for FsWriter {
    fn drop(&mut self) {
        // A writer dropped mid-way (a cancelled upload) removes its partial file at once: an
        // unlink is a metadata operation, not large-body I/O, and doing it here (rather than
        // on the blocking pool, later) means nothing is ever left behind when the drop returns.
        if !self.done {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[async_trait::async_trait]
impl ImageWriter for FsWriter {
    async fn write(&mut self, chunk: &[u8]) -> Result<()> {
        match self.file.as_mut() {
            Some(f) => f.write_all(chunk).await.map_err(backend),
            None => Err(ImageError::Conflict("writer already finished".into())),
        }
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        if let Some(mut f) = self.file.take() {
            f.flush().await.map_err(backend)?;
            f.sync_all().await.map_err(backend)?;
        }
        tokio::fs::rename(&self.tmp, &self.dest).await.map_err(backend)?;
        self.done = true;
        Ok(())
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        self.file.take();
        let r = tokio::fs::remove_file(&self.tmp).await;
        self.done = true;
        match r {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(backend(e)),
            _ => Ok(()),
        }
    }
}

#[async_trait::async_trait]
impl ImageStore for FilesystemStore {
    async fn begin(&self, id: &ImageId) -> Result<Box<dyn ImageWriter>> {
        let tmp = self.dir.join(format!(".{id}.{}.partial", uuid::Uuid::new_v4().simple()));
        let file = tokio::fs::File::create(&tmp).await.map_err(backend)?;
        Ok(Box::new(FsWriter { file: Some(file), tmp, dest: self.path(id), done: false }))
    }

    async fn open(&self, id: &ImageId) -> Result<ByteStream> {
        let file = match tokio::fs::File::open(self.path(id)).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ImageError::NotFound(id.to_string()));
            }
            Err(e) => return Err(backend(e)),
        };
        Ok(stream::try_unfold(file, |mut f| async move {
            let mut buf = vec![0u8; READ_CHUNK];
            let n = f.read(&mut buf).await.map_err(backend)?;
            if n == 0 {
                return Ok(None);
            }
            buf.truncate(n);
            Ok(Some((Bytes::from(buf), f)))
        })
        .boxed())
    }

    async fn delete(&self, id: &ImageId) -> Result<bool> {
        match tokio::fs::remove_file(self.path(id)).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(backend(e)),
        }
    }
}

/// Image data in memory, for tests and examples (not for large images).
#[derive(Debug, Clone, Default)]
pub struct MemoryImageStore {
    data: Arc<Mutex<HashMap<ImageId, Bytes>>>,
}

impl MemoryImageStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[derive(Debug)]
struct MemWriter {
    id: ImageId,
    buf: Vec<u8>,
    data: Arc<Mutex<HashMap<ImageId, Bytes>>>,
}

#[async_trait::async_trait]
impl ImageWriter for MemWriter {
    async fn write(&mut self, chunk: &[u8]) -> Result<()> {
        self.buf.extend_from_slice(chunk);
        Ok(())
    }
    async fn commit(self: Box<Self>) -> Result<()> {
        let me = *self;
        if let Ok(mut d) = me.data.lock() {
            d.insert(me.id, Bytes::from(me.buf));
        }
        Ok(())
    }
    async fn abort(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

#[async_trait::async_trait]
impl ImageStore for MemoryImageStore {
    async fn begin(&self, id: &ImageId) -> Result<Box<dyn ImageWriter>> {
        Ok(Box::new(MemWriter { id: *id, buf: Vec::new(), data: self.data.clone() }))
    }
    async fn open(&self, id: &ImageId) -> Result<ByteStream> {
        let data = self.data.lock().ok().and_then(|d| d.get(id).cloned());
        let data = data.ok_or_else(|| ImageError::NotFound(id.to_string()))?;
        let chunks: Vec<Result<Bytes>> = (0..data.len())
            .step_by(READ_CHUNK)
            .map(|i| Ok(data.slice(i..(i + READ_CHUNK).min(data.len()))))
            .collect();
        Ok(stream::iter(chunks).boxed())
    }
    async fn delete(&self, id: &ImageId) -> Result<bool> {
        Ok(self.data.lock().map(|mut d| d.remove(id).is_some()).unwrap_or(false))
    }
}

/// The conformance suite every [`ImageStore`] must pass.
pub mod conformance {
    use super::*;

    async fn read_all(s: &dyn ImageStore, id: &ImageId) -> Result<Vec<u8>> {
        let mut st = s.open(id).await?;
        let mut out = Vec::new();
        while let Some(c) = st.next().await {
            out.extend_from_slice(&c?);
        }
        Ok(out)
    }

    /// Runs every contract check against `store`. Panics on a violation.
    pub async fn image_store_contract(store: &dyn ImageStore) {
        // Missing data is NotFound.
        let id = ImageId::new();
        assert!(matches!(store.open(&id).await, Err(ImageError::NotFound(_))));
        assert!(!store.delete(&id).await.unwrap());

        // Write in odd chunks, invisible until commit, identical after.
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut w = store.begin(&id).await.unwrap();
        for c in data.chunks(12_345) {
            w.write(c).await.unwrap();
        }
        assert!(matches!(store.open(&id).await, Err(ImageError::NotFound(_))));
        w.commit().await.unwrap();
        assert_eq!(read_all(store, &id).await.unwrap(), data);

        // An aborted rewrite leaves the old data; a committed one replaces it.
        let mut w = store.begin(&id).await.unwrap();
        w.write(b"partial").await.unwrap();
        w.abort().await.unwrap();
        assert_eq!(read_all(store, &id).await.unwrap(), data);
        let mut w = store.begin(&id).await.unwrap();
        w.write(b"new").await.unwrap();
        drop(w);
        assert_eq!(read_all(store, &id).await.unwrap(), data);
        let mut w = store.begin(&id).await.unwrap();
        w.write(b"new").await.unwrap();
        w.commit().await.unwrap();
        assert_eq!(read_all(store, &id).await.unwrap(), b"new");

        // Empty images are valid.
        let empty = ImageId::new();
        store.begin(&empty).await.unwrap().commit().await.unwrap();
        assert_eq!(read_all(store, &empty).await.unwrap(), b"");

        // Concurrent writers of distinct images do not mix.
        let (a, b) = (ImageId::new(), ImageId::new());
        let (mut wa, mut wb) = (store.begin(&a).await.unwrap(), store.begin(&b).await.unwrap());
        for _ in 0..10 {
            wa.write(b"aaaa").await.unwrap();
            wb.write(b"bb").await.unwrap();
        }
        wb.commit().await.unwrap();
        wa.commit().await.unwrap();
        assert_eq!(read_all(store, &a).await.unwrap(), b"aaaa".repeat(10));
        assert_eq!(read_all(store, &b).await.unwrap(), b"bb".repeat(10));

        // Delete.
        for i in [&id, &empty, &a, &b] {
            assert!(store.delete(i).await.unwrap());
            assert!(!store.delete(i).await.unwrap());
            assert!(matches!(store.open(i).await, Err(ImageError::NotFound(_))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn filesystem_store_conforms_and_leaves_no_partials() {
        let dir = tempfile::tempdir().unwrap();
        let store = FilesystemStore::new(dir.path().join("images")).unwrap();
        conformance::image_store_contract(&store).await;
        let left: Vec<_> = std::fs::read_dir(store.dir()).unwrap().collect();
        assert!(left.is_empty(), "files left behind: {left:?}");
    }

    #[test]
    fn store_config_selects_the_backend() {
        let dir = tempfile::tempdir().unwrap();
        let c: StoreConfig =
            serde_json::from_value(serde_json::json!({"type": "filesystem", "dir": dir.path()}))
                .unwrap();
        assert!(format!("{:?}", c.build().unwrap()).contains("FilesystemStore"));
        let c: StoreConfig = serde_json::from_value(serde_json::json!({
            "type": "swift", "auth_url": "http://127.0.0.1:8080/auth/v1.0",
            "user": "glance:glance", "key": "secret", "segment_size": 1048576
        }))
        .unwrap();
        let built = format!("{:?}", c.build().unwrap());
        assert!(built.contains("SwiftStore") && built.contains("1048576"), "{built}");
        assert!(!built.contains("secret") && !format!("{c:?}").contains("secret"));
        for bad in [
            serde_json::json!({"type": "swift", "auth_url": "x", "user": "u", "key": "k", "colour": 1}),
            serde_json::json!({"type": "rbd"}),
        ] {
            assert!(serde_json::from_value::<StoreConfig>(bad).is_err());
        }
        let c: StoreConfig = serde_json::from_value(serde_json::json!({
            "type": "swift", "auth_url": "ftp://h/auth", "user": "u", "key": "k"
        }))
        .unwrap();
        assert!(matches!(c.build(), Err(ImageError::Invalid(_))));
    }

    #[tokio::test]
    async fn memory_store_conforms() {
        conformance::image_store_contract(&MemoryImageStore::new()).await;
    }
}
