//! Who a request comes from, as far as the service may trust it: the TCP peer, or (when the
//! peer is one of `CREDITGATE_TRUSTED_PROXIES`) the address that proxy says it forwarded for.
//! Per-address limits (failed keys, console sign-ins, public verification) count by it, and
//! an IPv6 client by its /64, since one host holds a whole /64. `X-Forwarded-Proto` is believed
//! from a trusted proxy only.

use std::net::IpAddr;

use actix_web::http::header::HeaderMap;

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpAddr>);

impl TrustedProxies {
    /// Comma-separated IP addresses (`127.0.0.1, ::1`); a bad one is refused with its text.
    pub fn parse(setting: &str) -> Result<Self, String> {
        setting
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpAddr>()
                    .map_err(|_| format!("CREDITGATE_TRUSTED_PROXIES: '{s}' is not an IP address"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip)
    }

    /// The client's address: the peer's, or when the peer is trusted, the right-most address
    /// of `X-Forwarded-For` that is not a trusted proxy (the ones left of it are the client's
    /// own say). Empty when there is no peer (a test request).
    pub fn client(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> String {
        let Some(peer) = peer else {
            return String::new();
        };
        let mut ip = peer;
        if self.trusts(peer) {
            let forwarded = headers
                .get_all("x-forwarded-for")
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .collect::<Vec<_>>();
            for hop in forwarded.iter().rev() {
                match hop.parse::<IpAddr>() {
                    Ok(a) if self.trusts(a) => continue,
                    Ok(a) => {
                        ip = a;
                        break;
                    }
                    // A hop that is no address: stop believing the header there.
                    Err(_) => break,
                }
            }
        }
        bucket(ip)
    }

    /// Whether the request reached the service over HTTPS: directly (`direct`), or through a
    /// trusted proxy that says so.
    pub fn https(&self, peer: Option<IpAddr>, headers: &HeaderMap, direct: bool) -> bool {
        direct
            || peer.is_some_and(|p| self.trusts(p))
                && headers
                    .get("x-forwarded-proto")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
    }
}

/// An address as limits count it: IPv4 as it is, IPv6 by its /64.
fn bucket(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn forwarded_for_is_believed_from_trusted_proxies_only() {
        let none = TrustedProxies::default();
        let proxy = TrustedProxies::parse("10.0.0.1, 10.0.0.2").unwrap();
        let fwd = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.0.0.2")]);
        let peer = Some("10.0.0.1".parse().unwrap());
        assert_eq!(none.client(peer, &fwd), "10.0.0.1");
        assert_eq!(proxy.client(peer, &fwd), "203.0.113.7");
        let stranger = Some("198.51.100.9".parse().unwrap());
        assert_eq!(proxy.client(stranger, &fwd), "198.51.100.9");
        let junk = headers(&[("x-forwarded-for", "203.0.113.7, nonsense")]);
        assert_eq!(proxy.client(peer, &junk), "10.0.0.1");
        let v6 = Some("2001:db8:1:2:aaaa::1".parse().unwrap());
        assert_eq!(none.client(v6, &fwd), "2001:db8:1:2::/64");
        let https = headers(&[("x-forwarded-proto", "https")]);
        assert!(proxy.https(peer, &https, false));
        assert!(!proxy.https(stranger, &https, false));
        assert!(!none.https(peer, &https, false));
        assert!(none.https(peer, &HeaderMap::new(), true));
        assert!(TrustedProxies::parse("10.0.0.1, proxy").is_err());
    }
}
