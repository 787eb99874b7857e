//! Checkpoints of the access-log chain, kept outside the database (issue #19; MLPS 2.0 level 3
//! asks that audit records be protected from deletion and tampering).
//!
//! The chain itself finds an edited, deleted, inserted or reordered entry, but not a tail cut
//! off (the last entries deleted leave a shorter chain that is whole), nor a chain rebuilt by
//! someone who holds the data key. A checkpoint is the head of the chain at a moment — its seq
//! (the count of sealed entries, since seq counts from 1), its chain hash, the time — with an
//! HMAC-SM3 under the audit key, written as one file to a directory outside the database
//! (`CREDITGATE_AUDIT_CHECKPOINTS`: another disk, a mounted share, write-once storage). `audit
//! verify --checkpoints DIR` then finds a chain that ends before a checkpoint (cut off) or whose
//! entry at a checkpoint's seq has another chain hash (rewritten). The MAC shows a checkpoint
//! was written by a holder of the key; against such a holder, what protects is that files
//! already copied elsewhere cannot be changed.

use std::path::{Path, PathBuf};

use chrono::{NaiveDateTime, SecondsFormat};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Break;
use crate::crypto::DataKeys;
use crate::domain::canonical_json;
use crate::store::audit as store_audit;
use crate::store::{DbConn, StoreError};

/// One checkpoint file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The seq of the chain's head (also the number of sealed entries).
    pub head_seq: i64,
    /// The head's chain hash.
    pub head: String,
    /// When it was taken (UTC, RFC 3339).
    pub at: String,
    /// HMAC-SM3 under the audit key over the fields above.
    pub mac: String,
}

fn mac_of(keys: &DataKeys, head_seq: i64, head: &str, at: &str) -> String {
    let body = canonical_json(&json!({"head_seq": head_seq, "head": head, "at": at}));
    keys.audit_mac(&[b"checkpoint|", body.as_bytes()])
}

impl Checkpoint {
    /// A checkpoint of the head `head_seq`/`head` at `at`, with its MAC (a backup carries one).
    pub fn new(keys: &DataKeys, head_seq: i64, head: String, at: String) -> Checkpoint {
        Checkpoint {
            mac: mac_of(keys, head_seq, &head, &at),
            head_seq,
            head,
            at,
        }
    }
}

impl Checkpoint {
    /// Whether it was written by a holder of `keys`.
    pub fn mac_ok(&self, keys: &DataKeys) -> bool {
        mac_of(keys, self.head_seq, &self.head, &self.at) == self.mac
    }
}

/// The file a checkpoint of `head_seq` is written to.
pub fn file_name(head_seq: i64) -> String {
    format!("checkpoint-{head_seq:012}.json")
}

/// Writes a checkpoint of the chain's head to `dir`, unless the chain is empty or a checkpoint
/// of that head is there already. The head is read under the sealer's lock, so that it is a
/// head the chain had. The file appears whole and only once: written under a name of its own,
/// then linked to its final name, which fails if another instance published it first (that one
/// stands). The outer error is the database's (tried again next round); the inner, the
/// directory's. Returns the checkpoint written.
pub fn write(
    conn: &mut DbConn,
    keys: &DataKeys,
    dir: &Path,
    now: NaiveDateTime,
) -> Result<Result<Option<Checkpoint>, String>, StoreError> {
    use diesel::Connection;
    let head = conn.transaction::<_, StoreError, _>(|conn| {
        if !store_audit::try_sealer_lock(conn)? {
            return Ok(None);
        }
        store_audit::head(conn)
    })?;
    let Some((seq, hash)) = head.and_then(|h| Some((h.seq?, h.chain_hash?))) else {
        return Ok(Ok(None));
    };
    let path = dir.join(file_name(seq));
    if path.exists() {
        return Ok(Ok(None));
    }
    let at = now.and_utc().to_rfc3339_opts(SecondsFormat::Micros, true);
    let c = Checkpoint::new(keys, seq, hash, at);
    Ok(publish(dir, &path, &c).map(|written| written.then_some(c)))
}

/// Writes `c` to `path` in `dir` whole and once: false when the file was there first.
fn publish(dir: &Path, path: &Path, c: &Checkpoint) -> Result<bool, String> {
    use std::io::Write;
    let io = |e: std::io::Error| format!("cannot write the checkpoint to {}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(io)?;
    let part = dir.join(format!(
        ".{}.{}-{:016x}.part",
        file_name(c.head_seq),
        std::process::id(),
        rand::random::<u64>()
    ));
    let body = serde_json::to_vec_pretty(c).unwrap_or_default();
    let written = (|| {
        let mut f = std::fs::File::create(&part)?;
        f.write_all(&body)?;
        f.sync_all()?;
        match std::fs::hard_link(&part, path) {
            // Shares that refuse hard links (CIFS, some object stores): the file is created
            // only if absent and written in place (a reader may see it part-written, briefly).
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                tracing::debug!(error = %e, "no hard link in the checkpoint directory; writing in place");
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(path)?;
                f.write_all(&body)?;
                f.sync_all()
            }
            linked => linked,
        }
    })();
    let _ = std::fs::remove_file(&part);
    match written {
        Ok(()) => {
            tracing::info!(head_seq = c.head_seq, file = %path.display(), "access log checkpoint written");
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(io(e)),
    }
}

/// Checkpoints with the files they were read from.
pub type Found = Vec<(PathBuf, Checkpoint)>;

/// The checkpoints in `dir` (`checkpoint-*.json`), by head seq; a file that does not read as a
/// checkpoint is a break of its own.
pub fn read_dir(dir: &Path) -> Result<(Found, Vec<Break>), String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut found = Vec::new();
    let mut breaks = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if !(name.starts_with("checkpoint-") && name.ends_with(".json")) {
            continue;
        }
        match std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Checkpoint>(&b).ok())
        {
            Some(c) => found.push((path, c)),
            None => breaks.push(Break {
                id: None,
                seq: None,
                problem: format!("checkpoint file {name} cannot be read as a checkpoint"),
            }),
        }
    }
    found.sort_by_key(|(_, c)| c.head_seq);
    if found.is_empty() {
        breaks.push(Break {
            id: None,
            seq: None,
            problem: format!(
                "no checkpoint in {}: deleted, or the directory is not the one the sealer writes to",
                dir.display()
            ),
        });
    }
    Ok((found, breaks))
}

/// What the checkpoints say about the chain in the database: a checkpoint whose MAC is wrong
/// (forged or damaged), a chain that ends before a checkpoint's head (its tail cut off), an
/// entry at a checkpoint's seq with another chain hash (the chain rewritten from there or
/// before).
pub fn check(
    conn: &mut DbConn,
    keys: &DataKeys,
    checkpoints: &[(PathBuf, Checkpoint)],
    chain_head_seq: i64,
) -> Result<Vec<Break>, StoreError> {
    let mut breaks = Vec::new();
    // Entries up to the anchor's seq were archived and removed: a checkpoint of those is
    // checked against the archives (`audit verify --archive`), one of the anchor's own seq here.
    let anchor = store_audit::anchor(conn)?;
    for (path, c) in checkpoints {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        if !c.mac_ok(keys) {
            breaks.push(Break {
                id: None,
                seq: Some(c.head_seq),
                problem: format!(
                    "checkpoint {name} does not carry the key's MAC: forged or damaged, not used"
                ),
            });
            continue;
        }
        if c.head_seq > chain_head_seq {
            breaks.push(Break {
                id: None,
                seq: Some(c.head_seq),
                problem: format!(
                    "the chain ends at seq {chain_head_seq}, but checkpoint {name} of {} covered entries up to seq {}: entries after seq {chain_head_seq} were cut off",
                    c.at, c.head_seq
                ),
            });
            continue;
        }
        if let Some(a) = anchor.as_ref().filter(|a| c.head_seq <= a.seq) {
            if c.head_seq == a.seq && c.head != a.chain_hash {
                breaks.push(Break {
                    id: None,
                    seq: Some(c.head_seq),
                    problem: format!(
                        "the archive anchor (seq {}) has another chain hash than checkpoint {name} of {} recorded: the chain was rewritten at or before seq {}",
                        a.seq, c.at, a.seq
                    ),
                });
            }
            continue;
        }
        let at_seq = store_audit::sealed_after(conn, c.head_seq - 1, 1)?
            .into_iter()
            .find(|r| r.seq == Some(c.head_seq));
        match at_seq {
            None => breaks.push(Break {
                id: None,
                seq: Some(c.head_seq),
                problem: format!(
                    "entry seq {} of checkpoint {name} ({}) is not in the chain (deleted)",
                    c.head_seq, c.at
                ),
            }),
            Some(r) if r.chain_hash.as_deref() != Some(c.head.as_str()) => breaks.push(Break {
                id: Some(r.id.clone()),
                seq: Some(c.head_seq),
                problem: format!(
                    "entry {} (seq {}) has another chain hash than checkpoint {name} of {} recorded: the chain was rewritten at or before seq {}",
                    r.id, c.head_seq, c.at, c.head_seq
                ),
            }),
            Some(_) => {}
        }
    }
    Ok(breaks)
}
