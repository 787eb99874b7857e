//! Money in yuan, held as integer fen so that thresholds such as 2,000,000 yuan compare exactly.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Yuan {
    fen: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("the amount is not a number: write digits with at most one decimal point")]
    Format,
    #[error("the amount has more than {max} decimals")]
    TooManyDecimals { max: usize },
    #[error("the amount uses full-width digits or a full-width point; write it with the digits 0–9 and '.'")]
    FullWidth,
    #[error("the amount has thousands separators; write it without them")]
    Separators,
    #[error("the amount is written with an exponent; write it out in digits")]
    Exponent,
    #[error("an amount may not be negative")]
    Negative,
    #[error("the amount is too large: at most 92233720368547758.07 yuan can be held")]
    TooLarge,
}

impl Yuan {
    pub fn from_fen(fen: i64) -> Yuan {
        Yuan { fen }
    }

    pub fn fen(self) -> i64 {
        self.fen
    }

    /// Parses yuan written as `2500000`, `2500000.5` or `2500000.00`.
    pub fn parse(s: &str) -> Result<Yuan, MoneyError> {
        Self::parse_scaled(s, 2, 2)
    }

    /// Parses 万元 (units of 10,000 yuan) as used in 双公示 files (CF_NR_FK, REFERENCE.md §3.2:
    /// `0.2` means 2,000 yuan). At most 6 decimals, the precision of the exchange DDL; the result
    /// must come out in whole fen.
    pub fn parse_wan(s: &str) -> Result<Yuan, MoneyError> {
        Self::parse_scaled(s, 6, 6)
    }

    /// `shift`: decimal places from the input unit to fen (2 for yuan, 6 for 万元), so that the
    /// scaled integer is in fen.
    fn parse_scaled(s: &str, max_decimals: usize, shift: u32) -> Result<Yuan, MoneyError> {
        let s = s.trim();
        if s.starts_with('-') {
            return Err(MoneyError::Negative);
        }
        let s = s.strip_prefix('+').unwrap_or(s);
        let (int, frac) = match s.split_once('.') {
            Some((i, f)) => (i, f),
            None => (s, ""),
        };
        let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() || !digits(int) || !digits(frac) || (s.contains('.') && frac.is_empty()) {
            return Err(Self::why_not_a_number(s));
        }
        if frac.len() > max_decimals {
            return Err(MoneyError::TooManyDecimals { max: max_decimals });
        }
        let int: i64 = int.parse().map_err(|_| MoneyError::TooLarge)?;
        let mut frac_val: i64 = 0;
        for (i, b) in frac.bytes().enumerate() {
            frac_val += (b - b'0') as i64 * 10i64.pow(shift - 1 - i as u32);
        }
        let scale = 10i64.pow(shift);
        let units = int
            .checked_mul(scale)
            .and_then(|v| v.checked_add(frac_val))
            .ok_or(MoneyError::TooLarge)?;
        // `shift` is chosen so that one unit of the last decimal is one fen.
        Ok(Yuan { fen: units })
    }

    /// Says what is wrong with text that is not digits with one decimal point. A JSON number
    /// of 20 digits or more reaches us as `1e25`: that is too large, not a format error.
    fn why_not_a_number(s: &str) -> MoneyError {
        if s.chars().any(|c| ('０'..='９').contains(&c) || c == '．') {
            MoneyError::FullWidth
        } else if s.contains([',', '，']) && !s.contains(char::is_alphabetic) {
            MoneyError::Separators
        } else if s.contains(['e', 'E']) {
            match s.parse::<f64>() {
                Ok(v) if v.is_finite() && v.abs() >= 9.2e16 => MoneyError::TooLarge,
                Ok(v) if v < 0.0 => MoneyError::Negative,
                Ok(_) => MoneyError::Exponent,
                Err(_) => MoneyError::Format,
            }
        } else {
            MoneyError::Format
        }
    }
}

impl fmt::Display for Yuan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.fen / 100, self.fen % 100)
    }
}

/// Serialised as the API writes money: a decimal string of yuan with two decimals.
impl serde::Serialize for Yuan {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for Yuan {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Yuan::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_yuan() {
        assert_eq!(Yuan::parse("2500000.00").unwrap().fen(), 250_000_000);
        assert_eq!(Yuan::parse("2500000").unwrap().fen(), 250_000_000);
        assert_eq!(Yuan::parse("1999999.99").unwrap().fen(), 199_999_999);
        assert_eq!(Yuan::parse("0.5").unwrap().to_string(), "0.50");
        assert_eq!(Yuan::parse("2500000").unwrap().to_string(), "2500000.00");
    }

    #[test]
    fn rejects_bad_yuan() {
        assert_eq!(
            Yuan::parse("1.234"),
            Err(MoneyError::TooManyDecimals { max: 2 })
        );
        assert_eq!(Yuan::parse("1e25"), Err(MoneyError::TooLarge));
        assert_eq!(Yuan::parse("1.5e3"), Err(MoneyError::Exponent));
        assert_eq!(Yuan::parse("２５００"), Err(MoneyError::FullWidth));
        assert_eq!(Yuan::parse("2,500,000"), Err(MoneyError::Separators));
        assert_eq!(Yuan::parse("-3"), Err(MoneyError::Negative));
        assert_eq!(Yuan::parse("abc"), Err(MoneyError::Format));
        assert_eq!(Yuan::parse("1."), Err(MoneyError::Format));
        assert_eq!(Yuan::parse(""), Err(MoneyError::Format));
        assert_eq!(Yuan::parse("1e6"), Err(MoneyError::Exponent));
        assert_eq!(
            Yuan::parse("99999999999999999999"),
            Err(MoneyError::TooLarge)
        );
    }

    #[test]
    fn converts_wan_yuan() {
        assert_eq!(Yuan::parse_wan("0.2").unwrap().to_string(), "2000.00");
        assert_eq!(Yuan::parse_wan("250").unwrap().to_string(), "2500000.00");
        assert_eq!(Yuan::parse_wan("0.000001").unwrap().to_string(), "0.01");
        assert_eq!(
            Yuan::parse_wan("0.0000001"),
            Err(MoneyError::TooManyDecimals { max: 6 })
        );
    }
}
