//! A report as a page: the screen page and the print view share it.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::checks::Loaded;
use super::qr::Matrix;
use super::words;
use crate::service::checks::{FindingRecordView, FindingView, Report};

use super::words::masked;

/// The report's content. `print`: without the buttons.
pub fn body(l: &Loaded, verify_url: &str, print: bool) -> Markup {
    let r = &l.report;
    let scenario_title = l.title.as_str();
    let code = words::subject_code(r);
    let qr = Matrix::of(verify_url).map(|m| m.svg("本报告的核验二维码"));
    html! {
        section.card data-report-no=(r.report_no) data-verdict=(r.verdict) aria-labelledby="report-title" {
            h1 id="report-title" { "公共信用信息核查报告" }
            p { "核查结论：" span class={ "verdict " (r.verdict) } data-verdict-word=(r.verdict) { (words::verdict(&r.verdict)) } }
            p { (words::verdict_meaning(&r.verdict)) }
            div.report-head {
                dl.facts {
                    dt { "报告编号" } dd.mono { (r.report_no) }
                    dt { "被核查主体" } dd { (r.subject.name.as_deref().unwrap_or("（名称未知）")) }
                    dt { @if r.subject.uscc.is_some() { "统一社会信用代码" } @else { "证照号码" } } dd.mono { (code) }
                    dt { "核查场景" } dd { (scenario_title) "（" (r.scenario) "）" }
                    dt { "措施适用日期" } dd { (r.as_of) }
                    dt { "核查时间" } dd { (words::beijing_time(&r.checked_at)) }
                    dt { "查询单位" } dd { (r.requested_by.org_code) "（" (words::role(&r.requested_by.role)) "）" }
                    dt { "查询事由" } dd { (r.purpose) }
                    dt { "业务编号" } dd { (r.reference.as_deref().unwrap_or("—")) }
                    dt { "规则集版本" } dd { (r.rule_set.version) }
                    dt { "报告摘要值" } dd.mono { (r.digest) }
                }
                @if let Some(svg) = qr {
                    div.qr {
                        (PreEscaped(svg))
                        p.hint { "扫码核验本报告：" br; a.mono href=(verify_url) { (verify_url) } }
                    }
                }
            }
            @if !r.subject.known {
                p.notice { "核查之日，本中心未归集该主体在效的信用记录。" }
            }
            @for w in &r.warnings { p.notice { "提示：" (w) } }
        }
        @if !print {
            div.actions.no-print {
                a.button href={ "/console/reports/" (r.report_no) "/print" } { "打印视图" }
                a.button.secondary href={ "/console/reports/" (r.report_no) ".pdf" } download={ (r.report_no) ".pdf" } { "下载 PDF" }
                @if let Some(u) = &r.subject.uscc {
                    a.button.secondary href={ "/console/subjects?uscc=" (u) } { "查看信用档案" }
                }
            }
        }
        @if let Some(changes) = r.later_changes.as_ref().filter(|c| !c.is_empty()) {
            section.card aria-labelledby="later-title" {
                h2 id="later-title" { "报告出具后的变化" }
                p.alert { "下列记录在报告出具后发生了变化；如需最新结论，请重新核查。" }
                ul { @for c in changes {
                    li data-later-change=(c.change) {
                        "记录 " span.mono { (c.record_id) } "：" (words::change(&c.change))
                        @if let Some(d) = c.on { "（" (d) "）" }
                        "。" (c.detail)
                    }
                } }
            }
        }
        section aria-labelledby="findings-title" {
            h2 id="findings-title" { "适用的惩戒措施（" (r.findings.len()) " 项）" }
            @if r.findings.is_empty() { p { "未发现适用的失信惩戒措施。" } }
            @for f in &r.findings { (finding(l, f, print)) }
        }
        @if !r.incentives.is_empty() {
            section aria-labelledby="incentives-title" {
                h2 id="incentives-title" { "守信激励措施（不影响上述结论）" }
                @for f in &r.incentives { (finding(l, f, print)) }
            }
        }
    }
}

fn finding(l: &Loaded, f: &FindingView, print: bool) -> Markup {
    html! {
        article class={ "finding " (f.measure) } data-measure-id=(f.measure_id) {
            h3 { "【" (words::measure(&f.measure)) "】" (f.title) }
            dl.facts {
                dt { "适用对象" } dd { (words::applies_to(&f.applies_to))
                    @if let Some(p) = &f.person { "：" (p.name) @if let Some(id) = &p.id_number { " " span.mono { (masked(id)) } } } }
                @for b in &f.basis_detail {
                    dt { "法律依据" } dd { (b.text) " " span.tag { (words::confidence(&b.confidence)) } }
                }
                dt { "实施部门" } dd { (f.implemented_by) }
                dt { "措施期限" } dd { @if let Some(u) = f.until { "至 " (u) } @else { "至记录移出或修复" } }
                dt { "核查说明" } dd { (f.explanation) }
                @if let Some(n) = &f.note { dt { "备注" } dd { (n) } }
            }
            @if !f.records.is_empty() {
                table {
                    caption.hint { "依据的记录" }
                    thead { tr { th scope="col" { "记录" } th scope="col" { "类别与文书" } th scope="col" { "符合的条件" } th scope="col" { "期限" } } }
                    tbody { @for rec in &f.records { (record_row(l, rec, print)) } }
                }
            }
        }
    }
}

fn record_row(l: &Loaded, rec: &FindingRecordView, print: bool) -> Markup {
    let r = &l.report;
    html! {
        tr data-record-id=(rec.id) {
            td.mono { (rec.id)
                @if rec.under_objection { br; span.tag.objection data-under-objection="true" { "异议处理中" } }
            }
            @if rec.restricted {
                td colspan="3" { (words::kind(&rec.kind)) "：该记录的详细信息受共享类别限制，不予显示。" }
            } @else {
                td {
                    (words::kind(&rec.kind))
                    @if let Some(code) = &rec.list_code {
                        br; (l.lists.get(code).map(String::as_str).unwrap_or("")) " " span.mono { (code) }
                    }
                    @if let Some(n) = &rec.decision_no { br; (n) }
                    @if let Some(d) = rec.decision_date { br; "决定日期 " (d) }
                    @if let Some(src) = &rec.source { br; "来源 " (l.sources.get(src).unwrap_or(src)) }
                }
                td { ul { @for c in &rec.conditions { li { (c) } } } }
                td {
                    @if let Some(d) = rec.publicity_until { "公示至 " (d) br; }
                    @if let Some(d) = rec.repair_eligible_from { (d) " 起可申请信用修复" }
                    @if rec.publicity_until.is_none() && rec.repair_eligible_from.is_none() { "—" }
                    @if !print && !rec.under_objection && l.may_object {
                        br;
                        a.button.secondary href={ "/console/objections/new?record=" (rec.id) "&report=" (r.report_no) } { "对该记录提出异议" }
                    }
                }
            }
        }
    }
}

/// The print view: the report alone, with the A4 print stylesheet.
pub fn print_page(r: &Report, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            (super::layout::head(&format!("核查报告 {}", r.report_no)))
            body.print-view {
                main id="main" {
                    p.no-print.notice { "这是打印视图：请使用浏览器的“打印”（Ctrl+P），纸张 A4。" a href={ "/console/reports/" (r.report_no) } { "返回报告" } }
                    (body)
                    p.hint { "本报告由系统自动生成；真实性可扫描二维码或凭报告编号和摘要值核验。自然人身份证号码均已脱敏。" }
                }
            }
        }
    }
}
