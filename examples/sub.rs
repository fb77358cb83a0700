// Run: cargo run --example sub -- nats://127.0.0.1:4222 'greet.>' 10
use std::time::Duration;

use nats::ErrorKind;

fn main() -> Result<(), nats::Error> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| nats::DEFAULT_URL.to_string());
    let subject = args.next().unwrap_or_else(|| ">".to_string());
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10);
    let nc = nats::Connection::connect(&url)?;
    let sub = nc.subscribe(&subject)?;
    println!("listening on {subject:?} for {count} messages (30 s at most)");
    let mut got = 0;
    while got < count {
        match sub.next_msg(Duration::from_secs(30)) {
            Ok(m) => {
                got += 1;
                println!(
                    "[{got}] {}: {}",
                    m.subject(),
                    String::from_utf8_lossy(m.payload())
                );
            }
            Err(e) if e.kind() == ErrorKind::Timeout => {
                println!("no message for 30 s, stopping");
                break;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
