//! Watch lists (自动比对): a system or partner names the subjects it holds (contractors under
//! running contracts, borrowers), the scenarios it cares about and the HTTPS target it is told
//! at; it gets the signing secret once. This module makes, reads, changes and deletes lists and
//! their subjects. The events and their delivery (the outbox, signed after the Standard
//! Webhooks convention, `domain::webhook`) build on it.
//!
//! A list belongs to its organisation: others get 404 for it (admins see every list). A
//! partner's list covers only scenarios its agreements in force cover.

pub mod deliveries;
pub mod events;
pub mod worker;

use diesel::Connection;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::audit::{self, Actor};
use super::{access, agreements, Ctx, ServiceError, ServiceResult};
use crate::domain::{webhook, Caller, FieldError, Role, SubjectKey, Uscc};
use crate::store::watchlists::{self as store, WatchlistRow};

/// Subjects one list may hold.
pub const MAX_SUBJECTS: usize = 100_000;
/// Field errors listed for one request of codes (the rest are counted).
const MAX_ERRORS: usize = 20;

/// `POST /api/v1/watchlists`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WatchlistInput {
    /// 1 to 100 characters.
    #[schema(example = "在建项目承包商", required = true)]
    pub name: Option<String>,
    /// Where events are POSTed: `https://`, on a host of `CREDITGATE_WEBHOOK_ALLOW`.
    #[schema(
        example = "https://hooks.zfcg.example.gov.cn/creditgate",
        required = true
    )]
    pub webhook_url: Option<String>,
    /// The scenarios whose verdict changes are told (1 or more; a partner's within its
    /// agreements).
    #[schema(example = json!(["procurement"]), required = true)]
    pub scenarios: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct WatchlistView {
    #[schema(example = "wl_01JD4S0M8Q3Z6Y2B5X7C9V1N0K")]
    pub id: String,
    pub name: String,
    pub webhook_url: String,
    pub scenarios: Vec<String>,
    pub org_code: String,
    /// How many subjects are on it.
    pub subjects: i64,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// A new list, with its signing secret: shown this once, never again.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedWatchlist {
    #[serde(flatten)]
    pub list: WatchlistView,
    /// `whsec_` and base64 of 32 bytes: the key of every delivery's `webhook-signature`.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo=")]
    pub secret: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WatchlistList {
    pub items: Vec<WatchlistView>,
}

/// `PUT|POST|DELETE /api/v1/watchlists/{id}/subjects`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubjectsInput {
    /// Unified social credit codes, 1 to 100,000 (each checked by its check character).
    #[schema(example = json!(["91110000MA00000152"]), required = true)]
    pub uscc: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SubjectsChange {
    /// Subjects on the list now.
    pub subjects: i64,
    pub added: usize,
    pub removed: usize,
}

/// The codes of a change of subjects, as sent: a JSON array, or the `uscc` column of an
/// uploaded CSV or XLSX file (a header row naming it; errors then name the file's line).
pub enum Codes {
    Json(SubjectsInput),
    File(crate::import::Sheet),
}

impl Codes {
    /// The codes, and the name of the `i`-th in errors; or what is wrong with the file.
    fn values(self) -> Result<(Vec<String>, Vec<String>), Vec<FieldError>> {
        match self {
            Codes::Json(input) => {
                let codes = input.uscc.unwrap_or_default();
                let names = (0..codes.len()).map(|i| format!("uscc[{i}]")).collect();
                Ok((codes, names))
            }
            Codes::File(sheet) => {
                let Some(col) = sheet.header.iter().position(|h| h == "USCC") else {
                    let found = crate::domain::id_number::masked(&sheet.header.join(", "));
                    return Err(vec![invalid(
                        "file",
                        "no_uscc_column",
                        format!(
                            "the first row names the columns, one of them `uscc`; found: {found}"
                        ),
                    )]);
                };
                let mut errors: Vec<FieldError> = sheet
                    .refused
                    .iter()
                    .take(MAX_ERRORS)
                    .map(|(n, why)| invalid(&format!("line[{n}]"), "bad_row", why.clone()))
                    .collect();
                let mut codes = Vec::with_capacity(sheet.rows.len());
                let mut names = Vec::with_capacity(sheet.rows.len());
                for (row, n) in sheet.rows.iter().zip(&sheet.numbers) {
                    let code = row.get(col).map(|c| c.trim()).unwrap_or_default();
                    if code.is_empty() {
                        if errors.len() < MAX_ERRORS {
                            errors.push(invalid(
                                &format!("line[{n}]"),
                                "required",
                                "no code in the uscc column",
                            ));
                        }
                        continue;
                    }
                    codes.push(code.to_string());
                    names.push(format!("line[{n}]"));
                }
                if errors.is_empty() {
                    Ok((codes, names))
                } else {
                    Err(errors)
                }
            }
        }
    }
}

/// What a change of subjects does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectsOp {
    /// `PUT`: the list becomes exactly these.
    Replace,
    /// `POST`: these are added.
    Add,
    /// `DELETE`: these are removed.
    Remove,
}

fn invalid(field: &str, code: &str, message: impl Into<String>) -> FieldError {
    FieldError::new(field, code, message)
}

fn view(row: &WatchlistRow, subjects: i64) -> WatchlistView {
    WatchlistView {
        id: row.id.clone(),
        name: row.name.clone(),
        webhook_url: row.webhook_url.clone(),
        scenarios: serde_json::from_str(&row.scenarios).unwrap_or_default(),
        org_code: row.org_code.clone(),
        subjects,
        created_at: super::rfc3339(row.created_at),
    }
}

/// The checked fields of a new list.
struct Checked {
    name: String,
    url: String,
    scenarios: Vec<String>,
}

fn check_input(ctx: &Ctx, input: &WatchlistInput) -> Result<Checked, Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = input.name.as_deref().map(str::trim).unwrap_or("");
    if !(1..=100).contains(&name.chars().count()) {
        errors.push(invalid(
            "name",
            if name.is_empty() {
                "required"
            } else {
                "invalid_length"
            },
            "name the list in 1 to 100 characters",
        ));
    }
    let url = input.webhook_url.as_deref().map(str::trim).unwrap_or("");
    if url.is_empty() {
        errors.push(invalid(
            "webhook_url",
            "required",
            "give the https:// address events are sent to",
        ));
    } else if url.len() > 2000 {
        errors.push(invalid(
            "webhook_url",
            "invalid_length",
            "the address is at most 2000 characters",
        ));
    } else if let Err(why) = ctx.webhook_allow.admits(url) {
        errors.push(invalid("webhook_url", "webhook_not_allowed", why));
    }
    let rules = ctx.rules();
    let mut scenarios: Vec<String> = Vec::new();
    match &input.scenarios {
        None => errors.push(invalid(
            "scenarios",
            "required",
            "give one or more scenarios",
        )),
        Some(list) if list.is_empty() => errors.push(invalid(
            "scenarios",
            "required",
            "give one or more scenarios",
        )),
        Some(list) => {
            for (i, s) in list.iter().enumerate() {
                if !rules.scenarios.contains_key(s) {
                    let known: Vec<&str> = rules.scenarios.keys().map(String::as_str).collect();
                    errors.push(invalid(
                        &format!("scenarios[{i}]"),
                        "unknown_scenario",
                        format!("unknown scenario; one of {}", known.join(", ")),
                    ));
                } else if !scenarios.contains(s) {
                    scenarios.push(s.clone());
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(Checked {
            name: name.to_string(),
            url: url.to_string(),
            scenarios,
        })
    } else {
        Err(errors)
    }
}

/// `POST /api/v1/watchlists`.
#[tracing::instrument(skip_all, fields(role = %caller.role))]
pub async fn create(
    ctx: &Ctx,
    caller: &Caller,
    input: WatchlistInput,
) -> ServiceResult<CreatedWatchlist> {
    access::CREATE_WATCHLIST.require(caller)?;
    let c = check_input(ctx, &input).map_err(ServiceError::Invalid)?;
    if caller.role == Role::Partner {
        let covered = agreements::covered_scenarios(ctx, &caller.org_code).await?;
        if let Some(s) = c.scenarios.iter().find(|s| !covered.contains(s)) {
            return Err(ServiceError::Forbidden(format!(
                "no agreement of {} in force covers '{s}'; a partner watches only within its agreements",
                caller.org_code
            )));
        }
    }
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let secret = webhook::secret_text(&bytes);
    let actor = Actor::new(ctx, caller);
    let row = WatchlistRow {
        id: format!("wl_{}", ulid::Ulid::new()),
        org_code: caller.org_code.clone(),
        created_by: caller.key_id.clone(),
        owner_role: caller.role.as_str().to_string(),
        name: c.name,
        webhook_url: c.url,
        scenarios: serde_json::to_string(&c.scenarios).unwrap_or_else(|_| "[]".into()),
        secret: ctx.keys.encrypt(&secret),
        created_at: actor.at,
        deleted_at: None,
    };
    let stored = row.clone();
    ctx.db
        .run_write(move |conn| {
            conn.transaction(|conn| {
                crate::store::orgs::ensure(conn, &stored.org_code, &stored.org_code, stored.created_at)?;
                store::insert(conn, &stored)?;
                // Its first sweep compares tomorrow with today.
                let today = crate::domain::calendar::shanghai_day(stored.created_at.and_utc());
                crate::store::webhook_events::set_sweep(conn, &stored.id, Some(today), None, None)?;
                let detail = json!({"id": stored.id, "name": stored.name, "webhook_url": stored.webhook_url, "scenarios": c.scenarios});
                audit::log_change(conn, &actor, access::CREATE_WATCHLIST.action, detail)
            })
        })
        .await?;
    Ok(CreatedWatchlist {
        list: view(&row, 0),
        secret,
    })
}

/// The list, when the caller's organisation owns it (admins: any); else 404.
pub(super) async fn owned(ctx: &Ctx, caller: &Caller, id: &str) -> ServiceResult<WatchlistRow> {
    let wanted = id.to_string();
    let row = ctx.db.run(move |c| store::find(c, &wanted)).await?;
    match row {
        Some(r) if caller.role == Role::Admin || r.org_code == caller.org_code => Ok(r),
        _ => Err(ServiceError::NotFound(format!("watch list {id}"))),
    }
}

/// `GET /api/v1/watchlists`: the organisation's lists (admins: all).
pub async fn list(ctx: &Ctx, caller: &Caller) -> ServiceResult<WatchlistList> {
    access::READ_WATCHLISTS.require(caller)?;
    let org = (caller.role != Role::Admin).then(|| caller.org_code.clone());
    let items = ctx
        .db
        .run(move |c| {
            let rows = store::list(c, org.as_deref())?;
            rows.iter()
                .map(|r| Ok(view(r, store::count_subjects(c, &r.id)?)))
                .collect::<Result<Vec<_>, crate::store::StoreError>>()
        })
        .await?;
    Ok(WatchlistList { items })
}

/// `GET /api/v1/watchlists/{id}`.
pub async fn get(ctx: &Ctx, caller: &Caller, id: &str) -> ServiceResult<WatchlistView> {
    access::READ_WATCHLISTS.require(caller)?;
    let row = owned(ctx, caller, id).await?;
    let wanted = row.id.clone();
    let n = ctx
        .db
        .run(move |c| store::count_subjects(c, &wanted))
        .await?;
    Ok(view(&row, n))
}

/// `DELETE /api/v1/watchlists/{id}`: no more events; its subjects are forgotten.
pub async fn delete(ctx: &Ctx, caller: &Caller, id: &str) -> ServiceResult<()> {
    access::CHANGE_WATCHLIST.require(caller)?;
    let row = owned(ctx, caller, id).await?;
    let actor = Actor::new(ctx, caller);
    let gone = ctx
        .db
        .run_write(move |conn| {
            conn.transaction(|conn| {
                let done = store::delete(conn, &row.id, actor.at)?;
                if done {
                    crate::store::webhook_events::fail_pending(
                        conn,
                        &row.id,
                        "the watch list was deleted",
                        actor.at,
                    )?;
                    let detail = json!({"id": row.id, "deleted": true});
                    audit::log_change(conn, &actor, access::CHANGE_WATCHLIST.action, detail)?;
                }
                Ok(done)
            })
        })
        .await?;
    if gone {
        Ok(())
    } else {
        Err(ServiceError::NotFound(format!("watch list {id}")))
    }
}

/// The storage keys of the codes given, or the errors of those that are not codes.
fn subject_keys(ctx: &Ctx, codes: Codes) -> Result<Vec<String>, Vec<FieldError>> {
    let (codes, names) = codes.values()?;
    if codes.is_empty() {
        return Err(vec![invalid(
            "uscc",
            "required",
            "give 1 to 100,000 unified social credit codes",
        )]);
    }
    if codes.len() > MAX_SUBJECTS {
        return Err(vec![invalid(
            "uscc",
            "too_many",
            format!(
                "at most {MAX_SUBJECTS} codes per list; {} given",
                codes.len()
            ),
        )]);
    }
    let mut keys = Vec::with_capacity(codes.len());
    let mut errors = Vec::new();
    let mut bad = 0;
    for (i, code) in codes.iter().enumerate() {
        match Uscc::parse(code.trim()) {
            Ok(u) => keys.push(ctx.subject_key(&SubjectKey::Uscc(u))),
            Err(e) => {
                bad += 1;
                if errors.len() < MAX_ERRORS {
                    errors.push(invalid(&names[i], e.code(), e.to_string()));
                }
            }
        }
    }
    if bad > MAX_ERRORS {
        errors.push(invalid(
            "uscc",
            "invalid_codes",
            format!("{bad} codes are not valid; the first {MAX_ERRORS} are listed"),
        ));
    }
    if errors.is_empty() {
        keys.sort_unstable();
        keys.dedup();
        Ok(keys)
    } else {
        Err(errors)
    }
}

/// `PUT|POST|DELETE /api/v1/watchlists/{id}/subjects`: replaces, adds or removes subjects, in
/// one transaction; past [`MAX_SUBJECTS`] nothing changes.
#[tracing::instrument(skip_all, fields(role = %caller.role))]
pub async fn change_subjects(
    ctx: &Ctx,
    caller: &Caller,
    id: &str,
    op: SubjectsOp,
    input: Codes,
) -> ServiceResult<SubjectsChange> {
    access::CHANGE_WATCHLIST.require(caller)?;
    let row = owned(ctx, caller, id).await?;
    let keys = subject_keys(ctx, input).map_err(ServiceError::Invalid)?;
    let actor = Actor::new(ctx, caller);
    let outcome = ctx
        .db
        .run_write(move |conn| {
            conn.transaction(|conn| {
                let (added, removed) = match op {
                    SubjectsOp::Add => (store::add_subjects(conn, &row.id, &keys, actor.at)?, 0),
                    SubjectsOp::Remove => (0, store::remove_subjects(conn, &row.id, &keys)?),
                    SubjectsOp::Replace => {
                        // Told as the difference: the codes that stay count neither way.
                        let kept = store::count_present(conn, &row.id, &keys)?;
                        let before = store::clear_subjects(conn, &row.id)?;
                        store::add_subjects(conn, &row.id, &keys, actor.at)?;
                        (keys.len() - kept, before - kept)
                    }
                };
                let subjects = store::count_subjects(conn, &row.id)?;
                if subjects as usize > MAX_SUBJECTS {
                    // Undone by the caller's error below: the transaction rolls back.
                    return Err(crate::store::StoreError::Corrupt(format!(
                        "over:{subjects}"
                    )));
                }
                let detail =
                    json!({"id": row.id, "added": added, "removed": removed, "subjects": subjects});
                audit::log_change(conn, &actor, access::CHANGE_WATCHLIST.action, detail)?;
                Ok(SubjectsChange {
                    subjects,
                    added,
                    removed,
                })
            })
        })
        .await;
    match outcome {
        Ok(c) => Ok(c),
        Err(crate::store::StoreError::Corrupt(m)) if m.starts_with("over:") => {
            Err(ServiceError::Invalid(vec![invalid(
                "uscc",
                "too_many",
                format!(
                    "a list holds at most {MAX_SUBJECTS} subjects; this change would make {}",
                    &m[5..]
                ),
            )]))
        }
        Err(e) => Err(e.into()),
    }
}
