//! A rules folder uploaded as one file, a zip or a tar (`POST /api/v1/admin/rules/impact`),
//! read in memory into the files the loader builds a set from (`load::Sources`): the same
//! files `load::read_dir` reads from a folder, found under the folder that holds
//! `ruleset.yaml` (so `rules/ruleset.yaml` and `ruleset.yaml` at the top both work). Nothing is
//! written to disk; an archive that would unpack to more than [`MAX_UNPACKED`] bytes or holds
//! more than [`MAX_ENTRIES`] entries is refused before it is read further.

use std::io::Read;

use super::load::{RuleError, Sources};

/// Bytes the rule files may unpack to, in all.
pub const MAX_UNPACKED: u64 = 16 * 1024 * 1024;
/// Entries an archive may hold (files and folders).
pub const MAX_ENTRIES: usize = 4096;

fn error(file: &str, reason: impl Into<String>) -> RuleError {
    RuleError {
        file: file.to_string(),
        line: None,
        reason: reason.into(),
    }
}

/// The rule files in a zip or tar archive; every problem found, each naming its file.
pub fn read_archive(bytes: &[u8]) -> Result<Sources, Vec<RuleError>> {
    let files = if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        read_zip(bytes)
    } else if bytes.len() >= 262 && &bytes[257..262] == b"ustar" {
        read_tar(bytes)
    } else {
        Err(vec![error(
            "(archive)",
            "not a zip or tar file: upload the rules folder as a .zip or an uncompressed .tar",
        )])
    }?;
    pick(files)
}

/// Every regular file of a zip, by its path.
fn read_zip(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, Vec<RuleError>> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| vec![error("(archive)", format!("not a readable zip file: {e}"))])?;
    if zip.len() > MAX_ENTRIES {
        return Err(vec![error(
            "(archive)",
            format!("more than {MAX_ENTRIES} entries; upload the rules folder only"),
        )]);
    }
    let mut out = Vec::new();
    let mut total = 0u64;
    for i in 0..zip.len() {
        let mut f = zip
            .by_index(i)
            .map_err(|e| vec![error("(archive)", format!("entry {i} cannot be read: {e}"))])?;
        if !f.is_file() {
            continue;
        }
        let name = f.name().map(|n| n.into_owned()).map_err(|e| {
            vec![error(
                "(archive)",
                format!("entry {i} has no readable name: {e}"),
            )]
        })?;
        let body = take(&mut f, &name, &mut total)?;
        out.push((name, body));
    }
    Ok(out)
}

/// Every regular file of a tar, by its path.
fn read_tar(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, Vec<RuleError>> {
    let mut tar = tar::Archive::new(bytes);
    let entries = tar
        .entries()
        .map_err(|e| vec![error("(archive)", format!("not a readable tar file: {e}"))])?;
    let mut out = Vec::new();
    let mut total = 0u64;
    for (i, entry) in entries.enumerate() {
        if i >= MAX_ENTRIES {
            return Err(vec![error(
                "(archive)",
                format!("more than {MAX_ENTRIES} entries; upload the rules folder only"),
            )]);
        }
        let mut e = entry
            .map_err(|e| vec![error("(archive)", format!("entry {i} cannot be read: {e}"))])?;
        if !e.header().entry_type().is_file() {
            continue;
        }
        let name = e
            .path()
            .map(|p| p.to_string_lossy().into_owned())
            .map_err(|err| vec![error("(archive)", format!("entry {i}: {err}"))])?;
        let body = take(&mut e, &name, &mut total)?;
        out.push((name, body));
    }
    Ok(out)
}

/// Reads one entry, keeping the whole archive under [`MAX_UNPACKED`].
fn take(r: &mut dyn Read, name: &str, total: &mut u64) -> Result<Vec<u8>, Vec<RuleError>> {
    let room = MAX_UNPACKED.saturating_sub(*total);
    let mut body = Vec::new();
    r.take(room + 1)
        .read_to_end(&mut body)
        .map_err(|e| vec![error(name, format!("cannot be unpacked: {e}"))])?;
    *total += body.len() as u64;
    if *total > MAX_UNPACKED {
        return Err(vec![error(
            "(archive)",
            format!("unpacks to more than {MAX_UNPACKED} bytes; upload the rules folder only"),
        )]);
    }
    Ok(body)
}

/// The rule set's files among an archive's: the folder holding `ruleset.yaml` is the root;
/// its `ruleset.yaml`, `periods.yaml` and the YAML files directly in `catalog/`,
/// `scenarios/` and `calendar/` are kept, anything else (`tests/`, a README) is left out.
fn pick(files: Vec<(String, Vec<u8>)>) -> Result<Sources, Vec<RuleError>> {
    let normal = |p: &str| p.trim_start_matches("./").replace('\\', "/");
    let roots: Vec<String> = files
        .iter()
        .map(|(p, _)| normal(p))
        .filter_map(|p| {
            let root = p.strip_suffix("ruleset.yaml")?;
            (root.is_empty() || root.ends_with('/')).then(|| root.to_string())
        })
        .collect();
    let root = match roots.as_slice() {
        [one] => one.clone(),
        [] => {
            return Err(vec![error(
                "ruleset.yaml",
                "the archive has no ruleset.yaml: upload the rules folder (ruleset.yaml, periods.yaml, catalog/, scenarios/, calendar/)",
            )])
        }
        _ => {
            return Err(vec![error(
                "ruleset.yaml",
                format!(
                    "the archive has {} ruleset.yaml files ({}): upload one rules folder",
                    roots.len(),
                    roots
                        .iter()
                        .map(|r| format!("{r}ruleset.yaml"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )])
        }
    };
    let mut sources = Sources::new();
    let mut errors = Vec::new();
    for (path, body) in files {
        let Some(rel) = normal(&path).strip_prefix(&root).map(String::from) else {
            continue;
        };
        let wanted = super::load::SET_FILES.contains(&rel.as_str())
            || super::load::SET_FOLDERS.iter().any(|folder| {
                rel.strip_prefix(folder)
                    .and_then(|r| r.strip_prefix('/'))
                    .is_some_and(|name| {
                        !name.contains('/') && (name.ends_with(".yaml") || name.ends_with(".yml"))
                    })
            });
        if !wanted {
            continue;
        }
        match String::from_utf8(body) {
            Ok(text) => {
                sources.insert(rel, text);
            }
            Err(_) => errors.push(error(&rel, "is not UTF-8 text")),
        }
    }
    for file in super::load::SET_FILES {
        if !sources.contains_key(*file) {
            errors.push(error(file, "missing from the archive"));
        }
    }
    if errors.is_empty() {
        Ok(sources)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        {
            let mut z = zip::ZipWriter::new(&mut out);
            for (name, body) in files {
                z.start_file(*name, zip::write::SimpleFileOptions::default())
                    .unwrap();
                std::io::Write::write_all(&mut z, body.as_bytes()).unwrap();
            }
            z.finish().unwrap();
        }
        out.into_inner()
    }

    fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, body) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, body.as_bytes()).unwrap();
        }
        b.into_inner().unwrap()
    }

    const SET: &[(&str, &str)] = &[
        ("rules/ruleset.yaml", "version: x\n"),
        ("rules/periods.yaml", "rules: []\n"),
        ("rules/scenarios/a.yaml", "a\n"),
        ("rules/scenarios/deeper/b.yaml", "b\n"),
        ("rules/tests/t.yaml", "t\n"),
        ("rules/README.md", "r\n"),
    ];

    #[test]
    fn zip_and_tar_give_the_same_files_under_the_folder_of_ruleset_yaml() {
        for bytes in [zip_of(SET), tar_of(SET)] {
            let s = read_archive(&bytes).unwrap();
            assert_eq!(
                s.keys().collect::<Vec<_>>(),
                ["periods.yaml", "ruleset.yaml", "scenarios/a.yaml"]
            );
        }
    }

    #[test]
    fn what_is_not_a_rules_folder_is_refused_with_a_reason() {
        let none = read_archive(&zip_of(&[("x/periods.yaml", "")])).unwrap_err();
        assert!(none[0].reason.contains("no ruleset.yaml"), "{none:?}");
        let two =
            read_archive(&zip_of(&[("a/ruleset.yaml", ""), ("b/ruleset.yaml", "")])).unwrap_err();
        assert!(two[0].reason.contains("2 ruleset.yaml"), "{two:?}");
        let half = read_archive(&tar_of(&[("ruleset.yaml", "")])).unwrap_err();
        assert_eq!(half[0].file, "periods.yaml");
        for junk in [&b""[..], b"hello", b"PK\x03\x04broken", &[0u8; 600][..]] {
            assert!(read_archive(junk).is_err());
        }
        // A file named like the rule set is not one.
        let fake = read_archive(&zip_of(&[("notruleset.yaml", "")])).unwrap_err();
        assert!(fake[0].reason.contains("no ruleset.yaml"));
    }

    #[test]
    fn a_bomb_is_refused_before_it_is_read_to_the_end() {
        let big = "x".repeat((MAX_UNPACKED + 10) as usize);
        let bytes = zip_of(&[("ruleset.yaml", &big)]);
        assert!(bytes.len() < 1024 * 1024, "deflated: {}", bytes.len());
        let e = read_archive(&bytes).unwrap_err();
        assert!(e[0].reason.contains("unpacks to more than"), "{e:?}");
    }
}
