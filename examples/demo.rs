// Run: bash scripts/demo.sh            (starts a local nats-server)
//  or: cargo run --example demo -- nats://127.0.0.1:4222
//
// A tour of the blocking API: publish/subscribe, wildcards, a queue group,
// request/reply, headers, and the connection's health.
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nats::{ErrorKind, Headers, Message, Options};

fn main() -> Result<(), nats::Error> {
    let url = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("NATS_URL").ok())
        .unwrap_or_else(|| nats::DEFAULT_URL.to_string());
    let nc = Options::new()
        .url(&url)
        .name("libnats-rs demo")
        .ping_interval(Duration::from_secs(5))
        .closed_callback(|_| println!("[event] connection closed"))
        .connect()?;
    println!(
        "connected to {} (server {}, max payload {} bytes)",
        nc.connected_url().unwrap_or_default(),
        nc.server_info().map(|i| i.version).unwrap_or_default(),
        nc.max_payload()
    );

    // Publish / subscribe with a wildcard.
    let sub = nc.subscribe("demo.greet.*")?;
    nc.publish("demo.greet.alice", b"hello alice")?;
    nc.publish("demo.greet.bob", b"hello bob")?;
    for msg in sub.timeout_iter(Duration::from_secs(1)).take(2) {
        println!(
            "sub   {} -> {}",
            msg.subject(),
            String::from_utf8_lossy(msg.payload())
        );
    }

    // A queue group: each message goes to exactly one member.
    let counts: Vec<Arc<AtomicUsize>> = (0..2).map(|_| Arc::new(AtomicUsize::new(0))).collect();
    let workers: Vec<_> = counts
        .iter()
        .map(|c| {
            let c = c.clone();
            nc.queue_subscribe_with_handler("demo.work", "workers", move |_| {
                c.fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect::<Result<_, _>>()?;
    for i in 0..100 {
        nc.publish("demo.work", format!("job {i}").as_bytes())?;
    }
    nc.flush()?;
    let deadline = Instant::now() + Duration::from_secs(2);
    while counts
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum::<usize>()
        < 100
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    println!(
        "queue 100 jobs split {} / {}",
        counts[0].load(Ordering::Relaxed),
        counts[1].load(Ordering::Relaxed)
    );
    drop(workers);

    // Request / reply.
    let responder = nc.subscribe_with_handler("demo.time", {
        let nc = nc.clone();
        move |m: Message| {
            if let Some(reply) = m.reply() {
                let _ = nc.publish(reply, b"it is demo o'clock");
            }
        }
    })?;
    let answer = nc.request("demo.time", b"what time is it?", Duration::from_secs(1))?;
    println!("reply {}", String::from_utf8_lossy(answer.payload()));
    drop(responder);
    match nc.request("demo.nobody", b"", Duration::from_millis(500)) {
        Err(e) if e.kind() == ErrorKind::NoResponders => println!("no responders, as expected"),
        Err(e) if e.kind() == ErrorKind::Timeout => println!("timed out"),
        other => println!("unexpected: {other:?}"),
    }

    // Headers.
    let hsub = nc.subscribe("demo.headers")?;
    let mut h = Headers::new();
    h.insert("Trace-Id", "abc123")?;
    h.append("Tag", "one")?;
    h.append("Tag", "two")?;
    nc.publish_with_headers("demo.headers", &h, b"with headers")?;
    let m = hsub.next_msg(Duration::from_secs(1))?;
    let hh = m.headers().cloned().unwrap_or_default();
    println!(
        "headers Trace-Id={:?} Tag={:?}",
        hh.get("Trace-Id"),
        hh.get_all("Tag").collect::<Vec<_>>()
    );

    // Connection health.
    let rtt = nc.rtt()?;
    let health = nc.health();
    println!(
        "health status={:?} rtt={:?} pings_out={} ping_interval={:?} reconnects={}",
        health.status, rtt, health.pings_out, health.ping_interval, health.reconnects
    );
    let stats = nc.statistics();
    println!(
        "stats out {} msgs / {} bytes, in {} msgs / {} bytes",
        stats.out_msgs, stats.out_bytes, stats.in_msgs, stats.in_bytes
    );
    nc.close();
    Ok(())
}
