//! Criterion benchmark of the pure evaluator: one subject with 10 records against the shipped
//! rule set, per scenario; and loading the shipped set. `cargo bench --bench evaluator`.

use std::path::Path;

use chrono::NaiveDate;
use creditgate::domain::{PenaltyType, RecordKind, RecordStatus, Severity, Yuan};
use creditgate::rules::{evaluate, load, AppliesTo, Facts, Party, RecordFact, RecordOf};
use criterion::{criterion_group, criterion_main, Criterion};

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn record(n: usize, kind: RecordKind) -> RecordFact {
    RecordFact {
        id: format!("rec_{n:02}"),
        kind,
        list_code: None,
        list_name: None,
        decision_no: Some(format!("京市监罚〔2025〕{n}号")),
        decision_date: Some(d("2025-03-01")),
        valid_from: Some(d("2025-03-01")),
        valid_to: None,
        severity: Some(Severity::General),
        penalty_types: vec![PenaltyType::Fine],
        fine: Some(Yuan::from_fen(5_000_000 * n as i64)),
        status: RecordStatus::Active,
        under_objection: false,
        publicity_until: None,
        repair_eligible_from: None,
        repaired: false,
        details: Default::default(),
        relation: RecordOf::Subject,
        subject_name: "北京示例科技有限公司".into(),
    }
}

/// Ten records: six penalties (one large fine, one licence revocation), two list entries (one in
/// force, one ended), a red list and a licence.
fn ten_records() -> Facts {
    let mut records: Vec<RecordFact> = (0..6).map(|n| record(n, RecordKind::Penalty)).collect();
    records[5].fine = Some(Yuan::parse("2500000.00").unwrap());
    records[4].penalty_types = vec![PenaltyType::LicenceRevoked];
    let mut listed = record(6, RecordKind::ListEntry);
    listed.list_code = Some("court.dishonest_debtor".into());
    listed.list_name = Some("失信被执行人名单".into());
    let mut ended = record(7, RecordKind::ListEntry);
    ended.list_code = Some("market.abnormal_operation".into());
    ended.valid_to = Some(d("2026-01-01"));
    let mut red = record(8, RecordKind::RedList);
    red.list_code = Some("tax.a_grade".into());
    records.extend([listed, ended, red, record(9, RecordKind::License)]);
    Facts {
        parties: vec![Party {
            role: AppliesTo::Subject,
            name: "北京示例科技有限公司".into(),
            id_masked: None,
            records,
        }],
    }
}

fn bench(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let set = load::load_dir(&dir).expect("shipped rules load");
    let facts = ten_records();
    let as_of = d("2026-11-24");
    for name in set.scenario_names() {
        let scenario = set.scenario(name).unwrap();
        c.bench_function(&format!("evaluate/{name}/10 records"), |b| {
            b.iter(|| evaluate(std::hint::black_box(scenario), &facts, as_of))
        });
    }
    let sources = load::read_dir(&dir).unwrap();
    c.bench_function("load/shipped rule set", |b| {
        b.iter(|| load::build(std::hint::black_box(sources.clone())).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
