//! Direct writes and reads: a thread about to wait (a request, a flush, a
//! delivery thread or `next_msg` that ran out of messages) writes the
//! connection's pending output itself instead of waking the io loop, and a
//! request waiting for its reply or a delivery thread waiting for its next
//! message reads the socket itself. These tests check that the byte streams
//! stay whole and in order when direct writes and reads and the io loop's
//! interleave, that what a direct write could not hand to the kernel is
//! written later, and that a direct reader notices a lost connection,
//! against a real nats-server.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use common::{NatsServer, artifacts_dir};
use nats::{Connection, Options};

const T: Duration = Duration::from_secs(10);

/// A server that takes messages of up to 64 MB (configuration written under
/// the artifacts directory, in a folder named after `tag`).
fn big_payload_server(tag: &str) -> NatsServer {
    let dir = artifacts_dir().join(format!("{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("big.conf");
    std::fs::write(&conf, "max_payload: 64MB\nmax_pending: 256MB\n").unwrap();
    NatsServer::start_with_args(&["-c", conf.to_str().unwrap()])
}

/// Subscribes on `nc` a handler that answers each request with its payload.
fn echo(nc: &Connection, subject: &str) -> nats::Subscription {
    let responder = nc.clone();
    nc.subscribe_with_handler(subject, move |m| {
        if let Some(r) = m.reply() {
            let _ = responder.publish(r, m.payload());
        }
    })
    .unwrap()
}

/// Two publisher threads, a requester and a flusher share one connection; a
/// responder on the same connection replies from its handler (delivery
/// thread writes) and another from a `next_msg` loop. A subscriber on a
/// second connection must see each publisher's sequence whole and in order.
#[test]
fn interleaved_direct_and_loop_writes_keep_every_stream_in_order() {
    const N: u32 = 20_000;
    let srv = NatsServer::start();
    let nc = Connection::connect(&srv.url()).unwrap();
    let watcher = Connection::connect(&srv.url()).unwrap();
    let seen = watcher.subscribe("order.>").unwrap();
    seen.set_pending_limits(None, None); // 160 MB arrive before they are read
    watcher.flush().unwrap();

    // Responder 1: a handler (replies written by its delivery thread).
    let _svc = echo(&nc, "svc.async");
    // Responder 2: a thread in a next_msg loop.
    let sync_sub = nc.subscribe("svc.sync").unwrap();
    let responder = nc.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let sync_svc = thread::spawn(move || {
        while !stop2.load(Ordering::Acquire) {
            if let Ok(m) = sync_sub.next_msg(Duration::from_millis(50))
                && let Some(r) = m.reply()
            {
                responder.publish(r, m.payload()).unwrap();
            }
        }
    });
    nc.flush().unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for p in 0..2u32 {
        let nc = nc.clone();
        workers.push(thread::spawn(move || {
            // Large enough to fill the socket now and then: the io loop is
            // left holding output while the other threads want to write.
            let mut body = vec![p as u8; 4096];
            for i in 0..N {
                body[..4].copy_from_slice(&i.to_be_bytes());
                nc.publish(&format!("order.p{p}"), &body).unwrap();
            }
        }));
    }
    let requester = {
        let nc = nc.clone();
        let done = done.clone();
        thread::spawn(move || {
            let mut n = 0u32;
            while !done.load(Ordering::Acquire) || n < 200 {
                let subject = if n.is_multiple_of(2) {
                    "svc.async"
                } else {
                    "svc.sync"
                };
                let body = format!("request {n}");
                let r = nc.request(subject, body.as_bytes(), T).unwrap();
                assert_eq!(r.payload(), body.as_bytes(), "reply to request {n}");
                n += 1;
            }
            n
        })
    };
    let flusher = {
        let nc = nc.clone();
        let done = done.clone();
        thread::spawn(move || {
            let mut n = 0;
            while !done.load(Ordering::Acquire) || n < 50 {
                nc.flush_timeout(T).unwrap();
                n += 1;
            }
        })
    };
    for w in workers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Release);
    let requests = requester.join().unwrap();
    flusher.join().unwrap();
    nc.flush().unwrap();

    let mut next = [0u32; 2];
    while next != [N, N] {
        let m = seen
            .next_msg(T)
            .unwrap_or_else(|e| panic!("missing messages after {next:?}: {e}"));
        let p = match m.subject() {
            "order.p0" => 0,
            "order.p1" => 1,
            other => panic!("unexpected subject {other}"),
        };
        assert_eq!(m.payload().len(), 4096);
        assert!(
            m.payload()[4..].iter().all(|&b| b == p as u8),
            "payload corrupted"
        );
        let i = u32::from_be_bytes(m.payload()[..4].try_into().unwrap());
        assert_eq!(i, next[p], "publisher {p}: out of order or lost");
        next[p] += 1;
    }
    assert!(requests >= 200);
    stop.store(true, Ordering::Release);
    sync_svc.join().unwrap();
    assert!(nc.last_error().is_none(), "{:?}", nc.last_error());
}

/// A request far larger than the socket buffers, sent while the server is
/// stopped (SIGSTOP): the requesting thread writes what the kernel takes,
/// puts the rest back, and the io loop writes it once the server runs
/// again. The reply must come, and publishes queued behind the request must
/// arrive whole and after it.
#[test]
fn what_a_direct_write_leaves_is_written_by_the_io_loop() {
    const BIG: usize = 48 << 20;
    let srv = big_payload_server("direct");
    let nc = Options::new()
        .url(&srv.url())
        .ping_interval(Duration::from_secs(60))
        .connect()
        .unwrap();
    let svc = Connection::connect(&srv.url()).unwrap();
    let requests = svc.subscribe("big.req").unwrap();
    let after = svc.subscribe("big.after").unwrap();
    svc.flush().unwrap();
    nc.flush().unwrap();

    srv.pause();
    let payload: Arc<Vec<u8>> = Arc::new((0..BIG).map(|i| (i % 251) as u8).collect());
    let requester = {
        let nc = nc.clone();
        let payload = payload.clone();
        thread::spawn(move || nc.request("big.req", &payload, Duration::from_secs(60)))
    };
    // The request is queued (and partly written) before these publishes.
    common::wait_for("the request to be queued", || nc.statistics().out_msgs >= 1);
    // These may wait for room in the output buffer until the server runs.
    let publisher = {
        let nc = nc.clone();
        thread::spawn(move || {
            for i in 0..100u32 {
                nc.publish("big.after", &i.to_be_bytes()).unwrap();
            }
        })
    };
    srv.resume();

    let m = requests.next_msg(Duration::from_secs(60)).unwrap();
    assert_eq!(m.payload().len(), BIG);
    assert!(
        m.payload() == payload.as_slice(),
        "request payload corrupted"
    );
    svc.publish(m.reply().unwrap(), b"ok").unwrap();
    let reply = requester.join().unwrap().unwrap();
    publisher.join().unwrap();
    assert_eq!(reply.payload(), b"ok");
    for i in 0..100u32 {
        let m = after.next_msg(T).unwrap();
        assert_eq!(
            m.payload(),
            &i.to_be_bytes(),
            "publish {i} after the request"
        );
    }
    assert!(nc.last_error().is_none(), "{:?}", nc.last_error());
}

/// A responder served by the shared delivery pool: its worker writes the
/// replies before it waits. Requests from two threads all get their own
/// reply.
#[test]
fn pool_responder_replies_before_its_worker_waits() {
    let srv = NatsServer::start();
    let svc = Options::new()
        .url(&srv.url())
        .global_message_delivery(true)
        .connect()
        .unwrap();
    let _sub = echo(&svc, "pool.svc");
    svc.flush().unwrap();
    let nc = Connection::connect(&srv.url()).unwrap();
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let nc = nc.clone();
            thread::spawn(move || {
                for i in 0..500 {
                    let body = format!("{t}-{i}");
                    let r = nc.request("pool.svc", body.as_bytes(), T).unwrap();
                    assert_eq!(r.payload(), body.as_bytes());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(svc.last_error().is_none(), "{:?}", svc.last_error());
}

/// Requests and flushes keep writing directly while the server is killed
/// and restarted under them: the socket is lost during direct writes. Each
/// call succeeds or fails with an error (no hang, no panic), and requests
/// succeed again once the server is back.
#[test]
fn direct_writes_while_the_server_restarts() {
    let mut srv = NatsServer::start();
    let opts = || {
        Options::new()
            .url(&srv.url())
            .max_reconnect(-1)
            .reconnect_wait(Duration::from_millis(20))
    };
    let svc = opts().connect().unwrap();
    let _sub = echo(&svc, "restart.svc");
    svc.flush().unwrap();
    let nc = opts().connect().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let oks = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let workers: Vec<_> = (0..2)
        .map(|t| {
            let (nc, stop, oks) = (nc.clone(), stop.clone(), oks.clone());
            thread::spawn(move || {
                let (mut ok, mut failed) = (0u32, 0u32);
                let mut i = 0u32;
                while !stop.load(Ordering::Acquire) {
                    let body = format!("{t}-{i}");
                    let r = if i % 4 == 3 {
                        nc.flush_timeout(Duration::from_millis(500))
                            .map(|_| body.clone())
                    } else {
                        nc.request("restart.svc", body.as_bytes(), Duration::from_millis(500))
                            .map(|m| String::from_utf8_lossy(m.payload()).into_owned())
                    };
                    match r {
                        Ok(got) => {
                            assert_eq!(got, body, "a reply to another request");
                            ok += 1;
                            oks.fetch_add(1, Ordering::AcqRel);
                        }
                        Err(_) => failed += 1,
                    }
                    i += 1;
                }
                (ok, failed)
            })
        })
        .collect();
    for _ in 0..3 {
        // Restart while requests flow: after some have succeeded.
        let seen = oks.load(Ordering::Acquire);
        common::wait_for("requests to succeed", || {
            oks.load(Ordering::Acquire) >= seen + 50
        });
        srv.restart();
    }
    // Requests succeed again after the last restart.
    let deadline = std::time::Instant::now() + T;
    loop {
        if nc
            .request("restart.svc", b"after", Duration::from_millis(500))
            .is_ok()
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no reply after the restarts"
        );
    }
    stop.store(true, Ordering::Release);
    for w in workers {
        let (ok, _failed) = w.join().unwrap();
        assert!(ok > 0, "no request ever succeeded");
    }
}

/// A responder's delivery thread reads the socket itself between requests,
/// so it also reads the messages of the connection's other subscriptions
/// (two with handlers, one read with `next_msg`). Each of them must get its
/// publisher's sequence whole and in order, and every request its reply.
#[test]
fn a_direct_reader_serves_every_subscription_of_its_connection() {
    const N: u32 = 20_000;
    let srv = NatsServer::start();
    let svc = Connection::connect(&srv.url()).unwrap();
    let _echo = echo(&svc, "dr.svc");
    let counters: Vec<_> = (0..2)
        .map(|_| Arc::new(std::sync::Mutex::new(Vec::<u32>::new())))
        .collect();
    let mut subs = Vec::new();
    for (k, got) in counters.iter().enumerate() {
        let got = got.clone();
        let sub = svc
            .subscribe_with_handler(&format!("dr.seq{k}"), move |m| {
                let i = u32::from_be_bytes(m.payload()[..4].try_into().unwrap());
                got.lock().unwrap().push(i);
            })
            .unwrap();
        sub.set_pending_limits(None, None);
        subs.push(sub);
    }
    let sync_sub = svc.subscribe("dr.seq2").unwrap();
    sync_sub.set_pending_limits(None, None);
    svc.flush().unwrap();

    let publisher = {
        let nc = Connection::connect(&srv.url()).unwrap();
        thread::spawn(move || {
            for i in 0..N {
                for k in 0..3 {
                    nc.publish(&format!("dr.seq{k}"), &i.to_be_bytes()).unwrap();
                }
            }
            nc.flush().unwrap();
        })
    };
    let nc = Connection::connect(&srv.url()).unwrap();
    let mut i = 0u32;
    while !publisher.is_finished() || i < 500 {
        let body = format!("request {i}");
        let r = nc.request("dr.svc", body.as_bytes(), T).unwrap();
        assert_eq!(r.payload(), body.as_bytes(), "reply to request {i}");
        i += 1;
    }
    publisher.join().unwrap();
    for want in 0..N {
        let m = sync_sub
            .next_msg(T)
            .unwrap_or_else(|e| panic!("dr.seq2: message {want} missing: {e}"));
        assert_eq!(m.payload(), &want.to_be_bytes(), "dr.seq2 out of order");
    }
    for (k, got) in counters.iter().enumerate() {
        common::wait_for("the handlers to see every message", || {
            got.lock().unwrap().len() >= N as usize
        });
        let got = got.lock().unwrap();
        assert!(
            got.iter().copied().eq(0..N),
            "dr.seq{k}: lost or out of order"
        );
    }
    assert!(svc.last_error().is_none(), "{:?}", svc.last_error());
}

/// A request reading its reply itself when the server goes away: with
/// `fail_requests_on_disconnect` it fails soon after, not at its timeout.
#[test]
fn a_direct_reader_notices_the_lost_connection() {
    let mut srv = NatsServer::start();
    // Takes the requests and never answers.
    let sink = Connection::connect(&srv.url()).unwrap();
    let _swallow = sink.subscribe("dr.void").unwrap();
    sink.flush().unwrap();
    let nc = Options::new()
        .url(&srv.url())
        .fail_requests_on_disconnect(true)
        .max_reconnect(-1)
        .connect()
        .unwrap();
    let started = std::time::Instant::now();
    let requester = {
        let nc = nc.clone();
        thread::spawn(move || nc.request("dr.void", b"x", Duration::from_secs(30)))
    };
    // The request is out (and its thread waiting) before the server goes.
    common::wait_for("the request to be sent", || nc.statistics().out_msgs >= 1);
    srv.stop();
    let r = requester.join().unwrap();
    assert!(r.is_err(), "a reply from a stopped server?");
    assert_ne!(
        r.unwrap_err().kind(),
        nats::ErrorKind::Timeout,
        "the request waited for its timeout"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// The io loop's write blocks while a requesting thread already reads the
/// socket for its reply: a large publish queued behind the request while the
/// server is stopped. Once the server runs again, only the poller can tell
/// the loop that the socket takes data; the responder answers the request
/// only after it got the large message, so the reply comes only if the loop
/// finishes that write.
#[test]
fn the_loop_resumes_writing_while_a_direct_reader_waits() {
    const BIG: usize = 24 << 20;
    let srv = big_payload_server("direct-resume");
    let svc = Connection::connect(&srv.url()).unwrap();
    let big = svc.subscribe("resume.big").unwrap();
    let requests = svc.subscribe("resume.req").unwrap();
    svc.flush().unwrap();
    let nc = Options::new()
        .url(&srv.url())
        .ping_interval(Duration::from_secs(60))
        .connect()
        .unwrap();
    nc.flush().unwrap();
    let requester = {
        let nc = nc.clone();
        thread::spawn(move || nc.request("resume.req", b"r", Duration::from_secs(30)))
    };
    // The request reached the responder: its thread now waits for the reply.
    let req = requests.next_msg(T).unwrap();
    srv.pause();
    nc.publish("resume.big", &vec![7u8; BIG]).unwrap();
    common::wait_for("the large message to be queued", || {
        nc.statistics().out_msgs >= 2
    });
    srv.resume();
    let m = big.next_msg(Duration::from_secs(30)).unwrap();
    assert_eq!(m.payload().len(), BIG);
    svc.publish(req.reply().unwrap(), b"done").unwrap();
    let reply = requester.join().unwrap().unwrap();
    assert_eq!(reply.payload(), b"done");
}

/// A reply goes out when it is published, not when the handler returns (the
/// delivery thread writes what handlers published once it runs out of
/// messages; the io loop must not wait for that): a handler (and a `next_msg`
/// responder) that
/// publishes its reply, and another message on a second connection, then
/// keeps working for 3 s, has both delivered long before.
#[test]
fn a_reply_goes_out_while_its_handler_keeps_working() {
    let server = NatsServer::start();
    let url = server.url();
    let nc = Connection::connect(&url).expect("connect");
    let other = Connection::connect(&url).expect("connect");
    let watcher = Connection::connect(&url).expect("connect");
    let seen = watcher.subscribe("side.>").expect("subscribe");
    watcher.flush().expect("flush");
    let work = Duration::from_secs(3);

    let (r, o) = (nc.clone(), other.clone());
    let _async = nc
        .subscribe_with_handler("slow.async", move |m| {
            if let Some(reply) = m.reply() {
                r.publish(reply, b"async").expect("reply");
                o.publish("side.async", b"x").expect("side");
                thread::sleep(work);
            }
        })
        .expect("subscribe");
    let sync = nc.subscribe("slow.sync").expect("subscribe");
    let (r, o) = (nc.clone(), other.clone());
    let responder = thread::spawn(move || {
        let m = sync.next_msg(T).expect("request");
        r.publish(m.reply().expect("reply subject"), b"sync")
            .expect("reply");
        o.publish("side.sync", b"x").expect("side");
        thread::sleep(work);
    });
    nc.flush().expect("flush");

    let requester = Connection::connect(&url).expect("connect");
    for (subject, want) in [("slow.async", "async"), ("slow.sync", "sync")] {
        let t0 = std::time::Instant::now();
        let m = requester
            .request(subject, b"q", T)
            .unwrap_or_else(|e| panic!("{subject}: {e}"));
        let took = t0.elapsed();
        assert_eq!(m.payload(), want.as_bytes());
        assert!(
            took < Duration::from_secs(2),
            "{subject}: reply after {took:?}"
        );
        let side = seen.next_msg(Duration::from_secs(2)).expect("side message");
        assert_eq!(side.subject(), format!("side.{want}"));
    }
    responder.join().expect("responder");
}
