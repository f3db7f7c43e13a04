// SPDX-License-Identifier: Apache-2.0
//! The base of every service's remote client (feature `client`).
//!
//! Each service crate's `http::Client` implements the service's own `XxxApi` trait over its
//! REST API, so that a consumer cannot tell a local service from a remote one. What those
//! clients share lives here, once:
//!
//! * [`ServiceClient`]: an endpoint URL and a connection pool. Each call carries the caller's
//!   token (`ctx.auth_token`), or for the control plane's own contexts, which hold no token,
//!   one from a [`TokenSource`] (a service user's token, renewed once when refused).
//! * [`ClientError`]: a refused call keeps the service's own fault (status class and
//!   message, parsed from whichever OpenStack error body came back: Nova/Cinder, Keystone,
//!   Glance or Neutron style); a transport or decoding failure keeps its cause as `source()`.
//! * [`Query`]: query strings with percent-encoding.
//!
//! ```no_run
//! # async fn demo(ctx: ferrostack_core::RequestContext) -> Result<(), ferrostack_core::http::client::ClientError> {
//! use ferrostack_core::http::client::{Query, ServiceClient};
//! let network = ServiceClient::new("http://127.0.0.1:8770/network");
//! let path = format!("/v2.0/networks{}", Query::new().push("limit", 10).finish());
//! let body: serde_json::Value = network.get(&ctx, &path).await?;
//! # Ok(()) }
//! ```

use super::ApiError;
use crate::context::RequestContext;
use crate::error::{Classify, ErrorKind};
use bytes::Bytes;
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::sync::Arc;

/// `X-Auth-Token`.
pub const X_AUTH_TOKEN: &str = "x-auth-token";

/// Where a client gets a token for contexts that carry none (the control plane's own calls).
///
/// # Contract
/// `token` returns a token valid at the remote service, cached as the implementation sees
/// fit; after [`TokenSource::invalidate`] with that token, the next `token` call must not
/// return it again.
#[async_trait::async_trait]
pub trait TokenSource: Send + Sync + fmt::Debug {
    /// A token to send.
    async fn token(&self) -> Result<String, ClientError>;
    /// `token` was refused (401): forget it.
    fn invalidate(&self, token: &str);
}

/// Why a remote call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The service answered with an error: its fault, as it rendered it.
    #[error("{0}")]
    Api(ApiError),
    /// The request never got an answer (connection refused, reset, timed out).
    #[error("{url}: {source}")]
    Transport {
        /// The URL.
        url: String,
        /// The transport's error.
        #[source]
        source: reqwest::Error,
    },
    /// The service answered 2xx with a body this client cannot read.
    #[error("{url}: unexpected response body")]
    Decode {
        /// The URL.
        url: String,
        /// What was wrong with it.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// No token to send: the context has none and the client has no [`TokenSource`].
    #[error("no token to call {0} with: the context has none and no token source is set")]
    NoToken(String),
    /// A request could not be built (an invalid header value, a bad URL).
    #[error("cannot build the request: {0}")]
    Request(String),
    /// A request body could not be serialised.
    #[error("cannot serialise the request body")]
    Serialize(#[source] serde_json::Error),
}

impl ClientError {
    /// The service's fault, if it answered with one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            ClientError::Api(e) => Some(e),
            _ => None,
        }
    }
}

impl Classify for ClientError {
    fn kind(&self) -> ErrorKind {
        match self {
            ClientError::Api(e) => e.kind,
            ClientError::Transport { source, .. } if source.is_timeout() => ErrorKind::Timeout,
            ClientError::Transport { .. } => ErrorKind::Unavailable,
            ClientError::NoToken(_) => ErrorKind::Unauthenticated,
            ClientError::Decode { .. } | ClientError::Request(_) | ClientError::Serialize(_) => {
                ErrorKind::Internal
            }
        }
    }
}

impl From<ClientError> for ApiError {
    /// The service's own fault passes through unchanged (status and message); other failures
    /// are classified and described without internal details.
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Api(api) => api,
            other => ApiError::from_error(&other),
        }
    }
}

/// The error kind OpenStack services mean by an HTTP status.
pub fn kind_for_status(status: u16) -> ErrorKind {
    match status {
        400 | 405 | 411 | 415 | 416 | 422 => ErrorKind::InvalidInput,
        401 => ErrorKind::Unauthenticated,
        403 => ErrorKind::Forbidden,
        404 | 410 => ErrorKind::NotFound,
        406 => ErrorKind::NotAcceptable,
        409 | 412 => ErrorKind::Conflict,
        413 | 429 => ErrorKind::QuotaExceeded,
        501 => ErrorKind::NotSupported,
        502 | 503 => ErrorKind::Unavailable,
        504 => ErrorKind::Timeout,
        400..=499 => ErrorKind::InvalidInput,
        _ => ErrorKind::Internal,
    }
}

/// The [`ApiError`] an error response stands for: the status decides the kind, the message
/// (and Neutron's exception type) come from the body in any OpenStack style, else its text.
pub fn error_from_body(status: u16, body: &[u8]) -> ApiError {
    let kind = kind_for_status(status);
    let mut err = ApiError::new(kind, "");
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
        if let Some(n) = v.get("NeutronError") {
            err.message = n.get("message").and_then(text).unwrap_or_default();
            err.error_type = n.get("type").and_then(text);
        } else if let Some(e) = v.get("error").filter(|e| e.is_object()) {
            err.message = e.get("message").and_then(text).unwrap_or_default();
        } else if let Some(m) = v.get("message").and_then(text) {
            err.message = m;
        } else if let Some(obj) = v.as_object()
            && obj.len() == 1
            && let Some((_, inner)) = obj.iter().next()
            && let Some(m) = inner.get("message").and_then(text)
        {
            // Nova and Cinder: {"itemNotFound": {"code": 404, "message": "..."}}.
            err.message = m;
        }
    }
    if err.message.is_empty() {
        let s = String::from_utf8_lossy(body);
        err.message = strip_html(&s).trim().chars().take(1000).collect();
    }
    if err.message.is_empty() {
        err.message = kind.title().to_owned();
    }
    err
}

/// The text of a small HTML error page (webob's and Swift's), tags removed.
fn strip_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A client of one service endpoint. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct ServiceClient {
    base: Arc<str>,
    http: reqwest::Client,
    tokens: Option<Arc<dyn TokenSource>>,
    headers: HeaderMap,
}

impl fmt::Debug for ServiceClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceClient")
            .field("base", &self.base)
            .field("tokens", &self.tokens)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A request body: buffered bytes (sent again if a refused service token is renewed) or a
/// stream (sent once).
#[derive(Debug)]
pub enum Body {
    /// Bytes with their content type.
    Bytes(Bytes, &'static str),
    /// A stream with its content type and, when known, length.
    Stream(reqwest::Body, &'static str, Option<u64>),
}

impl Body {
    /// `value` serialised as `application/json`.
    pub fn json<B: Serialize + ?Sized>(value: &B) -> Result<Body, ClientError> {
        Self::json_as(value, "application/json")
    }

    /// `value` serialised as JSON with another content type (Glance's JSON-patch types).
    pub fn json_as<B: Serialize + ?Sized>(
        value: &B,
        content_type: &'static str,
    ) -> Result<Body, ClientError> {
        serde_json::to_vec(value)
            .map(|v| Body::Bytes(v.into(), content_type))
            .map_err(ClientError::Serialize)
    }
}

impl ServiceClient {
    /// A client of the service at `base_url` (its API root, e.g.
    /// `http://127.0.0.1:8770/network`; a trailing `/` is ignored).
    pub fn new(base_url: impl Into<String>) -> Self {
        let base: String = base_url.into();
        ServiceClient {
            base: base.trim_end_matches('/').into(),
            http: reqwest::Client::new(),
            tokens: None,
            headers: HeaderMap::new(),
        }
    }

    /// Uses `http` (timeouts, pools) instead of a default reqwest client.
    pub fn with_http(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    /// Where tokens come from for contexts that hold none.
    pub fn with_token_source(mut self, tokens: Arc<dyn TokenSource>) -> Self {
        self.tokens = Some(tokens);
        self
    }

    /// Sends `name: value` with every request (e.g. a microversion).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// The endpoint's root URL, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `base_url` + `path` (`path` starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request and returns the 2xx response; any other status is
    /// [`ClientError::Api`] with the service's fault.
    pub async fn send(
        &self,
        ctx: &RequestContext,
        method: Method,
        path: &str,
        body: Option<Body>,
    ) -> Result<reqwest::Response, ClientError> {
        let url = self.url(path);
        let (token, from_source) = match &ctx.auth_token {
            Some(t) => (t.clone(), false),
            None => match &self.tokens {
                Some(src) => (src.token().await?, true),
                None => return Err(ClientError::NoToken(url)),
            },
        };
        let replay = match &body {
            Some(Body::Bytes(b, ct)) => Some(Some((b.clone(), *ct))),
            Some(Body::Stream(..)) => None,
            None => Some(None),
        };
        let resp = self.once(ctx, &method, &url, &token, body).await?;
        if resp.status().as_u16() == 401
            && from_source
            && let (Some(src), Some(replay)) = (&self.tokens, replay)
        {
            // A cached service token was revoked or expired: renew once.
            src.invalidate(&token);
            let token = src.token().await?;
            let body = replay.map(|(b, ct)| Body::Bytes(b, ct));
            let resp = self.once(ctx, &method, &url, &token, body).await?;
            return check(resp).await;
        }
        check(resp).await
    }

    async fn once(
        &self,
        ctx: &RequestContext,
        method: &Method,
        url: &str,
        token: &str,
        body: Option<Body>,
    ) -> Result<reqwest::Response, ClientError> {
        let mut req = self.http.request(method.clone(), url).headers(self.headers.clone());
        let token = HeaderValue::from_str(token)
            .map_err(|_| ClientError::Request("the token is not a valid header value".into()))?;
        req = req.header(X_AUTH_TOKEN, token);
        if let Ok(id) = HeaderValue::from_str(&ctx.request_id) {
            req = req.header("x-openstack-request-id", id);
        }
        req = match body {
            Some(Body::Bytes(b, ct)) => req.header(CONTENT_TYPE, ct).body(b),
            Some(Body::Stream(s, ct, len)) => {
                let req = req.header(CONTENT_TYPE, ct);
                let req = match len {
                    Some(n) => req.header(reqwest::header::CONTENT_LENGTH, n),
                    None => req,
                };
                req.body(s)
            }
            None => req,
        };
        req.send().await.map_err(|source| ClientError::Transport { url: url.to_owned(), source })
    }

    /// `GET path`, decoded from JSON.
    pub async fn get<T: DeserializeOwned>(
        &self,
        ctx: &RequestContext,
        path: &str,
    ) -> Result<T, ClientError> {
        decode(self.send(ctx, Method::GET, path, None).await?).await
    }

    /// `POST path` with a JSON body, the answer decoded from JSON.
    pub async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        ctx: &RequestContext,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        decode(self.send(ctx, Method::POST, path, Some(Body::json(body)?)).await?).await
    }

    /// `POST path` with a JSON body; the answer's body (if any) is ignored.
    pub async fn post_no_content<B: Serialize + ?Sized>(
        &self,
        ctx: &RequestContext,
        path: &str,
        body: &B,
    ) -> Result<(), ClientError> {
        self.send(ctx, Method::POST, path, Some(Body::json(body)?)).await.map(drop)
    }

    /// `PUT path` with a JSON body, the answer decoded from JSON.
    pub async fn put<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        ctx: &RequestContext,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        decode(self.send(ctx, Method::PUT, path, Some(Body::json(body)?)).await?).await
    }

    /// `PATCH path` with a JSON body of `content_type`, the answer decoded from JSON.
    pub async fn patch_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        ctx: &RequestContext,
        path: &str,
        content_type: &'static str,
        body: &B,
    ) -> Result<T, ClientError> {
        let body = Body::json_as(body, content_type)?;
        decode(self.send(ctx, Method::PATCH, path, Some(body)).await?).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, ctx: &RequestContext, path: &str) -> Result<(), ClientError> {
        self.send(ctx, Method::DELETE, path, None).await.map(drop)
    }
}

/// `resp` if 2xx, else its fault.
async fn check(resp: reqwest::Response) -> Result<reqwest::Response, ClientError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body = resp.bytes().await.unwrap_or_default();
    Err(ClientError::Api(error_from_body(status.as_u16(), &body)))
}

/// Decodes a 2xx response's JSON body.
pub async fn decode<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, ClientError> {
    let url = resp.url().to_string();
    let bytes =
        resp.bytes().await.map_err(|source| ClientError::Transport { url: url.clone(), source })?;
    serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode { url, source: Box::new(e) })
}

/// A query string, percent-encoded: `Query::new().push("limit", 10).finish()` is `"?limit=10"`;
/// an empty query is `""`.
#[derive(Debug, Clone, Default)]
pub struct Query(String);

impl Query {
    /// No parameters yet.
    pub fn new() -> Self {
        Query(String::new())
    }

    /// Adds `key=value`.
    pub fn push(mut self, key: &str, value: impl fmt::Display) -> Self {
        self.0.push(if self.0.is_empty() { '?' } else { '&' });
        encode_into(&mut self.0, key);
        self.0.push('=');
        encode_into(&mut self.0, &value.to_string());
        self
    }

    /// Adds `key=value` when `value` is `Some`.
    pub fn push_opt(self, key: &str, value: Option<impl fmt::Display>) -> Self {
        match value {
            Some(v) => self.push(key, v),
            None => self,
        }
    }

    /// The query string, with its leading `?` (or empty).
    pub fn finish(self) -> String {
        self.0
    }
}

/// Appends `s` percent-encoded (everything but RFC 3986's unreserved characters).
pub fn encode_into(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// `s` percent-encoded as one path segment.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    encode_into(&mut out, s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_of_every_style_are_read_back() {
        let nova =
            br#"{"itemNotFound": {"code": 404, "message": "Instance x could not be found."}}"#;
        let e = error_from_body(404, nova);
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::NotFound, "Instance x could not be found.")
        );
        let ks = br#"{"error": {"code": 403, "title": "Forbidden", "message": "nope"}}"#;
        assert_eq!(error_from_body(403, ks).message, "nope");
        let neutron = br#"{"NeutronError": {"type": "NetworkNotFound", "message": "Network n", "detail": ""}}"#;
        let e = error_from_body(404, neutron);
        assert_eq!(e.error_type.as_deref(), Some("NetworkNotFound"));
        assert_eq!(e.message, "Network n");
        let glance = br#"{"code": "409 Conflict", "title": "Conflict", "message": "busy"}"#;
        assert_eq!(error_from_body(409, glance).kind, ErrorKind::Conflict);
        let html = b"<html><h1>Not Found</h1><p>The resource could not be found.</p></html>";
        assert_eq!(
            error_from_body(404, html).message,
            "Not Found The resource could not be found."
        );
        assert_eq!(error_from_body(503, b"").message, "Service Unavailable");
        assert_eq!(error_from_body(406, b"").kind, ErrorKind::NotAcceptable);
    }

    #[test]
    fn queries_are_percent_encoded() {
        let q = Query::new()
            .push("name", "a b&c=d/é")
            .push_opt("marker", None::<&str>)
            .push("limit", 5);
        assert_eq!(q.finish(), "?name=a%20b%26c%3Dd%2F%C3%A9&limit=5");
        assert_eq!(Query::new().finish(), "");
        assert_eq!(encode_segment("x/y"), "x%2Fy");
    }

    #[tokio::test]
    async fn an_unreachable_service_is_unavailable_with_its_cause() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let client = ServiceClient::new(format!("http://{addr}/"));
        let mut ctx = RequestContext::internal("test");
        let e = client.get::<serde_json::Value>(&ctx, "/x").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthenticated, "no token: refused before sending");
        ctx.auth_token = Some("t".into());
        let e = client.get::<serde_json::Value>(&ctx, "/x").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(std::error::Error::source(&e).is_some());
    }
}
