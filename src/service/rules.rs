//! Reloading the rule set without a restart: the new set replaces the old one whole, and a set
//! with any error never replaces a good one.

use std::sync::Arc;

use serde::Serialize;
use utoipa::ToSchema;

use super::{Ctx, ServiceError};
use crate::rules::{load, RuleError};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReloadOutcome {
    pub version: String,
    pub digest: String,
    pub previous_digest: String,
    /// False when the files had not changed.
    pub changed: bool,
}

pub enum ReloadError {
    /// The files are not a valid rule set; the old set stays active.
    Invalid(Vec<RuleError>),
    Failed(ServiceError),
}

/// Loads the rule files again from the configured directory and, if they are valid, keeps
/// them in the database and makes them active.
pub async fn reload(ctx: &Ctx, who: &crate::domain::Caller) -> Result<ReloadOutcome, ReloadError> {
    let dir = ctx.rules_dir.clone();
    let set = tokio::task::spawn_blocking(move || load::load_dir(&dir))
        .await
        .map_err(|e| ReloadError::Failed(ServiceError::Internal(anyhow::anyhow!("{e}"))))?
        .map_err(ReloadError::Invalid)?;
    let previous = ctx.rules().digest.clone();
    let kept = set.clone();
    let actor = super::audit::Actor::new(ctx, who);
    let prev = previous.clone();
    let by = who.clone();
    ctx.db
        .run_write(move |conn| {
            diesel::Connection::transaction(conn, |conn| {
                activate(conn, &kept, actor.at, Activation::Reload(&by))?;
                super::audit::append(
                    conn,
                    &actor,
                    &super::audit::Entry {
                        action: "rules.reload",
                        outcome: "ok",
                        detail: Some(serde_json::json!({
                            "version": kept.version,
                            "digest": kept.digest,
                            "previous_digest": prev,
                        })),
                        ..Default::default()
                    },
                )
                .map(|_| ())
            })
        })
        .await
        .map_err(|e| ReloadError::Failed(e.into()))?;
    let outcome = ReloadOutcome {
        version: set.version.clone(),
        digest: set.digest.clone(),
        changed: set.digest != previous,
        previous_digest: previous,
    };
    ctx.replace_rules(set);
    tracing::info!(
        version = %outcome.version,
        digest = %outcome.digest,
        changed = outcome.changed,
        "rule set reloaded"
    );
    Ok(outcome)
}

/// How a rule set came to be the one checks use.
pub enum Activation<'a> {
    /// A server started with it.
    Startup,
    /// An admin reloaded the rule files.
    Reload(&'a crate::domain::Caller),
}

/// Keeps the set's files and records that it is now the one checks use (the rule history, and
/// the set an as-known-at replay of a later time uses), unless it already was the last set
/// activated: a restart with the same files, or a second instance, adds nothing.
pub fn activate(
    conn: &mut crate::store::DbConn,
    set: &crate::rules::RuleSet,
    at: chrono::NaiveDateTime,
    how: Activation,
) -> Result<(), crate::store::StoreError> {
    use crate::store::rule_history::{self, ActivationRow};
    diesel::Connection::transaction(conn, |conn| {
        rule_history::lock(conn)?;
        super::checks::keep_rule_set(conn, set, at)?;
        if rule_history::latest(conn)?.is_some_and(|last| last.digest == set.digest) {
            return Ok(());
        }
        let (how, by_org, by_key) = match how {
            Activation::Startup => ("startup", None, None),
            Activation::Reload(c) => ("reload", Some(c.org_code.clone()), Some(c.key_id.clone())),
        };
        rule_history::insert(
            conn,
            &ActivationRow {
                id: format!("act_{}", ulid::Ulid::new()),
                digest: set.digest.clone(),
                activated_at: at,
                how: how.to_string(),
                by_org,
                by_key,
            },
        )
    })
}

/// `GET /api/v1/rules/history`: every rule set that was in use, oldest first.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct RulesHistory {
    pub sets: Vec<HistoryEntry>,
}

/// One period in which a rule set was the one checks use.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct HistoryEntry {
    pub version: String,
    #[schema(example = "sha256:cf927cf6e7424bb51e5b12d3caf47f328a82c88e1b9527dd60fd1976f474a568")]
    pub digest: String,
    /// When it became the set in use (RFC 3339, UTC).
    pub from: String,
    /// When the next set replaced it; null for the set in use now.
    pub to: Option<String>,
    /// `startup` (a server started with it), `reload` (an admin reloaded the files), or
    /// `first_loaded` (kept before the history was; the time it was first loaded).
    pub how: String,
    /// The organisation whose admin reloaded it.
    pub by_org: Option<String>,
    /// The key that reloaded it (admins and auditors only).
    pub by_key: Option<String>,
    /// What differs from the set before it; null for the first, or when either set's files no
    /// longer load (`note` says why).
    pub changes: Option<crate::rules::diff::RuleSetDiff>,
    pub note: Option<String>,
}

/// The rule history, each set with what changed from the one before it.
pub async fn history(
    ctx: &super::Ctx,
    caller: &crate::domain::Caller,
) -> super::ServiceResult<RulesHistory> {
    use crate::domain::Role;
    super::access::READ_RULES.require(caller)?;
    let rows = ctx.db.run(crate::store::rule_history::all).await?;
    // A set activated again right after itself (two instances starting at once) is one period.
    let mut periods: Vec<(crate::store::rule_history::ActivationRow, String)> = Vec::new();
    for (row, version) in rows {
        if periods
            .last()
            .is_none_or(|(last, _)| last.digest != row.digest)
        {
            periods.push((row, version));
        }
    }
    let digests: Vec<String> = periods.iter().map(|(r, _)| r.digest.clone()).collect();
    let kept = ctx
        .db
        .run(move |conn| {
            let mut out = std::collections::BTreeMap::new();
            for d in digests {
                if let Some(row) = crate::store::checks::find_rule_set(conn, &d)? {
                    out.insert(d, row.sources);
                }
            }
            Ok(out)
        })
        .await?;
    let sees_keys = matches!(caller.role, Role::Admin | Role::Auditor);
    let loaded = tokio::task::spawn_blocking(move || {
        kept.into_iter()
            .map(|(digest, sources)| {
                let set = serde_json::from_str::<crate::rules::Sources>(&sources)
                    .map_err(|e| format!("its kept files cannot be read: {e}"))
                    .and_then(|s| {
                        crate::rules::load::build_kept(s).map_err(|errors| {
                            format!(
                                "its kept files no longer load: {}",
                                errors.first().map(|e| e.to_string()).unwrap_or_default()
                            )
                        })
                    });
                (digest, set)
            })
            .collect::<std::collections::BTreeMap<_, _>>()
    })
    .await
    .map_err(|e| ServiceError::Internal(anyhow::anyhow!("{e}")))?;
    let mut sets = Vec::with_capacity(periods.len());
    for (i, (row, version)) in periods.iter().enumerate() {
        let (changes, note) = match i.checked_sub(1).map(|p| &periods[p].0.digest) {
            None => (None, None),
            Some(prev) => match (loaded.get(prev), loaded.get(&row.digest)) {
                (Some(Ok(old)), Some(Ok(new))) => (Some(crate::rules::diff::diff(old, new)), None),
                (Some(Err(why)), _) => (None, Some(format!("the set before: {why}"))),
                (_, Some(Err(why))) => (None, Some(why.clone())),
                _ => (None, Some("the files of a set are not kept".to_string())),
            },
        };
        sets.push(HistoryEntry {
            version: version.clone(),
            digest: row.digest.clone(),
            from: super::rfc3339(row.activated_at),
            to: periods
                .get(i + 1)
                .map(|(next, _)| super::rfc3339(next.activated_at)),
            how: row.how.clone(),
            by_org: row.by_org.clone(),
            by_key: row.by_key.clone().filter(|_| sees_keys),
            changes,
            note,
        });
    }
    Ok(RulesHistory { sets })
}

/// The rule set kept under `digest`, built from its kept files; the active set itself when it
/// has that digest.
pub async fn kept(ctx: &Ctx, digest: &str) -> super::ServiceResult<Arc<crate::rules::RuleSet>> {
    let current = ctx.rules();
    if current.digest == digest {
        return Ok(current);
    }
    let d = digest.to_string();
    let kept = ctx
        .db
        .run(move |conn| crate::store::checks::find_rule_set(conn, &d))
        .await?
        .ok_or_else(|| ServiceError::Internal(anyhow::anyhow!("rule set {digest} is not kept")))?;
    tokio::task::spawn_blocking(move || {
        let sources: crate::rules::Sources = serde_json::from_str(&kept.sources)
            .map_err(|e| ServiceError::Internal(anyhow::anyhow!("kept rule set: {e}")))?;
        load::build_kept(sources).map(Arc::new).map_err(|e| {
            ServiceError::Internal(anyhow::anyhow!("kept rule set no longer builds: {e:?}"))
        })
    })
    .await
    .map_err(|e| ServiceError::Internal(anyhow::anyhow!("{e}")))?
}

/// The rule set in use across the deployment: the last one activated (by any instance), or
/// this process's own when none has been.
pub async fn in_use(ctx: &Ctx) -> super::ServiceResult<Arc<crate::rules::RuleSet>> {
    match ctx.db.run(crate::store::rule_history::latest).await? {
        Some(a) => kept(ctx, &a.digest).await,
        None => Ok(ctx.rules()),
    }
}
