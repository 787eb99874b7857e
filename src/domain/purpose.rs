//! The stated purpose of a query or an access grant (the governing measures Art. 20, 22: a
//! using department states why it reads credit information; API.md: 2 to 200 characters).
//! One rule for checks, profiles, record reads and grants.

use super::FieldError;

/// The purpose, trimmed, with any ID number written into it masked (it is stored with reports,
/// grants and the access log; the person is named by the check itself, encrypted); or the
/// error for the `purpose` field.
pub fn parse_purpose(text: Option<&str>) -> Result<String, FieldError> {
    let p = text.map(trim_blank).unwrap_or("");
    let n = p.chars().count();
    // At least 2 characters besides spaces around them; at most 200 as sent (the document's
    // maxLength counts the string as sent).
    let sent = text.map_or(0, |t| t.chars().count());
    if n >= 2 && sent <= 200 {
        Ok(super::id_number::mask_id_numbers(p).into_owned())
    } else {
        Err(FieldError::new(
            "purpose",
            if n == 0 { "required" } else { "invalid_length" },
            "state the purpose in 2 to 200 characters (the governing measures Art. 20), such as 政府采购资格审查",
        ))
    }
}

/// `text` without the blanks around it: Unicode white space, the separators U+001C–U+001F and
/// the byte order mark U+FEFF. The document's patterns name the same set
/// (`service::schema::BLANK`), which regular expressions of every dialect read alike.
pub fn trim_blank(text: &str) -> &str {
    text.trim_matches(|c: char| {
        c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c) || c == '\u{feff}'
    })
}

#[cfg(test)]
mod tests {
    use super::parse_purpose;

    #[test]
    fn two_to_two_hundred_characters_trimmed_and_masked() {
        assert_eq!(parse_purpose(Some(" 资格审查 ")).unwrap(), "资格审查");
        assert_eq!(parse_purpose(None).unwrap_err().code, "required");
        assert_eq!(parse_purpose(Some("   ")).unwrap_err().code, "required");
        assert_eq!(
            parse_purpose(Some("审")).unwrap_err().code,
            "invalid_length"
        );
        assert!(parse_purpose(Some(&"审".repeat(200))).is_ok());
        assert_eq!(
            parse_purpose(Some(&format!(" {} ", "审".repeat(199))))
                .unwrap_err()
                .code,
            "invalid_length"
        );
        assert_eq!(
            parse_purpose(Some(&"审".repeat(201))).unwrap_err().code,
            "invalid_length"
        );
        let masked = parse_purpose(Some("核查11010519491231002X的记录")).unwrap();
        assert!(!masked.contains("19491231002"), "{masked}");
    }
}
