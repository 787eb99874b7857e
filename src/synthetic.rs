//! Deterministic synthetic data: subjects with valid codes and records of every kind, for the demo
//! and for load tests. Same seed, same data.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::domain::{id_number, uscc};

const DIVISIONS: [&str; 6] = ["110000", "110105", "110108", "310115", "440300", "330100"];
const SURNAMES: [&str; 10] = ["张", "王", "李", "赵", "刘", "陈", "杨", "黄", "周", "吴"];
const GIVEN: [&str; 10] = ["伟", "芳", "娜", "敏", "静", "磊", "洋", "勇", "艳", "杰"];
const TRADES: [&str; 8] = [
    "科技",
    "建设工程",
    "商贸",
    "物流",
    "医药",
    "餐饮管理",
    "环保",
    "信息技术",
];
const NAMES: [&str; 12] = [
    "华信", "东方", "恒达", "远景", "瑞丰", "嘉和", "金石", "新城", "天成", "博远", "中润", "宏图",
];

/// Who provides which kind of record in generated data: (source code, authority name, authority code).
pub const PROVIDERS: [(&str, &str, &str); 5] = [
    ("SCJG", "市市场监督管理局", "11110000MB0000000U"),
    ("SW", "国家税务总局市税务局", "11110000MB0000000U"),
    ("FY", "市中级人民法院", "11110000MB0000000U"),
    ("CZ", "市财政局", "11110000MB0000000U"),
    ("RS", "市人力资源和社会保障局", "11110000MB0000000U"),
];

/// The n-th generated enterprise code (distinct for distinct n).
pub fn enterprise_code(n: u64) -> String {
    let division = DIVISIONS[(n % DIVISIONS.len() as u64) as usize];
    let body = format!("MA{:06}", n % 1_000_000);
    // Authority and type codes of REFERENCE.md §1.1, one per million, so codes stay distinct.
    let prefix = ["91", "92", "93", "12", "52", "51", "31", "Y1", "N1", "A1"]
        [((n / 1_000_000) % 10) as usize];
    // Bodies from digits and 'MA' only: always inside the GB 32100 character set.
    uscc::compose(prefix, division, &body)
        .map(|u| u.as_str().to_string())
        .unwrap_or_default()
}

/// A valid ID number for a generated person.
pub fn person_id(rng: &mut StdRng) -> String {
    let region = ["110101", "110105", "310115", "440304", "330106"][rng.gen_range(0..5)];
    let year = rng.gen_range(1960..2000);
    let month = rng.gen_range(1..=12);
    let day = rng.gen_range(1..=28);
    let seq = rng.gen_range(0..1000);
    let mut s = format!("{region}{year:04}{month:02}{day:02}{seq:03}");
    let c = id_number::check_char(s.as_bytes());
    s.push(c);
    s
}

fn person_name(rng: &mut StdRng) -> String {
    format!(
        "{}{}",
        SURNAMES[rng.gen_range(0..10)],
        GIVEN[rng.gen_range(0..10)]
    )
}

fn date(rng: &mut StdRng, from_year: i32, to_year: i32) -> chrono::NaiveDate {
    let start = chrono::NaiveDate::from_ymd_opt(from_year, 1, 1).unwrap_or_default();
    let days = (to_year - from_year + 1) as i64 * 365;
    start + chrono::Duration::days(rng.gen_range(0..days))
}

/// One generated record for subject `n`, as `(source code, record JSON)` in the API's shape.
pub fn record(rng: &mut StdRng, n: u64, i: u64, subject: &Value) -> (String, Value) {
    let pick = rng.gen_range(0..100);
    let decision = date(rng, 2021, 2026);
    let id = format!("GEN-{n}-{i}");
    let (src, auth, auth_code) = PROVIDERS[0];
    let (source, mut v) = if pick < 45 {
        let fine_wan: u32 = match rng.gen_range(0..10) {
            0 => rng.gen_range(200..500),
            1..=3 => rng.gen_range(10..200),
            _ => rng.gen_range(1..10),
        };
        let mut types = vec!["fine"];
        if rng.gen_range(0..20) == 0 {
            types.push("licence_revoked");
        }
        (
            src,
            json!({
                "kind": "penalty", "decision_no": format!("市监罚〔{}〕{}号", decision.format("%Y"), i + 1),
                "decision_date": decision, "severity": if fine_wan >= 200 { "serious" } else { "general" },
                "penalty_types": types, "fine_amount": format!("{}.00", fine_wan as u64 * 10_000),
                "authority": {"name": auth, "uscc": auth_code},
                "details": {"CF_WFXW": "违反广告法", "CF_SY": "发布虚假广告", "CF_YJ": "《中华人民共和国广告法》第五十五条"}
            }),
        )
    } else if pick < 80 {
        (
            src,
            json!({
                "kind": "license", "decision_no": format!("京市监许〔{}〕{}号", decision.format("%Y"), i + 1),
                "decision_date": decision, "valid_from": decision,
                "valid_to": decision + chrono::Duration::days(5 * 365),
                "authority": {"name": auth, "uscc": auth_code},
                "details": {"XK_XKWS": "食品经营许可证", "XK_XKLB": "普通", "XK_NR": "食品销售"}
            }),
        )
    } else if pick < 95 {
        let (list, source) = [
            ("court.dishonest_debtor", "FY"),
            ("tax.major_violation", "SW"),
            ("procurement.serious_dishonesty", "CZ"),
            ("market.abnormal_operation", "SCJG"),
            ("market.serious_illegal", "SCJG"),
            ("labor.wage_arrears", "RS"),
        ][rng.gen_range(0..6)];
        let ends = rng.gen_range(0..3) > 0;
        let provider = PROVIDERS
            .iter()
            .find(|p| p.0 == source)
            .copied()
            .unwrap_or(PROVIDERS[0]);
        (
            source,
            json!({
                "kind": "list_entry", "list_code": list, "decision_no": format!("列入决定〔{}〕{}号", decision.format("%Y"), i + 1),
                "decision_date": decision, "valid_from": decision,
                "valid_to": if ends { Value::from((decision + chrono::Duration::days(rng.gen_range(365..1100))).to_string()) } else { Value::Null },
                "authority": {"name": provider.1, "uscc": provider.2},
            }),
        )
    } else {
        let (list, source) = [
            ("tax.a_grade", "SW"),
            ("customs.advanced_certified", "SCJG"),
        ][rng.gen_range(0..2)];
        (
            source,
            json!({
                "kind": "red_list", "list_code": list, "decision_date": decision, "valid_from": decision,
                "valid_to": decision + chrono::Duration::days(365),
            }),
        )
    };
    v["source_record_id"] = Value::from(id);
    v["subject"] = subject.clone();
    v["sharing_class"] = Value::from(if rng.gen_range(0..10) == 0 {
        "conditional"
    } else {
        "unconditional"
    });
    v["open_class"] = Value::from("open");
    v["version"] = Value::from(1);
    (source.to_string(), v)
}

/// Subject `n` in the API's shape.
pub fn subject(rng: &mut StdRng, n: u64) -> Value {
    let name = format!(
        "{}{}{}有限公司",
        ["北京", "上海", "深圳", "杭州"][(n % 4) as usize],
        NAMES[rng.gen_range(0..NAMES.len())],
        TRADES[rng.gen_range(0..TRADES.len())]
    );
    json!({
        "uscc": enterprise_code(n), "name": name, "kind": "legal_person",
        "legal_rep": {"name": person_name(rng), "id_number": person_id(rng)}
    })
}

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{IdNumber, Uscc};

    #[test]
    fn generated_codes_are_valid_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for n in [0, 1, 2, 999_999, 1_000_000, 1_000_001, 4_999_999] {
            let c = enterprise_code(n);
            assert!(Uscc::parse(&c).is_ok(), "{n}: {c}");
            assert!(seen.insert(c));
        }
        let mut r = rng(1);
        for _ in 0..100 {
            assert!(IdNumber::parse(&person_id(&mut r)).is_ok());
        }
    }

    #[test]
    fn same_seed_same_data() {
        let a = subject(&mut rng(7), 3);
        let b = subject(&mut rng(7), 3);
        assert_eq!(a, b);
    }
}
