// Run: cargo run --example reply -- nats://127.0.0.1:4222 help 5
// Answers up to N requests on the subject, then exits (or after 60 s idle).
use std::time::Duration;

fn main() -> Result<(), nats::Error> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| nats::DEFAULT_URL.to_string());
    let subject = args.next().unwrap_or_else(|| "help".to_string());
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(5);
    let nc = nats::Connection::connect(&url)?;
    let sub = nc.subscribe(&subject)?;
    println!("answering {count} requests on {subject:?}");
    for m in sub.timeout_iter(Duration::from_secs(60)).take(count) {
        if let Some(reply) = m.reply() {
            let answer = format!("you said: {}", String::from_utf8_lossy(m.payload()));
            nc.publish(reply, answer.as_bytes())?;
        }
    }
    nc.flush()
}
