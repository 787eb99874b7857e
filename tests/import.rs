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
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cf.csv");
    let rows = [
        CF_HEADER.to_string(),
        "北京示例科技有限公司,法人及非法人组织,91110000MA00000152,,张三,身份证,110101199003070011,京市监罚〔2026〕12号,虚假宣传,发布虚假广告,广告法第五十五条,罚款;吊销许可证件,罚款250万元,250,2026/03/01,北京市市场监督管理局,11110000MB0000000U".to_string(),
        "错误公司,法人及非法人组织,91110000MA00000153,,,,,京市监罚〔2026〕13号,,,,罚款,,0.2,2026-03-02,北京市市场监督管理局,".to_string(),
        "某个体户,个体工商户,00000000000000000X,110105600123456,,,,京市监罚〔2026〕14号,,,,警告,,,20260303,北京市市场监督管理局,".to_string(),
        "某公司,公司,914201001234567883,,,,,京市监罚〔2026〕15号,,,,罚款,,1,2026-03-04,北京市市场监督管理局,".to_string(),
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
        stderr.contains("2 created") && stderr.contains("2 rejected"),
        "{stderr}"
    );
    let rejects = std::fs::read_to_string(dir.path().join("cf.csv.rejects.csv")).unwrap();
    assert!(rejects.starts_with("row,field,reason"), "{rejects}");
    assert!(
        rejects.contains("3,CF_XDR_SHXYM,\"check character should be '2', found '3'\""),
        "{rejects}"
    );
    assert!(rejects.contains("5,CF_XDR_LB,"), "{rejects}");

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

on_both_backends!(import_csv_with_rejects, import_xlsx_licences);
