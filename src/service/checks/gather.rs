//! The facts of a plan, read from the store: the subject's records and the records that name
//! its related persons.

use super::*;

/// A record as evaluated, and whom it came from (for the caller's view).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct StoredFacts {
    pub(super) facts: Facts,
    /// record id → where it came from and how it may be shared
    pub(super) provenance: BTreeMap<String, Provenance>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Provenance {
    pub(super) source_code: String,
    pub(super) sharing_class: SharingClass,
    pub(super) open_class: OpenClass,
    pub(super) version: i64,
}

/// A stored record as the evaluator sees it; `repaired` from the repairs kept beside it.
pub(super) fn record_fact(
    set: &RuleSet,
    r: &RecordRow,
    repaired: bool,
    relation: RecordOf,
    subject_name: &str,
) -> Result<RecordFact, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("record {}: {what}", r.id));
    let penalty_types: Vec<String> =
        serde_json::from_str(&r.penalty_types).map_err(|_| corrupt("penalty_types"))?;
    let details: serde_json::Map<String, Value> =
        serde_json::from_str(&r.details).map_err(|_| corrupt("details"))?;
    let penalty_types: Vec<PenaltyType> = penalty_types
        .iter()
        .filter_map(|p| PenaltyType::parse(p))
        .collect();
    let dates = crate::service::lifecycle::dates_of_row(set, r);
    Ok(RecordFact {
        id: r.id.clone(),
        kind: r.kind,
        list_code: r.list_code.clone(),
        list_name: r
            .list_code
            .as_deref()
            .and_then(|c| set.catalog.get(c))
            .map(|l| l.name.clone()),
        decision_no: r.decision_no.clone(),
        decision_date: r.decision_date,
        valid_from: r.valid_from,
        valid_to: r.valid_to,
        severity: r.severity,
        penalty_types,
        fine: r.fine_amount_fen.map(Yuan::from_fen),
        status: r.status,
        under_objection: r.under_objection,
        publicity_until: dates.publicity_until,
        repair_eligible_from: dates.repair_eligible_from,
        repaired,
        details,
        relation,
        subject_name: subject_name.to_string(),
    })
}

pub(super) struct Gathered {
    pub(super) stored: StoredFacts,
    pub(super) subject_name: Option<String>,
    pub(super) known: bool,
    pub(super) warnings: Vec<String>,
}

/// Reads everything the measures may look at: the subject's records, and each related
/// person's own records and the records that name the person as legal representative.
pub(super) fn gather(
    conn: &mut crate::store::DbConn,
    set: &RuleSet,
    keys: &crate::crypto::DataKeys,
    plan: &Plan,
) -> Result<Gathered, StoreError> {
    let mut provenance = BTreeMap::new();
    let mut note = |r: &RecordRow| {
        provenance.insert(
            r.id.clone(),
            Provenance {
                source_code: r.source_code.clone(),
                sharing_class: r.sharing_class,
                open_class: r.open_class,
                version: r.version,
            },
        );
    };
    let subject_key = plan.key.storage_key(&|i| keys.lookup_hash(i));
    let (subject, records) = match records::of_subject_key(conn, &subject_key)? {
        Some((s, records)) => (Some(s), records),
        None => (None, vec![]),
    };
    let repaired_of = |conn: &mut crate::store::DbConn, rows: &[&RecordRow]| {
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        crate::store::repairs::repaired_on(conn, &ids)
    };
    let repaired = repaired_of(conn, &records.iter().collect::<Vec<_>>())?;
    let name = subject
        .as_ref()
        .map(|s| s.name.clone())
        .or_else(|| plan.given_name.clone());
    let label = name.clone().unwrap_or_default();
    let mut parties = Vec::new();
    let mut subject_records = Vec::new();
    for r in records {
        note(&r);
        let fixed = repaired.contains_key(&r.id);
        subject_records.push(record_fact(set, &r, fixed, RecordOf::Subject, &label)?);
    }
    // Known: a record about the subject in effect on the as-of date. Records repaired, revoked
    // or past their publicity leave no trace for a check (NDRC Order 36 Art. 3).
    let known = subject_records.iter().any(|r| {
        crate::domain::lifecycle::effect(r.status, r.repaired, r.publicity_until, plan.as_of)
            == crate::domain::Effect::InForce
    });
    parties.push(Party {
        role: AppliesTo::Subject,
        name: label,
        id_masked: match &plan.key {
            SubjectKey::Person(p) => Some(p.masked()),
            _ => None,
        },
        records: subject_records,
    });
    // (role, name, keyed hash of the ID number, masked ID number)
    let mut persons: Vec<(AppliesTo, String, Option<String>, Option<String>)> = plan
        .persons
        .iter()
        .map(|p| {
            (
                p.role,
                p.name.clone(),
                p.id.as_ref().map(|i| keys.lookup_hash(i)),
                p.id.as_ref().map(|i| i.masked()),
            )
        })
        .collect();
    // Without a legal representative in the request, the one recorded on the subject is checked.
    if !persons.iter().any(|p| p.0 == AppliesTo::LegalRep) {
        if let Some(s) = &subject {
            if let Some(hash) = &s.legal_rep_id_hash {
                persons.push((
                    AppliesTo::LegalRep,
                    s.legal_rep_name.clone().unwrap_or_default(),
                    Some(hash.clone()),
                    s.legal_rep_id_masked.clone(),
                ));
            }
        }
    }
    let mut warnings = Vec::new();
    if subject.as_ref().is_some_and(|s| s.checksum_warning) {
        warnings.push(
            "统一社会信用代码校验位不符：该代码由省级平台报送（试点期代码），已按原样核查，请与登记机关核对"
                .to_string(),
        );
    }
    for (role, pname, hash, masked) in persons {
        let mut recs = Vec::new();
        match &hash {
            None => warnings.push(format!(
                "{} {pname}：未提供身份证号码，未能核查其本人记录",
                role.label_zh()
            )),
            Some(hash) => {
                let own = records::of_subject_key(conn, &format!("pid:{hash}"))?
                    .map(|(_, own)| own)
                    .unwrap_or_default();
                let named = records::naming_legal_rep(conn, hash)?;
                let all: Vec<&RecordRow> = own.iter().chain(named.iter().map(|(r, _)| r)).collect();
                let repaired = repaired_of(conn, &all)?;
                for r in &own {
                    note(r);
                    let fixed = repaired.contains_key(&r.id);
                    recs.push(record_fact(set, r, fixed, RecordOf::Subject, &pname)?);
                }
                for (r, subject_name) in &named {
                    note(r);
                    let fixed = repaired.contains_key(&r.id);
                    recs.push(record_fact(
                        set,
                        r,
                        fixed,
                        RecordOf::LegalRep,
                        subject_name,
                    )?);
                }
            }
        }
        parties.push(Party {
            role,
            name: pname,
            id_masked: masked,
            records: recs,
        });
    }
    Ok(Gathered {
        stored: StoredFacts {
            facts: Facts { parties },
            provenance,
        },
        subject_name: name,
        known,
        warnings,
    })
}
