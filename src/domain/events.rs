//! What happened to an order, as merchants are told (WatchEvents, webhooks).
//! Events are derived from the change itself — the order before and after
//! a command — so no transition can forget to announce itself.

use serde::{Deserialize, Serialize};

use super::Millis;
use super::order::{Order, OrderState, RevokedBy};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    Created,
    Confirmed,
    Rejected,
    Expired,
    Revoked,
    Completed,
    Modified,
    DeductionFailed,
    Paid,
    Overdue,
    Defaulted,
}

impl EventType {
    /// The name on the wire, e.g. `ORDER.PAID`.
    pub fn name(self) -> &'static str {
        match self {
            EventType::Created => "ORDER.CREATED",
            EventType::Confirmed => "ORDER.CONFIRMED",
            EventType::Rejected => "ORDER.REJECTED",
            EventType::Expired => "ORDER.EXPIRED",
            EventType::Revoked => "ORDER.REVOKED",
            EventType::Completed => "ORDER.COMPLETED",
            EventType::Modified => "ORDER.MODIFIED",
            EventType::DeductionFailed => "ORDER.DEDUCTION_FAILED",
            EventType::Paid => "ORDER.PAID",
            EventType::Overdue => "ORDER.OVERDUE",
            EventType::Defaulted => "ORDER.DEFAULTED",
        }
    }
}

/// An event not yet published to the merchant's stream. `seq` counts the
/// order's events from 1, so publishing can be made exactly-once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingEvent {
    pub seq: u64,
    pub event_type: EventType,
    pub at: Millis,
}

/// The events a change from `before` (None: creation) to `after` makes, in order.
pub fn between(before: Option<&Order>, after: &Order) -> Vec<EventType> {
    use EventType::*;
    let Some(before) = before else {
        return match after.state {
            OrderState::Declined => vec![],
            _ => vec![Created],
        };
    };
    let mut events = Vec::new();
    let entered = |state| before.state != state && after.state == state;
    if entered(OrderState::Authorized) {
        events.push(Confirmed);
    }
    if entered(OrderState::Revoked) {
        events.push(match after.revoked_by {
            Some(RevokedBy::User) => Rejected,
            _ => Revoked,
        });
    }
    if entered(OrderState::Expired) {
        events.push(Expired);
    }
    if before.completed_at.is_none() && after.completed_at.is_some() {
        events.push(Completed);
    }
    if before.bill.is_some() && before.total_amount != after.total_amount {
        events.push(Modified);
    }
    let charge_closed = before.collection.charge.is_some() && after.collection.charge.is_none();
    if charge_closed && after.state != OrderState::Paid {
        events.push(DeductionFailed);
    }
    if after.collection.overdue_stage > before.collection.overdue_stage {
        events.push(Overdue);
    }
    if before.defaulted_at.is_none() && after.defaulted_at.is_some() {
        events.push(Defaulted);
    }
    if entered(OrderState::Paid) {
        events.push(Paid);
    }
    events
}
