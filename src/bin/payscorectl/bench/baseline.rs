//! The baselines the gateway is measured against, served by `payscorectl
//! bench-server` in their own process (so their CPU is their own):
//!
//! * `ceiling`: a bare tonic unary server answering Authorize from the
//!   request alone — what gRPC itself costs on this machine.
//! * `floor`: the same, plus one Redis round trip — a single EVALSHA that
//!   writes a record the size of a stored order — the least any durable
//!   gateway pays.

use std::sync::Arc;

use payscore_gateway::domain::Mode;
use payscore_gateway::domain::order::{Decision, Order, RiskFund, RiskFundName, Terms};
use payscore_gateway::pb::v1::{
    self as pb,
    orders_server::{Orders, OrdersServer},
};
use payscore_gateway::store::encode;
use redis::aio::MultiplexedConnection;
use tonic::{Request, Response, Status};

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Kind {
    /// The gateway itself (configured from PAYSCORE__ variables).
    Gateway,
    Ceiling,
    Floor,
}

struct Baseline {
    redis: Option<(MultiplexedConnection, redis::Script)>,
    record: Arc<Vec<u8>>,
}

/// What every benchmark order asks for: a 299-yuan power-bank deposit,
/// under the merchant's standing authorisation.
pub fn power_bank_terms(openid: String) -> Terms {
    Terms {
        service_id: "powerbank".into(),
        openid,
        risk_fund: RiskFund {
            name: RiskFundName::Deposit,
            amount: 29_900,
            description: "押金".into(),
        },
        service_introduction: "共享充电宝".into(),
        time_range: None,
        location: None,
        need_user_confirm: false,
        attach: String::new(),
    }
}

/// A record as large as the gateway stores for an Authorize.
pub fn order_sized_record() -> Vec<u8> {
    let terms = power_bank_terms("sbx_b12_123456".into());
    let order = Order::new(
        "o_0193b3c1a2b34c5d8e9f0a1b2c3d4e5f".into(),
        "b12-123456".into(),
        "m_0193b3c1a2b34c5d8e9f0a1b2c3d4e5f".into(),
        Mode::Sandbox,
        terms,
        Decision::Approved,
        1_763_700_000_000,
    );
    encode(&order)
}

#[tonic::async_trait]
impl Orders for Baseline {
    async fn authorize(
        &self,
        request: Request<pb::AuthorizeRequest>,
    ) -> Result<Response<pb::AuthorizeResponse>, Status> {
        let r = request.into_inner();
        if let Some((conn, script)) = &self.redis {
            let key = format!("floor:{{{}}}:{}", r.openid, r.out_order_no);
            script
                .key(key)
                .arg(self.record.as_slice())
                .invoke_async::<i64>(&mut conn.clone())
                .await
                .map_err(|e| Status::unavailable(e.to_string()))?;
        }
        let order = pb::Order {
            order_id: "o_baseline".into(),
            out_order_no: r.out_order_no,
            service_id: r.service_id,
            openid: r.openid,
            state: pb::OrderState::Authorized.into(),
            risk_fund: r.risk_fund,
            service_introduction: r.service_introduction,
            ..Default::default()
        };
        Ok(Response::new(pb::AuthorizeResponse {
            order: Some(order),
            decision: pb::Decision::Approved.into(),
            decline_reason: 0,
        }))
    }
}

pub async fn serve(
    kind: Kind,
    listen: std::net::SocketAddr,
    redis_url: Option<String>,
) -> Result<(), Box<dyn std::error::Error>> {
    let redis = match kind {
        Kind::Gateway => return super::serve_gateway().await,
        Kind::Ceiling => None,
        Kind::Floor => {
            let url = redis_url.ok_or("the floor baseline needs --redis")?;
            let conn = redis::Client::open(url)?
                .get_multiplexed_async_connection()
                .await?;
            // One script, one key, one write: the shape of the gateway's commit.
            let script = redis::Script::new("redis.call('SET', KEYS[1], ARGV[1]) return 1");
            Some((conn, script))
        }
    };
    let baseline = Baseline {
        redis,
        record: Arc::new(order_sized_record()),
    };
    tonic::transport::Server::builder()
        .add_service(OrdersServer::new(baseline))
        .serve(listen)
        .await?;
    Ok(())
}
