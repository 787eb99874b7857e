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
        AuditCommand::Verify { checkpoints } => {
            // The checkpoints are read before the chain is walked: one a running sealer writes
            // meanwhile would be past the head the walk saw, and look like a cut-off tail.
            let read = match &checkpoints {
                Some(dir) => Some(audit::checkpoint::read_dir(dir).map_err(anyhow::Error::msg)?),
                None => None,
            };
            let mut v = audit::verify(&mut conn, keys).map_err(anyhow::Error::msg)?;
            let mut used = None;
            if let (Some(dir), Some((found, mut unreadable))) = (checkpoints, read) {
                let mut against = audit::checkpoint::check(&mut conn, keys, &found, v.head_seq)
                    .map_err(anyhow::Error::msg)?;
                v.breaks.append(&mut unreadable);
                v.breaks.append(&mut against);
                let newest = found.last().map(|(_, c)| c.at.clone());
                used = Some((found.len(), dir, newest));
            }
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
