//! Webhook delivery: each event queued by `publish` is POSTed to the
//! merchant's notify_url until it answers 2xx within 5 s, on the schedule
//! 15 s, 15 s, 30 s, 3 m, 10 m, 20 m, 30 m, 30 m, 30 m, 60 m, 3 h, 3 h, 3 h,
//! 6 h, 6 h after the event. The queue lives in Redis beside the events, so
//! deliveries survive restarts; replicas take them under leases.

use std::time::Duration;

use super::events::StreamEvent;
use super::{App, Result};
use crate::domain::merchant::Merchant;
use crate::domain::{Millis, Mode};
use crate::store::{Key, RawRecord, decode};
use crate::webhook::{self, PlatformKey};

/// Waits between attempts, from the first.
pub const RETRY_SCHEDULE_MS: [Millis; 15] = [
    15_000, 15_000, 30_000, 180_000, 600_000, 1_200_000, 1_800_000, 1_800_000, 1_800_000,
    3_600_000, 10_800_000, 10_800_000, 10_800_000, 21_600_000, 21_600_000,
];

/// A merchant that has not answered in this long has not answered.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a replica holds a delivery it is making.
const DELIVERY_LEASE_MS: Millis = 30_000;

/// Deliveries made per merchant per claim.
const BATCH: usize = 32;

/// When the next attempt at an event from `at` is due after one failed at
/// `now`; `None` once the schedule is spent.
pub fn next_attempt(at: Millis, now: Millis) -> Option<Millis> {
    let mut due = at;
    for wait in RETRY_SCHEDULE_MS {
        due += wait;
        if due > now {
            return Some(due);
        }
    }
    None
}

impl App {
    /// Makes sure the merchant's delivery queue is looked at by `at`.
    pub(crate) async fn wake_deliveries(
        &self,
        mode: Mode,
        merchant_id: &str,
        at: Millis,
    ) -> Result<()> {
        let member = super::jobs::deliveries_member(mode, merchant_id);
        let schedule = Key::schedule(super::jobs::shard_of(&member));
        Ok(self.store.wake_by(&schedule, &member, at).await?)
    }

    /// Makes the merchant's due deliveries; returns when the next is due.
    pub(crate) async fn deliver_due(
        &self,
        mode: Mode,
        merchant_id: &str,
    ) -> Result<Option<Millis>> {
        let merchant = self.cached_merchant(merchant_id).await?;
        let (queue, stream) = (
            Key::deliveries(merchant_id, mode),
            Key::events(merchant_id, mode),
        );
        let now = self.now();
        let lease_until = now + DELIVERY_LEASE_MS;
        let due = self
            .store
            .claim_due(&queue, now, lease_until, BATCH)
            .await?;
        if !due.is_empty() {
            let keys = self.platform_keys().await?;
            let signing = keys.signing().expect("there is always a signing key");
            for (id, _) in due {
                let next = match self.store.read_entry(&stream, &id).await? {
                    // Trimmed away by retention: nothing left to deliver.
                    None => None,
                    Some(payload) => {
                        let event = decode::<StreamEvent>(
                            &stream,
                            RawRecord {
                                version: 0,
                                value: payload,
                            },
                        )?
                        .value;
                        match self.deliver(&merchant, &event, signing, now).await {
                            Ok(()) => None,
                            Err(why) => {
                                let next = next_attempt(event.at, now);
                                tracing::warn!(merchant = merchant_id, event = %id, %why, ?next, "webhook not acknowledged");
                                if next.is_none() {
                                    tracing::error!(merchant = merchant_id, event = %id, "webhook abandoned after the last retry");
                                }
                                next
                            }
                        }
                    }
                };
                self.store.release(&queue, &id, lease_until, next).await?;
            }
        }
        Ok(self.store.earliest(&queue).await?)
    }

    async fn deliver(
        &self,
        merchant: &Merchant,
        event: &StreamEvent,
        key: &PlatformKey,
        now: Millis,
    ) -> std::result::Result<(), String> {
        let callback = webhook::callback_for(event, merchant.api_v3_key.expose(), key, now)
            .map_err(|e| e.to_string())?;
        let mut request = self
            .http
            .post(&merchant.notify_url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .timeout(DELIVERY_TIMEOUT)
            .body(callback.body.clone());
        for (name, value) in callback.headers() {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("answered {}", response.status()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_follow_the_schedule_then_stop() {
        assert_eq!(next_attempt(0, 0), Some(15_000));
        assert_eq!(next_attempt(0, 15_000), Some(30_000));
        assert_eq!(next_attempt(0, 30_000), Some(60_000));
        assert_eq!(next_attempt(0, 60_000), Some(240_000));
        let total: Millis = RETRY_SCHEDULE_MS.iter().sum();
        assert_eq!(next_attempt(0, total - 1), Some(total));
        assert_eq!(next_attempt(0, total), None);
    }
}
