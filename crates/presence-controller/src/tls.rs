//! The webhook's HTTPS: the certificate chain and key read from PEM files (or, for loopback
//! demos, a self-signed certificate made at start and written out for the caller to trust),
//! as a rustls server configuration on the ring provider, served by `axum-server`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsSettings;

/// Why the webhook's certificate cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("webhook.tls.cert {path}: {why}")]
    Certificate { path: PathBuf, why: String },
    #[error("webhook.tls.key {path}: {why}")]
    Key { path: PathBuf, why: String },
    #[error("the webhook's TLS settings: {0}")]
    Config(String),
}

/// A server configuration ready to serve, and the PEM of a certificate made at start.
#[derive(Debug)]
pub struct WebhookTls {
    pub config: Arc<rustls::ServerConfig>,
    /// Where a self-signed certificate was written, for the caller to trust.
    pub self_signed_pem: Option<PathBuf>,
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(format!("the certificate and key do not fit: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let fault = |why: String| TlsError::Certificate {
        path: path.to_path_buf(),
        why,
    };
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| fault(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fault(format!("not PEM certificates: {e}")))?;
    if chain.is_empty() {
        return Err(fault("no CERTIFICATE in the file".into()));
    }
    Ok(chain)
}

impl WebhookTls {
    /// Reads or makes the certificate; `store` names where a self-signed one is kept
    /// (`<store>.webhook.pem` and `<store>.webhook.key`).
    pub fn load(settings: &TlsSettings, store: &Path) -> Result<Self, TlsError> {
        if settings.self_signed {
            let (cert, key) = (
                store.with_extension("webhook.pem"),
                store.with_extension("webhook.key"),
            );
            if !(cert.exists() && key.exists()) {
                make_self_signed(&cert, &key)?;
            }
            return Ok(Self {
                config: from_files(&cert, &key)?,
                self_signed_pem: Some(cert),
            });
        }
        let (Some(cert), Some(key)) = (&settings.cert, &settings.key) else {
            return Err(TlsError::Config(
                "cert and key (PEM files) are needed, or self_signed = true".into(),
            ));
        };
        Ok(Self {
            config: from_files(cert, key)?,
            self_signed_pem: None,
        })
    }
}

fn from_files(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = read_chain(cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.to_path_buf(),
        why: format!("no PEM private key (PKCS#8, PKCS#1 or SEC1): {e}"),
    })?;
    server_config(chain, key)
}

/// A certificate for 127.0.0.1, ::1 and localhost, written as PEM (the key readable by its
/// owner only).
fn make_self_signed(cert: &Path, key: &Path) -> Result<(), TlsError> {
    use std::io::Write as _;
    let names = vec!["127.0.0.1".into(), "::1".into(), "localhost".into()];
    let made = rcgen::generate_simple_self_signed(names)
        .map_err(|e| TlsError::Config(format!("cannot make a certificate: {e}")))?;
    let unwritable = |path: &Path, e: std::io::Error| TlsError::Certificate {
        path: path.to_path_buf(),
        why: format!("cannot be written: {e}"),
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(key)
        .and_then(|mut file| file.write_all(made.key_pair.serialize_pem().as_bytes()))
        .map_err(|e| unwritable(key, e))?;
    std::fs::write(cert, made.cert.pem()).map_err(|e| unwritable(cert, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("controller-tls-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        dir
    }

    #[test]
    fn pem_files_are_read_and_faults_name_the_file_and_the_reason() {
        let dir = scratch();
        let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, made.cert.pem()).expect("write");
        std::fs::write(&key, made.key_pair.serialize_pem()).expect("write");
        let settings = |cert: &Path, key: &Path| TlsSettings {
            cert: Some(cert.to_path_buf()),
            key: Some(key.to_path_buf()),
            self_signed: false,
        };
        let store = dir.join("calls.sqlite");
        assert!(WebhookTls::load(&settings(&cert, &key), &store).is_ok());

        let missing = WebhookTls::load(&settings(&dir.join("nope.pem"), &key), &store)
            .expect_err("a missing file");
        assert!(missing.to_string().contains("nope.pem"), "{missing}");
        let not_pem = dir.join("garbage.pem");
        std::fs::write(&not_pem, "not a certificate").expect("write");
        let garbage =
            WebhookTls::load(&settings(&not_pem, &key), &store).expect_err("no certificate");
        assert!(garbage.to_string().contains("no CERTIFICATE"), "{garbage}");
        let keyless =
            WebhookTls::load(&settings(&cert, &cert), &store).expect_err("a certificate is no key");
        assert!(keyless.to_string().contains("private key"), "{keyless}");
        // Another certificate's key does not fit.
        let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
        let other_key = dir.join("other.pem");
        std::fs::write(&other_key, other.key_pair.serialize_pem()).expect("write");
        let mismatch =
            WebhookTls::load(&settings(&cert, &other_key), &store).expect_err("a mismatched key");
        assert!(mismatch.to_string().contains("do not fit"), "{mismatch}");

        let made_here = WebhookTls::load(
            &TlsSettings {
                cert: None,
                key: None,
                self_signed: true,
            },
            &store,
        )
        .expect("self-signed");
        let pem =
            std::fs::read_to_string(made_here.self_signed_pem.expect("written")).expect("the PEM");
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
        // A restart serves the same certificate.
        let again = WebhookTls::load(
            &TlsSettings {
                cert: None,
                key: None,
                self_signed: true,
            },
            &store,
        )
        .expect("self-signed again");
        let pem_again =
            std::fs::read_to_string(again.self_signed_pem.expect("kept")).expect("the PEM");
        assert_eq!(pem, pem_again);
    }
}
