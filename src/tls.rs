//! TLS settings and the rustls client configuration built from them.
//!
//! Certificates and keys given as files or PEM text are loaded (and checked)
//! when the option is set, as nats.c does, except a "dynamic" client
//! certificate, which is read again for every handshake. The configuration is
//! built once and shared by every attempt of the connection.
//!
//! Differences with nats.c (OpenSSL): the server's host name is verified by
//! default, against the URL's host (nats.c only checks it when an expected
//! host name is set); `tls_expected_hostname` names what the certificate must
//! carry instead, `tls_skip_verify` turns all verification off. Only the
//! cipher suites rustls implements can be chosen, and there is no OpenSSL
//! verification callback.

use std::fmt;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, ring};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme, SupportedCipherSuite,
};

use crate::error::{Error, ErrorKind, Result};

fn ssl_err(text: impl Into<String>) -> Error {
    Error::new(ErrorKind::SslError, text)
}

/// The client's certificate chain and key.
#[derive(Clone)]
enum ClientCert {
    /// Loaded once.
    Loaded(Arc<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>),
    /// Files read again at each handshake (rotated certificates).
    Dynamic { cert: String, key: String },
}

/// TLS options of a connection.
#[derive(Clone, Default)]
pub(crate) struct TlsOptions {
    /// TLS is required by the client.
    pub secure: bool,
    /// Start TLS before the server's INFO.
    pub handshake_first: bool,
    /// Trusted CAs; `None` means the system's store.
    roots: Option<Arc<Vec<CertificateDer<'static>>>>,
    client_cert: Option<ClientCert>,
    /// The name the server's certificate must carry (else the URL's host).
    pub expected_hostname: Option<String>,
    pub skip_verify: bool,
    /// TLS 1.2 suites (`SetCiphers`) and TLS 1.3 suites (`SetCipherSuites`).
    tls12: Option<Vec<SupportedCipherSuite>>,
    tls13: Option<Vec<SupportedCipherSuite>>,
    /// The configuration built from the above (reset by every change).
    built: Arc<Mutex<Option<Arc<ClientConfig>>>>,
}

impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsOptions")
            .field("secure", &self.secure)
            .field("handshake_first", &self.handshake_first)
            .field("custom_roots", &self.roots.as_ref().map(|r| r.len()))
            .field("client_cert", &self.client_cert.is_some())
            .field("expected_hostname", &self.expected_hostname)
            .field("skip_verify", &self.skip_verify)
            .finish()
    }
}

fn read_file(path: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| ssl_err(format!("cannot read '{path}': {e}")))
}

fn certs_from_pem(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let mut out = Vec::new();
    for c in CertificateDer::pem_slice_iter(pem) {
        out.push(c.map_err(|e| ssl_err(format!("invalid certificate in {what}: {e}")))?);
    }
    if out.is_empty() {
        return Err(ssl_err(format!("no certificate found in {what}")));
    }
    Ok(out)
}

fn key_from_pem(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| ssl_err(format!("no usable private key in {what}: {e}")))
}

fn load_chain(
    cert: &str,
    key: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let chain = certs_from_pem(&read_file(cert)?, &format!("'{cert}'"))?;
    let key_pem = zeroize::Zeroizing::new(read_file(key)?);
    let key = key_from_pem(&key_pem, &format!("'{key}'"))?;
    Ok((chain, key))
}

/// rustls's names of the cipher suites it implements, with OpenSSL's names
/// for the TLS 1.2 ones.
fn suite_named(name: &str) -> Option<SupportedCipherSuite> {
    let n = name.trim();
    ring::ALL_CIPHER_SUITES.iter().copied().find(|s| {
        let iana = s.suite().as_str().unwrap_or("");
        iana.eq_ignore_ascii_case(n)
            || standard_name(iana).eq_ignore_ascii_case(n)
            || openssl_name(iana).is_some_and(|o| o == n)
    })
}

/// The IANA name of a suite (rustls calls TLS 1.3 suites `TLS13_...`).
fn standard_name(rustls_name: &str) -> String {
    match rustls_name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => rustls_name.to_string(),
    }
}

fn openssl_name(iana: &str) -> Option<&'static str> {
    Some(match iana {
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" => "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" => "ECDHE-RSA-CHACHA20-POLY1305",
        _ => return None,
    })
}

/// Parses a cipher list (`:`, `,` or space separated). Names are rustls's
/// (IANA) or OpenSSL's; `DEFAULT`, `ALL` and `HIGH` stand for every suite of
/// that TLS version, a leading `!` or `-` removes a suite. Anything else is
/// an error naming what is supported.
fn parse_suites(list: &str, tls13: bool) -> Result<Vec<SupportedCipherSuite>> {
    let of_version =
        |s: &SupportedCipherSuite| matches!(s, SupportedCipherSuite::Tls13(_)) == tls13;
    let all: Vec<SupportedCipherSuite> = ring::ALL_CIPHER_SUITES
        .iter()
        .copied()
        .filter(of_version)
        .collect();
    let mut out: Vec<SupportedCipherSuite> = Vec::new();
    for item in list.split([':', ',', ' ']).filter(|s| !s.is_empty()) {
        let (remove, name) = match item.strip_prefix(['!', '-']) {
            Some(rest) => (true, rest),
            None => (false, item.strip_prefix('+').unwrap_or(item)),
        };
        let chosen: Vec<SupportedCipherSuite> = match name {
            "DEFAULT" | "ALL" | "HIGH" => all.clone(),
            _ => match suite_named(name).filter(of_version) {
                Some(s) => vec![s],
                // Exclusions of what rustls never offers are harmless.
                None if remove => Vec::new(),
                None => {
                    let names: Vec<String> = all
                        .iter()
                        .map(|s| {
                            let iana = s.suite().as_str().unwrap_or("?");
                            openssl_name(iana)
                                .map(str::to_string)
                                .unwrap_or_else(|| standard_name(iana))
                        })
                        .collect();
                    return Err(ssl_err(format!(
                        "cipher '{name}' is not supported by this library (rustls); \
                         supported: {}",
                        names.join(":")
                    )));
                }
            },
        };
        for s in chosen {
            let pos = out.iter().position(|o| o.suite() == s.suite());
            match (remove, pos) {
                (true, Some(i)) => {
                    out.remove(i);
                }
                (false, None) => out.push(s),
                _ => {}
            }
        }
    }
    if out.is_empty() {
        return Err(ssl_err(format!("no cipher selected by '{list}'")));
    }
    Ok(out)
}

static SYSTEM_ROOTS: OnceLock<Arc<Vec<CertificateDer<'static>>>> = OnceLock::new();

/// The system's CA store, loaded once per process.
fn system_roots() -> Arc<Vec<CertificateDer<'static>>> {
    SYSTEM_ROOTS
        .get_or_init(|| Arc::new(rustls_native_certs::load_native_certs().certs))
        .clone()
}

/// Accepts any server certificate (`tls_skip_verify`); signatures of the
/// handshake are still checked.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

impl TlsOptions {
    fn changed(&mut self) {
        self.built = Arc::new(Mutex::new(None));
    }

    /// Trusts the CA certificates of a PEM file (replacing earlier ones).
    pub(crate) fn load_ca_file(&mut self, path: &str) -> Result<()> {
        let certs = certs_from_pem(&read_file(path)?, &format!("'{path}'"))?;
        self.set_roots(certs)
    }

    /// Trusts the CA certificates of every PEM file in a directory.
    pub(crate) fn load_ca_dir(&mut self, dir: &str) -> Result<()> {
        let entries =
            std::fs::read_dir(dir).map_err(|e| ssl_err(format!("cannot read '{dir}': {e}")))?;
        let mut certs = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_file() {
                continue;
            }
            if let Ok(pem) = std::fs::read(&path) {
                // Files that hold no certificate (keys, notes) are skipped.
                certs.extend(CertificateDer::pem_slice_iter(&pem).flatten());
            }
        }
        if certs.is_empty() {
            return Err(ssl_err(format!("no CA certificate found in '{dir}'")));
        }
        self.set_roots(certs)
    }

    /// Trusts the CA certificates in PEM text.
    pub(crate) fn set_ca_pem(&mut self, pem: &str) -> Result<()> {
        let certs = certs_from_pem(pem.as_bytes(), "the CA certificates given")?;
        self.set_roots(certs)
    }

    fn set_roots(&mut self, certs: Vec<CertificateDer<'static>>) -> Result<()> {
        let mut store = RootCertStore::empty();
        let (_, bad) = store.add_parsable_certificates(certs.iter().cloned());
        if store.is_empty() {
            return Err(ssl_err(format!(
                "none of the {} CA certificate(s) is usable ({bad} rejected)",
                certs.len()
            )));
        }
        self.roots = Some(Arc::new(certs));
        self.changed();
        Ok(())
    }

    /// The client certificate chain and key, from files read now.
    pub(crate) fn load_client_cert(&mut self, cert: &str, key: &str) -> Result<()> {
        let loaded = load_chain(cert, key)?;
        self.client_cert = Some(ClientCert::Loaded(Arc::new(loaded)));
        self.changed();
        Ok(())
    }

    /// The client certificate chain and key, from files read at each handshake.
    pub(crate) fn client_cert_dynamic(&mut self, cert: &str, key: &str) {
        self.client_cert = Some(ClientCert::Dynamic {
            cert: cert.to_string(),
            key: key.to_string(),
        });
        self.changed();
    }

    /// The client certificate chain and key, as PEM text.
    pub(crate) fn set_client_cert_pem(&mut self, cert: &str, key: &str) -> Result<()> {
        let chain = certs_from_pem(cert.as_bytes(), "the certificate chain given")?;
        let key = key_from_pem(key.as_bytes(), "the key given")?;
        self.client_cert = Some(ClientCert::Loaded(Arc::new((chain, key))));
        self.changed();
        Ok(())
    }

    pub(crate) fn set_expected_hostname(&mut self, name: Option<&str>) {
        self.expected_hostname = name.map(str::to_string);
    }

    pub(crate) fn set_skip_verify(&mut self, skip: bool) {
        self.skip_verify = skip;
        self.changed();
    }

    /// TLS 1.2 cipher suites (OpenSSL-style list).
    pub(crate) fn set_ciphers(&mut self, list: &str) -> Result<()> {
        self.tls12 = Some(parse_suites(list, false)?);
        self.changed();
        Ok(())
    }

    /// TLS 1.3 cipher suites.
    pub(crate) fn set_cipher_suites(&mut self, list: &str) -> Result<()> {
        self.tls13 = Some(parse_suites(list, true)?);
        self.changed();
        Ok(())
    }

    /// The rustls configuration for the next handshake.
    pub(crate) fn client_config(&self) -> Result<Arc<ClientConfig>> {
        let dynamic = matches!(self.client_cert, Some(ClientCert::Dynamic { .. }));
        if !dynamic && let Some(c) = self.built.lock().as_ref() {
            return Ok(c.clone());
        }
        let cfg = Arc::new(self.build()?);
        if !dynamic {
            *self.built.lock() = Some(cfg.clone());
        }
        Ok(cfg)
    }

    fn build(&self) -> Result<ClientConfig> {
        let mut provider = ring::default_provider();
        if self.tls12.is_some() || self.tls13.is_some() {
            let keep = |s: &SupportedCipherSuite| {
                match s {
                    SupportedCipherSuite::Tls13(_) => self.tls13.as_ref(),
                    SupportedCipherSuite::Tls12(_) => self.tls12.as_ref(),
                }
                .is_none_or(|list| list.iter().any(|l| l.suite() == s.suite()))
            };
            let mut suites: Vec<SupportedCipherSuite> = Vec::new();
            // The application's order first.
            for list in [&self.tls13, &self.tls12].into_iter().flatten() {
                suites.extend(list.iter().copied());
            }
            suites.extend(provider.cipher_suites.iter().copied().filter(keep));
            suites.dedup_by(|a, b| a.suite() == b.suite());
            let mut seen = Vec::new();
            suites.retain(|s| {
                let new = !seen.contains(&s.suite());
                seen.push(s.suite());
                new
            });
            provider.cipher_suites = suites;
        }
        let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
        if provider
            .cipher_suites
            .iter()
            .any(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
        {
            versions.push(&rustls::version::TLS13);
        }
        if provider
            .cipher_suites
            .iter()
            .any(|s| matches!(s, SupportedCipherSuite::Tls12(_)))
        {
            versions.push(&rustls::version::TLS12);
        }
        let provider = Arc::new(provider);
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| ssl_err(format!("TLS configuration: {e}")))?;
        let builder = if self.skip_verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
        } else {
            let roots = self.roots.clone().unwrap_or_else(system_roots);
            let mut store = RootCertStore::empty();
            store.add_parsable_certificates(roots.iter().cloned());
            builder.with_root_certificates(store)
        };
        let cfg = match &self.client_cert {
            None => builder.with_no_client_auth(),
            Some(ClientCert::Loaded(pair)) => builder
                .with_client_auth_cert(pair.0.clone(), pair.1.clone_key())
                .map_err(|e| ssl_err(format!("client certificate: {e}")))?,
            Some(ClientCert::Dynamic { cert, key }) => {
                let (chain, key) = load_chain(cert, key)?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| ssl_err(format!("client certificate: {e}")))?
            }
        };
        Ok(cfg)
    }

    /// The name the server's certificate is checked against for `host`.
    pub(crate) fn server_name(&self, host: &str) -> Result<ServerName<'static>> {
        let name = self.expected_hostname.as_deref().unwrap_or(host);
        let name = name.trim_start_matches('[').trim_end_matches(']');
        ServerName::try_from(name.to_string())
            .map_err(|e| ssl_err(format!("invalid TLS server name '{name}': {e}")))
    }
}

/// What the io loop needs to start TLS on a socket.
pub(crate) struct TlsStart {
    pub config: Arc<ClientConfig>,
    pub name: ServerName<'static>,
}

impl fmt::Debug for TlsStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TlsStart({:?})", self.name)
    }
}

/// A readable error for a failed TLS session.
pub(crate) fn handshake_error(e: &rustls::Error) -> Error {
    ssl_err(format!("TLS handshake failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cipher_lists_map_to_rustls_suites() {
        let s = parse_suites(
            "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384",
            false,
        )
        .expect("known names");
        assert_eq!(s.len(), 2);
        assert_eq!(
            s[0].suite().as_str(),
            Some("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
        );
        let all =
            parse_suites("HIGH:!ECDHE-RSA-CHACHA20-POLY1305:!aNULL", false).expect("keywords");
        assert_eq!(all.len(), 5);
        let e = parse_suites("AES128-SHA", false).expect_err("CBC suites are not in rustls");
        assert_eq!(e.kind(), ErrorKind::SslError);
        assert!(e.text().contains("AES128-SHA") && e.text().contains("supported"));
        let t13 = parse_suites("TLS_AES_256_GCM_SHA384", true).expect("TLS 1.3 name");
        assert_eq!(t13.len(), 1);
        // A TLS 1.3 suite is not a TLS 1.2 cipher.
        assert!(parse_suites("TLS_AES_256_GCM_SHA384", false).is_err());
        assert!(parse_suites("!ALL", true).is_err());
    }

    #[test]
    fn bad_pem_is_a_clear_ssl_error() {
        let mut t = TlsOptions::default();
        let e = t.set_ca_pem("not a certificate").expect_err("no PEM");
        assert_eq!(e.kind(), ErrorKind::SslError);
        let e = t.load_ca_file("/nonexistent/ca.pem").expect_err("missing");
        assert!(e.text().contains("/nonexistent/ca.pem"));
        assert!(t.server_name("127.0.0.1").is_ok());
        assert!(t.server_name("[::1]").is_ok());
        assert!(t.server_name("bad name!").is_err());
    }
}
