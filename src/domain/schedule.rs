//! When an order next needs the platform's attention, and what is due: the
//! time-driven half of the order's life (expiry, deduction attempts and
//! their retries, collection stages and the default). Jobs read this; they
//! decide nothing themselves.

use super::Millis;
use super::order::{CollectionState, Command, OVERDUE_STAGES, Order, OrderState, OverdueStage};

/// Time limits that drive orders.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// A CREATED order the user has not confirmed within this expires.
    pub confirm_timeout_ms: Millis,
    /// An open charge untouched this long is resolved by someone else.
    pub charge_lease_ms: Millis,
}

/// A charge whose outcome is unknown is asked about again after this long
/// (not at once: a rail that is down must not be hammered).
pub const RESOLVE_AFTER_MS: Millis = 5_000;

/// Events are published right after the change that made them; a replica
/// that died in between leaves them to the jobs, after this long.
pub const PUBLISH_GRACE_MS: Millis = 5_000;

/// What a job must do for an order now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Duty {
    /// Events are waiting to be published.
    Publish,
    /// A state change (expiry, a collection stage).
    Apply(Command),
    /// A deduction attempt is due, or an open one must be resolved.
    Collect,
}

fn next_stage(order: &Order) -> Option<(Millis, OverdueStage)> {
    let completed = order.completed_at?;
    OVERDUE_STAGES
        .iter()
        .find(|(_, stage)| *stage > order.collection.overdue_stage)
        .map(|(after, stage)| (completed + after, *stage))
}

fn collect_at(order: &Order, timing: Timing) -> Option<Millis> {
    if order.user_paid_offline || order.collection.state == CollectionState::Paid {
        return None;
    }
    match &order.collection.charge {
        Some(charge) if charge.outcome_unknown => Some(charge.started_at + RESOLVE_AFTER_MS),
        Some(charge) => Some(charge.started_at + timing.charge_lease_ms),
        None => order.collection.next_attempt_at,
    }
}

fn publish_at(order: &Order) -> Option<Millis> {
    order.events.first().map(|e| e.at + PUBLISH_GRACE_MS)
}

/// When the order next needs attention (`None`: never, unless a call changes it).
pub fn next_due(order: &Order, timing: Timing) -> Option<Millis> {
    let state_due = state_due(order, timing);
    match (publish_at(order), state_due) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn state_due(order: &Order, timing: Timing) -> Option<Millis> {
    match order.state {
        OrderState::Created if order.terms.need_user_confirm => {
            Some(order.created_at + timing.confirm_timeout_ms)
        }
        OrderState::Completed => {
            let stage = next_stage(order).map(|(at, _)| at);
            match (stage, collect_at(order, timing)) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        }
        _ => None,
    }
}

/// The first thing due at `now`, if any. State changes come before
/// collection so that a stage is recorded before the next attempt.
pub fn due(order: &Order, timing: Timing, now: Millis) -> Option<Duty> {
    if publish_at(order).is_some_and(|at| at <= now) {
        return Some(Duty::Publish);
    }
    match order.state {
        OrderState::Created
            if order.terms.need_user_confirm
                && order.created_at + timing.confirm_timeout_ms <= now =>
        {
            Some(Duty::Apply(Command::Expire))
        }
        OrderState::Completed => {
            if let Some((at, stage)) = next_stage(order)
                && at <= now
            {
                return Some(Duty::Apply(Command::Overdue { stage }));
            }
            collect_at(order, timing)
                .filter(|at| *at <= now)
                .map(|_| Duty::Collect)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::{Applied, Bill, BillLine, Decision, RiskFund, RiskFundName, Terms};
    use crate::domain::{DAY_MS, Mode};

    const T: Timing = Timing {
        confirm_timeout_ms: 1_800_000,
        charge_lease_ms: 30_000,
    };

    /// The order with its events published: these tests are about the rest.
    fn drained(o: &Order) -> Order {
        let mut o = o.clone();
        let _ = o.published(u64::MAX);
        o
    }

    fn changed(result: Result<Applied, crate::domain::DomainError>) {
        assert_eq!(result.unwrap(), Applied::Changed);
    }

    fn order(need_user_confirm: bool) -> Order {
        let terms = Terms {
            service_id: "s".into(),
            openid: "u".into(),
            risk_fund: RiskFund {
                name: RiskFundName::Deposit,
                amount: 10_000,
                description: String::new(),
            },
            service_introduction: "x".into(),
            time_range: None,
            location: None,
            need_user_confirm,
            attach: String::new(),
        };
        Order::new(
            "o".into(),
            "n".into(),
            "m".into(),
            Mode::Live,
            terms,
            Decision::Approved,
            0,
        )
    }

    fn completed_at(at: Millis) -> Order {
        let mut o = order(false);
        let bill = Bill {
            post_payments: vec![BillLine {
                name: "x".into(),
                amount: 500,
                description: String::new(),
                count: 1,
            }],
            post_discounts: vec![],
            total_amount: 500,
        };
        assert_eq!(
            o.apply(Command::Complete(bill), at).unwrap(),
            Applied::Changed
        );
        o
    }

    #[test]
    fn unconfirmed_orders_expire() {
        let o = order(true);
        assert_eq!(next_due(&drained(&o), T), Some(1_800_000));
        assert_eq!(due(&drained(&o), T, 1_799_999), None);
        assert_eq!(
            due(&drained(&o), T, 1_800_000),
            Some(Duty::Apply(Command::Expire))
        );
        assert_eq!(
            next_due(&drained(&order(false)), T),
            None,
            "standing authorisation: nothing to wait for"
        );
    }

    #[test]
    fn a_due_bill_is_collected_at_once_and_retried_with_backoff() {
        let mut o = completed_at(1_000);
        assert_eq!(due(&drained(&o), T, 1_000), Some(Duty::Collect));
        changed(o.apply(Command::BeginCharge, 1_000));
        assert_eq!(
            due(&drained(&o), T, 1_001),
            None,
            "in flight, not yet stale"
        );
        assert_eq!(
            due(&drained(&o), T, 31_000),
            Some(Duty::Collect),
            "stale after the lease"
        );
        let charge_id = o.collection.charge.clone().unwrap().charge_id;
        changed(o.apply(
            Command::ChargeDeclined {
                charge_id,
                code: "NSF".into(),
            },
            2_000,
        ));
        assert_eq!(
            next_due(&drained(&o), T),
            Some(62_000),
            "first retry a minute later"
        );
        assert_eq!(due(&drained(&o), T, 61_999), None);
        changed(o.apply(Command::BeginCharge, 62_000));
        let charge_id = o.collection.charge.clone().unwrap().charge_id;
        changed(o.apply(
            Command::ChargeDeclined {
                charge_id,
                code: "NSF".into(),
            },
            62_000,
        ));
        assert_eq!(
            next_due(&drained(&o), T),
            Some(362_000),
            "then five minutes"
        );
    }

    #[test]
    fn collection_stages_follow_the_days() {
        let mut o = completed_at(0);
        changed(o.apply(Command::BeginCharge, 0));
        let charge_id = o.collection.charge.clone().unwrap().charge_id;
        changed(o.apply(
            Command::ChargeDeclined {
                charge_id,
                code: "NSF".into(),
            },
            0,
        ));
        let stage = |o: &Order, now| due(&drained(o), T, now);
        assert_eq!(
            stage(&o, DAY_MS),
            Some(Duty::Apply(Command::Overdue {
                stage: OverdueStage::UserNotified
            }))
        );
        changed(o.apply(
            Command::Overdue {
                stage: OverdueStage::UserNotified,
            },
            DAY_MS,
        ));
        assert_eq!(
            o.defaulted_at,
            Some(DAY_MS),
            "unpaid 24 h after completion is a default"
        );
        assert_eq!(
            stage(&o, 3 * DAY_MS),
            Some(Duty::Apply(Command::Overdue {
                stage: OverdueStage::Negotiation
            }))
        );
        changed(o.apply(
            Command::Overdue {
                stage: OverdueStage::Negotiation,
            },
            3 * DAY_MS,
        ));
        changed(o.apply(
            Command::Overdue {
                stage: OverdueStage::Legal,
            },
            7 * DAY_MS,
        ));
        assert_eq!(
            o.apply(
                Command::Overdue {
                    stage: OverdueStage::Negotiation
                },
                8 * DAY_MS
            )
            .unwrap(),
            Applied::Unchanged
        );
        assert_eq!(o.defaulted_at, Some(DAY_MS));
    }

    #[test]
    fn unpublished_events_are_a_duty_after_a_grace() {
        let mut o = drained(&order(false));
        changed(o.apply(Command::Cancel { reason: "x".into() }, 100));
        assert_eq!(next_due(&o, T), Some(100 + PUBLISH_GRACE_MS));
        assert_eq!(due(&o, T, 100), None);
        assert_eq!(due(&o, T, 100 + PUBLISH_GRACE_MS), Some(Duty::Publish));
        let _ = o.published(u64::MAX);
        assert_eq!(next_due(&o, T), None);
    }

    #[test]
    fn paid_orders_need_nothing() {
        let mut o = completed_at(0);
        changed(o.apply(Command::Sync, 1));
        assert_eq!(next_due(&drained(&o), T), None);
        assert_eq!(due(&drained(&o), T, 100 * DAY_MS), None);
    }
}
