//! Working-day deadlines and legal periods, checked against values counted by hand.
//!
//! Checks: the objection review (5 working days after filing, city measures Art. 21), the
//! provider's answer (3 after forwarding) and the repair decision (5 after acceptance) from
//! `WorkingCalendar::add_working_days`; the filing day as the Asia/Shanghai calendar day
//! (`shanghai_day`); the crate's `is_working_day` against our own table for all of 2025–2026;
//! and the end of publicity periods per 民法典 Art. 201–202 (`period_end`, `Period::after`).
//! Every expected date was counted by hand from the State Council holiday notices for 2025 and
//! 2026 (the table in `OFF` / `MAKE_UP` below), never taken from the code. Years outside that
//! table count weekends only and must come back with `exact == false`.

use std::path::Path;
use std::sync::OnceLock;

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc, Weekday};
use creditgate::domain::calendar::{shanghai_day, Deadline};
use creditgate::domain::lifecycle::{effect, period_end};
use creditgate::domain::{Effect, Period, RecordStatus, WorkingCalendar};
use proptest::prelude::*;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn calendar() -> &'static WorkingCalendar {
    static CAL: OnceLock<WorkingCalendar> = OnceLock::new();
    CAL.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        creditgate::rules::load::load_dir(&dir)
            .unwrap_or_else(|e| panic!("rules/: {e:?}"))
            .calendar
    })
}

/// Days off (inclusive ranges) from the State Council notices for 2025 and 2026.
const OFF: &[(&str, &str)] = &[
    ("2025-01-01", "2025-01-01"), // 元旦
    ("2025-01-28", "2025-02-04"), // 春节
    ("2025-04-04", "2025-04-06"), // 清明
    ("2025-05-01", "2025-05-05"), // 劳动节
    ("2025-05-31", "2025-06-02"), // 端午
    ("2025-10-01", "2025-10-08"), // 国庆 + 中秋
    ("2026-01-01", "2026-01-03"), // 元旦
    ("2026-02-15", "2026-02-23"), // 春节
    ("2026-04-04", "2026-04-06"), // 清明
    ("2026-05-01", "2026-05-05"), // 劳动节
    ("2026-06-19", "2026-06-21"), // 端午
    ("2026-09-25", "2026-09-27"), // 中秋
    ("2026-10-01", "2026-10-07"), // 国庆
];

/// Make-up working days (all on a Saturday or Sunday).
#[rustfmt::skip]
const MAKE_UP: &[&str] = &[
    "2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11", // 2025
    "2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10", // 2026
];

/// Our own working-day rule, independent of the crate.
fn own_is_working_day(day: NaiveDate) -> bool {
    if MAKE_UP.iter().any(|m| d(m) == day) {
        return true;
    }
    if OFF.iter().any(|(a, b)| d(a) <= day && day <= d(b)) {
        return false;
    }
    !matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
}

#[test]
fn own_table_is_consistent() {
    for m in MAKE_UP {
        assert!(
            matches!(d(m).weekday(), Weekday::Sat | Weekday::Sun),
            "make-up day {m} is a weekday"
        );
    }
    // Each year: 261 weekdays; 2025 loses 18 to holidays (1+6+1+3+1+6) and gains 5 make-up
    // days; 2026 loses 19 (2+6+1+3+1+1+5) and gains 6. Both give 248.
    for year in [2025, 2026] {
        let first = NaiveDate::from_ymd_opt(year, 1, 1).unwrap();
        let n = first
            .iter_days()
            .take_while(|x| x.year() == year)
            .filter(|x| own_is_working_day(*x))
            .count();
        assert_eq!(n, 248, "working days in {year}");
    }
}

#[test]
fn crate_is_working_day_agrees_with_the_notices_for_2025_and_2026() {
    let cal = calendar();
    for day in d("2025-01-01")
        .iter_days()
        .take_while(|x| *x <= d("2026-12-31"))
    {
        assert_eq!(
            cal.is_working_day(day),
            own_is_working_day(day),
            "is_working_day({day})"
        );
    }
}

// (what, from, n, expected due, exact)
#[rustfmt::skip]
const ROWS: &[(&str, &str, u32, &str, bool)] = &[
    // --- Objection review, 5 working days after the filing day ---
    // 10-01..07 off; 10-08 Thu(1), 10-09 Fri(2), 10-10 Sat make-up(3), 10-12 Mon(4), 10-13 Tue(5)
    ("review, eve of 国庆 2026", "2026-09-30", 5, "2026-10-13", true),
    // 10-01..08 off; 10-09 Thu(1), 10-10 Fri(2), 10-11 Sat make-up(3), 10-13 Mon(4), 10-14 Tue(5)
    ("review, eve of 国庆 2025 (8-day break)", "2025-09-30", 5, "2025-10-14", true),
    // 10-10 Sat make-up(1), 10-12 Mon(2), 10-13 Tue(3), 10-14 Wed(4), 10-15 Thu(5)
    ("review, Fri before make-up Sat 2026", "2026-10-09", 5, "2026-10-15", true),
    // 02-08 Sat make-up(1), 02-10 Mon(2), 02-11 Tue(3), 02-12 Wed(4), 02-13 Thu(5)
    ("review, Fri before make-up Sat 2025", "2025-02-07", 5, "2025-02-13", true),
    // 02-14 Sat make-up(1), 02-15..23 off, 02-24 Tue(2), 02-25 Wed(3), 02-26 Thu(4), 02-27 Fri(5)
    ("review, Fri before 春节 2026", "2026-02-13", 5, "2026-02-27", true),
    // 02-25 Wed(1), 02-26 Thu(2), 02-27 Fri(3), 02-28 Sat make-up(4), 03-02 Mon(5)
    ("review, first day after 春节 2026", "2026-02-24", 5, "2026-03-02", true),
    // 01-26 Sun make-up(1), 01-27 Mon(2), 01-28..02-04 off, 02-05 Wed(3), 02-06 Thu(4), 02-07 Fri(5)
    ("review, before 春节 2025", "2025-01-24", 5, "2025-02-07", true),
    // 01-01..03 off; 01-04 Sun make-up(1), 01-05 Mon(2), 01-06 Tue(3), 01-07 Wed(4), 01-08 Thu(5)
    ("review, across 元旦 2026", "2025-12-31", 5, "2026-01-08", true),
    // filed on a holiday: 01-02..03 off; 01-04 Sun(1), 01-05(2), 01-06(3), 01-07(4), 01-08(5)
    ("review, filed on 元旦 2026", "2026-01-01", 5, "2026-01-08", true),
    // filed on a holiday: 02-19..23 off; 02-24 Tue(1), 02-25(2), 02-26(3), 02-27 Fri(4), 02-28 Sat make-up(5)
    ("review, filed during 春节 2026", "2026-02-18", 5, "2026-02-28", true),
    // filed on a holiday Sat: 10-04..07 off; 10-08(1), 10-09(2), 10-10 Sat(3), 10-12(4), 10-13(5)
    ("review, filed during 国庆 2026", "2026-10-03", 5, "2026-10-13", true),
    // filed on a make-up Sat: 10-13 Mon(1), 10-14(2), 10-15(3), 10-16(4), 10-17 Fri(5)
    ("review, filed on make-up Sat 2025", "2025-10-11", 5, "2025-10-17", true),
    // 04-27 Sun make-up(1), 04-28 Mon(2), 04-29 Tue(3), 04-30 Wed(4), 05-01..05 off, 05-06 Tue(5)
    ("review, before 劳动节 2025", "2025-04-25", 5, "2025-05-06", true),
    // 05-01..05 off; 05-06 Wed(1), 05-07 Thu(2), 05-08 Fri(3), 05-09 Sat make-up(4), 05-11 Mon(5)
    ("review, before 劳动节 2026", "2026-04-30", 5, "2026-05-11", true),
    // 09-25..27 off; 09-28 Mon(1), 09-29 Tue(2), 09-30 Wed(3), 10-01..07 off, 10-08 Thu(4), 10-09 Fri(5)
    ("review, before 中秋 + 国庆 2026", "2026-09-24", 5, "2026-10-09", true),
    // 09-20 Sun make-up(1), 09-21 Mon(2), 09-22 Tue(3), 09-23 Wed(4), 09-24 Thu(5)
    ("review, Fri before make-up Sun 2026", "2026-09-18", 5, "2026-09-24", true),
    // 12-25 Fri(1), 12-28 Mon(2), 12-29 Tue(3), 12-30 Wed(4), 12-31 Thu(5): stays in 2026
    ("review, late 2026, still exact", "2026-12-24", 5, "2026-12-31", true),
    // 12-28 Mon(1), 12-29(2), 12-30(3), 12-31 Thu(4), 2027-01-01 Fri(5, weekends only in 2027)
    ("review, into 2027", "2026-12-25", 5, "2027-01-01", false),
    // 12-29 Tue(1), 12-30(2), 12-31(3), 2027-01-01 Fri(4), 2027-01-04 Mon(5)
    ("review, into 2027", "2026-12-28", 5, "2027-01-04", false),
    // 2027-01-01 Fri(1), 01-04 Mon(2), 01-05(3), 01-06(4), 01-07 Thu(5)
    ("review, filed 2026-12-31", "2026-12-31", 5, "2027-01-07", false),
    // --- Provider's answer, 3 working days after forwarding ---
    // 10-08 Thu(1), 10-09 Fri(2), 10-10 Sat make-up(3)
    ("answer, eve of 国庆 2026", "2026-09-30", 3, "2026-10-10", true),
    // 10-09 Thu(1), 10-10 Fri(2), 10-11 Sat make-up(3)
    ("answer, eve of 国庆 2025", "2025-09-30", 3, "2025-10-11", true),
    // 02-14 Sat make-up(1), 02-15..23 off, 02-24 Tue(2), 02-25 Wed(3)
    ("answer, before 春节 2026", "2026-02-13", 3, "2026-02-25", true),
    // 05-31..06-02 off; 06-03 Tue(1), 06-04 Wed(2), 06-05 Thu(3)
    ("answer, before 端午 2025", "2025-05-30", 3, "2025-06-05", true),
    // --- Repair decision, 5 working days after acceptance ---
    // 06-19..21 off; 06-22 Mon(1), 06-23(2), 06-24(3), 06-25(4), 06-26 Fri(5)
    ("repair, before 端午 2026", "2026-06-18", 5, "2026-06-26", true),
    // 04-04..06 off; 04-07 Tue(1), 04-08(2), 04-09(3), 04-10 Fri(4), 04-13 Mon(5)
    ("repair, before 清明 2026", "2026-04-03", 5, "2026-04-13", true),
];

#[test]
fn working_day_deadlines_counted_by_hand() {
    let cal = calendar();
    for &(what, from, n, due, exact) in ROWS {
        let got = cal.add_working_days(d(from), n);
        assert_eq!(
            got,
            Deadline {
                date: d(due),
                exact
            },
            "{what}: {n} working days after {from}"
        );
    }
}

// (instant UTC, Shanghai calendar day, review due from that day, exact)
// Shanghai is UTC+8, so its date is the UTC date or the next one, never the previous one.
// 16:00Z..23:59:59Z is 00:00..07:59 of the NEXT day in Shanghai (catches "used the UTC date");
// 00:00Z..15:59:59Z is 08:00..23:59 of the SAME day (the early rows catch "subtracted 8 hours").
#[rustfmt::skip]
const INSTANTS: &[(&str, &str, &str, bool)] = &[
    // 00:30 Shanghai on 09-30. From 09-30: due 10-13 (see ROWS). From the UTC date 09-29 it
    // would be 09-30(1), 10-08(2), 10-09(3), 10-10(4), 10-12(5): a different answer.
    ("2026-09-29T16:30:00Z", "2026-09-30", "2026-10-13", true),
    // 23:30 Shanghai on 09-30: same date in UTC and in Shanghai.
    ("2026-09-30T15:30:00Z", "2026-09-30", "2026-10-13", true),
    ("2026-09-30T15:59:59Z", "2026-09-30", "2026-10-13", true),
    // 00:00 Shanghai on 10-01 (holiday): 10-08(1), 10-09(2), 10-10(3), 10-12(4), 10-13(5)
    ("2026-09-30T16:00:00Z", "2026-10-01", "2026-10-13", true),
    ("2026-09-30T16:30:00Z", "2026-10-01", "2026-10-13", true),
    // 08:30 / 15:59 Shanghai on 09-30; a wrong-sign offset would give 09-29 (due 10-12).
    ("2026-09-30T00:30:00Z", "2026-09-30", "2026-10-13", true),
    ("2026-09-30T07:59:59Z", "2026-09-30", "2026-10-13", true),
    // 23:30 Fri 02-13 Shanghai: due 02-27 (see ROWS).
    ("2026-02-13T15:30:00Z", "2026-02-13", "2026-02-27", true),
    // 00:30 Sat 02-14 Shanghai (make-up day): 02-24(1), 02-25(2), 02-26(3), 02-27(4), 02-28 Sat(5).
    // The UTC date 02-13 would give 02-27.
    ("2026-02-13T16:30:00Z", "2026-02-14", "2026-02-28", true),
    // 00:00 on 2026-01-01 Shanghai: 01-04 Sun(1), 01-05(2), 01-06(3), 01-07(4), 01-08(5)
    ("2025-12-31T16:00:00Z", "2026-01-01", "2026-01-08", true),
    // 00:00 on 2027-01-01 Shanghai (Fri, uncovered year): 01-04 Mon(1), 01-05(2), 01-06(3),
    // 01-07(4), 01-08 Fri(5). The UTC date 2026-12-31 would give 2027-01-07.
    ("2026-12-31T16:00:00Z", "2027-01-01", "2027-01-08", false),
];

#[test]
fn filing_day_is_the_shanghai_calendar_day() {
    let cal = calendar();
    for &(at, day, due, exact) in INSTANTS {
        let at: DateTime<Utc> = at.parse().unwrap();
        let filed = shanghai_day(at);
        assert_eq!(filed, d(day), "shanghai_day({at})");
        assert_eq!(
            cal.add_working_days(filed, 5),
            Deadline {
                date: d(due),
                exact
            },
            "review due for {at}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every filing day 2025-01-01 ..= 2026-12-20 (offset 718 is 2026-12-20): the review is due
    /// on a working day, after the filing day, with exactly 5 working days in (filing, due].
    #[test]
    fn review_due_is_the_fifth_working_day(offset in 0u64..=718) {
        let filed = d("2025-01-01").checked_add_days(Days::new(offset)).unwrap();
        let due = calendar().add_working_days(filed, 5);
        prop_assert!(due.exact, "{} is inside the published years", filed);
        prop_assert!(due.date > filed);
        prop_assert!(own_is_working_day(due.date), "due {} is not a working day", due.date);
        let counted = filed
            .iter_days()
            .skip(1)
            .take_while(|x| *x <= due.date)
            .filter(|x| own_is_working_day(*x))
            .count();
        prop_assert_eq!(counted, 5, "filed {}, due {}", filed, due.date);
    }
}

// (decision date, period, last day in force). Art. 201: the decision day is not counted;
// Art. 202: the period ends on the corresponding day of the last month, or that month's last
// day when it has none.
#[rustfmt::skip]
const PERIODS: &[(&str, &str, &str)] = &[
    ("2025-11-30", "P3M", "2026-02-28"), // no 02-30 in 2026 → month end (not a leap year)
    ("2024-02-29", "P1Y", "2025-02-28"), // no 02-29 in 2025 → month end
    ("2023-11-30", "P3M", "2024-02-29"), // no 02-30 in 2024 → month end, leap year
    ("2026-03-01", "P1Y", "2027-03-01"), // corresponding day exists
    ("2026-03-01", "P3Y", "2029-03-01"), // corresponding day exists
    ("2026-01-31", "P3M", "2026-04-30"), // no 04-31 → month end
    ("2026-01-31", "P1M", "2026-02-28"), // no 02-31 → month end
    ("2025-08-31", "P6M", "2026-02-28"), // no 02-31 → month end
    ("2026-02-28", "P3M", "2026-05-28"), // corresponding day 28 exists: not moved to 05-31
    ("2024-02-29", "P4Y", "2028-02-29"), // 2028 is a leap year: corresponding day exists
    ("2027-02-28", "P1Y", "2028-02-28"), // corresponding day exists: not moved to 02-29
    ("2025-12-31", "P1Y", "2026-12-31"),
];

#[test]
fn publicity_periods_end_per_civil_code_201_202() {
    for &(decision, p, last) in PERIODS {
        let period = Period::parse(p).unwrap_or_else(|e| panic!("{p}: {e:?}"));
        let end =
            period_end(d(decision), period).unwrap_or_else(|| panic!("{p} from {decision}: none"));
        assert_eq!(end, d(last), "{p} from {decision}");
        // The last day is still in force; the next day is not (the record's effect, as a
        // check or a profile works it out).
        let on = |day: NaiveDate| effect(RecordStatus::Active, false, Some(end), day);
        assert_eq!(on(d(last)), Effect::InForce, "{p} from {decision}: {last}");
        let next = d(last).succ_opt().unwrap();
        assert_eq!(
            on(next),
            Effect::PublicityEnded,
            "{p} from {decision}: {next}"
        );
    }
}
