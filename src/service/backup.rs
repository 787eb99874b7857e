//! `creditgate backup DIR` and `creditgate restore DIR` (issue #19): a copy of the database with
//! a manifest that says what it holds and under which data key, and a restore that refuses what
//! would not read and proves what it restored.
//!
//! A backup seals the access log, then copies the database (`store::backup::dump`: one
//! snapshot, counted in that snapshot), and writes `manifest.json`: the backend, the schema
//! version, the counts, the file's SHA-256, the data key's id (`DataKeys::key_id`, never the
//! key), and a checkpoint of the access log's head signed under the key. The key itself is
//! never in a backup: keep it apart, as the data is useless without it.
//!
//! A restore refuses, before writing anything, a manifest it does not know, a file whose
//! SHA-256 differs, another backend, another data key, and a database that is not empty; then
//! loads the copy (all or nothing), applies newer migrations, verifies the whole access-log
//! chain and that it still holds the head the backup's checkpoint names, and compares the
//! counts.

use std::path::{Path, PathBuf};

use chrono::{NaiveDateTime, SecondsFormat};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::audit::{self, checkpoint::Checkpoint};
use crate::crypto::DataKeys;
use crate::store::backup::{self as store_backup, Contents};
use crate::store::{self, Backend};

pub const FORMAT: &str = "creditgate-backup/1";
const MANIFEST: &str = "manifest.json";

/// `manifest.json` of a backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub backend: String,
    /// When the backup was taken (UTC).
    pub taken_at: String,
    pub creditgate_version: String,
    /// The copy, beside the manifest.
    pub file: String,
    pub sha256: String,
    /// The data key's id: a restore under another key is refused.
    pub data_key_id: String,
    pub contents: Contents,
    /// The access log's sealed head when the backup was taken, signed under the data key.
    pub checkpoint: Option<Checkpoint>,
    /// HMAC-SM3 under the data key over everything above: a manifest edited to match an altered
    /// copy is refused.
    #[serde(default)]
    pub mac: String,
}

impl Manifest {
    fn mac_under(&self, keys: &DataKeys) -> Result<String, String> {
        let mut v = serde_json::to_value(self).map_err(|e| e.to_string())?;
        if let Some(o) = v.as_object_mut() {
            o.remove("mac");
        }
        Ok(keys.audit_mac(&[
            b"backup manifest|",
            crate::domain::canonical_json(&v).as_bytes(),
        ]))
    }
}

/// Takes a backup of the database at `url` into `dir` (made; it must not hold a backup).
pub fn backup(
    url: &str,
    keys: &DataKeys,
    now: NaiveDateTime,
    dir: &Path,
) -> Result<Manifest, String> {
    let backend = store::backend_of(url)?;
    if dir.join(MANIFEST).exists() {
        return Err(format!("{} holds a backup already", dir.display()));
    }
    let pool = store::connect(url, 1)?;
    let mut conn = pool.get().map_err(|e| e.to_string())?;
    if !audit::key_matches(&mut conn, keys).map_err(|e| e.to_string())? {
        return Err("the configured data key is not the key this database's access log was written under: set CREDITGATE_DATA_KEY to that key (nothing was sealed or copied)".into());
    }
    super::files::private_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    audit::seal_all(&mut conn, keys, now).map_err(|e| e.to_string())?;
    let file = match backend {
        Backend::Postgres => "database.pgdump",
        Backend::Sqlite => "database.sqlite",
    };
    let path = dir.join(file);
    if path.exists() {
        return Err(format!("{} exists already", path.display()));
    }
    // A copy without its manifest is no backup: removed when anything after this fails.
    let made = (|| {
        let contents = store_backup::dump(&mut conn, url, &path)?;
        let sha256 = sha256_of(&path)?;
        Ok::<_, String>((contents, sha256))
    })();
    let (contents, sha256) = match made {
        Ok(m) => m,
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
    };
    let at = now.and_utc().to_rfc3339_opts(SecondsFormat::Micros, true);
    let manifest = Manifest {
        format: FORMAT.into(),
        backend: backend.as_str().into(),
        taken_at: at.clone(),
        creditgate_version: env!("CARGO_PKG_VERSION").into(),
        file: file.into(),
        sha256,
        data_key_id: keys.key_id(),
        checkpoint: contents
            .head
            .clone()
            .map(|h| Checkpoint::new(keys, contents.head_seq, h, at)),
        contents,
        mac: String::new(),
    };
    let mut manifest = manifest;
    manifest.mac = manifest.mac_under(keys)?;
    let body = serde_json::to_vec_pretty(&manifest).map_err(|e| e.to_string())?;
    // Whole or absent, and on the disk before the command says it is done.
    if let Err(e) = super::files::write_whole(dir, MANIFEST, &body) {
        let _ = std::fs::remove_file(&path);
        return Err(format!("{MANIFEST}: {e}"));
    }
    Ok(manifest)
}

/// What a restore found in the restored database.
#[derive(Debug, Clone)]
pub struct Restored {
    pub manifest: Manifest,
    /// Counted after the restore (and after newer migrations).
    pub contents: Contents,
    pub verification: audit::Verification,
    /// Migrations applied after the load (a backup of an older version).
    pub migrated: usize,
}

/// Restores the backup in `dir` into the empty database at `url`.
pub fn restore(
    url: &str,
    keys: &DataKeys,
    now: NaiveDateTime,
    dir: &Path,
) -> Result<Restored, String> {
    let manifest = read_manifest(dir)?;
    let backend = store::backend_of(url)?;
    if manifest.backend != backend.as_str() {
        return Err(format!(
            "the backup is of a {} database; CREDITGATE_DATABASE_URL is {}",
            manifest.backend,
            backend.as_str()
        ));
    }
    if manifest.data_key_id != keys.key_id() {
        return Err(format!(
            "the backup was taken under another data key (id {}; the configured key's id is {}): its ID numbers and its access-log chain would not read. Set CREDITGATE_DATA_KEY to the key it was taken under",
            manifest.data_key_id,
            keys.key_id()
        ));
    }
    if manifest.mac_under(keys)? != manifest.mac {
        return Err(format!(
            "{} does not carry the data key's MAC: edited, or not written by creditgate backup",
            dir.join(MANIFEST).display()
        ));
    }
    // A backup of a newer schema would load, and then no migration of this build could read
    // it: refused before anything is written.
    let newest = store::known_schema_versions(backend);
    if newest
        .last()
        .is_some_and(|n| manifest.contents.schema_version.as_str() > n.as_str())
    {
        return Err(format!(
            "the backup was taken by creditgate {} at schema version {}, newer than this creditgate {} knows ({}): restore it with that version or newer",
            manifest.creditgate_version,
            manifest.contents.schema_version,
            env!("CARGO_PKG_VERSION"),
            newest.last().map(String::as_str).unwrap_or("none")
        ));
    }
    let mut parts = Path::new(&manifest.file).components();
    if !matches!(
        (parts.next(), parts.next()),
        (Some(std::path::Component::Normal(_)), None)
    ) {
        return Err(format!("manifest names an odd file: {}", manifest.file));
    }
    let file: PathBuf = dir.join(&manifest.file);
    let sha = sha256_of(&file)?;
    if sha != manifest.sha256 {
        return Err(format!(
            "{} is not the file the backup wrote (SHA-256 {sha}, the manifest says {}): damaged or altered",
            file.display(),
            manifest.sha256
        ));
    }
    if !store_backup::is_empty(url, backend)? {
        return Err(format!(
            "{} is not empty: a restore goes into a new database only",
            store::redact_url(url)
        ));
    }
    store_backup::load(url, backend, &file)?;
    // From here on the database holds the backup: a failure names what to do.
    let loaded = |e: String| {
        format!(
            "{e} (the backup was loaded into {}: drop it before trying again)",
            store::redact_url(url)
        )
    };
    let pool = store::connect(url, 1).map_err(loaded)?;
    let mut conn = pool.get().map_err(|e| loaded(e.to_string()))?;
    let migrated = super::upgrade::migrate(&mut conn, keys, now)
        .map_err(loaded)?
        .len();
    let contents = store_backup::contents(&mut conn).map_err(|e| loaded(e.to_string()))?;
    let mut verification = audit::verify(&mut conn, keys).map_err(|e| loaded(e.to_string()))?;
    if let Some(c) = &manifest.checkpoint {
        let found = vec![(PathBuf::from(MANIFEST), c.clone())];
        let mut breaks = audit::checkpoint::check(&mut conn, keys, &found, verification.head_seq)
            .map_err(|e| loaded(e.to_string()))?;
        verification.breaks.append(&mut breaks);
    }
    Ok(Restored {
        manifest,
        contents,
        verification,
        migrated,
    })
}

impl Restored {
    /// What differs from the backup: counts, and any break of the chain.
    pub fn problems(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .verification
            .breaks
            .iter()
            .map(|b| b.problem.clone())
            .collect();
        let (want, got) = (&self.manifest.contents, &self.contents);
        for (what, w, g) in [
            ("subjects", want.subjects, got.subjects),
            ("records", want.records, got.records),
            ("reports", want.reports, got.reports),
            (
                "access-log entries",
                want.access_entries,
                got.access_entries,
            ),
        ] {
            // Newer migrations and the restore itself add no rows of these, but the access log
            // may hold more than the backup when a migration logs.
            let ok = if what == "access-log entries" {
                g >= w
            } else {
                g == w
            };
            if !ok {
                out.push(format!(
                    "{what}: the backup holds {w}, the restored database {g}"
                ));
            }
        }
        out
    }
}

fn read_manifest(dir: &Path) -> Result<Manifest, String> {
    let path = dir.join(MANIFEST);
    let body = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let m: Manifest = serde_json::from_slice(&body).map_err(|e| {
        format!(
            "{} is not a creditgate backup manifest: {e}",
            path.display()
        )
    })?;
    if m.format != FORMAT {
        return Err(format!(
            "{}: format {} is not {FORMAT}",
            path.display(),
            m.format
        ));
    }
    Ok(m)
}

fn sha256_of(path: &Path) -> Result<String, String> {
    let mut f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(hex::encode(h.finalize()))
}
