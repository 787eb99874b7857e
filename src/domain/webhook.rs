//! Webhooks after the Standard Webhooks convention (standardwebhooks.com, the spec its
//! libraries implement; the test vector below is the one its documentation publishes): the
//! signing secret, the signature of one delivery, its verification, and the allow list of
//! targets (`CREDITGATE_WEBHOOK_ALLOW`). No I/O: the watch-list service sends what this signs.
//!
//! A delivery carries three headers: `webhook-id` (the event's stable id: the same on every
//! retry), `webhook-timestamp` (Unix seconds of this attempt) and `webhook-signature`
//! (`v1,` + base64 of HMAC-SHA256 over `id.timestamp.body`, keyed with the secret's bytes).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of a signing secret as it is shown to its owner (once).
pub const SECRET_PREFIX: &str = "whsec_";

/// How far a receiver lets a timestamp stray from its clock (the convention's 5 minutes).
pub const TOLERANCE_SECS: i64 = 300;

/// A secret's bytes from its text (`whsec_` + base64); 24 to 64 bytes.
pub fn secret_bytes(secret: &str) -> Result<Vec<u8>, String> {
    let b64 = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    let bytes = STANDARD
        .decode(b64)
        .map_err(|_| "a webhook secret is whsec_ and base64".to_string())?;
    if !(24..=64).contains(&bytes.len()) {
        return Err(format!(
            "a webhook secret has 24 to 64 bytes, this one {}",
            bytes.len()
        ));
    }
    Ok(bytes)
}

/// The text of a secret made of `bytes` (as shown to the owner).
pub fn secret_text(bytes: &[u8]) -> String {
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// `webhook-signature` for one attempt: `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`.
pub fn sign(secret: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    format!("v1,{}", STANDARD.encode(mac(secret, id, timestamp, body)))
}

fn mac(secret: &[u8], id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length: new_from_slice cannot fail for it.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    m.update(id.as_bytes());
    m.update(b".");
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m.finalize().into_bytes().to_vec()
}

/// Why a delivery does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the timestamp is more than {TOLERANCE_SECS} s from now")]
    Stale,
    #[error("no v1 signature matches")]
    Mismatch,
}

/// A receiver's check: some `v1,` signature of the space-separated list matches, and the
/// timestamp is within [`TOLERANCE_SECS`] of `now` (so that a captured delivery cannot be
/// replayed later). Signatures are compared in constant time.
pub fn verify(
    secret: &[u8],
    id: &str,
    timestamp: i64,
    signatures: &str,
    body: &[u8],
    now: i64,
) -> Result<(), VerifyError> {
    if (now - timestamp).abs() > TOLERANCE_SECS {
        return Err(VerifyError::Stale);
    }
    let want = mac(secret, id, timestamp, body);
    let matches = signatures
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|b64| STANDARD.decode(b64).ok())
        .any(|got| {
            got.len() == want.len()
                && got.iter().zip(&want).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
        });
    if matches {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// The targets webhooks may be sent to (`CREDITGATE_WEBHOOK_ALLOW`): comma-separated host
/// patterns, each `host`, `*.domain` (any host under it, not the domain itself) or either with
/// `:port` (`:*`: any port; without a port: the scheme's default only). Empty: nothing is
/// allowed, the default, so that no request goes to a host no one named.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    patterns: Vec<Pattern>,
    /// `http://` targets too (tests, a closed network); otherwise `https://` only.
    pub plain_http: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    /// Lower case; `*.example.gov.cn` kept with its `*.`.
    host: String,
    /// `None`: the scheme's default port; `Some(None)`: any; `Some(Some(p))`: that one.
    port: Option<Option<u16>>,
}

impl AllowList {
    /// Parses the setting; a bad pattern is refused with what is wrong, so that a typo does not
    /// silently allow nothing (or everything).
    pub fn parse(setting: &str, plain_http: bool) -> Result<AllowList, String> {
        let mut patterns = Vec::new();
        for raw in setting.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let lower = raw.to_ascii_lowercase();
            let (host, port) = match lower.rsplit_once(':') {
                Some((h, "*")) => (h.to_string(), Some(None)),
                Some((h, p)) => {
                    let p: u16 = p
                        .parse()
                        .map_err(|_| format!("'{raw}': the port is a number or *"))?;
                    (h.to_string(), Some(Some(p)))
                }
                None => (lower.clone(), None),
            };
            let name = host.strip_prefix("*.").unwrap_or(&host);
            let ok = !name.is_empty()
                && !name.contains('*')
                && name.split('.').all(|l| {
                    !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                });
            if !ok {
                return Err(format!(
                    "'{raw}' is not a host pattern: give hooks.example.com, *.example.gov.cn or 127.0.0.1:8443"
                ));
            }
            patterns.push(Pattern { host, port });
        }
        Ok(AllowList {
            patterns,
            plain_http,
        })
    }

    /// Whether `target` (an absolute URL) may be sent webhooks; `Err` says why not.
    pub fn admits(&self, target: &str) -> Result<(), String> {
        let url = url::Url::parse(target).map_err(|e| format!("'{target}' is not a URL: {e}"))?;
        match url.scheme() {
            "https" => {}
            "http" if self.plain_http => {}
            s => return Err(format!("webhook targets are https:// (not {s}://)")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("a webhook target carries no user name or password".into());
        }
        let host = url
            .host_str()
            .ok_or("a webhook target names a host")?
            .to_ascii_lowercase();
        let port = url.port();
        let fits = self.patterns.iter().any(|p| {
            let host_fits = match p.host.strip_prefix("*.") {
                Some(domain) => host.ends_with(&format!(".{domain}")),
                None => host == p.host,
            };
            let port_fits = match p.port {
                None => port.is_none(),
                Some(None) => true,
                Some(Some(want)) => url.port_or_known_default() == Some(want),
            };
            host_fits && port_fits
        });
        if fits {
            Ok(())
        } else if self.patterns.is_empty() {
            Err("no webhook target is allowed here (CREDITGATE_WEBHOOK_ALLOW is empty)".into())
        } else {
            Err(format!(
                "{host} is not in CREDITGATE_WEBHOOK_ALLOW; ask the administrator to add it"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the convention's documentation: secret, id, timestamp, body, signature.
    #[test]
    fn the_published_test_vector() {
        let secret = secret_bytes("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let sig = sign(&secret, id, 1614265330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert_eq!(
            verify(&secret, id, 1614265330, &sig, body, 1614265400),
            Ok(())
        );
        let many = format!("v1,bm9wZQ== {sig}");
        assert_eq!(
            verify(&secret, id, 1614265330, &many, body, 1614265330),
            Ok(())
        );
    }

    #[test]
    fn another_secret_a_changed_body_or_an_old_timestamp_fail() {
        let secret = [7u8; 32];
        let sig = sign(&secret, "evt_1", 1_800_000_000, b"{}");
        let err = |s: &[u8], body: &[u8], now| verify(s, "evt_1", 1_800_000_000, &sig, body, now);
        assert_eq!(
            err(&[8u8; 32], b"{}", 1_800_000_000),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            err(&secret, b"{ }", 1_800_000_000),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(err(&secret, b"{}", 1_800_000_301), Err(VerifyError::Stale));
        assert_eq!(
            verify(&secret, "evt_2", 1_800_000_000, &sig, b"{}", 1_800_000_000),
            Err(VerifyError::Mismatch)
        );
        assert!(secret_bytes("whsec_c2hvcnQ=").is_err());
        assert_eq!(
            secret_bytes(&secret_text(&secret)).unwrap(),
            secret.to_vec()
        );
    }

    #[test]
    fn the_allow_list() {
        assert!(AllowList::default()
            .admits("https://hooks.bank.example/cg")
            .is_err());
        let a = AllowList::parse("hooks.bank.example, *.zfcg.gov.cn, 127.0.0.1:*", false).unwrap();
        for ok in [
            "https://hooks.bank.example/cg",
            "https://HOOKS.bank.example:443/x",
            "https://a.zfcg.gov.cn/h",
            "https://b.a.zfcg.gov.cn/h",
            "https://127.0.0.1:9000/h",
        ] {
            assert_eq!(a.admits(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://hooks.bank.example/cg",
            "https://hooks.bank.example:8443/cg",
            "https://zfcg.gov.cn/h",
            "https://evilzfcg.gov.cn/h",
            "https://hooks.bank.example.evil.com/",
            "https://user:pw@hooks.bank.example/",
            "ftp://hooks.bank.example/",
            "https://127.0.0.2:9000/h",
            "not a url",
        ] {
            assert!(a.admits(bad).is_err(), "{bad}");
        }
        let plain = AllowList::parse("127.0.0.1:*", true).unwrap();
        assert_eq!(plain.admits("http://127.0.0.1:7777/hook"), Ok(()));
        for bad in ["*", "*.", "a..b", "host:port", "*.*.example"] {
            assert!(AllowList::parse(bad, false).is_err(), "{bad}");
        }
    }
}
