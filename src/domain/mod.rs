//! Pure domain types that validate on construction. No I/O here.

pub mod access;
pub mod calendar;
pub mod id_number;
pub mod lifecycle;
pub mod money;
pub mod password;
pub mod period;
pub mod purpose;
pub mod record;
pub mod uscc;
pub mod webhook;

pub use access::{Caller, Role};
pub use calendar::{Deadline, WorkingCalendar};
pub use id_number::{IdNumber, IdNumberError};
pub use lifecycle::{Effect, FilerKind, ObjectionOutcome, ObjectionStatus, RepairStatus};
pub use money::Yuan;
pub use period::Period;
pub use purpose::{parse_purpose, trim_blank};
pub use record::*;
pub use uscc::{Uscc, UsccError};

use serde::Serialize;

/// One problem with one field of the input, as shown to the caller in problem+json `errors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Path of the field in the request, such as `subject.uscc` or `records[3].version`.
    pub field: String,
    /// Stable snake_case code a client can switch on, such as `uscc_check_digit`.
    pub code: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl FieldError {
    pub fn new(
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        // A message or path may quote what the caller sent (serde names the value of a wrong
        // type, and the key of an unknown field): ID numbers in it are masked, since answers
        // are logged and shown.
        let mask = |s: String| id_number::mask_id_numbers(&s).into_owned();
        FieldError {
            field: mask(field.into()),
            code: code.into(),
            message: mask(message.into()),
        }
    }

    /// The same error under a parent path (`subject` + `uscc` → `subject.uscc`).
    pub fn under(mut self, prefix: &str) -> Self {
        self.field = if self.field.is_empty() {
            prefix.to_string()
        } else if self.field.starts_with('[') {
            format!("{prefix}{}", self.field)
        } else {
            format!("{prefix}.{}", self.field)
        };
        self
    }
}

/// Declares a closed set of snake_case values with parsing that names the allowed ones.
macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Option<$name> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }

            /// The allowed values, for error messages: `a, b, c`.
            pub fn allowed() -> String {
                [$($text),+].join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                // `pad`, so that a width (`{:<9}`) lines up columns as a string's would.
                f.pad(self.as_str())
            }
        }
    };
}
pub(crate) use string_enum;

/// JSON text with object keys sorted at every level, whatever order the value was built in, so
/// that equal content always hashes equal.
pub fn canonical_json(v: &serde_json::Value) -> String {
    use serde_json::Value;
    // serde_json writes strings and numbers in their one compact form; only the order of object
    // keys is ours to fix. Written straight into one buffer: this runs twice per stored version.
    fn write(v: &Value, out: &mut Vec<u8>) {
        match v {
            Value::Object(m) => {
                let mut entries: Vec<(&String, &Value)> = m.iter().collect();
                if !entries.is_sorted_by(|a, b| a.0 <= b.0) {
                    entries.sort_by(|a, b| a.0.cmp(b.0));
                }
                out.push(b'{');
                for (i, (k, x)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    scalar(&mut *out, k);
                    out.push(b':');
                    write(x, out);
                }
                out.push(b'}');
            }
            Value::Array(a) => {
                out.push(b'[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write(x, out);
                }
                out.push(b']');
            }
            other => scalar(out, other),
        }
    }
    fn scalar<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
        // Writing a string, number, bool or null into a Vec cannot fail.
        let _ = serde_json::to_writer(out, v);
    }
    let mut out = Vec::with_capacity(512);
    write(v, &mut out);
    // serde_json writes UTF-8 only.
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod canonical_tests {
    #[test]
    fn sorts_keys_at_every_level() {
        let a = serde_json::json!({"b": 1, "a": {"d": [1, {"y": 2, "x": 1}], "c": null}});
        assert_eq!(
            super::canonical_json(&a),
            r#"{"a":{"c":null,"d":[1,{"x":1,"y":2}]},"b":1}"#
        );
    }

    use proptest::prelude::*;

    fn json() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            // Amounts as JSON numbers (serde_json reads back long fractions inexactly).
            any::<i32>().prop_map(|n| Value::from(f64::from(n) / 100.0)),
            any::<String>().prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                prop::collection::btree_map(any::<String>(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// The canonical form is serde_json's compact form with keys in byte order (the form
        /// every stored content hash was made of), and reads back as the same value.
        #[test]
        fn is_compact_json_with_sorted_keys(v in json()) {
            let text = super::canonical_json(&v);
            prop_assert_eq!(&text, &serde_json::to_string(&v).unwrap());
            let back: serde_json::Value = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(back, v);
        }
    }
}
