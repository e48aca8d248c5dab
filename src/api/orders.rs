//! `payscore.v1.Orders`.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::{convert, fail, merchant, record_order};
use crate::app::{App, AuthorizeInput};
use crate::domain::{DomainError, Mode};
use crate::pb::v1::{self as pb, orders_server::Orders};

/// Metadata key a sandbox call names its scenario with.
pub const SCENARIO_HEADER: &str = "x-sandbox-scenario";

pub struct OrdersApi {
    app: Arc<App>,
    /// How often an open WatchEvents stream looks for new events.
    watch_poll: Duration,
}

impl OrdersApi {
    pub fn new(app: Arc<App>, watch_poll: Duration) -> Self {
        Self { app, watch_poll }
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::OrderEvent, Status>> + Send>>;

/// Events sent per read of the stream.
const WATCH_BATCH: usize = 100;

/// A cursor is a stream entry id, `<ms>-<n>`.
fn valid_cursor(cursor: &str) -> bool {
    cursor.split_once('-').is_some_and(|(a, b)| {
        !a.is_empty() && !b.is_empty() && (a.bytes().chain(b.bytes())).all(|c| c.is_ascii_digit())
    })
}

type Reply<T> = Result<Response<T>, Status>;

fn order_reply(order: crate::domain::order::Order) -> Reply<pb::Order> {
    Ok(Response::new(convert::order(&order)))
}

#[tonic::async_trait]
impl Orders for OrdersApi {
    /// Streams the merchant's events after the cursor, then new ones as
    /// they come, until the client goes away. A client that reconnects with
    /// the last cursor it saw misses nothing.
    async fn watch_events(&self, request: Request<pb::WatchEventsRequest>) -> Reply<EventStream> {
        let scope = merchant(&request)?;
        let cursor = request.into_inner().cursor;
        let mut cursor = match cursor.as_str() {
            "" => None,
            c if valid_cursor(c) => Some(cursor),
            _ => {
                return Err(fail(DomainError::InvalidField {
                    field: "cursor",
                    description: "must be a cursor from an earlier event, or empty".into(),
                }));
            }
        };
        let (tx, rx) = tokio::sync::mpsc::channel(WATCH_BATCH);
        let (app, poll) = (Arc::clone(&self.app), self.watch_poll);
        tokio::spawn(async move {
            loop {
                let batch = match app
                    .read_events(&scope, cursor.as_deref(), WATCH_BATCH)
                    .await
                {
                    Ok(batch) => batch,
                    Err(error) => {
                        let _ = tx.send(Err(fail(error))).await;
                        return;
                    }
                };
                let idle = batch.is_empty();
                for (id, event) in batch {
                    let message = pb::OrderEvent {
                        cursor: id.clone(),
                        event_type: event.event_type.name().into(),
                        order: Some(convert::order(&event.order)),
                    };
                    if tx.send(Ok(message)).await.is_err() {
                        return;
                    }
                    cursor = Some(id);
                }
                if idle {
                    tokio::select! {
                        () = tokio::time::sleep(poll) => {}
                        () = tx.closed() => return,
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

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
