//! The provincial simulator speaks the signed protocol: pages after a cursor, idempotent push,
//! refusals of bad signatures and replayed nonces; deterministic by seed.

use creditgate::sync::protocol::{self, Signed};
use creditgate::sync::sim::{generate_changes, serve, SimConfig};
use serde_json::{json, Value};

const SECRET: &[u8] = b"city-secret-0123456789abcdef0123";

async fn start(size: u64) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = serve(
        SimConfig {
            seed: 7,
            size,
            key_id: "city".into(),
            secret: SECRET.to_vec(),
            faults: Default::default(),
            extra: Vec::new(),
            tls: None,
        },
        listener,
    )
    .unwrap();
    tokio::spawn(server);
    format!("http://127.0.0.1:{port}")
}

/// A signed request; the answer's status, body and whether its signature verified.
async fn call(
    base: &str,
    method: &str,
    path: &str,
    body: &[u8],
    signed: Option<Signed>,
) -> (u16, Value, bool, Signed) {
    let now = chrono::Utc::now().timestamp();
    let s = signed.unwrap_or_else(|| protocol::sign_request(SECRET, method, path, body, now));
    let client = reqwest::Client::new();
    let req = match method {
        "GET" => client.get(format!("{base}{path}")),
        _ => client.post(format!("{base}{path}")).body(body.to_vec()),
    };
    let resp = req
        .header("X-Cg-Key-Id", "city")
        .header("X-Cg-Timestamp", s.timestamp.to_string())
        .header("X-Cg-Nonce", &s.nonce)
        .header("X-Cg-Signature", &s.signature)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let h = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let answer = match (h("X-Cg-Timestamp"), h("X-Cg-Nonce"), h("X-Cg-Signature")) {
        (Some(t), Some(n), Some(sig)) => Some(Signed {
            timestamp: t.parse().unwrap(),
            nonce: n,
            signature: sig,
        }),
        _ => None,
    };
    let bytes = resp.bytes().await.unwrap();
    let verified = answer
        .map(|a| protocol::verify_answer(SECRET, status, &s.nonce, &bytes, &a).is_ok())
        .unwrap_or(false);
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        verified,
        s,
    )
}

#[tokio::test]
async fn pages_follow_the_cursor_and_answers_are_signed() {
    let base = start(25).await;
    let (status, page, verified, _) = call(&base, "GET", "/v1/changes?limit=10", b"", None).await;
    assert_eq!(status, 200, "{page}");
    assert!(verified, "the answer's signature");
    assert_eq!(page["changes"].as_array().unwrap().len(), 10);
    assert_eq!(page["has_more"], true);
    let next = page["next_cursor"].as_str().unwrap();
    let mut seen = 10;
    let mut cursor = next.to_string();
    loop {
        let (_, p, ok, _) = call(
            &base,
            "GET",
            &format!("/v1/changes?after={cursor}&limit=10"),
            b"",
            None,
        )
        .await;
        assert!(ok);
        seen += p["changes"].as_array().unwrap().len();
        cursor = p["next_cursor"].as_str().unwrap().to_string();
        if p["has_more"] == false {
            break;
        }
    }
    assert_eq!(seen, 25);
    let first = &page["changes"][0];
    assert_eq!(first["op"], "upsert");
    let code = first["record"]["subject"]["uscc"].as_str().unwrap();
    assert!(
        creditgate::domain::Uscc::parse(code).is_ok(),
        "generated codes are valid: {code}"
    );
}

#[tokio::test]
async fn bad_signatures_and_replays_are_refused() {
    let base = start(5).await;
    let (_, _, _, used) = call(&base, "GET", "/v1/changes", b"", None).await;
    let (status, body, _, _) = call(&base, "GET", "/v1/changes", b"", Some(used.clone())).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("replayed_nonce"))
    );
    let mut forged = protocol::sign_request(
        SECRET,
        "GET",
        "/v1/changes",
        b"",
        chrono::Utc::now().timestamp(),
    );
    forged.signature = "0".repeat(64);
    let (status, body, _, _) = call(&base, "GET", "/v1/changes", b"", Some(forged)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("bad_signature"))
    );
    let old = protocol::sign_request(
        SECRET,
        "GET",
        "/v1/changes",
        b"",
        chrono::Utc::now().timestamp() - 3600,
    );
    let (status, body, _, _) = call(&base, "GET", "/v1/changes", b"", Some(old)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("stale_timestamp"))
    );
}

#[tokio::test]
async fn pushes_are_received_once() {
    let base = start(1).await;
    let batch = json!({"batch_id": "b1", "records": [
        {"source_code": "SCJG", "source_record_id": "CF-1", "version": 1, "record": {"kind": "penalty"}},
        {"source_code": "SCJG", "source_record_id": "CF-1", "version": 2, "record": {"kind": "penalty"}}]});
    let body = serde_json::to_vec(&batch).unwrap();
    let (status, r, ok, _) = call(&base, "POST", "/v1/records/batch", &body, None).await;
    assert_eq!(status, 200, "{r}");
    assert!(ok);
    assert_eq!(r["results"][0]["status"], "accepted");
    let (_, again, _, _) = call(&base, "POST", "/v1/records/batch", &body, None).await;
    assert_eq!(again["results"][0]["status"], "duplicate");
    assert_eq!(again["results"][1]["status"], "duplicate");
    let stats: Value = reqwest::get(format!("{base}/stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["received"], 2);
}

#[test]
fn the_same_seed_gives_the_same_changes() {
    assert_eq!(generate_changes(3, 200), generate_changes(3, 200));
    assert_ne!(generate_changes(3, 200), generate_changes(4, 200));
    let c = generate_changes(3, 200);
    assert!(c.iter().any(|x| x.op == "remove"), "removals are generated");
    assert!(
        c.iter().any(|x| x.op == "upsert" && x.version > 1),
        "newer versions are generated"
    );
}

/// The HTTP adapter against the simulator: pulls every page, pushes idempotently, and is refused
/// with a wrong secret in a refusal the city cannot verify.
#[tokio::test]
async fn the_http_adapter_pulls_and_pushes() {
    use creditgate::sync::platform::{HttpPlatform, Platform, SyncError};
    use creditgate::sync::protocol::{PushBatch, PushItem};
    let base = start(57).await;
    let p = HttpPlatform::new(
        &base,
        "city",
        SECRET.to_vec(),
        std::time::Duration::from_secs(5),
        None,
    )
    .unwrap();
    let mut cursor: Option<String> = None;
    let mut all = Vec::new();
    loop {
        let page = p.pull(cursor.as_deref(), 20).await.unwrap();
        all.extend(page.changes.clone());
        cursor = page.next_cursor.clone();
        if !page.has_more {
            break;
        }
    }
    assert_eq!(
        all,
        generate_changes(7, 57),
        "the pages hold exactly the simulator's changes"
    );
    let batch = PushBatch {
        batch_id: "b_1".into(),
        records: vec![PushItem {
            source_code: "SCJG".into(),
            source_record_id: "CF-9".into(),
            version: 1,
            record: json!({"kind": "penalty"}),
        }],
    };
    assert_eq!(p.push(&batch).await.unwrap()[0].status, "accepted");
    assert_eq!(p.push(&batch).await.unwrap()[0].status, "duplicate");

    let wrong = HttpPlatform::new(
        &base,
        "city",
        b"not-the-secret-0123456789".to_vec(),
        std::time::Duration::from_secs(5),
        None,
    )
    .unwrap();
    // The platform signs its refusal with the secret it holds, so a city with the wrong
    // secret cannot verify it: discarded and tried again (the document's rule for any answer
    // that fails the check), with the platform's words kept for the admin view.
    let e = wrong.pull(None, 10).await.unwrap_err();
    assert_eq!(
        e,
        SyncError::UnverifiedRefusal {
            status: 401,
            code: "bad_signature".into()
        }
    );
    assert!(e.retryable());
    let nowhere = HttpPlatform::new(
        "http://127.0.0.1:1",
        "city",
        SECRET.to_vec(),
        std::time::Duration::from_secs(2),
        None,
    )
    .unwrap();
    let e = nowhere.pull(None, 10).await.unwrap_err();
    assert!(
        matches!(e, SyncError::Transport(_)) && e.retryable(),
        "{e:?}"
    );
}
