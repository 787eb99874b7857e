//! Archiving the access log (issue #19). MLPS 2.0 level 3 (GB/T 22239-2019, 8.1.4.3 c) keeps
//! audit records at least six months; past that a city moves old entries out of the database
//! without losing the proof that they are whole.
//!
//! `audit archive --before T DIR` writes the sealed entries written before T, oldest first, as
//! one JSON line each (`access-log-FROM-TO.jsonl`, every column with its hashes), beside a
//! manifest (`access-log-FROM-TO.json`): the seq range, the chain hash before it, the file's
//! SHA-256, a checkpoint of its last entry and an HMAC-SM3 under the audit key. An archive
//! continues the one before it (its first entry's previous hash is that one's last chain hash),
//! so a directory of archives is one chain from seq 1. With `--prune` (only for entries older
//! than six months) the archived entries leave the database and the anchor (seq and chain hash
//! of the last archived entry, with its MAC) is kept in their place: `audit verify` walks from
//! it, and `audit verify --archive DIR` checks the archives and that they end where the
//! database's chain begins. The chain's last entry always stays, so sealing goes on from it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{Months, NaiveDateTime, SecondsFormat};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::checkpoint::Checkpoint;
use super::{Break, Walk};
use crate::crypto::DataKeys;
use crate::domain::canonical_json;
use crate::service::files;
use crate::store::audit::{self as store_audit, Anchor};
use crate::store::DbConn;

/// How long entries stay in the database at least (MLPS 2.0 level 3: six months).
pub const KEEP_MONTHS: u32 = 6;
/// How many entries one transaction of a prune removes.
const PRUNE_STEP: i64 = 5_000;
const FORMAT: &str = "creditgate-access-log-archive/1";

/// The manifest of one archive file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveManifest {
    pub format: String,
    pub from_seq: i64,
    pub to_seq: i64,
    pub entries: u64,
    /// The cut-off: every entry in the file was written before it (UTC, RFC 3339).
    pub before: String,
    /// The chain hash of the entry before `from_seq` (the genesis hash for seq 1).
    pub prev_hash: String,
    /// The entries, one JSON line each, beside the manifest.
    pub file: String,
    pub sha256: String,
    /// The head at `to_seq`, signed.
    pub checkpoint: Checkpoint,
    pub made_at: String,
    /// HMAC-SM3 under the audit key over everything above.
    #[serde(default)]
    pub mac: String,
}

impl ArchiveManifest {
    fn mac_under(&self, keys: &DataKeys) -> String {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.remove("mac");
        }
        keys.audit_mac(&[b"access log archive|", canonical_json(&v).as_bytes()])
    }
}

fn anchor_mac(
    keys: &DataKeys,
    seq: i64,
    chain_hash: &str,
    at: NaiveDateTime,
    file: &str,
) -> String {
    let at = at.and_utc().to_rfc3339_opts(SecondsFormat::Micros, true);
    let body = json!({"seq": seq, "chain_hash": chain_hash, "archived_at": at, "archive": file});
    keys.audit_mac(&[b"audit anchor|", canonical_json(&body).as_bytes()])
}

/// Whether the anchor in the database was written by a holder of the key.
pub fn anchor_mac_ok(keys: &DataKeys, a: &Anchor) -> bool {
    anchor_mac(keys, a.seq, &a.chain_hash, a.archived_at, &a.archive) == a.mac
}

/// The earliest cut-off that `--prune` refuses at `now`: entries are kept six months.
pub fn keep_limit(now: NaiveDateTime) -> NaiveDateTime {
    now.checked_sub_months(Months::new(KEEP_MONTHS))
        .unwrap_or(NaiveDateTime::MIN)
}

/// One archive run: the cut-off, the time now (the six months count from it), whether the
/// archived entries are removed, and how many one transaction removes.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    pub before: NaiveDateTime,
    pub now: NaiveDateTime,
    pub prune: bool,
    pub prune_step: i64,
}

impl Run {
    pub fn new(before: NaiveDateTime, now: NaiveDateTime, prune: bool) -> Run {
        Run {
            before,
            now,
            prune,
            prune_step: PRUNE_STEP,
        }
    }
}

/// What an archive run did.
#[derive(Debug, Clone)]
pub struct Archived {
    /// None: no sealed entry before the cut-off that is not archived already.
    pub manifest: Option<ArchiveManifest>,
    pub path: Option<PathBuf>,
    /// Entries removed from the database (with `prune`), and the seq the chain in the
    /// database now begins after.
    pub pruned: usize,
    pub pruned_to: Option<i64>,
}

fn stem(from: i64, to: i64) -> String {
    format!("access-log-{from:012}-{to:012}")
}

/// A failure while writing an archive: the database's or the file's.
struct Failed(String);

impl From<crate::store::StoreError> for Failed {
    fn from(e: crate::store::StoreError) -> Self {
        Failed(e.to_string())
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{}: {e}", path.display())
}

/// Archives the sealed entries written before `before` that `dir` does not hold yet, as the
/// next archive of its chain; with `prune`, removes the entries up to the cut-off from the
/// database (refused for a cut-off less than six months before `now`). `progress` hears how many
/// entries are written so far, and the total.
///
/// Refused, with nothing written or removed, when the database's chain or the archives already
/// in `dir` have a break, or `dir` is not the directory the earlier archives went to.
pub fn archive(
    conn: &mut DbConn,
    keys: &DataKeys,
    dir: &Path,
    run: &Run,
    progress: &dyn Fn(u64, u64),
) -> Result<Archived, String> {
    let Run {
        before,
        now,
        prune,
        prune_step,
    } = *run;
    let db = |e: crate::store::StoreError| e.to_string();
    let limit = keep_limit(now);
    if prune && before > limit {
        return Err(format!(
            "access-log entries are kept at least {KEEP_MONTHS} months (MLPS 2.0 level 3): --prune takes a cut-off of {} or earlier, not {}. Without --prune the archive is written and nothing is removed",
            limit.and_utc().to_rfc3339_opts(SecondsFormat::Secs, true),
            before.and_utc().to_rfc3339_opts(SecondsFormat::Secs, true)
        ));
    }
    if !super::key_matches(conn, keys).map_err(db)? {
        return Err("the configured data key is not the key this database's access log was written under: set CREDITGATE_DATA_KEY to that key (nothing was sealed or archived)".into());
    }
    super::seal_all(conn, keys, now).map_err(db)?;
    // An archive of a broken chain, or a prune past an edited anchor, would make the damage
    // look whole: the whole chain is checked first.
    let chain = super::verify(conn, keys).map_err(db)?;
    if let Some(b) = chain.breaks.first() {
        return Err(format!(
            "the access log has {} break(s) (the first: {}): run `creditgate audit verify`; nothing was archived",
            chain.breaks.len(),
            b.problem
        ));
    }
    let held = read_archives(keys, dir, &BTreeMap::new())?;
    if let Some(b) = held.breaks.first() {
        return Err(format!(
            "the archives in {} have {} break(s) (the first: {}): run `creditgate audit verify --archive {}`; nothing was archived",
            dir.display(),
            held.breaks.len(),
            b.problem,
            dir.display()
        ));
    }
    // The archives must be of this chain: their last entry is the database's entry at that
    // seq (or its anchor). Another database's archives, or archives past a restore that went
    // back, would otherwise let a prune remove entries no archive holds.
    if held.archives > 0 && held.to_seq >= chain.archived_to {
        let joins = check_against(conn, keys, &held, chain.head_seq).map_err(db)?;
        if let Some(b) = joins.first() {
            return Err(format!(
                "the archives in {} are not of this database's chain ({}): archive into the directory of this database's archives; nothing was archived",
                dir.display(),
                b.problem
            ));
        }
    }
    if held.to_seq < chain.archived_to {
        return Err(format!(
            "{} holds archives up to seq {}, but the database's entries up to seq {} were archived and removed: archive into the directory that holds them",
            dir.display(),
            held.to_seq,
            chain.archived_to
        ));
    }
    let mut out = Archived {
        manifest: None,
        path: None,
        pruned: 0,
        pruned_to: None,
    };
    if chain.head_seq == 0 {
        return Ok(out);
    }
    let newer = store_audit::first_seq_from(conn, before).map_err(db)?;
    // Up to the entry before the first one written at or after the cut-off, and never the head:
    // sealing goes on from it.
    let to = newer
        .map_or(chain.head_seq, |s| s - 1)
        .min(chain.head_seq - 1);
    if to > held.to_seq {
        let m = write_archive(
            conn,
            keys,
            dir,
            (held.to_seq + 1, to),
            held.head.clone(),
            (before, now),
            progress,
        )?;
        out.path = Some(dir.join(format!("{}.json", stem(m.from_seq, m.to_seq))));
        out.manifest = Some(m);
    }
    if prune && to > chain.archived_to {
        // The archive that holds a seq: the one just written, or one already in the directory.
        let archive_of = |seq: i64| match &out.manifest {
            Some(m) if m.from_seq <= seq => m.file.clone(),
            _ => held
                .ranges
                .iter()
                .find(|(from, last, _)| *from <= seq && seq <= *last)
                .map(|(_, _, file)| file.clone())
                .unwrap_or_default(),
        };
        // In steps of `prune_step` entries, each its own transaction that moves the anchor on: the
        // log's writers (SQLite has one) never wait long, and a run cut short leaves a whole
        // chain that the next run goes on from.
        let (mut at, mut pruned) = (chain.archived_to, 0);
        while at < to {
            let end = (at + prune_step.max(1)).min(to);
            let step = (|| {
                let hash = store_audit::sealed_after(conn, end - 1, 1)?
                    .into_iter()
                    .find(|r| r.seq == Some(end))
                    .and_then(|r| r.chain_hash)
                    .ok_or_else(|| {
                        crate::store::StoreError::Corrupt(format!(
                            "entry seq {end} is not in the database"
                        ))
                    })?;
                let archive = archive_of(end);
                let anchor = Anchor {
                    id: 1,
                    seq: end,
                    mac: anchor_mac(keys, end, &hash, now, &archive),
                    chain_hash: hash,
                    archived_at: now,
                    archive,
                };
                store_audit::prune(conn, at, &anchor)
            })();
            match step {
                Ok(n) => {
                    pruned += n;
                    at = end;
                }
                Err(e) => {
                    return Err(format!(
                        "{e} (removed {pruned} entries up to seq {at} before this; the archive is written, and the chain in the database is whole: run the command again)"
                    ))
                }
            }
        }
        out.pruned = pruned;
        out.pruned_to = Some(to);
    }
    Ok(out)
}

/// Writes the entries `from..=to`, continuing the chain from `prev`, as the archive
/// `access-log-FROM-TO` in `dir`, and reads it back. Returns its manifest.
fn write_archive(
    conn: &mut DbConn,
    keys: &DataKeys,
    dir: &Path,
    (from, to): (i64, i64),
    prev: String,
    (before, now): (NaiveDateTime, NaiveDateTime),
    progress: &dyn Fn(u64, u64),
) -> Result<ArchiveManifest, String> {
    let name = stem(from, to);
    let file = dir.join(format!("{name}.jsonl"));
    if file.exists() {
        return Err(format!(
            "{} exists without its manifest (a run cut short): remove it and run again",
            file.display()
        ));
    }
    files::private_dir(dir).map_err(io(dir))?;
    let part = dir.join(format!(".{name}.jsonl.part"));
    let _ = std::fs::remove_file(&part);
    let (head, sha256, count) =
        match write_entries(conn, keys, &part, (from, to), prev.clone(), progress) {
            Ok(w) => w,
            Err(e) => {
                let _ = std::fs::remove_file(&part);
                return Err(e);
            }
        };
    std::fs::rename(&part, &file).map_err(io(&file))?;
    let made_at = now.and_utc().to_rfc3339_opts(SecondsFormat::Micros, true);
    let mut manifest = ArchiveManifest {
        format: FORMAT.into(),
        from_seq: from,
        to_seq: to,
        entries: count,
        before: before
            .and_utc()
            .to_rfc3339_opts(SecondsFormat::Micros, true),
        prev_hash: prev,
        file: format!("{name}.jsonl"),
        sha256,
        checkpoint: Checkpoint::new(keys, to, head, made_at.clone()),
        made_at,
        mac: String::new(),
    };
    manifest.mac = manifest.mac_under(keys);
    let body = serde_json::to_vec_pretty(&manifest).map_err(|e| e.to_string())?;
    if let Err(e) = files::write_whole(dir, &format!("{name}.json"), &body) {
        let _ = std::fs::remove_file(&file);
        return Err(format!(
            "{}: {e}",
            dir.join(format!("{name}.json")).display()
        ));
    }
    // What may leave the database must read back from the disk first.
    if let Some(b) = check_one(keys, dir, &manifest, &BTreeMap::new()).first() {
        return Err(format!(
            "the archive written to {} does not read back whole ({}): nothing was removed from the database",
            file.display(),
            b.problem
        ));
    }
    Ok(manifest)
}

/// Writes the entries `from..=to` to `part`, walking their chain from `prev`; refuses a range
/// with a break. Returns the last chain hash, the file's SHA-256 and the count.
fn write_entries(
    conn: &mut DbConn,
    keys: &DataKeys,
    part: &Path,
    (from, to): (i64, i64),
    prev: String,
    progress: &dyn Fn(u64, u64),
) -> Result<(String, String, u64), String> {
    let total = (to - from + 1) as u64;
    let mut out = std::io::BufWriter::new(files::create_private(part).map_err(io(part))?);
    let mut sha = Sha256::new();
    let mut walk = Walk::after(keys, from - 1, prev);
    super::each_sealed(conn, from - 1, to, |r| {
        walk.step(r);
        let mut line = serde_json::to_vec(r).map_err(|e| Failed(e.to_string()))?;
        line.push(b'\n');
        sha.update(&line);
        out.write_all(&line).map_err(|e| Failed(io(part)(e)))?;
        if walk.sealed.is_multiple_of(10_000) {
            progress(walk.sealed, total);
        }
        Ok(())
    })
    .map_err(|Failed(e)| e)?;
    progress(walk.sealed, total);
    if walk.head_seq != to {
        walk.breaks.push(Break {
            id: None,
            seq: Some(to),
            problem: format!("the chain ends at seq {} before seq {to}", walk.head_seq),
        });
    }
    if let Some(b) = walk.breaks.first() {
        return Err(format!(
            "the chain has {} break(s) between seq {from} and {to} (the first: {}): run `creditgate audit verify`; nothing was archived",
            walk.breaks.len(),
            b.problem
        ));
    }
    let file = out.into_inner().map_err(|e| e.to_string())?;
    file.sync_all().map_err(io(part))?;
    Ok((walk.head, hex::encode(sha.finalize()), walk.sealed))
}

mod check;
pub use check::{check_against, verify_dir, ArchiveCheck, BySeq};
use check::{check_one, read_archives};
