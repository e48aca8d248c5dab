//! The payment rail: where money actually moves. The gateway is a client of
//! `payscore.rail.v1.PaymentRail`; operators put their processor behind it.
//! A charge is idempotent on its id, which is what lets the gateway resend
//! an attempt whose outcome it never heard without ever charging twice.

pub mod grpc;
pub mod simulated;

use async_trait::async_trait;

use crate::domain::Fen;

pub use grpc::GrpcRail;
pub use simulated::SimulatedRail;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChargeRequest {
    pub charge_id: String,
    pub openid: String,
    pub amount: Fen,
    pub merchant_id: String,
    pub order_id: String,
    pub sandbox: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChargeOutcome {
    Succeeded,
    /// Known not to have moved money; a new attempt may be made.
    Declined(String),
    /// Accepted, not settled: ask again later.
    Pending,
}

#[derive(Debug, thiserror::Error)]
pub enum RailError {
    /// No answer in time: the charge may or may not have happened.
    #[error("payment rail did not answer in time")]
    Timeout,
    #[error("payment rail unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait PaymentRail: Send + Sync + 'static {
    /// Charges once per `charge_id`; a repeat answers the first outcome.
    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeOutcome, RailError>;

    /// The outcome of a charge; `None` if the rail never received it.
    async fn get_charge(&self, charge_id: &str) -> Result<Option<ChargeOutcome>, RailError>;
}
