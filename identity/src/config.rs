// SPDX-License-Identifier: Apache-2.0
//! [`IdentityConfig`]: the identity service's settings (Keystone's `keystone.conf` subset).

use crate::password::HashParams;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Settings of an [`crate::IdentityService`]. Libraries never read files or the environment:
/// the integrator fills this (for example from TOML) and passes it in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityConfig {
    /// Keystone's `[fernet_tokens] key_repository` (default `/etc/keystone/fernet-keys/`).
    pub key_repository: PathBuf,
    /// `[fernet_tokens] max_active_keys` (default 3).
    pub max_active_keys: usize,
    /// Create the key repository with a staged and a primary key if it is empty (what
    /// `keystone-manage fernet_setup` does). Default true.
    pub setup_key_repository: bool,
    /// `[token] expiration` in seconds (default 3600).
    pub token_expiration_secs: u64,
    /// `[token] allow_expired_window` in seconds (default 172800): how long after expiry a
    /// token still validates with `?allow_expired=1`.
    pub allow_expired_window_secs: u64,
    /// `[identity] password_hash_algorithm` and its costs.
    pub password_hashing: HashParams,
    /// `[identity] default_domain_id` (default `"default"`).
    pub default_domain_id: String,
    /// `[security_compliance] lockout_failure_attempts` (default: no lockout).
    pub lockout_failure_attempts: Option<u32>,
    /// `[security_compliance] lockout_duration` in seconds (default 1800).
    pub lockout_duration_secs: u64,
    /// `[security_compliance] password_expires_days` (default: passwords never expire).
    pub password_expires_days: Option<u32>,
    /// The external URL of the identity API without the version, e.g.
    /// `http://127.0.0.1:8770/identity`. Used in version documents, links and the identity
    /// catalog entry.
    pub public_url: String,
    /// The region of the endpoints bootstrap creates (`RegionOne`).
    pub region: String,
    /// Policy overrides: rule name to check string.
    pub policy_overrides: Vec<(String, String)>,
    /// `[credential] key_repository`: the Fernet keys encrypting credential blobs at rest.
    /// Default: `credential-keys` next to [`IdentityConfig::key_repository`] (Keystone's
    /// `/etc/keystone/credential-keys/` for the default token repository). Set up like the
    /// token repository when `setup_key_repository` is on.
    pub credential_key_repository: Option<PathBuf>,
    /// `[credential] auth_ttl` in seconds (default 900): how old the timestamp of a signed
    /// EC2 request may be.
    pub ec2_auth_ttl_secs: u64,
    /// One domain whose users and groups are read from an LDAP directory (Keystone's
    /// domain-specific `ldap` identity driver); `None` (default) keeps every user in the
    /// store. See [`crate::ldap`].
    pub ldap: Option<crate::ldap::LdapConfig>,
    /// How many password (and application credential secret) hashes and verifications run at
    /// once, each on its own thread of the blocking pool; further logins queue for a turn, so
    /// that they never occupy the async runtime's threads and token validations keep being
    /// served. `None` (default): half the CPUs, at least one.
    pub password_concurrency: Option<usize>,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            key_repository: PathBuf::from("/etc/keystone/fernet-keys/"),
            max_active_keys: 3,
            setup_key_repository: true,
            token_expiration_secs: 3600,
            allow_expired_window_secs: 172_800,
            password_hashing: HashParams::default(),
            default_domain_id: "default".into(),
            lockout_failure_attempts: None,
            lockout_duration_secs: 1800,
            password_expires_days: None,
            public_url: "http://127.0.0.1:5000".into(),
            region: "RegionOne".into(),
            policy_overrides: Vec::new(),
            credential_key_repository: None,
            ec2_auth_ttl_secs: 900,
            ldap: None,
            password_concurrency: None,
        }
    }
}

impl IdentityConfig {
    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// [`crate::IdentityError::Validation`] naming the first bad setting.
    pub fn validate(&self) -> Result<(), crate::IdentityError> {
        let bad = |m: &str| Err(crate::IdentityError::Validation(m.to_owned()));
        if self.token_expiration_secs == 0 || self.token_expiration_secs > 366 * 86400 {
            return bad("token_expiration_secs must be between 1 and one year");
        }
        if self.max_active_keys < 2 {
            return bad("max_active_keys must be at least 2");
        }
        if !(self.public_url.starts_with("http://") || self.public_url.starts_with("https://")) {
            return bad("public_url must be an http(s) URL");
        }
        if self.default_domain_id.is_empty() {
            return bad("default_domain_id must not be empty");
        }
        if self.password_concurrency == Some(0) {
            return bad("password_concurrency must be at least 1");
        }
        if let Some(l) = &self.ldap {
            l.validate()?;
        }
        Ok(())
    }
}
