//! The simulator's side of the signing layer: each request's signature checked (its nonce, or
//! the refusal's code), and answers and refusals signed as the protocol document says.

use actix_web::{HttpRequest, HttpResponse};

use super::{lock, Sim};
use serde_json::json;

use crate::sync::protocol::{self, Signed};

pub(super) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub(super) fn header(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

pub(super) fn signed(
    mut b: actix_web::HttpResponseBuilder,
    s: &Signed,
) -> actix_web::HttpResponseBuilder {
    b.insert_header(("X-Cg-Timestamp", s.timestamp.to_string()))
        .insert_header(("X-Cg-Nonce", s.nonce.clone()))
        .insert_header(("X-Cg-Signature", s.signature.clone()));
    b
}

/// The refusal of a request whose signature failed, signed as every answer is (for the nonce
/// the request carried, if any): a client that shares the secret can tell it from a refusal
/// made up on the way.
pub(super) fn refusal(sim: &Sim, req: &HttpRequest, code: &str) -> HttpResponse {
    let body = json!({"type": format!("urn:creditgate:problem:{code}"), "title": "Signature refused", "status": 401, "code": code}).to_string();
    let request_nonce = header(req, "X-Cg-Nonce").unwrap_or_default();
    let s = protocol::sign_answer(&sim.secret, 401, &request_nonce, body.as_bytes(), now());
    signed(HttpResponse::Unauthorized(), &s)
        .content_type("application/problem+json")
        .body(body)
}

/// Verifies the request's signature: its nonce, or the problem code of the refusal.
pub(super) fn verify(sim: &Sim, req: &HttpRequest, body: &[u8]) -> Result<String, &'static str> {
    let (Some(key), Some(ts), Some(nonce), Some(sig)) = (
        header(req, "X-Cg-Key-Id"),
        header(req, "X-Cg-Timestamp").and_then(|t| t.parse::<i64>().ok()),
        header(req, "X-Cg-Nonce"),
        header(req, "X-Cg-Signature"),
    ) else {
        return Err("malformed_signature");
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
    lock(&sim.verifier)
        .verify_request(&key, req.method().as_str(), &path, body, &signed, now())
        .map_err(|e| e.code())?;
    Ok(nonce)
}
