//! API keys: 32 random bytes shown once, stored only as a SHA-256 hash (DESIGN.md "Security").

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::{Ctx, ServiceResult};
use crate::domain::{Caller, Role};
use crate::store::{keys, orgs, DbConn, StoreResult};
use chrono::NaiveDateTime;

/// Keys start with this prefix so that a leaked key is recognisable in a scan.
pub const KEY_PREFIX: &str = "cg_";

pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

pub fn generate_key() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!(
        "{KEY_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// A created key: the secret is in `key` and is not stored.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub id: String,
    pub key: String,
    pub org_code: String,
    pub role: Role,
}

pub fn validate_org_code(code: &str) -> Result<(), String> {
    let ok = !code.is_empty()
        && code.len() <= 64
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "organisation code '{code}' must be 1 to 64 letters, digits, '-', '_' or '.'"
        ))
    }
}

/// Inserts a key with a known secret (used for `CREDITGATE_ADMIN_KEY` and by `create`).
pub fn insert_key(
    conn: &mut DbConn,
    org_code: &str,
    org_name: Option<&str>,
    role: Role,
    key: &str,
    label: Option<&str>,
    at: NaiveDateTime,
) -> StoreResult<String> {
    orgs::ensure(conn, org_code, org_name.unwrap_or(org_code), at)?;
    let id = format!("key_{}", ulid::Ulid::new());
    keys::insert(
        conn,
        &keys::KeyRow {
            id: id.clone(),
            org_code: org_code.to_string(),
            role,
            key_hash: hash_key(key),
            label: label.map(str::to_string),
            created_at: at,
            revoked_at: None,
        },
    )?;
    Ok(id)
}

/// Creates the organisation if needed and a new key for it (synchronous: CLI and demo).
pub fn create_key_blocking(
    conn: &mut DbConn,
    org_code: &str,
    org_name: Option<&str>,
    role: Role,
    label: Option<&str>,
    at: NaiveDateTime,
) -> Result<CreatedKey, String> {
    validate_org_code(org_code)?;
    let key = generate_key();
    let id =
        insert_key(conn, org_code, org_name, role, &key, label, at).map_err(|e| e.to_string())?;
    Ok(CreatedKey {
        id,
        key,
        org_code: org_code.to_string(),
        role,
    })
}

/// Makes sure the configured admin key exists (idempotent across restarts and instances).
/// Keys are stored as unsalted SHA-256, which suits random keys only: a configured admin key
/// must be 32 characters or more with at least 10 different ones (what `openssl rand -hex 32`
/// or `creditgate keys create` make), so that a human-chosen password is refused at start.
/// Not 16: a hex key has 16 different characters at most, and one from `openssl rand -hex 32`
/// lacks at least one of them about one time in four.
fn check_configured_key(key: &str) -> Result<(), String> {
    let distinct: std::collections::BTreeSet<char> = key.chars().collect();
    if key.chars().count() < 32 || distinct.len() < 10 {
        return Err("CREDITGATE_ADMIN_KEY must be a random key of 32 characters or more (with at least 10 different characters), such as the output of `openssl rand -hex 32`; it is stored as an unsalted hash, which suits random keys only".into());
    }
    Ok(())
}

pub fn ensure_admin_key(conn: &mut DbConn, key: &str, at: NaiveDateTime) -> Result<(), String> {
    check_configured_key(key)?;
    if keys::find_active_by_hash(conn, &hash_key(key))
        .map_err(|e| e.to_string())?
        .is_some()
    {
        return Ok(());
    }
    match insert_key(
        conn,
        "ADMIN",
        Some("creditgate administration"),
        Role::Admin,
        key,
        Some("CREDITGATE_ADMIN_KEY"),
        at,
    ) {
        Ok(_) => Ok(()),
        // Another instance inserted it at the same moment.
        Err(e) if e.is_unique_violation() => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

/// The caller that a bearer key stands for, by the key's hash ([`hash_key`]); `None` for an
/// unknown or revoked key. Known keys are held in process (`signals`): a revocation anywhere
/// reaches this instance within the listener's poll. Unknown keys are not remembered.
pub async fn authenticate(ctx: &Ctx, hash: String) -> ServiceResult<Option<Caller>> {
    let m = &ctx.memos;
    m.get_or_load(
        &m.callers,
        &hash,
        |c| c.key_id.clone(),
        || async {
            let lookup = hash.clone();
            let row = ctx
                .db
                .run(move |conn| keys::find_active_by_hash(conn, &lookup))
                .await?;
            let Some(r) = row else { return Ok(None) };
            Ok(Some(Caller {
                key_id: r.id,
                org_code: r.org_code,
                role: r.role,
            }))
        },
    )
    .await
}

/// Refuses `source` unless it is a providing organisation here: one that holds a provider key
/// in force (`creditgate keys create --org CODE --role provider`). Records filed under a made-up
/// source would be copies of one decision under several names (一数一源).
pub async fn require_provider(ctx: &Ctx, source: &str) -> ServiceResult<()> {
    let providers = ctx
        .db
        .run(|conn| keys::orgs_with_role(conn, Role::Provider))
        .await?;
    if providers.iter().any(|p| p == source) {
        return Ok(());
    }
    Err(super::ServiceError::Invalid(vec![
        crate::domain::FieldError::new(
            "source",
            "unknown_provider",
            format!(
                "'{source}' is not a providing organisation here; the providers are: {}. A \
             department that provides records gets a provider key first \
             (creditgate keys create --org CODE --role provider)",
                if providers.is_empty() {
                    "none yet".to_string()
                } else {
                    providers.join(", ")
                }
            ),
        ),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_admin_keys_must_be_random_looking() {
        for weak in [
            "short-but-random-9f8e7d",
            "adminadminadminadminadminadmin12",
            "00000000000000000000000000000000000000",
        ] {
            let e = check_configured_key(weak).unwrap_err();
            assert!(e.contains("openssl rand -hex 32"), "{e}");
        }
        assert!(check_configured_key(&generate_key()).is_ok());
        // What README tells operators to run: `openssl rand -hex 32`, 64 hex characters. A
        // quarter of them lack some hex digit; every one must be accepted.
        use rand::{RngCore, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(19);
        for _ in 0..2000 {
            let mut bytes = [0u8; 32];
            rng.fill_bytes(&mut bytes);
            let key = hex::encode(bytes);
            assert!(check_configured_key(&key).is_ok(), "{key} refused");
        }
        assert!(check_configured_key(
            "5f1c0e9a7b3d2c4e6a8b0d1f3e5c7a9b1d3f5e7c9a0b2d4f6e8a1c3e5b7d9f0a"
        )
        .is_ok());
    }
}
