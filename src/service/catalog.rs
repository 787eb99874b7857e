//! The list catalog (`rules/catalog/*.yaml`): which list codes exist. Record ingestion checks
//! list codes against it; the rule loader of a later issue extends the same files.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ListDef {
    pub code: String,
    pub name: String,
    pub issued_by: String,
    /// `negative` (严重失信 and other negative lists) or `red` (守信激励).
    pub polarity: String,
    #[serde(default)]
    pub default_duration: Option<String>,
    #[serde(default)]
    pub basis: Vec<String>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    lists: Vec<ListDef>,
}

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    lists: BTreeMap<String, ListDef>,
}

impl Catalog {
    /// Reads every `*.yaml` under `DIR/catalog`, refusing unknown keys and duplicate codes.
    pub fn load(rules_dir: &Path) -> Result<Catalog, String> {
        let dir = rules_dir.join("catalog");
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        entries.sort();
        let mut lists = BTreeMap::new();
        for path in entries {
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let file: CatalogFile =
                serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            for l in file.lists {
                if l.polarity != "negative" && l.polarity != "red" {
                    return Err(format!(
                        "{}: list {}: polarity must be negative or red",
                        path.display(),
                        l.code
                    ));
                }
                if lists.contains_key(&l.code) {
                    return Err(format!(
                        "{}: duplicate list code {}",
                        path.display(),
                        l.code
                    ));
                }
                lists.insert(l.code.clone(), l);
            }
        }
        Ok(Catalog { lists })
    }

    pub fn contains(&self, code: &str) -> bool {
        self.lists.contains_key(code)
    }

    pub fn get(&self, code: &str) -> Option<&ListDef> {
        self.lists.get(code)
    }

    pub fn lists(&self) -> impl Iterator<Item = &ListDef> {
        self.lists.values()
    }

    pub fn len(&self) -> usize {
        self.lists.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lists.is_empty()
    }
}
