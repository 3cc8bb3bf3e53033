//! Where refresh tokens live: the OS keyring (Secret Service on Linux) behind a small trait,
//! and an in-memory store for tests and for a sign-in that lasts only while the app runs.
//! Secrets never go to settings files or logs; a missing or locked keyring is said, never
//! silently replaced by a file.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SecretError {
    /// No Secret Service, or it is locked: secure storage is unavailable.
    #[error("secure storage is unavailable: {0}")]
    Unavailable(String),
    #[error("the keyring failed: {0}")]
    Backend(String),
}

/// A place for secrets, one per account name.
pub trait SecretStore: Send + Sync + std::fmt::Debug {
    fn load(&self, account: &str) -> Result<Option<String>, SecretError>;
    fn save(&self, account: &str, secret: &str) -> Result<(), SecretError>;
    fn delete(&self, account: &str) -> Result<(), SecretError>;
    /// Whether secrets outlive the process.
    fn durable(&self) -> bool;
}

/// Secrets in memory only: gone when the process ends. `Debug` names the accounts only.
#[derive(Default)]
pub struct MemoryStore {
    secrets: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let accounts: Vec<String> = self
            .secrets
            .lock()
            .map(|secrets| secrets.keys().cloned().collect())
            .unwrap_or_default();
        f.debug_struct("MemoryStore")
            .field("accounts", &accounts)
            .finish_non_exhaustive()
    }
}

impl SecretStore for MemoryStore {
    fn load(&self, account: &str) -> Result<Option<String>, SecretError> {
        Ok(self
            .secrets
            .lock()
            .map_err(|_| SecretError::Backend("poisoned".into()))?
            .get(account)
            .cloned())
    }

    fn save(&self, account: &str, secret: &str) -> Result<(), SecretError> {
        self.secrets
            .lock()
            .map_err(|_| SecretError::Backend("poisoned".into()))?
            .insert(account.to_string(), secret.to_string());
        Ok(())
    }

    fn delete(&self, account: &str) -> Result<(), SecretError> {
        self.secrets
            .lock()
            .map_err(|_| SecretError::Backend("poisoned".into()))?
            .remove(account);
        Ok(())
    }

    fn durable(&self) -> bool {
        false
    }
}

/// Checks that a store answers (a round trip on a probe entry), so that the app can say
/// "secure storage unavailable" at start instead of failing at the first sign-in.
pub fn probe(store: &dyn SecretStore) -> Result<(), SecretError> {
    let account = "presence-bridge-probe";
    store.save(account, "probe")?;
    let back = store.load(account)?;
    store.delete(account)?;
    if back.as_deref() == Some("probe") {
        Ok(())
    } else {
        Err(SecretError::Unavailable(
            "the keyring did not keep a secret".into(),
        ))
    }
}

/// The OS keyring, under one service name (`presence-bridge`).
#[derive(Debug, Clone)]
pub struct KeyringStore {
    service: String,
}

fn classify(error: keyring::Error) -> SecretError {
    match error {
        keyring::Error::PlatformFailure(inner) | keyring::Error::NoStorageAccess(inner) => {
            SecretError::Unavailable(inner.to_string())
        }
        other => SecretError::Backend(other.to_string()),
    }
}

impl KeyringStore {
    pub fn new(service: &str) -> Self {
        Self {
            service: service.to_string(),
        }
    }

    /// Checks that the keyring answers; see [`probe`].
    pub fn probe(&self) -> Result<(), SecretError> {
        probe(self)
    }

    fn entry(&self, account: &str) -> Result<keyring::Entry, SecretError> {
        keyring::Entry::new(&self.service, account).map_err(classify)
    }
}

impl SecretStore for KeyringStore {
    fn load(&self, account: &str) -> Result<Option<String>, SecretError> {
        match self.entry(account)?.get_password() {
            Ok(secret) => Ok(Some(secret)),
            Err(keyring::Error::NoEntry) => Ok(None),
            // An entry that is not text is as good as none: said (never shown), removed, and
            // the agent signs in again.
            Err(keyring::Error::BadEncoding(_)) => {
                tracing::warn!(
                    "the keyring entry {account:?} of {} is unreadable; removed, sign in again",
                    self.service
                );
                let _ = self.delete(account);
                Ok(None)
            }
            Err(error) => Err(classify(error)),
        }
    }

    fn save(&self, account: &str, secret: &str) -> Result<(), SecretError> {
        self.entry(account)?.set_password(secret).map_err(classify)
    }

    fn delete(&self, account: &str) -> Result<(), SecretError> {
        match self.entry(account)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(error) => Err(classify(error)),
        }
    }

    fn durable(&self) -> bool {
        true
    }
}

/// How long a keyring call may take: a locked Secret Service shows an unlock prompt, which may
/// wait for ever while a cloud's token lock is held.
pub const KEYRING_WAIT: Duration = Duration::from_secs(10);

/// A store whose calls give up after a bounded wait: each runs on a thread of its own, and one
/// that does not answer in time is `Unavailable` (as a keyring that is not there). While such
/// a call is still stuck, later calls fail at once instead of queueing behind it; once it
/// returns, the store is used again. (The keyring crate's calls are blocking and cannot be
/// cancelled, so the stuck thread is left to finish.)
#[derive(Debug)]
pub struct BoundedStore<S> {
    inner: Arc<S>,
    wait: Duration,
    stuck: Arc<AtomicBool>,
}

impl<S: SecretStore + 'static> BoundedStore<S> {
    pub fn new(inner: S, wait: Duration) -> Self {
        Self {
            inner: Arc::new(inner),
            wait,
            stuck: Arc::new(AtomicBool::new(false)),
        }
    }

    fn call<T: Send + 'static>(
        &self,
        what: &'static str,
        action: impl FnOnce(&S) -> Result<T, SecretError> + Send + 'static,
    ) -> Result<T, SecretError> {
        if self.stuck.load(Ordering::SeqCst) {
            return Err(SecretError::Unavailable(format!(
                "the keyring has not answered an earlier request (locked?); {what} skipped"
            )));
        }
        let (answer, answered) = std::sync::mpsc::channel();
        let inner = self.inner.clone();
        let stuck = self.stuck.clone();
        stuck.store(true, Ordering::SeqCst);
        std::thread::spawn(move || {
            let result = action(&inner);
            stuck.store(false, Ordering::SeqCst);
            let _ = answer.send(result);
        });
        answered.recv_timeout(self.wait).unwrap_or_else(|_| {
            Err(SecretError::Unavailable(format!(
                "the keyring did not answer within {} s (locked?); {what} skipped",
                self.wait.as_secs_f32()
            )))
        })
    }
}

impl<S: SecretStore + 'static> SecretStore for BoundedStore<S> {
    fn load(&self, account: &str) -> Result<Option<String>, SecretError> {
        let account = account.to_string();
        self.call("reading a sign-in", move |store| store.load(&account))
    }

    fn save(&self, account: &str, secret: &str) -> Result<(), SecretError> {
        let (account, secret) = (account.to_string(), secret.to_string());
        self.call("saving a sign-in", move |store| {
            store.save(&account, &secret)
        })
    }

    fn delete(&self, account: &str) -> Result<(), SecretError> {
        let account = account.to_string();
        self.call("removing a sign-in", move |store| store.delete(&account))
    }

    fn durable(&self) -> bool {
        self.inner.durable()
    }
}

/// The keyring if it works (every call bounded by [`KEYRING_WAIT`]), otherwise memory and the
/// reason to tell the agent.
pub fn keyring_or_memory(service: &str) -> (std::sync::Arc<dyn SecretStore>, Option<SecretError>) {
    let keyring = BoundedStore::new(KeyringStore::new(service), KEYRING_WAIT);
    match probe(&keyring) {
        Ok(()) => (std::sync::Arc::new(keyring), None),
        Err(error) => (std::sync::Arc::new(MemoryStore::default()), Some(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store that takes `delay_ms` to answer, as a keyring behind an unlock prompt.
    #[derive(Debug)]
    struct SlowStore {
        delay_ms: Arc<std::sync::atomic::AtomicU64>,
        memory: MemoryStore,
    }

    impl SlowStore {
        fn pause(&self) {
            std::thread::sleep(Duration::from_millis(self.delay_ms.load(Ordering::SeqCst)));
        }
    }

    impl SecretStore for SlowStore {
        fn load(&self, account: &str) -> Result<Option<String>, SecretError> {
            self.pause();
            self.memory.load(account)
        }
        fn save(&self, account: &str, secret: &str) -> Result<(), SecretError> {
            self.pause();
            self.memory.save(account, secret)
        }
        fn delete(&self, account: &str) -> Result<(), SecretError> {
            self.pause();
            self.memory.delete(account)
        }
        fn durable(&self) -> bool {
            true
        }
    }

    #[test]
    fn a_keyring_that_does_not_answer_is_given_up_on_in_time_and_used_again_once_it_does() {
        let delay_ms = Arc::new(std::sync::atomic::AtomicU64::new(1500));
        let slow = SlowStore {
            delay_ms: delay_ms.clone(),
            memory: MemoryStore::default(),
        };
        let store = BoundedStore::new(slow, Duration::from_millis(200));
        let started = std::time::Instant::now();
        let first = store.save("teams:ada", "secret");
        assert!(
            matches!(first, Err(SecretError::Unavailable(_))),
            "{first:?}"
        );
        assert!(
            started.elapsed() < Duration::from_millis(1000),
            "bounded: {:?}",
            started.elapsed()
        );
        // Still stuck: the next call fails at once instead of waiting behind it.
        let again = std::time::Instant::now();
        assert!(matches!(
            store.load("teams:ada"),
            Err(SecretError::Unavailable(_))
        ));
        assert!(
            again.elapsed() < Duration::from_millis(100),
            "{:?}",
            again.elapsed()
        );
        // The prompt is answered: the stuck call ends (its save happened, late), and the store
        // is used again.
        delay_ms.store(0, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(store.load("teams:ada"), Ok(Some("secret".into())));
        assert!(store.durable());
    }

    #[test]
    fn the_memory_store_keeps_overwrites_and_forgets() {
        let store = MemoryStore::default();
        assert_eq!(store.load("a"), Ok(None));
        store.save("a", "one").expect("save");
        store.save("a", "two").expect("overwrite");
        assert_eq!(store.load("a"), Ok(Some("two".into())));
        store.delete("a").expect("delete");
        assert_eq!(store.load("a"), Ok(None));
        assert!(!store.durable());
    }
}
