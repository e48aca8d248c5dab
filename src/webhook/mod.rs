//! Callbacks to merchants (DESIGN §8): the platform keys that sign them and
//! the envelope — the order as proto3 JSON, encrypted with the merchant's
//! API v3 key (AES-256-GCM), signed by the platform key (ECDSA P-256,
//! SHA-256) over `timestamp\nnonce\nbody\n`.

pub mod envelope;

use serde::{Deserialize, Serialize};

use crate::domain::Millis;
use crate::domain::merchant::Secret;

/// One platform signing key. The newest without `not_after` signs; older
/// ones stay published until `not_after`, so merchants can rotate too.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformKey {
    pub serial: String,
    pub private_key_pem: Secret,
    pub public_key_pem: String,
    pub created_at: Millis,
    pub not_after: Option<Millis>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformKeys {
    pub keys: Vec<PlatformKey>,
}

impl PlatformKeys {
    /// The key that signs now.
    pub fn signing(&self) -> Option<&PlatformKey> {
        self.keys.iter().rev().find(|k| k.not_after.is_none())
    }

    /// Keys merchants may still see signatures from at `now`.
    pub fn published(&self, now: Millis) -> impl Iterator<Item = &PlatformKey> {
        self.keys
            .iter()
            .filter(move |k| k.not_after.is_none_or(|end| end > now))
    }

    /// Adds `next` as the signing key; the current one retires at `now + overlap`.
    pub fn rotate(&mut self, next: PlatformKey, now: Millis, overlap: Millis) {
        for key in &mut self.keys {
            if key.not_after.is_none() {
                key.not_after = Some(now + overlap);
            }
        }
        self.keys
            .retain(|k| k.not_after.is_none_or(|end| end > now));
        self.keys.push(next);
    }
}

/// The callback for one event of the merchant's stream, signed now.
pub fn callback_for(
    event: &crate::app::events::StreamEvent,
    api_v3_key: &str,
    key: &PlatformKey,
    now: Millis,
) -> Result<envelope::Callback, envelope::SealError> {
    let mut resource = serde_json::to_value(crate::api::convert::order(&event.order))
        .expect("orders serialise to JSON");
    resource["event_type"] = event.event_type.name().into();
    let create_time = time::OffsetDateTime::from_unix_timestamp(event.at.div_euclid(1000))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    // Stable per event, so merchants can drop repeats.
    let id = format!("{}-{}", event.order.order_id, event.seq);
    envelope::seal(
        &id,
        event.event_type.name(),
        &create_time,
        &resource,
        api_v3_key,
        key,
        now.div_euclid(1000),
    )
}

/// A fresh platform key with a serial of 40 hex characters.
pub fn new_platform_key(now: Millis) -> PlatformKey {
    let (private, public) = crate::auth::token::generate_key_pair();
    let serial = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    PlatformKey {
        serial: format!("{serial}{:08X}", now.rem_euclid(1 << 32)),
        private_key_pem: Secret::new(private),
        public_key_pem: public,
        created_at: now,
        not_after: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_the_old_key_published_for_the_overlap() {
        let mut keys = PlatformKeys::default();
        keys.keys.push(new_platform_key(0));
        let first = keys.signing().unwrap().serial.clone();
        keys.rotate(new_platform_key(100), 100, 1_000);
        let second = keys.signing().unwrap().serial.clone();
        assert_ne!(first, second);
        let at = |now| {
            keys.published(now)
                .map(|k| k.serial.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(at(500), vec![first.clone(), second.clone()]);
        assert_eq!(at(1_100), vec![second]);
    }
}
