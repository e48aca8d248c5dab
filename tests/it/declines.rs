//! Every decline reason, each from the state that causes it. A decline is
//! an answer (decision DECLINED), not an error.

use payscore_gateway::pb::v1::{self as pb, DeclineReason, OrderState, RiskTier, Stage};
use tonic::Code;

use crate::harness::*;

fn declined(response: &pb::AuthorizeResponse) -> DeclineReason {
    assert_eq!(response.decision(), pb::Decision::Declined);
    assert_eq!(
        response.order.as_ref().unwrap().state(),
        OrderState::Declined
    );
    response.decline_reason()
}

#[tokio::test]
async fn enrollment_score_and_band() {
    let redis = RedisServer::start();
    let (gw, _, m) = TestGateway::live_with_rail(&redis, Behaviour::Succeed).await;
    let op = gw.operator();
    op.import(vec![
        ("low", 540, true),
        ("optout", 800, false),
        ("mid", 620, true),
    ])
    .await
    .unwrap();
    m.upsert_service("premium", 600, 100_000).await.unwrap();
    let s = m.live();

    let unknown = s
        .authorize(authorize("dec-00001", "nobody", 9_900, true))
        .await
        .unwrap();
    assert_eq!(
        declined(&unknown),
        DeclineReason::NotEnrolled,
        "no score on record"
    );
    let optout = s
        .authorize(authorize("dec-00002", "optout", 9_900, true))
        .await
        .unwrap();
    assert_eq!(declined(&optout), DeclineReason::NotEnrolled);
    let low = s
        .authorize(authorize("dec-00003", "low", 9_900, true))
        .await
        .unwrap();
    assert_eq!(
        declined(&low),
        DeclineReason::ScoreTooLow,
        "below the 550 floor"
    );

    let mut premium = authorize("dec-00004", "low", 9_900, true);
    premium.service_id = "premium".into();
    op.import(vec![("low", 580, true)]).await.unwrap();
    let below_service = s.authorize(premium).await.unwrap();
    assert_eq!(
        declined(&below_service),
        DeclineReason::ScoreTooLow,
        "below the service's 600"
    );

    // The default band waives at most 29 900 fen, whatever the service allows.
    let mut big = authorize("dec-00005", "mid", 30_000, true);
    big.service_id = "premium".into();
    let too_high = s.authorize(big).await.unwrap();
    assert_eq!(declined(&too_high), DeclineReason::RiskFundTooHigh);

    let ok = s
        .authorize(authorize("dec-00006", "mid", 29_900, true))
        .await
        .unwrap();
    assert_eq!(ok.decision(), pb::Decision::Approved);
}

#[tokio::test]
async fn risk_tiers() {
    let redis = RedisServer::start();
    let (gw, _, m) = TestGateway::live_with_rail(&redis, Behaviour::Succeed).await;
    let op = gw.operator();
    op.import(vec![
        ("warned", 700, true),
        ("frozen", 700, true),
        ("evader", 700, true),
    ])
    .await
    .unwrap();
    let s = m.live();

    op.set_risk("warned", RiskTier::Warning).await.unwrap();
    let high = s
        .authorize(authorize("tier-0001", "warned", 10_001, true))
        .await
        .unwrap();
    assert_eq!(declined(&high), DeclineReason::RiskLimited);
    let low = s
        .authorize(authorize("tier-0002", "warned", 5_000, true))
        .await
        .unwrap();
    assert_eq!(
        low.decision(),
        pb::Decision::Approved,
        "low value is still admitted"
    );

    let user = op.set_risk("frozen", RiskTier::Frozen).await.unwrap();
    assert!(user.frozen_until.is_some());
    let frozen = s
        .authorize(authorize("tier-0003", "frozen", 100, true))
        .await
        .unwrap();
    assert_eq!(declined(&frozen), DeclineReason::UserFrozen);
    gw.clock.advance(31 * 24 * HOUR_MS);
    let thawed = s
        .authorize(authorize("tier-0004", "frozen", 100, true))
        .await
        .unwrap();
    assert_eq!(
        thawed.decision(),
        pb::Decision::Approved,
        "a freeze lasts 30 days"
    );

    op.set_risk("evader", RiskTier::Blacklisted).await.unwrap();
    let black = s
        .authorize(authorize("tier-0005", "evader", 100, true))
        .await
        .unwrap();
    assert_eq!(declined(&black), DeclineReason::Blacklisted);
}

#[tokio::test]
async fn at_most_three_unfinished_orders() {
    let redis = RedisServer::start();
    let (gw, _, m) = TestGateway::live_with_rail(&redis, Behaviour::Succeed).await;
    gw.operator()
        .import(vec![("busy", 700, true)])
        .await
        .unwrap();
    let s = m.live();
    for n in 1..=3 {
        let r = s
            .authorize(authorize(&format!("busy-000{n}"), "busy", 1_000, true))
            .await
            .unwrap();
        assert_eq!(r.decision(), pb::Decision::Approved);
    }
    let fourth = s
        .authorize(authorize("busy-0004", "busy", 1_000, true))
        .await
        .unwrap();
    assert_eq!(declined(&fourth), DeclineReason::TooManyActiveOrders);
    // A declined order is not unfinished; ending one frees a place.
    s.cancel("busy-0001", "user left").await.unwrap();
    let fifth = s
        .authorize(authorize("busy-0005", "busy", 1_000, true))
        .await
        .unwrap();
    assert_eq!(fifth.decision(), pb::Decision::Approved);
}

#[tokio::test]
async fn an_overdue_order_blocks_until_paid() {
    let redis = RedisServer::start();
    let (gw, rail, m) = TestGateway::live_with_rail(&redis, Behaviour::Decline).await;
    let op = gw.operator();
    op.import(vec![("late", 700, true)]).await.unwrap();
    let s = m.live();
    s.authorize(authorize("late-0001", "late", 5_000, false))
        .await
        .unwrap();
    s.complete(bill("late-0001", 2_000)).await.unwrap();
    s.wait_for("late-0001", |o| o.collection.clone().unwrap().attempts >= 1)
        .await;

    let soon = s
        .authorize(authorize("late-0002", "late", 1_000, true))
        .await
        .unwrap();
    assert_eq!(
        soon.decision(),
        pb::Decision::Approved,
        "not overdue within 24 h"
    );
    s.cancel("late-0002", "test").await.unwrap();

    gw.clock.advance(25 * HOUR_MS);
    let blocked = s
        .authorize(authorize("late-0003", "late", 1_000, true))
        .await
        .unwrap();
    assert_eq!(declined(&blocked), DeclineReason::HasOverdueOrder);
    assert_eq!(
        op.get_user("late").await.unwrap().overdue_orders,
        vec![format!("{}/late-0001", m.id)]
    );

    rail.set(Behaviour::Succeed);
    s.deduct("late-0001").await.unwrap();
    s.wait_for("late-0001", |o| o.state() == OrderState::Paid)
        .await;
    let cleared = s
        .authorize(authorize("late-0004", "late", 1_000, true))
        .await
        .unwrap();
    assert_eq!(
        cleared.decision(),
        pb::Decision::Approved,
        "paying clears the block"
    );
}

#[tokio::test]
async fn canary_admits_only_its_sample() {
    let redis = RedisServer::start();
    let (gw, _, m) = TestGateway::live_with_rail(&redis, Behaviour::Succeed).await;
    let op = gw.operator();
    op.import(vec![("sampled", 700, true)]).await.unwrap();
    op.set_stage(&m.id, Stage::Canary, "start canary")
        .await
        .unwrap();
    // A fresh canary samples nobody until the operator configures it.
    let out = m
        .live()
        .authorize(authorize("can-00001", "sampled", 1_000, true))
        .await
        .unwrap();
    assert_eq!(declined(&out), DeclineReason::NotInCanary);
}

#[tokio::test]
async fn a_sandbox_merchant_cannot_go_live() {
    let redis = RedisServer::start();
    let gw = TestGateway::on_redis(&redis).await;
    let m = gw.merchant().await;
    let err = m
        .live()
        .authorize(authorize("early-001", "alice", 1_000, true))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err), "MERCHANT_NOT_LIVE");
}

#[tokio::test]
async fn sandbox_scores_come_from_the_openid() {
    let redis = RedisServer::start();
    let gw = TestGateway::on_redis(&redis).await;
    let s = gw.merchant().await.sandbox();
    let low = s
        .authorize(authorize("sbx-00001", "sbx_score_500", 1_000, true))
        .await
        .unwrap();
    assert_eq!(declined(&low), DeclineReason::ScoreTooLow);
    let ok = s
        .authorize(authorize("sbx-00002", "sbx_score_720", 1_000, true))
        .await
        .unwrap();
    assert_eq!(ok.decision(), pb::Decision::Approved);
}
