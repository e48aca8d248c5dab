//! Talking to the gateway: channels, bearer tokens, saved credentials.

use std::path::{Path, PathBuf};

use payscore_gateway::auth::token;
use payscore_gateway::pb::v1::{
    self as pb, onboarding_client::OnboardingClient, operations_client::OperationsClient,
};
use serde::{Deserialize, Serialize};
use tonic::Request;
use tonic::transport::Channel;

use super::Result;

/// A merchant's saved credentials (written by `apply`, mode 0600).
#[derive(Serialize, Deserialize)]
pub struct Credentials {
    pub merchant_id: String,
    pub key_id: String,
    pub private_key_pem: String,
    pub api_v3_key: String,
}

pub struct Ctl {
    addr: String,
    home: PathBuf,
}

/// Puts `authorization: Bearer <token>` on a request.
pub fn authed<T>(message: T, bearer: &str) -> Result<Request<T>> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {bearer}").parse()?);
    Ok(request)
}

/// Rows of a score CSV with a header `openid,score,enrolled`.
pub fn read_scores(path: &Path) -> Result<Vec<pb::UserScore>> {
    #[derive(Deserialize)]
    struct Row {
        openid: String,
        score: i32,
        enrolled: bool,
    }
    let mut reader = csv::Reader::from_path(path)?;
    let mut rows = Vec::new();
    for (n, row) in reader.deserialize::<Row>().enumerate() {
        let row = row.map_err(|e| format!("{}: row {}: {e}", path.display(), n + 1))?;
        rows.push(pb::UserScore {
            openid: row.openid,
            score: row.score,
            enrolled: row.enrolled,
        });
    }
    Ok(rows)
}

impl Ctl {
    pub fn new(addr: String, home: Option<PathBuf>) -> Self {
        let home = home.unwrap_or_else(|| {
            let base = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
            base.join(".payscore")
        });
        Self { addr, home }
    }

    pub async fn channel(&self) -> Result<Channel> {
        let channel = Channel::from_shared(self.addr.clone())?
            .connect()
            .await
            .map_err(|e| format!("cannot reach the gateway at {}: {e}", self.addr))?;
        Ok(channel)
    }

    fn credentials_path(&self) -> PathBuf {
        self.home.join("merchant.json")
    }

    pub fn save_credentials(&self, creds: &Credentials) -> Result<PathBuf> {
        std::fs::create_dir_all(&self.home)?;
        let path = self.credentials_path();
        token::write_private_key(&path, &serde_json::to_string_pretty(creds)?)?;
        Ok(path)
    }

    pub fn load_credentials(&self) -> Result<Credentials> {
        let path = self.credentials_path();
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("{}: {e} (run `payscorectl apply` first)", path.display()))?;
        Ok(serde_json::from_str(&text)?)
    }

    /// An operator token from `key`, or from the gateway's dev key.
    pub fn operator_token(&self, key: Option<&Path>, ttl: u64) -> Result<String> {
        let path = key.map_or_else(|| self.home.join("operator.pem"), Path::to_path_buf);
        let pem = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "{}: {e} (a gateway started without an operator key writes one here)",
                path.display()
            )
        })?;
        Ok(token::operator_token(&pem, ttl)?)
    }

    pub async fn apply(
        &self,
        name: &str,
        icp: &str,
        api_version: &str,
        private_key_pem: &str,
        notify_url: &str,
    ) -> Result<Credentials> {
        use p256::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
        let secret = p256::SecretKey::from_pkcs8_pem(private_key_pem)?;
        let public = secret.public_key().to_public_key_pem(LineEnding::LF)?;
        let response = OnboardingClient::new(self.channel().await?)
            .apply(pb::ApplyRequest {
                merchant_name: name.into(),
                icp_filing_number: icp.into(),
                api_version: api_version.into(),
                public_key_pem: public,
                notify_url: notify_url.into(),
            })
            .await?
            .into_inner();
        Ok(Credentials {
            merchant_id: response.merchant_id,
            key_id: response.key_id,
            private_key_pem: private_key_pem.to_owned(),
            api_v3_key: response.api_v3_key,
        })
    }

    pub async fn upsert_service(
        &self,
        creds: &Credentials,
        id: &str,
        name: &str,
        min_score: i32,
        max_risk_fund: i64,
    ) -> Result<pb::Service> {
        let request = pb::UpsertServiceRequest {
            service_id: id.into(),
            name: name.into(),
            min_score,
            max_risk_fund,
        };
        let response = OnboardingClient::new(self.channel().await?)
            .upsert_service(authed(request, &creds.token("sandbox", 300)?)?)
            .await?;
        Ok(response.into_inner().service.unwrap_or_default())
    }

    pub async fn platform_keys(&self, creds: &Credentials) -> Result<Vec<pb::PlatformKey>> {
        let response = OnboardingClient::new(self.channel().await?)
            .get_platform_keys(authed(
                pb::GetPlatformKeysRequest {},
                &creds.token("sandbox", 300)?,
            )?)
            .await?;
        Ok(response.into_inner().keys)
    }

    pub async fn import_scores(
        &self,
        rows: Vec<pb::UserScore>,
    ) -> Result<pb::ImportScoresResponse> {
        let stream = tokio_stream::iter(rows);
        let response = OperationsClient::new(self.channel().await?)
            .import_scores(authed(stream, &self.operator_token(None, 300)?)?)
            .await?;
        Ok(response.into_inner())
    }

    pub async fn set_stage(
        &self,
        merchant_id: &str,
        stage: pb::Stage,
        reason: &str,
    ) -> Result<pb::Stage> {
        let request = pb::SetStageRequest {
            merchant_id: merchant_id.into(),
            stage: stage.into(),
            reason: reason.into(),
        };
        let response = OperationsClient::new(self.channel().await?)
            .set_stage(authed(request, &self.operator_token(None, 300)?)?)
            .await?;
        Ok(response.into_inner().stage())
    }
}
