//! Assembles the gateway from configuration and serves it on a listener
//! the caller binds (so tests pass `127.0.0.1:0`), until `shutdown`
//! resolves; in-flight calls then get the drain period to finish.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;

use crate::api::{OnboardingApi, OperationsApi, OrdersApi, SandboxApi};
use crate::app::{App, Settings};
use crate::auth::{AuthLayer, Authenticator};
use crate::clock::Clock;
use crate::config::Config;
use crate::pb::v1::{
    onboarding_server::OnboardingServer, operations_server::OperationsServer,
    orders_server::OrdersServer, sandbox_server::SandboxServer,
};
use crate::rail::{GrpcRail, PaymentRail, SimulatedRail};
use crate::store::memory::MemoryStore;
use crate::store::redis::{RedisOptions, RedisStore};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot reach Redis: {0}")]
    Store(#[from] StoreError),
    #[error("payment rail endpoint: {0}")]
    Rail(#[from] tonic::transport::Error),
    #[error("operator key: {0}")]
    OperatorKey(String),
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

/// A gateway ready to serve.
pub struct Gateway {
    app: Arc<App>,
    auth: Arc<Authenticator>,
    config: Config,
}

/// Where dev operator credentials go when no operator key is configured.
pub fn dev_credentials_dir(config: &Config) -> PathBuf {
    config.auth.dev_credentials_dir.clone().unwrap_or_else(|| {
        let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
        home.join(".payscore")
    })
}

/// The operator public key: configured, or a dev pair made (once) and
/// written where `payscorectl` looks.
fn operator_public_key(config: &Config) -> Result<String, StartError> {
    let fail = |e: std::io::Error| StartError::OperatorKey(e.to_string());
    if let Some(path) = &config.auth.operator_public_key_file {
        return std::fs::read_to_string(path).map_err(fail);
    }
    let dir = dev_credentials_dir(config);
    let (private_path, public_path) = (dir.join("operator.pem"), dir.join("operator.pub.pem"));
    if !private_path.exists() || !public_path.exists() {
        let (private, public) = crate::auth::token::generate_key_pair();
        std::fs::create_dir_all(&dir).map_err(fail)?;
        crate::auth::token::write_private_key(&private_path, &private).map_err(fail)?;
        std::fs::write(&public_path, public).map_err(fail)?;
        tracing::warn!(dir = %dir.display(), "no operator key configured: generated a dev operator key pair");
    }
    std::fs::read_to_string(public_path).map_err(fail)
}

impl Gateway {
    /// Connects the store and the rail and prepares every service.
    pub async fn build(config: Config, clock: Arc<dyn Clock>) -> Result<Self, StartError> {
        let store: Arc<dyn Store> = match &config.store.redis_url {
            Some(url) => Arc::new(
                RedisStore::connect(RedisOptions {
                    url: url.clone(),
                    prefix: config.store.key_prefix.clone(),
                    response_timeout: Duration::from_millis(config.store.response_timeout_ms),
                    connection_timeout: Duration::from_secs(2),
                })
                .await?,
            ),
            None => {
                tracing::warn!(
                    "no store.redis_url: using the embedded memory store (nothing survives a restart)"
                );
                Arc::new(MemoryStore::new())
            }
        };
        let (live_rail, live_simulated): (Arc<dyn PaymentRail>, _) = match &config.rail.endpoint {
            Some(endpoint) => {
                let timeout = Duration::from_millis(config.rail.timeout_ms);
                (Arc::new(GrpcRail::new(endpoint, timeout)?), None)
            }
            None => {
                let rail = Arc::new(SimulatedRail::new(1_000_000));
                (rail.clone(), Some(rail))
            }
        };
        let settings = Settings {
            policy: config.policy.clone(),
            charge_lease: Duration::from_millis(config.rail.charge_lease_ms),
            deduct_on_complete: true,
            merchant_cache_ttl: Duration::from_millis(config.store.merchant_cache_ms),
            events_max_len: config.events.retention_max_len,
            jobs: crate::app::jobs::JobSettings {
                poll: Duration::from_millis(config.jobs.poll_ms),
                lease: Duration::from_millis(config.jobs.lease_ms),
            },
        };
        let app = App::new(store, clock, live_rail, live_simulated, settings);
        let operator_key = operator_public_key(&config)?;
        let auth = Authenticator::new(Arc::clone(&app), &operator_key)
            .map_err(|e| StartError::OperatorKey(e.to_string()))?;
        Ok(Self {
            app,
            auth: Arc::new(auth),
            config,
        })
    }

    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Serves until `shutdown` resolves, then drains.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<OrdersServer<OrdersApi>>().await;
        health
            .set_serving::<OnboardingServer<OnboardingApi>>()
            .await;
        health.set_serving::<SandboxServer<SandboxApi>>().await;
        health
            .set_serving::<OperationsServer<OperationsApi>>()
            .await;
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(crate::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;

        let server = &self.config.server;
        let app = &self.app;
        let router = Server::builder()
            // A span per call; handlers record the merchant and order on it.
            .trace_fn(|request| {
                // Field values are only computed when the span is enabled.
                tracing::info_span!(
                    "call",
                    path = %request.uri().path(),
                    request_id = %request
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned),
                    merchant = tracing::field::Empty,
                    order = tracing::field::Empty,
                )
            })
            // Outermost: no call runs past its deadline, whatever it waits on.
            .timeout(Duration::from_millis(server.request_timeout_ms))
            // Bounds what one client connection can hold in flight.
            .concurrency_limit_per_connection(server.concurrency_per_connection)
            // Under overload refuse at once (UNAVAILABLE) rather than queue.
            .load_shed(true)
            // Innermost: identity is established only for calls admitted above.
            .layer(AuthLayer::new(Arc::clone(&self.auth)))
            .add_service(health_service)
            .add_service(reflection)
            .add_service(OnboardingServer::new(OnboardingApi::new(Arc::clone(app))))
            .add_service(OrdersServer::new(OrdersApi::new(
                Arc::clone(app),
                Duration::from_millis(self.config.events.watch_poll_ms),
            )))
            .add_service(SandboxServer::new(SandboxApi::new(Arc::clone(app))))
            .add_service(OperationsServer::new(OperationsApi::new(Arc::clone(app))));

        let (stop_jobs, jobs_stop) = tokio::sync::watch::channel(false);
        let jobs = self
            .config
            .jobs
            .enabled
            .then(|| crate::app::jobs::spawn_runner(Arc::clone(app), jobs_stop));
        let drain = self.config.drain();
        let (fired_tx, fired_rx) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            shutdown.await;
            // No new scheduled work; what is claimed comes back after its lease.
            let _ = stop_jobs.send(true);
            // Tell load balancers first, then stop accepting.
            health.set_not_serving::<OrdersServer<OrdersApi>>().await;
            let _ = fired_tx.send(());
        };
        let incoming = TcpListenerStream::new(listener);
        let mut serving = tokio::spawn(router.serve_with_incoming_shutdown(incoming, signal));
        tokio::select! {
            result = &mut serving => {
                result.map_err(|e| StartError::OperatorKey(format!("server task: {e}")))??;
            }
            () = async { let _ = fired_rx.await; tokio::time::sleep(drain).await } => {
                tracing::warn!(?drain, "drain period over; dropping calls still in flight");
                serving.abort();
            }
        }
        if let Some(jobs) = jobs {
            jobs.abort();
        }
        Ok(())
    }
}
