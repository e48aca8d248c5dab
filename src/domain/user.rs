//! A user's credit standing: the score the platform imports daily, the risk
//! tier, and the orders the user has not finished (which carry the limits
//! "at most 3 unfinished" and "none while one is overdue").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::order::{Order, OrderState};
use super::{Millis, Mode, SANDBOX_USER_PREFIX};

/// What the daily score batch says of a user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserProfile {
    /// 300..850.
    pub score: i32,
    pub enrolled: bool,
}

impl UserProfile {
    /// Sandbox users need no import: `sbx_score_<n>` has score n, any other
    /// `sbx_` user 700, all enrolled (DESIGN §3).
    pub fn sandbox(openid: &str) -> Option<Self> {
        let rest = openid.strip_prefix(SANDBOX_USER_PREFIX)?;
        let score = rest
            .strip_prefix("score_")
            .and_then(|n| n.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(700);
        Some(Self {
            score,
            enrolled: true,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RiskTier {
    /// Admits everything the score allows.
    Normal,
    /// 2+ defaults this month: admits only orders up to the high-value line.
    Warning,
    /// Over 500 yuan defaulted: admits nothing until `frozen_until`.
    Frozen,
    /// Set by an operator: admits nothing.
    Blacklisted,
}

/// An unfinished order as the user's standing tracks it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenOrder {
    /// When the bill became due (completion), if it has.
    pub due_since: Option<Millis>,
}

/// Everything order-related the platform knows of one user in one mode.
/// Stored beside the user's orders so one atomic commit updates both.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standing {
    pub tier: RiskTier,
    pub frozen_until: Option<Millis>,
    pub tier_reason: Option<String>,
    /// Unfinished orders by "merchant_id/out_order_no".
    pub unfinished: BTreeMap<String, OpenOrder>,
}

impl Default for Standing {
    fn default() -> Self {
        Self {
            tier: RiskTier::Normal,
            frozen_until: None,
            tier_reason: None,
            unfinished: BTreeMap::new(),
        }
    }
}

/// The key of an order in a user's standing.
pub fn order_ref(merchant_id: &str, out_order_no: &str) -> String {
    format!("{merchant_id}/{out_order_no}")
}

impl Standing {
    /// Nothing worth storing: the record can be removed.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// The tier in force at `now` (a freeze ends by itself).
    pub fn tier_at(&self, now: Millis) -> RiskTier {
        match (self.tier, self.frozen_until) {
            (RiskTier::Frozen, Some(until)) if until <= now => RiskTier::Normal,
            (tier, _) => tier,
        }
    }

    /// Unfinished orders unpaid `overdue_after` ms or more after their bill was due.
    pub fn overdue(&self, now: Millis, overdue_after: Millis) -> impl Iterator<Item = &str> {
        self.unfinished.iter().filter_map(move |(key, open)| {
            let due = open.due_since?;
            (now - due >= overdue_after).then_some(key.as_str())
        })
    }

    /// Brings the standing in line with `order` after a change. Returns
    /// whether the standing changed (and so must be stored with the order).
    pub fn track(&mut self, order: &Order) -> bool {
        let key = order_ref(&order.merchant_id, &order.out_order_no);
        if !order.state.is_unfinished() {
            return self.unfinished.remove(&key).is_some();
        }
        let open = OpenOrder {
            due_since: (order.state == OrderState::Completed)
                .then_some(order.completed_at)
                .flatten(),
        };
        self.unfinished.insert(key, open.clone()) != Some(open)
    }
}

/// Which namespace a user lives in, from the openid and the caller's mode.
pub fn is_sandbox_user(openid: &str) -> bool {
    openid.starts_with(SANDBOX_USER_PREFIX)
}

/// The profile to decide with: sandbox users are synthesised, live users
/// come from the import.
pub fn effective_profile(
    mode: Mode,
    openid: &str,
    imported: Option<UserProfile>,
) -> Option<UserProfile> {
    match mode {
        Mode::Sandbox => imported.or_else(|| UserProfile::sandbox(openid)),
        Mode::Live => imported,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_scores_come_from_the_openid() {
        assert_eq!(UserProfile::sandbox("sbx_score_420").unwrap().score, 420);
        assert_eq!(UserProfile::sandbox("sbx_alice").unwrap().score, 700);
        assert!(UserProfile::sandbox("alice").is_none());
    }

    #[test]
    fn freeze_ends_by_itself() {
        let s = Standing {
            tier: RiskTier::Frozen,
            frozen_until: Some(100),
            ..Standing::default()
        };
        assert_eq!(s.tier_at(99), RiskTier::Frozen);
        assert_eq!(s.tier_at(100), RiskTier::Normal);
    }

    #[test]
    fn overdue_counts_from_the_bill() {
        let mut s = Standing::default();
        s.unfinished
            .insert("m/a".into(), OpenOrder { due_since: None });
        s.unfinished.insert(
            "m/b".into(),
            OpenOrder {
                due_since: Some(1_000),
            },
        );
        assert_eq!(s.overdue(1_500, 1_000).count(), 0);
        assert_eq!(s.overdue(2_000, 1_000).collect::<Vec<_>>(), vec!["m/b"]);
    }
}
