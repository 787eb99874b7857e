//! The 双公示 columns mapped to a record of the API's shape, and back from a field to its column
//! for the rejects file.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Licence,
    Penalty,
}

pub fn detect_layout(header: &[String]) -> Result<Layout, String> {
    let has = |c: &str| header.iter().any(|h| h.eq_ignore_ascii_case(c));
    if has("CF_WSH") {
        Ok(Layout::Penalty)
    } else if has("XK_WSH") {
        Ok(Layout::Licence)
    } else {
        Err(
            "the header has neither CF_WSH (行政处罚) nor XK_WSH (行政许可): not a 双公示 file"
                .into(),
        )
    }
}

/// The date formats exchange files use, as told to the user when a cell is none of them.
pub const DATE_FORMATS: &str = "2026-03-01, 2026/3/1, 20260301, 2026.3.1 or 2026年3月1日";

/// Dates as exchange files write them: 2026-03-01, 2026/3/1, 20260301, 2026.3.1,
/// 2026年3月1日, each possibly followed by a time. `Err` says why text is none of them.
pub fn normalise_date(s: &str) -> Result<Option<String>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let head: String = s
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != 'T')
        .collect();
    for fmt in ["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%Y年%m月%d日"] {
        if let Ok(d) = chrono::NaiveDate::parse_from_str(&head, fmt) {
            return Ok(Some(d.to_string()));
        }
    }
    Err(format!("'{s}' is not a date; write {DATE_FORMATS}"))
}

/// The date in `column`, or an error naming the column and the formats accepted.
fn date_in(
    row: &BTreeMap<String, String>,
    column: &str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let v = row.get(column)?;
    normalise_date(v).unwrap_or_else(|why| {
        errors.push(FieldError::new(column, "invalid_date", why));
        None
    })
}

/// Maps 处罚类别 text (new and old names, several separated by 、,;/) to penalty types.
/// `content` (CF_NR) settles the old combined categories 暂扣或者吊销许可证 / 执照.
pub fn map_categories(text: &str, content: &str) -> Result<Vec<PenaltyType>, String> {
    use PenaltyType::*;
    let mut out = Vec::new();
    let parts = text
        .split(['、', ',', '，', ';', '；', '/', '|'])
        .map(str::trim)
        .filter(|p| !p.is_empty());
    for part in parts {
        let mapped: Vec<PenaltyType> = match part {
            "警告" => vec![Warning],
            "通报批评" => vec![PublicCriticism],
            "罚款" => vec![Fine],
            "没收违法所得" => vec![ConfiscationOfGains],
            "没收非法财物" => vec![ConfiscationOfProperty],
            "没收违法所得、没收非法财物" | "没收违法所得和非法财物" => {
                vec![ConfiscationOfGains, ConfiscationOfProperty]
            }
            "暂扣许可证件" => vec![LicenceSuspended],
            "降低资质等级" => vec![QualificationDowngraded],
            "吊销许可证件" => vec![LicenceRevoked],
            "限制开展生产经营活动" => vec![BusinessRestricted],
            "责令停产停业" => vec![ProductionSuspended],
            "责令关闭" => vec![OrderedClosed],
            "限制从业" => vec![EmploymentRestricted],
            "行政拘留" => vec![Detention],
            "其他" => vec![Other],
            // The 1996 law's combined categories: the decision text says which it was.
            "暂扣或者吊销许可证" | "暂扣或者吊销执照" | "暂扣或吊销许可证" | "暂扣或吊销执照" => {
                let mut v = Vec::new();
                if content.contains("吊销") {
                    v.push(LicenceRevoked);
                }
                if content.contains("暂扣") {
                    v.push(LicenceSuspended);
                }
                if v.is_empty() {
                    return Err(format!(
                        "处罚类别 '{part}' does not say whether the licence was suspended or revoked, and CF_NR does not either; write 暂扣许可证件 or 吊销许可证件"
                    ));
                }
                v
            }
            other if other.starts_with("其他") => vec![Other],
            other => {
                return Err(format!(
                    "unknown 处罚类别 '{other}'; use the categories of 行政处罚法 Art. 9 (警告, 通报批评, 罚款, 没收违法所得, 没收非法财物, 暂扣许可证件, 降低资质等级, 吊销许可证件, 限制开展生产经营活动, 责令停产停业, 责令关闭, 限制从业, 行政拘留, 其他)"
                ))
            }
        };
        for m in mapped {
            if !out.contains(&m) {
                out.push(m);
            }
        }
    }
    Ok(out)
}

fn subject_kind(lb: &str) -> Option<&'static str> {
    match lb.trim() {
        "法人及非法人组织" | "法人" | "非法人组织" => Some("legal_person"),
        "自然人" => Some("natural_person"),
        "个体工商户" => Some("individual_business"),
        _ => None,
    }
}

fn is_id_card(kind: Option<&String>) -> bool {
    kind.is_none_or(|k| k.trim().is_empty() || k.contains("身份证"))
}

/// One row as the API's record JSON, or the row's errors (fields named by their column).
pub fn row_to_record(
    layout: Layout,
    row: &BTreeMap<String, String>,
) -> Result<Value, Vec<FieldError>> {
    let p = match layout {
        Layout::Penalty => "CF",
        Layout::Licence => "XK",
    };
    let get = |c: &str| {
        row.get(c)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let col = |c: &str| format!("{p}_{c}");
    let mut errors = Vec::new();

    let lb_col = col("XDR_LB");
    let kind = match get(&lb_col) {
        None => {
            errors.push(FieldError::new(
                &lb_col,
                "required",
                "行政相对人类别 is required: 法人及非法人组织, 自然人 or 个体工商户",
            ));
            None
        }
        Some(v) => match subject_kind(&v) {
            Some(k) => Some(k),
            None => {
                errors.push(FieldError::new(
                    &lb_col,
                    "unknown_value",
                    format!("'{v}' is not 法人及非法人组织, 自然人 or 个体工商户"),
                ));
                None
            }
        },
    };
    let mut subject = Map::new();
    subject.insert("name".into(), json!(get(&col("XDR_MC"))));
    subject.insert("kind".into(), json!(kind));
    if kind == Some("natural_person") {
        if is_id_card(row.get(&col("XDR_ZJLX"))) {
            subject.insert("id_number".into(), json!(get(&col("XDR_ZJHM"))));
        } else {
            errors.push(FieldError::new(
                col("XDR_ZJLX"),
                "unsupported_id_type",
                "natural persons are identified by 身份证 numbers in this version",
            ));
        }
    } else {
        subject.insert("uscc".into(), json!(get(&col("XDR_SHXYM"))));
        if let Some(r) = get(&col("XDR_GSZC")) {
            subject.insert("reg_no".into(), json!(r));
        }
        if let Some(name) = get(&format!("{p}_FRDB")) {
            let id = if is_id_card(row.get(&format!("{p}_FR_ZJLX"))) {
                get(&format!("{p}_FR_ZJHM"))
            } else {
                None
            };
            subject.insert("legal_rep".into(), json!({"name": name, "id_number": id}));
        }
    }
    let wsh = get(&col("WSH"));
    let code_for_id = get(&col("XDR_SHXYM"))
        .or(get(&col("XDR_ZJHM")))
        .unwrap_or_default();
    let mut v = json!({
        "source_record_id": wsh.as_ref().map(|w| format!("{w}|{code_for_id}")),
        "subject": Value::Object(subject),
        "decision_no": wsh,
        "decision_date": date_in(row, &col("JDRQ"), &mut errors),
        "sharing_class": "unconditional",
        // 双公示 data is published; natural persons' records are not (山东省社会信用条例 Art. 20).
        "open_class": if kind == Some("natural_person") { "on_request" } else { "open" },
        "version": get("VERSION").and_then(|s| s.parse::<i64>().ok()).unwrap_or(1),
    });
    let mut details = Map::new();
    let mut used = vec![
        "XDR_LB",
        "XDR_MC",
        "XDR_SHXYM",
        "XDR_GSZC",
        "XDR_ZJLX",
        "XDR_ZJHM",
        "FRDB",
        "FR_ZJLX",
        "FR_ZJHM",
        "WSH",
        "JDRQ",
    ];
    match layout {
        Layout::Penalty => {
            v["kind"] = json!("penalty");
            let content = get("CF_NR").unwrap_or_default();
            match get("CF_CFLB").map(|t| map_categories(&t, &content)) {
                None => errors.push(FieldError::new(
                    "CF_CFLB",
                    "required",
                    "处罚类别 is required",
                )),
                Some(Err(e)) => errors.push(FieldError::new("CF_CFLB", "unknown_value", e)),
                Some(Ok(types)) => {
                    v["penalty_types"] =
                        json!(types.iter().map(|t| t.as_str()).collect::<Vec<_>>());
                }
            }
            if let Some(fk) = get("CF_NR_FK") {
                match Yuan::parse_wan(&fk) {
                    Ok(y) if y.fen() > 0 => v["fine_amount"] = json!(y.to_string()),
                    Ok(_) => {}
                    Err(e) => errors.push(FieldError::new(
                        "CF_NR_FK",
                        "invalid_amount",
                        format!("罚款金额 in 万元: {e}"),
                    )),
                }
            }
            if let Some(ff) = get("CF_NR_WFFF") {
                match Yuan::parse_wan(&ff) {
                    Ok(y) => {
                        details.insert("confiscated_amount".into(), json!(y.to_string()));
                    }
                    Err(e) => errors.push(FieldError::new(
                        "CF_NR_WFFF",
                        "invalid_amount",
                        format!("没收金额 in 万元: {e}"),
                    )),
                }
            }
            v["valid_from"] = v["decision_date"].clone();
            if let Some(d) = date_in(row, "CF_YXQ", &mut errors) {
                v["valid_to"] = json!(d);
            }
            v["authority"] = json!({"name": get("CF_CFJG"), "uscc": get("CF_CFJGDM")});
            used.extend(["CFLB", "NR_FK", "NR_WFFF", "YXQ", "CFJG", "CFJGDM"]);
        }
        Layout::Licence => {
            v["kind"] = json!("license");
            v["valid_from"] = json!(date_in(row, "XK_YXQZ", &mut errors));
            v["valid_to"] = json!(date_in(row, "XK_YXQZI", &mut errors));
            v["authority"] = json!({"name": get("XK_XKJG"), "uscc": get("XK_XKJGDM")});
            // XK_ZT: 1 = 有效, 2 = 无效 (REFERENCE.md §3.1); 无效 is taken as withdrawn [uncertain].
            match get("XK_ZT").as_deref() {
                None | Some("1") | Some("有效") => {}
                Some("2") | Some("无效") => v["status"] = json!("revoked"),
                Some(other) => errors.push(FieldError::new(
                    "XK_ZT",
                    "unknown_value",
                    format!("'{other}' is not 1 (有效) or 2 (无效)"),
                )),
            }
            used.extend(["YXQZ", "YXQZI", "XKJG", "XKJGDM", "ZT"]);
        }
    }
    for (k, val) in row {
        let short = k.strip_prefix(&format!("{p}_")).unwrap_or(k);
        if !used.contains(&short) && k != "VERSION" && !val.trim().is_empty() {
            details.insert(k.clone(), json!(val.trim()));
        }
    }
    v["details"] = Value::Object(details);
    if errors.is_empty() {
        Ok(v)
    } else {
        Err(errors)
    }
}

/// Maps an API field path back to the file's column, so rejects name what the user can fix.
pub(super) fn column_of(layout: Layout, field: &str) -> String {
    let p = match layout {
        Layout::Penalty => "CF",
        Layout::Licence => "XK",
    };
    let c = match field {
        "subject.uscc" => "XDR_SHXYM",
        "subject.reg_no" => "XDR_GSZC",
        "subject.id_number" => "XDR_ZJHM",
        "subject.name" => "XDR_MC",
        "subject.legal_rep.id_number" => "FR_ZJHM",
        "subject.legal_rep.name" => "FRDB",
        "decision_no" | "source_record_id" => "WSH",
        "decision_date" => "JDRQ",
        "version" => return "VERSION".into(),
        "authority.name" => {
            if layout == Layout::Penalty {
                "CFJG"
            } else {
                "XKJG"
            }
        }
        "fine_amount" => "NR_FK",
        "penalty_types" => "CFLB",
        "authority.uscc" => {
            if layout == Layout::Penalty {
                "CFJGDM"
            } else {
                "XKJGDM"
            }
        }
        // A penalty is in force from its decision date: there is no column of its own.
        "valid_from" if layout == Layout::Penalty => "JDRQ",
        "valid_from" => "YXQZ",
        "valid_to" => {
            if layout == Layout::Penalty {
                "YXQ"
            } else {
                "YXQZI"
            }
        }
        other => {
            // A further column kept in `details` is named as the file names it.
            return other.strip_prefix("details.").unwrap_or(other).to_string();
        }
    };
    format!("{p}_{c}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn penalty_row_converts_wan_yuan_and_categories() {
        let r = row(&[
            ("CF_XDR_MC", "北京示例科技有限公司"),
            ("CF_XDR_LB", "法人及非法人组织"),
            ("CF_XDR_SHXYM", "91110000MA00000152"),
            ("CF_WSH", "京市监罚〔2026〕12号"),
            ("CF_CFLB", "罚款、吊销许可证件"),
            ("CF_NR_FK", "250"),
            ("CF_JDRQ", "2026/3/1"),
            ("CF_SY", "发布虚假广告"),
        ]);
        let v = row_to_record(Layout::Penalty, &r).unwrap();
        assert_eq!(v["fine_amount"], "2500000.00");
        assert_eq!(v["penalty_types"], json!(["fine", "licence_revoked"]));
        assert_eq!(v["decision_date"], "2026-03-01");
        assert_eq!(v["details"]["CF_SY"], "发布虚假广告");
        assert_eq!(v["subject"]["kind"], "legal_person");
    }

    #[test]
    fn old_combined_categories_need_the_content() {
        assert_eq!(
            map_categories("罚款;暂扣或者吊销执照", "吊销营业执照").unwrap(),
            vec![PenaltyType::Fine, PenaltyType::LicenceRevoked]
        );
        assert!(map_categories("暂扣或者吊销许可证", "处罚").is_err());
        assert!(map_categories("打板子", "").is_err());
    }

    #[test]
    fn bad_class_is_named_by_column() {
        let r = row(&[("CF_XDR_LB", "公司"), ("CF_WSH", "x"), ("CF_CFLB", "警告")]);
        let e = row_to_record(Layout::Penalty, &r).unwrap_err();
        assert_eq!(e[0].field, "CF_XDR_LB");
        assert_eq!(column_of(Layout::Penalty, "subject.uscc"), "CF_XDR_SHXYM");
    }

    #[test]
    fn dates_in_exchange_formats() {
        let d = |s: &str| normalise_date(s).map(|d| d.unwrap_or_default());
        assert_eq!(d("20260301"), Ok("2026-03-01".into()));
        assert_eq!(d("2026年3月1日"), Ok("2026-03-01".into()));
        assert_eq!(d("2026/4/1"), Ok("2026-04-01".into()));
        assert_eq!(d("2026-03-01 00:00:00"), Ok("2026-03-01".into()));
        assert_eq!(d("  "), Ok(String::new()));
        assert!(d("soon").is_err());
        assert!(d("2026-02-30").is_err());
    }

    #[test]
    fn a_bad_date_is_named_by_its_own_column_once() {
        let r = row(&[
            ("CF_XDR_MC", "北京示例科技有限公司"),
            ("CF_XDR_LB", "法人及非法人组织"),
            ("CF_XDR_SHXYM", "91110000MA00000152"),
            ("CF_WSH", "x"),
            ("CF_CFLB", "警告"),
            ("CF_JDRQ", "2026/13/1"),
        ]);
        let e = row_to_record(Layout::Penalty, &r).unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].field, "CF_JDRQ");
        assert!(e[0].message.contains("2026/3/1"), "{}", e[0].message);
        assert_eq!(column_of(Layout::Penalty, "valid_from"), "CF_JDRQ");
        assert_eq!(column_of(Layout::Penalty, "details.CF_SY"), "CF_SY");
    }
}
