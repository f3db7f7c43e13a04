// SPDX-License-Identifier: Apache-2.0
//! Password hashing in Keystone's stored formats, so users can be migrated in both directions.
//!
//! | algorithm | format | notes |
//! |---|---|---|
//! | `bcrypt` (default) | `$2b$12$<salt22><digest31>` | input cut at 72 bytes, as passlib does |
//! | `bcrypt_sha256` | `$bcrypt-sha256$v=2,t=2b,r=12$<salt22>$<digest31>` | passlib's v2: bcrypt over base64(HMAC-SHA256(key = salt, password)); v1 (`$bcrypt-sha256$2b,12$...`, plain SHA-256) verifies too |
//! | `pbkdf2_sha512` | `$pbkdf2-sha512$<rounds>$<salt>$<checksum>` | passlib's "adapted base64" (`.` for `+`, no padding), 64-byte checksum |
//! | `scrypt` | `$scrypt$ln=16,r=8,p=1$<salt>$<checksum>` | passlib's format, 32-byte checksum |
//!
//! The checker is picked by the hash's prefix, as Keystone's `_get_hasher_from_ident` does, so a
//! deployment can change its algorithm and keep verifying old hashes. Passwords longer than
//! [`MAX_PASSWORD_LENGTH`] bytes are refused.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};

/// Keystone's `[identity] max_password_length` default.
pub const MAX_PASSWORD_LENGTH: usize = 4096;
/// bcrypt reads at most this many bytes of a password.
pub const BCRYPT_MAX_LENGTH: usize = 72;

/// Keystone's `[identity] password_hash_algorithm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PasswordHashAlgorithm {
    /// bcrypt, cost from [`HashParams::bcrypt_cost`] (Keystone's default).
    #[default]
    Bcrypt,
    /// passlib's `bcrypt_sha256` (version 2).
    BcryptSha256,
    /// passlib's `pbkdf2_sha512`.
    Pbkdf2Sha512,
    /// passlib's `scrypt`.
    Scrypt,
}

/// Cost parameters for new hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HashParams {
    /// The algorithm of new hashes.
    pub algorithm: PasswordHashAlgorithm,
    /// bcrypt's log2 cost (Keystone: 12; 4 is the minimum bcrypt accepts).
    pub bcrypt_cost: u32,
    /// PBKDF2 rounds (passlib's default 29000 for sha512; Keystone's help text suggests 60000).
    pub pbkdf2_rounds: u32,
    /// scrypt's log2(N) (Keystone: 16).
    pub scrypt_log_n: u8,
}

impl Default for HashParams {
    fn default() -> Self {
        HashParams {
            algorithm: PasswordHashAlgorithm::Bcrypt,
            bcrypt_cost: 12,
            pbkdf2_rounds: 29000,
            scrypt_log_n: 16,
        }
    }
}

/// Why a password could not be hashed or checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// The password exceeds [`MAX_PASSWORD_LENGTH`].
    #[error("password is longer than {MAX_PASSWORD_LENGTH} bytes")]
    TooLong,
    /// The stored hash is in no known format, or is malformed.
    #[error("unrecognised password hash format")]
    UnknownFormat,
    /// The parameters are out of range.
    #[error("invalid hashing parameters: {0}")]
    InvalidParams(&'static str),
}

/// Passlib's "adapted base64": standard alphabet with `.` for `+`, no padding.
fn ab64_encode(data: &[u8]) -> String {
    STANDARD_NO_PAD.encode(data).replace('+', ".")
}

fn ab64_decode(s: &str) -> Option<Vec<u8>> {
    let std = s.replace('.', "+");
    STANDARD_NO_PAD.decode(std.trim_end_matches('=')).ok()
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::Rng::fill(&mut rand::rng(), &mut b[..]);
    b
}

/// Hashes `password` with `params`.
///
/// # Errors
///
/// [`PasswordError::TooLong`] beyond [`MAX_PASSWORD_LENGTH`]; `InvalidParams` for costs the
/// algorithm refuses.
pub fn hash_password(password: &str, params: &HashParams) -> Result<String, PasswordError> {
    let pw = password.as_bytes();
    if pw.len() > MAX_PASSWORD_LENGTH {
        return Err(PasswordError::TooLong);
    }
    match params.algorithm {
        PasswordHashAlgorithm::Bcrypt => {
            let cut = &pw[..pw.len().min(BCRYPT_MAX_LENGTH)];
            bcrypt::hash_with_salt(cut, params.bcrypt_cost, random_bytes::<16>())
                .map(|h| h.format_for_version(bcrypt::Version::TwoB))
                .map_err(|_| PasswordError::InvalidParams("bcrypt cost must be 4..=31"))
        }
        PasswordHashAlgorithm::BcryptSha256 => {
            let parts = bcrypt::hash_with_salt(b"", params.bcrypt_cost, random_bytes::<16>())
                .map_err(|_| PasswordError::InvalidParams("bcrypt cost must be 4..=31"))?;
            let salt = parts.get_salt();
            let digest = bcrypt_sha256_digest(pw, &salt, params.bcrypt_cost, 2)?;
            Ok(format!("$bcrypt-sha256$v=2,t=2b,r={}${}${}", params.bcrypt_cost, salt, digest))
        }
        PasswordHashAlgorithm::Pbkdf2Sha512 => {
            if params.pbkdf2_rounds == 0 {
                return Err(PasswordError::InvalidParams("pbkdf2 rounds must be positive"));
            }
            let salt = random_bytes::<16>();
            let mut out = [0u8; 64];
            pbkdf2::pbkdf2_hmac::<Sha512>(pw, &salt, params.pbkdf2_rounds, &mut out);
            Ok(format!(
                "$pbkdf2-sha512${}${}${}",
                params.pbkdf2_rounds,
                ab64_encode(&salt),
                ab64_encode(&out)
            ))
        }
        PasswordHashAlgorithm::Scrypt => {
            let salt = random_bytes::<16>();
            let out = scrypt_key(pw, &salt, params.scrypt_log_n, 8, 1)?;
            Ok(format!(
                "$scrypt$ln={},r=8,p=1${}${}",
                params.scrypt_log_n,
                ab64_encode(&salt),
                ab64_encode(&out)
            ))
        }
    }
}

fn scrypt_key(
    pw: &[u8],
    salt: &[u8],
    log_n: u8,
    r: u32,
    p: u32,
) -> Result<[u8; 32], PasswordError> {
    // Bound the work an attacker-supplied hash can demand (memory is 128 * r * N bytes).
    if log_n > 20 || r > 32 || p > 16 {
        return Err(PasswordError::InvalidParams("scrypt parameters too large"));
    }
    let params = scrypt::Params::new(log_n, r, p)
        .map_err(|_| PasswordError::InvalidParams("invalid scrypt parameters"))?;
    let mut out = [0u8; 32];
    scrypt::scrypt(pw, salt, &params, &mut out)
        .map_err(|_| PasswordError::InvalidParams("invalid scrypt output length"))?;
    Ok(out)
}

/// The 31-character checksum of passlib's bcrypt_sha256.
fn bcrypt_sha256_digest(
    pw: &[u8],
    salt: &str,
    cost: u32,
    version: u8,
) -> Result<String, PasswordError> {
    let key = if version == 1 {
        STANDARD.encode(Sha256::digest(pw))
    } else {
        let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(salt.as_bytes())
            .map_err(|_| PasswordError::UnknownFormat)?;
        mac.update(pw);
        STANDARD.encode(mac.finalize().into_bytes())
    };
    let salt_bytes = bcrypt_salt_bytes(salt)?;
    let h = bcrypt::hash_with_salt(key.as_bytes(), cost, salt_bytes)
        .map_err(|_| PasswordError::UnknownFormat)?
        .format_for_version(bcrypt::Version::TwoB);
    Ok(h.get(29..).unwrap_or_default().to_owned())
}

/// Decodes bcrypt's 22-character salt (its own base64 alphabet) through the bcrypt crate.
fn bcrypt_salt_bytes(salt: &str) -> Result<[u8; 16], PasswordError> {
    if salt.len() != 22 {
        return Err(PasswordError::UnknownFormat);
    }
    // A syntactically complete hash with a dummy digest lets the crate parse the salt.
    let fake = format!("$2b$04${salt}{}", ".".repeat(31));
    let parts: bcrypt::HashParts = fake.parse().map_err(|_| PasswordError::UnknownFormat)?;
    Ok(parts.get_salt_raw())
}

/// Whether `password` matches `hash` (any supported format). Unknown or malformed hashes are
/// an error, a wrong password is `Ok(false)`.
///
/// # Errors
///
/// [`PasswordError::TooLong`], [`PasswordError::UnknownFormat`].
pub fn verify_password(password: &str, hash: &str) -> Result<bool, PasswordError> {
    let pw = password.as_bytes();
    if pw.len() > MAX_PASSWORD_LENGTH {
        return Err(PasswordError::TooLong);
    }
    if hash.starts_with("$2b$") || hash.starts_with("$2a$") || hash.starts_with("$2y$") {
        let cut = &pw[..pw.len().min(BCRYPT_MAX_LENGTH)];
        return bcrypt::verify(cut, hash).map_err(|_| PasswordError::UnknownFormat);
    }
    if let Some(rest) = hash.strip_prefix("$bcrypt-sha256$") {
        let mut it = rest.split('$');
        let (Some(cfg), Some(salt), Some(digest), None) =
            (it.next(), it.next(), it.next(), it.next())
        else {
            return Err(PasswordError::UnknownFormat);
        };
        let (version, cost) = if cfg.starts_with("v=") {
            // v=2,t=2b,r=12
            let (mut version, mut cost) = (None, None);
            for kv in cfg.split(',') {
                match kv.split_once('=') {
                    Some(("v", v)) => version = v.parse::<u8>().ok(),
                    Some(("r", v)) => cost = v.parse::<u32>().ok(),
                    Some(("t", "2b" | "2a" | "2y")) => {}
                    _ => return Err(PasswordError::UnknownFormat),
                }
            }
            (
                version.ok_or(PasswordError::UnknownFormat)?,
                cost.ok_or(PasswordError::UnknownFormat)?,
            )
        } else {
            // v1: 2b,12
            let cost = cfg.split(',').nth(1).and_then(|c| c.parse().ok());
            (1, cost.ok_or(PasswordError::UnknownFormat)?)
        };
        if !(1..=2).contains(&version) || !(4..=31).contains(&cost) {
            return Err(PasswordError::UnknownFormat);
        }
        let computed = bcrypt_sha256_digest(pw, salt, cost, version)?;
        return Ok(ct_eq(computed.as_bytes(), digest.as_bytes()));
    }
    if let Some(rest) = hash.strip_prefix("$pbkdf2-sha512$") {
        let mut it = rest.split('$');
        let (Some(rounds), Some(salt), Some(sum), None) =
            (it.next(), it.next(), it.next(), it.next())
        else {
            return Err(PasswordError::UnknownFormat);
        };
        let rounds: u32 = rounds.parse().map_err(|_| PasswordError::UnknownFormat)?;
        if rounds == 0 || rounds > 10_000_000 {
            return Err(PasswordError::UnknownFormat);
        }
        let salt = ab64_decode(salt).ok_or(PasswordError::UnknownFormat)?;
        let expected = ab64_decode(sum).ok_or(PasswordError::UnknownFormat)?;
        if expected.len() != 64 {
            return Err(PasswordError::UnknownFormat);
        }
        let mut out = [0u8; 64];
        pbkdf2::pbkdf2_hmac::<Sha512>(pw, &salt, rounds, &mut out);
        return Ok(ct_eq(&out, &expected));
    }
    if let Some(rest) = hash.strip_prefix("$scrypt$") {
        let mut it = rest.split('$');
        let (Some(cfg), Some(salt), Some(sum), None) = (it.next(), it.next(), it.next(), it.next())
        else {
            return Err(PasswordError::UnknownFormat);
        };
        let (mut ln, mut r, mut p) = (None, None, None);
        for kv in cfg.split(',') {
            match kv.split_once('=') {
                Some(("ln", v)) => ln = v.parse::<u8>().ok(),
                Some(("r", v)) => r = v.parse::<u32>().ok(),
                Some(("p", v)) => p = v.parse::<u32>().ok(),
                _ => return Err(PasswordError::UnknownFormat),
            }
        }
        let (Some(ln), Some(r), Some(p)) = (ln, r, p) else {
            return Err(PasswordError::UnknownFormat);
        };
        let salt = ab64_decode(salt).ok_or(PasswordError::UnknownFormat)?;
        let expected = ab64_decode(sum).ok_or(PasswordError::UnknownFormat)?;
        let out = scrypt_key(pw, &salt, ln, r, p).map_err(|_| PasswordError::UnknownFormat)?;
        return Ok(ct_eq(&out, &expected));
    }
    Err(PasswordError::UnknownFormat)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast(algorithm: PasswordHashAlgorithm) -> HashParams {
        HashParams { algorithm, bcrypt_cost: 4, pbkdf2_rounds: 1000, scrypt_log_n: 4 }
    }

    #[test]
    fn every_algorithm_round_trips_and_rejects_wrong_passwords() {
        for alg in [
            PasswordHashAlgorithm::Bcrypt,
            PasswordHashAlgorithm::BcryptSha256,
            PasswordHashAlgorithm::Pbkdf2Sha512,
            PasswordHashAlgorithm::Scrypt,
        ] {
            let h = hash_password("s3cret", &fast(alg)).unwrap();
            assert!(verify_password("s3cret", &h).unwrap(), "{alg:?} {h}");
            assert!(!verify_password("s3cret!", &h).unwrap(), "{alg:?}");
            assert!(!verify_password("", &h).unwrap(), "{alg:?}");
        }
    }

    #[test]
    fn formats_have_keystone_prefixes() {
        let h = hash_password("x", &fast(PasswordHashAlgorithm::Bcrypt)).unwrap();
        assert!(h.starts_with("$2b$04$") && h.len() == 60, "{h}");
        let h = hash_password("x", &fast(PasswordHashAlgorithm::BcryptSha256)).unwrap();
        assert!(h.starts_with("$bcrypt-sha256$v=2,t=2b,r=4$"), "{h}");
        let h = hash_password("x", &fast(PasswordHashAlgorithm::Pbkdf2Sha512)).unwrap();
        assert!(h.starts_with("$pbkdf2-sha512$1000$"), "{h}");
        let h = hash_password("x", &fast(PasswordHashAlgorithm::Scrypt)).unwrap();
        assert!(h.starts_with("$scrypt$ln=4,r=8,p=1$"), "{h}");
    }

    #[test]
    fn bcrypt_cuts_at_72_bytes_like_passlib() {
        let long = "a".repeat(80);
        let h = hash_password(&long, &fast(PasswordHashAlgorithm::Bcrypt)).unwrap();
        assert!(verify_password(&"a".repeat(72), &h).unwrap());
        assert!(!verify_password(&"a".repeat(71), &h).unwrap());
    }

    #[test]
    fn keystone_fixtures_verify() {
        // Made by Keystone 30.0.0's own hashers (keystone.common.password_hashers), which
        // produce passlib's formats:
        //   Bcrypt.hash(b"password", rounds=4), Bcrypt_sha256.hash(b"password", rounds=4),
        //   Sha512.hash(b"password", rounds=1000), Scrypt.hash(b"password", n=4)
        for hash in FIXTURES {
            assert_eq!(verify_password("password", hash), Ok(true), "{hash}");
            assert_eq!(verify_password("Password", hash), Ok(false), "{hash}");
        }
        // passlib's own adapted base64 ('.' for '+') decodes too.
        let pbkdf2 = FIXTURES[2].replace('+', ".");
        assert_eq!(verify_password("password", &pbkdf2), Ok(true));
    }

    const FIXTURES: &[&str] = &[
        "$2b$04$gKc89.qpIrLaKtprN7oZOOGiUM/qRa7GLTsiFKnV0HBaWnmHBDGE2",
        "$bcrypt-sha256$v=2,t=2b,r=4$USRIejYHzlIoZcvZSPLlAO$qUk/XP/5CKGnvRkak2BtU2bUJceaLg.",
        "$pbkdf2-sha512$1000$5PKmHZx0Nm8cNK+ilOn34g$QWOEIJLrxF9Q9tvH4n1KCZCIjb2nNR29bh10tk6+nGT0WM7xoI2G83k+lZYFdzn6usp0iempwhgqoL5WXBD6Dg",
        "$scrypt$ln=4,r=8,p=1$RWHM1Wdn111QIsd6t7y1sQ$xKL3Tfakkziuy7++K0pQSfZTb6BkjrcJqESNnHhCVx4",
    ];

    #[test]
    fn junk_hashes_and_huge_passwords_are_errors() {
        for junk in
            ["", "$", "$2b$", "$pbkdf2-sha512$x$y$z", "$scrypt$ln=99,r=8,p=1$AA$AA", "plain"]
        {
            assert!(verify_password("x", junk).is_err(), "{junk}");
        }
        let huge = "x".repeat(MAX_PASSWORD_LENGTH + 1);
        assert_eq!(verify_password(&huge, "$2b$04$abc"), Err(PasswordError::TooLong));
    }
}
