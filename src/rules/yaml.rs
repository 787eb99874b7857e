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
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: MAX_NODES,
        },
        // YAML 1.2 as serde_yaml read it: `yes`/`no`/`on`/`off` are not booleans, a merge
        // key (`<<`) or a tag the reader does not know is an error, not silently applied.
        strict_booleans: true,
        merge_keys: serde_saphyr::options::MergeKeyPolicy::Error,
        reject_unsupported_tags: true,
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

    fn value(text: &str) -> Result<serde_json::Value, YamlError> {
        from_str::<serde_json::Value>(text)
    }

    #[test]
    fn an_alias_bomb_is_refused() {
        // Each level doubles: 2^30 strings if replayed without a bound.
        let mut text = String::from("a0: &a0 [x, x]\n");
        for i in 1..31 {
            text.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}]\n", p = i - 1));
        }
        assert!(value(&text).is_err());
        // Our own bound, below the reader's default of 50,000: 65 aliases of a scalar.
        let mut many = String::from("a: &a x\nl:\n");
        for _ in 0..MAX_ALIASES + 1 {
            many.push_str("  - *a\n");
        }
        assert!(value(&many).is_err(), "{} aliases", MAX_ALIASES + 1);
        let within = many.replacen("  - *a\n", "", 2);
        assert!(value(&within).is_ok(), "{} aliases", MAX_ALIASES - 1);
    }

    #[test]
    fn nesting_nodes_documents_and_size_are_bounded() {
        // 30 levels: within the reader's default of 64, beyond ours of 24.
        let nest = |n: usize| format!("{}x{}", "[".repeat(n), "]".repeat(n));
        assert!(value(&nest(MAX_DEPTH - 1)).is_ok());
        assert!(value(&nest(30)).is_err());
        let nodes = format!("[{}]", vec!["1"; MAX_NODES + 1].join(","));
        assert!(value(&nodes).is_err());
        assert!(value("a: 1\n---\nb: 2\n").is_err(), "two documents");
        let big = format!("version: \"{}\"\n", "x".repeat(MAX_FILE_BYTES));
        let e = from_str::<Doc>(&big).unwrap_err();
        assert!(e.message.contains("at most"), "{e:?}");
    }

    #[test]
    fn yaml_1_1_forms_are_not_taken() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Flag {
            in_force: bool,
        }
        assert!(from_str::<Flag>("in_force: true\n").is_ok());
        assert!(from_str::<Flag>("in_force: no\n").is_err());
        assert!(
            value("base: &b {x: 1}\nm:\n  <<: *b\n").is_err(),
            "merge key"
        );
        assert!(value("a: !custom 1\n").is_err(), "unknown tag");
    }
}
