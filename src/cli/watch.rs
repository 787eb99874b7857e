//! `creditgate watch …` and `creditgate bulk …`: what an operator of the city's data centre
//! needs of watch lists and bulk checks, as the operator (an admin, `service::admin::operator`),
//! through the same use cases as the API, logged alike.

use super::*;
use creditgate::service::bulk_checks::{self, export, worker as bulk_worker, BulkInput};
use creditgate::service::watchlists::{self, deliveries};

#[derive(Subcommand)]
pub(crate) enum WatchCommand {
    /// Every watch list: id, organisation, name, target, scenarios, subjects, and its events
    /// pending, delivered and failed.
    List,
    /// A list's events, newest first: id, type, state, attempts, last result.
    Deliveries {
        /// The list's id (`wl_…`).
        id: String,
        /// Only `pending`, `delivered` or `failed` events.
        #[arg(long)]
        state: Option<String>,
        /// At most this many (1 to 500).
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Why the events are read (2 to 200 characters); the access log keeps it.
        #[arg(long)]
        purpose: String,
    },
    /// Send events again under their ids: one (`--event`), or every failed one of the list
    /// (`--failed`, after a receiver was down for more than the 24 hours of retries).
    Redeliver {
        /// The list's id (`wl_…`).
        id: String,
        #[arg(long, conflicts_with = "failed", required_unless_present = "failed")]
        event: Option<String>,
        #[arg(long)]
        failed: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum BulkCommand {
    /// Check a roster (CSV or XLSX with a `uscc` or `id_number` column) as the operator, with a
    /// progress bar, and write the result (`.csv` or `.xlsx`, by the name given).
    Run {
        file: std::path::PathBuf,
        #[arg(long)]
        scenario: String,
        /// Why (2 to 200 characters); it goes into every line's report and access-log entry.
        #[arg(long)]
        purpose: String,
        #[arg(long)]
        reference: Option<String>,
        /// Where the result goes (default: FILE with `.result.csv`).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// A job's status, counts and progress.
    Status { id: String },
    /// A done job's result, to a `.csv` or `.xlsx` file.
    Result {
        id: String,
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

pub(crate) fn context(
    config: &Config,
) -> anyhow::Result<(tokio::runtime::Runtime, creditgate::service::Ctx)> {
    let rt = runtime()?;
    let cfg = config.clone();
    let ctx = rt.block_on(async move {
        tokio::task::spawn_blocking(move || build_ctx(&cfg, Clock::system())).await?
    })?;
    Ok((rt, ctx))
}

pub(crate) fn watch_command(config: &Config, command: WatchCommand) -> anyhow::Result<()> {
    let (rt, ctx) = context(config)?;
    let operator = creditgate::service::admin::operator();
    rt.block_on(async move {
        match command {
            WatchCommand::List => {
                let lists = watchlists::list(&ctx, &operator).await?;
                println!("id\torg\tname\ttarget\tscenarios\tsubjects\tpending\tdelivered\tfailed");
                for l in lists.items {
                    let q = deliveries::DeliveryQuery {
                        limit: Some(1),
                        purpose: Some("运维查看推送状态".into()),
                        ..Default::default()
                    };
                    let d = deliveries::list(&ctx, &operator, &l.id, q).await?;
                    println!(
                        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                        l.id,
                        l.org_code,
                        l.name,
                        l.webhook_url,
                        l.scenarios.join(","),
                        l.subjects,
                        d.pending,
                        d.delivered,
                        d.failed
                    );
                }
            }
            WatchCommand::Deliveries {
                id,
                state,
                limit,
                purpose,
            } => {
                let q = deliveries::DeliveryQuery {
                    state,
                    limit: Some(limit),
                    cursor: None,
                    purpose: Some(purpose),
                };
                let d = deliveries::list(&ctx, &operator, &id, q).await?;
                println!("id\ttype\tstate\tattempts\tqueued\tlast result");
                for e in d.items {
                    println!(
                        "{}\t{}\t{}\t{}\t{}\t{}",
                        e.id,
                        e.event_type,
                        e.state,
                        e.attempts,
                        e.queued_at,
                        e.last_result.unwrap_or_default()
                    );
                }
                eprintln!(
                    "{} pending, {} delivered, {} failed",
                    d.pending, d.delivered, d.failed
                );
            }
            WatchCommand::Redeliver { id, event, failed } => {
                let n = match event {
                    Some(e) => {
                        deliveries::redeliver(&ctx, &operator, &id, &e).await?;
                        1
                    }
                    None if failed => deliveries::redeliver_failed(&ctx, &operator, &id).await?,
                    None => 0,
                };
                println!("{n} events queued again; a running server sends them within a second");
            }
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(())
}

fn write_result(
    out: &std::path::Path,
    job: &creditgate::store::bulk_checks::JobRow,
    lines: &[creditgate::store::bulk_checks::LineRow],
) -> anyhow::Result<()> {
    let xlsx = out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xlsx"));
    let bytes = if xlsx {
        export::xlsx(job, lines).map_err(anyhow::Error::msg)?
    } else {
        export::csv(job, lines)
    };
    std::fs::write(out, bytes).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))
}

pub(crate) fn bulk_command(config: &Config, command: BulkCommand) -> anyhow::Result<ExitCode> {
    let (rt, ctx) = context(config)?;
    let operator = creditgate::service::admin::operator();
    rt.block_on(async move {
        match command {
            BulkCommand::Status { id } => {
                let v = bulk_checks::get(&ctx, &operator, &id).await?;
                println!("{}", serde_json::to_string_pretty(&v)?);
                Ok(ExitCode::SUCCESS)
            }
            BulkCommand::Result { id, out } => {
                let (job, lines) = bulk_checks::result(&ctx, &operator, &id).await?;
                write_result(&out, &job, &lines)?;
                eprintln!("{} lines written to {}", lines.len(), out.display());
                Ok(ExitCode::SUCCESS)
            }
            BulkCommand::Run {
                file,
                scenario,
                purpose,
                reference,
                out,
            } => {
                let path = file.clone();
                let sheet =
                    tokio::task::spawn_blocking(move || creditgate::import::read_sheet(&path))
                        .await?
                        .map_err(|e| format!("{e:#}"));
                let input = BulkInput {
                    scenario: Some(scenario),
                    purpose: Some(purpose),
                    reference,
                    authorization_ref: None,
                    file: Some(sheet),
                };
                let job = match bulk_checks::submit(&ctx, &operator, input).await {
                    Ok(j) => j,
                    Err(creditgate::service::ServiceError::Invalid(errors)) => {
                        for e in errors {
                            eprintln!("{}: {}", e.field, e.message);
                        }
                        return Ok(ExitCode::from(2));
                    }
                    Err(e) => return Err(e.into()),
                };
                eprintln!("job {} queued: {} lines", job.id, job.total);
                let bar = indicatif::ProgressBar::new(job.total as u64);
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{bar:40} {pos}/{len} lines {per_sec} {msg}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                // This process checks the lines itself, unless a server holds the runner's lock:
                // then it follows that server's progress.
                let mut lock = creditgate::service::worker_lock::WorkerLock::try_acquire(
                    &ctx,
                    store::BULK_LOCK,
                )
                .await?;
                let done = loop {
                    let v = bulk_checks::get(&ctx, &operator, &job.id).await?;
                    bar.set_position(v.done as u64);
                    if v.status == "done" || v.status == "failed" {
                        break v;
                    }
                    match lock.as_mut() {
                        Some(_) => {
                            if let Err(e) = bulk_worker::run_chunk(&ctx).await {
                                bar.set_message(format!("retrying: {e}"));
                                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                            }
                        }
                        None => tokio::time::sleep(std::time::Duration::from_millis(500)).await,
                    }
                };
                bar.finish_and_clear();
                let c = &done.counts;
                eprintln!(
                    "{}: {} clear, {} review, {} restricted, {} prohibited, {} rejected",
                    done.status, c.clear, c.review, c.restricted, c.prohibited, c.rejected
                );
                if done.status != "done" {
                    return Ok(ExitCode::FAILURE);
                }
                let out = out.unwrap_or_else(|| file.with_extension("result.csv"));
                let (job, lines) = bulk_checks::result(&ctx, &operator, &job.id).await?;
                write_result(&out, &job, &lines)?;
                eprintln!("result: {}", out.display());
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}
