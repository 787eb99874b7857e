//! `creditgate import FILE`: 双公示 CSV or XLSX files through the ordinary ingestion path.
//!
//! Layout facts (REFERENCE.md §3, [secondary]: reconstructed from several implementations that
//! copy the standard's field names): `XK_*` columns for 行政许可, `CF_*` for 行政处罚; CF_NR_FK and
//! CF_NR_WFFF in 万元 (`0.2` = 2,000 yuan); 行政相对人类别 as Chinese text; 处罚类别 in the 2021
//! law's names or the older 1996 ones ([verified] law text, [uncertain] for the standard itself).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde_json::{json, Map, Value};

use crate::config::Config;
use crate::domain::{Caller, FieldError, PenaltyType, Role, Yuan};
use crate::service::ingest::{self, BatchResult, Parsed, Submitter};
use crate::service::{Clock, Ctx, ServiceResult};

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// A .csv (UTF-8, header row) or .xlsx file (first sheet, header row).
    pub file: PathBuf,
    /// The providing department's source code: records are filed under it (一数一源).
    #[arg(long)]
    pub source: String,
    /// Where to write rejected rows (row, field, reason); default FILE.rejects.csv.
    #[arg(long)]
    pub rejects: Option<PathBuf>,
    /// Rows per write batch.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
}

mod columns;
mod sheet;

use columns::column_of;
pub use columns::{detect_layout, map_categories, normalise_date, row_to_record, Layout};
pub use sheet::{read_sheet, read_upload, Format, Sheet};

pub struct ImportReport {
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub rejected: usize,
    pub rejects_path: PathBuf,
    pub seconds: f64,
}

/// Imports a file through the same ingestion path as the API.
pub async fn import_file(ctx: &Ctx, args: &ImportArgs) -> anyhow::Result<ImportReport> {
    let started = std::time::Instant::now();
    let path = args.file.clone();
    crate::service::keys::require_provider(ctx, &args.source)
        .await
        .map_err(|e| match e {
            crate::service::ServiceError::Invalid(why) => anyhow::anyhow!(
                "--source: {}",
                why.iter()
                    .map(|f| f.message.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            other => anyhow::anyhow!(other),
        })?;
    let sheet = tokio::task::spawn_blocking(move || read_sheet(&path)).await??;
    let layout = detect_layout(&sheet.header)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    let submitter = Submitter {
        caller: Caller {
            key_id: "import".into(),
            org_code: args.source.clone(),
            role: Role::Provider,
        },
    };
    let rejects_path = args.rejects.clone().unwrap_or_else(|| {
        let mut p = args.file.clone().into_os_string();
        p.push(".rejects.csv");
        PathBuf::from(p)
    });
    let mut rejects = {
        use std::io::Write;
        let mut file = std::fs::File::create(&rejects_path)
            .with_context(|| format!("cannot write {}", rejects_path.display()))?;
        // A byte order mark, so that Excel on a Chinese Windows opens it as UTF-8, not GBK.
        file.write_all("\u{feff}".as_bytes())?;
        csv::Writer::from_writer(file)
    };
    rejects.write_record(["row", "field", "reason"])?;
    for (row_no, reason) in &sheet.refused {
        rejects.write_record([row_no.to_string(), "(whole row)".into(), reason.clone()])?;
    }

    let bar = indicatif::ProgressBar::new(sheet.rows.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows {per_sec} eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut report = ImportReport {
        rows: sheet.rows.len() + sheet.refused.len(),
        created: 0,
        updated: 0,
        unchanged: 0,
        rejected: sheet.refused.len(),
        rejects_path: rejects_path.clone(),
        seconds: 0.0,
    };
    let known = |c: &str| ctx.known_list(c);
    let batch = args.batch.clamp(1, 1000);
    // One chunk is written while the next is parsed (the two take about as long); the writes
    // stay in file order, so a later row sees an earlier one.
    let mut in_flight: Option<(usize, tokio::task::JoinHandle<ServiceResult<BatchResult>>)> = None;
    let mut finish = |chunk_no: usize, result: BatchResult| -> anyhow::Result<()> {
        for item in &result.results {
            if let Some(errors) = &item.errors {
                // The row number the spreadsheet shows.
                let row_no = sheet.numbers[chunk_no * batch + item.index];
                for e in errors {
                    rejects.write_record([
                        row_no.to_string(),
                        column_of(layout, &e.field),
                        e.message.clone(),
                    ])?;
                }
            }
        }
        report.created += result.summary.created;
        report.updated += result.summary.updated;
        report.unchanged += result.summary.unchanged;
        report.rejected += result.summary.rejected;
        bar.inc(result.results.len() as u64);
        Ok(())
    };
    for (chunk_no, chunk) in sheet.rows.chunks(batch).enumerate() {
        let parsed: Vec<Parsed> = chunk
            .iter()
            .map(|cells| {
                let row: BTreeMap<String, String> = sheet
                    .header
                    .iter()
                    .cloned()
                    .zip(cells.iter().cloned())
                    .filter(|(h, _)| !h.is_empty())
                    .collect();
                row_to_record(layout, &row)
                    .and_then(|v| ingest::parse_item(v, &submitter, &ctx.keys, &known))
            })
            .collect();
        if let Some((no, writing)) = in_flight.take() {
            finish(no, writing.await??)?;
        }
        let (ctx, caller) = (ctx.clone(), submitter.caller.clone());
        in_flight = Some((
            chunk_no,
            tokio::spawn(async move { ingest::store_batch(&ctx, &caller, parsed).await }),
        ));
    }
    if let Some((no, writing)) = in_flight.take() {
        finish(no, writing.await??)?;
    }
    rejects.flush()?;
    drop(rejects);
    if report.rejected == 0 {
        // Made first so that an unwritable path fails before anything is stored; a file with
        // a header alone (or one left by an earlier run) would say something was refused.
        std::fs::remove_file(&rejects_path)
            .with_context(|| format!("cannot remove the empty {}", rejects_path.display()))?;
    }
    bar.finish_and_clear();
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

pub fn run(config: &Config, args: ImportArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let cfg = config.clone();
        let ctx = tokio::task::spawn_blocking(move || crate::app::build_ctx(&cfg, Clock::system())).await??;
        let r = import_file(&ctx, &args).await?;
        let rate = if r.seconds > 0.0 { r.rows as f64 / r.seconds } else { 0.0 };
        eprintln!(
            "{}: {} rows in {:.1} s ({rate:.0} rows/s): {} created, {} updated, {} unchanged, {} rejected",
            args.file.display(), r.rows, r.seconds, r.created, r.updated, r.unchanged, r.rejected
        );
        if r.rejected > 0 {
            anyhow::bail!("{} rows rejected: see {} (row, field, reason)", r.rejected, r.rejects_path.display());
        }
        Ok(())
    })
}
