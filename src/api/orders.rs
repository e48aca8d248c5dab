//! `payscore.v1.Orders`.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{convert, fail, merchant, record_order};
use crate::app::{App, AuthorizeInput};
use crate::domain::Mode;
use crate::pb::v1::{self as pb, orders_server::Orders};

/// Metadata key a sandbox call names its scenario with.
pub const SCENARIO_HEADER: &str = "x-sandbox-scenario";

pub struct OrdersApi {
    app: Arc<App>,
}

impl OrdersApi {
    pub fn new(app: Arc<App>) -> Self {
        Self { app }
    }
}

type Reply<T> = Result<Response<T>, Status>;

fn order_reply(order: crate::domain::order::Order) -> Reply<pb::Order> {
    Ok(Response::new(convert::order(&order)))
}

#[tonic::async_trait]
impl Orders for OrdersApi {
    async fn authorize(
        &self,
        request: Request<pb::AuthorizeRequest>,
    ) -> Reply<pb::AuthorizeResponse> {
        let scope = merchant(&request)?;
        let scenario = match scope.mode {
            Mode::Sandbox => request
                .metadata()
                .get(SCENARIO_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            Mode::Live => None,
        };
        let request = request.into_inner();
        record_order(&request.out_order_no);
        let terms = convert::terms(&request).map_err(fail)?;
        let input = AuthorizeInput {
            out_order_no: request.out_order_no,
            terms,
            scenario,
        };
        let order = self.app.authorize(&scope, input).await.map_err(fail)?;
        let (decision, decline_reason) = convert::decision(order.decision);
        Ok(Response::new(pb::AuthorizeResponse {
            order: Some(convert::order(&order)),
            decision: decision.into(),
            decline_reason: decline_reason.into(),
        }))
    }

    async fn complete(&self, request: Request<pb::CompleteRequest>) -> Reply<pb::Order> {
        let scope = merchant(&request)?;
        let request = request.into_inner();
        record_order(&request.out_order_no);
        let bill = convert::bill(&request);
        order_reply(
            self.app
                .complete(&scope, &request.out_order_no, bill)
                .await
                .map_err(fail)?,
        )
    }

    async fn deduct(&self, request: Request<pb::DeductRequest>) -> Reply<pb::Order> {
        let scope = merchant(&request)?;
        let request = request.into_inner();
        record_order(&request.out_order_no);
        order_reply(
            self.app
                .deduct(&scope, &request.out_order_no)
                .await
                .map_err(fail)?,
        )
    }

    async fn cancel(&self, request: Request<pb::CancelRequest>) -> Reply<pb::Order> {
        let scope = merchant(&request)?;
        let request = request.into_inner();
        record_order(&request.out_order_no);
        order_reply(
            self.app
                .cancel(&scope, &request.out_order_no, request.reason)
                .await
                .map_err(fail)?,
        )
    }

    async fn modify_amount(&self, request: Request<pb::ModifyAmountRequest>) -> Reply<pb::Order> {
        let scope = merchant(&request)?;
        let r = request.into_inner();
        record_order(&r.out_order_no);
        let order = self
            .app
            .modify_amount(&scope, &r.out_order_no, r.total_amount, r.reason)
            .await
            .map_err(fail)?;
        order_reply(order)
    }

    async fn sync(&self, request: Request<pb::SyncRequest>) -> Reply<pb::Order> {
        let scope = merchant(&request)?;
        let request = request.into_inner();
        record_order(&request.out_order_no);
        order_reply(
            self.app
                .sync(&scope, &request.out_order_no)
                .await
                .map_err(fail)?,
        )
    }

    async fn get_order(&self, request: Request<pb::GetOrderRequest>) -> Reply<pb::Order> {
        let scope = merchant(&request)?;
        let request = request.into_inner();
        record_order(&request.out_order_no);
        order_reply(
            self.app
                .get_order(&scope, &request.out_order_no)
                .await
                .map_err(fail)?,
        )
    }
}
