//! The domain's closed sets as SQL text. Each enum is stored as its snake_case name (the text
//! the API shows) and read back typed on both backends: a value the domain does not know is an
//! error naming the type, never a silent default.

use std::io::Write;

use diesel::deserialize::{self, FromSql};
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Text;
use diesel::sqlite::{Sqlite, SqliteValue};

use super::MultiBackend;
use crate::domain::{
    OpenClass, Origin, RecordKind, RecordStatus, Role, Severity, SharingClass, SubjectKind,
};

fn unknown(type_name: &str, text: &str) -> Box<dyn std::error::Error + Send + Sync> {
    format!("the database holds '{text}', which is not a {type_name}").into()
}

/// `ToSql`/`FromSql` for PostgreSQL, SQLite and the connection over both, and the diesel
/// expression and row traits, for enums made by `domain::string_enum!`.
macro_rules! text_enum {
    ($($t:ident),+ $(,)?) => { $(
        const _: () = {
            #[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
            #[diesel(foreign_derive, sql_type = Text)]
            #[allow(dead_code)]
            struct Proxy($t);
        };

        impl ToSql<Text, Pg> for $t {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                out.write_all(self.as_str().as_bytes())?;
                Ok(IsNull::No)
            }
        }

        impl ToSql<Text, Sqlite> for $t {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
                out.set_value(self.as_str());
                Ok(IsNull::No)
            }
        }

        impl ToSql<Text, MultiBackend> for $t {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
                out.set_value((Text, self));
                Ok(IsNull::No)
            }
        }

        impl FromSql<Text, Pg> for $t {
            fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
                let text = std::str::from_utf8(bytes.as_bytes())?;
                $t::parse(text).ok_or_else(|| unknown(stringify!($t), text))
            }
        }

        impl FromSql<Text, Sqlite> for $t {
            fn from_sql(bytes: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
                let text = <String as FromSql<Text, Sqlite>>::from_sql(bytes)?;
                $t::parse(&text).ok_or_else(|| unknown(stringify!($t), &text))
            }
        }

        impl FromSql<Text, MultiBackend> for $t {
            fn from_sql(
                bytes: <MultiBackend as diesel::backend::Backend>::RawValue<'_>,
            ) -> deserialize::Result<Self> {
                bytes.from_sql::<Self, Text>()
            }
        }
    )+ };
}

text_enum!(
    RecordKind,
    SubjectKind,
    Severity,
    SharingClass,
    OpenClass,
    RecordStatus,
    Origin,
    Role,
);

#[cfg(test)]
mod tests {
    use diesel::prelude::*;

    use super::*;
    use crate::store::{connect, migrate};

    diesel::table! {
        kinds (k) {
            k -> Text,
            s -> Nullable<Text>,
        }
    }

    #[test]
    fn enums_go_in_and_come_back_typed_and_unknown_text_is_named() {
        let dir = std::env::temp_dir().join(format!("cg-types-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pool = connect(&format!("sqlite://{}/t.db", dir.display()), 1).unwrap();
        let mut conn = pool.get().unwrap();
        migrate(&mut conn).unwrap();
        diesel::sql_query("CREATE TABLE kinds (k TEXT PRIMARY KEY, s TEXT)")
            .execute(&mut conn)
            .unwrap();
        diesel::insert_into(kinds::table)
            .values((
                kinds::k.eq(RecordKind::ListEntry),
                kinds::s.eq(Some(Severity::Serious)),
            ))
            .execute(&mut conn)
            .unwrap();
        let back: (RecordKind, Option<Severity>) = kinds::table
            .filter(kinds::k.eq(RecordKind::ListEntry))
            .select((kinds::k, kinds::s))
            .first(&mut conn)
            .unwrap();
        assert_eq!(back, (RecordKind::ListEntry, Some(Severity::Serious)));
        let text: String = kinds::table.select(kinds::k).first(&mut conn).unwrap();
        assert_eq!(text, "list_entry");

        diesel::sql_query("UPDATE kinds SET k = 'parking_ticket'")
            .execute(&mut conn)
            .unwrap();
        let e = kinds::table
            .select(kinds::k)
            .first::<RecordKind>(&mut conn)
            .unwrap_err();
        let mut said = e.to_string();
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            said.push_str(&format!(": {c}"));
            cause = c.source();
        }
        assert!(
            said.contains("'parking_ticket', which is not a RecordKind"),
            "{said}"
        );
        drop(conn);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
