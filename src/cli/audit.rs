//! `creditgate audit verify|export`.

use super::*;

pub(crate) fn audit_command(config: &Config, command: AuditCommand) -> anyhow::Result<ExitCode> {
    use creditgate::service::audit;
    let (mut conn, operator) = open(config)?;
    let keys = &operator.keys;
    match command {
        AuditCommand::Seal => {
            let n = audit::seal_all(&mut conn, keys, operator.at).map_err(anyhow::Error::msg)?;
            println!("sealed {n} entries");
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Checkpoint { dir } => {
            let Some(dir) = dir.or_else(|| config.audit_checkpoints.clone()) else {
                anyhow::bail!("no directory: give one, or set CREDITGATE_AUDIT_CHECKPOINTS");
            };
            audit::seal_all(&mut conn, keys, operator.at).map_err(anyhow::Error::msg)?;
            match audit::checkpoint::write(&mut conn, keys, &dir, operator.at)
                .map_err(anyhow::Error::msg)?
                .map_err(anyhow::Error::msg)?
            {
                Some(c) => println!(
                    "checkpoint of seq {} ({}) written to {}",
                    c.head_seq,
                    c.head,
                    dir.join(audit::checkpoint::file_name(c.head_seq)).display()
                ),
                None => println!(
                    "nothing to write: the chain is empty, or its head has a checkpoint already"
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Archive { before, prune, dir } => {
            let cut = parse_cut_off(&before)?;
            let bar = indicatif::ProgressBar::hidden();
            let shown = std::cell::Cell::new(false);
            let progress = |done: u64, total: u64| {
                if !shown.replace(true) {
                    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                    bar.set_length(total);
                }
                bar.set_position(done);
            };
            let run = audit::archive::Run::new(cut, operator.at, prune);
            let done = audit::archive::archive(&mut conn, keys, &dir, &run, &progress)
                .map_err(anyhow::Error::msg)?;
            bar.finish_and_clear();
            match (&done.manifest, &done.path) {
                (Some(m), Some(path)) => println!(
                    "archived {} entries (seq {} to {}) to {} and {}",
                    m.entries,
                    m.from_seq,
                    m.to_seq,
                    dir.join(&m.file).display(),
                    path.display()
                ),
                _ => println!("nothing new to archive: no sealed entry before the cut-off that {} does not hold already (the chain's last entry always stays in the database)", dir.display()),
            }
            if let Some(to) = done.pruned_to {
                println!(
                    "removed {} entries from the database; its chain now begins after seq {to}",
                    done.pruned
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify {
            checkpoints,
            archive,
        } => {
            // The checkpoints are read before the chain is walked: one a running sealer writes
            // meanwhile would be past the head the walk saw, and look like a cut-off tail.
            let read = match &checkpoints {
                Some(dir) => Some(audit::checkpoint::read_dir(dir).map_err(anyhow::Error::msg)?),
                None => None,
            };
            let mut v = audit::verify(&mut conn, keys).map_err(anyhow::Error::msg)?;
            let mut used = None;
            let mut found = Vec::new();
            if let (Some(dir), Some((read, mut unreadable))) = (checkpoints, read) {
                let mut against = audit::checkpoint::check(&mut conn, keys, &read, v.head_seq)
                    .map_err(anyhow::Error::msg)?;
                v.breaks.append(&mut unreadable);
                v.breaks.append(&mut against);
                let newest = read.last().map(|(_, c)| c.at.clone());
                used = Some((read.len(), dir, newest));
                found = read;
            }
            let mut archived = None;
            if let Some(dir) = &archive {
                // Checkpoints of archived entries are compared with the archives.
                let mut a =
                    audit::archive::verify_dir(keys, dir, &found).map_err(anyhow::Error::msg)?;
                let mut against = audit::archive::check_against(&mut conn, keys, &a, v.head_seq)
                    .map_err(anyhow::Error::msg)?;
                v.breaks.append(&mut a.breaks);
                v.breaks.append(&mut against);
                archived = Some((a.archives, a.entries, a.to_seq, dir));
            }
            for b in &v.breaks {
                println!("BREAK {}", b.problem);
            }
            if v.archived_to > 0 {
                println!(
                    "entries up to seq {} were archived and removed; the chain in the database begins after it",
                    v.archived_to
                );
            }
            if let Some((n, entries, to, dir)) = archived {
                println!(
                    "{n} archives in {} hold {entries} entries, seq 1 to {to}",
                    dir.display()
                );
            }
            println!(
                "{} sealed entries (head seq {}, {}), {} not yet sealed; {} breaks",
                v.sealed,
                v.head_seq,
                v.head,
                v.unsealed,
                v.breaks.len()
            );
            let below = found
                .iter()
                .filter(|(_, c)| c.head_seq < v.archived_to)
                .count();
            if below > 0 && archive.is_none() {
                println!(
                    "{below} of the checkpoints cover archived entries only: check them with --archive DIR"
                );
            }
            if let Some((n, dir, newest)) = used {
                println!(
                    "checked against {n} checkpoints in {} (the newest of {})",
                    dir.display(),
                    newest.as_deref().unwrap_or("none")
                );
            }
            Ok(if v.breaks.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// `--before`: a date is its midnight in China Standard Time (UTC+8), the city's day; an RFC 3339
/// time is taken as it is. UTC, as the log's times are.
fn parse_cut_off(s: &str) -> anyhow::Result<chrono::NaiveDateTime> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.naive_utc());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default() - chrono::TimeDelta::hours(8));
    }
    anyhow::bail!("--before: '{s}' is neither a date (2026-06-01) nor an RFC 3339 time (2026-06-01T00:00:00+08:00)")
}
