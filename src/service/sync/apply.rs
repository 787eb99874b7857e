//! Applying a page of the platform's changes: put in order, validated, written through the one
//! write path of records with the cursor, in one transaction.

use super::*;

/// Checks a page against the cursor it was asked for and puts it in order. Cursors are opaque
/// (docs/provincial-protocol.md): they are compared for equality only, never ordered (`c14`
/// sorts before `c7` as text, and a platform's cursors need not sort at all). So:
/// - a page that follows another cursor than the one asked for is refused (asked for again);
/// - a change repeated in the page, or at the cursor asked for, is dropped;
/// - the changes keep the page's order, except that the changes of one record are put in the
///   order of their versions (a removal shuffled before its record's upsert would otherwise
///   find nothing to remove); a change at or before what the city holds is then skipped by
///   its version, so a page that repeats earlier changes is harmless.
pub fn order_page(after: Option<&str>, page: ChangePage) -> Result<ChangePage, SyncError> {
    let ChangePage {
        changes,
        after: follows,
        next_cursor,
        has_more,
        remaining,
    } = page;
    if follows.as_deref() != after {
        return Err(SyncError::BadAnswer(format!(
            "the page follows {} instead of the cursor asked for, {}",
            follows.as_deref().unwrap_or("the start"),
            after.unwrap_or("the start")
        )));
    }
    if next_cursor.is_none() && !changes.is_empty() {
        return Err(SyncError::BadAnswer("the page has no next cursor".into()));
    }
    // An empty page without a next cursor stays where it was asked (nothing new).
    let next_cursor = next_cursor.or_else(|| after.map(str::to_string));
    // A page that does not move the cursor may hold nothing and end the feed; otherwise the
    // city would ask for the same page for ever.
    let stays = next_cursor.as_deref() == after;
    if stays && (has_more || !changes.is_empty()) {
        return Err(SyncError::BadAnswer(format!(
            "the page {} but its next cursor is the cursor asked for, {}",
            if changes.is_empty() {
                "says there is more"
            } else {
                "holds changes"
            },
            after.unwrap_or("the start")
        )));
    }
    let mut seen = std::collections::HashSet::new();
    let mut changes: Vec<Change> = changes
        .into_iter()
        .filter(|c| Some(c.cursor.as_str()) != after && seen.insert(c.cursor.clone()))
        .collect();
    // Each record's changes, by version, into the places its changes held in the page.
    let mut places: std::collections::HashMap<(String, String), Vec<usize>> = Default::default();
    for (i, c) in changes.iter().enumerate() {
        places
            .entry((c.source_code.clone(), c.source_record_id.clone()))
            .or_default()
            .push(i);
    }
    for at in places.into_values().filter(|at| at.len() > 1) {
        let mut own: Vec<Change> = at.iter().map(|&i| changes[i].clone()).collect();
        own.sort_by_key(|c| c.version);
        for (&i, c) in at.iter().zip(own) {
            changes[i] = c;
        }
    }
    Ok(ChangePage {
        changes,
        after: follows,
        next_cursor,
        has_more,
        remaining,
    })
}

/// An upsert's record, validated; or why it was refused.
pub(super) enum Parsed {
    Upsert(Box<crate::domain::NewRecord>),
    Remove,
    Rejected(String),
}

pub(super) fn parse_change(ctx: &Ctx, c: &Change) -> Parsed {
    if !(1..=ingest::MAX_VERSION).contains(&c.version) {
        return Parsed::Rejected(format!(
            "version {} is not from 1 to {}",
            c.version,
            ingest::MAX_VERSION
        ));
    }
    match c.op.as_str() {
        "remove" => Parsed::Remove,
        "upsert" => {
            let Some(Value::Object(mut record)) = c.record.clone() else {
                return Parsed::Rejected("an upsert without a record object".into());
            };
            // The change's own identity and version win over what the record says.
            record.insert("source_code".into(), json!(c.source_code));
            record.insert("source_record_id".into(), json!(c.source_record_id));
            record.insert("version".into(), json!(c.version));
            record.insert("origin".into(), json!(Origin::Provincial.as_str()));
            let submitter = Submitter {
                caller: sync_caller(),
            };
            let known = |code: &str| ctx.known_list(code);
            match ingest::parse_item(Value::Object(record), &submitter, &ctx.keys, &known) {
                Ok((r, _)) => Parsed::Upsert(Box::new(r)),
                Err(errors) => Parsed::Rejected(
                    errors
                        .iter()
                        .map(|e| format!("{}: {}", e.field, e.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
            }
        }
        other => Parsed::Rejected(format!("unknown op '{other}' (upsert or remove)")),
    }
}

/// What a page's transaction did.
pub struct Applied {
    pub counts: PageCounts,
    /// Cache keys of the subjects whose profile changed.
    pub(super) touched: BTreeSet<String>,
}

/// Applies one ordered page (from [`order_page`]) through the one write path of records
/// ([`ingest::write::apply_versions`]) and moves the cursor from `after` to the page's next
/// cursor, in one transaction. `None`: another runner moved the cursor first, and nothing was
/// written.
pub(super) fn apply_page_tx(
    conn: &mut DbConn,
    actor: &Actor,
    watch: &crate::service::watchlists::events::Watch,
    parsed: &[(Change, Parsed)],
    after: Option<&str>,
    page: &ChangePage,
) -> Result<Option<Applied>, StoreError> {
    let now = actor.at;
    let writes: Vec<Write> = parsed
        .iter()
        .map(|(c, p)| match p {
            Parsed::Upsert(r) => Write::Upsert {
                record: r.clone(),
                source_code: c.source_code.clone(),
            },
            Parsed::Remove => Write::Remove {
                source_code: c.source_code.clone(),
                source_record_id: c.source_record_id.clone(),
                version: c.version,
            },
            Parsed::Rejected(_) => Write::Invalid {
                source_code: c.source_code.clone(),
                source_record_id: c.source_record_id.clone(),
                version: c.version,
            },
        })
        .collect();
    conn.transaction::<_, StoreError, _>(|conn| {
        store_sync::ensure_state(conn, PLATFORM, now)?;
        if !store_sync::claim(conn, PLATFORM, after, now)? {
            return Ok(None);
        }
        // Provincial records register their subjects whatever the configured sources.
        let applied = ingest::write::apply_versions(conn, watch, &[], &writes, now)?;
        let mut counts = PageCounts::default();
        let mut last_reject = None;
        for ((c, p), outcome) in parsed.iter().zip(&applied.outcomes) {
            match outcome {
                Outcome::Created(_) | Outcome::Updated(_) => counts.upserts += 1,
                Outcome::Revoked(_) => counts.removals += 1,
                Outcome::Unchanged(_) | Outcome::Stale { .. } | Outcome::Absent => {
                    counts.skipped += 1
                }
                Outcome::Invalid => {
                    counts.rejected += 1;
                    let why = match p {
                        Parsed::Rejected(why) => why.as_str(),
                        _ => "invalid",
                    };
                    last_reject = Some(crate::domain::id_number::masked(&format!(
                        "{} {} version {} ({}): {why}",
                        c.source_code, c.source_record_id, c.version, c.cursor
                    )));
                }
            }
        }
        let next = page.next_cursor.as_deref().or(after);
        store_sync::advance(
            conn,
            PLATFORM,
            next,
            &counts,
            page.remaining,
            last_reject.as_deref(),
            now,
        )?;
        crate::service::audit::append(
            conn,
            actor,
            &crate::service::audit::Entry {
                action: "sync.apply",
                records: applied.changed,
                outcome: "ok",
                detail: Some(json!({
                    "after": after,
                    "cursor": next,
                    "upserts": counts.upserts,
                    "removals": counts.removals,
                    "skipped": counts.skipped,
                    "rejected": counts.rejected,
                })),
                ..Default::default()
            },
        )?;
        Ok(Some(Applied {
            counts,
            touched: applied.touched,
        }))
    })
}

/// Applies one page (already ordered) from `after`: see [`apply_page_tx`].
pub async fn apply_page(
    ctx: &Ctx,
    after: Option<String>,
    page: ChangePage,
) -> Result<Option<PageCounts>, StoreError> {
    let parsed: Vec<(Change, Parsed)> = page
        .changes
        .iter()
        .map(|c| {
            // The record id as the city keeps it (no ID number in it; see `ingest::parse_item`),
            // so that removals and versions find the record an upsert stored.
            let mut c = c.clone();
            c.source_record_id = ctx.keys.pseudonymise(&c.source_record_id);
            let p = parse_change(ctx, &c);
            (c, p)
        })
        .collect();
    let (actor, clock) = (Actor::new(ctx, &sync_caller()), ctx.clock.clone());
    let watch = crate::service::watchlists::events::Watch::of(ctx);
    let applied = ctx
        .db
        .run_write(move |conn| {
            let actor = actor.now(&clock);
            apply_page_tx(conn, &actor, &watch, &parsed, after.as_deref(), &page)
        })
        .await?;
    Ok(match applied {
        None => None,
        Some(a) => {
            crate::service::query::invalidate_profiles(ctx, &a.touched).await;
            Some(a.counts)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(cursor: &str, id: &str, op: &str, version: i64) -> Change {
        Change {
            cursor: cursor.into(),
            op: op.into(),
            source_code: "PROV".into(),
            source_record_id: id.into(),
            version,
            record: None,
        }
    }

    fn page(after: Option<&str>, changes: Vec<Change>) -> ChangePage {
        ChangePage {
            next_cursor: changes.last().map(|c| c.cursor.clone()),
            changes,
            after: after.map(str::to_string),
            has_more: false,
            remaining: None,
        }
    }

    fn cursors(p: &ChangePage) -> Vec<&str> {
        p.changes.iter().map(|c| c.cursor.as_str()).collect()
    }

    #[test]
    fn cursors_are_never_ordered() {
        // As text, c10 < c8 < c9: a client that sorted or compared them would drop or refuse.
        let p = page(
            Some("c7"),
            vec![
                change("c8", "A", "upsert", 1),
                change("c9", "B", "upsert", 1),
                change("c10", "C", "upsert", 1),
            ],
        );
        let p = order_page(Some("c7"), p).unwrap();
        assert_eq!(cursors(&p), ["c8", "c9", "c10"]);
        assert_eq!(p.next_cursor.as_deref(), Some("c10"));
    }

    #[test]
    fn repeats_are_dropped_and_a_records_changes_go_by_version() {
        let p = page(
            Some("k"),
            vec![
                change("k", "A", "upsert", 1),
                change("x2", "B", "remove", 2),
                change("x3", "C", "upsert", 1),
                change("x2", "B", "remove", 2),
                change("x1", "B", "upsert", 1),
            ],
        );
        let p = order_page(Some("k"), p).unwrap();
        // The change at the cursor asked for and the repeat are gone; B's upsert now comes
        // before its removal, in the places B's changes held.
        let got: Vec<(&str, &str, i64)> = p
            .changes
            .iter()
            .map(|c| (c.source_record_id.as_str(), c.op.as_str(), c.version))
            .collect();
        assert_eq!(
            got,
            [("B", "upsert", 1), ("C", "upsert", 1), ("B", "remove", 2)]
        );
    }

    #[test]
    fn a_page_from_elsewhere_is_refused() {
        let p = page(Some("c3"), vec![change("c4", "A", "upsert", 1)]);
        assert!(matches!(
            order_page(Some("c14"), p),
            Err(SyncError::BadAnswer(_))
        ));
        let mut p = page(None, vec![change("c1", "A", "upsert", 1)]);
        p.next_cursor = None;
        assert!(order_page(None, p).is_err());
        // An empty page that names no next cursor: nothing new, the cursor stays.
        let p = order_page(Some("c9"), page(Some("c9"), vec![])).unwrap();
        assert_eq!(p.next_cursor.as_deref(), Some("c9"));
        // A page that does not move the cursor yet says there is more, or holds changes, would
        // be asked for again for ever.
        let mut more = page(Some("c9"), vec![]);
        more.has_more = true;
        assert!(order_page(Some("c9"), more).is_err());
        let mut stuck = page(Some("c9"), vec![change("c10", "A", "upsert", 1)]);
        stuck.next_cursor = Some("c9".into());
        assert!(order_page(Some("c9"), stuck).is_err());
    }
}
