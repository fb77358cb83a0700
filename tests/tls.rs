//! TLS against a real nats-server configured with `tls {}`: upgrade on INFO,
//! `tls://` URLs, host name and chain verification, mutual TLS, handshake
//! first, reconnection over TLS, and peers that stall or lie mid-handshake.

mod common;
#[path = "common/security.rs"]
mod security;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{NatsServer, artifacts_dir, wait_for};
use nats::{ErrorKind, Options};
use security::{Pki, make_pki, write_conf};

fn pki(name: &str) -> Pki {
    make_pki(&artifacts_dir().join(format!("{name}-{}", std::process::id())))
}

fn tls_server(p: &Pki, name: &str, extra: &str) -> NatsServer {
    let conf = write_conf(&p.dir, name, &p.server_tls_block(extra));
    NatsServer::start_with_args(&["-c", &conf])
}

fn path(p: &std::path::Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn round_trip(nc: &nats::Connection) {
    let sub = nc.subscribe("tls.check").expect("subscribe");
    nc.publish("tls.check", b"over tls").expect("publish");
    let m = sub.next_msg(Duration::from_secs(2)).expect("message back");
    assert_eq!(m.payload(), b"over tls");
}

fn opts(url: &str) -> Options {
    Options::new()
        .url(url)
        .timeout(Duration::from_secs(2))
        .max_reconnect(0)
}

#[test]
fn server_requiring_tls_upgrades_a_plain_url() {
    let p = pki("tls-upgrade");
    let s = tls_server(&p, "upgrade.conf", "");
    let nc = opts(&s.url())
        .tls_ca_file(path(&p.ca))
        .expect("CA file")
        .connect()
        .expect("connects over TLS after INFO tls_required");
    round_trip(&nc);
}

#[test]
fn tls_url_verifies_the_host_name_and_the_chain() {
    let p = pki("tls-verify");
    let s = tls_server(&p, "verify.conf", "");
    let url = format!("tls://localhost:{}", s.port());
    let nc = opts(&url)
        .tls_ca_file(path(&p.ca))
        .expect("CA")
        .connect()
        .expect("name and chain are valid");
    round_trip(&nc);
    assert!(nc.connected_url().unwrap_or_default().starts_with("tls://"));

    // A name the certificate does not carry.
    let e = opts(&url)
        .tls_ca_file(path(&p.ca))
        .expect("CA")
        .tls_expected_hostname("nats.example.com")
        .connect()
        .expect_err("wrong host name");
    assert_eq!(e.kind(), ErrorKind::SslError, "{e}");
    assert!(e.text().contains("certificate"), "readable reason: {e}");

    // A CA that did not sign the server's certificate; the system's store.
    for o in [
        opts(&url).tls_ca_file(path(&p.other_ca)).expect("CA"),
        opts(&url),
    ] {
        let e = o.connect().expect_err("unknown issuer");
        assert_eq!(e.kind(), ErrorKind::SslError, "{e}");
        assert!(e.text().contains("UnknownIssuer"), "{e}");
    }

    // Opting out: skip verification entirely.
    let nc = opts(&url)
        .tls_skip_verify(true)
        .connect()
        .expect("no verification");
    round_trip(&nc);
    // CA given as PEM text, IP address in the URL (the certificate has it).
    let pem = std::fs::read_to_string(&p.ca).expect("CA PEM");
    let nc = opts(&format!("tls://127.0.0.1:{}", s.port()))
        .tls_ca_pem(&pem)
        .expect("PEM")
        .connect()
        .expect("IP SAN verified");
    round_trip(&nc);
    // CA directory.
    let dir = p.dir.join("cadir");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::copy(&p.ca, dir.join("ca.pem")).expect("copy");
    let nc = opts(&url)
        .tls_ca_dir(path(&dir))
        .expect("CA dir")
        .connect()
        .expect("CA from a directory");
    round_trip(&nc);
}

#[test]
fn secure_client_and_plain_server_is_secure_connection_wanted() {
    let s = NatsServer::start();
    let e = opts(&s.url())
        .secure(true)
        .connect()
        .expect_err("server does not offer TLS");
    assert_eq!(e.kind(), ErrorKind::SecureConnectionWanted, "{e}");
}

#[test]
fn mutual_tls_needs_the_client_certificate() {
    let p = pki("tls-mutual");
    let s = tls_server(&p, "mutual.conf", "verify: true");
    let url = format!("tls://localhost:{}", s.port());
    let base = || opts(&url).tls_ca_file(path(&p.ca)).expect("CA");
    assert!(
        base().connect().is_err(),
        "the server requires a client certificate"
    );
    let nc = base()
        .tls_client_cert_files(path(&p.client_cert), path(&p.client_key))
        .expect("client cert files")
        .connect()
        .expect("mutual TLS");
    round_trip(&nc);
    let nc = base()
        .tls_client_cert_files_dynamic(path(&p.client_cert), path(&p.client_key))
        .connect()
        .expect("mutual TLS, files read at the handshake");
    round_trip(&nc);
    let cert = std::fs::read_to_string(&p.client_cert).expect("cert");
    let key = std::fs::read_to_string(&p.client_key).expect("key");
    let nc = base()
        .tls_client_cert_pem(&cert, &key)
        .expect("client cert PEM")
        .connect()
        .expect("mutual TLS from memory");
    round_trip(&nc);
    // Dynamic files that disappear: the next handshake fails clearly.
    let gone = base()
        .tls_client_cert_files_dynamic("/nonexistent/cert.pem", "/nonexistent/key.pem")
        .connect()
        .expect_err("missing certificate files");
    assert_eq!(gone.kind(), ErrorKind::SslError, "{gone}");
    assert!(gone.text().contains("/nonexistent/cert.pem"), "{gone}");
}

#[test]
fn handshake_first() {
    let p = pki("tls-first");
    let s = tls_server(&p, "first.conf", "handshake_first: true");
    let url = format!("tls://localhost:{}", s.port());
    let nc = opts(&url)
        .tls_ca_file(path(&p.ca))
        .expect("CA")
        .tls_handshake_first(true)
        .connect()
        .expect("TLS before INFO");
    round_trip(&nc);
    // A client waiting for INFO gets nothing: it fails within its timeout.
    let t = Instant::now();
    let e = opts(&url)
        .timeout(Duration::from_millis(500))
        .tls_ca_file(path(&p.ca))
        .expect("CA")
        .connect()
        .expect_err("server waits for a ClientHello");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_ne!(e.kind(), ErrorKind::Other, "{e}");
}

#[test]
fn cipher_choices() {
    let p = pki("tls-ciphers");
    let s = tls_server(&p, "ciphers.conf", "");
    let url = format!("tls://localhost:{}", s.port());
    let nc = opts(&url)
        .tls_ca_file(path(&p.ca))
        .expect("CA")
        .tls_cipher_suites("TLS_CHACHA20_POLY1305_SHA256")
        .expect("TLS 1.3 suite")
        .connect()
        .expect("TLS 1.3 with one suite");
    round_trip(&nc);
    // A TLS 1.2 cipher list (OpenSSL names) leaves TLS 1.3 as is.
    let nc = opts(&url)
        .tls_ca_file(path(&p.ca))
        .expect("CA")
        .tls_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256")
        .expect("TLS 1.2 ciphers")
        .connect()
        .expect("connects");
    round_trip(&nc);
    let e = Options::new()
        .tls_cipher_suites("!ALL")
        .map(|_| ())
        .expect_err("an empty TLS 1.3 list is an error");
    assert_eq!(e.kind(), ErrorKind::SslError);
    let e = Options::new()
        .tls_ciphers("RC4-MD5")
        .map(|_| ())
        .expect_err("not in rustls");
    assert_eq!(e.kind(), ErrorKind::SslError);
}

#[test]
fn reconnects_over_tls_and_replays_subscriptions() {
    let p = pki("tls-reconnect");
    let conf = write_conf(&p.dir, "reconnect.conf", &p.server_tls_block(""));
    let mut s = NatsServer::start_with_args(&["-c", &conf]);
    let reconnected = Arc::new(AtomicUsize::new(0));
    let r = reconnected.clone();
    let nc = Options::new()
        .url(&format!("tls://localhost:{}", s.port()))
        .tls_ca_file(path(&p.ca))
        .expect("CA")
        .reconnect_wait(Duration::from_millis(50))
        .reconnect_jitter(Duration::ZERO)
        .reconnect_jitter_tls(Duration::ZERO)
        .max_reconnect(100)
        .reconnected_callback(move |_| {
            r.fetch_add(1, Ordering::SeqCst);
        })
        .connect()
        .expect("connect");
    let sub = nc.subscribe("after").expect("subscribe");
    s.restart();
    wait_for("reconnection over TLS", || {
        reconnected.load(Ordering::SeqCst) == 1
    });
    nc.publish("after", b"restart").expect("publish");
    let m = sub.next_msg(Duration::from_secs(2)).expect("replayed sub");
    assert_eq!(m.payload(), b"restart");
}

/// A fake server that announces TLS, then `behave`s with the socket.
fn fake_tls_peer(behave: fn(std::net::TcpStream)) -> (u16, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let h = std::thread::spawn(move || {
        let (mut s, _) = l.accept().expect("accept");
        s.write_all(
            b"INFO {\"server_id\":\"x\",\"version\":\"2.10.0\",\"proto\":1,\"max_payload\":1048576,\"tls_required\":true}\r\n",
        )
        .expect("INFO");
        behave(s);
    });
    (port, h)
}

#[test]
fn peer_that_stalls_mid_handshake_cannot_hang_connect() {
    let (port, h) = fake_tls_peer(|mut s| {
        // Read the ClientHello, then say nothing until the client gives up.
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut buf = [0u8; 4096];
        while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
    });
    let t = Instant::now();
    let e = opts(&format!("nats://127.0.0.1:{port}"))
        .timeout(Duration::from_millis(400))
        .tls_skip_verify(true)
        .connect()
        .expect_err("stalled handshake");
    let took = t.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "bounded by the timeout: {took:?}"
    );
    assert!(
        matches!(e.kind(), ErrorKind::Timeout | ErrorKind::NoServer),
        "{e}"
    );
    h.join().expect("peer");
}

#[test]
fn tls_required_info_then_garbage_is_an_ssl_error() {
    let (port, h) = fake_tls_peer(|mut s| {
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        let _ = s.write_all(b"this is not a TLS record at all\r\n");
        let _ = s.read(&mut buf);
    });
    let e = opts(&format!("nats://127.0.0.1:{port}"))
        .tls_skip_verify(true)
        .connect()
        .expect_err("garbage instead of ServerHello");
    assert_eq!(e.kind(), ErrorKind::SslError, "{e}");
    h.join().expect("peer");
}

#[test]
fn bad_tls_material_is_rejected_when_set() {
    let dir = artifacts_dir().join("tls-bad");
    std::fs::create_dir_all(&dir).expect("dir");
    let junk = dir.join("junk.pem");
    std::fs::write(&junk, "not a certificate").expect("write");
    for r in [
        Options::new().tls_ca_file(path(&junk)).map(|_| ()),
        Options::new().tls_ca_file("/nonexistent.pem").map(|_| ()),
        Options::new().tls_ca_dir(path(&dir)).map(|_| ()),
        Options::new()
            .tls_client_cert_files(path(&junk), path(&junk))
            .map(|_| ()),
        Options::new().tls_client_cert_pem("x", "y").map(|_| ()),
    ] {
        assert_eq!(r.expect_err("bad material").kind(), ErrorKind::SslError);
    }
}
