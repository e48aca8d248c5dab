//! The merchant must be able to retry anything: the same parameters give
//! the same answer; other parameters are refused without changing anything.

use payscore_gateway::pb::v1::{self as pb, OrderState, UserAction};
use tonic::Code;

use crate::harness::*;

#[tokio::test]
async fn authorize_repeats_return_the_original_order() {
    let redis = RedisServer::start();
    let gw = TestGateway::on_redis(&redis).await;
    let s = gw.merchant().await.sandbox();
    let first = s
        .authorize(authorize("idem-0001", "sbx_a", 9_900, true))
        .await
        .unwrap();
    let again = s
        .authorize(authorize("idem-0001", "sbx_a", 9_900, true))
        .await
        .unwrap();
    assert_eq!(again, first);

    let other_amount = s
        .authorize(authorize("idem-0001", "sbx_a", 9_800, true))
        .await
        .unwrap_err();
    assert_eq!(other_amount.code(), Code::AlreadyExists);
    assert_eq!(reason(&other_amount), "PARAM_MISMATCH");
    let other_user = s
        .authorize(authorize("idem-0001", "sbx_b", 9_900, true))
        .await
        .unwrap_err();
    assert_eq!(reason(&other_user), "PARAM_MISMATCH");
    let mut other_attach = authorize("idem-0001", "sbx_a", 9_900, true);
    other_attach.attach = "x".into();
    assert_eq!(
        reason(&s.authorize(other_attach).await.unwrap_err()),
        "PARAM_MISMATCH"
    );

    // The order is untouched by the refused calls.
    assert_eq!(s.get("idem-0001").await.unwrap(), first.order.unwrap());
}

#[tokio::test]
async fn a_declined_authorize_repeats_its_decline() {
    let redis = RedisServer::start();
    let gw = TestGateway::on_redis(&redis).await;
    let s = gw.merchant().await.sandbox();
    let first = s
        .authorize(authorize("idem-0002", "sbx_score_400", 9_900, true))
        .await
        .unwrap();
    assert_eq!(first.decision(), pb::Decision::Declined);
    let again = s
        .authorize(authorize("idem-0002", "sbx_score_400", 9_900, true))
        .await
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(again.decline_reason(), pb::DeclineReason::ScoreTooLow);
}

#[tokio::test]
async fn commands_repeat_with_the_same_parameters_only() {
    let redis = RedisServer::start();
    let gw = TestGateway::on_redis(&redis).await;
    let s = gw.merchant().await.sandbox();

    // Cancel.
    s.authorize(authorize("idem-0003", "sbx_c", 9_900, true))
        .await
        .unwrap();
    let cancelled = s.cancel("idem-0003", "no stock").await.unwrap();
    assert_eq!(s.cancel("idem-0003", "no stock").await.unwrap(), cancelled);
    let conflict = s.cancel("idem-0003", "other reason").await.unwrap_err();
    assert_eq!(conflict.code(), Code::FailedPrecondition);
    assert_eq!(reason(&conflict), "INVALID_STATE");

    // Complete.
    s.authorize(authorize("idem-0004", "sbx_c", 9_900, false))
        .await
        .unwrap();
    s.complete(bill("idem-0004", 700)).await.unwrap();
    let paid = s
        .wait_for("idem-0004", |o| o.state() == OrderState::Paid)
        .await;
    assert_eq!(s.complete(bill("idem-0004", 700)).await.unwrap(), paid);
    let other_bill = s.complete(bill("idem-0004", 600)).await.unwrap_err();
    assert_eq!(reason(&other_bill), "INVALID_STATE");

    // Deduct after PAID: the same order, no new attempt.
    let deducted = s.deduct("idem-0004").await.unwrap();
    assert_eq!(deducted, paid);
    assert_eq!(deducted.collection.unwrap().attempts, 1);

    // Confirm.
    s.authorize(authorize("idem-0005", "sbx_c", 9_900, true))
        .await
        .unwrap();
    let confirmed = s.simulate("idem-0005", UserAction::Confirm).await.unwrap();
    assert_eq!(
        s.simulate("idem-0005", UserAction::Confirm).await.unwrap(),
        confirmed
    );
}

#[tokio::test]
async fn modify_and_sync_repeat() {
    let redis = RedisServer::start();
    let (gw, _rail, m) = TestGateway::live_with_rail(&redis, Behaviour::Decline).await;
    gw.operator()
        .import(vec![("henry", 700, true)])
        .await
        .unwrap();
    let s = m.live();
    s.authorize(authorize("idem-0006", "henry", 9_900, false))
        .await
        .unwrap();
    s.complete(bill("idem-0006", 900)).await.unwrap();
    s.wait_for("idem-0006", |o| {
        let c = o.collection.clone().unwrap();
        c.attempts >= 1 && c.state() == pb::CollectionState::Due
    })
    .await;

    let modified = s.modify("idem-0006", 500, "coupon").await.unwrap();
    assert_eq!(
        s.modify("idem-0006", 500, "coupon").await.unwrap(),
        modified
    );

    let synced = s.sync("idem-0006").await.unwrap();
    assert_eq!(synced.state(), OrderState::Paid);
    assert_eq!(s.sync("idem-0006").await.unwrap(), synced);
    let late_modify = s.modify("idem-0006", 400, "late").await.unwrap_err();
    assert_eq!(reason(&late_modify), "INVALID_STATE");
}

#[tokio::test]
async fn sandbox_and_live_are_separate_namespaces() {
    let redis = RedisServer::start();
    let gw = TestGateway::on_redis(&redis).await;
    let m = gw.live_merchant().await;
    gw.operator()
        .import(vec![("sbx_twin", 700, true)])
        .await
        .unwrap();
    let test_order = m
        .sandbox()
        .authorize(authorize("twin-0001", "sbx_twin", 9_900, true))
        .await
        .unwrap();
    let live_order = m
        .live()
        .authorize(authorize("twin-0001", "sbx_twin", 9_900, true))
        .await
        .unwrap();
    let (t, l) = (test_order.order.unwrap(), live_order.order.unwrap());
    assert_ne!(t.order_id, l.order_id);
    assert!(t.sandbox && !l.sandbox);
    m.sandbox().cancel("twin-0001", "test").await.unwrap();
    assert_eq!(
        m.live().get("twin-0001").await.unwrap().state(),
        OrderState::Created
    );
}
