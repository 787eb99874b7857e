//! What a server holds in process for its hot path — the caller behind each key, each
//! organisation's grants and agreements — and how it learns that another instance, or the
//! command line, changed them.
//!
//! A write that changes one of them sends a signal in its own transaction
//! ([`emit`]; `store::signals`: PostgreSQL NOTIFY, SQLite a table). Each server's listener
//! ([`spawn_listener`]) polls for signals every 100 ms and forgets the entries they name, so a
//! revoked key is refused on every instance within a poll; the instance that made the change
//! forgets at once ([`Memos::heard`]), before it answers.
//!
//! Nothing is cached while the listener is not connected, and everything is forgotten when it
//! (re)connects or finds that it missed signals. A reader takes a [`Token`] before it reads the
//! database and keeps what it read only if no signal came in between, so a value read before a
//! change committed is never kept after the change was heard.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use crate::store::signals::{self as store_signals, Listener};
use crate::store::{DbConn, StoreResult};

use super::Db;

/// What a signal is about; its item names the entry (a key id, an organisation code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// A key was revoked (item: the key id).
    Keys,
    /// An organisation's access grants changed (item: the organisation code).
    Grants,
    /// An organisation's agreements changed (item: the organisation code).
    Agreements,
    /// Subjects' records changed (item: the subject's storage key, or [`ALL`]).
    Profiles,
}

/// The item that names every entry of a topic.
pub const ALL: &str = "*";

/// More subjects than this in one write (an import, a sync page): every instance forgets all
/// its profiles rather than receive the keys.
const PROFILES_ONE_BY_ONE: usize = 1_000;

impl Topic {
    fn as_str(self) -> &'static str {
        match self {
            Topic::Keys => "keys",
            Topic::Grants => "grants",
            Topic::Agreements => "agreements",
            Topic::Profiles => "profiles",
        }
    }
}

/// Sends a signal with the caller's transaction: heard by every server once it commits.
pub fn emit(conn: &mut DbConn, topic: Topic, item: &str) -> StoreResult<()> {
    store_signals::emit(conn, topic.as_str(), item)
}

/// Signals that these subjects' records changed, with the caller's transaction.
pub fn emit_profiles<'a>(
    conn: &mut DbConn,
    subject_keys: impl ExactSizeIterator<Item = &'a String>,
) -> StoreResult<()> {
    if subject_keys.len() > PROFILES_ONE_BY_ONE {
        return emit(conn, Topic::Profiles, ALL);
    }
    let items: Vec<&str> = subject_keys.map(String::as_str).collect();
    store_signals::emit_many(conn, Topic::Profiles.as_str(), &items)
}

/// Taken before a read of the database; see [`Memos::token`].
#[derive(Debug, Clone, Copy)]
pub struct Token(Option<u64>);

/// Entries by key, each with the item that a signal names it by.
pub struct Memo<V> {
    entries: RwLock<HashMap<String, (String, V)>>,
    /// At most this many entries; when full, a tenth of them (any) make room.
    capacity: usize,
    /// Whether each entry's item is its key (forgetting one is then a lookup, not a scan).
    keyed_by_item: bool,
}

/// More keys or organisations than any deployment has.
const MANY: usize = 100_000;

impl<V: Clone> Memo<V> {
    fn new(capacity: usize, keyed_by_item: bool) -> Self {
        Memo {
            entries: RwLock::new(HashMap::new()),
            capacity,
            keyed_by_item,
        }
    }

    fn forget(&self, item: Option<&str>) {
        let mut map = self.entries.write().unwrap_or_else(|p| p.into_inner());
        match item {
            Some(ALL) | None => map.clear(),
            Some(item) if self.keyed_by_item => {
                map.remove(item);
            }
            Some(item) => map.retain(|_, (i, _)| i != item),
        }
    }
}

/// The in-process memos of one server, and whether they can be trusted now.
pub struct Memos {
    /// Moves on with every signal heard and every reset.
    generation: AtomicU64,
    /// The listener is connected: entries are kept and served.
    live: AtomicBool,
    /// Key hash → the caller (item: the key id).
    pub callers: Memo<crate::domain::Caller>,
    /// Organisation and day (`ORG@YYYY-MM-DD`) → its grants in force that day (item: the
    /// organisation).
    pub grants: Memo<Arc<Vec<super::grants::Grant>>>,
    /// Organisation → its agreements not revoked (item: the organisation).
    pub agreements: Memo<Arc<Vec<crate::store::agreements::AgreementRow>>>,
    /// Subject key → its profile, unfiltered (item: the subject key).
    pub profiles: Memo<Arc<super::query::CachedProfile>>,
}

impl Default for Memos {
    fn default() -> Self {
        Memos::new(0)
    }
}

impl Memos {
    /// Memos holding at most `profiles` subject profiles (about 9 KB each with five records, as
    /// measured by `benches/load_checks.sh`: the resident size grows with this).
    pub fn new(profiles: usize) -> Self {
        Memos {
            generation: AtomicU64::new(0),
            live: AtomicBool::new(false),
            callers: Memo::new(MANY, false),
            grants: Memo::new(MANY, false),
            agreements: Memo::new(MANY, true),
            profiles: Memo::new(profiles, true),
        }
    }
}

impl Memos {
    /// Whether entries are served now (the listener is connected).
    pub fn live(&self) -> bool {
        self.live.load(Ordering::SeqCst)
    }

    /// The entry under `key`; else what `load` reads from the database, kept under `key` (named
    /// by signals as `item_of` the value) unless a signal came in while it was read. `None` from
    /// `load` (nothing there) is not kept.
    pub async fn get_or_load<V, E, Fut>(
        &self,
        memo: &Memo<V>,
        key: &str,
        item_of: impl FnOnce(&V) -> String,
        load: impl FnOnce() -> Fut,
    ) -> Result<Option<V>, E>
    where
        V: Clone,
        Fut: std::future::Future<Output = Result<Option<V>, E>>,
    {
        if let Some(v) = self.get(memo, key) {
            return Ok(Some(v));
        }
        let token = self.token();
        let loaded = load().await?;
        if let Some(v) = &loaded {
            self.keep(memo, token, key, &item_of(v), v.clone());
        }
        Ok(loaded)
    }

    /// Take before reading the database for an entry; give to [`Memos::keep`].
    fn token(&self) -> Token {
        if self.live() {
            Token(Some(self.generation.load(Ordering::SeqCst)))
        } else {
            Token(None)
        }
    }

    /// The entry under `key`, while the memos are live.
    fn get<V: Clone>(&self, memo: &Memo<V>, key: &str) -> Option<V> {
        if !self.live() {
            return None;
        }
        let map = memo.entries.read().unwrap_or_else(|p| p.into_inner());
        map.get(key).map(|(_, v)| v.clone())
    }

    /// Keeps what was read after `token` was taken, unless a signal or a reset came since.
    fn keep<V: Clone>(&self, memo: &Memo<V>, token: Token, key: &str, item: &str, value: V) {
        let Token(Some(generation)) = token else {
            return;
        };
        let mut map = memo.entries.write().unwrap_or_else(|p| p.into_inner());
        // Checked under the lock: `heard` moves the generation before it takes the lock, so
        // either this sees the new generation or `heard` removes the entry after this.
        if self.generation.load(Ordering::SeqCst) != generation || !self.live() {
            return;
        }
        if memo.capacity == 0 {
            return;
        }
        if map.len() >= memo.capacity {
            let mut n = 0;
            let drop_one_in = 10;
            map.retain(|_, _| {
                n += 1;
                n % drop_one_in != 0
            });
        }
        map.insert(key.to_string(), (item.to_string(), value));
    }

    /// A signal: the entries it names are forgotten. The instance that made a change calls this
    /// itself after the commit, so that it never serves the old entry meanwhile.
    pub fn heard(&self, topic: Topic, item: &str) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        match topic {
            Topic::Keys => self.callers.forget(Some(item)),
            Topic::Grants => self.grants.forget(Some(item)),
            Topic::Agreements => self.agreements.forget(Some(item)),
            Topic::Profiles => self.profiles.forget(Some(item)),
        }
    }

    fn heard_text(&self, topic: &str, item: &str) {
        match [
            Topic::Keys,
            Topic::Grants,
            Topic::Agreements,
            Topic::Profiles,
        ]
        .into_iter()
        .find(|t| t.as_str() == topic)
        {
            // Several items of one write come one per line.
            Some(t) => item.split('\n').for_each(|i| self.heard(t, i)),
            // A topic of a newer version: to be safe, forget everything.
            None => self.reset(self.live()),
        }
    }

    /// Forgets everything; `live` says whether entries may be kept from now on.
    fn reset(&self, live: bool) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.live.store(live, Ordering::SeqCst);
        self.callers.forget(None);
        self.grants.forget(None);
        self.agreements.forget(None);
        self.profiles.forget(None);
    }
}

/// The listener of a server: a task with a connection of its own, polling every `every` until
/// the memos are dropped with the server's context, or the runtime stops (the connection is
/// closed with the task, so no thread is left inside libpq while the process exits).
pub fn spawn_listener(db: Db, memos: &Arc<Memos>, every: Duration) {
    tokio::spawn(listen(db, Arc::downgrade(memos), every));
}

/// What one turn of the listener did, off the async threads.
enum Turn {
    Connected,
    Heard(store_signals::Heard),
    Failed(crate::store::StoreError),
}

async fn listen(db: Db, memos: Weak<Memos>, every: Duration) {
    let mut listener: Option<Listener> = None;
    let mut failing = false;
    let mut first = true;
    loop {
        // The first turn connects at once; then a poll every `every`, a reconnection every second.
        let wait = match (std::mem::take(&mut first), failing) {
            (true, _) => Duration::ZERO,
            (false, true) => Duration::from_secs(1),
            (false, false) => every,
        };
        tokio::time::sleep(wait).await;
        if memos.strong_count() == 0 {
            return;
        }
        let (db2, current) = (db.clone(), listener.take());
        let turn = tokio::task::spawn_blocking(move || match current {
            Some(mut l) => match l.poll() {
                Ok(heard) => (Some(l), Turn::Heard(heard)),
                Err(e) => (None, Turn::Failed(e)),
            },
            None => match db2.dedicated().and_then(Listener::start) {
                Ok(l) => (Some(l), Turn::Connected),
                Err(e) => (None, Turn::Failed(e)),
            },
        })
        .await;
        let Some(m) = memos.upgrade() else { return };
        let (kept, turn) = match turn {
            Ok(t) => t,
            Err(e) => (
                None,
                Turn::Failed(crate::store::StoreError::Unavailable(e.to_string())),
            ),
        };
        listener = kept;
        match turn {
            // Listening from here on: what was kept before may be stale.
            Turn::Connected => {
                if std::mem::take(&mut failing) {
                    tracing::info!("the signal listener is connected again");
                }
                m.reset(true);
            }
            Turn::Heard(heard) => {
                if heard.gap {
                    m.reset(true);
                }
                for s in heard.signals {
                    m.heard_text(&s.topic, &s.item);
                }
            }
            Turn::Failed(e) => {
                if !failing {
                    tracing::warn!(error = %e, "the signal listener has no connection; serving without in-process caches until it is back");
                }
                failing = true;
                m.reset(false);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Caller, Role};

    fn caller(id: &str) -> Caller {
        Caller {
            key_id: id.into(),
            org_code: "ORG".into(),
            role: Role::Officer,
        }
    }

    #[test]
    fn nothing_is_kept_or_served_while_not_live() {
        let m = Memos::default();
        let t = m.token();
        m.keep(&m.callers, t, "h1", "key_1", caller("key_1"));
        assert_eq!(m.get(&m.callers, "h1"), None);
        m.reset(true);
        m.keep(&m.callers, t, "h1", "key_1", caller("key_1"));
        assert_eq!(
            m.get(&m.callers, "h1"),
            None,
            "a token taken before going live"
        );
    }

    #[test]
    fn a_signal_between_read_and_keep_prevents_keeping() {
        let m = Memos::default();
        m.reset(true);
        let t = m.token();
        m.heard(Topic::Keys, "key_1");
        m.keep(&m.callers, t, "h1", "key_1", caller("key_1"));
        assert_eq!(m.get(&m.callers, "h1"), None);
        let t = m.token();
        m.keep(&m.callers, t, "h1", "key_1", caller("key_1"));
        assert_eq!(m.get(&m.callers, "h1"), Some(caller("key_1")));
    }

    #[test]
    fn a_signal_forgets_only_the_entries_it_names() {
        let m = Memos::default();
        m.reset(true);
        let t = m.token();
        m.keep(&m.callers, t, "h1", "key_1", caller("key_1"));
        m.keep(&m.callers, t, "h2", "key_2", caller("key_2"));
        m.heard_text("keys", "key_1");
        assert_eq!(m.get(&m.callers, "h1"), None);
        assert_eq!(m.get(&m.callers, "h2"), Some(caller("key_2")));
        m.heard_text("a-topic-from-a-newer-version", "x");
        assert_eq!(m.get(&m.callers, "h2"), None);
    }
}
