//! The one mapping from what went wrong to what the client sees: a gRPC
//! code, an `ErrorInfo` with a stable reason, `BadRequest` naming the field
//! for bad input, `RetryInfo` where a retry may succeed. Exhaustive, with no
//! catch-all arm, so a new error cannot reach clients unmapped. Internal
//! details are logged, never sent.

use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::app::Error;
use crate::auth::AuthError;
use crate::domain::DomainError;
use crate::store::StoreError;

/// `ErrorInfo.domain` of every error.
pub const ERROR_DOMAIN: &str = "payscore.v1";

struct Mapped {
    code: Code,
    reason: &'static str,
    field: Option<&'static str>,
    retry: Option<Duration>,
}

const fn m(code: Code, reason: &'static str) -> Mapped {
    Mapped {
        code,
        reason,
        field: None,
        retry: None,
    }
}

const fn bad(reason: &'static str, field: &'static str) -> Mapped {
    Mapped {
        code: Code::InvalidArgument,
        reason,
        field: Some(field),
        retry: None,
    }
}

const fn retry(code: Code, reason: &'static str, after: Duration) -> Mapped {
    Mapped {
        code,
        reason,
        field: None,
        retry: Some(after),
    }
}

fn map_domain(e: &DomainError) -> Mapped {
    use DomainError as D;
    match e {
        D::InvalidField { field, .. } => bad("INVALID_FIELD", field),
        D::InvalidIcpFilingNumber => bad("INVALID_ICP_FILING_NUMBER", "icp_filing_number"),
        D::ApiVersionTooOld(_) => bad("API_VERSION_TOO_OLD", "api_version"),
        D::InvalidPublicKey => bad("INVALID_PUBLIC_KEY", "public_key_pem"),
        D::InvalidNotifyUrl => bad("INVALID_NOTIFY_URL", "notify_url"),
        D::MinScoreBelowFloor(..) => bad("MIN_SCORE_BELOW_FLOOR", "min_score"),
        D::AmountExceedsServiceLimit { .. } => {
            bad("AMOUNT_EXCEEDS_SERVICE_LIMIT", "risk_fund.amount")
        }
        D::AmountExceedsRiskFund { .. } => bad("AMOUNT_EXCEEDS_RISK_FUND", "total_amount"),
        D::TotalMismatch { .. } => bad("TOTAL_MISMATCH", "total_amount"),
        D::AmountNotLower { .. } => bad("AMOUNT_NOT_LOWER", "total_amount"),
        D::SandboxUserRequired => bad("SANDBOX_USER_REQUIRED", "openid"),
        D::ParamMismatch => m(Code::AlreadyExists, "PARAM_MISMATCH"),
        D::InvalidState { .. } => m(Code::FailedPrecondition, "INVALID_STATE"),
        D::DeductionInProgress => retry(
            Code::Aborted,
            "DEDUCTION_IN_PROGRESS",
            Duration::from_secs(1),
        ),
        D::OrderNotFound => m(Code::NotFound, "ORDER_NOT_FOUND"),
        D::ServiceNotFound => m(Code::NotFound, "SERVICE_NOT_FOUND"),
        D::MerchantNotFound => m(Code::NotFound, "MERCHANT_NOT_FOUND"),
        D::UserNotFound => m(Code::NotFound, "USER_NOT_FOUND"),
        D::KeyNotFound => m(Code::NotFound, "KEY_NOT_FOUND"),
        D::TooManyKeys => m(Code::FailedPrecondition, "TOO_MANY_KEYS"),
        D::LastKey => m(Code::FailedPrecondition, "LAST_KEY"),
        D::MerchantNotLive(_) => m(Code::FailedPrecondition, "MERCHANT_NOT_LIVE"),
        D::SandboxOnly => m(Code::FailedPrecondition, "SANDBOX_ONLY"),
    }
}

fn map_auth(e: &AuthError) -> Mapped {
    match e {
        AuthError::Expired => m(Code::Unauthenticated, "TOKEN_EXPIRED"),
        AuthError::Missing | AuthError::Invalid(_) => m(Code::Unauthenticated, "INVALID_TOKEN"),
        AuthError::WrongRole(_) => m(Code::PermissionDenied, "WRONG_ROLE"),
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        let (mapped, message) = match &error {
            Error::Domain(e) => (map_domain(e), e.to_string()),
            Error::Auth(e) => (map_auth(e), e.to_string()),
            Error::Contended => (
                retry(
                    Code::Aborted,
                    "CONCURRENT_UPDATE",
                    Duration::from_millis(100),
                ),
                error.to_string(),
            ),
            Error::Store(StoreError::Unavailable(detail)) => {
                tracing::warn!(%detail, "store unavailable: failing closed");
                (
                    retry(
                        Code::Unavailable,
                        "STORE_UNAVAILABLE",
                        Duration::from_secs(1),
                    ),
                    "storage is unavailable; retry with the same parameters".into(),
                )
            }
            Error::Store(e @ (StoreError::Corrupt { .. } | StoreError::Backend(_))) => {
                tracing::error!(error = %e, "internal error");
                return Status::internal("internal error");
            }
        };
        let mut details = ErrorDetails::with_error_info(mapped.reason, ERROR_DOMAIN, []);
        if let Some(field) = mapped.field {
            details.add_bad_request_violation(field, message.clone());
        }
        if let Some(after) = mapped.retry {
            details.set_retry_info(Some(after));
        }
        Status::with_error_details(mapped.code, message, details)
    }
}
