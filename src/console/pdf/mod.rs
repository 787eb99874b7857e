//! The printed credit report as PDF, laid out after the 公共信用信息报告 structure: a cover
//! (report number, subject, scenario, date, verdict, QR code of the verify link), notes on its
//! scope and validity, basic information, the summary of findings, then penalties,
//! serious-dishonesty lists, incentives and commitments, each with its source and dates, and
//! the measures with their legal bases. ID numbers are printed masked, whoever asks.
//!
//! The font is embedded and subset to the glyphs the report uses (krilla): a report of a few
//! pages weighs tens of kilobytes, and its text can be searched and copied (ToUnicode maps).

mod layout;

use std::sync::Arc;

use self::layout::{Flow, Metrics, MARGIN, PAGE_W};
use super::qr::Matrix;
use super::words;
use crate::service::checks::{FindingRecordView, FindingView, Report};

/// The embedded font: Noto Sans CJK SC, subset to GB 2312 (see `OFL.txt` beside it).
static EMBEDDED: &[u8] = include_bytes!("NotoSansSC-GB2312.otf");

/// The report font's bytes and face index, checked at start.
#[derive(Clone)]
pub struct ReportFont {
    data: Arc<Vec<u8>>,
    index: u32,
}

impl ReportFont {
    /// `None`: the embedded font; else `PATH` or `PATH#INDEX` (a face of a collection).
    pub fn load(spec: Option<&str>) -> Result<Self, String> {
        let font = match spec {
            None => ReportFont {
                data: Arc::new(EMBEDDED.to_vec()),
                index: 0,
            },
            Some(spec) => {
                let (path, index) = match spec.rsplit_once('#') {
                    Some((p, i)) => (
                        p,
                        i.parse::<u32>()
                            .map_err(|_| format!("'{i}' in '{spec}' is not a face index"))?,
                    ),
                    None => (spec, 0),
                };
                let data = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
                ReportFont {
                    data: Arc::new(data),
                    index,
                }
            }
        };
        let m = Metrics::new(&font.data, font.index)
            .ok_or("not a font file skrifa can read (OpenType, TrueType or a collection)")?;
        if m.missing("公共信用信息报告") > 0 {
            return Err("the font has no Chinese glyphs: use a CJK font".into());
        }
        font.krilla()?;
        Ok(font)
    }

    fn krilla(&self) -> Result<krilla::text::Font, String> {
        let data: krilla::Data = self.data.clone().into();
        krilla::text::Font::new(data, self.index)
            .ok_or_else(|| "krilla cannot read the font".into())
    }
}

/// What the cover says besides the report itself.
pub struct Cover<'a> {
    pub scenario_title: &'a str,
    pub issuer_name: Option<&'a str>,
    pub verify_url: &'a str,
    /// The names of the departments the records came from, by code.
    pub sources: &'a std::collections::BTreeMap<String, String>,
    /// The names of the lists the records are on, by code.
    pub lists: &'a std::collections::BTreeMap<String, String>,
}

use super::words::masked;

/// Renders the report. Returns the PDF and how many characters the font lacked (printed as
/// boxes; logged by the caller).
pub fn render(font: &ReportFont, r: &Report, cover: &Cover) -> Result<(Vec<u8>, usize), String> {
    let m = Metrics::new(&font.data, font.index).ok_or("font")?;
    let kfont = font.krilla()?;
    let mut f = Flow::new(&m);
    let mut missing = 0;
    let mut count = |s: &str| missing += m.missing(s);

    // The cover.
    let subject_name = r
        .subject
        .name
        .clone()
        .unwrap_or_else(|| "（名称未知）".into());
    let code = words::subject_code(r);
    f.gap(40.0);
    f.para(MARGIN, 24.0, 0, "公共信用信息核查报告");
    f.para(
        MARGIN,
        13.0,
        60,
        "（联合奖惩核查 · 信用信息查询与联合惩戒服务 creditgate）",
    );
    f.gap(18.0);
    f.rule(1.2, 0);
    let verdict = format!("{}（{}）", words::verdict(&r.verdict), r.verdict);
    let rows: Vec<(&str, String)> = vec![
        ("报告编号", r.report_no.clone()),
        ("被核查主体", subject_name.clone()),
        (
            if r.subject.uscc.is_some() {
                "统一社会信用代码"
            } else {
                "证照号码"
            },
            code.clone(),
        ),
        (
            "核查场景",
            format!("{}（{}）", cover.scenario_title, r.scenario),
        ),
        ("核查结论", verdict.clone()),
        ("核查时间", words::beijing_time(&r.checked_at)),
        ("措施适用日期", r.as_of.to_string()),
        (
            "查询单位",
            match cover.issuer_name {
                Some(n) if n != r.requested_by.org_code => {
                    format!("{n}（{}）", r.requested_by.org_code)
                }
                _ => r.requested_by.org_code.clone(),
            },
        ),
        ("查询事由", r.purpose.clone()),
        (
            "业务编号",
            r.reference.clone().unwrap_or_else(|| "—".into()),
        ),
        (
            "规则集",
            format!("{}（{}）", r.rule_set.version, r.rule_set.digest),
        ),
        ("报告摘要值", r.digest.clone()),
    ];
    for (k, v) in &rows {
        count(v);
        f.row(k, v);
    }
    f.gap(14.0);
    if let Some(code) = Matrix::of(cover.verify_url) {
        let side = 132.0;
        f.need(side + 40.0);
        let top = f.y;
        f.qr(MARGIN, top, side, &code);
        let x = MARGIN + side + 14.0;
        let mut y = top + 20.0;
        for line in [
            "扫描二维码核验本报告",
            "核验页面仅显示报告是否存在、出具时间、",
            "查询单位、核查场景和结论，不显示信用记录。",
        ] {
            f.text_at(x, y, 10.0, 40, line);
            y += 16.0;
        }
        let url_lines = m.wrap(cover.verify_url, 7.5, PAGE_W - MARGIN - x);
        for line in url_lines {
            f.text_at(x, y + 4.0, 7.5, 85, &line);
            y += 11.0;
        }
        f.y = top + side + 8.0;
    }

    // Notes on scope and validity.
    f.heading("报告说明");
    for note in [
        "一、本报告依据出具时归集的公共信用信息和当时生效的联合奖惩规则集，对被核查主体在所列场景下是否适用失信惩戒或守信激励措施作出核查，结论以“措施适用日期”为准。",
        "二、本报告仅供查询事由所述用途使用。报告使用单位应依法保护报告中的信息，不得用于其他目的，不得私自提供给第三方（《全市政务信息资源共享管理办法》第二十条、第二十二条）。",
        "三、本报告出具后，所依据的记录可能被修复、撤销、更正或公示期届满；需要最新结论时，请重新核查。",
        "四、被核查主体对报告所列信用信息有异议的，可向市大数据中心或通过使用单位提出异议（同办法第二十一条）；异议处理期间，相关记录标注“异议处理中”。",
        "五、报告的真实性可扫描封面二维码，或在核验页面输入报告编号和摘要值核验。自然人身份证号码均已脱敏。",
    ] {
        f.para(MARGIN, 10.0, 30, note);
    }

    // Basic information.
    f.new_page();
    f.heading("一、基本信息");
    f.row("主体名称", &subject_name);
    if let Some(u) = &r.subject.uscc {
        f.row("统一社会信用代码", u);
    }
    if let Some(reg) = &r.subject.reg_no {
        f.row("注册号", reg);
    }
    if let Some(id) = &r.subject.id_number {
        f.row("身份证号码", &masked(id));
    }
    f.row(
        "归集情况",
        if r.subject.known {
            "本中心归集有该主体的信用记录。"
        } else {
            "核查之日本中心未归集该主体在效的信用记录。"
        },
    );

    // Summary.
    f.heading("二、核查结论摘要");
    f.row("核查结论", &verdict);
    f.para(MARGIN, 10.5, 0, words::verdict_meaning(&r.verdict));
    if r.findings.is_empty() {
        f.para(MARGIN, 10.5, 0, "未发现适用的失信惩戒措施。");
    }
    for (i, x) in r.findings.iter().enumerate() {
        let line = format!(
            "{}. 【{}】{}（{}）",
            i + 1,
            words::measure(&x.measure),
            x.title,
            words::applies_to(&x.applies_to)
        );
        count(&line);
        f.para(MARGIN + 8.0, 10.5, 0, &line);
    }
    if !r.incentives.is_empty() {
        f.para(
            MARGIN,
            10.5,
            0,
            &format!(
                "另有守信激励措施 {} 项，列于第五部分，不影响上述结论。",
                r.incentives.len()
            ),
        );
    }
    for w in &r.warnings {
        count(w);
        f.para(MARGIN, 10.0, 60, &format!("提示：{w}"));
    }

    // Records by kind, then the measures.
    let all: Vec<&FindingView> = r.findings.iter().chain(r.incentives.iter()).collect();
    let sections: [(&str, &[&str]); 4] = [
        ("三、行政处罚信息", &["penalty"]),
        ("四、失信名单及经营异常名录信息", &["list_entry"]),
        ("五、守信激励信息", &["red_list"]),
        ("六、信用承诺及其他信息", &["commitment", "license"]),
    ];
    for (title, kinds) in sections {
        f.heading(title);
        // Each record once, with every measure it bears on.
        let mut records: Vec<(&FindingRecordView, Vec<&str>)> = Vec::new();
        for x in &all {
            let fits = x
                .records
                .iter()
                .filter(|rec| kinds.contains(&rec.kind.as_str()));
            for rec in fits {
                match records.iter_mut().find(|(r, _)| r.id == rec.id) {
                    Some((_, titles)) => titles.push(&x.title),
                    None => records.push((rec, vec![&x.title])),
                }
            }
        }
        for (rec, titles) in &records {
            record_block(&mut f, rec, titles, cover, &mut count);
        }
        if records.is_empty() {
            f.para(MARGIN, 10.5, 60, "无。");
        }
    }
    f.heading("七、适用措施及法律依据");
    if all.is_empty() {
        f.para(MARGIN, 10.5, 60, "无。");
    }
    for (i, x) in all.iter().enumerate() {
        let head = format!("{}. {}【{}】", i + 1, x.title, words::measure(&x.measure));
        count(&head);
        f.need(50.0);
        f.para(MARGIN, 11.0, 0, &head);
        f.row("适用对象", words::applies_to(&x.applies_to));
        if let Some(p) = &x.person {
            let id = p.id_number.as_deref().map(masked).unwrap_or_default();
            f.row("相关人员", &format!("{} {id}", p.name));
        }
        for b in &x.basis_detail {
            count(&b.text);
            f.row(
                "法律依据",
                &format!("{}（{}）", b.text, words::confidence(&b.confidence)),
            );
        }
        f.row("实施部门", &x.implemented_by);
        if let Some(u) = x.until {
            f.row("措施期限至", &u.to_string());
        }
        count(&x.explanation);
        f.row("核查说明", &x.explanation);
        f.gap(6.0);
    }
    if let Some(changes) = r.later_changes.as_ref().filter(|c| !c.is_empty()) {
        f.heading("八、报告出具后的变化");
        for c in changes {
            let text = format!(
                "记录 {}：{}{}。{}",
                c.record_id,
                words::change(&c.change),
                c.on.map(|d| format!("（{d}）")).unwrap_or_default(),
                c.detail
            );
            count(&text);
            f.para(MARGIN, 10.0, 0, &text);
        }
    }
    f.gap(20.0);
    f.need(40.0);
    f.para(
        MARGIN,
        9.5,
        60,
        "（报告正文结束。本报告由系统自动生成，依据与结论可通过报告编号和摘要值核验。）",
    );

    let no = r.report_no.clone();
    let metadata = krilla::metadata::Metadata::new()
        .title(format!("公共信用信息核查报告 {no}"))
        .language("zh-CN".into())
        .creator("creditgate".into());
    let pdf = f.finish(
        &kfont,
        |n, total| format!("报告编号 {no}    第 {n} 页 共 {total} 页"),
        metadata,
    )?;
    Ok((pdf, missing))
}

fn record_block(
    f: &mut Flow,
    rec: &FindingRecordView,
    measures: &[&str],
    cover: &Cover,
    count: &mut impl FnMut(&str),
) {
    f.need(60.0);
    f.gap(4.0);
    let head = format!("记录 {}（{}）", rec.id, words::kind(&rec.kind));
    f.para(MARGIN, 10.5, 0, &head);
    if rec.restricted {
        f.para(
            MARGIN + 8.0,
            10.0,
            60,
            "该记录的详细信息受共享类别限制，不予显示。",
        );
        return;
    }
    if let Some(n) = &rec.decision_no {
        count(n);
        f.row("决定文书号", n);
    }
    if let Some(d) = rec.decision_date {
        f.row("决定日期", &d.to_string());
    }
    if let Some(code) = &rec.list_code {
        let name = cover.lists.get(code).map(String::as_str).unwrap_or("");
        f.row("名单", &format!("{name}（{code}）"));
    }
    if let Some(src) = &rec.source {
        let name = cover.sources.get(src).unwrap_or(src);
        count(name);
        f.row("信息来源", &format!("{name}（{src}）"));
    }
    if let Some(d) = rec.publicity_until {
        f.row("公示截止", &d.to_string());
    }
    if let Some(d) = rec.repair_eligible_from {
        f.row("可申请修复", &format!("{d} 起"));
    }
    for m in measures {
        f.row("所涉措施", m);
    }
    if rec.under_objection {
        f.row("状态", "异议处理中");
    }
    for c in &rec.conditions {
        count(c);
        f.row("符合条件", c);
    }
}
