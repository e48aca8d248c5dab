//! Collecting a bill through the payment rail without ever charging twice.
//!
//! An attempt is opened in the store (compare-and-set, so one caller wins)
//! before the rail hears of it, and its charge id is fixed then. A caller
//! that finds an attempt in flight leaves it alone; one that finds it
//! unknown (the rail timed out) or abandoned (older than the lease) takes
//! it over and asks the rail what happened, resending the *same* charge id
//! only if the rail never saw it. A new attempt (a new id) is opened only
//! after the rail said the last one was declined.

use super::{App, Error, OrderLoc, Result};
use crate::domain::DomainError;
use crate::domain::order::{Applied, ChargeAttempt, Command, Order, OrderState};
use crate::rail::{ChargeOutcome, ChargeRequest, RailError};

/// Whether a new attempt may be opened at once or only when its backoff
/// has passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// Asked for by the merchant (Deduct) or the user (top-up).
    Now,
    /// Scheduled: only once due.
    WhenDue,
}

impl App {
    /// The merchant's Deduct: collect now.
    pub async fn deduct(&self, scope: &super::MerchantScope, out_order_no: &str) -> Result<Order> {
        let loc = self.locate(scope, out_order_no).await?;
        self.collect(&loc, Attempt::Now).await
    }

    /// One collection step: open or resolve an attempt and record what the
    /// rail answered. Returns the order as it then stands.
    pub(crate) async fn collect(&self, loc: &OrderLoc, attempt: Attempt) -> Result<Order> {
        let order = self.load(loc).await?;
        match order.state {
            OrderState::Paid => return Ok(order),
            OrderState::Completed if order.user_paid_offline => return Ok(order),
            OrderState::Completed => {}
            state => {
                return Err(DomainError::InvalidState {
                    state,
                    action: "deduct",
                }
                .into());
            }
        }
        let lease = i64::try_from(self.settings.charge_lease.as_millis()).unwrap_or(i64::MAX);
        let (command, resend) = match &order.collection.charge {
            None => match attempt {
                Attempt::Now => (Command::BeginCharge, false),
                Attempt::WhenDue => (Command::BeginDueCharge, false),
            },
            Some(charge) if !charge.outcome_unknown && self.now() - charge.started_at < lease => {
                return Ok(order);
            }
            Some(charge) => {
                let resume = Command::ResumeCharge {
                    charge_id: charge.charge_id.clone(),
                    stale_before: self.now() - lease,
                };
                (resume, true)
            }
        };
        let order = match self.apply(loc, command).await {
            // Paid meanwhile by a concurrent caller: nothing to charge.
            Ok((order, Applied::Unchanged)) => return Ok(order),
            Ok((order, Applied::Changed)) => order,
            // Another caller opened or took over the attempt first: it is theirs.
            Err(Error::Domain(DomainError::DeductionInProgress)) => return self.load(loc).await,
            Err(e) => return Err(e),
        };
        let charge = order
            .collection
            .charge
            .clone()
            .expect("an attempt was just opened or taken over");
        let request = charge_request(&order, &charge);
        let answer = if resend {
            self.resolve(loc, &request).await
        } else {
            self.rail(loc.mode).charge(&request).await
        };
        let charge_id = charge.charge_id;
        let command = match answer {
            Ok(ChargeOutcome::Succeeded) => Command::ChargeSucceeded { charge_id },
            Ok(ChargeOutcome::Declined(code)) => Command::ChargeDeclined { charge_id, code },
            Ok(ChargeOutcome::Pending) => Command::ChargeUnknown { charge_id },
            Err(error) => {
                tracing::warn!(%error, charge_id, "charge outcome unknown; it will be asked, not resent blindly");
                Command::ChargeUnknown { charge_id }
            }
        };
        match self.apply(loc, command).await {
            Ok((order, _)) => Ok(order),
            // The attempt was settled by another caller meanwhile.
            Err(Error::Domain(DomainError::InvalidState { .. })) => self.load(loc).await,
            Err(e) => Err(e),
        }
    }

    /// Asks the rail about an attempt; resends the same charge id only if
    /// the rail never received it (the rail is idempotent on the id).
    async fn resolve(
        &self,
        loc: &OrderLoc,
        request: &ChargeRequest,
    ) -> Result<ChargeOutcome, RailError> {
        let rail = self.rail(loc.mode);
        match rail.get_charge(&request.charge_id).await? {
            Some(outcome) => Ok(outcome),
            None => rail.charge(request).await,
        }
    }
}

fn charge_request(order: &Order, charge: &ChargeAttempt) -> ChargeRequest {
    ChargeRequest {
        charge_id: charge.charge_id.clone(),
        openid: order.terms.openid.clone(),
        amount: charge.amount,
        merchant_id: order.merchant_id.clone(),
        order_id: order.order_id.clone(),
        sandbox: order.mode == crate::domain::Mode::Sandbox,
    }
}
