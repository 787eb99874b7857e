//! Repair applications (信用修复) and the records they repaired.

use std::collections::BTreeMap;

use super::schema::repairs;
use super::{on_backend, DbConn, StoreResult};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = repairs)]
pub struct RepairRow {
    pub id: String,
    pub record_id: String,
    /// The organisation that owns the record and decides (谁认定、谁修复).
    pub provider_code: String,
    pub applicant_name: String,
    pub applicant_contact: Option<String>,
    pub commitment: Option<String>,
    pub evidence: Option<String>,
    /// `accepted`, `approved`, `rejected`.
    pub status: String,
    pub received_on: NaiveDate,
    pub decision_due: NaiveDate,
    pub decided_on: Option<NaiveDate>,
    pub reason: Option<String>,
    pub created_by_org: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// The day each of these records was repaired, for those that were.
pub fn repaired_on(
    conn: &mut DbConn,
    record_ids: &[String],
) -> StoreResult<BTreeMap<String, NaiveDate>> {
    let mut out = BTreeMap::new();
    for chunk in record_ids.chunks(500) {
        let rows: Vec<(String, Option<NaiveDate>)> = on_backend!(conn, |c| repairs::table
            .filter(repairs::status.eq("approved"))
            .filter(repairs::record_id.eq_any(chunk))
            .select((repairs::record_id, repairs::decided_on))
            .load(c))?;
        out.extend(rows.into_iter().filter_map(|(id, d)| d.map(|d| (id, d))));
    }
    Ok(out)
}
