//! Sign-in, sign-out, and the password change (required at the first sign-in).

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

use super::layout::{error_summary, field_errors, invalid, page};
use super::{cookie, csrf_ok, csrf_refused, form, html, same, see_other, state, Gate};
use crate::domain::FieldError;
use crate::service::people::{self, Session, SignInError};
use crate::service::{limits, ServiceError};

/// `GET /console/`: the start page when signed in, else the sign-in form.
pub async fn start(req: HttpRequest) -> HttpResponse {
    match super::signed_in(&req, true).await {
        Gate::In(s) if s.person.must_change => see_other("/console/password"),
        Gate::In(s) => html(StatusCode::OK, home(&s)),
        Gate::Failed(r) => r,
        Gate::Out(_) => sign_in_page(&req, StatusCode::OK, "", None),
    }
}

fn home(s: &Session) -> Markup {
    page(
        "首页",
        Some(s),
        html! {
            h1 { "信用核查" }
            p { "您好，" (s.person.login) "。您以" (super::words::role(s.person.role.as_str())) "身份代表 " (s.person.org_code) " 使用本系统；每次查询均记入访问日志。" }
            div.card {
                h2 { "常用操作" }
                ul {
                    li { a href="/console/checks/new" { "新建联合奖惩核查" } "：输入统一社会信用代码或身份证号码、场景和查询事由。" }
                    li { a href="/console/reports" { "本单位的核查报告" } "：按代码、业务编号或日期查找，可打印或下载 PDF。" }
                    li { a href="/console/subjects" { "主体信用档案" } "：查看一个主体的信用记录。" }
                    li { a href="/console/objections" { "异议" } "：已提出的异议及其答复。" }
                }
            }
        },
    )
}

/// The sign-in form, with a fresh token for it in a cookie and in the form (double submit).
fn sign_in_page(
    req: &HttpRequest,
    status: StatusCode,
    login: &str,
    problem: Option<&str>,
) -> HttpResponse {
    let token = crate::service::people::new_token();
    let body = html! {
        h1 { "登录" }
        @if let Some(p) = problem { div.alert role="alert" { p { (p) } } }
        form.card method="post" action="/console/sign-in" {
            input type="hidden" name="csrf" value=(token);
            label for="login" { "登录名" }
            input id="login" type="text" name="login" value=(login) autocomplete="username" required autofocus;
            label for="password" { "密码" }
            input id="password" type="password" name="password" autocomplete="current-password" required;
            div { button type="submit" { "登录" } }
            p.hint { "账户由信用管理员以 creditgate users create 建立；首次登录须修改一次性密码。连续 5 次密码错误，账户将锁定 15 分钟。" }
        }
    };
    let mut res = html(status, page("登录", None, body));
    let _ = res.add_cookie(&cookie(req, super::PRE_CSRF_COOKIE, token));
    res
}

/// Sign-in attempts one client address may make in a minute.
pub const SIGN_INS_PER_MINUTE: u64 = 30;

/// `POST /console/sign-in`.
pub async fn sign_in(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let f = form(&body);
    let sent = f.get("csrf").map(String::as_str).unwrap_or("");
    let expected = req.cookie(super::PRE_CSRF_COOKIE);
    if sent.is_empty() || !expected.is_some_and(|c| same(c.value(), sent)) {
        return csrf_refused(None);
    }
    let login = f.get("login").map(String::as_str).unwrap_or("");
    let password = f.get("password").map(String::as_str).unwrap_or("");
    let st = state(&req);
    // Besides each account's lock-out: one address trying many logins is slowed down too.
    let addr = super::client_address(&req);
    if let Err(e) = limits::check_address_rate(&st.ctx, "sign_in", &addr, SIGN_INS_PER_MINUTE).await
    {
        return super::error_page(None, &e);
    }
    match people::sign_in(&st.ctx, login, password).await {
        Ok(done) => {
            let to = if done.person.must_change {
                "/console/password"
            } else {
                "/console/"
            };
            let mut spent = cookie(&req, super::PRE_CSRF_COOKIE, String::new());
            spent.make_removal();
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, to))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .cookie(cookie(&req, super::SESSION_COOKIE, done.token))
                .cookie(spent)
                .finish()
        }
        Err(SignInError::Wrong) => sign_in_page(
            &req,
            StatusCode::UNAUTHORIZED,
            login,
            Some("登录名或密码不正确。The login or the password is wrong."),
        ),
        Err(SignInError::Locked(until)) => {
            let text = format!(
                "连续输错密码次数过多，账户已锁定至 {}。Too many wrong passwords: the account is locked for 15 minutes.",
                super::words::beijing_time(&crate::service::rfc3339(until))
            );
            let wait = (until - state(&req).ctx.clock.stamp()).num_seconds().max(1) as u64;
            let mut res = sign_in_page(&req, StatusCode::TOO_MANY_REQUESTS, login, Some(&text));
            res.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(wait));
            res
        }
        Err(SignInError::Service(e)) => super::error_page(None, &e),
    }
}

/// `POST /console/sign-out`.
pub async fn sign_out(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let s = match super::signed_in(&req, true).await {
        Gate::In(s) => s,
        Gate::Out(r) | Gate::Failed(r) => return r,
    };
    if !csrf_ok(&s, &form(&body)) {
        return csrf_refused(Some(&s));
    }
    if let Err(e) = people::sign_out(&state(&req).ctx, &s).await {
        return super::error_page(Some(&s), &e);
    }
    let mut gone = cookie(&req, super::SESSION_COOKIE, String::new());
    gone.make_removal();
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/console/"))
        .cookie(gone)
        .finish()
}

fn password_page(s: &Session, errors: &[FieldError], status: StatusCode) -> HttpResponse {
    let first = s.person.must_change;
    let body = html! {
        h1 { @if first { "首次登录：设置新密码" } @else { "修改密码" } }
        @if first {
            div.notice { p { "您正在使用管理员提供的一次性密码。请先设置自己的密码，然后才能使用本系统。" } }
        }
        (error_summary(errors))
        form.card method="post" action="/console/password" novalidate {
            input type="hidden" name="csrf" value=(s.csrf);
            label for="current_password" { "当前密码" }
            input id="current_password" type="password" name="current_password" autocomplete="current-password" required
                aria-invalid=(invalid(errors, "current_password")) aria-describedby="current_password-error";
            (field_errors(errors, "current_password"))
            label for="new_password" { "新密码" }
            p.hint id="new_password-hint" { "至少 12 个字符，含小写字母、大写字母、数字、符号中的至少三类，且不含登录名。" }
            input id="new_password" type="password" name="new_password" autocomplete="new-password" required
                aria-invalid=(invalid(errors, "new_password")) aria-describedby="new_password-hint new_password-error";
            (field_errors(errors, "new_password"))
            label for="confirm_password" { "再次输入新密码" }
            input id="confirm_password" type="password" name="confirm_password" autocomplete="new-password" required
                aria-invalid=(invalid(errors, "confirm_password")) aria-describedby="confirm_password-error";
            (field_errors(errors, "confirm_password"))
            div { button type="submit" { "保存新密码" } }
        }
    };
    html(status, page("修改密码", Some(s), body))
}

/// `GET /console/password`.
pub async fn password_form(req: HttpRequest) -> HttpResponse {
    match super::signed_in(&req, true).await {
        Gate::In(s) => password_page(&s, &[], StatusCode::OK),
        Gate::Out(r) | Gate::Failed(r) => r,
    }
}

/// `POST /console/password`.
pub async fn change_password(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let s = match super::signed_in(&req, true).await {
        Gate::In(s) => s,
        Gate::Out(r) | Gate::Failed(r) => return r,
    };
    let f = form(&body);
    if !csrf_ok(&s, &f) {
        return csrf_refused(Some(&s));
    }
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    let st = state(&req);
    match people::change_password(
        &st.ctx,
        &s,
        get("current_password"),
        get("new_password"),
        get("confirm_password"),
    )
    .await
    {
        Ok(token) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/console/"))
            .cookie(cookie(&req, super::SESSION_COOKIE, token))
            .finish(),
        Err(ServiceError::Invalid(errors)) => {
            password_page(&s, &errors, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(e) => super::error_page(Some(&s), &e),
    }
}
