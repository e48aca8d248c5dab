//! tonic services: proto ⇄ domain through `convert`, errors through
//! `status`, and nothing else. The caller's identity comes from the auth
//! layer, never from a request field.

pub mod convert;
mod onboarding;
mod operations;
mod orders;
mod sandbox;
pub mod status;

use tonic::{Request, Status};

use crate::app::{Error, MerchantScope};
use crate::auth::{AuthError, Identity};

pub use onboarding::OnboardingApi;
pub use operations::OperationsApi;
pub use orders::OrdersApi;
pub use sandbox::SandboxApi;

/// The merchant a call acts for; recorded on the call's span.
fn merchant<T>(request: &Request<T>) -> Result<MerchantScope, Status> {
    match request.extensions().get::<Identity>() {
        Some(Identity::Merchant(scope)) => {
            tracing::Span::current().record("merchant", scope.merchant_id.as_str());
            Ok(scope.clone())
        }
        Some(Identity::Operator) => Err(Error::Auth(AuthError::WrongRole("merchant")).into()),
        None => Err(Error::Auth(AuthError::Missing).into()),
    }
}

fn operator<T>(request: &Request<T>) -> Result<(), Status> {
    match request.extensions().get::<Identity>() {
        Some(Identity::Operator) => Ok(()),
        Some(Identity::Merchant(_)) => Err(Error::Auth(AuthError::WrongRole("operator")).into()),
        None => Err(Error::Auth(AuthError::Missing).into()),
    }
}

/// Records the order a call is about on its span.
fn record_order(out_order_no: &str) {
    tracing::Span::current().record("order", out_order_no);
}

/// Maps any app error into the one Status mapping.
fn fail(error: impl Into<Error>) -> Status {
    error.into().into()
}
