//! `creditgate sync` and `creditgate provincial-sim`.

use super::*;

pub(crate) fn provincial_sim(
    bind: &str,
    seed: u64,
    size: u64,
    key_id: String,
    secret: &str,
    faults: creditgate::sync::sim::FaultPlan,
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
        let server = creditgate::sync::sim::serve(
            creditgate::sync::sim::SimConfig {
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
pub(crate) struct SyncBar {
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

pub(crate) fn sync_command(
    config: &Config,
    once: bool,
    page_size: usize,
    status: bool,
) -> anyhow::Result<()> {
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
                    "sync: {} pages, {} upserts, {} removals, {} skipped, {} rejected; pushed {} ({} already there, {} refused); repairs pushed {} ({} refused); {} retries; cursor {}; {:.1} s ({:.0} changes applied/s)",
                    r.pages, r.upserts, r.removals, r.skipped, r.rejected, r.pushed, r.push_duplicates, r.push_rejected, r.repairs_pushed, r.repairs_refused, r.retries,
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
