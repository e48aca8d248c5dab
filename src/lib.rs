//! PayScore Gateway: deposit-free rentals over gRPC.
//!
//! Layers, outermost first: `api` (tonic services, proto ⇄ domain), `auth`
//! (JWT layer and identities), `app` (use cases: the one place where an
//! order's state is loaded, changed by `domain`, and committed), `domain`
//! (pure rules), `store` (atomic primitives over memory or Redis), `rail`
//! (the payment rail client and the simulated rail).
#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod domain;
pub mod metrics;
pub mod pb;
pub mod rail;
pub mod server;
pub mod store;
pub mod webhook;
