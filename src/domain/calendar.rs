//! Working days (工作日) for deadlines counted in working days (the governing measures Art. 21).
//!
//! A working day is Monday to Friday, except public holidays, plus the make-up working days that
//! fall on a weekend (State Council holiday notices; `domain/calendar.md`). The years the rule
//! files do not cover are not guessed: weekends only are counted there and the result says so.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Days, FixedOffset, NaiveDate, Utc, Weekday};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkingCalendar {
    /// Years with a published schedule.
    years: BTreeSet<i32>,
    holidays: BTreeMap<NaiveDate, String>,
    makeup_days: BTreeSet<NaiveDate>,
}

/// A date computed from the calendar, and whether every year it crossed was covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    pub date: NaiveDate,
    /// False when a year without a published schedule was counted by weekends only.
    pub exact: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("{0} is listed both as a holiday and as a make-up working day")]
    Both(NaiveDate),
    #[error("{date} lies outside the year {year} of its schedule")]
    WrongYear { date: NaiveDate, year: i32 },
    #[error("the year {0} has two schedules")]
    DuplicateYear(i32),
}

/// The calendar day at `at` in Asia/Shanghai (UTC+8, no daylight saving): the day deadlines
/// are counted from (an objection filed at 23:30 in Beijing is filed that day, though UTC has it
/// 15:30 the same day, and one at 00:30 is filed on the new day while UTC is still on the last).
pub fn shanghai_day(at: DateTime<Utc>) -> NaiveDate {
    shanghai_time(at).date_naive()
}

/// China Standard Time (UTC+8, no daylight saving).
pub fn shanghai_offset() -> FixedOffset {
    // 28,800 s lies within the ±86,400 s that east_opt takes: it cannot fail.
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// `at` in Asia/Shanghai.
pub fn shanghai_time(at: DateTime<Utc>) -> DateTime<FixedOffset> {
    at.with_timezone(&shanghai_offset())
}

/// The UTC instant at which day `d` begins in Asia/Shanghai (as stored, without zone).
pub fn shanghai_midnight_utc(d: NaiveDate) -> chrono::NaiveDateTime {
    d.and_time(chrono::NaiveTime::MIN)
        - chrono::TimeDelta::seconds(i64::from(shanghai_offset().local_minus_utc()))
}

impl WorkingCalendar {
    /// Adds one year's schedule: the days off (with the holiday's name) and the make-up days.
    pub fn add_year(
        &mut self,
        year: i32,
        holidays: impl IntoIterator<Item = (NaiveDate, String)>,
        makeup_days: impl IntoIterator<Item = NaiveDate>,
    ) -> Result<(), CalendarError> {
        if !self.years.insert(year) {
            return Err(CalendarError::DuplicateYear(year));
        }
        for (date, name) in holidays {
            if date.year() != year {
                return Err(CalendarError::WrongYear { date, year });
            }
            self.holidays.insert(date, name);
        }
        for date in makeup_days {
            if date.year() != year {
                return Err(CalendarError::WrongYear { date, year });
            }
            if self.holidays.contains_key(&date) {
                return Err(CalendarError::Both(date));
            }
            self.makeup_days.insert(date);
        }
        Ok(())
    }

    pub fn covers(&self, year: i32) -> bool {
        self.years.contains(&year)
    }

    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        if self.makeup_days.contains(&date) {
            return true;
        }
        if self.holidays.contains_key(&date) {
            return false;
        }
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
    }

    /// The `n`-th working day after `from` (`from` itself does not count).
    pub fn add_working_days(&self, from: NaiveDate, n: u32) -> Deadline {
        let mut date = from;
        let mut exact = true;
        let mut left = n;
        while left > 0 {
            date = match date.checked_add_days(Days::new(1)) {
                Some(d) => d,
                None => break,
            };
            if !self.covers(date.year()) {
                exact = false;
            }
            if self.is_working_day(date) {
                left -= 1;
            }
        }
        Deadline { date, exact }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn range(from: &str, to: &str, name: &str) -> Vec<(NaiveDate, String)> {
        d(from)
            .iter_days()
            .take_while(|x| *x <= d(to))
            .map(|x| (x, name.to_string()))
            .collect()
    }

    /// 2026 national day and mid-autumn, from `domain/calendar.md`.
    fn autumn_2026() -> WorkingCalendar {
        let mut c = WorkingCalendar::default();
        let mut h = range("2026-09-25", "2026-09-27", "中秋节");
        h.extend(range("2026-10-01", "2026-10-07", "国庆节"));
        c.add_year(2026, h, [d("2026-09-20"), d("2026-10-10")])
            .unwrap();
        c
    }

    #[test]
    fn holidays_and_make_up_days() {
        let c = autumn_2026();
        assert!(!c.is_working_day(d("2026-10-01")));
        assert!(c.is_working_day(d("2026-10-10")), "Saturday make-up day");
        assert!(c.is_working_day(d("2026-09-20")), "Sunday make-up day");
        assert!(!c.is_working_day(d("2026-10-11")));
    }

    #[test]
    fn five_working_days_across_national_day() {
        // 9-30 + 5: 10-8, 10-9, 10-10 (Saturday, make-up), 10-12, 10-13.
        let got = autumn_2026().add_working_days(d("2026-09-30"), 5);
        assert_eq!(
            got,
            Deadline {
                date: d("2026-10-13"),
                exact: true
            }
        );
    }

    #[test]
    fn an_uncovered_year_is_counted_by_weekends_and_flagged() {
        let got = autumn_2026().add_working_days(d("2026-12-30"), 3);
        // 12-31 (Thu), 2027-01-01 (Fri: New Year unknown for 2027, counted), 01-04 (Mon).
        assert_eq!(
            got,
            Deadline {
                date: d("2027-01-04"),
                exact: false
            }
        );
    }

    #[test]
    fn refuses_inconsistent_schedules() {
        let mut c = WorkingCalendar::default();
        assert!(matches!(
            c.add_year(
                2026,
                range("2026-10-01", "2026-10-01", "x"),
                [d("2026-10-01")]
            ),
            Err(CalendarError::Both(_))
        ));
        let mut c = WorkingCalendar::default();
        assert!(matches!(
            c.add_year(2026, range("2025-10-01", "2025-10-01", "x"), []),
            Err(CalendarError::WrongYear { .. })
        ));
    }
}
