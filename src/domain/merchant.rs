//! Merchants, their onboarding stage, keys and services (admission policies).

use std::collections::BTreeMap;
use std::fmt;

use p256::pkcs8::DecodePublicKey;
use serde::{Deserialize, Serialize};

use super::validate::{self, Check};
use super::{DomainError, Fen, Millis};

/// Onboarding stage (DESIGN §2). Each says what it admits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stage {
    /// Application received (Apply moves on to Sandbox at once).
    Applied,
    /// Test-mode calls only.
    Sandbox,
    /// Live calls for a hashed sample of users.
    Canary,
    /// Live calls for all users.
    Production,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Applied => "APPLIED",
            Stage::Sandbox => "SANDBOX",
            Stage::Canary => "CANARY",
            Stage::Production => "PRODUCTION",
        }
    }
}

/// A secret string whose `Debug` prints nothing, so it never reaches a log.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// One ES256 public key a merchant signs its tokens with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantKey {
    pub key_id: String,
    pub public_key_pem: String,
    pub added_at: Millis,
}

/// One deposit-free offer and its admission policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub service_id: String,
    pub name: String,
    pub min_score: i32,
    pub max_risk_fund: Fen,
}

/// An operator's stage change, kept for audit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageChange {
    pub stage: Stage,
    pub reason: String,
    pub at: Millis,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merchant {
    pub merchant_id: String,
    pub name: String,
    pub icp_filing_number: String,
    pub api_version: String,
    pub notify_url: String,
    pub api_v3_key: Secret,
    pub stage: Stage,
    pub canary_percent: u32,
    pub keys: Vec<MerchantKey>,
    pub services: BTreeMap<String, Service>,
    pub stage_history: Vec<StageChange>,
    pub created_at: Millis,
}

/// At most this many active keys (one in use, one being rotated in).
pub const MAX_KEYS: usize = 2;

impl Merchant {
    pub fn key(&self, key_id: &str) -> Option<&MerchantKey> {
        self.keys.iter().find(|k| k.key_id == key_id)
    }

    pub fn add_key(&mut self, key: MerchantKey) -> Result<(), DomainError> {
        if self.keys.len() >= MAX_KEYS {
            return Err(DomainError::TooManyKeys);
        }
        self.keys.push(key);
        Ok(())
    }

    pub fn revoke_key(&mut self, key_id: &str) -> Result<(), DomainError> {
        if self.key(key_id).is_none() {
            return Err(DomainError::KeyNotFound);
        }
        if self.keys.len() == 1 {
            return Err(DomainError::LastKey);
        }
        self.keys.retain(|k| k.key_id != key_id);
        Ok(())
    }

    pub fn set_stage(&mut self, stage: Stage, reason: String, at: Millis) {
        self.stage = stage;
        self.stage_history.push(StageChange { stage, reason, at });
    }
}

/// `京ICP备12345678号`, optionally followed by `-<n>` (a site number).
pub fn validate_icp_filing_number(value: &str) -> Check {
    const PROVINCES: &str = "京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川贵云藏陕甘青宁新";
    let bad = || Err(DomainError::InvalidIcpFilingNumber);
    let mut chars = value.chars();
    match chars.next() {
        Some(p) if PROVINCES.contains(p) => {}
        _ => return bad(),
    }
    let Some(rest) = chars.as_str().strip_prefix("ICP备") else {
        return bad();
    };
    let Some((number, suffix)) = rest.split_once('号') else {
        return bad();
    };
    let digits = |s: &str, min: usize, max: usize| {
        (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    let suffix_ok = suffix.is_empty()
        || suffix
            .strip_prefix('-')
            .is_some_and(|site| digits(site, 1, 4));
    if digits(number, 6, 12) && suffix_ok {
        Ok(())
    } else {
        bad()
    }
}

/// "major.minor", at least 3.0.
pub fn validate_api_version(value: &str) -> Check {
    let parsed = value
        .split_once('.')
        .and_then(|(major, minor)| Some((major.parse::<u32>().ok()?, minor.parse::<u32>().ok()?)));
    match parsed {
        Some((major, _)) if major >= 3 => Ok(()),
        Some(_) => Err(DomainError::ApiVersionTooOld(value.to_owned())),
        None => Err(DomainError::InvalidField {
            field: "api_version",
            description: "must be \"major.minor\", e.g. \"3.0\"".into(),
        }),
    }
}

/// `https://…`, or `http://` to a loopback host (local development and tests).
pub fn validate_notify_url(value: &str) -> Check {
    let uri: http::Uri = value.parse().map_err(|_| DomainError::InvalidNotifyUrl)?;
    let host = uri.host().ok_or(DomainError::InvalidNotifyUrl)?;
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if loopback => Ok(()),
        _ => Err(DomainError::InvalidNotifyUrl),
    }
}

/// An ES256 (P-256) public key in PEM (SPKI).
pub fn validate_public_key(pem: &str) -> Check {
    p256::PublicKey::from_public_key_pem(pem.trim())
        .map(|_| ())
        .map_err(|_| DomainError::InvalidPublicKey)
}

/// A service's policy against the platform floor.
pub fn validate_service(service: &Service, score_floor: i32) -> Check {
    validate::identifier("service_id", &service.service_id, 32)?;
    validate::required_text("name", &service.name, 20)?;
    if service.min_score < score_floor {
        return Err(DomainError::MinScoreBelowFloor(
            service.min_score,
            score_floor,
        ));
    }
    validate::int_in("min_score", service.min_score.into(), 300, 850)?;
    validate::positive("max_risk_fund", service.max_risk_fund)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icp_filing_numbers() {
        assert!(validate_icp_filing_number("京ICP备12345678号").is_ok());
        assert!(validate_icp_filing_number("粤ICP备2021012345号-1").is_ok());
        for bad in [
            "ICP备12345678号",
            "京ICP12345678号",
            "京ICP备123号",
            "京ICP备12345678",
            "京ICP备12345678号-",
            "京ICP备1234567a号",
            "X京ICP备12345678号",
        ] {
            assert!(validate_icp_filing_number(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn api_versions() {
        assert!(validate_api_version("3.0").is_ok());
        assert!(validate_api_version("3.12").is_ok());
        assert_eq!(
            validate_api_version("2.9"),
            Err(DomainError::ApiVersionTooOld("2.9".into()))
        );
        assert!(matches!(
            validate_api_version("v3"),
            Err(DomainError::InvalidField { .. })
        ));
    }

    #[test]
    fn notify_urls() {
        assert!(validate_notify_url("https://merchant.example/notify").is_ok());
        assert!(validate_notify_url("http://127.0.0.1:8080/notify").is_ok());
        assert!(validate_notify_url("http://[::1]:8080/notify").is_ok());
        assert!(validate_notify_url("http://localhost/notify").is_ok());
        assert!(validate_notify_url("http://merchant.example/notify").is_err());
        assert!(validate_notify_url("ftp://merchant.example").is_err());
    }

    #[test]
    fn secrets_do_not_print() {
        assert_eq!(format!("{:?}", Secret::new("k".repeat(32))), "Secret(***)");
    }
}
