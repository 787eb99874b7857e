//! The seam to the provincial platform: one trait, with the HTTP adapter of
//! `docs/provincial-protocol.md` as the default, so a province that exchanges files or uses a
//! front-end database (GB/T 39443 §5.5, §5.6) gets an adapter of its own.

use std::time::Duration;

use async_trait::async_trait;

use super::protocol::{
    self, ChangePage, PushAnswer, PushBatch, PushResult, RepairPushBatch, Signed,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// The platform could not be reached or the connection broke.
    #[error("transport: {0}")]
    Transport(String),
    /// The platform answered with a server error.
    #[error("platform error {0}")]
    Server(u16),
    /// An answer whose signature or body failed the check (cut off, altered, replayed).
    #[error("answer refused: {0}")]
    BadAnswer(String),
    /// The platform refused the request (its status and problem code), in an answer it signed.
    #[error("refused {status}: {code}")]
    Refused { status: u16, code: String },
    /// A refusal that fails the signature check: discarded and asked again, as any answer that
    /// fails it (docs/provincial-protocol.md, "Signing"). It persists when the city's secret is
    /// wrong (the platform signs with its own), so its words are kept for the admin view.
    #[error("refused {status}: {code}, in an answer that fails the signature check (discarded; a wrong CREDITGATE_PROVINCIAL_SECRET, or something in the way)")]
    UnverifiedRefusal { status: u16, code: String },
    /// The platform's TLS certificate does not chain to a trusted CA, or does not name it: a
    /// setting to fix (CREDITGATE_PROVINCIAL_CA), not a fault that passes.
    #[error("the platform's certificate is not trusted (set CREDITGATE_PROVINCIAL_CA to its CA's PEM file): {0}")]
    Untrusted(String),
}

impl SyncError {
    /// Worth trying again after a pause: transport faults, server errors, bad answers, and a
    /// refused timestamp (clock skew passes) — not a refused key or signature.
    pub fn retryable(&self) -> bool {
        match self {
            SyncError::Transport(_)
            | SyncError::Server(_)
            | SyncError::BadAnswer(_)
            | SyncError::UnverifiedRefusal { .. } => true,
            SyncError::Refused { code, .. } => {
                code == "stale_timestamp" || code == "replayed_nonce"
            }
            SyncError::Untrusted(_) => false,
        }
    }
}

#[async_trait]
pub trait Platform: Send + Sync {
    /// Changes after `after` (absent: from the start), at most `limit`.
    async fn pull(&self, after: Option<&str>, limit: usize) -> Result<ChangePage, SyncError>;
    /// Pushes records; per-item results in order. Idempotent by (source, id, version).
    async fn push(&self, batch: &PushBatch) -> Result<Vec<PushResult>, SyncError>;
    /// Pushes approved repairs; per-item results in order. Idempotent by repair id.
    async fn push_repairs(&self, batch: &RepairPushBatch) -> Result<Vec<PushResult>, SyncError>;
}

/// The HTTP + JSON adapter: signs every request, checks every answer.
pub struct HttpPlatform {
    base: String,
    key_id: String,
    secret: Vec<u8>,
    client: reqwest::Client,
}

impl HttpPlatform {
    /// `ca_pem`: CA certificates (PEM) the platform's certificate may chain to, besides the
    /// Mozilla roots compiled in.
    pub fn new(
        base: &str,
        key_id: &str,
        secret: Vec<u8>,
        timeout: Duration,
        ca_pem: Option<&[u8]>,
    ) -> Result<Self, String> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            // A redirect is not followed: a 307 would send the push (ID numbers in it) and the
            // signed headers again to wherever it points, another host or plain http. It is
            // answered as the unsigned or unexpected answer it is.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout);
        if let Some(pem) = ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| format!("CA certificates: {e}"))?;
            if certs.is_empty() {
                return Err("CA certificates: no certificate in the PEM file".into());
            }
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let client = builder.build().map_err(|e| format!("HTTP client: {e}"))?;
        Ok(HttpPlatform {
            base: base.trim_end_matches('/').to_string(),
            key_id: key_id.to_string(),
            secret,
            client,
        })
    }

    async fn call(&self, method: &str, path: &str, body: Vec<u8>) -> Result<Vec<u8>, SyncError> {
        let now = chrono::Utc::now().timestamp();
        let s = protocol::sign_request(&self.secret, method, path, &body, now);
        let url = format!("{}{path}", self.base);
        let req = if method == "GET" {
            self.client.get(url)
        } else {
            self.client
                .post(url)
                .header("Content-Type", "application/json")
                .body(body)
        };
        let resp = req
            .header("X-Cg-Key-Id", &self.key_id)
            .header("X-Cg-Timestamp", s.timestamp.to_string())
            .header("X-Cg-Nonce", &s.nonce)
            .header("X-Cg-Signature", &s.signature)
            .send()
            .await
            .map_err(|e| {
                if certificate_refused(&e) {
                    SyncError::Untrusted(chain(e))
                } else {
                    SyncError::Transport(chain(e))
                }
            })?;
        let status = resp.status().as_u16();
        let h = |n: &str| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let answer = match (
            h("X-Cg-Timestamp").and_then(|t| t.parse::<i64>().ok()),
            h("X-Cg-Nonce"),
            h("X-Cg-Signature"),
        ) {
            (Some(timestamp), Some(nonce), Some(signature)) => Some(Signed {
                timestamp,
                nonce,
                signature,
            }),
            _ => None,
        };
        let bytes = read_bounded(resp).await?;
        if status >= 500 {
            return Err(SyncError::Server(status));
        }
        // Every answer is signed, a refusal too (docs/provincial-protocol.md, "Signing"): an
        // answer that fails the check, whatever its status, is discarded and asked for again.
        // Only a refusal the platform signed stops the round (a key or a secret to fix).
        // The refusal's code as the platform names one (`bad_signature`); anything else in its
        // place (an unverified body can hold any text) is not repeated into logs and views.
        let code = || {
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v["code"].as_str().map(str::to_string))
                .filter(|c| {
                    (1..=64).contains(&c.len())
                        && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                })
                .unwrap_or_else(|| "unauthorized".into())
        };
        let verified = match &answer {
            None => Err(format!("status {status} without a signature")),
            Some(a) => protocol::verify_answer(&self.secret, status, &s.nonce, &bytes, a)
                .map_err(|e| format!("status {status}: {e}")),
        };
        match verified {
            Err(_) if status == 401 => {
                return Err(SyncError::UnverifiedRefusal {
                    status,
                    code: code(),
                })
            }
            Err(e) => return Err(SyncError::BadAnswer(e)),
            Ok(()) if status == 401 => {
                return Err(SyncError::Refused {
                    status,
                    code: code(),
                })
            }
            Ok(()) => {}
        }
        if !(200..300).contains(&status) {
            return Err(SyncError::Refused {
                status,
                code: format!("status {status}"),
            });
        }
        Ok(bytes)
    }
}

/// The most an answer may hold: a page of 1000 records is a few MB. Read up to this and no
/// further, before the signature is checked, so a platform (or whoever stands in its place)
/// cannot make the city buffer without end.
pub const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

async fn read_bounded(mut resp: reqwest::Response) -> Result<Vec<u8>, SyncError> {
    let too_big = || {
        SyncError::BadAnswer(format!(
            "the answer is over {MAX_ANSWER_BYTES} bytes; refused unread"
        ))
    };
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
    {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| SyncError::Transport(format!("body: {}", chain(e))))?
    {
        if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(too_big());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Whether the TLS handshake failed on the platform's certificate: rustls said so somewhere in
/// the chain of causes (an `io::Error` carries it inside rather than as its source; behind the
/// connector's boxing, only its words are left: "invalid peer certificate").
fn certificate_refused(e: &reqwest::Error) -> bool {
    let is_cert = |err: &(dyn std::error::Error + 'static)| {
        let rustls_err = err.downcast_ref::<rustls::Error>().or_else(|| {
            err.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        matches!(
            rustls_err,
            Some(rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)
        )
    };
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(c) = cause {
        if is_cert(c) || c.to_string().contains("invalid peer certificate") {
            return true;
        }
        cause = c.source();
    }
    false
}

/// An error with its causes ("error sending request: … : connection reset by peer"), without
/// the URL (the operator knows it; it would repeat in every message).
fn chain(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        let t = c.to_string();
        if !text.ends_with(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        cause = c.source();
    }
    text
}

#[async_trait]
impl Platform for HttpPlatform {
    async fn pull(&self, after: Option<&str>, limit: usize) -> Result<ChangePage, SyncError> {
        let path = match after {
            Some(c) => format!("/v1/changes?after={c}&limit={limit}"),
            None => format!("/v1/changes?limit={limit}"),
        };
        let bytes = self.call("GET", &path, Vec::new()).await?;
        serde_json::from_slice(&bytes).map_err(|e| SyncError::BadAnswer(format!("page: {e}")))
    }

    async fn push(&self, batch: &PushBatch) -> Result<Vec<PushResult>, SyncError> {
        let body = serde_json::to_vec(batch).map_err(|e| SyncError::Transport(e.to_string()))?;
        let bytes = self.call("POST", "/v1/records/batch", body).await?;
        let a: PushAnswer = serde_json::from_slice(&bytes)
            .map_err(|e| SyncError::BadAnswer(format!("push answer: {e}")))?;
        Ok(a.results)
    }

    async fn push_repairs(&self, batch: &RepairPushBatch) -> Result<Vec<PushResult>, SyncError> {
        let body = serde_json::to_vec(batch).map_err(|e| SyncError::Transport(e.to_string()))?;
        let bytes = self.call("POST", "/v1/repairs/batch", body).await?;
        let a: PushAnswer = serde_json::from_slice(&bytes)
            .map_err(|e| SyncError::BadAnswer(format!("repair push answer: {e}")))?;
        Ok(a.results)
    }
}

/// Exponential backoff with full jitter: attempt `n` (from 0) waits a random time up to
/// `base · 2ⁿ`, capped at `max`.
pub fn backoff(attempt: u32, base: Duration, max: Duration) -> Duration {
    let ceiling = base
        .saturating_mul(2u32.saturating_pow(attempt.min(20)))
        .min(max);
    let millis = ceiling.as_millis().max(1) as u64;
    Duration::from_millis(rand::random::<u64>() % (millis + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(5);
        for attempt in 0..12 {
            let ceiling = (100u64 << attempt).min(5000);
            for _ in 0..50 {
                assert!(backoff(attempt, base, max).as_millis() as u64 <= ceiling);
            }
        }
        // Jitter: not always the same wait.
        let waits: std::collections::BTreeSet<u128> =
            (0..50).map(|_| backoff(6, base, max).as_millis()).collect();
        assert!(waits.len() > 5);
    }

    #[test]
    fn which_errors_are_retried() {
        assert!(SyncError::Transport("reset".into()).retryable());
        assert!(SyncError::Server(503).retryable());
        assert!(SyncError::BadAnswer("cut off".into()).retryable());
        assert!(SyncError::Refused {
            status: 401,
            code: "stale_timestamp".into()
        }
        .retryable());
        assert!(!SyncError::Refused {
            status: 401,
            code: "bad_signature".into()
        }
        .retryable());
        assert!(!SyncError::Refused {
            status: 401,
            code: "unknown_key".into()
        }
        .retryable());
    }
}
