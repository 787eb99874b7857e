//! Periods of the law ("within three years", "a ban of two years"), written as ISO 8601
//! durations of whole years, months and days (`P3Y`, `P6M`, `P1Y6M`, `P30D`).

use chrono::{Days, Months, NaiveDate};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Period {
    years: u32,
    months: u32,
    days: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{input}' is not a period: write ISO 8601 years, months and days, such as P3Y, P6M or P1Y6M"
)]
pub struct PeriodError {
    pub input: String,
}

impl Period {
    pub fn parse(input: &str) -> Result<Period, PeriodError> {
        let err = || PeriodError {
            input: input.to_string(),
        };
        let rest = input.trim().strip_prefix('P').ok_or_else(err)?;
        if rest.is_empty() {
            return Err(err());
        }
        let (mut years, mut months, mut days) = (0u32, 0u32, 0u32);
        let mut number = String::new();
        let mut last_unit = 0; // units must come in the order Y, M, D, each once
        for c in rest.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let n: u32 = number.parse().map_err(|_| err())?;
            number.clear();
            let (slot, order) = match c {
                'Y' => (&mut years, 1),
                'M' => (&mut months, 2),
                'D' => (&mut days, 3),
                _ => return Err(err()),
            };
            if order <= last_unit || n > 100_000 {
                return Err(err());
            }
            last_unit = order;
            *slot = n;
        }
        if !number.is_empty() || (years == 0 && months == 0 && days == 0) {
            return Err(err());
        }
        Ok(Period {
            years,
            months,
            days,
        })
    }

    /// `date` plus the period; a month end that does not exist falls back to the last day of the
    /// month (2024-02-29 + P1Y = 2025-02-28).
    pub fn after(&self, date: NaiveDate) -> Option<NaiveDate> {
        date.checked_add_months(Months::new(self.years * 12 + self.months))?
            .checked_add_days(Days::new(self.days as u64))
    }

    /// `date` minus the period, the same way.
    pub fn before(&self, date: NaiveDate) -> Option<NaiveDate> {
        date.checked_sub_months(Months::new(self.years * 12 + self.months))?
            .checked_sub_days(Days::new(self.days as u64))
    }

    /// In plain Chinese: `3年`, `1年6个月`, `30日`.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        if self.years > 0 {
            s.push_str(&format!("{}年", self.years));
        }
        if self.months > 0 {
            s.push_str(&format!("{}个月", self.months));
        }
        if self.days > 0 {
            s.push_str(&format!("{}日", self.days));
        }
        s
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("P")?;
        if self.years > 0 {
            write!(f, "{}Y", self.years)?;
        }
        if self.months > 0 {
            write!(f, "{}M", self.months)?;
        }
        if self.days > 0 {
            write!(f, "{}D", self.days)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn parses_and_prints() {
        for s in ["P3Y", "P6M", "P1Y6M", "P30D", "P1Y2M3D"] {
            assert_eq!(Period::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(Period::parse("P1Y6M").unwrap().describe(), "1年6个月");
    }

    #[test]
    fn refuses_what_is_not_a_period() {
        for s in [
            "", "P", "3Y", "P3", "PY", "P3M1Y", "P3Y3Y", "P0Y", "P1W", "P1.5Y", "PT1H",
        ] {
            assert!(Period::parse(s).is_err(), "{s} accepted");
        }
    }

    #[test]
    fn counts_calendar_years_and_clamps_month_ends() {
        let p = Period::parse("P3Y").unwrap();
        assert_eq!(p.before(d("2026-11-24")), Some(d("2023-11-24")));
        assert_eq!(p.after(d("2023-11-24")), Some(d("2026-11-24")));
        let y = Period::parse("P1Y").unwrap();
        assert_eq!(y.after(d("2024-02-29")), Some(d("2025-02-28")));
    }
}
