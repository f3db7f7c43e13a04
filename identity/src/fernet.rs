// SPDX-License-Identifier: Apache-2.0
//! Fernet (the [spec](https://github.com/fernet/spec/blob/master/Spec.md)) and Keystone's Fernet
//! key repository.
//!
//! A token is `base64url(0x80 ‖ timestamp:u64 BE ‖ IV[16] ‖ AES-128-CBC(PKCS7(msg)) ‖
//! HMAC-SHA256)`; the HMAC covers every preceding byte and is checked (in constant time)
//! before anything is decrypted. A key is 32 bytes in base64url: bytes 0..16 sign, 16..32
//! encrypt.
//!
//! The [`KeyRepository`] is Keystone's `/etc/keystone/fernet-keys/` layout: files named by
//! integers, `0` the staged key, the highest the primary (which encrypts); every key decrypts.
//! [`KeyRepository::rotate`] promotes the staged key, stages a new one and drops the oldest
//! secondaries beyond `max_active_keys`, exactly as `keystone-manage fernet_rotate` does, so
//! Keystone and Ferrostack can share one repository.

use aes::Aes128;
use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, InnerIvInit};
use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use hmac::{KeyInit, Mac};
use sha2::Sha256;
use std::fmt;
use std::path::{Path, PathBuf};

type HmacSha256 = hmac::Hmac<Sha256>;

/// The version byte of every Fernet token.
pub const VERSION: u8 = 0x80;
const HEADER_LEN: usize = 1 + 8 + 16;
const HMAC_LEN: usize = 32;

/// Why a Fernet token was refused. Deliberately coarse: callers learn nothing that helps
/// forge a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FernetError {
    /// Not base64url, too short, wrong version byte, bad padding or a bad signature.
    #[error("invalid fernet token")]
    InvalidToken,
    /// A key is not 32 bytes of base64url.
    #[error("invalid fernet key")]
    InvalidKey,
}

/// One Fernet key: a 16-byte signing key and a 16-byte encryption key. `Debug` does not
/// print the key material. The HMAC state after the key block and the AES key schedule are
/// computed once, not per token.
#[derive(Clone)]
pub struct FernetKey {
    signing: [u8; 16],
    encryption: [u8; 16],
    mac: HmacSha256,
    cipher: Aes128,
}

impl PartialEq for FernetKey {
    fn eq(&self, other: &Self) -> bool {
        self.signing == other.signing && self.encryption == other.encryption
    }
}

impl Eq for FernetKey {}

impl fmt::Debug for FernetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FernetKey(<redacted>)")
    }
}

impl FernetKey {
    /// A new random key.
    pub fn generate() -> Self {
        let mut b = [0u8; 32];
        rand::Rng::fill(&mut rand::rng(), &mut b[..]);
        Self::from_bytes(&b)
    }

    fn from_bytes(b: &[u8; 32]) -> Self {
        let mut signing = [0u8; 16];
        let mut encryption = [0u8; 16];
        signing.copy_from_slice(&b[..16]);
        encryption.copy_from_slice(&b[16..]);
        // HMAC accepts keys of any length; 16 bytes cannot fail.
        let mac = <HmacSha256 as KeyInit>::new_from_slice(&signing)
            .unwrap_or_else(|_| unreachable!("hmac accepts any key length"));
        let cipher = Aes128::new(&encryption.into());
        FernetKey { signing, encryption, mac, cipher }
    }

    /// Parses the base64url form (as in a key file; surrounding whitespace is ignored).
    ///
    /// # Errors
    ///
    /// [`FernetError::InvalidKey`] unless the text decodes to exactly 32 bytes.
    pub fn from_base64(s: &str) -> Result<Self, FernetError> {
        let s = s.trim();
        let bytes = URL_SAFE
            .decode(s)
            .or_else(|_| URL_SAFE_NO_PAD.decode(s))
            .map_err(|_| FernetError::InvalidKey)?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| FernetError::InvalidKey)?;
        Ok(Self::from_bytes(&arr))
    }

    /// The base64url form with padding (44 characters), as `keystone-manage` writes it.
    pub fn to_base64(&self) -> String {
        let mut b = [0u8; 32];
        b[..16].copy_from_slice(&self.signing);
        b[16..].copy_from_slice(&self.encryption);
        URL_SAFE.encode(b)
    }

    fn mac(&self) -> HmacSha256 {
        self.mac.clone()
    }

    /// Encrypts `msg` at `timestamp` (unix seconds) with `iv`: the raw token bytes. Exposed
    /// with explicit inputs for the spec's test vectors; use [`FernetKey::encrypt`] otherwise.
    pub fn encrypt_raw(&self, msg: &[u8], timestamp: u64, iv: [u8; 16]) -> Vec<u8> {
        let ct = cbc::Encryptor::<Aes128>::inner_iv_init(self.cipher.clone(), &iv.into())
            .encrypt_padded_vec::<Pkcs7>(msg);
        let mut out = Vec::with_capacity(HEADER_LEN + ct.len() + HMAC_LEN);
        out.push(VERSION);
        out.extend_from_slice(&timestamp.to_be_bytes());
        out.extend_from_slice(&iv);
        out.extend_from_slice(&ct);
        let mut mac = self.mac();
        mac.update(&out);
        out.extend_from_slice(&mac.finalize().into_bytes());
        out
    }

    /// Encrypts `msg` now with a random IV: the token in base64url with padding.
    pub fn encrypt(&self, msg: &[u8]) -> String {
        let ts = u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(0);
        self.encrypt_at(msg, ts)
    }

    /// Encrypts `msg` with the Fernet timestamp `ts` (Unix seconds) and a random IV.
    pub fn encrypt_at(&self, msg: &[u8], ts: u64) -> String {
        let mut iv = [0u8; 16];
        rand::Rng::fill(&mut rand::rng(), &mut iv[..]);
        URL_SAFE.encode(self.encrypt_raw(msg, ts, iv))
    }

    /// Checks the signature of raw token bytes and decrypts them: `(timestamp, message)`.
    /// No time-to-live is applied (Keystone keeps the expiry inside the payload).
    ///
    /// # Errors
    ///
    /// [`FernetError::InvalidToken`] for anything but a well-formed token signed by this key.
    pub fn decrypt_raw(&self, token: &[u8]) -> Result<(u64, Vec<u8>), FernetError> {
        if token.len() < HEADER_LEN + 16 + HMAC_LEN || token[0] != VERSION {
            return Err(FernetError::InvalidToken);
        }
        let (signed, tag) = token.split_at(token.len() - HMAC_LEN);
        let mut mac = self.mac();
        mac.update(signed);
        mac.verify_slice(tag).map_err(|_| FernetError::InvalidToken)?;
        let ct = &signed[HEADER_LEN..];
        if ct.len() % 16 != 0 {
            return Err(FernetError::InvalidToken);
        }
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&signed[1..9]);
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&signed[9..HEADER_LEN]);
        let msg = cbc::Decryptor::<Aes128>::inner_iv_init(self.cipher.clone(), &iv.into())
            .decrypt_padded_vec::<Pkcs7>(ct)
            .map_err(|_| FernetError::InvalidToken)?;
        Ok((u64::from_be_bytes(ts), msg))
    }
}

/// Decodes a token's base64url text, with or without its `=` padding (Keystone strips it).
pub fn decode_token_text(token: &str) -> Result<Vec<u8>, FernetError> {
    // Bound the work done on hostile input: Keystone tokens are a few hundred bytes.
    if token.is_empty() || token.len() > 8192 {
        return Err(FernetError::InvalidToken);
    }
    let trimmed = token.trim_end_matches('=');
    URL_SAFE_NO_PAD.decode(trimmed).map_err(|_| FernetError::InvalidToken)
}

/// The timestamp of a token without checking it (Keystone's `creation_time`); for display only.
pub fn unverified_timestamp(token: &[u8]) -> Option<u64> {
    let b: [u8; 8] = token.get(1..9)?.try_into().ok()?;
    Some(u64::from_be_bytes(b))
}

/// Several keys: the first encrypts, all decrypt (Python cryptography's `MultiFernet`).
#[derive(Debug, Clone)]
pub struct MultiFernet {
    keys: Vec<FernetKey>,
}

impl MultiFernet {
    /// Keys in priority order (primary first).
    ///
    /// # Errors
    ///
    /// [`FernetError::InvalidKey`] if `keys` is empty.
    pub fn new(keys: Vec<FernetKey>) -> Result<Self, FernetError> {
        if keys.is_empty() {
            return Err(FernetError::InvalidKey);
        }
        Ok(MultiFernet { keys })
    }

    /// The primary key.
    pub fn primary(&self) -> &FernetKey {
        &self.keys[0]
    }

    /// Encrypts with the primary key at timestamp `ts` (Unix seconds); base64url with padding.
    pub fn encrypt_at(&self, msg: &[u8], ts: u64) -> String {
        self.primary().encrypt_at(msg, ts)
    }

    /// Encrypts with the primary key; base64url with padding.
    pub fn encrypt(&self, msg: &[u8]) -> String {
        self.primary().encrypt(msg)
    }

    /// Decrypts raw token bytes with the first key whose signature matches.
    ///
    /// # Errors
    ///
    /// [`FernetError::InvalidToken`] if no key accepts the token.
    pub fn decrypt_raw(&self, token: &[u8]) -> Result<(u64, Vec<u8>), FernetError> {
        self.keys.iter().find_map(|k| k.decrypt_raw(token).ok()).ok_or(FernetError::InvalidToken)
    }
}

/// Keystone's Fernet key repository: a directory of key files named `0` (staged), `1..N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRepository {
    dir: PathBuf,
    max_active_keys: usize,
}

impl KeyRepository {
    /// The repository in `dir`, keeping at most `max_active_keys` keys (Keystone: 3; at
    /// least 2, the staged and the primary key).
    pub fn new(dir: impl Into<PathBuf>, max_active_keys: usize) -> Self {
        KeyRepository { dir: dir.into(), max_active_keys: max_active_keys.max(2) }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn key_indices(&self) -> std::io::Result<Vec<u64>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            if let Some(n) = entry.file_name().to_str().and_then(|s| s.parse::<u64>().ok())
                && entry.file_type()?.is_file()
            {
                out.push(n);
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    fn write_key(&self, index: u64, key: &FernetKey) -> std::io::Result<()> {
        let tmp = self.dir.join(format!(".{index}.tmp"));
        {
            use std::io::Write;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&tmp)?;
            f.write_all(key.to_base64().as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, self.dir.join(index.to_string()))
    }

    /// Creates the directory with a staged key `0` and a primary key `1` unless it already
    /// holds keys (`keystone-manage fernet_setup`). Idempotent.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn setup(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))?;
        }
        if self.key_indices()?.is_empty() {
            self.write_key(0, &FernetKey::generate())?;
            self.rotate()?;
        }
        Ok(())
    }

    /// `keystone-manage fernet_rotate`: the staged key `0` becomes the new primary (highest
    /// index + 1), a new staged key is written, and the lowest secondaries are removed while
    /// more than `max_active_keys` keys remain.
    ///
    /// # Errors
    ///
    /// I/O errors; an empty repository is set up first.
    pub fn rotate(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let indices = self.key_indices()?;
        if !indices.contains(&0) {
            self.write_key(0, &FernetKey::generate())?;
        }
        let next = indices.iter().max().copied().unwrap_or(0) + 1;
        std::fs::rename(self.dir.join("0"), self.dir.join(next.to_string()))?;
        self.write_key(0, &FernetKey::generate())?;
        let mut indices = self.key_indices()?;
        while indices.len() > self.max_active_keys {
            // indices[0] is 0, the staged key; remove the oldest secondary.
            let victim = indices.remove(1);
            std::fs::remove_file(self.dir.join(victim.to_string()))?;
        }
        Ok(())
    }

    /// Loads every key, primary (highest index) first and staged (`0`) last.
    ///
    /// # Errors
    ///
    /// I/O errors, unparsable key files, or an empty repository.
    pub fn load(&self) -> Result<MultiFernet, crate::IdentityError> {
        use crate::IdentityError as E;
        let mut indices = self.key_indices().map_err(|e| E::key_repository(&self.dir, e))?;
        indices.sort_unstable_by(|a, b| b.cmp(a));
        let mut keys = Vec::with_capacity(indices.len());
        for i in indices {
            let path = self.dir.join(i.to_string());
            let text = std::fs::read_to_string(&path).map_err(|e| E::key_repository(&path, e))?;
            keys.push(FernetKey::from_base64(&text).map_err(|_| {
                E::key_repository_msg(format!("{}: not a fernet key", path.display()))
            })?);
        }
        MultiFernet::new(keys)
            .map_err(|_| E::key_repository_msg(format!("{}: no keys", self.dir.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The Fernet spec's generate.json / verify.json vector.
    const SECRET: &str = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
    const TOKEN: &str = "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA==";
    const NOW: u64 = 499_162_800; // 1985-10-26T01:20:00-07:00

    #[test]
    fn spec_generate_vector() {
        let key = FernetKey::from_base64(SECRET).unwrap();
        let iv: [u8; 16] = core::array::from_fn(|i| i as u8);
        let raw = key.encrypt_raw(b"hello", NOW, iv);
        assert_eq!(URL_SAFE.encode(raw), TOKEN);
    }

    #[test]
    fn spec_verify_vector_with_and_without_padding() {
        let key = FernetKey::from_base64(SECRET).unwrap();
        for text in [TOKEN, TOKEN.trim_end_matches('=')] {
            let (ts, msg) = key.decrypt_raw(&decode_token_text(text).unwrap()).unwrap();
            assert_eq!((ts, msg.as_slice()), (NOW, &b"hello"[..]));
        }
    }

    #[test]
    fn spec_invalid_vectors_are_refused() {
        let key = FernetKey::from_base64(SECRET).unwrap();
        let good = decode_token_text(TOKEN).unwrap();
        // Wrong version, flipped HMAC bit, flipped ciphertext bit, truncated, too short.
        let mut cases = Vec::new();
        let mut v = good.clone();
        v[0] = 0x81;
        cases.push(v);
        let mut v = good.clone();
        *v.last_mut().unwrap() ^= 1;
        cases.push(v);
        let mut v = good.clone();
        v[HEADER_LEN] ^= 1;
        cases.push(v);
        cases.push(good[..good.len() - 1].to_vec());
        cases.push(good[..10].to_vec());
        cases.push(Vec::new());
        for c in cases {
            assert_eq!(key.decrypt_raw(&c), Err(FernetError::InvalidToken));
        }
        let other = FernetKey::generate();
        assert_eq!(other.decrypt_raw(&good), Err(FernetError::InvalidToken));
        assert!(decode_token_text("not base64 !").is_err());
    }

    #[test]
    fn repository_setup_rotate_and_load_like_keystone_manage() {
        let dir = tempfile::tempdir().unwrap();
        let repo = KeyRepository::new(dir.path().join("keys"), 3);
        repo.setup().unwrap();
        assert_eq!(repo.key_indices().unwrap(), vec![0, 1]);
        let before = repo.load().unwrap();
        let token = before.encrypt(b"payload");
        repo.setup().unwrap(); // idempotent
        assert_eq!(repo.key_indices().unwrap(), vec![0, 1]);
        repo.rotate().unwrap();
        assert_eq!(repo.key_indices().unwrap(), vec![0, 1, 2]);
        repo.rotate().unwrap();
        assert_eq!(repo.key_indices().unwrap(), vec![0, 2, 3]);
        // The token made with key 1 no longer validates once key 1 is gone...
        let after = repo.load().unwrap();
        assert!(after.decrypt_raw(&decode_token_text(&token).unwrap()).is_err());
        // ...while one made by the new primary validates, and the staged key decrypts too.
        let t2 = after.encrypt(b"x");
        assert_eq!(after.decrypt_raw(&decode_token_text(&t2).unwrap()).unwrap().1, b"x");
        let staged =
            FernetKey::from_base64(&std::fs::read_to_string(dir.path().join("keys/0")).unwrap())
                .unwrap();
        let t3 = staged.encrypt(b"y");
        assert!(after.decrypt_raw(&decode_token_text(&t3).unwrap()).is_ok());
    }
}
