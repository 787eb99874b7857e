//! The API's words in Chinese, for pages and the printed report. Unknown words are shown as
//! they are, so that a new value is never hidden.

pub fn verdict(v: &str) -> &str {
    match v {
        "clear" => "未发现限制事项",
        "review" => "需人工复核",
        "restricted" => "限制",
        "prohibited" => "禁止",
        other => other,
    }
}

/// What the verdict means for the officer, in a sentence.
pub fn verdict_meaning(v: &str) -> &str {
    match v {
        "clear" => "在本场景下未发现适用的联合惩戒措施。",
        "review" => "存在须经人工复核的事项，请结合下列记录审慎处理。",
        "restricted" => "存在限制性措施：可以办理，但应按所列措施予以限制或从严审核。",
        "prohibited" => "存在禁止性措施：依所列法律依据，不得准予参与本事项。",
        _ => "",
    }
}

pub fn measure(m: &str) -> &str {
    match m {
        "prohibit" => "禁止",
        "restrict" => "限制",
        "review" => "复核",
        "incentive" => "激励",
        other => other,
    }
}

pub fn role(r: &str) -> &str {
    match r {
        "officer" => "审批人员",
        "admin" => "信用管理员",
        "auditor" => "审计人员",
        "provider" => "数据提供部门",
        "system" => "业务系统",
        "partner" => "合作机构",
        other => other,
    }
}

pub fn kind(k: &str) -> &str {
    match k {
        "license" => "行政许可",
        "penalty" => "行政处罚",
        "list_entry" => "名单",
        "red_list" => "守信激励名单",
        "commitment" => "信用承诺",
        other => other,
    }
}

pub fn applies_to(a: &str) -> &str {
    crate::rules::model::AppliesTo::parse(a).map_or(a, |x| x.label_zh())
}

pub fn confidence(c: &str) -> &str {
    match c {
        "verified" => "已核对原文",
        "secondary" => "转引",
        "uncertain" => "待核实",
        other => other,
    }
}

pub fn change(c: &str) -> &str {
    match c {
        "repaired" => "已信用修复",
        "revoked" => "已撤销",
        "corrected" => "已更正",
        "publicity_ended" => "公示期已届满",
        other => other,
    }
}

pub fn objection_status(s: &str) -> &str {
    match s {
        "open" => "审核中",
        "forwarded" => "已转数据提供部门核实",
        "closed" => "已办结",
        other => other,
    }
}

pub fn objection_outcome(s: &str) -> &str {
    match s {
        "confirmed" => "维持原记录",
        "corrected" => "已更正",
        "revoked" => "已撤销",
        other => other,
    }
}

/// An RFC 3339 time as people in the city read it: Beijing time (UTC+8, no daylight saving).
pub fn beijing_time(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| {
            crate::domain::calendar::shanghai_time(t.to_utc())
                .format("%Y-%m-%d %H:%M:%S（北京时间）")
                .to_string()
        })
        .unwrap_or_else(|_| rfc3339.to_string())
}

/// The code a report names its subject by: the USCC, the registration number, or a person's ID
/// number masked (whoever reads it).
pub fn subject_code(r: &crate::service::checks::Report) -> String {
    r.subject
        .uscc
        .clone()
        .or_else(|| r.subject.reg_no.clone())
        .or_else(|| r.subject.id_number.as_deref().map(masked))
        .unwrap_or_default()
}

/// An ID number as the console shows and prints it: masked.
pub fn masked(id: &str) -> String {
    crate::domain::id_number::masked(id)
}

/// Text typed into a form, to be shown again: any ID number in it masked.
pub fn echo(text: &str) -> String {
    crate::domain::id_number::mask_id_numbers(text).into_owned()
}
