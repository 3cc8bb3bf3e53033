//! HTTPS for the emulator (`--tls`): a self-signed certificate for `127.0.0.1` and `localhost`
//! made at start, and the router served over rustls. Real clients (Microsoft's Graph SDKs among
//! them) send tokens only over https; a client trusts the emulator by adding the certificate,
//! whose PEM the emulator writes to a file and prints.

use std::future::Future;
use std::sync::Arc;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::http::AppState;

/// A certificate and key the emulator serves HTTPS with.
#[derive(Clone)]
pub struct TlsIdentity {
    /// The certificate as PEM: what a client adds to its trusted roots.
    pub cert_pem: String,
    config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity").finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// A new self-signed certificate for `127.0.0.1`, `::1` and `localhost`.
    pub fn generate() -> Result<Self, String> {
        let names = vec!["127.0.0.1".into(), "::1".into(), "localhost".into()];
        let certified = rcgen::generate_simple_self_signed(names)
            .map_err(|error| format!("cannot make a certificate: {error}"))?;
        let cert_der = certified.cert.der().clone();
        let key_der =
            rustls::pki_types::PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| format!("TLS versions: {error}"))?
            .with_no_client_auth()
            .with_single_cert(vec![cert_der], key_der)
            .map_err(|error| format!("TLS certificate: {error}"))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            cert_pem: certified.cert.pem(),
            config: Arc::new(config),
        })
    }
}

/// Serves the router over TLS on `listener` until `shutdown` completes (connections under way
/// are dropped then). A handshake that fails (a client that does not trust the certificate)
/// ends that connection only.
pub(crate) async fn serve_tls(
    listener: TcpListener,
    state: AppState,
    identity: TlsIdentity,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(identity.config);
    let router = crate::router(state);
    let mut connections = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = &mut shutdown => break,
        };
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(router.clone());
        connections.spawn(async move {
            let tls = match acceptor.accept(stream).await {
                Ok(tls) => tls,
                Err(error) => {
                    tracing::debug!("TLS handshake refused: {error}");
                    return;
                }
            };
            let served = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .with_upgrades()
                .await;
            if let Err(error) = served {
                tracing::debug!("HTTPS connection ended: {error}");
            }
        });
        // Finished connections are reaped as new ones come, so the set does not grow.
        while connections.try_join_next().is_some() {}
    }
    connections.abort_all();
    Ok(())
}
