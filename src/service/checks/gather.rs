//! The facts of plans, read from the store: each subject's records and the records that name
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

/// Reads everything the measures may look at, for several plans in one session with a few
/// queries for all of them (a bulk job's chunk, a batch, or one check): each plan's subject's
/// records, and each related person's own records and the records that name the person as
/// legal representative. In the order of `plans`, each plan's facts or why they cannot be made
/// (a stored record that no longer reads, say): one plan's bad record fails that plan only.
pub(super) fn gather_all(
    conn: &mut crate::store::DbConn,
    set: &RuleSet,
    keys: &crate::crypto::DataKeys,
    registration: &[String],
    plans: &[&Plan],
) -> Result<Vec<Result<Gathered, StoreError>>, StoreError> {
    // A replay reads what was received by its time, one plan at a time (a replay is one check).
    if plans.iter().any(|p| p.known_at.is_some()) {
        let mut out = Vec::with_capacity(plans.len());
        for plan in plans {
            out.push(match plan.known_at {
                Some(at) => replay::gather(conn, set, keys, registration, plan, at),
                None => gather_all(conn, set, keys, registration, &[plan])?
                    .pop()
                    .unwrap_or_else(|| Err(StoreError::Corrupt("no facts gathered".into()))),
            });
        }
        return Ok(out);
    }
    Ok(read_all(conn, keys, plans)?.facts(set, plans))
}

/// (role, name, keyed hash of the ID number, masked ID number) of a person a check looks at.
pub(super) type Person = (AppliesTo, String, Option<String>, Option<String>);

/// The rows [`gather_all`] reads for several plans; their facts under a rule set are
/// [`Read::facts`] (the same rows give the facts under several sets: the impact analysis).
pub(super) struct Read {
    subject_keys: Vec<String>,
    subjects: Held,
    persons: Vec<Vec<Person>>,
    own: Held,
    named: std::collections::HashMap<String, Vec<(RecordRow, String)>>,
    repaired: BTreeMap<String, NaiveDate>,
}

/// The persons a check looks at: those of the request, and, without a legal representative
/// among them, the one recorded on the subject as held (now, or as a replay's time left it).
pub(super) fn persons_of(
    plan: &Plan,
    keys: &crate::crypto::DataKeys,
    held: Option<&crate::store::subjects::SubjectRow>,
) -> Vec<Person> {
    let mut persons: Vec<Person> = plan
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
    if !persons.iter().any(|p| p.0 == AppliesTo::LegalRep) {
        if let Some(hash) = held.and_then(|s| s.legal_rep_id_hash.as_ref()) {
            persons.push((
                AppliesTo::LegalRep,
                held.and_then(|s| s.legal_rep_name.clone())
                    .unwrap_or_default(),
                Some(hash.clone()),
                held.and_then(|s| s.legal_rep_id_masked.clone()),
            ));
        }
    }
    persons
}

/// The subjects read, by storage key, each with its records.
pub(crate) type Held =
    std::collections::HashMap<String, (crate::store::subjects::SubjectRow, Vec<RecordRow>)>;

/// Reads the rows of several live plans (no replay) with a few queries for all of them.
pub(super) fn read_all(
    conn: &mut crate::store::DbConn,
    keys: &crate::crypto::DataKeys,
    plans: &[&Plan],
) -> Result<Read, StoreError> {
    let subject_keys: Vec<String> = plans
        .iter()
        .map(|p| p.key.storage_key(&|i| keys.lookup_hash(i)))
        .collect();
    let subjects = records::of_subject_keys(conn, &subject_keys)?;
    read_around(conn, keys, plans, subject_keys, subjects)
}

/// The rest of [`read_all`] around the plans' subjects, read by the caller (`subjects`, by the
/// plans' storage keys `subject_keys`): the related persons' own records, the records naming
/// them as legal representative, and the repairs.
pub(super) fn read_around(
    conn: &mut crate::store::DbConn,
    keys: &crate::crypto::DataKeys,
    plans: &[&Plan],
    subject_keys: Vec<String>,
    subjects: Held,
) -> Result<Read, StoreError> {
    let persons: Vec<Vec<Person>> = plans
        .iter()
        .zip(&subject_keys)
        .map(|(plan, key)| persons_of(plan, keys, subjects.get(key).map(|(s, _)| s)))
        .collect();
    let hashes: Vec<String> = persons
        .iter()
        .flatten()
        .filter_map(|p| p.2.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let person_keys: Vec<String> = hashes.iter().map(|h| format!("pid:{h}")).collect();
    let own = records::of_subject_keys(conn, &person_keys)?;
    // The records naming a person that are the plans' subjects' own (a subject's records name
    // its own legal representative) are taken from what was read, not read again.
    let read: Vec<&str> = subjects.values().map(|(s, _)| s.id.as_str()).collect();
    let mut named = records::naming_legal_reps(conn, &hashes, &read)?;
    let wanted: std::collections::HashSet<&str> = hashes.iter().map(String::as_str).collect();
    for (s, rows) in subjects.values() {
        for r in rows {
            if let Some(h) = r
                .legal_rep_id_hash
                .as_deref()
                .filter(|h| wanted.contains(h))
            {
                named
                    .entry(h.to_string())
                    .or_default()
                    .push((r.clone(), s.name.clone()));
            }
        }
    }
    for rows in named.values_mut() {
        rows.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    }
    let record_ids: Vec<String> = subjects
        .values()
        .chain(own.values())
        .flat_map(|(_, rows)| rows.iter().map(|r| r.id.clone()))
        .chain(named.values().flatten().map(|(r, _)| r.id.clone()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let repaired = crate::store::repairs::repaired_on(conn, &record_ids)?;
    Ok(Read {
        subject_keys,
        subjects,
        persons,
        own,
        named,
        repaired,
    })
}

impl Read {
    /// The facts of `plans` (the plans read, in the same order) under `set`: each plan's facts
    /// or why they cannot be made (that plan only).
    pub(super) fn facts(
        &self,
        set: &RuleSet,
        plans: &[&Plan],
    ) -> Vec<Result<Gathered, StoreError>> {
        let own_of = |hash: &str| {
            self.own
                .get(&format!("pid:{hash}"))
                .map(|(_, rows)| rows.as_slice())
                .unwrap_or_default()
        };
        let named_of = |hash: &str| self.named.get(hash).map(Vec::as_slice).unwrap_or_default();
        plans
            .iter()
            .zip(&self.subject_keys)
            .zip(&self.persons)
            .map(|((plan, key), persons)| {
                // A key given twice (a roster that lists a code twice) is read once.
                let held = self.subjects.get(key).map(|(s, rows)| (s, rows.as_slice()));
                assemble(set, plan, held, persons, &own_of, &named_of, &self.repaired)
            })
            .collect()
    }
}

/// One plan's facts from what [`gather_all`] read.
pub(super) fn assemble<'a>(
    set: &RuleSet,
    plan: &Plan,
    held: Option<(&crate::store::subjects::SubjectRow, &[RecordRow])>,
    persons: &[Person],
    own_of: &dyn Fn(&str) -> &'a [RecordRow],
    named_of: &dyn Fn(&str) -> &'a [(RecordRow, String)],
    repaired: &BTreeMap<String, NaiveDate>,
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
    let (subject, records) = match held {
        Some((s, records)) => (Some(s), records),
        None => (None, &[][..]),
    };
    let name = subject
        .as_ref()
        .map(|s| s.name.clone())
        .or_else(|| plan.given_name.clone());
    let label = name.clone().unwrap_or_default();
    let mut parties = Vec::new();
    let mut subject_records = Vec::new();
    for r in records {
        note(r);
        let fixed = repaired.contains_key(&r.id);
        subject_records.push(record_fact(set, r, fixed, RecordOf::Subject, &label)?);
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
    let mut warnings = Vec::new();
    if subject.as_ref().is_some_and(|s| s.checksum_warning) {
        warnings.push(
            "统一社会信用代码校验位不符：该代码由省级平台报送（试点期代码），已按原样核查，请与登记机关核对"
                .to_string(),
        );
    }
    // A record of the subject's that names a person (its own legal representative) is made
    // once: the person's copy differs only in its relation and subject name.
    let made: std::collections::HashMap<&str, &RecordFact> = parties[0]
        .records
        .iter()
        .map(|f| (f.id.as_str(), f))
        .collect();
    let mut others = Vec::with_capacity(persons.len());
    for (role, pname, hash, masked) in persons {
        let mut recs = Vec::new();
        match &hash {
            None => warnings.push(format!(
                "{} {pname}：未提供身份证号码，未能核查其本人记录",
                role.label_zh()
            )),
            Some(hash) => {
                for r in own_of(hash) {
                    note(r);
                    let fixed = repaired.contains_key(&r.id);
                    recs.push(record_fact(set, r, fixed, RecordOf::Subject, pname)?);
                }
                for (r, subject_name) in named_of(hash) {
                    // Noted already, as the subject's.
                    if let Some(f) = made.get(r.id.as_str()) {
                        recs.push(RecordFact {
                            relation: RecordOf::LegalRep,
                            subject_name: subject_name.clone(),
                            ..(*f).clone()
                        });
                        continue;
                    }
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
        others.push(Party {
            role: *role,
            name: pname.clone(),
            id_masked: masked.clone(),
            records: recs,
        });
    }
    parties.extend(others);
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
