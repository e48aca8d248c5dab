//! Token claims, and minting and key generation for `payscorectl` and tests
//! (merchants mint their own tokens the same way, with any JWT library).

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use p256::SecretKey;
use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use serde::{Deserialize, Serialize};

/// Every token's `aud`.
pub const AUDIENCE: &str = "payscore-gateway";
/// Operator tokens' `iss`.
pub const OPERATOR_ISSUER: &str = "operator";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    /// Merchant id, or "operator".
    pub iss: String,
    pub aud: String,
    pub exp: u64,
    pub iat: u64,
    /// "sandbox" or "live" (merchant tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// "operator" (operator tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// A P-256 key pair as PEM: (PKCS#8 private, SPKI public).
pub fn generate_key_pair() -> (String, String) {
    let secret = SecretKey::random(&mut rand::rngs::OsRng);
    let private = secret
        .to_pkcs8_pem(LineEnding::LF)
        .expect("a fresh P-256 key encodes")
        .to_string();
    let public = secret
        .public_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("a fresh P-256 key encodes");
    (private, public)
}

/// Writes a private key readable by its owner only (mode 0600).
pub fn write_private_key(path: &std::path::Path, pem: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(pem.as_bytes())
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// Signs `claims` with ES256 and the PKCS#8 PEM `private_key_pem`.
pub fn sign(
    claims: &Claims,
    kid: Option<&str>,
    private_key_pem: &str,
) -> Result<String, jsonwebtoken::errors::Error> {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = kid.map(str::to_owned);
    encode(
        &header,
        claims,
        &EncodingKey::from_ec_pem(private_key_pem.as_bytes())?,
    )
}

/// A merchant token valid `ttl_secs` from now.
pub fn merchant_token(
    merchant_id: &str,
    key_id: &str,
    env: &str,
    private_key_pem: &str,
    ttl_secs: u64,
) -> Result<String, jsonwebtoken::errors::Error> {
    let now = unix_now();
    let claims = Claims {
        iss: merchant_id.to_owned(),
        aud: AUDIENCE.to_owned(),
        iat: now,
        exp: now + ttl_secs,
        env: Some(env.to_owned()),
        role: None,
    };
    sign(&claims, Some(key_id), private_key_pem)
}

/// An operator token valid `ttl_secs` from now.
pub fn operator_token(
    private_key_pem: &str,
    ttl_secs: u64,
) -> Result<String, jsonwebtoken::errors::Error> {
    let now = unix_now();
    let claims = Claims {
        iss: OPERATOR_ISSUER.to_owned(),
        aud: AUDIENCE.to_owned(),
        iat: now,
        exp: now + ttl_secs,
        env: None,
        role: Some("operator".to_owned()),
    };
    sign(&claims, Some("operator"), private_key_pem)
}
