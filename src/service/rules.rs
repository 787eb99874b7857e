//! Reloading the rule set without a restart: the new set replaces the old one whole, and a set
//! with any error never replaces a good one.

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
    ctx.db
        .run_write(move |conn| {
            diesel::Connection::transaction(conn, |conn| {
                super::checks::keep_rule_set(conn, &kept, actor.at)?;
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
