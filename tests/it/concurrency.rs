//! Retries and races never create two orders or charge twice.

use std::time::Duration;

use futures_util::future::join_all;
use payscore_gateway::pb::v1::{self as pb, OrderState};

use crate::harness::*;

#[tokio::test]
async fn fifty_concurrent_authorizes_create_one_order() {
    let redis = RedisServer::start();
    let gw = TestGateway::on_redis(&redis).await;
    let m = gw.live_merchant().await;
    let op = gw.operator();
    op.import(vec![("ivy", 700, true)]).await.unwrap();
    let s = m.live();
    let calls = (0..50).map(|_| {
        let s = s.clone();
        async move {
            s.authorize(authorize("race-0001", "ivy", 9_900, true))
                .await
        }
    });
    let responses: Vec<_> = join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let first = responses[0].order.clone().unwrap();
    for response in &responses {
        assert_eq!(response.order.as_ref().unwrap().order_id, first.order_id);
    }
    let user = op.get_user("ivy").await.unwrap();
    assert_eq!(
        user.unfinished_orders,
        vec![format!("{}/race-0001", m.id)],
        "one order, counted once"
    );
}

#[tokio::test]
async fn fifty_concurrent_deducts_charge_once() {
    let redis = RedisServer::start();
    // The first attempt (started by Complete) is declined, so the 50
    // Deducts race to open the next one: none is open when they start.
    let (gw, rail, m) = TestGateway::live_with_rail(&redis, Behaviour::Decline).await;
    gw.operator()
        .import(vec![("jack", 700, true)])
        .await
        .unwrap();
    let s = m.live();
    let order_id = s
        .authorize(authorize("race-0002", "jack", 9_900, false))
        .await
        .unwrap()
        .order
        .unwrap()
        .order_id;
    s.complete(bill("race-0002", 2_500)).await.unwrap();
    s.wait_for("race-0002", |o| {
        let c = o.collection.clone().unwrap();
        c.attempts == 1 && c.state() == pb::CollectionState::Due
    })
    .await;
    rail.set(Behaviour::Succeed);
    let calls = (0..50).map(|_| {
        let s = s.clone();
        async move { s.deduct("race-0002").await }
    });
    for result in join_all(calls).await {
        result.expect("every Deduct answers the order");
    }
    let paid = s
        .wait_for("race-0002", |o| o.state() == OrderState::Paid)
        .await;
    let collection = paid.collection.unwrap();
    assert_eq!(collection.paid_amount, 2_500);
    assert_eq!(
        collection.attempts, 2,
        "one declined attempt, then exactly one more"
    );
    assert_eq!(
        rail.money_moved_for(&order_id),
        vec![(format!("{order_id}-2"), 2_500)],
        "exactly one charge moved money"
    );
}

#[tokio::test]
async fn a_timed_out_charge_is_asked_about_not_repeated() {
    let redis = RedisServer::start();
    let (rail, endpoint) =
        FakeRail::start(Behaviour::SlowSuccess(Duration::from_millis(800))).await;
    let gw = TestGateway::start(Options {
        redis_url: Some(redis.url()),
        rail_endpoint: Some(endpoint),
        rail_timeout_ms: Some(200),
        ..Options::default()
    })
    .await;
    let m = gw.live_merchant().await;
    gw.operator()
        .import(vec![("kate", 700, true)])
        .await
        .unwrap();
    let s = m.live();
    let order_id = s
        .authorize(authorize("slow-0001", "kate", 9_900, false))
        .await
        .unwrap()
        .order
        .unwrap()
        .order_id;
    s.complete(bill("slow-0001", 1_200)).await.unwrap();
    // The rail takes the money but answers after the gateway gave up; the
    // merchant keeps asking until the outcome is resolved.
    let mut paid = None;
    for _ in 0..100 {
        let order = s.deduct("slow-0001").await.unwrap();
        if order.state() == OrderState::Paid {
            paid = Some(order);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let paid = paid.expect("the unknown outcome was resolved");
    assert_eq!(
        paid.collection.unwrap().attempts,
        1,
        "resolved by asking, not by a new attempt"
    );
    assert_eq!(
        rail.money_moved_for(&order_id),
        vec![(format!("{order_id}-1"), 1_200)]
    );
}
