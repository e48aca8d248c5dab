//! proto ⇄ domain, and nothing else.

use pbjson_types::Timestamp;

use crate::domain::merchant::{Service, Stage};
use crate::domain::order::{
    self, Bill, CollectionState, Decision, DeclineReason, Location, Order, OrderState,
    OverdueStage, PaidVia, RiskFund, RiskFundName, Terms, TimeRange,
};
use crate::domain::user::RiskTier;
use crate::domain::{DomainError, Millis, Mode, validate};
use crate::pb::v1 as pb;

pub fn timestamp(ms: Millis) -> Timestamp {
    Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: i32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}

pub fn terms(request: &pb::AuthorizeRequest) -> Result<Terms, DomainError> {
    let fund = request.risk_fund.as_ref();
    validate::present("risk_fund", fund.is_some())?;
    let fund = fund.expect("checked above");
    let name = match fund.name() {
        pb::RiskFundName::Deposit => RiskFundName::Deposit,
        pb::RiskFundName::Advance => RiskFundName::Advance,
        pb::RiskFundName::CashDeposit => RiskFundName::CashDeposit,
        pb::RiskFundName::Unspecified => {
            return Err(DomainError::InvalidField {
                field: "risk_fund.name",
                description: "must be DEPOSIT, ADVANCE or CASH_DEPOSIT".into(),
            });
        }
    };
    Ok(Terms {
        service_id: request.service_id.clone(),
        openid: request.openid.clone(),
        risk_fund: RiskFund {
            name,
            amount: fund.amount,
            description: fund.description.clone(),
        },
        service_introduction: request.service_introduction.clone(),
        time_range: request.time_range.as_ref().map(|t| TimeRange {
            start_time: t.start_time.clone(),
            end_time: t.end_time.clone(),
            start_time_remark: t.start_time_remark.clone(),
            end_time_remark: t.end_time_remark.clone(),
        }),
        location: request.location.as_ref().map(|l| Location {
            start_location: l.start_location.clone(),
            end_location: l.end_location.clone(),
        }),
        need_user_confirm: request.need_user_confirm,
        attach: request.attach.clone(),
    })
}

fn line_in(line: &pb::BillLine) -> order::BillLine {
    order::BillLine {
        name: line.name.clone(),
        amount: line.amount,
        description: line.description.clone(),
        // WeChat reads a missing count as 1.
        count: if line.count == 0 { 1 } else { line.count },
    }
}

fn line_out(line: &order::BillLine) -> pb::BillLine {
    pb::BillLine {
        name: line.name.clone(),
        amount: line.amount,
        description: line.description.clone(),
        count: line.count,
    }
}

pub fn bill(request: &pb::CompleteRequest) -> Bill {
    Bill {
        post_payments: request.post_payments.iter().map(line_in).collect(),
        post_discounts: request.post_discounts.iter().map(line_in).collect(),
        total_amount: request.total_amount,
    }
}

pub fn decision(decision: Decision) -> (pb::Decision, pb::DeclineReason) {
    use pb::DeclineReason as R;
    let reason = match decision {
        Decision::Approved => return (pb::Decision::Approved, R::Unspecified),
        Decision::Declined(reason) => reason,
    };
    let reason = match reason {
        DeclineReason::ScoreTooLow => R::ScoreTooLow,
        DeclineReason::NotEnrolled => R::NotEnrolled,
        DeclineReason::RiskLimited => R::RiskLimited,
        DeclineReason::UserFrozen => R::UserFrozen,
        DeclineReason::Blacklisted => R::Blacklisted,
        DeclineReason::HasOverdueOrder => R::HasOverdueOrder,
        DeclineReason::TooManyActiveOrders => R::TooManyActiveOrders,
        DeclineReason::NotInCanary => R::NotInCanary,
        DeclineReason::RiskFundTooHigh => R::RiskFundTooHigh,
    };
    (pb::Decision::Declined, reason)
}

fn state(state: OrderState) -> pb::OrderState {
    match state {
        OrderState::Created => pb::OrderState::Created,
        OrderState::Authorized => pb::OrderState::Authorized,
        OrderState::Completed => pb::OrderState::Completed,
        OrderState::Paid => pb::OrderState::Paid,
        OrderState::Revoked => pb::OrderState::Revoked,
        OrderState::Expired => pb::OrderState::Expired,
        OrderState::Declined => pb::OrderState::Declined,
    }
}

fn collection(order: &Order) -> pb::Collection {
    let c = &order.collection;
    let state = match c.state {
        CollectionState::NotDue => pb::CollectionState::NotDue,
        CollectionState::Due => pb::CollectionState::Due,
        CollectionState::InProgress => pb::CollectionState::InProgress,
        CollectionState::Paid => pb::CollectionState::Paid,
    };
    let overdue = match c.overdue_stage {
        OverdueStage::None => pb::OverdueStage::None,
        OverdueStage::UserNotified => pb::OverdueStage::UserNotified,
        OverdueStage::Negotiation => pb::OverdueStage::Negotiation,
        OverdueStage::Legal => pb::OverdueStage::Legal,
    };
    let paid_via = match c.paid_via {
        Some(PaidVia::Rail) => "RAIL",
        Some(PaidVia::ZeroBill) => "ZERO_BILL",
        Some(PaidVia::Sync) => "SYNC",
        None => "",
    };
    pb::Collection {
        state: state.into(),
        paid_amount: c.paid_amount,
        attempts: c.attempts,
        overdue_stage: overdue.into(),
        paid_time: c.paid_at.map(timestamp),
        paid_via: paid_via.into(),
    }
}

pub fn order(o: &Order) -> pb::Order {
    let (decision, decline_reason) = decision(o.decision);
    let fund = &o.terms.risk_fund;
    let fund_name = match fund.name {
        RiskFundName::Deposit => pb::RiskFundName::Deposit,
        RiskFundName::Advance => pb::RiskFundName::Advance,
        RiskFundName::CashDeposit => pb::RiskFundName::CashDeposit,
    };
    let (payments, discounts) = o
        .bill
        .as_ref()
        .map(|b| {
            (
                b.post_payments.iter().map(line_out).collect(),
                b.post_discounts.iter().map(line_out).collect(),
            )
        })
        .unwrap_or_default();
    pb::Order {
        order_id: o.order_id.clone(),
        out_order_no: o.out_order_no.clone(),
        merchant_id: o.merchant_id.clone(),
        service_id: o.terms.service_id.clone(),
        openid: o.terms.openid.clone(),
        state: state(o.state).into(),
        risk_fund: Some(pb::RiskFund {
            name: fund_name.into(),
            amount: fund.amount,
            description: fund.description.clone(),
        }),
        post_payments: payments,
        post_discounts: discounts,
        total_amount: o.total_amount,
        collection: Some(collection(o)),
        create_time: Some(timestamp(o.created_at)),
        update_time: Some(timestamp(o.updated_at)),
        service_introduction: o.terms.service_introduction.clone(),
        time_range: o.terms.time_range.as_ref().map(|t| pb::TimeRange {
            start_time: t.start_time.clone(),
            end_time: t.end_time.clone(),
            start_time_remark: t.start_time_remark.clone(),
            end_time_remark: t.end_time_remark.clone(),
        }),
        location: o.terms.location.as_ref().map(|l| pb::Location {
            start_location: l.start_location.clone(),
            end_location: l.end_location.clone(),
        }),
        need_user_confirm: o.terms.need_user_confirm,
        attach: o.terms.attach.clone(),
        decision: decision.into(),
        decline_reason: decline_reason.into(),
        sandbox: o.mode == Mode::Sandbox,
        reason: o.reason.clone().unwrap_or_default(),
    }
}

pub fn stage(stage: Stage) -> pb::Stage {
    match stage {
        Stage::Applied => pb::Stage::Applied,
        Stage::Sandbox => pb::Stage::Sandbox,
        Stage::Canary => pb::Stage::Canary,
        Stage::Production => pb::Stage::Production,
    }
}

pub fn stage_in(stage: pb::Stage) -> Result<Stage, DomainError> {
    match stage {
        pb::Stage::Sandbox => Ok(Stage::Sandbox),
        pb::Stage::Canary => Ok(Stage::Canary),
        pb::Stage::Production => Ok(Stage::Production),
        pb::Stage::Applied | pb::Stage::Unspecified => Err(DomainError::InvalidField {
            field: "stage",
            description: "must be SANDBOX, CANARY or PRODUCTION".into(),
        }),
    }
}

pub fn service(s: &Service) -> pb::Service {
    pb::Service {
        service_id: s.service_id.clone(),
        name: s.name.clone(),
        min_score: s.min_score,
        max_risk_fund: s.max_risk_fund,
    }
}

pub fn risk_tier(tier: RiskTier) -> pb::RiskTier {
    match tier {
        RiskTier::Normal => pb::RiskTier::Normal,
        RiskTier::Warning => pb::RiskTier::Warning,
        RiskTier::Frozen => pb::RiskTier::Frozen,
        RiskTier::Blacklisted => pb::RiskTier::Blacklisted,
    }
}

pub fn risk_tier_in(tier: pb::RiskTier) -> Result<RiskTier, DomainError> {
    match tier {
        pb::RiskTier::Normal => Ok(RiskTier::Normal),
        pb::RiskTier::Warning => Ok(RiskTier::Warning),
        pb::RiskTier::Frozen => Ok(RiskTier::Frozen),
        pb::RiskTier::Blacklisted => Ok(RiskTier::Blacklisted),
        pb::RiskTier::Unspecified => Err(DomainError::InvalidField {
            field: "risk_tier",
            description: "is required".into(),
        }),
    }
}

/// The keys merchants verify callbacks with, as published at `now`.
pub fn platform_keys(
    keys: &crate::webhook::PlatformKeys,
    now: Millis,
) -> pb::GetPlatformKeysResponse {
    pb::GetPlatformKeysResponse {
        keys: keys
            .published(now)
            .map(|k| pb::PlatformKey {
                serial: k.serial.clone(),
                public_key_pem: k.public_key_pem.clone(),
                not_after: k.not_after.map(timestamp),
            })
            .collect(),
    }
}
