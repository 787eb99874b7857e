//! `creditgate rules check|test|impact`.

use super::*;

/// `rules check` and `rules test`: exit 0 when all is well, 1 otherwise.
pub(crate) fn rules_command(dir: &std::path::Path, test: bool) -> ExitCode {
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
    for id in &report.periods_untested {
        println!("uncovered: no period case uses {id}");
    }
    println!(
        "{} cases, {} failed; {} measures, {} without a triggering case, {} without a near miss; {} periods, {} without a case",
        report.results.len(),
        report.failed(),
        set.measures().len(),
        report.untriggered.len(),
        report.unguarded.len(),
        set.periods.rules.len(),
        report.periods_untested.len()
    );
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `rules impact DIR`: 0 when the analysis ran (whatever it found), 1 when the candidate does
/// not load or the scenario is not in both sets, 2 on any other failure.
pub(crate) fn impact_command(
    config: &Config,
    dir: &std::path::Path,
    scenario: Option<&str>,
    out: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    use creditgate::service::impact::{self, Engine};
    use std::io::Write;
    let candidate = match creditgate::rules::load::load_dir(dir) {
        Ok(set) => set,
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            eprintln!(
                "{}: {} problems; the candidate was not evaluated",
                dir.display(),
                errors.len()
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    let (rt, ctx) = context(config)?;
    rt.block_on(async move {
        let active = creditgate::service::rules::in_use(&ctx).await?;
        let engine = match Engine::new(
            active,
            std::sync::Arc::new(candidate),
            scenario,
            ctx.clock.today(),
        ) {
            Ok(e) => std::sync::Arc::new(e),
            Err(why) => {
                eprintln!("error: {why}");
                return Ok(ExitCode::FAILURE);
            }
        };
        let json = out.is_some_and(|p| {
            p.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        });
        // The subjects go straight to a temporary file beside the output, renamed into place
        // once the run is complete: memory holds one page, and a failed run leaves no half file.
        let mut file = match out {
            Some(p) => {
                let tmp = p.with_extension("partial");
                let f = std::fs::File::create(&tmp)
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", tmp.display()))?;
                let mut w = std::io::BufWriter::new(f);
                if json {
                    w.write_all(b"{\"changed\":[")?;
                } else {
                    w.write_all(impact::CSV_HEADER.as_bytes())?;
                }
                Some((w, tmp, p.to_path_buf()))
            }
            None => None,
        };
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} impact [{bar:40}] {pos}/{len} subjects, {per_sec}, ETA {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let mut written = 0u64;
        // Without a terminal (a log, a script) the bar is not drawn: a line every 5% instead.
        let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let mut told = 0u64;
        let mut progress = |done: u64, total: u64| {
            bar.set_length(total);
            bar.set_position(done);
            let step = (total / 20).max(1);
            if !tty && (done >= told + step || (done == total && done > told)) {
                eprintln!("impact: {done}/{total} subjects");
                told = done;
            }
        };
        let mut sink = |c: &impact::Change| -> std::io::Result<()> {
            if let Some((w, _, _)) = file.as_mut() {
                if json {
                    if written > 0 {
                        w.write_all(b",")?;
                    }
                    serde_json::to_writer(&mut *w, c)?;
                } else {
                    w.write_all(impact::csv_line(c).as_bytes())?;
                }
            }
            written += 1;
            Ok(())
        };
        let ran = impact::run(&ctx, engine, &mut progress, &mut sink).await;
        bar.finish_and_clear();
        let summary = match ran {
            Ok(s) => s,
            Err(e) => {
                // A failed run leaves no half file.
                if let Some((w, tmp, _)) = file {
                    drop(w);
                    let _ = std::fs::remove_file(&tmp);
                }
                return Err(e.into());
            }
        };
        let summary_json = serde_json::to_string_pretty(&summary)?;
        if let Some((mut w, tmp, path)) = file {
            if json {
                // {"changed": [the subjects, streamed], "summary": the counts and the diff}
                w.write_all(b"],\"summary\":")?;
                serde_json::to_writer(&mut w, &summary)?;
                w.write_all(b"}\n")?;
            }
            w.flush()?;
            drop(w);
            std::fs::rename(&tmp, &path)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            eprintln!("{written} changed verdicts written to {}", path.display());
        }
        println!("{summary_json}");
        Ok(ExitCode::SUCCESS)
    })
}
