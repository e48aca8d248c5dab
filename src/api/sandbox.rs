//! `payscore.v1.Sandbox` (test-mode tokens only).

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{convert, fail, merchant, record_order};
use crate::app::{App, UserAction};
use crate::domain::{DomainError, Mode};
use crate::pb::v1::{self as pb, sandbox_server::Sandbox};

pub struct SandboxApi {
    app: Arc<App>,
}

impl SandboxApi {
    pub fn new(app: Arc<App>) -> Self {
        Self { app }
    }
}

/// A user action from the proto; TOP_UP carries its amount.
pub(super) fn user_action(action: pb::UserAction, amount: i64) -> Result<UserAction, DomainError> {
    match action {
        pb::UserAction::Confirm => Ok(UserAction::Confirm),
        pb::UserAction::Reject => Ok(UserAction::Reject),
        pb::UserAction::TopUp => Ok(UserAction::TopUp(amount)),
        pb::UserAction::PayOffline => Ok(UserAction::PayOffline),
        pb::UserAction::Unspecified => Err(DomainError::InvalidField {
            field: "action",
            description: "must be CONFIRM, REJECT, TOP_UP or PAY_OFFLINE".into(),
        }),
    }
}

#[tonic::async_trait]
impl Sandbox for SandboxApi {
    async fn simulate_user(
        &self,
        request: Request<pb::SimulateUserRequest>,
    ) -> Result<Response<pb::SimulateUserResponse>, Status> {
        let scope = merchant(&request)?;
        if scope.mode != Mode::Sandbox {
            return Err(fail(DomainError::SandboxOnly));
        }
        let r = request.into_inner();
        record_order(&r.out_order_no);
        let action = user_action(r.action(), r.amount).map_err(fail)?;
        let order = self
            .app
            .user_action(&scope, &r.out_order_no, action)
            .await
            .map_err(fail)?;
        Ok(Response::new(pb::SimulateUserResponse {
            order: Some(convert::order(&order)),
        }))
    }
}
