//! Users: the daily score import, standing and risk tiers, and what a user
//! does in the platform's app (confirm, reject, top up, pay elsewhere).

use super::{App, Error, MAX_ATTEMPTS, MerchantScope, Result};
use crate::domain::order::{Command, Order, OrderState};
use crate::domain::user::{FREEZE_MS, RiskTier, Standing, UserProfile};
use crate::domain::{DomainError, Fen, Mode, validate};
use crate::store::{Committed, Key, Txn};

/// What a user did in the platform's app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserAction {
    Confirm,
    Reject,
    /// Funds added (fen); a due deduction is tried again at once.
    TopUp(Fen),
    PayOffline,
}

/// A user as operators see them.
#[derive(Clone, Debug)]
pub struct UserView {
    pub openid: String,
    pub profile: Option<UserProfile>,
    pub standing: Standing,
    pub overdue: Vec<String>,
}

/// TOP_UP without an amount adds this much.
const DEFAULT_TOP_UP: Fen = 1_000_000;

impl App {
    /// Applies a user's action to one of a merchant's orders.
    pub async fn user_action(
        &self,
        scope: &MerchantScope,
        out_order_no: &str,
        action: UserAction,
    ) -> Result<Order> {
        let loc = self.locate(scope, out_order_no).await?;
        let command = match action {
            UserAction::Confirm => Command::Confirm,
            UserAction::Reject => Command::Reject,
            UserAction::PayOffline => Command::PayOffline,
            UserAction::TopUp(amount) => {
                validate::non_negative("amount", amount)?;
                let amount = if amount == 0 { DEFAULT_TOP_UP } else { amount };
                if let Some(rail) = self.simulated_rail(loc.mode) {
                    rail.top_up(&loc.openid, amount);
                }
                let order = self.load(&loc).await?;
                return match order.state {
                    OrderState::Completed => {
                        self.collect(&loc, super::deduction::Attempt::Now).await
                    }
                    _ => Ok(order),
                };
            }
        };
        Ok(self.apply(&loc, command).await?.0)
    }

    /// Stores one row of the daily score batch (live users).
    pub async fn import_score(&self, openid: &str, profile: UserProfile) -> Result<()> {
        validate::identifier("openid", openid, 64)?;
        validate::int_in("score", profile.score.into(), 300, 850)?;
        let txn = Txn::default().put(Key::user_profile(Mode::Live, openid), &profile);
        match self.store.commit(txn).await? {
            Committed::Done => Ok(()),
            Committed::Conflict(_) => unreachable!("a write without checks cannot conflict"),
        }
    }

    pub async fn get_user(&self, openid: &str) -> Result<UserView> {
        validate::identifier("openid", openid, 64)?;
        let profile_key = Key::user_profile(Mode::Live, openid);
        let standing_key = Key::standing(Mode::Live, openid);
        let (profile, standing) = tokio::join!(
            self.store.get_one::<UserProfile>(&profile_key),
            self.store.get_one::<Standing>(&standing_key),
        );
        let (profile, standing) = (profile?.map(|v| v.value), standing?.map(|v| v.value));
        if profile.is_none() && standing.is_none() {
            return Err(DomainError::UserNotFound.into());
        }
        Ok(self.user_view(openid, profile, standing.unwrap_or_default()))
    }

    /// An operator sets a live user's tier (FROZEN lasts 30 days).
    pub async fn set_user_risk(
        &self,
        openid: &str,
        tier: RiskTier,
        reason: String,
    ) -> Result<UserView> {
        validate::identifier("openid", openid, 64)?;
        validate::reason("reason", &reason, 200)?;
        let key = Key::standing(Mode::Live, openid);
        for _ in 0..MAX_ATTEMPTS {
            let current = self.store.get_one::<Standing>(&key).await?;
            let version = current.as_ref().map_or(0, |v| v.version);
            let mut standing = current.map(|v| v.value).unwrap_or_default();
            standing.tier = tier;
            standing.frozen_until = (tier == RiskTier::Frozen).then(|| self.now() + FREEZE_MS);
            standing.tier_reason = Some(reason.clone());
            let txn = Txn::default()
                .check(key.clone(), version)
                .put(key.clone(), &standing);
            if self.store.commit(txn).await? == Committed::Done {
                let profile = self
                    .store
                    .get_one::<UserProfile>(&Key::user_profile(Mode::Live, openid))
                    .await?;
                return Ok(self.user_view(openid, profile.map(|v| v.value), standing));
            }
        }
        Err(Error::Contended)
    }

    fn user_view(
        &self,
        openid: &str,
        profile: Option<UserProfile>,
        standing: Standing,
    ) -> UserView {
        let overdue = standing
            .overdue(self.now(), self.policy().overdue_after_ms)
            .map(str::to_owned)
            .collect();
        UserView {
            openid: openid.to_owned(),
            profile,
            standing,
            overdue,
        }
    }
}
