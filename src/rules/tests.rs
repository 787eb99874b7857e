//! Loader and evaluator tests on small, in-memory rule sets and on the shipped one.

use std::path::Path;

use chrono::NaiveDate;

use super::load::{build, Sources};
use super::*;
use crate::domain::RecordStatus;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

const CATALOG: &str = "lists:
  - {code: court.dishonest_debtor, name: 失信被执行人名单, issued_by: 最高人民法院, polarity: negative}
  - {code: tax.a_grade, name: 纳税信用A级纳税人, issued_by: 税务部门, polarity: red}
";

pub(super) const GOOD: &str = "scenario: procurement
title: 政府采购
measures:
  - id: procurement.dishonest_debtor
    title: 失信被执行人不得参加政府采购活动
    applies_to: [subject]
    when:
      kinds: [list_entry]
      list_codes: [court.dishonest_debtor]
      in_force: true
    measure: prohibit
    duration: while_in_force
    implemented_by: 采购人
    basis:
      - {text: 财库〔2016〕125号, confidence: secondary}
  - id: procurement.large_fine
    title: 三年内较大数额罚款
    applies_to: [subject]
    when:
      kinds: [penalty]
      fine_at_least: 2000000
      decided_within: P3Y
    measure: prohibit
    duration: P3Y
    implemented_by: 采购人
    basis:
      - {text: 政府采购法实施条例 第十九条, confidence: verified}
";

pub(super) const PERIODS: &str = "periods:
  - id: penalty.general
    kinds: [penalty]
    severities: [general]
    publicity: P1Y
    repair: P3M
    basis:
      - {text: 信用修复管理办法 一般失信信息, confidence: secondary}
  - id: penalty.serious
    kinds: [penalty]
    severities: [serious]
    publicity: P3Y
    repair: P1Y
    basis:
      - {text: 信用修复管理办法 严重失信信息, confidence: secondary}
  - id: penalty.unstated
    kinds: [penalty]
    otherwise: true
    publicity: P1Y
    repair: P3M
    basis:
      - {text: 信用修复管理办法 一般失信信息, confidence: secondary}
";

pub(super) fn sources(scenario: &str) -> Sources {
    let mut s = Sources::new();
    s.insert("ruleset.yaml".into(), "version: t1\n".into());
    s.insert("periods.yaml".into(), PERIODS.into());
    s.insert("catalog/lists.yaml".into(), CATALOG.into());
    s.insert("scenarios/procurement.yaml".into(), scenario.into());
    s
}

fn errors_of(scenario: &str) -> Vec<RuleError> {
    build(sources(scenario)).expect_err("the set should be refused")
}

fn assert_error(scenario: &str, line: usize, needle: &str) {
    let errors = errors_of(scenario);
    assert!(
        errors.iter().any(|e| e.file == "scenarios/procurement.yaml"
            && e.line == Some(line)
            && e.reason.contains(needle)),
        "no error at line {line} containing {needle:?}: {errors:#?}"
    );
}

#[test]
fn the_shipped_rule_set_loads() {
    let set = load::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")).unwrap();
    for s in ["market_entry", "procurement", "bidding", "subsidy"] {
        assert!(set.scenario(s).is_some(), "{s} missing");
    }
    assert!(set.digest.starts_with("sha256:"));
    for m in set.measures().values() {
        assert!(!m.basis.is_empty(), "{} has no basis", m.id);
    }
}

#[test]
fn a_good_set_loads_with_a_stable_digest() {
    let a = build(sources(GOOD)).unwrap();
    let b = build(sources(GOOD)).unwrap();
    assert_eq!(a.digest, b.digest);
    assert_eq!(a.version, "t1");
    let c = build(sources(&GOOD.replace("2000000", "2000001"))).unwrap();
    assert_ne!(a.digest, c.digest, "the digest covers the content");
}

#[test]
fn unknown_keys_are_refused_with_their_line() {
    assert_error(
        &GOOD.replace(
            "      in_force: true",
            "      in_force: true\n      colour: red",
        ),
        11,
        "unknown field `colour`",
    );
}

#[test]
fn duplicate_ids_name_the_second_occurrence() {
    assert_error(
        &GOOD.replace(
            "id: procurement.large_fine",
            "id: procurement.dishonest_debtor",
        ),
        16,
        "duplicate measure id procurement.dishonest_debtor",
    );
}

#[test]
fn unknown_list_codes_are_refused() {
    assert_error(
        &GOOD.replace(
            "list_codes: [court.dishonest_debtor]",
            "list_codes: [court.dishonest]",
        ),
        9,
        "unknown list code court.dishonest",
    );
}

#[test]
fn a_measure_without_a_basis_is_refused() {
    let text = GOOD.replace(
        "    basis:\n      - {text: 政府采购法实施条例 第十九条, confidence: verified}\n",
        "    basis: []\n",
    );
    assert_error(&text, 26, "has no legal basis");
}

#[test]
fn bad_periods_and_amounts_are_refused() {
    assert_error(
        &GOOD.replace("decided_within: P3Y", "decided_within: 3 years"),
        22,
        "decided_within",
    );
    assert_error(
        &GOOD.replace("duration: P3Y", "duration: forever"),
        24,
        "duration",
    );
    assert_error(
        &GOOD.replace("fine_at_least: 2000000", "fine_at_least: lots"),
        21,
        "fine_at_least",
    );
}

#[test]
fn uncertain_bases_cannot_prohibit_alone_and_need_a_note() {
    let text = GOOD.replace("confidence: verified", "confidence: uncertain");
    let errors = errors_of(&text);
    assert!(errors
        .iter()
        .any(|e| e.reason.contains("prohibit rests only on uncertain bases")));
    assert!(errors.iter().any(|e| e.reason.contains("needs a note")));
}

#[test]
fn red_lists_give_incentives_only() {
    let text = GOOD.replace(
        "list_codes: [court.dishonest_debtor]",
        "list_codes: [tax.a_grade]",
    );
    assert_error(&text, 11, "a red list cannot ground a sanction");
}

#[test]
fn every_problem_is_reported_not_only_the_first() {
    let text = GOOD
        .replace("duration: P3Y", "duration: P3X")
        .replace("list_codes: [court.dishonest_debtor]", "list_codes: [nope]");
    assert_eq!(errors_of(&text).len(), 2);
}

/// Order 36: past its publicity a record has no effect, unless the measure's own statutory
/// look-back keeps it, and then only with a note that says so.
#[test]
fn a_measure_may_keep_counting_a_record_past_its_publicity() {
    let fine = |decided: &str, severity: Severity| {
        let mut f = fact("r1", RecordKind::Penalty);
        f.decision_date = Some(d(decided));
        f.fine = Some(Yuan::parse("2500000").unwrap());
        f.severity = Some(severity);
        f
    };
    let check = |set: &RuleSet, mut f: RecordFact| {
        let dates = set.periods.dates(periods::PeriodFacts {
            kind: f.kind,
            severity: f.severity,
            penalty_types: &f.penalty_types,
            list_code: None,
            decision_date: f.decision_date,
            valid_from: None,
            valid_to: None,
        });
        f.publicity_until = dates.publicity_until;
        let facts = Facts {
            parties: vec![Party {
                role: AppliesTo::Subject,
                name: "甲公司".into(),
                id_masked: None,
                records: vec![f],
            }],
        };
        evaluate(
            set.scenario("procurement").unwrap(),
            &facts,
            d("2026-11-24"),
        )
    };
    let ends = build(sources(GOOD)).unwrap();
    // 一般: publicity ended 2025-12-01; the three-year look-back has not.
    assert_eq!(
        check(&ends, fine("2024-12-01", Severity::General)).verdict,
        Verdict::Clear
    );
    assert_eq!(
        check(&ends, fine("2024-12-01", Severity::Serious)).verdict,
        Verdict::Prohibited
    );
    let counting = GOOD.replace(
        "duration: P3Y\n",
        "duration: P3Y\n    after_publicity: counts\n",
    );
    let refused = errors_of(&counting);
    assert!(
        refused
            .iter()
            .any(|e| e.reason.contains("after_publicity: counts needs a note")),
        "{refused:?}"
    );
    let counting = counting.replace(
        "after_publicity: counts\n",
        "after_publicity: counts\n    note: 政府采购法第二十二条的三年期限由法律规定，不随公示期届满而缩短\n",
    );
    let set = build(sources(&counting)).unwrap();
    let ev = check(&set, fine("2024-12-01", Severity::General));
    assert_eq!(ev.verdict, Verdict::Prohibited);
    assert!(
        ev.findings[0]
            .explanation
            .contains("公示期已于 2025-12-01 届满"),
        "{}",
        ev.findings[0].explanation
    );
    // A repair ends it all the same.
    let mut repaired = fine("2024-12-01", Severity::General);
    repaired.repaired = true;
    assert_eq!(check(&set, repaired).verdict, Verdict::Clear);
}

/// A set kept with an old report, from before `periods.yaml`, still builds for re-evaluation;
/// a set to make active does not.
#[test]
fn a_kept_set_from_before_the_periods_still_builds() {
    let mut s = sources(GOOD);
    s.remove("periods.yaml");
    assert!(build(s.clone()).is_err());
    let set = load::build_kept(s).unwrap();
    assert!(set.periods.rules.is_empty());
    assert!(set.scenario("procurement").is_some());
}

#[test]
fn calendar_files_are_checked() {
    let mut s = sources(GOOD);
    s.insert(
        "calendar/2026.yaml".into(),
        "year: 2026\nholidays:\n  - {name: 国庆节, from: 2026-10-01, to: 2026-10-07}\nmakeup_workdays: [2026-10-03]\n"
            .into(),
    );
    let errors = build(s).unwrap_err();
    assert!(errors[0].reason.contains("both as a holiday"), "{errors:?}");
}

fn fact(id: &str, kind: RecordKind) -> RecordFact {
    RecordFact {
        id: id.into(),
        kind,
        list_code: None,
        list_name: None,
        decision_no: None,
        decision_date: None,
        valid_from: None,
        valid_to: None,
        severity: None,
        penalty_types: vec![],
        fine: None,
        status: RecordStatus::Active,
        under_objection: false,
        publicity_until: None,
        repair_eligible_from: None,
        repaired: false,
        details: Default::default(),
        relation: RecordOf::Subject,
        subject_name: "示例公司".into(),
    }
}

fn facts(records: Vec<RecordFact>) -> Facts {
    Facts {
        parties: vec![Party {
            role: AppliesTo::Subject,
            name: "示例公司".into(),
            id_masked: None,
            records,
        }],
    }
}

fn sample_records() -> Vec<RecordFact> {
    let mut listed = fact("rec_b", RecordKind::ListEntry);
    listed.list_code = Some("court.dishonest_debtor".into());
    listed.list_name = Some("失信被执行人名单".into());
    listed.valid_from = Some(d("2026-03-01"));
    listed.valid_to = Some(d("2028-03-01"));
    let mut fined = fact("rec_a", RecordKind::Penalty);
    fined.decision_no = Some("京市监罚〔2024〕7号".into());
    fined.decision_date = Some(d("2024-11-24"));
    fined.fine = Some(Yuan::parse("2500000.00").unwrap());
    let mut small = fact("rec_c", RecordKind::Penalty);
    small.decision_date = Some(d("2025-01-01"));
    small.fine = Some(Yuan::parse("1999999.99").unwrap());
    vec![listed, fined, small]
}

#[test]
fn findings_explain_the_conditions_with_their_values() {
    let set = build(sources(GOOD)).unwrap();
    let ev = evaluate(
        set.scenario("procurement").unwrap(),
        &facts(sample_records()),
        d("2026-11-24"),
    );
    assert_eq!(ev.verdict, Verdict::Prohibited);
    let ids: Vec<&str> = ev.findings.iter().map(|f| f.measure_id.as_str()).collect();
    assert_eq!(
        ids,
        ["procurement.dishonest_debtor", "procurement.large_fine"]
    );
    let fine = &ev.findings[1];
    assert_eq!(
        fine.records.len(),
        1,
        "the 1,999,999.99 fine does not count"
    );
    assert_eq!(fine.records[0].record_id, "rec_a");
    assert!(
        fine.explanation
            .contains("罚款 2500000.00 元，不低于 2000000.00 元"),
        "{}",
        fine.explanation
    );
    assert!(
        fine.explanation.contains("决定日期 2024-11-24"),
        "{}",
        fine.explanation
    );
    assert_eq!(
        fine.until,
        Some(d("2027-11-23")),
        "three years from the decision, inclusive"
    );
    let listed = &ev.findings[0];
    assert!(
        listed.explanation.contains("失信被执行人名单"),
        "{}",
        listed.explanation
    );
    assert!(listed.explanation.contains("2026-03-01 至 2028-03-01"));
    assert_eq!(listed.until, Some(d("2028-03-01")));
}

#[test]
fn evaluation_does_not_depend_on_input_order() {
    let set = build(sources(GOOD)).unwrap();
    let scenario = set.scenario("procurement").unwrap();
    let base = evaluate(scenario, &facts(sample_records()), d("2026-11-24"));
    let mut records = sample_records();
    for _ in 0..records.len() {
        records.rotate_left(1);
        assert_eq!(
            evaluate(scenario, &facts(records.clone()), d("2026-11-24")),
            base
        );
        let mut rev = records.clone();
        rev.reverse();
        assert_eq!(evaluate(scenario, &facts(rev), d("2026-11-24")), base);
    }
}

#[test]
fn a_record_decided_after_the_as_of_date_did_not_exist_then() {
    let set = build(sources(GOOD)).unwrap();
    let ev = evaluate(
        set.scenario("procurement").unwrap(),
        &facts(sample_records()),
        d("2024-11-23"),
    );
    assert_eq!(ev.verdict, Verdict::Clear, "{:?}", ev.findings);
}

/// The field names serde accepts for `T` (read from its unknown-field error).
pub(crate) fn serde_fields<T: serde::de::DeserializeOwned>() -> std::collections::BTreeSet<String> {
    let err = match serde_json::from_str::<T>(r#"{"__probe__": 0}"#) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a probe field was accepted: the type does not deny unknown fields"),
    };
    let expected = err.split("expected").nth(1).unwrap_or_default();
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(String::from)
        .collect()
}

/// The property names the editor schema gives at `pointer` in `rules/schema/FILE`.
pub(crate) fn schema_fields(file: &str, pointer: &str) -> std::collections::BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("rules/schema")
        .join(file);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc.pointer(pointer)
        .and_then(|v| v.as_object())
        .unwrap_or_else(|| panic!("{file}{pointer} has no properties"))
        .keys()
        .cloned()
        .collect()
}

#[test]
fn the_editor_schemas_name_the_same_keys_as_the_loader() {
    use super::model::*;
    let cases = [
        (
            serde_fields::<ManifestFile>(),
            schema_fields("ruleset.schema.json", "/properties"),
        ),
        (
            serde_fields::<CatalogFile>(),
            schema_fields("catalog.schema.json", "/properties"),
        ),
        (
            serde_fields::<ListDef>(),
            schema_fields("catalog.schema.json", "/properties/lists/items/properties"),
        ),
        (
            serde_fields::<ScenarioFile>(),
            schema_fields("scenario.schema.json", "/properties"),
        ),
        (
            serde_fields::<MeasureDef>(),
            schema_fields("scenario.schema.json", "/$defs/measure/properties"),
        ),
        (
            serde_fields::<SelectorDef>(),
            schema_fields("scenario.schema.json", "/$defs/selector/properties"),
        ),
        (
            serde_fields::<Basis>(),
            schema_fields("scenario.schema.json", "/$defs/basis/properties"),
        ),
        (
            serde_fields::<DetailsContain>(),
            schema_fields(
                "scenario.schema.json",
                "/$defs/selector/properties/details_contain/properties",
            ),
        ),
        (
            serde_fields::<super::periods::PeriodsFile>(),
            schema_fields("periods.schema.json", "/properties"),
        ),
        (
            serde_fields::<super::periods::PeriodDef>(),
            schema_fields("periods.schema.json", "/$defs/period/properties"),
        ),
        (
            serde_fields::<Basis>(),
            schema_fields("periods.schema.json", "/$defs/basis/properties"),
        ),
        (
            serde_fields::<CalendarFile>(),
            schema_fields("calendar.schema.json", "/properties"),
        ),
        (
            serde_fields::<HolidayDef>(),
            schema_fields(
                "calendar.schema.json",
                "/properties/holidays/items/properties",
            ),
        ),
    ];
    for (i, (loader, schema)) in cases.iter().enumerate() {
        assert!(!loader.is_empty());
        assert_eq!(loader, schema, "case {i}: the loader and the schema differ");
    }
}
