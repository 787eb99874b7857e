//! `creditgate import` as an operator uses it: 双公示 CSV and XLSX files, with the rows it
//! refuses named by row and column.

mod common;

use common::*;
use serde_json::json;

fn creditgate(db: &TestDb) -> std::process::Command {
    creditgate_cli(&db.url)
}

const CF_HEADER: &str = "CF_XDR_MC,CF_XDR_LB,CF_XDR_SHXYM,CF_XDR_GSZC,CF_FRDB,CF_FR_ZJLX,CF_FR_ZJHM,CF_WSH,CF_WFXW,CF_SY,CF_YJ,CF_CFLB,CF_NR,CF_NR_FK,CF_JDRQ,CF_CFJG,CF_CFJGDM";

async fn import_csv_with_rejects(b: Backend) {
    let db = TestDb::new(b);
    make_provider(&db.url, "SCJG");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cf.csv");
    let rows = [
        CF_HEADER.to_string(),
        "北京示例科技有限公司,法人及非法人组织,91110000MA00000152,,张三,身份证,110101199003070011,京市监罚〔2026〕12号,虚假宣传,发布虚假广告,广告法第五十五条,罚款;吊销许可证件,罚款250万元,250,2026/03/01,北京市市场监督管理局,11110000MB0000000U".to_string(),
        "错误公司,法人及非法人组织,91110000MA00000153,,,,,京市监罚〔2026〕13号,,,,罚款,,0.2,2026-03-02,北京市市场监督管理局,".to_string(),
        "某个体户,个体工商户,00000000000000000X,110105600123456,,,,京市监罚〔2026〕14号,,,,警告,,,20260303,北京市市场监督管理局,".to_string(),
        "某公司,公司,914201001234567883,,,,,京市监罚〔2026〕15号,,,,罚款,,1,2026-03-04,北京市市场监督管理局,".to_string(),
        // A date that is no date, and an amount in full-width digits: each named by its own
        // column, once, with the forms that are accepted.
        "坏日期公司,法人及非法人组织,91420100MA0000015F,,,,,京市监罚〔2026〕16号,,,,罚款,,０.２,2026/13/1,北京市市场监督管理局,".to_string(),
    ];
    std::fs::write(&file, format!("\u{feff}{}\n", rows.join("\n"))).unwrap();
    let out = creditgate(&db)
        .args(["import", file.to_str().unwrap(), "--source", "SCJG"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "rejected rows must make the exit non-zero"
    );
    assert!(
        stderr.contains("2 created") && stderr.contains("3 rejected"),
        "{stderr}"
    );
    let rejects = std::fs::read_to_string(dir.path().join("cf.csv.rejects.csv")).unwrap();
    assert!(
        rejects.starts_with("\u{feff}row,field,reason"),
        "a BOM for Excel, then the header: {rejects}"
    );
    assert!(
        rejects.contains("3,CF_XDR_SHXYM,\"check character should be '2', found '3'\""),
        "{rejects}"
    );
    assert!(rejects.contains("5,CF_XDR_LB,"), "{rejects}");
    assert!(
        rejects.contains("6,CF_JDRQ,\"'2026/13/1' is not a date; write 2026-03-01, 2026/3/1"),
        "{rejects}"
    );
    assert!(
        rejects.contains("6,CF_NR_FK,") && rejects.contains("full-width"),
        "{rejects}"
    );
    let row6: Vec<&str> = rejects.lines().filter(|l| l.starts_with("6,")).collect();
    assert_eq!(
        row6.len(),
        2,
        "one line per wrong cell, nothing else: {rejects}"
    );
    assert!(
        !rejects.contains("YXQZ"),
        "a column the file does not have: {rejects}"
    );

    // Imported through the ordinary path: an officer sees the record, the fine in yuan.
    let app_key = {
        let out = creditgate(&db)
            .args(["keys", "create", "--org", "ZWFW", "--role", "officer"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let app = spawn_on(&db).await;
    let p = app.subject(&app_key, "91110000MA00000152").await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(p.body["records"][0]["fine_amount"], "2500000.00");
    assert_eq!(
        p.body["records"][0]["penalty_types"],
        json!(["fine", "licence_revoked"])
    );
    assert_eq!(p.body["records"][0]["source_code"], "SCJG");
    assert_eq!(p.body["records"][0]["details"]["CF_SY"], "发布虚假广告");

    // The same file again changes nothing.
    let again = creditgate(&db)
        .args(["import", file.to_str().unwrap(), "--source", "SCJG"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&again.stderr).contains("2 unchanged"));
}

async fn import_xlsx_licences(b: Backend) {
    let db = TestDb::new(b);
    make_provider(&db.url, "SCJG");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("xk.xlsx");
    let mut wb = rust_xlsxwriter::Workbook::new();
    let sheet = wb.add_worksheet();
    let header = [
        "XK_XDR_MC",
        "XK_XDR_LB",
        "XK_XDR_SHXYM",
        "XK_XKWS",
        "XK_WSH",
        "XK_XKLB",
        "XK_NR",
        "XK_JDRQ",
        "XK_YXQZ",
        "XK_YXQZI",
        "XK_XKJG",
        "XK_XKJGDM",
        "XK_ZT",
    ];
    for (i, h) in header.iter().enumerate() {
        sheet.write_string(0, i as u16, *h).unwrap();
    }
    let row = [
        "北京示例科技有限公司",
        "法人及非法人组织",
        "91110000MA00000152",
        "食品经营许可证",
        "JY11101050001",
        "普通",
        "食品销售",
        "2026-01-05",
        "2026-01-05",
        "2031-01-04",
        "北京市市场监督管理局",
        "11110000MB0000000U",
        "1",
    ];
    for (i, v) in row.iter().enumerate() {
        sheet.write_string(1, i as u16, *v).unwrap();
    }
    // A date typed as a spreadsheet date rather than text.
    let date = rust_xlsxwriter::ExcelDateTime::from_ymd(2026, 1, 5).unwrap();
    let fmt = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
    sheet.write_datetime_with_format(1, 7, &date, &fmt).unwrap();
    wb.save(&file).unwrap();

    let out = creditgate(&db)
        .args(["import", file.to_str().unwrap(), "--source", "SCJG"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("1 created"), "{stderr}");
    assert!(
        !dir.path().join("xk.xlsx.rejects.csv").exists(),
        "nothing was refused, so no rejects file"
    );
    let officer = {
        let out = creditgate(&db)
            .args(["keys", "create", "--org", "ZWFW", "--role", "officer"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let app = spawn_on(&db).await;
    let p = app.subject(&officer, "91110000MA00000152").await;
    assert_eq!(p.body["records"][0]["kind"], "license");
    assert_eq!(p.body["records"][0]["decision_date"], "2026-01-05");
    assert_eq!(p.body["records"][0]["valid_to"], "2031-01-04");
    assert_eq!(p.body["records"][0]["details"]["XK_XKWS"], "食品经营许可证");
}

/// Records and subjects stored in the database (nothing may be stored half-way).
fn stored(db: &TestDb) -> (i64, i64) {
    let pool = creditgate::store::connect(&db.url, 1).unwrap();
    let mut conn = pool.get().unwrap();
    creditgate::store::migrate(&mut conn).unwrap();
    (
        creditgate::store::records::count(&mut conn).unwrap(),
        creditgate::store::subjects::count(&mut conn).unwrap(),
    )
}

/// Runs a command to its end: whether it succeeded, what it said on stderr, and its peak
/// resident memory in MiB. GNU time measures it (`.ci/run` installs it): its own child is the
/// command alone, where a child of this test process would count the test's memory too (a fork
/// starts with its parent's pages, and the peak survives `exec`).
fn run_measured(cmd: &std::process::Command) -> (bool, String, u64) {
    let time = std::path::Path::new("/usr/bin/time");
    assert!(time.exists(), "GNU time is needed: apt-get install time");
    let report = tempfile::NamedTempFile::new().unwrap();
    let mut timed = std::process::Command::new(time);
    timed
        .args(["-f", "%M", "-o"])
        .arg(report.path())
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => timed.env(k, v),
            None => timed.env_remove(k),
        };
    }
    let out = timed.output().unwrap();
    let kib: u64 = std::fs::read_to_string(report.path())
        .unwrap()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .expect("GNU time's report");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        kib / 1024,
    )
}

/// Peak memory a refused hostile file may cost the importer (the process's own start included).
const BOUNDED_MIB: u64 = 100;

/// One value at `XFD1048576` beside a valid row: refused at once, naming the cell, in bounded
/// memory (the dense reading this replaced asked for 512 GiB and aborted), nothing stored.
async fn a_far_cell_is_refused_in_bounded_memory(b: Backend) {
    let db = TestDb::new(b);
    make_provider(&db.url, "SCJG");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("far.xlsx");
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in [
        "XK_XDR_MC",
        "XK_XDR_LB",
        "XK_XDR_SHXYM",
        "XK_XKWS",
        "XK_WSH",
        "XK_XKNR",
        "XK_JDRQ",
        "XK_YXQZ",
        "XK_XKJG",
    ]
    .iter()
    .enumerate()
    {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    ws.write_string(1, 0, "北京示例科技有限公司").unwrap();
    ws.write_string(1, 2, "91110000MA00000152").unwrap();
    ws.write_string(1_048_575, 16_383, "x").unwrap();
    wb.save(&file).unwrap();
    assert!(
        std::fs::metadata(&file).unwrap().len() < 20_000,
        "a small file"
    );

    let (ok, err, peak) =
        run_measured(creditgate(&db).args(["import", file.to_str().unwrap(), "--source", "SCJG"]));
    eprintln!("far cell: exit ok={ok}, peak {peak} MiB: {err}");
    assert!(!ok);
    assert!(
        err.contains("XFD1048576") && err.contains("columns"),
        "{err}"
    );
    assert!(peak < BOUNDED_MIB, "peak {peak} MiB");
    assert_eq!(stored(&db), (0, 0));
}

/// A real workbook (a header and a valid row, written by a spreadsheet library, every part in
/// place) whose shared strings are padded with one string of 300 MiB: the file compresses to
/// well under 1 MiB, and nothing but its unpacked size gives it away.
fn valid_workbook_bomb(path: &std::path::Path) {
    use std::io::{Read, Write};
    let plain = path.with_extension("plain.xlsx");
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (c, (h, v)) in [
        ("CF_XDR_MC", "北京示例科技有限公司"),
        ("CF_XDR_LB", "法人及非法人组织"),
        ("CF_XDR_SHXYM", "91110000MA00000152"),
        ("CF_WSH", "京市监罚〔2026〕12号"),
        ("CF_CFLB", "警告"),
        ("CF_JDRQ", "2026-03-01"),
    ]
    .iter()
    .enumerate()
    {
        ws.write_string(0, c as u16, *h).unwrap();
        ws.write_string(1, c as u16, *v).unwrap();
    }
    wb.save(&plain).unwrap();
    let mut source = zip::ZipArchive::new(std::fs::File::open(&plain).unwrap()).unwrap();
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for i in 0..source.len() {
        let mut part = source.by_index(i).unwrap();
        let name = part.name().unwrap().to_string();
        let mut xml = String::new();
        part.read_to_string(&mut xml).unwrap();
        z.start_file(name.as_str(), opts).unwrap();
        if name == "xl/sharedStrings.xml" {
            let (head, tail) = xml.rsplit_once("</sst>").unwrap();
            z.write_all(head.as_bytes()).unwrap();
            z.write_all(b"<si><t>").unwrap();
            let block = vec![b'A'; 1 << 20];
            for _ in 0..300 {
                z.write_all(&block).unwrap();
            }
            z.write_all(b"</t></si></sst>").unwrap();
            z.write_all(tail.as_bytes()).unwrap();
        } else {
            z.write_all(xml.as_bytes()).unwrap();
        }
    }
    z.finish().unwrap();
}

/// A zip bomb that is a valid workbook and random bytes named .xlsx: each a clear error, in
/// bounded memory, nothing stored.
async fn a_zip_bomb_and_random_bytes_are_refused(b: Backend) {
    let db = TestDb::new(b);
    make_provider(&db.url, "SCJG");
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("bomb.xlsx");
    valid_workbook_bomb(&bomb);
    let size = std::fs::metadata(&bomb).unwrap().len();
    assert!(size < 1 << 20, "the bomb is {size} bytes");
    let (ok, err, peak) =
        run_measured(creditgate(&db).args(["import", bomb.to_str().unwrap(), "--source", "SCJG"]));
    eprintln!("zip bomb of {size} bytes: exit ok={ok}, peak {peak} MiB: {err}");
    assert!(!ok);
    assert!(err.contains("unpacks to more than 256 MiB"), "{err}");
    assert!(peak < BOUNDED_MIB, "peak {peak} MiB");

    let noise = dir.path().join("noise.xlsx");
    let bytes: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&noise, bytes).unwrap();
    let (ok, err, peak) =
        run_measured(creditgate(&db).args(["import", noise.to_str().unwrap(), "--source", "SCJG"]));
    eprintln!("random bytes: exit ok={ok}, peak {peak} MiB: {err}");
    assert!(!ok);
    assert!(err.contains("not an XLSX workbook"), "{err}");
    assert!(peak < BOUNDED_MIB, "peak {peak} MiB");
    assert_eq!(stored(&db), (0, 0));
}

/// Rows whose field count differs from the header are refused whole with their row number:
/// an unquoted comma in the last column once cut `苏州市,市场监督管理局` to `苏州市`, and a row of
/// 10,009 fields was taken. The rows that fit are imported.
async fn rows_that_do_not_fit_the_header_are_refused(b: Backend) {
    let db = TestDb::new(b);
    make_provider(&db.url, "SCJG");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cf.csv");
    let good = "北京示例科技有限公司,法人及非法人组织,91110000MA00000152,,,,,京市监罚〔2026〕12号,,,,罚款,,1,2026-03-01,北京市市场监督管理局,";
    let cut = "某公司,法人及非法人组织,91320500MA1MXXXX1X,,,,,苏市监罚〔2026〕1号,,,,罚款,,1,2026-03-02,苏州市,市场监督管理局,";
    let wide = format!("{good}{}", ",x".repeat(9_992));
    std::fs::write(&file, [CF_HEADER, good, cut, &wide].join("\n") + "\n").unwrap();
    // A made-up source is refused before anything is read: one decision, one source.
    let out = creditgate(&db)
        .args(["import", file.to_str().unwrap(), "--source", "SCJG2"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("'SCJG2' is not a providing organisation here; the providers are: SCJG"),
        "{stderr}"
    );
    assert_eq!(stored(&db), (0, 0));
    let out = creditgate(&db)
        .args(["import", file.to_str().unwrap(), "--source", "SCJG"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("1 created") && stderr.contains("2 rejected"),
        "{stderr}"
    );
    let rejects = std::fs::read_to_string(dir.path().join("cf.csv.rejects.csv")).unwrap();
    assert!(
        rejects.contains("3,(whole row),\"the row has 18 fields but the header has 17"),
        "{rejects}"
    );
    assert!(
        rejects.contains("4,(whole row),\"the row has 10009 fields but the header has 17"),
        "{rejects}"
    );
    assert_eq!(stored(&db), (1, 1));
}

/// CSV files made to break the reader: each a clear error, in bounded memory, nothing stored.
async fn hostile_csv_files_are_refused(b: Backend) {
    use std::io::Write;
    let db = TestDb::new(b);
    make_provider(&db.url, "SCJG");
    let dir = tempfile::tempdir().unwrap();
    let import = |file: &std::path::Path| {
        let mut cmd = creditgate(&db);
        cmd.args(["import", file.to_str().unwrap(), "--source", "SCJG"]);
        run_measured(&cmd)
    };
    let row = "北京示例科技有限公司,法人及非法人组织,91110000MA00000152,,,,,京市监罚〔2026〕12号,,,,罚款,,1,2026-03-01,北京市市场监督管理局,";

    // An export in GBK (Excel's "CSV" on a Chinese Windows): the name bytes are not UTF-8.
    let gbk = dir.path().join("gbk.csv");
    let name_gbk = hex::decode("b1b1bea9cabec0fdbfc6bcbcd3d0cfdeb9abcbbe").unwrap();
    let mut bytes = format!("{CF_HEADER}\n").into_bytes();
    bytes.extend_from_slice(&name_gbk);
    bytes.push(b',');
    bytes.extend_from_slice(row.split_once(',').unwrap().1.as_bytes());
    std::fs::write(&gbk, bytes).unwrap();
    let (ok, err, peak) = import(&gbk);
    eprintln!("GBK: exit ok={ok}, peak {peak} MiB: {err}");
    assert!(!ok);
    assert!(err.contains("not UTF-8") && err.contains("line 2"), "{err}");
    assert!(peak < BOUNDED_MIB, "peak {peak} MiB");

    // A header of 10,000 columns.
    let wide = dir.path().join("wide.csv");
    let header: Vec<String> = (0..10_000).map(|i| format!("C{i}")).collect();
    std::fs::write(&wide, format!("{}\n{row}\n", header.join(","))).unwrap();
    let (ok, err, peak) = import(&wide);
    eprintln!("10,000 columns: exit ok={ok}, peak {peak} MiB: {err}");
    assert!(!ok);
    assert!(err.contains("10000 columns"), "{err}");
    assert!(peak < BOUNDED_MIB, "peak {peak} MiB");

    // One line of 100 MB (no line break at all): refused after a bounded read.
    let line = dir.path().join("line.csv");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&line).unwrap());
        f.write_all(CF_HEADER.as_bytes()).unwrap();
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..100 {
            f.write_all(&chunk).unwrap();
        }
    }
    let (ok, err, peak) = import(&line);
    eprintln!("100 MB line: exit ok={ok}, peak {peak} MiB: {err}");
    assert!(!ok);
    assert!(err.contains("longer than 1048576 bytes"), "{err}");
    assert!(peak < BOUNDED_MIB, "peak {peak} MiB");
    assert_eq!(stored(&db), (0, 0));

    // Blank lines and a lower-case header: the rows keep the numbers an editor shows.
    let loose = dir.path().join("loose.csv");
    let bad = row.replace("91110000MA00000152", "91110000MA00000153");
    std::fs::write(
        &loose,
        format!("{}\n\n{row}\n\n\n{bad}\n", CF_HEADER.to_lowercase()),
    )
    .unwrap();
    let (ok, err, _) = import(&loose);
    assert!(
        !ok && err.contains("1 created") && err.contains("1 rejected"),
        "{err}"
    );
    let rejects = std::fs::read_to_string(dir.path().join("loose.csv.rejects.csv")).unwrap();
    assert!(
        rejects.contains("\n6,CF_XDR_SHXYM,"),
        "row 6 as the editor numbers it: {rejects}"
    );
}

/// A row left empty between the rows of a workbook is skipped, not refused, and the rows after
/// it keep the numbers the spreadsheet shows.
async fn empty_xlsx_rows_are_skipped(b: Backend) {
    let db = TestDb::new(b);
    make_provider(&db.url, "SCJG");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gaps.xlsx");
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    let cells = |code: &str| {
        [
            "北京示例科技有限公司",
            "法人及非法人组织",
            code,
            "京市监罚〔2026〕12号",
            "罚款",
            "1",
            "2026-03-01",
        ]
        .map(String::from)
    };
    let header = [
        "CF_XDR_MC",
        "CF_XDR_LB",
        "CF_XDR_SHXYM",
        "CF_WSH",
        "CF_CFLB",
        "CF_NR_FK",
        "CF_JDRQ",
    ];
    for (c, h) in header.iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    // Rows 2 and 5 hold data (row 5's code is wrong); rows 3 and 4 are empty.
    for (r, code) in [(1u32, "91110000MA00000152"), (4, "91110000MA00000153")] {
        for (c, v) in cells(code).iter().enumerate() {
            ws.write_string(r, c as u16, v).unwrap();
        }
    }
    wb.save(&file).unwrap();
    let out = creditgate(&db)
        .args(["import", file.to_str().unwrap(), "--source", "SCJG"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("2 rows") && stderr.contains("1 created") && stderr.contains("1 rejected"),
        "{stderr}"
    );
    let rejects = std::fs::read_to_string(dir.path().join("gaps.xlsx.rejects.csv")).unwrap();
    assert!(rejects.contains("\n5,CF_XDR_SHXYM,"), "{rejects}");
}

on_both_backends!(
    hostile_csv_files_are_refused,
    empty_xlsx_rows_are_skipped,
    import_csv_with_rejects,
    import_xlsx_licences,
    a_far_cell_is_refused_in_bounded_memory,
    a_zip_bomb_and_random_bytes_are_refused,
    rows_that_do_not_fit_the_header_are_refused,
);
