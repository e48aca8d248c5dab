//! `payscore.v1.Operations` (operator tokens only).

use std::sync::Arc;

use tonic::{Request, Response, Status, Streaming};

use super::{convert, fail, operator, record_order};
use crate::app::{App, MerchantScope, UserView};
use crate::domain::Mode;
use crate::domain::user::UserProfile;
use crate::pb::v1::{self as pb, operations_server::Operations};

/// ImportScores reports at most this many rejected rows in detail.
const MAX_REPORTED_ERRORS: usize = 100;

pub struct OperationsApi {
    app: Arc<App>,
}

impl OperationsApi {
    pub fn new(app: Arc<App>) -> Self {
        Self { app }
    }
}

type Reply<T> = Result<Response<T>, Status>;

fn user(view: &UserView) -> pb::User {
    pb::User {
        openid: view.openid.clone(),
        score: view.profile.as_ref().map_or(0, |p| p.score),
        enrolled: view.profile.as_ref().is_some_and(|p| p.enrolled),
        risk_tier: convert::risk_tier(view.standing.tier).into(),
        frozen_until: view.standing.frozen_until.map(convert::timestamp),
        unfinished_orders: view.standing.unfinished.keys().cloned().collect(),
        overdue_orders: view.overdue.clone(),
    }
}

#[tonic::async_trait]
impl Operations for OperationsApi {
    async fn set_stage(
        &self,
        request: Request<pb::SetStageRequest>,
    ) -> Reply<pb::SetStageResponse> {
        operator(&request)?;
        let r = request.into_inner();
        let stage = convert::stage_in(r.stage()).map_err(fail)?;
        let merchant = self
            .app
            .set_stage(&r.merchant_id, stage, r.reason.clone())
            .await
            .map_err(fail)?;
        tracing::info!(merchant_id = %r.merchant_id, stage = stage.name(), reason = %r.reason, "stage set by operator");
        Ok(Response::new(pb::SetStageResponse {
            stage: convert::stage(merchant.stage).into(),
        }))
    }

    async fn import_scores(
        &self,
        request: Request<Streaming<pb::UserScore>>,
    ) -> Reply<pb::ImportScoresResponse> {
        operator(&request)?;
        let mut rows = request.into_inner();
        let mut response = pb::ImportScoresResponse::default();
        let mut row = 0u64;
        while let Some(score) = rows.message().await? {
            row += 1;
            let profile = UserProfile {
                score: score.score,
                enrolled: score.enrolled,
            };
            match self.app.import_score(&score.openid, profile).await {
                Ok(()) => response.imported += 1,
                // A bad row is reported, not fatal; storage trouble is.
                Err(crate::app::Error::Domain(e)) => {
                    response.rejected += 1;
                    if response.errors.len() < MAX_REPORTED_ERRORS {
                        response.errors.push(format!("row {row}: {e}"));
                    }
                }
                Err(e) => return Err(fail(e)),
            }
        }
        Ok(Response::new(response))
    }

    async fn get_user(&self, request: Request<pb::GetUserRequest>) -> Reply<pb::User> {
        operator(&request)?;
        let view = self
            .app
            .get_user(&request.into_inner().openid)
            .await
            .map_err(fail)?;
        Ok(Response::new(user(&view)))
    }

    async fn set_user_risk(&self, request: Request<pb::SetUserRiskRequest>) -> Reply<pb::User> {
        operator(&request)?;
        let r = request.into_inner();
        let tier = convert::risk_tier_in(r.risk_tier()).map_err(fail)?;
        let view = self
            .app
            .set_user_risk(&r.openid, tier, r.reason)
            .await
            .map_err(fail)?;
        Ok(Response::new(user(&view)))
    }

    async fn rotate_platform_key(
        &self,
        request: Request<pb::RotatePlatformKeyRequest>,
    ) -> Reply<pb::GetPlatformKeysResponse> {
        operator(&request)?;
        let r = request.into_inner();
        let overlap_secs = if r.overlap_seconds == 0 {
            86_400
        } else {
            r.overlap_seconds
        };
        let overlap = i64::try_from(overlap_secs.saturating_mul(1_000)).unwrap_or(i64::MAX);
        let keys = self
            .app
            .rotate_platform_key(overlap, &r.reason)
            .await
            .map_err(fail)?;
        Ok(Response::new(convert::platform_keys(&keys, self.app.now())))
    }

    async fn record_user_action(
        &self,
        request: Request<pb::RecordUserActionRequest>,
    ) -> Reply<pb::Order> {
        operator(&request)?;
        let r = request.into_inner();
        record_order(&r.out_order_no);
        let action = super::sandbox::user_action(r.action(), r.amount).map_err(fail)?;
        let scope = MerchantScope {
            merchant_id: r.merchant_id,
            mode: Mode::Live,
        };
        let order = self
            .app
            .user_action(&scope, &r.out_order_no, action)
            .await
            .map_err(fail)?;
        Ok(Response::new(convert::order(&order)))
    }
}
