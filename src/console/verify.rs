//! `GET /verify/{report_no}?d=DIGEST`: the public verify page that a printed report's QR code
//! opens. No sign-in; limited per client address. It says whether a report with this number
//! and digest exists, and if so when it was issued, by which organisation, for which scenario
//! and with which verdict: nothing else (no subject, no records, no ID numbers). HTML, or JSON
//! with `Accept: application/json`.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;

use super::layout::page;
use super::{html, state, words};
use crate::service::checks::{self, PublicVerification};
use crate::service::{limits, ServiceError};

/// Verifications one client address may make in a minute.
pub const PER_MINUTE: u64 = 30;

fn wants_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json") && !a.contains("text/html"))
}

/// The public verification of a printed report (its QR code opens this). No key: anyone holding
/// the report may ask. Only `valid` and `report_no` when the number and digest do not match a
/// stored, unaltered report. An HTML page unless `Accept` asks for `application/json`.
#[utoipa::path(
    get,
    path = "/verify/{report_no}",
    tag = "verify",
    params(
        ("report_no" = String, Path, description = "The report number printed on the report", example = "CR-20261124-000042"),
        ("d" = Option<String>, Query, description = "The digest printed on the report (`sha256:` and 64 hexadecimal digits)"),
    ),
    responses(
        (status = 200, description = "Whether the report is genuine, and if so when, by whom, for which scenario and verdict; nothing about the subject", content(
            (PublicVerification = "application/json"),
            (String = "text/html"),
        )),
        (status = 429, description = "Over the per-address limit of 30 a minute (Retry-After)", headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "The database is unavailable"),
    )
)]
pub async fn show(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let no = path.into_inner();
    let digest = super::form(req.query_string().as_bytes())
        .remove("d")
        .unwrap_or_default();
    let st = state(&req);
    let addr = super::client_address(&req);
    let json = wants_json(&req);
    if let Err(e) = limits::check_address_rate(&st.ctx, "verify", &addr, PER_MINUTE).await {
        return failed(json, e);
    }
    let v = match checks::verify_public(&st.ctx, &no, &digest).await {
        Ok(v) => v,
        Err(e) => return failed(json, e),
    };
    if json {
        return HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(&v);
    }
    html(StatusCode::OK, verify_page(&v, &st))
}

/// A refusal or a failure: problem+json as the API answers it, or the page saying so.
fn failed(json: bool, e: ServiceError) -> HttpResponse {
    if json {
        actix_web::ResponseError::error_response(&crate::api::error::ApiError::from(e))
    } else {
        super::error_page(None, &e)
    }
}

/// A report number as the service makes them (`CR-YYYYMMDD-NNNNNN`): the page repeats only
/// such a number, never whatever text a link carried.
fn looks_like_report_no(no: &str) -> bool {
    let b = no.as_bytes();
    b.len() == 18
        && no.starts_with("CR-")
        && b[11] == b'-'
        && b[3..11].iter().chain(&b[12..]).all(u8::is_ascii_digit)
}

fn verify_page(v: &PublicVerification, st: &crate::api::AppState) -> maud::Markup {
    let scenario = v.scenario.as_deref().map(|s| {
        st.ctx
            .rules()
            .scenarios
            .get(s)
            .map_or_else(|| s.to_string(), |x| format!("{}（{s}）", x.title))
    });
    let body = html! {
        h1 { "核查报告核验" }
        @if v.valid {
            section.card data-valid="true" data-report-no=(v.report_no) {
                p.verdict.clear role="status" { "有效：该报告由本系统出具，内容未被改动。" }
                dl.facts {
                    dt { "报告编号" } dd.mono { (v.report_no) }
                    dt { "出具时间" } dd { (words::beijing_time(v.issued_at.as_deref().unwrap_or(""))) }
                    dt { "查询单位" } dd { (v.issuer.as_deref().unwrap_or("")) }
                    dt { "核查场景" } dd { (scenario.unwrap_or_default()) }
                    dt { "核查结论" } dd data-verdict=(v.verdict.as_deref().unwrap_or("")) {
                        (words::verdict(v.verdict.as_deref().unwrap_or("")))
                    }
                }
                p.hint { "本页面只核验报告的真实性，不显示被核查主体和信用记录。请将上述内容与纸质报告对照。" }
            }
        } @else {
            section.card data-valid="false" {
                p.verdict.prohibited role="alert" { "无效：没有编号和摘要值与之相符的报告。" }
                p {
                    @if looks_like_report_no(&v.report_no) { "报告编号 " span.mono { (v.report_no) } " " }
                    "与所给摘要值不符，或该编号的报告不存在。报告可能被改动或伪造，请向提供报告的单位核实。"
                }
            }
        }
    };
    page("报告核验", None, body)
}

#[cfg(test)]
mod tests {
    #[test]
    fn report_numbers() {
        assert!(super::looks_like_report_no("CR-20261124-000042"));
        for no in [
            "CR-2026112-0000420",
            "<b>CR-20261124-000042",
            "CR-20261124-00004x",
            "XR-20261124-000042",
            "",
        ] {
            assert!(!super::looks_like_report_no(no), "{no}");
        }
    }
}
