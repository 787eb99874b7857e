//! Property tests over every parser that takes outside input: unified social credit codes, ID
//! numbers, money (yuan and 万元), dates of exchange files, the 双公示 row mapping, the CSV and
//! XLSX readers, the rule loader, the protocol's signed messages and webhook signatures. Each property runs 256
//! cases here (`CREDITGATE_PROPTEST_CASES` sets another count); each has an `#[ignore]`d twin
//! that runs 100,000 (`cargo test --release --test properties -- --ignored`).

use std::collections::BTreeMap;

use creditgate::domain::id_number::{mask_id_numbers, IdNumber};
use creditgate::domain::uscc::{compose, Uscc};
use creditgate::domain::webhook;
use creditgate::domain::Yuan;
use creditgate::import::{normalise_date, read_sheet, row_to_record, Layout};
use creditgate::sync::protocol::{sign_answer, verify_answer, Signed};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const LONG: u32 = 100_000;

fn cases(n: u32) -> u32 {
    if n == LONG {
        return n;
    }
    std::env::var("CREDITGATE_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n)
}

fn runner(n: u32) -> TestRunner {
    let cases = cases(n);
    TestRunner::new(Config {
        cases,
        // A changed character equal to the one it replaces is skipped (1 case in 10 to 31).
        max_global_rejects: cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Generates the test that runs `$check` with the usual cases and its ignored 100,000 twin.
macro_rules! property {
    ($name:ident, $long:ident, $check:ident) => {
        #[test]
        fn $name() {
            $check(256);
        }

        #[test]
        #[ignore = "long: 100,000 cases"]
        fn $long() {
            $check(LONG);
        }
    };
}

const USCC_CHARS: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";

fn valid_uscc() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["11", "12", "51", "52", "91", "92", "93"]),
        "[1-6][0-9]{5}",
        "[0-9A-HJ-NPQRTUWXY]{8}",
    )
        .prop_filter_map("composable", |(at, div, body)| {
            compose(at, &div, &body).map(|u| u.as_str().to_string())
        })
}

fn uscc_properties(n: u32) {
    // Anything at all: an answer, never a panic; what is accepted reads back as itself.
    runner(n)
        .run(&any::<String>(), |s| {
            if let Ok(u) = Uscc::parse(&s) {
                prop_assert_eq!(Uscc::parse(u.as_str()).unwrap(), u);
            }
            let _ = Uscc::parse_upstream(&s);
            let _ = Uscc::parse_lookup(&s, None);
            Ok(())
        })
        .unwrap();
    // One character changed anywhere is caught (GB 32100's check detects every single
    // substitution), and lower case is the same code.
    runner(n)
        .run(
            &(valid_uscc(), 0usize..18, 0usize..31),
            |(code, at, with)| {
                prop_assert!(Uscc::parse(&code).is_ok());
                prop_assert!(Uscc::parse(&code.to_lowercase()).is_ok());
                let mut b = code.clone().into_bytes();
                let c = USCC_CHARS.as_bytes()[with];
                prop_assume!(b[at] != c);
                b[at] = c;
                let changed = String::from_utf8(b).unwrap();
                prop_assert!(Uscc::parse(&changed).is_err(), "{} accepted", changed);
                Ok(())
            },
        )
        .unwrap();
}
property!(uscc_parser, uscc_parser_100k, uscc_properties);

fn valid_id() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["11", "31", "37", "44", "65"]),
        "[0-9]{4}",
        1900i32..2025,
        1u32..13,
        1u32..29,
        "[0-9]{3}",
    )
        .prop_map(|(p, r, y, m, d, seq)| {
            let first17 = format!("{p}{r}{y:04}{m:02}{d:02}{seq}");
            let c = creditgate::domain::id_number::check_char(first17.as_bytes());
            format!("{first17}{c}")
        })
}

fn id_number_properties(n: u32) {
    runner(n)
        .run(&any::<String>(), |s| {
            let _ = IdNumber::parse(&s);
            // Masking any text leaves no valid ID number in it.
            let masked = mask_id_numbers(&s);
            for w in masked.as_bytes().windows(18) {
                if let Ok(t) = std::str::from_utf8(w) {
                    prop_assert!(IdNumber::parse(t).is_err(), "left {} in {:?}", t, masked);
                }
            }
            Ok(())
        })
        .unwrap();
    runner(n)
        .run(
            &(valid_id(), 0usize..17, 0u8..10, ".{0,20}", ".{0,20}"),
            |(id, at, digit, before, after)| {
                let parsed = IdNumber::parse(&id).unwrap();
                // The masked form hides the birth date.
                prop_assert!(!parsed.masked().contains(&id[6..14]));
                // In free text, the number is masked wherever it stands.
                let text = format!("{before}{id}{after}");
                prop_assert!(!mask_id_numbers(&text).contains(&id));
                // One digit changed is caught (ISO 7064 MOD 11-2).
                let mut b = id.clone().into_bytes();
                prop_assume!(b[at] != b'0' + digit);
                b[at] = b'0' + digit;
                prop_assert!(IdNumber::parse(std::str::from_utf8(&b).unwrap()).is_err());
                Ok(())
            },
        )
        .unwrap();
}
property!(
    id_number_parser,
    id_number_parser_100k,
    id_number_properties
);

fn money_properties(n: u32) {
    runner(n)
        .run(&any::<String>(), |s| {
            // Never a panic; a parsed amount prints as yuan with two decimals and reads back.
            if let Ok(y) = Yuan::parse(&s) {
                prop_assert_eq!(Yuan::parse(&y.to_string()).unwrap(), y);
            }
            let _ = Yuan::parse_wan(&s);
            Ok(())
        })
        .unwrap();
    runner(n)
        .run(&(0i64..1_000_000_000_000, 0u32..100), |(whole, cents)| {
            let text = format!("{whole}.{cents:02}");
            let y = Yuan::parse(&text).unwrap();
            prop_assert_eq!(y.fen(), whole * 100 + cents as i64);
            prop_assert_eq!(y.to_string(), text);
            // 万元: the same digits shifted four places.
            let wan = Yuan::parse_wan(&format!("{whole}.{cents:02}")).unwrap();
            prop_assert_eq!(wan.fen(), (whole * 100 + cents as i64) * 10_000);
            Ok(())
        })
        .unwrap();
}
property!(money_parser, money_parser_100k, money_properties);

fn date_properties(n: u32) {
    runner(n)
        .run(&any::<String>(), |s| {
            if let Ok(Some(d)) = normalise_date(&s) {
                prop_assert!(
                    chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").is_ok(),
                    "{}",
                    d
                );
            }
            Ok(())
        })
        .unwrap();
    runner(n)
        .run(&(1900i32..2100, 1u32..13, 1u32..32), |(y, m, d)| {
            let Some(date) = chrono::NaiveDate::from_ymd_opt(y, m, d) else {
                // Not a day of the calendar: no form of it is a date.
                let text = format!("{y}-{m:02}-{d:02}");
                prop_assert!(normalise_date(&text).is_err());
                return Ok(());
            };
            let want = date.to_string();
            for form in [
                format!("{y}-{m:02}-{d:02}"),
                format!("{y}/{m}/{d}"),
                format!("{y}{m:02}{d:02}"),
                format!("{y}.{m}.{d}"),
                format!("{y}年{m}月{d}日"),
                format!("{y}-{m:02}-{d:02} 00:00:00"),
            ] {
                prop_assert_eq!(normalise_date(&form), Ok(Some(want.clone())), "{}", form);
            }
            Ok(())
        })
        .unwrap();
}
property!(exchange_dates, exchange_dates_100k, date_properties);

const COLUMNS: &[&str] = &[
    "CF_XDR_MC",
    "CF_XDR_LB",
    "CF_XDR_SHXYM",
    "CF_XDR_GSZC",
    "CF_XDR_ZJLX",
    "CF_XDR_ZJHM",
    "CF_FRDB",
    "CF_FR_ZJLX",
    "CF_FR_ZJHM",
    "CF_WSH",
    "CF_CFLB",
    "CF_NR",
    "CF_NR_FK",
    "CF_NR_WFFF",
    "CF_JDRQ",
    "CF_YXQ",
    "CF_CFJG",
    "CF_CFJGDM",
    "CF_SY",
    "VERSION",
];

fn row_properties(n: u32) {
    let cell = prop_oneof![
        Just(String::new()),
        Just("法人及非法人组织".to_string()),
        Just("自然人".to_string()),
        Just("罚款;吊销许可证件".to_string()),
        Just("2026/3/1".to_string()),
        Just("0.2".to_string()),
        Just("91110000MA00000152".to_string()),
        Just("110101199003070011".to_string()),
        any::<String>(),
    ];
    let row = prop::collection::btree_map(prop::sample::select(COLUMNS), cell, 0..COLUMNS.len());
    runner(n)
        .run(&row, |row| {
            let row: BTreeMap<String, String> =
                row.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            match row_to_record(Layout::Penalty, &row) {
                Ok(v) => prop_assert_eq!(&v["kind"], "penalty"),
                // Every error names a column of the layout or a record field.
                Err(errors) => {
                    for e in errors {
                        prop_assert!(!e.field.is_empty() && !e.message.is_empty(), "{:?}", e);
                    }
                }
            }
            Ok(())
        })
        .unwrap();
}
property!(shuanggongshi_rows, shuanggongshi_rows_100k, row_properties);

fn reader_properties(n: u32) {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("any.csv");
    let xlsx = dir.path().join("any.xlsx");
    // Bytes that are CSV-like often enough to reach the parser's corners.
    let bytes = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..2048),
        prop::collection::vec(
            prop::sample::select(b"ab,\"\n\r \xef\xbb\xbf\xe4\xb8\xad".to_vec()),
            0..2048
        ),
    ];
    runner(n)
        .run(&bytes, |b| {
            std::fs::write(&csv, &b).unwrap();
            if let Ok(sheet) = read_sheet(&csv) {
                prop_assert_eq!(sheet.rows.len(), sheet.numbers.len());
                for r in &sheet.rows {
                    prop_assert_eq!(r.len(), sheet.header.len());
                }
            }
            std::fs::write(&xlsx, &b).unwrap();
            let _ = read_sheet(&xlsx);
            Ok(())
        })
        .unwrap();
}
property!(sheet_readers, sheet_readers_100k, reader_properties);

fn rule_loader_properties(n: u32) {
    let shipped = creditgate::rules::load::read_dir(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/rules"
    )))
    .unwrap();
    let files: Vec<String> = shipped.keys().cloned().collect();
    // A shipped file with a span of bytes replaced: errors with a file name, never a panic.
    runner(n)
        .run(
            &(
                0..files.len(),
                any::<prop::sample::Index>(),
                0usize..40,
                ".{0,40}",
            ),
            |(f, at, len, with)| {
                let mut sources = shipped.clone();
                let text = sources.get_mut(&files[f]).unwrap();
                let mut start = at.index(text.len().max(1));
                while !text.is_char_boundary(start) {
                    start -= 1;
                }
                let mut end = (start + len).min(text.len());
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                text.replace_range(start..end, &with);
                if let Err(errors) = creditgate::rules::load::build(sources) {
                    for e in errors {
                        prop_assert!(!e.file.is_empty() && !e.reason.is_empty(), "{:?}", e);
                    }
                }
                Ok(())
            },
        )
        .unwrap();
}
property!(rule_loader, rule_loader_100k, rule_loader_properties);

fn signature_properties(n: u32) {
    let secret = b"0123456789abcdef0123456789abcdef";
    runner(n)
        .run(
            &(
                prop::collection::vec(any::<u8>(), 0..512),
                "[0-9a-f]{32}",
                any::<prop::sample::Index>(),
                1u8..=255,
            ),
            |(body, nonce, at, flip)| {
                let s = sign_answer(secret, 200, &nonce, &body, 1_790_000_000);
                prop_assert!(verify_answer(secret, 200, &nonce, &body, &s).is_ok());
                // Any change to the body, the status or the request's nonce is caught.
                if !body.is_empty() {
                    let mut altered = body.clone();
                    altered[at.index(body.len())] ^= flip;
                    prop_assert!(verify_answer(secret, 200, &nonce, &altered, &s).is_err());
                }
                prop_assert!(verify_answer(secret, 201, &nonce, &body, &s).is_err());
                let other = format!("{}0", &nonce[..31]);
                if other != nonce {
                    prop_assert!(verify_answer(secret, 200, &other, &body, &s).is_err());
                }
                let forged = Signed {
                    signature: "0".repeat(64),
                    ..s.clone()
                };
                prop_assert!(verify_answer(secret, 200, &nonce, &body, &forged).is_err());
                Ok(())
            },
        )
        .unwrap();
}
property!(signed_answers, signed_answers_100k, signature_properties);

/// Standard Webhooks signatures: what is signed verifies, within five minutes; a changed byte
/// of the body, another id, another timestamp or another secret does not.
fn webhook_properties(n: u32) {
    runner(n)
        .run(
            &(
                prop::collection::vec(any::<u8>(), 24..=64),
                prop::collection::vec(any::<u8>(), 0..512),
                "evt_[0-9A-Z]{26}",
                1_600_000_000i64..2_000_000_000,
                -300i64..=300,
                any::<prop::sample::Index>(),
                1u8..=255,
            ),
            |(secret, body, id, at, skew, i, flip)| {
                let sig = webhook::sign(&secret, &id, at, &body);
                prop_assert!(sig.starts_with("v1,"));
                prop_assert!(webhook::verify(&secret, &id, at, &sig, &body, at + skew).is_ok());
                prop_assert!(webhook::verify(&secret, &id, at, &sig, &body, at + 301).is_err());
                prop_assert!(webhook::verify(&secret, &id, at + 1, &sig, &body, at).is_err());
                let other_id = format!("{id}x");
                prop_assert!(webhook::verify(&secret, &other_id, at, &sig, &body, at).is_err());
                let mut other = secret.clone();
                other[i.index(secret.len())] ^= flip;
                prop_assert!(webhook::verify(&other, &id, at, &sig, &body, at).is_err());
                if !body.is_empty() {
                    let mut altered = body.clone();
                    altered[i.index(body.len())] ^= flip;
                    prop_assert!(webhook::verify(&secret, &id, at, &sig, &altered, at).is_err());
                }
                let text = webhook::secret_text(&secret);
                prop_assert_eq!(webhook::secret_bytes(&text).unwrap(), secret);
                Ok(())
            },
        )
        .unwrap();
}
property!(
    webhook_signatures,
    webhook_signatures_100k,
    webhook_properties
);

/// The allow list never admits a host it does not name, whatever the URL around it.
fn allow_list_properties(n: u32) {
    let allow = webhook::AllowList::parse("hooks.bank.example,*.zfcg.gov.cn", false).unwrap();
    runner(n)
        .run(
            &(
                "[a-z0-9-]{1,12}(\\.[a-z0-9-]{1,12}){0,3}",
                "[a-z0-9/?=&._-]{0,40}",
            ),
            |(host, path)| {
                let url = format!("https://{host}/{path}");
                let named = host == "hooks.bank.example" || host.ends_with(".zfcg.gov.cn");
                prop_assert_eq!(allow.admits(&url).is_ok(), named, "{}", url);
                Ok(())
            },
        )
        .unwrap();
}
property!(
    webhook_allow_list,
    webhook_allow_list_100k,
    allow_list_properties
);
