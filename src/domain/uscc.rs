//! GB 32100-2015 unified social credit code (统一社会信用代码).
//!
//! Facts used (REFERENCE.md §1, all [verified] by recomputation): the 31-character set without
//! I, O, S, V, Z; weights 3^(i−1) mod 31; check `CHARS[(31 − Σ mod 31) mod 31]`; positions 3–8
//! digits only (positions 1–2 may be letters, unlike python-stdnum); the embedded GB 11714
//! organisation code in positions 9–17 with its own 0–9A–Z alphabet and weights 3,7,9,10,5,8,4,2.

use std::fmt;

/// The 31 characters of GB 32100, in value order.
const CHARS: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];
const ORG_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

/// The 双公示 placeholder for a 个体工商户 without a code (REFERENCE.md §1.5, §3.4).
pub const PLACEHOLDER: &str = "00000000000000000X";

/// A unified social credit code: trimmed, upper-cased, structurally valid.
///
/// `checksum_warning` is set only for codes accepted leniently from an upstream platform
/// (pilot-era codes that fail the checksum, REFERENCE.md §1.5); codes from local input must pass.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uscc {
    code: String,
    checksum_warning: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsccError {
    #[error("a unified social credit code has 18 characters, found {found}")]
    Length { found: usize },
    #[error("character '{ch}' at position {position} is not allowed (I, O, S, V, Z and symbols never occur)")]
    Character { position: usize, ch: char },
    #[error("character '{ch}' at position {position} is full-width (as typed with a Chinese input method); write the code in half-width letters and digits")]
    FullWidth { position: usize, ch: char },
    #[error(
        "position {position} must be a digit of the administrative division code, found '{ch}'"
    )]
    DivisionDigit { position: usize, ch: char },
    #[error(
        "organisation-code check character (position 17) should be '{expected}', found '{found}'"
    )]
    OrgCheck { expected: char, found: char },
    #[error("check character should be '{expected}', found '{found}'")]
    CheckDigit { expected: char, found: char },
    #[error("the placeholder {PLACEHOLDER} is accepted only together with a registration number (reg_no)")]
    PlaceholderWithoutRegNo,
}

impl UsccError {
    /// Stable machine-readable code for API answers.
    pub fn code(&self) -> &'static str {
        match self {
            UsccError::Length { .. } => "uscc_length",
            UsccError::Character { .. } => "uscc_character",
            UsccError::FullWidth { .. } => "uscc_full_width",
            UsccError::DivisionDigit { .. } => "uscc_division_code",
            UsccError::OrgCheck { .. } => "uscc_org_check_digit",
            UsccError::CheckDigit { .. } => "uscc_check_digit",
            UsccError::PlaceholderWithoutRegNo => "uscc_placeholder_needs_reg_no",
        }
    }
}

fn uscc_value(c: u8) -> Option<u32> {
    CHARS.iter().position(|&x| x == c).map(|p| p as u32)
}

fn org_value(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some((c - b'0') as u32),
        b'A'..=b'Z' => Some((c - b'A') as u32 + 10),
        _ => None,
    }
}

/// The GB 32100 check character for the first 17 characters (which must be from the set).
pub fn check_char(first17: &[u8]) -> Option<char> {
    let mut sum = 0u32;
    for (i, &c) in first17.iter().take(17).enumerate() {
        sum += uscc_value(c)? * WEIGHTS[i];
    }
    Some(CHARS[((31 - sum % 31) % 31) as usize] as char)
}

/// The GB 11714 check character for an 8-character organisation-code body.
pub fn org_check_char(body8: &[u8]) -> Option<char> {
    let mut sum = 0u32;
    for (i, &c) in body8.iter().take(8).enumerate() {
        sum += org_value(c)? * ORG_WEIGHTS[i];
    }
    Some(match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        n => char::from(b'0' + n as u8),
    })
}

impl Uscc {
    /// Strict parse for local input: structure and both check characters must hold.
    /// The placeholder is refused here; see [`Uscc::parse_with_reg_no`].
    pub fn parse(input: &str) -> Result<Uscc, UsccError> {
        Self::parse_with_reg_no(input, None)
    }

    /// Strict parse that accepts the placeholder when a non-empty registration number is given.
    pub fn parse_with_reg_no(input: &str, reg_no: Option<&str>) -> Result<Uscc, UsccError> {
        let code = normalise(input);
        if code == PLACEHOLDER {
            return match reg_no.map(str::trim) {
                Some(r) if !r.is_empty() => Ok(Uscc {
                    code,
                    checksum_warning: false,
                }),
                _ => Err(UsccError::PlaceholderWithoutRegNo),
            };
        }
        check_structure(&code)?;
        check_digits(&code)?;
        Ok(Uscc {
            code,
            checksum_warning: false,
        })
    }

    /// For reading what is held: a code whose structure holds but whose check character fails
    /// may name a pilot-era subject accepted from the provincial platform with the checksum
    /// warning (REFERENCE.md §1.5, [verified]: legally valid codes). The code comes back with
    /// the check error, which the caller answers unless such a subject is held — one rule for
    /// profiles and checks, so what the sync stored can be reached.
    pub fn parse_lookup(
        input: &str,
        reg_no: Option<&str>,
    ) -> Result<(Uscc, Option<UsccError>), UsccError> {
        match Self::parse_with_reg_no(input, reg_no) {
            Ok(u) => Ok((u, None)),
            Err(e @ (UsccError::CheckDigit { .. } | UsccError::OrgCheck { .. })) => {
                Ok((Self::parse_upstream(input)?, Some(e)))
            }
            Err(e) => Err(e),
        }
    }

    /// Lenient parse for records from the provincial platform: the structure must hold, but a
    /// failing check character only sets the warning flag (pilot-era codes, REFERENCE.md §1.5).
    pub fn parse_upstream(input: &str) -> Result<Uscc, UsccError> {
        let code = normalise(input);
        if code == PLACEHOLDER {
            return Ok(Uscc {
                code,
                checksum_warning: false,
            });
        }
        check_structure(&code)?;
        let checksum_warning = check_digits(&code).is_err();
        Ok(Uscc {
            code,
            checksum_warning,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.code
    }

    pub fn is_placeholder(&self) -> bool {
        self.code == PLACEHOLDER
    }

    pub fn checksum_warning(&self) -> bool {
        self.checksum_warning
    }
}

/// The full-width forms of ASCII (`０`–`９`, `Ａ`–`Ｚ`, …) and the ideographic space.
pub fn is_full_width(ch: char) -> bool {
    ('\u{FF01}'..='\u{FF5E}').contains(&ch) || ch == '\u{3000}'
}

fn normalise(input: &str) -> String {
    input.trim().to_uppercase()
}

fn check_structure(code: &str) -> Result<(), UsccError> {
    let n = code.chars().count();
    if n != 18 {
        return Err(UsccError::Length { found: n });
    }
    for (i, ch) in code.chars().enumerate() {
        if is_full_width(ch) {
            return Err(UsccError::FullWidth {
                position: i + 1,
                ch,
            });
        }
        if !ch.is_ascii() || uscc_value(ch as u8).is_none() {
            if i == 17 {
                // A mistyped last character: name the one expected, as for any wrong check.
                if let Some(expected) = check_char(&code.as_bytes()[..17]) {
                    return Err(UsccError::CheckDigit {
                        expected,
                        found: ch,
                    });
                }
            }
            return Err(UsccError::Character {
                position: i + 1,
                ch,
            });
        }
        if (2..8).contains(&i) && !ch.is_ascii_digit() {
            return Err(UsccError::DivisionDigit {
                position: i + 1,
                ch,
            });
        }
    }
    Ok(())
}

fn check_digits(code: &str) -> Result<(), UsccError> {
    let b = code.as_bytes();
    // The USCC check covers all 17 characters, so any single change is caught by it; check it
    // first so that the answer names the character a clerk most often mistypes.
    let expected = check_char(&b[..17]).ok_or(UsccError::Length { found: b.len() })?;
    if expected != b[17] as char {
        return Err(UsccError::CheckDigit {
            expected,
            found: b[17] as char,
        });
    }
    let org_expected = org_check_char(&b[8..16]).ok_or(UsccError::Length { found: b.len() })?;
    if org_expected != b[16] as char {
        return Err(UsccError::OrgCheck {
            expected: org_expected,
            found: b[16] as char,
        });
    }
    Ok(())
}

impl fmt::Display for Uscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code)
    }
}

impl fmt::Debug for Uscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uscc({})", self.code)
    }
}

/// Builds a valid code from a 6-digit division, two leading characters and an 8-character body
/// (used by the generator and by tests).
pub fn compose(authority_and_type: &str, division: &str, body8: &str) -> Option<Uscc> {
    let mut s = String::with_capacity(18);
    s.push_str(authority_and_type);
    s.push_str(division);
    s.push_str(body8);
    s.push(org_check_char(body8.as_bytes())?);
    s.push(check_char(s.as_bytes())?);
    Uscc::parse(&s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_reference_codes() {
        for c in [
            "91110000600037341L",
            "121200004013590816",
            "91310115MA1K3BTP2B",
            "91340600MA2PBM9HXD",
            "9144030071526726XG",
            "91620105L015101280",
            "92340602MA2PBMEM24",
            "91110000000000000E",
            "91110000MA00000152",
            "91110000MA01AB3CX8",
            "12330100MA00000152",
            "52440300MA00000153",
            "93320500MA00000157",
            "91420100MA0000015F",
            "914201001234567883",
            "91350100M000100Y43",
        ] {
            assert!(
                Uscc::parse(c).is_ok(),
                "{c} should pass: {:?}",
                Uscc::parse(c)
            );
        }
    }

    #[test]
    fn trims_and_upper_cases() {
        let u = Uscc::parse("  91110000ma00000152 ").unwrap();
        assert_eq!(u.as_str(), "91110000MA00000152");
    }

    #[test]
    fn names_the_expected_check_character() {
        let e = Uscc::parse("91350100M000100Y4Z").unwrap_err();
        assert_eq!(
            e,
            UsccError::CheckDigit {
                expected: '3',
                found: 'Z'
            }
        );
        assert_eq!(e.code(), "uscc_check_digit");
        assert_eq!(e.to_string(), "check character should be '3', found 'Z'");
    }

    #[test]
    fn rejects_bad_shapes() {
        assert_eq!(
            Uscc::parse("9111000060003734").unwrap_err(),
            UsccError::Length { found: 16 }
        );
        assert!(matches!(
            Uscc::parse("9111000060003IOZSV").unwrap_err(),
            UsccError::Character {
                position: 14,
                ch: 'I'
            }
        ));
        assert!(matches!(
            Uscc::parse("9111A00060003734 1L").unwrap_err(),
            UsccError::Length { .. }
        ));
        assert!(matches!(
            Uscc::parse("9111A000600037341L").unwrap_err(),
            UsccError::DivisionDigit {
                position: 5,
                ch: 'A'
            }
        ));
        assert!(matches!(
            Uscc::parse("91110000中00037341L").unwrap_err(),
            UsccError::Character { position: 9, .. }
        ));
        let e = Uscc::parse("９1110000MA00000152").unwrap_err();
        assert_eq!(
            e,
            UsccError::FullWidth {
                position: 1,
                ch: '９'
            }
        );
        assert!(e.to_string().contains("full-width"), "{e}");
    }

    #[test]
    fn org_code_check_is_enforced() {
        // Body MA000001 has org check 5; make a code with a wrong org check but a correct USCC
        // check character, so only the GB 11714 rule can catch it.
        let mut s = String::from("91110000MA0000016");
        s.push(check_char(s.as_bytes()).unwrap());
        let e = Uscc::parse(&s).unwrap_err();
        assert_eq!(
            e,
            UsccError::OrgCheck {
                expected: '5',
                found: '6'
            }
        );
    }

    #[test]
    fn placeholder_needs_reg_no() {
        assert_eq!(
            Uscc::parse(PLACEHOLDER).unwrap_err(),
            UsccError::PlaceholderWithoutRegNo
        );
        assert_eq!(
            Uscc::parse_with_reg_no(PLACEHOLDER, Some("  ")).unwrap_err(),
            UsccError::PlaceholderWithoutRegNo
        );
        let u = Uscc::parse_with_reg_no("00000000000000000x", Some("110105600123456")).unwrap();
        assert!(u.is_placeholder());
    }

    #[test]
    fn pilot_era_codes_are_flagged_not_dropped() {
        for c in [
            "91350100M0001TGQXM",
            "91350211M0000XUF46",
            "91350203M0001FUE2P",
        ] {
            assert!(Uscc::parse(c).is_err());
            let u = Uscc::parse_upstream(c).unwrap();
            assert!(u.checksum_warning());
        }
        assert!(!Uscc::parse_upstream("91110000MA00000152")
            .unwrap()
            .checksum_warning());
        assert!(Uscc::parse_upstream("91110000MA0000015").is_err());
    }

    fn code_strategy() -> impl Strategy<Value = Uscc> {
        let set: Vec<char> = CHARS.iter().map(|&c| c as char).collect();
        let any = proptest::sample::select(set);
        (
            proptest::collection::vec(any.clone(), 2),
            proptest::collection::vec(proptest::char::range('0', '9'), 6),
            proptest::collection::vec(any, 8),
        )
            .prop_map(|(a, d, b)| {
                let a: String = a.into_iter().collect();
                let d: String = d.into_iter().collect();
                let b: String = b.into_iter().collect();
                compose(&a, &d, &b).expect("composed code is valid")
            })
    }

    proptest! {
        #[test]
        fn every_generated_code_passes(u in code_strategy()) {
            prop_assert!(Uscc::parse(u.as_str()).is_ok());
        }

        #[test]
        fn every_single_character_change_fails(
            u in code_strategy(),
            pos in 0usize..18,
            replacement in proptest::sample::select(CHARS.to_vec()),
        ) {
            let mut bytes = u.as_str().as_bytes().to_vec();
            prop_assume!(bytes[pos] != replacement);
            bytes[pos] = replacement;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(Uscc::parse(&changed).is_err(), "{} passed", changed);
        }
    }
}
