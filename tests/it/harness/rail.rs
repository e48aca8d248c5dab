//! A payment rail the tests control, served over real gRPC so the gateway's
//! rail client is exercised too. It records every charge that moved money.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use payscore_gateway::pb::rail::{
    self as pb, ChargeStatus,
    payment_rail_server::{PaymentRail, PaymentRailServer},
};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

/// How the rail answers new charges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    Succeed,
    /// Declines `INSUFFICIENT_FUNDS` (no money moves).
    Decline,
    /// Moves the money but answers only after this long (past the
    /// gateway's rail timeout): the gateway cannot know the outcome.
    SlowSuccess(Duration),
}

#[derive(Default)]
struct Ledger {
    behaviour: Option<Behaviour>,
    charges: HashMap<String, ChargeStatus>,
    /// (order_id, charge_id, amount) of every charge that moved money.
    moved: Vec<(String, String, i64)>,
    charge_calls: usize,
}

#[derive(Clone)]
pub struct FakeRail {
    ledger: Arc<Mutex<Ledger>>,
}

impl FakeRail {
    /// Serves on a free loopback port; returns the rail and its endpoint.
    pub async fn start(behaviour: Behaviour) -> (Self, String) {
        let rail = Self {
            ledger: Arc::new(Mutex::new(Ledger {
                behaviour: Some(behaviour),
                ..Ledger::default()
            })),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let service = PaymentRailServer::new(rail.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        (rail, format!("http://{addr}"))
    }

    pub fn set(&self, behaviour: Behaviour) {
        self.ledger.lock().unwrap().behaviour = Some(behaviour);
    }

    /// Charges that moved money for `order_id`.
    pub fn money_moved_for(&self, order_id: &str) -> Vec<(String, i64)> {
        let ledger = self.ledger.lock().unwrap();
        ledger
            .moved
            .iter()
            .filter(|(o, _, _)| o == order_id)
            .map(|(_, c, a)| (c.clone(), *a))
            .collect()
    }

    pub fn charge_calls(&self) -> usize {
        self.ledger.lock().unwrap().charge_calls
    }
}

#[tonic::async_trait]
impl PaymentRail for FakeRail {
    async fn charge(
        &self,
        request: Request<pb::ChargeRequest>,
    ) -> Result<Response<pb::ChargeResponse>, Status> {
        let r = request.into_inner();
        let (status, delay) = {
            let mut ledger = self.ledger.lock().unwrap();
            ledger.charge_calls += 1;
            let behaviour = ledger.behaviour.expect("set at start");
            match ledger.charges.get(&r.charge_id) {
                // Idempotent on the charge id, as the contract requires.
                Some(status) => (*status, None),
                None => {
                    let (status, delay) = match behaviour {
                        Behaviour::Succeed => (ChargeStatus::Succeeded, None),
                        Behaviour::Decline => (ChargeStatus::Declined, None),
                        Behaviour::SlowSuccess(d) => (ChargeStatus::Succeeded, Some(d)),
                    };
                    ledger.charges.insert(r.charge_id.clone(), status);
                    if status == ChargeStatus::Succeeded {
                        ledger
                            .moved
                            .push((r.order_id.clone(), r.charge_id.clone(), r.amount));
                    }
                    (status, delay)
                }
            }
        };
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let decline_code = if status == ChargeStatus::Declined {
            "INSUFFICIENT_FUNDS"
        } else {
            ""
        };
        Ok(Response::new(pb::ChargeResponse {
            charge_id: r.charge_id,
            status: status.into(),
            decline_code: decline_code.into(),
        }))
    }

    async fn get_charge(
        &self,
        request: Request<pb::GetChargeRequest>,
    ) -> Result<Response<pb::ChargeResponse>, Status> {
        let charge_id = request.into_inner().charge_id;
        let ledger = self.ledger.lock().unwrap();
        match ledger.charges.get(&charge_id) {
            Some(status) => Ok(Response::new(pb::ChargeResponse {
                charge_id,
                status: (*status).into(),
                decline_code: String::new(),
            })),
            None => Err(Status::not_found("no such charge")),
        }
    }
}
