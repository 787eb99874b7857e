//! Reading credit data: a record, a subject's profile. Every answer goes through `policy`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, SecondsFormat};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::access::{self, READERS};
use super::agreements::{self, PartnerScope};
use super::grants::{self, Grant};
use super::{audit, policy, Ctx, ServiceError, ServiceResult};
use crate::domain::{
    Caller, Effect, OpenClass, Origin, RecordKind, RecordStatus, Role, Severity, SharingClass,
    SubjectKey, SubjectKind, Uscc,
};
use crate::store::records::RecordRow;
use crate::store::subjects::SubjectRow;
use crate::store::{records, repairs, StoreError};

const PROFILE_TTL: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct PersonView {
    pub name: String,
    /// Masked (`110101********0011`) unless the caller's role may see it in full.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_number: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct AuthorityView {
    pub name: Option<String>,
    pub uscc: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct SubjectView {
    /// The unified social credit code (the placeholder for a 个体工商户 without one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uscc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reg_no: Option<String>,
    /// Natural persons: masked ID number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_number: Option<String>,
    pub name: String,
    /// `legal_person`, `other_org`, `individual_business` or `natural_person`.
    #[schema(value_type = String)]
    pub kind: SubjectKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legal_rep: Option<PersonView>,
    /// The code failed the GB 32100 check but was accepted from the provincial platform.
    pub checksum_warning: bool,
}

/// A record as the caller may see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct RecordView {
    #[schema(example = "rec_01JD4S0M8Q3Z6Y2B5X7C9V1N0K")]
    pub id: String,
    pub source_code: String,
    pub source_record_id: String,
    #[schema(value_type = String, example = "penalty")]
    pub kind: RecordKind,
    pub list_code: Option<String>,
    /// Whom the record is about (in `GET /records/{id}`; omitted inside a profile).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<SubjectView>,
    pub decision_no: Option<String>,
    pub decision_date: Option<NaiveDate>,
    pub valid_from: Option<NaiveDate>,
    pub valid_to: Option<NaiveDate>,
    #[schema(value_type = Option<String>, example = "general")]
    pub severity: Option<Severity>,
    pub penalty_types: Vec<String>,
    /// Yuan, two decimals.
    #[schema(example = "2500000.00")]
    pub fine_amount: Option<String>,
    pub authority: AuthorityView,
    /// The legal representative named on the record.
    pub legal_rep: Option<PersonView>,
    #[schema(value_type = String, example = "unconditional")]
    pub sharing_class: SharingClass,
    #[schema(value_type = String, example = "open")]
    pub open_class: OpenClass,
    #[schema(value_type = String, example = "active")]
    pub status: RecordStatus,
    pub version: i64,
    /// `local` or `provincial`.
    #[schema(value_type = String)]
    pub origin: Origin,
    pub checksum_warning: bool,
    /// An objection (异议) to it is being handled: filed and not yet closed.
    pub under_objection: bool,
    /// The last day it may be published, shared or used in checks (`rules/periods.yaml`, NDRC
    /// Order 36; 民法典 Art. 201–202); null: no period ends it (until removed or revoked).
    #[serde(default)]
    pub publicity_until: Option<NaiveDate>,
    /// The first day a repair (信用修复) may be applied for; null: it cannot be repaired.
    #[serde(default)]
    pub repair_eligible_from: Option<NaiveDate>,
    /// `in_force`, `publicity_ended`, `repaired` or `revoked`, today. Only admins and auditors
    /// are shown records that are not in force.
    #[serde(default)]
    #[schema(value_type = String, example = "in_force")]
    pub effect: Effect,
    /// The day it was repaired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repaired_on: Option<NaiveDate>,
    #[schema(value_type = Object)]
    pub details: Value,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// RFC 3339, UTC.
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ProfileSummary {
    /// Visible records by kind.
    pub by_kind: BTreeMap<String, usize>,
    /// Codes of the lists the subject is on today (visible entries in force).
    pub active_lists: Vec<String>,
    /// Records in force that the caller's sharing class does not reach.
    pub restricted_records: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Profile {
    pub subject: SubjectView,
    pub records: Vec<RecordView>,
    pub summary: ProfileSummary,
    /// RFC 3339, UTC: when the answer was made.
    pub as_of: String,
}

/// What the caches hold for a subject: every record, unfiltered, with identifiers already
/// masked; the caller's view is cut from it on each request. `generation` is the subject's
/// generation in Redis when the records were read (see [`invalidate_profiles`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedProfile {
    #[serde(default)]
    generation: String,
    subject: SubjectView,
    records: Vec<RecordView>,
}

fn profile_cache_key(ctx: &Ctx, subject_key: &str) -> String {
    format!("{}:profile:{subject_key}", ctx.cache_prefix)
}

fn generation_key(ctx: &Ctx, subject_key: &str) -> String {
    format!("{}:profile-gen:{subject_key}", ctx.cache_prefix)
}

/// How long a subject's generation is kept: far past a profile's time in the cache, so that an
/// entry never outlives the generation it was made under.
const GENERATION_TTL: Duration = Duration::from_secs(86_400);

/// After a write has committed: the subjects' cached profiles are dropped, and their generation
/// moves on, so that a profile read from the database before the commit and put in the cache
/// after this (a reader racing the writer) is never served: it carries the old generation.
pub async fn invalidate_profiles(ctx: &Ctx, subject_keys: impl IntoIterator<Item = &String>) {
    let mut profiles = Vec::new();
    for k in subject_keys {
        // This instance's own memo at once; the others hear the write's signal.
        ctx.memos.heard(super::signals::Topic::Profiles, k);
        ctx.cache
            .incr(&generation_key(ctx, k), GENERATION_TTL)
            .await;
        profiles.push(profile_cache_key(ctx, k));
    }
    ctx.cache.delete(&profiles).await;
}

use super::rfc3339 as ts;

fn subject_view(s: &SubjectRow) -> SubjectView {
    SubjectView {
        uscc: s.uscc.clone(),
        reg_no: s.reg_no.clone(),
        id_number: s.id_number_masked.clone(),
        name: s.name.clone(),
        kind: s.kind,
        legal_rep: s.legal_rep_name.as_ref().map(|n| PersonView {
            name: n.clone(),
            id_number: s.legal_rep_id_masked.clone(),
        }),
        checksum_warning: s.checksum_warning,
    }
}

/// A stored record as shown, before the caller's cut; `repaired_on` from the repairs kept beside
/// it. Its dates and effect are filled on each read (`lifecycle::annotate`).
fn record_view(r: &RecordRow, repaired_on: Option<NaiveDate>) -> Result<RecordView, StoreError> {
    let penalty_types: Vec<String> = serde_json::from_str(&r.penalty_types)
        .map_err(|e| StoreError::Corrupt(format!("record {}: penalty_types: {e}", r.id)))?;
    let details: Value = serde_json::from_str(&r.details)
        .map_err(|e| StoreError::Corrupt(format!("record {}: details: {e}", r.id)))?;
    Ok(RecordView {
        id: r.id.clone(),
        source_code: r.source_code.clone(),
        source_record_id: r.source_record_id.clone(),
        kind: r.kind,
        list_code: r.list_code.clone(),
        subject: None,
        decision_no: r.decision_no.clone(),
        decision_date: r.decision_date,
        valid_from: r.valid_from,
        valid_to: r.valid_to,
        severity: r.severity,
        penalty_types,
        fine_amount: r
            .fine_amount_fen
            .map(|f| crate::domain::Yuan::from_fen(f).to_string()),
        authority: AuthorityView {
            name: r.authority_name.clone(),
            uscc: r.authority_uscc.clone(),
        },
        legal_rep: r.legal_rep_name.as_ref().map(|n| PersonView {
            name: n.clone(),
            id_number: r.legal_rep_id_masked.clone(),
        }),
        sharing_class: r.sharing_class,
        open_class: r.open_class,
        status: r.status,
        version: r.version,
        origin: r.origin,
        checksum_warning: r.checksum_warning,
        under_objection: r.under_objection,
        publicity_until: None,
        repair_eligible_from: None,
        effect: Effect::InForce,
        repaired_on,
        details,
        created_at: ts(r.created_at),
        updated_at: ts(r.updated_at),
    })
}

fn visible(
    caller: &Caller,
    r: &RecordView,
    partner: Option<&PartnerScope>,
    grants: &[Grant],
) -> bool {
    let meta = policy::RecordMeta {
        id: &r.id,
        list_code: r.list_code.as_deref(),
        sharing: r.sharing_class,
        open_class: r.open_class,
        kind: r.kind,
        source_code: &r.source_code,
        effect: r.effect,
    };
    policy::can_see(caller, meta, partner, grants)
}

/// Masks what the caller's role may not see of persons: ID numbers and, for partners, names.
fn mask_person(caller: &Caller, p: &mut Option<PersonView>) {
    if let Some(p) = p {
        p.name = policy::person_name(caller, &p.name);
        if policy::hides_ids(caller) {
            p.id_number = None;
        }
    }
}

/// A stored record by id, its subject, and the day it was repaired (if it was): what a use
/// case that acts on a record by id starts from.
pub async fn stored_record(
    ctx: &Ctx,
    id: &str,
) -> ServiceResult<Option<(RecordRow, SubjectRow, Option<NaiveDate>)>> {
    let lookup = id.to_string();
    Ok(ctx
        .db
        .run(move |conn| {
            let Some((r, s)) = records::with_subject(conn, &lookup)? else {
                return Ok(None);
            };
            let repaired = repairs::repaired_on(conn, std::slice::from_ref(&r.id))?;
            let on = repaired.get(&r.id).copied();
            Ok(Some((r, s, on)))
        })
        .await?)
}

/// Whether the caller may see this stored record today (its sharing class, and its effect under
/// the periods and repairs): the one test for a use case that acts on a record by id.
pub fn shown_to(
    ctx: &Ctx,
    caller: &Caller,
    r: &RecordRow,
    repaired_on: Option<NaiveDate>,
    grants: &[Grant],
) -> bool {
    match record_view(r, repaired_on) {
        Ok(mut v) => {
            super::lifecycle::annotate(&ctx.rules(), &mut v, ctx.clock.today());
            visible(caller, &v, None, grants)
        }
        Err(_) => false,
    }
}

/// The stated purpose ([`crate::domain::parse_purpose`]), or a 422 naming the field.
pub fn check_purpose(purpose: Option<&str>) -> ServiceResult<String> {
    crate::domain::parse_purpose(purpose).map_err(|e| ServiceError::Invalid(vec![e]))
}

/// One record, if it exists and the caller may see it. Logged, whatever the outcome.
#[tracing::instrument(skip_all, fields(record_id = %id, role = %caller.role))]
pub async fn get_record(
    ctx: &Ctx,
    caller: &Caller,
    id: String,
    purpose: Option<&str>,
) -> ServiceResult<RecordView> {
    let entry = |outcome: &'static str| audit::Entry {
        action: "record.read",
        records: vec![id.clone()],
        purpose: purpose.map(str::to_string),
        outcome,
        ..Default::default()
    };
    audit::require_logged(ctx, caller, READERS, "read credit records", entry("denied")).await?;
    check_purpose(purpose)?;
    let found = match stored_record(ctx, &id).await? {
        Some((r, s, repaired_on)) => {
            let mut v = record_view(&r, repaired_on)?;
            v.subject = Some(subject_view(&s));
            Some((v, s.subject_key))
        }
        None => None,
    };
    let found = found.map(|(mut v, key)| {
        super::lifecycle::annotate(&ctx.rules(), &mut v, ctx.clock.today());
        (v, key)
    });
    match found {
        // A record the caller may not see is answered as absent, so that its existence leaks nothing.
        Some((v, key)) if visible(caller, &v, None, &grants::in_force(ctx, caller).await?) => {
            let mut e = entry("ok");
            e.subject_key = Some(key);
            audit::log(ctx, caller, e).await?;
            Ok(v)
        }
        _ => {
            audit::log(ctx, caller, entry("not_found")).await?;
            Err(ServiceError::NotFound(format!("record {id}")))
        }
    }
}

/// Orders records for display: newest decision (or start) first, then by id.
fn sort_records(records: &mut [RecordView]) {
    records.sort_by(|a, b| {
        let da = a.decision_date.or(a.valid_from);
        let db = b.decision_date.or(b.valid_from);
        db.cmp(&da).then_with(|| a.id.cmp(&b.id))
    });
}

/// A subject's profile. With Redis, from Redis (shared by the instances, and invalidated by the
/// writer right after its commit, so another instance never serves it stale). Without, from this
/// instance's memo, kept true by signals (`signals`: another process's write reaches it within a
/// poll); the in-process string cache is not used for profiles, as it cannot hear other
/// processes' writes. Else from the database.
async fn load_profile(ctx: &Ctx, key: String) -> ServiceResult<Option<Arc<CachedProfile>>> {
    if ctx.cache.kind() == "redis" {
        return Ok(shared_profile(ctx, key).await?.map(Arc::new));
    }
    let m = &ctx.memos;
    m.get_or_load(
        &m.profiles,
        &key,
        |_| key.clone(),
        || async {
            Ok(read_profile(ctx, key.clone(), String::new())
                .await?
                .map(Arc::new))
        },
    )
    .await
}

/// The profile from Redis, or from the database into Redis.
async fn shared_profile(ctx: &Ctx, key: String) -> ServiceResult<Option<CachedProfile>> {
    let cache_key = profile_cache_key(ctx, &key);
    // The entry and the subject's generation in one round trip; the generation is read before
    // the database, so that a write committed meanwhile leaves this entry behind.
    let found = ctx
        .cache
        .get_many(&[cache_key.clone(), generation_key(ctx, &key)])
        .await;
    let generation = found
        .get(1)
        .cloned()
        .flatten()
        .unwrap_or_else(|| "0".into());
    if let Some(text) = found.into_iter().next().flatten() {
        match serde_json::from_str::<CachedProfile>(&text) {
            Ok(p) if p.generation == generation => return Ok(Some(p)),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "unreadable cache entry; reloading"),
        }
    }
    let loaded = read_profile(ctx, key, generation).await?;
    if let Some(p) = &loaded {
        if let Ok(text) = serde_json::to_string(p) {
            ctx.cache.set(&cache_key, &text, PROFILE_TTL).await;
        }
    }
    Ok(loaded)
}

/// The profile from the database (one query).
async fn read_profile(
    ctx: &Ctx,
    key: String,
    generation: String,
) -> ServiceResult<Option<CachedProfile>> {
    Ok(ctx
        .db
        .run(move |conn| {
            let Some((s, rows)) = records::of_subject_key(conn, &key)? else {
                return Ok(None);
            };
            let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
            let repaired = repairs::repaired_on(conn, &ids)?;
            let mut views = rows
                .iter()
                .map(|r| record_view(r, repaired.get(&r.id).copied()))
                .collect::<Result<Vec<_>, _>>()?;
            sort_records(&mut views);
            Ok(Some(CachedProfile {
                generation,
                subject: subject_view(&s),
                records: views,
            }))
        })
        .await?)
}

/// Whether a subject is held under `key` with the checksum warning: a pilot-era code from the
/// provincial platform, reachable under a code that fails its check character
/// (`Uscc::parse_lookup`). The one test of it, for profiles and checks.
pub async fn held_with_checksum_warning(ctx: &Ctx, key: &str) -> ServiceResult<bool> {
    Ok(load_profile(ctx, key.to_string())
        .await?
        .is_some_and(|p| p.subject.checksum_warning))
}

/// A subject's profile: the subject and the records the caller may see.
#[tracing::instrument(skip_all, fields(role = %caller.role))]
pub async fn subject_profile(
    ctx: &Ctx,
    caller: &Caller,
    uscc: &str,
    purpose: Option<&str>,
    authorization_ref: Option<&str>,
) -> ServiceResult<Profile> {
    if caller.role == Role::Partner {
        // Bad input costs a partner no quota.
        check_purpose(purpose)?;
    }
    let asked = audit::Entry {
        action: access::READ_PROFILE.action,
        // Only a code that passes its check goes into the log as it is: 18 digits that fail
        // it may be an ID number typed into the wrong field.
        subject_key: Uscc::parse(uscc)
            .ok()
            .map(|u| ctx.subject_key(&SubjectKey::Uscc(u))),
        purpose: purpose.map(str::to_string),
        reference: authorization_ref.map(str::to_string),
        ..Default::default()
    };
    let partner = agreements::admit_request(
        ctx,
        caller,
        &access::READ_PROFILE,
        agreements::PROFILE,
        authorization_ref,
        asked,
    )
    .await?;
    let invalid = |e: crate::domain::UsccError| {
        ServiceError::Invalid(vec![crate::domain::FieldError::new(
            "uscc",
            e.code(),
            e.to_string(),
        )])
    };
    // A code failing its check character reaches only a subject held with the checksum
    // warning (`Uscc::parse_lookup`); for any other it is the mistyped code it looks like.
    let (uscc, unverified) = Uscc::parse_lookup(uscc, None).map_err(invalid)?;
    check_purpose(purpose)?;
    let key = ctx.subject_key(&SubjectKey::Uscc(uscc.clone()));
    let mut entry = audit::Entry {
        action: "profile.read",
        subject_key: Some(key.clone()),
        purpose: purpose.map(str::to_string),
        reference: authorization_ref.map(str::to_string),
        outcome: "ok",
        detail: partner
            .as_ref()
            .map(|p| serde_json::json!({"agreement_id": p.agreement_id})),
        ..Default::default()
    };
    let cached = load_profile(ctx, key).await?;
    if let Some(e) = unverified {
        if !cached.as_ref().is_some_and(|c| c.subject.checksum_warning) {
            // The read found nothing it may show: logged as any unknown subject is, the code
            // masked (18 digits that fail the check may be an ID number in the wrong field).
            entry.outcome = "not_found";
            entry.subject_key = entry
                .subject_key
                .map(|k| crate::domain::id_number::masked(&k));
            audit::log(ctx, caller, entry).await?;
            return Err(invalid(e));
        }
    }
    let Some(cached) = cached else {
        entry.outcome = "not_found";
        audit::log(ctx, caller, entry).await?;
        return Err(ServiceError::NotFound(format!("subject {uscc}")));
    };
    let today = ctx.clock.today();
    let grants = grants::in_force(ctx, caller).await?;
    let set = ctx.rules();
    // Records the sharing class keeps from the caller are counted; those without effect are
    // not, so that a repaired or ended record leaves no trace for those who may not see it.
    let mut restricted = 0;
    let records: Vec<RecordView> = cached
        .records
        .iter()
        .filter_map(|r| {
            let mut r = r.clone();
            super::lifecycle::annotate(&set, &mut r, today);
            let shown = visible(caller, &r, partner.as_ref(), &grants);
            if !shown && r.effect == Effect::InForce {
                restricted += 1;
            }
            shown.then(|| {
                mask_person(caller, &mut r.legal_rep);
                r
            })
        })
        .collect();
    let mut by_kind = BTreeMap::new();
    let mut active_lists = Vec::new();
    for r in &records {
        *by_kind.entry(r.kind.to_string()).or_insert(0) += 1;
        let in_force = r.effect == Effect::InForce
            && r.valid_from.is_none_or(|f| f <= today)
            && r.valid_to.is_none_or(|t| t >= today);
        if r.kind == RecordKind::ListEntry && in_force {
            if let Some(c) = &r.list_code {
                if !active_lists.contains(c) {
                    active_lists.push(c.clone());
                }
            }
        }
    }
    active_lists.sort();
    entry.records = records.iter().map(|r| r.id.clone()).collect();
    audit::log(ctx, caller, entry).await?;
    let mut subject = cached.subject.clone();
    if subject.kind == SubjectKind::NaturalPerson {
        subject.name = policy::person_name(caller, &subject.name);
    }
    if policy::hides_ids(caller) {
        subject.id_number = None;
    }
    mask_person(caller, &mut subject.legal_rep);
    Ok(Profile {
        subject,
        summary: ProfileSummary {
            by_kind,
            active_lists,
            restricted_records: restricted,
        },
        records,
        as_of: ctx.clock.now().to_rfc3339_opts(SecondsFormat::Secs, true),
    })
}
