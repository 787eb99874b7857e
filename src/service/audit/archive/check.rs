//! Reading archives back: each one whole and signed, together one chain from seq 1, and
//! joined to the chain the database holds.

use std::collections::BTreeMap;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::super::checkpoint::Checkpoint;
use super::super::{Break, Walk, GENESIS};
use super::{io, stem, ArchiveManifest, FORMAT};
use crate::crypto::DataKeys;
use crate::store::audit::{self as store_audit, AccessRow};
use crate::store::DbConn;

/// The longest line an archive may hold: far past any entry (a few KiB, a long list of record
/// ids some hundreds), but a bound on what one line may take in memory.
const MAX_LINE: u64 = 16 << 20;

/// What the archives in a directory hold.
#[derive(Debug, Clone, Default)]
pub struct ArchiveCheck {
    pub archives: usize,
    pub entries: u64,
    /// The last archived seq, and its chain hash (0 and the genesis hash: none).
    pub to_seq: i64,
    pub head: String,
    /// The last archive's manifest file and its checkpoint.
    pub last: Option<(PathBuf, Checkpoint)>,
    /// Each archive's seq range and entries file.
    pub ranges: Vec<(i64, i64, String)>,
    pub breaks: Vec<Break>,
}

fn brk(seq: Option<i64>, problem: String) -> Break {
    Break {
        id: None,
        seq,
        problem,
    }
}

/// Checkpoints by seq (from the checkpoint directory), to compare with archived entries.
pub type BySeq = BTreeMap<i64, (String, Checkpoint)>;

/// At most this many problems named per archive: a file of junk is named, not listed line by line.
const MAX_BREAKS: usize = 100;
/// A manifest is a few hundred bytes; anything far larger is not read.
const MAX_MANIFEST: u64 = 64 << 10;

/// Checks one archive against its manifest: the file's SHA-256, every entry's hash and link,
/// the count, the signed checkpoint at its end, and every checkpoint of `checkpoints` that falls
/// in its range.
pub(super) fn check_one(
    keys: &DataKeys,
    dir: &Path,
    m: &ArchiveManifest,
    checkpoints: &BySeq,
) -> Vec<Break> {
    let name = &m.file;
    let mut parts = Path::new(name).components();
    if m.format != FORMAT
        || name != &format!("{}.jsonl", stem(m.from_seq, m.to_seq))
        || !matches!(
            (parts.next(), parts.next()),
            (Some(std::path::Component::Normal(_)), None)
        )
    {
        return vec![brk(
            None,
            format!("an archive manifest of another format, or naming an odd file: {name}"),
        )];
    }
    let Ok(f) = std::fs::File::open(dir.join(name)) else {
        return vec![brk(
            Some(m.from_seq),
            format!(
                "archive {name} of seq {}-{} is missing",
                m.from_seq, m.to_seq
            ),
        )];
    };
    let mut breaks = Vec::new();
    let mut sha = Sha256::new();
    let mut walk = Walk::after(keys, m.from_seq - 1, m.prev_hash.clone());
    let mut reader = std::io::BufReader::new(f);
    let mut line = Vec::new();
    let mut n = 0u64;
    loop {
        line.clear();
        // A line is read up to MAX_LINE: a file made to be one endless line is refused, not
        // held in memory.
        match (&mut reader)
            .take(MAX_LINE + 1)
            .read_until(b'\n', &mut line)
        {
            Ok(0) => break,
            Ok(k) if k as u64 > MAX_LINE => {
                breaks.push(brk(
                    None,
                    format!(
                        "archive {name}, line {}, is longer than {MAX_LINE} bytes: not an archive creditgate wrote",
                        n + 1
                    ),
                ));
                return breaks;
            }
            Ok(_) => {}
            Err(e) => {
                breaks.push(brk(None, format!("archive {name} cannot be read: {e}")));
                return breaks;
            }
        }
        n += 1;
        sha.update(&line);
        match serde_json::from_slice::<AccessRow>(&line) {
            Ok(r) => {
                walk.step(&r);
                if let (Some(seq), Some((cp, c))) = (r.seq, r.seq.and_then(|s| checkpoints.get(&s)))
                {
                    if r.chain_hash.as_deref() != Some(c.head.as_str()) {
                        walk.breaks.push(brk(
                            Some(seq),
                            format!(
                                "archived entry {} (seq {seq}) has another chain hash than checkpoint {cp} of {} recorded: rewritten before it was archived",
                                r.id, c.at
                            ),
                        ));
                    }
                }
            }
            Err(e) => breaks.push(brk(
                None,
                format!("archive {name}, line {n}, is not an access-log entry ({e})"),
            )),
        }
        if breaks.len() + walk.breaks.len() > MAX_BREAKS {
            breaks.append(&mut walk.breaks);
            breaks.truncate(MAX_BREAKS);
            breaks.push(brk(
                None,
                format!("archive {name}: more than {MAX_BREAKS} problems; not read further"),
            ));
            return breaks;
        }
    }
    let sha = hex::encode(sha.finalize());
    if sha != m.sha256 {
        breaks.push(brk(
            Some(m.from_seq),
            format!("archive {name} is not the file written (its SHA-256 differs from the manifest's): altered or damaged"),
        ));
    }
    breaks.append(&mut walk.breaks);
    if walk.sealed != m.entries || walk.head_seq != m.to_seq {
        breaks.push(brk(
            Some(m.to_seq),
            format!(
                "archive {name} holds {} entries up to seq {}; its manifest says {} up to seq {}",
                walk.sealed, walk.head_seq, m.entries, m.to_seq
            ),
        ));
    }
    let c = &m.checkpoint;
    if !c.mac_ok(keys) || c.head_seq != m.to_seq || c.head != walk.head {
        breaks.push(brk(
            Some(m.to_seq),
            format!(
                "archive {name} does not end at its signed checkpoint (seq {}): rewritten",
                c.head_seq
            ),
        ));
    }
    breaks
}

/// The archives in `dir` (none when it does not exist), each checked, and whether they join
/// into one chain from seq 1; `checkpoints` (MAC-checked by the caller) that fall in an
/// archive's range are compared with its entries.
pub(super) fn read_archives(
    keys: &DataKeys,
    dir: &Path,
    checkpoints: &BySeq,
) -> Result<ArchiveCheck, String> {
    let mut out = ArchiveCheck {
        head: GENESIS.into(),
        ..Default::default()
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io(dir)(e)),
    };
    let mut manifests = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if !(name.starts_with("access-log-") && name.ends_with(".json")) {
            continue;
        }
        let read = std::fs::File::open(e.path()).and_then(|f| {
            let mut b = Vec::new();
            f.take(MAX_MANIFEST).read_to_end(&mut b).map(|_| b)
        });
        match read
            .ok()
            .and_then(|b| serde_json::from_slice::<ArchiveManifest>(&b).ok())
        {
            Some(m) if m.mac == m.mac_under(keys) => manifests.push((name, m)),
            Some(_) => out.breaks.push(brk(
                None,
                format!("archive manifest {name} does not carry the key's MAC: edited or forged, not used"),
            )),
            None => out
                .breaks
                .push(brk(None, format!("archive manifest {name} cannot be read"))),
        }
    }
    manifests.sort_by_key(|(_, m)| m.from_seq);
    for (name, m) in &manifests {
        let expected = out.to_seq + 1;
        if m.from_seq > expected {
            out.breaks.push(brk(
                Some(expected),
                format!(
                    "entries seq {expected} to {} are in no archive in {}",
                    m.from_seq - 1,
                    dir.display()
                ),
            ));
        } else if m.from_seq < expected || m.prev_hash != out.head {
            out.breaks.push(brk(
                Some(m.from_seq),
                format!(
                    "archive {} does not continue the archive before it (it starts at seq {}, after seq {})",
                    m.file, m.from_seq, out.to_seq
                ),
            ));
        }
        out.breaks.append(&mut check_one(keys, dir, m, checkpoints));
        out.archives += 1;
        out.entries += m.entries;
        out.to_seq = m.to_seq;
        out.head = m.checkpoint.head.clone();
        out.last = Some((PathBuf::from(name), m.checkpoint.clone()));
        out.ranges.push((m.from_seq, m.to_seq, m.file.clone()));
    }
    Ok(out)
}

/// Checks every archive in `dir` and that they join into one chain from seq 1; an empty or
/// missing directory is a break. `checkpoints` that fall in an archive's range are compared with
/// its entries (their own MACs are checked by [`super::super::checkpoint::check`]).
pub fn verify_dir(
    keys: &DataKeys,
    dir: &Path,
    checkpoints: &[(PathBuf, Checkpoint)],
) -> Result<ArchiveCheck, String> {
    let by_seq: BySeq = checkpoints
        .iter()
        .filter(|(_, c)| c.mac_ok(keys))
        .map(|(p, c)| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            (c.head_seq, (name, c.clone()))
        })
        .collect();
    let mut out = read_archives(keys, dir, &by_seq)?;
    if out.archives == 0 {
        out.breaks
            .push(brk(None, format!("no archive in {}", dir.display())));
    }
    Ok(out)
}

/// Whether the database's chain begins where the archives end: its anchor (the last entry
/// removed) is the archives' last entry, or, with entries still in the database, the entry at
/// the archives' last seq has their chain hash.
pub fn check_against(
    conn: &mut DbConn,
    keys: &DataKeys,
    archives: &ArchiveCheck,
    chain_head_seq: i64,
) -> Result<Vec<Break>, crate::store::StoreError> {
    let mut breaks = Vec::new();
    if let Some(a) = store_audit::anchor(conn)? {
        if a.seq > archives.to_seq {
            breaks.push(brk(
                Some(a.seq),
                format!(
                    "entries up to seq {} were removed from the database, but the archives reach only seq {}: the archive of seq {} to {} is missing",
                    a.seq,
                    archives.to_seq,
                    archives.to_seq + 1,
                    a.seq
                ),
            ));
            return Ok(breaks);
        }
    }
    if let Some(last) = &archives.last {
        let found = std::slice::from_ref(last);
        breaks.append(&mut super::super::checkpoint::check(
            conn,
            keys,
            found,
            chain_head_seq,
        )?);
    }
    Ok(breaks)
}
