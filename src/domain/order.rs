//! The order and its state machine: the one place where an order's state
//! changes. Every change is a [`Command`] applied by [`Order::apply`], which
//! either changes the order, finds the command already applied (an
//! idempotent repeat: [`Applied::Unchanged`]), or refuses it.
//!
//! ```text
//! Authorize ─► CREATED ──Confirm──► AUTHORIZED ──Complete──► COMPLETED ──ChargeSucceeded──► PAID
//!    │           ├─Reject / Cancel─► REVOKED ◄─Cancel─┘          ├─Sync (paid elsewhere)──► PAID
//!    │           └─Expire──────────► EXPIRED                     └─Modify (down only; 0 ─► PAID)
//!    └─► DECLINED (kept so that a retried Authorize gets the same answer)
//! ```

use serde::{Deserialize, Serialize};

use super::events::{self, PendingEvent};
use super::{DAY_MS, DomainError, Fen, HOUR_MS, Millis, Mode};

/// Where an order is in its life. Each state says what it admits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderState {
    /// Approved, waiting for the user: admits Confirm, Reject, Cancel, Expire.
    Created,
    /// The service may start: admits Complete, Cancel.
    Authorized,
    /// Billed and unpaid: admits charges, Sync, Modify, PayOffline.
    Completed,
    /// Settled. Terminal.
    Paid,
    /// Cancelled by the merchant or rejected by the user. Terminal.
    Revoked,
    /// Not confirmed in time. Terminal.
    Expired,
    /// Refused for credit reasons. Terminal.
    Declined,
}

impl OrderState {
    /// Unfinished orders count against the user's limit of 3.
    pub fn is_unfinished(self) -> bool {
        matches!(self, Self::Created | Self::Authorized | Self::Completed)
    }
}

/// Why a credit check refused an order (not an error: the merchant falls
/// back to a cash deposit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeclineReason {
    ScoreTooLow,
    NotEnrolled,
    RiskLimited,
    UserFrozen,
    Blacklisted,
    HasOverdueOrder,
    TooManyActiveOrders,
    NotInCanary,
    RiskFundTooHigh,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    Approved,
    Declined(DeclineReason),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RiskFundName {
    Deposit,
    Advance,
    CashDeposit,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskFund {
    pub name: RiskFundName,
    pub amount: Fen,
    pub description: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeRange {
    pub start_time: String,
    pub end_time: String,
    pub start_time_remark: String,
    pub end_time_remark: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub start_location: String,
    pub end_location: String,
}

/// What the merchant asked for in Authorize. A retried Authorize is the same
/// call exactly when its terms (and openid) are equal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    pub service_id: String,
    pub openid: String,
    pub risk_fund: RiskFund,
    pub service_introduction: String,
    pub time_range: Option<TimeRange>,
    pub location: Option<Location>,
    pub need_user_confirm: bool,
    pub attach: String,
}

/// One line of a bill or discount. `amount` is the line total.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillLine {
    pub name: String,
    pub amount: Fen,
    pub description: String,
    pub count: u32,
}

/// The bill sent with Complete.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bill {
    pub post_payments: Vec<BillLine>,
    pub post_discounts: Vec<BillLine>,
    pub total_amount: Fen,
}

impl Bill {
    /// Σ payments − Σ discounts.
    pub fn computed_total(&self) -> Fen {
        let paid: Fen = self.post_payments.iter().map(|l| l.amount).sum();
        let discounted: Fen = self.post_discounts.iter().map(|l| l.amount).sum();
        paid - discounted
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CollectionState {
    /// No bill yet.
    NotDue,
    /// Billed; a charge will be (re)tried.
    Due,
    /// A charge is in flight or its outcome is unknown.
    InProgress,
    Paid,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum OverdueStage {
    None,
    UserNotified,
    Negotiation,
    Legal,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaidVia {
    Rail,
    ZeroBill,
    Sync,
}

/// A charge sent (or about to be sent) to the payment rail. Its id is
/// reused for every resend, so the rail can never move money twice for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeAttempt {
    pub charge_id: String,
    pub amount: Fen,
    pub started_at: Millis,
    /// The rail did not answer in time: the outcome must be asked, not guessed.
    pub outcome_unknown: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collection {
    pub state: CollectionState,
    pub paid_amount: Fen,
    pub attempts: u32,
    pub overdue_stage: OverdueStage,
    pub charge: Option<ChargeAttempt>,
    pub last_decline: Option<String>,
    pub paid_at: Option<Millis>,
    pub paid_via: Option<PaidVia>,
    /// When the next charge attempt is due (set by Complete and after a
    /// decline, cleared when an attempt opens).
    #[serde(default)]
    pub next_attempt_at: Option<Millis>,
}

/// After the n-th declined attempt, the next one waits this long (the last
/// entry repeats).
pub const RETRY_BACKOFF_MS: &[Millis] = &[
    60_000,
    300_000,
    900_000,
    HOUR_MS,
    3 * HOUR_MS,
    6 * HOUR_MS,
    12 * HOUR_MS,
];

/// Days after completion at which an unpaid order reaches each collection stage.
pub const OVERDUE_STAGES: [(Millis, OverdueStage); 3] = [
    (DAY_MS, OverdueStage::UserNotified),
    (3 * DAY_MS, OverdueStage::Negotiation),
    (7 * DAY_MS, OverdueStage::Legal),
];

impl Collection {
    fn not_due() -> Self {
        Self {
            state: CollectionState::NotDue,
            paid_amount: 0,
            attempts: 0,
            overdue_stage: OverdueStage::None,
            charge: None,
            last_decline: None,
            paid_at: None,
            paid_via: None,
            next_attempt_at: None,
        }
    }
}

/// Who ended an order before completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RevokedBy {
    Merchant,
    User,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub order_id: String,
    pub out_order_no: String,
    pub merchant_id: String,
    pub mode: Mode,
    pub state: OrderState,
    pub decision: Decision,
    pub terms: Terms,
    pub bill: Option<Bill>,
    /// Current amount due (the bill's total, lowered by Modify).
    pub total_amount: Fen,
    pub collection: Collection,
    pub revoked_by: Option<RevokedBy>,
    /// The merchant's reason for Cancel or the last Modify.
    pub reason: Option<String>,
    /// The user reported paying elsewhere; the merchant should Sync.
    pub user_paid_offline: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub completed_at: Option<Millis>,
    /// The sandbox scenario that drives this order, if any.
    pub scenario: Option<String>,
    /// When the unpaid bill became a default (24 h after completion).
    #[serde(default)]
    pub defaulted_at: Option<Millis>,
    /// Events not yet published to the merchant's stream, oldest first.
    #[serde(default)]
    pub events: Vec<PendingEvent>,
    /// The seq of the order's latest event (published or not).
    #[serde(default)]
    pub event_seq: u64,
}

/// A change asked of an order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// The user confirmed in the app.
    Confirm,
    /// The user rejected in the app.
    Reject,
    /// The confirmation window passed.
    Expire,
    Complete(Bill),
    Cancel {
        reason: String,
    },
    Modify {
        total_amount: Fen,
        reason: String,
    },
    /// The merchant says the user paid elsewhere.
    Sync,
    /// The user reports paying elsewhere.
    PayOffline,
    /// Starts a new charge attempt (only when none is open).
    BeginCharge,
    /// Starts the scheduled attempt: as BeginCharge, but only once the
    /// backoff after a decline has passed (checked on the state committed,
    /// so two schedulers can never make one retry twice).
    BeginDueCharge,
    /// Takes over an open attempt whose outcome is unknown or whose owner
    /// went quiet (started before `stale_before`): same charge id.
    ResumeCharge {
        charge_id: String,
        stale_before: Millis,
    },
    ChargeSucceeded {
        charge_id: String,
    },
    ChargeDeclined {
        charge_id: String,
        code: String,
    },
    /// The rail did not answer: the attempt stays open, outcome unknown.
    ChargeUnknown {
        charge_id: String,
    },
    /// The unpaid bill reached a collection stage (day 1 is also a default).
    Overdue {
        stage: OverdueStage,
    },
    /// Events up to `upto` are in the merchant's stream: forget them.
    Published {
        upto: u64,
    },
}

/// Whether applying a command changed the order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Applied {
    Changed,
    /// Already applied (an idempotent repeat): nothing to store.
    Unchanged,
}

impl Order {
    /// A new order as Authorize decided it.
    pub fn new(
        order_id: String,
        out_order_no: String,
        merchant_id: String,
        mode: Mode,
        terms: Terms,
        decision: Decision,
        now: Millis,
    ) -> Self {
        let state = match decision {
            Decision::Declined(_) => OrderState::Declined,
            Decision::Approved if terms.need_user_confirm => OrderState::Created,
            Decision::Approved => OrderState::Authorized,
        };
        let mut order = Self {
            order_id,
            out_order_no,
            merchant_id,
            mode,
            state,
            decision,
            terms,
            bill: None,
            total_amount: 0,
            collection: Collection::not_due(),
            revoked_by: None,
            reason: None,
            user_paid_offline: false,
            created_at: now,
            updated_at: now,
            completed_at: None,
            scenario: None,
            defaulted_at: None,
            events: Vec::new(),
            event_seq: 0,
        };
        order.announce(None, now);
        order
    }

    /// Queues the events of a change from `before` for publishing.
    fn announce(&mut self, before: Option<&Order>, now: Millis) {
        for event_type in events::between(before, self) {
            self.event_seq += 1;
            self.events.push(PendingEvent {
                seq: self.event_seq,
                event_type,
                at: now,
            });
        }
    }

    /// Forgets events up to `seq`: they are in the merchant's stream.
    pub fn published(&mut self, seq: u64) -> Applied {
        let before = self.events.len();
        self.events.retain(|e| e.seq > seq);
        if self.events.len() == before {
            Applied::Unchanged
        } else {
            Applied::Changed
        }
    }

    /// Amount still to collect.
    pub fn outstanding(&self) -> Fen {
        self.total_amount - self.collection.paid_amount
    }

    /// Applies `command` at time `now`.
    pub fn apply(&mut self, command: Command, now: Millis) -> Result<Applied, DomainError> {
        // Bookkeeping, not a change the merchant sees: no event, same update_time.
        if let Command::Published { upto } = command {
            return Ok(self.published(upto));
        }
        let before = self.clone();
        let applied = self.transition(command, now)?;
        if applied == Applied::Changed {
            self.updated_at = now;
            self.announce(Some(&before), now);
        }
        Ok(applied)
    }

    fn transition(&mut self, command: Command, now: Millis) -> Result<Applied, DomainError> {
        use OrderState::*;
        let applied = match (self.state, command) {
            (Created, Command::Confirm) => self.enter(Authorized),
            (Authorized, Command::Confirm) => Applied::Unchanged,

            (Created, Command::Reject) => {
                self.revoked_by = Some(RevokedBy::User);
                self.enter(Revoked)
            }
            (Revoked, Command::Reject) if self.revoked_by == Some(RevokedBy::User) => {
                Applied::Unchanged
            }

            (Created, Command::Expire) => self.enter(Expired),
            (Expired, Command::Expire) => Applied::Unchanged,

            (Created | Authorized, Command::Cancel { reason }) => {
                self.revoked_by = Some(RevokedBy::Merchant);
                self.reason = Some(reason);
                self.enter(Revoked)
            }
            (Revoked, Command::Cancel { reason })
                if self.revoked_by == Some(RevokedBy::Merchant)
                    && self.reason.as_deref() == Some(reason.as_str()) =>
            {
                Applied::Unchanged
            }

            (Authorized, Command::Complete(bill)) => self.complete(bill, now)?,
            (Completed | Paid, Command::Complete(bill)) if self.bill.as_ref() == Some(&bill) => {
                Applied::Unchanged
            }

            (
                Completed,
                Command::Modify {
                    total_amount,
                    reason,
                },
            ) => self.modify(total_amount, reason, now)?,
            (
                Paid,
                Command::Modify {
                    total_amount,
                    reason,
                },
            ) if self.total_amount == total_amount
                && self.reason.as_deref() == Some(reason.as_str()) =>
            {
                Applied::Unchanged
            }

            (Completed, Command::Sync) => {
                self.refuse_while_charging()?;
                self.settle(PaidVia::Sync, now)
            }
            (Paid, Command::Sync) if self.collection.paid_via == Some(PaidVia::Sync) => {
                Applied::Unchanged
            }

            (Completed, Command::PayOffline) if self.user_paid_offline => Applied::Unchanged,
            (Completed, Command::PayOffline) => {
                self.user_paid_offline = true;
                Applied::Changed
            }

            (Completed, Command::BeginCharge) => self.begin_charge(now)?,
            (Completed, Command::BeginDueCharge) => match self.collection.next_attempt_at {
                Some(due) if due <= now && self.collection.charge.is_none() => {
                    self.begin_charge(now)?
                }
                // Not due (or already under way): nothing to start.
                _ => Applied::Unchanged,
            },
            // Collection already finished (perhaps by a concurrent caller):
            // asking to collect again is answered with the paid order.
            (
                Paid,
                Command::BeginCharge | Command::BeginDueCharge | Command::ResumeCharge { .. },
            ) => Applied::Unchanged,
            (
                Completed,
                Command::ResumeCharge {
                    charge_id,
                    stale_before,
                },
            ) => {
                let charge = self.open_charge(&charge_id)?;
                if !charge.outcome_unknown && charge.started_at >= stale_before {
                    return Err(DomainError::DeductionInProgress);
                }
                charge.started_at = now;
                charge.outcome_unknown = false;
                Applied::Changed
            }
            (Completed, Command::ChargeSucceeded { charge_id }) => {
                let amount = self.open_charge(&charge_id)?.amount;
                self.collection.paid_amount += amount;
                self.collection.charge = None;
                self.settle(PaidVia::Rail, now)
            }
            (Completed, Command::ChargeDeclined { charge_id, code }) => {
                self.open_charge(&charge_id)?;
                self.collection.charge = None;
                self.collection.last_decline = Some(code);
                self.collection.state = CollectionState::Due;
                let waits = RETRY_BACKOFF_MS;
                let wait = waits[(self.collection.attempts as usize)
                    .saturating_sub(1)
                    .min(waits.len() - 1)];
                self.collection.next_attempt_at = Some(now + wait);
                Applied::Changed
            }
            (Completed, Command::ChargeUnknown { charge_id }) => {
                self.open_charge(&charge_id)?.outcome_unknown = true;
                Applied::Changed
            }
            (Completed, Command::Overdue { stage }) if stage <= self.collection.overdue_stage => {
                Applied::Unchanged
            }
            (Completed, Command::Overdue { stage }) => {
                self.collection.overdue_stage = stage;
                if self.defaulted_at.is_none() {
                    self.defaulted_at = Some(now);
                }
                Applied::Changed
            }
            (Paid, Command::Overdue { .. }) => Applied::Unchanged,

            (_, Command::Published { upto }) => self.published(upto),
            (state, command) => {
                return Err(DomainError::InvalidState {
                    state,
                    action: command.name(),
                });
            }
        };
        Ok(applied)
    }

    fn enter(&mut self, state: OrderState) -> Applied {
        self.state = state;
        Applied::Changed
    }

    fn complete(&mut self, bill: Bill, now: Millis) -> Result<Applied, DomainError> {
        let computed = bill.computed_total();
        if computed != bill.total_amount {
            return Err(DomainError::TotalMismatch {
                total: bill.total_amount,
                computed,
            });
        }
        let risk_fund = self.terms.risk_fund.amount;
        if bill.total_amount > risk_fund {
            return Err(DomainError::AmountExceedsRiskFund {
                total: bill.total_amount,
                risk_fund,
            });
        }
        self.total_amount = bill.total_amount;
        self.bill = Some(bill);
        self.completed_at = Some(now);
        self.state = OrderState::Completed;
        if self.total_amount == 0 {
            return Ok(self.settle(PaidVia::ZeroBill, now));
        }
        self.collection.state = CollectionState::Due;
        self.collection.next_attempt_at = Some(now);
        Ok(Applied::Changed)
    }

    fn modify(&mut self, total: Fen, reason: String, now: Millis) -> Result<Applied, DomainError> {
        if total == self.total_amount && self.reason.as_deref() == Some(reason.as_str()) {
            return Ok(Applied::Unchanged);
        }
        if total >= self.total_amount {
            return Err(DomainError::AmountNotLower {
                requested: total,
                current: self.total_amount,
            });
        }
        self.refuse_while_charging()?;
        if total < self.collection.paid_amount {
            return Err(DomainError::AmountNotLower {
                requested: total,
                current: self.collection.paid_amount,
            });
        }
        self.total_amount = total;
        self.reason = Some(reason);
        if self.outstanding() == 0 {
            let via = if total == 0 {
                PaidVia::ZeroBill
            } else {
                PaidVia::Rail
            };
            return Ok(self.settle(via, now));
        }
        Ok(Applied::Changed)
    }

    fn begin_charge(&mut self, now: Millis) -> Result<Applied, DomainError> {
        self.refuse_while_charging()?;
        self.collection.attempts += 1;
        self.collection.charge = Some(ChargeAttempt {
            charge_id: format!("{}-{}", self.order_id, self.collection.attempts),
            amount: self.outstanding(),
            started_at: now,
            outcome_unknown: false,
        });
        self.collection.state = CollectionState::InProgress;
        self.collection.next_attempt_at = None;
        Ok(Applied::Changed)
    }

    /// Money may be moving: changing what is owed now could charge twice or
    /// settle a bill the rail is also collecting.
    fn refuse_while_charging(&self) -> Result<(), DomainError> {
        match self.collection.charge {
            Some(_) => Err(DomainError::DeductionInProgress),
            None => Ok(()),
        }
    }

    fn open_charge(&mut self, charge_id: &str) -> Result<&mut ChargeAttempt, DomainError> {
        let state = self.state;
        match self.collection.charge.as_mut() {
            Some(charge) if charge.charge_id == charge_id => Ok(charge),
            _ => Err(DomainError::InvalidState {
                state,
                action: "settle a charge that is not the open one",
            }),
        }
    }

    fn settle(&mut self, via: PaidVia, now: Millis) -> Applied {
        self.state = OrderState::Paid;
        self.collection.state = CollectionState::Paid;
        self.collection.paid_at = Some(now);
        self.collection.paid_via = Some(via);
        self.collection.overdue_stage = OverdueStage::None;
        Applied::Changed
    }
}

impl Command {
    /// The action's name, for error messages.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Confirm => "confirm",
            Command::Reject => "reject",
            Command::Expire => "expire",
            Command::Complete(_) => "complete",
            Command::Cancel { .. } => "cancel",
            Command::Modify { .. } => "modify the amount",
            Command::Sync => "sync",
            Command::PayOffline => "pay offline",
            Command::BeginCharge
            | Command::BeginDueCharge
            | Command::ResumeCharge { .. }
            | Command::ChargeSucceeded { .. }
            | Command::ChargeDeclined { .. }
            | Command::ChargeUnknown { .. } => "deduct",
            Command::Overdue { .. } => "mark overdue",
            Command::Published { .. } => "publish events",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(need_user_confirm: bool) -> Order {
        let terms = Terms {
            service_id: "powerbank".into(),
            openid: "u1".into(),
            risk_fund: RiskFund {
                name: RiskFundName::Deposit,
                amount: 29_900,
                description: String::new(),
            },
            service_introduction: "power bank".into(),
            time_range: None,
            location: None,
            need_user_confirm,
            attach: String::new(),
        };
        Order::new(
            "o1".into(),
            "out-0001".into(),
            "m1".into(),
            Mode::Live,
            terms,
            Decision::Approved,
            0,
        )
    }

    fn changed(result: Result<Applied, DomainError>) {
        assert_eq!(result.unwrap(), Applied::Changed);
    }

    fn bill(total: Fen) -> Bill {
        Bill {
            post_payments: vec![BillLine {
                name: "rental".into(),
                amount: total,
                description: String::new(),
                count: 1,
            }],
            post_discounts: vec![],
            total_amount: total,
        }
    }

    fn completed(total: Fen) -> Order {
        let mut o = order(false);
        assert_eq!(
            o.apply(Command::Complete(bill(total)), 1).unwrap(),
            Applied::Changed
        );
        o
    }

    #[test]
    fn standing_authorisation_skips_confirmation() {
        assert_eq!(order(false).state, OrderState::Authorized);
        assert_eq!(order(true).state, OrderState::Created);
    }

    #[test]
    fn confirm_is_idempotent_and_complete_needs_confirmation() {
        let mut o = order(true);
        assert!(matches!(
            o.apply(Command::Complete(bill(100)), 1),
            Err(DomainError::InvalidState {
                state: OrderState::Created,
                ..
            })
        ));
        assert_eq!(o.apply(Command::Confirm, 1).unwrap(), Applied::Changed);
        assert_eq!(o.apply(Command::Confirm, 2).unwrap(), Applied::Unchanged);
        assert_eq!(o.updated_at, 1);
    }

    #[test]
    fn complete_checks_the_bill() {
        let mut o = order(false);
        let mut wrong = bill(100);
        wrong.total_amount = 99;
        assert!(matches!(
            o.apply(Command::Complete(wrong), 1),
            Err(DomainError::TotalMismatch {
                total: 99,
                computed: 100
            })
        ));
        assert!(matches!(
            o.apply(Command::Complete(bill(30_000)), 1),
            Err(DomainError::AmountExceedsRiskFund { .. })
        ));
        assert_eq!(
            o.state,
            OrderState::Authorized,
            "a refused command changes nothing"
        );
    }

    #[test]
    fn repeated_complete_same_bill_unchanged_other_bill_refused() {
        let mut o = completed(500);
        assert_eq!(
            o.apply(Command::Complete(bill(500)), 2).unwrap(),
            Applied::Unchanged
        );
        assert!(matches!(
            o.apply(Command::Complete(bill(400)), 2),
            Err(DomainError::InvalidState { .. })
        ));
    }

    #[test]
    fn zero_bill_is_paid_at_once() {
        let o = completed(0);
        assert_eq!(o.state, OrderState::Paid);
        assert_eq!(o.collection.paid_via, Some(PaidVia::ZeroBill));
    }

    #[test]
    fn one_open_charge_at_a_time_with_stable_ids() {
        let mut o = completed(500);
        assert_eq!(o.apply(Command::BeginCharge, 2).unwrap(), Applied::Changed);
        let id = o.collection.charge.clone().unwrap().charge_id;
        assert_eq!(id, "o1-1");
        assert_eq!(
            o.apply(Command::BeginCharge, 3),
            Err(DomainError::DeductionInProgress)
        );
        changed(o.apply(
            Command::ChargeDeclined {
                charge_id: id.clone(),
                code: "INSUFFICIENT_FUNDS".into(),
            },
            4,
        ));
        assert_eq!(o.collection.state, CollectionState::Due);
        // A late answer for the closed attempt cannot settle the order.
        assert!(
            o.apply(Command::ChargeSucceeded { charge_id: id }, 5)
                .is_err()
        );
        changed(o.apply(Command::BeginCharge, 6));
        let second = o.collection.charge.clone().unwrap();
        assert_eq!(second.charge_id, "o1-2");
        changed(o.apply(
            Command::ChargeUnknown {
                charge_id: second.charge_id.clone(),
            },
            7,
        ));
        assert_eq!(o.collection.state, CollectionState::InProgress);
        changed(o.apply(
            Command::ChargeSucceeded {
                charge_id: second.charge_id,
            },
            8,
        ));
        assert_eq!(o.state, OrderState::Paid);
        assert_eq!(o.collection.paid_amount, 500);
        assert_eq!(o.collection.attempts, 2);
    }

    #[test]
    fn only_a_quiet_or_unknown_charge_is_taken_over() {
        let mut o = completed(500);
        changed(o.apply(Command::BeginCharge, 100));
        let resume = |stale_before| Command::ResumeCharge {
            charge_id: "o1-1".into(),
            stale_before,
        };
        assert_eq!(
            o.apply(resume(100), 101),
            Err(DomainError::DeductionInProgress)
        );
        changed(o.apply(resume(101), 102));
        assert_eq!(o.collection.charge.as_ref().unwrap().started_at, 102);
        changed(o.apply(
            Command::ChargeUnknown {
                charge_id: "o1-1".into(),
            },
            103,
        ));
        changed(o.apply(resume(0), 104));
        assert_eq!(o.collection.attempts, 1, "taking over is not a new attempt");
    }

    #[test]
    fn sync_and_modify_wait_for_an_open_charge() {
        let mut o = completed(500);
        changed(o.apply(Command::BeginCharge, 2));
        assert_eq!(
            o.apply(Command::Sync, 3),
            Err(DomainError::DeductionInProgress)
        );
        let modify = Command::Modify {
            total_amount: 100,
            reason: "discount".into(),
        };
        assert_eq!(o.apply(modify, 3), Err(DomainError::DeductionInProgress));
    }

    #[test]
    fn modify_only_lowers_and_repeats_are_unchanged() {
        let mut o = completed(500);
        let up = Command::Modify {
            total_amount: 600,
            reason: "x".into(),
        };
        assert!(matches!(
            o.apply(up, 2),
            Err(DomainError::AmountNotLower { .. })
        ));
        let down = Command::Modify {
            total_amount: 300,
            reason: "coupon".into(),
        };
        assert_eq!(o.apply(down.clone(), 2).unwrap(), Applied::Changed);
        assert_eq!(o.apply(down, 3).unwrap(), Applied::Unchanged);
        assert_eq!(o.total_amount, 300);
        let to_zero = Command::Modify {
            total_amount: 0,
            reason: "waived".into(),
        };
        changed(o.apply(to_zero, 4));
        assert_eq!(o.state, OrderState::Paid);
    }

    #[test]
    fn cancel_repeat_same_reason_only() {
        let mut o = order(true);
        let cancel = Command::Cancel {
            reason: "no stock".into(),
        };
        changed(o.apply(cancel.clone(), 1));
        assert_eq!(o.state, OrderState::Revoked);
        assert_eq!(o.apply(cancel, 2).unwrap(), Applied::Unchanged);
        assert!(
            o.apply(
                Command::Cancel {
                    reason: "other".into()
                },
                2
            )
            .is_err()
        );
        assert!(
            o.apply(Command::Reject, 2).is_err(),
            "the merchant revoked it, not the user"
        );
    }

    #[test]
    fn a_scheduled_attempt_waits_for_its_backoff() {
        let mut o = completed(500);
        changed(o.apply(Command::BeginDueCharge, 1));
        let id = o.collection.charge.clone().unwrap().charge_id;
        changed(o.apply(
            Command::ChargeDeclined {
                charge_id: id,
                code: "NSF".into(),
            },
            2,
        ));
        // A second scheduler that saw the order before the decline asks again.
        assert_eq!(
            o.apply(Command::BeginDueCharge, 3).unwrap(),
            Applied::Unchanged
        );
        assert_eq!(o.collection.attempts, 1);
        changed(o.apply(Command::BeginDueCharge, 2 + 60_000));
        assert_eq!(o.collection.attempts, 2);
        // The merchant's Deduct does not wait.
        let id = o.collection.charge.clone().unwrap().charge_id;
        changed(o.apply(
            Command::ChargeDeclined {
                charge_id: id,
                code: "NSF".into(),
            },
            60_003,
        ));
        changed(o.apply(Command::BeginCharge, 60_004));
    }

    #[test]
    fn collecting_a_paid_order_changes_nothing() {
        let mut o = completed(0);
        assert_eq!(
            o.apply(Command::BeginCharge, 9).unwrap(),
            Applied::Unchanged
        );
        let resume = Command::ResumeCharge {
            charge_id: "o1-1".into(),
            stale_before: 9,
        };
        assert_eq!(o.apply(resume, 9).unwrap(), Applied::Unchanged);
        assert_eq!(o.collection.attempts, 0);
    }

    #[test]
    fn every_change_announces_itself_in_order() {
        let names = |o: &Order| {
            o.events
                .iter()
                .map(|e| (e.seq, e.event_type.name()))
                .collect::<Vec<_>>()
        };
        let mut o = order(true);
        changed(o.apply(Command::Confirm, 1));
        assert_eq!(
            names(&o),
            vec![(1, "ORDER.CREATED"), (2, "ORDER.CONFIRMED")]
        );
        assert_eq!(o.published(1), Applied::Changed);
        changed(o.apply(Command::Complete(bill(500)), 2));
        changed(o.apply(Command::BeginCharge, 3));
        let id = o.collection.charge.clone().unwrap().charge_id;
        changed(o.apply(
            Command::ChargeDeclined {
                charge_id: id,
                code: "NSF".into(),
            },
            4,
        ));
        let modify = Command::Modify {
            total_amount: 0,
            reason: "waived".into(),
        };
        changed(o.apply(modify, 5));
        assert_eq!(
            names(&o),
            vec![
                (2, "ORDER.CONFIRMED"),
                (3, "ORDER.COMPLETED"),
                (4, "ORDER.DEDUCTION_FAILED"),
                (5, "ORDER.MODIFIED"),
                (6, "ORDER.PAID")
            ]
        );
        assert_eq!(o.apply(Command::Sync, 6).ok(), None, "refused: no event");
        assert_eq!(o.published(6), Applied::Changed);
        assert!(o.events.is_empty());
        assert_eq!(o.event_seq, 6);
    }

    #[test]
    fn terminal_states_admit_nothing_new() {
        let mut o = completed(0);
        for cmd in [
            Command::Confirm,
            Command::Cancel { reason: "x".into() },
            Command::Sync,
        ] {
            assert!(o.apply(cmd, 9).is_err());
        }
    }
}
