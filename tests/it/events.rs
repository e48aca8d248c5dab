//! Every change of an order reaches the merchant as an event, in order,
//! through WatchEvents; a client that reconnects with its cursor misses
//! nothing and sees nothing twice.

use std::collections::BTreeMap;
use std::time::Duration;

use payscore_gateway::pb::v1::{
    self as pb, OrderState, UserAction, onboarding_client::OnboardingClient,
};
use tonic::Code;

use crate::harness::receiver::Receiver;
use crate::harness::*;
use crate::webhooks::verifier::{Verdict, Verifier};

/// Reads events until `done` holds for what was read (bounded in time).
async fn read_until(
    stream: &mut tonic::Streaming<pb::OrderEvent>,
    seen: &mut Vec<pb::OrderEvent>,
    done: impl Fn(&[pb::OrderEvent]) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done(seen) {
        let next = tokio::time::timeout_at(deadline, stream.message()).await;
        match next {
            Ok(Ok(Some(event))) => seen.push(event),
            other => panic!(
                "stream ended or timed out ({other:?}); seen {:?}",
                types(seen)
            ),
        }
    }
}

fn types(events: &[pb::OrderEvent]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e.order.as_ref().unwrap().out_order_no.clone(),
                e.event_type.clone(),
            )
        })
        .collect()
}

fn by_order(events: &[pb::OrderEvent]) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (no, t) in types(events) {
        map.entry(no).or_default().push(t);
    }
    map
}

#[tokio::test]
async fn every_event_type_arrives_in_order() {
    let redis = RedisServer::start();
    let (rail, endpoint) = FakeRail::start(Behaviour::Decline).await;
    let gw = TestGateway::start(Options {
        redis_url: Some(redis.url()),
        rail_endpoint: Some(endpoint),
        ..Options::default()
    })
    .await;
    let receiver = Receiver::start(0).await;
    let m = merchant_notifying(&gw.channel, &receiver.url).await;
    let op = gw.operator();
    op.set_stage(&m.id, pb::Stage::Production, "test")
        .await
        .unwrap();
    op.import(vec![
        ("pia", 700, true),
        ("quin", 700, true),
        ("rex", 700, true),
        ("sol", 700, true),
    ])
    .await
    .unwrap();
    let s = m.live();
    let mut stream = s.watch("").await.unwrap();
    let mut seen = Vec::new();

    s.authorize(authorize("ev-a-0001", "pia", 9_900, true))
        .await
        .unwrap();
    op.user_action(&m.id, "ev-a-0001", UserAction::Confirm)
        .await
        .unwrap();
    s.complete(bill("ev-a-0001", 1_000)).await.unwrap();
    s.wait_for("ev-a-0001", |o| {
        let c = o.collection.clone().unwrap();
        c.attempts >= 1 && c.state() == pb::CollectionState::Due
    })
    .await;
    s.modify("ev-a-0001", 800, "coupon").await.unwrap();

    s.authorize(authorize("ev-b-0001", "quin", 1_000, true))
        .await
        .unwrap();
    s.cancel("ev-b-0001", "no stock").await.unwrap();
    s.authorize(authorize("ev-c-0001", "rex", 1_000, true))
        .await
        .unwrap();
    op.user_action(&m.id, "ev-c-0001", UserAction::Reject)
        .await
        .unwrap();
    s.authorize(authorize("ev-d-0001", "sol", 1_000, true))
        .await
        .unwrap();

    // A day passes: D expires, A becomes overdue and a default.
    gw.clock.advance(24 * HOUR_MS + 60_000);
    s.wait_for("ev-d-0001", |o| o.state() == OrderState::Expired)
        .await;
    rail.set(Behaviour::Succeed);
    gw.clock.advance(12 * HOUR_MS);
    s.wait_for("ev-a-0001", |o| o.state() == OrderState::Paid)
        .await;

    read_until(&mut stream, &mut seen, |events| {
        let map = by_order(events);
        map.get("ev-a-0001")
            .is_some_and(|a| a.last().map(String::as_str) == Some("ORDER.PAID"))
            && map.get("ev-d-0001").is_some_and(|d| d.len() == 2)
    })
    .await;
    let map = by_order(&seen);
    let mut a = map["ev-a-0001"].clone();
    a.dedup();
    assert_eq!(
        a[..5],
        [
            "ORDER.CREATED",
            "ORDER.CONFIRMED",
            "ORDER.COMPLETED",
            "ORDER.DEDUCTION_FAILED",
            "ORDER.MODIFIED"
        ]
    );
    let overdue = a
        .iter()
        .position(|t| t == "ORDER.OVERDUE")
        .expect("overdue");
    assert_eq!(a[overdue + 1], "ORDER.DEFAULTED");
    assert_eq!(a.last().unwrap(), "ORDER.PAID");
    assert_eq!(map["ev-b-0001"], ["ORDER.CREATED", "ORDER.REVOKED"]);
    assert_eq!(map["ev-c-0001"], ["ORDER.CREATED", "ORDER.REJECTED"]);
    assert_eq!(map["ev-d-0001"], ["ORDER.CREATED", "ORDER.EXPIRED"]);

    // The same events reach the webhook, in the same order per order.
    let delivered = receiver.wait_for(seen.len()).await;
    let keys = OnboardingClient::new(gw.channel.clone())
        .get_platform_keys(s.request(pb::GetPlatformKeysRequest {}))
        .await
        .unwrap()
        .into_inner()
        .keys
        .into_iter()
        .map(|k| (k.serial, k.public_key_pem))
        .collect();
    let mut verifier = Verifier::new(keys, m.api_v3_key.clone());
    let mut hooked: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in &delivered {
        let at: i64 = d.headers["payscore-timestamp"].parse().unwrap();
        let Ok(Verdict::Fresh(order)) = verifier.verify(&d.headers, &d.body, at) else {
            panic!("every delivery verifies once");
        };
        hooked
            .entry(order["outOrderNo"].as_str().unwrap().to_owned())
            .or_default()
            .push(order["event_type"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        hooked, map,
        "webhooks carry the same events as the stream, in order"
    );

    // The order travels with its event, as it stood.
    let paid = seen
        .iter()
        .rev()
        .find(|e| e.event_type == "ORDER.PAID")
        .unwrap();
    assert_eq!(paid.order.as_ref().unwrap().state(), OrderState::Paid);
    assert_eq!(paid.order.as_ref().unwrap().total_amount, 800);
    // Cursors only grow.
    let cursors: Vec<_> = seen.iter().map(|e| e.cursor.clone()).collect();
    let mut sorted = cursors.clone();
    sorted.sort_by_key(|c| {
        let (a, b) = c.split_once('-').unwrap();
        (a.parse::<u64>().unwrap(), b.parse::<u64>().unwrap())
    });
    assert_eq!(cursors, sorted);
}

#[tokio::test]
async fn reconnecting_with_the_last_cursor_misses_nothing() {
    let redis = RedisServer::start();
    let gw = TestGateway::on_redis(&redis).await;
    let s = gw.merchant().await.sandbox();
    let create = |n: usize| {
        let s = s.clone();
        async move {
            s.authorize(authorize(
                &format!("cur-{n:04}"),
                &format!("sbx_c{n}"),
                1_000,
                true,
            ))
            .await
            .unwrap();
        }
    };
    for n in 0..5 {
        create(n).await;
    }
    let mut first = s.watch("").await.unwrap();
    let mut seen = Vec::new();
    read_until(&mut first, &mut seen, |e| e.len() == 3).await;
    drop(first);
    let cursor = seen.last().unwrap().cursor.clone();

    for n in 5..10 {
        create(n).await;
    }
    let mut again = s.watch(&cursor).await.unwrap();
    read_until(&mut again, &mut seen, |e| e.len() == 10).await;
    let numbers: Vec<_> = types(&seen).into_iter().map(|(no, _)| no).collect();
    let expected: Vec<_> = (0..10).map(|n| format!("cur-{n:04}")).collect();
    assert_eq!(numbers, expected, "each event once, in order");
    // And nothing more is pending.
    let extra = tokio::time::timeout(Duration::from_millis(300), again.message()).await;
    assert!(
        extra.is_err(),
        "no duplicate after the last event: {extra:?}"
    );

    let bad = s.watch("not-a-cursor").await.unwrap_err();
    assert_eq!(
        (bad.code(), bad_field(&bad)),
        (Code::InvalidArgument, "cursor".to_owned())
    );
    // Live mode is a different stream: it has none of these.
    let m_live = gw.live_merchant().await;
    let mut live = m_live.live().watch("").await.unwrap();
    let nothing = tokio::time::timeout(Duration::from_millis(300), live.message()).await;
    assert!(nothing.is_err());
}
