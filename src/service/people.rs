//! Console accounts for people (officers, admins, auditors) and their sessions.
//!
//! A person acts through the same use cases and the same policy point as an API key: a signed-in
//! person is a [`Caller`] whose `key_id` is the person's id (`usr_…`), with the person's
//! organisation and role. What is particular to people lives here: Argon2id passwords, the
//! one-time first password, the lock-out after [`MAX_FAILED`] wrong passwords, and sessions with
//! an idle and an absolute timeout. Sign-in, sign-out, lock-out and password changes go to the
//! access log.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use base64::Engine;
use chrono::{NaiveDateTime, TimeDelta};
use diesel::Connection;
use rand::{Rng, RngCore};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::audit::{self, Actor, Entry};
use super::{Ctx, ServiceError, ServiceResult};
use crate::cache::Cache;
use crate::domain::{password, Caller, FieldError, Role};
use crate::store::people::{self as store, PersonRow, SessionRow};
use crate::store::{orgs, DbConn};

/// Wrong passwords in a row that lock an account.
pub const MAX_FAILED: i32 = 5;
pub const LOCK_FOR: TimeDelta = TimeDelta::minutes(15);
/// A session unused this long has ended.
pub const IDLE_TIMEOUT: TimeDelta = TimeDelta::minutes(30);
/// A session ends this long after sign-in, however busy.
pub const ABSOLUTE_TIMEOUT: TimeDelta = TimeDelta::hours(12);
/// The last-seen time is written at most this often (every page would be a write otherwise):
/// a session may end this much before 30 minutes of idleness.
const TOUCH_EVERY: TimeDelta = TimeDelta::seconds(15);

/// The roles that people hold; the others are for systems and keys.
pub const PERSON_ROLES: &[Role] = &[Role::Officer, Role::Admin, Role::Auditor];

/// A signed-in person.
#[derive(Debug, Clone)]
pub struct Person {
    pub id: String,
    pub login: String,
    pub org_code: String,
    pub role: Role,
    pub must_change: bool,
}

impl Person {
    /// The caller the use cases see: the policy point decides for a person as for a key.
    pub fn caller(&self) -> Caller {
        Caller {
            key_id: self.id.clone(),
            org_code: self.org_code.clone(),
            role: self.role,
        }
    }

    fn of(row: &PersonRow) -> Self {
        Person {
            id: row.id.clone(),
            login: row.login.clone(),
            org_code: row.org_code.clone(),
            role: row.role,
            must_change: row.must_change,
        }
    }
}

/// A session as a request finds it.
#[derive(Debug, Clone)]
pub struct Session {
    pub person: Person,
    /// The hash of the cookie's token (the session's key in the table).
    pub id_hash: String,
    /// The token every form of this session carries.
    pub csrf: String,
}

fn hasher() -> Argon2<'static> {
    // Argon2id v19 with the crate's defaults: 19 MiB, 2 passes, 1 lane (the OWASP minimum):
    // about 30 ms a hash on one core of the 2-core machine, so sign-ins do not crowd out checks.
    Argon2::default()
}

pub fn hash_password(pw: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut salt);
    hasher()
        .hash_password_with_salt(pw.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("password hash: {e}"))
}

fn password_matches(pw: &str, phc: &str) -> bool {
    hasher().verify_password(pw.as_bytes(), phc).is_ok()
}

/// Runs an Argon2 verification off the async threads.
async fn verify_off_thread(pw: String, phc: String) -> ServiceResult<bool> {
    tokio::task::spawn_blocking(move || password_matches(&pw, &phc))
        .await
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("password check: {e}")))
}

/// A one-time password: 16 characters without look-alikes (no 0/O, 1/l/I), with each kind the
/// password rules ask for, so that a person could keep it if they had to.
pub fn one_time_password() -> String {
    const LOWER: &[u8] = b"abcdefghijkmnpqrstuvwxyz";
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const DIGIT: &[u8] = b"23456789";
    const ALL: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    let mut pick = |set: &[u8]| set[rng.gen_range(0..set.len())] as char;
    let mut s: String = (0..13).map(|_| pick(ALL)).collect();
    s.push(pick(LOWER));
    s.push(pick(UPPER));
    s.push(pick(DIGIT));
    s.insert(4, '-');
    s
}

pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// `creditgate users create`: the account and its one-time password (shown once; only its hash
/// is kept). The organisation is made if needed, as for keys.
pub fn create_blocking(
    conn: &mut DbConn,
    actor: &Actor,
    org_code: &str,
    login: &str,
    role: Role,
) -> Result<(PersonRow, String), String> {
    super::keys::validate_org_code(org_code)?;
    if let Some(why) = password::login_problem(login) {
        return Err(why);
    }
    if !PERSON_ROLES.contains(&role) {
        return Err(format!(
            "role {role} is for keys; a person is an officer, an admin or an auditor"
        ));
    }
    if store::by_login(conn, login)
        .map_err(|e| e.to_string())?
        .is_some()
    {
        return Err(format!("login '{login}' is taken"));
    }
    let pw = one_time_password();
    let row = PersonRow {
        id: format!("usr_{}", ulid::Ulid::new()),
        org_code: org_code.to_string(),
        login: login.to_string(),
        role,
        password_hash: hash_password(&pw)?,
        must_change: true,
        failed_attempts: 0,
        locked_until: None,
        created_at: actor.at,
        password_changed_at: None,
        disabled_at: None,
    };
    orgs::ensure(conn, org_code, org_code, actor.at).map_err(|e| e.to_string())?;
    store::insert(conn, &row).map_err(|e| {
        if e.is_unique_violation() {
            format!("login '{login}' is taken")
        } else {
            e.to_string()
        }
    })?;
    audit::log_change(
        conn,
        actor,
        "person.create",
        json!({"person_id": row.id, "login": row.login, "org_code": row.org_code, "role": role.as_str()}),
    )
    .map_err(|e| e.to_string())?;
    Ok((row, pw))
}

/// The demo officer (`serve --demo`): made if missing, else given a new one-time password
/// (which the first sign-in must change), as the demo keys are new at every start.
pub fn demo_account(
    conn: &mut DbConn,
    actor: &Actor,
    org_code: &str,
    login: &str,
) -> Result<String, String> {
    match store::by_login(conn, login).map_err(|e| e.to_string())? {
        None => create_blocking(conn, actor, org_code, login, Role::Officer).map(|(_, pw)| pw),
        // Only the demo's own account is reset, never someone's who took its login.
        Some(row)
            if row.org_code != org_code
                || row.role != Role::Officer
                || row.disabled_at.is_some() =>
        {
            Err(format!(
                "login '{login}' belongs to another account ({} {}); the demo officer is not made",
                row.role, row.org_code
            ))
        }
        Some(row) => {
            let pw = one_time_password();
            store::set_password(conn, &row.id, &hash_password(&pw)?, true, actor.at)
                .map_err(|e| e.to_string())?;
            store::end_sessions_of(conn, &row.id, None, actor.at).map_err(|e| e.to_string())?;
            audit::log_change(
                conn,
                actor,
                "person.reset_password",
                json!({"person_id": row.id, "login": row.login}),
            )
            .map_err(|e| e.to_string())?;
            Ok(pw)
        }
    }
}

/// Why a sign-in failed. Unknown logins and wrong passwords are told apart to no one.
#[derive(Debug)]
pub enum SignInError {
    Wrong,
    /// Locked until this time (UTC).
    Locked(NaiveDateTime),
    Service(ServiceError),
}

impl From<ServiceError> for SignInError {
    fn from(e: ServiceError) -> Self {
        SignInError::Service(e)
    }
}

impl From<crate::store::StoreError> for SignInError {
    fn from(e: crate::store::StoreError) -> Self {
        SignInError::Service(e.into())
    }
}

/// A new session: the cookie's token (never stored) and who it is for.
pub struct SignedIn {
    pub token: String,
    pub person: Person,
}

fn entry(action: &'static str, outcome: &'static str, detail: serde_json::Value) -> Entry {
    Entry {
        action,
        outcome,
        detail: Some(detail),
        ..Default::default()
    }
}

/// Signs a person in. Five wrong passwords in a row lock the account for 15 minutes; while it
/// is locked no password is tried at all. The lock is checked again inside the transaction
/// that counts a failure or opens the session, so attempts sent at the same moment cannot
/// slip past it.
#[tracing::instrument(skip_all)]
pub async fn sign_in(ctx: &Ctx, login: &str, pw: &str) -> Result<SignedIn, SignInError> {
    let login = login.trim().to_lowercase();
    let wanted = login.clone();
    let found = ctx.db.run(move |c| store::by_login(c, &wanted)).await?;
    let Some(row) = found.filter(|r| r.disabled_at.is_none()) else {
        // The same Argon2 work, the same answers, and the same lock after five tries as for a
        // known login, so that neither timing nor a lock tells logins apart.
        let _ = verify_off_thread(pw.to_string(), dummy_hash().to_string()).await;
        return Err(unknown_login(ctx, &login).await);
    };
    let person = Person::of(&row);
    let caller = person.caller();
    let now = ctx.clock.stamp();
    if let Some(until) = row.locked_until.filter(|u| *u > now) {
        let why = json!({"reason": "account locked", "locked_until": until.to_string()});
        audit::log(ctx, &caller, entry("console.sign_in", "denied", why)).await?;
        return Err(SignInError::Locked(until));
    }
    if !verify_off_thread(pw.to_string(), row.password_hash.clone()).await? {
        return Err(failed_attempt(ctx, &caller, "wrong password").await?);
    }
    let (token, session) = new_session(&row.id, now);
    let actor = Actor::new(ctx, &caller);
    let id = row.id.clone();
    let opened = ctx
        .db
        .run_write(move |c| {
            c.transaction(|c| {
                if !store::note_success(c, &id, actor.at)? {
                    // Locked by a wrong attempt sent at the same moment.
                    return Ok(Err(store::find(c, &id)?.and_then(|r| r.locked_until)));
                }
                store::insert_session(c, &session)?;
                audit::append(c, &actor, &entry("console.sign_in", "ok", json!({})))?;
                Ok(Ok(()))
            })
        })
        .await?;
    match opened {
        Ok(()) => Ok(SignedIn { token, person }),
        Err(until) => Err(SignInError::Locked(until.unwrap_or(now + LOCK_FOR))),
    }
}

/// A new session's cookie token and row (only the token's hash is stored).
fn new_session(person_id: &str, now: NaiveDateTime) -> (String, SessionRow) {
    let token = new_token();
    let row = SessionRow {
        id_hash: token_hash(&token),
        person_id: person_id.to_string(),
        csrf_token: new_token(),
        created_at: now,
        last_seen_at: now,
        ended_at: None,
    };
    (token, row)
}

/// A sign-in with a login no account has: counted in the instance by the login's hash (never
/// the login itself), locked at the fifth as an account would be. Logged to the service log
/// only: the access log names callers, and there is none.
async fn unknown_login(ctx: &Ctx, login: &str) -> SignInError {
    let key = format!("signin-unknown:{}", token_hash(login));
    let lock = LOCK_FOR.to_std().unwrap_or_default();
    let n = ctx.local_counters.incr(&key, lock).await.unwrap_or(0);
    tracing::info!(attempts = n, "console sign-in with an unknown login");
    if n >= MAX_FAILED as u64 {
        SignInError::Locked(ctx.clock.stamp() + LOCK_FOR)
    } else {
        SignInError::Wrong
    }
}

/// A wrong password (at sign-in, or as the current password of a change) counted and logged.
/// At the fifth the account is locked and every session of the person ends. Answers the error
/// to show: locked (with until when) or wrong.
async fn failed_attempt(
    ctx: &Ctx,
    caller: &Caller,
    reason: &'static str,
) -> ServiceResult<SignInError> {
    let id = caller.key_id.clone();
    let actor = Actor::new(ctx, caller);
    let lock = actor.at + LOCK_FOR;
    let outcome = ctx
        .db
        .run_write(move |c| {
            c.transaction(|c| loop {
                // Read again in the transaction: another attempt may have counted or locked.
                let Some(row) = store::find(c, &id)? else {
                    return Ok(SignInError::Wrong);
                };
                if let Some(until) = row.locked_until.filter(|u| *u > actor.at) {
                    let why = json!({"reason": "account locked", "locked_until": until.to_string()});
                    audit::append(c, &actor, &entry("console.sign_in", "denied", why))?;
                    return Ok(SignInError::Locked(until));
                }
                let seen = row.failed_attempts;
                let Some(n) = store::note_failure(c, &id, seen, MAX_FAILED, (actor.at, lock))? else {
                    continue;
                };
                let why = json!({"reason": reason, "attempt": n});
                audit::append(c, &actor, &entry("console.sign_in", "denied", why))?;
                if n < MAX_FAILED {
                    return Ok(SignInError::Wrong);
                }
                let ended = store::end_sessions_of(c, &id, None, actor.at)?;
                let detail = json!({"attempts": n, "locked_until": lock.to_string(), "sessions_ended": ended});
                audit::append(c, &actor, &entry("console.lockout", "ok", detail))?;
                return Ok(SignInError::Locked(lock));
            })
        })
        .await?;
    super::access::refusal_logged();
    Ok(outcome)
}

fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| hash_password("not a password of anyone").unwrap_or_default())
}

/// The session a cookie's token opens, if it is open: not signed out, not idle for 30 minutes,
/// not older than 12 hours, its person not disabled. An expired session is ended on the way.
pub async fn session(ctx: &Ctx, token: &str) -> ServiceResult<Option<Session>> {
    let hash = token_hash(token);
    let now = ctx.clock.stamp();
    let h = hash.clone();
    let found = ctx.db.run(move |c| store::session(c, &h)).await?;
    let Some((s, p)) = found else {
        return Ok(None);
    };
    let expired = now - s.last_seen_at > IDLE_TIMEOUT
        || now - s.created_at > ABSOLUTE_TIMEOUT
        || p.disabled_at.is_some();
    if expired {
        let h = hash.clone();
        ctx.db
            .run_write(move |c| store::end_session(c, &h, now))
            .await?;
        return Ok(None);
    }
    if now - s.last_seen_at > TOUCH_EVERY {
        let h = hash.clone();
        ctx.db
            .run_write(move |c| store::touch_session(c, &h, now))
            .await?;
    }
    Ok(Some(Session {
        person: Person::of(&p),
        id_hash: hash,
        csrf: s.csrf_token,
    }))
}

pub async fn sign_out(ctx: &Ctx, s: &Session) -> ServiceResult<()> {
    let actor = Actor::new(ctx, &s.person.caller());
    let h = s.id_hash.clone();
    ctx.db
        .run_write(move |c| {
            c.transaction(|c| {
                if store::end_session(c, &h, actor.at)? {
                    audit::append(c, &actor, &entry("console.sign_out", "ok", json!({})))?;
                }
                Ok(())
            })
        })
        .await?;
    Ok(())
}

/// Changes the signed-in person's password: the current one is asked again (a wrong one counts
/// towards the lock-out), the new one must pass [`password::problems`] and differ from it.
/// Every session of the person ends; returns the token of the new session to go on in.
#[tracing::instrument(skip_all)]
pub async fn change_password(
    ctx: &Ctx,
    s: &Session,
    current: &str,
    new: &str,
    confirm: &str,
) -> ServiceResult<String> {
    let id = s.person.id.clone();
    let row = ctx
        .db
        .run(move |c| store::find(c, &id))
        .await?
        .ok_or_else(|| ServiceError::NotFound("person".into()))?;
    let mut errors = Vec::new();
    if !verify_off_thread(current.to_string(), row.password_hash.clone()).await? {
        // Counted as a wrong sign-in: an unattended session is no way to guess the password.
        if let SignInError::Locked(until) =
            failed_attempt(ctx, &s.person.caller(), "wrong current password").await?
        {
            let wait = (until - ctx.clock.stamp()).num_seconds().max(1) as u64;
            return Err(ServiceError::RateLimited(
                "连续输错密码次数过多，账户已锁定 15 分钟，所有会话已结束。Too many wrong passwords: the account is locked for 15 minutes and signed out everywhere.".into(),
                wait,
            ));
        }
        errors.push(FieldError::new(
            "current_password",
            "wrong_password",
            "当前密码不正确 (the current password is wrong)",
        ));
    }
    errors.extend(password::problems("new_password", &row.login, new));
    if new == current {
        errors.push(FieldError::new(
            "new_password",
            "password_unchanged",
            "新密码须与当前密码不同 (choose a password other than the current one)",
        ));
    }
    if new != confirm {
        errors.push(FieldError::new(
            "confirm_password",
            "password_mismatch",
            "两次输入的新密码不一致 (the two new passwords differ)",
        ));
    }
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    let pw = new.to_string();
    let hash = tokio::task::spawn_blocking(move || hash_password(&pw))
        .await
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("password hash: {e}")))?
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!(e)))?;
    let actor = Actor::new(ctx, &s.person.caller());
    let id = s.person.id.clone();
    // Every session of the person ends, this one too; the person goes on in a new one (new
    // cookie, new CSRF token), since the change is one of privilege.
    let (token, session) = new_session(&id, actor.at);
    ctx.db
        .run_write(move |c| {
            c.transaction(|c| {
                store::set_password(c, &id, &hash, false, actor.at)?;
                let ended = store::end_sessions_of(c, &id, None, actor.at)?;
                store::insert_session(c, &session)?;
                let detail = json!({"sessions_ended": ended});
                audit::append(c, &actor, &entry("console.password_change", "ok", detail))?;
                Ok(())
            })
        })
        .await?;
    Ok(token)
}
