//! Prometheus metrics. Names are declared here once; the `metrics` macros
//! cost nothing until an exporter is installed (tests install none).

use std::net::SocketAddr;

use metrics_exporter_prometheus::PrometheusBuilder;

/// Redis commands sent, by primitive (`get`, `commit`, `put_if_absent`, `ping`).
pub const REDIS_COMMANDS: &str = "payscore_redis_commands_total";
/// Redis commands that failed, by primitive and kind (`unavailable`, `backend`).
pub const REDIS_ERRORS: &str = "payscore_redis_errors_total";
/// ES256 signature verifications (a token's first use; later uses hit the cache).
pub const TOKEN_VERIFICATIONS: &str = "payscore_token_verifications_total";

/// Serves `/metrics` on `listen`. Call once, inside the runtime.
pub fn install(listen: SocketAddr) -> Result<(), metrics_exporter_prometheus::BuildError> {
    PrometheusBuilder::new()
        .with_http_listener(listen)
        .install()?;
    metrics::describe_counter!(REDIS_COMMANDS, "Redis commands sent, by store primitive");
    metrics::describe_counter!(
        REDIS_ERRORS,
        "Redis commands that failed; unavailable means calls failed closed"
    );
    metrics::describe_counter!(TOKEN_VERIFICATIONS, "ES256 token signature verifications");
    Ok(())
}
