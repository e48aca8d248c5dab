//! The simulated rail: simulated money for the sandbox, and the dev default
//! for live mode. Users start with a balance; a charge above it is declined
//! `INSUFFICIENT_FUNDS`; `top_up` adds to it. Idempotent on charge id, as
//! a real rail must be.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{ChargeOutcome, ChargeRequest, PaymentRail, RailError};
use crate::domain::Fen;

pub struct SimulatedRail {
    starting_balance: Fen,
    state: Mutex<Ledger>,
}

#[derive(Default)]
struct Ledger {
    balances: HashMap<String, Fen>,
    charges: HashMap<String, ChargeOutcome>,
}

impl SimulatedRail {
    /// Every user starts with `starting_balance` fen.
    pub fn new(starting_balance: Fen) -> Self {
        Self {
            starting_balance,
            state: Mutex::new(Ledger::default()),
        }
    }

    pub fn top_up(&self, openid: &str, amount: Fen) {
        let mut ledger = self.state.lock().expect("rail lock poisoned");
        *ledger
            .balances
            .entry(openid.to_owned())
            .or_insert(self.starting_balance) += amount;
    }

    /// Successful charges so far (for tests and the demo).
    pub fn succeeded(&self) -> usize {
        let ledger = self.state.lock().expect("rail lock poisoned");
        ledger
            .charges
            .values()
            .filter(|o| **o == ChargeOutcome::Succeeded)
            .count()
    }
}

#[async_trait]
impl PaymentRail for SimulatedRail {
    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeOutcome, RailError> {
        let mut ledger = self.state.lock().expect("rail lock poisoned");
        if let Some(outcome) = ledger.charges.get(&request.charge_id) {
            return Ok(outcome.clone());
        }
        let balance = ledger
            .balances
            .entry(request.openid.clone())
            .or_insert(self.starting_balance);
        let outcome = if *balance >= request.amount {
            *balance -= request.amount;
            ChargeOutcome::Succeeded
        } else {
            ChargeOutcome::Declined("INSUFFICIENT_FUNDS".into())
        };
        ledger
            .charges
            .insert(request.charge_id.clone(), outcome.clone());
        Ok(outcome)
    }

    async fn get_charge(&self, charge_id: &str) -> Result<Option<ChargeOutcome>, RailError> {
        let ledger = self.state.lock().expect("rail lock poisoned");
        Ok(ledger.charges.get(charge_id).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(id: &str, amount: Fen) -> ChargeRequest {
        ChargeRequest {
            charge_id: id.into(),
            openid: "u1".into(),
            amount,
            merchant_id: "m1".into(),
            order_id: "o1".into(),
            sandbox: true,
        }
    }

    #[tokio::test]
    async fn repeats_never_move_money_twice() {
        let rail = SimulatedRail::new(1_000);
        assert_eq!(
            rail.charge(&request("c1", 600)).await.unwrap(),
            ChargeOutcome::Succeeded
        );
        assert_eq!(
            rail.charge(&request("c1", 600)).await.unwrap(),
            ChargeOutcome::Succeeded
        );
        assert_eq!(rail.succeeded(), 1);
        assert_eq!(
            rail.charge(&request("c2", 600)).await.unwrap(),
            ChargeOutcome::Declined("INSUFFICIENT_FUNDS".into()),
            "only 400 left"
        );
        rail.top_up("u1", 500);
        assert_eq!(
            rail.charge(&request("c3", 600)).await.unwrap(),
            ChargeOutcome::Succeeded
        );
        assert_eq!(rail.get_charge("c9").await.unwrap(), None);
    }
}
