//! Signing of the provincial exchange protocol (`docs/provincial-protocol.md`): every request
//! and every answer carries an HMAC-SM3 over its method, path, time, nonce and body digest.
//! Pure functions and a replay cache; the HTTP adapter and the simulator use them.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use hmac::{Hmac, Mac};
use sm3::{Digest, Sm3};

type HmacSm3 = Hmac<Sm3>;

/// One change the platform offers (`GET /v1/changes`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Change {
    pub cursor: String,
    /// `upsert` or `remove`.
    pub op: String,
    pub source_code: String,
    pub source_record_id: String,
    pub version: i64,
    /// The record, for `upsert`, in the shape of `POST /api/v1/records/batch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub record: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct ChangePage {
    pub changes: Vec<Change>,
    /// The cursor this page follows (the `after` it answers; absent from the start). A page
    /// that follows another cursor than the one asked for is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    pub next_cursor: Option<String>,
    pub has_more: bool,
    /// Changes after `next_cursor` (optional: shows the lag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining: Option<i64>,
}

/// One pushed record (`POST /v1/records/batch`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct PushItem {
    pub source_code: String,
    pub source_record_id: String,
    pub version: i64,
    /// The record in the shape of `POST /api/v1/records/batch`.
    #[schema(value_type = Object)]
    pub record: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct PushBatch {
    pub batch_id: String,
    pub records: Vec<PushItem>,
}

/// One approved repair (信用修复) of a record (`POST /v1/repairs/batch`): from `repaired_on` the
/// record is not published, shared or used (NDRC Order 36 Art. 3).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct RepairPushItem {
    /// The city's id of the repair: the platform takes each once.
    pub repair_id: String,
    pub source_code: String,
    pub source_record_id: String,
    /// The record's version the repair was decided on.
    pub version: i64,
    pub repaired_on: chrono::NaiveDate,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct RepairPushBatch {
    pub batch_id: String,
    pub repairs: Vec<RepairPushItem>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct PushResult {
    pub index: usize,
    /// `accepted`, `duplicate` or `rejected`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub errors: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct PushAnswer {
    pub results: Vec<PushResult>,
}

/// Requests more than this far from the receiver's clock are refused.
pub const MAX_SKEW_SECS: i64 = 300;

/// The signature headers of a request or an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub timestamp: i64,
    pub nonce: String,
    pub signature: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("unknown key id")]
    UnknownKey,
    #[error("timestamp too far from the receiver's clock")]
    StaleTimestamp,
    #[error("nonce already used")]
    ReplayedNonce,
    #[error("signature does not match")]
    BadSignature,
    #[error("malformed signature headers")]
    Malformed,
}

impl SignatureError {
    /// The problem code of the protocol document.
    pub fn code(self) -> &'static str {
        match self {
            SignatureError::UnknownKey => "unknown_key",
            SignatureError::StaleTimestamp => "stale_timestamp",
            SignatureError::ReplayedNonce => "replayed_nonce",
            SignatureError::BadSignature => "bad_signature",
            SignatureError::Malformed => "malformed_signature",
        }
    }
}

pub fn body_digest(body: &[u8]) -> String {
    hex::encode(Sm3::digest(body))
}

fn mac(secret: &[u8], text: &str) -> String {
    // HMAC accepts keys of any length.
    let mut m = <HmacSm3 as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    m.update(text.as_bytes());
    hex::encode(m.finalize().into_bytes())
}

fn canonical_request(method: &str, path: &str, ts: i64, nonce: &str, body: &[u8]) -> String {
    format!(
        "{}\n{path}\n{ts}\n{nonce}\n{}",
        method.to_ascii_uppercase(),
        body_digest(body)
    )
}

fn canonical_answer(status: u16, request_nonce: &str, ts: i64, nonce: &str, body: &[u8]) -> String {
    format!(
        "RESPONSE\n{status}\n{request_nonce}\n{ts}\n{nonce}\n{}",
        body_digest(body)
    )
}

pub fn new_nonce() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// Constant-time comparison of two hex signatures, in either case (the document writes hex in
/// lower case and reads it in either).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| {
            acc | (x.to_ascii_lowercase() ^ y.to_ascii_lowercase())
        }) == 0
}

pub fn sign_request(secret: &[u8], method: &str, path: &str, body: &[u8], now: i64) -> Signed {
    let nonce = new_nonce();
    let signature = mac(secret, &canonical_request(method, path, now, &nonce, body));
    Signed {
        timestamp: now,
        nonce,
        signature,
    }
}

pub fn sign_answer(
    secret: &[u8],
    status: u16,
    request_nonce: &str,
    body: &[u8],
    now: i64,
) -> Signed {
    let nonce = new_nonce();
    let signature = mac(
        secret,
        &canonical_answer(status, request_nonce, now, &nonce, body),
    );
    Signed {
        timestamp: now,
        nonce,
        signature,
    }
}

/// Checks an answer against the request it answers.
pub fn verify_answer(
    secret: &[u8],
    status: u16,
    request_nonce: &str,
    body: &[u8],
    s: &Signed,
) -> Result<(), SignatureError> {
    let want = mac(
        secret,
        &canonical_answer(status, request_nonce, s.timestamp, &s.nonce, body),
    );
    if same(&want, &s.signature) {
        Ok(())
    } else {
        Err(SignatureError::BadSignature)
    }
}

/// The receiving side: keys by id, and the nonces seen within the skew window.
#[derive(Debug, Default)]
pub struct Verifier {
    keys: HashMap<String, Vec<u8>>,
    seen: HashMap<String, i64>,
    order: VecDeque<(i64, String)>,
}

impl Verifier {
    pub fn new(keys: impl IntoIterator<Item = (String, Vec<u8>)>) -> Self {
        Verifier {
            keys: keys.into_iter().collect(),
            ..Default::default()
        }
    }

    /// Checks a request; a valid one's nonce is remembered, so it cannot be used again.
    pub fn verify_request(
        &mut self,
        key_id: &str,
        method: &str,
        path: &str,
        body: &[u8],
        s: &Signed,
        now: i64,
    ) -> Result<(), SignatureError> {
        let secret = self.keys.get(key_id).ok_or(SignatureError::UnknownKey)?;
        if s.nonce.len() < 16 || s.nonce.len() > 64 {
            return Err(SignatureError::Malformed);
        }
        if (now - s.timestamp).abs() > MAX_SKEW_SECS {
            return Err(SignatureError::StaleTimestamp);
        }
        let want = mac(
            secret,
            &canonical_request(method, path, s.timestamp, &s.nonce, body),
        );
        if !same(&want, &s.signature) {
            return Err(SignatureError::BadSignature);
        }
        // Forget nonces older than the window: their requests are refused as stale anyway.
        while let Some((t, _)) = self.order.front() {
            if now - *t <= 2 * MAX_SKEW_SECS {
                break;
            }
            if let Some((_, n)) = self.order.pop_front() {
                self.seen.remove(&n);
            }
        }
        let key = format!("{key_id}/{}", s.nonce);
        if self.seen.contains_key(&key) {
            return Err(SignatureError::ReplayedNonce);
        }
        self.seen.insert(key.clone(), now);
        self.order.push_back((now, key));
        Ok(())
    }
}

/// One line of the digest of provincial records (the simulator computes the same from its
/// changes): source code, record id, version, status, subject code, details.
pub fn digest_line(
    source: &str,
    id: &str,
    version: i64,
    status: &str,
    uscc: &str,
    details: &str,
) -> String {
    format!("{source}\t{id}\t{version}\t{status}\t{uscc}\t{details}\n")
}

/// SHA-256 over the sorted lines.
pub fn digest_of(mut lines: Vec<String>) -> String {
    lines.sort();
    let mut h = <sha2::Sha256 as sha2::Digest>::new();
    for l in &lines {
        sha2::Digest::update(&mut h, l.as_bytes());
    }
    format!("sha256:{}", hex::encode(sha2::Digest::finalize(h)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const NOW: i64 = 1_795_595_400;

    fn verifier() -> Verifier {
        Verifier::new([("city".to_string(), SECRET.to_vec())])
    }

    #[test]
    fn a_signed_request_verifies_once() {
        let body = br#"{"records":[]}"#;
        let s = sign_request(SECRET, "POST", "/v1/records/batch", body, NOW);
        let mut v = verifier();
        assert_eq!(
            v.verify_request("city", "post", "/v1/records/batch", body, &s, NOW + 5),
            Ok(())
        );
        assert_eq!(
            v.verify_request("city", "POST", "/v1/records/batch", body, &s, NOW + 6),
            Err(SignatureError::ReplayedNonce)
        );
    }

    #[test]
    fn any_change_breaks_the_signature() {
        let s = sign_request(SECRET, "GET", "/v1/changes?after=c_1", b"", NOW);
        let mut v = verifier();
        for (method, path, body) in [
            ("POST", "/v1/changes?after=c_1", &b""[..]),
            ("GET", "/v1/changes?after=c_2", &b""[..]),
            ("GET", "/v1/changes?after=c_1", &b"x"[..]),
        ] {
            assert_eq!(
                v.verify_request("city", method, path, body, &s, NOW),
                Err(SignatureError::BadSignature)
            );
        }
        let mut forged = s.clone();
        forged.timestamp += 1;
        assert_eq!(
            v.verify_request("city", "GET", "/v1/changes?after=c_1", b"", &forged, NOW),
            Err(SignatureError::BadSignature)
        );
        let other = Verifier::new([("city".to_string(), b"another secret".to_vec())])
            .verify_request("city", "GET", "/v1/changes?after=c_1", b"", &s, NOW);
        assert_eq!(other, Err(SignatureError::BadSignature));
    }

    #[test]
    fn stale_timestamps_and_unknown_keys_are_refused() {
        let s = sign_request(SECRET, "GET", "/v1/changes", b"", NOW);
        let mut v = verifier();
        assert_eq!(
            v.verify_request(
                "city",
                "GET",
                "/v1/changes",
                b"",
                &s,
                NOW + MAX_SKEW_SECS + 1
            ),
            Err(SignatureError::StaleTimestamp)
        );
        assert_eq!(
            v.verify_request("town", "GET", "/v1/changes", b"", &s, NOW),
            Err(SignatureError::UnknownKey)
        );
    }

    #[test]
    fn answers_are_bound_to_their_request_and_body() {
        let body = br#"{"changes":[],"next_cursor":null,"has_more":false}"#;
        let a = sign_answer(SECRET, 200, "req-nonce-0123456789", body, NOW);
        assert_eq!(
            verify_answer(SECRET, 200, "req-nonce-0123456789", body, &a),
            Ok(())
        );
        // A cut-off body, another request's nonce, another status: refused.
        let cut = &body[..body.len() - 5];
        assert!(verify_answer(SECRET, 200, "req-nonce-0123456789", cut, &a).is_err());
        assert!(verify_answer(SECRET, 200, "other-nonce-012345678", body, &a).is_err());
        assert!(verify_answer(SECRET, 500, "req-nonce-0123456789", body, &a).is_err());
    }

    #[test]
    fn old_nonces_are_forgotten_but_stay_refused_as_stale() {
        let mut v = verifier();
        let s = sign_request(SECRET, "GET", "/v1/changes", b"", NOW);
        assert_eq!(
            v.verify_request("city", "GET", "/v1/changes", b"", &s, NOW),
            Ok(())
        );
        // Much later, a new request clears the old nonce from memory...
        let later = NOW + 3 * MAX_SKEW_SECS;
        let s2 = sign_request(SECRET, "GET", "/v1/changes", b"", later);
        assert_eq!(
            v.verify_request("city", "GET", "/v1/changes", b"", &s2, later),
            Ok(())
        );
        assert_eq!(v.seen.len(), 1);
        // ...and the old request is still refused, by its timestamp.
        assert_eq!(
            v.verify_request("city", "GET", "/v1/changes", b"", &s, later),
            Err(SignatureError::StaleTimestamp)
        );
    }
}
