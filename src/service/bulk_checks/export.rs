//! A job's result as a file: one row per input line, in input order, with the columns of
//! API.md ("Bulk comparison"): `line`, `uscc` (or `id_number`, masked), `verdict` (or
//! `rejected`), `reason`, `measures` (the measure ids, `;`-separated), `report_no`.

use crate::store::bulk_checks::{JobRow, LineRow};

fn header(job: &JobRow) -> [&str; 6] {
    [
        "line",
        &job.id_kind,
        "verdict",
        "reason",
        "measures",
        "report_no",
    ]
}

fn cells(l: &LineRow) -> [String; 6] {
    [
        l.line.to_string(),
        l.shown.clone(),
        l.verdict.clone().unwrap_or_default(),
        l.reason.clone().unwrap_or_default(),
        l.measures.clone().unwrap_or_default(),
        l.report_no.clone().unwrap_or_default(),
    ]
}

/// A cell a spreadsheet would take for a formula (`=`, `+`, `-`, `@`, a tab or a carriage
/// return first) is written with a leading `'`: a value from an uploaded file never runs as one
/// (CSV injection).
pub(crate) fn inert(v: String) -> String {
    if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{v}")
    } else {
        v
    }
}

/// The result as CSV (UTF-8 with a byte order mark, so that Excel opens the Chinese reasons
/// right).
pub fn csv(job: &JobRow, lines: &[LineRow]) -> Vec<u8> {
    let mut out = "\u{feff}".as_bytes().to_vec();
    {
        let mut w = csv::Writer::from_writer(&mut out);
        let _ = w.write_record(header(job));
        for l in lines {
            let _ = w.write_record(cells(l).map(inert));
        }
        let _ = w.flush();
    }
    out
}

/// The result as an XLSX workbook (every cell a string: nothing in it is a formula).
pub fn xlsx(job: &JobRow, lines: &[LineRow]) -> Result<Vec<u8>, String> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let sheet = wb.add_worksheet();
    let err = |e: rust_xlsxwriter::XlsxError| format!("result workbook: {e}");
    sheet.set_name("result").map_err(err)?;
    for (c, h) in header(job).iter().enumerate() {
        sheet.write_string(0, c as u16, *h).map_err(err)?;
    }
    for (r, l) in lines.iter().enumerate() {
        let row = r as u32 + 1;
        sheet.write_number(row, 0, l.line as f64).map_err(err)?;
        for (c, v) in cells(l).into_iter().enumerate().skip(1) {
            sheet.write_string(row, c as u16, v).map_err(err)?;
        }
    }
    wb.save_to_buffer().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_from_a_file_stay_text() {
        assert_eq!(inert("=HYPERLINK(\"x\")".into()), "'=HYPERLINK(\"x\")");
        assert_eq!(inert("-1+1".into()), "'-1+1");
        assert_eq!(inert("91110000MA00000152".into()), "91110000MA00000152");
        assert_eq!(inert(String::new()), "");
    }
}
