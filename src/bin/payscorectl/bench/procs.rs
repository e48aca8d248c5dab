//! The processes a benchmark starts — its own Redis, the gateway, the
//! baselines — and what is read off them: CPU time from /proc, Redis
//! command counts and memory from INFO.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::super::Result;

pub fn free_addr() -> Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// A child process killed when dropped.
pub struct Proc {
    child: Child,
}

impl Proc {
    pub fn spawn(name: &'static str, command: &mut Command) -> Result<Self> {
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        Ok(Self { child })
    }

    /// User + system CPU seconds used so far (from /proc/<pid>/stat).
    pub fn cpu_secs(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the parenthesised command name; utime and stime are 14 and 15.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        (ticks(11) + ticks(12)) / clock_ticks()
    }
}

impl Drop for Proc {
    /// SIGTERM and a grace period (so a profiler wrapping the process can
    /// write its output), then SIGKILL.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Waits until something accepts TCP connections on `addr`.
pub fn wait_listening(addr: SocketAddr, what: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("{what} did not start listening on {addr}").into())
}

/// A private redis-server with AOF (`appendfsync everysec`, the usual
/// production setting) in `dir`.
pub fn start_redis(dir: &Path) -> Result<(Proc, String)> {
    let addr = free_addr()?;
    let proc = Proc::spawn(
        "redis-server",
        Command::new("redis-server")
            .args(["--port", &addr.port().to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
            ])
            .arg("--dir")
            .arg(dir),
    )?;
    wait_listening(addr, "redis-server")?;
    Ok((proc, format!("redis://{addr}/")))
}

/// What Redis reports, for deltas around a workload.
#[derive(Clone, Copy, Debug, Default)]
pub struct RedisStats {
    /// Every data command executed, including those run inside scripts.
    pub commands: u64,
    pub used_memory: u64,
    pub cpu_secs: f64,
}

pub async fn redis_stats(conn: &mut redis::aio::MultiplexedConnection) -> Result<RedisStats> {
    let info: String = redis::cmd("INFO").arg("all").query_async(conn).await?;
    let mut stats = RedisStats::default();
    for line in info.lines() {
        if let Some(rest) = line.strip_prefix("cmdstat_") {
            let (name, fields) = rest.split_once(':').unwrap_or_default();
            if matches!(
                name,
                "info" | "ping" | "client" | "hello" | "script" | "config" | "dbsize"
            ) {
                continue;
            }
            let calls = fields
                .split(',')
                .find_map(|f| f.strip_prefix("calls="))
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
            stats.commands += calls;
        } else if let Some(n) = line.strip_prefix("used_memory:") {
            stats.used_memory = n.trim().parse().unwrap_or(0);
        } else if let Some(n) = line
            .strip_prefix("used_cpu_sys:")
            .or_else(|| line.strip_prefix("used_cpu_user:"))
        {
            stats.cpu_secs += n.trim().parse::<f64>().unwrap_or(0.0);
        }
    }
    Ok(stats)
}

/// Counters from the gateway's Prometheus endpoint.
#[derive(Clone, Copy, Debug, Default)]
pub struct GatewayCounters {
    pub redis_commands: f64,
    pub token_verifications: f64,
}

/// Scrapes `http://<addr>/metrics` and sums the counters the bench reports.
pub async fn gateway_counters(addr: SocketAddr) -> Result<GatewayCounters> {
    use http_body_util::{BodyExt, Empty};
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = http::Request::get("/metrics")
        .header(http::header::HOST, addr.to_string())
        .body(Empty::<bytes::Bytes>::new())?;
    let body = sender
        .send_request(request)
        .await?
        .into_body()
        .collect()
        .await?
        .to_bytes();
    let text = String::from_utf8_lossy(&body);
    let sum = |name: &str| {
        text.lines()
            .filter(|l| l.starts_with(name) && !l.starts_with('#'))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    Ok(GatewayCounters {
        redis_commands: sum(payscore_gateway::metrics::REDIS_COMMANDS),
        token_verifications: sum(payscore_gateway::metrics::TOKEN_VERIFICATIONS),
    })
}
