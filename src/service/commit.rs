//! Group commit of what a request must have durable before it is answered: the access-log entry
//! of a read, a check's report with its entry. Concurrent requests share one transaction and one
//! commit (one disk flush) instead of one each, with multi-row inserts; each still waits until
//! its own rows are committed.
//!
//! A group that fails is retried one request at a time, so that one bad row (a report number
//! taken twice, say) refuses its own request and not its neighbours'.

use diesel::Connection;

use super::{Ctx, Db};
use crate::store::audit::AccessRow;
use crate::store::checks::ReportRow;
use crate::store::{bulk, DbConn, StoreError};

/// What one request needs written.
pub enum Durable {
    /// A read's (or a refusal's) access-log entry.
    Access(AccessRow),
    /// A check's report, and the entry of the check (one commit: neither without the other).
    Report(Box<ReportRow>, AccessRow),
}

type Job = (Durable, tokio::sync::oneshot::Sender<Result<(), String>>);

/// The writer task of a server (started by the first request that needs it).
#[derive(Default)]
pub struct GroupWriter {
    tx: std::sync::OnceLock<tokio::sync::mpsc::Sender<Job>>,
}

/// At most this many requests per commit.
const GROUP: usize = 512;

impl GroupWriter {
    fn sender(&self, db: &Db) -> tokio::sync::mpsc::Sender<Job> {
        self.tx
            .get_or_init(|| {
                let (tx, rx) = tokio::sync::mpsc::channel::<Job>(4 * GROUP);
                tokio::spawn(write_groups(db.clone(), rx));
                tx
            })
            .clone()
    }
}

/// Writes `what` with the next group; returns once it is committed (or why it is not).
pub async fn durable(ctx: &Ctx, what: Durable) -> Result<(), String> {
    let (reply, done) = tokio::sync::oneshot::channel();
    ctx.writer
        .sender(&ctx.db)
        .send((what, reply))
        .await
        .map_err(|_| "its writer stopped".to_string())?;
    done.await.map_err(|_| "its writer stopped".to_string())?
}

/// Writes several, each in the next group, at once; returns once all are committed (or why the
/// first that is not, is not).
pub async fn durable_all(ctx: &Ctx, whats: Vec<Durable>) -> Result<(), String> {
    let sender = ctx.writer.sender(&ctx.db);
    let mut waits = Vec::with_capacity(whats.len());
    for what in whats {
        let (reply, done) = tokio::sync::oneshot::channel();
        sender
            .send((what, reply))
            .await
            .map_err(|_| "its writer stopped".to_string())?;
        waits.push(done);
    }
    for done in waits {
        done.await.map_err(|_| "its writer stopped".to_string())??;
    }
    Ok(())
}

/// Writes `group` in the caller's own transaction (a bulk job's chunk, with its cursor): one
/// commit for the chunk's reports, their entries and the job's progress.
pub fn write_in(conn: &mut DbConn, group: &[Durable]) -> Result<(), StoreError> {
    write(conn, &group.iter().collect::<Vec<_>>())
}

fn write(conn: &mut DbConn, group: &[&Durable]) -> Result<(), StoreError> {
    conn.transaction::<_, StoreError, _>(|conn| {
        let reports: Vec<ReportRow> = group
            .iter()
            .filter_map(|d| match d {
                Durable::Report(r, _) => Some(r.as_ref().clone()),
                Durable::Access(_) => None,
            })
            .collect();
        let entries: Vec<AccessRow> = group
            .iter()
            .map(|d| match d {
                Durable::Access(e) | Durable::Report(_, e) => e.clone(),
            })
            .collect();
        bulk::insert_reports(conn, &reports)?;
        bulk::insert_access_entries(conn, &entries)?;
        Ok(())
    })
}

async fn write_groups(db: Db, mut rx: tokio::sync::mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < GROUP {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let (whats, replies): (Vec<Durable>, Vec<_>) = jobs.into_iter().unzip();
        let results = db
            .run_write(move |conn| {
                let all: Vec<&Durable> = whats.iter().collect();
                Ok(match write(conn, &all) {
                    Ok(()) => vec![Ok(()); all.len()],
                    Err(e) if all.len() == 1 => vec![Err(e.to_string())],
                    // The group failed: each on its own, so one bad row refuses only its request.
                    Err(_) => all
                        .iter()
                        .map(|d| write(conn, &[d]).map_err(|e| e.to_string()))
                        .collect(),
                })
            })
            .await
            .unwrap_or_else(|e| vec![Err(e.to_string()); replies.len()]);
        let failed = results.iter().filter(|r| r.is_err()).count();
        if failed > 0 {
            tracing::error!(failed, group = replies.len(), error = ?results.iter().find_map(|r| r.as_ref().err()), "rows of requests not written; those requests are refused");
        }
        for (reply, result) in replies.into_iter().zip(results) {
            let _ = reply.send(result);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Caller, Role};
    use crate::service::audit;

    fn report(no: &str, digest: &str) -> ReportRow {
        ReportRow {
            report_no: no.into(),
            scenario: "procurement".into(),
            subject_key: "uscc:91110000MA00000152".into(),
            verdict: "clear".into(),
            rule_set_digest: digest.into(),
            requester_org: "ZWFW".into(),
            requester_role: "officer".into(),
            requester_key_id: "key_1".into(),
            purpose: "招标资格审查".into(),
            reference: None,
            as_of: chrono::NaiveDate::from_ymd_opt(2026, 12, 6).unwrap(),
            checked_at: chrono::NaiveDate::from_ymd_opt(2026, 12, 6)
                .unwrap()
                .and_hms_opt(8, 0, 0)
                .unwrap(),
            report: "{}".into(),
            facts: "{}".into(),
            digest: "d".into(),
        }
    }

    /// Three requests in one group, the second a report number taken twice: the group fails,
    /// each is written on its own, and only the second request is refused.
    #[tokio::test]
    async fn one_bad_row_refuses_its_own_request_only() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let pool = crate::store::connect(&url, 2).unwrap();
        let rules_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        let rules = crate::rules::load::load_dir(&rules_dir).unwrap();
        {
            let mut c = pool.get().unwrap();
            crate::store::migrate(&mut c).unwrap();
            crate::service::checks::keep_rule_set(&mut c, &rules, Default::default()).unwrap();
        }
        let db = Db::new(pool.clone(), crate::store::Backend::Sqlite, &url);
        let keys = crate::crypto::DataKeys::parse(&"ab".repeat(32)).unwrap();
        let caller = Caller {
            key_id: "key_1".into(),
            org_code: "ZWFW".into(),
            role: Role::Officer,
        };
        // Entries a second apart, in the order they are sent (the log's order is by time).
        let start = chrono::NaiveDate::from_ymd_opt(2026, 12, 6)
            .unwrap()
            .and_hms_opt(8, 0, 0)
            .unwrap();
        let entry = |action: &'static str, n: i64| {
            audit::build(
                &keys,
                &caller,
                start + chrono::TimeDelta::seconds(n),
                &audit::Entry {
                    action,
                    outcome: "ok",
                    ..Default::default()
                },
            )
        };
        let writer = GroupWriter::default();
        let tx = writer.sender(&db);
        let mut waits = Vec::new();
        for d in [
            Durable::Report(
                Box::new(report("CR-1", &rules.digest)),
                entry("check.run", 0),
            ),
            Durable::Report(
                Box::new(report("CR-1", &rules.digest)),
                entry("check.run", 1),
            ),
            Durable::Access(entry("profile.read", 2)),
        ] {
            let (reply, done) = tokio::sync::oneshot::channel();
            tx.send((d, reply)).await.unwrap();
            waits.push(done);
        }
        let mut outcomes = Vec::new();
        for w in waits {
            outcomes.push(w.await.unwrap().is_ok());
        }
        assert_eq!(outcomes, [true, false, true]);
        let mut c = pool.get().unwrap();
        assert!(crate::store::checks::find_report(&mut c, "CR-1")
            .unwrap()
            .is_some());
        let logged: Vec<String> = crate::store::audit::unsealed(&mut c, 10)
            .unwrap()
            .into_iter()
            .map(|r| r.action)
            .collect();
        assert_eq!(logged, ["check.run", "profile.read"]);
    }
}
