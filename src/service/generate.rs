//! `gen`: loads generated subjects and records ([`crate::synthetic`]) through the one write path
//! of records, for load tests.

use crate::synthetic;

/// What `creditgate gen` loaded.
#[derive(Debug, Clone, Default)]
pub struct GenReport {
    pub subjects: u64,
    pub records: u64,
    pub seconds: f64,
}

/// Loads `subjects` generated subjects numbered from `offset`, each with `per_subject` records,
/// through the one write path of records ([`super::ingest::write::apply_versions`]), in one
/// transaction per chunk of subjects: the same validation, rows and rules as the API. Loading
/// the same range again changes nothing.
pub async fn load_generated(
    ctx: &super::Ctx,
    subjects: u64,
    per_subject: u64,
    offset: u64,
    seed: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> super::ServiceResult<GenReport> {
    use super::ingest::{self, Outcome, Submitter, Write};
    use crate::domain::{Caller, Role};

    let started = std::time::Instant::now();
    let known = |c: &str| ctx.known_list(c);
    let mut report = GenReport::default();
    const CHUNK: u64 = 2_000;
    let mut first = 0;
    while first < subjects {
        let last = (first + CHUNK).min(subjects);
        let now = ctx.clock.stamp();
        let mut writes = Vec::new();
        for k in first..last {
            let n = offset + k;
            // One generator per subject, so any range of subjects comes out the same.
            let mut rng = synthetic::rng(seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let subject = synthetic::subject(&mut rng, n);
            for i in 0..per_subject {
                let (source, v) = synthetic::record(&mut rng, n, i, &subject);
                let submitter = Submitter {
                    caller: Caller {
                        key_id: "gen".into(),
                        org_code: source,
                        role: Role::Provider,
                    },
                };
                let (rec, source_code) = ingest::parse_item(v, &submitter, &ctx.keys, &known)
                    .map_err(|e| {
                        super::ServiceError::Internal(anyhow::anyhow!(
                            "generated record rejected: {e:?}"
                        ))
                    })?;
                writes.push(Write::Upsert {
                    record: Box::new(rec),
                    source_code,
                });
            }
        }
        let watch = crate::service::watchlists::events::Watch::of(ctx);
        let registration = ctx.registration_sources.clone();
        let applied = ctx
            .db
            .run_write(move |conn| {
                diesel::Connection::transaction(conn, |conn| {
                    ingest::write::apply_versions(conn, &watch, &registration, &writes, now)
                })
            })
            .await?;
        report.subjects += applied.touched.len() as u64;
        report.records += applied
            .outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Created(_)))
            .count() as u64;
        progress(last - first);
        first = last;
    }
    // Fresh statistics after a bulk load: without them PostgreSQL plans the related-person
    // lookups of a check as parallel scans (measured: 296 against 1,408 checks/s).
    ctx.db.run_write(crate::store::analyze).await?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}
