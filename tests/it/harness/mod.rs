//! The real gateway on `127.0.0.1:0` against a private Redis, and clients
//! that call it the way a merchant's or operator's generated client would.

pub mod rail;
pub mod receiver;
pub mod redis;

use std::sync::Arc;

use payscore_gateway::auth::token;
use payscore_gateway::clock::ManualClock;
use payscore_gateway::config::Config;
use payscore_gateway::pb::v1::{
    self as pb, onboarding_client::OnboardingClient, operations_client::OperationsClient,
    orders_client::OrdersClient, sandbox_client::SandboxClient,
};
use payscore_gateway::server::Gateway;
use tokio::sync::oneshot;
use tonic::transport::Channel;
use tonic::{Request, Status};
use tonic_types::StatusExt;

pub use self::redis::RedisServer;
pub use rail::{Behaviour, FakeRail};

pub const HOUR_MS: i64 = 3_600_000;

/// How a test wants its gateway.
#[derive(Clone, Default)]
pub struct Options {
    /// Unset: the memory store.
    pub redis_url: Option<String>,
    /// Unset: the simulated rail.
    pub rail_endpoint: Option<String>,
    pub rail_timeout_ms: Option<u64>,
    pub charge_lease_ms: Option<u64>,
    /// Gateways given the same prefix (and Redis) are replicas of one deployment.
    pub key_prefix: Option<String>,
    /// Replicas share one clock.
    pub clock: Option<Arc<ManualClock>>,
    /// How long a replica holds an order it works on.
    pub job_lease_ms: Option<u64>,
}

/// A gateway configuration for tests; `dir` holds the operator's public key.
fn test_config(options: &Options, dir: &std::path::Path, operator_public_pem: &str) -> Config {
    let public_path = dir.join("operator.pub.pem");
    std::fs::write(&public_path, operator_public_pem).expect("write key");
    let mut config = Config::default();
    config.store.redis_url = options.redis_url.clone();
    config.store.key_prefix = options
        .key_prefix
        .clone()
        .unwrap_or_else(|| format!("t{}", uuid::Uuid::new_v4().simple()));
    config.store.response_timeout_ms = 500;
    config.auth.operator_public_key_file = Some(public_path);
    config.rail.endpoint = options.rail_endpoint.clone();
    config.rail.timeout_ms = options.rail_timeout_ms.unwrap_or(2_000);
    config.rail.charge_lease_ms = options.charge_lease_ms.unwrap_or(30_000);
    config.server.drain_secs = 1;
    config.jobs.poll_ms = 25;
    config.jobs.lease_ms = options.job_lease_ms.unwrap_or(60_000);
    config
}

pub struct TestGateway {
    pub channel: Channel,
    /// `http://127.0.0.1:<port>`.
    pub addr: String,
    pub clock: Arc<ManualClock>,
    pub operator_private_pem: String,
    pub operator_public_pem: String,
    shutdown: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl TestGateway {
    pub async fn start(options: Options) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (operator_private_pem, operator_public_pem) = token::generate_key_pair();
        let config = test_config(&options, dir.path(), &operator_public_pem);
        let operator_public_pem = operator_public_pem.clone();
        let clock = options
            .clock
            .clone()
            .unwrap_or_else(|| Arc::new(ManualClock::new()));
        let gateway = Gateway::build(config, clock.clone())
            .await
            .expect("gateway builds");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(gateway.serve(listener, async move {
            let _ = rx.await;
        }));
        let addr = format!("http://{addr}");
        let channel = Channel::from_shared(addr.clone())
            .expect("uri")
            .connect()
            .await
            .expect("connect to the gateway");
        Self {
            channel,
            addr,
            clock,
            operator_private_pem,
            operator_public_pem,
            shutdown: Some(tx),
            _dir: dir,
        }
    }

    /// A gateway on a fresh private Redis.
    pub async fn on_redis(redis: &RedisServer) -> Self {
        Self::start(Options {
            redis_url: Some(redis.url()),
            ..Options::default()
        })
        .await
    }

    pub fn operator(&self) -> Operator {
        operator_on(&self.channel, &self.operator_private_pem)
    }

    pub fn onboarding(&self) -> OnboardingClient<Channel> {
        OnboardingClient::new(self.channel.clone())
    }

    /// Applies a new merchant (in SANDBOX) with a power-bank service.
    pub async fn merchant(&self) -> Merchant {
        merchant_on(&self.channel).await
    }

    /// A gateway on `redis` whose live payments go to a fake rail, with a
    /// merchant already in PRODUCTION.
    pub async fn live_with_rail(
        redis: &RedisServer,
        behaviour: Behaviour,
    ) -> (Self, FakeRail, Merchant) {
        let (rail, endpoint) = FakeRail::start(behaviour).await;
        let gw = Self::start(Options {
            redis_url: Some(redis.url()),
            rail_endpoint: Some(endpoint),
            ..Options::default()
        })
        .await;
        let m = gw.live_merchant().await;
        (gw, rail, m)
    }

    /// A merchant already promoted to PRODUCTION (live calls for everyone).
    pub async fn live_merchant(&self) -> Merchant {
        let merchant = self.merchant().await;
        self.operator()
            .set_stage(&merchant.id, pb::Stage::Production, "test")
            .await
            .expect("set stage");
        merchant
    }
}

/// A gateway on a runtime of its own, so that a test can kill it the way a
/// process dies: every task stops at its next await, no cleanup runs.
pub struct KillableGateway {
    pub channel: Channel,
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl KillableGateway {
    /// Starts a replica that shares `operator_public_pem` with the others.
    pub async fn start(options: Options, operator_public_pem: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = test_config(&options, dir.path(), operator_public_pem);
        let clock = options.clock.clone().expect("replicas share a clock");
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let gateway = Gateway::build(config, clock).await.expect("gateway builds");
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                addr_tx
                    .send(listener.local_addr().expect("addr"))
                    .expect("report addr");
                tokio::spawn(gateway.serve(listener, std::future::pending()));
            });
            let _ = stop_rx.recv();
            // The crash: tasks are dropped wherever they are.
            runtime.shutdown_background();
        });
        let addr = tokio::task::spawn_blocking(move || addr_rx.recv().expect("gateway started"))
            .await
            .expect("join");
        let channel = Channel::from_shared(format!("http://{addr}"))
            .expect("uri")
            .connect()
            .await
            .expect("connect");
        Self {
            channel,
            stop: Some(stop_tx),
            thread: Some(thread),
            _dir: dir,
        }
    }

    pub fn kill(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for KillableGateway {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Applies a new merchant (in SANDBOX) with a power-bank service, through `channel`.
pub async fn merchant_on(channel: &Channel) -> Merchant {
    merchant_notifying(channel, "http://127.0.0.1:9/notify").await
}

/// A new merchant whose callbacks go to `notify_url`.
pub async fn merchant_notifying(channel: &Channel, notify_url: &str) -> Merchant {
    let (private, public) = token::generate_key_pair();
    let mut request = apply_request(&public);
    request.notify_url = notify_url.into();
    let applied = OnboardingClient::new(channel.clone())
        .apply(request)
        .await
        .expect("apply")
        .into_inner();
    let merchant = Merchant {
        id: applied.merchant_id,
        key_id: applied.key_id,
        private_key_pem: private,
        api_v3_key: applied.api_v3_key,
        channel: channel.clone(),
    };
    merchant
        .upsert_service("powerbank", 550, 29_900)
        .await
        .expect("upsert service");
    merchant
}

/// The operator, signing with `private_pem`, through `channel`.
pub fn operator_on(channel: &Channel, private_pem: &str) -> Operator {
    Operator {
        channel: channel.clone(),
        token: token::operator_token(private_pem, 300).expect("operator token"),
    }
}

pub fn apply_request(public_key_pem: &str) -> pb::ApplyRequest {
    pb::ApplyRequest {
        merchant_name: "Test Power Bank".into(),
        icp_filing_number: "京ICP备12345678号".into(),
        api_version: "3.0".into(),
        public_key_pem: public_key_pem.into(),
        notify_url: "http://127.0.0.1:9/notify".into(),
    }
}

fn with_bearer<T>(message: T, bearer: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {bearer}").parse().unwrap());
    request
}

pub struct Merchant {
    pub id: String,
    pub key_id: String,
    pub private_key_pem: String,
    pub api_v3_key: String,
    channel: Channel,
}

impl Merchant {
    pub fn token(&self, env: &str) -> String {
        token::merchant_token(&self.id, &self.key_id, env, &self.private_key_pem, 300)
            .expect("token")
    }

    pub fn sandbox(&self) -> Session {
        self.session("sandbox")
    }

    pub fn live(&self) -> Session {
        self.session("live")
    }

    pub fn session(&self, env: &str) -> Session {
        Session {
            channel: self.channel.clone(),
            bearer: self.token(env),
        }
    }

    pub async fn upsert_service(
        &self,
        id: &str,
        min_score: i32,
        max_risk_fund: i64,
    ) -> Result<pb::Service, Status> {
        let request = pb::UpsertServiceRequest {
            service_id: id.into(),
            name: "Power bank".into(),
            min_score,
            max_risk_fund,
        };
        let response = OnboardingClient::new(self.channel.clone())
            .upsert_service(with_bearer(request, &self.token("sandbox")))
            .await?;
        Ok(response.into_inner().service.unwrap())
    }
}

/// A merchant's calls in one mode, with a bearer token of that mode.
#[derive(Clone)]
pub struct Session {
    channel: Channel,
    pub bearer: String,
}

impl Session {
    /// The same merchant's calls through another replica.
    pub fn via(&self, channel: &Channel) -> Self {
        Self {
            channel: channel.clone(),
            bearer: self.bearer.clone(),
        }
    }

    /// Calls with a token minted elsewhere (e.g. by payscorectl).
    pub fn for_token(gw: &TestGateway, bearer: &str) -> Self {
        Self {
            channel: gw.channel.clone(),
            bearer: bearer.to_owned(),
        }
    }

    pub fn with_bearer(&self, bearer: String) -> Self {
        Self {
            channel: self.channel.clone(),
            bearer,
        }
    }

    pub fn request<T>(&self, message: T) -> Request<T> {
        with_bearer(message, &self.bearer)
    }

    fn orders(&self) -> OrdersClient<Channel> {
        OrdersClient::new(self.channel.clone())
    }

    pub async fn authorize(
        &self,
        request: pb::AuthorizeRequest,
    ) -> Result<pb::AuthorizeResponse, Status> {
        Ok(self
            .orders()
            .authorize(self.request(request))
            .await?
            .into_inner())
    }

    pub async fn complete(&self, request: pb::CompleteRequest) -> Result<pb::Order, Status> {
        Ok(self
            .orders()
            .complete(self.request(request))
            .await?
            .into_inner())
    }

    pub async fn deduct(&self, out_order_no: &str) -> Result<pb::Order, Status> {
        let request = pb::DeductRequest {
            out_order_no: out_order_no.into(),
        };
        Ok(self
            .orders()
            .deduct(self.request(request))
            .await?
            .into_inner())
    }

    pub async fn cancel(&self, out_order_no: &str, reason: &str) -> Result<pb::Order, Status> {
        let request = pb::CancelRequest {
            out_order_no: out_order_no.into(),
            reason: reason.into(),
        };
        Ok(self
            .orders()
            .cancel(self.request(request))
            .await?
            .into_inner())
    }

    pub async fn modify(
        &self,
        out_order_no: &str,
        total_amount: i64,
        reason: &str,
    ) -> Result<pb::Order, Status> {
        let request = pb::ModifyAmountRequest {
            out_order_no: out_order_no.into(),
            total_amount,
            reason: reason.into(),
        };
        Ok(self
            .orders()
            .modify_amount(self.request(request))
            .await?
            .into_inner())
    }

    pub async fn sync(&self, out_order_no: &str) -> Result<pb::Order, Status> {
        let request = pb::SyncRequest {
            out_order_no: out_order_no.into(),
        };
        Ok(self
            .orders()
            .sync(self.request(request))
            .await?
            .into_inner())
    }

    pub async fn get(&self, out_order_no: &str) -> Result<pb::Order, Status> {
        let request = pb::GetOrderRequest {
            out_order_no: out_order_no.into(),
        };
        Ok(self
            .orders()
            .get_order(self.request(request))
            .await?
            .into_inner())
    }

    /// The merchant's events after `cursor` ("" = from the oldest kept).
    pub async fn watch(&self, cursor: &str) -> Result<tonic::Streaming<pb::OrderEvent>, Status> {
        let request = pb::WatchEventsRequest {
            cursor: cursor.into(),
        };
        Ok(self
            .orders()
            .watch_events(self.request(request))
            .await?
            .into_inner())
    }

    /// Sandbox: the user acts on the order.
    pub async fn simulate(
        &self,
        out_order_no: &str,
        action: pb::UserAction,
    ) -> Result<pb::Order, Status> {
        let request = pb::SimulateUserRequest {
            out_order_no: out_order_no.into(),
            action: action.into(),
            amount: 0,
        };
        let response = SandboxClient::new(self.channel.clone())
            .simulate_user(self.request(request))
            .await?;
        Ok(response.into_inner().order.unwrap())
    }

    /// Polls GetOrder until `done` holds (a background deduction may be running).
    pub async fn wait_for(
        &self,
        out_order_no: &str,
        done: impl Fn(&pb::Order) -> bool,
    ) -> pb::Order {
        // Generous: the suite runs many gateways on two cores; a slow turn
        // is not a lost one, and a lost one still fails here.
        let mut last = None;
        for _ in 0..1_200 {
            let order = self.get(out_order_no).await.expect("get order");
            if done(&order) {
                return order;
            }
            last = Some(order);
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("order {out_order_no} never reached the expected state; last seen: {last:#?}");
    }
}

pub struct Operator {
    channel: Channel,
    pub token: String,
}

impl Operator {
    fn client(&self) -> OperationsClient<Channel> {
        OperationsClient::new(self.channel.clone())
    }

    pub async fn set_stage(
        &self,
        merchant_id: &str,
        stage: pb::Stage,
        reason: &str,
    ) -> Result<pb::Stage, Status> {
        let request = pb::SetStageRequest {
            merchant_id: merchant_id.into(),
            stage: stage.into(),
            reason: reason.into(),
        };
        Ok(self
            .client()
            .set_stage(with_bearer(request, &self.token))
            .await?
            .into_inner()
            .stage())
    }

    pub async fn import(
        &self,
        rows: Vec<(&str, i32, bool)>,
    ) -> Result<pb::ImportScoresResponse, Status> {
        let rows: Vec<pb::UserScore> = rows
            .into_iter()
            .map(|(openid, score, enrolled)| pb::UserScore {
                openid: openid.into(),
                score,
                enrolled,
            })
            .collect();
        let stream = tokio_stream::iter(rows);
        Ok(self
            .client()
            .import_scores(with_bearer(stream, &self.token))
            .await?
            .into_inner())
    }

    pub async fn set_risk(&self, openid: &str, tier: pb::RiskTier) -> Result<pb::User, Status> {
        let request = pb::SetUserRiskRequest {
            openid: openid.into(),
            risk_tier: tier.into(),
            reason: "test".into(),
        };
        Ok(self
            .client()
            .set_user_risk(with_bearer(request, &self.token))
            .await?
            .into_inner())
    }

    pub async fn get_user(&self, openid: &str) -> Result<pb::User, Status> {
        let request = pb::GetUserRequest {
            openid: openid.into(),
        };
        Ok(self
            .client()
            .get_user(with_bearer(request, &self.token))
            .await?
            .into_inner())
    }

    pub async fn user_action(
        &self,
        merchant_id: &str,
        out_order_no: &str,
        action: pb::UserAction,
    ) -> Result<pb::Order, Status> {
        let request = pb::RecordUserActionRequest {
            merchant_id: merchant_id.into(),
            out_order_no: out_order_no.into(),
            action: action.into(),
            amount: 0,
        };
        Ok(self
            .client()
            .record_user_action(with_bearer(request, &self.token))
            .await?
            .into_inner())
    }
}

/// An Authorize for the power-bank service.
pub fn authorize(
    out_order_no: &str,
    openid: &str,
    amount: i64,
    need_user_confirm: bool,
) -> pb::AuthorizeRequest {
    pb::AuthorizeRequest {
        service_id: "powerbank".into(),
        out_order_no: out_order_no.into(),
        openid: openid.into(),
        risk_fund: Some(pb::RiskFund {
            name: pb::RiskFundName::Deposit.into(),
            amount,
            description: "押金".into(),
        }),
        service_introduction: "共享充电宝".into(),
        need_user_confirm,
        ..Default::default()
    }
}

pub fn line(name: &str, amount: i64) -> pb::BillLine {
    pb::BillLine {
        name: name.into(),
        amount,
        description: String::new(),
        count: 1,
    }
}

/// A one-line bill of `total` fen.
pub fn bill(out_order_no: &str, total: i64) -> pb::CompleteRequest {
    pb::CompleteRequest {
        out_order_no: out_order_no.into(),
        post_payments: vec![line("租借", total)],
        post_discounts: vec![],
        total_amount: total,
    }
}

/// The `ErrorInfo.reason` of a status.
pub fn reason(status: &Status) -> String {
    let details = status.get_error_details();
    let info = details
        .error_info()
        .unwrap_or_else(|| panic!("no ErrorInfo on {status:?}"));
    assert_eq!(info.domain, "payscore.v1");
    info.reason.clone()
}

/// The field a `BadRequest` detail names.
pub fn bad_field(status: &Status) -> String {
    let details = status.get_error_details();
    let bad = details
        .bad_request()
        .unwrap_or_else(|| panic!("no BadRequest on {status:?}"));
    bad.field_violations[0].field.clone()
}

/// Whether a status says when to retry.
pub fn retry_delay(status: &Status) -> Option<std::time::Duration> {
    status
        .get_error_details()
        .retry_info()
        .and_then(|r| r.retry_delay)
}
