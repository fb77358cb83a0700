//! Authentication against real nats-server configurations: users with
//! permissions, tokens and a token handler, NKey users, and operator mode
//! with account and user JWTs (made by the test) on a memory resolver.

mod common;
#[path = "common/security.rs"]
mod security;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{NatsServer, artifacts_dir, wait_for};
use nats::{Connection, Error, ErrorKind, Options};
use security::{Operator, creds_text, unix_now, write_conf};

fn dir(name: &str) -> std::path::PathBuf {
    let d = artifacts_dir().join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("dir");
    d
}

fn opts(url: &str) -> Options {
    Options::new()
        .url(url)
        .timeout(Duration::from_secs(2))
        .max_reconnect(0)
}

fn round_trip(nc: &Connection) {
    let sub = nc.subscribe("auth.check").expect("subscribe");
    nc.publish("auth.check", b"hi").expect("publish");
    assert_eq!(
        sub.next_msg(Duration::from_secs(2))
            .expect("message")
            .payload(),
        b"hi"
    );
}

/// Errors reported through the error callback.
#[derive(Default)]
struct Errors(Mutex<Vec<(ErrorKind, String)>>);

impl Errors {
    fn options(self: &Arc<Self>, o: Options) -> Options {
        let me = self.clone();
        o.error_callback(move |_, _, e: &Error| {
            me.0.lock()
                .expect("lock")
                .push((e.kind(), e.text().to_string()));
        })
    }

    fn has(&self, kind: ErrorKind, text: &str) -> bool {
        self.0
            .lock()
            .expect("lock")
            .iter()
            .any(|(k, t)| *k == kind && t.contains(text))
    }
}

#[test]
fn users_passwords_and_permissions() {
    let d = dir("auth-users");
    let conf = write_conf(
        &d,
        "users.conf",
        r#"authorization {
  users = [
    { user: alice, password: "s3cret", permissions: {
        publish: { deny: ["secret.>"] }, subscribe: { deny: ["hidden.>"] } } }
  ]
}
"#,
    );
    let s = NatsServer::start_with_args(&["-c", &conf]);
    let errs = Arc::new(Errors::default());
    let nc = errs
        .options(opts(&s.url()).user_info("alice", "s3cret"))
        .connect()
        .expect("user and password");
    round_trip(&nc);

    // A denied publish and a denied subscription: reported, still connected.
    nc.publish("secret.plans", b"x").expect("publish is queued");
    let _sub = nc.subscribe("hidden.things").expect("subscribe is sent");
    nc.flush_timeout(Duration::from_secs(2)).expect("flush");
    wait_for("both permission errors", || {
        errs.has(ErrorKind::NotPermitted, "Publish to \"secret.plans\"")
            && errs.has(ErrorKind::NotPermitted, "Subscription to \"hidden.things\"")
    });
    round_trip(&nc);
    assert_eq!(nc.status(), nats::ConnStatus::Connected);

    // Credentials in the URL take precedence over the options.
    let url = format!("nats://alice:s3cret@127.0.0.1:{}", s.port());
    let nc = opts(&url)
        .user_info("alice", "wrong")
        .connect()
        .expect("URL credentials");
    round_trip(&nc);

    let e = opts(&s.url())
        .user_info("alice", "wrong")
        .connect()
        .expect_err("bad password");
    assert_eq!(e.kind(), ErrorKind::AuthFailed);
    assert!(e.text().contains("Authorization Violation"), "{e}");
    let e = opts(&s.url()).connect().expect_err("no credentials");
    assert_eq!(e.kind(), ErrorKind::AuthFailed);
}

#[test]
fn tokens_and_token_handler() {
    let s = NatsServer::start_with_args(&["--auth", "t0ken"]);
    opts(&s.url())
        .token("t0ken")
        .connect()
        .expect("token option");
    opts(&format!("nats://t0ken@127.0.0.1:{}", s.port()))
        .connect()
        .expect("token in the URL");
    let e = opts(&s.url())
        .token("nope")
        .connect()
        .expect_err("bad token");
    assert_eq!(e.kind(), ErrorKind::AuthFailed);

    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let nc = opts(&s.url())
        .max_reconnect(10)
        .reconnect_wait(Duration::from_millis(20))
        .token_handler(move || {
            c.fetch_add(1, Ordering::SeqCst);
            Some("t0ken".to_string())
        })
        .expect("handler")
        .connect()
        .expect("token from the handler");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    nc.reconnect().expect("reconnect");
    wait_for("the handler is called again", || {
        calls.load(Ordering::SeqCst) == 2
    });
    round_trip(&nc);

    // A token and a handler are exclusive, whichever comes first.
    let e = Options::new()
        .token("t0ken")
        .token_handler(|| None)
        .map(|_| ())
        .expect_err("token then handler");
    assert_eq!(e.kind(), ErrorKind::IllegalState);
    let e = opts(&s.url())
        .token_handler(|| Some("t0ken".into()))
        .expect("handler")
        .token("t0ken")
        .connect()
        .expect_err("handler then token");
    assert_eq!(e.kind(), ErrorKind::IllegalState, "{e}");
}

#[test]
fn nkey_users() {
    let d = dir("auth-nkey");
    let user = nkeys::KeyPair::new_user();
    let conf = write_conf(
        &d,
        "nkey.conf",
        &format!(
            "authorization {{ users = [ {{ nkey: {} }} ] }}\n",
            user.public_key()
        ),
    );
    let s = NatsServer::start_with_args(&["-c", &conf]);
    let seed_file = d.join("user.nk");
    std::fs::write(&seed_file, user.seed().expect("seed")).expect("seed file");
    let nc = opts(&s.url())
        .nkey_from_seed_file(&user.public_key(), seed_file.to_str().expect("path"))
        .connect()
        .expect("nkey from seed file");
    round_trip(&nc);

    let signer = nkeys::KeyPair::from_seed(&user.seed().expect("seed")).expect("kp");
    let nc = opts(&s.url())
        .nkey(&user.public_key(), move |nonce| {
            signer
                .sign(nonce)
                .map_err(|e| Error::new(ErrorKind::Other, e.to_string()))
        })
        .connect()
        .expect("nkey with a signing callback");
    round_trip(&nc);

    // Signed with another key: refused.
    let other = nkeys::KeyPair::new_user();
    let e = opts(&s.url())
        .nkey(&user.public_key(), move |nonce| {
            other
                .sign(nonce)
                .map_err(|e| Error::new(ErrorKind::Other, e.to_string()))
        })
        .connect()
        .expect_err("wrong signature");
    assert_eq!(e.kind(), ErrorKind::AuthFailed, "{e}");
    // A seed file that is not there: the attempt fails with that reason.
    let e = opts(&s.url())
        .nkey_from_seed_file(&user.public_key(), "/nonexistent/user.nk")
        .connect()
        .expect_err("missing seed file");
    assert!(e.text().contains("/nonexistent/user.nk"), "{e}");
}

#[test]
fn operator_mode_user_jwts() {
    let d = dir("auth-jwt");
    let op = Operator::new();
    let conf = write_conf(&d, "operator.conf", &op.server_conf());
    let s = NatsServer::start_with_args(&["-c", &conf]);

    let (user, jwt) = op.user(None, &["forbidden.>"]);
    let seed = user.seed().expect("seed");
    let creds = d.join("user.creds");
    std::fs::write(&creds, creds_text(&jwt, &seed)).expect("creds");
    let errs = Arc::new(Errors::default());
    let nc = errs
        .options(opts(&s.url()).credentials_file(creds.to_str().expect("path")))
        .connect()
        .expect("chained credentials file");
    round_trip(&nc);
    // The JWT's permissions apply.
    nc.publish("forbidden.x", b"x").expect("queued");
    nc.flush_timeout(Duration::from_secs(2)).expect("flush");
    wait_for("permission error from the JWT", || {
        errs.has(ErrorKind::NotPermitted, "forbidden.x")
    });
    // natsConnection_Sign: signs with the credentials' seed.
    let sig = nc.sign(b"data").expect("sign");
    user.verify(b"data", &sig).expect("valid signature");

    // JWT and seed in separate files.
    let jwt_file = d.join("user.jwt");
    let seed_file = d.join("user.nk");
    std::fs::write(&jwt_file, &jwt).expect("jwt");
    std::fs::write(&seed_file, &seed).expect("seed");
    opts(&s.url())
        .credentials_files(
            jwt_file.to_str().expect("path"),
            Some(seed_file.to_str().expect("path")),
        )
        .connect()
        .expect("separate files");
    // From memory.
    let nc = opts(&s.url())
        .credentials_memory(&creds_text(&jwt, &seed))
        .expect("creds text")
        .connect()
        .expect("credentials from memory");
    round_trip(&nc);
    assert_eq!(
        Options::new()
            .credentials_memory("nothing")
            .map(|_| ())
            .expect_err("no JWT")
            .kind(),
        ErrorKind::NotFound
    );
    // From callbacks.
    let (jwt2, seed2) = (jwt.clone(), seed.clone());
    let nc = opts(&s.url())
        .user_jwt_callbacks(
            move || Ok(jwt2.clone()),
            move |nonce| nats::sign(&seed2, nonce),
        )
        .connect()
        .expect("callbacks");
    round_trip(&nc);
    // A callback error fails the attempt with its status and text.
    let e = opts(&s.url())
        .user_jwt_callbacks(
            || Err(Error::new(ErrorKind::NotFound, "no JWT today")),
            |_| Ok(vec![0; 64]),
        )
        .connect()
        .expect_err("callback error");
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.text().contains("no JWT today"), "{e}");
    // A user of another account (not known to the resolver): refused.
    let stranger = Operator::new();
    let (u3, j3) = stranger.user(None, &[]);
    let e = opts(&s.url())
        .credentials_memory(&creds_text(&j3, &u3.seed().expect("seed")))
        .expect("creds")
        .connect()
        .expect_err("unknown account");
    assert_eq!(e.kind(), ErrorKind::AuthFailed, "{e}");
}

/// "User Authentication Expired" is not fatal: the client reconnects (here
/// with a fresh JWT from its callback).
#[test]
fn expired_user_jwt_reconnects() {
    let d = dir("auth-expired");
    let op = Arc::new(Operator::new());
    let conf = write_conf(&d, "operator.conf", &op.server_conf());
    let s = NatsServer::start_with_args(&["-c", &conf]);
    let user = nkeys::KeyPair::new_user();
    let seed = user.seed().expect("seed");
    let calls = Arc::new(AtomicUsize::new(0));
    let reconnected = Arc::new(AtomicUsize::new(0));
    let errs = Arc::new(Errors::default());
    let (c, o, r, e2) = (calls.clone(), op.clone(), reconnected.clone(), errs.clone());
    let upub = user.public_key();
    let nc = opts(&s.url())
        .max_reconnect(10)
        .reconnect_wait(Duration::from_millis(50))
        .user_jwt_callbacks(
            move || {
                // The first JWT expires in 2 s; later ones do not.
                let first = c.fetch_add(1, Ordering::SeqCst) == 0;
                let exp = first.then(|| unix_now() + 2);
                Ok(security::jwt(
                    &o.account,
                    &upub,
                    "test-user",
                    exp,
                    serde_json::json!({"type": "user", "version": 2, "pub": {}, "sub": {},
                                       "subs": -1, "data": -1, "payload": -1}),
                ))
            },
            move |nonce| nats::sign(&seed, nonce),
        )
        .reconnected_callback(move |_| {
            r.fetch_add(1, Ordering::SeqCst);
        })
        .disconnected_callback(move |nc| {
            if let Some(e) = nc.last_error() {
                e2.0.lock()
                    .expect("lock")
                    .push((e.kind(), e.text().to_string()));
            }
        })
        .connect()
        .expect("connect");
    let deadline = std::time::Instant::now() + Duration::from_secs(8);
    while reconnected.load(Ordering::SeqCst) == 0 {
        assert!(std::time::Instant::now() < deadline, "no reconnection");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        errs.has(ErrorKind::AuthFailed, "Expired"),
        "disconnected because the JWT expired: {:?}",
        errs.0.lock().expect("lock")
    );
    round_trip(&nc);
    assert!(calls.load(Ordering::SeqCst) >= 2);
}

/// With `ignore_auth_error_abort`, repeated "Authorization Violation" does
/// not close: the client keeps trying until the server accepts it again.
#[test]
fn ignore_auth_error_abort_keeps_trying() {
    let mut s = NatsServer::start_with_args(&["--user", "u", "--pass", "p"]);
    let reconnected = Arc::new(AtomicUsize::new(0));
    let r = reconnected.clone();
    let nc = opts(&s.url())
        .user_info("u", "p")
        .max_reconnect(-1)
        .reconnect_wait(Duration::from_millis(20))
        .reconnect_jitter(Duration::ZERO)
        .ignore_auth_error_abort(true)
        .reconnected_callback(move |_| {
            r.fetch_add(1, Ordering::SeqCst);
        })
        .connect()
        .expect("connect");
    s.restart_with_args(&["--user", "u", "--pass", "other"]);
    wait_for("three refused attempts", || {
        s.log_contents().matches("authentication error").count() >= 3
    });
    assert_ne!(nc.status(), nats::ConnStatus::Closed);
    s.restart_with_args(&["--user", "u", "--pass", "p"]);
    wait_for("reconnected", || reconnected.load(Ordering::SeqCst) == 1);
    round_trip(&nc);
}
