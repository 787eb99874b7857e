//! `creditgate keys create|list|revoke|rotate`.

use super::*;

pub(crate) fn create_key(
    config: &Config,
    org: &str,
    role: &str,
    name: Option<&str>,
    label: Option<&str>,
) -> anyhow::Result<()> {
    let role = Role::parse(role)
        .ok_or_else(|| anyhow::anyhow!("unknown role '{role}': use one of {}", Role::allowed()))?;
    let (mut conn, operator) = open(config)?;
    let created = retry_busy(|| {
        diesel::Connection::transaction::<_, anyhow::Error, _>(&mut *conn, |conn| {
            let k = creditgate::service::keys::create_key_blocking(
                conn,
                org,
                name,
                role,
                label,
                operator.at,
            )
            .map_err(anyhow::Error::msg)?;
            creditgate::service::audit::log_change(
                conn,
                &operator,
                "key.create",
                serde_json::json!({"key_id": k.id, "org_code": k.org_code, "role": k.role.as_str()}),
            )?;
            Ok(k)
        })
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

/// `creditgate users create`: prints the one-time password alone on standard output.
pub(crate) fn create_user(
    config: &Config,
    org: &str,
    login: &str,
    role: &str,
) -> anyhow::Result<()> {
    let role = Role::parse(role)
        .ok_or_else(|| anyhow::anyhow!("unknown role '{role}': use officer, admin or auditor"))?;
    let (mut conn, operator) = open(config)?;
    let (person, password) = retry_busy(|| {
        diesel::Connection::transaction::<_, anyhow::Error, _>(&mut *conn, |conn| {
            creditgate::service::people::create_blocking(conn, &operator, org, login, role)
                .map_err(anyhow::Error::msg)
        })
    })?;
    eprintln!(
        "created {} account '{}' ({}) for {}; the first sign-in at /console/ must change this password",
        person.role.as_str(),
        person.login,
        person.id,
        person.org_code
    );
    println!("{password}");
    Ok(())
}

/// Runs a write transaction again when SQLite answers "database is locked" at once: a
/// transaction that read first and then writes cannot wait for a server that wrote to the same
/// file meanwhile (WAL's snapshot rule; the busy timeout does not apply). The transaction is all
/// or nothing, so it is simply tried again, up to 5 times.
pub(crate) fn retry_busy<T>(mut f: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<T> {
    let mut tries = 0;
    loop {
        match f() {
            Err(e) if tries < 5 && format!("{e:#}").contains("database is locked") => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(50 * tries));
            }
            other => return other,
        }
    }
}

/// The data keys of the configured database (the access log's chain key derives from them).
pub(crate) fn data_keys(config: &Config) -> anyhow::Result<creditgate::crypto::DataKeys> {
    let backend = store::backend_of(&config.database_url).map_err(anyhow::Error::msg)?;
    creditgate::app::data_keys(config, backend)
}

/// One connection to the configured database, upgraded, and the command line's own caller
/// (the operator, now by the system clock, with the data keys its log entries are hashed with).
pub(crate) fn open(config: &Config) -> anyhow::Result<(store::PooledConn, Actor)> {
    let keys = data_keys(config)?;
    let pool = store::connect(&config.database_url, 1).map_err(anyhow::Error::msg)?;
    let mut conn = pool.get()?;
    let at = Clock::system().stamp();
    retry_busy(|| {
        creditgate::service::upgrade::migrate(&mut conn, &keys, at).map_err(anyhow::Error::msg)
    })?;
    let operator = Actor {
        keys: std::sync::Arc::new(keys),
        who: creditgate::service::admin::operator(),
        at,
    };
    Ok((conn, operator))
}

pub(crate) fn list_keys(config: &Config, org: Option<&str>) -> anyhow::Result<()> {
    let (mut conn, _) = open(config)?;
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

pub(crate) fn revoke_key(config: &Config, id: &str) -> anyhow::Result<()> {
    let (mut conn, operator) = open(config)?;
    let revoked = creditgate::service::admin::revoke_blocking(&mut conn, &operator, id)
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

pub(crate) fn rotate_key(config: &Config, id: &str) -> anyhow::Result<()> {
    use creditgate::service::admin::{rotate_blocking, Rotation};
    let (mut conn, operator) = open(config)?;
    match rotate_blocking(&mut conn, &operator, id).map_err(anyhow::Error::msg)? {
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
