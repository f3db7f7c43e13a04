// SPDX-License-Identifier: Apache-2.0
//! The LDAP identity backend: users and groups of one domain read from an LDAP directory,
//! as Keystone's read-only `ldap` identity driver serves a domain-specific backend.
//!
//! * [`LdapConfig`] carries Keystone's `[ldap]` option names (`url`, `user`, `password`,
//!   `suffix`, `user_tree_dn`, `user_id_attribute`, ...) plus `domain`, the name of the
//!   Keystone domain the directory serves (Keystone's `keystone.<domain>.conf`).
//! * [`LdapDirectory`] searches the directory with one service connection (bound as `user`,
//!   or anonymously), re-established on the next call after any connection failure, so a
//!   restarted server costs at most one failed request. Passwords are checked by a simple
//!   bind **as the user's DN** (found by a search) on a fresh connection that is dropped
//!   afterwards; a password never appears in a search filter, and an empty password is
//!   refused before any bind (an empty simple bind is an anonymous bind, which succeeds).
//! * Every value put into a filter is escaped by [`escape_filter_value`] (RFC 4515), so a
//!   name such as `*)(uid=*` matches only an entry literally called that. DNs read from the
//!   directory (group `member` values) are compared with [`dn_eq`], which parses them by
//!   RFC 4514 (escapes, case-insensitive attribute types and values, spaces around `,` `=`).
//! * The directory is read-only: the identity service answers writes to users and groups of
//!   the LDAP domain with 403 "LDAP does not support write operations", as Keystone does.
//!
//! Public ids are the values of `user_id_attribute` / `group_id_attribute` (Keystone's
//! `backward_compatible_ids` behaviour, no id-mapping table); an entry whose id is not a
//! valid Keystone id (empty, longer than 64 characters, control characters) is skipped.
//!
//! ## Example
//!
//! The section an integrator deserialises (here from JSON; TOML has the same shape) and
//! hands to [`crate::IdentityConfig::ldap`]:
//!
//! ```
//! use ferrostack_identity::ldap::{LdapConfig, escape_filter_value};
//!
//! let ldap: LdapConfig = serde_json::from_value(serde_json::json!({
//!     "domain": "corp",
//!     "url": "ldap://127.0.0.1:389",
//!     "user": "cn=keystone,dc=example,dc=org",
//!     "password": "secret",
//!     "suffix": "dc=example,dc=org",
//!     "user_id_attribute": "uid",
//!     "user_name_attribute": "uid",
//!     "user_enabled_emulation": true,
//! })).unwrap();
//! ldap.validate().unwrap();
//! assert_eq!(ldap.user_tree_dn(), "ou=Users,dc=example,dc=org");
//! assert!(!format!("{ldap:?}").contains("secret"));
//! // What a hostile login name becomes inside a filter:
//! assert_eq!(escape_filter_value("*)(uid=*"), "\\2a\\29\\28uid=\\2a");
//! ```

use crate::error::{IdentityError, Result};
use crate::types::{Group, User};
use ferrostack_core::id::{DomainId, GroupId, UserId};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;
use std::time::Duration;
use tokio::sync::Mutex;

/// `query_scope`: how deep below a tree DN entries are searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum QueryScope {
    /// Only the immediate children of the tree DN (Keystone's default, `one`).
    #[default]
    One,
    /// The whole subtree below the tree DN (`sub`).
    Sub,
}

/// Keystone's `[ldap]` section for one domain-specific LDAP backend.
///
/// Defaults are Keystone's except where noted: `user_name_attribute` defaults to `uid`
/// (Keystone: `sn`, a surname, which is rarely what a user logs in with) and
/// `group_name_attribute` to `cn` (Keystone: `ou`); set them explicitly to reproduce a
/// Keystone deployment. `password` is never printed by `Debug`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LdapConfig {
    /// The name of the Keystone domain whose users and groups live in this directory. The
    /// identity service creates the domain (enabled) when it does not exist. It cannot be the
    /// default domain, where bootstrap keeps the admin user. Default `ldap`.
    pub domain: String,
    /// `url`: one or more comma-separated `ldap://` or `ldapi://` URLs, tried in order
    /// (default `ldap://localhost`). `ldaps://` and StartTLS are not supported by this build.
    pub url: String,
    /// `user`: the DN the service binds as to search (default: anonymous).
    pub user: Option<String>,
    /// `password`: the password of `user`.
    pub password: Option<String>,
    /// `suffix`: the directory's base DN (default `cn=example,cn=com`).
    pub suffix: String,
    /// `query_scope`: `one` (default) or `sub`.
    pub query_scope: QueryScope,
    /// `page_size`: RFC 2696 paged results page size; 0 (default) disables paging.
    pub page_size: u32,
    /// `connection_timeout`: seconds to wait for a TCP connection and the service bind
    /// (default 10; Keystone's -1, "no timeout", is not offered).
    pub connection_timeout: u64,
    /// Seconds any one LDAP operation may take (default 30; Ferrostack's own option).
    pub query_timeout: u64,
    /// Seconds a resolved token (user, scope and roles) of an LDAP user is reused before
    /// the directory is read again, so that a user disabled or removed from a group in the
    /// directory loses access within this time (Keystone's `[identity] cache_time`;
    /// default 60).
    pub cache_time: u64,
    /// `user_tree_dn`: where users are searched (default `ou=Users,<suffix>`).
    pub user_tree_dn: Option<String>,
    /// `user_filter`: an extra LDAP filter users must match, e.g. `(memberOf=cn=os,...)`.
    pub user_filter: Option<String>,
    /// `user_objectclass` (default `inetOrgPerson`).
    pub user_objectclass: String,
    /// `user_id_attribute` (default `cn`).
    pub user_id_attribute: String,
    /// `user_name_attribute` (default `uid`; Keystone's default is `sn`).
    pub user_name_attribute: String,
    /// `user_description_attribute` (default `description`).
    pub user_description_attribute: String,
    /// `user_mail_attribute` (default `mail`).
    pub user_mail_attribute: String,
    /// `user_default_project_id_attribute` (default: none).
    pub user_default_project_id_attribute: Option<String>,
    /// `user_enabled_attribute` (default `enabled`). When an entry lacks it,
    /// `user_enabled_default` applies.
    pub user_enabled_attribute: String,
    /// `user_enabled_mask`: when non-zero the attribute is an integer and the user is
    /// disabled when `value & mask == mask` (Active Directory's `userAccountControl` with
    /// mask 2). Default 0.
    pub user_enabled_mask: u64,
    /// `user_enabled_invert`: the attribute holds "disabled" rather than "enabled"
    /// (ignored with a mask). Default false.
    pub user_enabled_invert: bool,
    /// `user_enabled_default`: the value assumed when the attribute is absent (`True`; with
    /// a mask, an integer such as `512`).
    pub user_enabled_default: String,
    /// `user_enabled_emulation`: a user is enabled when it is a member of the group
    /// `user_enabled_emulation_dn` (the enabled attribute is then ignored). Default false.
    pub user_enabled_emulation: bool,
    /// `user_enabled_emulation_dn` (default `cn=enabled_users,<user_tree_dn>`).
    pub user_enabled_emulation_dn: Option<String>,
    /// `user_enabled_emulation_use_group_config`: read the emulation group with
    /// `group_objectclass` and `group_member_attribute` instead of `groupOfNames`/`member`.
    /// Default false.
    pub user_enabled_emulation_use_group_config: bool,
    /// `group_tree_dn`: where groups are searched (default `ou=UserGroups,<suffix>`).
    pub group_tree_dn: Option<String>,
    /// `group_filter`: an extra LDAP filter groups must match.
    pub group_filter: Option<String>,
    /// `group_objectclass` (default `groupOfNames`).
    pub group_objectclass: String,
    /// `group_id_attribute` (default `cn`).
    pub group_id_attribute: String,
    /// `group_name_attribute` (default `cn`; Keystone's default is `ou`).
    pub group_name_attribute: String,
    /// `group_member_attribute` (default `member`).
    pub group_member_attribute: String,
    /// `group_members_are_ids`: member values are user ids (`posixGroup`'s `memberUid`)
    /// rather than DNs. Default false.
    pub group_members_are_ids: bool,
    /// `group_desc_attribute` (default `description`).
    pub group_desc_attribute: String,
}

impl fmt::Debug for LdapConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LdapConfig")
            .field("domain", &self.domain)
            .field("url", &self.url)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("suffix", &self.suffix)
            .field("query_scope", &self.query_scope)
            .field("user_tree_dn", &self.user_tree_dn())
            .field("group_tree_dn", &self.group_tree_dn())
            .finish_non_exhaustive()
    }
}

impl Default for LdapConfig {
    fn default() -> Self {
        LdapConfig {
            domain: "ldap".into(),
            url: "ldap://localhost".into(),
            user: None,
            password: None,
            suffix: "cn=example,cn=com".into(),
            query_scope: QueryScope::One,
            page_size: 0,
            connection_timeout: 10,
            query_timeout: 30,
            cache_time: 60,
            user_tree_dn: None,
            user_filter: None,
            user_objectclass: "inetOrgPerson".into(),
            user_id_attribute: "cn".into(),
            user_name_attribute: "uid".into(),
            user_description_attribute: "description".into(),
            user_mail_attribute: "mail".into(),
            user_default_project_id_attribute: None,
            user_enabled_attribute: "enabled".into(),
            user_enabled_mask: 0,
            user_enabled_invert: false,
            user_enabled_default: "True".into(),
            user_enabled_emulation: false,
            user_enabled_emulation_dn: None,
            user_enabled_emulation_use_group_config: false,
            group_tree_dn: None,
            group_filter: None,
            group_objectclass: "groupOfNames".into(),
            group_id_attribute: "cn".into(),
            group_name_attribute: "cn".into(),
            group_member_attribute: "member".into(),
            group_members_are_ids: false,
            group_desc_attribute: "description".into(),
        }
    }
}

impl LdapConfig {
    /// `user_tree_dn`, or `ou=Users,<suffix>`.
    pub fn user_tree_dn(&self) -> String {
        self.user_tree_dn.clone().unwrap_or_else(|| format!("ou=Users,{}", self.suffix))
    }

    /// `group_tree_dn`, or `ou=UserGroups,<suffix>`.
    pub fn group_tree_dn(&self) -> String {
        self.group_tree_dn.clone().unwrap_or_else(|| format!("ou=UserGroups,{}", self.suffix))
    }

    /// `user_enabled_emulation_dn`, or `cn=enabled_users,<user_tree_dn>`.
    pub fn user_enabled_emulation_dn(&self) -> String {
        self.user_enabled_emulation_dn
            .clone()
            .unwrap_or_else(|| format!("cn=enabled_users,{}", self.user_tree_dn()))
    }

    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// [`IdentityError::Validation`] naming the first bad setting.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(IdentityError::Validation(format!("ldap: {m}")));
        if self.domain.trim().is_empty() {
            return bad("domain must not be empty".into());
        }
        for u in self.urls() {
            if !(u.starts_with("ldap://") || u.starts_with("ldapi://")) {
                return bad(format!(
                    "url {u:?} must be ldap:// or ldapi:// (no TLS in this build)"
                ));
            }
        }
        if self.urls().next().is_none() {
            return bad("url must name at least one server".into());
        }
        if self.user.is_some() != self.password.is_some() {
            return bad("user and password are set together".into());
        }
        for (name, attr) in [
            ("user_objectclass", &self.user_objectclass),
            ("user_id_attribute", &self.user_id_attribute),
            ("user_name_attribute", &self.user_name_attribute),
            ("user_mail_attribute", &self.user_mail_attribute),
            ("user_enabled_attribute", &self.user_enabled_attribute),
            ("user_description_attribute", &self.user_description_attribute),
            ("group_objectclass", &self.group_objectclass),
            ("group_id_attribute", &self.group_id_attribute),
            ("group_name_attribute", &self.group_name_attribute),
            ("group_member_attribute", &self.group_member_attribute),
            ("group_desc_attribute", &self.group_desc_attribute),
        ] {
            if !is_attribute_name(attr) {
                return bad(format!("{name} {attr:?} is not an attribute name"));
            }
        }
        for (name, f) in [("user_filter", &self.user_filter), ("group_filter", &self.group_filter)]
        {
            if let Some(f) = f
                && !(f.starts_with('(') && f.ends_with(')'))
            {
                return bad(format!("{name} must be a parenthesised LDAP filter"));
            }
        }
        for (name, dn) in [
            ("user_tree_dn", self.user_tree_dn()),
            ("group_tree_dn", self.group_tree_dn()),
            ("user_enabled_emulation_dn", self.user_enabled_emulation_dn()),
        ] {
            if parse_dn(&dn).is_none() {
                return bad(format!("{name} {dn:?} is not a DN"));
            }
        }
        if self.user_enabled_mask != 0 && self.user_enabled_default.trim().parse::<u64>().is_err() {
            return bad(
                "user_enabled_default must be an integer when user_enabled_mask is set".into()
            );
        }
        if self.connection_timeout == 0 || self.query_timeout == 0 {
            return bad("timeouts must be at least one second".into());
        }
        Ok(())
    }

    fn urls(&self) -> impl Iterator<Item = &str> {
        self.url.split(',').map(str::trim).filter(|u| !u.is_empty())
    }

    fn scope(&self) -> Scope {
        match self.query_scope {
            QueryScope::One => Scope::OneLevel,
            QueryScope::Sub => Scope::Subtree,
        }
    }
}

/// Whether `s` is an attribute description (a descriptor or an OID), safe to put in a filter.
fn is_attribute_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    s.len() <= 128 && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == ';')
}

/// Escapes `value` for an LDAP filter assertion value (RFC 4515 section 3): `*`, `(`, `)`,
/// `\` and NUL become `\2a`, `\28`, `\29`, `\5c`, `\00`. The result can only ever match
/// entries whose attribute equals `value` literally.
pub fn escape_filter_value(value: &str) -> String {
    ldap3::ldap_escape(value).into_owned()
}

/// Escapes `value` for an attribute value in a DN (RFC 4514 section 2.4).
pub fn escape_dn_value(value: &str) -> String {
    ldap3::dn_escape(value).into_owned()
}

/// One RDN component: attribute type (lowercased) and value (unescaped).
type Ava = (String, String);

/// Parses a DN string (RFC 4514) into its RDNs, each a sorted list of (type, value) pairs
/// with types lowercased and values unescaped; `None` if malformed. Hex-string (`#...`)
/// values are kept as written.
pub fn parse_dn(dn: &str) -> Option<Vec<Vec<(String, String)>>> {
    let mut rdns: Vec<Vec<Ava>> = Vec::new();
    let mut rdn: Vec<Ava> = Vec::new();
    let b = dn.as_bytes();
    let mut i = 0;
    if dn.trim().is_empty() {
        return Some(Vec::new());
    }
    loop {
        // attribute type
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i] != b'=' {
            i += 1;
        }
        if i >= b.len() {
            return None;
        }
        let ty = dn[start..i].trim().to_ascii_lowercase();
        if !is_attribute_name(&ty) {
            return None;
        }
        i += 1; // '='
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        // attribute value
        let mut val: Vec<u8> = Vec::new();
        let mut trailing_unescaped_spaces = 0usize;
        while i < b.len() && b[i] != b',' && b[i] != b'+' && b[i] != b';' {
            if b[i] == b'\\' {
                i += 1;
                let c = *b.get(i)?;
                if c.is_ascii_hexdigit() {
                    let h = b.get(i..i + 2)?;
                    let s = std::str::from_utf8(h).ok()?;
                    val.push(u8::from_str_radix(s, 16).ok()?);
                    i += 2;
                } else {
                    val.push(c);
                    i += 1;
                }
                trailing_unescaped_spaces = 0;
            } else {
                if b[i] == b' ' {
                    trailing_unescaped_spaces += 1;
                } else {
                    trailing_unescaped_spaces = 0;
                }
                val.push(b[i]);
                i += 1;
            }
        }
        val.truncate(val.len() - trailing_unescaped_spaces);
        let val = String::from_utf8(val).ok()?;
        rdn.push((ty, val));
        if i >= b.len() {
            rdns.push(std::mem::take(&mut rdn));
            break;
        }
        if b[i] != b'+' {
            rdns.push(std::mem::take(&mut rdn));
        }
        i += 1;
    }
    for r in &mut rdns {
        r.sort();
    }
    Some(rdns)
}

/// Whether two DNs name the same entry: equal after RFC 4514 parsing, comparing attribute
/// types and values case-insensitively (the matching rule of `cn`, `uid`, `ou`, `dc`, ...).
/// Malformed DNs equal nothing.
pub fn dn_eq(a: &str, b: &str) -> bool {
    let norm = |dn: &str| {
        parse_dn(dn).map(|rdns| {
            rdns.into_iter()
                .map(|r| r.into_iter().map(|(t, v)| (t, v.to_lowercase())).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        })
    };
    match (norm(a), norm(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// A user read from the directory, with the DN to bind as.
#[derive(Debug, Clone)]
struct DirUser {
    dn: String,
    user: User,
}

/// A group read from the directory, with its member values.
#[derive(Debug, Clone)]
struct DirGroup {
    group: Group,
    members: Vec<String>,
}

/// Whether an error means the connection is unusable (so it is dropped and re-made).
fn connection_broken(e: &ldap3::LdapError) -> bool {
    !matches!(e, ldap3::LdapError::LdapResult { .. } | ldap3::LdapError::FilterParsing)
}

fn ldap_err(what: &'static str, e: ldap3::LdapError) -> IdentityError {
    tracing::warn!(error = %e, "ldap {what} failed");
    IdentityError::Directory { what, source: Box::new(e) }
}

/// The LDAP directory backing one domain's users and groups.
///
/// Every method reads the directory anew (no cache): the identity service caches resolved
/// token scopes, not directory entries.
pub struct LdapDirectory {
    config: LdapConfig,
    domain_id: DomainId,
    conn: Mutex<Option<Ldap>>,
}

impl fmt::Debug for LdapDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LdapDirectory")
            .field("config", &self.config)
            .field("domain_id", &self.domain_id)
            .finish_non_exhaustive()
    }
}

impl LdapDirectory {
    /// A directory serving the users and groups of domain `domain_id`. Connects lazily.
    ///
    /// # Errors
    ///
    /// An invalid configuration.
    pub fn new(config: LdapConfig, domain_id: DomainId) -> Result<Self> {
        config.validate()?;
        Ok(LdapDirectory { config, domain_id, conn: Mutex::new(None) })
    }

    /// The domain this directory serves.
    pub fn domain_id(&self) -> &DomainId {
        &self.domain_id
    }

    /// The configuration.
    pub fn config(&self) -> &LdapConfig {
        &self.config
    }

    async fn connect(
        &self,
        bind: Option<(&str, &str)>,
    ) -> std::result::Result<Ldap, ldap3::LdapError> {
        let timeout = Duration::from_secs(self.config.connection_timeout);
        let mut last = None;
        for url in self.config.urls() {
            let settings = LdapConnSettings::new().set_conn_timeout(timeout);
            match LdapConnAsync::with_settings(settings, url).await {
                Ok((conn, mut ldap)) => {
                    tokio::spawn(async move {
                        if let Err(e) = conn.drive().await {
                            tracing::debug!(error = %e, "ldap connection ended");
                        }
                    });
                    if let Some((dn, pw)) = bind {
                        ldap.with_timeout(timeout).simple_bind(dn, pw).await?.success()?;
                    }
                    return Ok(ldap);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(ldap3::LdapError::EmptyUnixPath))
    }

    /// The service connection, (re)connected and bound if needed.
    async fn service_conn(&self) -> std::result::Result<Ldap, ldap3::LdapError> {
        let mut guard = self.conn.lock().await;
        if let Some(l) = guard.as_mut()
            && !l.is_closed()
        {
            return Ok(l.clone());
        }
        *guard = None;
        let bind = match (&self.config.user, &self.config.password) {
            (Some(u), Some(p)) => Some((u.as_str(), p.as_str())),
            _ => None,
        };
        let l = self.connect(bind).await?;
        *guard = Some(l.clone());
        Ok(l)
    }

    async fn search_once(
        &self,
        scope: Scope,
        base: &str,
        filter: &str,
        attrs: &[&str],
    ) -> std::result::Result<Vec<SearchEntry>, ldap3::LdapError> {
        let mut ldap = self.service_conn().await?;
        let timeout = Duration::from_secs(self.config.query_timeout);
        let attrs: Vec<String> = attrs.iter().map(|s| (*s).to_owned()).collect();
        let mut out = Vec::new();
        let mut stream = if self.config.page_size > 0 {
            let paged = ldap3::adapters::PagedResults::new(self.config.page_size as i32);
            let adapters: Vec<Box<dyn ldap3::adapters::Adapter<_, _>>> =
                vec![Box::new(ldap3::adapters::EntriesOnly::new()), Box::new(paged)];
            ldap.with_timeout(timeout)
                .streaming_search_with(adapters, base, scope, filter, attrs)
                .await?
        } else {
            ldap.with_timeout(timeout)
                .streaming_search_with(
                    ldap3::adapters::EntriesOnly::new(),
                    base,
                    scope,
                    filter,
                    attrs,
                )
                .await?
        };
        while let Some(entry) = stream.next().await? {
            out.push(SearchEntry::construct(entry));
        }
        let res = stream.finish().await;
        match res.rc {
            // noSuchObject: the tree DN does not exist, so nothing is in it.
            32 => Ok(Vec::new()),
            _ => {
                res.success()?;
                Ok(out)
            }
        }
    }

    /// A search under `base` with the configured scope; on a broken connection the
    /// connection is dropped and the search retried once on a new one.
    async fn search(&self, base: &str, filter: &str, attrs: &[&str]) -> Result<Vec<SearchEntry>> {
        self.search_scoped(self.config.scope(), base, filter, attrs).await
    }

    async fn search_scoped(
        &self,
        scope: Scope,
        base: &str,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Vec<SearchEntry>> {
        match self.search_once(scope, base, filter, attrs).await {
            Ok(v) => Ok(v),
            Err(e) if connection_broken(&e) => {
                tracing::info!(error = %e, "ldap connection lost; reconnecting");
                *self.conn.lock().await = None;
                self.search_once(scope, base, filter, attrs).await.map_err(|e| {
                    if connection_broken(&e) {
                        // Leave no half-dead connection behind for the next call.
                        if let Ok(mut g) = self.conn.try_lock() {
                            *g = None;
                        }
                    }
                    ldap_err("search", e)
                })
            }
            Err(e) => Err(ldap_err("search", e)),
        }
    }

    // ----- users -----

    fn user_filter(&self, extra: Option<String>) -> String {
        let c = &self.config;
        format!(
            "(&(objectClass={}){}{})",
            escape_filter_value(&c.user_objectclass),
            c.user_filter.as_deref().unwrap_or(""),
            extra.unwrap_or_default()
        )
    }

    fn user_attrs(&self) -> Vec<&str> {
        let c = &self.config;
        let mut v = vec![
            c.user_id_attribute.as_str(),
            c.user_name_attribute.as_str(),
            c.user_mail_attribute.as_str(),
            c.user_description_attribute.as_str(),
            c.user_enabled_attribute.as_str(),
        ];
        if let Some(a) = &c.user_default_project_id_attribute {
            v.push(a);
        }
        v
    }

    /// The member values of the enabled-emulation group (empty when it does not exist).
    async fn enabled_members(&self) -> Result<Vec<String>> {
        let c = &self.config;
        let (oc, attr) = if c.user_enabled_emulation_use_group_config {
            (c.group_objectclass.as_str(), c.group_member_attribute.as_str())
        } else {
            ("groupOfNames", "member")
        };
        let filter = format!("(objectClass={})", escape_filter_value(oc));
        let dn = c.user_enabled_emulation_dn();
        let mut found = self.search_scoped(Scope::Base, &dn, &filter, &[attr]).await?;
        Ok(found.pop().map(|mut e| take_attr(&mut e, attr)).unwrap_or_default())
    }

    fn enabled(&self, e: &SearchEntry) -> bool {
        let c = &self.config;
        let raw = first(e, &c.user_enabled_attribute).unwrap_or(&c.user_enabled_default).trim();
        if c.user_enabled_mask != 0 {
            return match raw.parse::<u64>() {
                Ok(v) => v & c.user_enabled_mask != c.user_enabled_mask,
                Err(_) => false,
            };
        }
        let v = matches!(raw.to_ascii_lowercase().as_str(), "true" | "1" | "yes");
        v != c.user_enabled_invert
    }

    fn to_user(&self, e: SearchEntry) -> Option<DirUser> {
        let c = &self.config;
        let id: UserId = first(&e, &c.user_id_attribute)?.parse().ok()?;
        let name = first(&e, &c.user_name_attribute)?.to_owned();
        let user = User {
            id,
            name,
            domain_id: self.domain_id.clone(),
            enabled: self.enabled(&e),
            default_project_id: c
                .user_default_project_id_attribute
                .as_ref()
                .and_then(|a| first(&e, a))
                .and_then(|p| p.parse().ok()),
            description: first(&e, &c.user_description_attribute).unwrap_or_default().to_owned(),
            email: first(&e, &c.user_mail_attribute).map(str::to_owned),
            password: None,
            failed_auth_count: 0,
            failed_auth_at: None,
            options: serde_json::Map::new(),
        };
        Some(DirUser { dn: e.dn, user })
    }

    async fn users_where(&self, extra: Option<String>) -> Result<Vec<DirUser>> {
        let entries = self
            .search(&self.config.user_tree_dn(), &self.user_filter(extra), &self.user_attrs())
            .await?;
        let mut users: Vec<DirUser> = entries.into_iter().filter_map(|e| self.to_user(e)).collect();
        if self.config.user_enabled_emulation && !users.is_empty() {
            let members = self.enabled_members().await?;
            let by_id = self.config.user_enabled_emulation_use_group_config
                && self.config.group_members_are_ids;
            for u in &mut users {
                u.user.enabled = if by_id {
                    members.iter().any(|m| m == u.user.id.as_str())
                } else {
                    members.iter().any(|m| dn_eq(m, &u.dn))
                };
            }
        }
        Ok(users)
    }

    async fn dir_user(&self, id: &str) -> Result<Option<DirUser>> {
        let f = format!("({}={})", self.config.user_id_attribute, escape_filter_value(id));
        // The server compares case-insensitively for most attributes; keep exact ids only,
        // so one entry has one public id.
        Ok(self.users_where(Some(f)).await?.into_iter().find(|u| u.user.id.as_str() == id))
    }

    /// Every user of the directory (matching `user_objectclass` and `user_filter`).
    ///
    /// # Errors
    ///
    /// [`IdentityError::Directory`] when the directory cannot be searched.
    pub async fn list_users(&self) -> Result<Vec<User>> {
        Ok(self.users_where(None).await?.into_iter().map(|u| u.user).collect())
    }

    /// The user with id `id`, if any.
    ///
    /// # Errors
    ///
    /// [`IdentityError::Directory`] when the directory cannot be searched.
    pub async fn get_user(&self, id: &str) -> Result<Option<User>> {
        Ok(self.dir_user(id).await?.map(|u| u.user))
    }

    /// The user named `name`, if exactly one entry has that name.
    ///
    /// # Errors
    ///
    /// [`IdentityError::Directory`] when the directory cannot be searched.
    pub async fn get_user_by_name(&self, name: &str) -> Result<Option<User>> {
        let f = format!("({}={})", self.config.user_name_attribute, escape_filter_value(name));
        let mut found = self.users_where(Some(f)).await?;
        if found.len() > 1 {
            tracing::warn!("ldap: {} users share a name; refusing to pick one", found.len());
            return Ok(None);
        }
        Ok(found.pop().map(|u| u.user))
    }

    /// Whether `password` is the password of user `id`: a simple bind as the user's DN on
    /// a fresh connection. `false` for an unknown user, an empty password or a refused
    /// bind.
    ///
    /// # Errors
    ///
    /// [`IdentityError::Directory`] when the directory cannot be reached.
    pub async fn check_password(&self, id: &str, password: &str) -> Result<bool> {
        if password.is_empty() {
            return Ok(false);
        }
        let Some(u) = self.dir_user(id).await? else { return Ok(false) };
        match self.connect(Some((&u.dn, password))).await {
            Ok(mut l) => {
                let _ = l.unbind().await;
                Ok(true)
            }
            // invalidCredentials (49) and friends: the server answered, the password is wrong.
            Err(ldap3::LdapError::LdapResult { .. }) => Ok(false),
            Err(e) => Err(ldap_err("bind", e)),
        }
    }

    // ----- groups -----

    fn group_filter(&self, extra: Option<String>) -> String {
        let c = &self.config;
        format!(
            "(&(objectClass={}){}{})",
            escape_filter_value(&c.group_objectclass),
            c.group_filter.as_deref().unwrap_or(""),
            extra.unwrap_or_default()
        )
    }

    fn to_group(&self, mut e: SearchEntry) -> Option<DirGroup> {
        let c = &self.config;
        let id: GroupId = first(&e, &c.group_id_attribute)?.parse().ok()?;
        let name = first(&e, &c.group_name_attribute)?.to_owned();
        let description = first(&e, &c.group_desc_attribute).unwrap_or_default().to_owned();
        let members = take_attr(&mut e, &c.group_member_attribute);
        Some(DirGroup {
            group: Group { id, name, domain_id: self.domain_id.clone(), description },
            members,
        })
    }

    async fn groups_where(&self, extra: Option<String>) -> Result<Vec<DirGroup>> {
        let c = &self.config;
        let attrs = [
            c.group_id_attribute.as_str(),
            c.group_name_attribute.as_str(),
            c.group_desc_attribute.as_str(),
            c.group_member_attribute.as_str(),
        ];
        let entries = self.search(&c.group_tree_dn(), &self.group_filter(extra), &attrs).await?;
        Ok(entries.into_iter().filter_map(|e| self.to_group(e)).collect())
    }

    async fn dir_group(&self, id: &str) -> Result<Option<DirGroup>> {
        let f = format!("({}={})", self.config.group_id_attribute, escape_filter_value(id));
        Ok(self.groups_where(Some(f)).await?.into_iter().find(|g| g.group.id.as_str() == id))
    }

    /// Every group of the directory.
    ///
    /// # Errors
    ///
    /// [`IdentityError::Directory`] when the directory cannot be searched.
    pub async fn list_groups(&self) -> Result<Vec<Group>> {
        Ok(self.groups_where(None).await?.into_iter().map(|g| g.group).collect())
    }

    /// The group with id `id`, if any.
    ///
    /// # Errors
    ///
    /// [`IdentityError::Directory`] when the directory cannot be searched.
    pub async fn get_group(&self, id: &str) -> Result<Option<Group>> {
        Ok(self.dir_group(id).await?.map(|g| g.group))
    }

    /// The group named `name`, if exactly one has that name.
    ///
    /// # Errors
    ///
    /// [`IdentityError::Directory`] when the directory cannot be searched.
    pub async fn get_group_by_name(&self, name: &str) -> Result<Option<Group>> {
        let f = format!("({}={})", self.config.group_name_attribute, escape_filter_value(name));
        let mut found = self.groups_where(Some(f)).await?;
        if found.len() > 1 {
            return Ok(None);
        }
        Ok(found.pop().map(|g| g.group))
    }

    /// The users that are members of group `id` (members that are not users of this
    /// directory, such as nested groups, are left out); `None` if there is no such group.
    ///
    /// # Errors
    ///
    /// [`IdentityError::Directory`] when the directory cannot be searched.
    pub async fn group_members(&self, id: &str) -> Result<Option<Vec<User>>> {
        let Some(g) = self.dir_group(id).await? else { return Ok(None) };
        if g.members.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let users = self.users_where(None).await?;
        let out = if self.config.group_members_are_ids {
            let ids: HashSet<&str> = g.members.iter().map(String::as_str).collect();
            users.into_iter().filter(|u| ids.contains(u.user.id.as_str())).map(|u| u.user).collect()
        } else {
            users
                .into_iter()
                .filter(|u| g.members.iter().any(|m| dn_eq(m, &u.dn)))
                .map(|u| u.user)
                .collect()
        };
        Ok(Some(out))
    }

    /// The groups user `id` is a member of; `None` if there is no such user.
    ///
    /// # Errors
    ///
    /// [`IdentityError::Directory`] when the directory cannot be searched.
    pub async fn user_groups(&self, id: &str) -> Result<Option<Vec<Group>>> {
        let Some(u) = self.dir_user(id).await? else { return Ok(None) };
        let value =
            if self.config.group_members_are_ids { u.user.id.to_string() } else { u.dn.clone() };
        let f = format!("({}={})", self.config.group_member_attribute, escape_filter_value(&value));
        let groups = self.groups_where(Some(f)).await?;
        // The server matched with the attribute's rule; check again on our side so a
        // misconfigured matching rule cannot widen membership.
        let out = groups
            .into_iter()
            .filter(|g| {
                g.members.iter().any(|m| {
                    if self.config.group_members_are_ids { m == &value } else { dn_eq(m, &u.dn) }
                })
            })
            .map(|g| g.group)
            .collect();
        Ok(Some(out))
    }
}

/// The first value of `attr` (case-insensitive attribute name).
fn first<'a>(e: &'a SearchEntry, attr: &str) -> Option<&'a str> {
    e.attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(attr))
        .and_then(|(_, v)| v.first())
        .map(String::as_str)
}

fn take_attr(e: &mut SearchEntry, attr: &str) -> Vec<String> {
    let key = e.attrs.keys().find(|k| k.eq_ignore_ascii_case(attr)).cloned();
    key.and_then(|k| e.attrs.remove(&k)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_escaping_neutralises_injection() {
        assert_eq!(escape_filter_value("*)(uid=*"), "\\2a\\29\\28uid=\\2a");
        assert_eq!(
            escape_filter_value("admin)(|(objectClass=*"),
            "admin\\29\\28|\\28objectClass=\\2a"
        );
        assert_eq!(escape_filter_value("a\\b\0"), "a\\5cb\\00");
        assert_eq!(escape_filter_value("plain"), "plain");
        assert_eq!(escape_filter_value("Jürgen"), "Jürgen");
    }

    #[test]
    fn dn_escaping_and_parsing_round_trip() {
        for v in
            ["a,b", "+x", " lead", "trail ", "#hash", "q\"uote", "back\\slash", "semi;colon", "<>="]
        {
            let dn = format!("cn={},ou=Users,dc=example,dc=org", escape_dn_value(v));
            let parsed = parse_dn(&dn).unwrap_or_else(|| panic!("{dn}"));
            assert_eq!(parsed.len(), 4, "{dn}");
            assert_eq!(parsed[0], vec![("cn".to_owned(), v.to_owned())], "{dn}");
        }
    }

    #[test]
    fn dn_equality_follows_rfc4514() {
        assert!(dn_eq(
            "uid=Alice,ou=Users,dc=Example,dc=org",
            "UID=alice, ou=users ,DC=example,dc=ORG"
        ));
        assert!(dn_eq("cn=a\\2cb,dc=x", "cn=a\\,b,dc=x"));
        assert!(dn_eq("cn=a+sn=b,dc=x", "sn=b+cn=a,dc=x"));
        assert!(!dn_eq("cn=a,dc=x", "cn=a,dc=y"));
        assert!(!dn_eq("cn=a,b,dc=x", "cn=a\\,b,dc=x"));
        assert!(!dn_eq("garbage", "garbage"));
        assert!(parse_dn("cn=x\\").is_none());
        assert!(parse_dn("cn=x,=y").is_none());
    }

    #[test]
    fn config_defaults_and_validation() {
        let c = LdapConfig { suffix: "dc=example,dc=org".into(), ..LdapConfig::default() };
        c.validate().unwrap();
        assert_eq!(c.user_tree_dn(), "ou=Users,dc=example,dc=org");
        assert_eq!(c.group_tree_dn(), "ou=UserGroups,dc=example,dc=org");
        assert!(
            format!(
                "{:?}",
                LdapConfig {
                    password: Some("hunter2".into()),
                    user: Some("cn=x".into()),
                    ..c.clone()
                }
            )
            .contains("<redacted>")
        );
        let bad = [
            LdapConfig { url: "ldaps://x".into(), ..c.clone() },
            LdapConfig { url: " , ".into(), ..c.clone() },
            LdapConfig { user_id_attribute: "cn)(x=*".into(), ..c.clone() },
            LdapConfig { user_filter: Some("uid=*".into()), ..c.clone() },
            LdapConfig { user: Some("cn=admin".into()), ..c.clone() },
            LdapConfig { user_enabled_mask: 2, ..c.clone() },
            LdapConfig { domain: " ".into(), ..c.clone() },
        ];
        for b in bad {
            assert!(b.validate().is_err(), "{b:?}");
        }
        let toml_like: LdapConfig = serde_json::from_value(
            serde_json::json!({"url": "ldap://127.0.0.1:389", "query_scope": "sub"}),
        )
        .unwrap();
        assert_eq!(toml_like.query_scope, QueryScope::Sub);
        assert!(serde_json::from_value::<LdapConfig>(serde_json::json!({"nope": 1})).is_err());
    }

    fn entry(attrs: &[(&str, &str)]) -> SearchEntry {
        let mut m = std::collections::HashMap::new();
        for (k, v) in attrs {
            m.entry((*k).to_owned()).or_insert_with(Vec::new).push((*v).to_owned());
        }
        SearchEntry { dn: "cn=x,dc=y".into(), attrs: m, bin_attrs: Default::default() }
    }

    #[test]
    fn enabled_attribute_mask_invert_default() {
        let dir = |c: LdapConfig| LdapDirectory::new(c, "d".parse().unwrap()).unwrap();
        let plain = dir(LdapConfig::default());
        assert!(plain.enabled(&entry(&[])));
        assert!(plain.enabled(&entry(&[("enabled", "TRUE")])));
        assert!(!plain.enabled(&entry(&[("Enabled", "FALSE")])));
        let inv = dir(LdapConfig {
            user_enabled_invert: true,
            user_enabled_default: "False".into(),
            ..LdapConfig::default()
        });
        assert!(inv.enabled(&entry(&[])));
        assert!(!inv.enabled(&entry(&[("enabled", "true")])));
        let ad = dir(LdapConfig {
            user_enabled_attribute: "userAccountControl".into(),
            user_enabled_mask: 2,
            user_enabled_default: "512".into(),
            ..LdapConfig::default()
        });
        assert!(ad.enabled(&entry(&[])));
        assert!(ad.enabled(&entry(&[("userAccountControl", "512")])));
        assert!(!ad.enabled(&entry(&[("userAccountControl", "514")])));
        assert!(!ad.enabled(&entry(&[("userAccountControl", "junk")])));
    }
}
