//! Storage behind one trait. Backends implement a few atomic primitives —
//! read records, commit a guarded multi-record write on one slot — and the
//! typed helpers (serde in and out) are written once, on `dyn Store`.
//!
//! Every record carries a version, bumped by each write. A [`Txn`] states
//! the version it expects of each record it read (0: absent) and applies
//! all its writes only if every expectation holds: compare-and-set across
//! several records, which is how the domain's decisions become atomic
//! without the store knowing the rules. All keys of one `Txn` share a slot
//! (a Redis Cluster hash tag), so the Redis backend runs it as one script.

pub mod keys;
pub mod memory;
pub mod redis;

use async_trait::async_trait;

use crate::domain::Millis;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use keys::Key;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached or cannot take writes now: retryable.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A record could not be decoded: a bug or a foreign writer.
    #[error("corrupt record {key}: {detail}")]
    Corrupt { key: String, detail: String },
    /// The backend refused the command for another reason (a bug).
    #[error("store failure: {0}")]
    Backend(String),
}

/// Where a merchant's events go (all in the merchant's slot).
#[derive(Clone, Debug)]
pub struct PublishTarget {
    pub stream: Key,
    pub published: Key,
    pub deliveries: Key,
    pub max_len: u64,
}

/// A record and the version it was read at (versions start at 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versioned<T> {
    pub version: u64,
    pub value: T,
}

/// The raw form backends store and return.
pub type RawRecord = Versioned<Vec<u8>>;

/// A guarded write: `puts` are applied only if every `checks` entry still
/// holds. All keys share one slot.
#[derive(Clone, Debug, Default)]
pub struct Txn {
    pub checks: Vec<(Key, u64)>,
    pub puts: Vec<(Key, Vec<u8>)>,
    /// Records removed (their version goes back to 0, "absent").
    pub deletes: Vec<Key>,
}

/// What a [`Txn`] came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Committed {
    Done,
    /// An expectation failed; nothing was written. The current record of
    /// each checked key, in `checks` order, so the caller can decide again.
    Conflict(Vec<Option<RawRecord>>),
}

/// The primitives a backend provides.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Reads records that share one slot.
    async fn get(&self, keys: &[Key]) -> Result<Vec<Option<RawRecord>>, StoreError>;

    /// Applies `txn` atomically if its checks hold.
    async fn commit(&self, txn: Txn) -> Result<Committed, StoreError>;

    /// Writes `value` at version 1 unless `key` exists; returns the record
    /// already there. One cheap command where a full `Txn` is not needed.
    async fn put_if_absent(
        &self,
        key: &Key,
        value: Vec<u8>,
    ) -> Result<Option<RawRecord>, StoreError>;

    /// Whether the backend answers now (health and readiness).
    async fn ping(&self) -> Result<(), StoreError>;

    // Schedules: sorted sets of member → due time (ms). Writers only ever
    // bring a member's time forward, so no wake-up is lost; workers claim
    // due members under a lease and release them only if untouched.

    /// Makes `member` due no later than `at` (an earlier time stands).
    async fn wake_by(&self, schedule: &Key, member: &str, at: Millis) -> Result<(), StoreError>;

    /// Claims up to `limit` members due at `now`, hiding each until
    /// `lease_until`. Returns each with the time it was due.
    async fn claim_due(
        &self,
        schedule: &Key,
        now: Millis,
        lease_until: Millis,
        limit: usize,
    ) -> Result<Vec<(String, Millis)>, StoreError>;

    // Streams: a merchant's events, appended exactly once per (order, seq).

    /// Appends `events` (seq, payload), skipping seqs already published for
    /// `order_id`, and queues each new entry in `deliveries` due at `now`;
    /// trims the stream to about `max_len`. Returns the highest seq
    /// published for the order.
    async fn publish(
        &self,
        target: &PublishTarget,
        order_id: &str,
        events: &[(u64, Vec<u8>)],
        now: Millis,
    ) -> Result<u64, StoreError>;

    /// One stream entry by id (`None` if trimmed away).
    async fn read_entry(&self, stream: &Key, id: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// The earliest due time in a schedule, if any.
    async fn earliest(&self, schedule: &Key) -> Result<Option<Millis>, StoreError>;

    /// Up to `count` entries after `cursor` (None: from the oldest kept).
    async fn read_stream(
        &self,
        stream: &Key,
        cursor: Option<&str>,
        count: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError>;

    /// Ends a claim made with `lease_until`: due again at `next`, or gone
    /// if `None` — unless it was woken meanwhile. Returns whether it was.
    async fn release(
        &self,
        schedule: &Key,
        member: &str,
        lease_until: Millis,
        next: Option<Millis>,
    ) -> Result<bool, StoreError>;
}

impl Txn {
    /// Expects `key` at `version` (0: absent).
    pub fn check(mut self, key: Key, version: u64) -> Self {
        self.checks.push((key, version));
        self
    }

    /// Writes `value` to `key` (its version is bumped).
    pub fn put<T: Serialize>(mut self, key: Key, value: &T) -> Self {
        self.puts.push((key, encode(value)));
        self
    }

    /// Removes `key`.
    pub fn delete(mut self, key: Key) -> Self {
        self.deletes.push(key);
        self
    }

    /// Whether every key shares one slot, as one atomic script requires.
    pub fn single_slot(&self) -> bool {
        let mut slots = self
            .checks
            .iter()
            .map(|(k, _)| k.slot())
            .chain(self.puts.iter().map(|(k, _)| k.slot()))
            .chain(self.deletes.iter().map(Key::slot));
        match slots.next() {
            Some(first) => slots.all(|s| s == first),
            None => true,
        }
    }
}

/// Records are MessagePack, fields by position (names would double the
/// size of an order). Fields may be added at the end of a struct with
/// `#[serde(default)]`; never removed or reordered within one key layout.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    rmp_serde::to_vec(value).expect("domain records always serialise")
}

pub fn decode<T: DeserializeOwned>(key: &Key, raw: RawRecord) -> Result<Versioned<T>, StoreError> {
    let value = rmp_serde::from_slice(&raw.value).map_err(|e| StoreError::Corrupt {
        key: key.to_string(),
        detail: e.to_string(),
    })?;
    Ok(Versioned {
        version: raw.version,
        value,
    })
}

impl dyn Store {
    /// Reads one record, typed.
    pub async fn get_one<T: DeserializeOwned>(
        &self,
        key: &Key,
    ) -> Result<Option<Versioned<T>>, StoreError> {
        let raw = self.get(std::slice::from_ref(key)).await?.pop().flatten();
        raw.map(|r| decode(key, r)).transpose()
    }

    /// Creates `key` if absent. On conflict returns the record already there.
    pub async fn create<T: Serialize + DeserializeOwned>(
        &self,
        key: Key,
        value: &T,
    ) -> Result<Option<Versioned<T>>, StoreError> {
        let txn = Txn::default().check(key.clone(), 0).put(key.clone(), value);
        match self.commit(txn).await? {
            Committed::Done => Ok(None),
            Committed::Conflict(mut current) => {
                current.pop().flatten().map(|r| decode(&key, r)).transpose()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Serialize, Deserialize)]
    struct Before {
        a: u32,
        b: String,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct After {
        a: u32,
        b: String,
        #[serde(default)]
        c: Option<u64>,
    }

    #[test]
    fn records_gain_fields_at_the_end() {
        let key = Key::merchant("m");
        let raw = RawRecord {
            version: 3,
            value: encode(&Before {
                a: 1,
                b: "x".into(),
            }),
        };
        let after = decode::<After>(&key, raw).unwrap();
        assert_eq!(
            after.value,
            After {
                a: 1,
                b: "x".into(),
                c: None
            }
        );
        assert_eq!(after.version, 3);
    }
}
