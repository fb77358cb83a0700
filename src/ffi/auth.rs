//! Authentication options (`natsOptions_SetTokenHandler`, NKeys, user
//! credentials) and signing (`nats_Sign`, `natsConnection_Sign`).
//!
//! The application's callbacks run during each connection attempt, on the
//! connection's io thread and without any library lock held: they must not
//! block for long (other connections share the thread).

use std::ffi::{CStr, c_char, c_int, c_uchar, c_void};
use std::sync::Arc;

use zeroize::Zeroizing;

use super::conn::natsConnection;
use super::options::{natsOptions, with_opts};
use super::{SendPtr, arg_mut, bytes, invalid, natsStatus, opt_str, req_str, run};
use crate::auth::{Identity, JwtSource, Signer};
use crate::error::{Error, ErrorKind};

/// Returns the user JWT in `*userJWT` (allocated with `malloc`; the library
/// frees it). On error, may set `*customErrTxt` (also `malloc`ed).
pub type natsUserJWTHandler = Option<
    unsafe extern "C" fn(
        userJWT: *mut *mut c_char,
        customErrTxt: *mut *mut c_char,
        closure: *mut c_void,
    ) -> natsStatus,
>;

/// Signs `nonce`: `*signature` (allocated with `malloc`; the library frees
/// it) and its length. On error, may set `*customErrTxt` (`malloc`ed).
pub type natsSignatureHandler = Option<
    unsafe extern "C" fn(
        customErrTxt: *mut *mut c_char,
        signature: *mut *mut c_uchar,
        signatureLength: *mut c_int,
        nonce: *const c_char,
        closure: *mut c_void,
    ) -> natsStatus,
>;

/// Returns the token to send (called at every connection attempt); the
/// library copies it and does not free it.
pub type natsTokenHandler = Option<unsafe extern "C" fn(closure: *mut c_void) -> *const c_char>;

/// Takes a `malloc`ed C string from a callback: its text, then frees it.
///
/// # Safety
/// `p` must be NULL or a `malloc`ed C string that nothing else owns.
unsafe fn take_c_string(p: *mut c_char) -> Option<Zeroizing<String>> {
    if p.is_null() {
        return None;
    }
    // SAFETY: a C string per the contract.
    let s = unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
    // SAFETY: malloc'ed by the callback and owned by us now.
    unsafe { libc::free(p.cast()) };
    Some(Zeroizing::new(s))
}

/// The error a callback reported (its text, or a generic one).
fn callback_error(status: natsStatus, text: Option<Zeroizing<String>>, what: &str) -> Error {
    let kind = super::status::kind_of(status).unwrap_or(ErrorKind::Other);
    match text {
        Some(t) => Error::new(kind, t.as_str()),
        None => Error::new(kind, format!("the {what} callback failed")),
    }
}

fn c_signer(
    f: unsafe extern "C" fn(
        *mut *mut c_char,
        *mut *mut c_uchar,
        *mut c_int,
        *const c_char,
        *mut c_void,
    ) -> natsStatus,
    closure: SendPtr<c_void>,
) -> Signer {
    Signer::Callback(Arc::new(move |nonce: &[u8]| {
        let c = &closure;
        let nonce = std::ffi::CString::new(nonce).map_err(|_| invalid("nonce"))?;
        let mut err_txt: *mut c_char = std::ptr::null_mut();
        let mut sig: *mut c_uchar = std::ptr::null_mut();
        let mut len: c_int = 0;
        // SAFETY: the user's callback with writable out-pointers, a nonce
        // that outlives the call, and the user's closure.
        let st = unsafe { f(&mut err_txt, &mut sig, &mut len, nonce.as_ptr(), c.0) };
        // SAFETY: malloc'ed by the callback, if set.
        let text = unsafe { take_c_string(err_txt) };
        let out = if sig.is_null() || len <= 0 {
            Vec::new()
        } else {
            // SAFETY: the callback allocated `len` bytes at `sig`.
            unsafe { std::slice::from_raw_parts(sig, len as usize) }.to_vec()
        };
        if !sig.is_null() {
            // SAFETY: malloc'ed by the callback and owned by us now.
            unsafe { libc::free(sig.cast()) };
        }
        if st != natsStatus::NATS_OK {
            return Err(callback_error(st, text, "signature"));
        }
        Ok(out)
    }))
}

/// Sets a callback that returns the token of each connection attempt (NULL
/// removes it). `NATS_ILLEGAL_STATE` if a token is set (they are exclusive).
///
/// # Safety
/// `opts` must be NULL or valid; the callback must be callable from any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetTokenHandler(
    opts: *mut natsOptions,
    tokenCb: natsTokenHandler,
    closure: *mut c_void,
) -> natsStatus {
    with_opts("natsOptions_SetTokenHandler", opts, |o| {
        let Some(f) = tokenCb else {
            o.opts.auth.token_handler = None;
            return Ok(());
        };
        if o.opts.token.is_some() {
            return Err(Error::new(
                ErrorKind::IllegalState,
                "cannot set a token handler when a token is set",
            ));
        }
        let closure = SendPtr(closure);
        o.opts.auth.token_handler = Some(Arc::new(move || {
            let c = &closure;
            // SAFETY: the user's callback with the user's closure.
            let p = unsafe { f(c.0) };
            if p.is_null() {
                return None;
            }
            // SAFETY: the callback returns a C string it keeps owning.
            Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
        }));
        Ok(())
    })
}

/// Authenticates as an NKey user: `pubKey` and a callback that signs the
/// server's nonce. An empty `pubKey` removes the NKey. Replaces user
/// credentials (they are exclusive).
///
/// # Safety
/// `opts` must be NULL or valid; `pubKey` NULL or a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetNKey(
    opts: *mut natsOptions,
    pubKey: *const c_char,
    sigCB: natsSignatureHandler,
    sigClosure: *mut c_void,
) -> natsStatus {
    with_opts("natsOptions_SetNKey", opts, |o| {
        // SAFETY: NULL or a C string per the contract.
        let public = unsafe { opt_str(pubKey, "pubKey") }?.filter(|p| !p.is_empty());
        match (public, sigCB) {
            (None, _) => {
                if matches!(o.opts.auth.identity, Identity::NKey { .. }) {
                    o.opts.auth.identity = Identity::None;
                }
            }
            (Some(_), None) => return Err(invalid("sigCB")),
            (Some(p), Some(f)) => {
                o.opts.auth.identity = Identity::NKey {
                    public: p.to_string(),
                    signer: c_signer(f, SendPtr(sigClosure)),
                };
            }
        }
        Ok(())
    })
}

/// Authenticates as an NKey user whose seed is in `seedFile` (read at each
/// attempt, wiped after use). An empty `pubKey` removes the NKey.
///
/// # Safety
/// `opts` must be NULL or valid; the strings NULL or C strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetNKeyFromSeed(
    opts: *mut natsOptions,
    pubKey: *const c_char,
    seedFile: *const c_char,
) -> natsStatus {
    with_opts("natsOptions_SetNKeyFromSeed", opts, |o| {
        // SAFETY: NULL or C strings per the contract.
        let public = unsafe { opt_str(pubKey, "pubKey") }?.filter(|p| !p.is_empty());
        // SAFETY: as above.
        let seed = unsafe { opt_str(seedFile, "seedFile") }?.filter(|s| !s.is_empty());
        match (public, seed) {
            (None, _) => {
                if matches!(o.opts.auth.identity, Identity::NKey { .. }) {
                    o.opts.auth.identity = Identity::None;
                }
            }
            (Some(_), None) => return Err(invalid("seedFile")),
            (Some(p), Some(s)) => {
                o.opts.auth.identity = Identity::NKey {
                    public: p.to_string(),
                    signer: Signer::SeedFile(s.to_string()),
                };
            }
        }
        Ok(())
    })
}

/// Authenticates with a user JWT and a nonce signature from callbacks
/// (both NULL: removes them; one without the other: `NATS_INVALID_ARG`).
/// Replaces an NKey.
///
/// # Safety
/// `opts` must be NULL or valid; the callbacks callable from any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetUserCredentialsCallbacks(
    opts: *mut natsOptions,
    ujwtCB: natsUserJWTHandler,
    ujwtClosure: *mut c_void,
    sigCB: natsSignatureHandler,
    sigClosure: *mut c_void,
) -> natsStatus {
    with_opts("natsOptions_SetUserCredentialsCallbacks", opts, |o| {
        match (ujwtCB, sigCB) {
            (None, None) => {
                if matches!(o.opts.auth.identity, Identity::User { .. }) {
                    o.opts.auth.identity = Identity::None;
                }
            }
            (Some(j), Some(s)) => {
                let jc = SendPtr(ujwtClosure);
                let jwt = JwtSource::Callback(Arc::new(move || {
                    let c = &jc;
                    let mut out: *mut c_char = std::ptr::null_mut();
                    let mut err_txt: *mut c_char = std::ptr::null_mut();
                    // SAFETY: the user's callback with writable out-pointers.
                    let st = unsafe { j(&mut out, &mut err_txt, c.0) };
                    // SAFETY: malloc'ed by the callback, if set.
                    let (jwt, text) = unsafe { (take_c_string(out), take_c_string(err_txt)) };
                    if st != natsStatus::NATS_OK {
                        return Err(callback_error(st, text, "user JWT"));
                    }
                    Ok(jwt.map(|j| j.to_string()).unwrap_or_default())
                }));
                o.opts.auth.identity = Identity::User {
                    jwt,
                    signer: c_signer(s, SendPtr(sigClosure)),
                };
            }
            _ => return Err(invalid("callbacks (both or neither must be set)")),
        }
        Ok(())
    })
}

/// Authenticates with the user JWT of `userOrChainedFile` (a credentials
/// file, or a file holding only the JWT) and the NKey seed of `seedFile` (or
/// of the first file when NULL). Files are read at each attempt. Both NULL:
/// removes the credentials. Replaces an NKey.
///
/// # Safety
/// `opts` must be NULL or valid; the names NULL or C strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetUserCredentialsFromFiles(
    opts: *mut natsOptions,
    userOrChainedFile: *const c_char,
    seedFile: *const c_char,
) -> natsStatus {
    with_opts("natsOptions_SetUserCredentialsFromFiles", opts, |o| {
        // SAFETY: NULL or C strings per the contract.
        let user =
            unsafe { opt_str(userOrChainedFile, "userOrChainedFile") }?.filter(|s| !s.is_empty());
        // SAFETY: as above.
        let seed = unsafe { opt_str(seedFile, "seedFile") }?.filter(|s| !s.is_empty());
        match (user, seed) {
            (None, None) => {
                if matches!(o.opts.auth.identity, Identity::User { .. }) {
                    o.opts.auth.identity = Identity::None;
                }
            }
            (None, Some(_)) => return Err(invalid("userOrChainedFile")),
            (Some(u), s) => {
                o.opts.auth.identity = Identity::User {
                    jwt: JwtSource::File(u.to_string()),
                    signer: Signer::SeedFile(s.unwrap_or(u).to_string()),
                };
            }
        }
        Ok(())
    })
}

/// Authenticates with the content of a credentials file (user JWT and NKey
/// seed), kept in memory (wiped when the options are destroyed). NULL
/// removes the credentials. As nats.c, the content is checked at connect.
///
/// # Safety
/// `opts` must be NULL or valid; `jwtAndSeedContent` NULL or a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetUserCredentialsFromMemory(
    opts: *mut natsOptions,
    jwtAndSeedContent: *const c_char,
) -> natsStatus {
    with_opts("natsOptions_SetUserCredentialsFromMemory", opts, |o| {
        // SAFETY: NULL or a C string per the contract.
        match unsafe { opt_str(jwtAndSeedContent, "jwtAndSeedContent") }? {
            None => {
                if matches!(o.opts.auth.identity, Identity::User { .. }) {
                    o.opts.auth.identity = Identity::None;
                }
            }
            Some(content) => {
                let text = Arc::new(Zeroizing::new(content.to_string()));
                o.opts.auth.identity = Identity::User {
                    jwt: JwtSource::Memory(text.clone()),
                    signer: Signer::Memory(text),
                };
            }
        }
        Ok(())
    })
}

/// Signs `input` (a C string) with the NKey seed `encodedSeed`.
///
/// Ownership: `*signature` (64 bytes) is allocated with `malloc`; the caller
/// frees it with `free`.
///
/// # Safety
/// The strings NULL or C strings; the out-pointers NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nats_Sign(
    encodedSeed: *const c_char,
    input: *const c_char,
    signature: *mut *mut c_uchar,
    signatureLength: *mut c_int,
) -> natsStatus {
    run("nats_Sign", || {
        // SAFETY: NULL-checked; writable per the contract.
        let out = unsafe { arg_mut(signature, "signature") }?;
        // SAFETY: as above.
        let out_len = unsafe { arg_mut(signatureLength, "signatureLength") }?;
        // The out-parameters are written on success only (nats.c; a caller
        // reusing them keeps what it had).
        // SAFETY: NULL or C strings per the contract.
        let seed = unsafe { req_str(encodedSeed, "encodedSeed", ErrorKind::InvalidArg) }?;
        // SAFETY: as above.
        let data = unsafe { req_str(input, "input", ErrorKind::InvalidArg) }?;
        let sig = crate::auth::sign_with_seed(seed, data.as_bytes())?;
        // SAFETY: malloc with a non-zero size; checked for NULL.
        let p = unsafe { libc::malloc(sig.len()) }.cast::<c_uchar>();
        if p.is_null() {
            return Err(Error::new(ErrorKind::NoMemory, "out of memory"));
        }
        // SAFETY: p has room for sig.len() bytes; no overlap.
        unsafe { std::ptr::copy_nonoverlapping(sig.as_ptr(), p, sig.len()) };
        *out = p;
        *out_len = sig.len() as c_int;
        Ok(())
    })
}

/// Signs `message` with the NKey seed of the connection's credentials (set
/// with `natsOptions_SetUserCredentialsFromFiles`/`FromMemory` or
/// `natsOptions_SetNKeyFromSeed`); `NATS_ERR` if there are none.
///
/// # Safety
/// `nc` NULL or valid; `message` NULL or `messageLen` readable bytes; `sig`
/// NULL or 64 writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_Sign(
    nc: *mut natsConnection,
    message: *const c_uchar,
    messageLen: c_int,
    sig: *mut c_uchar,
) -> natsStatus {
    run("natsConnection_Sign", || {
        let c = super::conn::conn(nc)?;
        if sig.is_null() {
            return Err(invalid("sig"));
        }
        if message.is_null() || messageLen < 0 {
            return Err(invalid("message"));
        }
        // SAFETY: non-NULL with messageLen readable bytes per the contract.
        let data = unsafe { bytes(message.cast(), messageLen) }?;
        let s = c.conn.sign(data)?;
        if s.len() != 64 {
            return Err(Error::new(ErrorKind::Other, "unexpected signature length"));
        }
        // SAFETY: sig has room for 64 bytes per the contract.
        unsafe { std::ptr::copy_nonoverlapping(s.as_ptr(), sig, 64) };
        Ok(())
    })
}
