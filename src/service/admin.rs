//! Administration of organisations and API keys (roles of DESIGN.md). Keys are stored only as
//! hashes; the secret is shown once, at creation or rotation. A revocation signals every
//! instance (`signals`): refused at once here, and on the others within their listener's poll.

use diesel::Connection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::audit::Actor;
use super::keys::{create_key_blocking, generate_key, insert_key, validate_org_code};
use super::signals::Topic;
use super::{access, Ctx, ServiceError, ServiceResult};
use crate::domain::{Caller, FieldError, Role};
use crate::store::{self, keys, orgs, StoreError};
use serde_json::json;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrgView {
    pub code: String,
    pub name: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgInput {
    /// 1 to 64 letters, digits, `-`, `_` or `.`; a provider's source code.
    #[schema(schema_with = super::schema::org_code, required = true)]
    pub code: Option<String>,
    #[schema(schema_with = super::schema::org_name, required = true)]
    pub name: Option<String>,
}

/// A key as listed: never its secret or hash.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeyView {
    pub id: String,
    pub org_code: String,
    #[schema(value_type = String, example = "officer")]
    pub role: Role,
    pub label: Option<String>,
    pub created_at: String,
    /// Null while the key is active.
    pub revoked_at: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyInput {
    #[schema(schema_with = super::schema::org_code, required = true)]
    pub org_code: Option<String>,
    #[schema(schema_with = super::schema::role, required = true)]
    pub role: Option<String>,
    #[schema(schema_with = super::schema::label)]
    pub label: Option<String>,
}

/// A new key: `key` is shown this once and not stored.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NewKeyView {
    pub id: String,
    #[schema(example = "cg_3q2-7wEXAMPLEo0V8n2b1T5yXkq9mJd4Rr6sUe8hZc")]
    pub key: String,
    pub org_code: String,
    #[schema(value_type = String, example = "officer")]
    pub role: Role,
    pub label: Option<String>,
    /// For a rotation: the key this one replaces (now revoked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
}

use super::rfc3339 as ts;

fn key_view(k: keys::KeyRow) -> KeyView {
    KeyView {
        id: k.id,
        org_code: k.org_code,
        role: k.role,
        label: k.label,
        created_at: ts(k.created_at),
        revoked_at: k.revoked_at.map(ts),
    }
}

fn invalid(field: &str, code: &str, msg: impl Into<String>) -> ServiceError {
    ServiceError::Invalid(vec![FieldError::new(field, code, msg)])
}

pub async fn list_orgs(ctx: &Ctx, caller: &Caller) -> ServiceResult<Vec<OrgView>> {
    access::LIST_ORGS.require(caller)?;
    let rows = ctx.db.run(orgs::list).await?;
    Ok(rows
        .into_iter()
        .map(|o| OrgView {
            code: o.code,
            name: o.name,
            created_at: ts(o.created_at),
        })
        .collect())
}

/// Creates an organisation; an existing code keeps its name (200 rather than 201).
pub async fn create_org(
    ctx: &Ctx,
    caller: &Caller,
    input: OrgInput,
) -> ServiceResult<(bool, OrgView)> {
    access::CREATE_ORG.require(caller)?;
    let code = input
        .code
        .as_deref()
        .map(str::trim)
        .unwrap_or("")
        .to_string();
    validate_org_code(&code).map_err(|m| invalid("code", "invalid_value", m))?;
    let name = input
        .name
        .as_deref()
        .map(crate::domain::trim_blank)
        .unwrap_or("")
        .to_string();
    let sent = input.name.as_deref().map_or(0, |n| n.chars().count());
    if name.is_empty() || sent > 200 {
        return Err(invalid(
            "name",
            "required",
            "give the organisation's name (at most 200 characters)",
        ));
    }
    let c = code.clone();
    let actor = Actor::new(ctx, caller);
    let (created, row) = ctx
        .db
        .run_write(move |conn| {
            conn.transaction::<_, StoreError, _>(|conn| {
                let created = orgs::ensure(conn, &c, &name, actor.at)?;
                let row = orgs::find(conn, &c)?
                    .ok_or_else(|| StoreError::Corrupt(format!("organisation {c} vanished")))?;
                if created {
                    super::audit::log_change(
                        conn,
                        &actor,
                        "org.create",
                        json!({"org_code": c, "name": name}),
                    )?;
                }
                Ok((created, row))
            })
        })
        .await?;
    Ok((
        created,
        OrgView {
            code: row.code,
            name: row.name,
            created_at: ts(row.created_at),
        },
    ))
}

pub async fn list_keys(
    ctx: &Ctx,
    caller: &Caller,
    org: Option<String>,
) -> ServiceResult<Vec<KeyView>> {
    access::LIST_KEYS.require(caller)?;
    let rows = ctx
        .db
        .run(move |conn| keys::list(conn, org.as_deref()))
        .await?;
    Ok(rows.into_iter().map(key_view).collect())
}

pub async fn create_key(ctx: &Ctx, caller: &Caller, input: KeyInput) -> ServiceResult<NewKeyView> {
    access::CREATE_KEY.require(caller)?;
    let org = input
        .org_code
        .as_deref()
        .map(str::trim)
        .unwrap_or("")
        .to_string();
    let mut errors = Vec::new();
    if let Err(m) = validate_org_code(&org) {
        errors.push(FieldError::new("org_code", "invalid_value", m));
    }
    let role = match input.role.as_deref().map(str::trim).and_then(Role::parse) {
        Some(r) => Some(r),
        None => {
            errors.push(FieldError::new(
                "role",
                "invalid_value",
                format!("role is one of {}", Role::allowed()),
            ));
            None
        }
    };
    let label = input
        .label
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty());
    if label.as_ref().is_some_and(|l| l.chars().count() > 200) {
        errors.push(FieldError::new(
            "label",
            "invalid_length",
            "at most 200 characters",
        ));
    }
    let Some(role) = role.filter(|_| errors.is_empty()) else {
        return Err(ServiceError::Invalid(errors));
    };
    let l = label.clone();
    let actor = Actor::new(ctx, caller);
    let created = ctx
        .db
        .run_write(move |conn| {
            conn.transaction::<_, StoreError, _>(|conn| {
                let k = create_key_blocking(conn, &org, None, role, l.as_deref(), actor.at)
                    .map_err(StoreError::Corrupt)?;
                super::audit::log_change(
                    conn,
                    &actor,
                    "key.create",
                    json!({"key_id": k.id, "org_code": k.org_code, "role": k.role.as_str()}),
                )?;
                Ok(k)
            })
        })
        .await?;
    tracing::info!(key_id = %created.id, org = %created.org_code, role = %created.role, "key created");
    Ok(NewKeyView {
        id: created.id,
        key: created.key,
        org_code: created.org_code,
        role: created.role,
        label,
        replaces: None,
    })
}

/// Revokes a key; revoking a revoked key changes nothing. Refused for the caller's own key, so
/// an administrator cannot lock everyone out by mistake.
pub async fn revoke_key(ctx: &Ctx, caller: &Caller, id: &str) -> ServiceResult<KeyView> {
    access::REVOKE_KEY.require(caller)?;
    if id == caller.key_id {
        return Err(invalid(
            "id",
            "own_key",
            "an administrator cannot revoke the key in use; use another admin key",
        ));
    }
    let id2 = id.to_string();
    let actor = Actor::new(ctx, caller);
    let done = ctx
        .db
        .run_write(move |conn| revoke_tx(conn, &actor, &id2))
        .await?;
    match done {
        Revoked::Missing => Err(ServiceError::NotFound(format!("key {id}"))),
        Revoked::LastAdmin => Err(invalid("id", "last_admin_key", LAST_ADMIN)),
        Revoked::Done(row, _) => {
            ctx.memos.heard(Topic::Keys, &row.id);
            tracing::info!(key_id = %row.id, "key revoked");
            Ok(key_view(row))
        }
    }
}

const LAST_ADMIN: &str =
    "this is the last admin key in force: create another admin key before revoking it";

/// What a revocation found.
pub enum Revoked {
    Missing,
    /// Refused: nobody could administer the service after it.
    LastAdmin,
    /// The key as it is now, and whether this call revoked it (false: it already was).
    Done(keys::KeyRow, bool),
}

/// Revokes a key and logs it, in one transaction (the API and `creditgate keys revoke`); the
/// last admin key in force is never revoked.
fn revoke_tx(conn: &mut store::DbConn, a: &Actor, id: &str) -> Result<Revoked, StoreError> {
    conn.transaction::<_, StoreError, _>(|conn| {
        let Some(row) = keys::find(conn, id)? else {
            return Ok(Revoked::Missing);
        };
        if row.role == Role::Admin
            && row.revoked_at.is_none()
            && keys::count_active_admins(conn)? <= 1
        {
            return Ok(Revoked::LastAdmin);
        }
        let revoked = keys::revoke(conn, id, a.at)?;
        if revoked {
            let detail = json!({"key_id": id});
            super::audit::log_signalled(conn, a, "key.revoke", detail, (Topic::Keys, id))?;
        }
        let row = keys::find(conn, id)?
            .ok_or_else(|| StoreError::Corrupt(format!("key {id} vanished")))?;
        Ok(Revoked::Done(row, revoked))
    })
}

/// What a rotation found.
pub enum Rotation {
    Missing,
    AlreadyRevoked,
    /// The old key (now revoked), the new key's id and its secret.
    Done(keys::KeyRow, String, String),
}

/// Replaces a key by a new one of the same organisation, role and label, in one transaction:
/// the old key stops working as the new one starts (the API and `creditgate keys rotate`).
pub fn rotate_blocking(
    conn: &mut store::DbConn,
    a: &Actor,
    id: &str,
) -> Result<Rotation, StoreError> {
    let secret = generate_key();
    conn.transaction::<_, StoreError, _>(|conn| {
        let Some(old) = keys::find(conn, id)? else {
            return Ok(Rotation::Missing);
        };
        if old.revoked_at.is_some() {
            return Ok(Rotation::AlreadyRevoked);
        }
        keys::revoke(conn, &old.id, a.at)?;
        let new_id = insert_key(
            conn,
            &old.org_code,
            None,
            old.role,
            &secret,
            old.label.as_deref(),
            a.at,
        )?;
        super::audit::log_signalled(
            conn,
            a,
            "key.rotate",
            json!({"key_id": old.id, "new_key_id": new_id}),
            (Topic::Keys, &old.id),
        )?;
        Ok(Rotation::Done(old, new_id, secret))
    })
}

pub async fn rotate_key(ctx: &Ctx, caller: &Caller, id: &str) -> ServiceResult<NewKeyView> {
    access::ROTATE_KEY.require(caller)?;
    let id2 = id.to_string();
    let actor = Actor::new(ctx, caller);
    match ctx
        .db
        .run_write(move |conn| rotate_blocking(conn, &actor, &id2))
        .await?
    {
        Rotation::Missing => Err(ServiceError::NotFound(format!("key {id}"))),
        Rotation::AlreadyRevoked => Err(invalid(
            "id",
            "revoked",
            "the key is revoked; create a new key instead",
        )),
        Rotation::Done(old, new_id, secret) => {
            ctx.memos.heard(Topic::Keys, &old.id);
            tracing::info!(old = %old.id, new = %new_id, "key rotated");
            Ok(NewKeyView {
                id: new_id,
                key: secret,
                org_code: old.org_code,
                role: old.role,
                label: old.label,
                replaces: Some(old.id),
            })
        }
    }
}

/// The CLI's `keys revoke`: by id, as the operator (`a`, the command line's own caller).
pub fn revoke_blocking(conn: &mut store::DbConn, a: &Actor, id: &str) -> Result<bool, String> {
    match revoke_tx(conn, a, id).map_err(|e| e.to_string())? {
        Revoked::Missing => Err(format!(
            "no key {id}; `creditgate keys list` shows the keys"
        )),
        Revoked::LastAdmin => Err(LAST_ADMIN.into()),
        Revoked::Done(_, revoked) => Ok(revoked),
    }
}

/// The caller that command-line administration is logged as.
pub fn operator() -> Caller {
    Caller {
        key_id: "cli".into(),
        org_code: "OPERATOR".into(),
        role: Role::Admin,
    }
}
