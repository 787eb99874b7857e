//! What a console password and a login must be (no I/O: the people service applies it).
//!
//! GB/T 22239-2019 (MLPS 2.0) 8.1.4.1 asks for identification, password complexity and regular
//! change [secondary: the standard's text as summarised in our reference notes]; we ask for 12
//! characters or more from three of four kinds, and not the login.

use super::FieldError;

pub const MIN_LENGTH: usize = 12;
pub const MAX_LENGTH: usize = 128;

/// The problems of a new password, as field errors on `field`; empty when it is good.
pub fn problems(field: &str, login: &str, password: &str) -> Vec<FieldError> {
    let n = password.chars().count();
    let mut out = Vec::new();
    if n < MIN_LENGTH {
        out.push(FieldError::new(
            field,
            "password_too_short",
            format!(
                "密码至少 {MIN_LENGTH} 个字符 (a password has {MIN_LENGTH} characters or more)"
            ),
        ));
    } else if n > MAX_LENGTH {
        out.push(FieldError::new(
            field,
            "password_too_long",
            format!("密码最多 {MAX_LENGTH} 个字符 (at most {MAX_LENGTH} characters)"),
        ));
    }
    let kinds = [
        password.chars().any(|c| c.is_ascii_lowercase()),
        password.chars().any(|c| c.is_ascii_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_ascii_alphanumeric()),
    ];
    if n >= MIN_LENGTH && kinds.iter().filter(|k| **k).count() < 3 {
        out.push(FieldError::new(
            field,
            "password_too_simple",
            "密码须含小写字母、大写字母、数字、符号中的至少三类 (use three of: lower case, upper case, digits, symbols)",
        ));
    }
    if !login.is_empty() && password.to_lowercase().contains(&login.to_lowercase()) {
        out.push(FieldError::new(
            field,
            "password_contains_login",
            "密码不得包含登录名 (the password must not contain the login)",
        ));
    }
    out
}

/// A login: 3 to 64 lower-case letters, digits, `.`, `_` or `-`, starting with a letter.
pub fn login_problem(login: &str) -> Option<String> {
    let ok = (3..=64).contains(&login.len())
        && login.starts_with(|c: char| c.is_ascii_lowercase())
        && login
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    (!ok).then(|| {
        format!(
            "login '{login}' must be 3 to 64 lower-case letters, digits, '.', '_' or '-', starting with a letter"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(problems("p", "wang", "Short1!")
            .iter()
            .any(|e| e.code == "password_too_short"));
        assert!(problems("p", "wang", "alllowercaseletters")
            .iter()
            .any(|e| e.code == "password_too_simple"));
        assert!(problems("p", "wang.li", "Wang.Li-2026-x")
            .iter()
            .any(|e| e.code == "password_contains_login"));
        assert!(problems("p", "wang", "Correct-Horse-9").is_empty());
        assert!(login_problem("wang.li").is_none());
        assert!(login_problem("Wang").is_some());
        assert!(login_problem("9ab").is_some());
        assert!(login_problem("ab").is_some());
    }
}
