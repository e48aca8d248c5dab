//! The merchant's order calls: Authorize creates an order (or a kept
//! decline); Complete, Cancel, ModifyAmount and Sync are commands on it.

use std::sync::Arc;

use super::{App, Error, MAX_ATTEMPTS, MerchantScope, OrderLoc, Result};
use crate::domain::merchant::Merchant;
use crate::domain::order::{Applied, Bill, Command, Order, OrderState, Terms};
use crate::domain::policy::AuthorizeFacts;
use crate::domain::user::{self, Standing, UserProfile};
use crate::domain::{DomainError, Mode, validate};
use crate::store::{Committed, Key, RawRecord, Txn, Versioned, decode};

/// An Authorize call.
#[derive(Clone, Debug)]
pub struct AuthorizeInput {
    pub out_order_no: String,
    pub terms: Terms,
    /// The sandbox scenario the order follows (x-sandbox-scenario).
    pub scenario: Option<String>,
}

/// The user-slot records Authorize decides with.
struct UserRecords {
    profile: Option<UserProfile>,
    standing: Versioned<Standing>,
    order: Option<Order>,
}

impl App {
    pub async fn authorize(&self, scope: &MerchantScope, input: AuthorizeInput) -> Result<Order> {
        let terms = &input.terms;
        validate::authorize(&input.out_order_no, terms)?;
        if scope.mode == Mode::Sandbox && !user::is_sandbox_user(&terms.openid) {
            return Err(DomainError::SandboxUserRequired.into());
        }
        let index = Key::order_index(&scope.merchant_id, scope.mode, &input.out_order_no);
        let loc = OrderLoc {
            mode: scope.mode,
            merchant_id: scope.merchant_id.clone(),
            out_order_no: input.out_order_no.clone(),
            openid: terms.openid.clone(),
        };
        // One round trip: claim the order number for this user (so it can
        // never name two users' orders), read the merchant, read the user.
        let (claimed, merchant, records) = tokio::join!(
            self.store.create(index, &terms.openid),
            self.cached_merchant(&scope.merchant_id),
            self.user_records(&loc),
        );
        if claimed?.is_some_and(|owner| owner.value != terms.openid) {
            return Err(DomainError::ParamMismatch.into());
        }
        let merchant = merchant?;
        let mut records = records?;
        for _ in 0..MAX_ATTEMPTS {
            if let Some(existing) = records.order {
                return same_terms(existing, terms);
            }
            let order = self.decide(scope, &merchant, &input, &records)?;
            self.wake_for(&loc, &order).await?;
            let order_key = loc.order_key();
            let mut standing = records.standing.value.clone();
            let mut txn = Txn::default()
                .check(order_key.clone(), 0)
                .put(order_key, &order);
            if standing.track(&order) {
                txn = txn
                    .check(loc.standing_key(), records.standing.version)
                    .put(loc.standing_key(), &standing);
            }
            match self.store.commit(txn).await? {
                // A new order is at version 1.
                Committed::Done => return Ok(self.publish_after_commit(&loc, order, 1).await),
                Committed::Conflict(_) => records = self.user_records(&loc).await?,
            }
        }
        Err(Error::Contended)
    }

    fn decide(
        &self,
        scope: &MerchantScope,
        merchant: &Merchant,
        input: &AuthorizeInput,
        records: &UserRecords,
    ) -> Result<Order> {
        let terms = &input.terms;
        let service = merchant
            .services
            .get(&terms.service_id)
            .ok_or(DomainError::ServiceNotFound)?;
        let profile = user::effective_profile(scope.mode, &terms.openid, records.profile.clone());
        let now = self.now();
        let facts = AuthorizeFacts {
            merchant_id: &scope.merchant_id,
            stage: merchant.stage,
            canary_percent: merchant.canary_percent,
            mode: scope.mode,
            openid: &terms.openid,
            profile: profile.as_ref(),
            standing: &records.standing.value,
            service,
            amount: terms.risk_fund.amount,
            now,
        };
        let policy = self.policy();
        policy.check_request(&facts)?;
        let decision = policy.decide(&facts);
        let mut order = Order::new(
            new_id("o"),
            input.out_order_no.clone(),
            scope.merchant_id.clone(),
            scope.mode,
            terms.clone(),
            decision,
            now,
        );
        order.scenario = input.scenario.clone();
        Ok(order)
    }

    async fn user_records(&self, loc: &OrderLoc) -> Result<UserRecords> {
        let profile_key = Key::user_profile(loc.mode, &loc.openid);
        let keys = [profile_key.clone(), loc.standing_key(), loc.order_key()];
        let [profile, standing, order]: [Option<RawRecord>; 3] =
            self.store.get(&keys).await?.try_into().map_err(|_| {
                Error::Store(crate::store::StoreError::Backend("short MGET reply".into()))
            })?;
        let standing = match standing {
            Some(raw) => decode(&keys[1], raw)?,
            None => Versioned {
                version: 0,
                value: Standing::default(),
            },
        };
        Ok(UserRecords {
            profile: profile
                .map(|r| decode(&profile_key, r))
                .transpose()?
                .map(|v| v.value),
            standing,
            order: order
                .map(|r| decode(&keys[2], r))
                .transpose()?
                .map(|v| v.value),
        })
    }

    pub async fn get_order(&self, scope: &MerchantScope, out_order_no: &str) -> Result<Order> {
        let loc = self.locate(scope, out_order_no).await?;
        self.load(&loc).await
    }

    /// Sends the bill. A due bill starts its deduction at once (in the
    /// background) when so configured.
    pub async fn complete(
        self: &Arc<Self>,
        scope: &MerchantScope,
        out_order_no: &str,
        bill: Bill,
    ) -> Result<Order> {
        validate::bill(&bill)?;
        let loc = self.locate(scope, out_order_no).await?;
        let (order, applied) = self.apply(&loc, Command::Complete(bill)).await?;
        if applied == Applied::Changed
            && order.state == OrderState::Completed
            && self.settings.deduct_on_complete
        {
            let app = Arc::clone(self);
            // The schedule would get to it within a poll; doing what is due
            // now saves the wait (and respects the same rules).
            tokio::spawn(async move {
                if let Err(error) = app.work_on(&loc).await {
                    tracing::warn!(%error, order_id = %loc.out_order_no, "first deduction after Complete failed; it will be retried");
                }
            });
        }
        Ok(order)
    }

    pub async fn cancel(
        &self,
        scope: &MerchantScope,
        out_order_no: &str,
        reason: String,
    ) -> Result<Order> {
        validate::reason("reason", &reason, 50)?;
        self.command(scope, out_order_no, Command::Cancel { reason })
            .await
    }

    pub async fn modify_amount(
        &self,
        scope: &MerchantScope,
        out_order_no: &str,
        total_amount: i64,
        reason: String,
    ) -> Result<Order> {
        validate::non_negative("total_amount", total_amount)?;
        validate::reason("reason", &reason, 50)?;
        let command = Command::Modify {
            total_amount,
            reason,
        };
        self.command(scope, out_order_no, command).await
    }

    pub async fn sync(&self, scope: &MerchantScope, out_order_no: &str) -> Result<Order> {
        self.command(scope, out_order_no, Command::Sync).await
    }

    async fn command(
        &self,
        scope: &MerchantScope,
        out_order_no: &str,
        command: Command,
    ) -> Result<Order> {
        let loc = self.locate(scope, out_order_no).await?;
        Ok(self.apply(&loc, command).await?.0)
    }
}

/// A retried Authorize gets the order it created; other terms are a conflict.
fn same_terms(existing: Order, terms: &Terms) -> Result<Order> {
    if existing.terms == *terms {
        Ok(existing)
    } else {
        Err(DomainError::ParamMismatch.into())
    }
}

/// A new id: a prefix and a time-ordered UUID.
pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}
