//! Time-driven work, driven by moving the clock: retries on their schedule,
//! expiry, collection stages and the risk tiers they feed; replicas that
//! share the work without doing it twice, and pick up a dead one's.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use payscore_gateway::clock::ManualClock;
use payscore_gateway::pb::v1::{self as pb, CollectionState, OrderState, OverdueStage, RiskTier};

use crate::harness::*;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * HOUR_MS;

fn attempts(o: &pb::Order) -> u32 {
    o.collection.clone().unwrap().attempts
}

/// Lets the job runners (polling every 25 ms) take several turns.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_declined_deduction_is_retried_on_its_schedule() {
    let redis = RedisServer::start();
    let (gw, rail, m) = TestGateway::live_with_rail(&redis, Behaviour::Decline).await;
    gw.operator()
        .import(vec![("nina", 700, true)])
        .await
        .unwrap();
    let s = m.live();
    let order_id = s
        .authorize(authorize("retry-001", "nina", 9_900, false))
        .await
        .unwrap()
        .order
        .unwrap()
        .order_id;
    s.complete(bill("retry-001", 700)).await.unwrap();
    // The first attempt is made without the merchant asking.
    s.wait_for("retry-001", |o| {
        attempts(o) == 1 && o.collection.clone().unwrap().state() == CollectionState::Due
    })
    .await;

    gw.clock.advance(59_000);
    settle().await;
    assert_eq!(
        attempts(&s.get("retry-001").await.unwrap()),
        1,
        "not before a minute has passed"
    );

    rail.set(Behaviour::Succeed);
    gw.clock.advance(2_000);
    let paid = s
        .wait_for("retry-001", |o| o.state() == OrderState::Paid)
        .await;
    assert_eq!(attempts(&paid), 2);
    assert_eq!(
        rail.money_moved_for(&order_id),
        vec![(format!("{order_id}-2"), 700)]
    );
}

#[tokio::test]
async fn an_unconfirmed_order_expires() {
    let redis = RedisServer::start();
    let (gw, _, m) = TestGateway::live_with_rail(&redis, Behaviour::Succeed).await;
    let op = gw.operator();
    op.import(vec![("otto", 700, true)]).await.unwrap();
    let s = m.live();
    s.authorize(authorize("expire-01", "otto", 9_900, true))
        .await
        .unwrap();
    gw.clock.advance(29 * MINUTE_MS);
    settle().await;
    assert_eq!(
        s.get("expire-01").await.unwrap().state(),
        OrderState::Created
    );
    gw.clock.advance(2 * MINUTE_MS);
    s.wait_for("expire-01", |o| o.state() == OrderState::Expired)
        .await;
    assert!(
        op.get_user("otto")
            .await
            .unwrap()
            .unfinished_orders
            .is_empty()
    );
    let late = s.complete(bill("expire-01", 100)).await.unwrap_err();
    assert_eq!(reason(&late), "INVALID_STATE");
}

#[tokio::test]
async fn unpaid_bills_walk_the_collection_stages_and_move_risk_tiers() {
    let redis = RedisServer::start();
    let (gw, _, m) = TestGateway::live_with_rail(&redis, Behaviour::Decline).await;
    let op = gw.operator();
    op.import(vec![("small", 700, true), ("large", 700, true)])
        .await
        .unwrap();
    let s = m.live();
    for (no, user, amount) in [
        ("small-001", "small", 1_000),
        ("small-002", "small", 1_000),
        ("large-001", "large", 29_900),
        ("large-002", "large", 29_900),
    ] {
        s.authorize(authorize(no, user, amount, false))
            .await
            .unwrap();
        s.complete(bill(no, amount)).await.unwrap();
        s.wait_for(no, |o| attempts(o) >= 1).await;
    }
    let stage = |o: &pb::Order| o.collection.clone().unwrap().overdue_stage();

    gw.clock.advance(DAY_MS + MINUTE_MS);
    let notified = s
        .wait_for("small-001", |o| stage(o) == OverdueStage::UserNotified)
        .await;
    assert_eq!(notified.state(), OrderState::Completed);
    for no in ["small-002", "large-001", "large-002"] {
        s.wait_for(no, |o| stage(o) == OverdueStage::UserNotified)
            .await;
    }
    // Two defaults in one month: WARNING. Over 500 yuan defaulted: FROZEN.
    let small = op.get_user("small").await.unwrap();
    assert_eq!(small.risk_tier(), RiskTier::Warning, "{small:?}");
    let large = op.get_user("large").await.unwrap();
    assert_eq!(large.risk_tier(), RiskTier::Frozen, "{large:?}");
    assert!(large.frozen_until.is_some());

    gw.clock.advance(2 * DAY_MS);
    s.wait_for("small-001", |o| stage(o) == OverdueStage::Negotiation)
        .await;
    gw.clock.advance(4 * DAY_MS);
    s.wait_for("small-001", |o| stage(o) == OverdueStage::Legal)
        .await;
}

#[tokio::test]
async fn replicas_share_the_work_and_do_each_job_once() {
    let redis = RedisServer::start();
    let (rail, endpoint) = FakeRail::start(Behaviour::Decline).await;
    let clock = Arc::new(ManualClock::new());
    let options = Options {
        redis_url: Some(redis.url()),
        rail_endpoint: Some(endpoint),
        key_prefix: Some("replicas".into()),
        clock: Some(clock.clone()),
        ..Options::default()
    };
    let a = TestGateway::start(options.clone()).await;
    let b = KillableGateway::start(options, &a.operator_public_pem).await;
    let m = a.live_merchant().await;
    a.operator()
        .import((0..20).map(|n| (USERS[n], 700, true)).collect())
        .await
        .unwrap();
    let on_a = m.live();
    let on_b = on_a.via(&b.channel);

    let orders = (0..20).map(|n| {
        let s = if n % 2 == 0 {
            on_a.clone()
        } else {
            on_b.clone()
        };
        async move {
            let no = format!("shared-{n:03}");
            s.authorize(authorize(&no, USERS[n], 1_000, false))
                .await
                .unwrap();
            s.complete(bill(&no, 1_000)).await.unwrap();
            no
        }
    });
    let numbers = join_all(orders).await;
    for no in &numbers {
        on_a.wait_for(no, |o| attempts(o) == 1).await;
    }
    clock.advance(61_000);
    for no in &numbers {
        on_a.wait_for(no, |o| attempts(o) == 2).await;
    }
    settle().await;
    for no in &numbers {
        assert_eq!(
            attempts(&on_a.get(no).await.unwrap()),
            2,
            "{no}: one retry, by one replica"
        );
    }
    assert_eq!(
        rail.charge_calls(),
        40,
        "each attempt reached the rail once"
    );
}

const USERS: [&str; 20] = [
    "r00", "r01", "r02", "r03", "r04", "r05", "r06", "r07", "r08", "r09", "r10", "r11", "r12",
    "r13", "r14", "r15", "r16", "r17", "r18", "r19",
];

#[tokio::test]
async fn a_dead_replicas_job_is_picked_up_after_its_lease() {
    let redis = RedisServer::start();
    // The rail takes the money but answers only after the replica has died.
    let (rail, endpoint) = FakeRail::start(Behaviour::SlowSuccess(Duration::from_secs(60))).await;
    let clock = Arc::new(ManualClock::new());
    let options = Options {
        redis_url: Some(redis.url()),
        rail_endpoint: Some(endpoint),
        rail_timeout_ms: Some(120_000),
        key_prefix: Some("lease".into()),
        clock: Some(clock.clone()),
        job_lease_ms: Some(60_000),
        charge_lease_ms: Some(30_000),
    };
    let (operator_private, operator_public) = payscore_gateway::auth::token::generate_key_pair();
    let mut a = KillableGateway::start(options.clone(), &operator_public).await;
    let op = operator_on(&a.channel, &operator_private);
    let m = merchant_on(&a.channel).await;
    op.set_stage(&m.id, pb::Stage::Production, "test")
        .await
        .unwrap();
    op.import(vec![("dying", 700, true)]).await.unwrap();
    let on_a = m.live();
    let order_id = on_a
        .authorize(authorize("dying-001", "dying", 1_000, false))
        .await
        .unwrap()
        .order
        .unwrap()
        .order_id;
    on_a.complete(bill("dying-001", 1_000)).await.unwrap();
    on_a.wait_for("dying-001", |o| {
        o.collection.clone().unwrap().state() == CollectionState::InProgress
    })
    .await;
    a.kill();

    let b = TestGateway::start(Options {
        clock: Some(clock.clone()),
        ..options
    })
    .await;
    let on_b = on_a.via(&b.channel);
    settle().await;
    let waiting = on_b.get("dying-001").await.unwrap();
    assert_eq!(
        waiting.state(),
        OrderState::Completed,
        "the dead replica's claim holds until its lease ends"
    );

    clock.advance(61_000);
    let paid = on_b
        .wait_for("dying-001", |o| o.state() == OrderState::Paid)
        .await;
    assert_eq!(
        attempts(&paid),
        1,
        "resolved by asking the rail, not by a new attempt"
    );
    assert_eq!(rail.money_moved_for(&order_id).len(), 1);
}
