//! Publishing an order's events to its merchant's stream, and reading them
//! back. Events travel inside the order record until published, so they
//! are committed with the change that made them; the stream takes each
//! (order, seq) once, so publishing can be retried freely.

use serde::{Deserialize, Serialize};

use super::{App, MerchantScope, OrderLoc, Result};
use crate::domain::events::EventType;
use crate::domain::order::{Command, Order};
use crate::store::{Committed, Key, PublishTarget, Txn, encode};

/// One stream entry: the event and the order as it stood when published.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StreamEvent {
    pub seq: u64,
    pub event_type: EventType,
    pub order: Order,
    /// When the event happened (the platform's clock).
    pub at: crate::domain::Millis,
}

/// Publishing rounds per call: new events can arrive while draining.
const MAX_ROUNDS: usize = 4;

impl App {
    /// Publishes `order`'s pending events and forgets them. `version` is the
    /// stored version of `order` if known (it saves re-reading it). Returns
    /// the order as it then stands.
    pub(crate) async fn publish(
        &self,
        loc: &OrderLoc,
        mut order: Order,
        mut version: Option<u64>,
    ) -> Result<Order> {
        for _ in 0..MAX_ROUNDS {
            if order.events.is_empty() {
                break;
            }
            let mut snapshot = order.clone();
            snapshot.events.clear();
            let entries: Vec<(u64, Vec<u8>)> = order
                .events
                .iter()
                .map(|e| {
                    let event = StreamEvent {
                        seq: e.seq,
                        event_type: e.event_type,
                        order: snapshot.clone(),
                        at: e.at,
                    };
                    (e.seq, encode(&event))
                })
                .collect();
            let now = self.now();
            let target = PublishTarget {
                stream: Key::events(&loc.merchant_id, loc.mode),
                published: Key::published(&loc.merchant_id, loc.mode),
                deliveries: Key::deliveries(&loc.merchant_id, loc.mode),
                max_len: self.settings.events_max_len,
            };
            let upto = self
                .store
                .publish(&target, &order.order_id, &entries, now)
                .await?;
            // Woken after the deliveries are queued, so no worker can find the
            // queue empty and let the wake-up go before they exist. A crash
            // right here leaves the events in the order (they are forgotten
            // only below): the order's own wake-up publishes again, and wakes.
            self.wake_deliveries(loc.mode, &loc.merchant_id, now)
                .await?;
            // Forget what was published: against the version we hold if we
            // hold one (nothing else changes, so the standing is untouched),
            // else (or if the order moved on) by reading it afresh.
            if let Some(held) = version.take() {
                let mut drained = order.clone();
                let _ = drained.apply(Command::Published { upto }, self.now());
                let key = loc.order_key();
                let txn = Txn::default().check(key.clone(), held).put(key, &drained);
                if self.store.commit(txn).await? == Committed::Done {
                    order = drained;
                    version = Some(held + 1);
                    continue;
                }
            }
            let (drained, _, now_at) = self
                .commit_versioned(loc, Command::Published { upto })
                .await?;
            order = drained;
            version = Some(now_at);
        }
        Ok(order)
    }

    /// Publishes what a commit just queued; if that fails the change still
    /// stands and the jobs publish it after the grace period.
    pub(crate) async fn publish_after_commit(
        &self,
        loc: &OrderLoc,
        order: Order,
        version: u64,
    ) -> Order {
        let fallback = order.clone();
        match self.publish(loc, order, Some(version)).await {
            Ok(order) => order,
            Err(error) => {
                tracing::warn!(%error, order = %loc.out_order_no, "events not published yet; the jobs will");
                fallback
            }
        }
    }

    /// Up to `count` of the merchant's events after `cursor`.
    pub async fn read_events(
        &self,
        scope: &MerchantScope,
        cursor: Option<&str>,
        count: usize,
    ) -> Result<Vec<(String, StreamEvent)>> {
        let stream = Key::events(&scope.merchant_id, scope.mode);
        let entries = self.store.read_stream(&stream, cursor, count).await?;
        entries
            .into_iter()
            .map(|(id, payload)| {
                let raw = crate::store::RawRecord {
                    version: 0,
                    value: payload,
                };
                Ok((id, crate::store::decode::<StreamEvent>(&stream, raw)?.value))
            })
            .collect()
    }
}
