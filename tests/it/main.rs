//! Integration tests: the real gRPC surface, a real Redis started per test.

mod harness;

mod auth;
mod concurrency;
mod declines;
mod durability;
mod events;
mod idempotency;
mod jobs;
mod operations;
mod order_flow;
mod store_conformance;
mod validation;
mod webhooks;
