//! The YAML reader of the rule files and their fixtures, within bounds.
//!
//! serde-saphyr: safe Rust on the saphyr parser, maintained. (serde_yaml was archived upstream
//! in 2024, and the libyaml translation under it and its forks is unmaintained.) A rule file is
//! written by an administrator, but a candidate set can come from anywhere (an upload, a copy),
//! so what a file may hold is bounded before and while it is read: an alias bomb, a deep
//! nesting or a huge file is an error with its line, never a hang or an exhausted memory.

use serde::de::DeserializeOwned;

/// The largest rule or fixture file read (the shipped set's largest is about 20 KB).
pub const MAX_FILE_BYTES: usize = 1 << 20;
/// Nesting of mappings and sequences (the rule files need 6).
pub const MAX_DEPTH: usize = 24;
/// Aliases (`*name`) and anchors (`&name`) in one file: a rule set needs none; a few are
/// allowed for shared fragments, never the thousands an alias bomb replays.
pub const MAX_ALIASES: usize = 64;
/// Nodes (mappings, sequences and scalars) in one file.
pub const MAX_NODES: usize = 100_000;

/// Why a file could not be read, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// 1-based line, when the reader knows it.
    pub line: Option<usize>,
    pub message: String,
}

/// Reads `text` as a `T`: unknown keys, duplicate keys and wrong types are errors, as serde
/// and the types say; the bounds above hold.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(YamlError {
            line: None,
            message: format!(
                "the file is {} bytes; a rule file holds at most {MAX_FILE_BYTES}",
                text.len()
            ),
        });
    }
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: MAX_DEPTH,
            max_aliases: MAX_ALIASES,
            max_anchors: MAX_ALIASES,
            max_nodes: MAX_NODES,
            max_documents: 1,
        },
        duplicate_keys: serde_saphyr::options::DuplicateKeyPolicy::Error,
        with_snippet: false,
    };
    serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        let line = e.location().map(|l| l.line() as usize).filter(|l| *l > 0);
        let rendered = e.render_with_options(serde_saphyr::render_options! {
            snippets: serde_saphyr::SnippetMode::Off,
        });
        // The line is reported apart (`file:line: reason`), so the reader's own suffix goes.
        let message = rendered
            .split(" at line ")
            .next()
            .unwrap_or(&rendered)
            .trim()
            .to_string();
        YamlError { line, message }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        version: String,
        items: Option<Vec<serde_json::Value>>,
    }

    #[test]
    fn errors_carry_the_line() {
        let e = from_str::<Doc>("version: x\nitems: []\nvesrion: y\n").unwrap_err();
        assert_eq!(e.line, Some(3), "{e:?}");
        assert!(e.message.contains("vesrion"), "{e:?}");
        assert!(!e.message.contains("at line"), "{e:?}");
        let e = from_str::<Doc>("version: x\nversion: y\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e:?}");
    }

    #[test]
    fn an_alias_bomb_is_refused() {
        // Each level doubles: 2^30 strings if replayed without a bound.
        let mut text = String::from("a0: &a0 [x, x]\n");
        for i in 1..31 {
            text.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}]\n", p = i - 1));
        }
        let e = from_str::<serde_json::Value>(&text).unwrap_err();
        assert!(!e.message.is_empty(), "{e:?}");
    }

    #[test]
    fn deep_nesting_and_large_files_are_refused() {
        let deep = format!("{}x{}", "[".repeat(200), "]".repeat(200));
        assert!(from_str::<serde_json::Value>(&deep).is_err());
        let big = format!("version: \"{}\"\n", "x".repeat(MAX_FILE_BYTES));
        let e = from_str::<Doc>(&big).unwrap_err();
        assert!(e.message.contains("at most"), "{e:?}");
    }
}
