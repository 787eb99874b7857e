//! Reading a 双公示 file: CSV (UTF-8, header row) or XLSX (first sheet, header row), every
//! cell as text.

use super::*;

/// A sheet: the header and the data rows, every cell as text.
pub struct Sheet {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

pub fn read_sheet(path: &Path) -> anyhow::Result<Sheet> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "csv" | "txt" => read_csv(path),
        "xlsx" | "xlsm" | "xls" => read_xlsx(path),
        other => anyhow::bail!(
            "{}: unsupported file type '.{other}': use .csv or .xlsx",
            path.display()
        ),
    }
}

fn read_csv(path: &Path) -> anyhow::Result<Sheet> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let text = String::from_utf8(bytes).map_err(|_| {
        anyhow::anyhow!(
            "{}: not UTF-8; save the CSV as UTF-8 (Excel: CSV UTF-8)",
            path.display()
        )
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let mut rows = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: row {}", path.display(), i + 2))?;
        rows.push(rec.iter().map(str::to_string).collect());
    }
    Ok(Sheet { header, rows })
}

fn read_xlsx(path: &Path) -> anyhow::Result<Sheet> {
    use calamine::{open_workbook_auto, Data, Reader};
    let mut wb =
        open_workbook_auto(path).with_context(|| format!("cannot open {}", path.display()))?;
    let name = wb
        .sheet_names()
        .first()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("{}: the workbook has no sheet", path.display()))?;
    let range = wb.worksheet_range(&name)?;
    let cell = |d: &Data| -> String {
        match d {
            Data::Empty => String::new(),
            Data::String(s) => s.clone(),
            Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
            Data::Float(f) => f.to_string(),
            Data::Int(i) => i.to_string(),
            Data::Bool(b) => b.to_string(),
            Data::DateTime(dt) => dt
                .as_datetime()
                .map(|t| t.date().to_string())
                .unwrap_or_else(|| dt.to_string()),
            Data::DateTimeIso(s) => s.chars().take(10).collect(),
            Data::DurationIso(s) => s.clone(),
            Data::Error(e) => format!("#ERR {e:?}"),
        }
    };
    let mut rows = range.rows();
    let header = rows
        .next()
        .map(|r| r.iter().map(|c| cell(c).trim().to_string()).collect())
        .unwrap_or_default();
    let rows = rows.map(|r| r.iter().map(cell).collect()).collect();
    Ok(Sheet { header, rows })
}
