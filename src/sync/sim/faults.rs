//! The faults the simulator injects, and the plan of which and how often.

use serde::{Deserialize, Serialize};

/// A fault the simulator can inject into an answer.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// A pause of `latency_ms` before an ordinary answer.
    Latency,
    /// 503 before doing anything.
    ServerError,
    /// No answer for `hang_ms` (longer than the client waits); a push is taken first.
    Timeout,
    /// The connection breaks before the answer's body (a push is taken first).
    Reset,
    /// A page that repeats changes already sent (and each of its own twice).
    Duplicate,
    /// A page whose changes are shuffled, or a page from another place in the feed.
    OutOfOrder,
    /// The body cut short: fewer bytes than announced, or fewer than were signed.
    CutOff,
    /// An answer whose signature does not match.
    BadSignature,
}

impl Fault {
    pub const ALL: [Fault; 8] = [
        Fault::Latency,
        Fault::ServerError,
        Fault::Timeout,
        Fault::Reset,
        Fault::Duplicate,
        Fault::OutOfOrder,
        Fault::CutOff,
        Fault::BadSignature,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::Latency => "latency",
            Fault::ServerError => "server_error",
            Fault::Timeout => "timeout",
            Fault::Reset => "reset",
            Fault::Duplicate => "duplicate",
            Fault::OutOfOrder => "out_of_order",
            Fault::CutOff => "cut_off",
            Fault::BadSignature => "bad_signature",
        }
    }

    pub fn parse(s: &str) -> Option<Fault> {
        Fault::ALL
            .into_iter()
            .find(|f| f.name() == s.trim().replace('-', "_"))
    }

    /// Whether the fault means anything for a push (pages only: duplicate, out of order).
    pub(super) fn applies_to_push(self) -> bool {
        !matches!(self, Fault::Duplicate | Fault::OutOfOrder)
    }
}

/// Which faults, how often.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultPlan {
    /// The share of requests that get a fault, from 0 to 1.
    pub rate: f64,
    /// The faults to draw from (evenly).
    #[serde(default = "all_faults")]
    pub kinds: Vec<Fault>,
    #[serde(default = "default_latency_ms")]
    pub latency_ms: u64,
    #[serde(default = "default_hang_ms")]
    pub hang_ms: u64,
}

fn all_faults() -> Vec<Fault> {
    Fault::ALL.to_vec()
}
fn default_latency_ms() -> u64 {
    200
}
fn default_hang_ms() -> u64 {
    40_000
}

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan {
            rate: 0.0,
            kinds: all_faults(),
            latency_ms: default_latency_ms(),
            hang_ms: default_hang_ms(),
        }
    }
}

impl FaultPlan {
    /// Parses `--faults` (comma-separated names, or `all`).
    pub fn parse_kinds(s: &str) -> Result<Vec<Fault>, String> {
        if s.trim() == "all" {
            return Ok(all_faults());
        }
        s.split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| {
                Fault::parse(p).ok_or_else(|| {
                    format!(
                        "unknown fault '{}': use all, or some of {}",
                        p.trim(),
                        Fault::ALL.map(Fault::name).join(", ")
                    )
                })
            })
            .collect()
    }

    pub fn check(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.rate) {
            return Err(format!("rate must be between 0 and 1, found {}", self.rate));
        }
        if self.rate > 0.0 && self.kinds.is_empty() {
            return Err("kinds: name at least one fault".into());
        }
        Ok(())
    }
}
