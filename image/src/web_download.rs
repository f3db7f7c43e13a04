// SPDX-License-Identifier: Apache-2.0
//! The `web-download` import method: Glance fetches the image data from a URI.
//!
//! ## Why the host allow-list is mandatory here
//!
//! Glance's `[import_filtering_opts]` allows the schemes `http`/`https` and the ports 80/443,
//! but *every host* by default. A user who may create images can then make the image service
//! issue requests from inside the cloud's network: to link-local metadata services, to
//! management APIs, to anything reachable from the control plane (server-side request
//! forgery), and read the answers back as image data. Ferrostack therefore inverts the host
//! default: [`ImportFilter::allowed_hosts`] must name the hosts that may be downloaded from,
//! and while it is empty the method is disabled and not advertised in `/v2/info/import`.
//! Schemes and ports keep Glance's semantics (an allow-list wins over a deny-list; an empty
//! allow-list means "anything not denied").
//!
//! A host is matched by its exact name (case-insensitive) or IP literal, as in Glance; a name
//! is not resolved first, so an operator allowing a name trusts its DNS.
//!
//! ## Behaviour
//!
//! * The URI is checked when the import is requested: a refusal is `400 Bad Request` with
//!   Glance's message `URI for web-download does not pass filtering: <uri>`.
//! * Every redirect target is checked against the same filter (and at most
//!   [`WebDownloadConfig::max_redirects`] are followed); a refused redirect fails the import.
//! * The body streams through the same hashing, size cap, quota and format inspection as an
//!   upload, into the [`ImageStore`](crate::ImageStore); a `Content-Length` above the size cap
//!   fails before any data is read.
//! * The workspace's `reqwest` has no TLS feature, so an `https` URI (allowed by Glance's
//!   default schemes) fails the import cleanly, with the reason in the task, until a TLS
//!   feature is enabled.

use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use reqwest::Url;
use serde::{Deserialize, Serialize};

use crate::error::{ImageError, Result};
use crate::store::ByteStream;

/// Glance's `[import_filtering_opts]`, with a mandatory host allow-list (see the
/// [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImportFilter {
    /// Schemes that may be used (default `http`, `https`); when non-empty,
    /// `disallowed_schemes` is ignored.
    pub allowed_schemes: Vec<String>,
    /// Schemes refused when `allowed_schemes` is empty.
    pub disallowed_schemes: Vec<String>,
    /// Hosts (names or IP literals) that may be downloaded from. Empty (the default) disables
    /// `web-download`.
    pub allowed_hosts: Vec<String>,
    /// Hosts refused even if allowed.
    pub disallowed_hosts: Vec<String>,
    /// Ports that may be used (default 80, 443); when non-empty, `disallowed_ports` is ignored.
    pub allowed_ports: Vec<u16>,
    /// Ports refused when `allowed_ports` is empty.
    pub disallowed_ports: Vec<u16>,
}

impl Default for ImportFilter {
    fn default() -> Self {
        ImportFilter {
            allowed_schemes: vec!["http".into(), "https".into()],
            disallowed_schemes: Vec::new(),
            allowed_hosts: Vec::new(),
            disallowed_hosts: Vec::new(),
            allowed_ports: vec![80, 443],
            disallowed_ports: Vec::new(),
        }
    }
}

fn norm_host(h: &str) -> String {
    h.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase()
}

impl ImportFilter {
    /// Whether any host is allowed, i.e. whether `web-download` is enabled.
    pub fn enabled(&self) -> bool {
        !self.allowed_hosts.is_empty()
    }

    /// Whether `uri` passes the filter.
    pub fn allows(&self, uri: &Url) -> bool {
        let scheme = uri.scheme().to_ascii_lowercase();
        let scheme_ok = if self.allowed_schemes.is_empty() {
            !self.disallowed_schemes.iter().any(|s| s.eq_ignore_ascii_case(&scheme))
        } else {
            self.allowed_schemes.iter().any(|s| s.eq_ignore_ascii_case(&scheme))
        };
        // Only http(s) can be fetched whatever the configuration says.
        if !scheme_ok || !matches!(scheme.as_str(), "http" | "https") {
            return false;
        }
        let Some(host) = uri.host_str().map(norm_host).filter(|h| !h.is_empty()) else {
            return false;
        };
        let host_ok = self.allowed_hosts.iter().any(|h| norm_host(h) == host)
            && !self.disallowed_hosts.iter().any(|h| norm_host(h) == host);
        if !host_ok {
            return false;
        }
        let Some(port) = uri.port_or_known_default() else { return false };
        if self.allowed_ports.is_empty() {
            !self.disallowed_ports.contains(&port)
        } else {
            self.allowed_ports.contains(&port)
        }
    }

    /// Parses `uri` and checks it; the error is Glance's `400` message.
    pub fn check(&self, uri: &str) -> Result<Url> {
        let refused =
            || ImageError::Invalid(format!("URI for web-download does not pass filtering: {uri}"));
        let url = Url::parse(uri).map_err(|_| refused())?;
        if self.allows(&url) { Ok(url) } else { Err(refused()) }
    }
}

/// Settings of the `web-download` import method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebDownloadConfig {
    /// Glance's `[import_filtering_opts]`.
    pub import_filtering_opts: ImportFilter,
    /// Redirects followed at most (each re-checked against the filter).
    pub max_redirects: usize,
    /// Connect timeout in seconds.
    pub connect_timeout_secs: u64,
    /// The longest wait in seconds for any read from the remote server.
    pub read_timeout_secs: u64,
}

impl Default for WebDownloadConfig {
    fn default() -> Self {
        WebDownloadConfig {
            import_filtering_opts: ImportFilter::default(),
            max_redirects: 5,
            connect_timeout_secs: 10,
            read_timeout_secs: 60,
        }
    }
}

/// Why a download failed (reported in the import task's message).
#[derive(Debug, thiserror::Error)]
#[error("redirect to {0} does not pass filtering")]
struct RedirectRefused(String);

/// Fetches image data for `web-download`.
#[derive(Debug, Clone)]
pub(crate) struct Downloader {
    http: reqwest::Client,
    filter: Arc<ImportFilter>,
}

impl Downloader {
    pub(crate) fn new(config: &WebDownloadConfig) -> Result<Self> {
        let filter = Arc::new(config.import_filtering_opts.clone());
        let f = filter.clone();
        let max = config.max_redirects;
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > max {
                let u = attempt.url().to_string();
                attempt.error(RedirectRefused(format!("{u} (too many redirects)")))
            } else if !f.allows(attempt.url()) {
                let u = attempt.url().to_string();
                attempt.error(RedirectRefused(u))
            } else {
                attempt.follow()
            }
        });
        let http = reqwest::Client::builder()
            .redirect(policy)
            .connect_timeout(Duration::from_secs(config.connect_timeout_secs))
            .read_timeout(Duration::from_secs(config.read_timeout_secs))
            .build()
            .map_err(|e| ImageError::Backend(Box::new(e)))?;
        Ok(Downloader { http, filter })
    }

    pub(crate) fn filter(&self) -> &ImportFilter {
        &self.filter
    }

    /// Starts the download; `cap` is the largest acceptable size. Errors are messages for
    /// the import task.
    pub(crate) async fn open(&self, url: Url, cap: u64) -> std::result::Result<ByteStream, String> {
        let resp = self.http.get(url).send().await.map_err(|e| describe(&e))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!("remote server answered {status}"));
        }
        if let Some(len) = resp.content_length()
            && len > cap
        {
            return Err(format!("remote image of {len} bytes exceeds the size cap of {cap} bytes"));
        }
        Ok(resp.bytes_stream().map_err(|e| ImageError::UploadInterrupted(Box::new(e))).boxed())
    }
}

/// A one-line description of a reqwest error with its causes.
fn describe(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(hosts: &[&str]) -> ImportFilter {
        ImportFilter {
            allowed_hosts: hosts.iter().map(|s| s.to_string()).collect(),
            ..ImportFilter::default()
        }
    }

    #[test]
    fn default_denies_everything_and_allow_list_is_exact() {
        let d = ImportFilter::default();
        assert!(!d.enabled());
        assert!(d.check("http://example.com/x.img").is_err());

        let f = f(&["images.example.com", "10.0.0.5", "[::1]"]);
        assert!(f.enabled());
        for ok in [
            "http://images.example.com/a.qcow2",
            "https://IMAGES.example.com/a",
            "http://images.example.com:80/a",
            "http://10.0.0.5/a",
            "http://[::1]/a",
        ] {
            assert!(f.check(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ftp://images.example.com/a",
            "file:///etc/passwd",
            "http://images.example.com:8080/a",
            "http://evil.images.example.com/a",
            "http://images.example.com.evil/a",
            "http://169.254.169.254/latest",
            "http://10.0.0.6/a",
            "not a uri",
            "",
        ] {
            let e = f.check(bad).unwrap_err();
            assert!(e.to_string().contains("does not pass filtering"), "{bad}");
        }
    }

    #[test]
    fn ports_and_schemes_follow_glance_precedence() {
        let mut f = f(&["h"]);
        f.allowed_ports.clear();
        f.disallowed_ports = vec![22];
        assert!(f.check("http://h:8080/a").is_ok());
        assert!(f.check("http://h:22/a").is_err());
        f.disallowed_hosts = vec!["H".into()];
        assert!(f.check("http://h:8080/a").is_err());
        let mut f = self::tests::f(&["h"]);
        f.allowed_schemes.clear();
        f.disallowed_schemes = vec!["https".into()];
        assert!(f.check("http://h/a").is_ok());
        assert!(f.check("https://h/a").is_err());
        // A scheme reqwest cannot fetch is refused even when allowed.
        f.disallowed_schemes.clear();
        f.allowed_ports.clear();
        assert!(f.check("gopher://h:70/a").is_err());
    }

    #[test]
    fn config_deserializes_with_defaults_and_refuses_unknown_keys() {
        let c: crate::ImageConfig = serde_json::from_value(serde_json::json!({
            "web_download": {"import_filtering_opts": {"allowed_hosts": ["images.example.com"]}}
        }))
        .unwrap();
        let f = &c.web_download.import_filtering_opts;
        assert_eq!(f.allowed_hosts, ["images.example.com"]);
        assert_eq!(f.allowed_ports, [80, 443]);
        assert_eq!(c.web_download.max_redirects, 5);
        let bad =
            serde_json::json!({"web_download": {"import_filtering_opts": {"allowed_host": []}}});
        assert!(serde_json::from_value::<crate::ImageConfig>(bad).is_err());
    }
}
