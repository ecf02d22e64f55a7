//! TLS serving: a certificate reloaded from disk when its files change, and client certificates that are
//! requested but optional. Chains are verified per request by the authenticators, against CA pools that
//! rotate at run time (as k8s.io/apiserver does with RequestClientCert).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

/// Loads a certificate chain and key from PEM files.
pub fn load_certified_key(cert: &Path, key: &Path) -> anyhow::Result<CertifiedKey> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("parsing {}: {e}", cert.display()))?;
    anyhow::ensure!(!chain.is_empty(), "{} holds no certificate", cert.display());
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| anyhow::anyhow!("reading {}: {e}", key.display()))?;
    Ok(CertifiedKey::from_der(chain, key, &rustls::crypto::ring::default_provider())?)
}

/// Serves the current certificate; [`ReloadingCert::watch`] swaps it when the files change.
#[derive(Debug)]
pub struct ReloadingCert {
    current: ArcSwap<CertifiedKey>,
    cert_path: PathBuf,
    key_path: PathBuf,
}

impl ReloadingCert {
    /// Loads the certificate once; fails when it cannot be read.
    pub fn new(cert_path: PathBuf, key_path: PathBuf) -> anyhow::Result<Arc<Self>> {
        let key = load_certified_key(&cert_path, &key_path)?;
        Ok(Arc::new(Self { current: ArcSwap::from_pointee(key), cert_path, key_path }))
    }

    /// Polls the files' modification times and reloads on change; a broken pair keeps the old certificate.
    pub async fn watch(self: Arc<Self>, every: Duration) {
        let stamp = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let mut last: (Option<SystemTime>, Option<SystemTime>) = (stamp(&self.cert_path), stamp(&self.key_path));
        loop {
            tokio::time::sleep(every).await;
            let now = (stamp(&self.cert_path), stamp(&self.key_path));
            if now == last {
                continue;
            }
            match load_certified_key(&self.cert_path, &self.key_path) {
                Ok(k) => {
                    self.current.store(Arc::new(k));
                    last = now;
                    tracing::info!(cert = %self.cert_path.display(), "serving certificate reloaded");
                }
                Err(e) => tracing::warn!(error = %e, "serving certificate changed but does not load; keeping the old one"),
            }
        }
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// Asks for a client certificate, accepts connections without one, and checks only that the client holds the
/// key of the certificate it shows. Which CA the chain belongs to is decided per request by authentication.
#[derive(Debug)]
pub struct RequestClientCert {
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl Default for RequestClientCert {
    fn default() -> Self {
        Self { algorithms: rustls::crypto::ring::default_provider().signature_verification_algorithms }
    }
}

impl ClientCertVerifier for RequestClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(&self, _: &CertificateDer<'_>, _: &[CertificateDer<'_>], _: UnixTime) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The server's TLS configuration: HTTP/2 and HTTP/1.1 by ALPN, optional client certificates.
pub fn server_config(cert: Arc<ReloadingCert>) -> Arc<rustls::ServerConfig> {
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_client_cert_verifier(Arc::new(RequestClientCert::default()))
        .with_cert_resolver(cert);
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(cfg)
}

/// The verified-at-handshake peer chain of a connection, attached to each of its requests.
#[derive(Debug, Clone, Default)]
pub struct PeerCertificates(pub Arc<Vec<CertificateDer<'static>>>);

/// A set of trusted CAs parsed from a PEM bundle.
#[derive(Debug, Default)]
pub struct CaPool {
    anchors: Vec<rustls::pki_types::TrustAnchor<'static>>,
}

impl CaPool {
    /// Parses every certificate of a PEM bundle; an empty or unparsable bundle gives an empty pool.
    pub fn from_pem(pem: &[u8]) -> Self {
        let anchors = CertificateDer::pem_slice_iter(pem)
            .filter_map(Result::ok)
            .filter_map(|der| webpki::anchor_from_trusted_cert(&der).ok().map(|a| a.to_owned()))
            .collect();
        Self { anchors }
    }

    /// True when the pool trusts nothing.
    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }

    /// Verifies a client chain (leaf first) for client authentication; returns the leaf on success.
    pub fn verify_client<'a>(&self, chain: &'a [CertificateDer<'static>]) -> Result<&'a CertificateDer<'static>, String> {
        let (leaf, intermediates) = chain.split_first().ok_or("no client certificate")?;
        if self.anchors.is_empty() {
            return Err("no CA configured".into());
        }
        let cert = webpki::EndEntityCert::try_from(leaf).map_err(|e| format!("bad certificate: {e}"))?;
        let algs = rustls::crypto::ring::default_provider().signature_verification_algorithms;
        cert.verify_for_usage(algs.all, &self.anchors, intermediates, UnixTime::now(), webpki::KeyUsage::client_auth(), None, None)
            .map_err(|e| format!("x509: certificate signed by unknown authority or invalid: {e}"))?;
        Ok(leaf)
    }
}

/// The subject's common name and organizations of a certificate.
pub fn subject_names(der: &CertificateDer<'_>) -> Option<(String, Vec<String>)> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let subject = cert.subject();
    let cn = subject.iter_common_name().next()?.as_str().ok()?.to_string();
    let orgs = subject.iter_organization().filter_map(|o| o.as_str().ok().map(str::to_string)).collect();
    Some((cn, orgs))
}
