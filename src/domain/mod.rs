//! Pure domain logic: no I/O, no clocks read, no randomness. Everything here
//! is a function of its inputs and is unit-tested in place.

pub mod canary;
pub mod error;
pub mod events;
pub mod merchant;
pub mod order;
pub mod policy;
pub mod schedule;
pub mod user;
pub mod validate;

use serde::{Deserialize, Serialize};

pub use error::DomainError;

/// Money: an integer number of fen (1 yuan = 100 fen), CNY.
pub type Fen = i64;

/// Milliseconds since the Unix epoch, UTC. Read from a `Clock`, never here.
pub type Millis = i64;

pub const HOUR_MS: Millis = 3_600_000;
pub const DAY_MS: Millis = 24 * HOUR_MS;

/// Test mode and live mode are separate namespaces: a token's `env` claim
/// picks one, and no order, user or index is shared between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Mode {
    Sandbox,
    Live,
}

impl Mode {
    /// The name used in keys and in the token's `env` claim.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Sandbox => "sandbox",
            Mode::Live => "live",
        }
    }
}

/// Sandbox users are every openid with this prefix (DESIGN §3).
pub const SANDBOX_USER_PREFIX: &str = "sbx_";
