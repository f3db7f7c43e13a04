// SPDX-License-Identifier: Apache-2.0
//! [`Client`]: [`IdentityApi`] over HTTP against any Keystone v3 endpoint (ours or a real
//! Keystone), and the remote token validation other services put in front of their routers.
//!
//! # Remote validation, the keystonemiddleware way
//!
//! A service that does not hold the Fernet keys validates its callers' tokens remotely, as
//! keystonemiddleware's `auth_token` does with its `[keystone_authtoken]` section:
//!
//! 1. The service authenticates with its own credentials ([`ClientConfig::service_auth`]:
//!    a service user, password and project) and keeps that service token, renewing it shortly
//!    before it expires ([`ClientConfig::renew_before`]) or when the endpoint refuses it.
//! 2. Each user token is validated with `GET /v3/auth/tokens?nocatalog`, `X-Auth-Token` being
//!    the service token and `X-Subject-Token` the user's. Without service credentials the
//!    client asks the endpoint to validate the token with itself (Keystone's `token_subject`
//!    rule allows that), which is enough for a trusted endpoint.
//! 3. The resulting [`RequestContext`] (user, domain, scope, roles, expiry, audit ids) is
//!    cached by the token's SHA-256 for [`ClientConfig::token_cache_time`] (300 s, as
//!    keystonemiddleware's `token_cache_time`), never past the token's own expiry, in a cache
//!    bounded to [`ClientConfig::token_cache_size`] entries (oldest evicted first). Tokens the
//!    endpoint rejects are remembered as rejected for the same time, so a client retrying a
//!    bad token does not cost a remote call each time; failures to reach the endpoint are
//!    never cached.
//! 4. Concurrent requests carrying the same uncached token share one remote call
//!    (single-flight): the first caller asks, the others wait for its answer. A failure is
//!    shared with the callers waiting at that moment and is not cached.
//!
//! **Revocation.** The remote endpoint is authoritative, but only after the cache time: a
//! token revoked elsewhere (a password change, a removed grant, `openstack token revoke`)
//! keeps working in this process for at most `token_cache_time` after it was last validated
//! remotely, exactly like keystonemiddleware. Set the cache time to zero to ask the endpoint
//! every time. Tokens revoked *through this client* ([`IdentityApi::revoke_token`]) and tokens
//! passed to [`Client::forget_token`] leave the cache at once.
//!
//! **Errors.** Statuses map back to [`IdentityError`]: 400 validation, 401 unauthorized, 403
//! forbidden, 404 not found, 409 conflict, 501 not implemented. Timeouts, refused connections,
//! 5xx answers, non-JSON or oversized bodies ([`ClientConfig::max_response_bytes`]) are
//! [`IdentityError::Remote`], which is 503 ("identity unavailable") at the API edge. Redirects
//! are never followed, so a token is only ever sent to the configured endpoint.
//!
//! # Example: another service validating tokens against a remote Keystone
//!
//! Here the "remote" Keystone is this crate's own server on a loopback port; any
//! Keystone-compatible `auth_url` works the same way.
//!
//! ```
//! use ferrostack_core::store::MemoryStore;
//! use ferrostack_identity::api::{AuthMethod, AuthRequest, DomainRef, ProjectRef, ScopeRequest, UserRef};
//! use ferrostack_identity::http::{Client, ClientConfig, Ctx, authenticate, router};
//! use ferrostack_identity::password::HashParams;
//! use ferrostack_identity::{BootstrapOptions, IdentityApi, IdentityConfig, IdentityService};
//! use axum::{Router, routing::get};
//! use std::sync::Arc;
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! // Somewhere else: a Keystone (here ours, bootstrapped, on 127.0.0.1).
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//! let url = format!("http://{}", listener.local_addr().unwrap());
//! let keys = tempfile::tempdir().unwrap();
//! let config = IdentityConfig {
//!     key_repository: keys.path().join("fernet-keys"),
//!     public_url: url.clone(),
//!     password_hashing: HashParams { bcrypt_cost: 4, ..HashParams::default() },
//!     ..IdentityConfig::default()
//! };
//! let keystone = Arc::new(IdentityService::new(Arc::new(MemoryStore::new()), config).await.unwrap());
//! keystone.bootstrap(&BootstrapOptions {
//!     admin_username: "admin".into(),
//!     admin_password: "secret".into(),
//!     admin_project: "admin".into(),
//!     region: "RegionOne".into(),
//!     identity_url: format!("{url}/v3"),
//! }).await.unwrap();
//! tokio::spawn(axum::serve(listener, router(keystone, url.clone())).into_future());
//!
//! // In the other service: [keystone_authtoken] auth_url, username, password, project_name.
//! let default = || DomainRef::Name("Default".into());
//! let admin = AuthRequest {
//!     method: AuthMethod::Password {
//!         user: UserRef::Name { name: "admin".into(), domain: default() },
//!         password: "secret".into(),
//!     },
//!     scope: ScopeRequest::Project(ProjectRef::Name { name: "admin".into(), domain: default() }),
//! };
//! let identity = Client::new(ClientConfig {
//!     service_auth: Some(admin.clone()),
//!     ..ClientConfig::new(format!("{url}/v3"))
//! }).unwrap();
//!
//! // The service's own router, behind the same auth layer local validation uses; serve
//! // `app` with `axum::serve` as usual.
//! let _app: Router = authenticate(
//!     Router::new().route("/whoami", get(|Ctx(ctx): Ctx| async move { ctx.user_name })),
//!     Arc::new(identity.clone()),
//! );
//!
//! // What the layer does for each request: the token becomes a RequestContext.
//! let user_token = identity.authenticate(admin).await.unwrap().token;
//! let ctx = identity.context_for_token(&user_token, "req-1").await.unwrap();
//! assert!(ctx.has_role("admin"));
//! assert_eq!(ctx.user_name, "admin");
//! // The second time it comes from the cache.
//! identity.context_for_token(&user_token, "req-2").await.unwrap();
//! assert_eq!(identity.remote_validations(), 1);
//! # });
//! ```

use super::wire::{self, bad_response, bad_response_from};
use super::{X_AUTH_TOKEN, X_SUBJECT_TOKEN};
use crate::api::*;
use crate::error::{IdentityError, Result};
use crate::types::*;
use ferrostack_core::RequestContext;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio::sync::OnceCell;

mod operations;

/// How a [`Client`] reaches and authenticates to a Keystone v3 endpoint.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The identity endpoint, with or without the trailing `/v3`
    /// (`http://127.0.0.1:5000/v3`, `http://host/identity`).
    pub auth_url: String,
    /// The service's own credentials (keystonemiddleware's `[keystone_authtoken]` user,
    /// password and project), used to validate other tokens and for calls made with a context
    /// that carries no token. `None`: tokens are validated with themselves.
    pub service_auth: Option<AuthRequest>,
    /// The whole-request timeout.
    pub timeout: Duration,
    /// The connect timeout.
    pub connect_timeout: Duration,
    /// Larger response bodies are refused (a hostile or broken endpoint cannot exhaust memory).
    pub max_response_bytes: usize,
    /// How long a validated token is trusted without asking again (keystonemiddleware's
    /// `token_cache_time`, 300 s); zero disables the cache.
    pub token_cache_time: Duration,
    /// At most this many validated tokens are cached.
    pub token_cache_size: usize,
    /// The service token is renewed when it has less than this left (or half its lifetime,
    /// whichever is shorter).
    pub renew_before: Duration,
}

impl ClientConfig {
    /// Defaults for `auth_url`: no service credentials, 10 s timeout (3 s to connect), 8 MiB
    /// bodies, a 300 s cache of 10,000 tokens, renewal 120 s before expiry.
    pub fn new(auth_url: impl Into<String>) -> Self {
        ClientConfig {
            auth_url: auth_url.into(),
            service_auth: None,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            max_response_bytes: 8 << 20,
            token_cache_time: Duration::from_secs(300),
            token_cache_size: 10_000,
            renew_before: Duration::from_secs(120),
        }
    }
}

type Key = [u8; 32];
type Shared = std::result::Result<Arc<RequestContext>, Arc<IdentityError>>;

struct Cached {
    /// `None`: the endpoint rejected the token (a negative entry, as keystonemiddleware keeps).
    ctx: Option<Arc<RequestContext>>,
    until: Instant,
}

/// Validated tokens by SHA-256, bounded, evicting expired entries first, then the oldest.
struct TokenCache {
    map: HashMap<Key, Cached>,
    order: VecDeque<Key>,
    capacity: usize,
}

impl TokenCache {
    fn get(&self, key: &Key, now: Instant) -> Option<Option<Arc<RequestContext>>> {
        self.map.get(key).filter(|c| c.until > now).map(|c| c.ctx.clone())
    }

    fn insert(&mut self, key: Key, entry: Cached, now: Instant) {
        if self.capacity == 0 {
            return;
        }
        if self.map.len() >= self.capacity && !self.map.contains_key(&key) {
            self.map.retain(|_, c| c.until > now);
            while self.map.len() >= self.capacity {
                match self.order.pop_front() {
                    Some(old) => {
                        self.map.remove(&old);
                    }
                    None => break,
                }
            }
        }
        self.map.insert(key, entry);
        self.order.push_back(key);
        if self.order.len() > 2 * self.capacity {
            let map = &self.map;
            let mut seen = std::collections::HashSet::new();
            let mut kept: VecDeque<Key> = self
                .order
                .iter()
                .rev()
                .filter(|k| map.contains_key(*k) && seen.insert(**k))
                .copied()
                .collect();
            kept.make_contiguous().reverse();
            self.order = kept;
        }
    }
}

struct ServiceToken {
    token: String,
    issued_at: OffsetDateTime,
    expires_at: OffsetDateTime,
}

struct Inner {
    http: reqwest::Client,
    /// The endpoint without `/v3`.
    base: Url,
    config: ClientConfig,
    service_token: tokio::sync::Mutex<Option<ServiceToken>>,
    cache: Mutex<TokenCache>,
    inflight: Mutex<HashMap<Key, Arc<OnceCell<Shared>>>>,
    remote_validations: AtomicU64,
}

/// [`IdentityApi`] over HTTP against a Keystone v3 endpoint; see the [module docs](self).
///
/// Cheap to clone (clones share the connection pool, the service token and the cache). Calls
/// made with a [`RequestContext`] send the context's own token (`auth_token`), or the service
/// token for contexts without one ([`RequestContext::internal`]).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.inner.base.as_str())
            .field("service_auth", &self.inner.config.service_auth.is_some())
            .finish_non_exhaustive()
    }
}

fn key_of(token: &str) -> Key {
    Sha256::digest(token.as_bytes()).into()
}

/// Removes a single-flight entry when its caller finishes or is cancelled.
struct InflightGuard<'a> {
    inner: &'a Inner,
    key: Key,
    cell: Arc<OnceCell<Shared>>,
}

impl Drop for InflightGuard<'_> {
    fn drop(&mut self) {
        let mut map = self.inner.inflight.lock().unwrap_or_else(|e| e.into_inner());
        if map.get(&self.key).is_some_and(|c| Arc::ptr_eq(c, &self.cell)) {
            map.remove(&self.key);
        }
    }
}

/// An error handed to every caller waiting on one shared remote validation.
fn duplicate(shared: &Arc<IdentityError>) -> IdentityError {
    match &**shared {
        IdentityError::InvalidToken { reason } => IdentityError::InvalidToken { reason },
        IdentityError::Unauthorized { reason } => IdentityError::unauthorized(reason.clone()),
        IdentityError::TokenNotFound => IdentityError::TokenNotFound,
        IdentityError::Validation(m) => IdentityError::Validation(m.clone()),
        IdentityError::NotAllowed(m) => IdentityError::NotAllowed(m.clone()),
        IdentityError::Conflict(m) => IdentityError::Conflict(m.clone()),
        IdentityError::Remote { what, source } => {
            IdentityError::Remote { what: what.clone(), source: source.clone() }
        }
        other => IdentityError::Remote { what: other.to_string(), source: Some(shared.clone()) },
    }
}

fn unavailable(what: impl fmt::Display) -> IdentityError {
    IdentityError::remote(format!("identity unavailable: {what}"))
}

fn unavailable_from(
    what: impl fmt::Display,
    source: impl std::error::Error + Send + Sync + 'static,
) -> IdentityError {
    IdentityError::remote_from(format!("identity unavailable: {what}"), source)
}

/// The HTTP error of a call, as the crate's error.
fn status_error(
    status: StatusCode,
    message: String,
    not_found: &(&'static str, String),
) -> IdentityError {
    match status.as_u16() {
        400 | 405 | 406 | 411 | 413 | 415 | 422 => IdentityError::Validation(message),
        401 => IdentityError::unauthorized(format!("remote identity service: {message}")),
        403 => IdentityError::NotAllowed(message),
        404 => IdentityError::not_found(not_found.0, &not_found.1),
        409 => IdentityError::Conflict(message),
        501 => IdentityError::NotImplemented("this operation on the remote identity service"),
        _ => unavailable(format!("the endpoint answered {status}")),
    }
}

/// A response: status, `X-Subject-Token`, JSON body (`Null` when empty).
struct Resp {
    status: StatusCode,
    subject: Option<String>,
    body: Value,
}

/// One request to the endpoint.
#[derive(Clone)]
struct Call<'a> {
    method: Method,
    path: Vec<String>,
    query: Vec<(&'static str, String)>,
    token: Option<&'a str>,
    subject: Option<&'a str>,
    body: Option<Value>,
    /// `kind` and id for a 404.
    not_found: (&'static str, String),
}

impl<'a> Call<'a> {
    fn new(method: Method, path: &[&str]) -> Self {
        Call {
            method,
            path: path.iter().map(|s| (*s).to_owned()).collect(),
            query: Vec::new(),
            token: None,
            subject: None,
            body: None,
            not_found: ("resource", path.last().map(|s| (*s).to_owned()).unwrap_or_default()),
        }
    }
    fn kind(mut self, kind: &'static str) -> Self {
        self.not_found.0 = kind;
        self
    }
    fn token(mut self, t: &'a str) -> Self {
        self.token = Some(t);
        self
    }
    fn body(mut self, b: Value) -> Self {
        self.body = Some(b);
        self
    }
    fn query(mut self, k: &'static str, v: impl Into<String>) -> Self {
        self.query.push((k, v.into()));
        self
    }
}

fn header(value: &str) -> Result<HeaderValue> {
    HeaderValue::from_str(value)
        .map_err(|_| IdentityError::InvalidToken { reason: "token is not a valid header value" })
}

fn error_message(status: StatusCode, body: &Value) -> String {
    let m = body
        .get("error")
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
    m.chars().take(300).collect()
}

impl Client {
    /// A client for `config.auth_url`. Fails only on an unusable URL (not `http`/`https`, or
    /// one that cannot carry a path); nothing is contacted until the first call.
    pub fn new(config: ClientConfig) -> Result<Client> {
        let mut base = Url::parse(config.auth_url.trim())
            .map_err(|e| IdentityError::Validation(format!("invalid identity URL: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(IdentityError::Validation("the identity URL must be http(s)".into()));
        }
        base.set_query(None);
        base.set_fragment(None);
        {
            let mut segs: Vec<String> = base
                .path_segments()
                .map(|s| s.filter(|x| !x.is_empty()).map(str::to_owned).collect())
                .unwrap_or_default();
            if segs.last().is_some_and(|s| s == "v3") {
                segs.pop();
            }
            let mut p = base
                .path_segments_mut()
                .map_err(|_| IdentityError::Validation("invalid identity URL".into()))?;
            p.clear();
            p.extend(segs);
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ferrostack-identity/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| IdentityError::remote_from("cannot build the HTTP client", e))?;
        let capacity = config.token_cache_size;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                config,
                service_token: tokio::sync::Mutex::new(None),
                cache: Mutex::new(TokenCache {
                    map: HashMap::new(),
                    order: VecDeque::new(),
                    capacity,
                }),
                inflight: Mutex::new(HashMap::new()),
                remote_validations: AtomicU64::new(0),
            }),
        })
    }

    /// The endpoint, without `/v3`.
    pub fn base_url(&self) -> &str {
        self.inner.base.as_str()
    }

    /// How many times [`IdentityApi::context_for_token`] asked the endpoint (cache misses that
    /// led a remote call), for metrics and tests.
    pub fn remote_validations(&self) -> u64 {
        self.inner.remote_validations.load(Ordering::Relaxed)
    }

    /// Drops `token` from the validation cache, so its next use is validated remotely.
    pub fn forget_token(&self, token: &str) {
        let key = key_of(token);
        self.inner.cache.lock().unwrap_or_else(|e| e.into_inner()).map.remove(&key);
    }

    fn url(&self, path: &[String], query: &[(&'static str, String)]) -> Url {
        let mut url = self.inner.base.clone();
        if let Ok(mut segs) = url.path_segments_mut() {
            segs.pop_if_empty().push("v3");
            for s in path {
                segs.push(s);
            }
        }
        if !query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        url
    }

    /// Sends `call`; 2xx answers are returned, others mapped to errors.
    async fn send(&self, call: Call<'_>) -> Result<Resp> {
        let resp = self.send_raw(&call).await?;
        if resp.status.is_success() {
            Ok(resp)
        } else {
            Err(status_error(resp.status, error_message(resp.status, &resp.body), &call.not_found))
        }
    }

    /// Sends `call` and reads the (bounded) answer, whatever its status.
    async fn send_raw(&self, call: &Call<'_>) -> Result<Resp> {
        let url = self.url(&call.path, &call.query);
        let mut req = self
            .inner
            .http
            .request(call.method.clone(), url)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(t) = call.token {
            req = req.header(X_AUTH_TOKEN, header(t)?);
        }
        if let Some(s) = call.subject {
            req = req.header(X_SUBJECT_TOKEN, header(s)?);
        }
        if let Some(b) = &call.body {
            req = req.header(CONTENT_TYPE, "application/json").body(b.to_string());
        }
        let mut resp = req.send().await.map_err(|e| self.transport_error(e))?;
        let status = resp.status();
        let subject =
            resp.headers().get(X_SUBJECT_TOKEN).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let max = self.inner.config.max_response_bytes;
        let declared = resp
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max as u64) {
            return Err(unavailable(format!("response larger than {max} bytes")));
        }
        let json_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|t| t.to_ascii_lowercase().contains("json"));
        let mut bytes = Vec::new();
        if call.method != Method::HEAD {
            while let Some(chunk) = resp.chunk().await.map_err(|e| self.transport_error(e))? {
                if bytes.len() + chunk.len() > max {
                    return Err(unavailable(format!("response larger than {max} bytes")));
                }
                bytes.extend_from_slice(&chunk);
            }
        }
        let body = if bytes.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else if !status.is_success() {
            // Error bodies are best effort: the status decides.
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        } else if !json_type {
            return Err(bad_response("the body is not JSON"));
        } else {
            serde_json::from_slice(&bytes).map_err(|e| bad_response_from("bad JSON", e))?
        };
        Ok(Resp { status, subject, body })
    }

    fn transport_error(&self, e: reqwest::Error) -> IdentityError {
        let host = self.inner.base.host_str().unwrap_or("?").to_owned();
        let port = self.inner.base.port_or_known_default().unwrap_or(0);
        if e.is_timeout() {
            unavailable_from(format!("{host}:{port} did not answer in time"), e)
        } else if e.is_connect() {
            unavailable_from(format!("cannot connect to {host}:{port}"), e)
        } else {
            tracing::info!(error = %e, "identity request failed");
            unavailable_from(format!("request to {host}:{port} failed"), e)
        }
    }

    /// The service token, renewed when close to expiry; `None` without service credentials.
    async fn service_token(&self) -> Result<Option<String>> {
        let Some(auth) = &self.inner.config.service_auth else { return Ok(None) };
        let mut guard = self.inner.service_token.lock().await;
        let now = OffsetDateTime::now_utc();
        if let Some(st) = guard.as_ref() {
            let lifetime = st.expires_at - st.issued_at;
            let margin = time::Duration::try_from(self.inner.config.renew_before)
                .unwrap_or(time::Duration::MAX)
                .min(lifetime / 2);
            if st.expires_at - now > margin {
                return Ok(Some(st.token.clone()));
            }
        }
        let info = self.issue(auth, false).await.map_err(|e| match e {
            IdentityError::Unauthorized { .. } | IdentityError::NotAllowed(_) => {
                tracing::warn!("the identity service refused this service's own credentials");
                unavailable("the service's own credentials were refused")
            }
            other => other,
        })?;
        let token = info.token.clone();
        *guard = Some(ServiceToken {
            token: info.token,
            issued_at: info.payload.issued_at.min(now),
            expires_at: info.payload.expires_at,
        });
        Ok(Some(token))
    }

    async fn drop_service_token(&self, stale: &str) {
        let mut guard = self.inner.service_token.lock().await;
        if guard.as_ref().is_some_and(|s| s.token == stale) {
            *guard = None;
        }
    }

    /// The token to send for `ctx`: its own, else the service token.
    async fn caller(&self, ctx: &RequestContext) -> Result<String> {
        if let Some(t) = &ctx.auth_token {
            return Ok(t.clone());
        }
        self.service_token()
            .await?
            .ok_or_else(|| IdentityError::unauthorized("the context carries no token"))
    }

    async fn issue(&self, req: &AuthRequest, catalog: bool) -> Result<TokenInfo> {
        let mut call = Call::new(Method::POST, &["auth", "tokens"]).body(wire::auth_body(req));
        if !catalog {
            call = call.query("nocatalog", "1");
        }
        let resp = self.send(call).await?;
        let token = resp.subject.ok_or_else(|| bad_response("no X-Subject-Token"))?;
        wire::token_info(token, &resp.body)
    }

    /// `GET /v3/auth/tokens`; 404 (or 401 when the subject validates itself) is
    /// [`IdentityError::TokenNotFound`].
    async fn fetch_token(
        &self,
        caller: &str,
        subject: &str,
        allow_expired: bool,
        catalog: bool,
    ) -> Result<TokenInfo> {
        let mut call = Call::new(Method::GET, &["auth", "tokens"]).token(caller);
        call.subject = Some(subject);
        if allow_expired {
            call = call.query("allow_expired", "1");
        }
        if !catalog {
            call = call.query("nocatalog", "1");
        }
        let resp = match self.send(call).await {
            Err(IdentityError::NotFound { .. }) => return Err(IdentityError::TokenNotFound),
            Err(IdentityError::Unauthorized { .. }) if caller == subject => {
                return Err(IdentityError::TokenNotFound);
            }
            other => other?,
        };
        wire::token_info(subject.to_owned(), &resp.body)
    }

    /// Validates `token` remotely into a context template (no request id).
    async fn remote_context(&self, token: &str) -> Result<Arc<RequestContext>> {
        self.inner.remote_validations.fetch_add(1, Ordering::Relaxed);
        let rejected =
            || IdentityError::InvalidToken { reason: "rejected by the identity service" };
        let mut attempt = 0;
        let info = loop {
            attempt += 1;
            let service = self.service_token().await?;
            let caller = service.as_deref().unwrap_or(token);
            match self.fetch_token(caller, token, false, false).await {
                Ok(info) => break info,
                Err(IdentityError::TokenNotFound) => {
                    self.remember(token, None, self.inner.config.token_cache_time);
                    return Err(rejected());
                }
                Err(IdentityError::Unauthorized { .. }) if service.is_some() && attempt == 1 => {
                    // The service token itself was refused (revoked, keys rotated): renew it once.
                    self.drop_service_token(caller).await;
                }
                Err(IdentityError::Unauthorized { .. }) | Err(IdentityError::NotAllowed(_)) => {
                    tracing::warn!(
                        "the identity service refused to validate tokens for this service"
                    );
                    return Err(unavailable("the service may not validate tokens"));
                }
                Err(e) => return Err(e),
            }
        };
        let now = OffsetDateTime::now_utc();
        if info.payload.expires_at <= now {
            self.remember(token, None, self.inner.config.token_cache_time);
            return Err(IdentityError::InvalidToken { reason: "expired" });
        }
        let ctx = Arc::new(info.context(""));
        let ttl = self.inner.config.token_cache_time;
        // Never trusted past the token's own expiry.
        let left = Duration::try_from(info.payload.expires_at - now).unwrap_or_default();
        self.remember(token, Some(ctx.clone()), ttl.min(left));
        Ok(ctx)
    }

    /// Caches a verdict on `token` for `ttl` (`None`: rejected).
    fn remember(&self, token: &str, ctx: Option<Arc<RequestContext>>, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        let at = Instant::now();
        let entry = Cached { ctx, until: at + ttl };
        self.inner.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(key_of(token), entry, at);
    }

    /// A cached verdict: the context, or the rejection.
    fn cached(&self, key: &Key) -> Option<Result<Arc<RequestContext>>> {
        let verdict =
            self.inner.cache.lock().unwrap_or_else(|e| e.into_inner()).get(key, Instant::now())?;
        match verdict {
            None => Some(Err(IdentityError::InvalidToken { reason: "rejected (cached)" })),
            // The cache never outlives the token, but the wall clock may have jumped.
            Some(ctx) => (!ctx.is_expired_at(OffsetDateTime::now_utc())).then_some(Ok(ctx)),
        }
    }

    /// Sends `call` as `ctx`; a context without a token acts with the service token, renewed
    /// and retried once if the endpoint refuses it (revoked, keys rotated).
    async fn get(&self, ctx: &RequestContext, call: Call<'_>) -> Result<Value> {
        let token = self.caller(ctx).await?;
        let retry = ctx.auth_token.is_none().then(|| call.clone());
        match (self.send(call.token(&token)).await, retry) {
            (Err(IdentityError::Unauthorized { .. }), Some(call)) => {
                self.drop_service_token(&token).await;
                let token = self.caller(ctx).await?;
                Ok(self.send(call.token(&token)).await?.body)
            }
            (r, _) => Ok(r?.body),
        }
    }

    async fn unit(&self, ctx: &RequestContext, call: Call<'_>) -> Result<()> {
        self.get(ctx, call).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::operations::grant_path;
    use super::*;

    fn ctx_template() -> Arc<RequestContext> {
        Arc::new(RequestContext::internal("test"))
    }

    #[test]
    fn cache_is_bounded_and_expires() {
        let mut c = TokenCache { map: HashMap::new(), order: VecDeque::new(), capacity: 3 };
        let now = Instant::now();
        let later = now + Duration::from_secs(60);
        for i in 0..10u8 {
            c.insert([i; 32], Cached { ctx: Some(ctx_template()), until: later }, now);
            assert!(c.map.len() <= 3);
            assert!(c.order.len() <= 6);
        }
        assert!(c.get(&[9; 32], now).is_some());
        assert!(c.get(&[0; 32], now).is_none(), "the oldest was evicted");
        assert!(c.get(&[9; 32], later).is_none(), "expired entries are not returned");
        let mut off = TokenCache { map: HashMap::new(), order: VecDeque::new(), capacity: 0 };
        off.insert([1; 32], Cached { ctx: Some(ctx_template()), until: later }, now);
        assert!(off.map.is_empty());
    }

    #[test]
    fn urls_strip_v3_and_encode_segments() {
        let c = Client::new(ClientConfig::new("http://127.0.0.1:5000/identity/v3/")).unwrap();
        assert_eq!(c.base_url(), "http://127.0.0.1:5000/identity");
        let u = c.url(&["projects".into(), "../x?y".into()], &[("name", "a b".into())]);
        assert_eq!(u.as_str(), "http://127.0.0.1:5000/identity/v3/projects/..%2Fx%3Fy?name=a+b");
        let c = Client::new(ClientConfig::new("http://h:5000")).unwrap();
        assert_eq!(
            c.url(&["auth".into(), "tokens".into()], &[]).as_str(),
            "http://h:5000/v3/auth/tokens"
        );
        assert!(Client::new(ClientConfig::new("ftp://h/")).is_err());
        assert!(Client::new(ClientConfig::new("not a url")).is_err());
    }

    #[test]
    fn grant_paths_follow_keystone() {
        let u = Actor::User("u".parse().unwrap());
        let p = Target::Project("p".parse().unwrap());
        assert_eq!(grant_path(&u, &p, false, Some("r")).join("/"), "projects/p/users/u/roles/r");
        assert_eq!(
            grant_path(&u, &p, true, Some("r")).join("/"),
            "OS-INHERIT/projects/p/users/u/roles/r/inherited_to_projects"
        );
        assert_eq!(
            grant_path(&u, &p, true, None).join("/"),
            "OS-INHERIT/projects/p/users/u/roles/inherited_to_projects"
        );
        assert_eq!(
            grant_path(&u, &Target::System, false, Some("r")).join("/"),
            "system/users/u/roles/r"
        );
    }

    #[test]
    fn statuses_map_to_error_kinds() {
        use ferrostack_core::error::{Classify, ErrorKind};
        let nf = ("project", "p".to_owned());
        let k = |s: u16| status_error(StatusCode::from_u16(s).unwrap(), "m".into(), &nf).kind();
        assert_eq!(k(400), ErrorKind::InvalidInput);
        assert_eq!(k(401), ErrorKind::Unauthenticated);
        assert_eq!(k(403), ErrorKind::Forbidden);
        assert_eq!(k(404), ErrorKind::NotFound);
        assert_eq!(k(409), ErrorKind::Conflict);
        assert_eq!(k(500), ErrorKind::Unavailable);
        assert_eq!(k(502), ErrorKind::Unavailable);
        assert_eq!(k(418), ErrorKind::Unavailable);
    }
}
