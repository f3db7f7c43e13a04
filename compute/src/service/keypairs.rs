// SPDX-License-Identifier: Apache-2.0
//! Keypairs: per user, imported or generated (RSA 2048 with OpenSSH's `ssh-keygen`, as Nova
//! does; the private key is returned once and never stored).

use super::{ComputeService, CreateKeypair, keypair_key};
use crate::error::ComputeError;
use crate::policy::authorize;
use crate::types::{Keypair, KeypairType, ssh_fingerprint, validate_keypair_name};
use ferrostack_core::RequestContext;
use serde_json::json;
use time::OffsetDateTime;

pub(super) async fn list(
    svc: &ComputeService,
    ctx: &RequestContext,
) -> Result<Vec<Keypair>, ComputeError> {
    authorize(
        &svc.policy,
        "os_compute_api:os-keypairs:index",
        ctx,
        &json!({"user_id": ctx.user_id.as_str()}),
    )?;
    let prefix = format!("{}/", ctx.user_id.as_str());
    Ok(svc
        .deps
        .db
        .keypairs
        .list_all()
        .await?
        .into_iter()
        .filter(|k| k.id.starts_with(&prefix))
        .map(|k| k.value)
        .collect())
}

pub(super) async fn get(
    svc: &ComputeService,
    ctx: &RequestContext,
    name: &str,
) -> Result<Keypair, ComputeError> {
    authorize(
        &svc.policy,
        "os_compute_api:os-keypairs:show",
        ctx,
        &json!({"user_id": ctx.user_id.as_str()}),
    )?;
    if validate_keypair_name(name).is_err() {
        return Err(ComputeError::NotFound {
            what: "Keypair",
            id: ferrostack_core::id::truncate_for_message(name),
        });
    }
    svc.deps
        .db
        .keypairs
        .get(&keypair_key(ctx, name))
        .await?
        .map(|k| k.value)
        .ok_or(ComputeError::NotFound { what: "Keypair", id: name.into() })
}

pub(super) async fn create(
    svc: &ComputeService,
    ctx: &RequestContext,
    req: CreateKeypair,
) -> Result<Keypair, ComputeError> {
    let CreateKeypair { name, public_key, key_type } = req;
    let name = name.as_str();
    authorize(
        &svc.policy,
        "os_compute_api:os-keypairs:create",
        ctx,
        &json!({"user_id": ctx.user_id.as_str()}),
    )?;
    validate_keypair_name(name).map_err(ComputeError::Invalid)?;
    let (public_key, private_key) = match (public_key, key_type) {
        (Some(public_key), _) => (public_key, None),
        (None, KeypairType::Ssh) => {
            let (public_key, private_key) = generate_ssh_keypair(name).await?;
            (public_key, Some(private_key))
        }
        (None, KeypairType::X509) => {
            return Err(ComputeError::NotSupported("generating x509 keypairs".into()));
        }
    };
    let fingerprint = match key_type {
        KeypairType::Ssh => ssh_fingerprint(&public_key).map_err(ComputeError::Invalid)?,
        KeypairType::X509 => return Err(ComputeError::NotSupported("x509 keypairs".into())),
    };
    let db = &svc.deps.db;
    let project = ctx.project_id().cloned();
    if let Some(p) = project {
        let limit = db.limits(&p).await?.key_pairs;
        if limit >= 0 && list(svc, ctx).await?.len() as i64 >= limit {
            return Err(ComputeError::Forbidden("Quota exceeded, too many key pairs.".into()));
        }
    }
    let kp = Keypair {
        name: name.into(),
        user_id: ctx.user_id.clone(),
        public_key: public_key.trim().to_owned(),
        fingerprint,
        key_type,
        created_at: OffsetDateTime::now_utc(),
        private_key: None,
    };
    db.create_unique(&db.keypairs, &keypair_key(ctx, name), &kp, &format!("Key pair '{name}'"))
        .await?;
    Ok(Keypair { private_key, ..kp })
}

pub(super) async fn delete(
    svc: &ComputeService,
    ctx: &RequestContext,
    name: &str,
) -> Result<(), ComputeError> {
    authorize(
        &svc.policy,
        "os_compute_api:os-keypairs:delete",
        ctx,
        &json!({"user_id": ctx.user_id.as_str()}),
    )?;
    if validate_keypair_name(name).is_err()
        || !svc.deps.db.keypairs.delete(&keypair_key(ctx, name)).await?
    {
        return Err(ComputeError::NotFound {
            what: "Keypair",
            id: ferrostack_core::id::truncate_for_message(name),
        });
    }
    Ok(())
}

/// Generates an RSA 2048 key pair as Nova does, with OpenSSH's `ssh-keygen` in a private
/// temporary directory (removed afterwards, also on failure). Returns `(public, private)`.
async fn generate_ssh_keypair(comment: &str) -> Result<(String, String), ComputeError> {
    let comment = comment.to_owned();
    tokio::task::spawn_blocking(move || {
        let dir = std::env::temp_dir().join(format!("ferrostack-keygen-{}", uuid::Uuid::new_v4()));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir).map_err(ComputeError::io("creating the key directory"))?;
        let key = dir.join("key");
        let result = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "rsa", "-b", "2048", "-N", "", "-C"])
            .arg(&comment)
            .arg("-f")
            .arg(&key)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(ComputeError::io("running ssh-keygen"))
            .and_then(|out| {
                if !out.status.success() {
                    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
                    return Err(ComputeError::Io {
                        what: "ssh-keygen",
                        source: std::io::Error::other(format!("{}: {stderr}", out.status)),
                    });
                }
                let read = ComputeError::io("reading the generated key");
                let private = std::fs::read_to_string(&key).map_err(read)?;
                let public = std::fs::read_to_string(key.with_extension("pub"))
                    .map_err(ComputeError::io("reading the generated key"))?;
                Ok((public.trim().to_owned(), private))
            });
        let _ = std::fs::remove_dir_all(&dir);
        result
    })
    .await
    .map_err(ComputeError::Task)?
}
