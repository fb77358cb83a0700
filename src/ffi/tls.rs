//! `natsOptions_*` TLS settings (rustls underneath, no OpenSSL).
//!
//! Statuses follow nats.c: a NULL or empty required argument is
//! `NATS_INVALID_ARG`, a file or PEM text that cannot be used is
//! `NATS_SSL_ERROR` (the last error names the file and the reason).
//! Differences: the server's host name is verified by default (see
//! `natsOptions_SetExpectedHostname`), and `natsOptions_SetSSLVerificationCallback`,
//! which takes an OpenSSL callback, is not supported.

use std::ffi::{c_char, c_int, c_void};

use super::natsStatus;
use super::options::{natsOptions, with_opts};
use super::{invalid, opt_str, req_str};
use crate::error::{Error, ErrorKind, Result};

/// OpenSSL's certificate verification callback (`int cb(int preverifyOk,
/// X509_STORE_CTX *ctx)`); not supported by this library.
pub type natsSSLVerifyCb =
    Option<unsafe extern "C" fn(preverifyOk: c_int, ctx: *mut c_void) -> c_int>;

/// A required, non-empty string argument.
///
/// # Safety
/// `p` must be NULL or a C string.
unsafe fn name<'a>(p: *const c_char, what: &str) -> Result<&'a str> {
    // SAFETY: forwarded contract.
    let s = unsafe { req_str(p, what, ErrorKind::InvalidArg) }?;
    if s.is_empty() {
        return Err(invalid(what));
    }
    Ok(s)
}

/// Requires TLS (`true`), or drops every TLS setting (`false`, as nats.c,
/// which then only uses TLS if the server requires it).
///
/// # Safety
/// `opts` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetSecure(opts: *mut natsOptions, secure: bool) -> natsStatus {
    with_opts("natsOptions_SetSecure", opts, |o| {
        if secure {
            o.opts.tls.secure = true;
        } else {
            o.opts.tls = Default::default();
        }
        Ok(())
    })
}

/// Performs the TLS handshake first, before the server's INFO (servers
/// configured with `handshake_first`). Implies `natsOptions_SetSecure(true)`.
///
/// # Safety
/// `opts` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_TLSHandshakeFirst(opts: *mut natsOptions) -> natsStatus {
    with_opts("natsOptions_TLSHandshakeFirst", opts, |o| {
        o.opts.tls.secure = true;
        o.opts.tls.handshake_first = true;
        Ok(())
    })
}

/// Accepted for compatibility: TLS handshakes never hold a lock here (each
/// runs on the io loop of its connection), so they are always concurrent.
///
/// # Safety
/// `opts` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_AllowConcurrentTLSHandshakes(
    opts: *mut natsOptions,
) -> natsStatus {
    with_opts("natsOptions_AllowConcurrentTLSHandshakes", opts, |_| Ok(()))
}

/// Trusts the CA certificates of a PEM file (instead of the system's).
///
/// # Safety
/// `opts` must be NULL or valid; `fileName` NULL or a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_LoadCATrustedCertificates(
    opts: *mut natsOptions,
    fileName: *const c_char,
) -> natsStatus {
    with_opts("natsOptions_LoadCATrustedCertificates", opts, |o| {
        // SAFETY: NULL or a C string per the contract.
        let f = unsafe { name(fileName, "fileName") }?;
        o.opts.tls.load_ca_file(f)
    })
}

/// Trusts the CA certificates of every PEM file of a directory.
///
/// # Safety
/// `opts` must be NULL or valid; `path` NULL or a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_LoadCATrustedCertificatesPath(
    opts: *mut natsOptions,
    path: *const c_char,
) -> natsStatus {
    with_opts("natsOptions_LoadCATrustedCertificatesPath", opts, |o| {
        // SAFETY: NULL or a C string per the contract.
        let p = unsafe { name(path, "path") }?;
        o.opts.tls.load_ca_dir(p)
    })
}

/// Trusts the CA certificates given as PEM text.
///
/// # Safety
/// `opts` must be NULL or valid; `certificates` NULL or a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetCATrustedCertificates(
    opts: *mut natsOptions,
    certificates: *const c_char,
) -> natsStatus {
    with_opts("natsOptions_SetCATrustedCertificates", opts, |o| {
        // SAFETY: NULL or a C string per the contract.
        let pem = unsafe { name(certificates, "certificates") }?;
        o.opts.tls.set_ca_pem(pem)
    })
}

/// The client certificate chain and key, from PEM files read now.
///
/// # Safety
/// `opts` must be NULL or valid; the names NULL or C strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_LoadCertificatesChain(
    opts: *mut natsOptions,
    certsFileName: *const c_char,
    keyFileName: *const c_char,
) -> natsStatus {
    with_opts("natsOptions_LoadCertificatesChain", opts, |o| {
        // SAFETY: NULL or C strings per the contract.
        let (c, k) = unsafe {
            (
                name(certsFileName, "certsFileName")?,
                name(keyFileName, "keyFileName")?,
            )
        };
        o.opts.tls.load_client_cert(c, k)
    })
}

/// The client certificate chain and key, from PEM files read again at every
/// TLS handshake (rotated certificates).
///
/// # Safety
/// `opts` must be NULL or valid; the names NULL or C strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_LoadCertificatesChainDynamic(
    opts: *mut natsOptions,
    certsFileName: *const c_char,
    keyFileName: *const c_char,
) -> natsStatus {
    with_opts("natsOptions_LoadCertificatesChainDynamic", opts, |o| {
        // SAFETY: NULL or C strings per the contract.
        let (c, k) = unsafe {
            (
                name(certsFileName, "certsFileName")?,
                name(keyFileName, "keyFileName")?,
            )
        };
        o.opts.tls.client_cert_dynamic(c, k);
        Ok(())
    })
}

/// The client certificate chain and key as PEM text.
///
/// # Safety
/// `opts` must be NULL or valid; `cert` and `key` NULL or C strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetCertificatesChain(
    opts: *mut natsOptions,
    cert: *const c_char,
    key: *const c_char,
) -> natsStatus {
    with_opts("natsOptions_SetCertificatesChain", opts, |o| {
        // SAFETY: NULL or C strings per the contract.
        let (c, k) = unsafe { (name(cert, "cert")?, name(key, "key")?) };
        o.opts.tls.set_client_cert_pem(c, k)
    })
}

/// The TLS 1.2 ciphers, as an OpenSSL cipher list. Only what rustls
/// implements can be chosen (ECDHE with AES-GCM or ChaCha20-Poly1305);
/// `DEFAULT`/`ALL`/`HIGH` select all of them and `!name` removes one.
/// Anything else: `NATS_SSL_ERROR` naming it and listing what is supported.
///
/// # Safety
/// `opts` must be NULL or valid; `ciphers` NULL or a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetCiphers(
    opts: *mut natsOptions,
    ciphers: *const c_char,
) -> natsStatus {
    with_opts("natsOptions_SetCiphers", opts, |o| {
        // SAFETY: NULL or a C string per the contract.
        let list = unsafe { name(ciphers, "ciphers") }?;
        o.opts.tls.set_ciphers(list)
    })
}

/// The TLS 1.3 cipher suites (`TLS_AES_128_GCM_SHA256:...`).
///
/// # Safety
/// `opts` must be NULL or valid; `ciphers` NULL or a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetCipherSuites(
    opts: *mut natsOptions,
    ciphers: *const c_char,
) -> natsStatus {
    with_opts("natsOptions_SetCipherSuites", opts, |o| {
        // SAFETY: NULL or a C string per the contract.
        let list = unsafe { name(ciphers, "ciphers") }?;
        o.opts.tls.set_cipher_suites(list)
    })
}

/// The name the server's certificate must carry; NULL resets it.
///
/// Difference with nats.c: without it, the name is still verified, against
/// the host of the server's URL (nats.c then does not check the name). To
/// connect by IP address to a server whose certificate only names a host,
/// set this to that name; `natsOptions_SkipServerVerification` turns all
/// verification off.
///
/// # Safety
/// `opts` must be NULL or valid; `hostname` NULL or a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetExpectedHostname(
    opts: *mut natsOptions,
    hostname: *const c_char,
) -> natsStatus {
    with_opts("natsOptions_SetExpectedHostname", opts, |o| {
        // SAFETY: NULL or a C string per the contract.
        let h = unsafe { opt_str(hostname, "hostname") }?;
        o.opts
            .tls
            .set_expected_hostname(h.filter(|h| !h.is_empty()));
        Ok(())
    })
}

/// Accepts any server certificate (no chain nor name verification).
///
/// # Safety
/// `opts` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SkipServerVerification(
    opts: *mut natsOptions,
    skip: bool,
) -> natsStatus {
    with_opts("natsOptions_SkipServerVerification", opts, |o| {
        o.opts.tls.set_skip_verify(skip);
        Ok(())
    })
}

/// Not supported: the callback is OpenSSL's (`X509_STORE_CTX`), and this
/// library does not use OpenSSL. A non-NULL callback returns
/// `NATS_ILLEGAL_STATE` with that reason; NULL (no callback) is accepted.
/// Use the CA, expected host name and skip-verification options instead.
///
/// # Safety
/// `opts` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetSSLVerificationCallback(
    opts: *mut natsOptions,
    callback: natsSSLVerifyCb,
) -> natsStatus {
    with_opts("natsOptions_SetSSLVerificationCallback", opts, |_| {
        if callback.is_some() {
            return Err(Error::new(
                ErrorKind::IllegalState,
                "SSL verification callbacks are not supported: this library uses rustls, \
                 not OpenSSL (use the CA, expected hostname or skip-verification options)",
            ));
        }
        Ok(())
    })
}
