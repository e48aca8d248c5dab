//! The closed-loop load driver: W workers, each issuing its next call as
//! soon as the last one answered, over shared HTTP/2 connections. Latency
//! goes into an HDR histogram after the warm-up; errors are counted by
//! status code and ErrorInfo reason.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tonic::Status;
use tonic_types::StatusExt;

#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub workers: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

pub struct Outcome {
    pub ops: u64,
    pub elapsed: Duration,
    /// Microseconds.
    pub latency: Histogram<u64>,
    pub errors: BTreeMap<String, u64>,
}

impl Outcome {
    pub fn rps(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }

    pub fn ms(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1_000.0
    }
}

fn error_key(status: &Status) -> String {
    let reason = status
        .get_error_details()
        .error_info()
        .map(|i| i.reason.clone())
        .unwrap_or_default();
    format!("{:?}/{reason}", status.code())
}

/// Runs `op(worker, sequence)` in a closed loop on every worker.
pub async fn drive<F, Fut>(spec: Spec, op: F) -> Outcome
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Status>> + Send,
{
    let op = Arc::new(op);
    let start = Instant::now();
    let measure_from = start + spec.warmup;
    let end = measure_from + spec.duration;
    let mut tasks = Vec::with_capacity(spec.workers);
    for worker in 0..spec.workers {
        let op = Arc::clone(&op);
        tasks.push(tokio::spawn(async move {
            let mut latency =
                Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
            let mut errors: BTreeMap<String, u64> = BTreeMap::new();
            let mut ops = 0u64;
            let mut sequence = 0u64;
            loop {
                let began = Instant::now();
                if began >= end {
                    break;
                }
                let result = op(worker, sequence).await;
                sequence += 1;
                if began < measure_from {
                    continue;
                }
                match result {
                    Ok(()) => {
                        ops += 1;
                        let micros = u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX);
                        latency.saturating_record(micros.max(1));
                    }
                    Err(status) => *errors.entry(error_key(&status)).or_default() += 1,
                }
            }
            (ops, latency, errors)
        }));
    }
    let mut outcome = Outcome {
        ops: 0,
        elapsed: spec.duration,
        latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds"),
        errors: BTreeMap::new(),
    };
    for task in tasks {
        let (ops, latency, errors) = task.await.expect("worker");
        outcome.ops += ops;
        outcome.latency.add(latency).expect("same bounds");
        for (k, v) in errors {
            *outcome.errors.entry(k).or_default() += v;
        }
    }
    outcome
}
