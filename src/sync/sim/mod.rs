//! `creditgate provincial-sim`: a stand-in for the provincial credit platform that speaks the
//! protocol of `docs/provincial-protocol.md` (signed requests and answers, pull pages of changes
//! after a cursor, idempotent push). Its data is generated from a seed: the same seed and size,
//! the same changes. Faults are injected on request (`--fault-rate`, `--faults`, or
//! `PUT /control/faults`): latency, server errors, timeouts, broken connections, duplicate and
//! out-of-order pages, cut-off bodies and bad signatures.
//!
//! A program of its own, like the import: it may use every layer.

use std::collections::{BTreeMap, HashMap};
use std::net::TcpListener;
use std::sync::Mutex;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::sync::protocol::{self, Change, ChangePage, PushAnswer, PushBatch, Verifier};

mod faults;
mod feed;
mod repairs;
mod signing;

pub use faults::{Fault, FaultPlan};
pub use feed::{expected_state, generate_changes};
use signing::*;

pub struct SimConfig {
    pub seed: u64,
    pub size: u64,
    /// The city's key id and shared secret.
    pub key_id: String,
    pub secret: Vec<u8>,
    pub faults: FaultPlan,
    /// Changes published after the generated ones, numbered on from them (a test's own records,
    /// such as natural persons, which the generator does not make).
    pub extra: Vec<Change>,
    /// HTTPS with this certificate chain and key (PEM files); plain HTTP without.
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

/// The simulator's TLS settings: its certificate chain and key from PEM files, rustls with the
/// ring provider (the one the city's client uses).
fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> std::io::Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{what}: {e}"))
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| bad(&format!("certificate {}", cert.display()), &e))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| bad(&format!("key {}", key.display()), &e))?;
    // The crate's one provider (ring, as for the city's client).
    rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad("TLS", &e))
}

struct Sim {
    changes: Vec<Change>,
    expected: (usize, String),
    secret: Vec<u8>,
    verifier: Mutex<Verifier>,
    /// Pushed items by (source code, record id, version): each received once.
    received: Mutex<HashMap<(String, String, i64), Value>>,
    /// Pushed items delivered, counting repeats (answered `duplicate`).
    deliveries: Mutex<u64>,
    /// Pushed repairs by repair id: each taken once.
    repairs: Mutex<BTreeMap<String, protocol::RepairPushItem>>,
    faults: Mutex<FaultPlan>,
    rng: Mutex<rand::rngs::StdRng>,
    injected: Mutex<BTreeMap<&'static str, u64>>,
    requests: Mutex<u64>,
    /// How many of the changes are published (the platform's feed grows over time).
    visible: Mutex<usize>,
}

impl Sim {
    /// Draws the fault of one request, if any (only those that apply to a push, for a push).
    fn draw(&self, push: bool) -> Option<Fault> {
        let plan = lock(&self.faults).clone();
        *lock(&self.requests) += 1;
        let kinds: Vec<Fault> = plan
            .kinds
            .iter()
            .copied()
            .filter(|f| !push || f.applies_to_push())
            .collect();
        let mut rng = lock(&self.rng);
        if kinds.is_empty() || !rng.gen_bool(plan.rate.clamp(0.0, 1.0)) {
            return None;
        }
        let f = *kinds.choose(&mut *rng)?;
        *lock(&self.injected).entry(f.name()).or_insert(0) += 1;
        Some(f)
    }

    fn plan(&self) -> FaultPlan {
        lock(&self.faults).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// An answer signed for the request with `nonce`, with the fault (if any) that spoils it after
/// the work was done.
async fn answer(
    sim: &Sim,
    status: u16,
    request_nonce: &str,
    body: Value,
    fault: Option<Fault>,
) -> HttpResponse {
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut s = protocol::sign_answer(&sim.secret, status, request_nonce, &bytes, now());
    let code = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut bytes = bytes;
    match fault {
        Some(Fault::Timeout) => {
            tokio::time::sleep(Duration::from_millis(sim.plan().hang_ms)).await;
        }
        Some(Fault::BadSignature) => {
            // One hex digit changed: still well-formed, no longer the answer's.
            let flip = if s.signature.starts_with('0') {
                "1"
            } else {
                "0"
            };
            s.signature.replace_range(0..1, flip);
        }
        Some(Fault::CutOff) if rand::random::<bool>() => {
            // A body shorter than it was signed (the framing is whole).
            bytes.truncate(bytes.len() / 2);
        }
        Some(Fault::CutOff) => {
            // Fewer bytes than the Content-Length announces, then the connection closes.
            let full = bytes.len() as u64;
            let half = web::Bytes::from(bytes[..bytes.len() / 2].to_vec());
            let stream = futures_util::stream::iter([
                Ok::<_, std::io::Error>(half),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "cut off",
                )),
            ]);
            return signed(HttpResponse::build(code), &s)
                .content_type("application/json")
                .body(actix_web::body::SizedStream::new(full, stream));
        }
        Some(Fault::Reset) => {
            let stream = futures_util::stream::iter([Err::<web::Bytes, _>(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "reset",
            ))]);
            return HttpResponse::build(code).streaming(stream);
        }
        _ => {}
    }
    signed(HttpResponse::build(code), &s)
        .content_type("application/json")
        .body(bytes)
}

/// Faults that strike before any work: latency (then the work), a server error.
async fn before(sim: &Sim, fault: Option<Fault>) -> Option<HttpResponse> {
    match fault {
        Some(Fault::Latency) => {
            tokio::time::sleep(Duration::from_millis(sim.plan().latency_ms)).await;
            None
        }
        Some(Fault::ServerError) => Some(
            HttpResponse::ServiceUnavailable()
                .content_type("application/problem+json")
                .body(json!({"type": "urn:creditgate:problem:unavailable", "title": "Injected fault", "status": 503, "code": "unavailable"}).to_string()),
        ),
        _ => None,
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ChangesQuery {
    /// The cursor to continue after (absent: from the start).
    after: Option<String>,
    /// At most this many changes (default 500, at most 1000).
    limit: Option<usize>,
}

/// Changes after a cursor, oldest first.
#[utoipa::path(
    get,
    path = "/v1/changes",
    tag = "protocol",
    params(ChangesQuery, SignatureHeaders),
    responses(
        (status = 200, description = "A page of changes (signed answer)", body = ChangePage, headers(
            ("X-Cg-Timestamp" = i64, description = "Unix seconds"),
            ("X-Cg-Nonce" = String, description = "The answer's nonce"),
            ("X-Cg-Signature" = String, description = "HMAC-SM3 over the canonical answer"),
        )),
        (status = 401, description = "Signature refused: `unknown_key`, `stale_timestamp`, `replayed_nonce`, `bad_signature`, `malformed_signature`", content_type = "application/problem+json"),
        (status = 503, description = "Unavailable (also an injected fault)", content_type = "application/problem+json"),
    )
)]
async fn changes(
    sim: web::Data<Sim>,
    req: HttpRequest,
    q: web::Query<ChangesQuery>,
) -> HttpResponse {
    let nonce = match verify(&sim, &req, b"") {
        Ok(n) => n,
        Err(code) => return refusal(&sim, &req, code),
    };
    let fault = sim.draw(false);
    if let Some(r) = before(&sim, fault).await {
        return r;
    }
    let limit = q.limit.unwrap_or(500).clamp(1, 1000);
    let asked = match q.after.as_deref() {
        None => 0,
        Some(c) => sim.changes.partition_point(|ch| ch.cursor.as_str() <= c),
    };
    // The feed as far as it is published.
    let total = (*lock(&sim.visible)).min(sim.changes.len());
    let mut start = asked;
    let mut shuffle = false;
    match fault {
        // Half a page already sent, then this page, each change twice.
        Some(Fault::Duplicate) => start = asked.saturating_sub(limit / 2),
        // Changes shuffled (to be put back in order), or a page from elsewhere in the feed
        // that says so (to be refused).
        Some(Fault::OutOfOrder) => {
            if rand::random::<bool>() || total == 0 {
                shuffle = true;
            } else {
                start = rand::thread_rng().gen_range(0..total);
            }
        }
        _ => {}
    }
    let end = (asked + limit).min(total).max(start.min(total));
    let mut page: Vec<Change> = sim.changes[start.min(total)..end].to_vec();
    if fault == Some(Fault::Duplicate) {
        page = page.into_iter().flat_map(|c| [c.clone(), c]).collect();
    }
    if shuffle {
        page.shuffle(&mut rand::thread_rng());
    }
    let follows = if start == asked || fault == Some(Fault::Duplicate) {
        q.after.clone()
    } else if start == 0 {
        None
    } else {
        Some(sim.changes[start - 1].cursor.clone())
    };
    let next = if end > 0 {
        Some(sim.changes[end - 1].cursor.clone())
    } else {
        q.after.clone()
    };
    let has_more = end < total;
    answer(
        &sim,
        200,
        &nonce,
        json!({"changes": page, "after": follows, "next_cursor": next, "has_more": has_more, "remaining": total - end}),
        fault,
    )
    .await
}

/// Pushes city records; idempotent by (source code, source record id, version).
#[utoipa::path(
    post,
    path = "/v1/records/batch",
    tag = "protocol",
    params(SignatureHeaders),
    request_body = PushBatch,
    responses(
        (status = 200, description = "Per-item results in input order (signed answer)", body = PushAnswer),
        (status = 400, description = "Malformed JSON (signed answer)"),
        (status = 401, description = "Signature refused", content_type = "application/problem+json"),
        (status = 503, description = "Unavailable (also an injected fault)", content_type = "application/problem+json"),
    )
)]
async fn push(sim: web::Data<Sim>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let (nonce, fault, batch) = match signed_post::<PushBatch>(&sim, &req, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let results: Vec<Value> = {
        let mut received = lock(&sim.received);
        *lock(&sim.deliveries) += batch.records.len() as u64;
        batch
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
            .collect()
    };
    // Taken: whatever spoils the answer now, the records are the platform's.
    answer(&sim, 200, &nonce, json!({"results": results}), fault).await
}

/// A signed push's start: the signature checked (a refusal otherwise), a fault drawn (and the
/// answer it gives before anything is taken), the body read (a signed 400 otherwise).
async fn signed_post<T: serde::de::DeserializeOwned>(
    sim: &Sim,
    req: &HttpRequest,
    body: &[u8],
) -> Result<(String, Option<Fault>, T), HttpResponse> {
    let nonce = verify(sim, req, body).map_err(|code| refusal(sim, req, code))?;
    let fault = sim.draw(true);
    if let Some(r) = before(sim, fault).await {
        return Err(r);
    }
    match serde_json::from_slice(body) {
        Ok(b) => Ok((nonce, fault, b)),
        Err(e) => Err(answer(
            sim,
            400,
            &nonce,
            json!({"code": "malformed_json", "detail": e.to_string()}),
            None,
        )
        .await),
    }
}

/// What the simulator holds and did (unsigned; a test and operator aid, not the protocol).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SimStats {
    pub changes: usize,
    /// Changes published so far (`PUT /control/feed`).
    pub published: usize,
    /// Records the published changes leave, and their digest (as `creditgate sync --status`
    /// computes it).
    pub expected_records: usize,
    pub expected_digest: String,
    /// Distinct pushed (source code, record id, version).
    pub received: usize,
    /// Pushed items delivered, repeats included.
    pub deliveries: u64,
    pub requests: u64,
    pub faults: FaultPlan,
    pub injected: BTreeMap<String, u64>,
}

/// Counts, the expected state's digest, the faults injected (unsigned).
#[utoipa::path(get, path = "/stats", tag = "simulator", responses((status = 200, body = SimStats)))]
async fn stats(sim: web::Data<Sim>) -> HttpResponse {
    let published = (*lock(&sim.visible)).min(sim.changes.len());
    let expected = if published == sim.changes.len() {
        sim.expected.clone()
    } else {
        expected_state(&sim.changes[..published])
    };
    HttpResponse::Ok().json(SimStats {
        published,
        changes: sim.changes.len(),
        expected_records: expected.0,
        expected_digest: expected.1,
        received: lock(&sim.received).len(),
        deliveries: *lock(&sim.deliveries),
        requests: *lock(&sim.requests),
        faults: sim.plan(),
        injected: lock(&sim.injected)
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect(),
    })
}

/// The pushed records received: `[source code, record id, version]`, sorted (unsigned).
#[utoipa::path(get, path = "/received", tag = "simulator", responses((status = 200, description = "`[[source code, record id, version], …]`", body = Vec<Vec<Object>>)))]
async fn received(sim: web::Data<Sim>) -> HttpResponse {
    let mut keys: Vec<(String, String, i64)> = lock(&sim.received).keys().cloned().collect();
    keys.sort();
    HttpResponse::Ok().json(keys)
}

/// Replaces the fault plan (`{"rate": 0.3}`, `{"rate": 0.5, "kinds": ["reset"]}`; unsigned).
#[utoipa::path(put, path = "/control/faults", tag = "simulator", request_body = FaultPlan, responses(
    (status = 200, description = "The plan in force", body = FaultPlan),
    (status = 422, description = "A rate outside 0 to 1, or an unknown fault"),
))]
async fn set_faults(sim: web::Data<Sim>, body: web::Bytes) -> HttpResponse {
    let plan: FaultPlan = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => {
            return HttpResponse::UnprocessableEntity()
                .json(json!({"code": "invalid_fault_plan", "detail": e.to_string()}))
        }
    };
    if let Err(e) = plan.check() {
        return HttpResponse::UnprocessableEntity()
            .json(json!({"code": "invalid_fault_plan", "detail": e}));
    }
    *lock(&sim.faults) = plan.clone();
    HttpResponse::Ok().json(plan)
}

/// The signature headers of every protocol request (`docs/provincial-protocol.md`).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
struct SignatureHeaders {
    /// The caller's key id.
    #[param(rename = "X-Cg-Key-Id")]
    key_id: String,
    /// Unix time in seconds; refused more than 300 s from the platform's clock.
    #[param(rename = "X-Cg-Timestamp")]
    timestamp: i64,
    /// 32 hex characters, never reused.
    #[param(rename = "X-Cg-Nonce")]
    nonce: String,
    /// Hex HMAC-SM3 over METHOD, PATH?QUERY, TIMESTAMP, NONCE and the body's SM3, one per line.
    #[param(rename = "X-Cg-Signature")]
    signature: String,
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "creditgate provincial-sim",
        description = "The provincial exchange protocol (docs/provincial-protocol.md) as the simulator serves it: signed pull and push, and the simulator's own unsigned control paths."
    ),
    paths(
        changes,
        push,
        repairs::push_repairs,
        stats,
        received,
        repairs::received_repairs,
        set_faults,
        set_feed
    ),
    components(schemas(
        protocol::Change,
        ChangePage,
        protocol::PushItem,
        PushBatch,
        protocol::PushResult,
        PushAnswer,
        protocol::RepairPushItem,
        protocol::RepairPushBatch,
        SimStats,
        FaultPlan,
        Fault,
        FeedControl
    )),
    tags(
        (name = "protocol", description = "Signed requests, signed answers"),
        (name = "simulator", description = "Unsigned, for tests and operators"),
    )
)]
struct SimDoc;

/// The simulator's OpenAPI document (`openapi/provincial-sim.json` must equal it; a test checks).
pub fn openapi_json() -> String {
    let mut s = <SimDoc as utoipa::OpenApi>::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedControl {
    /// Publish the first `published` changes only (absent: all of them).
    pub published: Option<usize>,
}

/// Publishes only the first N changes, as a platform whose feed grows (unsigned).
#[utoipa::path(put, path = "/control/feed", tag = "simulator", request_body = FeedControl, responses(
    (status = 200, description = "The feed as now published", body = FeedControl),
    (status = 422, description = "Not a feed control"),
))]
async fn set_feed(sim: web::Data<Sim>, body: web::Bytes) -> HttpResponse {
    match serde_json::from_slice::<FeedControl>(&body) {
        Ok(f) => {
            let n = f.published.unwrap_or(usize::MAX).min(sim.changes.len());
            *lock(&sim.visible) = n;
            HttpResponse::Ok().json(FeedControl { published: Some(n) })
        }
        Err(e) => HttpResponse::UnprocessableEntity()
            .json(json!({"code": "invalid_feed_control", "detail": e.to_string()})),
    }
}

/// The simulator on `listener`. Besides the protocol: `GET /stats`, `GET /received`,
/// `PUT /control/faults` and `PUT /control/feed` (unsigned, for tests and operators).
pub fn serve(config: SimConfig, listener: TcpListener) -> std::io::Result<Server> {
    config
        .faults
        .check()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let tls = match &config.tls {
        Some((cert, key)) => Some(tls_config(cert, key)?),
        None => None,
    };
    let mut feed = generate_changes(config.seed, config.size);
    for mut c in config.extra {
        c.cursor = format!("c_{:010}", feed.len() + 1);
        feed.push(c);
    }
    let expected = expected_state(&feed);
    let sim = web::Data::new(Sim {
        changes: feed,
        expected,
        secret: config.secret.clone(),
        verifier: Mutex::new(Verifier::new([(config.key_id, config.secret)])),
        received: Mutex::new(HashMap::new()),
        deliveries: Mutex::new(0),
        repairs: Mutex::new(BTreeMap::new()),
        faults: Mutex::new(config.faults),
        rng: Mutex::new(rand::rngs::StdRng::seed_from_u64(config.seed ^ 0x5eed)),
        injected: Mutex::new(BTreeMap::new()),
        requests: Mutex::new(0),
        visible: Mutex::new(usize::MAX),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(sim.clone())
            .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
            .route("/v1/changes", web::get().to(changes))
            .route("/v1/records/batch", web::post().to(push))
            .route("/v1/repairs/batch", web::post().to(repairs::push_repairs))
            .route(
                "/received-repairs",
                web::get().to(repairs::received_repairs),
            )
            .route("/stats", web::get().to(stats))
            .route("/received", web::get().to(received))
            .route("/control/faults", web::put().to(set_faults))
            .route("/control/feed", web::put().to(set_feed))
            .route(
                "/openapi.json",
                web::get().to(|| async {
                    HttpResponse::Ok()
                        .content_type("application/json")
                        .body(openapi_json())
                }),
            )
    });
    Ok(match tls {
        Some(tls) => server.listen_rustls_0_23(listener, tls)?.run(),
        None => server.listen(listener)?.run(),
    })
}
