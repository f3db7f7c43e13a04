// SPDX-License-Identifier: Apache-2.0
//! The compute-host image cache and `qemu-img` conversion.
//!
//! [`ImageCache`] keeps image files on a host, named by their sha512 (`os_hash_value`), so the
//! same content is stored once whatever the image ids. Concurrent requests for the same
//! content fetch it once: the others wait for the first and reuse its file. Fetched data is
//! verified against the hash before it becomes visible. When the cache grows beyond its size
//! limit, the least recently used files are evicted (never the one just requested).
//!
//! [`convert`] and [`virtual_size`] run `qemu-img` through a
//! [`CommandRunner`], always with an explicit `-f`:
//! letting `qemu-img` probe the format of untrusted data is how a raw image containing a qcow2
//! header with a backing file reads host files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use ferrostack_core::command::{Command, CommandRunner};
use futures::StreamExt;
use sha2::Digest as _;
use tokio::io::AsyncWriteExt;

use crate::blocking::{self, Batched};
use crate::error::{ImageError, Result};
use crate::store::ImageStore;
use crate::types::{Image, ImageStatus};

fn backend(e: impl std::error::Error + Send + Sync + 'static) -> ImageError {
    ImageError::Backend(Box::new(e))
}

/// A content-addressed image cache in one directory.
#[derive(Debug)]
pub struct ImageCache {
    dir: PathBuf,
    max_bytes: u64,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    fetches: std::sync::atomic::AtomicU64,
}

impl ImageCache {
    /// A cache in `dir` (created if missing) holding at most `max_bytes` (one image larger
    /// than that is still cached while it is the most recent).
    pub fn new(dir: impl Into<PathBuf>, max_bytes: u64) -> Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(backend)?;
        Ok(ImageCache {
            dir,
            max_bytes,
            locks: Mutex::new(HashMap::new()),
            fetches: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// How many times data was actually downloaded from a store.
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn key(image: &Image) -> Result<String> {
        if image.status != ImageStatus::Active {
            return Err(ImageError::Conflict(format!("image {} is not active", image.id)));
        }
        let h = image.os_hash_value.as_deref().unwrap_or("");
        if h.len() != 128 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ImageError::Invalid(format!("image {} has no sha512 hash", image.id)));
        }
        Ok(h.to_ascii_lowercase())
    }

    /// The local path of `image`'s data, fetching it from `source` unless cached.
    pub async fn fetch(&self, image: &Image, source: &dyn ImageStore) -> Result<PathBuf> {
        let key = Self::key(image)?;
        let path = self.dir.join(&key);
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(key.clone()).or_default().clone()
        };
        let _guard = lock.lock().await;
        if tokio::fs::metadata(&path).await.is_ok() {
            let p = path.clone();
            blocking::run(move || touch(&p)).await?;
            return Ok(path);
        }
        self.fetches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = self.dir.join(format!(".{key}.{}.partial", uuid::Uuid::new_v4().simple()));
        let result = async {
            let mut file = tokio::fs::File::create(&tmp).await.map_err(backend)?;
            let mut stream = source.open(&image.id).await?;
            // The hash runs on the blocking pool, the file writes through tokio's.
            let mut sha = Batched::new(sha2::Sha512::new());
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                file.write_all(&chunk).await.map_err(backend)?;
                sha = sha.feed(chunk).await?;
            }
            file.sync_all().await.map_err(backend)?;
            if sha.finish(|h| hex::encode(h.finalize())).await? != key {
                return Err(ImageError::Invalid(format!(
                    "data of image {} does not match its os_hash_value",
                    image.id
                )));
            }
            tokio::fs::rename(&tmp, &path).await.map_err(backend)
        }
        .await;
        if let Err(e) = result {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        self.evict(&key).await?;
        Ok(path)
    }

    /// Removes least recently used entries until the cache fits, keeping `keep`.
    async fn evict(&self, keep: &str) -> Result<()> {
        let mut entries = Vec::new();
        let mut total = 0u64;
        let mut rd = tokio::fs::read_dir(&self.dir).await.map_err(backend)?;
        while let Some(e) = rd.next_entry().await.map_err(backend)? {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let md = e.metadata().await.map_err(backend)?;
            total += md.len();
            let used = md.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            entries.push((used, name, md.len()));
        }
        entries.sort();
        for (_, name, len) in entries {
            if total <= self.max_bytes {
                break;
            }
            if name == keep {
                continue;
            }
            // Do not evict an entry someone is fetching or waiting for right now.
            let busy = {
                let locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
                locks.get(&name).is_some_and(|l| l.try_lock().is_err())
            };
            if busy {
                continue;
            }
            if tokio::fs::remove_file(self.dir.join(&name)).await.is_ok() {
                total -= len;
            }
        }
        Ok(())
    }
}

fn touch(path: &Path) {
    if let Ok(f) = std::fs::File::options().append(true).open(path) {
        let _ = f.set_modified(SystemTime::now());
    }
}

/// Maps a Glance `disk_format` to `qemu-img`'s format name; `None` for formats `qemu-img`
/// must not be asked to read.
pub fn qemu_format(disk_format: &str) -> Option<&'static str> {
    Some(match disk_format {
        "raw" => "raw",
        "qcow2" => "qcow2",
        "vmdk" => "vmdk",
        "vhd" => "vpc",
        "vhdx" => "vhdx",
        "vdi" => "vdi",
        "iso" | "gpt" => "raw",
        _ => return None,
    })
}

fn checked_format(f: &str) -> Result<&'static str> {
    qemu_format(f).ok_or_else(|| ImageError::Invalid(format!("cannot convert disk_format {f}")))
}

/// `qemu-img convert -f <from> -O <to> src dst`, with both formats explicit.
pub async fn convert(
    runner: &dyn CommandRunner,
    src: &Path,
    from: &str,
    dst: &Path,
    to: &str,
) -> Result<()> {
    let cmd = Command::new("qemu-img")
        .args(["convert", "-f", checked_format(from)?, "-O", checked_format(to)?])
        .arg(src)
        .arg(dst);
    runner.run(&cmd).await.map_err(backend)?;
    Ok(())
}

/// The virtual size `qemu-img info -f <format> --output=json` reports.
pub async fn virtual_size(runner: &dyn CommandRunner, path: &Path, format: &str) -> Result<u64> {
    let cmd = Command::new("qemu-img")
        .args(["info", "-f", checked_format(format)?, "--output=json"])
        .arg(path);
    let out = runner.run(&cmd).await.map_err(backend)?;
    let v: serde_json::Value = out.json(&cmd).map_err(backend)?;
    v["virtual-size"]
        .as_u64()
        .ok_or_else(|| ImageError::Invalid("qemu-img info gave no virtual-size".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ImageStore, MemoryImageStore};
    use ferrostack_core::command::{Output, ScriptedRunner};
    use ferrostack_core::id::ImageId;

    async fn active(store: &MemoryImageStore, data: &[u8]) -> Image {
        let id = ImageId::new();
        let mut w = store.begin(&id).await.unwrap();
        w.write(data).await.unwrap();
        w.commit().await.unwrap();
        let now = time::OffsetDateTime::now_utc();
        let mut img: Image = serde_json::from_value(serde_json::json!({
            "id": id, "name": null, "status": "active", "visibility": "private",
            "protected": false, "os_hidden": false, "owner": null, "disk_format": "raw",
            "container_format": "bare", "min_disk": 0, "min_ram": 0, "size": data.len(),
            "virtual_size": null, "checksum": null, "os_hash_algo": "sha512",
            "os_hash_value": null, "tags": [], "properties": {}, "members": [],
            "created_at": now.format(&time::format_description::well_known::Rfc3339).unwrap(),
            "updated_at": now.format(&time::format_description::well_known::Rfc3339).unwrap(),
        }))
        .unwrap();
        img.os_hash_value = Some(hex::encode(sha2::Sha512::digest(data)));
        img
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_fetches_download_once_and_evict_lru() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Arc::new(ImageCache::new(dir.path(), 250_000).unwrap());
        let store = Arc::new(MemoryImageStore::new());
        let a = active(&store, &vec![1u8; 100_000]).await;
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (cache, store, a) = (cache.clone(), store.clone(), a.clone());
            tasks.push(tokio::spawn(async move { cache.fetch(&a, &*store).await.unwrap() }));
        }
        let mut paths = Vec::new();
        for t in tasks {
            paths.push(t.await.unwrap());
        }
        assert!(paths.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(cache.fetch_count(), 1);
        assert_eq!(std::fs::read(&paths[0]).unwrap(), vec![1u8; 100_000]);
        // Same content under another id: no new download.
        let mut twin = a.clone();
        twin.id = ImageId::new();
        store.begin(&twin.id).await.unwrap().commit().await.unwrap(); // never read
        cache.fetch(&twin, &*store).await.unwrap();
        assert_eq!(cache.fetch_count(), 1);
        // Two more images overflow 250 kB: the least recently used (a) goes.
        let b = active(&store, &vec![2u8; 100_000]).await;
        cache.fetch(&b, &*store).await.unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let c = active(&store, &vec![3u8; 100_000]).await;
        cache.fetch(&c, &*store).await.unwrap();
        assert!(!paths[0].exists(), "lru entry evicted");
        assert_eq!(cache.fetch_count(), 3);
    }

    #[tokio::test]
    async fn corrupt_data_is_not_cached() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ImageCache::new(dir.path(), 1 << 20).unwrap();
        let store = MemoryImageStore::new();
        let mut img = active(&store, b"good").await;
        img.os_hash_value = Some(hex::encode(sha2::Sha512::digest(b"other")));
        assert!(matches!(cache.fetch(&img, &store).await, Err(ImageError::Invalid(_))));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn qemu_img_always_gets_an_explicit_format() {
        let runner = ScriptedRunner::new();
        runner.expect(
            &["qemu-img", "convert", "-f", "vpc", "-O", "qcow2", "/a", "/b"],
            Output::success(""),
        );
        runner.expect(
            &["qemu-img", "info", "-f", "qcow2", "--output=json", "/b"],
            Output::success(r#"{"virtual-size": 1048576, "format": "qcow2"}"#),
        );
        convert(&runner, Path::new("/a"), "vhd", Path::new("/b"), "qcow2").await.unwrap();
        assert_eq!(virtual_size(&runner, Path::new("/b"), "qcow2").await.unwrap(), 1 << 20);
        assert!(runner.is_done());
        assert!(convert(&runner, Path::new("/a"), "ami", Path::new("/b"), "raw").await.is_err());
    }
}
