//! Who is calling. Merchants sign short-lived ES256 JWTs with their own key
//! (the gateway keeps only public keys, picked by `kid`); operators sign
//! with the operator key given at start-up. A verified token is cached
//! until it expires, so the signature is checked once per token, not once
//! per call.

pub mod layer;
pub mod token;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use moka::Expiry;
use moka::sync::Cache;

use crate::app::{App, MerchantScope};
use crate::domain::Mode;

pub use layer::AuthLayer;
pub use token::{AUDIENCE, Claims, OPERATOR_ISSUER};

/// The verified caller, put into each request's extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    Merchant(MerchantScope),
    Operator,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing `authorization: Bearer <token>` metadata")]
    Missing,
    #[error("token expired")]
    Expired,
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("this call needs a {0} token")]
    WrongRole(&'static str),
}

/// Tokens larger than this are refused before parsing.
pub const MAX_TOKEN_BYTES: usize = 4096;
/// Tokens may live at most this long (exp − iat).
pub const MAX_LIFETIME_SECS: u64 = 600;
/// Clock skew tolerated on exp and iat.
const LEEWAY_SECS: u64 = 30;

#[derive(Clone)]
struct Verified {
    identity: Identity,
    exp: u64,
}

/// Cache entries live exactly until their token expires.
struct UntilExpiry;

impl Expiry<String, Verified> for UntilExpiry {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &Verified,
        _now: std::time::Instant,
    ) -> Option<Duration> {
        Some(Duration::from_secs(value.exp.saturating_sub(unix_now())))
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

pub struct Authenticator {
    app: Arc<App>,
    operator_key: DecodingKey,
    cache: Cache<String, Verified>,
}

impl Authenticator {
    pub fn new(
        app: Arc<App>,
        operator_public_key_pem: &str,
    ) -> Result<Self, jsonwebtoken::errors::Error> {
        Ok(Self {
            app,
            operator_key: DecodingKey::from_ec_pem(operator_public_key_pem.as_bytes())?,
            cache: Cache::builder()
                .max_capacity(100_000)
                .expire_after(UntilExpiry)
                .build(),
        })
    }

    /// Verifies a merchant token; the merchant id and mode come from it.
    pub async fn merchant(&self, token: &str) -> Result<Identity, crate::app::Error> {
        if let Some(identity) = self.cached(token) {
            return Ok(identity);
        }
        let kid = precheck(token)?;
        let (merchant_id, pem) = self
            .app
            .token_key(&kid)
            .await?
            .ok_or_else(|| AuthError::Invalid("unknown kid".into()))?;
        let key = DecodingKey::from_ec_pem(pem.as_bytes())
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        let claims = verify(token, &key, &merchant_id)?;
        let mode = match claims.env.as_deref() {
            Some("sandbox") => Mode::Sandbox,
            Some("live") => Mode::Live,
            _ => {
                return Err(
                    AuthError::Invalid("env must be \"sandbox\" or \"live\"".into()).into(),
                );
            }
        };
        let identity = Identity::Merchant(MerchantScope { merchant_id, mode });
        Ok(self.remember(token, identity, claims.exp))
    }

    /// Verifies an operator token.
    pub fn operator(&self, token: &str) -> Result<Identity, AuthError> {
        if let Some(identity) = self.cached(token) {
            return Ok(identity);
        }
        precheck(token)?;
        let claims = verify(token, &self.operator_key, OPERATOR_ISSUER)?;
        if claims.role.as_deref() != Some("operator") {
            return Err(AuthError::WrongRole("operator"));
        }
        Ok(self.remember(token, Identity::Operator, claims.exp))
    }

    fn cached(&self, token: &str) -> Option<Identity> {
        let hit = self.cache.get(token)?;
        (hit.exp > unix_now()).then_some(hit.identity)
    }

    fn remember(&self, token: &str, identity: Identity, exp: u64) -> Identity {
        let verified = Verified {
            identity: identity.clone(),
            exp,
        };
        self.cache.insert(token.to_owned(), verified);
        identity
    }
}

/// Cheap checks before any signature work: size, and an ES256 header.
/// Returns the `kid`. `alg: none` and HS256 never reach a key.
fn precheck(token: &str) -> Result<String, AuthError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::Invalid("token too large".into()));
    }
    let header = decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
    if header.alg != Algorithm::ES256 {
        return Err(AuthError::Invalid(format!(
            "alg {:?} is not accepted; use ES256",
            header.alg
        )));
    }
    Ok(header.kid.unwrap_or_default())
}

fn verify(token: &str, key: &DecodingKey, issuer: &str) -> Result<Claims, AuthError> {
    metrics::counter!(crate::metrics::TOKEN_VERIFICATIONS).increment(1);
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[AUDIENCE]);
    validation.set_issuer(&[issuer]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
    validation.leeway = LEEWAY_SECS;
    let claims = decode::<Claims>(token, key, &validation)
        .map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => AuthError::Expired,
            _ => AuthError::Invalid(e.to_string()),
        })?
        .claims;
    if claims.iat > unix_now() + LEEWAY_SECS {
        return Err(AuthError::Invalid("iat is in the future".into()));
    }
    if claims.exp.saturating_sub(claims.iat) > MAX_LIFETIME_SECS {
        return Err(AuthError::Invalid(
            "exp may be at most 10 minutes after iat".into(),
        ));
    }
    Ok(claims)
}
