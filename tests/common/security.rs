//! Test material made at test time: a CA with server and client
//! certificates (rcgen), NKeys, and operator/account/user JWTs for
//! nats-server's decentralized authentication.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};

/// PEM files of a test PKI, in their own directory.
pub struct Pki {
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A CA that signed nothing here (for verification failures).
    pub other_ca: PathBuf,
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, text).expect("write PEM");
    p
}

fn new_ca(name: &str) -> (rcgen::Certificate, KeyPair) {
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().expect("CA key");
    let cert = p.self_signed(&key).expect("self-signed CA");
    (cert, key)
}

/// A CA, a server certificate for `localhost` and 127.0.0.1, and a client
/// certificate, written under `dir` (created).
pub fn make_pki(dir: &Path) -> Pki {
    fs::create_dir_all(dir).expect("PKI dir");
    let (ca, ca_key) = new_ca("libnats-rs test CA");
    let mut sp = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("server params");
    sp.distinguished_name.push(DnType::CommonName, "localhost");
    sp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let sk = KeyPair::generate().expect("server key");
    let server = sp.signed_by(&sk, &ca, &ca_key).expect("server cert");
    let mut cp = CertificateParams::new(Vec::<String>::new()).expect("client params");
    cp.distinguished_name
        .push(DnType::CommonName, "test client");
    cp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let ck = KeyPair::generate().expect("client key");
    let client = cp.signed_by(&ck, &ca, &ca_key).expect("client cert");
    let (other, _) = new_ca("unrelated CA");
    Pki {
        dir: dir.to_path_buf(),
        ca: write(dir, "ca.pem", &ca.pem()),
        server_cert: write(dir, "server-cert.pem", &server.pem()),
        server_key: write(dir, "server-key.pem", &sk.serialize_pem()),
        client_cert: write(dir, "client-cert.pem", &client.pem()),
        client_key: write(dir, "client-key.pem", &ck.serialize_pem()),
        other_ca: write(dir, "other-ca.pem", &other.pem()),
    }
}

impl Pki {
    /// A nats-server `tls {}` block with this PKI (`extra` goes inside).
    pub fn server_tls_block(&self, extra: &str) -> String {
        format!(
            "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  ca_file: \"{}\"\n  timeout: 2\n  {extra}\n}}\n",
            self.server_cert.display(),
            self.server_key.display(),
            self.ca.display()
        )
    }
}

/// Writes a nats-server configuration file and returns its path.
pub fn write_conf(dir: &Path, name: &str, text: &str) -> String {
    fs::create_dir_all(dir).expect("conf dir");
    let p = dir.join(name);
    fs::write(&p, text).expect("write conf");
    p.display().to_string()
}

fn b64(data: &[u8]) -> String {
    data_encoding::BASE64URL_NOPAD.encode(data)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// Encodes and signs a JWT (`ed25519-nkey`) for `subject`, issued by `issuer`.
pub fn jwt(
    issuer: &nkeys::KeyPair,
    subject: &str,
    name: &str,
    expires: Option<u64>,
    nats: serde_json::Value,
) -> String {
    let header = serde_json::json!({"typ": "JWT", "alg": "ed25519-nkey"});
    let mut id = [0u8; 16];
    for (i, b) in id.iter_mut().enumerate() {
        *b = (now() as u8).wrapping_add(i as u8).wrapping_mul(31) ^ (subject.len() as u8);
    }
    let mut claims = serde_json::json!({
        "jti": data_encoding::BASE32_NOPAD.encode(&id),
        "iat": now(),
        "iss": issuer.public_key(),
        "name": name,
        "sub": subject,
        "nats": nats,
    });
    if let Some(exp) = expires {
        claims["exp"] = serde_json::json!(exp);
    }
    let h = b64(header.to_string().as_bytes());
    let c = b64(claims.to_string().as_bytes());
    let signing_input = format!("{h}.{c}");
    let sig = issuer.sign(signing_input.as_bytes()).expect("sign JWT");
    format!("{signing_input}.{}", b64(&sig))
}

/// An operator, an account and a way to make users for it.
pub struct Operator {
    pub operator: nkeys::KeyPair,
    pub account: nkeys::KeyPair,
    pub operator_jwt: String,
    pub account_jwt: String,
}

impl Operator {
    pub fn new() -> Operator {
        let operator = nkeys::KeyPair::new_operator();
        let account = nkeys::KeyPair::new_account();
        let operator_jwt = jwt(
            &operator,
            &operator.public_key(),
            "test-operator",
            None,
            serde_json::json!({"type": "operator", "version": 2}),
        );
        let account_jwt = jwt(
            &operator,
            &account.public_key(),
            "test-account",
            None,
            serde_json::json!({
                "type": "account", "version": 2,
                "limits": {"subs": -1, "data": -1, "payload": -1, "imports": -1,
                           "exports": -1, "wildcards": true, "conn": -1, "leaf": -1},
                "default_permissions": {"pub": {}, "sub": {}}
            }),
        );
        Operator {
            operator,
            account,
            operator_jwt,
            account_jwt,
        }
    }

    /// The nats-server configuration for operator mode with a memory resolver.
    pub fn server_conf(&self) -> String {
        format!(
            "operator: \"{}\"\nresolver: MEMORY\nresolver_preload: {{\n  {}: \"{}\"\n}}\n",
            self.operator_jwt,
            self.account.public_key(),
            self.account_jwt
        )
    }

    /// A user of the account: its key pair and JWT (expiring at `expires`,
    /// Unix seconds, if given; `deny_pub` subjects it may not publish to).
    pub fn user(&self, expires: Option<u64>, deny_pub: &[&str]) -> (nkeys::KeyPair, String) {
        let user = nkeys::KeyPair::new_user();
        let pub_perm = if deny_pub.is_empty() {
            serde_json::json!({})
        } else {
            serde_json::json!({"deny": deny_pub})
        };
        let j = jwt(
            &self.account,
            &user.public_key(),
            "test-user",
            expires,
            serde_json::json!({
                "type": "user", "version": 2,
                "pub": pub_perm, "sub": {},
                "subs": -1, "data": -1, "payload": -1
            }),
        );
        (user, j)
    }
}

/// A credentials file's text, as `nsc` writes it.
pub fn creds_text(jwt: &str, seed: &str) -> String {
    format!(
        "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\
         NKEYs are sensitive and should be treated as secrets.\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
         *************************************************************\n"
    )
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    now()
}

/// Servers for the C programs that test TLS and authentication (those whose
/// source holds [`SECURITY_MARKER`]), and the environment that tells them
/// where everything is.
pub struct SecurityServers {
    _servers: Vec<crate::common::NatsServer>,
    pub env: Vec<(String, String)>,
}

/// Marker in a C program's source asking for [`SecurityServers`].
pub const SECURITY_MARKER: &str = "/* servers: security */";

impl SecurityServers {
    pub fn start(dir: &Path) -> SecurityServers {
        use crate::common::NatsServer;
        let pki = make_pki(&dir.join("pki"));
        let p = |p: &Path| p.display().to_string();
        let tls = NatsServer::start_with_args(&[
            "-c",
            &write_conf(dir, "tls.conf", &pki.server_tls_block("")),
        ]);
        let mtls = NatsServer::start_with_args(&[
            "-c",
            &write_conf(dir, "mtls.conf", &pki.server_tls_block("verify: true")),
        ]);
        let token = NatsServer::start_with_args(&["--auth", "s3cr3t"]);
        let user = nkeys::KeyPair::new_user();
        let nkey = NatsServer::start_with_args(&[
            "-c",
            &write_conf(
                dir,
                "nkey.conf",
                &format!(
                    "authorization {{ users = [ {{ nkey: {} }} ] }}\n",
                    user.public_key()
                ),
            ),
        ]);
        let seed = user.seed().expect("seed");
        let seed_file = dir.join("user.nk");
        fs::write(&seed_file, &seed).expect("seed file");
        let op = Operator::new();
        // Debug log (-D): it says why a client's credentials were refused,
        // which the normal log does not ("authentication error" only).
        let jwt_server = NatsServer::start_with_args(&[
            "-D",
            "-c",
            &write_conf(dir, "op.conf", &op.server_conf()),
        ]);
        let (juser, jwt) = op.user(None, &[]);
        let jseed = juser.seed().expect("seed");
        let creds = dir.join("user.creds");
        fs::write(&creds, creds_text(&jwt, &jseed)).expect("creds");
        let env = vec![
            ("NATS_TLS_PORT", tls.port().to_string()),
            ("NATS_MTLS_PORT", mtls.port().to_string()),
            ("NATS_TLS_CA", p(&pki.ca)),
            ("NATS_TLS_OTHER_CA", p(&pki.other_ca)),
            ("NATS_TLS_CERT", p(&pki.client_cert)),
            ("NATS_TLS_KEY", p(&pki.client_key)),
            ("NATS_TOKEN_URL", token.url()),
            ("NATS_NKEY_URL", nkey.url()),
            ("NATS_NKEY_PUB", user.public_key()),
            ("NATS_NKEY_SEED", seed),
            ("NATS_NKEY_SEED_FILE", p(&seed_file)),
            ("NATS_JWT_URL", jwt_server.url()),
            ("NATS_CREDS_FILE", p(&creds)),
            ("NATS_JWT", jwt),
            ("NATS_JWT_SEED", jseed),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        SecurityServers {
            _servers: vec![tls, mtls, token, nkey, jwt_server],
            env,
        }
    }
}
