//! Where refresh tokens live: the OS keyring (Secret Service on Linux) behind a small trait,
//! and an in-memory store for tests and for a sign-in that lasts only while the app runs.
//! Secrets never go to settings files or logs; a missing or locked keyring is said, never
//! silently replaced by a file.

use std::collections::HashMap;
use std::sync::Mutex;

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

    /// Checks that the keyring answers (a round trip on a probe entry), so that the app can
    /// say "secure storage unavailable" at start instead of failing at the first sign-in.
    pub fn probe(&self) -> Result<(), SecretError> {
        let account = "presence-bridge-probe";
        self.save(account, "probe")?;
        let back = self.load(account)?;
        self.delete(account)?;
        if back.as_deref() == Some("probe") {
            Ok(())
        } else {
            Err(SecretError::Unavailable(
                "the keyring did not keep a secret".into(),
            ))
        }
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

/// The keyring if it works, otherwise memory and the reason to tell the agent.
pub fn keyring_or_memory(service: &str) -> (std::sync::Arc<dyn SecretStore>, Option<SecretError>) {
    let keyring = KeyringStore::new(service);
    match keyring.probe() {
        Ok(()) => (std::sync::Arc::new(keyring), None),
        Err(error) => (std::sync::Arc::new(MemoryStore::default()), Some(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
