//! The Authorize decision: whether a user's score stands in for a deposit.
//! Checks run in the order DESIGN §1 gives, and the first that fails names
//! the decline reason.

use serde::{Deserialize, Serialize};

use super::canary;
use super::merchant::{Service, Stage};
use super::order::{Decision, DeclineReason};
use super::user::{RiskTier, Standing, UserProfile};
use super::{DAY_MS, DomainError, Fen, Millis, Mode};

/// The platform caps what a score may waive: a score of at least
/// `min_score` waives up to `max_waive`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreBand {
    pub min_score: i32,
    pub max_waive: Fen,
}

/// Platform-wide rules, from configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    /// No service may admit scores below this.
    pub score_floor: i32,
    pub bands: Vec<ScoreBand>,
    /// A user may hold at most this many unfinished orders.
    pub max_unfinished: usize,
    /// A bill unpaid this long after completion is overdue (and a default).
    pub overdue_after_ms: Millis,
    /// WARNING-tier users are declined above this deposit.
    pub warning_high_value: Fen,
    /// A CREATED order the user has not confirmed within this expires.
    pub confirm_timeout_ms: Millis,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            score_floor: 550,
            bands: vec![ScoreBand {
                min_score: 550,
                max_waive: 29_900,
            }],
            max_unfinished: 3,
            overdue_after_ms: DAY_MS,
            warning_high_value: 10_000,
            confirm_timeout_ms: 30 * 60 * 1000,
        }
    }
}

/// What Authorize decides with.
pub struct AuthorizeFacts<'a> {
    pub merchant_id: &'a str,
    pub stage: Stage,
    pub canary_percent: u32,
    pub mode: Mode,
    pub openid: &'a str,
    pub profile: Option<&'a UserProfile>,
    pub standing: &'a Standing,
    pub service: &'a Service,
    pub amount: Fen,
    pub now: Millis,
}

impl Policy {
    /// The largest deposit `score` may waive on this platform (0: none).
    pub fn band_cap(&self, score: i32) -> Fen {
        self.bands
            .iter()
            .filter(|b| score >= b.min_score)
            .map(|b| b.max_waive)
            .max()
            .unwrap_or(0)
    }

    /// Refuses what is the merchant's own mistake (an error, not a decline).
    pub fn check_request(&self, facts: &AuthorizeFacts<'_>) -> Result<(), DomainError> {
        match (facts.mode, facts.stage) {
            (Mode::Sandbox, _) if !super::user::is_sandbox_user(facts.openid) => {
                return Err(DomainError::SandboxUserRequired);
            }
            (Mode::Live, stage @ (Stage::Applied | Stage::Sandbox)) => {
                return Err(DomainError::MerchantNotLive(stage.name()));
            }
            _ => {}
        }
        if facts.amount > facts.service.max_risk_fund {
            return Err(DomainError::AmountExceedsServiceLimit {
                amount: facts.amount,
                max: facts.service.max_risk_fund,
            });
        }
        Ok(())
    }

    /// Approves or names the first credit reason to decline.
    pub fn decide(&self, facts: &AuthorizeFacts<'_>) -> Decision {
        match self.first_decline(facts) {
            Some(reason) => Decision::Declined(reason),
            None => Decision::Approved,
        }
    }

    fn first_decline(&self, f: &AuthorizeFacts<'_>) -> Option<DeclineReason> {
        use DeclineReason::*;
        if f.mode == Mode::Live
            && f.stage == Stage::Canary
            && !canary::in_sample(f.merchant_id, f.openid, f.canary_percent)
        {
            return Some(NotInCanary);
        }
        let profile = match f.profile {
            Some(p) if p.enrolled => p,
            _ => return Some(NotEnrolled),
        };
        match f.standing.tier_at(f.now) {
            RiskTier::Blacklisted => return Some(Blacklisted),
            RiskTier::Frozen => return Some(UserFrozen),
            RiskTier::Warning if f.amount > self.warning_high_value => return Some(RiskLimited),
            RiskTier::Warning | RiskTier::Normal => {}
        }
        if f.standing
            .overdue(f.now, self.overdue_after_ms)
            .next()
            .is_some()
        {
            return Some(HasOverdueOrder);
        }
        if f.standing.unfinished.len() >= self.max_unfinished {
            return Some(TooManyActiveOrders);
        }
        if profile.score < self.score_floor.max(f.service.min_score) {
            return Some(ScoreTooLow);
        }
        if f.amount > self.band_cap(profile.score) {
            return Some(RiskFundTooHigh);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::user::OpenOrder;

    fn service() -> Service {
        Service {
            service_id: "powerbank".into(),
            name: "Power bank".into(),
            min_score: 600,
            max_risk_fund: 50_000,
        }
    }

    struct Case {
        profile: Option<UserProfile>,
        standing: Standing,
        amount: Fen,
        stage: Stage,
    }

    impl Case {
        fn new() -> Self {
            Self {
                profile: Some(UserProfile {
                    score: 700,
                    enrolled: true,
                }),
                standing: Standing::default(),
                amount: 9_900,
                stage: Stage::Production,
            }
        }
        fn decide(&self) -> Decision {
            let service = service();
            Policy::default().decide(&AuthorizeFacts {
                merchant_id: "m1",
                stage: self.stage,
                canary_percent: 0,
                mode: Mode::Live,
                openid: "u1",
                profile: self.profile.as_ref(),
                standing: &self.standing,
                service: &service,
                amount: self.amount,
                now: 10 * DAY_MS,
            })
        }
    }

    fn declined(reason: DeclineReason) -> Decision {
        Decision::Declined(reason)
    }

    #[test]
    fn approves_a_good_user() {
        assert_eq!(Case::new().decide(), Decision::Approved);
    }

    #[test]
    fn each_decline_from_its_cause() {
        use DeclineReason::*;
        let mut c = Case::new();
        c.profile = None;
        assert_eq!(c.decide(), declined(NotEnrolled));

        let mut c = Case::new();
        c.profile = Some(UserProfile {
            score: 599,
            enrolled: true,
        });
        assert_eq!(c.decide(), declined(ScoreTooLow), "service min_score 600");

        let mut c = Case::new();
        c.amount = 30_000;
        assert_eq!(
            c.decide(),
            declined(RiskFundTooHigh),
            "default band caps at 29 900"
        );

        let mut c = Case::new();
        c.standing.tier = RiskTier::Warning;
        assert_eq!(
            c.decide(),
            Decision::Approved,
            "low value is fine when warned"
        );
        c.amount = 10_001;
        assert_eq!(c.decide(), declined(RiskLimited));

        let mut c = Case::new();
        c.standing.tier = RiskTier::Frozen;
        c.standing.frozen_until = Some(11 * DAY_MS);
        assert_eq!(c.decide(), declined(UserFrozen));
        c.standing.frozen_until = Some(9 * DAY_MS);
        assert_eq!(c.decide(), Decision::Approved, "the freeze has ended");

        let mut c = Case::new();
        c.standing.tier = RiskTier::Blacklisted;
        assert_eq!(c.decide(), declined(Blacklisted));

        let mut c = Case::new();
        c.standing.unfinished.insert(
            "m/a".into(),
            OpenOrder {
                due_since: Some(8 * DAY_MS),
            },
        );
        assert_eq!(c.decide(), declined(HasOverdueOrder));

        let mut c = Case::new();
        for k in ["m/a", "m/b", "m/c"] {
            c.standing
                .unfinished
                .insert(k.into(), OpenOrder { due_since: None });
        }
        assert_eq!(c.decide(), declined(TooManyActiveOrders));

        let mut c = Case::new();
        c.stage = Stage::Canary;
        assert_eq!(
            c.decide(),
            declined(NotInCanary),
            "0 % sample admits nobody"
        );
    }

    #[test]
    fn bands_raise_the_cap() {
        let mut p = Policy::default();
        p.bands.push(ScoreBand {
            min_score: 650,
            max_waive: 500_000,
        });
        assert_eq!(p.band_cap(549), 0);
        assert_eq!(p.band_cap(600), 29_900);
        assert_eq!(p.band_cap(700), 500_000);
    }
}
