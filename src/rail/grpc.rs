//! `PaymentRail` over gRPC, to the operator's processor.

use std::time::Duration;

use async_trait::async_trait;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use super::{ChargeOutcome, ChargeRequest, PaymentRail, RailError};
use crate::pb::rail::{self, ChargeStatus, payment_rail_client::PaymentRailClient};

pub struct GrpcRail {
    client: PaymentRailClient<Channel>,
}

impl GrpcRail {
    /// Connects lazily: a rail that is down at start-up delays deductions,
    /// not the gateway.
    pub fn new(endpoint: &str, timeout: Duration) -> Result<Self, tonic::transport::Error> {
        let channel = Endpoint::from_shared(endpoint.to_owned())?
            .timeout(timeout)
            .connect_timeout(timeout)
            .connect_lazy();
        Ok(Self {
            client: PaymentRailClient::new(channel),
        })
    }
}

fn rail_error(status: Status) -> RailError {
    match status.code() {
        Code::DeadlineExceeded | Code::Cancelled => RailError::Timeout,
        _ => RailError::Unavailable(status.message().to_owned()),
    }
}

fn outcome(response: rail::ChargeResponse) -> ChargeOutcome {
    match response.status() {
        ChargeStatus::Succeeded => ChargeOutcome::Succeeded,
        ChargeStatus::Declined => ChargeOutcome::Declined(response.decline_code),
        // An answer we cannot read is treated as not yet settled: asked again, never re-charged.
        ChargeStatus::Pending | ChargeStatus::Unspecified => ChargeOutcome::Pending,
    }
}

#[async_trait]
impl PaymentRail for GrpcRail {
    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeOutcome, RailError> {
        let message = rail::ChargeRequest {
            charge_id: request.charge_id.clone(),
            openid: request.openid.clone(),
            amount: request.amount,
            merchant_id: request.merchant_id.clone(),
            order_id: request.order_id.clone(),
            sandbox: request.sandbox,
        };
        let response = self
            .client
            .clone()
            .charge(message)
            .await
            .map_err(rail_error)?;
        Ok(outcome(response.into_inner()))
    }

    async fn get_charge(&self, charge_id: &str) -> Result<Option<ChargeOutcome>, RailError> {
        let request = rail::GetChargeRequest {
            charge_id: charge_id.to_owned(),
        };
        match self.client.clone().get_charge(request).await {
            Ok(response) => Ok(Some(outcome(response.into_inner()))),
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(rail_error(status)),
        }
    }
}
