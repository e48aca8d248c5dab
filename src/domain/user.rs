//! A user's credit standing: the score the platform imports daily, the risk
//! tier, and the orders the user has not finished (which carry the limits
//! "at most 3 unfinished" and "none while one is overdue").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::order::{Order, OrderState};
use super::{DAY_MS, Fen, Millis, Mode, SANDBOX_USER_PREFIX};

/// Defaults in one calendar month that put a user in WARNING.
pub const WARNING_DEFAULTS_PER_MONTH: usize = 2;
/// Cumulative defaulted amount above which a user is FROZEN (500 yuan).
pub const FREEZE_ABOVE: Fen = 50_000;
/// How long FROZEN lasts.
pub const FREEZE_MS: Millis = 30 * DAY_MS;
/// Calendar months are counted in China Standard Time.
const PLATFORM_OFFSET_HOURS: i8 = 8;

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
    /// Every default on record, oldest first.
    #[serde(default)]
    pub defaults: Vec<DefaultRecord>,
}

/// An order left unpaid 24 h after completion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultRecord {
    pub order: String,
    pub at: Millis,
    pub amount: Fen,
}

/// (year, month) of `at` in platform time.
fn calendar_month(at: Millis) -> (i32, u8) {
    let offset = time::UtcOffset::from_hms(PLATFORM_OFFSET_HOURS, 0, 0).expect("valid offset");
    let moment = time::OffsetDateTime::from_unix_timestamp(at.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .to_offset(offset);
    (moment.year(), u8::from(moment.month()))
}

impl Default for Standing {
    fn default() -> Self {
        Self {
            tier: RiskTier::Normal,
            frozen_until: None,
            tier_reason: None,
            unfinished: BTreeMap::new(),
            defaults: Vec::new(),
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
        let defaulted = self.record_default(&key, order);
        if !order.state.is_unfinished() {
            return self.unfinished.remove(&key).is_some() || defaulted;
        }
        let open = OpenOrder {
            due_since: (order.state == OrderState::Completed)
                .then_some(order.completed_at)
                .flatten(),
        };
        self.unfinished.insert(key, open.clone()) != Some(open) || defaulted
    }

    /// Records a new default of `order` and moves the tier: WARNING at 2
    /// defaults in a calendar month, FROZEN for 30 days above 500 yuan in
    /// all. An operator's BLACKLISTED stands.
    fn record_default(&mut self, key: &str, order: &Order) -> bool {
        let Some(at) = order.defaulted_at else {
            return false;
        };
        if self.defaults.iter().any(|d| d.order == key) {
            return false;
        }
        self.defaults.push(DefaultRecord {
            order: key.to_owned(),
            at,
            amount: order.outstanding(),
        });
        if self.tier == RiskTier::Blacklisted {
            return true;
        }
        let total: Fen = self.defaults.iter().map(|d| d.amount).sum();
        let month = calendar_month(at);
        let this_month = self
            .defaults
            .iter()
            .filter(|d| calendar_month(d.at) == month)
            .count();
        if total > FREEZE_ABOVE {
            self.tier = RiskTier::Frozen;
            self.frozen_until = Some(at + FREEZE_MS);
            self.tier_reason = Some(format!("{total} fen defaulted"));
        } else if this_month >= WARNING_DEFAULTS_PER_MONTH && self.tier_at(at) == RiskTier::Normal {
            self.tier = RiskTier::Warning;
            self.tier_reason = Some(format!("{this_month} defaults this month"));
        }
        true
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

    fn defaulted(no: &str, amount: Fen, at: Millis) -> Order {
        use crate::domain::order::{Decision, OrderState, RiskFund, RiskFundName, Terms};
        let terms = Terms {
            service_id: "s".into(),
            openid: "u".into(),
            risk_fund: RiskFund {
                name: RiskFundName::Deposit,
                amount,
                description: String::new(),
            },
            service_introduction: "x".into(),
            time_range: None,
            location: None,
            need_user_confirm: false,
            attach: String::new(),
        };
        let mut o = Order::new(
            "o".into(),
            no.into(),
            "m".into(),
            Mode::Live,
            terms,
            Decision::Approved,
            0,
        );
        o.state = OrderState::Completed;
        o.total_amount = amount;
        o.completed_at = Some(at - DAY_MS);
        o.defaulted_at = Some(at);
        o
    }

    #[test]
    fn defaults_move_the_tier() {
        let nov_3 = 1_793_700_000_000; // 2026-11-03
        let mut s = Standing::default();
        assert!(s.track(&defaulted("a", 1_000, nov_3)));
        assert_eq!(s.tier, RiskTier::Normal, "one default is not yet a warning");
        assert!(
            !s.track(&defaulted("a", 1_000, nov_3)),
            "a default is recorded once"
        );
        s.track(&defaulted("b", 1_000, nov_3 + DAY_MS));
        assert_eq!(s.tier, RiskTier::Warning, "two in one calendar month");

        let mut big = Standing::default();
        big.track(&defaulted("c", 50_001, nov_3));
        assert_eq!(big.tier, RiskTier::Frozen);
        assert_eq!(big.frozen_until, Some(nov_3 + FREEZE_MS));
        assert_eq!(big.tier_at(nov_3 + FREEZE_MS), RiskTier::Normal);

        let mut spread = Standing::default();
        spread.track(&defaulted("d", 1_000, nov_3));
        spread.track(&defaulted("e", 1_000, nov_3 + 40 * DAY_MS));
        assert_eq!(spread.tier, RiskTier::Normal, "one a month is no warning");
    }

    #[test]
    fn calendar_months_are_in_china_time() {
        // 2026-10-31 16:30 UTC is 2026-11-01 00:30 in Beijing.
        assert_eq!(calendar_month(1_793_464_200_000), (2026, 11));
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
