//! The platform's callback-signing keys: made on first use, rotated by
//! operators with an overlap so merchants can fetch the new key first.

use super::{App, Error, MAX_ATTEMPTS, Result};
use crate::domain::{Millis, validate};
use crate::store::{Committed, Key, Txn};
use crate::webhook::{PlatformKeys, new_platform_key};

impl App {
    /// The platform keys, making the first one if there is none yet.
    pub async fn platform_keys(&self) -> Result<PlatformKeys> {
        let key = Key::platform_keys();
        if let Some(found) = self.store.get_one::<PlatformKeys>(&key).await? {
            return Ok(found.value);
        }
        let mut first = PlatformKeys::default();
        first.keys.push(new_platform_key(self.now()));
        // Another replica may have made one first: use whichever is stored.
        Ok(self
            .store
            .create(key, &first)
            .await?
            .map_or(first, |stored| stored.value))
    }

    /// A new signing key; the current one stays published for `overlap` ms.
    pub async fn rotate_platform_key(&self, overlap: Millis, reason: &str) -> Result<PlatformKeys> {
        validate::reason("reason", reason, 200)?;
        let key = Key::platform_keys();
        self.platform_keys().await?;
        for _ in 0..MAX_ATTEMPTS {
            let Some(current) = self.store.get_one::<PlatformKeys>(&key).await? else {
                continue;
            };
            let mut keys = current.value;
            let now = self.now();
            keys.rotate(new_platform_key(now), now, overlap);
            let txn = Txn::default()
                .check(key.clone(), current.version)
                .put(key.clone(), &keys);
            if self.store.commit(txn).await? == Committed::Done {
                tracing::info!(reason, serial = %keys.signing().map(|k| k.serial.as_str()).unwrap_or(""), "platform key rotated");
                return Ok(keys);
            }
        }
        Err(Error::Contended)
    }
}
