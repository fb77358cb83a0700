//! Authentication: user/password and tokens (from URLs or options), a token
//! handler, NKeys and user JWTs (credentials files, memory, callbacks).
//!
//! The CONNECT of each attempt is built from these with nats.c's precedence:
//! credentials in the server's URL first (a user without password is a
//! token), then the options; a user JWT and an NKey are exclusive (setting
//! one unsets the other); the server's nonce is signed with the seed, which
//! is read when needed (files may change between attempts) and wiped from
//! memory after use.

use std::fmt;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::engine::Credentials;
use crate::error::{Error, ErrorKind, Result, err};
use crate::options::{Options, ServerUrl};

/// Signs the server's nonce: returns the raw Ed25519 signature.
pub type SignatureHandler = Arc<dyn Fn(&[u8]) -> Result<Vec<u8>> + Send + Sync>;
/// Returns the user JWT to send in CONNECT.
pub type UserJwtHandler = Arc<dyn Fn() -> Result<String> + Send + Sync>;
/// Returns the token to send in CONNECT (called for every attempt).
pub type TokenHandler = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// Where the NKey seed comes from.
#[derive(Clone)]
pub(crate) enum Signer {
    /// A file holding the seed (alone or in a credentials file).
    SeedFile(String),
    /// Text holding the seed (a credentials file's content).
    Memory(Arc<Zeroizing<String>>),
    /// The application signs.
    Callback(SignatureHandler),
}

/// Where the user JWT comes from.
#[derive(Clone)]
pub(crate) enum JwtSource {
    /// A file holding the JWT (a credentials file or the bare JWT).
    File(String),
    /// Text holding the JWT (a credentials file's content).
    Memory(Arc<Zeroizing<String>>),
    /// The application provides it.
    Callback(UserJwtHandler),
}

/// Who the client claims to be, beyond user/password/token.
#[derive(Clone, Default)]
pub(crate) enum Identity {
    #[default]
    None,
    /// An NKey user: public key, and the signer of the nonce.
    NKey { public: String, signer: Signer },
    /// A JWT user (decentralized auth).
    User { jwt: JwtSource, signer: Signer },
}

/// Authentication options that need work at each attempt.
#[derive(Clone, Default)]
pub(crate) struct AuthOptions {
    pub identity: Identity,
    pub token_handler: Option<TokenHandler>,
}

impl fmt::Debug for AuthOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = match &self.identity {
            Identity::None => "none",
            Identity::NKey { .. } => "nkey",
            Identity::User { .. } => "user jwt",
        };
        f.debug_struct("AuthOptions")
            .field("identity", &id)
            .field("token_handler", &self.token_handler.is_some())
            .finish()
    }
}

impl AuthOptions {
    /// True if CONNECT needs per-attempt work (signing, callbacks, files).
    pub(crate) fn needs_step(&self) -> bool {
        !matches!(self.identity, Identity::None) || self.token_handler.is_some()
    }
}

fn read_text(path: &str) -> Result<Zeroizing<String>> {
    match std::fs::read(path) {
        Ok(b) => match String::from_utf8(b) {
            Ok(s) => Ok(Zeroizing::new(s)),
            Err(e) => {
                let mut b = e.into_bytes();
                zeroize::Zeroize::zeroize(&mut b);
                err(ErrorKind::InvalidArg, format!("'{path}' is not text"))
            }
        },
        Err(e) => err(ErrorKind::IoError, format!("cannot read '{path}': {e}")),
    }
}

/// The content of the first `-----BEGIN ...-----` block whose title
/// contains `word` (e.g. "JWT", "SEED").
fn block<'a>(text: &'a str, word: &str) -> Option<&'a str> {
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let l = line.trim();
        if l.starts_with("-----BEGIN") && l.contains(word) && l.ends_with('-') {
            return lines
                .map(str::trim)
                .take_while(|l| !l.starts_with("------END") && !l.starts_with("-----END"))
                .find(|l| !l.is_empty());
        }
    }
    None
}

/// The user JWT in `text`: the JWT block of a credentials file, or the text
/// itself when it is a bare JWT.
pub(crate) fn jwt_in(text: &str, what: &str) -> Result<String> {
    if let Some(j) = block(text, "JWT") {
        return Ok(j.to_string());
    }
    let t = text.trim();
    if !t.is_empty() && !t.contains("-----") && t.split('.').count() == 3 {
        return Ok(t.to_string());
    }
    err(ErrorKind::NotFound, format!("no user JWT found in {what}"))
}

/// The NKey seed in `text`: the seed block of a credentials file, or a line
/// that is a seed (`S` followed by the key type).
pub(crate) fn seed_in(text: &str, what: &str) -> Result<Zeroizing<String>> {
    let found = block(text, "SEED").or_else(|| {
        text.lines()
            .map(str::trim)
            .find(|l| l.len() > 2 && l.starts_with('S') && !l.contains(' '))
    });
    match found {
        Some(s) => Ok(Zeroizing::new(s.to_string())),
        None => err(ErrorKind::NotFound, format!("no nkey seed found in {what}")),
    }
}

/// Signs `data` with an encoded NKey seed (raw 64-byte Ed25519 signature).
pub(crate) fn sign_with_seed(seed: &str, data: &[u8]) -> Result<Vec<u8>> {
    // The key pair wipes its secret key when dropped.
    let kp = nkeys::KeyPair::from_seed(seed.trim())
        .map_err(|e| Error::new(ErrorKind::InvalidArg, format!("invalid nkey seed: {e}")))?;
    kp.sign(data)
        .map_err(|e| Error::new(ErrorKind::Other, format!("signing failed: {e}")))
}

impl Signer {
    /// Signs `data` (the server's nonce, or anything for `nats_Sign`).
    pub(crate) fn sign(&self, data: &[u8]) -> Result<Vec<u8>> {
        match self {
            Signer::SeedFile(path) => {
                let text = read_text(path)?;
                let seed = seed_in(&text, &format!("'{path}'"))?;
                sign_with_seed(&seed, data)
            }
            Signer::Memory(text) => {
                let seed = seed_in(text, "the credentials given")?;
                sign_with_seed(&seed, data)
            }
            Signer::Callback(cb) => match cb(data) {
                Ok(sig) if sig.is_empty() => err(
                    ErrorKind::Other,
                    "the signature handler returned no signature",
                ),
                other => other,
            },
        }
    }
}

impl JwtSource {
    fn jwt(&self) -> Result<String> {
        match self {
            JwtSource::File(path) => jwt_in(&read_text(path)?, &format!("'{path}'")),
            JwtSource::Memory(text) => jwt_in(text, "the credentials given"),
            JwtSource::Callback(cb) => cb(),
        }
    }
}

/// Base64 URL encoding without padding, as the server expects signatures.
fn b64url(data: &[u8]) -> String {
    data_encoding::BASE64URL_NOPAD.encode(data)
}

/// The credentials of an attempt at `url`, signing the server's `nonce`.
pub(crate) fn connect_credentials(
    opts: &Options,
    url: &ServerUrl,
    nonce: &str,
) -> Result<Credentials> {
    let mut c = Credentials::default();
    match (&url.user, &url.password) {
        (Some(u), Some(p)) => {
            c.user = Some(u.clone());
            c.pass = Some(p.clone());
        }
        (Some(t), None) => c.token = Some(t.clone()),
        _ => {
            c.user = opts.user.clone();
            c.pass = opts.password.clone();
            c.token = opts.token.clone();
        }
    }
    let auth = &opts.auth;
    let signer = match &auth.identity {
        Identity::None => None,
        Identity::NKey { public, signer } => {
            c.nkey = Some(public.clone());
            Some(signer)
        }
        Identity::User { jwt, signer } => {
            let j = jwt.jwt()?;
            if j.is_empty() {
                return err(ErrorKind::Other, "the user JWT is empty");
            }
            c.jwt = Some(j);
            Some(signer)
        }
    };
    if let Some(signer) = signer {
        c.sig = Some(b64url(&signer.sign(nonce.as_bytes())?));
    }
    if let Some(handler) = &auth.token_handler {
        if c.token.is_some() {
            return err(
                ErrorKind::IllegalState,
                "a token and a token handler cannot be both set",
            );
        }
        c.token = handler();
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_seed() -> Zeroizing<String> {
        Zeroizing::new(nkeys::KeyPair::new_user().seed().expect("seed"))
    }

    fn creds(jwt: &str, seed: &str) -> String {
        format!(
            "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\
             NKEY Seed printed below can be used to sign and prove identity.\n\n\
             -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
        )
    }

    #[test]
    fn credentials_file_blocks_are_found() {
        let seed = new_seed();
        let text = creds("aaa.bbb.ccc", &seed);
        assert_eq!(jwt_in(&text, "x").expect("jwt"), "aaa.bbb.ccc");
        assert_eq!(seed_in(&text, "x").expect("seed").as_str(), seed.as_str());
        assert_eq!(
            jwt_in(" aaa.bbb.ccc\n", "x").expect("bare jwt"),
            "aaa.bbb.ccc"
        );
        assert_eq!(
            seed_in(&format!("# seed\n{}\n", seed.as_str()), "x")
                .expect("bare seed")
                .as_str(),
            seed.as_str()
        );
        assert_eq!(
            jwt_in("nothing here", "x").expect_err("none").kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            seed_in("nothing here", "x").expect_err("none").kind(),
            ErrorKind::NotFound
        );
    }

    #[test]
    fn nonce_signature_verifies_with_the_public_key() {
        let seed = new_seed();
        let kp = nkeys::KeyPair::from_seed(&seed).expect("seed");
        let sig = sign_with_seed(&seed, b"nonce").expect("sign");
        assert_eq!(sig.len(), 64);
        kp.verify(b"nonce", &sig).expect("valid signature");
        assert_eq!(
            sign_with_seed("SUbad", b"x").expect_err("bad").kind(),
            ErrorKind::InvalidArg
        );
    }

    #[test]
    fn precedence_and_token_handler_exclusion() {
        let seed = new_seed();
        let url = ServerUrl::parse("nats://tok@h:1").expect("url");
        let mut opts = Options::new().user_info("u", "p");
        let c = connect_credentials(&opts, &url, "").expect("creds");
        assert_eq!((c.token.as_deref(), c.user.as_deref()), (Some("tok"), None));
        let plain = ServerUrl::parse("nats://h:1").expect("url");
        let c = connect_credentials(&opts, &plain, "").expect("creds");
        assert_eq!(
            (c.user.as_deref(), c.pass.as_deref()),
            (Some("u"), Some("p"))
        );
        opts.auth.token_handler = Some(Arc::new(|| Some("dyn".to_string())));
        let c = connect_credentials(&opts, &plain, "").expect("creds");
        assert_eq!(c.token.as_deref(), Some("dyn"));
        let e = connect_credentials(&opts, &url, "").expect_err("token and handler");
        assert_eq!(e.kind(), ErrorKind::IllegalState);
        opts.auth.identity = Identity::User {
            jwt: JwtSource::Memory(Arc::new(Zeroizing::new(creds("a.b.c", &seed)))),
            signer: Signer::Memory(Arc::new(Zeroizing::new(creds("a.b.c", &seed)))),
        };
        opts.auth.token_handler = None;
        let c = connect_credentials(&opts, &plain, "abc").expect("creds");
        assert_eq!(c.jwt.as_deref(), Some("a.b.c"));
        let sig = data_encoding::BASE64URL_NOPAD
            .decode(c.sig.expect("sig").as_bytes())
            .expect("base64url");
        nkeys::KeyPair::from_seed(&seed)
            .expect("seed")
            .verify(b"abc", &sig)
            .expect("signature of the nonce");
    }

    /// nats.c before 3.10 sent no `sig` when the signature's first byte was
    /// 0 (1 connect in 256 refused; nats.c #705). Ours always sends it.
    #[test]
    fn a_signature_starting_with_a_zero_byte_is_sent() {
        let seed = new_seed();
        let kp = nkeys::KeyPair::from_seed(&seed).expect("seed");
        // About 1 nonce in 256 gives such a signature: 20,000 tries miss one
        // with a probability of 1e-34.
        let nonce = (0..20_000)
            .map(|i| format!("nonce{i}"))
            .find(|n| kp.sign(n.as_bytes()).expect("sign")[0] == 0)
            .expect("a nonce whose signature starts with 0");
        let mut opts = Options::new();
        opts.auth.identity = Identity::NKey {
            public: kp.public_key(),
            signer: Signer::Memory(Arc::new(seed.clone())),
        };
        let url = ServerUrl::parse("nats://h:1").expect("url");
        let c = connect_credentials(&opts, &url, &nonce).expect("creds");
        let sig = data_encoding::BASE64URL_NOPAD
            .decode(c.sig.expect("sig sent").as_bytes())
            .expect("base64url");
        assert_eq!((sig.len(), sig[0]), (64, 0));
        kp.verify(nonce.as_bytes(), &sig)
            .expect("signature of the nonce");
    }
}
