//! The console for people (officers, admins, auditors) and the public verify page: server-side
//! HTML (maud, checked at compile time), plain forms that work without JavaScript, a session
//! cookie, and a CSRF token in every form. Handlers call the same use cases as the API, with the
//! signed-in person as the caller, so the one policy point decides what a person sees.
//!
//! Paths and form fields are part of the contract (API.md "Console and printed reports"):
//! `/console/` (sign-in: `login`, `password`), `/console/checks/new` (`uscc` or `id_number`,
//! `scenario`, `purpose`, `reference`), `/console/reports/{no}` (`data-report-no`,
//! `data-verdict`), `/console/reports/{no}.pdf`, `/verify/{no}?d=DIGEST`.

mod auth;
mod checks;
mod layout;
mod lists;
pub mod pdf;
pub mod qr;
mod report;
pub mod verify;
mod words;

use std::collections::HashMap;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use maud::Markup;

use crate::api::AppState;
use crate::service::access::Operation;
use crate::service::people::{self, Session};
use crate::service::{audit, limits, ServiceError};

/// The session cookie (its token's hash is the session's key).
const SESSION_COOKIE: &str = "cg_session";
/// The sign-in form's token before there is a session (double submit: cookie and field).
const PRE_CSRF_COOKIE: &str = "cg_signin";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/console",
        web::get().to(|| async { see_other("/console/") }),
    )
    .route("/console/", web::get().to(auth::start))
    .route("/console/sign-in", web::post().to(auth::sign_in))
    .route("/console/sign-out", web::post().to(auth::sign_out))
    .route("/console/password", web::get().to(auth::password_form))
    .route("/console/password", web::post().to(auth::change_password))
    .route(
        "/console/static/console.css",
        web::get().to(layout::stylesheet),
    )
    .route("/console/checks/new", web::get().to(checks::new_form))
    .route("/console/checks", web::post().to(checks::run))
    .route("/console/reports", web::get().to(lists::reports))
    .route("/console/reports", web::post().to(lists::search_reports))
    .route("/console/reports/{file}", web::get().to(checks::report))
    .route("/console/reports/{no}/print", web::get().to(checks::print))
    .route("/console/subjects", web::get().to(lists::profile))
    .route("/console/subjects", web::post().to(lists::show_profile))
    .route("/console/objections", web::get().to(lists::objections))
    .route("/console/objections", web::post().to(lists::file_objection))
    .route(
        "/console/objections/new",
        web::get().to(lists::objection_form),
    )
    .route("/verify/{report_no}", web::get().to(verify::show));
}

/// The public operations of this module that the OpenAPI document lists beside the API's.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(verify::show),
    components(schemas(crate::service::checks::PublicVerification)),
    tags((name = "verify", description = "Public verification of printed reports (no key)"))
)]
pub struct PublicDoc;

pub(crate) fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_string()))
        .finish()
}

/// An HTML answer that no cache keeps (pages carry credit data).
pub(crate) fn html(status: StatusCode, page: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .body(page.into_string())
}

pub(crate) fn state(req: &HttpRequest) -> web::Data<AppState> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .expect("the app state is registered")
}

/// Whether the request came over HTTPS (directly, or through a proxy that says so): the
/// cookies are `Secure` then.
pub(crate) fn over_https(req: &HttpRequest) -> bool {
    let direct = req.app_config().secure();
    state(req)
        .proxies
        .https(req.peer_addr().map(|a| a.ip()), req.headers(), direct)
}

/// The client's address as the service trusts it (`api::client`), for per-address limits.
pub(crate) fn client_address(req: &HttpRequest) -> String {
    state(req)
        .proxies
        .client(req.peer_addr().map(|a| a.ip()), req.headers())
}

pub(crate) fn cookie<'a>(req: &HttpRequest, name: &'a str, value: String) -> Cookie<'a> {
    let mut c = Cookie::new(name, value);
    c.set_http_only(true);
    c.set_same_site(SameSite::Strict);
    c.set_path("/console");
    c.set_secure(over_https(req));
    c
}

/// A request's signed-in person, or where to send it instead: to the sign-in page when there is
/// no open session, to the password page while the first password is unchanged.
pub(crate) enum Gate {
    In(Session),
    /// No open session (or the first password to change): where to go.
    Out(HttpResponse),
    /// The session could not be read, or the person is over their rate: the page saying so.
    Failed(HttpResponse),
}

pub(crate) async fn signed_in(req: &HttpRequest, allow_first_password: bool) -> Gate {
    let st = state(req);
    let Some(token) = req.cookie(SESSION_COOKIE).map(|c| c.value().to_string()) else {
        return Gate::Out(see_other("/console/"));
    };
    match people::session(&st.ctx, &token).await {
        Ok(Some(s)) if s.person.must_change && !allow_first_password => {
            Gate::Out(see_other("/console/password"))
        }
        // The same rate per caller as the API's keys.
        Ok(Some(s)) => match limits::check_rate(&st.ctx, &s.person.caller()).await {
            Ok(()) => Gate::In(s),
            Err(e) => Gate::Failed(error_page(Some(&s), &e)),
        },
        Ok(None) => {
            let mut gone = cookie(req, SESSION_COOKIE, String::new());
            gone.make_removal();
            Gate::Out(
                HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, "/console/"))
                    .cookie(gone)
                    .finish(),
            )
        }
        Err(e) => Gate::Failed(error_page(None, &e)),
    }
}

/// Reads a signed-in request's session or answers with where to go instead.
macro_rules! session_or_return {
    ($req:expr) => {
        match $crate::console::signed_in(&$req, false).await {
            $crate::console::Gate::In(s) => s,
            $crate::console::Gate::Out(r) | $crate::console::Gate::Failed(r) => return r,
        }
    };
}
pub(crate) use session_or_return;

/// Refuses, as the API's gate does, unless the person's role may do `op`: the refusal is
/// logged under the operation's action and answered with the 403 page. `None`: go on.
pub(crate) async fn refused(
    req: &HttpRequest,
    s: &Session,
    op: &Operation,
) -> Option<HttpResponse> {
    let caller = s.person.caller();
    let why = op.allows(&caller).err()?;
    let st = state(req);
    let e = match audit::log_refusal(&st.ctx, &caller, op, &why).await {
        Ok(()) => ServiceError::Forbidden(why),
        Err(e) => e,
    };
    Some(error_page(Some(s), &e))
}

/// Answers the refusal page unless the person may do `op`.
macro_rules! allowed_or_return {
    ($req:expr, $s:expr, $op:expr) => {
        if let Some(r) = $crate::console::refused(&$req, &$s, &$op).await {
            return r;
        }
    };
}
pub(crate) use allowed_or_return;

/// A form body's fields (the last of a repeated name wins).
pub(crate) fn form(body: &[u8]) -> HashMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Whether a posted form carries the session's CSRF token.
pub(crate) fn csrf_ok(s: &Session, f: &HashMap<String, String>) -> bool {
    f.get("csrf")
        .is_some_and(|t| !t.is_empty() && same(t, &s.csrf))
}

pub(crate) fn csrf_refused(s: Option<&Session>) -> HttpResponse {
    html(
        StatusCode::FORBIDDEN,
        layout::message(
            s,
            "表单已失效",
            "该表单缺少有效的安全令牌（CSRF），未被处理。请返回上一页，刷新后重新提交。The form's security token is missing or stale: nothing was done; reload the page and send it again.",
        ),
    )
}

/// A use case's error as a page: the status of the API's answer, and words for people.
pub(crate) fn error_page(s: Option<&Session>, e: &ServiceError) -> HttpResponse {
    let (status, title, text) = match e {
        ServiceError::NotFound(what) => (
            StatusCode::NOT_FOUND,
            "未找到",
            format!("没有找到所请求的内容，或您无权查看（{what}）。"),
        ),
        ServiceError::Forbidden(why) => (
            StatusCode::FORBIDDEN,
            "无权操作",
            format!("您的角色不能进行此操作：{why}"),
        ),
        ServiceError::Invalid(errors) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "输入有误",
            errors
                .iter()
                .map(|e| format!("{}：{}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("；"),
        ),
        ServiceError::Conflict(why, _) => (StatusCode::CONFLICT, "状态冲突", why.clone()),
        ServiceError::RateLimited(why, _) => {
            (StatusCode::TOO_MANY_REQUESTS, "请求过于频繁", why.clone())
        }
        ServiceError::Unavailable(why) => {
            tracing::warn!(reason = %why, "dependency unavailable (console)");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "服务暂不可用",
                "数据库或缓存暂时不可用，请稍后再试。A dependency is unavailable; try again shortly."
                    .to_string(),
            )
        }
        ServiceError::Internal(err) => {
            tracing::error!(error = ?err, "internal error (console)");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "内部错误",
                "发生了意外错误，已记录。An unexpected error occurred; it has been logged."
                    .to_string(),
            )
        }
    };
    let mut res = html(status, layout::message(s, title, &text));
    if let ServiceError::RateLimited(_, retry) = e {
        res.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(*retry));
    }
    res
}
