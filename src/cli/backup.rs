//! `creditgate backup DIR` and `creditgate restore DIR`.

use super::*;

/// On SQLite without `CREDITGATE_DATA_KEY`, the key file beside the database must exist: never
/// a new key for a backup or a restore (it would only be refused, and then stay in the way).
fn existing_key(config: &Config) -> anyhow::Result<()> {
    let backend = store::backend_of(&config.database_url).map_err(anyhow::Error::msg)?;
    if config.data_key.is_none() && backend == store::Backend::Sqlite {
        let db = std::path::Path::new(store::sqlite_path(&config.database_url));
        if !db.with_file_name("creditgate.key").exists() {
            anyhow::bail!(
                "set CREDITGATE_DATA_KEY to the database's data key (or put its creditgate.key beside the database file)"
            );
        }
    }
    Ok(())
}

pub(crate) fn backup_command(config: &Config, dir: &std::path::Path) -> anyhow::Result<()> {
    existing_key(config)?;
    let keys = data_keys(config)?;
    let m = creditgate::service::backup::backup(
        &config.database_url,
        &keys,
        Clock::system().stamp(),
        dir,
    )
    .map_err(anyhow::Error::msg)?;
    let c = &m.contents;
    println!(
        "backup of {} in {}: {} subjects, {} records, {} reports, {} access-log entries (sealed head seq {}); schema {}; data key id {}",
        m.backend,
        dir.display(),
        c.subjects,
        c.records,
        c.reports,
        c.access_entries,
        c.head_seq,
        c.schema_version,
        m.data_key_id
    );
    println!(
        "keep the data key apart from the backup: it is not in it, and nothing reads without it"
    );
    Ok(())
}

pub(crate) fn restore_command(config: &Config, dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    // The key the backup was taken under.
    existing_key(config)?;
    let keys = data_keys(config)?;
    let r = creditgate::service::backup::restore(
        &config.database_url,
        &keys,
        Clock::system().stamp(),
        dir,
    )
    .map_err(anyhow::Error::msg)?;
    let c = &r.contents;
    println!(
        "restored the backup of {} into {}: {} subjects, {} records, {} reports, {} access-log entries; {} newer migrations applied",
        r.manifest.taken_at,
        store::redact_url(&config.database_url),
        c.subjects,
        c.records,
        c.reports,
        c.access_entries,
        r.migrated
    );
    println!(
        "access log: {} sealed entries (head seq {}), {} breaks",
        r.verification.sealed,
        r.verification.head_seq,
        r.verification.breaks.len()
    );
    let problems = r.problems();
    for p in &problems {
        println!("PROBLEM {p}");
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
