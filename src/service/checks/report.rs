//! A plan evaluated into a report: findings with their records as the caller may see them,
//! the report number, and the stored report with its digest.

use super::*;
use crate::store::audit::AccessRow;

pub(super) fn digest_of(report: &Value) -> String {
    let mut h = Sha256::new();
    h.update(canonical_json(report).as_bytes());
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// The caller's view of a finding: restricted records keep their id and kind only. A record
/// without effect today (past its publicity, repaired, revoked) is restricted too for every role
/// but admins and auditors, though the check's `as_of` saw it in force.
pub(super) fn finding_view(
    f: &Finding,
    facts: &StoredFacts,
    caller: &Caller,
    (partner, grants): (Option<&PartnerScope>, &[Grant]),
    today: NaiveDate,
) -> FindingView {
    let by_id: BTreeMap<&str, &RecordFact> = facts
        .facts
        .parties
        .iter()
        .flat_map(|p| p.records.iter())
        .map(|r| (r.id.as_str(), r))
        .collect();
    let visible = |id: &str| {
        let (Some(p), Some(r)) = (facts.provenance.get(id), by_id.get(id)) else {
            return false;
        };
        let meta = policy::RecordMeta {
            id,
            list_code: r.list_code.as_deref(),
            sharing: p.sharing_class,
            open_class: p.open_class,
            kind: r.kind,
            source_code: &p.source_code,
            effect: crate::domain::lifecycle::effect(
                r.status,
                r.repaired,
                r.publicity_until,
                today,
            ),
        };
        policy::can_see(caller, meta, partner, grants)
    };
    let mut shown: Vec<&MatchedRecord> = Vec::new();
    let mut hidden = 0;
    let records = f
        .records
        .iter()
        .map(|m| {
            let r = by_id.get(m.record_id.as_str());
            let kind = r.map(|r| r.kind.as_str().to_string()).unwrap_or_default();
            if visible(&m.record_id) {
                shown.push(m);
                FindingRecordView {
                    id: m.record_id.clone(),
                    kind,
                    restricted: false,
                    list_code: r.and_then(|r| r.list_code.clone()),
                    decision_no: r.and_then(|r| r.decision_no.clone()),
                    decision_date: r.and_then(|r| r.decision_date),
                    publicity_until: r.and_then(|r| r.publicity_until),
                    repair_eligible_from: r.and_then(|r| r.repair_eligible_from),
                    under_objection: r.is_some_and(|r| r.under_objection),
                    source: facts
                        .provenance
                        .get(&m.record_id)
                        .map(|p| p.source_code.clone()),
                    conditions: m.conditions.clone(),
                }
            } else {
                hidden += 1;
                FindingRecordView {
                    id: m.record_id.clone(),
                    kind,
                    restricted: true,
                    list_code: None,
                    decision_no: None,
                    decision_date: None,
                    publicity_until: None,
                    repair_eligible_from: None,
                    under_objection: r.is_some_and(|r| r.under_objection),
                    source: None,
                    conditions: vec![],
                }
            }
        })
        .collect();
    let partner_view = policy::hides_ids(caller);
    // Natural persons (related persons, or a subject checked by ID number) are masked for
    // partners: the surname only, no ID number.
    let person = f.applies_to != AppliesTo::Subject || f.party_id_masked.is_some();
    let name = if person {
        policy::person_name(caller, &f.party_name)
    } else {
        f.party_name.clone()
    };
    let explanation = if hidden == 0 && !partner_view {
        f.explanation.clone()
    } else {
        let label = if partner_view {
            match f.applies_to {
                AppliesTo::Subject => format!("被核查主体「{name}」"),
                role => format!("{} {name}", role.label_zh()),
            }
        } else {
            eval::finding_party_label(f)
        };
        let mut e = format!("{label}：{}。", f.title);
        for m in &shown {
            e.push_str(&format!(
                "记录 {}：{}。",
                m.record_id,
                m.conditions.join("；")
            ));
        }
        if hidden > 0 {
            e.push_str(&format!(
                "另有 {hidden} 条记录符合本措施的条件，其详细信息受共享类别限制，不予显示。"
            ));
        }
        e.push_str(&eval::until_sentence(f.until));
        e
    };
    FindingView {
        measure_id: f.measure_id.clone(),
        measure: f.measure.as_str().into(),
        title: f.title.clone(),
        applies_to: f.applies_to.as_str().into(),
        person: (f.applies_to != AppliesTo::Subject).then(|| PersonView {
            name: name.clone(),
            id_number: if partner_view {
                None
            } else {
                f.party_id_masked.clone()
            },
        }),
        basis: f.basis.iter().map(|b| b.text.clone()).collect(),
        basis_detail: basis_views(&f.basis),
        implemented_by: f.implemented_by.clone(),
        until: f.until,
        note: f.note.clone(),
        explanation,
        records,
    }
}

pub(super) fn report_subject(key: &SubjectKey, name: Option<String>, known: bool) -> ReportSubject {
    let (uscc, reg_no, id) = match key {
        SubjectKey::Uscc(u) => (Some(u.as_str().to_string()), None, None),
        SubjectKey::RegNo(r) => (
            Some(crate::domain::uscc::PLACEHOLDER.to_string()),
            Some(r.clone()),
            None,
        ),
        SubjectKey::Person(p) => (None, None, Some(p.masked())),
    };
    ReportSubject {
        uscc,
        reg_no,
        id_number: id,
        name,
        known,
    }
}

pub(super) fn day_of(ctx: &Ctx) -> String {
    ctx.clock.today().format("%Y%m%d").to_string()
}

/// How many report numbers an instance reserves at a time. Numbers are unique and increase
/// within an instance; several instances interleave, and numbers reserved but unused when an
/// instance stops are skipped (so a day's numbers may have gaps).
pub(super) const NUMBER_BLOCK: i64 = 50;

/// Report numbers reserved by this instance: `next ..= last` of `day`.
#[derive(Debug, Default)]
pub struct NumberBlock {
    pub(super) day: String,
    pub(super) next: i64,
    pub(super) last: i64,
}

/// `count` report numbers in order, `CR-YYYYMMDD-NNNNNN` (the day in China Standard Time).
pub(super) async fn next_report_nos(ctx: &Ctx, count: usize) -> ServiceResult<Vec<String>> {
    let day = day_of(ctx);
    let mut block = ctx.report_numbers.lock().await;
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        if block.day != day || block.next > block.last {
            let want = NUMBER_BLOCK.max((count - out.len()) as i64);
            let d = day.clone();
            let last = ctx
                .db
                .run(move |conn| store_checks::reserve_report_numbers(conn, &d, want))
                .await?;
            *block = NumberBlock {
                day: day.clone(),
                next: last - want + 1,
                last,
            };
        }
        out.push(format!("CR-{day}-{:06}", block.next));
        block.next += 1;
    }
    Ok(out)
}

/// A check evaluated and not yet stored: its report, and the rows that store it (the report
/// and the check's access-log entry, committed together or not at all).
pub struct Unstored {
    pub report: Report,
    row: ReportRow,
    entry: AccessRow,
}

impl Unstored {
    /// The report, and what stores it: through `commit::durable` (a request's answer waits for
    /// it), or `commit::write_in` in a caller's own transaction. A report is shown to no one
    /// before it is stored.
    pub fn into_parts(self) -> (Report, commit::Durable) {
        (
            self.report,
            commit::Durable::Report(Box::new(self.row), self.entry),
        )
    }
}

/// When a group of checks is made: the instant (the access log's), the report's whole second,
/// and the day in China Standard Time.
struct Moment {
    at: chrono::NaiveDateTime,
    now: chrono::DateTime<chrono::Utc>,
    checked_at: String,
    today: NaiveDate,
}

/// Evaluates planned checks into reports, with their facts read in one session: one check, a
/// batch, or a bulk job's chunk. In the order of `items`, each report or why it cannot be made
/// (that item only); `Err` when none can (the database, the report numbers). Nothing is stored.
pub(super) async fn evaluate(
    ctx: &Ctx,
    caller: &Caller,
    set: Arc<RuleSet>,
    items: Vec<(Option<PartnerScope>, Plan)>,
) -> ServiceResult<Vec<ServiceResult<Unstored>>> {
    if items.is_empty() {
        return Ok(vec![]);
    }
    // The report shows whole seconds; the stored time is the same instant. Its access-log
    // entry carries the instant itself.
    let at = ctx.clock.stamp();
    let now = chrono::DurationRound::duration_trunc(at.and_utc(), chrono::TimeDelta::seconds(1))
        .unwrap_or_else(|_| at.and_utc());
    let moment = Moment {
        at,
        now,
        checked_at: now.to_rfc3339_opts(SecondsFormat::Secs, true),
        today: ctx.clock.today(),
    };
    let numbers = next_report_nos(ctx, items.len()).await?;
    let caller = caller.clone();
    let keys = ctx.keys.clone();
    let subject_keys: Vec<String> = items.iter().map(|(_, p)| ctx.subject_key(&p.key)).collect();
    let grants = crate::service::grants::in_force(ctx, &caller).await?;
    let registration = ctx.registration_sources.clone();
    let made = ctx
        .db
        .run(move |conn| {
            let plans: Vec<&Plan> = items.iter().map(|(_, p)| p).collect();
            let gathered = gather_all(conn, &set, &keys, &registration, &plans)?;
            let who = Who {
                caller: &caller,
                grants: &grants,
                keys: &keys,
            };
            let made = items
                .iter()
                .zip(gathered)
                .zip(numbers)
                .zip(subject_keys)
                .map(|((((scope, plan), g), report_no), subject_key)| {
                    let made = Made {
                        plan,
                        gathered: g?,
                        report_no,
                        subject_key,
                    };
                    build(&set, &who, scope.as_ref(), made, &moment)
                })
                .map(|r: Result<Unstored, StoreError>| r.map_err(ServiceError::from))
                .collect::<Vec<_>>();
            Ok(made)
        })
        .await?;
    Ok(made)
}

/// Who asks: the caller, its grants in force, and the keys that write its log entry.
struct Who<'a> {
    caller: &'a Caller,
    grants: &'a [Grant],
    keys: &'a crate::crypto::DataKeys,
}

/// One plan with its facts read, and the number and key its report is stored under.
struct Made<'a> {
    plan: &'a Plan,
    gathered: Gathered,
    report_no: String,
    subject_key: String,
}

/// One evaluated check: the report as the caller may see it, its digest, and its rows.
fn build(
    set: &RuleSet,
    who: &Who,
    partner: Option<&PartnerScope>,
    made: Made,
    moment: &Moment,
) -> Result<Unstored, StoreError> {
    let Made {
        plan,
        gathered: g,
        report_no,
        subject_key,
    } = made;
    let (caller, grants, today) = (who.caller, who.grants, moment.today);
    let scenario = set
        .scenario(&plan.scenario)
        .ok_or_else(|| StoreError::Corrupt(format!("scenario {} vanished", plan.scenario)))?;
    let ev = eval::evaluate(scenario, &g.stored.facts, plan.as_of);
    let mut warnings = g.warnings.clone();
    if let Some(at) = plan.known_at {
        warnings.push(replay::warning(at, set));
    } else if plan.as_of > today {
        warnings.push(format!(
            "核查日 {} 晚于今日：按今日已知的记录推算（公示期计至核查日），不含此后新增、变更或修复的记录",
            plan.as_of
        ));
    }
    let mut report = Report {
        report_no: report_no.clone(),
        scenario: plan.scenario.clone(),
        subject: {
            // Known: a record in effect on the as-of date, or one a measure still counts.
            let counted = ev
                .findings
                .iter()
                .chain(&ev.incentives)
                .any(|f| f.applies_to == AppliesTo::Subject);
            let mut s = report_subject(&plan.key, g.subject_name.clone(), g.known || counted);
            if let SubjectKey::Person(_) = plan.key {
                s.name = s.name.map(|n| policy::person_name(caller, &n));
                if policy::hides_ids(caller) {
                    s.id_number = None;
                }
            }
            s
        },
        verdict: ev.verdict.as_str().into(),
        findings: ev
            .findings
            .iter()
            .map(|f| finding_view(f, &g.stored, caller, (partner, grants), today))
            .collect(),
        incentives: ev
            .incentives
            .iter()
            .map(|f| finding_view(f, &g.stored, caller, (partner, grants), today))
            .collect(),
        rule_set: RuleSetRef {
            version: set.version.clone(),
            digest: set.digest.clone(),
        },
        as_of: plan.as_of,
        checked_at: moment.checked_at.clone(),
        purpose: plan.purpose.clone(),
        reference: plan.reference.clone(),
        requested_by: RequesterView {
            org_code: caller.org_code.clone(),
            role: caller.role.as_str().into(),
        },
        warnings,
        replay: plan.known_at.is_some(),
        as_known_at: plan
            .known_at
            .map(|t| t.and_utc().to_rfc3339_opts(SecondsFormat::Micros, true)),
        digest: String::new(),
        later_changes: None,
    };
    let mut body =
        serde_json::to_value(&report).map_err(|e| StoreError::Corrupt(format!("report: {e}")))?;
    if let Some(o) = body.as_object_mut() {
        o.remove("digest");
    }
    report.digest = digest_of(&body);
    let facts =
        serde_json::to_string(&g.stored).map_err(|e| StoreError::Corrupt(format!("facts: {e}")))?;
    let used: Vec<String> = g.stored.provenance.keys().cloned().collect();
    let row = ReportRow {
        report_no,
        scenario: plan.scenario.clone(),
        subject_key,
        verdict: report.verdict.clone(),
        rule_set_digest: set.digest.clone(),
        requester_org: caller.org_code.clone(),
        requester_role: caller.role.as_str().into(),
        requester_key_id: caller.key_id.clone(),
        purpose: plan.purpose.clone(),
        reference: plan.reference.clone(),
        as_of: plan.as_of,
        checked_at: moment.now.naive_utc(),
        report: canonical_json(&body),
        facts,
        digest: report.digest.clone(),
    };
    let entry = audit::build(
        who.keys,
        caller,
        moment.at,
        &audit::Entry {
            action: "check.run",
            subject_key: Some(row.subject_key.clone()),
            records: used,
            purpose: Some(row.purpose.clone()),
            reference: row.reference.clone(),
            outcome: "ok",
            detail: Some(json!({
                "report_no": row.report_no,
                "scenario": row.scenario,
                "verdict": row.verdict,
            })),
        },
    );
    Ok(Unstored { report, row, entry })
}

/// Stores evaluated checks, each report with its access-log entry, and answers the reports once
/// they are durable (sharing commits with concurrent requests).
pub(super) async fn store_all(ctx: &Ctx, checks: Vec<Unstored>) -> ServiceResult<Vec<Report>> {
    let (reports, durables): (Vec<Report>, Vec<commit::Durable>) =
        checks.into_iter().map(Unstored::into_parts).unzip();
    commit::durable_all(ctx, durables)
        .await
        .map_err(|why| ServiceError::Unavailable(format!("the report cannot be stored: {why}")))?;
    for report in &reports {
        tracing::info!(
            report_no = %report.report_no,
            scenario = %report.scenario,
            verdict = %report.verdict,
            findings = report.findings.len(),
            "check reported"
        );
    }
    Ok(reports)
}
