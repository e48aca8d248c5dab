//! The Redis store: the system of record in production. Each transaction is
//! one Lua script on one hash slot, so it runs unchanged on Redis Cluster.
//! When Redis cannot be reached every call fails with `Unavailable`: nothing
//! is acknowledged that is not stored.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Script, Value};

use super::{Committed, Key, PublishTarget, RawRecord, Store, StoreError, Txn};
use crate::domain::Millis;

/// See `lua/commit.lua` for its KEYS/ARGV contract.
const COMMIT_SCRIPT: &str = include_str!("lua/commit.lua");
/// See `lua/claim_due.lua`.
const CLAIM_SCRIPT: &str = include_str!("lua/claim_due.lua");
/// See `lua/release.lua`.
const RELEASE_SCRIPT: &str = include_str!("lua/release.lua");
/// See `lua/publish.lua`.
const PUBLISH_SCRIPT: &str = include_str!("lua/publish.lua");

pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    commit: Script,
    claim: Script,
    release: Script,
    publish: Script,
}

/// Connection settings.
#[derive(Clone, Debug)]
pub struct RedisOptions {
    pub url: String,
    /// Prepended to every key (tests pass their own).
    pub prefix: String,
    /// How long one command may take before the call fails `Unavailable`.
    pub response_timeout: Duration,
    pub connection_timeout: Duration,
}

impl RedisStore {
    pub async fn connect(options: RedisOptions) -> Result<Self, StoreError> {
        let client = redis::Client::open(options.url.as_str()).map_err(unavailable)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(options.response_timeout))
            .set_connection_timeout(Some(options.connection_timeout))
            // Reconnection is retried in the background; a call made while
            // Redis is away fails at once rather than queueing.
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(2));
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(unavailable)?;
        Ok(Self {
            conn,
            prefix: options.prefix,
            commit: Script::new(COMMIT_SCRIPT),
            claim: Script::new(CLAIM_SCRIPT),
            release: Script::new(RELEASE_SCRIPT),
            publish: Script::new(PUBLISH_SCRIPT),
        })
    }
}

/// Counts one command sent by a store primitive.
fn sent(primitive: &'static str) {
    metrics::counter!(crate::metrics::REDIS_COMMANDS, "primitive" => primitive).increment(1);
}

fn unavailable(e: RedisError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// Connection trouble and a Redis that cannot take writes now are
/// retryable; anything else (a script error) is a bug.
fn classify(e: RedisError) -> StoreError {
    use redis::{ErrorKind, ServerErrorKind as S};
    let transient = e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || matches!(
            e.kind(),
            ErrorKind::Server(
                S::BusyLoading | S::TryAgain | S::MasterDown | S::ReadOnly | S::ClusterDown
            )
        );
    let kind = if transient { "unavailable" } else { "backend" };
    metrics::counter!(crate::metrics::REDIS_ERRORS, "kind" => kind).increment(1);
    if transient {
        unavailable(e)
    } else {
        StoreError::Backend(e.to_string())
    }
}

/// Splits a stored "<version>|<payload>".
fn parse(key: &str, raw: Vec<u8>) -> Result<RawRecord, StoreError> {
    let corrupt = |detail: &str| StoreError::Corrupt {
        key: key.to_owned(),
        detail: detail.to_owned(),
    };
    let sep = raw
        .iter()
        .position(|&b| b == b'|')
        .ok_or_else(|| corrupt("no version"))?;
    let version = std::str::from_utf8(&raw[..sep])
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| corrupt("bad version"))?;
    Ok(RawRecord {
        version,
        value: raw[sep + 1..].to_vec(),
    })
}

fn parse_value(key: &str, value: Value) -> Result<Option<RawRecord>, StoreError> {
    match value {
        Value::Nil => Ok(None),
        Value::BulkString(raw) => parse(key, raw).map(Some),
        other => Err(StoreError::Backend(format!("unexpected reply {other:?}"))),
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn get(&self, keys: &[Key]) -> Result<Vec<Option<RawRecord>>, StoreError> {
        let full: Vec<String> = keys.iter().map(|k| k.full(&self.prefix)).collect();
        sent("get");
        let values: Vec<Value> = redis::cmd("MGET")
            .arg(&full)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(classify)?;
        full.iter()
            .zip(values)
            .map(|(key, value)| parse_value(key, value))
            .collect()
    }

    async fn commit(&self, txn: Txn) -> Result<Committed, StoreError> {
        if !txn.single_slot() {
            return Err(StoreError::Backend(
                "transaction spans several slots".into(),
            ));
        }
        // Each distinct key is formatted once and passed once in KEYS.
        let mut distinct: Vec<&Key> = Vec::new();
        let touched = txn.checks.iter().map(|(k, _)| k);
        for key in touched
            .chain(txn.puts.iter().map(|(k, _)| k))
            .chain(&txn.deletes)
        {
            if !distinct.contains(&key) {
                distinct.push(key);
            }
        }
        let index_of = |key: &Key| {
            distinct
                .iter()
                .position(|k| *k == key)
                .expect("collected above")
                + 1
        };
        let mut invocation = self.commit.prepare_invoke();
        invocation.arg(txn.checks.len());
        for (key, version) in &txn.checks {
            invocation.arg(index_of(key)).arg(*version);
        }
        invocation.arg(txn.puts.len());
        for (key, value) in &txn.puts {
            invocation.arg(index_of(key)).arg(value.as_slice());
        }
        invocation.arg(txn.deletes.len());
        for key in &txn.deletes {
            invocation.arg(index_of(key));
        }
        for key in &distinct {
            invocation.key(key.full(&self.prefix));
        }
        sent("commit");
        let reply: Vec<Value> = invocation
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(classify)?;
        let mut reply = reply.into_iter();
        match reply.next() {
            Some(Value::Int(1)) => Ok(Committed::Done),
            Some(Value::Int(0)) => {
                let current = txn
                    .checks
                    .iter()
                    .zip(reply)
                    .map(|((key, _), value)| parse_value(&key.full(&self.prefix), value))
                    .collect::<Result<_, _>>()?;
                Ok(Committed::Conflict(current))
            }
            other => Err(StoreError::Backend(format!(
                "unexpected commit reply {other:?}"
            ))),
        }
    }

    async fn put_if_absent(
        &self,
        key: &Key,
        value: Vec<u8>,
    ) -> Result<Option<RawRecord>, StoreError> {
        // Version 1 of a new record, in the stored "<version>|<payload>" form.
        let mut record = b"1|".to_vec();
        record.extend_from_slice(&value);
        let full = key.full(&self.prefix);
        sent("put_if_absent");
        let previous: Value = redis::cmd("SET")
            .arg(&full)
            .arg(record)
            .arg("NX")
            .arg("GET")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(classify)?;
        parse_value(&full, previous)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sent("ping");
        redis::cmd("PING")
            .query_async::<String>(&mut self.conn.clone())
            .await
            .map(|_| ())
            .map_err(classify)
    }

    async fn wake_by(&self, schedule: &Key, member: &str, at: Millis) -> Result<(), StoreError> {
        sent("wake_by");
        redis::cmd("ZADD")
            .arg(schedule.full(&self.prefix))
            .arg("LT")
            .arg(at)
            .arg(member)
            .query_async::<i64>(&mut self.conn.clone())
            .await
            .map(drop)
            .map_err(classify)
    }

    async fn claim_due(
        &self,
        schedule: &Key,
        now: Millis,
        lease_until: Millis,
        limit: usize,
    ) -> Result<Vec<(String, Millis)>, StoreError> {
        sent("claim_due");
        let flat: Vec<(String, f64)> = self
            .claim
            .key(schedule.full(&self.prefix))
            .arg(now)
            .arg(lease_until)
            .arg(limit)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(classify)?;
        #[allow(clippy::cast_possible_truncation)]
        Ok(flat
            .into_iter()
            .map(|(member, due)| (member, due as Millis))
            .collect())
    }

    async fn publish(
        &self,
        target: &PublishTarget,
        order_id: &str,
        events: &[(u64, Vec<u8>)],
        now: Millis,
    ) -> Result<u64, StoreError> {
        sent("publish");
        let mut invocation = self.publish.prepare_invoke();
        invocation
            .key(target.stream.full(&self.prefix))
            .key(target.published.full(&self.prefix))
            .key(target.deliveries.full(&self.prefix))
            .arg(order_id)
            .arg(target.max_len)
            .arg(now);
        for (seq, payload) in events {
            invocation.arg(*seq).arg(payload.as_slice());
        }
        invocation
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(classify)
    }

    async fn read_entry(&self, stream: &Key, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        sent("read_entry");
        let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(stream.full(&self.prefix))
            .arg(id)
            .arg(id)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(classify)?;
        Ok(reply
            .ids
            .into_iter()
            .next()
            .and_then(|entry| match entry.map.get("p") {
                Some(Value::BulkString(payload)) => Some(payload.clone()),
                _ => None,
            }))
    }

    async fn earliest(&self, schedule: &Key) -> Result<Option<Millis>, StoreError> {
        sent("earliest");
        let first: Vec<(String, f64)> = redis::cmd("ZRANGE")
            .arg(schedule.full(&self.prefix))
            .arg(0)
            .arg(0)
            .arg("WITHSCORES")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(classify)?;
        #[allow(clippy::cast_possible_truncation)]
        Ok(first.first().map(|(_, score)| *score as Millis))
    }

    async fn read_stream(
        &self,
        stream: &Key,
        cursor: Option<&str>,
        count: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        sent("read_stream");
        let start = cursor.map_or_else(|| "-".to_owned(), |c| format!("({c}"));
        let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(stream.full(&self.prefix))
            .arg(start)
            .arg("+")
            .arg("COUNT")
            .arg(count)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(classify)?;
        reply
            .ids
            .into_iter()
            .map(|entry| match entry.map.get("p") {
                Some(Value::BulkString(payload)) => Ok((entry.id, payload.clone())),
                _ => Err(StoreError::Corrupt {
                    key: stream.to_string(),
                    detail: format!("entry {} has no payload", entry.id),
                }),
            })
            .collect()
    }

    async fn release(
        &self,
        schedule: &Key,
        member: &str,
        lease_until: Millis,
        next: Option<Millis>,
    ) -> Result<bool, StoreError> {
        sent("release");
        let next = next.map(|at| at.to_string()).unwrap_or_default();
        self.release
            .key(schedule.full(&self.prefix))
            .arg(member)
            .arg(lease_until)
            .arg(next)
            .invoke_async::<i64>(&mut self.conn.clone())
            .await
            .map(|released| released == 1)
            .map_err(classify)
    }
}
