// Run: cargo run --example request -- nats://127.0.0.1:4222 help "what?"
use std::time::Duration;

use nats::ErrorKind;

fn main() -> Result<(), nats::Error> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| nats::DEFAULT_URL.to_string());
    let subject = args.next().unwrap_or_else(|| "help".to_string());
    let payload = args.next().unwrap_or_default();
    let nc = nats::Connection::connect(&url)?;
    match nc.request(&subject, payload.as_bytes(), Duration::from_secs(2)) {
        Ok(m) => println!("reply: {}", String::from_utf8_lossy(m.payload())),
        Err(e) if e.kind() == ErrorKind::NoResponders => println!("nobody listens on {subject:?}"),
        Err(e) if e.kind() == ErrorKind::Timeout => println!("no reply within 2 s"),
        Err(e) => return Err(e),
    }
    Ok(())
}
