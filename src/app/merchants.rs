//! Merchant onboarding: Apply, services, key rotation, stage changes.

use rand::Rng;
use rand::distributions::Alphanumeric;

use super::orders::new_id;
use super::{App, Error, MAX_ATTEMPTS, Result};
use crate::domain::merchant::{self, Merchant, MerchantKey, Secret, Service, Stage};
use crate::domain::{DomainError, validate};
use crate::store::{Committed, Key, Txn};

/// An Apply call.
#[derive(Clone, Debug)]
pub struct ApplyInput {
    pub merchant_name: String,
    pub icp_filing_number: String,
    pub api_version: String,
    pub public_key_pem: String,
    pub notify_url: String,
}

/// What Apply created.
#[derive(Clone, Debug)]
pub struct Applied {
    pub merchant: Merchant,
    pub key_id: String,
}

impl App {
    pub async fn apply_merchant(&self, input: ApplyInput) -> Result<Applied> {
        validate::required_text("merchant_name", &input.merchant_name, 64)?;
        merchant::validate_icp_filing_number(&input.icp_filing_number)?;
        merchant::validate_api_version(&input.api_version)?;
        merchant::validate_public_key(&input.public_key_pem)?;
        merchant::validate_notify_url(&input.notify_url)?;
        let now = self.now();
        let merchant_id = new_id("m");
        let key_id = new_id("k");
        let mut merchant = Merchant {
            merchant_id: merchant_id.clone(),
            name: input.merchant_name,
            icp_filing_number: input.icp_filing_number,
            api_version: input.api_version,
            notify_url: input.notify_url,
            api_v3_key: Secret::new(api_v3_key()),
            stage: Stage::Applied,
            canary_percent: 0,
            keys: vec![MerchantKey {
                key_id: key_id.clone(),
                public_key_pem: input.public_key_pem.trim().to_owned(),
                added_at: now,
            }],
            services: Default::default(),
            stage_history: Vec::new(),
            created_at: now,
        };
        // Checks passed: the merchant goes to the sandbox at once.
        merchant.set_stage(Stage::Sandbox, "application accepted".into(), now);
        // The key's owner first: a merchant record is only reachable once
        // its key is, so a crash in between leaves nothing half-usable.
        self.store
            .create(Key::key_owner(&key_id), &merchant_id)
            .await?;
        self.store
            .create(Key::merchant(&merchant_id), &merchant)
            .await?;
        Ok(Applied { merchant, key_id })
    }

    pub async fn merchant(&self, merchant_id: &str) -> Result<Merchant> {
        let found = self
            .store
            .get_one::<Merchant>(&Key::merchant(merchant_id))
            .await?;
        Ok(found.ok_or(DomainError::MerchantNotFound)?.value)
    }

    /// The merchant and public key a token's `kid` names, if any.
    pub async fn token_key(&self, key_id: &str) -> Result<Option<(String, String)>> {
        let Some(owner) = self
            .store
            .get_one::<String>(&Key::key_owner(key_id))
            .await?
        else {
            return Ok(None);
        };
        let merchant = self
            .store
            .get_one::<Merchant>(&Key::merchant(&owner.value))
            .await?;
        Ok(merchant.and_then(|m| {
            let pem = m.value.key(key_id)?.public_key_pem.clone();
            Some((owner.value, pem))
        }))
    }

    /// Changes a merchant with compare-and-set, retrying on concurrent change.
    async fn update_merchant(
        &self,
        merchant_id: &str,
        change: impl Fn(&mut Merchant) -> Result<(), DomainError>,
    ) -> Result<Merchant> {
        let key = Key::merchant(merchant_id);
        for _ in 0..MAX_ATTEMPTS {
            let current = self
                .store
                .get_one::<Merchant>(&key)
                .await?
                .ok_or(DomainError::MerchantNotFound)?;
            let mut merchant = current.value;
            change(&mut merchant)?;
            let txn = Txn::default()
                .check(key.clone(), current.version)
                .put(key.clone(), &merchant);
            if self.store.commit(txn).await? == Committed::Done {
                self.forget_merchant(merchant_id);
                return Ok(merchant);
            }
        }
        Err(Error::Contended)
    }

    pub async fn upsert_service(&self, merchant_id: &str, service: Service) -> Result<Service> {
        merchant::validate_service(&service, self.policy().score_floor)?;
        self.update_merchant(merchant_id, |m| {
            m.services
                .insert(service.service_id.clone(), service.clone());
            Ok(())
        })
        .await?;
        Ok(service)
    }

    pub async fn add_key(&self, merchant_id: &str, public_key_pem: &str) -> Result<String> {
        merchant::validate_public_key(public_key_pem)?;
        let current = self.merchant(merchant_id).await?;
        if current.keys.len() >= merchant::MAX_KEYS {
            return Err(DomainError::TooManyKeys.into());
        }
        let key_id = new_id("k");
        self.store
            .create(Key::key_owner(&key_id), &merchant_id.to_owned())
            .await?;
        let key = MerchantKey {
            key_id: key_id.clone(),
            public_key_pem: public_key_pem.trim().to_owned(),
            added_at: self.now(),
        };
        self.update_merchant(merchant_id, |m| m.add_key(key.clone()))
            .await?;
        Ok(key_id)
    }

    pub async fn revoke_key(&self, merchant_id: &str, key_id: &str) -> Result<()> {
        self.update_merchant(merchant_id, |m| m.revoke_key(key_id))
            .await?;
        Ok(())
    }

    /// An operator's override, kept with its reason.
    pub async fn set_stage(
        &self,
        merchant_id: &str,
        stage: Stage,
        reason: String,
    ) -> Result<Merchant> {
        validate::reason("reason", &reason, 200)?;
        let now = self.now();
        self.update_merchant(merchant_id, |m| {
            m.set_stage(stage, reason.clone(), now);
            Ok(())
        })
        .await
    }
}

/// 32 ASCII characters: the merchant's AES-256-GCM callback key.
fn api_v3_key() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}
