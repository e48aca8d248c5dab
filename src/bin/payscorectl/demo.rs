//! `payscorectl demo`: one power-bank order end to end in the sandbox —
//! apply → service → authorize → user confirms → complete → deduct → PAID.

use std::time::Duration;

use payscore_gateway::auth::token;
use payscore_gateway::pb::v1::{
    self as pb, orders_client::OrdersClient, sandbox_client::SandboxClient,
};

use super::Result;
use super::client::{Ctl, authed};

fn show(step: &str, order: &pb::Order) {
    let collection = order.collection.clone().unwrap_or_default();
    println!(
        "{step:<28} state={:<10} total={:>5} fen  collection={} attempts={} paid={} fen",
        order
            .state()
            .as_str_name()
            .trim_start_matches("ORDER_STATE_"),
        order.total_amount,
        collection
            .state()
            .as_str_name()
            .trim_start_matches("COLLECTION_STATE_"),
        collection.attempts,
        collection.paid_amount,
    );
}

pub async fn run(ctl: &Ctl) -> Result {
    let (private, _) = token::generate_key_pair();
    let creds = ctl
        .apply(
            "Demo Power Bank",
            "京ICP备12345678号",
            "3.0",
            &private,
            "http://127.0.0.1:8080/payscore/notify",
        )
        .await?;
    // Saved like `apply` does, so `token` and `platform-keys` work after the demo.
    ctl.save_credentials(&creds)?;
    println!(
        "1. applied                    merchant_id={} key_id={} stage=SANDBOX",
        creds.merchant_id, creds.key_id
    );
    let service = ctl
        .upsert_service(&creds, "powerbank-hourly", "充电宝按小时租借", 550, 29_900)
        .await?;
    println!(
        "2. service                    {} min_score={} max_risk_fund={} fen",
        service.service_id, service.min_score, service.max_risk_fund
    );

    let bearer = creds.token("sandbox", 300)?;
    let channel = ctl.channel().await?;
    let mut orders = OrdersClient::new(channel.clone());
    let mut sandbox = SandboxClient::new(channel);
    let out_order_no = format!("demo{}", token::unix_now());

    let authorize = pb::AuthorizeRequest {
        service_id: service.service_id.clone(),
        out_order_no: out_order_no.clone(),
        openid: "sbx_demo_user".into(),
        risk_fund: Some(pb::RiskFund {
            name: pb::RiskFundName::Deposit.into(),
            amount: 29_900,
            description: "充电宝押金".into(),
        }),
        service_introduction: "共享充电宝".into(),
        need_user_confirm: true,
        ..Default::default()
    };
    let response = orders
        .authorize(authed(authorize, &bearer)?)
        .await?
        .into_inner();
    println!(
        "3. authorize                  decision={}",
        response.decision().as_str_name()
    );
    show("   order", &response.order.unwrap_or_default());

    let confirm = pb::SimulateUserRequest {
        out_order_no: out_order_no.clone(),
        action: pb::UserAction::Confirm.into(),
        amount: 0,
    };
    let confirmed = sandbox
        .simulate_user(authed(confirm, &bearer)?)
        .await?
        .into_inner();
    show("4. user confirms", &confirmed.order.unwrap_or_default());

    let line = |name: &str, amount| pb::BillLine {
        name: name.into(),
        amount,
        description: String::new(),
        count: 1,
    };
    let complete = pb::CompleteRequest {
        out_order_no: out_order_no.clone(),
        post_payments: vec![line("租借3小时", 900)],
        post_discounts: vec![line("新用户优惠", 100)],
        total_amount: 800,
    };
    show(
        "5. complete (bill 800 fen)",
        &orders
            .complete(authed(complete, &bearer)?)
            .await?
            .into_inner(),
    );

    let deduct = pb::DeductRequest {
        out_order_no: out_order_no.clone(),
    };
    show(
        "6. deduct",
        &orders.deduct(authed(deduct, &bearer)?).await?.into_inner(),
    );

    // A deduction started by Complete may still be in flight: poll briefly.
    for _ in 0..50 {
        let get = pb::GetOrderRequest {
            out_order_no: out_order_no.clone(),
        };
        let order = orders.get_order(authed(get, &bearer)?).await?.into_inner();
        if order.state() == pb::OrderState::Paid {
            show("7. get order", &order);
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("order {out_order_no} did not reach PAID").into())
}
