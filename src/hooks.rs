//! The HTTP adapter of watch-list deliveries: one signed POST of an event to its list's target.
//! The worker that decides what to send and when is a use case (`service::watchlists::delivery`).
//!
//! No redirect is followed (a 307 would send the signed event to wherever it points, past the
//! allow list); an answer's body is not read; connect and whole-request timeouts bound how long a
//! receiver that hangs can hold the worker.

use std::time::Duration;

/// The client of every delivery.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
}

impl Sender {
    pub fn new(timeout: Duration) -> Result<Sender, String> {
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("creditgate-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("webhook client: {e}"))?;
        Ok(Sender { client })
    }

    /// POSTs `body` (JSON) with `headers`; the answer's status, or what went wrong in words.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: String,
    ) -> Result<u16, String> {
        let mut req = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        match req.body(body).send().await {
            Ok(r) => Ok(r.status().as_u16()),
            Err(e) if e.is_timeout() => Err("timed out".into()),
            Err(e) if e.is_connect() => Err("connection failed".into()),
            Err(e) => Err(format!(
                "request failed: {}",
                std::error::Error::source(&e)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| e.to_string())
            )),
        }
    }
}
