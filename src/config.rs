//! Configuration: defaults, then an optional TOML file, then
//! `PAYSCORE__SECTION__KEY` environment overrides. Validated as a whole
//! before any port is bound.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::domain::policy::Policy;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub auth: AuthConfig,
    pub rail: RailConfig,
    pub policy: Policy,
    pub log: LogConfig,
    pub metrics: MetricsConfig,
    pub jobs: JobsConfig,
    pub events: EventsConfig,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// Each merchant's stream keeps about this many events per mode.
    pub retention_max_len: u64,
    /// How often an open WatchEvents stream looks for new events.
    pub watch_poll_ms: u64,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            retention_max_len: 1_000_000,
            watch_poll_ms: 100,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobsConfig {
    /// Run scheduled work (expiry, deduction retries, collection stages) on this replica.
    pub enabled: bool,
    pub poll_ms: u64,
    /// How long a replica holds an order it is working on before another may take it.
    pub lease_ms: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            poll_ms: 500,
            lease_ms: 60_000,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Prometheus scrape address (e.g. `127.0.0.1:9464`). Unset: no exporter.
    pub listen: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: String,
    /// In-flight calls get this long to finish after SIGTERM.
    pub drain_secs: u64,
    /// Per-call deadline enforced by the server.
    pub request_timeout_ms: u64,
    pub concurrency_per_connection: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:50051".into(),
            drain_secs: 20,
            request_timeout_ms: 10_000,
            concurrency_per_connection: 256,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Unset: the embedded memory store (nothing survives a restart).
    pub redis_url: Option<String>,
    pub key_prefix: String,
    pub response_timeout_ms: u64,
    /// How long a replica may use its copy of a merchant (stage, services)
    /// after another replica changed it.
    pub merchant_cache_ms: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            redis_url: None,
            key_prefix: "payscore".into(),
            response_timeout_ms: 2_000,
            merchant_cache_ms: 1_000,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// PEM of the operator's ES256 public key. Unset: a dev key pair is
    /// generated and written to `dev_credentials_dir` for payscorectl.
    pub operator_public_key_file: Option<PathBuf>,
    /// Where dev operator credentials go (default `~/.payscore`).
    pub dev_credentials_dir: Option<PathBuf>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RailConfig {
    /// gRPC endpoint of the payment rail. Unset: the simulated rail.
    pub endpoint: Option<String>,
    pub timeout_ms: u64,
    /// An in-flight charge older than this may be resolved by another caller.
    pub charge_lease_ms: u64,
}

impl Default for RailConfig {
    fn default() -> Self {
        Self {
            endpoint: None,
            timeout_ms: 5_000,
            charge_lease_ms: 30_000,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub json: bool,
    /// An `EnvFilter` directive; `RUST_LOG` wins when set.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            json: false,
            filter: "info".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Load(#[from] Box<figment::Error>),
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Defaults ← `file` (if given) ← `PAYSCORE__…` environment.
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Invalid(format!(
                    "config file {} not found",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file(path));
        }
        let config: Config = figment
            .merge(Env::prefixed("PAYSCORE__").split("__"))
            .extract()
            .map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if self.server.listen.parse::<SocketAddr>().is_err() {
            return invalid(format!(
                "server.listen {:?} is not an address:port",
                self.server.listen
            ));
        }
        if let Some(listen) = &self.metrics.listen
            && listen.parse::<SocketAddr>().is_err()
        {
            return invalid(format!("metrics.listen {listen:?} is not an address:port"));
        }
        if let Some(url) = &self.store.redis_url
            && redis::parse_redis_url(url).is_none()
        {
            return invalid(format!("store.redis_url {url:?} is not a redis:// URL"));
        }
        if let Some(path) = &self.auth.operator_public_key_file
            && !path.is_file()
        {
            return invalid(format!(
                "auth.operator_public_key_file {} not found",
                path.display()
            ));
        }
        if let Some(endpoint) = &self.rail.endpoint
            && endpoint
                .parse::<http::Uri>()
                .map(|u| u.scheme().is_none())
                .unwrap_or(true)
        {
            return invalid(format!(
                "rail.endpoint {endpoint:?} must be a URL like http://host:port"
            ));
        }
        let p = &self.policy;
        if p.score_floor < 300 || p.bands.is_empty() || p.bands.iter().any(|b| b.max_waive <= 0) {
            return invalid(
                "policy: score_floor must be >= 300 and every band must waive > 0 fen".into(),
            );
        }
        if self.store.key_prefix.is_empty() || self.store.key_prefix.contains(['{', '}']) {
            return invalid("store.key_prefix must be non-empty and free of braces".into());
        }
        Ok(())
    }

    pub fn listen(&self) -> SocketAddr {
        self.server.listen.parse().expect("validated in load")
    }

    pub fn drain(&self) -> Duration {
        Duration::from_secs(self.server.drain_secs)
    }
}
