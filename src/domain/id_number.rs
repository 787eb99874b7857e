//! GB 11643-1999 citizen ID number (公民身份号码).
//!
//! Facts used (REFERENCE.md §2, [verified] by recomputation): weights 2^(18−i) mod 11, check
//! `"10X98765432"[Σ mod 11]`, lowercase `x` accepted, the birth date must be a real date.
//! The region code is checked only at province level (the first two digits, GB/T 2260), since
//! no county table ships with the service; masking keeps the first 6 and the last 4 (the most
//! common convention, REFERENCE.md §2, [uncertain] as a national rule).

use chrono::NaiveDate;
use std::fmt;

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: &[u8; 11] = b"10X98765432";
/// GB/T 2260 province-level codes (and 71 Taiwan, 81 Hong Kong, 82 Macao, 83 for the residence
/// permits of Hong Kong, Macao and Taiwan residents).
const PROVINCES: [u8; 37] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83, 91, 99,
];

/// A valid citizen ID number. `Display` and `Debug` print the masked form; only
/// [`IdNumber::expose`] gives the full number, for storage and for roles allowed to see it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    #[error("a citizen ID number has 18 characters, found {found}")]
    Length { found: usize },
    #[error("positions 1–17 must be digits and position 18 a digit or X")]
    Character,
    #[error("the number has full-width characters (as typed with a Chinese input method); write it with the half-width digits 0–9 and X")]
    FullWidth,
    #[error("the region code does not start with a province code")]
    Region,
    /// The date itself is not repeated: it is personal data (and the answer may be logged).
    #[error("the birth date (positions 7–14, YYYYMMDD) is not a real date")]
    BirthDate,
    #[error("check character should be '{expected}', found '{found}'")]
    CheckDigit { expected: char, found: char },
}

impl IdNumberError {
    pub fn code(&self) -> &'static str {
        match self {
            IdNumberError::Length { .. } => "id_number_length",
            IdNumberError::Character => "id_number_character",
            IdNumberError::FullWidth => "id_number_full_width",
            IdNumberError::Region => "id_number_region",
            IdNumberError::BirthDate => "id_number_birth_date",
            IdNumberError::CheckDigit { .. } => "id_number_check_digit",
        }
    }
}

pub fn check_char(first17: &[u8]) -> char {
    let sum: u32 = first17
        .iter()
        .zip(WEIGHTS)
        .map(|(&c, w)| (c - b'0') as u32 * w)
        .sum();
    CHECK[(sum % 11) as usize] as char
}

impl IdNumber {
    pub fn parse(input: &str) -> Result<IdNumber, IdNumberError> {
        let s = input.trim().to_uppercase();
        let n = s.chars().count();
        if n != 18 {
            return Err(IdNumberError::Length { found: n });
        }
        if s.chars().any(super::uscc::is_full_width) {
            return Err(IdNumberError::FullWidth);
        }
        let b = s.as_bytes();
        if !b[..17].iter().all(u8::is_ascii_digit) || !(b[17].is_ascii_digit() || b[17] == b'X') {
            return Err(IdNumberError::Character);
        }
        let province = (b[0] - b'0') * 10 + (b[1] - b'0');
        if !PROVINCES.contains(&province) {
            return Err(IdNumberError::Region);
        }
        let date = &s[6..14];
        let parsed =
            NaiveDate::parse_from_str(date, "%Y%m%d").map_err(|_| IdNumberError::BirthDate)?;
        if parsed < NaiveDate::from_ymd_opt(1880, 1, 1).unwrap_or(parsed) {
            return Err(IdNumberError::BirthDate);
        }
        let expected = check_char(&b[..17]);
        if expected != b[17] as char {
            return Err(IdNumberError::CheckDigit {
                expected,
                found: b[17] as char,
            });
        }
        Ok(IdNumber(s))
    }

    /// The full number. Call only to store it or to show it to a role allowed to see it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `110101********0011`: region kept, birth date hidden, last four kept.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

/// Masks any stored ID-like string the same way (first 6, 8 stars, last 4); short strings are
/// starred entirely.
pub fn mask(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() < 11 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..6].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 10))
}

/// Where `text` holds something that may be a citizen ID number: a run of 17 ASCII digits and
/// a digit or `X`/`x` whose first two digits are a province code and whose digits 7–14 are a
/// real birth date. The check character is not required, so a mistyped number is found too; a
/// run that cannot be a number (no province, no date) is left, which keeps most all-digit social
/// credit codes as they are. Inside a longer run of digits (a number written against a document
/// number), an 18-character stretch is found when it is a valid number, check character and all
/// (a property test found such a number left in plain text).
/// Byte ranges, in order; only ASCII is matched, so every range is on character boundaries.
pub fn id_number_spans(text: &str) -> Vec<std::ops::Range<usize>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = i - start;
        let x_follows = i < b.len() && (b[i] == b'X' || b[i] == b'x');
        let end = match digits {
            18 if !x_follows => i,
            17 if x_follows => i + 1,
            n if n >= 18 => {
                // A longer run: a number written against other digits (a document number
                // ending in digits, a date) is found where its check character holds, so
                // that a long number of another kind is rarely masked.
                let run_end = if x_follows { i + 1 } else { i };
                let mut s = start;
                while s + 18 <= run_end {
                    if IdNumber::parse(&text[s..s + 18]).is_ok() {
                        out.push(s..s + 18);
                        s += 18;
                    } else {
                        s += 1;
                    }
                }
                i = run_end;
                continue;
            }
            _ => continue,
        };
        if looks_like_id(&b[start..end]) {
            out.push(start..end);
        }
        i = end;
    }
    out
}

/// `text` with every ID number in it masked as [`mask`] does (`110101********0011`): for error
/// messages and log lines, which may quote what a caller sent.
pub fn mask_id_numbers(text: &str) -> std::borrow::Cow<'_, str> {
    replace_id_numbers(text, mask)
}

/// Free text as it may be stored and shown: [`mask_id_numbers`], owned.
pub fn masked(text: &str) -> String {
    mask_id_numbers(text).into_owned()
}

/// `text` with every ID number in it ([`id_number_spans`]) replaced by what `with` makes of it.
pub fn replace_id_numbers(text: &str, with: impl Fn(&str) -> String) -> std::borrow::Cow<'_, str> {
    let spans = id_number_spans(text);
    if spans.is_empty() {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for r in spans {
        out.push_str(&text[at..r.start]);
        out.push_str(&with(&text[r.clone()]));
        at = r.end;
    }
    out.push_str(&text[at..]);
    std::borrow::Cow::Owned(out)
}

fn looks_like_id(run: &[u8]) -> bool {
    let province = (run[0] - b'0') * 10 + (run[1] - b'0');
    let Ok(date) = std::str::from_utf8(&run[6..14]) else {
        return false;
    };
    PROVINCES.contains(&province)
        && NaiveDate::parse_from_str(date, "%Y%m%d")
            .is_ok_and(|d| d >= NaiveDate::from_ymd_opt(1880, 1, 1).unwrap_or(d))
}

impl fmt::Display for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdNumber({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_reference_numbers() {
        for n in [
            "360426199101010071",
            "110101199003070011",
            "44030419851231002X",
            "32010220000229003X",
        ] {
            assert!(IdNumber::parse(n).is_ok(), "{n}");
        }
        assert_eq!(
            IdNumber::parse("44030419851231002x").unwrap().expose(),
            "44030419851231002X"
        );
    }

    #[test]
    fn display_and_debug_are_masked() {
        let id = IdNumber::parse("110101199003070011").unwrap();
        assert_eq!(id.to_string(), "110101********0011");
        assert_eq!(format!("{id:?}"), "IdNumber(110101********0011)");
        assert!(!format!("{id:?}").contains("19900307"));
    }

    #[test]
    fn rejects_bad_numbers() {
        assert_eq!(
            IdNumber::parse("１10101199003070011").unwrap_err(),
            IdNumberError::FullWidth
        );
        assert_eq!(
            IdNumber::parse("110101199003070012").unwrap_err(),
            IdNumberError::CheckDigit {
                expected: '1',
                found: '2'
            }
        );
        // 2001 is not a leap year.
        assert_eq!(
            IdNumber::parse("110101200102290011").unwrap_err(),
            IdNumberError::BirthDate
        );
        assert!(!IdNumberError::BirthDate.to_string().contains("2001"));
        assert!(matches!(
            IdNumber::parse("11010119900307001").unwrap_err(),
            IdNumberError::Length { found: 17 }
        ));
        assert_eq!(
            IdNumber::parse("1101011990030700A1").unwrap_err(),
            IdNumberError::Character
        );
        assert_eq!(
            IdNumber::parse("000101199003070011").unwrap_err(),
            IdNumberError::Region
        );
    }

    #[test]
    fn finds_numbers_inside_other_text() {
        let spans = |s: &str| -> Vec<String> {
            id_number_spans(s)
                .into_iter()
                .map(|r| s[r].to_string())
                .collect()
        };
        assert_eq!(
            spans("京市监罚〔2026〕12号|110101199003070011"),
            ["110101199003070011"]
        );
        // A wrong check character is still personal data; lowercase x too.
        assert_eq!(spans("a110101199003070012b"), ["110101199003070012"]);
        assert_eq!(spans("44030419851231002x."), ["44030419851231002x"]);
        assert_eq!(
            spans("110101199003070011,360426199101010071"),
            ["110101199003070011", "360426199101010071"]
        );
        // Inside a longer run of digits, a valid number (check character and all) is found;
        // a stretch whose check character fails is not.
        assert_eq!(spans("1101011990030700111"), ["110101199003070011"]);
        assert_eq!(spans("2026001110101199003070011号"), ["110101199003070011"]);
        assert!(spans("1101011990030700121").is_empty());
        assert_eq!(spans("031232419420610448X"), ["31232419420610448X"]);
        // Not a number: no province, no birth date, a social credit code.
        assert!(spans("000101199003070011").is_empty());
        assert!(spans("110101199013070011").is_empty());
        assert!(spans("91110000MA00000152").is_empty());
        assert!(spans("121100004000000001").is_empty());
        assert!(spans("").is_empty());
        assert_eq!(
            mask_id_numbers("invalid type: integer `110101199003070011`, expected a string"),
            "invalid type: integer `110101********0011`, expected a string"
        );
    }

    fn number_strategy() -> impl Strategy<Value = String> {
        (
            proptest::sample::select(PROVINCES.to_vec()),
            0u32..10000,
            0i64..40000,
            0u32..1000,
        )
            .prop_map(|(p, region, days, seq)| {
                let birth =
                    NaiveDate::from_ymd_opt(1920, 1, 1).unwrap() + chrono::Duration::days(days);
                let mut s = format!("{p:02}{region:04}{}{seq:03}", birth.format("%Y%m%d"));
                let c = check_char(s.as_bytes());
                s.push(c);
                s
            })
    }

    proptest! {
        #[test]
        fn every_generated_number_passes(n in number_strategy()) {
            prop_assert!(IdNumber::parse(&n).is_ok());
        }

        #[test]
        fn every_number_is_found_wherever_it_stands(n in number_strategy(), head in "[^0-9]{0,8}", tail in "[^0-9xX]{0,8}") {
            let text = format!("{head}{n}{tail}");
            let spans = id_number_spans(&text);
            prop_assert_eq!(spans.len(), 1);
            prop_assert_eq!(&text[spans[0].clone()], n.as_str());
        }

        #[test]
        fn spans_never_panic_and_are_in_bounds(text in ".{0,80}") {
            for r in id_number_spans(&text) {
                prop_assert!(r.end <= text.len() && text.is_char_boundary(r.start) && text.is_char_boundary(r.end));
            }
        }

        #[test]
        fn every_single_digit_change_fails(n in number_strategy(), pos in 0usize..18, d in 0u8..11) {
            let mut b = n.as_bytes().to_vec();
            let c = if d == 10 { b'X' } else { b'0' + d };
            prop_assume!(b[pos] != c);
            b[pos] = c;
            let changed = String::from_utf8(b).unwrap();
            prop_assert!(IdNumber::parse(&changed).is_err(), "{} passed", changed);
        }
    }
}
