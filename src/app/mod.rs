//! Use cases: load what a decision needs, let `domain` decide, commit the
//! outcome atomically, retry on a concurrent change. This is the one place
//! where an order's state changes ([`App::apply`]).

pub(crate) mod deduction;
pub mod deliveries;
pub mod events;
pub mod jobs;
mod merchants;
mod orders;
mod platform;
mod users;

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;

use crate::auth::AuthError;
use crate::clock::Clock;
use crate::domain::merchant::Merchant;
use crate::domain::order::{Applied, Command, Order};
use crate::domain::policy::Policy;
use crate::domain::user::Standing;
use crate::domain::{DomainError, Millis, Mode};
use crate::rail::{PaymentRail, SimulatedRail};
use crate::store::{Committed, Key, Store, StoreError, Txn, Versioned, decode};

pub use merchants::{Applied as MerchantApplied, ApplyInput};
pub use orders::AuthorizeInput;
pub use users::{UserAction, UserView};

/// Everything a call can fail with; the API layer maps it to one status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A record kept changing under us: retryable.
    #[error("too many concurrent changes to one record")]
    Contended,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The merchant and mode a call acts for (from the verified token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MerchantScope {
    pub merchant_id: String,
    pub mode: Mode,
}

/// Where one order lives.
#[derive(Clone, Debug)]
pub(crate) struct OrderLoc {
    pub mode: Mode,
    pub merchant_id: String,
    pub out_order_no: String,
    pub openid: String,
}

impl OrderLoc {
    fn order_key(&self) -> Key {
        Key::order(
            self.mode,
            &self.openid,
            &self.merchant_id,
            &self.out_order_no,
        )
    }
    fn standing_key(&self) -> Key {
        Key::standing(self.mode, &self.openid)
    }
}

/// Tunables of the use cases (from configuration).
#[derive(Clone, Debug)]
pub struct Settings {
    pub policy: Policy,
    /// An in-flight charge older than this is presumed abandoned (its
    /// caller died) and may be resolved by another caller.
    pub charge_lease: Duration,
    /// Start the deduction as soon as a bill is due, without waiting for Deduct.
    pub deduct_on_complete: bool,
    /// How long a replica may answer from its copy of a merchant (stage,
    /// services) after another replica changed it.
    pub merchant_cache_ttl: Duration,
    pub jobs: jobs::JobSettings,
    /// Each merchant's event stream keeps about this many events per mode.
    pub events_max_len: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            policy: Policy::default(),
            charge_lease: Duration::from_secs(30),
            deduct_on_complete: true,
            merchant_cache_ttl: Duration::from_secs(1),
            jobs: jobs::JobSettings::default(),
            events_max_len: 1_000_000,
        }
    }
}

/// How often a compare-and-set is retried before the call answers ABORTED.
const MAX_ATTEMPTS: usize = 16;

pub struct App {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    live_rail: Arc<dyn PaymentRail>,
    /// Sandbox money is always simulated.
    sandbox_rail: Arc<SimulatedRail>,
    /// The live rail when it is the simulated one (dev default), for TOP_UP.
    live_simulated: Option<Arc<SimulatedRail>>,
    settings: Settings,
    jobs: jobs::JobSettings,
    /// out_order_no → openid never changes once claimed: cache it (filled
    /// on lookup, not on Authorize, so a stream of new orders that are
    /// never looked up again does not churn it).
    index_cache: Cache<Key, String>,
    /// Merchants as last read, for at most `merchant_cache_ttl`.
    merchant_cache: Cache<String, Arc<Merchant>>,
    /// Webhook deliveries.
    http: reqwest::Client,
}

impl App {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        live_rail: Arc<dyn PaymentRail>,
        live_simulated: Option<Arc<SimulatedRail>>,
        settings: Settings,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            clock,
            live_rail,
            sandbox_rail: Arc::new(SimulatedRail::new(1_000_000)),
            live_simulated,
            index_cache: Cache::new(100_000),
            merchant_cache: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(settings.merchant_cache_ttl)
                .build(),
            jobs: settings.jobs,
            settings,
            http: reqwest::Client::builder()
                .timeout(deliveries::DELIVERY_TIMEOUT)
                .build()
                .expect("an HTTP client with default TLS builds"),
        })
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn now(&self) -> Millis {
        self.clock.now()
    }

    pub fn policy(&self) -> &Policy {
        &self.settings.policy
    }

    fn rail(&self, mode: Mode) -> &dyn PaymentRail {
        match mode {
            Mode::Sandbox => self.sandbox_rail.as_ref(),
            Mode::Live => self.live_rail.as_ref(),
        }
    }

    fn simulated_rail(&self, mode: Mode) -> Option<&SimulatedRail> {
        match mode {
            Mode::Sandbox => Some(&self.sandbox_rail),
            Mode::Live => self.live_simulated.as_deref(),
        }
    }

    /// Finds the order a merchant calls `out_order_no` (another merchant's
    /// orders are simply not found).
    pub(crate) async fn locate(
        &self,
        scope: &MerchantScope,
        out_order_no: &str,
    ) -> Result<OrderLoc> {
        crate::domain::validate::out_order_no(out_order_no)?;
        let index = Key::order_index(&scope.merchant_id, scope.mode, out_order_no);
        let openid = match self.index_cache.get(&index) {
            Some(openid) => openid,
            None => {
                let found = self.store.get_one::<String>(&index).await?;
                let openid = found.ok_or(DomainError::OrderNotFound)?.value;
                self.index_cache.insert(index, openid.clone());
                openid
            }
        };
        Ok(OrderLoc {
            mode: scope.mode,
            merchant_id: scope.merchant_id.clone(),
            out_order_no: out_order_no.to_owned(),
            openid,
        })
    }

    /// A merchant, from this replica's short-lived copy when it has one.
    pub(crate) async fn cached_merchant(&self, merchant_id: &str) -> Result<Arc<Merchant>> {
        if let Some(merchant) = self.merchant_cache.get(merchant_id) {
            return Ok(merchant);
        }
        let found = self
            .store
            .get_one::<Merchant>(&Key::merchant(merchant_id))
            .await?;
        let merchant = Arc::new(found.ok_or(DomainError::MerchantNotFound)?.value);
        self.merchant_cache
            .insert(merchant_id.to_owned(), Arc::clone(&merchant));
        Ok(merchant)
    }

    pub(crate) fn forget_merchant(&self, merchant_id: &str) {
        self.merchant_cache.invalidate(merchant_id);
    }

    pub(crate) async fn load(&self, loc: &OrderLoc) -> Result<Order> {
        let order = self.store.get_one::<Order>(&loc.order_key()).await?;
        Ok(order.ok_or(DomainError::OrderNotFound)?.value)
    }

    /// Applies `command` to an order, commits it, and publishes the events
    /// it made.
    pub(crate) async fn apply(&self, loc: &OrderLoc, command: Command) -> Result<(Order, Applied)> {
        let (order, applied, version) = self.commit_versioned(loc, command).await?;
        if applied == Applied::Changed && !order.events.is_empty() {
            return Ok((
                self.publish_after_commit(loc, order, version).await,
                applied,
            ));
        }
        Ok((order, applied))
    }

    /// Applies `command` to an order and commits it together with the
    /// user's standing, retrying on concurrent change. The one place where
    /// an order's state changes once it exists.
    /// Returns the order as committed, and its stored version.
    pub(crate) async fn commit_versioned(
        &self,
        loc: &OrderLoc,
        command: Command,
    ) -> Result<(Order, Applied, u64)> {
        let (order_key, standing_key) = (loc.order_key(), loc.standing_key());
        for _ in 0..MAX_ATTEMPTS {
            let mut records = self
                .store
                .get(&[order_key.clone(), standing_key.clone()])
                .await?;
            let standing_raw = records.pop().flatten();
            let order_raw = records.pop().flatten().ok_or(DomainError::OrderNotFound)?;
            let current = decode::<Order>(&order_key, order_raw)?;
            let mut order = current.value.clone();
            if order.apply(command.clone(), self.now())? == Applied::Unchanged {
                return Ok((current.value, Applied::Unchanged, current.version));
            }
            self.wake_for(loc, &order).await?;
            let mut txn = Txn::default()
                .check(order_key.clone(), current.version)
                .put(order_key.clone(), &order);
            let standing = match standing_raw {
                Some(raw) => decode::<Standing>(&standing_key, raw)?,
                None => Versioned {
                    version: 0,
                    value: Standing::default(),
                },
            };
            txn = track_standing(txn, &standing_key, standing, &order);
            match self.store.commit(txn).await? {
                Committed::Done => return Ok((order, Applied::Changed, current.version + 1)),
                Committed::Conflict(_) => continue,
            }
        }
        Err(Error::Contended)
    }
}

/// Adds to `txn` what `order` changes in its user's standing: nothing, a
/// new version, or (when nothing is left worth keeping) its removal.
pub(crate) fn track_standing(
    txn: Txn,
    key: &Key,
    standing: Versioned<Standing>,
    order: &Order,
) -> Txn {
    let mut value = standing.value;
    if !value.track(order) {
        return txn;
    }
    let txn = txn.check(key.clone(), standing.version);
    if value.is_default() {
        txn.delete(key.clone())
    } else {
        txn.put(key.clone(), &value)
    }
}
