//! Scheduled work: expiry, deduction attempts and their retries, collection
//! stages and defaults. Any replica may run it; leases make sure each due
//! order is worked on by one replica at a time, and one that dies mid-job
//! hands its orders back when the lease ends.
//!
//! Every order that will need attention has one member in a schedule shard,
//! due at [`schedule::next_due`]. Writers bring it forward *before* they
//! commit (a commit that then fails leaves a harmless early wake-up; a
//! commit can never be left without one). Workers claim due members, do
//! what [`schedule::due`] says, and release them at the order's next due
//! time — unless a writer woke them meanwhile.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::{App, OrderLoc, Result};
use crate::domain::order::Order;
use crate::domain::schedule::{self, Duty, Timing};
use crate::domain::{Millis, Mode};
use crate::store::Key;

/// Schedule shards (hash slots) that members are spread over.
pub const SHARDS: u32 = 16;

/// How much a worker claims at once, per shard.
const BATCH: usize = 64;

/// A writer wakes a member *before* it stores the work, so a worker that
/// claims a fresh wake-up and finds nothing looks again this much later
/// before letting the member go (one store call, bounded by its 2 s
/// timeout, separates the wake-up from the work).
const RECHECK_MS: Millis = 10_000;

/// At most this many duties are done for one order per claim (a bound, not
/// a limit anyone should reach: an order has at most a handful due at once).
const MAX_DUTIES: usize = 8;

/// Settings of the job runner.
#[derive(Clone, Copy, Debug)]
pub struct JobSettings {
    /// How often each replica looks for due work.
    pub poll: Duration,
    /// How long a claimed order stays hidden from other replicas.
    pub lease: Duration,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            poll: Duration::from_millis(500),
            lease: Duration::from_secs(60),
        }
    }
}

fn mode_name(mode: Mode) -> &'static str {
    mode.as_str()
}

/// `o|<mode>|<merchant>|<openid>|<out_order_no>` (the order number may
/// contain `|`, so it comes last).
fn member(loc: &OrderLoc) -> String {
    format!(
        "o|{}|{}|{}|{}",
        mode_name(loc.mode),
        loc.merchant_id,
        loc.openid,
        loc.out_order_no
    )
}

/// `d|<mode>|<merchant>`: a merchant's webhook deliveries.
pub(crate) fn deliveries_member(mode: Mode, merchant_id: &str) -> String {
    format!("d|{}|{merchant_id}", mode_name(mode))
}

/// What a schedule member stands for.
enum Work {
    Order(OrderLoc),
    Deliveries { mode: Mode, merchant_id: String },
}

fn parse_work(member: &str) -> Option<Work> {
    if let Some(rest) = member.strip_prefix("d|") {
        let (mode, merchant_id) = rest.split_once('|')?;
        let mode = match mode {
            "sandbox" => Mode::Sandbox,
            "live" => Mode::Live,
            _ => return None,
        };
        return Some(Work::Deliveries {
            mode,
            merchant_id: merchant_id.to_owned(),
        });
    }
    parse_member(member).map(Work::Order)
}

fn parse_member(member: &str) -> Option<OrderLoc> {
    let mut parts = member.splitn(5, '|');
    if parts.next()? != "o" {
        return None;
    }
    let mode = match parts.next()? {
        "sandbox" => Mode::Sandbox,
        "live" => Mode::Live,
        _ => return None,
    };
    Some(OrderLoc {
        mode,
        merchant_id: parts.next()?.to_owned(),
        openid: parts.next()?.to_owned(),
        out_order_no: parts.next()?.to_owned(),
    })
}

pub(crate) fn shard_of(member: &str) -> u32 {
    let digest = Sha256::digest(member.as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % SHARDS
}

impl App {
    pub(crate) fn timing(&self) -> Timing {
        Timing {
            confirm_timeout_ms: self.policy().confirm_timeout_ms,
            charge_lease_ms: i64::try_from(self.settings.charge_lease.as_millis())
                .unwrap_or(i64::MAX),
        }
    }

    /// Makes sure `order` (about to be committed) is woken when it next
    /// needs attention.
    pub(crate) async fn wake_for(&self, loc: &OrderLoc, order: &Order) -> Result<()> {
        if let Some(at) = schedule::next_due(order, self.timing()) {
            let member = member(loc);
            let queue = Key::schedule(shard_of(&member));
            self.store.wake_by(&queue, &member, at).await?;
        }
        Ok(())
    }

    /// One pass over every shard: claims what is due and does it. Returns
    /// how many orders were worked on.
    pub async fn run_due_jobs(&self) -> Result<usize> {
        let mut worked = 0;
        for shard in 0..SHARDS {
            let queue = Key::schedule(shard);
            let now = self.now();
            let lease_until = now + i64::try_from(self.jobs.lease.as_millis()).unwrap_or(i64::MAX);
            let claimed = self
                .store
                .claim_due(&queue, now, lease_until, BATCH)
                .await?;
            for (member, woken_at) in claimed {
                worked += 1;
                let Some(work) = parse_work(&member) else {
                    tracing::error!(member, "unreadable schedule member dropped");
                    self.store
                        .release(&queue, &member, lease_until, None)
                        .await?;
                    continue;
                };
                let outcome = match work {
                    Work::Order(loc) => self.work_on(&loc).await,
                    Work::Deliveries { mode, merchant_id } => {
                        self.deliver_due(mode, &merchant_id).await
                    }
                };
                // A failure leaves the claim to run out: the work comes back
                // after the lease, on this replica or another.
                match outcome {
                    Ok(next) => {
                        // Nothing due may mean the work is still being stored.
                        let next = next.or_else(|| {
                            (now - woken_at < RECHECK_MS).then_some(woken_at + RECHECK_MS)
                        });
                        self.store
                            .release(&queue, &member, lease_until, next)
                            .await?;
                    }
                    Err(error) => {
                        tracing::warn!(%error, member, "scheduled work failed; retried after the lease");
                    }
                }
            }
        }
        Ok(worked)
    }

    /// Does everything due for one order now; returns when it is next due.
    pub(crate) async fn work_on(&self, loc: &OrderLoc) -> Result<Option<Millis>> {
        let mut order = match self.load(loc).await {
            Ok(order) => order,
            // Claimed before its first commit, which then failed: nothing to do.
            Err(super::Error::Domain(crate::domain::DomainError::OrderNotFound)) => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        for _ in 0..MAX_DUTIES {
            match schedule::due(&order, self.timing(), self.now()) {
                None => break,
                Some(Duty::Publish) => order = self.publish(loc, order, None).await?,
                Some(Duty::Apply(command)) => order = self.apply(loc, command).await?.0,
                Some(Duty::Collect) => {
                    let before = order.collection.clone();
                    order = self
                        .collect(loc, super::deduction::Attempt::WhenDue)
                        .await?;
                    if order.collection == before {
                        // Someone else holds the attempt: look again later.
                        break;
                    }
                }
            }
        }
        Ok(schedule::next_due(&order, self.timing()))
    }
}

/// Runs scheduled work on this replica until `stop` turns true.
pub fn spawn_runner(app: Arc<App>, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let poll = app.jobs.poll;
        loop {
            if let Err(error) = app.run_due_jobs().await {
                tracing::warn!(%error, "scheduled work paused: store unavailable");
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_round_trip_even_with_bars_in_the_order_number() {
        let loc = OrderLoc {
            mode: Mode::Live,
            merchant_id: "m_1".into(),
            openid: "alice".into(),
            out_order_no: "a|b*c-1".into(),
        };
        let back = parse_member(&member(&loc)).unwrap();
        assert_eq!(
            (back.mode, back.merchant_id, back.openid, back.out_order_no),
            (Mode::Live, "m_1".into(), "alice".into(), "a|b*c-1".into())
        );
        assert!(shard_of(&member(&loc)) < SHARDS);
    }
}
