//! Loading a rule set: every file parsed strictly, every reference checked, every problem
//! reported with its file and line (regorus and zen do the same); the set gets a content digest.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use chrono::NaiveDate;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::model::*;
use super::{Catalog, Measure, RuleSet, Scenario};
use crate::domain::{Period, WorkingCalendar};

/// One problem in the rule files.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RuleError {
    /// Path relative to the rules directory.
    pub file: String,
    /// 1-based line, where known.
    pub line: Option<usize>,
    pub reason: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.file, l, self.reason),
            None => write!(f, "{}: {}", self.file, self.reason),
        }
    }
}

/// The rule files of a set, by path relative to the rules directory (`/` separated).
pub type Sources = BTreeMap<String, String>;

/// The files at the top of a rule set.
pub(crate) const SET_FILES: &[&str] = &["ruleset.yaml", "periods.yaml"];

/// The folders a rule set is made of (`tests/` holds fixtures, not rules).
pub(crate) const SET_FOLDERS: &[&str] = &["catalog", "scenarios", "calendar"];

/// Reads the rule set's files from `dir`: `ruleset.yaml` and the YAML files of its folders.
pub fn read_dir(dir: &Path) -> Result<Sources, Vec<RuleError>> {
    let mut sources = Sources::new();
    let mut errors = Vec::new();
    let read = |rel: String, path: &Path, sources: &mut Sources, errors: &mut Vec<RuleError>| {
        match std::fs::read_to_string(path) {
            Ok(t) => {
                sources.insert(rel, t);
            }
            Err(e) => errors.push(RuleError {
                file: rel,
                line: None,
                reason: format!("cannot read {}: {e}", path.display()),
            }),
        }
    };
    for file in SET_FILES {
        read(file.to_string(), &dir.join(file), &mut sources, &mut errors);
    }
    for folder in SET_FOLDERS {
        let path = dir.join(folder);
        let entries = match std::fs::read_dir(&path) {
            Ok(e) => e,
            Err(e) => {
                errors.push(RuleError {
                    file: format!("{folder}/"),
                    line: None,
                    reason: format!("cannot read {}: {e}", path.display()),
                });
                continue;
            }
        };
        let mut files: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        files.sort();
        for p in files {
            let name = p.file_name().map(|n| n.to_string_lossy().to_string());
            if let Some(name) = name {
                read(format!("{folder}/{name}"), &p, &mut sources, &mut errors);
            }
        }
    }
    if errors.is_empty() {
        Ok(sources)
    } else {
        Err(errors)
    }
}

/// Reads and builds the rule set in `dir`.
pub fn load_dir(dir: &Path) -> Result<RuleSet, Vec<RuleError>> {
    build(read_dir(dir)?)
}

/// `sha256:` and the hex digest of the set's files (paths and contents, in path order).
pub fn digest(sources: &Sources) -> String {
    let mut h = Sha256::new();
    for (path, text) in sources {
        h.update(path.as_bytes());
        h.update([0]);
        h.update((text.len() as u64).to_be_bytes());
        h.update(text.as_bytes());
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

pub(super) struct FileCtx<'a> {
    file: &'a str,
    text: &'a str,
    pub(super) errors: &'a mut Vec<RuleError>,
}

impl FileCtx<'_> {
    pub(super) fn err(&mut self, line: Option<usize>, reason: impl Into<String>) {
        self.errors.push(RuleError {
            file: self.file.to_string(),
            line,
            reason: reason.into(),
        });
    }

    pub(super) fn line_of(&self, needle: &str, from: Option<usize>) -> Option<usize> {
        line_in(self.text, needle, from)
    }

    fn parse<T: DeserializeOwned>(&mut self) -> Option<T> {
        match super::yaml::from_str::<T>(self.text) {
            Ok(v) => Some(v),
            Err(e) => {
                self.err(e.line, e.message);
                None
            }
        }
    }
}

/// The first line of `text` at or after `from` (1-based) that holds `needle`, as a key or value;
/// `from` itself when none does.
fn line_in(text: &str, needle: &str, from: Option<usize>) -> Option<usize> {
    let start = from.unwrap_or(1);
    text.lines()
        .enumerate()
        .skip(start.saturating_sub(1))
        .find(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
        .or(from)
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
}

/// Builds and checks a rule set from its files; every error found, not only the first.
pub fn build(sources: Sources) -> Result<RuleSet, Vec<RuleError>> {
    build_with(sources, true)
}

/// Builds a set kept with a report (`rule_sets`), to evaluate the report again with exactly
/// its rules: a set kept before `periods.yaml` existed has no periods (its facts carry none
/// either), and builds without it.
pub fn build_kept(sources: Sources) -> Result<RuleSet, Vec<RuleError>> {
    build_with(sources, false)
}

fn build_with(sources: Sources, periods_required: bool) -> Result<RuleSet, Vec<RuleError>> {
    let mut errors = Vec::new();
    let mut version = String::new();
    let mut title = None;
    let mut catalog = Catalog::default();
    let mut calendar = WorkingCalendar::default();
    let mut scenario_files: Vec<(String, ScenarioFile)> = Vec::new();
    let mut periods_file = None;

    for (file, what) in [
        ("ruleset.yaml", "a ruleset.yaml with its version"),
        (
            "periods.yaml",
            "a periods.yaml with the publicity periods (NDRC Order 36)",
        ),
    ] {
        if !sources.contains_key(file) && (periods_required || file != "periods.yaml") {
            errors.push(RuleError {
                file: file.into(),
                line: None,
                reason: format!("missing: the set needs {what}"),
            });
        }
    }
    // The catalog first: scenarios refer to it.
    for (file, text) in &sources {
        let mut fc = FileCtx {
            file,
            text,
            errors: &mut errors,
        };
        if file == "ruleset.yaml" {
            if let Some(m) = fc.parse::<ManifestFile>() {
                if m.version.trim().is_empty() {
                    fc.err(fc.line_of("version", None), "version must not be empty");
                }
                version = m.version.trim().to_string();
                title = m.title;
            }
        } else if file == "periods.yaml" {
            periods_file = fc.parse::<super::periods::PeriodsFile>();
        } else if file.starts_with("catalog/") {
            if let Some(c) = fc.parse::<CatalogFile>() {
                for l in c.lists {
                    let line = fc.line_of(&format!("code: {}", l.code), None);
                    if let Some(d) = &l.default_duration {
                        if let Err(e) = Period::parse(d) {
                            fc.err(line, format!("list {}: default_duration: {e}", l.code));
                        }
                    }
                    if catalog.lists.contains_key(&l.code) {
                        fc.err(line, format!("duplicate list code {}", l.code));
                        continue;
                    }
                    catalog.lists.insert(l.code.clone(), l);
                }
            }
        } else if file.starts_with("calendar/") {
            if let Some(c) = fc.parse::<CalendarFile>() {
                let mut holidays = Vec::new();
                for h in &c.holidays {
                    let line = fc.line_of(&h.name, None);
                    match (parse_date(&h.from), parse_date(&h.to)) {
                        (Some(from), Some(to)) if from <= to => {
                            holidays.extend(
                                from.iter_days()
                                    .take_while(|d| *d <= to)
                                    .map(|d| (d, h.name.clone())),
                            );
                        }
                        (Some(_), Some(_)) => {
                            fc.err(line, format!("holiday {}: `to` is before `from`", h.name))
                        }
                        _ => fc.err(
                            line,
                            format!("holiday {}: dates must be YYYY-MM-DD", h.name),
                        ),
                    }
                }
                let mut makeup = Vec::new();
                for d in &c.makeup_workdays {
                    match parse_date(d) {
                        Some(x) => makeup.push(x),
                        None => fc.err(
                            fc.line_of(d, None),
                            format!("make-up working day '{d}' is not a date (YYYY-MM-DD)"),
                        ),
                    }
                }
                if let Err(e) = calendar.add_year(c.year, holidays, makeup) {
                    fc.err(fc.line_of("year", None), e.to_string());
                }
            }
        } else if file.starts_with("scenarios/") {
            match fc.parse::<ScenarioFile>() {
                Some(s) => scenario_files.push((file.clone(), s)),
                // The file-level error names only the first problem; check the measures one by
                // one so that every problem of the file is reported at once.
                None => {
                    if let Some(s) = salvage_scenario(&mut fc) {
                        scenario_files.push((file.clone(), s));
                    }
                }
            }
        }
    }

    // Periods after the catalog: they name its lists.
    let periods = match periods_file {
        Some(f) => {
            let text = &sources["periods.yaml"];
            let mut found = Vec::new();
            let p = super::periods::check(
                f,
                &catalog,
                &|needle, from| line_in(text, needle, from),
                &mut |line, reason| found.push((line, reason)),
            );
            errors.extend(found.into_iter().map(|(line, reason)| RuleError {
                file: "periods.yaml".into(),
                line,
                reason,
            }));
            p
        }
        None => Default::default(),
    };
    let mut scenarios: BTreeMap<String, Scenario> = BTreeMap::new();
    let mut common: Vec<Measure> = Vec::new();
    let mut seen_ids: BTreeMap<String, String> = BTreeMap::new();
    for (file, sf) in scenario_files {
        let text = &sources[&file];
        let mut fc = FileCtx {
            file: &file,
            text,
            errors: &mut errors,
        };
        let mut measures = Vec::new();
        let mut cursor = None;
        for m in sf.measures {
            // Measures come in file order: look for this id after the previous measure.
            let line = fc.line_of(&format!("id: {}", m.id), cursor);
            cursor = line.map(|l| l + 1);
            if let Some(other) = seen_ids.get(&m.id) {
                fc.err(
                    line,
                    format!("duplicate measure id {} (also in {other})", m.id),
                );
                continue;
            }
            seen_ids.insert(m.id.clone(), file.clone());
            if let Some(measure) = super::measure_check::check_measure(&mut fc, &catalog, m, line) {
                measures.push(measure);
            }
        }
        match (sf.scenario, sf.all_scenarios) {
            (Some(name), false) => {
                let line = fc.line_of("scenario:", None);
                if !name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                    || name.is_empty()
                {
                    fc.err(
                        line,
                        format!("scenario name '{name}' must be lower-case letters, digits and _"),
                    );
                }
                if scenarios.contains_key(&name) {
                    fc.err(line, format!("scenario {name} is defined twice"));
                    continue;
                }
                scenarios.insert(
                    name.clone(),
                    Scenario {
                        name,
                        title: sf.title,
                        description: sf.description,
                        measures,
                    },
                );
            }
            (None, true) => common.extend(measures),
            _ => fc.err(
                Some(1),
                "give either `scenario: NAME` or `all_scenarios: true`, not both or neither",
            ),
        }
    }
    if scenarios.is_empty() && !sources.keys().any(|f| f.starts_with("scenarios/")) {
        errors.push(RuleError {
            file: "scenarios/".into(),
            line: None,
            reason: "the set defines no scenario".into(),
        });
    }
    for s in scenarios.values_mut() {
        s.measures.extend(common.iter().cloned());
        s.measures.sort_by(|a, b| a.id.cmp(&b.id));
    }
    if !errors.is_empty() {
        errors.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        return Err(errors);
    }
    Ok(RuleSet {
        version,
        title,
        digest: digest(&sources),
        catalog,
        scenarios,
        calendar,
        periods,
        sources,
    })
}

/// After a file failed to parse: the measures that do parse, each failing one reported at the
/// line of its id (unless it is the error already reported).
fn salvage_scenario(fc: &mut FileCtx<'_>) -> Option<ScenarioFile> {
    let value: serde_json::Value = super::yaml::from_str(fc.text).ok()?;
    let map = value.as_object()?;
    let first = fc
        .errors
        .last()
        .map(|e| e.reason.clone())
        .unwrap_or_default();
    let mut measures = Vec::new();
    for (i, m) in map.get("measures")?.as_array()?.iter().enumerate() {
        match serde_json::from_value::<MeasureDef>(m.clone()) {
            Ok(def) => measures.push(def),
            Err(e) => {
                let reason = format!("measures[{i}]: {e}");
                if !first.contains(&e.to_string()) {
                    let id = m.get("id").and_then(|v| v.as_str()).unwrap_or("");
                    let line = fc.line_of(&format!("id: {id}"), None);
                    fc.err(line, reason);
                }
            }
        }
    }
    Some(ScenarioFile {
        scenario: map
            .get("scenario")
            .and_then(|v| v.as_str())
            .map(String::from),
        all_scenarios: map
            .get("all_scenarios")
            .and_then(|v| v.as_bool())
            .unwrap_or(false),
        title: String::new(),
        description: None,
        measures,
    })
}
