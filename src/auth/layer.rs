//! Authentication as a tower layer: verifies the bearer token a call needs
//! and puts the [`Identity`] into the request's extensions. `Apply`, health
//! and reflection need none.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use tonic::Status;
use tower::{Layer, Service};

use super::{AuthError, Authenticator, Identity};

/// What a call path requires.
enum Needs {
    Nothing,
    Merchant,
    Operator,
}

fn needs(path: &str) -> Needs {
    if path == "/payscore.v1.Onboarding/Apply" {
        Needs::Nothing
    } else if path.starts_with("/payscore.v1.Operations/") {
        Needs::Operator
    } else if path.starts_with("/payscore.v1.") {
        Needs::Merchant
    } else {
        // Health, reflection, and unknown paths (answered UNIMPLEMENTED).
        Needs::Nothing
    }
}

#[derive(Clone)]
pub struct AuthLayer {
    auth: Arc<Authenticator>,
}

impl AuthLayer {
    pub fn new(auth: Arc<Authenticator>) -> Self {
        Self { auth }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            auth: Arc::clone(&self.auth),
        }
    }
}

#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    auth: Arc<Authenticator>,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for AuthService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        // The ready service goes into the future; a clone takes its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let auth = Arc::clone(&self.auth);
        // Only owned data crosses the await: the body need not be Sync.
        let needs = needs(request.uri().path());
        let token = bearer(&request);
        Box::pin(async move {
            match identify(&auth, needs, token).await {
                Ok(Some(identity)) => {
                    request.extensions_mut().insert(identity);
                    inner.call(request).await
                }
                Ok(None) => inner.call(request).await,
                Err(status) => Ok(status.into_http()),
            }
        })
    }
}

fn bearer<B>(request: &http::Request<B>) -> Option<String> {
    let value = request
        .headers()
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    value.strip_prefix("Bearer ").map(str::to_owned)
}

async fn identify(
    auth: &Authenticator,
    needs: Needs,
    token: Option<String>,
) -> Result<Option<Identity>, Status> {
    if matches!(needs, Needs::Nothing) {
        return Ok(None);
    }
    let token = token.ok_or(crate::app::Error::Auth(AuthError::Missing))?;
    let identity = match needs {
        Needs::Operator => auth.operator(&token).map_err(crate::app::Error::Auth)?,
        Needs::Merchant => auth.merchant(&token).await?,
        Needs::Nothing => unreachable!("returned above"),
    };
    Ok(Some(identity))
}
