//! Console accounts for people and their sessions. A session is found by the hash of its token;
//! the cookie's token itself is never stored.

use super::schema::{console_sessions, people};
use super::{DbConn, StoreResult};
use crate::domain::Role;
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = people)]
pub struct PersonRow {
    pub id: String,
    pub org_code: String,
    pub login: String,
    pub role: Role,
    /// Argon2id, as a PHC string (algorithm, parameters and salt with the hash).
    pub password_hash: String,
    /// True until the person has replaced the one-time password they were given.
    pub must_change: bool,
    pub failed_attempts: i32,
    pub locked_until: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub password_changed_at: Option<NaiveDateTime>,
    pub disabled_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = console_sessions)]
pub struct SessionRow {
    pub id_hash: String,
    pub person_id: String,
    pub csrf_token: String,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub ended_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConn, row: &PersonRow) -> StoreResult<()> {
    diesel::insert_into(people::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn by_login(conn: &mut DbConn, login: &str) -> StoreResult<Option<PersonRow>> {
    Ok(people::table
        .filter(people::login.eq(login))
        .select(PersonRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn find(conn: &mut DbConn, id: &str) -> StoreResult<Option<PersonRow>> {
    Ok(people::table
        .find(id)
        .select(PersonRow::as_select())
        .first(conn)
        .optional()?)
}

/// Records a wrong password on an account that is not locked at `now`: the count goes up by
/// one, and at `limit` the account is locked until `lock` (the count starts again). Returns the
/// count after the step; `None` when the row changed under the caller (another attempt at the
/// same moment: read it again) or the account is locked. A lock is never lifted here.
pub fn note_failure(
    conn: &mut DbConn,
    id: &str,
    seen: i32,
    limit: i32,
    (now, lock): (NaiveDateTime, NaiveDateTime),
) -> StoreResult<Option<i32>> {
    let next = seen + 1;
    let unlocked = people::locked_until
        .is_null()
        .or(people::locked_until.le(now));
    let target = people::table
        .filter(people::id.eq(id))
        .filter(people::failed_attempts.eq(seen))
        .filter(unlocked);
    let n = if next >= limit {
        diesel::update(target)
            .set((
                people::failed_attempts.eq(0),
                people::locked_until.eq(Some(lock)),
            ))
            .execute(conn)?
    } else {
        diesel::update(target)
            .set(people::failed_attempts.eq(next))
            .execute(conn)?
    };
    Ok((n == 1).then_some(next))
}

/// A right password: the count of wrong ones starts again, unless the account is locked at
/// `now` (a wrong attempt at the same moment locked it); false then.
pub fn note_success(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> StoreResult<bool> {
    let n = diesel::update(
        people::table.find(id).filter(
            people::locked_until
                .is_null()
                .or(people::locked_until.le(now)),
        ),
    )
    .set((
        people::failed_attempts.eq(0),
        people::locked_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn set_password(
    conn: &mut DbConn,
    id: &str,
    hash: &str,
    must_change: bool,
    at: NaiveDateTime,
) -> StoreResult<()> {
    diesel::update(people::table.find(id))
        .set((
            people::password_hash.eq(hash),
            people::must_change.eq(must_change),
            people::password_changed_at.eq(Some(at)),
            people::failed_attempts.eq(0),
            people::locked_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn insert_session(conn: &mut DbConn, row: &SessionRow) -> StoreResult<()> {
    diesel::insert_into(console_sessions::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// The session with this token hash and its person, unless it has ended.
pub fn session(conn: &mut DbConn, id_hash: &str) -> StoreResult<Option<(SessionRow, PersonRow)>> {
    Ok(console_sessions::table
        .inner_join(people::table)
        .filter(console_sessions::id_hash.eq(id_hash))
        .filter(console_sessions::ended_at.is_null())
        .select((SessionRow::as_select(), PersonRow::as_select()))
        .first(conn)
        .optional()?)
}

pub fn touch_session(conn: &mut DbConn, id_hash: &str, at: NaiveDateTime) -> StoreResult<()> {
    diesel::update(console_sessions::table.find(id_hash))
        .set(console_sessions::last_seen_at.eq(at))
        .execute(conn)?;
    Ok(())
}

/// Ends the session; true when this call ended it.
pub fn end_session(conn: &mut DbConn, id_hash: &str, at: NaiveDateTime) -> StoreResult<bool> {
    let n = diesel::update(
        console_sessions::table
            .filter(console_sessions::id_hash.eq(id_hash))
            .filter(console_sessions::ended_at.is_null()),
    )
    .set(console_sessions::ended_at.eq(Some(at)))
    .execute(conn)?;
    Ok(n == 1)
}

/// Ends every open session of a person (a password change ends the others).
pub fn end_sessions_of(
    conn: &mut DbConn,
    person_id: &str,
    except: Option<&str>,
    at: NaiveDateTime,
) -> StoreResult<usize> {
    let mut q = diesel::update(console_sessions::table)
        .filter(console_sessions::person_id.eq(person_id))
        .filter(console_sessions::ended_at.is_null())
        .into_boxed();
    if let Some(keep) = except {
        q = q.filter(console_sessions::id_hash.ne(keep.to_string()));
    }
    Ok(q.set(console_sessions::ended_at.eq(Some(at)))
        .execute(conn)?)
}
