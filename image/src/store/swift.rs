// SPDX-License-Identifier: Apache-2.0
//! An [`ImageStore`] on any Swift-API object store (OpenStack Swift, or a Swift-compatible
//! gateway), over plain HTTP with `reqwest`.
//!
//! ## Layout
//!
//! | what | where |
//! |---|---|
//! | committed image data | `<container>/<image id>`: an empty object for an empty image, else a Static Large Object manifest |
//! | segments | `<container>_segments/<image id>/<upload id>/<00000000..>`, at most `segment_size` bytes each |
//!
//! Both containers are created on demand (Glance's `swift_store_create_container_on_put`).
//!
//! ## Semantics (after glance_store's swift driver, with stronger atomicity)
//!
//! * **Upload** streams: every chunk goes straight into the body of a chunked `PUT` of the
//!   current segment (backpressured through a two-slot channel), so nothing holds more than a
//!   couple of chunks in memory. A segment is closed when it reaches `segment_size`; its md5 is
//!   computed on the way and must equal the `ETag` Swift answers.
//! * **Commit** writes the SLO manifest (`?multipart-manifest=put`, each segment with its etag and
//!   size, which Swift re-validates) at the image's name in one `PUT`, so the new data replaces
//!   the old atomically; then the segments of older uploads of that image are deleted. The
//!   manifest's `X-Static-Large-Object` flag is checked afterwards, so an endpoint without the
//!   `slo` middleware is refused instead of serving a JSON manifest as image data.
//!   Glance switches to segments only above `swift_store_large_object_size`; here every
//!   non-empty image is an SLO, which gives the same atomic commit for small images too.
//! * **Abort**, or dropping the writer, cancels the in-flight segment `PUT` (the connection is
//!   dropped mid-body, so Swift stores nothing) and deletes the segments already written; a
//!   segment left behind by a crash is garbage-collected at the next commit or delete of the
//!   same image.
//! * **Delete** removes the manifest and every segment under `<image id>/`.
//! * **Authentication** goes through [`SwiftAuth`]: [`TempAuth`] (Swift's v1 auth:
//!   `X-Auth-User`/`X-Auth-Key` to `X-Storage-Url` + `X-Auth-Token`) or [`StaticToken`] (a token
//!   and storage URL obtained elsewhere, e.g. from Keystone by the facade, which can also
//!   implement [`SwiftAuth`] itself to refresh). A `401` re-authenticates once and retries
//!   requests whose body can be replayed. A streamed segment cannot be replayed, and Swift
//!   checks the token when a request starts, so before each segment the session is renewed if
//!   it expires within [`SwiftConfig::token_refresh_margin`] (tempauth's
//!   `X-Auth-Token-Expires`, or [`SwiftSession::expiring_in`]) and checked with a `HEAD` of the
//!   segment container (renewed on `401`). Only a token revoked between that check and the
//!   segment's `PUT` fails an upload, with [`SwiftError::Unauthorized`].
//! * **Hostile or broken endpoints** give [`SwiftError`]s wrapped in
//!   [`ImageError::Backend`]: unexpected statuses, malformed auth
//!   answers (missing or non-HTTP storage URLs, unusable tokens), etag mismatches, oversized or
//!   malformed listings. Redirects are not followed. TLS is not compiled in (the workspace's
//!   `reqwest` has no TLS feature), so storage URLs must be `http://`; an `https://` one is a
//!   clean error.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrostack_core::id::ImageId;
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;
use tokio::task::JoinHandle;

use super::{ByteStream, ImageStore, ImageWriter};
use crate::error::{ImageError, Result};

/// Swift's default maximum number of segments in one SLO manifest (`max_manifest_segments`).
pub const DEFAULT_MAX_SEGMENTS: usize = 1000;
/// Swift's maximum object size, the upper bound of a segment (5 GiB).
pub const MAX_SEGMENT_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// The default segment size (glance_store's `swift_store_large_object_chunk_size`, 200 MiB).
pub const DEFAULT_SEGMENT_SIZE: u64 = 200 * 1024 * 1024;
/// The most bytes read from a listing, auth or error response.
const MAX_SMALL_BODY: usize = 8 * 1024 * 1024;
/// The longest token accepted from an auth endpoint.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// What went wrong talking to Swift.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SwiftError {
    /// The endpoint could not be reached, or the connection broke.
    #[error("swift request {op} failed")]
    Transport {
        /// The operation.
        op: &'static str,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// An unexpected HTTP status.
    #[error("swift request {op} answered {status}: {detail}")]
    Status {
        /// The operation.
        op: &'static str,
        /// The status.
        status: u16,
        /// The start of the response body.
        detail: String,
    },
    /// Credentials were refused, also after re-authenticating.
    #[error("swift refused the credentials ({op})")]
    Unauthorized {
        /// The operation.
        op: &'static str,
    },
    /// The endpoint answered something malformed.
    #[error("malformed swift response ({op}): {detail}")]
    BadResponse {
        /// The operation.
        op: &'static str,
        /// What was wrong.
        detail: String,
        /// The parser's or task's error, when one said so.
        #[source]
        source: Option<ferrostack_core::error::BoxError>,
    },
    /// A segment's etag differs from the md5 of what was sent.
    #[error("segment {object}: swift etag {got:?}, expected {expected}")]
    ChecksumMismatch {
        /// The segment.
        object: String,
        /// The md5 of the data sent.
        expected: String,
        /// The etag Swift answered.
        got: String,
    },
    /// The image would need more segments than one manifest may hold.
    #[error("image exceeds {max} segments of {segment_size} bytes")]
    TooManySegments {
        /// The limit.
        max: usize,
        /// The segment size.
        segment_size: u64,
    },
    /// The endpoint has no Static Large Object support.
    #[error("swift endpoint lacks static large object (slo) support")]
    NoSlo,
    /// The configuration is unusable.
    #[error("invalid swift store configuration: {0}")]
    Config(String),
}

impl From<SwiftError> for ImageError {
    fn from(e: SwiftError) -> Self {
        match e {
            SwiftError::Config(m) => ImageError::Invalid(m),
            e => ImageError::Backend(Box::new(e)),
        }
    }
}

fn transport(op: &'static str) -> impl FnOnce(reqwest::Error) -> SwiftError {
    move |source| SwiftError::Transport { op, source }
}

fn bad(op: &'static str, detail: impl Into<String>) -> SwiftError {
    SwiftError::BadResponse { op, detail: detail.into(), source: None }
}

/// [`bad`], keeping the error that found the fault as the source.
fn bad_because(
    op: &'static str,
    detail: impl Into<String>,
    e: impl std::error::Error + Send + Sync + 'static,
) -> SwiftError {
    SwiftError::BadResponse { op, detail: detail.into(), source: Some(Box::new(e)) }
}

/// An authenticated session: where the account lives and the token to present.
#[derive(Clone)]
pub struct SwiftSession {
    storage_url: Url,
    token: HeaderValue,
    expires_at: Option<Instant>,
}

impl fmt::Debug for SwiftSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SwiftSession")
            .field("storage_url", &self.storage_url.as_str())
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl SwiftSession {
    /// The same session, known to expire after `lifetime` from now (a Keystone token's
    /// `expires_at`, tempauth's `X-Auth-Token-Expires`). A session close to expiry is renewed
    /// before a segment upload starts, since a streamed body cannot be replayed after a `401`.
    pub fn expiring_in(mut self, lifetime: Duration) -> Self {
        self.expires_at = Instant::now().checked_add(lifetime);
        self
    }

    /// A session from a storage URL (`http(s)://host[:port]/v1/<account>`) and a token, both
    /// validated.
    pub fn new(storage_url: &str, token: &str) -> Result<Self, SwiftError> {
        Self::parse("session", storage_url, token)
    }

    fn parse(op: &'static str, storage_url: &str, token: &str) -> Result<Self, SwiftError> {
        let url = Url::parse(storage_url)
            .map_err(|e| bad_because(op, format!("storage url {storage_url:?}"), e))?;
        if !matches!(url.scheme(), "http" | "https")
            || url.host().is_none()
            || url.cannot_be_a_base()
        {
            return Err(bad(op, format!("storage url {storage_url:?} is not an http(s) url")));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad(op, "storage url has a query or fragment"));
        }
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(bad(op, "empty or oversized token"));
        }
        let mut token = HeaderValue::from_str(token)
            .map_err(|_| bad(op, "token is not a valid header value"))?;
        token.set_sensitive(true);
        Ok(SwiftSession { storage_url: url, token, expires_at: None })
    }

    /// The storage URL.
    pub fn storage_url(&self) -> &Url {
        &self.storage_url
    }

    fn url(&self, container: &str, object: Option<&str>) -> Url {
        let mut u = self.storage_url.clone();
        if let Ok(mut p) = u.path_segments_mut() {
            p.pop_if_empty().push(container);
            if let Some(o) = object {
                p.extend(o.split('/'));
            }
        }
        u
    }
}

/// Obtains Swift sessions. Called at first use and whenever Swift answers `401`.
///
/// # Contract
///
/// * Each call returns a session that was valid when obtained (a fresh token where the
///   mechanism allows it); implementations must not cache a token Swift just refused.
/// * Errors are [`SwiftError`]s: `Unauthorized` for refused credentials, `Transport` for an
///   unreachable auth endpoint.
#[async_trait::async_trait]
pub trait SwiftAuth: Send + Sync + fmt::Debug {
    /// Authenticates.
    async fn authenticate(&self, http: &reqwest::Client) -> Result<SwiftSession, SwiftError>;
}

/// Swift's v1 auth (tempauth, swauth, and most Swift-compatible gateways): `GET <auth_url>`
/// with `X-Auth-User`/`X-Auth-Key`, answered by `X-Storage-Url` and `X-Auth-Token`.
#[derive(Clone)]
pub struct TempAuth {
    auth_url: Url,
    user: String,
    key: String,
}

impl fmt::Debug for TempAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TempAuth")
            .field("auth_url", &self.auth_url.as_str())
            .field("user", &self.user)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl TempAuth {
    /// Credentials `user` (`account:user`) and `key` for the auth endpoint `auth_url`
    /// (`http://proxy:8080/auth/v1.0`).
    pub fn new(auth_url: &str, user: &str, key: &str) -> Result<Self, SwiftError> {
        let auth_url = Url::parse(auth_url)
            .map_err(|e| SwiftError::Config(format!("auth url {auth_url:?}: {e}")))?;
        if !matches!(auth_url.scheme(), "http" | "https") {
            return Err(SwiftError::Config("auth url must be http(s)".into()));
        }
        for (what, v) in [("user", user), ("key", key)] {
            if v.is_empty() || HeaderValue::from_str(v).is_err() {
                return Err(SwiftError::Config(format!("{what} must be a non-empty header value")));
            }
        }
        Ok(TempAuth { auth_url, user: user.into(), key: key.into() })
    }
}

#[async_trait::async_trait]
impl SwiftAuth for TempAuth {
    async fn authenticate(&self, http: &reqwest::Client) -> Result<SwiftSession, SwiftError> {
        const OP: &str = "auth";
        let resp = http
            .get(self.auth_url.clone())
            .header("X-Auth-User", &self.user)
            .header("X-Auth-Key", &self.key)
            .send()
            .await
            .map_err(transport(OP))?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(SwiftError::Unauthorized { op: OP });
        }
        if !status.is_success() {
            return Err(status_error(OP, resp).await);
        }
        let h = resp.headers();
        let get = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let url = get("x-storage-url").ok_or_else(|| bad(OP, "no X-Storage-Url"))?;
        let token = get("x-auth-token")
            .or_else(|| get("x-storage-token"))
            .ok_or_else(|| bad(OP, "no X-Auth-Token"))?;
        let session = SwiftSession::parse(OP, &url, &token)?;
        // Seconds the token stays valid (tempauth, swauth); ignored when malformed.
        let expires = get("x-auth-token-expires").and_then(|v| v.trim().parse::<f64>().ok());
        Ok(match expires {
            Some(secs) if (0.0..1e9).contains(&secs) => {
                session.expiring_in(Duration::from_secs_f64(secs))
            }
            _ => session,
        })
    }
}

/// A token and storage URL obtained elsewhere (e.g. from a Keystone catalog). Re-authenticating
/// returns the same session, so once Swift refuses the token every request fails with
/// [`SwiftError::Unauthorized`]; a caller that can refresh implements [`SwiftAuth`] instead.
#[derive(Debug, Clone)]
pub struct StaticToken(pub SwiftSession);

#[async_trait::async_trait]
impl SwiftAuth for StaticToken {
    async fn authenticate(&self, _http: &reqwest::Client) -> Result<SwiftSession, SwiftError> {
        Ok(self.0.clone())
    }
}

/// How a [`SwiftStore`] lays out and transfers data.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SwiftConfig {
    /// The container of the images (`glance`); segments go to `<container>_segments`.
    pub container: String,
    /// Bytes per segment (1 byte ..= 5 GiB).
    pub segment_size: u64,
    /// The most segments per image (Swift's `max_manifest_segments`).
    pub max_segments: usize,
    /// Create missing containers (Glance's `swift_store_create_container_on_put`).
    pub create_container: bool,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// The longest wait for any read on a connection.
    pub read_timeout: Duration,
    /// A session expiring within this margin is renewed before a segment upload starts, so
    /// that the token outlives the upload (choose more than a segment's upload time).
    pub token_refresh_margin: Duration,
}

impl Default for SwiftConfig {
    fn default() -> Self {
        SwiftConfig {
            container: "glance".into(),
            segment_size: DEFAULT_SEGMENT_SIZE,
            max_segments: DEFAULT_MAX_SEGMENTS,
            create_container: true,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(120),
            token_refresh_margin: Duration::from_secs(300),
        }
    }
}

impl SwiftConfig {
    fn validate(&self) -> Result<(), SwiftError> {
        let c = &self.container;
        // Leave room for the `_segments` suffix within Swift's 256-byte container names.
        if c.is_empty()
            || c.len() > 200
            || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            || c.starts_with('.')
        {
            return Err(SwiftError::Config(format!(
                "container {c:?} must be 1-200 characters of [A-Za-z0-9._-], not starting with '.'"
            )));
        }
        if self.segment_size == 0 || self.segment_size > MAX_SEGMENT_SIZE {
            return Err(SwiftError::Config("segment_size must be 1 byte ..= 5 GiB".into()));
        }
        if self.max_segments == 0 {
            return Err(SwiftError::Config("max_segments must be positive".into()));
        }
        Ok(())
    }
}

/// A [`SwiftStore`] as deployment configuration, authenticating with [`TempAuth`] (a
/// deployment using Keystone builds the store with [`SwiftStore::new`] and its own
/// [`SwiftAuth`]). Sizes in bytes, times in seconds.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwiftStoreConfig {
    /// The v1 auth endpoint (`http://proxy:8080/auth/v1.0`).
    pub auth_url: String,
    /// `account:user`.
    pub user: String,
    /// The key.
    pub key: String,
    /// The container (default `glance`).
    #[serde(default = "default_container")]
    pub container: String,
    /// Bytes per segment (default 200 MiB).
    #[serde(default = "default_segment_size")]
    pub segment_size: u64,
    /// Segments per image at most (default 1000).
    #[serde(default = "default_max_segments")]
    pub max_segments: usize,
    /// Create missing containers (default true).
    #[serde(default = "default_true")]
    pub create_container: bool,
}

fn default_container() -> String {
    "glance".into()
}
fn default_segment_size() -> u64 {
    DEFAULT_SEGMENT_SIZE
}
fn default_max_segments() -> usize {
    DEFAULT_MAX_SEGMENTS
}
fn default_true() -> bool {
    true
}

impl fmt::Debug for SwiftStoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SwiftStoreConfig")
            .field("auth_url", &self.auth_url)
            .field("user", &self.user)
            .field("key", &"<redacted>")
            .field("container", &self.container)
            .field("segment_size", &self.segment_size)
            .field("max_segments", &self.max_segments)
            .field("create_container", &self.create_container)
            .finish()
    }
}

impl SwiftStoreConfig {
    /// Builds the store (validating everything; nothing is contacted yet).
    pub fn build(&self) -> Result<SwiftStore> {
        let auth = TempAuth::new(&self.auth_url, &self.user, &self.key)?;
        let config = SwiftConfig {
            container: self.container.clone(),
            segment_size: self.segment_size,
            max_segments: self.max_segments,
            create_container: self.create_container,
            ..SwiftConfig::default()
        };
        SwiftStore::new(Arc::new(auth), config)
    }
}

/// Image data in a Swift-API object store. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct SwiftStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    auth: Arc<dyn SwiftAuth>,
    session: RwLock<Option<Arc<SwiftSession>>>,
    container: String,
    segments: String,
    config: SwiftConfig,
}

async fn read_capped(op: &'static str, mut resp: reqwest::Response) -> Result<Bytes, SwiftError> {
    let mut out = Vec::new();
    while let Some(c) = resp.chunk().await.map_err(transport(op))? {
        if out.len() + c.len() > MAX_SMALL_BODY {
            return Err(bad(op, "response body too large"));
        }
        out.extend_from_slice(&c);
    }
    Ok(out.into())
}

async fn status_error(op: &'static str, resp: reqwest::Response) -> SwiftError {
    let status = resp.status().as_u16();
    let mut detail = String::new();
    let mut resp = resp;
    // Only the beginning of the body, lossily, on one line.
    while detail.len() < 200 {
        match resp.chunk().await {
            Ok(Some(c)) => detail.push_str(&String::from_utf8_lossy(&c)),
            _ => break,
        }
    }
    let detail: String = detail.chars().filter(|c| !c.is_control()).take(200).collect();
    SwiftError::Status { op, status, detail }
}

fn hex_md5(h: Md5) -> String {
    hex::encode(h.finalize())
}

/// A request that can be rebuilt for a retry.
struct Req<'a> {
    method: Method,
    container: &'a str,
    object: Option<&'a str>,
    query: &'a [(&'a str, &'a str)],
    headers: HeaderMap,
    body: Option<Bytes>,
}

impl<'a> Req<'a> {
    fn new(method: Method, container: &'a str, object: Option<&'a str>) -> Self {
        Req { method, container, object, query: &[], headers: HeaderMap::new(), body: None }
    }
}

impl Inner {
    async fn session(&self) -> Result<Arc<SwiftSession>, SwiftError> {
        if let Some(s) = self.session.read().await.as_ref() {
            return Ok(s.clone());
        }
        let mut w = self.session.write().await;
        if let Some(s) = w.as_ref() {
            return Ok(s.clone());
        }
        let s = Arc::new(self.auth.authenticate(&self.http).await?);
        *w = Some(s.clone());
        Ok(s)
    }

    /// Replaces `stale` with a fresh session unless another task already did.
    async fn reauth(&self, stale: &Arc<SwiftSession>) -> Result<Arc<SwiftSession>, SwiftError> {
        let mut w = self.session.write().await;
        if let Some(cur) = w.as_ref()
            && !Arc::ptr_eq(cur, stale)
        {
            return Ok(cur.clone());
        }
        *w = None;
        let s = Arc::new(self.auth.authenticate(&self.http).await?);
        *w = Some(s.clone());
        Ok(s)
    }

    fn build(&self, s: &SwiftSession, r: &Req<'_>) -> reqwest::RequestBuilder {
        let mut url = s.url(r.container, r.object);
        if !r.query.is_empty() {
            url.query_pairs_mut().extend_pairs(r.query);
        }
        let mut b = self
            .http
            .request(r.method.clone(), url)
            .headers(r.headers.clone())
            .header("X-Auth-Token", s.token.clone());
        if let Some(body) = &r.body {
            b = b.body(body.clone());
        } else if r.method == Method::PUT || r.method == Method::POST {
            b = b.header(reqwest::header::CONTENT_LENGTH, "0");
        }
        b
    }

    /// Sends a replayable request; a 401 re-authenticates and retries once.
    async fn send(&self, op: &'static str, r: Req<'_>) -> Result<reqwest::Response, SwiftError> {
        let mut s = self.session().await?;
        for attempt in 0..2 {
            let resp = self.build(&s, &r).send().await.map_err(transport(op))?;
            if resp.status() != StatusCode::UNAUTHORIZED {
                return Ok(resp);
            }
            if attempt == 0 {
                tracing::debug!(op, "swift answered 401; re-authenticating");
                s = self.reauth(&s).await?;
            }
        }
        Err(SwiftError::Unauthorized { op })
    }

    /// Makes sure `container` exists (creating it if allowed); also refreshes the token.
    async fn ensure_container(&self, container: &str) -> Result<(), SwiftError> {
        let resp = self.send("head container", Req::new(Method::HEAD, container, None)).await?;
        match resp.status() {
            s if s.is_success() => Ok(()),
            StatusCode::NOT_FOUND if self.config.create_container => {
                let resp =
                    self.send("create container", Req::new(Method::PUT, container, None)).await?;
                if resp.status().is_success() {
                    Ok(())
                } else {
                    Err(status_error("create container", resp).await)
                }
            }
            StatusCode::NOT_FOUND => Err(SwiftError::Status {
                op: "head container",
                status: 404,
                detail: format!("container {container} is missing and creation is disabled"),
            }),
            _ => Err(status_error("head container", resp).await),
        }
    }

    /// The names of the segments under `prefix`, following Swift's paged listing.
    async fn list_segments(&self, prefix: &str) -> Result<Vec<String>, SwiftError> {
        const OP: &str = "list segments";
        #[derive(Deserialize)]
        struct Entry {
            name: String,
        }
        let mut names = Vec::new();
        let mut marker = String::new();
        loop {
            let query = [("format", "json"), ("prefix", prefix), ("marker", marker.as_str())];
            let mut req = Req::new(Method::GET, &self.segments, None);
            req.query = &query;
            let resp = self.send(OP, req).await?;
            match resp.status() {
                StatusCode::NOT_FOUND => return Ok(names),
                StatusCode::NO_CONTENT => return Ok(names),
                s if s.is_success() => {}
                _ => return Err(status_error(OP, resp).await),
            }
            let body = read_capped(OP, resp).await?;
            let page: Vec<Entry> =
                serde_json::from_slice(&body).map_err(|e| bad_because(OP, "listing", e))?;
            let Some(last) = page.last() else { return Ok(names) };
            if last.name <= marker {
                return Err(bad(OP, "listing does not advance"));
            }
            marker = last.name.clone();
            for e in page {
                if !e.name.starts_with(prefix) {
                    return Err(bad(OP, format!("listed {:?} outside prefix {prefix:?}", e.name)));
                }
                names.push(e.name);
            }
        }
    }

    async fn delete_object(&self, container: &str, name: &str) -> Result<bool, SwiftError> {
        let resp = self.send("delete", Req::new(Method::DELETE, container, Some(name))).await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(status_error("delete", resp).await),
        }
    }

    /// Deletes the segments under `prefix` except those of the upload `keep`.
    async fn delete_segments(&self, prefix: &str, keep: Option<&str>) -> Result<usize, SwiftError> {
        let mut n = 0;
        for name in self.list_segments(prefix).await? {
            if keep.is_some_and(|k| name.starts_with(k)) {
                continue;
            }
            self.delete_object(&self.segments, &name).await?;
            n += 1;
        }
        Ok(n)
    }
}

impl SwiftStore {
    /// A store authenticating through `auth`, laid out per `config` (validated here; nothing
    /// is contacted until first use).
    pub fn new(auth: Arc<dyn SwiftAuth>, config: SwiftConfig) -> Result<Self> {
        config.validate()?;
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ImageError::Backend(Box::new(e)))?;
        Ok(SwiftStore {
            inner: Arc::new(Inner {
                http,
                auth,
                session: RwLock::new(None),
                segments: format!("{}_segments", config.container),
                container: config.container.clone(),
                config,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SwiftConfig {
        &self.inner.config
    }

    /// The size in bytes of the committed data of `id`, if any (`HEAD`; for a segmented image
    /// Swift reports the total).
    pub async fn size(&self, id: &ImageId) -> Result<Option<u64>> {
        const OP: &str = "head object";
        let name = id.to_string();
        let resp =
            self.inner.send(OP, Req::new(Method::HEAD, &self.inner.container, Some(&name))).await?;
        match resp.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => {
                let len = resp
                    .headers()
                    .get(reqwest::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .ok_or_else(|| bad(OP, "no valid Content-Length"))?;
                Ok(Some(len))
            }
            _ => Err(status_error(OP, resp).await.into()),
        }
    }

    /// The names of the segments stored for `id` (in `<container>_segments`), for inspection.
    pub async fn segment_names(&self, id: &ImageId) -> Result<Vec<String>> {
        Ok(self.inner.list_segments(&format!("{id}/")).await?)
    }
}

struct Segment {
    name: String,
    size: u64,
    etag: String,
}

struct InFlight {
    name: String,
    tx: mpsc::Sender<std::io::Result<Bytes>>,
    task: JoinHandle<Result<reqwest::Response, reqwest::Error>>,
    written: u64,
    md5: Md5,
}

struct SwiftWriter {
    inner: Arc<Inner>,
    id: ImageId,
    upload: String,
    current: Option<InFlight>,
    done: Vec<Segment>,
    finished: bool,
}

impl fmt::Debug for SwiftWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SwiftWriter")
            .field("id", &self.id)
            .field("upload", &self.upload)
            .field("segments", &self.done.len())
            .field("in_flight", &self.current.as_ref().map(|c| c.written))
            .finish()
    }
}

impl SwiftWriter {
    fn prefix(&self) -> String {
        format!("{}/{}/", self.id, self.upload)
    }

    async fn start_segment(&mut self) -> Result<(), SwiftError> {
        if self.done.len() >= self.inner.config.max_segments {
            return Err(SwiftError::TooManySegments {
                max: self.inner.config.max_segments,
                segment_size: self.inner.config.segment_size,
            });
        }
        // The streamed body cannot be replayed after a 401, so the token must be good when the
        // upload starts (Swift checks it then only): renew it ahead of its known expiry, and
        // check it with a HEAD (which renews it on a 401 and recreates a vanished container).
        let current = self.inner.session().await?;
        if current
            .expires_at
            .is_some_and(|e| Instant::now() + self.inner.config.token_refresh_margin >= e)
        {
            self.inner.reauth(&current).await?;
        }
        self.inner.ensure_container(&self.inner.segments).await?;
        let session = self.inner.session().await?;
        let name = format!("{}{:08}", self.prefix(), self.done.len());
        let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(2);
        let req = self
            .inner
            .http
            .put(session.url(&self.inner.segments, Some(&name)))
            .header("X-Auth-Token", session.token.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(reqwest::Body::wrap_stream(rx));
        let task = tokio::spawn(req.send());
        self.current = Some(InFlight { name, tx, task, written: 0, md5: Md5::new() });
        Ok(())
    }

    async fn finish_segment(&mut self) -> Result<(), SwiftError> {
        const OP: &str = "put segment";
        let Some(cur) = self.current.take() else { return Ok(()) };
        let InFlight { name, tx, task, written, md5 } = cur;
        drop(tx);
        let resp = match task.await {
            Ok(r) => r.map_err(transport(OP))?,
            Err(e) => return Err(bad_because(OP, "upload task failed", e)),
        };
        match resp.status() {
            StatusCode::CREATED => {}
            StatusCode::UNAUTHORIZED => return Err(SwiftError::Unauthorized { op: OP }),
            _ => return Err(status_error(OP, resp).await),
        }
        let expected = hex_md5(md5);
        let got = resp
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim_matches('"').to_ascii_lowercase())
            .unwrap_or_default();
        if got != expected {
            return Err(SwiftError::ChecksumMismatch { object: name, expected, got });
        }
        self.done.push(Segment { name, size: written, etag: expected });
        Ok(())
    }

    /// Sends `data` into the current segment; on a broken body, reports the request's error.
    async fn feed(&mut self, data: Bytes) -> Result<(), SwiftError> {
        let Some(cur) = self.current.as_mut() else { return Ok(()) };
        cur.md5.update(&data);
        cur.written += data.len() as u64;
        if cur.tx.send(Ok(data)).await.is_err() {
            // The request ended early: its outcome says why.
            self.finish_segment().await?;
            return Err(bad("put segment", "swift closed the upload early"));
        }
        Ok(())
    }

    async fn write_inner(&mut self, mut chunk: &[u8]) -> Result<(), SwiftError> {
        let seg = self.inner.config.segment_size;
        while !chunk.is_empty() {
            if self.current.is_none() {
                self.start_segment().await?;
            }
            let written = self.current.as_ref().map_or(0, |c| c.written);
            let room = usize::try_from(seg - written).unwrap_or(usize::MAX);
            let n = room.min(chunk.len());
            self.feed(Bytes::copy_from_slice(&chunk[..n])).await?;
            chunk = &chunk[n..];
            if self.current.as_ref().is_some_and(|c| c.written >= seg) {
                self.finish_segment().await?;
            }
        }
        Ok(())
    }

    async fn commit_inner(&mut self) -> Result<(), SwiftError> {
        const OP: &str = "put manifest";
        self.finish_segment().await?;
        let inner = self.inner.clone();
        inner.ensure_container(&inner.container).await?;
        let name = self.id.to_string();
        if self.done.is_empty() {
            let req = Req::new(Method::PUT, &inner.container, Some(&name));
            let resp = inner.send("put object", req).await?;
            if resp.status() != StatusCode::CREATED {
                return Err(status_error("put object", resp).await);
            }
        } else {
            let manifest: Vec<serde_json::Value> = self
                .done
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "path": format!("/{}/{}", inner.segments, s.name),
                        "etag": s.etag,
                        "size_bytes": s.size,
                    })
                })
                .collect();
            let body = serde_json::to_vec(&manifest).map_err(|e| bad_because(OP, "manifest", e))?;
            let mut req = Req::new(Method::PUT, &inner.container, Some(&name));
            req.query = &[("multipart-manifest", "put")];
            req.body = Some(body.into());
            let resp = inner.send(OP, req).await?;
            if resp.status() != StatusCode::CREATED {
                return Err(status_error(OP, resp).await);
            }
            // Without the slo middleware Swift would have stored the JSON as the object.
            let resp =
                inner.send(OP, Req::new(Method::HEAD, &inner.container, Some(&name))).await?;
            let slo = resp
                .headers()
                .get("x-static-large-object")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("true"));
            if !slo {
                let _ = inner.delete_object(&inner.container, &name).await;
                return Err(SwiftError::NoSlo);
            }
        }
        self.finished = true;
        // Older uploads' segments (replaced data, or crashed writers) are garbage now.
        let keep = self.prefix();
        if let Err(e) = inner.delete_segments(&format!("{}/", self.id), Some(&keep)).await {
            tracing::warn!(image = %self.id, error = %e, "could not delete replaced segments");
        }
        Ok(())
    }

    async fn cleanup(&mut self) -> Result<(), SwiftError> {
        if let Some(cur) = self.current.take() {
            cur.task.abort();
        }
        self.finished = true;
        for s in std::mem::take(&mut self.done) {
            self.inner.delete_object(&self.inner.segments, &s.name).await?;
        }
        Ok(())
    }
}

impl Drop for SwiftWriter {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if let Some(cur) = self.current.take() {
            cur.task.abort();
        }
        let names: Vec<String> = self.done.drain(..).map(|s| s.name).collect();
        if names.is_empty() {
            return;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let inner = self.inner.clone();
            rt.spawn(async move {
                for n in names {
                    let _ = inner.delete_object(&inner.segments, &n).await;
                }
            });
        }
    }
}

#[async_trait::async_trait]
impl ImageWriter for SwiftWriter {
    async fn write(&mut self, chunk: &[u8]) -> Result<()> {
        if self.finished {
            return Err(ImageError::Conflict("writer already finished".into()));
        }
        if let Err(e) = self.write_inner(chunk).await {
            let _ = self.cleanup().await;
            return Err(e.into());
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        if self.finished {
            return Err(ImageError::Conflict("writer already finished".into()));
        }
        if let Err(e) = self.commit_inner().await {
            if !self.finished {
                let _ = self.cleanup().await;
            }
            return Err(e.into());
        }
        Ok(())
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        Ok(self.cleanup().await?)
    }
}

#[async_trait::async_trait]
impl ImageStore for SwiftStore {
    async fn begin(&self, id: &ImageId) -> Result<Box<dyn ImageWriter>> {
        self.inner.ensure_container(&self.inner.container).await?;
        Ok(Box::new(SwiftWriter {
            inner: self.inner.clone(),
            id: *id,
            upload: uuid::Uuid::new_v4().simple().to_string(),
            current: None,
            done: Vec::new(),
            finished: false,
        }))
    }

    async fn open(&self, id: &ImageId) -> Result<ByteStream> {
        const OP: &str = "get object";
        let name = id.to_string();
        let resp =
            self.inner.send(OP, Req::new(Method::GET, &self.inner.container, Some(&name))).await?;
        match resp.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Err(ImageError::NotFound(name)),
            _ => return Err(status_error(OP, resp).await.into()),
        }
        Ok(resp
            .bytes_stream()
            .map_err(|e| ImageError::from(SwiftError::Transport { op: OP, source: e }))
            .boxed())
    }

    async fn delete(&self, id: &ImageId) -> Result<bool> {
        let existed = self.inner.delete_object(&self.inner.container, &id.to_string()).await?;
        self.inner.delete_segments(&format!("{id}/"), None).await?;
        Ok(existed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_and_session_validation() {
        let mut c = SwiftConfig::default();
        assert!(c.validate().is_ok());
        for bad_name in ["", ".x", "a/b", "a b", &"x".repeat(201)] {
            c.container = bad_name.into();
            assert!(c.validate().is_err(), "{bad_name:?}");
        }
        c = SwiftConfig { segment_size: 0, ..SwiftConfig::default() };
        assert!(c.validate().is_err());
        c.segment_size = MAX_SEGMENT_SIZE + 1;
        assert!(c.validate().is_err());

        assert!(SwiftSession::new("http://h:8080/v1/AUTH_a", "tok").is_ok());
        for (url, tok) in [
            ("ftp://h/v1/a", "tok"),
            ("not a url", "tok"),
            ("http://h/v1/a?x=1", "tok"),
            ("http://h/v1/a", ""),
            ("http://h/v1/a", "bad\ntoken"),
            ("mailto:x@y", "tok"),
        ] {
            assert!(SwiftSession::new(url, tok).is_err(), "{url} {tok:?}");
        }
        let s = SwiftSession::new("http://h:8080/v1/AUTH_a/", "tok").unwrap();
        assert_eq!(
            s.url("glance", Some("a/b/00000001")).as_str(),
            "http://h:8080/v1/AUTH_a/glance/a/b/00000001"
        );
        assert!(!format!("{s:?}").contains("tok\""));
        let t = TempAuth::new("http://h/auth/v1.0", "a:b", "secret").unwrap();
        assert!(!format!("{t:?}").contains("secret"));
    }
}
