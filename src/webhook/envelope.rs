//! Sealing one callback: what goes on the wire, byte for byte.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use p256::ecdsa::{DerSignature, SigningKey, signature::Signer};
use p256::pkcs8::DecodePrivateKey;
use rand::Rng;
use rand::distributions::Alphanumeric;

use super::PlatformKey;

/// `associated_data` of every resource.
pub const ASSOCIATED_DATA: &str = "order";

/// A callback ready to POST: the JSON body and its headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Callback {
    pub body: String,
    pub timestamp: i64,
    pub nonce: String,
    pub serial: String,
    pub signature: String,
}

impl Callback {
    /// The headers, by name.
    pub fn headers(&self) -> [(&'static str, String); 4] {
        [
            ("Payscore-Timestamp", self.timestamp.to_string()),
            ("Payscore-Nonce", self.nonce.clone()),
            ("Payscore-Serial", self.serial.clone()),
            ("Payscore-Signature", self.signature.clone()),
        ]
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("the merchant's API v3 key is not 32 bytes")]
    BadApiKey,
    #[error("the platform key cannot sign: {0}")]
    BadPlatformKey(String),
}

fn random_ascii(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// Seals `resource` (the order as proto3 JSON plus `event_type`) for one merchant.
pub fn seal(
    event_id: &str,
    event_type: &str,
    create_time: &str,
    resource: &serde_json::Value,
    api_v3_key: &str,
    platform_key: &PlatformKey,
    timestamp: i64,
) -> Result<Callback, SealError> {
    let cipher =
        Aes256Gcm::new_from_slice(api_v3_key.as_bytes()).map_err(|_| SealError::BadApiKey)?;
    let aes_nonce = random_ascii(12);
    let nonce_bytes: [u8; 12] = aes_nonce
        .as_bytes()
        .try_into()
        .expect("12 ASCII characters are 12 bytes");
    let plaintext = serde_json::to_vec(resource).expect("JSON values serialise");
    let sealed = cipher
        .encrypt(
            &Nonce::from(nonce_bytes),
            Payload {
                msg: &plaintext,
                aad: ASSOCIATED_DATA.as_bytes(),
            },
        )
        .expect("AES-GCM encrypts any message of this size");
    let body = serde_json::json!({
        "id": event_id,
        "create_time": create_time,
        "event_type": event_type,
        "resource_type": "encrypt-resource",
        "resource": {
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": BASE64.encode(sealed),
            "nonce": aes_nonce,
            "associated_data": ASSOCIATED_DATA,
        },
    })
    .to_string();
    let nonce = random_ascii(32);
    let signing = SigningKey::from_pkcs8_pem(platform_key.private_key_pem.expose())
        .map_err(|e| SealError::BadPlatformKey(e.to_string()))?;
    let message = format!("{timestamp}\n{nonce}\n{body}\n");
    let signature: DerSignature = signing.sign(message.as_bytes());
    Ok(Callback {
        body,
        timestamp,
        nonce,
        serial: platform_key.serial.clone(),
        signature: BASE64.encode(signature.as_bytes()),
    })
}
