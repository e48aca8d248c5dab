//! `payscorectl bench`: the gateway measured against its limits on the same
//! machine in the same run. It starts its own Redis, the gateway and two
//! baselines (each its own process), drives each workload in a closed
//! loop, and prints one line per workload and baseline, last.

pub mod baseline;
mod load;
mod procs;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use payscore_gateway::app::{App, AuthorizeInput, MerchantScope, Settings};
use payscore_gateway::auth::token;
use payscore_gateway::clock::SystemClock;
use payscore_gateway::domain::Mode;
use payscore_gateway::pb::v1::{
    self as pb, onboarding_client::OnboardingClient, operations_client::OperationsClient,
    orders_client::OrdersClient,
};
use payscore_gateway::rail::SimulatedRail;
use payscore_gateway::store::redis::{RedisOptions, RedisStore};
use tonic::transport::Channel;

use super::Result;
use super::client::authed;
use load::{Outcome, Spec};
use procs::{
    Proc, RedisStats, free_addr, gateway_counters, redis_stats, start_redis, wait_listening,
};

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Seconds each workload is measured (after its warm-up).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds of warm-up before each measurement.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Closed-loop workers (calls in flight).
    #[arg(long, default_value_t = 64)]
    workers: usize,
    /// HTTP/2 connections the workers share.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Authorize is measured again after this many orders are stored.
    #[arg(long, default_value_t = 1_000_000)]
    stored_orders: u64,
}

const KEY_PREFIX: &str = "bench";
const SERVICE: &str = "powerbank";

/// One measured workload, ready to print.
struct Row {
    name: &'static str,
    outcome: Outcome,
    /// Calls including warm-up (what the deltas below are divided by).
    calls: u64,
    /// Redis commands the server sent per call (its own count).
    roundtrips_per_op: f64,
    token_verifications: f64,
    commands_per_op: f64,
    bytes_per_order: f64,
    gateway_cpu_us: f64,
    redis_cpu_us: f64,
}

struct Bench {
    spec: Spec,
    redis: redis::aio::MultiplexedConnection,
    gateway: Proc,
    gateway_metrics: std::net::SocketAddr,
    gateway_channels: Vec<Channel>,
}

fn channels(addr: std::net::SocketAddr, n: usize) -> Result<Vec<Channel>> {
    (0..n.max(1))
        .map(|_| Ok(Channel::from_shared(format!("http://{addr}"))?.connect_lazy()))
        .collect()
}

type Header = tonic::metadata::MetadataValue<tonic::metadata::Ascii>;

fn bearer_header(bearer: &str) -> Result<Header> {
    Ok(format!("Bearer {bearer}").parse()?)
}

/// A request carrying the (pre-parsed) authorization header.
fn with_auth<T>(message: T, header: &Header) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", header.clone());
    request
}

fn risk_fund() -> Option<pb::RiskFund> {
    Some(pb::RiskFund {
        name: pb::RiskFundName::Deposit.into(),
        amount: 29_900,
        description: "押金".into(),
    })
}

fn authorize_request(out_order_no: String, openid: String) -> pb::AuthorizeRequest {
    pb::AuthorizeRequest {
        service_id: SERVICE.into(),
        out_order_no,
        openid,
        risk_fund: risk_fund(),
        service_introduction: "共享充电宝".into(),
        need_user_confirm: false,
        ..Default::default()
    }
}

pub async fn run(args: BenchArgs) -> Result {
    let dir = tempfile::tempdir()?;
    let (_redis_proc, redis_url) = start_redis(dir.path())?;
    let exe = std::env::current_exe()?;

    // The gateway, configured as in production but for its listener.
    let (operator_private, operator_public) = token::generate_key_pair();
    let operator_key = dir.path().join("operator.pub.pem");
    std::fs::write(&operator_key, operator_public)?;
    let gateway_addr = free_addr()?;
    let gateway_metrics = free_addr()?;
    // PAYSCORE_BENCH_GATEWAY_WRAPPER runs the gateway under a profiler,
    // e.g. "valgrind --tool=callgrind".
    let wrapper = std::env::var("PAYSCORE_BENCH_GATEWAY_WRAPPER").unwrap_or_default();
    let mut words = wrapper.split_whitespace();
    let mut gateway_command = match words.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(words).arg(&exe);
            c
        }
        None => Command::new(&exe),
    };
    let gateway = Proc::spawn(
        "gateway",
        gateway_command
            .args(["bench-server", "--kind", "gateway"])
            .env("PAYSCORE__SERVER__LISTEN", gateway_addr.to_string())
            .env("PAYSCORE__STORE__REDIS_URL", &redis_url)
            .env("PAYSCORE__STORE__KEY_PREFIX", KEY_PREFIX)
            .env("PAYSCORE__AUTH__OPERATOR_PUBLIC_KEY_FILE", &operator_key)
            .env("PAYSCORE__METRICS__LISTEN", gateway_metrics.to_string())
            .env("PAYSCORE__LOG__FILTER", "warn"),
    )?;
    let ceiling_addr = free_addr()?;
    let ceiling = Proc::spawn(
        "ceiling",
        Command::new(&exe).args([
            "bench-server",
            "--kind",
            "ceiling",
            "--listen",
            &ceiling_addr.to_string(),
        ]),
    )?;
    let floor_addr = free_addr()?;
    let floor = Proc::spawn(
        "floor",
        Command::new(&exe)
            .args([
                "bench-server",
                "--kind",
                "floor",
                "--listen",
                &floor_addr.to_string(),
            ])
            .args(["--redis", &redis_url]),
    )?;
    for (addr, what) in [
        (gateway_addr, "gateway"),
        (ceiling_addr, "ceiling"),
        (floor_addr, "floor"),
    ] {
        wait_listening(addr, what)?;
    }

    let redis = redis::Client::open(redis_url.as_str())?
        .get_multiplexed_async_connection()
        .await?;
    let spec = Spec {
        workers: args.workers,
        warmup: Duration::from_secs(args.warmup),
        duration: Duration::from_secs(args.duration),
    };
    let mut bench = Bench {
        spec,
        redis,
        gateway,
        gateway_metrics,
        gateway_channels: channels(gateway_addr, args.connections)?,
    };
    let (merchant_id, bearer) = bench.setup(&operator_private).await?;
    eprintln!(
        "bench: {} workers over {} connections, {} s warm-up + {} s per workload",
        args.workers, args.connections, args.warmup, args.duration
    );

    let ceiling_row = bench
        .baseline(
            "ceiling",
            &ceiling,
            channels(ceiling_addr, args.connections)?,
        )
        .await?;
    let floor_row = bench
        .baseline("floor", &floor, channels(floor_addr, args.connections)?)
        .await?;

    let preload = Preloader::new(&redis_url, &merchant_id).await?;
    preload.fill(&mut bench.redis, 10_000).await?;
    let mut authorize = bench.authorize(&bearer, "authorize", "a").await?;
    authorize.bytes_per_order = bench.footprint(&merchant_id, "a").await?;
    let mut order_flow = bench.order_flow(&bearer).await?;
    order_flow.bytes_per_order = bench.footprint(&merchant_id, "f").await?;
    let get_order = bench.get_order(&bearer).await?;

    let stored_before = preload.count();
    let per_order = preload.fill(&mut bench.redis, args.stored_orders).await?;
    let at_scale = bench.authorize(&bearer, "authorize", "z").await?;
    let change = at_scale.outcome.rps() / authorize.outcome.rps() - 1.0;

    let ceiling_rps = ceiling_row.outcome.rps();
    let floor_rps = floor_row.outcome.rps();
    println!();
    println!("details (per call, warm-up included in the deltas):");
    for row in [
        &ceiling_row,
        &floor_row,
        &authorize,
        &order_flow,
        &get_order,
        &at_scale,
    ] {
        println!(
            "  {:<10} calls={:<8} server_cpu_us={:<7.1} redis_cpu_us={:<6.1} redis_cmds_sent={:.2} redis_cmds_incl_scripts={:.2} es256_verifications={} errors={:?}",
            row.name,
            row.calls,
            row.gateway_cpu_us,
            row.redis_cpu_us,
            row.roundtrips_per_op,
            row.commands_per_op,
            row.token_verifications,
            row.outcome.errors
        );
    }
    println!(
        "stored orders: authorize at {} stored: {:.0} rps; at {} stored: {:.0} rps ({:+.1} %); redis bytes per stored order during preload: {:.0}",
        stored_before.max(10_000),
        authorize.outcome.rps(),
        preload.count(),
        at_scale.outcome.rps(),
        change * 100.0,
        per_order
    );
    println!();
    for row in [
        &authorize,
        &order_flow,
        &get_order,
        &ceiling_row,
        &floor_row,
    ] {
        println!(
            "workload={} rps={:.0} p50_ms={:.3} p99_ms={:.3} p999_ms={:.3} vs_ceiling={:.2} vs_floor={:.2} redis_roundtrips_per_op={:.2} redis_bytes_per_order={:.0}",
            row.name,
            row.outcome.rps(),
            row.outcome.ms(0.5),
            row.outcome.ms(0.99),
            row.outcome.ms(0.999),
            row.outcome.rps() / ceiling_rps,
            row.outcome.rps() / floor_rps,
            row.roundtrips_per_op,
            row.bytes_per_order,
        );
    }
    Ok(())
}

impl Bench {
    /// A merchant in PRODUCTION with the power-bank service.
    async fn setup(&self, operator_private: &str) -> Result<(String, String)> {
        let channel = self.gateway_channels[0].clone();
        let (private, public) = token::generate_key_pair();
        let applied = OnboardingClient::new(channel.clone())
            .apply(pb::ApplyRequest {
                merchant_name: "Bench Power Bank".into(),
                icp_filing_number: "京ICP备12345678号".into(),
                api_version: "3.0".into(),
                public_key_pem: public,
                notify_url: "http://127.0.0.1:9/notify".into(),
            })
            .await?
            .into_inner();
        // Sandbox users (sbx_…) need no score import: every call uses a new
        // user, and the path through the gateway is the live one.
        let bearer = token::merchant_token(
            &applied.merchant_id,
            &applied.key_id,
            "sandbox",
            &private,
            600,
        )?;
        let service = pb::UpsertServiceRequest {
            service_id: SERVICE.into(),
            name: "Power bank".into(),
            min_score: 550,
            max_risk_fund: 29_900,
        };
        OnboardingClient::new(channel.clone())
            .upsert_service(authed(service, &bearer)?)
            .await?;
        let stage = pb::SetStageRequest {
            merchant_id: applied.merchant_id.clone(),
            stage: pb::Stage::Production.into(),
            reason: "bench".into(),
        };
        OperationsClient::new(channel)
            .set_stage(authed(
                stage,
                &token::operator_token(operator_private, 600)?,
            )?)
            .await?;
        Ok((applied.merchant_id, bearer))
    }

    /// Drives `op` and takes the deltas around it.
    async fn measure<F, Fut>(
        &mut self,
        name: &'static str,
        server: Option<&Proc>,
        op: F,
    ) -> Result<Row>
    where
        F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = std::result::Result<(), tonic::Status>> + Send,
    {
        let server = server.unwrap_or(&self.gateway);
        let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = {
            let calls = Arc::clone(&calls);
            move |w, s| {
                calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                op(w, s)
            }
        };
        let before: RedisStats = redis_stats(&mut self.redis).await?;
        let counters_before = gateway_counters(self.gateway_metrics).await?;
        let cpu_before = server.cpu_secs();
        let outcome = load::drive(self.spec, counted).await;
        // Let background work started by the calls (deductions) finish.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let cpu = server.cpu_secs() - cpu_before;
        let after = redis_stats(&mut self.redis).await?;
        let counters = gateway_counters(self.gateway_metrics).await?;
        let calls = calls.load(std::sync::atomic::Ordering::Relaxed).max(1) as f64;
        eprintln!(
            "bench: {name}: {:.0} rps, errors {:?}",
            outcome.rps(),
            outcome.errors
        );
        Ok(Row {
            name,
            calls: calls as u64,
            roundtrips_per_op: (counters.redis_commands - counters_before.redis_commands) / calls,
            token_verifications: counters.token_verifications - counters_before.token_verifications,
            commands_per_op: (after.commands - before.commands) as f64 / calls,
            bytes_per_order: after.used_memory.saturating_sub(before.used_memory) as f64 / calls,
            gateway_cpu_us: cpu * 1e6 / calls,
            redis_cpu_us: (after.cpu_secs - before.cpu_secs) * 1e6 / calls,
            outcome,
        })
    }

    async fn baseline(
        &mut self,
        name: &'static str,
        server: &Proc,
        channels: Vec<Channel>,
    ) -> Result<Row> {
        let mut row = self
            .measure(name, Some(server), move |w, s| {
                let mut client = OrdersClient::new(channels[w % channels.len()].clone());
                async move {
                    let request = authorize_request(
                        format!("{name:.1}{w:03}-{s:08}"),
                        format!("sbx_{w}_{s}"),
                    );
                    client.authorize(request).await.map(drop)
                }
            })
            .await?;
        // What a baseline sends is known by construction, not counted by the gateway.
        row.roundtrips_per_op = if name == "floor" { 1.0 } else { 0.0 };
        row.token_verifications = 0.0;
        if name == "ceiling" {
            row.bytes_per_order = 0.0;
        }
        Ok(row)
    }

    async fn authorize(
        &mut self,
        bearer: &str,
        name: &'static str,
        tag: &'static str,
    ) -> Result<Row> {
        let (channels, header) = (self.gateway_channels.clone(), bearer_header(bearer)?);
        self.measure(name, None, move |w, s| {
            let mut client = OrdersClient::new(channels[w % channels.len()].clone());
            let request = with_auth(
                authorize_request(format!("{tag}{w:03}-{s:08}"), format!("sbx_{tag}{w}_{s}")),
                &header,
            );
            async move { client.authorize(request).await.map(drop) }
        })
        .await
    }

    /// Authorize → Complete → Deduct: one op is the whole order.
    async fn order_flow(&mut self, bearer: &str) -> Result<Row> {
        let (channels, header) = (self.gateway_channels.clone(), bearer_header(bearer)?);
        self.measure("order_flow", None, move |w, s| {
            let mut client = OrdersClient::new(channels[w % channels.len()].clone());
            let header = header.clone();
            async move {
                let no = format!("f{w:03}-{s:08}");
                let authorize = authorize_request(no.clone(), format!("sbx_f{w}_{s}"));
                client.authorize(with_auth(authorize, &header)).await?;
                let line = pb::BillLine {
                    name: "租借".into(),
                    amount: 800,
                    description: String::new(),
                    count: 1,
                };
                let bill = pb::CompleteRequest {
                    out_order_no: no.clone(),
                    post_payments: vec![line],
                    post_discounts: vec![],
                    total_amount: 800,
                };
                client.complete(with_auth(bill, &header)).await?;
                let deduct = pb::DeductRequest { out_order_no: no };
                client.deduct(with_auth(deduct, &header)).await.map(drop)
            }
        })
        .await
    }

    /// Redis bytes one order occupies (MEMORY USAGE of its record, its
    /// order-number index and its user's standing), averaged over orders
    /// the workload tagged `tag` stored: the first few of every worker.
    async fn footprint(&mut self, merchant_id: &str, tag: &str) -> Result<f64> {
        use payscore_gateway::store::Key;
        let (mut bytes, mut orders) = (0u64, 0u64);
        for w in 0..self.spec.workers {
            for s in 0..4u64 {
                let (no, openid) = (format!("{tag}{w:03}-{s:08}"), format!("sbx_{tag}{w}_{s}"));
                let keys = [
                    Key::order(Mode::Sandbox, &openid, merchant_id, &no),
                    Key::order_index(merchant_id, Mode::Sandbox, &no),
                    Key::standing(Mode::Sandbox, &openid),
                ];
                let mut sizes = Vec::new();
                for key in &keys {
                    let usage: Option<u64> = redis::cmd("MEMORY")
                        .arg("USAGE")
                        .arg(key.full(KEY_PREFIX))
                        .query_async(&mut self.redis)
                        .await?;
                    sizes.push(usage);
                }
                if sizes[0].is_some() {
                    bytes += sizes.into_iter().flatten().sum::<u64>();
                    orders += 1;
                }
            }
        }
        Ok(bytes as f64 / orders.max(1) as f64)
    }

    /// GetOrder of orders stored by the first Authorize run.
    async fn get_order(&mut self, bearer: &str) -> Result<Row> {
        let (channels, header) = (self.gateway_channels.clone(), bearer_header(bearer)?);
        let mut row = self
            .measure("get_order", None, move |w, s| {
                let mut client = OrdersClient::new(channels[w % channels.len()].clone());
                // Preloaded orders p00000000..p00009999, visited in a scattered order.
                let n = (w as u64 * 7_919 + s * 104_729) % 10_000;
                let request = with_auth(
                    pb::GetOrderRequest {
                        out_order_no: format!("p{n:08}"),
                    },
                    &header,
                );
                async move { client.get_order(request).await.map(drop) }
            })
            .await?;
        row.bytes_per_order = 0.0;
        Ok(row)
    }
}

/// Stores orders straight through the application layer (same code, same
/// keys, no gRPC) to reach a given number of stored orders quickly.
struct Preloader {
    app: Arc<App>,
    scope: MerchantScope,
    stored: std::sync::atomic::AtomicU64,
}

impl Preloader {
    async fn new(redis_url: &str, merchant_id: &str) -> Result<Self> {
        let store = RedisStore::connect(RedisOptions {
            url: redis_url.into(),
            prefix: KEY_PREFIX.into(),
            response_timeout: Duration::from_secs(5),
            connection_timeout: Duration::from_secs(5),
        })
        .await?;
        let rail = Arc::new(SimulatedRail::new(0));
        let app = App::new(
            Arc::new(store),
            Arc::new(SystemClock),
            rail,
            None,
            Settings::default(),
        );
        Ok(Self {
            app,
            scope: MerchantScope {
                merchant_id: merchant_id.into(),
                mode: Mode::Sandbox,
            },
            stored: std::sync::atomic::AtomicU64::new(0),
        })
    }

    fn count(&self) -> u64 {
        self.stored.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Stores orders until `target` exist; returns Redis bytes per order added.
    async fn fill(
        &self,
        redis: &mut redis::aio::MultiplexedConnection,
        target: u64,
    ) -> Result<f64> {
        let start = self.count();
        if target <= start {
            return Ok(0.0);
        }
        eprintln!("bench: storing orders {start}..{target}");
        let before = redis_stats(redis).await?.used_memory;
        let next = Arc::new(std::sync::atomic::AtomicU64::new(start));
        let mut tasks = Vec::new();
        for _ in 0..128 {
            let (app, scope, next) = (Arc::clone(&self.app), self.scope.clone(), Arc::clone(&next));
            tasks.push(tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n >= target {
                        return Ok::<(), payscore_gateway::app::Error>(());
                    }
                    app.authorize(&scope, preload_input(n)).await?;
                }
            }));
        }
        for task in tasks {
            task.await??;
        }
        self.stored
            .store(target, std::sync::atomic::Ordering::Relaxed);
        let after = redis_stats(redis).await?.used_memory;
        Ok(after.saturating_sub(before) as f64 / (target - start) as f64)
    }
}

fn preload_input(n: u64) -> AuthorizeInput {
    AuthorizeInput {
        out_order_no: format!("p{n:08}"),
        terms: baseline::power_bank_terms(format!("sbx_p{n}")),
        scenario: None,
    }
}

/// `payscorectl bench-server --kind gateway`: the gateway in its own process.
pub async fn serve_gateway() -> Result {
    let config = payscore_gateway::config::Config::load(None)?;
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&config.log.filter))
        .init();
    if let Some(metrics) = &config.metrics.listen {
        payscore_gateway::metrics::install(metrics.parse()?)?;
    }
    let listener = tokio::net::TcpListener::bind(config.listen()).await?;
    let gateway = payscore_gateway::server::Gateway::build(config, Arc::new(SystemClock)).await?;
    let sigterm = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler installs");
        term.recv().await;
    };
    gateway.serve(listener, sigterm).await?;
    Ok(())
}
