// The Rust API side of the benchmark suite: the same scenarios and output as
// bench/bench.c (run by scripts/bench.sh with the C ones).
//
// Run: NATS_URL=nats://127.0.0.1:4222 cargo run --release --example bench -- pub 16 1000000
//
//   bench pub <size> <count>           publish, then flush
//   bench pubsub <size> <count>        publish -> subscriber with a handler
//   bench pubsub_sync <size> <count>   publish (thread) -> next_msg loop
//   bench reqrep <count>               sequential requests to a responder

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use nats::{Connection, Options};

fn url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// CPU time (user + system) of the process.
fn cpu() -> Duration {
    // SAFETY: getrusage fills the struct we pass.
    let ru = unsafe {
        let mut ru = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(us(ru.ru_utime) + us(ru.ru_stime))
}

fn connect() -> nats::Result<Connection> {
    Options::new()
        .url(&url())
        .max_pending_msgs(10_000_000)
        .connect()
}

fn report(what: &str, size: usize, count: u64, t: Duration, c: Duration) {
    println!(
        "RESULT {what} size={size} count={count} msgs_per_sec={:.0} cpu_ns_per_msg={:.1} elapsed_ms={:.1}",
        count as f64 / t.as_secs_f64(),
        c.as_nanos() as f64 / count as f64,
        t.as_secs_f64() * 1e3
    );
}

fn publish(size: usize, count: u64) -> nats::Result<()> {
    let nc = connect()?;
    let data = vec![b'a'; size];
    let (t0, c0) = (Instant::now(), cpu());
    for _ in 0..count {
        nc.publish("bench.pub", &data)?;
    }
    nc.flush_timeout(Duration::from_secs(60))?;
    report("pub", size, count, t0.elapsed(), cpu() - c0);
    Ok(())
}

fn pubsub(size: usize, count: u64) -> nats::Result<()> {
    let nc = connect()?;
    let done = Arc::new((Mutex::new(0u64), Condvar::new()));
    let d = done.clone();
    let sub = nc.subscribe_with_handler("bench.ps", move |_| {
        let (n, cv) = &*d;
        let mut n = n.lock().unwrap();
        *n += 1;
        if *n == count {
            cv.notify_all();
        }
    })?;
    sub.set_pending_limits(None, None);
    nc.flush()?;
    let data = vec![b'a'; size];
    let (t0, c0) = (Instant::now(), cpu());
    for _ in 0..count {
        nc.publish("bench.ps", &data)?;
    }
    nc.flush_timeout(Duration::from_secs(60))?;
    let (n, cv) = &*done;
    let got = cv
        .wait_timeout_while(n.lock().unwrap(), Duration::from_secs(60), |n| *n < count)
        .unwrap()
        .0;
    if *got < count {
        eprintln!("bench: received {} of {count}", *got);
        std::process::exit(1);
    }
    report("pubsub", size, count, t0.elapsed(), cpu() - c0);
    Ok(())
}

fn pubsub_sync(size: usize, count: u64) -> nats::Result<()> {
    let nc = connect()?;
    let sub = nc.subscribe("bench.sync")?;
    sub.set_pending_limits(None, None);
    nc.flush()?;
    let (t0, c0) = (Instant::now(), cpu());
    let publisher = {
        let nc = nc.clone();
        std::thread::spawn(move || -> nats::Result<()> {
            let data = vec![b'a'; size];
            for _ in 0..count {
                nc.publish("bench.sync", &data)?;
            }
            nc.flush_timeout(Duration::from_secs(60))
        })
    };
    for _ in 0..count {
        sub.next_msg(Duration::from_secs(60))?;
    }
    let (t, c) = (t0.elapsed(), cpu() - c0);
    publisher.join().expect("publisher")?;
    report("pubsub_sync", size, count, t, c);
    Ok(())
}

fn reqrep(count: usize) -> nats::Result<()> {
    let srv = connect()?;
    let nc = connect()?;
    let responder = srv.clone();
    let _sub = srv.subscribe_with_handler("bench.req", move |m| {
        if let Some(r) = m.reply() {
            let _ = responder.publish(r, b"ok");
        }
    })?;
    srv.flush()?;
    let timeout = Duration::from_secs(5);
    for _ in 0..100 {
        nc.request("bench.req", b"x", timeout)?;
    }
    let mut lat = Vec::with_capacity(count);
    let t0 = Instant::now();
    for _ in 0..count {
        let s = Instant::now();
        nc.request("bench.req", b"x", timeout)?;
        lat.push(s.elapsed());
    }
    let t = t0.elapsed();
    lat.sort_unstable();
    let us = |i: usize| lat[i].as_secs_f64() * 1e6;
    println!(
        "RESULT reqrep count={count} rps={:.0} p50_us={:.1} p90_us={:.1} p99_us={:.1} p999_us={:.1}",
        count as f64 / t.as_secs_f64(),
        us(count / 2),
        us(count * 9 / 10),
        us(count * 99 / 100),
        us(count * 999 / 1000)
    );
    srv.close();
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| args.get(i).and_then(|a| a.parse::<u64>().ok());
    let r = match (args.first().map(String::as_str), num(1), num(2)) {
        (Some("pub"), Some(size), Some(n)) => publish(size as usize, n),
        (Some("pubsub"), Some(size), Some(n)) => pubsub(size as usize, n),
        (Some("pubsub_sync"), Some(size), Some(n)) => pubsub_sync(size as usize, n),
        (Some("reqrep"), Some(n), None) => reqrep(n as usize),
        _ => {
            eprintln!("usage: bench pub|pubsub|pubsub_sync <size> <count> | reqrep <count>");
            std::process::exit(2);
        }
    };
    if let Err(e) = r {
        eprintln!("bench: {e}");
        std::process::exit(1);
    }
}
