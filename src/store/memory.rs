//! The embedded store: the dev default, and the reference the Redis store is
//! held to by the conformance suite. Nothing survives a restart.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{Committed, Key, PublishTarget, RawRecord, Store, StoreError, Txn};
use crate::domain::Millis;

#[derive(Default)]
pub struct MemoryStore {
    records: Mutex<HashMap<Key, RawRecord>>,
    schedules: Mutex<HashMap<Key, HashMap<String, Millis>>>,
    streams: Mutex<Streams>,
}

/// Entry ids here are `<n>-0`, like Redis stream ids.
fn entry_number(id: &str) -> Result<u64, StoreError> {
    id.trim_end_matches("-0")
        .parse()
        .map_err(|_| StoreError::Backend(format!("bad stream entry id {id:?}")))
}

#[derive(Default)]
struct Streams {
    next_id: u64,
    entries: HashMap<Key, Vec<(u64, Vec<u8>)>>,
    published: HashMap<Key, HashMap<String, u64>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, keys: &[Key]) -> Result<Vec<Option<RawRecord>>, StoreError> {
        let records = self.records.lock().expect("store lock poisoned");
        Ok(keys.iter().map(|k| records.get(k).cloned()).collect())
    }

    async fn commit(&self, txn: Txn) -> Result<Committed, StoreError> {
        if !txn.single_slot() {
            return Err(StoreError::Backend(
                "transaction spans several slots".into(),
            ));
        }
        let mut records = self.records.lock().expect("store lock poisoned");
        let version =
            |records: &HashMap<Key, RawRecord>, k: &Key| records.get(k).map_or(0, |r| r.version);
        if txn
            .checks
            .iter()
            .any(|(k, want)| version(&records, k) != *want)
        {
            let current = txn
                .checks
                .iter()
                .map(|(k, _)| records.get(k).cloned())
                .collect();
            return Ok(Committed::Conflict(current));
        }
        for (key, value) in txn.puts {
            let next = version(&records, &key) + 1;
            records.insert(
                key,
                RawRecord {
                    version: next,
                    value,
                },
            );
        }
        for key in &txn.deletes {
            records.remove(key);
        }
        Ok(Committed::Done)
    }

    async fn put_if_absent(
        &self,
        key: &Key,
        value: Vec<u8>,
    ) -> Result<Option<RawRecord>, StoreError> {
        let mut records = self.records.lock().expect("store lock poisoned");
        if let Some(existing) = records.get(key) {
            return Ok(Some(existing.clone()));
        }
        records.insert(key.clone(), RawRecord { version: 1, value });
        Ok(None)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn wake_by(&self, schedule: &Key, member: &str, at: Millis) -> Result<(), StoreError> {
        let mut schedules = self.schedules.lock().expect("store lock poisoned");
        let due = schedules.entry(schedule.clone()).or_default();
        let slot = due.entry(member.to_owned()).or_insert(at);
        *slot = (*slot).min(at);
        Ok(())
    }

    async fn claim_due(
        &self,
        schedule: &Key,
        now: Millis,
        lease_until: Millis,
        limit: usize,
    ) -> Result<Vec<(String, Millis)>, StoreError> {
        let mut schedules = self.schedules.lock().expect("store lock poisoned");
        let Some(due) = schedules.get_mut(schedule) else {
            return Ok(Vec::new());
        };
        let mut ready: Vec<(Millis, String)> = due
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(m, at)| (*at, m.clone()))
            .collect();
        ready.sort();
        ready.truncate(limit);
        for (_, member) in &ready {
            due.insert(member.clone(), lease_until);
        }
        Ok(ready.into_iter().map(|(at, m)| (m, at)).collect())
    }

    async fn publish(
        &self,
        target: &PublishTarget,
        order_id: &str,
        events: &[(u64, Vec<u8>)],
        now: Millis,
    ) -> Result<u64, StoreError> {
        let mut streams = self.streams.lock().expect("store lock poisoned");
        let mut schedules = self.schedules.lock().expect("store lock poisoned");
        let Streams {
            next_id,
            entries,
            published: markers,
        } = &mut *streams;
        let last = markers
            .entry(target.published.clone())
            .or_default()
            .entry(order_id.to_owned())
            .or_insert(0);
        let log = entries.entry(target.stream.clone()).or_default();
        let queue = schedules.entry(target.deliveries.clone()).or_default();
        for (seq, payload) in events {
            if *seq > *last {
                *next_id += 1;
                log.push((*next_id, payload.clone()));
                queue.insert(format!("{next_id}-0"), now);
                *last = *seq;
            }
        }
        let excess = log
            .len()
            .saturating_sub(usize::try_from(target.max_len).unwrap_or(usize::MAX));
        log.drain(..excess);
        Ok(*last)
    }

    async fn read_entry(&self, stream: &Key, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let wanted = entry_number(id)?;
        let streams = self.streams.lock().expect("store lock poisoned");
        let log = streams
            .entries
            .get(stream)
            .map(Vec::as_slice)
            .unwrap_or_default();
        Ok(log
            .iter()
            .find(|(n, _)| *n == wanted)
            .map(|(_, p)| p.clone()))
    }

    async fn earliest(&self, schedule: &Key) -> Result<Option<Millis>, StoreError> {
        let schedules = self.schedules.lock().expect("store lock poisoned");
        Ok(schedules
            .get(schedule)
            .and_then(|due| due.values().min().copied()))
    }

    async fn read_stream(
        &self,
        stream: &Key,
        cursor: Option<&str>,
        count: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let after = cursor.map(entry_number).transpose()?.unwrap_or(0);
        let streams = self.streams.lock().expect("store lock poisoned");
        let log = streams
            .entries
            .get(stream)
            .map(Vec::as_slice)
            .unwrap_or_default();
        Ok(log
            .iter()
            .filter(|(id, _)| *id > after)
            .take(count)
            .map(|(id, payload)| (format!("{id}-0"), payload.clone()))
            .collect())
    }

    async fn release(
        &self,
        schedule: &Key,
        member: &str,
        lease_until: Millis,
        next: Option<Millis>,
    ) -> Result<bool, StoreError> {
        let mut schedules = self.schedules.lock().expect("store lock poisoned");
        let Some(due) = schedules.get_mut(schedule) else {
            return Ok(false);
        };
        if due.get(member) != Some(&lease_until) {
            return Ok(false);
        }
        match next {
            Some(at) => due.insert(member.to_owned(), at),
            None => due.remove(member),
        };
        Ok(true)
    }
}
