//! The `creditgate` command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use creditgate::app::{build_ctx, Application};
use creditgate::config::Config;
use creditgate::domain::Role;
use creditgate::service::{demo, keys, Clock};
use creditgate::store;

#[derive(Parser)]
#[command(
    name = "creditgate",
    version,
    about = "City credit-information query and joint-sanction service"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
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
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
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
    Revoke { id: String },
    /// Replace a key by a new one (same organisation, role, label); prints the new key alone.
    Rotate { id: String },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the whole chain: names every edited, deleted, inserted or reordered entry; exit 1
    /// on any break. Unsealed entries are counted (a running server seals them within a second).
    Verify,
    /// Seal the unsealed entries into the chain now (a running server does this by itself).
    Seal,
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Validate the rule files; prints every problem with file and line; non-zero exit on any.
    Check {
        /// The rules directory (default: CREDITGATE_RULES_DIR, or `rules`).
        dir: Option<std::path::PathBuf>,
    },
    /// Run the fixtures under DIR/tests; non-zero exit on a failed case or a measure that no
    /// case triggers or guards with a near miss.
    Test { dir: Option<std::path::PathBuf> },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    creditgate::logging::init();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Serve {
            demo,
            demo_subjects,
        } => serve(config, demo, demo_subjects),
        Command::Migrate => migrate(&config),
        Command::Keys {
            command:
                KeysCommand::Create {
                    org,
                    role,
                    name,
                    label,
                },
        } => create_key(&config, &org, &role, name.as_deref(), label.as_deref()),
        Command::Keys {
            command: KeysCommand::List { org },
        } => list_keys(&config, org.as_deref()),
        Command::Keys {
            command: KeysCommand::Revoke { id },
        } => revoke_key(&config, &id),
        Command::Keys {
            command: KeysCommand::Rotate { id },
        } => rotate_key(&config, &id),
        Command::Import(args) => creditgate::import::run(&config, args),
        Command::Gen {
            subjects,
            records_per_subject,
            offset,
            seed,
        } => gen(&config, subjects, records_per_subject, offset, seed),
        Command::Rules { command } => {
            let (dir, test) = match command {
                RulesCommand::Check { dir } => (dir, false),
                RulesCommand::Test { dir } => (dir, true),
            };
            let dir = dir.unwrap_or_else(|| config.rules_dir.clone());
            return rules_command(&dir, test);
        }
        Command::Audit { command } => {
            return match audit_command(&config, command) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Command::ProvincialSim {
            bind,
            seed,
            size,
            key_id,
            secret,
            fault_rate,
            faults,
            latency_ms,
            hang_ms,
            tls_cert,
            tls_key,
        } => creditgate::provincial_sim::FaultPlan::parse_kinds(&faults)
            .map_err(anyhow::Error::msg)
            .and_then(|kinds| {
                let plan = creditgate::provincial_sim::FaultPlan {
                    rate: fault_rate,
                    kinds,
                    latency_ms,
                    hang_ms,
                };
                plan.check()
                    .map_err(|e| anyhow::anyhow!("--fault-rate: {e}"))?;
                let tls = tls_cert.zip(tls_key);
                provincial_sim(&bind, seed, size, key_id, &secret, plan, tls)
            }),
        Command::Sync {
            once,
            page_size,
            status,
        } => sync_command(&config, once, page_size as usize, status),
        Command::Openapi { provincial_sim } => {
            if provincial_sim {
                print!("{}", creditgate::provincial_sim::openapi_json());
            } else {
                print!("{}", creditgate::api::openapi_json());
            }
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `rules check` and `rules test`: exit 0 when all is well, 1 otherwise.
fn rules_command(dir: &std::path::Path, test: bool) -> ExitCode {
    use creditgate::rules::{fixtures, load};
    let set = match load::load_dir(dir) {
        Ok(set) => set,
        Err(errors) => {
            for e in &errors {
                println!("error: {e}");
            }
            println!(
                "{}: {} problems; the rule set was not loaded",
                dir.display(),
                errors.len()
            );
            return ExitCode::FAILURE;
        }
    };
    if !test {
        println!(
            "{}: rule set {} ({}) is valid: {} scenarios ({}), {} measures, {} lists",
            dir.display(),
            set.version,
            set.digest,
            set.scenarios.len(),
            set.scenario_names().join(", "),
            set.measures().len(),
            set.catalog.len()
        );
        return ExitCode::SUCCESS;
    }
    let sources = match fixtures::read_dir(dir) {
        Ok(s) => s,
        Err(errors) => {
            for e in &errors {
                println!("error: {e}");
            }
            return ExitCode::FAILURE;
        }
    };
    let report = fixtures::run(&set, &sources);
    for r in &report.results {
        match &r.failure {
            None => println!("ok    {} — {}", r.file, r.name),
            Some(why) => println!("FAIL  {} — {}: {why}", r.file, r.name),
        }
    }
    for id in &report.untriggered {
        println!("uncovered: no case triggers {id}");
    }
    for id in &report.unguarded {
        println!("uncovered: no near miss guards {id}");
    }
    println!(
        "{} cases, {} failed; {} measures, {} without a triggering case, {} without a near miss",
        report.results.len(),
        report.failed(),
        set.measures().len(),
        report.untriggered.len(),
        report.unguarded.len()
    );
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn provincial_sim(
    bind: &str,
    seed: u64,
    size: u64,
    key_id: String,
    secret: &str,
    faults: creditgate::provincial_sim::FaultPlan,
    tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
) -> anyhow::Result<()> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let secret = creditgate::app::parse_shared_secret(secret)
        .map_err(|e| anyhow::anyhow!("--secret: {e}"))?;
    let fault_note = if faults.rate > 0.0 {
        format!(
            "; faults on {:.0}% of requests: {}",
            faults.rate * 100.0,
            faults
                .kinds
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        String::new()
    };
    let listener = std::net::TcpListener::bind(bind)
        .map_err(|e| anyhow::anyhow!("cannot listen on {bind}: {e}"))?;
    let port = listener.local_addr()?.port();
    let rt = runtime()?;
    rt.block_on(async move {
        let server = creditgate::provincial_sim::serve(
            creditgate::provincial_sim::SimConfig {
                seed,
                size,
                key_id,
                secret,
                faults,
                extra: Vec::new(),
                tls,
            },
            listener,
        )?;
        let host = bind.rsplit_once(':').map(|(h, _)| h).unwrap_or("127.0.0.1");
        println!(
            "provincial-sim listening on {scheme}://{host}:{port} ({size} changes, seed {seed}{fault_note})"
        );
        server.await?;
        Ok(())
    })
}

/// What `sync` shows while it runs: a bar over the changes (the platform says how many remain).
struct SyncBar {
    bar: indicatif::ProgressBar,
}

impl creditgate::service::sync::Progress for SyncBar {
    fn page(&mut self, r: &creditgate::service::sync::RoundReport) {
        let done = (r.upserts + r.removals + r.skipped + r.rejected).max(0) as u64;
        self.bar
            .set_length(done + r.remaining.unwrap_or(0).max(0) as u64);
        self.bar.set_position(done);
        self.bar.set_message(format!(
            "{} upserts, {} removals, {} skipped, {} rejected",
            r.upserts, r.removals, r.skipped, r.rejected
        ));
    }
    fn retry(
        &mut self,
        what: &str,
        error: &creditgate::sync::platform::SyncError,
        wait: std::time::Duration,
    ) {
        self.bar.set_message(format!(
            "{what} failed ({error}); again in {} ms",
            wait.as_millis()
        ));
    }
    fn pushed(&mut self, r: &creditgate::service::sync::RoundReport) {
        self.bar.set_message(format!(
            "pushed {} ({} already there, {} refused)",
            r.pushed, r.push_duplicates, r.push_rejected
        ));
    }
}

fn sync_command(config: &Config, once: bool, page_size: usize, status: bool) -> anyhow::Result<()> {
    use creditgate::service::sync::{self, RoundError, RunnerLock, Settings};
    let rt = runtime()?;
    rt.block_on(async move {
        let cfg = config.clone();
        let ctx = tokio::task::spawn_blocking(move || build_ctx(&cfg, Clock::system())).await??;
        if status {
            let v = sync::status(&ctx, &creditgate::app::sync_setup(config)).await?;
            let (records, digest, versions) = sync::provincial_digest(&ctx).await?;
            let mut out = serde_json::to_value(&v)?;
            // What `GET /stats` of the simulator calls the expected state.
            out["provincial_records"] = serde_json::json!(records);
            out["provincial_digest"] = serde_json::json!(digest);
            out["provincial_history_rows"] = serde_json::json!(versions);
            println!("{}", serde_json::to_string_pretty(&out)?);
            return Ok(());
        }
        let platform = creditgate::app::platform(config)?.ok_or_else(|| {
            anyhow::anyhow!(
                "CREDITGATE_PROVINCIAL_URL is not set: the address of the provincial platform (or of `creditgate provincial-sim`)"
            )
        })?;
        let (stop_tx, mut stop) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = stop_tx.send(true);
        });
        let settings = Settings {
            page_size,
            ..Settings::default()
        };
        if !once {
            let interval = std::time::Duration::from_secs(config.sync_interval_secs);
            eprintln!(
                "syncing with {} every {} s; Ctrl-C stops",
                config.provincial_url.as_deref().unwrap_or_default(),
                config.sync_interval_secs
            );
            sync::spawn_worker(ctx, platform, settings, interval, stop).await?;
            return Ok(());
        }
        let Some(lock) = RunnerLock::try_acquire(&ctx).await? else {
            eprintln!("another runner holds the sync lock; nothing done");
            return Ok(());
        };
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} changes {per_sec} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let mut progress = SyncBar { bar: bar.clone() };
        let started = std::time::Instant::now();
        let r = sync::run_round(&ctx, platform.as_ref(), &settings, &mut stop, &mut progress).await;
        lock.release().await;
        bar.finish_and_clear();
        let secs = started.elapsed().as_secs_f64();
        match r {
            Ok(r) => {
                let applied = r.upserts + r.removals;
                println!(
                    "sync: {} pages, {} upserts, {} removals, {} skipped, {} rejected; pushed {} ({} already there, {} refused); {} retries; cursor {}; {:.1} s ({:.0} changes applied/s)",
                    r.pages, r.upserts, r.removals, r.skipped, r.rejected, r.pushed, r.push_duplicates, r.push_rejected, r.retries,
                    r.cursor.as_deref().unwrap_or("at the start"), secs, applied as f64 / secs.max(1e-9)
                );
                if r.rejected > 0 {
                    eprintln!("some changes were refused; `creditgate sync --status` shows the last reason");
                }
                Ok(())
            }
            Err(RoundError::Stopped) => {
                eprintln!("stopped; what was applied stays, the next run goes on from the cursor");
                Ok(())
            }
            Err(e) => Err(anyhow::anyhow!("{e}; what was applied stays, the next run goes on from the cursor")),
        }
    })
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn serve(config: Config, with_demo: bool, demo_subjects: u64) -> anyhow::Result<()> {
    let rt = runtime()?;
    rt.block_on(async move {
        let cfg = config.clone();
        let ctx = tokio::task::spawn_blocking(move || build_ctx(&cfg, Clock::system())).await??;
        if with_demo {
            let out = demo::load(&ctx, demo_subjects).await?;
            if out.already_loaded {
                println!("Demo data already present; new keys for this run:");
            } else {
                println!(
                    "Demo data loaded: {} subjects, {} records (showcase: {}).",
                    out.subjects,
                    out.records,
                    demo::SHOWCASE_USCC
                );
            }
            for k in &out.keys {
                println!("  {:<9} {:<11} {}", k.role.as_str(), k.org_code, k.key);
            }
        }
        reload_on_sighup(ctx.clone());
        let app = Application::with_ctx(&config, ctx)?;
        let host = config.bind.rsplit_once(':').map(|(h, _)| h).unwrap_or("127.0.0.1");
        let host = if host == "0.0.0.0" { "127.0.0.1" } else { host };
        let base = format!("http://{host}:{}", app.port());
        println!("creditgate listening on {base} (API docs: {base}/docs)");
        if with_demo {
            println!(
                "Try: curl -H 'Authorization: Bearer <officer key>' '{base}/api/v1/subjects/{}?purpose=demo'",
                demo::SHOWCASE_USCC
            );
            println!(
                "     curl -H 'Authorization: Bearer <officer key>' -H 'Content-Type: application/json' -d '{{\"scenario\":\"procurement\",\"subject\":{{\"uscc\":\"{}\"}},\"purpose\":\"demo\"}}' {base}/api/v1/checks",
                demo::SHOWCASE_USCC
            );
        }
        app.run_until_stopped().await?;
        Ok(())
    })
}

/// SIGHUP reloads the rule files, as `POST /api/v1/admin/rules/reload` does.
fn reload_on_sighup(ctx: creditgate::service::Ctx) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use creditgate::service::rules::{reload, ReloadError};
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; reload through the API");
                return;
            }
        };
        while hup.recv().await.is_some() {
            let who = creditgate::domain::Caller {
                key_id: "sighup".into(),
                org_code: "OPERATOR".into(),
                role: creditgate::domain::Role::Admin,
            };
            match reload(&ctx, &who).await {
                Ok(o) => {
                    tracing::info!(digest = %o.digest, changed = o.changed, "SIGHUP: rules reloaded")
                }
                Err(ReloadError::Invalid(errors)) => {
                    for e in &errors {
                        tracing::error!(problem = %e, "SIGHUP: rule files not valid; the active set stays");
                    }
                }
                Err(ReloadError::Failed(e)) => tracing::error!(error = %e, "SIGHUP: reload failed"),
            }
        }
    });
    #[cfg(not(unix))]
    let _ = ctx;
}

fn migrate(config: &Config) -> anyhow::Result<()> {
    let pool = store::connect(&config.database_url, 1).map_err(anyhow::Error::msg)?;
    let mut conn = pool.get()?;
    let applied = creditgate::service::upgrade::migrate(&mut conn, &data_keys(config)?)
        .map_err(anyhow::Error::msg)?;
    if applied.is_empty() {
        eprintln!("database is up to date");
    } else {
        for m in applied {
            eprintln!("applied {m}");
        }
    }
    Ok(())
}

fn create_key(
    config: &Config,
    org: &str,
    role: &str,
    name: Option<&str>,
    label: Option<&str>,
) -> anyhow::Result<()> {
    let role = Role::parse(role)
        .ok_or_else(|| anyhow::anyhow!("unknown role '{role}': use one of {}", Role::allowed()))?;
    let pool = store::connect(&config.database_url, 1).map_err(anyhow::Error::msg)?;
    let mut conn = pool.get()?;
    creditgate::service::upgrade::migrate(&mut conn, &data_keys(config)?)
        .map_err(anyhow::Error::msg)?;
    let data = data_keys(config)?;
    let created = diesel::Connection::transaction::<_, anyhow::Error, _>(&mut *conn, |conn| {
        let k =
            keys::create_key_blocking(conn, org, name, role, label).map_err(anyhow::Error::msg)?;
        creditgate::service::audit::append(
            conn,
            &data,
            &creditgate::service::admin::operator(),
            &creditgate::service::audit::Entry {
                action: "key.create",
                outcome: "ok",
                detail: Some(
                    serde_json::json!({"key_id": k.id, "org_code": k.org_code, "role": k.role.as_str()}),
                ),
                ..Default::default()
            },
        )?;
        Ok(k)
    })?;
    eprintln!(
        "created {} key {} for {}",
        created.role.as_str(),
        created.id,
        created.org_code
    );
    println!("{}", created.key);
    Ok(())
}

fn audit_command(config: &Config, command: AuditCommand) -> anyhow::Result<ExitCode> {
    use creditgate::service::audit;
    let keys = data_keys(config)?;
    let pool = store::connect(&config.database_url, 1).map_err(anyhow::Error::msg)?;
    let mut conn = pool.get()?;
    creditgate::service::upgrade::migrate(&mut conn, &data_keys(config)?)
        .map_err(anyhow::Error::msg)?;
    match command {
        AuditCommand::Seal => {
            let n = audit::seal_all(&mut conn, &keys).map_err(anyhow::Error::msg)?;
            println!("sealed {n} entries");
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify => {
            let v = audit::verify(&mut conn, &keys).map_err(anyhow::Error::msg)?;
            for b in &v.breaks {
                println!("BREAK {}", b.problem);
            }
            println!(
                "{} sealed entries (head seq {}, {}), {} not yet sealed; {} breaks",
                v.sealed,
                v.head_seq,
                v.head,
                v.unsealed,
                v.breaks.len()
            );
            Ok(if v.breaks.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// The data keys of the configured database (the access log's chain key derives from them).
fn data_keys(config: &Config) -> anyhow::Result<creditgate::crypto::DataKeys> {
    let backend = store::backend_of(&config.database_url).map_err(anyhow::Error::msg)?;
    creditgate::app::data_keys(config, backend)
}

fn list_keys(config: &Config, org: Option<&str>) -> anyhow::Result<()> {
    let pool = store::connect(&config.database_url, 1).map_err(anyhow::Error::msg)?;
    let mut conn = pool.get()?;
    creditgate::service::upgrade::migrate(&mut conn, &data_keys(config)?)
        .map_err(anyhow::Error::msg)?;
    let rows = store::keys::list(&mut conn, org).map_err(anyhow::Error::msg)?;
    println!(
        "{:<32} {:<16} {:<9} {:<20} {:<20} label",
        "id", "org", "role", "created", "revoked"
    );
    for k in rows {
        let t = |t: chrono::NaiveDateTime| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        println!(
            "{:<32} {:<16} {:<9} {:<20} {:<20} {}",
            k.id,
            k.org_code,
            k.role,
            t(k.created_at),
            k.revoked_at.map(t).unwrap_or_else(|| "-".into()),
            k.label.unwrap_or_default()
        );
    }
    Ok(())
}

fn revoke_key(config: &Config, id: &str) -> anyhow::Result<()> {
    let pool = store::connect(&config.database_url, 1).map_err(anyhow::Error::msg)?;
    let mut conn = pool.get()?;
    creditgate::service::upgrade::migrate(&mut conn, &data_keys(config)?)
        .map_err(anyhow::Error::msg)?;
    let revoked = creditgate::service::admin::revoke_blocking(&mut conn, &data_keys(config)?, id)
        .map_err(anyhow::Error::msg)?;
    eprintln!(
        "{}",
        if revoked {
            format!("key {id} revoked")
        } else {
            format!("key {id} was already revoked")
        }
    );
    Ok(())
}

fn rotate_key(config: &Config, id: &str) -> anyhow::Result<()> {
    use creditgate::service::admin::{rotate_blocking, Rotation};
    let pool = store::connect(&config.database_url, 1).map_err(anyhow::Error::msg)?;
    let mut conn = pool.get()?;
    creditgate::service::upgrade::migrate(&mut conn, &data_keys(config)?)
        .map_err(anyhow::Error::msg)?;
    let keys = data_keys(config)?;
    let who = creditgate::service::admin::operator();
    match rotate_blocking(&mut conn, &keys, &who, id).map_err(anyhow::Error::msg)? {
        Rotation::Missing => anyhow::bail!("no key {id}; `creditgate keys list` shows the keys"),
        Rotation::AlreadyRevoked => anyhow::bail!("key {id} is revoked; create a new key instead"),
        Rotation::Done(old, new_id, secret) => {
            eprintln!(
                "key {} revoked; new {} key {new_id} for {}",
                old.id, old.role, old.org_code
            );
            println!("{secret}");
            Ok(())
        }
    }
}

fn gen(
    config: &Config,
    subjects: u64,
    per_subject: u64,
    offset: u64,
    seed: u64,
) -> anyhow::Result<()> {
    let rt = runtime()?;
    rt.block_on(async {
        let cfg = config.clone();
        let ctx = tokio::task::spawn_blocking(move || build_ctx(&cfg, Clock::system())).await??;
        let bar = indicatif::ProgressBar::new(subjects);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} subjects {per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let r = creditgate::service::generate::load_generated(
            &ctx,
            subjects,
            per_subject,
            offset,
            seed,
            &|n| bar.inc(n),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        bar.finish_and_clear();
        eprintln!(
            "generated {} subjects and {} records in {:.1} s ({:.0} records/s)",
            r.subjects,
            r.records,
            r.seconds,
            r.records as f64 / r.seconds.max(1e-9)
        );
        Ok(())
    })
}
