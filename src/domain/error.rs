//! What the domain refuses, and why. Every variant is a stable reason a
//! merchant can program against; the API layer maps each one to a status.

use super::Fen;
use super::order::OrderState;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A request field breaks a limit; `field` is its proto path.
    #[error("{field}: {description}")]
    InvalidField {
        field: &'static str,
        description: String,
    },
    #[error("ICP filing number is not of the form 京ICP备12345678号[-1]")]
    InvalidIcpFilingNumber,
    #[error("api_version {0} is older than 3.0")]
    ApiVersionTooOld(String),
    #[error("public_key_pem is not an ES256 (P-256) public key")]
    InvalidPublicKey,
    #[error("notify_url must be https://, or http:// to a loopback address")]
    InvalidNotifyUrl,
    #[error("min_score {0} is below the platform floor {1}")]
    MinScoreBelowFloor(i32, i32),
    #[error("risk_fund.amount {amount} exceeds the service's max_risk_fund {max}")]
    AmountExceedsServiceLimit { amount: Fen, max: Fen },
    #[error("total_amount {total} exceeds risk_fund.amount {risk_fund}")]
    AmountExceedsRiskFund { total: Fen, risk_fund: Fen },
    #[error("total_amount {total} != sum(post_payments) - sum(post_discounts) = {computed}")]
    TotalMismatch { total: Fen, computed: Fen },
    #[error("total_amount {requested} is not lower than the current {current}")]
    AmountNotLower { requested: Fen, current: Fen },
    #[error("out_order_no was used with other parameters")]
    ParamMismatch,
    #[error("order is {state:?}: cannot {action}")]
    InvalidState {
        state: OrderState,
        action: &'static str,
    },
    #[error("a deduction is in progress; retry later")]
    DeductionInProgress,
    #[error("order not found")]
    OrderNotFound,
    #[error("service not found")]
    ServiceNotFound,
    #[error("merchant not found")]
    MerchantNotFound,
    #[error("user not found")]
    UserNotFound,
    #[error("key not found")]
    KeyNotFound,
    #[error("a merchant keeps at most 2 active keys")]
    TooManyKeys,
    #[error("the last active key cannot be revoked")]
    LastKey,
    #[error("the merchant is in {0}: live calls are not admitted")]
    MerchantNotLive(&'static str),
    #[error("sandbox calls take sandbox users (openid starting sbx_)")]
    SandboxUserRequired,
    #[error("this call is for sandbox (test-mode) tokens only")]
    SandboxOnly,
}
