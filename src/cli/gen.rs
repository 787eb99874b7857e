//! `creditgate gen`: generated subjects and records for load tests.

use super::*;

pub(crate) fn gen(
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
