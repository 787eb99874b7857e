//! The console for people in a real browser (headless Debian chromium driven through
//! chromedriver), following API.md "Console and printed reports (people)": an officer made with
//! `creditgate users create` signs in with the one-time password, must change it, runs a check
//! of a listed subject from the form, sees the report, a field error, the print view and the PDF;
//! the PDF's QR code (rendered by pdftoppm, decoded here) opens the public verify page, as HTML
//! and as JSON, which names no subject; forms without the CSRF token are refused; no page needs
//! JavaScript; signing out ends the session. Every page visited is saved as a PNG under
//! `target/browser-screenshots/` (a failed step leaves `failure-….png` there as well).

mod common;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// The listed subject's name (`list_entry` in tests/common).
const LISTED_NAME: &str = "上海示例贸易有限公司";
/// The officer's own password: 12+ characters, four classes, without the login.
const NEW_PASSWORD: &str = "Harbour-Lantern-2026!";
const PURPOSE: &str = "政府采购资格审查";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_officer_checks_prints_and_anyone_verifies_in_a_browser() {
    // 1. A subject on the dishonest-debtor list (prohibited in procurement) and an officer.
    let app = spawn_app_with(Backend::Sqlite, Options::default()).await;
    let base = app.base.clone();
    let court = app.key("FY", "provider").await;
    let listed = code(1);
    let mut entry = list_entry("FY-1", &listed, "court.dishonest_debtor");
    entry["valid_to"] = json!("2028-06-01");
    let r = app.batch(&court, vec![entry]).await;
    assert_eq!(r.body["summary"]["created"], 1, "{}", r.text);

    let out = creditgate_cli(&app.db_url)
        .args(["users", "create", "--org", "ZWFW", "--login", "wang.li"])
        .args(["--role", "officer"])
        .output()
        .expect("run creditgate users create");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "users create: {err}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let alone = lines.len() == 1 && !lines[0].trim().is_empty();
    assert!(alone, "the one-time password alone on stdout: {stdout:?}");
    let one_time = lines[0].trim().to_string();

    let shots = shots_dir();
    let driver = Chromedriver::start(&shots.join("chromedriver.log")).await;
    let b = Browser::open(&driver, shots.clone()).await;

    // 2. First sign-in: the one-time password leads to the password change, then the start page.
    b.step("sign-in");
    b.goto(&format!("{base}/console/")).await;
    b.shot("sign-in").await;
    b.fill("login", "wang.li").await;
    b.fill("password", &one_time).await;
    b.submit_form_of("password").await;
    b.expect_path("/console/password").await;
    b.shot("password").await;
    b.step("password");
    b.fill("current_password", &one_time).await;
    b.fill("new_password", NEW_PASSWORD).await;
    b.fill("confirm_password", NEW_PASSWORD).await;
    b.submit_form_of("new_password").await;
    b.expect_path("/console/").await;
    assert_eq!(b.count("input[name=password]").await, 0, "signed in");
    b.shot("start").await;

    // 3. The check form, then the report page of the listed subject.
    b.step("check");
    b.goto(&format!("{base}/console/checks/new")).await;
    b.shot("check-form").await;
    b.fill("uscc", &listed).await;
    b.choose("scenario", "procurement").await;
    b.fill("purpose", PURPOSE).await;
    b.fill("reference", "ZFCG-2026-0457").await;
    b.submit_form_of("uscc").await;
    let path = b.path().await;
    assert!(path.starts_with("/console/reports/"), "{path}");
    let no = path.rsplit('/').next().expect("a number").to_string();
    let report = "[data-report-no][data-verdict]";
    assert_eq!(b.attr(report, "data-verdict").await, "prohibited");
    assert_eq!(b.attr(report, "data-report-no").await, no);
    assert!(b.text().await.contains("禁止"), "the verdict in words");
    assert!(b.count("[data-measure-id]").await >= 1, "a finding");
    b.shot("report").await;
    b.shot_sized("report-phone", 390, 844).await;

    // 4. Field errors keep the form, each told next to its field.
    b.step("field-errors");
    b.goto(&format!("{base}/console/checks/new")).await;
    let mut wrong = code(2);
    let last = wrong.pop().expect("a code");
    wrong.push(if last == '0' { '1' } else { '0' }); // another check character
    b.fill("uscc", &wrong).await;
    b.choose("scenario", "procurement").await;
    b.fill("purpose", "查").await;
    b.submit_form_of("uscc").await;
    let path = b.path().await;
    let form = path == "/console/checks" || path == "/console/checks/new";
    assert!(form, "still the form: {path}");
    for id in ["#uscc-error", "#purpose-error"] {
        let text = b.find(id).await.text().await.expect("error text");
        assert!(!text.trim().is_empty(), "{id} says what is wrong");
    }
    assert_eq!(b.attr("input[name=uscc]", "aria-invalid").await, "true");
    b.shot("field-errors").await;

    // 5. The print view shows the same report.
    b.step("print");
    b.goto(&format!("{base}/console/reports/{no}/print")).await;
    assert_eq!(b.attr("[data-report-no]", "data-report-no").await, no);
    b.shot("print").await;

    // 6. The PDF, fetched with the browser's session: its text, and its QR code.
    b.step("pdf");
    let web = Web::new(&base, b.cookie_header().await);
    let resp = web.get(&format!("/console/reports/{no}.pdf"), true).await;
    assert_eq!(resp.status(), 200);
    assert!(header(&resp, "content-type").starts_with("application/pdf"));
    let pdf = resp.bytes().await.expect("PDF body");
    assert!(pdf.starts_with(b"%PDF"), "a PDF file");
    let _ = std::fs::write(shots.join("report.pdf"), &pdf);
    let (text, codes) = read_pdf(&pdf);
    for want in [no.as_str(), LISTED_NAME, "禁止"] {
        assert!(text.contains(want), "the PDF's text has {want}: {text}");
    }
    assert_eq!(codes.len(), 1, "one QR code on page 1: {codes:?}");
    let qr = &codes[0];
    assert!(qr.starts_with("http"), "a URL: {qr}");
    let verify_path = &qr[qr.find("/verify/").expect("a verify URL")..];
    let head = format!("/verify/{no}?d=sha256:");
    assert!(verify_path.starts_with(&head), "{qr}");
    let hex = &verify_path[head.len()..];
    let sha256 = hex.len() == 64 && hex.bytes().all(|c| c.is_ascii_hexdigit());
    assert!(sha256, "a SHA-256 digest: {qr}");
    // The link's host is the one the PDF was asked from; the test opens it on the app.
    let verify_url = format!("{base}{verify_path}");
    let mut tampered = verify_url.clone();
    let last = tampered.pop().expect("a digest");
    tampered.push(if last == '0' { '1' } else { '0' });

    // 7. The public verify page: the verdict, never the subject; a changed digest is not valid.
    b.step("verify");
    b.goto(&verify_url).await;
    b.find("[data-valid=\"true\"]").await;
    assert!(b.text().await.contains("禁止"), "the verdict");
    let source = b.client.source().await.expect("page source");
    let told = source.contains(&listed) || source.contains(LISTED_NAME);
    assert!(!told, "the verify page names the subject");
    b.shot("verify-valid").await;
    b.goto(&tampered).await;
    b.find("[data-valid=\"false\"]").await;
    b.shot("verify-invalid").await;

    // 8. The same as JSON: every fact when valid, only `valid` and `report_no` when not.
    let v = web.json(&verify_url).await;
    let all = "valid report_no issued_at issuer scenario verdict";
    let all: BTreeSet<&str> = all.split(' ').collect();
    assert_eq!(keys(&v), all, "{v}");
    assert_eq!(v["valid"], true);
    assert_eq!(v["report_no"], no.as_str());
    assert_clock_time(&v["issued_at"]);
    assert!(v["issuer"].as_str().is_some_and(|s| !s.is_empty()), "{v}");
    assert_eq!(v["scenario"], "procurement");
    assert_eq!(v["verdict"], "prohibited");
    let v = web.json(&tampered).await;
    assert_eq!(keys(&v), BTreeSet::from(["valid", "report_no"]), "{v}");
    assert_eq!(v["valid"], false);
    assert_eq!(v["report_no"], no.as_str());

    // 9. A form without its CSRF token is refused, and makes no report.
    let fields = [
        ("uscc", listed.as_str()),
        ("scenario", "procurement"),
        ("purpose", PURPOSE),
        ("reference", "ZFCG-2026-0458"),
    ];
    let resp = web.post_form("/console/checks", &fields).await;
    assert_eq!(resp.status(), 403, "no CSRF token, no check");
    let resp = web.get("/console/reports", true).await;
    assert_eq!(resp.status(), 200);
    let numbers = report_numbers(&resp.text().await.expect("list body"));
    assert_eq!(numbers, BTreeSet::from([no.clone()]), "one report only");

    // 10. No JavaScript: no script element, and a policy that allows none.
    assert_no_script(web.get("/console/", false).await).await;
    assert_no_script(web.get("/console/checks/new", true).await).await;
    assert_no_script(web.get(&format!("/console/reports/{no}"), true).await).await;
    assert_no_script(web.get(&verify_url[base.len()..], false).await).await;

    // 11. Signing out ends the session: the form asks for the password again.
    b.step("sign-out");
    b.goto(&format!("{base}/console/checks/new")).await;
    let button = b.find("form[action=\"/console/sign-out\"] button").await;
    b.click_and_wait(&button).await;
    b.goto(&format!("{base}/console/checks/new")).await;
    b.expect_path("/console/").await;
    assert_eq!(b.count("input[name=password]").await, 1, "the sign-in form");
    b.shot("signed-out").await;
    let resp = web.get("/console/checks/new", true).await;
    assert!(resp.status().is_redirection(), "the old session is over");
    let location = header(&resp, "location");
    assert!(location.ends_with("/console/"), "to sign in: {location}");

    b.close().await;
}

/// A result's value, or a panic that says what failed and why.
fn ok<T, E: std::fmt::Display>(r: Result<T, E>, what: impl std::fmt::Display) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// The folder of the screenshots, emptied: `target/browser-screenshots`.
fn shots_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp
        .parent()
        .expect("the target folder")
        .join("browser-screenshots");
    let _ = std::fs::remove_dir_all(&dir);
    ok(std::fs::create_dir_all(&dir), dir.display());
    dir
}

fn header(resp: &reqwest::Response, name: &str) -> String {
    let value = resp.headers().get(name).and_then(|v| v.to_str().ok());
    value.unwrap_or("").to_string()
}

fn keys(v: &Value) -> BTreeSet<&str> {
    let object = v.as_object().expect("a JSON object");
    object.keys().map(String::as_str).collect()
}

/// The report numbers (`CR-…`) a page mentions.
fn report_numbers(html: &str) -> BTreeSet<String> {
    let number = |(i, _): (usize, &str)| -> String {
        let rest = html[i..].chars();
        rest.take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect()
    };
    html.match_indices("CR-")
        .map(number)
        .filter(|s| s.len() > 3)
        .collect()
}

/// Asserts that a page needs and allows no script.
async fn assert_no_script(resp: reqwest::Response) {
    let url = resp.url().to_string();
    assert_eq!(resp.status(), 200, "{url}");
    let csp = header(&resp, "content-security-policy");
    assert!(csp.contains("default-src 'none'"), "{url}: CSP {csp:?}");
    let scripts = csp.contains("script-src") && !csp.contains("script-src 'none'");
    assert!(!scripts, "{url} allows scripts: {csp}");
    let body = ok(resp.text().await, "a page body").to_lowercase();
    assert!(!body.contains("<script"), "{url} has a script");
}

/// Plain HTTP beside the browser, with the browser's session cookie when asked; redirects are
/// answers here, not followed.
struct Web {
    http: reqwest::Client,
    base: String,
    cookie: String,
}

impl Web {
    fn new(base: &str, cookie: String) -> Web {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
        let http = ok(http.build(), "an HTTP client");
        let base = base.to_string();
        Web { http, base, cookie }
    }

    async fn get(&self, path: &str, signed_in: bool) -> reqwest::Response {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if signed_in {
            req = req.header("cookie", &self.cookie);
        }
        ok(req.send().await, format!("GET {path}"))
    }

    async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let req = self.http.post(format!("{}{path}", self.base));
        let req = req.header("cookie", &self.cookie).form(fields);
        ok(req.send().await, format!("POST {path}"))
    }

    /// A verify URL as JSON.
    async fn json(&self, url: &str) -> Value {
        let req = self.http.get(url).header("accept", "application/json");
        let resp = ok(req.send().await, url);
        assert_eq!(resp.status(), 200, "{url}");
        ok(resp.json().await, "a JSON body")
    }
}

/// A PDF's text (`pdftotext -layout`, without whitespace, so that no line or column break
/// splits a word) and the contents of the QR codes on its first page (`pdftoppm -gray`).
fn read_pdf(pdf: &[u8]) -> (String, Vec<String>) {
    let tmp = ok(tempfile::tempdir(), "a temp dir");
    let file = tmp.path().join("report.pdf");
    ok(std::fs::write(&file, pdf), "write the PDF");
    let (layout, stdout) = (OsStr::new("-layout"), OsStr::new("-"));
    let text = poppler("pdftotext", &[layout, file.as_os_str(), stdout]);
    let text: String = String::from_utf8_lossy(&text).split_whitespace().collect();
    let prefix = tmp.path().join("page");
    // 200 dpi: rqrr misses codes whose modules fall on fractional pixels at some resolutions
    // (150 dpi here), which a phone's scanner does not; the code itself is the same.
    let mut args: Vec<&OsStr> = ["-gray", "-r", "200", "-f", "1", "-l", "1"]
        .map(OsStr::new)
        .into();
    args.extend([file.as_os_str(), prefix.as_os_str()]);
    poppler("pdftoppm", &args);
    // page-1.pgm, or page-01.pgm and so on when the page count has more digits.
    let pgm = ok(std::fs::read_dir(tmp.path()), "the temp dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "pgm"))
        .expect("pdftoppm wrote page 1 as a PGM");
    (text, decode_qr(&ok(std::fs::read(&pgm), pgm.display())))
}

/// Runs a poppler-utils program; its standard output.
fn poppler(program: &str, args: &[&OsStr]) -> Vec<u8> {
    let run = Command::new(program).args(args).output();
    let out = ok(
        run,
        format!("{program} (poppler-utils; `bash .ci/run` installs it)"),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{program}: {err}");
    out.stdout
}

/// The contents of the QR codes in a binary greyscale PGM (P5) as `pdftoppm -gray` writes it.
fn decode_qr(pgm: &[u8]) -> Vec<String> {
    // Header: magic, width, height, maxval, apart by whitespace or `#` comments to the end of
    // a line; then one whitespace byte and the samples, row by row.
    let (mut fields, mut pos) = (Vec::new(), 0);
    let to = |from: usize, end: fn(&u8) -> bool| {
        let len = pgm[from..].iter().position(end);
        from + len.expect("a whole PGM header")
    };
    while fields.len() < 4 {
        match pgm.get(pos).expect("a whole PGM header") {
            b'#' => pos = to(pos, |c| *c == b'\n'),
            c if c.is_ascii_whitespace() => pos += 1,
            _ => {
                let end = to(pos, u8::is_ascii_whitespace);
                fields.push(String::from_utf8_lossy(&pgm[pos..end]).to_string());
                pos = end;
            }
        }
    }
    assert_eq!(fields[0], "P5", "a binary greyscale PGM");
    let num = |i: usize| ok(fields[i].parse::<usize>(), format!("PGM header {fields:?}"));
    let (w, h, max) = (num(1), num(2), num(3));
    assert!((1..=255).contains(&max), "8-bit samples (maxval {max})");
    let px = &pgm[pos + 1..];
    assert!(px.len() >= w * h, "{w}×{h} samples, found {}", px.len());
    let grey = |x: usize, y: usize| (px[y * w + x] as usize * 255 / max) as u8;
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, grey);
    let grids = img.detect_grids();
    grids
        .iter()
        .map(|g| ok(g.decode(), "a QR code").1)
        .collect()
}

/// chromedriver on a free port, killed when dropped (on a panic as well).
struct Chromedriver {
    child: Child,
    url: String,
}

impl Chromedriver {
    async fn start(log: &Path) -> Chromedriver {
        let installed = Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists();
        assert!(
            installed,
            "{CHROMEDRIVER} and {CHROMIUM} are needed: `bash .ci/run` installs chromium and \
             chromium-driver"
        );
        let free = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr());
        let port = ok(free, "a free port").port();
        let mut cmd = Command::new(CHROMEDRIVER);
        cmd.arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = ok(cmd.spawn(), CHROMEDRIVER);
        let url = format!("http://127.0.0.1:{port}");
        let mut driver = Chromedriver { child, url };
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = driver.child.try_wait() {
                panic!("chromedriver ended ({status}); see {}", log.display());
            }
            let late = start.elapsed() > Duration::from_secs(20);
            assert!(!late, "chromedriver is not listening on {port} after 20 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        driver
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser session: helpers that fail with what was looked for, numbered screenshots, and on
/// a panic a screenshot of the page of the failed step; the session is ended when dropped.
struct Browser {
    client: Client,
    dir: PathBuf,
    shots: AtomicU32,
    step: Mutex<String>,
    closed: AtomicBool,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn open(driver: &Chromedriver, dir: PathBuf) -> Browser {
        let profile = ok(tempfile::tempdir(), "a browser profile folder");
        let caps = json!({"goog:chromeOptions": {"binary": CHROMIUM, "args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--window-size=1366,768",
            format!("--user-data-dir={}", profile.path().display()),
        ]}});
        // chromedriver listens on loopback: plain HTTP, no TLS stack in the test build.
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(caps.as_object().cloned().expect("capabilities"));
        let session = builder.connect(&driver.url).await;
        Browser {
            client: ok(session, "a chromium session through chromedriver"),
            dir,
            shots: AtomicU32::new(0),
            step: Mutex::new("start".into()),
            closed: AtomicBool::new(false),
            _profile: profile,
        }
    }

    /// Names the step under way (for the screenshot of a failure).
    fn step(&self, name: &str) {
        *self.step.lock().expect("step") = name.to_string();
    }

    async fn goto(&self, url: &str) {
        ok(self.client.goto(url).await, url);
    }

    async fn path(&self) -> String {
        let url = ok(self.client.current_url().await, "the current URL");
        url.path().to_string()
    }

    async fn find(&self, css: &str) -> Element {
        match self.client.find(Locator::Css(css)).await {
            Ok(e) => e,
            Err(e) => panic!("no {css} on {}: {e}", self.path().await),
        }
    }

    async fn count(&self, css: &str) -> usize {
        ok(self.client.find_all(Locator::Css(css)).await, css).len()
    }

    async fn attr(&self, css: &str, name: &str) -> String {
        let found = ok(self.find(css).await.attr(name).await, name);
        found.unwrap_or_else(|| panic!("{css} has no {name}"))
    }

    /// The page's visible text.
    async fn text(&self) -> String {
        ok(self.find("body").await.text().await, "the page's text")
    }

    /// Asserts the path of the page shown.
    async fn expect_path(&self, want: &str) {
        let step = self.step.lock().expect("step").clone();
        assert_eq!(self.path().await, want, "the page after step {step}");
    }

    /// Types `value` into the input named `name`, as a person would.
    async fn fill(&self, name: &str, value: &str) {
        let field = self.find(&format!("input[name='{name}']")).await;
        ok(field.clear().await, format!("clear {name}"));
        ok(field.send_keys(value).await, format!("type into {name}"));
    }

    /// Clicks the option `value` of the select named `name`.
    async fn choose(&self, name: &str, value: &str) {
        let option = format!("select[name='{name}'] option[value='{value}']");
        ok(self.find(&option).await.click().await, option);
    }

    /// Clicks the submit button of the form that holds the field named `field`.
    async fn submit_form_of(&self, field: &str) {
        let form = format!("//*[@name='{field}']/ancestor::form[1]");
        let xpath =
            format!("{form}//button[not(@type) or @type='submit'] | {form}//input[@type='submit']");
        let button = self.client.find(Locator::XPath(&xpath)).await;
        let button = ok(button, format!("the submit button of {field}"));
        self.click_and_wait(&button).await;
    }

    /// Clicks, then waits (up to 10 s) for another page's URL.
    async fn click_and_wait(&self, el: &Element) {
        let before = ok(self.client.current_url().await, "the current URL");
        ok(el.click().await, "click");
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if self.client.current_url().await.is_ok_and(|u| u != before) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Saves the page as `NN-name.png`.
    async fn shot(&self, name: &str) {
        self.fits(name).await;
        let n = self.shots.fetch_add(1, Ordering::SeqCst) + 1;
        let png = ok(self.client.screenshot().await, "a screenshot");
        let file = self.dir.join(format!("{n:02}-{name}.png"));
        ok(std::fs::write(&file, png), file.display());
    }

    /// Nothing on the page is wider than the window: no sideways scrolling, at 1366×768 as on
    /// a phone. (WebDriver's own script; the page itself runs none.)
    async fn fits(&self, name: &str) {
        let probe = "return [document.documentElement.scrollWidth, window.innerWidth];";
        let sizes = ok(self.client.execute(probe, vec![]).await, "page width");
        let (page, window) = (sizes[0].as_u64(), sizes[1].as_u64());
        assert!(
            page.is_some() && page <= window,
            "{name}: the page is {page:?} px wide in a window of {window:?} px"
        );
    }

    /// Saves the page as seen in a window of another size (a phone's: 390×844).
    async fn shot_sized(&self, name: &str, width: u32, height: u32) {
        let (w, h) = ok(self.client.get_window_size().await, "the window size");
        ok(self.client.set_window_size(width, height).await, "resize");
        self.shot(name).await;
        let back = self.client.set_window_size(w as u32, h as u32).await;
        ok(back, "resize back");
    }

    /// The browser's cookies for the current page, as a `Cookie` header.
    async fn cookie_header(&self) -> String {
        let cookies = ok(self.client.get_all_cookies().await, "the cookies");
        assert!(!cookies.is_empty(), "a session cookie");
        let pairs: Vec<_> = cookies
            .iter()
            .map(|c| format!("{}={}", c.name(), c.value()))
            .collect();
        pairs.join("; ")
    }

    async fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        ok(self.client.clone().close().await, "end the browser session");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if self.closed.load(Ordering::SeqCst) {
            return;
        }
        let failed = std::thread::panicking();
        let step = self.step.lock().map(|s| s.clone()).unwrap_or_default();
        let n = self.shots.load(Ordering::SeqCst) + 1;
        let path = self.dir.join(format!("failure-{n:02}-{step}.png"));
        let client = self.client.clone();
        // The test's runtime is multi-threaded: its other workers drive the WebDriver session.
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async {
                let limit = Duration::from_secs(10);
                if failed {
                    if let Ok(Ok(png)) = tokio::time::timeout(limit, client.screenshot()).await {
                        if std::fs::write(&path, png).is_ok() {
                            eprintln!("screenshot of the failed step: {}", path.display());
                        }
                    }
                }
                let _ = tokio::time::timeout(limit, client.close()).await;
            })
        });
    }
}
