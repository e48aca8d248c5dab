//! `payscore.v1.Onboarding`.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{convert, fail, merchant};
use crate::app::{App, ApplyInput};
use crate::domain::merchant::Service;
use crate::pb::v1::{self as pb, onboarding_server::Onboarding};

pub struct OnboardingApi {
    app: Arc<App>,
}

impl OnboardingApi {
    pub fn new(app: Arc<App>) -> Self {
        Self { app }
    }
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl Onboarding for OnboardingApi {
    async fn apply(&self, request: Request<pb::ApplyRequest>) -> Reply<pb::ApplyResponse> {
        let r = request.into_inner();
        let input = ApplyInput {
            merchant_name: r.merchant_name,
            icp_filing_number: r.icp_filing_number,
            api_version: r.api_version,
            public_key_pem: r.public_key_pem,
            notify_url: r.notify_url,
        };
        let applied = self.app.apply_merchant(input).await.map_err(fail)?;
        tracing::info!(merchant_id = %applied.merchant.merchant_id, "merchant applied; now in SANDBOX");
        Ok(Response::new(pb::ApplyResponse {
            merchant_id: applied.merchant.merchant_id.clone(),
            key_id: applied.key_id,
            api_v3_key: applied.merchant.api_v3_key.expose().to_owned(),
            stage: convert::stage(applied.merchant.stage).into(),
        }))
    }

    async fn get_status(
        &self,
        request: Request<pb::GetStatusRequest>,
    ) -> Reply<pb::GetStatusResponse> {
        let scope = merchant(&request)?;
        let m = self.app.merchant(&scope.merchant_id).await.map_err(fail)?;
        Ok(Response::new(pb::GetStatusResponse {
            merchant_id: m.merchant_id.clone(),
            merchant_name: m.name.clone(),
            stage: convert::stage(m.stage).into(),
            notify_url: m.notify_url.clone(),
            key_ids: m.keys.iter().map(|k| k.key_id.clone()).collect(),
            canary_percent: m.canary_percent,
        }))
    }

    async fn upsert_service(
        &self,
        request: Request<pb::UpsertServiceRequest>,
    ) -> Reply<pb::UpsertServiceResponse> {
        let scope = merchant(&request)?;
        let r = request.into_inner();
        let service = Service {
            service_id: r.service_id,
            name: r.name,
            min_score: r.min_score,
            max_risk_fund: r.max_risk_fund,
        };
        let saved = self
            .app
            .upsert_service(&scope.merchant_id, service)
            .await
            .map_err(fail)?;
        Ok(Response::new(pb::UpsertServiceResponse {
            service: Some(convert::service(&saved)),
        }))
    }

    async fn list_services(
        &self,
        request: Request<pb::ListServicesRequest>,
    ) -> Reply<pb::ListServicesResponse> {
        let scope = merchant(&request)?;
        let m = self.app.merchant(&scope.merchant_id).await.map_err(fail)?;
        Ok(Response::new(pb::ListServicesResponse {
            services: m.services.values().map(convert::service).collect(),
        }))
    }

    async fn add_key(&self, request: Request<pb::AddKeyRequest>) -> Reply<pb::AddKeyResponse> {
        let scope = merchant(&request)?;
        let pem = request.into_inner().public_key_pem;
        let key_id = self
            .app
            .add_key(&scope.merchant_id, &pem)
            .await
            .map_err(fail)?;
        Ok(Response::new(pb::AddKeyResponse { key_id }))
    }

    async fn get_platform_keys(
        &self,
        request: Request<pb::GetPlatformKeysRequest>,
    ) -> Reply<pb::GetPlatformKeysResponse> {
        merchant(&request)?;
        let keys = self.app.platform_keys().await.map_err(fail)?;
        Ok(Response::new(convert::platform_keys(&keys, self.app.now())))
    }

    async fn revoke_key(
        &self,
        request: Request<pb::RevokeKeyRequest>,
    ) -> Reply<pb::RevokeKeyResponse> {
        let scope = merchant(&request)?;
        let key_id = request.into_inner().key_id;
        self.app
            .revoke_key(&scope.merchant_id, &key_id)
            .await
            .map_err(fail)?;
        Ok(Response::new(pb::RevokeKeyResponse {}))
    }
}
