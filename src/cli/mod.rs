//! The command line: its arguments (clap) here, one file per command family.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use creditgate::app::{build_ctx, Application};
use creditgate::config::Config;
use creditgate::domain::Role;
use creditgate::service::audit::Actor;
use creditgate::service::{demo, Clock};
use creditgate::store;

mod audit;
mod backup;
mod gen;
mod keys;
mod rules;
mod serve;
mod sync;
mod watch;

pub(crate) use audit::*;
pub(crate) use backup::*;
pub(crate) use gen::*;
pub(crate) use keys::*;
pub(crate) use rules::*;
pub(crate) use serve::*;
pub(crate) use sync::*;
pub(crate) use watch::*;

#[derive(Parser)]
#[command(
    name = "creditgate",
    version,
    about = "City credit-information query and joint-sanction service"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Run the service (CREDITGATE_BIND, default 127.0.0.1:8080).
    Serve {
        /// Load sample organisations, subjects and records, and print a key for each role.
        #[arg(long)]
        demo: bool,
        /// How many generated subjects the demo loads.
        #[arg(long, default_value_t = 300)]
        demo_subjects: u64,
    },
    /// Apply the database migrations and exit.
    Migrate,
    /// Copy the whole database into DIR with a manifest (counts, the data key's id, a signed
    /// checkpoint of the access log); the data key is never in it.
    Backup { dir: std::path::PathBuf },
    /// Restore a backup from DIR into the empty database CREDITGATE_DATABASE_URL, under the
    /// data key it was taken under; then verify the access log and compare the counts.
    Restore { dir: std::path::PathBuf },
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Console accounts for people (officers, admins, auditors).
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Bulk import of CSV or XLSX files in the 双公示 layout.
    Import(creditgate::import::ImportArgs),
    /// Check the rule files, or run their fixtures.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// The access log's hash chain.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The provincial platform simulator (docs/provincial-protocol.md), with generated data.
    ProvincialSim {
        /// Address to listen on, such as 127.0.0.1:9090.
        #[arg(long, default_value = "127.0.0.1:9090")]
        bind: String,
        /// The same seed and size give the same changes.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// How many changes to offer.
        #[arg(long, default_value_t = 10_000)]
        size: u64,
        /// The city's key id.
        #[arg(long, default_value = "city")]
        key_id: String,
        /// The shared secret, hex (or CREDITGATE_PROVINCIAL_SECRET).
        #[arg(long, env = "CREDITGATE_PROVINCIAL_SECRET", hide_env_values = true)]
        secret: String,
        /// The share of requests answered with a fault, 0 to 1 (changed later by
        /// `PUT /control/faults`).
        #[arg(long, default_value_t = 0.0)]
        fault_rate: f64,
        /// Which faults: all, or some of latency, server_error, timeout, reset, duplicate,
        /// out_of_order, cut_off, bad_signature (comma-separated).
        #[arg(long, default_value = "all")]
        faults: String,
        /// The pause of the latency fault, in milliseconds.
        #[arg(long, default_value_t = 200)]
        latency_ms: u64,
        /// How long the timeout fault keeps a request waiting, in milliseconds.
        #[arg(long, default_value_t = 40_000)]
        hang_ms: u64,
        /// Serve HTTPS with this certificate chain (PEM), with --tls-key.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<std::path::PathBuf>,
        /// The private key (PEM) of --tls-cert.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<std::path::PathBuf>,
    },
    /// Exchange with the provincial platform (CREDITGATE_PROVINCIAL_URL and
    /// CREDITGATE_PROVINCIAL_SECRET): pull its changes, push the city's records.
    Sync {
        /// One round (every page there is, then every record to push), then exit; otherwise a
        /// round every CREDITGATE_SYNC_INTERVAL seconds until stopped.
        #[arg(long)]
        once: bool,
        /// Changes asked for per page.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u16).range(1..=1000))]
        page_size: u16,
        /// Print the sync's state (as GET /api/v1/admin/sync) with the count and digest of the
        /// provincial records (compare with the simulator's `GET /stats`), and exit.
        #[arg(long, conflicts_with = "once")]
        status: bool,
    },
    /// Watch lists: their deliveries, and sending events again.
    Watch {
        #[command(subcommand)]
        command: WatchCommand,
    },
    /// Bulk checks: run a roster with a progress bar, a job's status and result.
    Bulk {
        #[command(subcommand)]
        command: BulkCommand,
    },
    /// Print the OpenAPI document the server serves (or the simulator's, with --provincial-sim).
    Openapi {
        /// The provincial simulator's document instead.
        #[arg(long)]
        provincial_sim: bool,
    },
    /// Generate synthetic subjects and records (deterministic by seed) for load tests.
    Gen {
        /// Number of subjects.
        #[arg(long)]
        subjects: u64,
        /// Records per subject.
        #[arg(long, default_value_t = 5)]
        records_per_subject: u64,
        /// Number the subjects from here (to add to a database that already has generated ones).
        #[arg(long, default_value_t = 0)]
        offset: u64,
        /// The same seed, size and offset give the same subjects and records.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

#[derive(Subcommand)]
pub(crate) enum KeysCommand {
    /// Create a key; prints the key alone on standard output (shown once).
    Create {
        /// Organisation code (made if needed); for a provider, its source code.
        #[arg(long)]
        org: String,
        /// admin, provider, officer, system, partner or auditor.
        #[arg(long)]
        role: String,
        /// Organisation name, when the organisation is new.
        #[arg(long)]
        name: Option<String>,
        /// A note on what the key is for.
        #[arg(long)]
        label: Option<String>,
    },
    /// List keys (id, organisation, role, label, created, revoked); never their secrets.
    List {
        /// Only this organisation's keys.
        #[arg(long)]
        org: Option<String>,
    },
    /// Revoke a key by id: refused from the next request on.
    Revoke {
        /// The key's id, as `creditgate keys list` shows it (never the secret itself).
        id: String,
    },
    /// Replace a key by a new one (same organisation, role, label); prints the new key alone.
    Rotate {
        /// The key's id, as `creditgate keys list` shows it (never the secret itself).
        id: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum UsersCommand {
    /// Create a console account; prints its one-time password alone on standard output. The
    /// first sign-in must replace it.
    Create {
        /// The person's organisation (made if needed).
        #[arg(long)]
        org: String,
        /// The sign-in name: 3 to 64 lower-case letters, digits, '.', '_' or '-'.
        #[arg(long)]
        login: String,
        /// officer, admin or auditor.
        #[arg(long)]
        role: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// Check the whole chain: names every edited, deleted, inserted or reordered entry; exit 1
    /// on any break. Unsealed entries are counted (a running server seals them within a second).
    Verify {
        /// Also check the chain against the checkpoints in DIR (`checkpoint-*.json`): finds a
        /// tail cut off and a chain rewritten before a checkpoint.
        #[arg(long, value_name = "DIR")]
        checkpoints: Option<std::path::PathBuf>,
        /// Also check the archives in DIR (`audit archive`): each whole and signed, together
        /// one chain from seq 1 that ends where the database's begins.
        #[arg(long, value_name = "DIR")]
        archive: Option<std::path::PathBuf>,
    },
    /// Export the sealed entries written before a cut-off to DIR, as JSON lines with a signed
    /// manifest that continues the archive before it; with --prune, also remove them from the
    /// database (kept at least six months: MLPS 2.0 level 3).
    Archive {
        /// The cut-off: a date (its 00:00 in China Standard Time, UTC+8) or an RFC 3339 time.
        #[arg(long, value_name = "DATE")]
        before: String,
        /// Remove the archived entries from the database once the archive reads back whole
        /// (only for a cut-off six months or more ago).
        #[arg(long)]
        prune: bool,
        dir: std::path::PathBuf,
    },
    /// Seal the unsealed entries into the chain now (a running server does this by itself).
    Seal,
    /// Write a checkpoint of the chain's head to DIR now (default CREDITGATE_AUDIT_CHECKPOINTS;
    /// a running server writes one every CREDITGATE_AUDIT_CHECKPOINT_SECONDS).
    Checkpoint { dir: Option<std::path::PathBuf> },
}

#[derive(Subcommand)]
pub(crate) enum RulesCommand {
    /// Validate the rule files; prints every problem with file and line; non-zero exit on any.
    Check {
        /// The rules directory (default: CREDITGATE_RULES_DIR, or `rules`).
        dir: Option<std::path::PathBuf>,
    },
    /// Run the fixtures under DIR/tests; non-zero exit on a failed case or a measure that no
    /// case triggers or guards with a near miss.
    Test {
        /// The rules directory, whose `tests/` holds the fixtures (default:
        /// CREDITGATE_RULES_DIR, or `rules`).
        dir: Option<std::path::PathBuf>,
    },
    /// Whose verdicts a candidate rule set would change: every subject held is evaluated under
    /// the set in use and the candidate (never made active), with a progress bar; prints the
    /// counts per scenario and the rule-set diff (JSON), and writes the subjects that change.
    Impact {
        /// The candidate rules directory (checked by the same loader as `rules check`).
        dir: std::path::PathBuf,
        /// Only this scenario (default: every scenario both sets have).
        #[arg(long)]
        scenario: Option<String>,
        /// Where the subjects whose verdict changes go: `.csv`, or `.json` (the whole report
        /// with the subjects). Default: none, the counts only.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}
