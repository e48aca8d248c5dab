//! Orders from Authorize to their end, as a merchant drives them.

use payscore_gateway::pb::v1::{self as pb, CollectionState, OrderState, UserAction};

use crate::harness::*;

#[tokio::test]
async fn sandbox_power_bank_order_reaches_paid() {
    let redis = RedisServer::start();
    let gw = TestGateway::on_redis(&redis).await;
    let m = gw.merchant().await;
    let s = m.sandbox();

    let created = s
        .authorize(authorize("pb-0001", "sbx_alice", 29_900, true))
        .await
        .unwrap();
    assert_eq!(created.decision(), pb::Decision::Approved);
    let order = created.order.unwrap();
    assert_eq!(order.state(), OrderState::Created);
    assert!(order.sandbox);
    assert_eq!(order.merchant_id, m.id);

    let confirmed = s.simulate("pb-0001", UserAction::Confirm).await.unwrap();
    assert_eq!(confirmed.state(), OrderState::Authorized);

    let mut complete = bill("pb-0001", 900);
    complete.post_discounts = vec![line("新用户优惠", 100)];
    complete.total_amount = 800;
    let completed = s.complete(complete).await.unwrap();
    assert_eq!(completed.total_amount, 800);
    assert_eq!(completed.post_discounts.len(), 1);

    // Complete already started the deduction; Deduct joins it, never doubles it.
    s.deduct("pb-0001").await.unwrap();
    let paid = s
        .wait_for("pb-0001", |o| o.state() == OrderState::Paid)
        .await;
    let collection = paid.collection.unwrap();
    assert_eq!(collection.state(), CollectionState::Paid);
    assert_eq!(collection.paid_amount, 800);
    assert_eq!(collection.attempts, 1);
    assert_eq!(collection.paid_via, "RAIL");
}

#[tokio::test]
async fn live_order_charges_the_rail_exactly_the_bill() {
    let redis = RedisServer::start();
    let (gw, rail, m) = TestGateway::live_with_rail(&redis, Behaviour::Succeed).await;
    let op = gw.operator();
    op.import(vec![("alice", 700, true)]).await.unwrap();
    let s = m.live();

    let approved = s
        .authorize(authorize("live-0001", "alice", 29_900, false))
        .await
        .unwrap();
    let order_id = approved.order.unwrap().order_id;
    s.complete(bill("live-0001", 1_500)).await.unwrap();
    s.deduct("live-0001").await.unwrap();
    let paid = s
        .wait_for("live-0001", |o| o.state() == OrderState::Paid)
        .await;
    assert_eq!(paid.collection.unwrap().paid_amount, 1_500);
    let moved = rail.money_moved_for(&order_id);
    assert_eq!(moved, vec![(format!("{order_id}-1"), 1_500)]);
    let user = op.get_user("alice").await.unwrap();
    assert!(
        user.unfinished_orders.is_empty(),
        "a paid order is finished: {user:?}"
    );
}

#[tokio::test]
async fn zero_bill_is_paid_without_a_charge() {
    let redis = RedisServer::start();
    let (gw, rail, m) = TestGateway::live_with_rail(&redis, Behaviour::Succeed).await;
    gw.operator()
        .import(vec![("bob", 700, true)])
        .await
        .unwrap();
    let s = m.live();
    s.authorize(authorize("zero-0001", "bob", 9_900, false))
        .await
        .unwrap();
    let paid = s.complete(bill("zero-0001", 0)).await.unwrap();
    assert_eq!(paid.state(), OrderState::Paid);
    assert_eq!(paid.collection.unwrap().paid_via, "ZERO_BILL");
    assert_eq!(rail.charge_calls(), 0);
}

#[tokio::test]
async fn cancel_ends_an_unstarted_order_and_frees_the_user() {
    let redis = RedisServer::start();
    let gw = TestGateway::on_redis(&redis).await;
    let m = gw.live_merchant().await;
    let op = gw.operator();
    op.import(vec![("carol", 700, true)]).await.unwrap();
    let s = m.live();
    s.authorize(authorize("cancel-01", "carol", 9_900, true))
        .await
        .unwrap();
    assert_eq!(
        op.get_user("carol").await.unwrap().unfinished_orders.len(),
        1
    );

    let revoked = s.cancel("cancel-01", "out of stock").await.unwrap();
    assert_eq!(revoked.state(), OrderState::Revoked);
    assert_eq!(revoked.reason, "out of stock");
    assert!(
        op.get_user("carol")
            .await
            .unwrap()
            .unfinished_orders
            .is_empty()
    );

    let err = s.complete(bill("cancel-01", 100)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    assert_eq!(reason(&err), "INVALID_STATE");
}

#[tokio::test]
async fn user_rejects_in_the_sandbox() {
    let redis = RedisServer::start();
    let gw = TestGateway::on_redis(&redis).await;
    let s = gw.merchant().await.sandbox();
    s.authorize(authorize("reject-01", "sbx_dave", 9_900, true))
        .await
        .unwrap();
    let rejected = s.simulate("reject-01", UserAction::Reject).await.unwrap();
    assert_eq!(rejected.state(), OrderState::Revoked);
    let err = s
        .simulate("reject-01", UserAction::Confirm)
        .await
        .unwrap_err();
    assert_eq!(reason(&err), "INVALID_STATE");
}

#[tokio::test]
async fn live_user_confirms_through_the_platform_app() {
    let redis = RedisServer::start();
    let gw = TestGateway::on_redis(&redis).await;
    let m = gw.live_merchant().await;
    let op = gw.operator();
    op.import(vec![("erin", 700, true)]).await.unwrap();
    m.live()
        .authorize(authorize("app-0001", "erin", 9_900, true))
        .await
        .unwrap();
    let confirmed = op
        .user_action(&m.id, "app-0001", UserAction::Confirm)
        .await
        .unwrap();
    assert_eq!(confirmed.state(), OrderState::Authorized);
}

#[tokio::test]
async fn modify_lowers_the_bill_before_it_is_collected() {
    let redis = RedisServer::start();
    let (gw, rail, m) = TestGateway::live_with_rail(&redis, Behaviour::Decline).await;
    gw.operator()
        .import(vec![("frank", 700, true)])
        .await
        .unwrap();
    let s = m.live();
    let order_id = s
        .authorize(authorize("modify-01", "frank", 29_900, false))
        .await
        .unwrap()
        .order
        .unwrap()
        .order_id;
    s.complete(bill("modify-01", 1_000)).await.unwrap();
    // The first charge is declined (insufficient funds): the bill stays due.
    let due = s
        .wait_for("modify-01", |o| {
            let c = o.collection.clone().unwrap();
            c.attempts >= 1 && c.state() == CollectionState::Due
        })
        .await;
    assert_eq!(due.state(), OrderState::Completed);

    let up = s.modify("modify-01", 1_200, "more").await.unwrap_err();
    assert_eq!(reason(&up), "AMOUNT_NOT_LOWER");
    assert_eq!(bad_field(&up), "total_amount");
    let lowered = s.modify("modify-01", 600, "coupon").await.unwrap();
    assert_eq!(lowered.total_amount, 600);
    assert_eq!(lowered.reason, "coupon");

    rail.set(Behaviour::Succeed);
    s.deduct("modify-01").await.unwrap();
    let paid = s
        .wait_for("modify-01", |o| o.state() == OrderState::Paid)
        .await;
    assert_eq!(paid.collection.unwrap().paid_amount, 600);
    let moved = rail.money_moved_for(&order_id);
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].1, 600, "the lowered bill is what is charged");
}

#[tokio::test]
async fn paid_offline_is_settled_by_sync_without_a_charge() {
    let redis = RedisServer::start();
    let (gw, rail, m) = TestGateway::live_with_rail(&redis, Behaviour::Decline).await;
    let op = gw.operator();
    op.import(vec![("grace", 700, true)]).await.unwrap();
    let s = m.live();
    let order_id = s
        .authorize(authorize("offline-1", "grace", 9_900, false))
        .await
        .unwrap()
        .order
        .unwrap()
        .order_id;
    s.complete(bill("offline-1", 500)).await.unwrap();
    s.wait_for("offline-1", |o| {
        let c = o.collection.clone().unwrap();
        c.attempts >= 1 && c.state() == CollectionState::Due
    })
    .await;

    op.user_action(&m.id, "offline-1", UserAction::PayOffline)
        .await
        .unwrap();
    // The user paid elsewhere: Deduct does not charge any more.
    rail.set(Behaviour::Succeed);
    let still = s.deduct("offline-1").await.unwrap();
    assert_eq!(still.state(), OrderState::Completed);

    let synced = s.sync("offline-1").await.unwrap();
    assert_eq!(synced.state(), OrderState::Paid);
    assert_eq!(synced.collection.unwrap().paid_via, "SYNC");
    assert!(rail.money_moved_for(&order_id).is_empty());
}
