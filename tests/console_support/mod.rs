//! A person at the console, as a browser without JavaScript would be: a cookie jar, forms posted
//! as `application/x-www-form-urlencoded`, redirects seen rather than followed.
#![allow(dead_code)]

use std::collections::BTreeMap;

use serde_json::Value;

use crate::common::*;

pub struct Page {
    pub status: u16,
    /// Where a 303 sends the person (path only).
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub set_cookies: Vec<String>,
    pub text: String,
    pub bytes: Vec<u8>,
}

impl Page {
    /// The first form's CSRF token on the page.
    pub fn csrf(&self) -> String {
        field_value(&self.text, "csrf")
            .unwrap_or_else(|| panic!("no csrf field in:\n{}", self.text))
    }

    /// The text of the element with this id (a field error), tags left out, if there is one.
    pub fn by_id(&self, id: &str) -> Option<String> {
        let at = self.text.find(&format!("id=\"{id}\""))?;
        let open = self.text[..at].rfind('<')?;
        let tag: String = self.text[open + 1..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        let start = at + self.text[at..].find('>')? + 1;
        let end = start + self.text[start..].find(&format!("</{tag}>"))?;
        let mut text = String::new();
        let mut in_tag = false;
        for c in self.text[start..end].chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => text.push(c),
                _ => {}
            }
        }
        Some(text.trim().to_string())
    }

    pub fn attr(&self, name: &str) -> Option<String> {
        let key = format!("{name}=\"");
        let at = self.text.find(&key)? + key.len();
        let end = self.text[at..].find('"')? + at;
        Some(self.text[at..end].to_string())
    }
}

/// The value of the input named `name` in `html`.
pub fn field_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let rest = &html[at..];
    let v = rest.find("value=\"")? + 7;
    let end = rest[v..].find('"')? + v;
    Some(rest[v..end].replace("&amp;", "&"))
}

pub struct Browser {
    pub base: String,
    client: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
    /// Extra headers on every request (a proxy's X-Forwarded-Proto).
    pub extra: Vec<(String, String)>,
}

impl Browser {
    pub fn new(base: &str) -> Self {
        Browser {
            base: base.to_string(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookies: BTreeMap::new(),
            extra: vec![],
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let mut req = req.header("Cookie", self.cookie_header());
        for (k, v) in &self.extra {
            req = req.header(k.as_str(), v.as_str());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let set_cookies: Vec<String> = headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        for c in &set_cookies {
            let pair = c.split(';').next().unwrap_or("");
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let removed = v.is_empty() || c.to_ascii_lowercase().contains("max-age=0");
            if removed {
                self.cookies.remove(k.trim());
            } else {
                self.cookies
                    .insert(k.trim().to_string(), v.trim().to_string());
            }
        }
        let location = headers
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(|l| l.trim_start_matches(&self.base).to_string());
        let bytes = resp.bytes().await.expect("body").to_vec();
        Page {
            status,
            location,
            headers,
            set_cookies,
            text: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let req = self.client.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(req).await
    }

    /// Opens the sign-in page and signs in; returns the answer to the sign-in.
    pub async fn sign_in(&mut self, login: &str, password: &str) -> Page {
        let form = self.get("/console/").await;
        assert_eq!(form.status, 200, "{}", form.text);
        let token = form.csrf();
        self.post(
            "/console/sign-in",
            &[("csrf", &token), ("login", login), ("password", password)],
        )
        .await
    }

    /// Signs in with a one-time password and replaces it with `new`.
    pub async fn first_sign_in(&mut self, login: &str, one_time: &str, new: &str) {
        let p = self.sign_in(login, one_time).await;
        assert_eq!(p.status, 303, "{}", p.text);
        assert_eq!(p.location.as_deref(), Some("/console/password"));
        let form = self.get("/console/password").await;
        let token = form.csrf();
        let done = self
            .post(
                "/console/password",
                &[
                    ("csrf", &token),
                    ("current_password", one_time),
                    ("new_password", new),
                    ("confirm_password", new),
                ],
            )
            .await;
        assert_eq!(done.status, 303, "{}", done.text);
        assert_eq!(done.location.as_deref(), Some("/console/"));
    }

    /// The CSRF token of the signed-in session (the sign-out form of every page has it).
    pub async fn token(&mut self) -> String {
        self.get("/console/").await.csrf()
    }

    /// A procurement check of `uscc` through the form, as an officer runs one: the report's
    /// path (`/console/reports/{no}`) and number.
    pub async fn procurement_report(&mut self, uscc: &str) -> (String, String) {
        let ran = self
            .check(&[
                ("uscc", uscc),
                ("scenario", "procurement"),
                ("purpose", "政府采购资格审查"),
            ])
            .await;
        assert_eq!(ran.status, 303, "{}", ran.text);
        let path = ran.location.expect("the report's address");
        let no = path.rsplit('/').next().unwrap_or_default().to_string();
        (path, no)
    }

    /// Changes the password through the form; returns the answer.
    pub async fn change_password(&mut self, current: &str, new: &str, confirm: &str) -> Page {
        let token = self.token().await;
        self.post(
            "/console/password",
            &[
                ("csrf", &token),
                ("current_password", current),
                ("new_password", new),
                ("confirm_password", confirm),
            ],
        )
        .await
    }

    /// Runs a check through the form; returns the answer (a 303 to the report when it ran).
    pub async fn check(&mut self, fields: &[(&str, &str)]) -> Page {
        let token = self.token().await;
        let mut all = vec![("csrf", token.as_str())];
        all.extend_from_slice(fields);
        self.post("/console/checks", &all).await
    }
}

/// `creditgate users create`: the one-time password it prints (asserted to be alone on
/// standard output).
pub fn create_user(db_url: &str, org: &str, login: &str, role: &str) -> String {
    let out = creditgate_cli(db_url)
        .args([
            "users", "create", "--org", org, "--login", login, "--role", role,
        ])
        .output()
        .expect("creditgate users create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "the password alone on stdout: {stdout:?}");
    lines[0].trim().to_string()
}

/// A person who has signed in once and chosen `NEW_PASSWORD`.
pub const NEW_PASSWORD: &str = "Xin-Yong-2026!";

pub async fn signed_in_person(
    base: &str,
    db_url: &str,
    org: &str,
    login: &str,
    role: &str,
) -> Browser {
    let pw = create_user(db_url, org, login, role);
    let mut b = Browser::new(base);
    b.first_sign_in(login, &pw, NEW_PASSWORD).await;
    b
}

pub async fn audit_actions(app: &TestApp, person_id_prefix: &str, action: &str) -> Vec<Value> {
    let auditor = app.key("AUDIT", "auditor").await;
    let r = app
        .get(
            &format!("/api/v1/audit/entries?action={action}&limit=500"),
            Some(&auditor),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["key_id"]
                .as_str()
                .is_some_and(|k| k.starts_with(person_id_prefix))
        })
        .cloned()
        .collect()
}

/// The listed subject of these tests: on the court's list, so procurement is prohibited.
pub async fn listed_subject(app: &TestApp) -> String {
    let court = app.key("FY", "provider").await;
    let c = code(7);
    let r = app
        .batch(
            &court,
            vec![list_entry("FY-1", &c, "court.dishonest_debtor")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    c
}

/// The text of a PDF (poppler's pdftotext).
pub fn pdf_text(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        .args(["-layout", path.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext (Debian poppler-utils; bash .ci/run installs it)");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What a screen reader and a keyboard need of every page: the language, a skip link to the
/// main content, a label for every field (and an id for it to name), no positive `tabindex`
/// (focus follows the page), no script (the console works with JavaScript off).
pub fn assert_accessible(what: &str, html: &str) {
    assert!(html.contains(r#"<html lang="zh-CN">"#), "{what}: lang");
    assert!(
        html.contains(r##"href="#main""##) && html.contains(r#"id="main""#),
        "{what}: skip link"
    );
    assert!(!html.contains("<script"), "{what}: a script");
    assert!(
        !html.contains("tabindex=\"1") && !html.contains("tabindex=\"2"),
        "{what}: tabindex"
    );
    let mut rest = html;
    while let Some(at) = rest.find(['<']) {
        rest = &rest[at + 1..];
        let tag = &rest[..rest.find('>').unwrap_or(rest.len())];
        let control = ["input ", "select ", "textarea "]
            .iter()
            .any(|t| tag.starts_with(t));
        if !control || tag.contains(r#"type="hidden""#) {
            continue;
        }
        let id = tag
            .split("id=\"")
            .nth(1)
            .and_then(|x| x.split('"').next())
            .unwrap_or_else(|| panic!("{what}: a field without an id: <{tag}>"));
        assert!(
            html.contains(&format!("for=\"{id}\"")),
            "{what}: no label for #{id}"
        );
    }
}

/// The one-time password `serve --demo` printed for the demo officer.
pub fn printed_password(printed: &str) -> String {
    printed
        .lines()
        .find_map(|l| l.split("one-time password ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no console password in:\n{printed}"))
        .to_string()
}

/// A verify URL asked for JSON, as a machine holding a printed report asks.
pub async fn verify_json(url: &str) -> Value {
    reqwest::Client::new()
        .get(url)
        .header("Accept", "application/json")
        .send()
        .await
        .expect("verify request")
        .json()
        .await
        .expect("a JSON answer")
}
