//! The organisation's reports, a subject's profile, and objections: listed, and filed from a
//! report's finding.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use maud::{html, Markup};

use super::layout::{error_summary, field_errors, invalid, page};
use super::words::echo;
use super::{
    allowed_or_return, csrf_ok, csrf_refused, error_page, form, html, see_other, session_or_return,
    state,
};
use crate::domain::FieldError;
use crate::service::access;
use crate::service::checks::{self, ReportQuery};
use crate::service::lifecycle::objections::{self, FiledByInput, ListQuery, ObjectionInput};
use crate::service::people::Session;
use crate::service::{query, ServiceError};

fn query_of(req: &HttpRequest) -> HashMap<String, String> {
    form(req.query_string().as_bytes())
}

fn date_field(
    q: &HashMap<String, String>,
    k: &str,
    errors: &mut Vec<FieldError>,
) -> Option<NaiveDate> {
    let v = q.get(k).map(|s| s.trim()).filter(|s| !s.is_empty())?;
    match NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        Ok(d) => Some(d),
        Err(_) => {
            errors.push(FieldError::new(
                k,
                "invalid_date",
                "日期格式为 YYYY-MM-DD，如 2026-12-07",
            ));
            None
        }
    }
}

/// Whether a search code is an ID number (kept out of URLs, logs and echoed pages).
/// Whether text holds what looks like an ID number (even with a wrong check character): kept
/// out of URLs and not shown again.
fn is_id_number(code: &str) -> bool {
    crate::domain::id_number::mask_id_numbers(code) != code
}

/// `GET /console/reports?code=&reference=&from=&to=` (codes and references; an ID number is
/// searched with the form, which posts it, so that it never stands in a URL).
pub async fn reports(req: HttpRequest) -> HttpResponse {
    let s = session_or_return!(req);
    allowed_or_return!(req, s, access::READ_REPORT);
    let q = query_of(&req);
    if q.get("code").is_some_and(|c| is_id_number(c)) {
        let errors = vec![FieldError::new(
            "code",
            "id_number_in_url",
            "身份证号码请在查找表单中输入并提交，不要写在网址里。Type the ID number into the form: it must not stand in a URL.",
        )];
        return reports_page(&req, &s, HashMap::new(), errors).await;
    }
    reports_page(&req, &s, q, vec![]).await
}

/// `POST /console/reports`: the search form.
pub async fn search_reports(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let s = session_or_return!(req);
    let f = form(&body);
    if !csrf_ok(&s, &f) {
        return csrf_refused(Some(&s));
    }
    allowed_or_return!(req, s, access::READ_REPORT);
    reports_page(&req, &s, f, vec![]).await
}

async fn reports_page(
    req: &HttpRequest,
    s: &Session,
    q: HashMap<String, String>,
    mut errors: Vec<FieldError>,
) -> HttpResponse {
    let v = |k: &str| match q.get(k) {
        Some(c) if k == "code" && is_id_number(c) => String::new(),
        other => echo(&other.cloned().unwrap_or_default()),
    };
    let from = date_field(&q, "from", &mut errors);
    let to = date_field(&q, "to", &mut errors);
    let mut rows = Vec::new();
    if errors.is_empty() {
        let asked = ReportQuery {
            code: q.get("code").cloned(),
            reference: q.get("reference").cloned(),
            from,
            to,
        };
        match checks::recent_reports(&state(req).ctx, &s.person.caller(), asked).await {
            Ok(r) => rows = r,
            Err(ServiceError::Invalid(e)) => errors = e,
            Err(e) => return error_page(Some(s), &e),
        }
    }
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let body = html! {
        h1 { "核查报告" }
        (error_summary(&errors))
        form.card method="post" action="/console/reports" role="search" {
            input type="hidden" name="csrf" value=(s.csrf);
            label for="code" { "统一社会信用代码或身份证号码" }
            input id="code" type="text" name="code" value=(v("code")) aria-invalid=(invalid(&errors, "code")) aria-describedby="code-error";
            (field_errors(&errors, "code"))
            label for="reference" { "业务编号（前缀）" }
            input id="reference" type="text" name="reference" value=(v("reference"));
            label for="from" { "核查日期自" }
            input id="from" type="date" name="from" value=(v("from")) aria-invalid=(invalid(&errors, "from")) aria-describedby="from-error";
            (field_errors(&errors, "from"))
            label for="to" { "至" }
            input id="to" type="date" name="to" value=(v("to")) aria-invalid=(invalid(&errors, "to")) aria-describedby="to-error";
            (field_errors(&errors, "to"))
            div { button type="submit" { "查找" } }
        }
        @if errors.is_empty() {
            p.hint { "最新的 " (rows.len()) " 份（最多 " (checks::LIST_LIMIT) " 份）。" }
            @if !rows.is_empty() {
                table {
                    thead { tr { th scope="col" { "报告编号" } th scope="col" { "核查时间" } th scope="col" { "主体" } th scope="col" { "场景" } th scope="col" { "结论" } th scope="col" { "业务编号" } } }
                    tbody { @for r in &rows {
                        tr {
                            td.mono { a href={ "/console/reports/" (r.report_no) } { (r.report_no) } }
                            td { (super::words::beijing_time(&r.checked_at)) }
                            td { (r.subject_name.as_deref().unwrap_or("")) br; span.mono { (r.subject_code.as_deref().unwrap_or("")) } }
                            td { (r.scenario) }
                            td { span class={ "verdict " (r.verdict) } { (super::words::verdict(&r.verdict)) } }
                            td { (r.reference.as_deref().unwrap_or("—")) }
                        }
                    } }
                }
            }
        }
    };
    html(status, page("核查报告", Some(s), body))
}

/// `GET /console/subjects?uscc=`: the form (the code filled in from a link).
pub async fn profile(req: HttpRequest) -> HttpResponse {
    let s = session_or_return!(req);
    allowed_or_return!(req, s, access::READ_PROFILE);
    let mut q = query_of(&req);
    q.retain(|k, _| k == "uscc");
    profile_page(&req, &s, q, false).await
}

/// `POST /console/subjects`: the profile (the purpose is logged; an ID number typed into the
/// code field by mistake stays out of URLs).
pub async fn show_profile(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let s = session_or_return!(req);
    let f = form(&body);
    if !csrf_ok(&s, &f) {
        return csrf_refused(Some(&s));
    }
    allowed_or_return!(req, s, access::READ_PROFILE);
    profile_page(&req, &s, f, true).await
}

async fn profile_page(
    req: &HttpRequest,
    s: &Session,
    q: HashMap<String, String>,
    asked: bool,
) -> HttpResponse {
    let v = |k: &str| match q.get(k) {
        Some(c) if is_id_number(c) => String::new(),
        other => echo(&other.cloned().unwrap_or_default()),
    };
    let mut errors = Vec::new();
    let mut shown = None;
    let code = q
        .get("uscc")
        .map(|c| c.trim().to_string())
        .unwrap_or_default();
    if asked && is_id_number(&code) {
        errors.push(FieldError::new(
            "uscc",
            "id_number_in_code",
            "这里输入统一社会信用代码；自然人请用“新建核查”按身份证号码核查。Give a unified social credit code here; check a person by ID number under 新建核查.",
        ));
    } else if asked {
        let st = state(req);
        match query::subject_profile(
            &st.ctx,
            &s.person.caller(),
            &code,
            q.get("purpose").map(String::as_str),
            None,
        )
        .await
        {
            Ok(p) => shown = Some(p),
            Err(ServiceError::Invalid(e)) => errors = e,
            Err(ServiceError::NotFound(_)) => errors.push(FieldError::new(
                "uscc",
                "not_found",
                "本中心未归集该主体的信用记录，或您无权查看。",
            )),
            Err(e) => return error_page(Some(s), &e),
        }
    }
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let may_object = access::FILE_OBJECTION.allows(&s.person.caller()).is_ok();
    let body = html! {
        h1 { "主体信用档案" }
        (error_summary(&errors))
        form.card method="post" action="/console/subjects" {
            input type="hidden" name="csrf" value=(s.csrf);
            label for="uscc" { "统一社会信用代码" }
            input id="uscc" type="text" name="uscc" value=(v("uscc")) required aria-invalid=(invalid(&errors, "uscc")) aria-describedby="uscc-error";
            (field_errors(&errors, "uscc"))
            label for="purpose" { "查询事由" }
            p.hint id="purpose-hint" { "2 至 200 个字符，记入访问日志。" }
            input id="purpose" type="text" name="purpose" value=(v("purpose")) required aria-invalid=(invalid(&errors, "purpose")) aria-describedby="purpose-hint purpose-error";
            (field_errors(&errors, "purpose"))
            div { button type="submit" { "查看" } }
        }
        @if let Some(p) = &shown { (profile_body(p, may_object)) }
    };
    html(status, page("主体信用档案", Some(s), body))
}

fn profile_body(p: &query::Profile, may_object: bool) -> Markup {
    html! {
        section.card data-subject=(p.subject.uscc.as_deref().unwrap_or("")) {
            h2 { (p.subject.name) }
            dl.facts {
                dt { "统一社会信用代码" } dd.mono { (p.subject.uscc.as_deref().unwrap_or("—")) }
                dt { "在列名单" } dd { @if p.summary.active_lists.is_empty() { "无" } @else { (p.summary.active_lists.join("、")) } }
                dt { "受限记录" } dd { (p.summary.restricted_records) " 条（共享类别所限，不予显示）" }
                dt { "数据时间" } dd { (super::words::beijing_time(&p.as_of)) }
            }
            @if let Some(u) = &p.subject.uscc {
                a.button href={ "/console/checks/new?uscc=" (u) } { "对该主体核查" }
            }
        }
        h2 { "信用记录（" (p.records.len()) " 条）" }
        @if p.records.is_empty() { p { "无可显示的记录。" } }
        @for r in &p.records {
            article.finding data-record-id=(r.id) {
                h3 { (super::words::kind(r.kind.as_str())) " " span.mono { (r.id) }
                    @if r.under_objection { " " span.tag.objection { "异议处理中" } } }
                dl.facts {
                    @if let Some(l) = &r.list_code { dt { "名单" } dd.mono { (l) } }
                    @if let Some(n) = &r.decision_no { dt { "决定文书号" } dd { (n) } }
                    @if let Some(d) = r.decision_date { dt { "决定日期" } dd { (d) } }
                    dt { "决定机关" } dd { (r.authority.name.as_deref().unwrap_or("—")) }
                    dt { "数据来源" } dd { (r.source_code) }
                    @if let Some(f) = &r.fine_amount { dt { "罚款金额" } dd { (f) " 元" } }
                    @if let Some(d) = r.publicity_until { dt { "公示截止" } dd { (d) } }
                    @if let Some(d) = r.repair_eligible_from { dt { "可申请修复" } dd { (d) " 起" } }
                }
                @if !r.under_objection && may_object {
                    a.button.secondary href={ "/console/objections/new?record=" (r.id) } { "对该记录提出异议" }
                }
            }
        }
    }
}

/// `GET /console/objections`: the objections the organisation filed, with their answers.
/// `GET /console/objections[?cursor=]`: a page of 50 in filing order, with the next page's link.
pub async fn objections(req: HttpRequest) -> HttpResponse {
    let s = session_or_return!(req);
    allowed_or_return!(req, s, access::READ_OBJECTIONS);
    let every_org = matches!(
        s.person.role,
        crate::domain::Role::Admin | crate::domain::Role::Auditor
    );
    let q = ListQuery {
        purpose: Some(if every_org {
            "查看异议及其答复".into()
        } else {
            "查看本单位提出或所涉的异议及其答复".into()
        }),
        limit: Some(50),
        cursor: query_of(&req).remove("cursor"),
        ..Default::default()
    };
    let list = match objections::list(&state(&req).ctx, &s.person.caller(), q).await {
        Ok(l) => l,
        Err(e) => return error_page(Some(&s), &e),
    };
    let body = html! {
        h1 { @if every_org { "异议（各单位）" } @else { "本单位提出或所涉的异议" } }
        p { "异议由市大数据中心在 5 个工作日内审核；非技术原因的，转数据提供部门在 3 个工作日内核实（《全市政务信息资源共享管理办法》第二十一条）。对记录提出异议，请在核查报告或信用档案中点击该记录旁的“提出异议”。" }
        @if list.items.is_empty() { p { "暂无异议。" } }
        @for o in &list.items {
            article.card data-objection-id=(o.id) {
                h2 { "异议 " span.mono { (o.id) } }
                dl.facts {
                    dt { "所涉记录" } dd.mono { (o.record_id) }
                    dt { "状态" } dd data-status=(o.status) { (super::words::objection_status(&o.status))
                        @if o.overdue { " " span.tag.objection { "已逾期" } } }
                    dt { "异议理由" } dd { (o.grounds) }
                    dt { "受理日期" } dd { (o.received_on) }
                    dt { "审核期限" } dd { (o.review_due) }
                    @if let Some(d) = o.provider_due { dt { "核实期限" } dd { (d) } }
                    @if let Some(oc) = &o.outcome { dt { "处理结果" } dd { (super::words::objection_outcome(oc)) } }
                    @if let Some(a) = &o.answer {
                        dt { "书面答复" } dd { (a.reason.as_deref().unwrap_or("")) "（" (a.on) "，" (a.org_code) "）" }
                    }
                }
            }
        }
        @if let Some(next) = &list.next_cursor {
            p { a.button.secondary href={ "/console/objections?cursor=" (next) } { "下一页" } }
        }
    };
    html(StatusCode::OK, page("异议", Some(&s), body))
}

fn objection_page(
    s: &Session,
    values: &HashMap<String, String>,
    errors: &[FieldError],
    status: StatusCode,
) -> HttpResponse {
    let v = |k: &str| echo(&values.get(k).cloned().unwrap_or_default());
    let body = html! {
        h1 { "对记录提出异议" }
        (error_summary(errors))
        form.card method="post" action="/console/objections" novalidate {
            input type="hidden" name="csrf" value=(s.csrf);
            input type="hidden" name="report" value=(v("report"));
            label for="record_id" { "记录编号" }
            input id="record_id" type="text" name="record_id" value=(v("record_id")) required readonly[!v("record_id").is_empty()]
                aria-invalid=(invalid(errors, "record_id")) aria-describedby="record_id-error";
            (field_errors(errors, "record_id"))
            label for="grounds" { "异议理由" }
            p.hint id="grounds-hint" { "说明该记录哪里有误或不完整，以及依据（10 至 2000 个字符）。" }
            textarea id="grounds" name="grounds" required aria-invalid=(invalid(errors, "grounds")) aria-describedby="grounds-hint grounds-error" { (v("grounds")) }
            (field_errors(errors, "grounds"))
            label for="filer_name" { "提出单位" }
            input id="filer_name" type="text" name="filer_name" value=(v("filer_name")) required maxlength="100"
                aria-invalid=(invalid(errors, "filed_by.name")) aria-describedby="filed_by.name-error";
            (field_errors(errors, "filed_by.name"))
            label for="filer_contact" { "联系方式（用于书面答复）" }
            input id="filer_contact" type="text" name="filer_contact" value=(v("filer_contact")) maxlength="100"
                aria-invalid=(invalid(errors, "filed_by.contact")) aria-describedby="filed_by.contact-error";
            (field_errors(errors, "filed_by.contact"))
            div { button type="submit" { "提交异议" } }
        }
    };
    html(status, page("提出异议", Some(s), body))
}

/// `GET /console/objections/new?record=&report=`.
pub async fn objection_form(req: HttpRequest) -> HttpResponse {
    let s = session_or_return!(req);
    allowed_or_return!(req, s, access::FILE_OBJECTION);
    let q = query_of(&req);
    let mut values = HashMap::new();
    values.insert(
        "record_id".into(),
        q.get("record").cloned().unwrap_or_default(),
    );
    values.insert(
        "report".into(),
        q.get("report").cloned().unwrap_or_default(),
    );
    values.insert("filer_name".into(), s.person.org_code.clone());
    objection_page(&s, &values, &[], StatusCode::OK)
}

/// `POST /console/objections`.
pub async fn file_objection(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let s = session_or_return!(req);
    let f = form(&body);
    if !csrf_ok(&s, &f) {
        return csrf_refused(Some(&s));
    }
    allowed_or_return!(req, s, access::FILE_OBJECTION);
    let opt = |k: &str| {
        f.get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let input = ObjectionInput {
        record_id: opt("record_id"),
        grounds: f.get("grounds").cloned(),
        filed_by: Some(FiledByInput {
            kind: Some("using_department".into()),
            name: opt("filer_name"),
            contact: opt("filer_contact"),
        }),
        received_on: None,
    };
    match objections::file(&state(&req).ctx, &s.person.caller(), input).await {
        Ok(_) => match opt("report") {
            Some(no) if no.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') => {
                see_other(&format!("/console/reports/{no}"))
            }
            _ => see_other("/console/objections"),
        },
        Err(ServiceError::Invalid(errors)) => {
            objection_page(&s, &f, &errors, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(e) => error_page(Some(&s), &e),
    }
}
