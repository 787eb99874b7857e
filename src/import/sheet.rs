//! Reading a 双公示 file: CSV (UTF-8, header row) or XLSX (first sheet, header row), every
//! cell as text, in bounded memory whatever the file holds.

use super::*;

/// A sheet: the header and the data rows, every cell as text.
pub struct Sheet {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// The row number a spreadsheet shows for each of `rows` (the header's is one less than the
    /// first's when it is the row above).
    pub numbers: Vec<usize>,
    /// Rows refused while reading, by number, with the reason: never imported, always reported.
    pub refused: Vec<(usize, String)>,
}

pub fn read_sheet(path: &Path) -> anyhow::Result<Sheet> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let label = path.display().to_string();
    let open = || std::fs::File::open(path).with_context(|| format!("cannot read {label}"));
    match ext.as_str() {
        "csv" | "txt" => {
            let file = open()?;
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            check_csv_size(size, &label, Limits::IMPORT)?;
            read_csv(file, &label, Limits::IMPORT)
        }
        "xlsx" | "xlsm" => read_xlsx(std::io::BufReader::new(open()?), &label, Limits::IMPORT),
        other => anyhow::bail!(
            "{}: unsupported file type '.{other}': use .csv or .xlsx (an old .xls: save it as .xlsx)",
            path.display()
        ),
    }
}

/// The longest row of a CSV file: a 双公示 row is a few KB; a file that is one 100 MB line (no
/// line breaks, or a quote never closed) is refused when this much of it has been read.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// The kind of an uploaded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
}

/// Reads an uploaded file held in memory, under the same bounds as a file on disk; `label`
/// names it in errors.
pub fn read_upload(bytes: &[u8], format: Format, label: &str) -> anyhow::Result<Sheet> {
    let limits = Limits::UPLOAD;
    match format {
        Format::Csv => {
            check_csv_size(bytes.len() as u64, label, limits)?;
            read_csv(bytes, label, limits)
        }
        Format::Xlsx => read_xlsx(std::io::Cursor::new(bytes), label, limits),
    }
}

/// How much of a sheet is read.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes a CSV, or an XLSX unpacked, may hold.
    pub unpacked: u64,
    pub columns: u32,
    pub rows: u32,
}

impl Limits {
    /// A 双公示 file an operator imports.
    pub const IMPORT: Limits = Limits {
        unpacked: MAX_UNPACKED_BYTES,
        columns: MAX_COLUMNS,
        rows: MAX_ROWS,
    };
    /// A roster or list of codes sent over the API by any caller that may: a few columns, at
    /// most 100,000 lines and the header (every row is made as wide as the widest, so the
    /// columns bound the memory a sparse workbook can make the reader take).
    pub const UPLOAD: Limits = Limits {
        unpacked: 64 * 1024 * 1024,
        columns: 26,
        rows: 100_001,
    };
}

fn check_csv_size(size: u64, label: &str, limits: Limits) -> anyhow::Result<()> {
    if size > limits.unpacked {
        anyhow::bail!(
            "{label}: the file is {size} bytes; a CSV may hold at most {} MiB here: split it \
             into several files",
            limits.unpacked >> 20
        );
    }
    Ok(())
}

fn read_csv(file: impl std::io::Read, label: &str, limits: Limits) -> anyhow::Result<Sheet> {
    // The csv reader drops a UTF-8 byte order mark itself.
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(LineLimit::new(std::io::BufReader::new(file)));
    let why = |e: csv::Error| -> anyhow::Error {
        let at = e
            .position()
            .map(|p| format!(" (line {})", p.line()))
            .unwrap_or_default();
        match e.kind() {
            csv::ErrorKind::Utf8 { .. } => anyhow::anyhow!(
                "{}{at}: not UTF-8 (a GBK or ANSI export?); save the CSV as UTF-8 (Excel: \
                 CSV UTF-8) and import it again",
                label
            ),
            csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
                anyhow::anyhow!("{label}{at}: {io}")
            }
            _ => anyhow::anyhow!("{label}{at}: {e}"),
        }
    };
    let header: Vec<String> = reader
        .headers()
        .map_err(why)?
        .iter()
        .map(header_name)
        .collect();
    let width = header.len();
    if width > limits.columns as usize {
        anyhow::bail!(
            "{}: the header has {width} columns; a 双公示 file has about 30 and at most \
             {} are read",
            label,
            limits.columns
        );
    }
    let (mut rows, mut numbers, mut refused) = (Vec::new(), Vec::new(), Vec::new());
    let mut rec = csv::StringRecord::new();
    while reader.read_record(&mut rec).map_err(why)? {
        // The line the row starts on, as an editor shows it (the reader skips blank lines and
        // does not count them, so its own line numbers drift).
        let row_no = rec
            .position()
            .map_or(0, |p| reader.get_mut().line_at(p.byte()));
        if rows.len() + refused.len() >= limits.rows as usize {
            anyhow::bail!(
                "{}: more than {} rows; split the file into several",
                label,
                limits.rows
            );
        }
        if rec.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if rec.len() != width {
            // An unquoted comma inside a value splits it in two: refused whole, never cut.
            refused.push((
                row_no,
                format!(
                    "the row has {} fields but the header has {width}: a value that holds a \
                     comma must be in double quotes (\"苏州市,市场监督管理局\")",
                    rec.len()
                ),
            ));
            continue;
        }
        rows.push(rec.iter().map(str::to_string).collect());
        numbers.push(row_no);
    }
    Ok(Sheet {
        header,
        rows,
        numbers,
        refused,
    })
}

/// A header cell as the columns are named: trimmed, upper case (`cf_wsh` is `CF_WSH`).
fn header_name(h: &str) -> String {
    h.trim().to_ascii_uppercase()
}

/// A reader that fails once a row runs past [`MAX_LINE_BYTES`], so a file without line breaks,
/// or with a quote never closed, is refused after a bounded read, not buffered whole. A row is
/// what lies between line breaks outside double quotes (a quoted value may hold line breaks).
/// It also notes where lines break, to name a row by the line it starts on; the notes behind
/// the rows already read are dropped, so they take no more room than the reader's buffer.
struct LineLimit<R> {
    inner: R,
    /// Bytes of the current row.
    in_row: usize,
    /// Bytes of the current line, and the line's number (1-based).
    in_line: usize,
    line: usize,
    row_line: usize,
    quoted: bool,
    read: u64,
    /// Byte offsets of the line breaks not yet passed, whether the line each ends is blank,
    /// and how many breaks were passed and dropped.
    breaks: std::collections::VecDeque<(u64, bool)>,
    passed: usize,
    last: u8,
}

impl<R> LineLimit<R> {
    fn new(inner: R) -> Self {
        LineLimit {
            inner,
            in_row: 0,
            in_line: 0,
            line: 1,
            row_line: 1,
            quoted: false,
            read: 0,
            breaks: Default::default(),
            passed: 0,
            last: 0,
        }
    }

    /// The 1-based line of the row that the reader says starts at `offset`. The reader puts a
    /// row's start at the line break before it (after `\r\n`, at the `\n`) and before the
    /// blank lines it skipped: those are passed over here. Rows are asked for in order, so the
    /// breaks before `offset` are dropped.
    fn line_at(&mut self, offset: u64) -> usize {
        while self.breaks.front().is_some_and(|&(b, _)| b <= offset) {
            self.breaks.pop_front();
            self.passed += 1;
        }
        let blank = self.breaks.iter().take_while(|&&(_, blank)| blank).count();
        self.passed + blank + 1
    }

    fn line_break(&mut self, at: u64, blank: bool) {
        self.breaks.push_back((at, blank));
        self.line += 1;
        self.in_line = 0;
        if !self.quoted {
            self.in_row = 0;
            self.row_line = self.line;
        }
    }
}

impl<R: std::io::Read> std::io::Read for LineLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for (i, &b) in buf[..n].iter().enumerate() {
            let at = self.read + i as u64;
            if self.last == b'\r' && b != b'\n' {
                // A line ended by `\r` alone.
                self.line_break(at - 1, self.in_line == 1);
            }
            if b == b'\n' {
                let blank = self.in_line == 0 || (self.in_line == 1 && self.last == b'\r');
                self.line_break(at, blank);
            } else {
                self.in_line += 1;
                self.in_row += 1;
                if b == b'"' {
                    self.quoted = !self.quoted;
                }
                if self.in_row > MAX_LINE_BYTES {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "the row starting on line {} is longer than {MAX_LINE_BYTES} bytes \
                             (1 MiB): not a 双公示 row (a file without line breaks, or a quote \
                             never closed?)",
                            self.row_line
                        ),
                    ));
                }
            }
            self.last = b;
        }
        self.read += n as u64;
        Ok(n)
    }
}

/// What a workbook may unpack to, in all. An XLSX is a zip of XML parts: a 1 MB file can unpack
/// to gigabytes, and the reader holds the shared strings whole. 256 MiB is several hundred
/// thousand 双公示 rows; a larger export belongs in CSV or in several files.
pub const MAX_UNPACKED_BYTES: u64 = 256 * 1024 * 1024;
/// Columns a sheet may use: the 双公示 layouts have about 30. A value further right (a stray
/// cell at `XFD1048576` once made the reader allocate the whole rectangle, 512 GiB) is refused.
pub const MAX_COLUMNS: u32 = 256;
/// Rows a sheet may use (Excel's own limit is 1,048,576).
pub const MAX_ROWS: u32 = 1_000_000;

/// Reads the first sheet of an XLSX with bounded memory: the unpacked size is measured (not
/// taken from the zip's own headers, which can lie) before the workbook is opened, and the
/// cells are streamed one by one, so only the cells that hold a value are kept.
fn read_xlsx<R: std::io::Read + std::io::Seek>(
    mut source: R,
    label: &str,
    limits: Limits,
) -> anyhow::Result<Sheet> {
    use calamine::{Reader, Xlsx};
    check_unpacked(&mut source, label, limits.unpacked)?;
    source.seek(std::io::SeekFrom::Start(0))?;
    let mut wb: Xlsx<_> = Xlsx::new(source)
        .map_err(|e| anyhow::anyhow!("{label}: not a readable XLSX workbook: {e}"))?;
    let name = wb
        .sheet_names()
        .first()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("{label}: the workbook has no sheet"))?;
    let mut reader = wb
        .worksheet_cells_reader(&name)
        .map_err(|e| anyhow::anyhow!("{label}: sheet '{name}' cannot be read: {e}"))?;
    let mut cells: Vec<(u32, u32, String)> = Vec::new();
    while let Some(cell) = reader
        .next_cell()
        .map_err(|e| anyhow::anyhow!("{label}: sheet '{name}' cannot be read: {e}"))?
    {
        let (row, col) = cell.get_position();
        let text = cell_text(cell.get_value());
        if text.is_empty() {
            continue;
        }
        if col >= limits.columns || row >= limits.rows {
            anyhow::bail!(
                "{label}: cell {} holds a value, beyond the {} columns and {} rows \
                 a sheet may use here; delete what lies outside the data (select the columns \
                 right of it and the rows below it, Delete) and save again",
                cell_name(row, col),
                limits.columns,
                limits.rows
            );
        }
        cells.push((row, col, text));
    }
    Ok(grid(cells))
}

/// The sheet as rows from the first row and column that hold a value (as a dense range would
/// give it), built from the cells that hold one.
fn grid(cells: Vec<(u32, u32, String)>) -> Sheet {
    let (Some(top), Some(left)) = (
        cells.iter().map(|c| c.0).min(),
        cells.iter().map(|c| c.1).min(),
    ) else {
        return Sheet {
            header: Vec::new(),
            rows: Vec::new(),
            numbers: Vec::new(),
            refused: Vec::new(),
        };
    };
    let bottom = cells.iter().map(|c| c.0).max().unwrap_or(top);
    let mut rows: Vec<Vec<String>> = vec![Vec::new(); (bottom - top + 1) as usize];
    for (r, c, text) in cells {
        let row = &mut rows[(r - top) as usize];
        let at = (c - left) as usize;
        if row.len() <= at {
            row.resize(at + 1, String::new());
        }
        row[at] = text;
    }
    // Every row as wide as the widest, as before.
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    for row in &mut rows {
        row.resize(width, String::new());
    }
    let mut rows = rows.into_iter();
    let header = rows
        .next()
        .map(|r| r.iter().map(|c| header_name(c)).collect())
        .unwrap_or_default();
    // 1-based, the header on row `top + 1`; a row left empty between the data is skipped, and
    // the rows after it keep the numbers the spreadsheet shows.
    let (numbers, rows): (Vec<usize>, Vec<Vec<String>>) = rows
        .enumerate()
        .map(|(i, r)| (top as usize + 2 + i, r))
        .filter(|(_, r)| r.iter().any(|c| !c.trim().is_empty()))
        .unzip();
    Sheet {
        header,
        rows,
        numbers,
        refused: Vec::new(),
    }
}

fn cell_text(d: &calamine::DataRef<'_>) -> String {
    use calamine::DataRef;
    match d {
        DataRef::Empty => String::new(),
        DataRef::String(s) => s.clone(),
        DataRef::SharedString(s) => s.to_string(),
        DataRef::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        DataRef::Float(f) => f.to_string(),
        DataRef::Int(i) => i.to_string(),
        DataRef::Bool(b) => b.to_string(),
        DataRef::DateTime(dt) => dt
            .as_datetime()
            .map(|t| t.date().to_string())
            .unwrap_or_else(|| dt.to_string()),
        DataRef::DateTimeIso(s) => s.chars().take(10).collect(),
        DataRef::DurationIso(s) => s.clone(),
        DataRef::Error(e) => format!("#ERR {e:?}"),
    }
}

/// A cell's name as a spreadsheet shows it (`XFD1048576`), from 0-based row and column.
fn cell_name(row: u32, col: u32) -> String {
    let mut letters = Vec::new();
    let mut n = col as u64 + 1;
    while n > 0 {
        let rem = ((n - 1) % 26) as u8;
        letters.push((b'A' + rem) as char);
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect::<String>() + &(row as u64 + 1).to_string()
}

/// Refuses a workbook that unpacks to more than [`MAX_UNPACKED_BYTES`], counting the bytes as
/// they come out of each part (a fixed buffer: memory stays flat whatever the file claims).
fn check_unpacked<R: std::io::Read + std::io::Seek>(
    source: R,
    label: &str,
    max: u64,
) -> anyhow::Result<()> {
    use std::io::Read;
    let mut zip = zip::ZipArchive::new(source).map_err(|e| {
        anyhow::anyhow!(
            "{label}: not an XLSX workbook (an XLSX is a zip of XML parts: {e}); save it from the \
             spreadsheet as .xlsx, or as CSV UTF-8"
        )
    })?;
    let too_big = || {
        anyhow::anyhow!(
            "{label}: unpacks to more than {} MiB, more than a 双公示 workbook holds; split it \
             into several files, or save it as CSV UTF-8",
            max >> 20
        )
    };
    let mut total: u64 = 0;
    let mut buf = vec![0u8; 64 * 1024];
    for i in 0..zip.len() {
        let mut part = zip
            .by_index(i)
            .map_err(|e| anyhow::anyhow!("{label}: a damaged workbook part: {e}"))?;
        loop {
            let n = part
                .read(&mut buf)
                .map_err(|e| anyhow::anyhow!("{label}: a damaged workbook part: {e}"))?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > max {
                return Err(too_big());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_named_as_a_spreadsheet_names_them() {
        assert_eq!(cell_name(0, 0), "A1");
        assert_eq!(cell_name(0, 25), "Z1");
        assert_eq!(cell_name(0, 26), "AA1");
        assert_eq!(cell_name(1_048_575, 16_383), "XFD1048576");
    }

    #[test]
    fn the_grid_starts_at_the_first_value_and_skips_empty_rows() {
        let s = grid(vec![
            (2, 1, "h1".into()),
            (2, 2, "H2".into()),
            (4, 2, "b".into()),
        ]);
        assert_eq!(s.header, ["H1", "H2"]);
        assert_eq!(s.rows, [vec!["", "b"]]);
        assert_eq!(
            s.numbers,
            [5],
            "the header is on row 3, the empty row 4 skipped"
        );
    }

    #[test]
    fn rows_are_numbered_by_line() {
        let read = |text: &str| read_csv(text.as_bytes(), "x.csv", Limits::IMPORT).unwrap();
        let s = read("a,b\n\n1,2\n\n\r\n3,4\n\"5\n5\",6\n7,8\n");
        assert_eq!(s.numbers, [3, 6, 7, 9]);
        assert_eq!(s.rows[2], ["5\n5", "6"]);
        // As Excel on Windows writes it: CRLF, and a blank line.
        assert_eq!(read("a,b\r\n1,2\r\n\r\n3,4\r\n").numbers, [2, 4]);
        // Lines ended by CR alone.
        assert_eq!(read("a,b\r1,2\r\r3,4\r").numbers, [2, 4]);
        // No newline after the last row.
        assert_eq!(read("a,b\n1,2\n3,4").numbers, [2, 3]);
        assert_eq!(s.header, ["A", "B"]);
    }
}
