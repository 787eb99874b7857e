//! Credit records and their subjects, as validated domain values.

use super::{string_enum, FieldError, IdNumber, Uscc, Yuan};
use chrono::NaiveDate;
use serde_json::{json, Map, Value};

string_enum!(
    /// API.md "Records": 行政许可, 行政处罚, negative lists, red lists, 信用承诺.
    RecordKind {
        License => "license",
        Penalty => "penalty",
        ListEntry => "list_entry",
        RedList => "red_list",
        Commitment => "commitment",
    }
);

string_enum!(
    /// Whom a record is about (the 双公示 行政相对人类别, with `other_org` split out).
    SubjectKind {
        LegalPerson => "legal_person",
        OtherOrg => "other_org",
        IndividualBusiness => "individual_business",
        NaturalPerson => "natural_person",
    }
);

string_enum!(
    /// 轻微 / 一般 / 严重.
    Severity {
        Minor => "minor",
        General => "general",
        Serious => "serious",
    }
);

string_enum!(
    /// 行政处罚法 (2021) Art. 9 categories (REFERENCE.md §3.3, [verified] against the law text).
    PenaltyType {
        Warning => "warning",
        PublicCriticism => "public_criticism",
        Fine => "fine",
        ConfiscationOfGains => "confiscation_of_gains",
        ConfiscationOfProperty => "confiscation_of_property",
        LicenceSuspended => "licence_suspended",
        QualificationDowngraded => "qualification_downgraded",
        LicenceRevoked => "licence_revoked",
        BusinessRestricted => "business_restricted",
        ProductionSuspended => "production_suspended",
        OrderedClosed => "ordered_closed",
        EmploymentRestricted => "employment_restricted",
        Detention => "detention",
        Other => "other",
    }
);

string_enum!(
    /// The governing measures Art. 8, 17–19: 无条件 / 有条件 / 特殊共享.
    SharingClass {
        Unconditional => "unconditional",
        Conditional => "conditional",
        Special => "special",
    }
);

string_enum!(
    /// The governing measures Art. 26: open / on request / not open.
    OpenClass {
        Open => "open",
        OnRequest => "on_request",
        Closed => "closed",
    }
);

string_enum!(
    /// `revoked`: the decision was withdrawn.
    RecordStatus {
        Active => "active",
        Revoked => "revoked",
    }
);

string_enum!(
    /// Where a record came from: a city department, or the provincial platform.
    Origin {
        Local => "local",
        Provincial => "provincial",
    }
);

impl PenaltyType {
    /// The category's name in 行政处罚法 (2021) Art. 9, for explanations.
    pub fn label_zh(self) -> &'static str {
        use PenaltyType::*;
        match self {
            Warning => "警告",
            PublicCriticism => "通报批评",
            Fine => "罚款",
            ConfiscationOfGains => "没收违法所得",
            ConfiscationOfProperty => "没收非法财物",
            LicenceSuspended => "暂扣许可证件",
            QualificationDowngraded => "降低资质等级",
            LicenceRevoked => "吊销许可证件",
            BusinessRestricted => "限制开展生产经营活动",
            ProductionSuspended => "责令停产停业",
            OrderedClosed => "责令关闭",
            EmploymentRestricted => "限制从业",
            Detention => "行政拘留",
            Other => "其他",
        }
    }
}

impl Severity {
    pub fn label_zh(self) -> &'static str {
        match self {
            Severity::Minor => "轻微",
            Severity::General => "一般",
            Severity::Serious => "严重",
        }
    }
}

/// How a subject is identified (the governing measures Art. 16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectKey {
    Uscc(Uscc),
    /// A 个体工商户 without a code: the placeholder plus its registration number.
    RegNo(String),
    Person(IdNumber),
}

/// How a natural person's ID number appears in keys and content hashes: the keyed lookup hash
/// (`crypto::DataKeys::lookup_hash`), never the number itself.
pub type PersonKey<'a> = &'a dyn Fn(&IdNumber) -> String;

impl SubjectKey {
    /// The unique key under which the subject is stored; a person's under the keyed hash of
    /// the ID number.
    pub fn storage_key(&self, person: PersonKey<'_>) -> String {
        match self {
            SubjectKey::Uscc(u) => format!("uscc:{}", u.as_str()),
            SubjectKey::RegNo(r) => format!("reg:{r}"),
            SubjectKey::Person(p) => format!("pid:{}", person(p)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    pub id_number: Option<IdNumber>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectData {
    pub key: SubjectKey,
    pub kind: SubjectKind,
    pub name: String,
    pub legal_rep: Option<Person>,
    pub checksum_warning: bool,
}

impl SubjectData {
    pub fn uscc(&self) -> Option<&Uscc> {
        match &self.key {
            SubjectKey::Uscc(u) => Some(u),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Authority {
    pub name: Option<String>,
    pub uscc: Option<String>,
}

/// A validated record as a provider submits it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecord {
    pub source_record_id: String,
    pub kind: RecordKind,
    pub list_code: Option<String>,
    pub subject: SubjectData,
    pub decision_no: Option<String>,
    pub decision_date: Option<NaiveDate>,
    pub valid_from: Option<NaiveDate>,
    pub valid_to: Option<NaiveDate>,
    pub severity: Option<Severity>,
    pub penalty_types: Vec<PenaltyType>,
    pub fine_amount: Option<Yuan>,
    pub authority: Authority,
    pub sharing_class: SharingClass,
    pub open_class: OpenClass,
    pub status: RecordStatus,
    pub version: i64,
    pub origin: Origin,
    pub details: Map<String, Value>,
}

impl NewRecord {
    /// The record's content without its version, in a canonical form (object keys sorted), so
    /// that the same content sent twice compares equal. ID numbers appear as `person` makes
    /// them (the keyed hash), and masked.
    pub fn content(&self, person: PersonKey<'_>) -> Value {
        let legal_rep = self.subject.legal_rep.as_ref().map(|p| {
            json!({
                "name": p.name,
                "id_number": p.id_number.as_ref().map(|i| i.masked()),
                "id_key": p.id_number.as_ref().map(person),
            })
        });
        json!({
            "source_record_id": self.source_record_id,
            "kind": self.kind.as_str(),
            "list_code": self.list_code,
            "subject": {
                "key": self.subject.key.storage_key(person),
                "kind": self.subject.kind.as_str(),
                "name": self.subject.name,
                "legal_rep": legal_rep,
            },
            "decision_no": self.decision_no,
            "decision_date": self.decision_date,
            "valid_from": self.valid_from,
            "valid_to": self.valid_to,
            "severity": self.severity.map(|s| s.as_str()),
            "penalty_types": self.penalty_types.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
            "fine_amount": self.fine_amount.map(|f| f.to_string()),
            "authority": {"name": self.authority.name, "uscc": self.authority.uscc},
            "sharing_class": self.sharing_class.as_str(),
            "open_class": self.open_class.as_str(),
            "status": self.status.as_str(),
            "origin": self.origin.as_str(),
            "details": self.details,
        })
    }
}

/// Collects field errors while a draft is validated.
#[derive(Default)]
pub struct Errors(pub Vec<FieldError>);

impl Errors {
    pub fn push(&mut self, field: &str, code: &str, message: impl Into<String>) {
        // A field already reported (a date that is not a date, an amount that does not parse,
        // a penalty type that is unknown) is not also "required": the first error says what
        // to fix, a second would say something false.
        if code == "required" && self.has(field) {
            return;
        }
        self.0.push(FieldError::new(field, code, message));
    }

    pub fn required(&mut self, field: &str, why: &str) {
        self.push(field, "required", format!("{field} is required {why}"));
    }

    /// Whether an error names `field` or a part of it (`penalty_types[0]`, `subject.uscc`).
    pub fn has(&self, field: &str) -> bool {
        self.0.iter().any(|e| {
            e.field == field
                || e.field
                    .strip_prefix(field)
                    .is_some_and(|rest| rest.starts_with(['.', '[']))
        })
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Parses one closed-set value, recording an error that lists the allowed values.
pub fn parse_enum<T>(
    errors: &mut Errors,
    field: &str,
    value: Option<&str>,
    parse: fn(&str) -> Option<T>,
    allowed: fn() -> String,
) -> Option<T> {
    let v = value?;
    match parse(v.trim()) {
        Some(t) => Some(t),
        None => {
            errors.push(
                field,
                "unknown_value",
                format!("'{v}' is not one of: {}", allowed()),
            );
            None
        }
    }
}

/// A date written as the API takes it: `YYYY-MM-DD` exactly (RFC 3339 full-date, the
/// document's `format: date`), not `2026-3-1`.
pub fn iso_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    if shape {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
    } else {
        None
    }
}

pub fn parse_date(errors: &mut Errors, field: &str, value: Option<&str>) -> Option<NaiveDate> {
    let v = value?.trim();
    if v.is_empty() {
        return None;
    }
    match iso_date(v) {
        Some(d) => Some(d),
        None => {
            errors.push(
                field,
                "invalid_date",
                format!("'{v}' is not a date; write YYYY-MM-DD, such as 2026-03-01"),
            );
            None
        }
    }
}

/// What a record's `details` (the further 双公示 fields) may hold. The 双公示 layouts have about 30
/// columns and their longest text (违法事实, 4,000 characters in the exchange DDL at most) is
/// about 12 KB in UTF-8, so these bounds leave room for any real file while a 7 MB object
/// (found by a hostile test) is refused.
pub const DETAILS_MAX_KEYS: usize = 64;
pub const DETAILS_MAX_KEY_CHARS: usize = 64;
/// Levels of objects and arrays inside `details` (`{"a": {"b": [1]}}` has 2).
pub const DETAILS_MAX_DEPTH: usize = 3;
/// Bytes of the `details` object written as compact JSON.
pub const DETAILS_MAX_BYTES: usize = 65_536;

/// Checks a record's `details` against the bounds above; errors name `details` or the key.
pub fn check_details(details: &Map<String, Value>, errors: &mut Errors) {
    fn depth(v: &Value) -> usize {
        match v {
            Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
            Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
            _ => 0,
        }
    }
    if details.len() > DETAILS_MAX_KEYS {
        errors.push(
            "details",
            "too_many_keys",
            format!(
                "details holds {} fields; at most {DETAILS_MAX_KEYS} are kept",
                details.len()
            ),
        );
    }
    for (k, v) in details {
        let chars = k.chars().count();
        if chars == 0 || chars > DETAILS_MAX_KEY_CHARS {
            errors.push(
                "details",
                "invalid_key",
                format!("a field name in details has 1 to {DETAILS_MAX_KEY_CHARS} characters, found {chars}"),
            );
        } else if depth(v) > DETAILS_MAX_DEPTH {
            errors.push(
                &format!("details.{k}"),
                "too_deep",
                format!("a value in details may nest objects and arrays at most {DETAILS_MAX_DEPTH} levels deep"),
            );
        }
    }
    let bytes = serde_json::to_vec(details).map_or(usize::MAX, |b| b.len());
    if bytes > DETAILS_MAX_BYTES {
        errors.push(
            "details",
            "too_large",
            format!("details is {bytes} bytes as JSON; at most {DETAILS_MAX_BYTES} are kept: shorten the longest texts or leave out fields that are not 双公示 columns"),
        );
    }
}

/// Checks that do not depend on how the input arrived: what each kind of record must carry.
pub fn check_record_shape(r: &NewRecord, known_list: &dyn Fn(&str) -> bool, errors: &mut Errors) {
    match r.kind {
        RecordKind::Penalty => {
            if r.decision_no.is_none() {
                errors.required("decision_no", "for a penalty (行政处罚决定书文号)");
            }
            if r.decision_date.is_none() {
                errors.required("decision_date", "for a penalty (处罚决定日期)");
            }
            if r.penalty_types.is_empty() {
                errors.push(
                    "penalty_types",
                    "required",
                    format!(
                        "a penalty needs at least one penalty type, from: {}",
                        PenaltyType::allowed()
                    ),
                );
            }
            if r.penalty_types.contains(&PenaltyType::Fine) && r.fine_amount.is_none() {
                errors.required("fine_amount", "when penalty_types contains fine");
            }
        }
        RecordKind::License => {
            if r.decision_no.is_none() {
                errors.required("decision_no", "for a licence (行政许可决定文书号)");
            }
            if r.decision_date.is_none() {
                errors.required("decision_date", "for a licence (许可决定日期)");
            }
        }
        RecordKind::ListEntry | RecordKind::RedList => {
            match &r.list_code {
                None => errors.required("list_code", "for list_entry and red_list records"),
                Some(c) if !known_list(c) => errors.push(
                    "list_code",
                    "unknown_list_code",
                    format!("'{c}' is not a list in the rule catalog; see GET /api/v1/rules for the list codes"),
                ),
                Some(_) => {}
            }
            if r.valid_from.is_none() && r.decision_date.is_none() {
                errors.required("valid_from", "for a list entry (the day it takes effect)");
            }
        }
        RecordKind::Commitment => {}
    }
    if r.kind != RecordKind::ListEntry && r.kind != RecordKind::RedList && r.list_code.is_some() {
        errors.push(
            "list_code",
            "not_allowed",
            "list_code is given only for list_entry and red_list records",
        );
    }
    if let (Some(from), Some(to)) = (r.valid_from, r.valid_to) {
        if to < from {
            errors.push(
                "valid_to",
                "invalid_period",
                format!("valid_to {to} is before valid_from {from}"),
            );
        }
    }
    if r.version < 1 {
        errors.push("version", "invalid_version", "version starts at 1");
    }
    if r.subject.kind == SubjectKind::NaturalPerson
        && matches!(r.kind, RecordKind::License | RecordKind::Penalty)
        && r.open_class == OpenClass::Open
    {
        // 山东省社会信用条例 Art. 20 (REFERENCE.md §2, [verified]): natural persons' credit
        // information is not published.
        errors.push(
            "open_class",
            "person_not_open",
            "a natural person's record may not be open; use on_request or closed",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_and_list_allowed_values() {
        for k in RecordKind::ALL {
            assert_eq!(RecordKind::parse(k.as_str()), Some(*k));
        }
        assert_eq!(RecordKind::parse("fine"), None);
        assert!(PenaltyType::allowed().contains("licence_revoked"));
    }

    #[test]
    fn storage_keys_distinguish_identifiers() {
        let u = Uscc::parse("91110000MA00000152").unwrap();
        let hash = |_: &IdNumber| "h".to_string();
        assert_eq!(
            SubjectKey::Uscc(u).storage_key(&hash),
            "uscc:91110000MA00000152"
        );
        assert_eq!(
            SubjectKey::RegNo("110105600123456".into()).storage_key(&hash),
            "reg:110105600123456"
        );
        let p = IdNumber::parse("110101199003070011").unwrap();
        assert_eq!(SubjectKey::Person(p).storage_key(&hash), "pid:h");
    }

    #[test]
    fn field_errors_nest() {
        let e = FieldError::new("uscc", "x", "y")
            .under("subject")
            .under("records[2]");
        assert_eq!(e.field, "records[2].subject.uscc");
    }
}
