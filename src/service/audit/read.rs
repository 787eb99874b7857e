//! The access log as auditors read it: filters, pages with a cursor, the CSV export. Reading
//! the log is itself logged.

use chrono::{NaiveDateTime, SecondsFormat};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::super::{Ctx, ServiceError, ServiceResult};
use super::{log, Entry};
use crate::domain::{Caller, FieldError, Role};
use crate::store::audit::{self as store_audit, AccessRow, Filter};

/// Who reads the log (`access::READ_AUDIT`).
const AUDITORS: &[Role] = super::super::access::READ_AUDIT.roles;

/// An entry as auditors read it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EntryView {
    pub id: String,
    /// RFC 3339, UTC.
    pub at: String,
    pub key_id: String,
    pub org_code: String,
    pub role: String,
    /// Such as `profile.read`, `check.run`, `records.submit`, `key.revoke`.
    pub action: String,
    /// `uscc:…`, `reg:…`, or `pid:` and the keyed hash of an ID number.
    pub subject_key: Option<String>,
    pub records: Vec<String>,
    pub purpose: Option<String>,
    pub reference: Option<String>,
    pub outcome: String,
    #[schema(value_type = Option<Object>)]
    pub detail: Option<Value>,
    /// Place in the chain; null until sealed (within a second or so).
    pub seq: Option<i64>,
    pub chain_hash: Option<String>,
}

fn view(r: AccessRow) -> EntryView {
    EntryView {
        at: r.at.and_utc().to_rfc3339_opts(SecondsFormat::Micros, true),
        records: serde_json::from_str(&r.records).unwrap_or_default(),
        detail: r
            .detail
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok()),
        id: r.id,
        key_id: r.key_id,
        org_code: r.org_code,
        role: r.role,
        action: r.action,
        subject_key: r.subject_key,
        purpose: r.purpose,
        reference: r.reference,
        outcome: r.outcome,
        seq: r.seq,
        chain_hash: r.chain_hash,
    }
}

/// The auditor's filters (`GET /api/v1/audit/entries`).
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EntryQuery {
    /// From this time (RFC 3339), inclusive.
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<String>,
    /// Before this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<String>,
    pub org: Option<String>,
    pub key: Option<String>,
    pub action: Option<String>,
    /// A unified social credit code.
    pub uscc: Option<String>,
    /// 1 to 500, default 50 (`format=csv`: up to 100,000).
    #[param(minimum = 1, maximum = 100_000)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    /// `json` (default) or `csv`.
    #[param(inline, value_type = Option<AuditFormat>)]
    pub format: Option<String>,
}

/// How the entries come: a JSON page, or CSV. The document's enum of the values `list` reads
/// from `format`.
#[allow(dead_code)]
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuditFormat {
    Json,
    Csv,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EntryPage {
    pub entries: Vec<EntryView>,
    pub next_cursor: Option<String>,
}

fn parse_time(
    field: &str,
    v: &Option<String>,
    errors: &mut Vec<FieldError>,
) -> Option<NaiveDateTime> {
    v.as_deref()
        .and_then(|s| match chrono::DateTime::parse_from_rfc3339(s.trim()) {
            Ok(t) => Some(t.naive_utc()),
            Err(_) => {
                errors.push(FieldError::new(
                    field,
                    "invalid_time",
                    format!("'{s}' is not an RFC 3339 time such as 2026-11-24T08:30:00Z"),
                ));
                None
            }
        })
}

/// Entries for an auditor; reading the log is itself logged.
pub async fn list(ctx: &Ctx, caller: &Caller, q: EntryQuery) -> ServiceResult<(EntryPage, bool)> {
    caller
        .require(AUDITORS, "read the access log")
        .map_err(ServiceError::Forbidden)?;
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ServiceError::Invalid(vec![FieldError::new(
                "format",
                "invalid_value",
                format!("format '{other}' is json or csv"),
            )]))
        }
    };
    let mut errors = Vec::new();
    let max = if csv { 100_000 } else { 500 };
    let limit = q.limit.unwrap_or(if csv { max } else { 50 });
    if !(1..=max).contains(&limit) {
        errors.push(FieldError::new(
            "limit",
            "out_of_range",
            format!("limit is 1 to {max}"),
        ));
    }
    let subject_key = match q.uscc.as_deref() {
        None => None,
        Some(u) => match crate::domain::Uscc::parse(u) {
            Ok(u) => Some(ctx.subject_key(&crate::domain::SubjectKey::Uscc(u))),
            Err(e) => {
                errors.push(FieldError::new("uscc", e.code(), e.to_string()));
                None
            }
        },
    };
    let filter = Filter {
        from: parse_time("from", &q.from, &mut errors),
        to: parse_time("to", &q.to, &mut errors),
        org_code: q.org.clone(),
        key_id: q.key.clone(),
        action: q.action.clone(),
        subject_key,
        after: match q.cursor.as_deref() {
            None => None,
            Some(c) => match parse_cursor(c) {
                Some(v) => Some(v),
                None => {
                    return Err(ServiceError::Invalid(vec![FieldError::new(
                        "cursor",
                        "invalid_cursor",
                        "use the next_cursor of the previous page",
                    )]))
                }
            },
        },
    };
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    let f = filter.clone();
    let rows = ctx
        .db
        .run(move |conn| store_audit::list(conn, &f, limit + 1))
        .await?;
    let more = rows.len() as i64 > limit;
    let mut entries: Vec<EntryView> = rows.into_iter().take(limit as usize).map(view).collect();
    let next_cursor = if more {
        entries.last().and_then(|e| {
            chrono::DateTime::parse_from_rfc3339(&e.at)
                .ok()
                .map(|t| format!("{}.{}", t.timestamp_micros(), e.id))
        })
    } else {
        None
    };
    log(
        ctx,
        caller,
        Entry {
            action: "audit.read",
            outcome: "ok",
            detail: Some(json!({
                "entries": entries.len(),
                "format": if csv { "csv" } else { "json" },
                "filter": {"from": q.from, "to": q.to, "org": q.org, "key": q.key, "action": q.action, "uscc": q.uscc, "cursor": q.cursor},
            })),
            ..Entry::default()
        },
    )
    .await?;
    entries.shrink_to_fit();
    Ok((
        EntryPage {
            entries,
            next_cursor,
        },
        csv,
    ))
}

/// `micros.id`, as `next_cursor` writes it.
fn parse_cursor(c: &str) -> Option<(NaiveDateTime, String)> {
    let (micros, id) = c.split_once('.')?;
    let t = chrono::DateTime::from_timestamp_micros(micros.parse().ok()?)?;
    Some((t.naive_utc(), id.to_string()))
}

/// One CSV cell. A value a spreadsheet would take for a formula (starting with `=`, `+`, `-`,
/// `@`, a tab or a carriage return: purposes and references are the callers' own text) is
/// exported as text, with a leading `'` (OWASP, "CSV Injection").
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r', '\t', '\'']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// The page as CSV (UTF-8 with a byte-order mark, for spreadsheet programs).
pub fn to_csv(page: &EntryPage) -> String {
    let mut out = String::from("\u{feff}id,at,key_id,org_code,role,action,subject_key,records,purpose,reference,outcome,seq,chain_hash\n");
    for e in &page.entries {
        let cells = [
            e.id.clone(),
            e.at.clone(),
            e.key_id.clone(),
            e.org_code.clone(),
            e.role.clone(),
            e.action.clone(),
            e.subject_key.clone().unwrap_or_default(),
            e.records.join(" "),
            e.purpose.clone().unwrap_or_default(),
            e.reference.clone().unwrap_or_default(),
            e.outcome.clone(),
            e.seq.map(|s| s.to_string()).unwrap_or_default(),
            e.chain_hash.clone().unwrap_or_default(),
        ];
        let line: Vec<String> = cells.iter().map(|c| csv_field(c)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}
