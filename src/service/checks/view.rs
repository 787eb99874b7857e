//! Reading what is stored: the active rules, a stored report, its verification, the feedback on
//! it, and re-evaluating it from its stored facts.

use super::*;

/// The active rule set, for `GET /api/v1/rules` (any authenticated caller).
pub fn rules_view(set: &RuleSet) -> RulesView {
    RulesView {
        version: set.version.clone(),
        title: set.title.clone(),
        digest: set.digest.clone(),
        scenarios: set
            .scenarios
            .values()
            .map(|s| ScenarioView {
                name: s.name.clone(),
                title: s.title.clone(),
                measures: s
                    .measures
                    .iter()
                    .map(|m| MeasureView {
                        id: m.id.clone(),
                        title: m.title.clone(),
                        measure: m.measure.as_str().into(),
                        applies_to: m.applies_to.iter().map(|a| a.as_str().into()).collect(),
                        basis: basis_views(&m.basis),
                        implemented_by: m.implemented_by.clone(),
                        note: m.note.clone(),
                    })
                    .collect(),
            })
            .collect(),
        lists: set
            .catalog
            .lists()
            .map(|l| ListView {
                code: l.code.clone(),
                name: l.name.clone(),
                issued_by: l.issued_by.clone(),
                polarity: match l.polarity {
                    crate::rules::Polarity::Negative => "negative".into(),
                    crate::rules::Polarity::Red => "red".into(),
                },
            })
            .collect(),
    }
}

pub(super) fn basis_views(b: &[crate::rules::Basis]) -> Vec<BasisView> {
    b.iter()
        .map(|b| BasisView {
            text: b.text.clone(),
            confidence: match b.confidence {
                crate::rules::Confidence::Verified => "verified",
                crate::rules::Confidence::Secondary => "secondary",
                crate::rules::Confidence::Uncertain => "uncertain",
            }
            .into(),
        })
        .collect()
}

/// Keeps the files of a rule set in the database, so reports can name and re-use them; `at` is
/// when it was first loaded (kept from the first time).
pub fn keep_rule_set(
    conn: &mut crate::store::DbConn,
    set: &RuleSet,
    at: chrono::NaiveDateTime,
) -> Result<(), StoreError> {
    let sources = serde_json::to_string(&set.sources)
        .map_err(|e| StoreError::Corrupt(format!("rule set sources: {e}")))?;
    store_checks::keep_rule_set(
        conn,
        &RuleSetRow {
            digest: set.digest.clone(),
            version: set.version.clone(),
            sources,
            first_loaded_at: at,
        },
    )
}

pub(super) fn may_read(caller: &Caller, row: &ReportRow) -> bool {
    REPORT_READERS.contains(&caller.role) || caller.org_code == row.requester_org
}

pub(super) async fn load_report(ctx: &Ctx, report_no: &str) -> ServiceResult<ReportRow> {
    let no = report_no.to_string();
    ctx.db
        .run(move |conn| store_checks::find_report(conn, &no))
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("report {report_no}")))
}

pub(super) fn report_from_row(row: &ReportRow) -> ServiceResult<Report> {
    let mut body: Value = serde_json::from_str(&row.report)
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("report {}: {e}", row.report_no)))?;
    if let Some(o) = body.as_object_mut() {
        o.insert("digest".into(), json!(row.digest));
    }
    serde_json::from_value(body)
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("report {}: {e}", row.report_no)))
}

/// `GET /api/v1/checks/{report_no}`: the requesting organisation, admins and auditors.
pub async fn get_report(ctx: &Ctx, caller: &Caller, report_no: &str) -> ServiceResult<Report> {
    let entry = |outcome: &'static str| audit::Entry {
        action: "check.read",
        outcome,
        detail: Some(json!({"report_no": report_no})),
        ..Default::default()
    };
    let row = match load_report(ctx, report_no).await {
        Ok(r) => r,
        Err(e) => {
            audit::log(ctx, caller, entry("not_found")).await?;
            return Err(e);
        }
    };
    if !may_read(caller, &row) {
        // Reports of other organisations are answered as absent.
        audit::log(ctx, caller, entry("denied")).await?;
        return Err(ServiceError::NotFound(format!("report {report_no}")));
    }
    let mut e = entry("ok");
    e.subject_key = Some(row.subject_key.clone());
    audit::log(ctx, caller, e).await?;
    let mut report = report_from_row(&row)?;
    report.later_changes = Some(super::later::changes(ctx, caller, &row, &report).await?);
    Ok(report)
}

/// `GET /api/v1/checks/{report_no}/verify?digest=`: whether a printed copy's digest is the
/// report's and the stored report still matches it. Any key may verify, since a printed copy
/// travels; only a caller holding the right digest learns the verdict and the time, and an
/// unknown number answers as a wrong digest does (`valid: false`), so numbers cannot be probed.
pub async fn verify(
    ctx: &Ctx,
    caller: &Caller,
    report_no: &str,
    digest: Option<&str>,
) -> ServiceResult<Verification> {
    let given = digest.map(str::trim).unwrap_or("");
    if given.is_empty() {
        return Err(ServiceError::Invalid(vec![invalid(
            "digest",
            "required",
            "give the digest printed on the report, such as sha256:…",
        )]));
    }
    let well_formed = given
        .strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    if !well_formed {
        // Not a digest any report could have: said so, not answered as a mismatch.
        return Err(ServiceError::Invalid(vec![invalid(
            "digest",
            "invalid_digest",
            "a digest is sha256: and 64 hexadecimal digits, as printed on the report",
        )]));
    }
    let row = matching_report(ctx, report_no, given).await?;
    let entry = audit::Entry {
        action: "check.verify",
        subject_key: row.as_ref().map(|r| r.subject_key.clone()),
        outcome: if row.is_some() { "ok" } else { "mismatch" },
        detail: Some(json!({ "report_no": report_no })),
        ..Default::default()
    };
    audit::log(ctx, caller, entry).await?;
    let invalid = Verification {
        valid: false,
        report_no: crate::domain::id_number::mask_id_numbers(report_no).into_owned(),
        verdict: None,
        checked_at: None,
    };
    let Some(row) = row else {
        return Ok(invalid);
    };
    Ok(Verification {
        valid: true,
        report_no: row.report_no,
        verdict: Some(row.verdict),
        checked_at: Some(crate::service::rfc3339(row.checked_at)),
    })
}

/// The stored report with this number and digest whose content still matches the digest;
/// `None` for a wrong digest, an unknown number, or a stored report that was altered.
async fn matching_report(
    ctx: &Ctx,
    report_no: &str,
    given: &str,
) -> ServiceResult<Option<store_checks::ReportRow>> {
    let row = match load_report(ctx, report_no).await {
        Ok(row) if same_digest(given, &row.digest) => row,
        Ok(_) | Err(ServiceError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let body: Value = serde_json::from_str(&row.report)
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("report {}: {e}", row.report_no)))?;
    if digest_of(&body) != row.digest {
        tracing::error!(report_no = %row.report_no, "stored report does not match its digest");
        return Ok(None);
    }
    Ok(Some(row))
}

/// Digests compared in time independent of where they differ (hex case ignored).
fn same_digest(given: &str, stored: &str) -> bool {
    given.len() == stored.len()
        && given.bytes().zip(stored.bytes()).fold(0u8, |acc, (a, b)| {
            acc | (a.to_ascii_lowercase() ^ b.to_ascii_lowercase())
        }) == 0
}

/// What the public verify page (`GET /verify/{report_no}?d=`) tells anyone holding a printed
/// report: that it exists with this digest, when, by whom, for which scenario, with which
/// verdict. Nothing about the subject or its records.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct PublicVerification {
    pub valid: bool,
    pub report_no: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<String>,
    /// The issuing organisation's name (its code when it has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
}

/// The public verification of a printed report; the caller limits its rate per address. A
/// digest that is not well formed is simply not valid here (no field errors for the public).
pub async fn verify_public(
    ctx: &Ctx,
    report_no: &str,
    digest: &str,
) -> ServiceResult<PublicVerification> {
    let given = digest.trim();
    let row = if given.len() <= 80 && report_no.len() <= 64 {
        matching_report(ctx, report_no, given).await?
    } else {
        None
    };
    let Some(row) = row else {
        return Ok(PublicVerification {
            valid: false,
            report_no: crate::domain::id_number::mask_id_numbers(report_no).into_owned(),
            issued_at: None,
            issuer: None,
            scenario: None,
            verdict: None,
        });
    };
    let issuer = issuer_name(ctx, &row.requester_org).await?;
    Ok(PublicVerification {
        valid: true,
        report_no: row.report_no,
        issued_at: Some(crate::service::rfc3339(row.checked_at)),
        issuer: Some(issuer),
        scenario: Some(row.scenario),
        verdict: Some(row.verdict),
    })
}

/// An organisation's name, or its code when it has none.
pub async fn issuer_name(ctx: &Ctx, org_code: &str) -> ServiceResult<String> {
    let code = org_code.to_string();
    let found = ctx
        .db
        .run(move |c| crate::store::orgs::find(c, &code))
        .await?;
    Ok(found.map_or_else(|| org_code.to_string(), |o| o.name))
}

/// `POST /api/v1/checks/{report_no}/feedback`.
pub async fn feedback(
    ctx: &Ctx,
    caller: &Caller,
    report_no: &str,
    input: FeedbackInput,
) -> ServiceResult<FeedbackView> {
    caller
        .require(FEEDBACK_ROLES, "report feedback on checks")
        .map_err(ServiceError::Forbidden)?;
    let mut errors = Vec::new();
    let action = input.action.as_deref().map(str::trim).unwrap_or("");
    if !crate::service::schema::FEEDBACK_ACTIONS.contains(&action) {
        errors.push(invalid(
            "action",
            if action.is_empty() {
                "required"
            } else {
                "invalid_value"
            },
            "action is one of restricted, not_restricted, other",
        ));
    }
    let note = input
        .note
        .map(|n| crate::domain::id_number::masked(n.trim()))
        .filter(|n| !n.is_empty());
    if note.as_ref().is_some_and(|n| n.chars().count() > 1000) {
        errors.push(invalid(
            "note",
            "invalid_length",
            "the note is at most 1000 characters",
        ));
    }
    if action == "other" && note.is_none() {
        errors.push(invalid(
            "note",
            "required",
            "say what was done when the action is other",
        ));
    }
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    // Feedback comes from the organisation that asked (the implementing department) or an
    // admin; another organisation's report is answered as absent, so numbers cannot be probed.
    let report = load_report(ctx, report_no).await?;
    if !(caller.role == Role::Admin || caller.org_code == report.requester_org) {
        let entry = audit::Entry {
            action: access::REPORT_FEEDBACK.action,
            outcome: "denied",
            detail: Some(
                json!({"report_no": report_no, "reason": "another organisation's report"}),
            ),
            ..Default::default()
        };
        audit::log(ctx, caller, entry).await?;
        return Err(ServiceError::NotFound(format!("report {report_no}")));
    }
    let actor = audit::Actor::new(ctx, caller);
    let row = FeedbackRow {
        id: format!("fb_{}", ulid::Ulid::new()),
        report_no: report_no.to_string(),
        org_code: caller.org_code.clone(),
        action: action.to_string(),
        note,
        created_at: actor.at,
    };
    let saved = row.clone();
    ctx.db
        .run_write(move |conn| {
            diesel::Connection::transaction::<_, StoreError, _>(conn, |conn| {
                store_checks::insert_feedback(conn, &saved)?;
                audit::append(
                    conn,
                    &actor,
                    &audit::Entry {
                        action: "check.feedback",
                        outcome: "ok",
                        detail: Some(json!({"report_no": saved.report_no, "action": saved.action, "feedback_id": saved.id})),
                        ..Default::default()
                    },
                )
                .map(|_| ())
            })
        })
        .await?;
    Ok(FeedbackView {
        id: row.id,
        report_no: row.report_no,
        org_code: row.org_code,
        action: row.action,
        note: row.note,
        created_at: crate::service::rfc3339(row.created_at),
    })
}

/// Evaluates a stored report again with the rule set and facts it used; true when the verdict
/// and the measures come out the same (the rule set's files are kept by digest).
pub async fn reevaluate(ctx: &Ctx, report_no: &str) -> ServiceResult<bool> {
    let row = load_report(ctx, report_no).await?;
    let digest = row.rule_set_digest.clone();
    let kept = ctx
        .db
        .run(move |conn| store_checks::find_rule_set(conn, &digest))
        .await?
        .ok_or_else(|| {
            ServiceError::Internal(anyhow::anyhow!("rule set {} not kept", row.rule_set_digest))
        })?;
    let sources: crate::rules::Sources = serde_json::from_str(&kept.sources)
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("rule set sources: {e}")))?;
    let set = crate::rules::load::build_kept(sources).map_err(|e| {
        ServiceError::Internal(anyhow::anyhow!("kept rule set no longer builds: {e:?}"))
    })?;
    let stored: StoredFacts = serde_json::from_str(&row.facts)
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("facts: {e}")))?;
    let scenario = set.scenario(&row.scenario).ok_or_else(|| {
        ServiceError::Internal(anyhow::anyhow!("scenario {} missing", row.scenario))
    })?;
    let ev = eval::evaluate(scenario, &stored.facts, row.as_of);
    let report = report_from_row(&row)?;
    let ids: Vec<&str> = ev.findings.iter().map(|f| f.measure_id.as_str()).collect();
    let stored_ids: Vec<&str> = report
        .findings
        .iter()
        .map(|f| f.measure_id.as_str())
        .collect();
    Ok(ev.verdict.as_str() == report.verdict && ids == stored_ids)
}
