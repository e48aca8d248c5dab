//! Every key the gateway writes, in one place. A key is `<prefix>:{<slot>}:<name>`:
//! the slot is the Redis Cluster hash tag, so records decided on together
//! live together. The layout version is part of the names below; a change
//! of layout gets a new version rather than a migration in place.

use std::fmt;

use crate::domain::Mode;

/// Layout version, part of every key.
pub const LAYOUT: &str = "v1";

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    slot: String,
    name: String,
}

impl Key {
    fn new(slot: String, name: impl Into<String>) -> Self {
        Self {
            slot,
            name: name.into(),
        }
    }

    /// The hash tag shared by records decided on together.
    pub fn slot(&self) -> &str {
        &self.slot
    }

    /// The key as stored, under `prefix` (the one place the prefix is added).
    pub fn full(&self, prefix: &str) -> String {
        format!("{prefix}:{LAYOUT}:{{{}}}:{}", self.slot, self.name)
    }

    // Merchant slot `m:<merchant_id>`: the merchant and its order-number index.

    /// `Merchant`: stage, keys, services.
    pub fn merchant(merchant_id: &str) -> Self {
        Self::new(format!("m:{merchant_id}"), "merchant")
    }

    /// openid of an out_order_no, per mode: claimed by the first Authorize,
    /// so one order number can only ever name one user's order.
    pub fn order_index(merchant_id: &str, mode: Mode, out_order_no: &str) -> Self {
        Self::new(
            format!("m:{merchant_id}"),
            format!("{}:oon:{out_order_no}", mode.as_str()),
        )
    }

    /// The merchant's events in one mode (a stream).
    pub fn events(merchant_id: &str, mode: Mode) -> Self {
        Self::new(
            format!("m:{merchant_id}"),
            format!("{}:events", mode.as_str()),
        )
    }

    /// order_id → highest event seq already in the stream.
    pub fn published(merchant_id: &str, mode: Mode) -> Self {
        Self::new(
            format!("m:{merchant_id}"),
            format!("{}:published", mode.as_str()),
        )
    }

    /// Webhook deliveries due (stream entry id → due ms).
    pub fn deliveries(merchant_id: &str, mode: Mode) -> Self {
        Self::new(
            format!("m:{merchant_id}"),
            format!("{}:deliveries", mode.as_str()),
        )
    }

    // Key slot `k:<key_id>`: which merchant a token key belongs to.

    /// merchant_id owning a JWT `kid`.
    pub fn key_owner(key_id: &str) -> Self {
        Self::new(format!("k:{key_id}"), "owner")
    }

    // User slot `u:<mode>:<openid>`: the user's profile, standing and orders,
    // so that a new order and the user's limits are decided in one commit.

    /// `UserProfile` from the daily import.
    pub fn user_profile(mode: Mode, openid: &str) -> Self {
        Self::new(user_slot(mode, openid), "profile")
    }

    /// `Standing`: tier and unfinished orders.
    pub fn standing(mode: Mode, openid: &str) -> Self {
        Self::new(user_slot(mode, openid), "standing")
    }

    /// One `Order`.
    pub fn order(mode: Mode, openid: &str, merchant_id: &str, out_order_no: &str) -> Self {
        Self::new(
            user_slot(mode, openid),
            format!("order:{merchant_id}:{out_order_no}"),
        )
    }
}

impl Key {
    /// The platform's callback-signing keys (slot `p`).
    pub fn platform_keys() -> Self {
        Self::new("p".into(), "keys")
    }

    // Schedule slots `j:<shard>`: what is due when, spread over shards so
    // that no single hash slot carries every order's wake-ups.

    /// Members due at their score (ms).
    pub fn schedule(shard: u32) -> Self {
        Self::new(format!("j:{shard}"), "due")
    }
}

fn user_slot(mode: Mode, openid: &str) -> String {
    format!("u:{}:{openid}", mode.as_str())
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{}}}:{}", self.slot, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_decided_together_share_a_slot() {
        let profile = Key::user_profile(Mode::Live, "alice");
        let order = Key::order(Mode::Live, "alice", "m1", "out-001");
        assert_eq!(profile.slot(), order.slot());
        assert_eq!(
            Key::merchant("m1").slot(),
            Key::order_index("m1", Mode::Live, "x").slot()
        );
        assert_ne!(
            profile.slot(),
            Key::user_profile(Mode::Sandbox, "alice").slot()
        );
        assert_eq!(order.full("ps"), "ps:v1:{u:live:alice}:order:m1:out-001");
    }
}
