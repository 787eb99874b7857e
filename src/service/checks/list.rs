//! The reports an organisation has made, newest first, narrowed by subject code, reference or
//! dates (the console's "recent reports"). Admins and auditors see every organisation's.

use super::*;
use crate::domain::{IdNumber, SubjectKey, Uscc};
use crate::store::checks::ReportFilter;

/// At most this many reports a list shows.
pub const LIST_LIMIT: i64 = 100;

/// What a list asks for, as typed.
#[derive(Debug, Clone, Default)]
pub struct ReportQuery {
    /// A USCC or an ID number.
    pub code: Option<String>,
    pub reference: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReportSummary {
    pub report_no: String,
    pub checked_at: String,
    pub scenario: String,
    pub verdict: String,
    pub reference: Option<String>,
    pub subject_name: Option<String>,
    /// The code, or a person's ID number masked.
    pub subject_code: Option<String>,
    pub org_code: String,
}

pub async fn recent_reports(
    ctx: &Ctx,
    caller: &Caller,
    q: ReportQuery,
) -> ServiceResult<Vec<ReportSummary>> {
    access::READ_REPORT.require(caller)?;
    let mut errors = Vec::new();
    let subject_key = match q.code.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => match (Uscc::parse(c), IdNumber::parse(c)) {
            (Ok(u), _) => Some(ctx.subject_key(&SubjectKey::Uscc(u))),
            (_, Ok(p)) => Some(ctx.subject_key(&SubjectKey::Person(p))),
            (Err(e), Err(_)) => {
                errors.push(invalid("code", e.code(), format!("{e}")));
                None
            }
        },
    };
    if let (Some(f), Some(t)) = (q.from, q.to) {
        if f > t {
            errors.push(invalid(
                "to",
                "invalid_range",
                "the last day is before the first day",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    let filter = ReportFilter {
        org: (!REPORT_READERS.contains(&caller.role)).then(|| caller.org_code.clone()),
        subject_key: subject_key.clone(),
        reference_prefix: q
            .reference
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty()),
        from: q.from.map(crate::domain::calendar::shanghai_midnight_utc),
        before: q.to.map(|t| {
            crate::domain::calendar::shanghai_midnight_utc(t) + chrono::TimeDelta::days(1)
        }),
    };
    let logged = json!({
        "reference": filter.reference_prefix,
        "from": q.from,
        "to": q.to,
    });
    let rows = ctx
        .db
        .run(move |c| store_checks::list_reports(c, &filter, LIST_LIMIT))
        .await?;
    let entry = audit::Entry {
        action: "check.list",
        subject_key,
        outcome: "ok",
        records: rows.iter().map(|r| r.report_no.clone()).collect(),
        detail: Some(logged),
        ..Default::default()
    };
    audit::log(ctx, caller, entry).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let body: Value = serde_json::from_str(&r.report).unwrap_or(Value::Null);
            let s = &body["subject"];
            let code = s["uscc"]
                .as_str()
                .or_else(|| s["reg_no"].as_str())
                .map(str::to_string)
                .or_else(|| {
                    s["id_number"]
                        .as_str()
                        .map(crate::domain::id_number::masked)
                });
            ReportSummary {
                report_no: r.report_no,
                checked_at: crate::service::rfc3339(r.checked_at),
                scenario: r.scenario,
                verdict: r.verdict,
                reference: r.reference,
                subject_name: s["name"].as_str().map(str::to_string),
                subject_code: code,
                org_code: r.requester_org,
            }
        })
        .collect())
}
