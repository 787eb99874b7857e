//! The simulator's data: changes generated from a seed, and the state they leave (the digest
//! the city must reach).

use std::collections::HashMap;

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::domain::canonical_json;
use crate::sync::protocol::Change;
use crate::sync::protocol::{digest_line, digest_of};
use crate::synthetic as generate;

/// `size` changes from `seed`: mostly new records (list entries, penalties, licences of
/// generated subjects with valid codes), and every so often a newer version or a removal of
/// an earlier one.
pub fn generate_changes(seed: u64, size: u64) -> Vec<Change> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out: Vec<Change> = Vec::with_capacity(size as usize);
    // (source code, record id) → (latest version, latest record, removed)
    let mut latest: Vec<(String, String, i64, Value, bool)> = Vec::new();
    for i in 0..size {
        let cursor = format!("c_{:010}", i + 1);
        let pick = rng.gen_range(0..10);
        if pick == 9 && !latest.is_empty() {
            let j = rng.gen_range(0..latest.len());
            let (src, id, version, _, removed) = &mut latest[j];
            if !*removed {
                *version += 1;
                *removed = true;
                out.push(Change {
                    cursor,
                    op: "remove".into(),
                    source_code: src.clone(),
                    source_record_id: id.clone(),
                    version: *version,
                    record: None,
                });
                continue;
            }
        }
        if pick == 8 && !latest.is_empty() {
            let j = rng.gen_range(0..latest.len());
            let (src, id, version, record, removed) = &mut latest[j];
            if !*removed {
                *version += 1;
                record["version"] = json!(*version);
                record["details"] = json!({"BZ": format!("第{}版", *version)});
                out.push(Change {
                    cursor,
                    op: "upsert".into(),
                    source_code: src.clone(),
                    source_record_id: id.clone(),
                    version: *version,
                    record: Some(record.clone()),
                });
                continue;
            }
        }
        // Subjects numbered far from the local generator's, so the two never collide.
        let n = 50_000_000 + i / 2;
        let subject = generate::subject(&mut rng, n);
        let (source, mut record) = generate::record(&mut rng, n, i, &subject);
        let source_code = format!("PROV-{source}");
        let id = format!(
            "P{}",
            record["source_record_id"].as_str().unwrap_or_default()
        );
        record["source_record_id"] = json!(id);
        record["origin"] = json!("provincial");
        record["version"] = json!(1);
        latest.push((source_code.clone(), id.clone(), 1, record.clone(), false));
        out.push(Change {
            cursor,
            op: "upsert".into(),
            source_code,
            source_record_id: id,
            version: 1,
            record: Some(record),
        });
    }
    out
}

/// The state the changes leave, as the city's store must hold it after a full sync: the number
/// of records and the digest of `service::sync::provincial_digest` (source code, record id,
/// latest version, status, subject code, details).
pub fn expected_state(changes: &[Change]) -> (usize, String) {
    let mut last: HashMap<(&str, &str), (i64, String, String, String)> = HashMap::new();
    for c in changes {
        let key = (c.source_code.as_str(), c.source_record_id.as_str());
        match (c.op.as_str(), &c.record) {
            ("upsert", Some(r)) => {
                let status = r["status"].as_str().unwrap_or("active").to_string();
                let uscc = r["subject"]["uscc"].as_str().unwrap_or("").to_string();
                let details = canonical_json(r.get("details").unwrap_or(&json!({})));
                last.insert(key, (c.version, status, uscc, details));
            }
            ("remove", _) => {
                if let Some(e) = last.get_mut(&key) {
                    e.0 = c.version;
                    e.1 = "revoked".into();
                }
            }
            _ => {}
        }
    }
    let n = last.len();
    let lines = last
        .into_iter()
        .map(|((s, i), (v, st, u, d))| digest_line(s, i, v, &st, &u, &d))
        .collect();
    (n, digest_of(lines))
}
