//! Every field limit answers INVALID_ARGUMENT naming the field, and stores nothing.

use payscore_gateway::pb::v1::{self as pb};
use tonic::Code;

use crate::harness::*;

fn assert_invalid(status: &tonic::Status, field: &str, why: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{why}: {status:?}");
    assert_eq!(bad_field(status), field, "{why}");
}

#[tokio::test]
async fn authorize_limits() {
    let redis = RedisServer::start();
    let gw = TestGateway::on_redis(&redis).await;
    let s = gw.merchant().await.sandbox();
    type Mutate = fn(&mut pb::AuthorizeRequest);
    let cases: Vec<(&str, &str, Mutate)> = vec![
        ("out_order_no", "5 characters", |r| {
            r.out_order_no = "abcde".into()
        }),
        ("out_order_no", "33 characters", |r| {
            r.out_order_no = "a".repeat(33)
        }),
        ("out_order_no", "a space", |r| {
            r.out_order_no = "abc 1234".into()
        }),
        ("service_id", "empty", |r| r.service_id = String::new()),
        ("openid", "empty", |r| r.openid = String::new()),
        ("openid", "a brace", |r| r.openid = "sbx_{x}".into()),
        ("openid", "not a sandbox user", |r| {
            r.openid = "alice".into()
        }),
        ("risk_fund", "missing", |r| r.risk_fund = None),
        ("risk_fund.name", "unspecified", |r| {
            r.risk_fund.as_mut().unwrap().name = 0
        }),
        ("risk_fund.amount", "zero", |r| {
            r.risk_fund.as_mut().unwrap().amount = 0
        }),
        ("risk_fund.amount", "negative", |r| {
            r.risk_fund.as_mut().unwrap().amount = -1
        }),
        ("risk_fund.amount", "above the service's max", |r| {
            r.risk_fund.as_mut().unwrap().amount = 29_901
        }),
        ("risk_fund.description", "31 characters", |r| {
            r.risk_fund.as_mut().unwrap().description = "押".repeat(31)
        }),
        ("service_introduction", "empty", |r| {
            r.service_introduction = String::new()
        }),
        ("service_introduction", "21 characters", |r| {
            r.service_introduction = "充".repeat(21)
        }),
        ("attach", "257 bytes", |r| r.attach = "a".repeat(257)),
        ("time_range.start_time", "15 characters", |r| {
            r.time_range = Some(pb::TimeRange {
                start_time: "2".repeat(15),
                ..Default::default()
            })
        }),
        ("location.start_location", "51 characters", |r| {
            r.location = Some(pb::Location {
                start_location: "a".repeat(51),
                ..Default::default()
            })
        }),
    ];
    for (n, (field, why, mutate)) in cases.into_iter().enumerate() {
        let mut request = authorize(&format!("valid-{n:04}"), "sbx_val", 9_900, true);
        mutate(&mut request);
        let out_order_no = request.out_order_no.clone();
        let err = s.authorize(request).await.unwrap_err();
        assert_invalid(&err, field, why);
        if out_order_no.len() >= 6 && out_order_no.len() <= 32 && !out_order_no.contains(' ') {
            let lookup = s.get(&out_order_no).await.unwrap_err();
            assert_eq!(lookup.code(), Code::NotFound, "{why}: nothing stored");
        }
    }
    // Boundaries that are allowed.
    let mut max = authorize(&"b".repeat(32), "sbx_val", 29_900, true);
    max.service_introduction = "充".repeat(20);
    max.attach = "a".repeat(256);
    s.authorize(max).await.expect("limits are inclusive");
}

#[tokio::test]
async fn bill_limits() {
    let redis = RedisServer::start();
    let gw = TestGateway::on_redis(&redis).await;
    let s = gw.merchant().await.sandbox();
    s.authorize(authorize("bill-0001", "sbx_val", 9_900, false))
        .await
        .unwrap();
    type Mutate = fn(&mut pb::CompleteRequest);
    let cases: Vec<(&str, &str, Mutate)> = vec![
        ("post_payments", "no lines", |r| r.post_payments.clear()),
        ("post_payments", "101 lines", |r| {
            r.post_payments = (0..101).map(|_| line("x", 0)).collect();
            r.total_amount = 0;
        }),
        ("post_discounts", "31 lines", |r| {
            r.post_discounts = (0..31).map(|_| line("d", 1)).collect()
        }),
        ("post_payments.name", "21 characters", |r| {
            r.post_payments[0].name = "租".repeat(21)
        }),
        ("post_payments.name", "empty", |r| {
            r.post_payments[0].name = String::new()
        }),
        ("post_payments.description", "31 characters", |r| {
            r.post_payments[0].description = "a".repeat(31)
        }),
        ("post_payments.count", "101", |r| {
            r.post_payments[0].count = 101
        }),
        ("post_payments.amount", "negative", |r| {
            r.post_payments[0].amount = -1
        }),
        ("post_discounts.amount", "zero", |r| {
            r.post_discounts = vec![line("d", 0)]
        }),
        ("total_amount", "not the sum", |r| r.total_amount = 499),
        ("total_amount", "above the risk fund", |r| {
            r.post_payments[0].amount = 10_000;
            r.total_amount = 10_000;
        }),
    ];
    for (field, why, mutate) in cases {
        let mut request = bill("bill-0001", 500);
        mutate(&mut request);
        let err = s.complete(request).await.unwrap_err();
        assert_invalid(&err, field, why);
    }
    let untouched = s.get("bill-0001").await.unwrap();
    assert_eq!(
        untouched.state(),
        pb::OrderState::Authorized,
        "refused bills change nothing"
    );

    for (reason_text, why) in [("", "empty"), (&*"r".repeat(51), "51 characters")] {
        assert_invalid(
            &s.cancel("bill-0001", reason_text).await.unwrap_err(),
            "reason",
            why,
        );
    }
    assert_invalid(
        &s.modify("bill-0001", -1, "x").await.unwrap_err(),
        "total_amount",
        "negative",
    );
}

#[tokio::test]
async fn apply_and_service_limits() {
    let redis = RedisServer::start();
    let gw = TestGateway::on_redis(&redis).await;
    let (_, public) = payscore_gateway::auth::token::generate_key_pair();
    type Mutate = fn(&mut pb::ApplyRequest);
    let cases: Vec<(&str, &str, &str, Mutate)> = vec![
        ("merchant_name", "INVALID_FIELD", "empty", |r| {
            r.merchant_name = String::new()
        }),
        (
            "icp_filing_number",
            "INVALID_ICP_FILING_NUMBER",
            "no 号",
            |r| r.icp_filing_number = "京ICP备12345678".into(),
        ),
        (
            "icp_filing_number",
            "INVALID_ICP_FILING_NUMBER",
            "no province",
            |r| r.icp_filing_number = "ICP备12345678号".into(),
        ),
        ("api_version", "API_VERSION_TOO_OLD", "2.0", |r| {
            r.api_version = "2.0".into()
        }),
        ("api_version", "INVALID_FIELD", "not a version", |r| {
            r.api_version = "three".into()
        }),
        ("public_key_pem", "INVALID_PUBLIC_KEY", "garbage", |r| {
            r.public_key_pem = "-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----".into()
        }),
        (
            "notify_url",
            "INVALID_NOTIFY_URL",
            "plain http off loopback",
            |r| r.notify_url = "http://merchant.example/notify".into(),
        ),
    ];
    for (field, expected_reason, why, mutate) in cases {
        let mut request = apply_request(&public);
        mutate(&mut request);
        let err = gw.onboarding().apply(request).await.unwrap_err();
        assert_invalid(&err, field, why);
        assert_eq!(reason(&err), expected_reason, "{why}");
    }
    let ok = gw
        .onboarding()
        .apply(apply_request(&public))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ok.stage(), pb::Stage::Sandbox);
    assert_eq!(ok.api_v3_key.len(), 32);
    assert!(ok.api_v3_key.is_ascii());

    let m = gw.merchant().await;
    let floor = m.upsert_service("cheap", 549, 1_000).await.unwrap_err();
    assert_invalid(&floor, "min_score", "below 550");
    assert_eq!(reason(&floor), "MIN_SCORE_BELOW_FLOOR");
    assert_invalid(
        &m.upsert_service("free", 600, 0).await.unwrap_err(),
        "max_risk_fund",
        "zero",
    );
    assert_invalid(
        &m.upsert_service("bad id!", 600, 100).await.unwrap_err(),
        "service_id",
        "a space",
    );
}

#[tokio::test]
async fn score_import_rejects_bad_rows_and_keeps_good_ones() {
    let redis = RedisServer::start();
    let gw = TestGateway::on_redis(&redis).await;
    let op = gw.operator();
    let response = op
        .import(vec![
            ("good1", 700, true),
            ("bad", 900, true),
            ("", 600, true),
            ("good2", 300, false),
        ])
        .await
        .unwrap();
    assert_eq!((response.imported, response.rejected), (2, 2));
    assert!(
        response.errors[0].starts_with("row 2: score"),
        "{:?}",
        response.errors
    );
    assert_eq!(op.get_user("good2").await.unwrap().score, 300);
    let missing = op.get_user("bad").await.unwrap_err();
    assert_eq!(reason(&missing), "USER_NOT_FOUND");
}
