//! One conformance suite for every store backend: the primitives the
//! domain's atomic decisions rest on behave the same in memory and Redis.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use payscore_gateway::domain::Mode;
use payscore_gateway::store::memory::MemoryStore;
use payscore_gateway::store::redis::{RedisOptions, RedisStore};
use payscore_gateway::store::{Committed, Key, PublishTarget, Store, StoreError, Txn, encode};

use crate::harness::RedisServer;

async fn redis_store(redis: &RedisServer) -> Arc<dyn Store> {
    let store = RedisStore::connect(RedisOptions {
        url: redis.url(),
        prefix: "conformance".into(),
        response_timeout: Duration::from_secs(2),
        connection_timeout: Duration::from_secs(2),
    })
    .await
    .expect("connect");
    Arc::new(store)
}

async fn conformance(store: Arc<dyn Store>) {
    let a = Key::order(Mode::Live, "u1", "m1", "order-a");
    let b = Key::standing(Mode::Live, "u1");

    // Missing records read as None.
    assert_eq!(store.get_one::<String>(&a).await.unwrap(), None);

    // create: once; the second sees the first.
    assert_eq!(
        store.create(a.clone(), &"first".to_string()).await.unwrap(),
        None
    );
    let existing = store
        .create(a.clone(), &"second".to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((existing.version, existing.value.as_str()), (1, "first"));

    // A failed check writes nothing and returns what is there.
    let stale = Txn::default()
        .check(a.clone(), 7)
        .put(a.clone(), &"stale".to_string())
        .put(b.clone(), &1u32);
    match store.commit(stale).await.unwrap() {
        Committed::Conflict(current) => {
            assert_eq!(current.len(), 1);
            assert_eq!(current[0].as_ref().unwrap().version, 1);
            assert_eq!(
                current[0].as_ref().unwrap().value,
                encode(&"first".to_string())
            );
        }
        Committed::Done => panic!("a stale version must not commit"),
    }
    assert_eq!(
        store.get_one::<u32>(&b).await.unwrap(),
        None,
        "all or nothing"
    );

    // A held check writes every record, bumping each version by one.
    let txn = Txn::default()
        .check(a.clone(), 1)
        .check(b.clone(), 0)
        .put(a.clone(), &"next".to_string())
        .put(b.clone(), &1u32);
    assert_eq!(store.commit(txn).await.unwrap(), Committed::Done);
    let records = store.get(&[a.clone(), b.clone()]).await.unwrap();
    assert_eq!(records[0].as_ref().unwrap().version, 2);
    assert_eq!(records[1].as_ref().unwrap().version, 1);

    // Keys of different slots never go in one transaction.
    let cross = Txn::default()
        .put(a.clone(), &"x".to_string())
        .put(Key::merchant("m1"), &"y".to_string());
    assert!(matches!(
        store.commit(cross).await,
        Err(StoreError::Backend(_))
    ));

    // Binary-safe payloads (a separator byte inside is fine).
    let bin = Key::order(Mode::Live, "u1", "m1", "order-bin");
    let payload: Vec<u8> = vec![b'|', 0, 255, b'|', 7];
    assert_eq!(store.create(bin.clone(), &payload).await.unwrap(), None);
    assert_eq!(
        store.get_one::<Vec<u8>>(&bin).await.unwrap().unwrap().value,
        payload
    );

    // Compare-and-set under contention: 20 increments, none lost.
    let counter = Key::standing(Mode::Sandbox, "counter");
    let bumps = (0..20).map(|_| {
        let store = store.clone();
        let counter = counter.clone();
        async move {
            loop {
                let current = store.get_one::<u32>(&counter).await.unwrap();
                let (version, value) = current.map_or((0, 0), |v| (v.version, v.value));
                let txn = Txn::default()
                    .check(counter.clone(), version)
                    .put(counter.clone(), &(value + 1));
                if store.commit(txn).await.unwrap() == Committed::Done {
                    break;
                }
            }
        }
    });
    join_all(bumps).await;
    let total = store.get_one::<u32>(&counter).await.unwrap().unwrap();
    assert_eq!((total.value, total.version), (20, 20));
}

/// The members of a claim (each comes with the time it was due).
fn names(claimed: Vec<(String, i64)>) -> Vec<String> {
    claimed.into_iter().map(|(m, _)| m).collect()
}

/// Schedules: wake-ups only move earlier; a claim hides a member until its
/// lease ends; a release keeps a wake-up made during the claim.
async fn schedule_conformance(store: Arc<dyn Store>) {
    let q = Key::schedule(3);
    store.wake_by(&q, "a", 100).await.unwrap();
    store.wake_by(&q, "a", 500).await.unwrap(); // later: ignored
    store.wake_by(&q, "b", 200).await.unwrap();
    store.wake_by(&q, "c", 900).await.unwrap();

    assert!(store.claim_due(&q, 99, 1_000, 10).await.unwrap().is_empty());
    let mut claimed = store.claim_due(&q, 250, 1_250, 10).await.unwrap();
    claimed.sort();
    assert_eq!(claimed, vec![("a".to_owned(), 100), ("b".to_owned(), 200)]);
    // Hidden while leased, even once c is due.
    assert_eq!(
        names(store.claim_due(&q, 950, 1_950, 10).await.unwrap()),
        vec!["c"]
    );

    // a: done. b: woken during the claim, so the release leaves it due.
    assert!(store.release(&q, "a", 1_250, None).await.unwrap());
    store.wake_by(&q, "b", 300).await.unwrap();
    assert!(!store.release(&q, "b", 1_250, Some(5_000)).await.unwrap());
    // c: due again later.
    assert!(store.release(&q, "c", 1_950, Some(3_000)).await.unwrap());

    assert_eq!(
        store.claim_due(&q, 1_000, 2_000, 10).await.unwrap(),
        vec![("b".to_owned(), 300)]
    );
    // A lease that ran out (its holder died) makes the member claimable again.
    assert_eq!(
        names(store.claim_due(&q, 2_000, 3_000, 10).await.unwrap()),
        vec!["b"]
    );
    assert!(
        !store.release(&q, "b", 2_000, None).await.unwrap(),
        "the old holder's release is refused"
    );
    let mut last = names(store.claim_due(&q, 3_000, 4_000, 1).await.unwrap());
    assert_eq!(last.len(), 1, "limit respected");
    last.extend(names(store.claim_due(&q, 3_000, 4_000, 10).await.unwrap()));
    last.sort();
    assert_eq!(last, vec!["b", "c"]);
}

/// Streams: each (order, seq) once, in order, each queued once for
/// delivery; reads resume after a cursor.
async fn stream_conformance(store: Arc<dyn Store>) {
    let target = PublishTarget {
        stream: Key::events("m1", Mode::Live),
        published: Key::published("m1", Mode::Live),
        deliveries: Key::deliveries("m1", Mode::Live),
        max_len: 1_000,
    };
    let stream = target.stream.clone();
    let e = |seq: u64| (seq, format!("event-{seq}").into_bytes());
    assert_eq!(
        store
            .publish(&target, "o1", &[e(1), e(2)], 500)
            .await
            .unwrap(),
        2
    );
    // A retry with a new event publishes only the new one.
    assert_eq!(
        store
            .publish(&target, "o1", &[e(1), e(2), e(3)], 600)
            .await
            .unwrap(),
        3
    );
    assert_eq!(store.publish(&target, "o2", &[e(1)], 700).await.unwrap(), 1);

    let all = store.read_stream(&stream, None, 100).await.unwrap();
    let payloads: Vec<_> = all
        .iter()
        .map(|(_, p)| String::from_utf8(p.clone()).unwrap())
        .collect();
    assert_eq!(payloads, vec!["event-1", "event-2", "event-3", "event-1"]);
    let after_second = store
        .read_stream(&stream, Some(&all[1].0), 100)
        .await
        .unwrap();
    assert_eq!(
        after_second,
        all[2..].to_vec(),
        "resumes right after the cursor"
    );
    assert_eq!(
        store
            .read_stream(&stream, Some(&all[3].0), 100)
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(
        store.read_stream(&stream, None, 2).await.unwrap(),
        all[..2].to_vec()
    );
    assert_eq!(
        store.read_entry(&stream, &all[2].0).await.unwrap(),
        Some(b"event-3".to_vec())
    );

    // Every new entry is queued for delivery once, due when it was published.
    assert_eq!(store.earliest(&target.deliveries).await.unwrap(), Some(500));
    let mut queued: Vec<_> = names(
        store
            .claim_due(&target.deliveries, 700, 10_000, 10)
            .await
            .unwrap(),
    );
    queued.sort();
    let mut ids: Vec<_> = all.iter().map(|(id, _)| id.clone()).collect();
    ids.sort();
    assert_eq!(queued, ids);
}

#[tokio::test]
async fn memory_store_conforms() {
    conformance(Arc::new(MemoryStore::new())).await;
    schedule_conformance(Arc::new(MemoryStore::new())).await;
    stream_conformance(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn redis_store_conforms() {
    let redis = RedisServer::start();
    conformance(redis_store(&redis).await).await;
    schedule_conformance(redis_store(&redis).await).await;
    stream_conformance(redis_store(&redis).await).await;
}

#[tokio::test]
async fn redis_store_fails_closed_and_recovers() {
    let mut redis = RedisServer::start();
    let store = redis_store(&redis).await;
    let key = Key::merchant("m-durable");
    store
        .create(key.clone(), &"kept".to_string())
        .await
        .unwrap();
    redis.kill();
    assert!(matches!(
        store.get(std::slice::from_ref(&key)).await,
        Err(StoreError::Unavailable(_))
    ));
    redis.restart();
    let mut value = None;
    for _ in 0..100 {
        if let Ok(v) = store.get_one::<String>(&key).await {
            value = v;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        value.unwrap().value,
        "kept",
        "acknowledged before the kill, there after it"
    );
}
