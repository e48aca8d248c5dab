//! How a merchant verifies a PayScore callback before acting on it:
//!
//! 1. the timestamp is within 5 minutes of now (replays are refused);
//! 2. the signature verifies with the platform key named by
//!    `Payscore-Serial` (fetch `Onboarding.GetPlatformKeys` when the serial
//!    is unknown: the platform rotates keys with an overlap);
//! 3. the resource decrypts with your API v3 key (AES-256-GCM: any altered
//!    byte fails the tag);
//! 4. the event id was not handled before (deliveries are retried, so the
//!    same event can arrive twice: acknowledge it again, act once).
//!
//! Answer 2xx only when all four pass. Run it on a captured callback:
//!
//! ```sh
//! cargo run --example webhook_verifier -- headers.json body.json platform.pub.pem <api_v3_key>
//! ```
//! where `headers.json` maps header names to values.

use std::collections::{HashMap, HashSet};

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use p256::ecdsa::{DerSignature, VerifyingKey, signature::Verifier as _};
use p256::pkcs8::DecodePublicKey;

/// Callbacks older (or newer) than this are refused.
pub const MAX_SKEW_SECS: i64 = 300;

/// Why a callback was refused (answer non-2xx).
#[derive(Debug, PartialEq, Eq)]
pub enum Rejected {
    MissingHeader(&'static str),
    StaleTimestamp,
    /// Fetch the platform keys again, then retry verification.
    UnknownSerial(String),
    BadSignature,
    BadBody,
    Undecryptable,
}

/// What to do with a verified callback.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// New: act on it (the decrypted order, with its `event_type`).
    Fresh(serde_json::Value),
    /// Already handled: acknowledge, do nothing.
    Duplicate,
}

pub struct Verifier {
    /// Serial → PEM public key, from GetPlatformKeys.
    pub platform_keys: HashMap<String, String>,
    pub api_v3_key: String,
    seen: HashSet<String>,
}

impl Verifier {
    pub fn new(platform_keys: HashMap<String, String>, api_v3_key: String) -> Self {
        Self {
            platform_keys,
            api_v3_key,
            seen: HashSet::new(),
        }
    }

    /// Verifies one callback; `headers` are looked up case-insensitively.
    pub fn verify(
        &mut self,
        headers: &HashMap<String, String>,
        body: &str,
        now_secs: i64,
    ) -> Result<Verdict, Rejected> {
        let header = |name: &'static str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
                .ok_or(Rejected::MissingHeader(name))
        };
        let timestamp: i64 = header("Payscore-Timestamp")?
            .parse()
            .map_err(|_| Rejected::StaleTimestamp)?;
        if (now_secs - timestamp).abs() > MAX_SKEW_SECS {
            return Err(Rejected::StaleTimestamp);
        }
        let serial = header("Payscore-Serial")?;
        let pem = self
            .platform_keys
            .get(serial)
            .ok_or_else(|| Rejected::UnknownSerial(serial.to_owned()))?;
        let key = VerifyingKey::from_public_key_pem(pem).map_err(|_| Rejected::BadSignature)?;
        let signature = BASE64
            .decode(header("Payscore-Signature")?)
            .ok()
            .and_then(|der| DerSignature::from_bytes(&der).ok())
            .ok_or(Rejected::BadSignature)?;
        let message = format!("{timestamp}\n{}\n{body}\n", header("Payscore-Nonce")?);
        key.verify(message.as_bytes(), &signature)
            .map_err(|_| Rejected::BadSignature)?;

        let envelope: serde_json::Value =
            serde_json::from_str(body).map_err(|_| Rejected::BadBody)?;
        let resource = &envelope["resource"];
        let field = |name: &str| resource[name].as_str().ok_or(Rejected::BadBody);
        let nonce: [u8; 12] = field("nonce")?
            .as_bytes()
            .try_into()
            .map_err(|_| Rejected::BadBody)?;
        let sealed = BASE64
            .decode(field("ciphertext")?)
            .map_err(|_| Rejected::BadBody)?;
        let cipher = Aes256Gcm::new_from_slice(self.api_v3_key.as_bytes())
            .map_err(|_| Rejected::Undecryptable)?;
        let plaintext = cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &sealed,
                    aad: field("associated_data")?.as_bytes(),
                },
            )
            .map_err(|_| Rejected::Undecryptable)?;
        let order = serde_json::from_slice(&plaintext).map_err(|_| Rejected::Undecryptable)?;

        let id = envelope["id"].as_str().ok_or(Rejected::BadBody)?.to_owned();
        if !self.seen.insert(id) {
            return Ok(Verdict::Duplicate);
        }
        Ok(Verdict::Fresh(order))
    }
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [headers, body, platform_pem, api_v3_key] = args.as_slice() else {
        eprintln!(
            "usage: webhook_verifier <headers.json> <body.json> <platform.pub.pem> <api_v3_key>"
        );
        std::process::exit(64);
    };
    let headers: HashMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(headers)?)?;
    let body = std::fs::read_to_string(body)?;
    let serial = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Payscore-Serial"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let keys = HashMap::from([(serial, std::fs::read_to_string(platform_pem)?)]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let mut verifier = Verifier::new(keys, api_v3_key.clone());
    match verifier.verify(&headers, body.trim_end_matches('\n'), i64::try_from(now)?) {
        Ok(verdict) => println!("{verdict:#?}"),
        Err(why) => {
            eprintln!("refused: {why:?}");
            std::process::exit(1);
        }
    }
    Ok(())
}
