//! The console for people, over HTTP as a browser without JavaScript uses it (API.md "Console
//! and printed reports"): accounts made on the command line, the first sign-in's password
//! change, the lock-out (also against attempts sent at once), session cookies and timeouts,
//! CSRF on every form. `tests/console_reports.rs` has the checks, reports, PDFs and the verify
//! page; `tests/browser.rs` drives a real browser.

mod common;
mod console_support;

use std::sync::atomic::Ordering;

use common::*;
use console_support::*;

on_both_backends!(
    accounts_and_the_first_password,
    five_wrong_passwords_lock_an_account,
    attempts_sent_at_once_do_not_pass_the_lock,
    unknown_logins_are_answered_as_known_ones,
    a_password_change_ends_every_other_session,
    sessions_end_when_idle_or_old_and_at_sign_out,
    every_form_needs_its_token,
    one_address_trying_many_logins_is_slowed,
);

async fn accounts_and_the_first_password(b: Backend) {
    let app = spawn_app(b).await;
    let pw = create_user(&app.db_url, "ZWFW", "wang.li", "officer");
    assert!(pw.len() >= 12, "{pw}");
    // Refused: a key role, a taken login, a bad login; nothing on stdout then.
    for (login, role, why) in [
        ("li.si", "partner", "is for keys"),
        ("wang.li", "officer", "is taken"),
        ("Wang Li", "officer", "must be 3 to 64"),
    ] {
        let out = creditgate_cli(&app.db_url)
            .args([
                "users", "create", "--org", "ZWFW", "--login", login, "--role", role,
            ])
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "{err}");
    }

    let mut p = Browser::new(&app.base);
    let wrong = p.sign_in("wang.li", "not-the-password").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.text.contains("登录名或密码不正确"), "{}", wrong.text);
    let unknown = p.sign_in("nobody", "not-the-password").await;
    assert_eq!(unknown.status, 401);
    assert!(!p.cookies.contains_key("cg_session"));

    let first = p.sign_in("wang.li", &pw).await;
    assert_eq!(first.status, 303);
    assert_eq!(first.location.as_deref(), Some("/console/password"));
    let cookie = first
        .set_cookies
        .iter()
        .find(|c| c.starts_with("cg_session="))
        .expect("session cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    // Until the one-time password is replaced, every page leads to the password page.
    for path in ["/console/", "/console/checks/new", "/console/reports"] {
        let r = p.get(path).await;
        assert_eq!(r.status, 303, "{path}");
        assert_eq!(r.location.as_deref(), Some("/console/password"), "{path}");
    }
    let form = p.get("/console/password").await;
    assert_eq!(form.status, 200);
    let token = form.csrf();
    for (current, new, confirm, field) in [
        (
            "wrong-current-1A",
            NEW_PASSWORD,
            NEW_PASSWORD,
            "current_password-error",
        ),
        (pw.as_str(), "Short1!", "Short1!", "new_password-error"),
        (
            pw.as_str(),
            "alllowercaseletters",
            "alllowercaseletters",
            "new_password-error",
        ),
        (
            pw.as_str(),
            "Wang.Li-2026-x",
            "Wang.Li-2026-x",
            "new_password-error",
        ),
        (
            pw.as_str(),
            NEW_PASSWORD,
            "Xin-Yong-2027!",
            "confirm_password-error",
        ),
        (pw.as_str(), pw.as_str(), pw.as_str(), "new_password-error"),
    ] {
        let r = p
            .post(
                "/console/password",
                &[
                    ("csrf", &token),
                    ("current_password", current),
                    ("new_password", new),
                    ("confirm_password", confirm),
                ],
            )
            .await;
        assert_eq!(r.status, 422, "{new}");
        let msg = r
            .by_id(field)
            .unwrap_or_else(|| panic!("{field} for {new}:\n{}", r.text));
        assert!(!msg.is_empty());
        assert!(r.text.contains(r#"aria-invalid="true""#));
    }
    let done = p
        .post(
            "/console/password",
            &[
                ("csrf", &token),
                ("current_password", &pw),
                ("new_password", NEW_PASSWORD),
                ("confirm_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.text);
    let home = p.get("/console/").await;
    assert_eq!(home.status, 200);
    assert!(home.text.contains("wang.li"));
    // The one-time password is spent; the new one works.
    let mut q = Browser::new(&app.base);
    assert_eq!(q.sign_in("wang.li", &pw).await.status, 401);
    let again = q.sign_in("wang.li", NEW_PASSWORD).await;
    assert_eq!(again.location.as_deref(), Some("/console/"));
    // A client's own X-Forwarded-Proto is not believed (no proxy is trusted here).
    let mut s = Browser::new(&app.base);
    s.extra.push(("X-Forwarded-Proto".into(), "https".into()));
    let r = s.sign_in("wang.li", NEW_PASSWORD).await;
    let cookie = r
        .set_cookies
        .iter()
        .find(|c| c.starts_with("cg_session="))
        .expect("session cookie");
    assert!(!cookie.contains("Secure"), "{cookie}");
    // Sign-ins and the change are in the access log under the person's id.
    let ins = audit_actions(&app, "usr_", "console.sign_in").await;
    assert!(ins.iter().any(|e| e["outcome"] == "ok"));
    assert!(ins.iter().any(|e| e["outcome"] == "denied"));
    assert_eq!(
        audit_actions(&app, "usr_", "console.password_change")
            .await
            .len(),
        1
    );
}

async fn five_wrong_passwords_lock_an_account(b: Backend) {
    let (app, minutes) = spawn_with_movable_clock(b).await;
    let pw = create_user(&app.db_url, "ZWFW", "zhao.liu", "officer");
    let mut p = Browser::new(&app.base);
    for i in 1..=4 {
        assert_eq!(
            p.sign_in("zhao.liu", "wrong-password-1A").await.status,
            401,
            "try {i}"
        );
    }
    let fifth = p.sign_in("zhao.liu", "wrong-password-1A").await;
    assert_eq!(fifth.status, 429, "{}", fifth.text);
    assert!(fifth.text.contains("锁定"), "{}", fifth.text);
    // Locked: the right password is not even tried.
    let right = p.sign_in("zhao.liu", &pw).await;
    assert_eq!(right.status, 429);
    assert!(!p.cookies.contains_key("cg_session"));
    minutes.store(14, Ordering::SeqCst);
    assert_eq!(p.sign_in("zhao.liu", &pw).await.status, 429);
    minutes.store(16, Ordering::SeqCst);
    let after = p.sign_in("zhao.liu", &pw).await;
    assert_eq!(after.status, 303, "{}", after.text);
    let locks = audit_actions(&app, "usr_", "console.lockout").await;
    assert_eq!(locks.len(), 1, "{locks:?}");
    let denied = audit_actions(&app, "usr_", "console.sign_in").await;
    assert_eq!(
        denied.iter().filter(|e| e["outcome"] == "denied").count(),
        7,
        "five wrong passwords and two tries while locked: {denied:?}"
    );
}

async fn sessions_end_when_idle_or_old_and_at_sign_out(b: Backend) {
    let (app, minutes) = spawn_with_movable_clock(b).await;
    let mut p = signed_in_person(&app.base, &app.db_url, "ZWFW", "sun.qi", "officer").await;
    // Idle for 29 minutes: still in; 31 more: out.
    minutes.store(29, Ordering::SeqCst);
    assert_eq!(p.get("/console/checks/new").await.status, 200);
    minutes.store(29 + 31, Ordering::SeqCst);
    let out = p.get("/console/checks/new").await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location.as_deref(), Some("/console/"));
    // Busy all day: out after 12 hours however recent the last page.
    let start = minutes.load(Ordering::SeqCst);
    assert_eq!(p.sign_in("sun.qi", NEW_PASSWORD).await.status, 303);
    for step in 1..=35 {
        minutes.store(start + step * 20, Ordering::SeqCst);
        assert_eq!(
            p.get("/console/checks/new").await.status,
            200,
            "at {} min",
            step * 20
        );
    }
    minutes.store(start + 12 * 60 + 1, Ordering::SeqCst);
    assert_eq!(p.get("/console/checks/new").await.status, 303);
    // Sign-out ends the session on the server, not only the cookie.
    assert_eq!(p.sign_in("sun.qi", NEW_PASSWORD).await.status, 303);
    let kept = p.cookies.clone();
    let token = p.token().await;
    let bye = p.post("/console/sign-out", &[("csrf", &token)]).await;
    assert_eq!(bye.status, 303);
    assert!(!p.cookies.contains_key("cg_session"));
    p.cookies = kept;
    assert_eq!(p.get("/console/checks/new").await.status, 303);
    assert_eq!(
        audit_actions(&app, "usr_", "console.sign_out").await.len(),
        1
    );
}

async fn every_form_needs_its_token(b: Backend) {
    let app = spawn_app(b).await;
    let c = listed_subject(&app).await;
    let pw = create_user(&app.db_url, "ZWFW", "zhou.ba", "officer");
    let mut p = Browser::new(&app.base);
    // Sign-in without the page's token (no cookie, or a token of another page).
    let r = p
        .post(
            "/console/sign-in",
            &[("login", "zhou.ba"), ("password", &pw)],
        )
        .await;
    assert_eq!(r.status, 403);
    p.get("/console/").await;
    let r = p
        .post(
            "/console/sign-in",
            &[("csrf", "forged"), ("login", "zhou.ba"), ("password", &pw)],
        )
        .await;
    assert_eq!(r.status, 403);
    p.first_sign_in("zhou.ba", &pw, NEW_PASSWORD).await;
    let check = [
        ("uscc", c.as_str()),
        ("scenario", "procurement"),
        ("purpose", "政府采购资格审查"),
    ];
    for (path, fields) in [
        ("/console/checks", check.to_vec()),
        (
            "/console/password",
            vec![("current_password", NEW_PASSWORD)],
        ),
        ("/console/objections", vec![("record_id", "rec_x")]),
        ("/console/reports", vec![("code", c.as_str())]),
        ("/console/sign-out", vec![]),
    ] {
        let r = p.post(path, &fields).await;
        assert_eq!(r.status, 403, "{path}: {}", r.text);
        let mut forged = fields.clone();
        forged.push(("csrf", "not-the-token"));
        assert_eq!(p.post(path, &forged).await.status, 403, "{path}");
    }
    // Nothing was done: no report, still signed in.
    let list = p.get("/console/reports").await;
    assert_eq!(list.status, 200);
    assert!(!list.text.contains("CR-2026"), "{}", list.text);
}

/// Ten wrong passwords sent at the same moment, then the right one: the account is locked
/// (one lock-out), and the right password does not open a session.
async fn attempts_sent_at_once_do_not_pass_the_lock(b: Backend) {
    let app = spawn_app(b).await;
    let pw = create_user(&app.db_url, "ZWFW", "gao.shi", "officer");
    let mut tries = Vec::new();
    for _ in 0..10 {
        let base = app.base.clone();
        tries.push(tokio::spawn(async move {
            Browser::new(&base)
                .sign_in("gao.shi", "wrong-password-1A")
                .await
                .status
        }));
    }
    let mut statuses = Vec::new();
    for t in tries {
        statuses.push(t.await.unwrap());
    }
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    assert!(statuses.contains(&429), "{statuses:?}");
    let mut p = Browser::new(&app.base);
    let right = p.sign_in("gao.shi", &pw).await;
    assert_eq!(right.status, 429, "{}", right.text);
    assert!(!p.cookies.contains_key("cg_session"));
    assert_eq!(
        audit_actions(&app, "usr_", "console.lockout").await.len(),
        1
    );
}

/// A login no account has: the same answer as a wrong password, and the same lock at the
/// fifth try, so that neither tells which logins exist.
async fn unknown_logins_are_answered_as_known_ones(b: Backend) {
    let app = spawn_app(b).await;
    create_user(&app.db_url, "ZWFW", "real.one", "officer");
    let mut p = Browser::new(&app.base);
    for login in ["real.one", "made.up"] {
        let mut answers = Vec::new();
        for _ in 0..5 {
            let r = p.sign_in(login, "wrong-password-1A").await;
            answers.push((r.status, r.headers.contains_key("retry-after")));
        }
        assert_eq!(
            answers,
            [
                (401, false),
                (401, false),
                (401, false),
                (401, false),
                (429, true)
            ],
            "{login}"
        );
    }
}

/// Changing the password ends every session of the person: another browser's, and the old
/// cookie of the one that changed it, which goes on with a new cookie.
async fn a_password_change_ends_every_other_session(b: Backend) {
    let app = spawn_app(b).await;
    let mut p = signed_in_person(&app.base, &app.db_url, "ZWFW", "xu.er", "officer").await;
    let mut other = Browser::new(&app.base);
    assert_eq!(other.sign_in("xu.er", NEW_PASSWORD).await.status, 303);
    let old_cookies = p.cookies.clone();
    let next = "Xin-Yong-2027!";
    let done = p.change_password(NEW_PASSWORD, next, next).await;
    assert_eq!(done.status, 303, "{}", done.text);
    assert_ne!(p.cookies.get("cg_session"), old_cookies.get("cg_session"));
    assert_eq!(p.get("/console/checks/new").await.status, 200);
    assert_eq!(other.get("/console/checks/new").await.status, 303);
    let mut stale = Browser::new(&app.base);
    stale.cookies = old_cookies;
    assert_eq!(stale.get("/console/checks/new").await.status, 303);
    // Five wrong current passwords lock the account and sign it out everywhere.
    let mut last = 0;
    for _ in 0..5 {
        let wrong = p
            .change_password("not-it-Really-1", "Xin-Yong-2028!", "Xin-Yong-2028!")
            .await;
        last = wrong.status;
    }
    assert_eq!(last, 429);
    assert_eq!(p.get("/console/checks/new").await.status, 303);
    assert_eq!(p.sign_in("xu.er", next).await.status, 429);
}

/// Besides each login's lock: one client address trying many logins is answered 429 past 30
/// sign-ins in a minute, with `Retry-After`. A client cannot dodge it with an X-Forwarded-For
/// of its making; behind a trusted proxy, each client it forwards for counts apart.
async fn one_address_trying_many_logins_is_slowed(b: Backend) {
    let app = spawn_app(b).await;
    let mut p = Browser::new(&app.base);
    p.extra
        .push(("X-Forwarded-For".into(), "203.0.113.7".into()));
    let statuses = guesses(&mut p).await;
    assert!(statuses[..30].iter().all(|r| r.status == 401));
    let last = &statuses[30];
    assert_eq!(last.status, 429, "{}", last.text);
    assert!(last.headers.contains_key("retry-after"));
    let mut q = Browser::new(&app.base);
    q.extra
        .push(("X-Forwarded-For".into(), "198.51.100.9".into()));
    assert_eq!(q.sign_in("guess99", "wrong-password-1A").await.status, 429);

    // Behind a trusted proxy (the loopback here): each forwarded client has its own budget,
    // and the proxy's X-Forwarded-Proto makes the cookie Secure.
    let proxied = spawn_app_with(
        b,
        Options {
            trusted_proxies: Some("127.0.0.1".into()),
            ..Default::default()
        },
    )
    .await;
    let mut one = Browser::new(&proxied.base);
    one.extra
        .push(("X-Forwarded-For".into(), "203.0.113.7".into()));
    let statuses = guesses(&mut one).await;
    assert_eq!(statuses[30].status, 429);
    let mut other = Browser::new(&proxied.base);
    other
        .extra
        .push(("X-Forwarded-For".into(), "198.51.100.9".into()));
    assert_eq!(
        other.sign_in("guess99", "wrong-password-1A").await.status,
        401
    );
    let pw = create_user(&proxied.db_url, "ZWFW", "proxied.one", "officer");
    let mut https = Browser::new(&proxied.base);
    https
        .extra
        .push(("X-Forwarded-For".into(), "192.0.2.1".into()));
    https
        .extra
        .push(("X-Forwarded-Proto".into(), "https".into()));
    let r = https.sign_in("proxied.one", &pw).await;
    let cookie = r
        .set_cookies
        .iter()
        .find(|c| c.starts_with("cg_session="))
        .expect("session cookie");
    assert!(cookie.contains("Secure"), "{cookie}");
}

/// 31 sign-ins with logins no account has.
async fn guesses(p: &mut Browser) -> Vec<Page> {
    let mut out = Vec::new();
    for i in 0..31 {
        out.push(p.sign_in(&format!("guess{i}"), "wrong-password-1A").await);
    }
    out
}
