//! A copy of the whole database, and its restore: PostgreSQL through `pg_dump`/`pg_restore`
//! (custom format, taken in one snapshot that the counts are read in too), SQLite with
//! `VACUUM INTO` (a consistent copy while the service runs). The counts and the access log's
//! head are read from exactly what was copied.

use std::path::Path;
use std::process::Command;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::{sqlite_path, Backend, DbConn, StoreError};

/// What a copy holds, read from the copy's own snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Contents {
    /// The last migration applied.
    pub schema_version: String,
    pub subjects: i64,
    pub records: i64,
    pub reports: i64,
    pub access_entries: i64,
    /// The access log's sealed head (seq 0 and no hash: none sealed).
    pub head_seq: i64,
    pub head: Option<String>,
}

#[derive(QueryableByName)]
struct Counted {
    #[diesel(sql_type = Nullable<Text>)]
    schema_version: Option<String>,
    #[diesel(sql_type = BigInt)]
    subjects: i64,
    #[diesel(sql_type = BigInt)]
    records: i64,
    #[diesel(sql_type = BigInt)]
    reports: i64,
    #[diesel(sql_type = BigInt)]
    access_entries: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    head_seq: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    head: Option<String>,
}

const COUNT: &str = "SELECT \
    (SELECT MAX(version) FROM __diesel_schema_migrations) AS schema_version, \
    (SELECT COUNT(*) FROM subjects) AS subjects, \
    (SELECT COUNT(*) FROM credit_records) AS records, \
    (SELECT COUNT(*) FROM check_reports) AS reports, \
    (SELECT COUNT(*) FROM access_log) AS access_entries, \
    (SELECT MAX(seq) FROM access_log) AS head_seq, \
    (SELECT chain_hash FROM access_log WHERE seq = (SELECT MAX(seq) FROM access_log)) AS head";

impl From<Counted> for Contents {
    fn from(c: Counted) -> Contents {
        Contents {
            schema_version: c.schema_version.unwrap_or_default(),
            subjects: c.subjects,
            records: c.records,
            reports: c.reports,
            access_entries: c.access_entries,
            head_seq: c.head_seq.unwrap_or(0),
            head: c.head,
        }
    }
}

/// What the database holds now.
pub fn contents(conn: &mut DbConn) -> Result<Contents, StoreError> {
    let c: Counted = super::on_backend!(conn, |c| diesel::sql_query(COUNT).get_result(c))?;
    Ok(c.into())
}

/// `url` without its password, and the password (percent-decoded): the password goes to
/// `pg_dump`/`pg_restore` in `PGPASSWORD`, not on their command line, where every user of the
/// machine could read it (`ps`).
fn split_password(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_string(), None);
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return (url.to_string(), None);
    };
    let Some((user, password)) = userinfo.split_once(':') else {
        return (url.to_string(), None);
    };
    let decoded = percent_decode(password);
    (format!("{scheme}://{user}@{host}{tail}"), Some(decoded))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `pg_dump` or `pg_restore` against `url`, its password in the environment.
fn pg_tool(tool: &str, url: &str) -> Command {
    let (bare, password) = split_password(url);
    let mut c = Command::new(tool);
    c.arg(format!("--dbname={bare}"));
    if let Some(p) = password {
        c.env("PGPASSWORD", p);
    }
    c
}

/// Copies the database at `url` (open as `conn`) to `file`; what the copy holds.
pub fn dump(conn: &mut DbConn, url: &str, file: &Path) -> Result<Contents, String> {
    let path = file
        .to_str()
        .ok_or_else(|| format!("{} is not a UTF-8 path", file.display()))?;
    match conn {
        DbConn::Pg(c) => c
            .build_transaction()
            .repeatable_read()
            .read_only()
            .run(|c| {
                #[derive(QueryableByName)]
                struct Exported {
                    #[diesel(sql_type = Text)]
                    id: String,
                }
                let snap: Exported =
                    diesel::sql_query("SELECT pg_export_snapshot() AS id").get_result(c)?;
                let counted: Counted = diesel::sql_query(COUNT).get_result(c)?;
                // pg_dump reads the same snapshot: the counts are the dump's.
                let out = pg_tool("pg_dump", url)
                    .args(["--format=custom", "--no-owner", "--no-privileges"])
                    .arg(format!("--snapshot={}", snap.id))
                    .arg(format!("--file={path}"))
                    .output()
                    .map_err(|e| StoreError::Unavailable(format!("cannot run pg_dump: {e}")))?;
                if !out.status.success() {
                    return Err(StoreError::Unavailable(format!(
                        "pg_dump failed: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    )));
                }
                Ok(counted)
            })
            .map_err(|e: StoreError| e.to_string())
            .map(Contents::from),
        DbConn::Sqlite(c) => {
            diesel::sql_query(format!("VACUUM INTO '{}'", path.replace('\'', "''")))
                .execute(c)
                .map_err(|e| format!("VACUUM INTO failed: {e}"))?;
            // Counted in the copy itself.
            let mut copy = DbConn::Sqlite(
                SqliteConnection::establish(path).map_err(|e| format!("{path}: {e}"))?,
            );
            contents(&mut copy).map_err(|e| e.to_string())
        }
    }
}

/// Whether the database at `url` holds nothing to overwrite: on PostgreSQL no table in its
/// `public` schema; on SQLite no file yet.
pub fn is_empty(url: &str, backend: Backend) -> Result<bool, String> {
    match backend {
        Backend::Postgres => {
            #[derive(QueryableByName)]
            struct N {
                #[diesel(sql_type = BigInt)]
                n: i64,
            }
            let mut c = PgConnection::establish(url).map_err(|e| e.to_string())?;
            let n: N = diesel::sql_query(
                "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'public'",
            )
            .get_result(&mut c)
            .map_err(|e| e.to_string())?;
            Ok(n.n == 0)
        }
        // Nor a journal left beside it: SQLite would replay it onto the restored file.
        Backend::Sqlite => Ok(["", "-wal", "-shm", "-journal"]
            .iter()
            .all(|s| !Path::new(&format!("{}{s}", sqlite_path(url))).exists())),
    }
}

/// Loads a copy made by [`dump`] into the empty database at `url`: all of it or nothing.
pub fn load(url: &str, backend: Backend, file: &Path) -> Result<(), String> {
    match backend {
        Backend::Postgres => {
            let out = pg_tool("pg_restore", url)
                .args([
                    "--no-owner",
                    "--no-privileges",
                    "--exit-on-error",
                    "--single-transaction",
                ])
                .arg(file)
                .output()
                .map_err(|e| format!("cannot run pg_restore: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "pg_restore failed (nothing was restored): {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            Ok(())
        }
        Backend::Sqlite => {
            let to = Path::new(sqlite_path(url));
            if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            }
            // Beside, then linked into place: a copy cut short never looks like a database, and
            // a file that appeared since the check is not replaced.
            let part = to.with_extension("restoring");
            let copied = std::fs::copy(file, &part)
                .and_then(|_| std::fs::File::open(&part)?.sync_all())
                .and_then(|_| std::fs::hard_link(&part, to));
            let _ = std::fs::remove_file(&part);
            copied.map_err(|e| format!("{}: {e}", to.display()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split_password;

    #[test]
    fn the_password_leaves_the_url() {
        assert_eq!(
            split_password("postgres://cg:p%40ss:w@db:5432/creditgate"),
            (
                "postgres://cg@db:5432/creditgate".to_string(),
                Some("p@ss:w".to_string())
            )
        );
        assert_eq!(
            split_password("postgres://postgres@127.0.0.1:5432/x"),
            ("postgres://postgres@127.0.0.1:5432/x".to_string(), None)
        );
    }
}
