//! `creditgate provincial-sim`: a stand-in for the provincial credit platform that speaks the
//! protocol of `docs/provincial-protocol.md` (signed requests and answers, pull pages of changes
//! after a cursor, idempotent push). Its data is generated from a seed: the same seed and size,
//! the same changes. Fault injection and the sync worker come next (issue #5).
//!
//! A program of its own, like the import: it may use every layer.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Mutex;

use actix_web::dev::Server;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::service::generate;
use crate::sync::protocol::{self, Change, PushBatch, Signed, Verifier};

/// `size` changes from `seed`: mostly new records (list entries, penalties, licences of
/// generated subjects with valid codes), and every so often a newer version or a removal of
/// an earlier one.
pub fn generate_changes(seed: u64, size: u64) -> Vec<Change> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out: Vec<Change> = Vec::with_capacity(size as usize);
    // (source code, record id) → (latest version, latest record, removed)
    let mut latest: Vec<(String, String, i64, Value, bool)> = Vec::new();
    for i in 0..size {
        let cursor = format!("c_{:010}", i + 1);
        let pick = rng.gen_range(0..10);
        if pick == 9 && !latest.is_empty() {
            let j = rng.gen_range(0..latest.len());
            let (src, id, version, _, removed) = &mut latest[j];
            if !*removed {
                *version += 1;
                *removed = true;
                out.push(Change {
                    cursor,
                    op: "remove".into(),
                    source_code: src.clone(),
                    source_record_id: id.clone(),
                    version: *version,
                    record: None,
                });
                continue;
            }
        }
        if pick == 8 && !latest.is_empty() {
            let j = rng.gen_range(0..latest.len());
            let (src, id, version, record, removed) = &mut latest[j];
            if !*removed {
                *version += 1;
                record["version"] = json!(*version);
                record["details"] = json!({"BZ": format!("第{}版", *version)});
                out.push(Change {
                    cursor,
                    op: "upsert".into(),
                    source_code: src.clone(),
                    source_record_id: id.clone(),
                    version: *version,
                    record: Some(record.clone()),
                });
                continue;
            }
        }
        // Subjects numbered far from the local generator's, so the two never collide.
        let n = 50_000_000 + i / 2;
        let subject = generate::subject(&mut rng, n);
        let (source, mut record) = generate::record(&mut rng, n, i, &subject);
        let source_code = format!("PROV-{source}");
        let id = format!(
            "P{}",
            record["source_record_id"].as_str().unwrap_or_default()
        );
        record["source_record_id"] = json!(id);
        record["origin"] = json!("provincial");
        record["version"] = json!(1);
        latest.push((source_code.clone(), id.clone(), 1, record.clone(), false));
        out.push(Change {
            cursor,
            op: "upsert".into(),
            source_code,
            source_record_id: id,
            version: 1,
            record: Some(record),
        });
    }
    out
}

pub struct SimConfig {
    pub seed: u64,
    pub size: u64,
    /// The city's key id and shared secret.
    pub key_id: String,
    pub secret: Vec<u8>,
}

struct Sim {
    changes: Vec<Change>,
    secret: Vec<u8>,
    verifier: Mutex<Verifier>,
    /// Pushed items by (source code, record id, version): each received once.
    received: Mutex<HashMap<(String, String, i64), Value>>,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn header(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// An answer signed for the request with `nonce`.
fn answer(sim: &Sim, status: u16, request_nonce: &str, body: Value) -> HttpResponse {
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let s = protocol::sign_answer(&sim.secret, status, request_nonce, &bytes, now());
    let code = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(code)
        .content_type("application/json")
        .insert_header(("X-Cg-Timestamp", s.timestamp.to_string()))
        .insert_header(("X-Cg-Nonce", s.nonce))
        .insert_header(("X-Cg-Signature", s.signature))
        .body(bytes)
}

/// The refusal of a request whose signature failed.
fn refusal(code: &str) -> HttpResponse {
    HttpResponse::Unauthorized()
        .content_type("application/problem+json")
        .body(json!({"type": format!("urn:creditgate:problem:{code}"), "title": "Signature refused", "status": 401, "code": code}).to_string())
}

/// Verifies the request's signature: its nonce, or the problem code of the refusal.
fn verify(sim: &Sim, req: &HttpRequest, body: &[u8]) -> Result<String, &'static str> {
    let refuse = |code: &'static str| code;
    let (Some(key), Some(ts), Some(nonce), Some(sig)) = (
        header(req, "X-Cg-Key-Id"),
        header(req, "X-Cg-Timestamp").and_then(|t| t.parse::<i64>().ok()),
        header(req, "X-Cg-Nonce"),
        header(req, "X-Cg-Signature"),
    ) else {
        return Err(refuse("malformed_signature"));
    };
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let signed = Signed {
        timestamp: ts,
        nonce: nonce.clone(),
        signature: sig,
    };
    let mut v = sim.verifier.lock().unwrap_or_else(|p| p.into_inner());
    v.verify_request(&key, req.method().as_str(), &path, body, &signed, now())
        .map_err(|e| refuse(e.code()))?;
    Ok(nonce)
}

#[derive(Debug, Deserialize)]
struct ChangesQuery {
    after: Option<String>,
    limit: Option<usize>,
}

async fn changes(
    sim: web::Data<Sim>,
    req: HttpRequest,
    q: web::Query<ChangesQuery>,
) -> HttpResponse {
    let nonce = match verify(&sim, &req, b"") {
        Ok(n) => n,
        Err(code) => return refusal(code),
    };
    let limit = q.limit.unwrap_or(500).clamp(1, 1000);
    let start = match q.after.as_deref() {
        None => 0,
        Some(c) => sim.changes.partition_point(|ch| ch.cursor.as_str() <= c),
    };
    let page: Vec<&Change> = sim.changes.iter().skip(start).take(limit).collect();
    let next = page
        .last()
        .map(|c| c.cursor.clone())
        .or_else(|| q.after.clone());
    let has_more = start + page.len() < sim.changes.len();
    answer(
        &sim,
        200,
        &nonce,
        json!({"changes": page, "next_cursor": next, "has_more": has_more}),
    )
}

async fn push(sim: web::Data<Sim>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let nonce = match verify(&sim, &req, &body) {
        Ok(n) => n,
        Err(code) => return refusal(code),
    };
    let batch: PushBatch = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return answer(
                &sim,
                400,
                &nonce,
                json!({"code": "malformed_json", "detail": e.to_string()}),
            )
        }
    };
    let mut received = sim.received.lock().unwrap_or_else(|p| p.into_inner());
    let results: Vec<Value> = batch
        .records
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let key = (item.source_code, item.source_record_id, item.version);
            match received.entry(key) {
                std::collections::hash_map::Entry::Occupied(_) => {
                    json!({"index": index, "status": "duplicate"})
                }
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(item.record);
                    json!({"index": index, "status": "accepted"})
                }
            }
        })
        .collect();
    answer(&sim, 200, &nonce, json!({"results": results}))
}

async fn stats(sim: web::Data<Sim>) -> HttpResponse {
    let received = sim.received.lock().map(|r| r.len()).unwrap_or(0);
    HttpResponse::Ok().json(json!({"changes": sim.changes.len(), "received": received}))
}

/// The simulator on `listener`; `GET /stats` (unsigned) counts changes and received pushes.
pub fn serve(config: SimConfig, listener: TcpListener) -> std::io::Result<Server> {
    let sim = web::Data::new(Sim {
        changes: generate_changes(config.seed, config.size),
        secret: config.secret.clone(),
        verifier: Mutex::new(Verifier::new([(config.key_id, config.secret)])),
        received: Mutex::new(HashMap::new()),
    });
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(sim.clone())
            .route("/v1/changes", web::get().to(changes))
            .route("/v1/records/batch", web::post().to(push))
            .route("/stats", web::get().to(stats))
    })
    .listen(listener)?
    .run())
}
