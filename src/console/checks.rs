//! The check form, the report page, its print view and its PDF.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;

use super::layout::{error_summary, field_errors, invalid, page};
use super::{
    allowed_or_return, csrf_ok, csrf_refused, error_page, form, html, see_other, session_or_return,
    state,
};
use crate::domain::FieldError;
use crate::service::access;
use crate::service::checks::{self, CheckRequest, CheckSubjectInput, Report};
use crate::service::people::Session;
use crate::service::ServiceError;

/// Where the API names a field the form shows under another name.
fn form_field(api_field: &str) -> &str {
    match api_field {
        "subject" | "subject.uscc" | "subject.reg_no" => "uscc",
        "subject.id_number" => "id_number",
        "subject.name" => "name",
        "authorization_ref" => "reference",
        other => other,
    }
}

fn check_page(
    s: &Session,
    values: &HashMap<String, String>,
    errors: &[FieldError],
    status: StatusCode,
    scenarios: &[(String, String)],
) -> HttpResponse {
    let v = |k: &str| super::words::echo(&values.get(k).cloned().unwrap_or_default());
    let chosen = v("scenario");
    let described = |f: &str| format!("{f}-hint {f}-error");
    let body = html! {
        h1 { "新建联合奖惩核查" }
        (error_summary(errors))
        form.card method="post" action="/console/checks" novalidate {
            input type="hidden" name="csrf" value=(s.csrf);
            fieldset {
                legend { "被核查主体（二选一）" }
                label for="uscc" { "统一社会信用代码" }
                p.hint id="uscc-hint" { "18 位，如 91110000MA00000152；代码的校验位会被核对。" }
                input id="uscc" type="text" name="uscc" value=(v("uscc")) maxlength="40" autocomplete="off"
                    aria-invalid=(invalid(errors, "uscc")) aria-describedby=(described("uscc"));
                (field_errors(errors, "uscc"))
                label for="id_number" { "或：自然人身份证号码" }
                p.hint id="id_number-hint" { "18 位公民身份号码；报告和日志中只保留脱敏号码。" }
                input id="id_number" type="text" name="id_number" value=(v("id_number")) maxlength="40" autocomplete="off"
                    aria-invalid=(invalid(errors, "id_number")) aria-describedby=(described("id_number"));
                (field_errors(errors, "id_number"))
                label for="name" { "自然人姓名（按身份证号码核查时填写）" }
                p.hint id="name-hint" { "可选。" }
                input id="name" type="text" name="name" value=(v("name")) maxlength="100" autocomplete="off"
                    aria-invalid=(invalid(errors, "name")) aria-describedby=(described("name"));
                (field_errors(errors, "name"))
            }
            label for="scenario" { "核查场景" }
            p.hint id="scenario-hint" { "按场景适用的联合奖惩措施核查。" }
            select id="scenario" name="scenario" required aria-invalid=(invalid(errors, "scenario")) aria-describedby=(described("scenario")) {
                option value="" selected[chosen.is_empty()] { "请选择" }
                @for (name, title) in scenarios {
                    option value=(name) selected[chosen == *name] { (title) "（" (name) "）" }
                }
            }
            (field_errors(errors, "scenario"))
            label for="purpose" { "查询事由" }
            p.hint id="purpose-hint" { "2 至 200 个字符，如“政府采购资格审查”；记入访问日志（《全市政务信息资源共享管理办法》第二十条）。" }
            input id="purpose" type="text" name="purpose" value=(v("purpose")) maxlength="200" required
                aria-invalid=(invalid(errors, "purpose")) aria-describedby=(described("purpose"));
            (field_errors(errors, "purpose"))
            label for="reference" { "业务编号" }
            p.hint id="reference-hint" { "可选：项目编号、案卷号，如 ZFCG-2026-0457。" }
            input id="reference" type="text" name="reference" value=(v("reference")) maxlength="100"
                aria-invalid=(invalid(errors, "reference")) aria-describedby=(described("reference"));
            (field_errors(errors, "reference"))
            label for="as_of" { "措施适用日期" }
            p.hint id="as_of-hint" { "可选，默认今天（北京时间）。" }
            input id="as_of" type="date" name="as_of" value=(v("as_of"))
                aria-invalid=(invalid(errors, "as_of")) aria-describedby=(described("as_of"));
            (field_errors(errors, "as_of"))
            div { button type="submit" { "核查" } }
        }
    };
    html(status, page("新建核查", Some(s), body))
}

fn scenarios(req: &HttpRequest) -> Vec<(String, String)> {
    state(req)
        .ctx
        .rules()
        .scenarios
        .values()
        .map(|s| (s.name.clone(), s.title.clone()))
        .collect()
}

/// `GET /console/checks/new` (`?uscc=` fills the code in).
pub async fn new_form(req: HttpRequest) -> HttpResponse {
    let s = session_or_return!(req);
    allowed_or_return!(req, s, access::RUN_CHECK);
    // Only the code is taken from a link: an ID number never rides in a URL.
    let mut values: HashMap<String, String> = super::form(req.query_string().as_bytes());
    values.retain(|k, _| k == "uscc");
    check_page(&s, &values, &[], StatusCode::OK, &scenarios(&req))
}

/// `POST /console/checks`: runs the check as the API does, then shows its report.
pub async fn run(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let s = session_or_return!(req);
    let f = form(&body);
    if !csrf_ok(&s, &f) {
        return csrf_refused(Some(&s));
    }
    allowed_or_return!(req, s, access::RUN_CHECK);
    let opt = |k: &str| {
        f.get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let input = CheckRequest {
        scenario: opt("scenario"),
        subject: Some(CheckSubjectInput {
            uscc: opt("uscc"),
            reg_no: None,
            id_number: opt("id_number"),
            name: opt("name"),
        }),
        related_persons: vec![],
        purpose: f.get("purpose").cloned(),
        reference: opt("reference"),
        as_of: opt("as_of"),
        authorization_ref: None,
        as_known_at: None,
    };
    let st = state(&req);
    match checks::check(&st.ctx, &s.person.caller(), input).await {
        Ok(report) => see_other(&format!("/console/reports/{}", report.report_no)),
        Err(ServiceError::Invalid(errors)) => {
            let errors: Vec<FieldError> = errors
                .into_iter()
                .map(|e| FieldError {
                    field: form_field(&e.field).to_string(),
                    ..e
                })
                .collect();
            // The ID number is not sent back into the page.
            let mut values = f.clone();
            values.remove("id_number");
            check_page(
                &s,
                &values,
                &errors,
                StatusCode::UNPROCESSABLE_ENTITY,
                &scenarios(&req),
            )
        }
        Err(e) => error_page(Some(&s), &e),
    }
}

/// The public verify link of a report, for its QR code.
pub(crate) fn verify_url(req: &HttpRequest, report_no: &str, digest: &str) -> String {
    let base = state(req).public_url.clone().unwrap_or_else(|| {
        // The address the request came to (not a forwarded host anyone could send); set
        // CREDITGATE_PUBLIC_URL in production.
        let scheme = if super::over_https(req) {
            "https"
        } else {
            "http"
        };
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| {
                h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
            })
            .unwrap_or("localhost");
        format!("{scheme}://{host}")
    });
    format!("{base}/verify/{report_no}?d={digest}")
}

/// A report as a person may read it, with its scenario's title and the names of the
/// departments its records came from (code → name).
pub(crate) struct Loaded {
    pub report: Report,
    pub title: String,
    pub sources: BTreeMap<String, String>,
    /// The names of the lists its records are on (code → name), from the active catalog.
    pub lists: BTreeMap<String, String>,
    /// Whether the person may file objections (the button on each record).
    pub may_object: bool,
}

async fn load(req: &HttpRequest, s: &Session, no: &str) -> Result<Loaded, HttpResponse> {
    if let Some(r) = super::refused(req, s, &access::READ_REPORT).await {
        return Err(r);
    }
    let st = state(req);
    let report = checks::get_report(&st.ctx, &s.person.caller(), no)
        .await
        .map_err(|e| error_page(Some(s), &e))?;
    let title = st
        .ctx
        .rules()
        .scenarios
        .get(&report.scenario)
        .map_or_else(|| report.scenario.clone(), |x| x.title.clone());
    let codes: BTreeSet<&String> = report
        .findings
        .iter()
        .chain(&report.incentives)
        .flat_map(|f| &f.records)
        .filter_map(|r| r.source.as_ref())
        .collect();
    let mut sources = BTreeMap::new();
    for code in codes {
        let name = checks::issuer_name(&st.ctx, code)
            .await
            .map_err(|e| error_page(Some(s), &e))?;
        sources.insert(code.clone(), name);
    }
    let rules = st.ctx.rules();
    let lists = report
        .findings
        .iter()
        .chain(&report.incentives)
        .flat_map(|f| &f.records)
        .filter_map(|r| r.list_code.as_ref())
        .filter_map(|c| Some((c.clone(), rules.catalog.get(c)?.name.clone())))
        .collect();
    Ok(Loaded {
        may_object: access::FILE_OBJECTION.allows(&s.person.caller()).is_ok(),
        report,
        title,
        sources,
        lists,
    })
}

/// `GET /console/reports/{no}` and `GET /console/reports/{no}.pdf`.
pub async fn report(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let s = session_or_return!(req);
    let file = path.into_inner();
    if let Some(no) = file.strip_suffix(".pdf") {
        return pdf(&req, &s, no).await;
    }
    let l = match load(&req, &s, &file).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let url = verify_url(&req, &l.report.report_no, &l.report.digest);
    let body = super::report::body(&l, &url, false);
    let title = format!("核查报告 {}", l.report.report_no);
    html(StatusCode::OK, page(&title, Some(&s), body))
}

/// `GET /console/reports/{no}/print`: the report alone, for the browser's print (A4 CSS).
pub async fn print(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let s = session_or_return!(req);
    let l = match load(&req, &s, &path.into_inner()).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let url = verify_url(&req, &l.report.report_no, &l.report.digest);
    let body = super::report::body(&l, &url, true);
    html(StatusCode::OK, super::report::print_page(&l.report, body))
}

async fn pdf(req: &HttpRequest, s: &Session, no: &str) -> HttpResponse {
    let Loaded {
        report,
        title,
        sources,
        lists,
        ..
    } = match load(req, s, no).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let st = state(req);
    let issuer = match checks::issuer_name(&st.ctx, &report.requested_by.org_code).await {
        Ok(n) => n,
        Err(e) => return error_page(Some(s), &e),
    };
    let url = verify_url(req, &report.report_no, &report.digest);
    let font = st.pdf_font.clone();
    let started = Instant::now();
    let rendered = web::block(move || {
        let cover = super::pdf::Cover {
            scenario_title: &title,
            issuer_name: Some(&issuer),
            verify_url: &url,
            sources: &sources,
            lists: &lists,
        };
        super::pdf::render(&font, &report, &cover).map(|out| (out, report.report_no.clone()))
    })
    .await;
    match rendered {
        Ok(Ok(((bytes, missing), no))) => {
            tracing::info!(
                bytes = bytes.len(),
                ms = started.elapsed().as_millis() as u64,
                missing_glyphs = missing,
                "report PDF rendered"
            );
            HttpResponse::Ok()
                .content_type("application/pdf")
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .insert_header((
                    header::CONTENT_DISPOSITION,
                    format!("inline; filename=\"{no}.pdf\""),
                ))
                .body(bytes)
        }
        Ok(Err(why)) => error_page(
            Some(s),
            &ServiceError::Internal(anyhow::anyhow!("PDF of {no}: {why}")),
        ),
        Err(e) => error_page(
            Some(s),
            &ServiceError::Internal(anyhow::anyhow!("PDF of {no}: {e}")),
        ),
    }
}
