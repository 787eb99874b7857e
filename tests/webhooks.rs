//! Watch-list events from the outside (API.md "Watch lists"; the Standard Webhooks convention):
//! a receiver started here on 127.0.0.1 gets one signed event per change of a watched subject,
//! everything it missed while it was down (under the same ids), nothing about subjects it does
//! not watch; repairs and publicity ends are told; an event retried for 24 hours fails, visibly,
//! and can be sent again; one instance delivers when two run.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use creditgate::domain::webhook;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

on_both_backends!(
    events_are_signed_and_told_once_per_change,
    an_event_failing_for_24_hours_fails_and_is_sent_again,
    repairs_and_publicity_ends_are_told,
    a_partner_is_told_no_more_than_its_checks_show,
);

mod postgres_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_instance_delivers_when_two_run() {
        super::one_instance_delivers_when_two_run().await
    }
}

/// One request as the receiver got it.
#[derive(Debug, Clone)]
struct Got {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

impl Got {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("event body is JSON")
    }
}

/// A webhook receiver on the loopback: it answers every POST with `status` (204 unless told
/// otherwise), and can be stopped (its port then refuses connections) and started again on the
/// same port.
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Got>>>,
    status: Arc<AtomicU16>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let mut r = Receiver {
            port: 0,
            got: Default::default(),
            status: Arc::new(AtomicU16::new(204)),
            task: None,
        };
        r.listen().await;
        r
    }

    async fn listen(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("receiver binds");
        self.port = listener.local_addr().unwrap().port();
        let (got, status) = (self.got.clone(), self.status.clone());
        self.task = Some(tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let (got, status) = (got.clone(), status.clone());
                tokio::spawn(async move {
                    if let Some(g) = read_request(&mut sock).await {
                        let code = status.load(Ordering::SeqCst);
                        let answer = format!(
                            "HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        );
                        // Counted as received only when answered with success.
                        if (200..300).contains(&code) {
                            got.lock().unwrap().push(g);
                        }
                        let _ = sock.write_all(answer.as_bytes()).await;
                    }
                    let _ = sock.shutdown().await;
                });
            }
        }));
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks/creditgate", self.port)
    }

    fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    fn ids(&self) -> BTreeSet<String> {
        self.got().into_iter().map(|g| g.id).collect()
    }

    async fn wait_for(&self, n: usize, limit: Duration) -> Vec<Got> {
        let ok = comes_true(limit, || async { self.ids().len() >= n }).await;
        assert!(ok, "{n} events expected, got {:?}", self.got());
        self.got()
    }
}

/// Reads one HTTP/1.1 request (headers and a Content-Length body).
async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<Got> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
            .unwrap_or_default()
    };
    let len: usize = header("content-length").parse().unwrap_or(0);
    while buf.len() < head_end + len {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(Got {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body: String::from_utf8_lossy(&buf[head_end..head_end + len]).to_string(),
    })
}

/// A watch list of `owner` on `url` with `codes`; its id and secret.
async fn watch(app: &TestApp, owner: &str, url: &str, codes: &[&str]) -> (String, String) {
    let made = app
        .post(
            "/api/v1/watchlists",
            Some(owner),
            &json!({"name": "在建项目承包商", "webhook_url": url, "scenarios": ["procurement"]}),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let id = made.body["id"].as_str().unwrap().to_string();
    let put = app
        .send(
            "PUT",
            &format!("/api/v1/watchlists/{id}/subjects"),
            Some(owner),
            &json!({ "uscc": codes }),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    (id, made.body["secret"].as_str().unwrap().to_string())
}

async fn submit(app: &TestApp, key: &str, record: Value) -> String {
    let r = app.batch(key, vec![record]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let item = &r.body["results"][0];
    assert!(
        ["created", "updated"].contains(&item["status"].as_str().unwrap_or("")),
        "{}",
        r.text
    );
    item["id"].as_str().unwrap().to_string()
}

async fn verdict(app: &TestApp, uscc: &str) -> String {
    let r = app.check(&app.admin_key, procurement(uscc)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["verdict"].as_str().unwrap().to_string()
}

async fn deliveries(app: &TestApp, key: &str, list: &str, query: &str) -> Answer {
    let r = app
        .get(
            &format!("/api/v1/watchlists/{list}/deliveries?purpose=核对推送记录{query}"),
            Some(key),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r
}

/// The signature verifies with the list's secret, and with no other.
fn assert_signed(g: &Got, secret: &str) {
    let key = webhook::secret_bytes(secret).unwrap();
    let ts: i64 = g.timestamp.parse().expect("webhook-timestamp");
    let now = chrono::Utc::now().timestamp();
    assert!(
        (now - ts).abs() < 60,
        "timestamp {ts} is not the time of sending"
    );
    webhook::verify(&key, &g.id, ts, &g.signature, g.body.as_bytes(), now)
        .unwrap_or_else(|e| panic!("signature fails: {e}: {g:?}"));
    let other = webhook::secret_bytes(&webhook::secret_text(&[7u8; 32])).unwrap();
    assert!(
        webhook::verify(&other, &g.id, ts, &g.signature, g.body.as_bytes(), now).is_err(),
        "verifies with another secret"
    );
}

async fn events_are_signed_and_told_once_per_change(b: Backend) {
    let app = spawn_app(b).await;
    let mut rx = Receiver::start().await;
    let system = app.key("ZFCG-SYS", "system").await;
    let scjg = app.key("SCJG", "provider").await;
    let (watched, other) = (code(701), code(702));
    let (list, secret) = watch(&app, &system, &rx.url(), &[&watched]).await;

    let rec = submit(&app, &scjg, penalty("CF-W1", &watched)).await;
    submit(&app, &scjg, penalty("CF-O1", &other)).await;
    let after = verdict(&app, &watched).await;
    assert_ne!(after, "clear", "the penalty should count in procurement");
    let got = rx.wait_for(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(rx.got().len(), 1, "one event per change: {:?}", rx.got());
    let e = &got[0];
    assert!(e.id.starts_with("evt_"), "{e:?}");
    assert_signed(e, &secret);
    let body = e.json();
    assert_eq!(body["type"], "record.created", "{body}");
    assert_eq!(body["id"], e.id.as_str(), "{body}");
    assert_eq!(body["watchlist_id"], list.as_str(), "{body}");
    assert_eq!(body["subject"], json!({"uscc": watched}), "{body}");
    assert_eq!(body["scenario"], "procurement", "{body}");
    assert_eq!(body["verdict_before"], "clear", "{body}");
    assert_eq!(body["verdict_after"], after.as_str(), "{body}");
    assert_eq!(body["record_ids"], json!([rec]), "{body}");
    assert!(
        body["occurred_at"].as_str().unwrap().ends_with('Z'),
        "{body}"
    );
    // No personal data: the legal representative's ID number and name stay out.
    assert!(
        !e.body.contains("110101199003070011") && !e.body.contains("张三"),
        "{}",
        e.body
    );

    // The receiver goes away; a correction and a withdrawal are made meanwhile.
    rx.stop();
    let mut v2 = penalty("CF-W1", &watched);
    v2["version"] = json!(2);
    v2["fine_amount"] = json!("3000000.00");
    submit(&app, &scjg, v2.clone()).await;
    let mut v3 = v2;
    v3["version"] = json!(3);
    v3["status"] = json!("revoked");
    submit(&app, &scjg, v3).await;
    assert_eq!(verdict(&app, &watched).await, "clear");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pending = deliveries(&app, &system, &list, "&state=pending").await;
    let items = pending.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{}", pending.text);
    assert!(
        items.iter().any(
            |d| d["attempts"].as_i64().unwrap() >= 1 && d["last_result"] == "connection failed"
        ),
        "{}",
        pending.text
    );
    // Back on the same port: it gets what it missed, in order, under stable ids.
    rx.listen().await;
    let got = rx.wait_for(3, Duration::from_secs(20)).await;
    let kinds: Vec<String> = got
        .iter()
        .map(|g| g.json()["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        ["record.created", "record.updated", "record.revoked"],
        "{got:?}"
    );
    for g in &got {
        assert_signed(g, &secret);
        assert_eq!(g.json()["record_ids"], json!([rec]));
    }
    let revoked = got[2].json();
    assert_eq!(revoked["verdict_before"], after.as_str(), "{revoked}");
    assert_eq!(revoked["verdict_after"], "clear", "{revoked}");
    let d = deliveries(&app, &system, &list, "").await;
    assert_eq!(
        (
            d.body["delivered"].as_i64(),
            d.body["pending"].as_i64(),
            d.body["failed"].as_i64()
        ),
        (Some(3), Some(0), Some(0)),
        "{}",
        d.text
    );
    // Newest first. The first missed event was tried while the receiver was down; the one
    // after it waited behind it rather than being tried too, and went out at its first attempt.
    let listed: Vec<&str> = d.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [&got[2].id, &got[1].id, &got[0].id], "{}", d.text);
    assert!(
        d.body["items"][1]["attempts"].as_i64().unwrap() >= 2,
        "{}",
        d.text
    );
    assert_eq!(d.body["items"][0]["attempts"], 1, "{}", d.text);
    assert_eq!(d.body["items"][0]["event"], got[2].json(), "{}", d.text);

    // Sent again on request: the same id and body.
    let again = app
        .post(
            &format!(
                "/api/v1/watchlists/{list}/deliveries/{}/redeliver",
                got[0].id
            ),
            Some(&system),
            &json!({}),
        )
        .await;
    assert_eq!(again.status, 202, "{}", again.text);
    assert!(
        comes_true(Duration::from_secs(10), || async { rx.got().len() == 4 }).await,
        "{:?}",
        rx.got()
    );
    let last = rx.got()[3].clone();
    assert_eq!(
        (last.id.as_str(), last.body.as_str()),
        (got[0].id.as_str(), got[0].body.as_str())
    );
    // Another organisation neither reads nor resends them.
    let other_sys = app.key("ZB-SYS", "system").await;
    let r = app
        .get(
            &format!("/api/v1/watchlists/{list}/deliveries?purpose=核对推送记录"),
            Some(&other_sys),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    // Nothing about the subject nobody watches ever went out.
    assert!(rx.got().iter().all(|g| !g.body.contains(&other)));
}

async fn an_event_failing_for_24_hours_fails_and_is_sent_again(b: Backend) {
    let (app, minutes) = spawn_with_movable_clock(b).await;
    let rx = Receiver::start().await;
    rx.status.store(503, Ordering::SeqCst);
    let system = app.key("ZFCG-SYS", "system").await;
    let scjg = app.key("SCJG", "provider").await;
    let c = code(711);
    let (list, _) = watch(&app, &system, &rx.url(), &[&c]).await;
    submit(&app, &scjg, penalty("CF-F1", &c)).await;
    let tried = comes_true(Duration::from_secs(10), || async {
        let d = deliveries(&app, &system, &list, "").await;
        d.body["items"][0]["last_result"] == "HTTP 503"
    })
    .await;
    assert!(tried, "the receiver's 503 is recorded");
    let d = deliveries(&app, &system, &list, "").await;
    assert_eq!(d.body["items"][0]["state"], "pending", "{}", d.text);
    assert!(
        d.body["items"][0]["next_attempt_at"].is_string(),
        "{}",
        d.text
    );
    // A day and an hour later, the next attempt is the last.
    minutes.fetch_add(25 * 60, Ordering::SeqCst);
    let failed = comes_true(Duration::from_secs(10), || async {
        deliveries(&app, &system, &list, "").await.body["failed"] == 1
    })
    .await;
    assert!(
        failed,
        "{}",
        deliveries(&app, &system, &list, "").await.text
    );
    let f = deliveries(&app, &system, &list, "&state=failed").await;
    let item = &f.body["items"][0];
    assert_eq!(item["last_result"], "HTTP 503", "{}", f.text);
    assert!(item["next_attempt_at"].is_null(), "{}", f.text);
    assert!(rx.got().is_empty());
    // The receiver is mended; the event is sent again on request, under its id.
    rx.status.store(200, Ordering::SeqCst);
    let id = item["id"].as_str().unwrap();
    let again = app
        .post(
            &format!("/api/v1/watchlists/{list}/deliveries/{id}/redeliver"),
            Some(&system),
            &json!({}),
        )
        .await;
    assert_eq!(again.status, 202, "{}", again.text);
    assert_eq!(again.body["state"], "pending", "{}", again.text);
    let got = rx.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].id, id);
    let unknown = app
        .post(
            &format!("/api/v1/watchlists/{list}/deliveries/evt_nothing/redeliver"),
            Some(&system),
            &json!({}),
        )
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
}

/// A general penalty with a large fine decided on `decided`: it bars procurement while in force,
/// for a year of publicity, repairable three months on.
fn general(id: &str, uscc: &str, decided: &str) -> Value {
    let mut p = penalty(id, uscc);
    p["decision_no"] = json!(format!("京市监罚〔2025〕{id}号"));
    p["decision_date"] = json!(decided);
    p["severity"] = json!("general");
    p["fine_amount"] = json!("2500000.00");
    p
}

async fn repairs_and_publicity_ends_are_told(b: Backend) {
    let (app, minutes) = spawn_with_movable_clock(b).await;
    let rx = Receiver::start().await;
    let system = app.key("ZFCG-SYS", "system").await;
    let scjg = app.key("SCJG", "provider").await;
    let (repaired, ending) = (code(721), code(722));
    let (_, secret) = watch(&app, &system, &rx.url(), &[&repaired, &ending]).await;
    let r1 = submit(&app, &scjg, general("CF-R1", &repaired, "2026-06-01")).await;
    // Published until 2026-11-25 (today is 2026-11-24 in the tests' world).
    let r2 = submit(&app, &scjg, general("CF-P1", &ending, "2025-11-25")).await;
    assert_eq!(verdict(&app, &ending).await, "prohibited");
    rx.wait_for(2, Duration::from_secs(10)).await;

    let a = app
        .post(
            "/api/v1/repairs",
            Some(&scjg),
            &json!({"record_id": r1,
                    "applicant": {"name": "李四", "contact": "13800000000"},
                    "commitment": "XYCN-2026-1124-0087",
                    "evidence": "罚款已全额缴清，附缴款凭证及整改报告"}),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let rep = a.body["id"].as_str().unwrap();
    let d = app
        .post(
            &format!("/api/v1/repairs/{rep}/decision"),
            Some(&scjg),
            &json!({"outcome": "approved", "reason": "已履行行政处罚决定并提交信用承诺书，准予修复"}),
        )
        .await;
    assert_eq!(d.status, 200, "{}", d.text);
    let got = rx.wait_for(3, Duration::from_secs(10)).await;
    let told = got[2].json();
    assert_signed(&got[2], &secret);
    assert_eq!(told["type"], "record.repaired", "{told}");
    assert_eq!(told["record_ids"], json!([r1]), "{told}");
    assert_eq!(told["subject"]["uscc"], repaired.as_str(), "{told}");
    assert_eq!(
        (
            told["verdict_before"].as_str(),
            told["verdict_after"].as_str()
        ),
        (Some("prohibited"), Some("clear")),
        "{told}"
    );
    // Nor the applicant's name nor contact reach the receiver.
    assert!(got
        .iter()
        .all(|g| !g.body.contains("李四") && !g.body.contains("13800000000")));

    // Two days on, the second record's publicity has ended: the sweep tells it once.
    minutes.fetch_add(2 * 24 * 60, Ordering::SeqCst);
    let got = rx.wait_for(4, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(rx.got().len(), 4, "told once: {:?}", rx.got());
    let ended = got[3].json();
    assert_eq!(ended["type"], "record.publicity_ended", "{ended}");
    assert_eq!(ended["record_ids"], json!([r2]), "{ended}");
    assert_eq!(ended["subject"]["uscc"], ending.as_str(), "{ended}");
    assert_eq!(
        (
            ended["verdict_before"].as_str(),
            ended["verdict_after"].as_str()
        ),
        (Some("prohibited"), Some("clear")),
        "{ended}"
    );
}

async fn one_instance_delivers_when_two_run() {
    let app = spawn_app(Backend::Postgres).await;
    let twin = app.twin().await;
    twin.listening().await;
    let rx = Receiver::start().await;
    let system = app.key("ZFCG-SYS", "system").await;
    let scjg = app.key("SCJG", "provider").await;
    let codes: Vec<String> = (0..10).map(|i| code(730 + i)).collect();
    let refs: Vec<&str> = codes.iter().map(String::as_str).collect();
    watch(&app, &system, &rx.url(), &refs).await;
    for (i, c) in codes.iter().enumerate() {
        // Through either instance.
        let via = if i % 2 == 0 { &app } else { &twin };
        let r = via
            .batch(&scjg, vec![penalty(&format!("CF-T{i}"), c)])
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    rx.wait_for(10, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Delivered once each: no second deliverer sent them again.
    assert_eq!(rx.got().len(), 10, "{:?}", rx.got());
}

async fn a_partner_is_told_no_more_than_its_checks_show(b: Backend) {
    let app = spawn_app(b).await;
    let rx = Receiver::start().await;
    let bank = app.key("BANK", "partner").await;
    let scjg = app.key("SCJG", "provider").await;
    let a = app
        .post(
            "/api/v1/admin/agreements",
            Some(&app.admin_key),
            &json!({"org_code": "BANK", "scenarios": ["procurement"], "record_kinds": ["penalty"],
                    "valid_from": "2026-01-01", "valid_to": "2026-12-31", "daily_quota": 100}),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let c = code(741);
    let (_, secret) = watch(&app, &bank, &rx.url(), &[&c]).await;
    // A record of a class partners never see: the verdict moves, and only that is told.
    let mut hidden = penalty("CF-H1", &c);
    hidden["sharing_class"] = json!("conditional");
    let hidden_id = submit(&app, &scjg, hidden).await;
    let got = rx.wait_for(1, Duration::from_secs(10)).await;
    assert_signed(&got[0], &secret);
    let told = got[0].json();
    assert_eq!(told["type"], "verdict.changed", "{told}");
    assert_eq!(told["record_ids"], json!([]), "{told}");
    assert_eq!(
        (
            told["verdict_before"].as_str(),
            told["verdict_after"].as_str()
        ),
        (Some("clear"), Some("prohibited")),
        "{told}"
    );
    assert!(!got[0].body.contains(&hidden_id));
    // A record it may see is named; a kind outside its agreement is not, and moves nothing.
    let seen = submit(&app, &scjg, penalty("CF-S1", &c)).await;
    let mut licence = penalty("XK-1", &c);
    licence["kind"] = json!("license");
    for k in ["severity", "penalty_types", "fine_amount"] {
        licence.as_object_mut().unwrap().remove(k);
    }
    submit(&app, &scjg, licence).await;
    let got = rx.wait_for(2, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(rx.got().len(), 2, "{:?}", rx.got());
    let told = got[1].json();
    assert_eq!(told["type"], "record.created", "{told}");
    assert_eq!(told["record_ids"], json!([seen]), "{told}");
    assert_eq!(
        (
            told["verdict_before"].as_str(),
            told["verdict_after"].as_str()
        ),
        (Some("prohibited"), Some("prohibited")),
        "{told}"
    );
}
